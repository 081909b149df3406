package config

import (
	"crypto/tls"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"go.yaml.in/yaml/v4"
)

// Certificate is one certificate that policies name, as API Management names
// the certificates uploaded to it: authentication-certificate presents one to
// a backend, by certificate-id or by thumbprint. In lastmile.yaml:
//
//	certificates:
//	  # What certificate-id names: 1 to 80 letters, digits, '.', '-' and '_',
//	  # starting with a letter or digit; unique, ignoring case. Required.
//	  - id: orders-client
//	    # A PEM file (the certificate, its chain, and its unencrypted private key)
//	    # or a PKCS#12 file (.pfx, .p12). Relative paths start from the folder
//	    # of lastmile.yaml. Required.
//	    file: certs/orders-client.pfx
//	    # The name of the environment variable that holds the PKCS#12 password
//	    # (never the password itself). Default "": no password.
//	    passwordEnv: ORDERS_CLIENT_PFX_PASSWORD
//
// Each file is read, and its password checked, at load and on every reload.
type Certificate struct {
	ID string
	// File is the file's absolute path.
	File string
	// PasswordEnv names the environment variable with the PKCS#12 password.
	PasswordEnv string
}

// validCertificateID reports whether s is a certificate id: a letter or
// digit, then up to 79 letters, digits, dots, underscores and hyphens. This
// and the other checks of counted repetitions in this package are loops, not
// regular expressions (see directory.IsIdentifier).
func validCertificateID(s string) bool { return directory.IsIdentifier(s, 80, "._-") }

// Load reads the certificate, with its chain and private key (nil when the
// file has none). lookupEnv finds the password (os.LookupEnv outside tests).
// Errors name the file and never the password.
func (c Certificate) Load(lookupEnv func(string) (string, bool)) (*tls.Certificate, error) {
	return CertificateFile{File: c.File, PasswordEnv: c.PasswordEnv}.Load(lookupEnv)
}

func (d *decoder) decodeCertificates(n *yaml.Node, c *Config) {
	ids := map[string]*yaml.Node{} // lower case
	d.sequence(n, "certificates", func(i int, item *yaml.Node) {
		path := fmt.Sprintf("certificates[%d]", i)
		if isNull(item) {
			d.errorf(item, "%s is empty; give it an id and a file", path)
			return
		}
		var cert Certificate
		var idNode, fileNode, envNode *yaml.Node
		d.mapping(item, path, []field{
			{"id", func(k, v *yaml.Node) {
				v = resolve(v)
				s, ok := d.scalar(v, path+".id", "a string")
				if !ok {
					return
				}
				if !validCertificateID(s) {
					d.errorf(v, "%s.id: %q is not a certificate id; use 1 to 80 letters, digits, '.', '-' and '_', starting with a letter or digit", path, s)
					return
				}
				cert.ID, idNode = s, v
			}},
			{"file", func(k, v *yaml.Node) {
				v = resolve(v)
				s, ok := d.scalar(v, path+".file", "a file path")
				if !ok || s == "" {
					return
				}
				if !filepath.IsAbs(s) {
					s = filepath.Join(d.dir, s)
				}
				if abs, err := filepath.Abs(s); err == nil {
					s = abs
				}
				cert.File, fileNode = s, v
			}},
			{"passwordEnv", func(k, v *yaml.Node) {
				v = resolve(v)
				e, ok := d.scalar(v, path+".passwordEnv", "the name of an environment variable")
				if !ok || e == "" {
					envNode = v // no password
					return
				}
				if !envNamePattern.MatchString(e) {
					d.errorf(v, "%s.passwordEnv: %q is not an environment variable name; write the variable's name (such as ORDERS_PFX_PASSWORD), never the password itself", path, e)
					return
				}
				cert.PasswordEnv, envNode = e, v
			}},
		})
		if item.Kind != yaml.MappingNode {
			return
		}
		switch {
		case idNode == nil && !d.hasKey(item, "id"):
			d.errorf(item, "%s has no id; add id: <the certificate-id policies name it by>", path)
			return
		case fileNode == nil && !d.hasKey(item, "file"):
			d.errorf(item, "%s has no file; add file: <a PEM or PFX file>", path)
			return
		case idNode == nil || fileNode == nil || envNode == nil && d.hasKey(item, "passwordEnv"):
			return // reported above
		}
		if prev, ok := ids[strings.ToLower(cert.ID)]; ok {
			d.errorf(idNode, "%s.id: %q is already the id of the certificate at line %d (ids are not case-sensitive); ids must be unique", path, cert.ID, prev.Line)
			return
		}
		ids[strings.ToLower(cert.ID)] = idNode
		var err error
		if _, ok := d.lookupEnv(cert.PasswordEnv); cert.PasswordEnv != "" && !ok {
			if !d.unsetEnv(envNode, "%s.passwordEnv: environment variable %s is not set; set it to the password of %s", path, cert.PasswordEnv, cert.File) {
				return
			}
			_, err = readRegular(cert.File) // only the password opens it
		} else {
			_, err = cert.Load(d.lookupEnv)
		}
		if err != nil {
			d.errorf(fileNode, "%s: %v; point file at a PEM or PFX file (relative paths start from the folder of %s)", path, err, filepath.Base(d.file))
			return
		}
		c.Certificates = append(c.Certificates, cert)
	})
}

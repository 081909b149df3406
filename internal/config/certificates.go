package config

import (
	"bytes"
	"crypto"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v4"
	"software.sslmate.com/src/go-pkcs12"
)

// Certificate is one entry of lastmile.yaml's certificates: what API
// Management keeps as certificates and CA certificates, named by id in
// policies (certificate-id, issuer-certificate-id). In lastmile.yaml:
//
//	certificates:
//	  # id: required; unique; what policies name in certificate-id.
//	  - id: partner-ca
//	    # A PEM file (certificates, and optionally the private key) or a PFX
//	    # (.pfx or .p12). Relative paths start from the folder of lastmile.yaml.
//	    file: certs/partner-ca.pem
//	    # The name of an environment variable holding the PFX password (never
//	    # the password itself). Default "": no password.
//	    passwordEnv: ""
//
// Certificates that are CAs (basic constraints CA:TRUE) are also trusted as
// roots by validate-client-certificate's validate-trust.
//
// The cors branch defines the same section (certfile.Parse for the files);
// the two are one: ID, File, PasswordEnv and Load.
type Certificate struct {
	ID string
	// File is the file's absolute path.
	File string
	// PasswordEnv names the environment variable with the PFX password.
	PasswordEnv string
}

// Load reads the certificate, with its chain (leaf first, Leaf parsed) and its
// private key (nil when the file has none). lookupEnv finds the password
// (os.LookupEnv outside tests). Errors name the file, never the password.
func (c Certificate) Load(lookupEnv func(string) (string, bool)) (*tls.Certificate, error) {
	password := ""
	if c.PasswordEnv != "" {
		v, ok := lookupEnv(c.PasswordEnv)
		if !ok {
			return nil, fmt.Errorf("environment variable %s is not set; set it to the password of %s", c.PasswordEnv, c.File)
		}
		password = v
	}
	data, err := readRegular(c.File)
	if err != nil {
		return nil, err
	}
	cert, err := ParseCertificateFile(data, password)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.File, err)
	}
	return &cert, nil
}

func (d *decoder) decodeCertificates(n *yaml.Node, c *Config) {
	seen := map[string]int{}
	d.sequence(n, "certificates", func(i int, item *yaml.Node) {
		path := fmt.Sprintf("certificates[%d]", i)
		var cert Certificate
		var fileNode *yaml.Node
		d.mapping(item, path, []field{
			{"id", d.nonEmpty(path+".id", &cert.ID)},
			{"file", func(k, v *yaml.Node) {
				fileNode = resolve(v)
				d.str(path+".file", &cert.File)(k, v)
			}},
			{"passwordEnv", d.envName(path+".passwordEnv", &cert.PasswordEnv)},
		})
		if cert.ID == "" || cert.File == "" {
			if !isNull(item) && (cert.ID == "" && !d.hasKey(item, "id") || cert.File == "" && !d.hasKey(item, "file")) {
				d.errorf(item, "%s needs an id and a file", path)
			}
			return
		}
		if j, dup := seen[strings.ToLower(cert.ID)]; dup {
			d.errorf(item, "%s: id %q is already used by certificates[%d]; ids must be unique", path, cert.ID, j)
			return
		}
		seen[strings.ToLower(cert.ID)] = i
		p := cert.File
		if !filepath.IsAbs(p) {
			p = filepath.Join(d.dir, p)
		}
		if abs, err := filepath.Abs(p); err == nil {
			p = abs
		}
		cert.File = p
		if _, err := cert.Load(d.lookupEnv); err != nil {
			node := fileNode
			if strings.Contains(err.Error(), "environment variable") {
				node = item
			}
			d.errorf(node, "%s: %v", path, err)
			return
		}
		c.Certificates = append(c.Certificates, cert)
	})
}

// ParseCertificateFile reads a PEM file (CERTIFICATE blocks, leaf first, and
// at most one private key) or a PFX protected by password. Errors never
// include the password or key material.
func ParseCertificateFile(data []byte, password string) (tls.Certificate, error) {
	var out tls.Certificate
	if bytes.Contains(data, []byte("-----BEGIN")) {
		rest := data
		for {
			var block *pem.Block
			block, rest = pem.Decode(rest)
			if block == nil {
				break
			}
			switch {
			case block.Type == "CERTIFICATE":
				out.Certificate = append(out.Certificate, block.Bytes)
			case strings.HasSuffix(block.Type, "PRIVATE KEY"):
				if out.PrivateKey != nil {
					return out, errors.New("the PEM file holds more than one private key")
				}
				k, err := parsePrivateKey(block.Bytes)
				if err != nil {
					return out, err
				}
				out.PrivateKey = k
			}
		}
	} else {
		key, leaf, cas, err := pkcs12.DecodeChain(data, password)
		if err != nil {
			return out, fmt.Errorf("neither PEM nor a PFX that opens with the password given: %w", err)
		}
		out.PrivateKey = key
		out.Certificate = append(out.Certificate, leaf.Raw)
		for _, c := range cas {
			out.Certificate = append(out.Certificate, c.Raw)
		}
	}
	if len(out.Certificate) == 0 {
		return out, errors.New("no certificate in the file")
	}
	leaf, err := x509.ParseCertificate(out.Certificate[0])
	if err != nil {
		return out, fmt.Errorf("the first certificate: %w", err)
	}
	out.Leaf = leaf
	if out.PrivateKey != nil {
		pub, ok := out.PrivateKey.(interface{ Public() crypto.PublicKey })
		eq, ok2 := leaf.PublicKey.(interface{ Equal(crypto.PublicKey) bool })
		if !ok || !ok2 || !eq.Equal(pub.Public()) {
			return out, errors.New("the private key is not the first certificate's")
		}
	}
	return out, nil
}

func parsePrivateKey(der []byte) (crypto.PrivateKey, error) {
	if k, err := x509.ParsePKCS8PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParsePKCS1PrivateKey(der); err == nil {
		return k, nil
	}
	if k, err := x509.ParseECPrivateKey(der); err == nil {
		return k, nil
	}
	return nil, errors.New("the private key is not PKCS#8, PKCS#1 or SEC 1 (an encrypted PEM key is not supported: use a PFX with passwordEnv)")
}

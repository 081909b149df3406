package config

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/lastmile-gw/lastmile/internal/certfile"
)

// TLS is how one listener serves TLS. Every listener serves plain HTTP unless
// TLS is configured for it. In lastmile.yaml, a listener is an address, or a
// mapping with its address and its own tls; listeners.tls is for every
// listener that has none of its own:
//
//	listeners:
//	  gateway: ":443"           # TLS from listeners.tls below
//	  identity:                 # TLS of its own (it replaces listeners.tls whole)
//	    address: "0.0.0.0:8443"
//	    tls:
//	      certificates:
//	        - file: certs/login.pfx
//	          passwordEnv: LOGIN_PFX_PASSWORD
//	  metrics:
//	    address: "127.0.0.1:9464"
//	    tls: false              # plain HTTP, although listeners.tls is set
//	  # A plain HTTP listener that answers ACME HTTP-01 challenges for every
//	  # listener whose TLS uses acme, and redirects other GET and HEAD requests
//	  # to https on port 443. The CA connects to port 80. Default "": none, and
//	  # only the TLS-ALPN-01 challenge is used (the CA connects to port 443).
//	  acmeHTTP: ":80"
//	  # Default: none.
//	  tls:
//	    # Certificates from files: PEM (the certificate, its chain and its
//	    # unencrypted private key) or PKCS#12 (.pfx, .p12), with their keys.
//	    # The first one whose names match the name the client asks for (SNI)
//	    # is served, else the first one. Relative paths start from the folder
//	    # of lastmile.yaml. The files are read again when they change (checked
//	    # every 10 seconds) and on reload; connections keep going.
//	    certificates:
//	      - file: certs/gateway.pem
//	        # The name of the environment variable that holds the PKCS#12
//	        # password (never the password itself). Default "": none.
//	        passwordEnv: ""
//	    # Or certificates obtained and renewed automatically from an ACME CA
//	    # (Let's Encrypt by default), kept in the state directory's acme
//	    # folder. Setting acme accepts the CA's terms of service. Either
//	    # certificates or acme, not both.
//	    acme:
//	      # The DNS names to get certificates for; required. A client asking
//	      # for another name (SNI) is refused, one asking for none gets the
//	      # first name's certificate.
//	      domains: [api.example.com]
//	      email: ops@example.com  # the CA's contact for this account. Default "": none
//	      # Default Let's Encrypt's; its staging directory is
//	      # https://acme-staging-v02.api.letsencrypt.org/directory.
//	      directoryURL: https://acme-v02.api.letsencrypt.org/directory
//	      # An extra PEM bundle of CA certificates trusted for the directory's
//	      # own TLS, on top of the system roots (a private ACME CA). Default "".
//	      caFile: ""
//	    clientCertificates:
//	      # none: not asked for. request: asked for, optional, not checked
//	      # (validate-client-certificate checks it, as in API Management).
//	      # require: one must be sent, not checked. verify-if-given: optional,
//	      # and when sent it must chain to caFile. verify: required and must
//	      # chain to caFile. Default none.
//	      mode: none
//	      # A PEM bundle of the CA certificates that verify and
//	      # verify-if-given accept. Required by those modes only.
//	      caFile: ""
//
// The protocol is TLS 1.2 or 1.3 with Go's default cipher suites; HTTP/2 and
// HTTP/1.1 are offered (ALPN).
type TLS struct {
	// Certificates are the server certificates, from files; empty with ACME.
	Certificates []CertificateFile
	// ACME obtains the certificates instead; nil with Certificates.
	ACME *ACME
	// ClientCertificates say whether clients are asked for certificates.
	ClientCertificates ClientCertificates
}

// CertificateFile is a certificate with its key in a PEM or PKCS#12 file.
type CertificateFile struct {
	// File is the file's absolute path.
	File string
	// PasswordEnv names the environment variable with the PKCS#12 password.
	PasswordEnv string
}

// Load reads the certificate, with its chain and private key (nil when the
// file has none). lookupEnv finds the password (os.LookupEnv outside tests).
// Errors name the file and never the password.
func (c CertificateFile) Load(lookupEnv func(string) (string, bool)) (*tls.Certificate, error) {
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
	cert, err := certfile.Parse(data, password)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", c.File, err)
	}
	return cert, nil
}

// ACME is where and for which names certificates are obtained automatically.
type ACME struct {
	Domains      []string // lower case
	Email        string
	DirectoryURL string
	// CAFile is the absolute path of the extra roots for the directory's TLS.
	CAFile string
}

// DefaultACMEDirectory is Let's Encrypt's production directory.
const DefaultACMEDirectory = "https://acme-v02.api.letsencrypt.org/directory"

// ClientCertificates say what a listener asks of clients' certificates.
type ClientCertificates struct {
	Mode string // one of the ClientCert* modes
	// CAFile is the absolute path of the CA bundle of the verify modes.
	CAFile string
}

// The modes of clientCertificates.mode.
const (
	ClientCertNone          = "none"
	ClientCertRequest       = "request"
	ClientCertRequire       = "require"
	ClientCertVerifyIfGiven = "verify-if-given"
	ClientCertVerify        = "verify"
)

var clientCertModes = []string{ClientCertNone, ClientCertRequest, ClientCertRequire, ClientCertVerifyIfGiven, ClientCertVerify}

// ListenersTLS are the TLS settings of each listener, listeners.tls applied;
// nil for a listener that serves plain HTTP.
type ListenersTLS struct {
	Gateway, Identity, Metrics, Console *TLS
}

// anyACME reports whether a listener's TLS uses acme.
func (l ListenersTLS) anyACME() bool {
	for _, t := range []*TLS{l.Gateway, l.Identity, l.Metrics, l.Console} {
		if t != nil && t.ACME != nil {
			return true
		}
	}
	return false
}

// listenerTLS is what a listener's own tls key said: set is false when the
// listener has none (listeners.tls applies); tls is nil for tls: false.
type listenerTLS struct {
	set bool
	tls *TLS
}

// listener decodes a listener: an address, or a mapping of address and tls.
func (d *decoder) listener(path string, addr *string, own *listenerTLS, optional bool) func(k, v *yaml.Node) {
	address := d.address(path, addr, optional)
	return func(k, v *yaml.Node) {
		if resolve(v).Kind != yaml.MappingNode {
			address(k, v)
			return
		}
		d.mapping(v, path, []field{
			{"address", address},
			{"tls", func(k, v *yaml.Node) {
				own.set = true
				if v := resolve(v); v.Kind == yaml.ScalarNode && v.ShortTag() == "!!bool" {
					if v.Value != "false" {
						d.errorf(v, "%s.tls: write false to serve plain HTTP, or a mapping with certificates or acme", path)
					}
					return
				}
				own.tls = d.decodeTLS(v, path+".tls")
			}},
		})
	}
}

// address decodes a host:port; with optional, "" means no listener. A null
// keeps the default.
func (d *decoder) address(path string, dst *string, optional bool) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		v = resolve(v)
		s, ok := d.scalar(v, path, "a host:port address")
		if !ok || s == "" && optional {
			return
		}
		if err := checkHostPort(s); err != nil {
			d.errorf(v, "%s: %q %v; write host:port, such as \":8080\" or \"127.0.0.1:8081\" (quoted)", path, s, err)
			return
		}
		*dst = s
	}
}

// applyTLS gives each listener its own tls, or the shared one.
func (d *decoder) applyTLS(l *Listeners, shared *TLS, own map[string]*listenerTLS, metricsNode, consoleNode *yaml.Node, acmeHTTP *yaml.Node) {
	pick := func(o *listenerTLS) *TLS {
		if o.set {
			return o.tls
		}
		return shared
	}
	l.TLS = ListenersTLS{Gateway: pick(own["gateway"]), Identity: pick(own["identity"])}
	if l.Metrics != "" {
		l.TLS.Metrics = pick(own["metrics"])
	} else if own["metrics"].tls != nil {
		d.errorf(metricsNode, "listeners.metrics has tls but no address; give it an address, or remove tls")
	}
	if l.Console != "" {
		l.TLS.Console = pick(own["console"])
	} else if own["console"].tls != nil {
		d.errorf(consoleNode, "listeners.console has tls but no address; give it an address, or remove tls")
	}
	if acmeHTTP != nil && !l.TLS.anyACME() {
		d.errorf(acmeHTTP, "listeners.acmeHTTP answers ACME challenges, but no listener's tls uses acme; remove it, or add acme to a tls")
	}
}

func (d *decoder) decodeTLS(n *yaml.Node, path string) *TLS {
	n = resolve(n)
	if isNull(n) {
		d.errorf(n, "%s is empty; give it certificates or acme (or write false for plain HTTP)", path)
		return nil
	}
	t := &TLS{ClientCertificates: ClientCertificates{Mode: ClientCertNone}}
	var certsNode, acmeNode *yaml.Node
	count := len(d.errs)
	d.mapping(n, path, []field{
		{"certificates", func(k, v *yaml.Node) {
			certsNode = k
			d.sequence(v, path+".certificates", func(i int, item *yaml.Node) {
				p := fmt.Sprintf("%s.certificates[%d]", path, i)
				if c, ok := d.serverCertificate(item, p); ok {
					t.Certificates = append(t.Certificates, c)
				}
			})
		}},
		{"acme", func(k, v *yaml.Node) { acmeNode = k; t.ACME = d.decodeACME(v, path+".acme") }},
		{"clientCertificates", func(k, v *yaml.Node) {
			d.decodeClientCertificates(v, path+".clientCertificates", &t.ClientCertificates)
		}},
	})
	if n.Kind != yaml.MappingNode || len(d.errs) > count {
		return nil
	}
	switch {
	case certsNode != nil && acmeNode != nil:
		d.errorf(acmeNode, "%s has both certificates and acme; keep one", path)
		return nil
	case len(t.Certificates) == 0 && t.ACME == nil:
		d.errorf(n, "%s has no certificates and no acme; add one of them", path)
		return nil
	}
	return t
}

// serverCertificate decodes one {file, passwordEnv} and reads it: a server
// certificate needs its private key.
func (d *decoder) serverCertificate(item *yaml.Node, path string) (CertificateFile, bool) {
	var c CertificateFile
	if isNull(item) || item.Kind != yaml.MappingNode {
		d.errorf(item, "%s must be a mapping with a file (and a passwordEnv for a protected PFX)", path)
		return c, false
	}
	var fileNode *yaml.Node
	count := len(d.errs)
	d.mapping(item, path, []field{
		{"file", func(k, v *yaml.Node) {
			if p, ok := d.filePath(v, path+".file"); ok {
				c.File, fileNode = p, resolve(v)
			}
		}},
		{"passwordEnv", func(k, v *yaml.Node) {
			d.envName(path+".passwordEnv", &c.PasswordEnv)(k, v)
			if _, set := d.lookupEnv(c.PasswordEnv); c.PasswordEnv != "" && !set {
				d.unsetEnv(resolve(v), "%s.passwordEnv: environment variable %s is not set; set it to the password of the PFX file", path, c.PasswordEnv)
			}
		}},
	})
	if len(d.errs) > count {
		return c, false
	}
	if fileNode == nil {
		d.errorf(item, "%s has no file; add file: <a PEM or PFX file with the certificate and its key>", path)
		return c, false
	}
	if _, set := d.lookupEnv(c.PasswordEnv); c.PasswordEnv != "" && !set { // a check without the secrets
		if _, err := readRegular(c.File); err != nil {
			d.errorf(fileNode, "%s: %v; point file at a PEM or PFX file (relative paths start from the folder of %s)", path, err, filepath.Base(d.file))
			return c, false
		}
		return c, true
	}
	cert, err := c.Load(d.lookupEnv)
	switch {
	case err != nil:
		d.errorf(fileNode, "%s: %v; point file at a PEM or PFX file (relative paths start from the folder of %s)", path, err, filepath.Base(d.file))
		return c, false
	case cert.PrivateKey == nil:
		d.errorf(fileNode, "%s: %s holds no private key; a listener's certificate needs its key in the same file", path, c.File)
		return c, false
	}
	return c, true
}

func (d *decoder) decodeACME(n *yaml.Node, path string) *ACME {
	a := &ACME{DirectoryURL: DefaultACMEDirectory}
	var domainsNode *yaml.Node
	count := len(d.errs)
	d.mapping(n, path, []field{
		{"domains", func(k, v *yaml.Node) {
			domainsNode = k
			seen := map[string]bool{}
			names := d.strings(v, path+".domains")
			for i, s := range names.vals {
				s = strings.ToLower(s)
				if msg := checkDomain(s); msg != "" {
					d.errorf(names.nodes[i], "%s.domains[%d]: %q %s", path, i, s, msg)
					continue
				}
				if seen[s] {
					d.errorf(names.nodes[i], "%s.domains[%d]: %q is listed twice; remove one", path, i, s)
					continue
				}
				seen[s] = true
				a.Domains = append(a.Domains, s)
			}
		}},
		{"email", func(k, v *yaml.Node) {
			v = resolve(v)
			s, ok := d.scalar(v, path+".email", "an email address")
			if !ok || s == "" {
				return
			}
			if local, domain, ok := strings.Cut(s, "@"); !ok || local == "" || domain == "" || strings.ContainsAny(s, " \t<>,;:") {
				d.errorf(v, "%s.email: %q is not an email address; write one such as ops@example.com", path, s)
				return
			}
			a.Email = s
		}},
		{"directoryURL", func(k, v *yaml.Node) {
			v = resolve(v)
			s, ok := d.scalar(v, path+".directoryURL", "a URL")
			if !ok || s == "" {
				return
			}
			if u, err := url.Parse(s); err != nil || u.Scheme != "https" || u.Host == "" {
				d.errorf(v, "%s.directoryURL: %q is not an https URL; write the ACME directory's URL, such as %s", path, s, DefaultACMEDirectory)
				return
			}
			a.DirectoryURL = s
		}},
		{"caFile", d.caFile(path+".caFile", "the CA certificates of the ACME directory's TLS", &a.CAFile)},
	})
	if len(d.errs) > count || resolve(n).Kind != yaml.MappingNode {
		return nil
	}
	if len(a.Domains) == 0 {
		where := n
		if domainsNode != nil {
			where = domainsNode
		}
		d.errorf(where, "%s has no domains; list the DNS names to get certificates for, such as domains: [api.example.com]", path)
		return nil
	}
	return a
}

// validDNSLabel reports whether l is a DNS label in lower case: 1 to 63
// letters, digits and hyphens, not starting or ending with a hyphen.
func validDNSLabel(l string) bool {
	if len(l) == 0 || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
		return false
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// checkDomain says what is wrong with a DNS name for an ACME certificate, or
// "".
func checkDomain(s string) string {
	switch {
	case strings.HasPrefix(s, "*."):
		return "is a wildcard, which needs the DNS-01 challenge that lastmile does not answer; list each name"
	case net.ParseIP(s) != nil:
		return "is an IP address; ACME certificates here are for DNS names"
	case len(s) > 253:
		return "is longer than 253 characters"
	}
	labels := strings.Split(s, ".")
	if len(labels) < 2 {
		return "has a single label; write a fully qualified name such as api.example.com"
	}
	for _, l := range labels {
		if !validDNSLabel(l) {
			return "is not a DNS name; use letters, digits and hyphens in dot-separated labels"
		}
	}
	return ""
}

func (d *decoder) decodeClientCertificates(n *yaml.Node, path string, c *ClientCertificates) {
	var modeNode, caNode *yaml.Node
	count := len(d.errs)
	d.mapping(n, path, []field{
		{"mode", func(k, v *yaml.Node) {
			v = resolve(v)
			s, ok := d.scalar(v, path+".mode", "a mode")
			if !ok {
				return
			}
			for _, m := range clientCertModes {
				if s == m {
					c.Mode, modeNode = s, v
					return
				}
			}
			d.errorf(v, "%s.mode: unknown mode %q; use %s", path, s, strings.Join(clientCertModes, ", "))
		}},
		{"caFile", func(k, v *yaml.Node) {
			caNode = resolve(v)
			d.caFile(path+".caFile", "the CA certificates client certificates must chain to", &c.CAFile)(k, v)
		}},
	})
	if len(d.errs) > count {
		return
	}
	verify := c.Mode == ClientCertVerify || c.Mode == ClientCertVerifyIfGiven
	switch {
	case verify && c.CAFile == "":
		d.errorf(modeNode, "%s.mode %s checks client certificates against caFile; add caFile: <a PEM bundle of CA certificates>", path, c.Mode)
	case !verify && c.CAFile != "":
		d.errorf(caNode, "%s.caFile is used only by the modes verify and verify-if-given; remove it, or set one of those modes", path)
	}
}

// caFile decodes a PEM bundle's path, relative to lastmile.yaml's folder,
// and checks it holds certificates.
func (d *decoder) caFile(path, what string, dst *string) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		p, ok := d.filePath(v, path)
		if !ok {
			return
		}
		if err := checkCAFile(p); err != nil {
			d.errorf(resolve(v), "%s: %s; point it at a PEM file of %s (relative paths start from the folder of %s)", path, err, what, filepath.Base(d.file))
			return
		}
		*dst = p
	}
}

// filePath is a file path's value made absolute (relative paths start from
// the folder of lastmile.yaml); ok is false when it is empty or not a string.
func (d *decoder) filePath(v *yaml.Node, path string) (string, bool) {
	s, ok := d.scalar(resolve(v), path, "a file path")
	if !ok || s == "" {
		return "", false
	}
	if !filepath.IsAbs(s) {
		s = filepath.Join(d.dir, s)
	}
	if abs, err := filepath.Abs(s); err == nil {
		s = abs
	}
	return s, true
}

// marshalListener writes a listener as its address alone, or with the TLS
// it serves (listeners.tls written out on each listener).
func marshalListener(addr string, t *TLS) *yaml.Node {
	if t == nil {
		return str(addr)
	}
	n := mapNode("certificates", seqOf(len(t.Certificates), func(i int) *yaml.Node {
		c := t.Certificates[i]
		return mapNode("file", str(c.File), "passwordEnv", str(c.PasswordEnv))
	}))
	if t.ACME != nil {
		n = mapNode("acme", mapNode(
			"domains", flowStrings(t.ACME.Domains),
			"email", str(t.ACME.Email),
			"directoryURL", str(t.ACME.DirectoryURL),
			"caFile", str(t.ACME.CAFile),
		))
	}
	n.Content = append(n.Content, mapNode("clientCertificates", mapNode(
		"mode", str(t.ClientCertificates.Mode),
		"caFile", str(t.ClientCertificates.CAFile),
	)).Content...)
	return mapNode("address", str(addr), "tls", n)
}

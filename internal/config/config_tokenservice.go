package config

// The token service's settings: registered applications and their credentials
// (identity.applications), each resource's token profile and signing algorithm
// (identity.resources[].tokenProfile, .signingAlgorithm), the signing key
// rotation schedule (identity.keys), and whether the issuer may be plain http on
// a non-loopback host (identity.allowInsecureIssuer). Every key is optional:
//
//	identity:
//	  # Registered applications (confidential clients) that get app-only tokens
//	  # from the token endpoint with grant_type=client_credentials, as Entra app
//	  # registrations. Default none.
//	  applications:
//	    - name: orders-batch      # required; unique among identities and applications;
//	                              # resources' assignments give it roles by this name
//	      clientId: 3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70  # required GUID, sent as client_id
//	      # private_key_jwt (RFC 7523): files with the public keys whose private
//	      # halves sign the application's client assertions: PEM certificates (as
//	      # azidentity's ClientCertificateCredential and MSAL use) or public keys,
//	      # or JWK sets. Never the private key. Relative paths start from the
//	      # folder of lastmile.yaml.
//	      certificates: [certs/orders-batch.pem]
//	      # Client secrets, as Argon2id hashes (lastmile secret new makes a secret
//	      # and its hash; lastmile secret hash hashes one). For "old way" policies
//	      # that call a token endpoint; prefer certificates or federation.
//	      secretHashes: ["$argon2id$v=19$m=19456,t=2,p=1$..."]
//	      # Workload identity federation: tokens from these issuers stand in for a
//	      # client assertion when iss, sub and aud are exactly these.
//	      federatedCredentials:
//	        - name: aks-orders    # optional, for messages
//	          issuer: https://oidc.prod-aks.azure.com/0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11/
//	          subject: system:serviceaccount:orders:batch
//	          audience: api://AzureADTokenExchange   # default
//	          # Where the issuer's keys are: at most one of jwksUri and jwksFile;
//	          # neither means discovery at issuer + /.well-known/openid-configuration.
//	          # An issuer spiffe://<trust domain> (JWT-SVIDs) needs one of them.
//	          jwksUri: ""
//	          jwksFile: ""         # re-read when it changes (kubectl get --raw /openid/v1/jwks, a SPIFFE bundle)
//	          caFile: ""           # PEM CA bundle for jwksUri and discovery; default the system roots
//	  keys:
//	    # How long a signing key signs before the next one takes over. 1h to 8760h.
//	    # Default 168h (a week).
//	    rotationPeriod: 168h
//	    # How long the next key is published before it signs: longer than any
//	    # validator caches the JWKS (Entra and cloud IdPs: up to a day). At least
//	    # 10m, less than rotationPeriod. Default a third of rotationPeriod.
//	    prepublish: 56h
//	    # false: keys change only with lastmile keys rotate. Default true.
//	    automatic: true
//	  # Allow an http:// issuer on a host other than loopback (closed test
//	  # networks only: anyone on the path could replace the keys). Default false.
//	  allowInsecureIssuer: false
//	  resources:
//	    - id: api://orders
//	      # native (RFC 9068, typ at+jwt), entra-v1 (iss https://sts.windows.net/{tid}/)
//	      # or entra-v2 (iss https://login.microsoftonline.com/{tid}/v2.0). Default native.
//	      tokenProfile: native
//	      # ES256 or RS256 (for consumers that take only RSA, such as Entra
//	      # workload identity federation). Default ES256.
//	      signingAlgorithm: ES256

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// Token profiles accepted in identity.resources[].tokenProfile.
const (
	TokenProfileNative  = "native"
	TokenProfileEntraV1 = "entra-v1"
	TokenProfileEntraV2 = "entra-v2"
)

// Signing algorithms accepted in identity.resources[].signingAlgorithm.
const (
	SigningES256 = "ES256"
	SigningRS256 = "RS256"
)

// Defaults of the token service's settings.
const (
	DefaultTokenProfile       = TokenProfileNative
	DefaultSigningAlgorithm   = SigningES256
	DefaultKeyRotationPeriod  = directory.DefaultRotationPeriod
	DefaultFederationAudience = "api://AzureADTokenExchange"
)

// Application is one registered application (confidential client).
type Application struct {
	Name string
	// ClientID is the application (client) id GUID, lower-cased.
	ClientID string
	// Certificates are absolute paths of files with the application's public keys
	// (PEM certificates or public keys, or JWK sets), already checked to parse.
	Certificates []string
	// SecretHashes are Argon2id hashes of client secrets, in PHC format.
	SecretHashes []string
	// FederatedCredentials trust tokens from external issuers, in file order.
	FederatedCredentials []FederatedCredential
}

// FederatedCredential trusts an external issuer's tokens for an application.
type FederatedCredential struct {
	Name     string
	Issuer   string
	Subject  string
	Audience string
	// JWKSURI and JWKSFile say where the issuer's keys are; both "" means
	// discovery. JWKSFile and CAFile are absolute.
	JWKSURI  string
	JWKSFile string
	CAFile   string
}

// KeyRotation is the signing key rotation schedule.
type KeyRotation struct {
	RotationPeriod time.Duration
	// Prepublish is how long the next key is published before it signs.
	Prepublish time.Duration
	// Automatic is false when keys change only by lastmile keys.
	Automatic bool
}

// defaultTokenService fills the token service's defaults into id.
func defaultTokenService(id *Identity) {
	id.Keys = KeyRotation{RotationPeriod: DefaultKeyRotationPeriod, Prepublish: DefaultKeyRotationPeriod / 3, Automatic: true}
}

// defaultResourceToken fills a resource's token defaults.
func defaultResourceToken(r *Resource) {
	r.TokenProfile, r.SigningAlgorithm = DefaultTokenProfile, DefaultSigningAlgorithm
}

// tokenServiceRefs keeps nodes for the checks that need the whole file.
type tokenServiceRefs struct {
	appNames     []*yaml.Node
	appClientIDs []*yaml.Node
	prepublish   *yaml.Node
	period       *yaml.Node
	// keyURLs are the federated issuers and JWKS URIs, and issuer is
	// listeners.issuer: checked for plain http once identity.allowInsecureIssuer
	// is known.
	keyURLs []keyURLRef
	issuer  *yaml.Node
}

type keyURLRef struct {
	node *yaml.Node
	path string
	url  string
}

func (d *decoder) oneOf(path string, dst *string, allowed ...string) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		v = resolve(v)
		s, ok := d.scalar(v, path, strings.Join(allowed, ", "))
		if !ok {
			return
		}
		for _, a := range allowed {
			if s == a {
				*dst = s
				return
			}
		}
		hint := ""
		if best, ok := nearest(s, allowed); ok {
			hint = fmt.Sprintf("did you mean %q? ", best)
		}
		d.errorf(v, "%s: %q is not one of %s; %suse one of them", path, s, strings.Join(allowed, ", "), hint)
	}
}

func (d *decoder) decodeKeyRotation(n *yaml.Node, k *KeyRotation) {
	prepublishSet := false
	d.mapping(n, "identity.keys", []field{
		{"rotationPeriod", func(key, v *yaml.Node) {
			d.duration("identity.keys.rotationPeriod", &k.RotationPeriod, directory.MinRotationPeriod, directory.MaxRotationPeriod)(key, v)
			d.tokens.period = resolve(v)
		}},
		{"prepublish", func(key, v *yaml.Node) {
			d.duration("identity.keys.prepublish", &k.Prepublish, directory.MinPrepublish, directory.MaxRotationPeriod)(key, v)
			d.tokens.prepublish = resolve(v)
			prepublishSet = true
		}},
		{"automatic", d.boolean("identity.keys.automatic", &k.Automatic)},
	})
	if !prepublishSet {
		k.Prepublish = directory.DefaultPrepublish(k.RotationPeriod)
	}
}

func (d *decoder) decodeApplications(n *yaml.Node, id *Identity) {
	d.sequence(n, "identity.applications", func(i int, item *yaml.Node) {
		path := fmt.Sprintf("identity.applications[%d]", i)
		if isNull(item) {
			d.errorf(item, "%s is empty; give it a name and a clientId", path)
			return
		}
		var a Application
		var nameNode, clientNode *yaml.Node
		d.mapping(item, path, []field{
			{"name", func(k, v *yaml.Node) {
				v = resolve(v)
				if s, ok := d.scalar(v, path+".name", "a string"); ok {
					a.Name, nameNode = s, v
				}
			}},
			{"clientId", d.guid(path+".clientId", &a.ClientID, &clientNode)},
			{"certificates", func(k, v *yaml.Node) {
				files := d.strings(v, path+".certificates")
				for j, f := range files.vals {
					if p, ok := d.keyFile(files.nodes[j], fmt.Sprintf("%s.certificates[%d]", path, j), f); ok {
						a.Certificates = append(a.Certificates, p)
					}
				}
			}},
			{"secretHashes", func(k, v *yaml.Node) {
				hashes := d.strings(v, path+".secretHashes")
				for j, h := range hashes.vals {
					if err := directory.CheckClientSecretHash(h); err != nil {
						d.errorf(hashes.nodes[j], "%s.secretHashes[%d]: %v", path, j, err)
						continue
					}
					a.SecretHashes = append(a.SecretHashes, h)
				}
			}},
			{"federatedCredentials", func(k, v *yaml.Node) {
				seen := map[[2]string]*yaml.Node{}
				d.sequence(v, path+".federatedCredentials", func(j int, fi *yaml.Node) {
					fpath := fmt.Sprintf("%s.federatedCredentials[%d]", path, j)
					f, ok := d.decodeFederated(fi, fpath)
					if !ok {
						return
					}
					if prev, dup := seen[[2]string{f.Issuer, f.Subject}]; dup {
						d.errorf(fi, "%s: issuer %q and subject %q are also those of the federated credential at line %d; remove one", fpath, f.Issuer, f.Subject, prev.Line)
						return
					}
					seen[[2]string{f.Issuer, f.Subject}] = fi
					a.FederatedCredentials = append(a.FederatedCredentials, f)
				})
			}},
		})
		if item.Kind != yaml.MappingNode {
			return
		}
		switch {
		case nameNode == nil:
			d.errorf(item, "%s has no name; add name: <application name>", path)
			return
		case directory.IsSystemName(a.Name):
			d.errorf(nameNode, "%s.name: %q is reserved for the system-assigned identity; choose another name", path, a.Name)
			return
		case directory.CheckName(a.Name) != "":
			d.errorf(nameNode, "%s.name: %s", path, directory.CheckName(a.Name))
			return
		case clientNode == nil && !d.hasKey(item, "clientId"):
			d.errorf(item, "%s has no clientId; add clientId: <GUID>, the application id its clients send as client_id", path)
			return
		case clientNode == nil:
			return // the GUID error is already reported
		case len(a.Certificates) == 0 && len(a.SecretHashes) == 0 && len(a.FederatedCredentials) == 0 &&
			!d.hasKey(item, "certificates") && !d.hasKey(item, "secretHashes") && !d.hasKey(item, "federatedCredentials"):
			d.errorf(item, "%s (%s) has no credentials; add certificates, federatedCredentials or secretHashes", path, a.Name)
			return
		}
		id.Applications = append(id.Applications, a)
		d.tokens.appNames = append(d.tokens.appNames, nameNode)
		d.tokens.appClientIDs = append(d.tokens.appClientIDs, clientNode)
	})
}

// keyFile resolves and checks a key file: it must parse as public keys.
func (d *decoder) keyFile(n *yaml.Node, path, file string) (string, bool) {
	p := file
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.dir, p)
	}
	if abs, err := filepath.Abs(p); err == nil {
		p = abs
	}
	data, err := readRegular(p)
	if err != nil {
		d.errorf(n, "%s: %v; point it at a PEM certificate or public key, or a JWK set (relative paths start from the folder of %s)", path, err, filepath.Base(d.file))
		return "", false
	}
	if _, err := directory.ParseVerificationKeys(data); err != nil {
		d.errorf(n, "%s: %s: %v", path, file, err)
		return "", false
	}
	return p, true
}

// readRegular reads a regular file of at most maxFileSize bytes.
func readRegular(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	switch {
	case os.IsNotExist(err):
		return nil, fmt.Errorf("%s does not exist", path)
	case err != nil:
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	case !fi.Mode().IsRegular():
		return nil, fmt.Errorf("%s is not a regular file", path)
	case fi.Size() > maxFileSize:
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w", path, err)
	}
	return data, nil
}

func (d *decoder) decodeFederated(n *yaml.Node, path string) (FederatedCredential, bool) {
	f := FederatedCredential{Audience: DefaultFederationAudience}
	if isNull(n) {
		d.errorf(n, "%s is empty; give it an issuer and a subject", path)
		return f, false
	}
	var issuerNode, subjectNode, uriNode, fileNode *yaml.Node
	ok := true
	d.mapping(n, path, []field{
		{"name", d.str(path+".name", &f.Name)},
		{"issuer", func(k, v *yaml.Node) {
			v = resolve(v)
			s, good := d.scalar(v, path+".issuer", "a URL")
			if !good {
				return
			}
			issuerNode = v
			if strings.HasPrefix(s, "spiffe://") {
				if msg := directory.CheckSPIFFETrustDomain(s); msg != "" {
					d.errorf(v, "%s.issuer: %s", path, msg)
					ok = false
				}
			} else if msg := directory.CheckKeyURL(s, true); msg != "" {
				d.errorf(v, "%s.issuer: %s; write the iss of the tokens to trust, e.g. the cluster's service account issuer URL", path, msg)
				ok = false
			} else {
				d.tokens.keyURLs = append(d.tokens.keyURLs, keyURLRef{v, path + ".issuer", s})
			}
			f.Issuer = s
		}},
		{"subject", func(k, v *yaml.Node) {
			v = resolve(v)
			if s, good := d.scalar(v, path+".subject", "a string"); good {
				f.Subject, subjectNode = s, v
			}
		}},
		{"audience", d.nonEmpty(path+".audience", &f.Audience)},
		{"jwksUri", func(k, v *yaml.Node) {
			v = resolve(v)
			s, good := d.scalar(v, path+".jwksUri", "a URL")
			if !good || s == "" {
				return
			}
			if msg := directory.CheckKeyURL(s, true); msg != "" {
				d.errorf(v, "%s.jwksUri: %s", path, msg)
				ok = false
			} else {
				d.tokens.keyURLs = append(d.tokens.keyURLs, keyURLRef{v, path + ".jwksUri", s})
			}
			f.JWKSURI, uriNode = s, v
		}},
		{"jwksFile", func(k, v *yaml.Node) {
			v = resolve(v)
			s, good := d.scalar(v, path+".jwksFile", "a file path")
			if !good || s == "" {
				return
			}
			p, good := d.keyFile(v, path+".jwksFile", s)
			if !good {
				ok = false
				return
			}
			f.JWKSFile, fileNode = p, v
		}},
		{"caFile", func(k, v *yaml.Node) {
			v = resolve(v)
			s, good := d.scalar(v, path+".caFile", "a file path")
			if !good || s == "" {
				return
			}
			p := s
			if !filepath.IsAbs(p) {
				p = filepath.Join(d.dir, p)
			}
			if err := checkCAFile(p); err != nil {
				d.errorf(v, "%s.caFile: %s; point it at a PEM file of CA certificates", path, err)
				ok = false
				return
			}
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
			f.CAFile = p
		}},
	})
	if n.Kind != yaml.MappingNode {
		return f, false
	}
	if issuerNode == nil {
		d.errorf(n, "%s has no issuer; add issuer: <the iss of the tokens to trust>", path)
		ok = false
	}
	if subjectNode == nil || f.Subject == "" {
		d.errorf(n, "%s has no subject; add subject: <the sub of the tokens to trust>", path)
		ok = false
	}
	if uriNode != nil && fileNode != nil {
		d.errorf(fileNode, "%s: set jwksUri or jwksFile, not both", path)
		ok = false
	}
	if strings.HasPrefix(f.Issuer, "spiffe://") && ok {
		if uriNode == nil && fileNode == nil {
			d.errorf(issuerNode, "%s: a SPIFFE trust domain has no discovery document; set jwksFile (the trust bundle) or jwksUri (the bundle endpoint)", path)
			ok = false
		}
		if !strings.HasPrefix(f.Subject, f.Issuer+"/") {
			d.errorf(subjectNode, "%s.subject: %q is not a SPIFFE ID in trust domain %s", path, f.Subject, f.Issuer)
			ok = false
		}
	}
	return f, ok
}

// checkTokenService reports what needs the whole file: application names and
// client ids that collide with each other or with identities, and a
// pre-publication time that is not shorter than the rotation period.
func (d *decoder) checkTokenService(c *Config) {
	id := &c.Identity
	names := map[string]int{}
	for i, u := range id.UserAssignedIdentities {
		names[strings.ToLower(u.Name)] = -1 - i
	}
	clients := map[string]string{}
	for _, u := range id.UserAssignedIdentities {
		if u.ClientID != "" {
			clients[u.ClientID] = fmt.Sprintf("user-assigned identity %q", u.Name)
		}
	}
	for i, a := range id.Applications {
		lower := strings.ToLower(a.Name)
		if j, dup := names[lower]; dup {
			if j < 0 {
				d.errorf(d.tokens.appNames[i], "identity.applications: %q is also the name of user-assigned identity %q; names must be unique among identities and applications", a.Name, id.UserAssignedIdentities[-1-j].Name)
			} else {
				d.errorf(d.tokens.appNames[i], "identity.applications: %q is declared twice (first at line %d); application names must be unique", a.Name, d.tokens.appNames[j].Line)
			}
		} else {
			names[lower] = i
		}
		if prev, dup := clients[a.ClientID]; dup {
			d.errorf(d.tokens.appClientIDs[i], "identity.applications: client id %s is also the client id of %s; each needs its own", a.ClientID, prev)
		} else {
			clients[a.ClientID] = fmt.Sprintf("application %q", a.Name)
		}
	}
	for _, u := range d.tokens.keyURLs {
		if msg := directory.CheckKeyURL(u.url, id.AllowInsecureIssuer); msg != "" {
			d.errorf(u.node, "%s: %s", u.path, msg)
		}
	}
	if n := d.tokens.issuer; n != nil {
		if msg := directory.CheckIssuer(c.Listeners.Issuer, id.AllowInsecureIssuer); msg != "" {
			d.errorf(n, "listeners.issuer: %s", msg)
			c.Listeners.Issuer = ""
		}
	}
	if k := id.Keys; k.Prepublish >= k.RotationPeriod {
		n := d.tokens.prepublish
		if n == nil {
			n = d.tokens.period
		}
		d.errorf(n, "identity.keys.prepublish: %s is not shorter than rotationPeriod %s; the next key must be published for a while before it signs, and sign for longer than that", formatDuration(k.Prepublish), formatDuration(k.RotationPeriod))
	}
}

// marshalTokenService returns the token service's keys of the identity section,
// defaults written out.
func marshalTokenService(id *Identity) []any {
	boolNode := func(b bool) *yaml.Node {
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(b)}
	}
	apps := seqOf(len(id.Applications), func(i int) *yaml.Node {
		a := id.Applications[i]
		fed := seqOf(len(a.FederatedCredentials), func(j int) *yaml.Node {
			f := a.FederatedCredentials[j]
			return mapNode("name", str(f.Name), "issuer", str(f.Issuer), "subject", str(f.Subject), "audience", str(f.Audience),
				"jwksUri", str(f.JWKSURI), "jwksFile", str(f.JWKSFile), "caFile", str(f.CAFile))
		})
		return mapNode("name", str(a.Name), "clientId", str(a.ClientID), "certificates", flowStrings(a.Certificates),
			"secretHashes", flowStrings(a.SecretHashes), "federatedCredentials", fed)
	})
	return []any{
		"applications", apps,
		"keys", mapNode(
			"rotationPeriod", str(formatDuration(id.Keys.RotationPeriod)),
			"prepublish", str(formatDuration(id.Keys.Prepublish)),
			"automatic", boolNode(id.Keys.Automatic),
		),
		"allowInsecureIssuer", boolNode(id.AllowInsecureIssuer),
	}
}

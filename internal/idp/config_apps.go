package idp

import (
	"crypto/x509"
	"fmt"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// Application is a registered application: a confidential client that gets
// app-only tokens from the token endpoint (grant_type=client_credentials), as an
// Entra app registration with its service principal.
type Application struct {
	// Name identifies the application in Resource.Assignments and in state; the
	// same rules as identity names, unique among identities and applications.
	Name string
	// ClientID is the application (client) id, a GUID; clients send it as
	// client_id, and tokens carry it as appid, azp and client_id.
	ClientID string
	// Keys are the public keys (certificates, as azidentity's
	// ClientCertificateCredential and MSAL use, or JWKs) whose private halves sign
	// the application's client assertions (private_key_jwt, RFC 7523).
	Keys []VerificationKey
	// SecretHashes are Argon2id hashes (PHC format, see directory.HashClientSecret) of the
	// application's client secrets; several allow rotating a secret.
	SecretHashes []string
	// Federated are the external issuers whose tokens stand in for a client
	// assertion (workload identity federation).
	Federated []FederatedCredential
}

// FederatedCredential trusts tokens from an external issuer as the
// application's credential, as an Entra federated identity credential: the
// assertion's iss, sub and aud must be exactly these.
type FederatedCredential struct {
	// Name names the credential in messages. Optional.
	Name string
	// Issuer is the iss of accepted tokens: an OIDC issuer URL (a Kubernetes
	// service account issuer, another lastmile, SPIRE's OIDC discovery provider),
	// or spiffe://<trust domain> for JWT-SVIDs without iss, which then match by
	// the trust domain of their sub.
	Issuer string
	// Subject is the sub of accepted tokens, exactly, e.g.
	// system:serviceaccount:<namespace>:<name> or a SPIFFE ID.
	Subject string
	// Audience is an aud the tokens must have. Default
	// DefaultFederationAudience (api://AzureADTokenExchange).
	Audience string
	// Where the issuer's keys come from: at most one of JWKSURI (fetched, cached
	// by its max-age, refetched on an unknown kid at most every 30 seconds),
	// JWKSFile (re-read when it changes; a SPIFFE bundle or `kubectl get --raw
	// /openid/v1/jwks`) and Keys. When none is set, the keys are found through
	// Issuer + "/.well-known/openid-configuration".
	JWKSURI  string
	JWKSFile string
	Keys     []VerificationKey
	// RootCAs verifies the TLS certificates of JWKSURI and the discovery
	// document; nil means the system roots.
	RootCAs *x509.CertPool
}

// application is a validated Application.
type application struct {
	principal
	keys          []VerificationKey
	secrets       []directory.SecretHash
	secretStrings []string
	federated     []*federatedCredential
}

// nameOwner names the identity or application that has the lower-case name.
func nameOwner(cfg Config, lower string) string {
	for i, u := range cfg.UserAssigned {
		if strings.ToLower(u.Name) == lower {
			return fmt.Sprintf("UserAssigned[%d]", i)
		}
	}
	for i, a := range cfg.Applications {
		if strings.ToLower(a.Name) == lower {
			return fmt.Sprintf("Applications[%d]", i)
		}
	}
	return "another entry"
}

func (c *compiled) compileApplications(cfg Config, names, clients map[string]string, bad func(field, format string, args ...any)) {
	for i, a := range cfg.Applications {
		field := fmt.Sprintf("Applications[%d]", i)
		app := &application{principal: principal{name: a.Name, kind: kindApplication}}
		switch lower := strings.ToLower(a.Name); {
		case directory.CheckName(a.Name) != "":
			bad(field+".Name", "%s", directory.CheckName(a.Name))
		case lower == SystemName:
			bad(field+".Name", "%q is reserved for the system-assigned identity; choose another name", a.Name)
		default:
			if _, dup := names[lower]; dup {
				bad(field+".Name", "%q is also the name of %s; names must be unique among identities and applications", a.Name, nameOwner(cfg, lower))
			} else {
				names[lower] = a.Name
			}
		}
		cid, ok := directory.CanonicalGUID(a.ClientID)
		switch {
		case a.ClientID == "":
			bad(field+".ClientID", "missing: set it to the GUID the application sends as client_id")
		case !ok:
			bad(field+".ClientID", "%q is not a GUID", a.ClientID)
		default:
			if prev, dup := clients[cid]; dup {
				bad(field+".ClientID", "%s is also the client id of %s; client ids must be unique", cid, prev)
			} else {
				clients[cid] = field
			}
		}
		app.clientID = cid
		if len(a.Keys) == 0 && len(a.SecretHashes) == 0 && len(a.Federated) == 0 {
			bad(field, "application %q has no credentials: add a certificate or key, a federated credential, or a secret hash", a.Name)
		}
		for j, k := range a.Keys {
			if err := directory.CheckPublicKey(k.Key); err != nil {
				bad(fmt.Sprintf("%s.Keys[%d]", field, j), "%v", err)
				continue
			}
			app.keys = append(app.keys, k.WithThumbprints())
		}
		for j, h := range a.SecretHashes {
			sh, err := directory.ParseClientSecretHash(h)
			if err != nil {
				bad(fmt.Sprintf("%s.SecretHashes[%d]", field, j), "%v", err)
				continue
			}
			app.secrets = append(app.secrets, sh)
			app.secretStrings = append(app.secretStrings, h)
		}
		seen := map[[2]string]int{}
		for j, f := range a.Federated {
			ffield := fmt.Sprintf("%s.Federated[%d]", field, j)
			fc, msgs := compileFederated(f, c.allowInsecureIssuer)
			for _, m := range msgs {
				bad(ffield+"."+m[0], "%s", m[1])
			}
			if fc == nil {
				continue
			}
			key := [2]string{fc.issuer, fc.subject}
			if prev, dup := seen[key]; dup {
				bad(ffield, "issuer %q and subject %q are also those of Federated[%d]", fc.issuer, fc.subject, prev)
				continue
			}
			seen[key] = j
			app.federated = append(app.federated, fc)
		}
		c.apps = append(c.apps, app)
	}
}

// compileFederated validates a federated credential. The messages are
// {field, message} pairs.
func compileFederated(f FederatedCredential, allowInsecure bool) (*federatedCredential, [][2]string) {
	var msgs [][2]string
	bad := func(field, format string, args ...any) {
		msgs = append(msgs, [2]string{field, fmt.Sprintf(format, args...)})
	}
	fc := &federatedCredential{name: f.Name, issuer: f.Issuer, subject: f.Subject, audience: f.Audience}
	if fc.name == "" {
		fc.name = f.Issuer
	}
	if fc.audience == "" {
		fc.audience = DefaultFederationAudience
	}
	sources := 0
	for _, set := range []bool{f.JWKSURI != "", f.JWKSFile != "", len(f.Keys) > 0} {
		if set {
			sources++
		}
	}
	if sources > 1 {
		bad("JWKSURI", "set at most one of the JWKS URI, the JWKS file and the keys")
	}
	switch {
	case f.Issuer == "":
		bad("Issuer", "missing: set it to the iss of the tokens to trust, e.g. the cluster's service account issuer URL")
	case strings.HasPrefix(f.Issuer, "spiffe://"):
		if msg := directory.CheckSPIFFETrustDomain(f.Issuer); msg != "" {
			bad("Issuer", "%s", msg)
		}
		fc.spiffeTD = f.Issuer
		if sources == 0 {
			bad("JWKSFile", "a SPIFFE trust domain has no discovery document: set the trust bundle file or the bundle endpoint URL")
		}
		if !strings.HasPrefix(f.Subject, f.Issuer+"/") {
			bad("Subject", "%q is not a SPIFFE ID in trust domain %s", f.Subject, f.Issuer)
		}
	default:
		if msg := directory.CheckKeyURL(f.Issuer, allowInsecure); msg != "" {
			bad("Issuer", "%s", msg)
		}
	}
	if f.Subject == "" {
		bad("Subject", "missing: set it to the sub of the tokens to trust")
	}
	if f.JWKSURI != "" {
		if msg := directory.CheckKeyURL(f.JWKSURI, allowInsecure); msg != "" {
			bad("JWKSURI", "%s", msg)
		}
	}
	for j, k := range f.Keys {
		if err := directory.CheckPublicKey(k.Key); err != nil {
			bad(fmt.Sprintf("Keys[%d]", j), "%v", err)
		}
	}
	if len(msgs) > 0 {
		return nil, msgs
	}
	switch {
	case len(f.Keys) > 0:
		fc.source = staticKeys(f.Keys)
	case f.JWKSFile != "":
		fc.source = &fileKeys{path: f.JWKSFile}
	default:
		fc.source = &remoteKeys{issuer: f.Issuer, jwksURI: f.JWKSURI, rootCAs: f.RootCAs}
	}
	return fc, nil
}

// compileSchedule validates the rotation schedule.
func (c *compiled) compileSchedule(s KeySchedule, bad func(field, format string, args ...any)) {
	if s.RotationPeriod != 0 && (s.RotationPeriod < directory.MinRotationPeriod || s.RotationPeriod > directory.MaxRotationPeriod) {
		bad("Keys.RotationPeriod", "%s is outside %s to %s", s.RotationPeriod, directory.MinRotationPeriod, directory.MaxRotationPeriod)
	}
	d := s.withDefaults()
	if s.Prepublish != 0 && (s.Prepublish < directory.MinPrepublish || s.Prepublish >= d.RotationPeriod) {
		bad("Keys.Prepublish", "%s must be at least %s (twice the JWKS max-age) and less than the rotation period %s", s.Prepublish, directory.MinPrepublish, d.RotationPeriod)
	}
	c.schedule = d
	c.schedule.Manual = s.Manual
}

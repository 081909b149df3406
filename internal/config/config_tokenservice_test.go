package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// tokenServiceDir is a folder with lastmile.yaml's neighbours: a certificate, a
// JWK set, a CA bundle, a private key (which must be refused) and junk.
func tokenServiceDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	copyFile := func(from, to string) {
		data, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, to), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	copyFile("testdata/app-cert.pem", "app.pem")
	copyFile("testdata/sa-jwks.json", "jwks.json")
	copyFile("testdata/ca.pem", "ca.pem")
	os.WriteFile(filepath.Join(dir, "key.pem"), []byte("-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA==\n-----END PRIVATE KEY-----\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "junk.txt"), []byte("hello"), 0o600)
	return dir
}

const fixtureHash = "$argon2id$v=19$m=19456,t=2,p=1$5Ck82B3OjDv9sCtZBLmt+Q$fcXH1gHjEaR3lJL3HNuSPX+uN2y+dmQRQH35AU56B9g"

func TestTokenServiceConfig(t *testing.T) {
	dir := tokenServiceDir(t)
	src := `identity:
  resources:
    - id: api://orders
      roles: [Read]
      assignments:
        app: [Read]
      signingAlgorithm: RS256
  applications:
    - name: app
      clientId: 3F5A1C2E-0B7D-4E8F-9A1B-2C3D4E5F6A70
      certificates: [app.pem, jwks.json]
      federatedCredentials:
        - issuer: https://kubernetes.default.svc
          subject: system:serviceaccount:default:app
  keys:
    rotationPeriod: 24h
`
	got, err := parse(filepath.Join(dir, "lastmile.yaml"), []byte(src), noEnv)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := []Application{{
		Name:         "app",
		ClientID:     "3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70",
		Certificates: []string{filepath.Join(dir, "app.pem"), filepath.Join(dir, "jwks.json")},
		FederatedCredentials: []FederatedCredential{{Issuer: "https://kubernetes.default.svc", Subject: "system:serviceaccount:default:app",
			Audience: "api://AzureADTokenExchange"}},
	}}
	if diff := cmp.Diff(want, got.Identity.Applications); diff != "" {
		t.Errorf("applications (-want +got):\n%s", diff)
	}
	if k := got.Identity.Keys; k != (KeyRotation{RotationPeriod: 24 * time.Hour, Prepublish: 8 * time.Hour, Automatic: true}) {
		t.Errorf("keys = %+v, want a third of the period as pre-publication by default", k)
	}
	r := got.Identity.Resources[0]
	if r.TokenProfile != "native" || r.SigningAlgorithm != "RS256" || r.RolesFor("app")[0] != "Read" {
		t.Errorf("resource = %+v", r)
	}
}

func TestTokenServiceErrors(t *testing.T) {
	app := "identity:\n  applications:\n    - name: app\n      clientId: 3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70\n"
	fed := app + "      federatedCredentials:\n        - "
	for _, tc := range []struct {
		name, src, want string
	}{
		{"application without credentials", app, `:3:7: identity.applications[0] (app) has no credentials; add certificates, federatedCredentials or secretHashes`},
		{"application without name", "identity:\n  applications:\n    - clientId: 3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70\n", `:3:7: identity.applications[0] has no name`},
		{"a bad secret hash is reported without a client id too", "identity:\n  applications:\n    - name: app\n      secretHashes: [x]\n", `:4:22: identity.applications[0].secretHashes[0]: not an Argon2id hash`},
		{"missing client id", "identity:\n  applications:\n    - name: app\n      certificates: [app.pem]\n", `:3:7: identity.applications[0] has no clientId`},
		{"client id not a GUID", "identity:\n  applications:\n    - name: app\n      clientId: orders\n", `:4:17: identity.applications[0].clientId: "orders" is not a GUID`},
		{"name system", "identity:\n  applications:\n    - name: system\n      clientId: 3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70\n", `:3:13: identity.applications[0].name: "system" is reserved`},
		{"missing certificate", app + "      certificates: [nope.pem]\n", `:5:22: identity.applications[0].certificates[0]: `},
		{"private key as certificate", app + "      certificates: [key.pem]\n", `:5:22: identity.applications[0].certificates[0]: key.pem: PEM block 1 is a private key (PRIVATE KEY): give lastmile only the certificate or public key`},
		{"junk as certificate", app + "      certificates: [junk.txt]\n", `:5:22: identity.applications[0].certificates[0]: junk.txt: neither PEM nor JSON`},
		{"bcrypt hash", app + "      secretHashes: [\"$2a$10$abc\"]\n", `:5:22: identity.applications[0].secretHashes[0]: not an Argon2id hash in the PHC format`},
		{"secret instead of hash", app + "      secretHashes: [hunter2]\n", `:5:22: identity.applications[0].secretHashes[0]: not an Argon2id hash`},
		{"federated without subject", fed + "issuer: https://oidc.example.com\n", `:6:11: identity.applications[0].federatedCredentials[0] has no subject`},
		{"federated without issuer", fed + "subject: s\n", `:6:11: identity.applications[0].federatedCredentials[0] has no issuer`},
		{"federated http issuer", fed + "issuer: http://oidc.example.com\n          subject: s\n", `:6:19: identity.applications[0].federatedCredentials[0].issuer: "http://oidc.example.com" uses http on a host other than loopback`},
		{"federated both key sources", fed + "issuer: https://oidc.example.com\n          subject: s\n          jwksUri: https://oidc.example.com/k\n          jwksFile: jwks.json\n",
			`:9:21: identity.applications[0].federatedCredentials[0]: set jwksUri or jwksFile, not both`},
		{"SPIFFE without bundle", fed + "issuer: spiffe://example.org\n          subject: spiffe://example.org/w\n", `:6:19: identity.applications[0].federatedCredentials[0]: a SPIFFE trust domain has no discovery document`},
		{"SPIFFE subject elsewhere", fed + "issuer: spiffe://example.org\n          subject: spiffe://other.org/w\n          jwksFile: jwks.json\n",
			`:7:20: identity.applications[0].federatedCredentials[0].subject: "spiffe://other.org/w" is not a SPIFFE ID in trust domain spiffe://example.org`},
		{"bad CA file", fed + "issuer: https://oidc.example.com\n          subject: s\n          caFile: junk.txt\n", `:8:19: identity.applications[0].federatedCredentials[0].caFile: `},
		{"unknown key", fed + "issuer: https://oidc.example.com\n          subjct: s\n", `:7:11: unknown key "subjct" in identity.applications[0].federatedCredentials[0]; did you mean "subject"?`},
		{"name of a user-assigned identity", "identity:\n  userAssignedIdentities:\n    - name: app\n  applications:\n    - name: app\n      clientId: 3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70\n      secretHashes: [\"" + fixtureHash + "\"]\n",
			`:5:13: identity.applications: "app" is also the name of user-assigned identity "app"`},
		{"client id of a user-assigned identity", "identity:\n  userAssignedIdentities:\n    - name: u\n      clientId: 3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70\n  applications:\n    - name: app\n      clientId: 3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70\n      secretHashes: [\"" + fixtureHash + "\"]\n",
			`:7:17: identity.applications: client id 3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70 is also the client id of user-assigned identity "u"`},
		{"unknown token profile", "identity:\n  resources:\n    - id: api://a\n      tokenProfile: entra-v3\n", `:4:21: identity.resources[0].tokenProfile: "entra-v3" is not one of native, entra-v1, entra-v2; did you mean "entra-v1"?`},
		{"unknown algorithm", "identity:\n  resources:\n    - id: api://a\n      signingAlgorithm: EdDSA\n", `:4:25: identity.resources[0].signingAlgorithm: "EdDSA" is not one of ES256, RS256`},
		{"rotation period too short", "identity:\n  keys:\n    rotationPeriod: 10m\n", `:3:21: identity.keys.rotationPeriod: 10m is out of range`},
		{"pre-publication not shorter", "identity:\n  keys:\n    rotationPeriod: 2h\n    prepublish: 3h\n", `:4:17: identity.keys.prepublish: 3h is not shorter than rotationPeriod 2h`},
		{"assignment to an unknown application", "identity:\n  resources:\n    - id: api://a\n      roles: [R]\n      assignments:\n        ap: [R]\n", `:6:9: assignments of api://a: unknown identity "ap"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := tokenServiceDir(t)
			file := filepath.Join(dir, "lastmile.yaml")
			_, err := parse(file, []byte(tc.src), noEnv)
			if err == nil {
				t.Fatal("parse accepted the file")
			}
			if !strings.Contains(err.Error(), file+tc.want) {
				t.Errorf("errors:\n%v\nwant one starting %s%s", err, file, tc.want)
			}
		})
	}
}

// TestTokenServiceMarshalRoundTrip checks that Marshal writes the token
// service's keys so that parsing gives the same configuration.
func TestTokenServiceMarshalRoundTrip(t *testing.T) {
	dir := tokenServiceDir(t)
	src := "identity:\n  allowInsecureIssuer: true\n  keys:\n    automatic: false\n  applications:\n    - name: app\n      clientId: 3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70\n" +
		"      secretHashes: [\"" + fixtureHash + "\"]\n      federatedCredentials:\n        - issuer: http://10.0.0.1:8081\n          subject: s\n          jwksUri: http://10.0.0.1:8081/keys\n"
	file := filepath.Join(dir, "lastmile.yaml")
	first, err := parse(file, []byte(src), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	out, err := first.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	again, err := parse(file, out, noEnv)
	if err != nil {
		t.Fatalf("parse marshalled:\n%s\n%v", out, err)
	}
	if diff := cmp.Diff(first, again); diff != "" {
		t.Errorf("round trip (-first +second):\n%s", diff)
	}
	if first.Identity.Keys.Automatic || !first.Identity.AllowInsecureIssuer {
		t.Errorf("keys %+v allowInsecureIssuer %v", first.Identity.Keys, first.Identity.AllowInsecureIssuer)
	}
}

package idp_test

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/idp"
)

// TestEndToEnd issues tokens and verifies them the way backends do, with two
// libraries independent of the issuer's: go-oidc (discovery, JWKS, signature, iss,
// aud, exp) and golang-jwt (with keys decoded from the JWKS by hand).
func TestEndToEnd(t *testing.T) {
	ctx := context.Background()
	p, _ := serve(t, "", testConfig, openState(t, t.TempDir()))
	issuer := p.Issuer()
	oidcProvider, err := oidc.NewProvider(ctx, issuer)
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	keys := fetchKeys(t, issuer)

	byName := map[string]idp.Identity{}
	for _, id := range p.Identities() {
		byName[id.Name] = id
	}
	tests := []struct {
		name      string
		clientID  string
		resource  string
		identity  string
		wantAud   string
		wantRoles []any
	}{
		{name: "system-assigned", clientID: "", resource: "api://orders", identity: "system",
			wantAud: "api://orders", wantRoles: []any{"Orders.Read"}},
		{name: "user-assigned with roles, resource as a scope", clientID: byName["reports"].ClientID, resource: "API://Orders/.default", identity: "reports",
			wantAud: "api://orders", wantRoles: []any{"Orders.Read", "Orders.Write"}},
		{name: "user-assigned by configured client id in upper case", clientID: "6B9C1A2E-1C8B-4C5E-9A3F-0D2E7F1B2C3D", resource: "https://billing.example.com", identity: "billing",
			wantAud: "https://billing.example.com/"},
		{name: "system-assigned without roles on the resource", clientID: "", resource: "https://billing.example.com/.default", identity: "system",
			wantAud: "https://billing.example.com/"},
	}
	seenJTI := map[string]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := time.Now().Truncate(time.Second)
			tok, err := p.Issue(ctx, tt.clientID, tt.resource)
			if err != nil {
				t.Fatalf("Issue: %v", err)
			}
			who := byName[tt.identity]

			// go-oidc, configured as a backend whose client id is the resource.
			verifier := oidcProvider.Verifier(&oidc.Config{ClientID: tt.wantAud, SupportedSigningAlgs: []string{"ES256"}})
			verified, err := verifier.Verify(ctx, tok.Value)
			if err != nil {
				t.Fatalf("go-oidc Verify: %v", err)
			}
			if verified.Subject != who.ObjectID || verified.Issuer != issuer {
				t.Errorf("go-oidc: sub %q iss %q, want %q %q", verified.Subject, verified.Issuer, who.ObjectID, issuer)
			}

			// golang-jwt with the JWKS keys.
			claims, err := verifyJWT(tok.Value, keys, issuer, tt.wantAud, time.Now())
			if err != nil {
				t.Fatalf("golang-jwt: %v", err)
			}
			iat, _ := claims["iat"].(float64)
			jti, _ := claims["jti"].(string)
			want := map[string]any{
				"iss": issuer, "sub": who.ObjectID, "oid": who.ObjectID, "aud": tt.wantAud,
				"appid": who.ClientID, "azp": who.ClientID, "client_id": who.ClientID, "tid": p.TenantID(),
				"iat": iat, "nbf": iat, "exp": iat + float64(time.Hour/time.Second), "jti": jti,
			}
			if tt.wantRoles != nil {
				want["roles"] = tt.wantRoles
			}
			if diff := cmp.Diff(want, map[string]any(claims)); diff != "" {
				t.Errorf("claims (-want +got):\n%s", diff)
			}
			if issued := time.Unix(int64(iat), 0); issued.Before(before) || issued.After(time.Now()) {
				t.Errorf("iat %v is not the time of issue", issued)
			}
			if len(jti) < 22 || seenJTI[jti] {
				t.Errorf("jti %q is short or repeated", jti)
			}
			seenJTI[jti] = true

			// What Issue reports matches the token.
			gotInfo := []any{tok.Audience, tok.ClientID, tok.ObjectID, tok.ID, tok.ExpiresAt.Unix(), tok.IssuedAt.Unix()}
			wantInfo := []any{tt.wantAud, who.ClientID, who.ObjectID, jti, int64(iat) + 3600, int64(iat)}
			if diff := cmp.Diff(wantInfo, gotInfo); diff != "" {
				t.Errorf("Token fields (-want +got):\n%s", diff)
			}
		})
	}

	t.Run("verification fails for the wrong audience, a tampered token or after expiry", func(t *testing.T) {
		tok, err := p.Issue(ctx, "", "api://orders")
		if err != nil {
			t.Fatal(err)
		}
		strict := func(aud string, now time.Time) *oidc.IDTokenVerifier {
			return oidcProvider.Verifier(&oidc.Config{ClientID: aud, SupportedSigningAlgs: []string{"ES256"}, Now: func() time.Time { return now }})
		}
		if _, err := strict("https://billing.example.com/", time.Now()).Verify(ctx, tok.Value); err == nil {
			t.Error("go-oidc accepted a token for another audience")
		}
		if _, err := strict("api://orders", tok.ExpiresAt.Add(time.Second)).Verify(ctx, tok.Value); err == nil {
			t.Error("go-oidc accepted an expired token")
		}
		if _, err := verifyJWT(tok.Value, keys, issuer, "api://orders", tok.ExpiresAt.Add(time.Second)); err == nil {
			t.Error("golang-jwt accepted an expired token")
		}
		parts := strings.Split(tok.Value, ".")
		other, _ := p.Issue(ctx, "", "https://billing.example.com")
		forged := parts[0] + "." + strings.Split(other.Value, ".")[1] + "." + parts[2]
		if _, err := strict("https://billing.example.com/", time.Now()).Verify(ctx, forged); err == nil {
			t.Error("go-oidc accepted a token with swapped claims")
		}
		if _, err := verifyJWT(forged, keys, issuer, "https://billing.example.com/", time.Now()); err == nil {
			t.Error("golang-jwt accepted a token with swapped claims")
		}
	})
}

func TestIssueRefusals(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t, testConfig("http://127.0.0.1:8081"), openState(t, t.TempDir()))
	tests := []struct {
		name, clientID, resource string
		wantKind                 error
		wantCode                 string
		wantInMessage            []string
	}{
		{"unregistered resource", "", "api://payments", idp.ErrUnknownResource, "AADSTS500011",
			[]string{`"api://payments"`, p.TenantID(), "identity.resources"}},
		{"resource differing by more than case and slashes", "", "api://orders/v2", idp.ErrUnknownResource, "AADSTS500011",
			[]string{`"api://orders/v2"`}},
		{"empty resource", "", "", idp.ErrUnknownResource, "AADSTS500011", nil},
		{"unknown client id", "0f0f0f0f-1111-4222-8333-444455556666", "api://orders", idp.ErrUnknownIdentity, "AADSTS700016",
			[]string{"0f0f0f0f-1111-4222-8333-444455556666", "identity.userAssignedIdentities"}},
		{"client id that is not a GUID", "reports", "api://orders", idp.ErrUnknownIdentity, "AADSTS700016", []string{`"reports"`}},
		{"object id instead of client id", p.SystemIdentity().ObjectID, "api://orders", idp.ErrUnknownIdentity, "AADSTS700016", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tok, err := p.Issue(ctx, tt.clientID, tt.resource)
			if err == nil {
				t.Fatalf("Issue = %v, want an error", tok)
			}
			if !errors.Is(err, tt.wantKind) || !errors.Is(err, identity.ErrConfiguration) {
				t.Errorf("error %v does not match %v and identity.ErrConfiguration", err, tt.wantKind)
			}
			var e *idp.Error
			if !errors.As(err, &e) || e.Code != tt.wantCode {
				t.Errorf("error %v: want an *idp.Error with code %s", err, tt.wantCode)
			}
			if !strings.HasPrefix(err.Error(), tt.wantCode+": ") {
				t.Errorf("message %q does not start with the code", err)
			}
			for _, s := range tt.wantInMessage {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q does not mention %s", err, s)
				}
			}
			if _, err := p.Token(ctx, tt.clientID, tt.resource); !errors.Is(err, identity.ErrConfiguration) {
				t.Errorf("Token (as a TokenSource): %v, want a configuration error", err)
			}
		})
	}

	t.Run("cancelled context", func(t *testing.T) {
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		_, err := p.Issue(cctx, "", "api://orders")
		if !errors.Is(err, context.Canceled) || errors.Is(err, identity.ErrConfiguration) {
			t.Errorf("Issue with a cancelled context: %v, want context.Canceled only", err)
		}
	})
	t.Run("long resource is clipped in the message", func(t *testing.T) {
		_, err := p.Issue(ctx, "", "api://"+strings.Repeat("x", 10000))
		if err == nil || len(err.Error()) > 500 {
			t.Errorf("message of %d bytes for a 10000-byte resource", len(err.Error()))
		}
	})
}

func TestRestartKeepsState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := testConfig("http://127.0.0.1:8081")
	first := newProvider(t, cfg, openState(t, dir))
	tok, err := first.Issue(ctx, "", "api://orders")
	if err != nil {
		t.Fatal(err)
	}

	second := newProvider(t, cfg, openState(t, dir))
	if diff := cmp.Diff(first.Identities(), second.Identities()); diff != "" {
		t.Errorf("identities changed across a restart (-first +second):\n%s", diff)
	}
	if first.TenantID() != second.TenantID() {
		t.Errorf("tenant changed across a restart: %s, then %s", first.TenantID(), second.TenantID())
	}
	if diff := cmp.Diff(first.Keys(), second.Keys()); diff != "" {
		t.Errorf("keys changed across a restart (-first +second):\n%s", diff)
	}
	if string(first.JWKS()) != string(second.JWKS()) {
		t.Error("JWKS changed across a restart")
	}
	// A token issued before the restart verifies against the keys published after it.
	_, srv := serve(t, "", func(issuer string) idp.Config { c := cfg; c.Issuer = issuer; return c }, openState(t, dir))
	keys := fetchKeys(t, srv.URL)
	if _, err := verifyJWT(tok.Value, keys, "http://127.0.0.1:8081", "api://orders", time.Now()); err != nil {
		t.Errorf("token from before the restart: %v", err)
	}

	// Ids are generated once: the user-assigned identity's generated client id and
	// every object id are the same on a third start with a new identity added.
	cfg.UserAssigned = append(cfg.UserAssigned, idp.UserAssignedIdentity{Name: "audit"})
	third := newProvider(t, cfg, openState(t, dir))
	if diff := cmp.Diff(first.Identities(), third.Identities()[:3]); diff != "" {
		t.Errorf("adding an identity changed the others (-before +after):\n%s", diff)
	}
	audit := third.Identities()[3]
	if audit.Name != "audit" || audit.ClientID == "" || audit.ObjectID == "" {
		t.Errorf("new identity = %+v", audit)
	}

	// An identity removed from the configuration and added back gets its ids back.
	cfg.UserAssigned = cfg.UserAssigned[:2]
	newProvider(t, cfg, openState(t, dir))
	cfg.UserAssigned = append(cfg.UserAssigned, idp.UserAssignedIdentity{Name: "audit"})
	back := newProvider(t, cfg, openState(t, dir))
	if diff := cmp.Diff(audit, back.Identities()[3]); diff != "" {
		t.Errorf("re-added identity (-before +after):\n%s", diff)
	}

	// A configured tenant id overrides the generated one.
	cfg.TenantID = "72F988BF-86F1-41AF-91AB-2D7CD011DB47"
	if got := newProvider(t, cfg, openState(t, dir)).TenantID(); got != "72f988bf-86f1-41af-91ab-2d7cd011db47" {
		t.Errorf("configured tenant: TenantID = %s", got)
	}
}

func TestIdentities(t *testing.T) {
	p := newProvider(t, testConfig("http://127.0.0.1:8081"), openState(t, t.TempDir()))
	ids := p.Identities()
	var names []string
	seen := map[string]bool{}
	for _, id := range ids {
		names = append(names, id.Name)
		for _, g := range []string{id.ClientID, id.ObjectID} {
			if len(g) != 36 || strings.ToLower(g) != g || seen[g] {
				t.Errorf("identity %s: id %q is not a unique lower-case GUID", id.Name, g)
			}
			seen[g] = true
		}
	}
	if diff := cmp.Diff([]string{"system", "reports", "billing"}, names); diff != "" {
		t.Errorf("identity names (-want +got):\n%s", diff)
	}
	if !ids[0].SystemAssigned || ids[1].SystemAssigned || p.SystemIdentity() != ids[0] {
		t.Errorf("system-assigned identity not first or not marked: %+v", ids)
	}
	if got := ids[2].ClientID; got != "6b9c1a2e-1c8b-4c5e-9a3f-0d2e7f1b2c3d" {
		t.Errorf("configured client id = %s, want it canonical", got)
	}
	if _, ok := canonical(p.TenantID()); !ok {
		t.Errorf("generated tenant id %q is not a GUID", p.TenantID())
	}
	if p.DiscoveryURL() != "http://127.0.0.1:8081/.well-known/openid-configuration" || p.JWKSURL() != "http://127.0.0.1:8081/.well-known/jwks.json" {
		t.Errorf("DiscoveryURL %s, JWKSURL %s", p.DiscoveryURL(), p.JWKSURL())
	}
	if p.TokenLifetime() != time.Hour {
		t.Errorf("default TokenLifetime = %v, want 1h", p.TokenLifetime())
	}
}

func canonical(s string) (string, bool) {
	if len(s) != 36 || s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-' {
		return "", false
	}
	return strings.ToLower(s), strings.Trim(strings.ReplaceAll(s, "-", ""), "0123456789abcdef") == ""
}

func TestStatePermissions(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	p := newProvider(t, testConfig("http://127.0.0.1:8081"), openState(t, dir))
	if _, err := p.Rotate(context.Background(), idp.AlgES256); err != nil { // writes the key file again
		t.Fatal(err)
	}
	var files int
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		info, err := d.Info()
		if err != nil {
			return err
		}
		want := fs.FileMode(0o600)
		if d.IsDir() {
			want = 0o700
		} else {
			files++
		}
		if got := info.Mode().Perm(); got != want {
			t.Errorf("%s: mode %v, want %v", path, got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files != 3 {
		t.Errorf("%d state files, want 3 (identities, keys and the lock file)", files)
	}
	// The key file holds the private key; the JWKS must not.
	keyFile, err := os.ReadFile(filepath.Join(dir, "idp", "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(keyFile), `"d":`) {
		t.Error("keys.json has no private key")
	}
	if strings.Contains(string(p.JWKS()), `"d"`) {
		t.Error("the JWKS contains a private key")
	}
}

func TestCorruptState(t *testing.T) {
	tests := []struct {
		name, file, content, want string
	}{
		{"identities not JSON", "identities.json", "{", "identities.json"},
		{"identities with a bad id", "identities.json",
			`{"version":1,"tenant_id":"72f988bf-86f1-41af-91ab-2d7cd011db47","system_assigned":{"client_id":"nope","object_id":"72f988bf-86f1-41af-91ab-2d7cd011db48"}}`,
			`system_assigned.client_id "nope" is not a lower-case GUID`},
		{"identities from the future", "identities.json", `{"version":2}`, "version 2 is not supported"},
		{"keys without a current key", "keys.json", `{"version":1,"keys":[]}`, "no current ES256 signing key"},
		{"keys from the future", "keys.json", `{"version":3,"keys":[]}`, "version 3 is not supported"},
		{"keys not JSON", "keys.json", "[", "keys.json"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			state := openState(t, dir)
			newProvider(t, testConfig("http://127.0.0.1:8081"), state)
			if err := state.WriteFile("idp/"+tt.file, []byte(tt.content)); err != nil {
				t.Fatal(err)
			}
			_, err := idp.New(context.Background(), testConfig("http://127.0.0.1:8081"), state)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("New with corrupt %s: %v, want an error mentioning %q", tt.file, err, tt.want)
			}
		})
	}

	t.Run("kid that is not the thumbprint", func(t *testing.T) {
		state := openState(t, t.TempDir())
		newProvider(t, testConfig("http://127.0.0.1:8081"), state)
		data, err := state.ReadFile("idp/keys.json")
		if err != nil {
			t.Fatal(err)
		}
		p := newProvider(t, testConfig("http://127.0.0.1:8081"), state)
		kid := p.Keys()[0].KeyID
		tampered := strings.Replace(string(data), `"kid": "`+kid+`"`, `"kid": "AAAA`+kid[4:]+`"`, 1)
		if tampered == string(data) {
			t.Fatal("could not find the kid in keys.json")
		}
		state.WriteFile("idp/keys.json", []byte(tampered))
		if _, err := idp.New(context.Background(), testConfig("http://127.0.0.1:8081"), state); err == nil || !strings.Contains(err.Error(), "thumbprint") {
			t.Fatalf("New with a wrong kid: %v, want a thumbprint error", err)
		}
	})
}

// BenchmarkIssue measures token issuance (claims, signature, serialization)
// per algorithm and profile. Run with -cpu 1 for tokens per second per core.
func BenchmarkIssue(b *testing.B) {
	cfg := testConfig("http://127.0.0.1:8081")
	cfg.Resources = append(cfg.Resources,
		idp.Resource{ID: "api://rsa", SigningAlgorithm: idp.AlgRS256},
		idp.Resource{ID: "api://entra-v2", TokenProfile: idp.ProfileEntraV2},
		idp.Resource{ID: "api://entra-v1-rsa", TokenProfile: idp.ProfileEntraV1, SigningAlgorithm: idp.AlgRS256})
	p := newProvider(b, cfg, openState(b, b.TempDir()))
	ctx := context.Background()
	for _, bb := range []struct{ name, resource string }{
		{"ES256", "api://orders"}, {"RS256", "api://rsa"}, {"ES256-entra-v2", "api://entra-v2"}, {"RS256-entra-v1", "api://entra-v1-rsa"},
	} {
		b.Run(bb.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Issue(ctx, "", bb.resource); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
		})
	}
}

func BenchmarkIssueParallel(b *testing.B) {
	p := newProvider(b, testConfig("http://127.0.0.1:8081"), openState(b, b.TempDir()))
	ctx := context.Background()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := p.Issue(ctx, "", "api://orders"); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "tokens/s")
}

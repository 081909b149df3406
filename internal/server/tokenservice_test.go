package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/server"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

const batchClientID = "3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70"

// TestTokenServiceEndToEnd starts the whole server from a configuration folder
// with a registered application (a secret and a key file) and gets tokens the
// way clients do: x/oauth2's client credentials with the secret, and a
// private_key_jwt assertion at the Entra-shaped endpoint; go-oidc verifies them
// by discovery. A key rotation by lastmile keys (against the state directory)
// is picked up on Reload, as on SIGHUP.
func TestTokenServiceEndToEnd(t *testing.T) {
	configDir, stateDir := t.TempDir(), t.TempDir()
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwks, _ := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: &ecKey.PublicKey, KeyID: "batch-1", Algorithm: "ES256", Use: "sig"}}})
	secret, hash := directory.NewClientSecret()
	writeFiles(t, configDir, map[string]string{
		"keys/batch.jwks.json": string(jwks),
		"lastmile.yaml": `identity:
  tenantId: 9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d
  resources:
    - id: api://orders
      roles: [Orders.Read]
      assignments:
        batch: [Orders.Read]
    - id: api://legacy
      tokenProfile: entra-v1
      signingAlgorithm: RS256
  applications:
    - name: batch
      clientId: ` + batchClientID + `
      certificates: [keys/batch.jwks.json]
      secretHashes: ["` + hash + `"]
  keys:
    rotationPeriod: 720h
`,
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s, err := server.New(ctx, server.Options{
		ConfigDir: configDir, StateDir: stateDir,
		Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatalf("server.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	p := s.Provider()

	oidcProvider, err := oidc.NewProvider(ctx, s.Issuer())
	if err != nil {
		t.Fatalf("go-oidc discovery: %v", err)
	}
	verifier := oidcProvider.Verifier(&oidc.Config{ClientID: "api://orders", SupportedSigningAlgs: []string{"ES256"}})

	cc := clientcredentials.Config{ClientID: batchClientID, ClientSecret: secret, TokenURL: p.TokenURL(), Scopes: []string{"api://orders/.default"}}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("client credentials with a secret: %v", err)
	}
	idt, err := verifier.Verify(ctx, tok.AccessToken)
	if err != nil {
		t.Fatalf("go-oidc: %v", err)
	}
	var claims struct {
		AppID string   `json:"appid"`
		Roles []string `json:"roles"`
	}
	idt.Claims(&claims)
	if claims.AppID != batchClientID || len(claims.Roles) != 1 || claims.Roles[0] != "Orders.Read" {
		t.Errorf("claims appid %q roles %v", claims.AppID, claims.Roles)
	}

	assertion := func() string {
		now := time.Now()
		s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: ecKey, KeyID: "batch-1"}}, nil)
		payload, _ := json.Marshal(map[string]any{"iss": batchClientID, "sub": batchClientID, "aud": p.EntraTokenURL(),
			"jti": now.String(), "exp": now.Add(5 * time.Minute).Unix()})
		jws, _ := s.Sign(payload)
		out, _ := jws.CompactSerialize()
		return out
	}
	pkj := clientcredentials.Config{ClientID: batchClientID, TokenURL: p.EntraTokenURL(), AuthStyle: oauth2.AuthStyleInParams,
		Scopes:         []string{"api://orders/.default"},
		EndpointParams: map[string][]string{"client_assertion_type": {idp.ClientAssertionType}, "client_assertion": {assertion()}}}
	tok2, err := pkj.Token(ctx)
	if err != nil {
		t.Fatalf("private_key_jwt: %v", err)
	}
	if _, err := verifier.Verify(ctx, tok2.AccessToken); err != nil {
		t.Fatalf("go-oidc, private_key_jwt token: %v", err)
	}

	// lastmile keys rotate against the state directory; Reload (SIGHUP) picks it up.
	state, err := statedir.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	ks, err := idp.OpenKeyStore(ctx, state, idp.KeyStoreOptions{})
	if err != nil {
		t.Fatal(err)
	}
	next, err := ks.Rotate(ctx, idp.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	tok3, err := cc.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if kid := headerKid(t, tok3.AccessToken); kid != next.KeyID {
		t.Errorf("after rotate and Reload, tokens are signed by %s, want %s", kid, next.KeyID)
	}
	for _, raw := range []string{tok.AccessToken, tok3.AccessToken} {
		if _, err := verifier.Verify(ctx, raw); err != nil {
			t.Errorf("a token from before or after the rotation: %v", err)
		}
	}
	// The RS256 key exists because a resource needs it.
	algs := map[string]bool{}
	for _, k := range p.Keys() {
		algs[k.Algorithm] = true
	}
	if !algs[idp.AlgRS256] || !algs[idp.AlgES256] {
		t.Errorf("key algorithms %v, want ES256 and RS256", algs)
	}
}

func headerKid(t *testing.T, raw string) string {
	t.Helper()
	tok, err := jose.ParseSignedCompact(raw, []jose.SignatureAlgorithm{jose.ES256, jose.RS256})
	if err != nil {
		t.Fatal(err)
	}
	return tok.Signatures[0].Header.KeyID
}

package idp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/store"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// TestReplayAcrossInstances runs two token service instances behind one issuer,
// as behind a load balancer, sharing a real Redis: a client assertion accepted by
// one is refused by the other. With the default in-memory store each instance
// would accept it once.
func TestReplayAcrossInstances(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	ctx := context.Background()
	const issuer = "https://login.lastmile.test"
	cert := newAppCert(t, 0, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	ecKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	var instances []*httptest.Server
	var tenant string
	for i := 0; i < 2; i++ {
		shared, err := store.NewRedis(ctx, store.RedisOptions{Address: addr})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { shared.Close() })
		cfg := tokenServiceConfig(issuer, cert, &ecKey.PublicKey, "k", nil)
		p, err := idp.New(ctx, cfg, openState(t, t.TempDir()), idp.WithReplayStore(shared))
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(p.Handler())
		t.Cleanup(srv.Close)
		instances = append(instances, srv)
		tenant = p.TenantID()
	}
	path := "/" + tenant + "/oauth2/v2.0/token"
	assertion := signJWT(t, cert.key, jose.PS256, map[string]any{"typ": "JWT", "x5t#S256": x5tS256(cert.cert)},
		assertionClaims(certAppID, issuer+path, time.Now()))
	post := func(srv *httptest.Server) (int, map[string]any) {
		resp, err := http.PostForm(srv.URL+path, assertionForm(assertion))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		return resp.StatusCode, body
	}
	if status, body := post(instances[0]); status != 200 {
		t.Fatalf("first instance: status %d, error %v %v", status, body["error"], body["error_description"])
	}
	status, body := post(instances[1])
	if status != 401 || body["error"] != "invalid_client" {
		t.Fatalf("second instance: status %d, error %v; want 401 invalid_client for a replayed assertion", status, body["error"])
	}
	if codes, _ := body["error_codes"].([]any); len(codes) != 1 || codes[0] != float64(700025) {
		t.Errorf("error_codes = %v, want [700025]", body["error_codes"])
	}
}

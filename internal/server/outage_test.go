package server_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// switchable is the identity provider behind a switch: off, every request fails
// as a provider outage would.
type switchable struct {
	src   identity.TokenSource
	mu    sync.Mutex
	down  bool
	calls int
}

func (s *switchable) Token(ctx context.Context, clientID, resource string) (identity.Token, error) {
	s.mu.Lock()
	s.calls++
	down := s.down
	s.mu.Unlock()
	if down {
		return identity.Token{}, &identity.TransientError{Err: errors.New("identity provider unreachable")}
	}
	return s.src.Token(ctx, clientID, resource)
}

func (s *switchable) set(down bool) {
	s.mu.Lock()
	s.down = down
	s.mu.Unlock()
}

func (s *switchable) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls
}

type cacheTokens struct{ c *identity.Cache }

func (t cacheTokens) AccessToken(ctx context.Context, clientID, resource string) (policies.AccessToken, error) {
	tok, o, err := t.c.Get(ctx, clientID, resource)
	return policies.AccessToken{Value: tok.Value, Outcome: o.String()}, err
}

// inMemory sends requests to a handler without a network, so that the whole
// gateway runs inside a synctest bubble on its fake clock.
type inMemory struct{ h http.Handler }

func (m inMemory) RoundTrip(r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	m.h.ServeHTTP(rec, r)
	return rec.Result(), nil
}

// TestIdentityProviderOutage: with the identity provider down for a whole token
// lifetime, the gateway's requests succeed while the cached token is usable,
// then fail closed with a 5xx (the backend is not called), and succeed again
// once the provider is back, without a restart.
func TestIdentityProviderOutage(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		state, err := statedir.Open(t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		const issuer = "http://127.0.0.1:8081"
		p, err := idp.New(ctx, idp.Config{Issuer: issuer, TokenLifetime: time.Hour, Resources: []idp.Resource{{ID: "api://orders"}}}, state)
		if err != nil {
			t.Fatal(err)
		}
		var jwks jose.JSONWebKeySet
		if err := json.Unmarshal(p.JWKS(), &jwks); err != nil {
			t.Fatal(err)
		}
		var mu sync.Mutex
		backendCalls, rejected := 0, 0
		backend := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			mu.Lock()
			defer mu.Unlock()
			backendCalls++
			raw, _ := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			_, err := jwt.Parse(raw, func(tok *jwt.Token) (any, error) {
				kid, _ := tok.Header["kid"].(string)
				if k := jwks.Key(kid); len(k) > 0 {
					return k[0].Key, nil
				}
				return nil, fmt.Errorf("unknown kid %q", kid)
			}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(issuer), jwt.WithAudience("api://orders"), jwt.WithExpirationRequired())
			if err != nil {
				rejected++
				w.WriteHeader(http.StatusUnauthorized)
				return
			}
			w.Write([]byte("order 1"))
		})

		dir := t.TempDir()
		writeFiles(t, dir, map[string]string{
			"apis/orders/apiInformation.json": `{"properties":{"path":"orders","serviceUrl":"http://backend.internal/orders","subscriptionRequired":false}}`,
			"apis/orders/policy.xml":          `<policies><inbound><base /><authentication-managed-identity resource="api://orders" /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
		})
		src := &switchable{src: p}
		cache := identity.NewCache(src)
		b := &snapshot.Builder{ConfigDir: dir, Config: config.Default(), State: state, Tokens: cacheTokens{cache}, Transport: inMemory{backend}}
		snap, err := b.Build(ctx)
		if err != nil {
			t.Fatal(err)
		}
		h := gateway.NewHandler(nil)
		h.Swap(snap)
		get := func() (int, string) {
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "http://gateway.local/orders/1", nil))
			return rec.Code, rec.Body.String()
		}

		start := time.Now()
		if code, body := get(); code != 200 {
			t.Fatalf("before the outage: %d %s", code, body)
		}
		time.Sleep(time.Minute)
		src.set(true)
		outage := time.Now()
		lastOK, firstFail := time.Duration(0), time.Duration(0)
		for time.Since(outage) < time.Hour+time.Minute { // longer than a token lifetime
			mu.Lock()
			before := backendCalls
			mu.Unlock()
			code, body := get()
			mu.Lock()
			reached := backendCalls > before
			mu.Unlock()
			at := time.Since(start)
			switch {
			case code == 200:
				if firstFail != 0 {
					t.Fatalf("at %s: served again after failing at %s, during the outage", at, firstFail)
				}
				lastOK = at
			case code >= 500:
				if firstFail == 0 {
					firstFail = at
				}
				if reached {
					t.Fatalf("at %s: the backend was called without a token", at)
				}
				if !strings.Contains(body, `"statusCode":500`) {
					t.Errorf("at %s: failure body %s", at, body)
				}
			default:
				t.Fatalf("at %s: status %d %s", at, code, body)
			}
			time.Sleep(30 * time.Second)
		}
		// The token (1 hour) stops being served 5 minutes before it expires.
		if lastOK < 54*time.Minute || firstFail < 55*time.Minute || firstFail > 55*time.Minute+30*time.Second {
			t.Errorf("last success at %s, first failure at %s; want about 54.5 and 55 minutes", lastOK, firstFail)
		}
		if n := src.count(); n > 120 {
			t.Errorf("the provider was asked %d times during a one-hour outage: a retry storm", n)
		}

		// Recovery: no restart, no configuration change.
		src.set(false)
		recovered := time.Now()
		for {
			if code, _ := get(); code == 200 {
				break
			}
			if time.Since(recovered) > 2*time.Minute {
				t.Fatal("requests still fail two minutes after the provider recovered")
			}
			time.Sleep(5 * time.Second)
		}
		if d := time.Since(recovered); d > time.Minute {
			t.Errorf("recovered after %s, want within the one-minute backoff cap", d)
		}
		t.Logf("outage from 1m: last success at %s, first failure at %s, recovered %s after the provider came back; %d calls to the provider",
			lastOK, firstFail, time.Since(recovered), src.count())
		mu.Lock()
		defer mu.Unlock()
		if rejected != 0 {
			t.Errorf("the backend rejected %d tokens: an expired token was sent", rejected)
		}
	})
}

package idp_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// BenchmarkTokenEndpoint measures a whole token request through the handler (no
// network): form parsing, client authentication and issuance.
func BenchmarkTokenEndpoint(b *testing.B) {
	env := startTokenService(b, nil)
	h := env.p.Handler()
	path := env.v2TokenPath()
	post := func(b *testing.B, form string) {
		req := httptest.NewRequest(http.MethodPost, path, strings.NewReader(form))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	b.Run("secret", func(b *testing.B) {
		// The Argon2 verification is remembered after the first request, as in
		// steady state.
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {secretAppID}, "client_secret": {testSecret}, "scope": {"api://orders/.default"}}.Encode()
		b.ReportAllocs()
		for b.Loop() {
			post(b, form)
		}
	})
	for _, bb := range []struct {
		name   string
		sign   func() string
		signed bool
	}{
		{"private_key_jwt-ES256", func() string {
			return signJWT(b, env.ecKey, jose.ES256, map[string]any{"kid": env.ecKID}, assertionClaims(certAppID, env.p.Issuer(), time.Now()))
		}, true},
		{"private_key_jwt-PS256", func() string { return env.certAssertion(b, env.p.Issuer(), time.Now()) }, true},
	} {
		b.Run(bb.name, func(b *testing.B) {
			// Each request needs a new assertion (a new jti); they are signed
			// outside the timer.
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				form := assertionForm(bb.sign()).Encode()
				b.StartTimer()
				post(b, form)
			}
		})
	}
}

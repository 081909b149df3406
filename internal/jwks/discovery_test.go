package jwks_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/lastmile-gw/lastmile/internal/jwks"
)

func jwksDoc(t *testing.T, kid string) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(jose.JSONWebKeySet{Keys: []jose.JSONWebKey{{Key: k.Public(), KeyID: kid, Algorithm: "ES256", Use: "sig"}}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDiscoveryFetch(t *testing.T) {
	keys := jwksDoc(t, "k1")
	var srv *httptest.Server
	srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/ok/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": "https://issuer.test/ok", "jwks_uri": srv.URL + "/keys"})
		case "/keys":
			w.Write(keys)
		case "/redirect/.well-known/openid-configuration":
			http.Redirect(w, r, "/ok/.well-known/openid-configuration", http.StatusFound)
		case "/huge/.well-known/openid-configuration":
			w.Write([]byte(`{"issuer":"x","pad":"`))
			w.Write([]byte(strings.Repeat("a", jwks.MaxDocument)))
			w.Write([]byte(`"}`))
		case "/html/.well-known/openid-configuration":
			w.Header().Set("Content-Type", "text/html")
			w.Write([]byte(`<html>`))
		case "/insecure/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"issuer": "x", "jwks_uri": "http://keys.example.com/keys"})
		case "/noissuer/.well-known/openid-configuration":
			json.NewEncoder(w).Encode(map[string]string{"jwks_uri": srv.URL + "/keys"})
		case "/dup/.well-known/openid-configuration":
			w.Write([]byte(`{"issuer":"a","issuer":"b","jwks_uri":"` + srv.URL + `/keys"}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	client := jwks.NewClient(srv.Client().Transport, jwks.DefaultFetchTimeout)

	d := &jwks.Discovery{URL: srv.URL + "/ok/.well-known/openid-configuration", Client: client}
	set, err := d.Fetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if set.Issuer != "https://issuer.test/ok" || !set.Has("k1") {
		t.Errorf("got issuer %q, kids %v", set.Issuer, kidsOf(set))
	}

	for _, tt := range []struct{ path, want string }{
		{"/redirect", "redirects are not followed"},
		{"/huge", "larger than 1048576 bytes"},
		{"/html", "the Content-Type is not JSON"},
		{"/insecure", "uses http on a host other than loopback"},
		{"/noissuer", "has no issuer"},
		{"/dup", `member "issuer" appears twice`},
		{"/missing", "404 Not Found"},
	} {
		t.Run(tt.path, func(t *testing.T) {
			d := &jwks.Discovery{URL: srv.URL + tt.path + "/.well-known/openid-configuration", Client: client}
			_, err := d.Fetch(context.Background())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

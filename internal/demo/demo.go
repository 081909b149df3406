// Package demo is `lastmile demo`: a sample configuration, and a sample backend
// that accepts only requests carrying a valid managed-identity token from the
// gateway's issuer.
package demo

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
)

//go:embed config
var files embed.FS

// placeholder is the backend URL in the embedded apiInformation.json files; the
// demo replaces it with the sample backend's real address.
const placeholder = "http://backend.demo.invalid"

// Audience is the resource the demo APIs get tokens for.
const Audience = "api://orders"

// WriteConfig writes the demo's APIOps folder and lastmile.yaml to dir, pointing
// the APIs at backendURL.
func WriteConfig(dir, backendURL string) error {
	return fs.WalkDir(files, "config", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(dir, filepath.FromSlash(strings.TrimPrefix(p, "config")))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		data, err := files.ReadFile(p)
		if err != nil {
			return err
		}
		data = []byte(strings.ReplaceAll(string(data), placeholder, strings.TrimSuffix(backendURL, "/")))
		return os.WriteFile(dst, data, 0o644)
	})
}

// Backend is a sample API that verifies the bearer token on every request against
// the issuer's discovery document and JWKS, with an independent OIDC library, and
// answers with what it verified. It never echoes the token.
type Backend struct {
	issuer, audience string

	mu       sync.Mutex
	verifier *oidc.IDTokenVerifier
}

// NewBackend returns a backend that trusts tokens from issuer for audience.
func NewBackend(issuer, audience string) *Backend {
	return &Backend{issuer: issuer, audience: audience}
}

// Report is what the backend answers: the request it received and the token's
// verified claims.
type Report struct {
	Backend  string            `json:"backend"`
	Method   string            `json:"method"`
	Path     string            `json:"path"`
	Query    string            `json:"query,omitempty"`
	Headers  map[string]string `json:"headers"`
	Verified bool              `json:"verified"`
	Error    string            `json:"error,omitempty"`
	Token    *TokenInfo        `json:"token,omitempty"`
}

// TokenInfo is a verified token's claims.
type TokenInfo struct {
	Issuer    string         `json:"issuer"`
	Audience  []string       `json:"audience"`
	Subject   string         `json:"subject"`
	Roles     []string       `json:"roles"`
	ClientID  string         `json:"client_id"`
	ExpiresAt time.Time      `json:"expires_at"`
	IssuedAt  time.Time      `json:"issued_at"`
	Claims    map[string]any `json:"claims"`
}

func (b *Backend) verifierFor(ctx context.Context) (*oidc.IDTokenVerifier, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.verifier != nil {
		return b.verifier, nil
	}
	p, err := oidc.NewProvider(ctx, b.issuer)
	if err != nil {
		return nil, fmt.Errorf("discovery: %w", err)
	}
	b.verifier = p.Verifier(&oidc.Config{ClientID: b.audience, SupportedSigningAlgs: []string{oidc.ES256, oidc.RS256}})
	return b.verifier, nil
}

// Verify checks a bearer token and returns its claims.
func (b *Backend) Verify(ctx context.Context, raw string) (*TokenInfo, error) {
	v, err := b.verifierFor(ctx)
	if err != nil {
		return nil, err
	}
	tok, err := v.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		return nil, err
	}
	info := &TokenInfo{Issuer: tok.Issuer, Audience: tok.Audience, Subject: tok.Subject,
		ExpiresAt: tok.Expiry, IssuedAt: tok.IssuedAt, Claims: claims}
	if roles, ok := claims["roles"].([]any); ok {
		for _, r := range roles {
			if s, ok := r.(string); ok {
				info.Roles = append(info.Roles, s)
			}
		}
	}
	info.ClientID, _ = claims["client_id"].(string)
	return info, nil
}

func (b *Backend) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rep := Report{Backend: "demo", Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Headers: map[string]string{}}
	for k, v := range r.Header {
		if k == "Authorization" {
			scheme, _, _ := strings.Cut(v[0], " ")
			rep.Headers[k] = scheme + " <redacted>"
			continue
		}
		rep.Headers[k] = strings.Join(v, ", ")
	}
	status := http.StatusOK
	raw, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		status, rep.Error = http.StatusUnauthorized, "no bearer token"
	} else if info, err := b.Verify(r.Context(), raw); err != nil {
		status, rep.Error = http.StatusUnauthorized, "token rejected: "+err.Error()
	} else if !contains(info.Roles, "Orders.Read") {
		status, rep.Error, rep.Token = http.StatusForbidden, "the token has no Orders.Read role", info
	} else {
		rep.Verified, rep.Token = true, info
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(rep)
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Describe prints a verified report readably: the claims, never the token.
func Describe(rep *Report, now time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "  backend received:  %s %s\n", rep.Method, rep.Path)
	if !rep.Verified {
		fmt.Fprintf(&b, "  NOT verified:      %s\n", rep.Error)
		return b.String()
	}
	t := rep.Token
	fmt.Fprintf(&b, "  token verified:    signature (JWKS from %s), issuer, audience, expiry\n", t.Issuer)
	fmt.Fprintf(&b, "  audience (aud):    %s\n", strings.Join(t.Audience, ", "))
	fmt.Fprintf(&b, "  issuer (iss):      %s\n", t.Issuer)
	fmt.Fprintf(&b, "  identity (oid):    %s\n", t.Subject)
	fmt.Fprintf(&b, "  client id (appid): %s\n", t.ClientID)
	fmt.Fprintf(&b, "  roles:             %s\n", strings.Join(t.Roles, ", "))
	fmt.Fprintf(&b, "  expires:           %s (in %s)\n", t.ExpiresAt.UTC().Format(time.RFC3339), t.ExpiresAt.Sub(now).Round(time.Second))
	keys := make([]string, 0, len(t.Claims))
	for k := range t.Claims {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	fmt.Fprintf(&b, "  all claims:\n")
	for _, k := range keys {
		v, _ := json.Marshal(t.Claims[k])
		fmt.Fprintf(&b, "    %-10s %s\n", k, v)
	}
	return b.String()
}

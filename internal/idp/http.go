package idp

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
)

// discoveryDoc is the OpenID Connect discovery document (OpenID Connect Discovery
// 1.0 §3), also served as RFC 8414 authorization server metadata. It lists only
// what exists: there is no authorization or token endpoint yet, so no response
// types, grant types or client authentication methods are listed.
type discoveryDoc struct {
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
	// ResponseTypesSupported is required by both specifications; it is empty
	// because there is no authorization endpoint.
	ResponseTypesSupported []string `json:"response_types_supported"`
	// SubjectTypesSupported: sub is the identity's object id, the same for every
	// audience.
	SubjectTypesSupported []string `json:"subject_types_supported"`
	// IDTokenSigningAlgValuesSupported is required by OIDC; validators such as
	// go-oidc take the access token algorithms from it.
	IDTokenSigningAlgValuesSupported []string `json:"id_token_signing_alg_values_supported"`
	ClaimsSupported                  []string `json:"claims_supported"`
}

func (p *Provider) buildDiscovery() error {
	doc := discoveryDoc{
		Issuer:                           p.cfg.issuer,
		JWKSURI:                          p.jwksURL,
		ResponseTypesSupported:           []string{},
		SubjectTypesSupported:            []string{"public"},
		IDTokenSigningAlgValuesSupported: []string{"ES256"},
		ClaimsSupported: []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti",
			"client_id", "appid", "azp", "oid", "tid", "roles"},
	}
	body, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("encoding the discovery document: %w", err)
	}
	p.discovery = body
	sum := sha256.Sum256(body)
	p.discoveryETag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return nil
}

// Cache lifetimes. The JWKS max-age bounds how long a validator can miss a newly
// published key, so PrepareKey should run at least this long before Rotate.
const (
	jwksCacheControl      = "public, max-age=300"
	discoveryCacheControl = "public, max-age=3600"
)

// Handler serves, at the issuer URL's path:
//
//	/.well-known/openid-configuration          the discovery document
//	/.well-known/oauth-authorization-server    the same, as RFC 8414 metadata
//	                                           (inserted before the issuer's path, if any)
//	/.well-known/jwks.json                     the signing keys
//
// Responses carry Cache-Control and an ETag, and answer a matching If-None-Match
// with 304 Not Modified. Mount it at the root of the listener the issuer URL
// points to.
func (p *Provider) Handler() http.Handler {
	return http.HandlerFunc(p.serveHTTP)
}

func (p *Provider) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case p.discoveryPath, p.metadataPath:
		serveDocument(w, r, p.discovery, p.discoveryETag, discoveryCacheControl)
	case p.jwksPath:
		ring := p.keys.Load()
		serveDocument(w, r, ring.jwks, ring.etag, jwksCacheControl)
	default:
		http.NotFound(w, r)
	}
}

func serveDocument(w http.ResponseWriter, r *http.Request, body []byte, etag, cacheControl string) {
	h := w.Header()
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		h.Set("Allow", "GET, HEAD")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	h.Set("Cache-Control", cacheControl)
	h.Set("ETag", etag)
	// Public metadata: browsers may read it from any origin, as from Entra.
	h.Set("Access-Control-Allow-Origin", "*")
	if etagMatch(r.Header.Values("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	if r.Method != http.MethodHead {
		w.Write(body)
	}
}

// etagMatch reports whether an If-None-Match header (RFC 9110 §13.1.2: a list of
// entity tags or "*", compared weakly) matches etag.
func etagMatch(headers []string, etag string) bool {
	for _, h := range headers {
		for _, tag := range strings.Split(h, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}

package idp

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// discoveryDoc is an OpenID Connect discovery document (OpenID Connect
// Discovery 1.0 §3), also served as RFC 8414 authorization server metadata. It
// lists only what exists.
type discoveryDoc struct {
	Issuer string `json:"issuer"`
	// AuthorizationEndpoint is listed only in the Entra-shaped documents, because
	// MSAL refuses a document without one; it answers with an error, since
	// lastmile issues app-only tokens and has no interactive sign-in.
	AuthorizationEndpoint string `json:"authorization_endpoint,omitempty"`
	TokenEndpoint         string `json:"token_endpoint"`
	JWKSURI               string `json:"jwks_uri"`
	// ResponseTypesSupported is required by both specifications; it is empty
	// because there is no authorization endpoint that issues anything.
	ResponseTypesSupported []string `json:"response_types_supported"`
	GrantTypesSupported    []string `json:"grant_types_supported"`
	// SubjectTypesSupported: sub is the principal's object id, the same for
	// every audience.
	SubjectTypesSupported []string `json:"subject_types_supported"`
	// IDTokenSigningAlgValuesSupported is required by OIDC; validators such as
	// go-oidc take the access token algorithms from it.
	IDTokenSigningAlgValuesSupported           []string `json:"id_token_signing_alg_values_supported"`
	TokenEndpointAuthMethodsSupported          []string `json:"token_endpoint_auth_methods_supported"`
	TokenEndpointAuthSigningAlgValuesSupported []string `json:"token_endpoint_auth_signing_alg_values_supported"`
	ClaimsSupported                            []string `json:"claims_supported"`
}

// document is a served JSON document and its entity tag.
type document struct {
	body []byte
	etag string
}

func newDocument(v any) (document, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return document{}, fmt.Errorf("encoding a discovery document: %w", err)
	}
	sum := sha256.Sum256(body)
	return document{body: body, etag: `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`}, nil
}

// Endpoint paths under the issuer URL, and under <issuer>/<tenant id> for the
// Entra-shaped ones.
const (
	pathDiscovery        = "/.well-known/openid-configuration"
	pathJWKS             = "/.well-known/jwks.json"
	pathToken            = "/oauth2/token"
	pathEntraV2Doc       = "/v2.0/.well-known/openid-configuration"
	pathEntraV1Doc       = "/.well-known/openid-configuration"
	pathEntraV2Token     = "/oauth2/v2.0/token"
	pathEntraV1Token     = "/oauth2/token"
	pathEntraV2Keys      = "/discovery/v2.0/keys"
	pathEntraV1Keys      = "/discovery/keys"
	pathEntraV2Authorize = "/oauth2/v2.0/authorize"
	pathEntraV1Authorize = "/oauth2/authorize"
)

var (
	signingAlgs       = []string{AlgES256, AlgRS256}
	assertionAlgs     = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
	authMethods       = []string{"client_secret_basic", "client_secret_post", "private_key_jwt"}
	nativeClaims      = []string{"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "client_id", "appid", "azp", "oid", "tid", "roles"}
	entraV1ClaimNames = []string{"aud", "iss", "iat", "nbf", "exp", "appid", "appidacr", "idp", "idtyp", "oid", "roles", "sub", "tid", "uti", "ver"}
	entraV2ClaimNames = []string{"aud", "iss", "iat", "nbf", "exp", "azp", "azpacr", "idtyp", "oid", "roles", "sub", "tid", "uti", "ver"}
)

// buildDocuments makes the discovery documents and the endpoint paths.
func (p *Provider) buildDocuments() error {
	issuer := p.cfg.issuer
	tenantBase := issuer + "/" + p.tenantID
	p.tokenURL = issuer + pathToken
	p.entraV2TokenURL = tenantBase + pathEntraV2Token
	p.entraV1TokenURL = tenantBase + pathEntraV1Token
	p.audiences = []string{p.tokenURL, p.entraV2TokenURL, p.entraV1TokenURL, issuer}

	var err error
	if p.discovery, err = newDocument(discoveryDoc{
		Issuer:                            issuer,
		TokenEndpoint:                     p.tokenURL,
		JWKSURI:                           p.jwksURL,
		ResponseTypesSupported:            []string{},
		GrantTypesSupported:               []string{"client_credentials"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  signingAlgs,
		TokenEndpointAuthMethodsSupported: authMethods,
		TokenEndpointAuthSigningAlgValuesSupported: assertionAlgs,
		ClaimsSupported: nativeClaims,
	}); err != nil {
		return err
	}
	if p.entraV2Doc, err = newDocument(discoveryDoc{
		Issuer:                            EntraV2Issuer(p.tenantID),
		AuthorizationEndpoint:             tenantBase + pathEntraV2Authorize,
		TokenEndpoint:                     p.entraV2TokenURL,
		JWKSURI:                           tenantBase + pathEntraV2Keys,
		ResponseTypesSupported:            []string{},
		GrantTypesSupported:               []string{"client_credentials"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  signingAlgs,
		TokenEndpointAuthMethodsSupported: authMethods,
		TokenEndpointAuthSigningAlgValuesSupported: assertionAlgs,
		ClaimsSupported: entraV2ClaimNames,
	}); err != nil {
		return err
	}
	p.entraV1Doc, err = newDocument(discoveryDoc{
		Issuer:                            EntraV1Issuer(p.tenantID),
		AuthorizationEndpoint:             tenantBase + pathEntraV1Authorize,
		TokenEndpoint:                     p.entraV1TokenURL,
		JWKSURI:                           tenantBase + pathEntraV1Keys,
		ResponseTypesSupported:            []string{},
		GrantTypesSupported:               []string{"client_credentials"},
		SubjectTypesSupported:             []string{"public"},
		IDTokenSigningAlgValuesSupported:  signingAlgs,
		TokenEndpointAuthMethodsSupported: authMethods,
		TokenEndpointAuthSigningAlgValuesSupported: assertionAlgs,
		ClaimsSupported: entraV1ClaimNames,
	})
	return err
}

// Cache lifetimes. The JWKS max-age bounds how long a validator can miss a newly
// published key, so keys are published at least directory.MinPrepublish (twice this)
// before they sign.
const (
	jwksCacheControl      = "public, max-age=300"
	discoveryCacheControl = "public, max-age=3600"
)

// Handler serves the identity provider's endpoints, at the issuer URL's path:
//
//	/.well-known/openid-configuration            discovery (RFC 8414 metadata too)
//	/.well-known/oauth-authorization-server      the same, RFC 8414 §3.1 (inserted
//	                                             before the issuer's path, if any)
//	/.well-known/jwks.json                       the signing keys
//	/oauth2/token                                the token endpoint
//
// and the Entra-shaped endpoints, under /{tenant} (the tenant id):
//
//	/{tenant}/v2.0/.well-known/openid-configuration   v2.0 discovery (MSAL's authority)
//	/{tenant}/.well-known/openid-configuration        v1.0 discovery
//	/{tenant}/oauth2/v2.0/token                       token endpoint (scope=)
//	/{tenant}/oauth2/token                            v1.0 token endpoint (resource=)
//	/{tenant}/discovery/v2.0/keys, /discovery/keys    the signing keys
//
// Documents carry Cache-Control and an ETag and answer a matching If-None-Match
// with 304; token responses carry Cache-Control: no-store. Anything else is 404,
// so the handler can sit behind a mux with other endpoints on the same listener.
func (p *Provider) Handler() http.Handler {
	return http.HandlerFunc(p.serveHTTP)
}

func (p *Provider) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch path := r.URL.Path; path {
	case p.discoveryPath, p.metadataPath:
		serveDocument(w, r, p.discovery.body, p.discovery.etag, discoveryCacheControl)
		return
	case p.jwksPath:
		p.serveJWKS(w, r)
		return
	case p.tokenPath:
		p.serveToken(w, r, endpointNative)
		return
	}
	rest, ok := strings.CutPrefix(r.URL.Path, p.basePath+"/")
	if !ok {
		http.NotFound(w, r)
		return
	}
	tenant, tail, ok := strings.Cut(rest, "/")
	if !ok || tenant == "" {
		http.NotFound(w, r)
		return
	}
	tail = "/" + tail
	var serve func()
	switch tail {
	case pathEntraV2Doc:
		serve = func() { serveDocument(w, r, p.entraV2Doc.body, p.entraV2Doc.etag, discoveryCacheControl) }
	case pathEntraV1Doc:
		serve = func() { serveDocument(w, r, p.entraV1Doc.body, p.entraV1Doc.etag, discoveryCacheControl) }
	case pathEntraV2Token:
		serve = func() { p.serveToken(w, r, endpointEntraV2) }
	case pathEntraV1Token:
		serve = func() { p.serveToken(w, r, endpointEntraV1) }
	case pathEntraV2Keys, pathEntraV1Keys:
		serve = func() { p.serveJWKS(w, r) }
	case pathEntraV2Authorize, pathEntraV1Authorize:
		serve = func() {
			p.writeError(w, r, badRequest("unsupported_response_type", "lastmile issues app-only tokens (grant_type=client_credentials at the token endpoint) and has no interactive sign-in"))
		}
	default:
		http.NotFound(w, r)
		return
	}
	if cid, ok := directory.CanonicalGUID(tenant); !ok || cid != p.tenantID {
		p.writeError(w, r, badRequest("invalid_request", "tenant %q not found: this lastmile's tenant is %s; use it in the authority URL", clip(tenant), p.tenantID).aad(90002))
		return
	}
	serve()
}

func (p *Provider) serveJWKS(w http.ResponseWriter, r *http.Request) {
	ring := p.keys.ring.Load()
	serveDocument(w, r, ring.jwks, ring.etag, jwksCacheControl)
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

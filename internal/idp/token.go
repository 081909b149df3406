package idp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/identity/wire"
)

// The token endpoint (RFC 6749 §3.2) with grant_type=client_credentials (§4.4)
// for registered applications, shaped like Entra's so that MSAL and azidentity
// can use lastmile as their authority.

// maxTokenRequest bounds a token request body: an assertion with a certificate
// chain and the other parameters fit in a few kilobytes.
const maxTokenRequest = 64 << 10

// endpointKind is which of the token endpoints a request came to; it decides the
// response shape.
type endpointKind uint8

const (
	endpointNative  endpointKind = iota // <issuer>/oauth2/token: RFC 6749
	endpointEntraV2                     // /{tenant}/oauth2/v2.0/token
	endpointEntraV1                     // /{tenant}/oauth2/token: strings for numbers, resource echoed
)

// oauthError is an RFC 6749 §5.2 error response. Descriptions never contain a
// secret or an assertion.
type oauthError struct {
	status int
	code   string
	desc   string
	aadsts int  // the Entra error number, listed in error_codes, if there is one
	basic  bool // the client used HTTP Basic: answer 401 with a Basic challenge
	allow  string
}

func (e *oauthError) Error() string { return e.code + ": " + e.desc }

func badRequest(code, format string, args ...any) *oauthError {
	return &oauthError{status: http.StatusBadRequest, code: code, desc: fmt.Sprintf(format, args...)}
}

// aad prefixes the description with the Entra error number, the way Entra
// writes it, so that the messages people search for still lead somewhere.
func (e *oauthError) aad(n int) *oauthError {
	e.aadsts = n
	e.desc = fmt.Sprintf("AADSTS%d: %s", n, e.desc)
	return e
}

func invalidClient(basic bool, format string, args ...any) *oauthError {
	return &oauthError{status: http.StatusUnauthorized, code: "invalid_client", desc: fmt.Sprintf(format, args...), basic: basic}
}

// tokenRequest is a parsed token request.
type tokenRequest struct {
	grantType     string
	clientID      string
	clientSecret  string
	basic         bool // the client authenticated with HTTP Basic
	assertionType string
	assertion     string
	resource      string
	audience      string
	scope         string
}

// tokenParams are the parameters lastmile reads; others (client_info,
// x-client-* telemetry, claims) are ignored, as Entra ignores what it does not
// use.
var tokenParams = []string{"grant_type", "client_id", "client_secret", "client_assertion_type", "client_assertion", "resource", "audience", "scope"}

// parseTokenRequest reads a token request from its parts: the Content-Type and
// Authorization headers, the raw query and the body. It checks the form (RFC
// 6749 §3.2: form-encoded; §3.1: no parameter repeated, whether lastmile reads
// it or not, by wire.ParseParams; §2.3: one client authentication method) but
// not the credentials.
func parseTokenRequest(contentType, authorization, rawQuery string, body []byte) (*tokenRequest, *oauthError) {
	if contentType == "" {
		return nil, badRequest("invalid_request", "the request has no Content-Type: send the parameters as application/x-www-form-urlencoded in the body")
	}
	if mt, _, err := mime.ParseMediaType(contentType); err != nil || mt != "application/x-www-form-urlencoded" {
		return nil, badRequest("invalid_request", "Content-Type %q: send the parameters as application/x-www-form-urlencoded in the body", clip(contentType))
	}
	if secret := credentialInQuery(rawQuery); secret != "" {
		return nil, badRequest("invalid_request", "%s was sent in the URL, where proxies and logs keep it: send it in the body, and replace the credential", secret)
	}
	form, err := wire.ParseParams(string(body))
	if err != nil {
		var perr *wire.ParamError
		if errors.As(err, &perr) && perr.Repeated && perr.Name == "resource" {
			// RFC 8707 allows several resources; a token has one audience here.
			return nil, badRequest("invalid_target", "more than one resource: request one token per resource")
		}
		return nil, badRequest("invalid_request", "%v", err)
	}
	req := &tokenRequest{}
	dst := []*string{&req.grantType, &req.clientID, &req.clientSecret, &req.assertionType, &req.assertion, &req.resource, &req.audience, &req.scope}
	for i, name := range tokenParams {
		*dst[i] = form.Get(name) // an empty value is the same as none (RFC 6749 §3.1)
	}

	if authorization != "" {
		scheme, cred, _ := strings.Cut(authorization, " ")
		if !strings.EqualFold(scheme, "Basic") {
			return nil, badRequest("invalid_request", "Authorization scheme %q is not accepted at the token endpoint: authenticate with HTTP Basic, client_secret, or client_assertion", clip(scheme))
		}
		raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(cred))
		if err != nil {
			return nil, invalidClient(true, "the Basic credentials are not base64")
		}
		id, secret, ok := strings.Cut(string(raw), ":")
		if !ok {
			return nil, invalidClient(true, "the Basic credentials are not client_id:client_secret")
		}
		// RFC 6749 §2.3.1: both are form-encoded before they are joined.
		if id, err = url.QueryUnescape(id); err != nil {
			return nil, invalidClient(true, "the Basic user name is not form-encoded")
		}
		if secret, err = url.QueryUnescape(secret); err != nil {
			return nil, invalidClient(true, "the Basic password is not form-encoded")
		}
		if req.clientSecret != "" || req.assertion != "" {
			return nil, badRequest("invalid_request", "more than one client authentication method: use HTTP Basic or the body, not both (RFC 6749 §2.3)")
		}
		if req.clientID != "" && req.clientID != id {
			return nil, invalidClient(true, "client_id in the body differs from the Basic user name")
		}
		req.clientID, req.clientSecret, req.basic = id, secret, true
	}
	switch {
	case req.clientSecret != "" && req.assertion != "":
		return nil, badRequest("invalid_request", "more than one client authentication method: send client_secret or client_assertion, not both (RFC 6749 §2.3)")
	case req.assertion != "" && req.assertionType != ClientAssertionType:
		return nil, badRequest("invalid_request", "client_assertion_type must be %s", ClientAssertionType)
	case req.assertion == "" && req.assertionType != "":
		return nil, badRequest("invalid_request", "client_assertion_type without client_assertion")
	}
	return req, nil
}

// credentialInQuery names a client credential sent in the URL. The query is
// otherwise ignored, so it is scanned however it is formed: a malformed pair
// beside the credential must not hide it.
func credentialInQuery(rawQuery string) string {
	for _, pair := range strings.FieldsFunc(rawQuery, func(r rune) bool { return r == '&' || r == ';' }) {
		name, _, _ := strings.Cut(pair, "=")
		if n, err := url.QueryUnescape(name); err == nil {
			name = n
		}
		if name == "client_secret" || name == "client_assertion" {
			return name
		}
	}
	return ""
}

// oidcScopes are the scopes MSAL adds to every request; they mean nothing for an
// app-only token and are dropped.
var oidcScopes = map[string]bool{"openid": true, "offline_access": true, "profile": true, "email": true}

// target returns the requested resource and the parameter that named it. The
// resource may come as resource (Entra v1, RFC 8707), audience (RFC 8693, Auth0)
// or scope=<resource>/.default (Entra v2); when several are sent they must agree.
func (req *tokenRequest) target() (string, string, *oauthError) {
	var fromScope string
	if req.scope != "" {
		var rest []string
		for _, s := range strings.Fields(req.scope) {
			if !oidcScopes[s] {
				rest = append(rest, s)
			}
		}
		switch {
		case len(rest) > 1:
			return "", "", badRequest("invalid_scope", "the scope names more than one resource (%s): request one token per resource", clipList(rest)).aad(70011)
		case len(rest) == 1:
			r, ok := cutSuffixFold(rest[0], "/.default")
			if !ok || r == "" {
				return "", "", badRequest("invalid_scope", "the provided value for scope %s is not valid: client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI)", clip(rest[0])).aad(1002012)
			}
			fromScope = r
		}
	}
	var res, param string
	for _, c := range []struct{ param, val string }{{"resource", req.resource}, {"audience", req.audience}, {"scope", fromScope}} {
		if c.val == "" {
			continue
		}
		if res == "" {
			res, param = c.val, c.param
			continue
		}
		if identity.NormalizeResource(c.val) != identity.NormalizeResource(res) {
			return "", "", badRequest("invalid_target", "%s and %s name different resources: request one token per resource", param, c.param)
		}
	}
	if res == "" {
		return "", "", badRequest("invalid_request", "no resource: send scope=<resource>/.default, resource=<resource> or audience=<resource>").aad(900144)
	}
	return res, param, nil
}

func cutSuffixFold(s, suffix string) (string, bool) {
	if len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix) {
		return s[:len(s)-len(suffix)], true
	}
	return s, false
}

// serveToken handles a token request.
func (p *Provider) serveToken(w http.ResponseWriter, r *http.Request, kind endpointKind) {
	h := w.Header()
	h.Set("Cache-Control", "no-store") // RFC 6749 §5.1
	h.Set("Pragma", "no-cache")
	if r.Method != http.MethodPost {
		p.writeError(w, r, &oauthError{status: http.StatusMethodNotAllowed, code: "invalid_request", desc: "the token endpoint takes POST requests (RFC 6749 §3.2)", allow: http.MethodPost})
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxTokenRequest))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			p.writeError(w, r, &oauthError{status: http.StatusRequestEntityTooLarge, code: "invalid_request", desc: fmt.Sprintf("the request body is larger than %d bytes", maxTokenRequest)})
			return
		}
		p.writeError(w, r, badRequest("invalid_request", "reading the request body failed"))
		return
	}
	req, oerr := parseTokenRequest(r.Header.Get("Content-Type"), r.Header.Get("Authorization"), r.URL.RawQuery, body)
	if oerr != nil {
		p.writeError(w, r, oerr)
		return
	}
	switch req.grantType {
	case "client_credentials":
	case "":
		p.writeError(w, r, badRequest("invalid_request", "grant_type is missing: lastmile issues tokens with grant_type=client_credentials").aad(900144))
		return
	default:
		p.writeError(w, r, badRequest("unsupported_grant_type", "grant_type %q is not supported: lastmile issues app-only tokens with grant_type=client_credentials", clip(req.grantType)).aad(70003))
		return
	}
	now := time.Now()
	app, acr, oerr := p.authenticate(r.Context(), req, now)
	if oerr != nil {
		p.writeError(w, r, oerr)
		return
	}
	resName, param, oerr := req.target()
	if oerr != nil {
		p.writeError(w, r, oerr)
		return
	}
	res := p.cfg.resources[identity.NormalizeResource(resName)]
	if res == nil {
		code := "invalid_target"
		if param == "scope" {
			code = "invalid_scope"
		}
		p.writeError(w, r, badRequest(code, "%s", p.unknownResource(resName).Description).aad(500011))
		return
	}
	tok, err := p.issue(&app.principal, res, acr)
	p.recent.add(GrantApplication, app.clientID, res.id, tok, err)
	if p.observer != nil {
		p.observer.TokenIssued("application", err)
	}
	if err != nil {
		p.log.Error("issuing a token failed", "client_id", app.clientID, "aud", res.id, "error", err)
		p.writeError(w, r, &oauthError{status: http.StatusInternalServerError, code: "server_error", desc: "the token could not be signed; see lastmile's log"})
		return
	}
	p.log.Info("issued a token", "application", app.name, "client_id", app.clientID, "aud", tok.Audience, "profile", tok.Profile, "kid", tok.KeyID, "jti", tok.ID)
	p.writeToken(w, tok, kind, now)
}

// writeToken writes the successful response. The Entra v1 endpoint writes
// numbers as strings and echoes the resource, as Entra's does; the others write
// RFC 6749 §5.1 JSON (with Entra v2's ext_expires_in).
func (p *Provider) writeToken(w http.ResponseWriter, tok Token, kind endpointKind, now time.Time) {
	// now was read before the token was made; under load the token's own
	// issue time can be later, and expires_in must never exceed its lifetime.
	if tok.IssuedAt.After(now) {
		now = tok.IssuedAt
	}
	expiresIn := max(int64(tok.ExpiresAt.Sub(now)/time.Second), 0)
	var body []byte
	var err error
	if kind == endpointEntraV1 {
		body, err = json.Marshal(struct {
			TokenType    string `json:"token_type"`
			ExpiresIn    string `json:"expires_in"`
			ExtExpiresIn string `json:"ext_expires_in"`
			ExpiresOn    string `json:"expires_on"`
			NotBefore    string `json:"not_before"`
			Resource     string `json:"resource"`
			AccessToken  string `json:"access_token"`
		}{"Bearer", strconv.FormatInt(expiresIn, 10), strconv.FormatInt(expiresIn, 10),
			strconv.FormatInt(tok.ExpiresAt.Unix(), 10), strconv.FormatInt(tok.IssuedAt.Unix(), 10), tok.Audience, tok.Value})
	} else {
		body, err = json.Marshal(struct {
			TokenType    string `json:"token_type"`
			ExpiresIn    int64  `json:"expires_in"`
			ExtExpiresIn int64  `json:"ext_expires_in"`
			AccessToken  string `json:"access_token"`
		}{"Bearer", expiresIn, expiresIn, tok.Value})
	}
	if err != nil {
		http.Error(w, "encoding the response failed", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

func (p *Provider) writeError(w http.ResponseWriter, r *http.Request, e *oauthError) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	if e.allow != "" {
		h.Set("Allow", e.allow)
	}
	if e.basic && e.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", `Basic realm="lastmile", charset="UTF-8"`)
	}
	if e.status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "5")
	}
	doc := struct {
		Error       string `json:"error"`
		Description string `json:"error_description"`
		Codes       []int  `json:"error_codes,omitempty"`
		Timestamp   string `json:"timestamp"`
	}{Error: e.code, Description: e.desc, Timestamp: time.Now().UTC().Format("2006-01-02 15:04:05Z")}
	if e.aadsts != 0 {
		doc.Codes = []int{e.aadsts}
	}
	body, _ := json.Marshal(doc)
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(e.status)
	w.Write(body)
	level := slog.LevelInfo
	if e.status >= 500 {
		level = slog.LevelWarn
	}
	p.log.Log(r.Context(), level, "refused a token request", "path", r.URL.Path, "status", e.status, "error", e.code, "description", e.desc)
}

// authenticate checks the client's credentials (RFC 6749 §2.3) and returns the
// application and how it authenticated (acrSecret or acrCertificate).
func (p *Provider) authenticate(ctx context.Context, req *tokenRequest, now time.Time) (*application, string, *oauthError) {
	switch {
	case req.assertion != "":
		app, oerr := p.authenticateAssertion(ctx, req, now)
		return app, acrCertificate, oerr
	case req.clientSecret != "":
		app, oerr := p.authenticateSecret(ctx, req, now)
		return app, acrSecret, oerr
	case req.clientID != "":
		return nil, "", invalidClient(false, "the request has no client credentials: send client_assertion (a certificate or federated token) or client_secret").aad(7000218)
	}
	return nil, "", invalidClient(false, "the request has no client_id and no client credentials")
}

func (p *Provider) lookupApp(clientID string, basic bool) (*application, *oauthError) {
	cid, _ := directory.CanonicalGUID(clientID)
	if app := p.apps[cid]; app != nil {
		return app, nil
	}
	return nil, invalidClient(basic, "application with identifier %q was not found in tenant %s; register it under identity.applications in lastmile.yaml", clip(clientID), p.tenantID).aad(700016)
}

func (p *Provider) authenticateSecret(ctx context.Context, req *tokenRequest, now time.Time) (*application, *oauthError) {
	if req.clientID == "" {
		return nil, invalidClient(req.basic, "client_secret without client_id")
	}
	app, oerr := p.lookupApp(req.clientID, req.basic)
	if oerr != nil {
		return nil, oerr
	}
	if len(app.secrets) == 0 {
		return nil, invalidClient(req.basic, "application %s has no client secrets: authenticate with its certificate or federated credential", app.clientID).aad(7000215)
	}
	ok, err := p.secrets.verify(ctx.Done(), app.clientID, req.clientSecret, app.secrets, app.secretStrings, now)
	if err != nil {
		return nil, &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: err.Error()}
	}
	if !ok {
		return nil, invalidClient(req.basic, "invalid client secret provided for application %s; check that the secret value, not its hash or id, is sent", app.clientID).aad(7000215)
	}
	return app, nil
}

// acceptedAudiences are the aud values of client assertions addressed to this
// server (RFC 7523 §3: the token endpoint URL or the issuer): the issuer and
// every token endpoint.
func (p *Provider) acceptedAudiences() []string { return p.audiences }

func (p *Provider) authenticateAssertion(ctx context.Context, req *tokenRequest, now time.Time) (*application, *oauthError) {
	bad := func(err error, app *application) *oauthError {
		var jerr *errJWS
		switch {
		case errors.Is(err, errKeysUnavailable):
			p.log.Warn("federated credential keys unavailable", "client_id", app.clientID, "error", err)
			return &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: "the trusted issuer's signing keys could not be fetched; try again shortly"}
		case errors.Is(err, errReplayStore):
			p.log.Warn("client assertion refused: the replay check is unavailable", "client_id", app.clientID, "error", err)
			return &oauthError{status: http.StatusServiceUnavailable, code: "temporarily_unavailable", desc: errReplayStore.Error()}
		case err == errReplayed:
			return invalidClient(false, "%v", err).aad(700025)
		case errors.Is(err, errNoKey):
			return invalidClient(false, "client assertion for application %s: %v", app.clientID, err).aad(700027)
		case errors.As(err, &jerr) && jerr.aadsts != 0:
			return invalidClient(false, "client assertion for application %s: %v", app.clientID, err).aad(jerr.aadsts)
		}
		return invalidClient(false, "client assertion for application %s: %v", app.clientID, err).aad(700027)
	}
	j, err := parseJWS(req.assertion)
	if err != nil {
		return nil, invalidClient(false, "client assertion: %v", err).aad(50027)
	}
	claims, err := parseAssertionClaims(j.payload)
	if err != nil {
		return nil, invalidClient(false, "client assertion: %v", err).aad(50027)
	}
	clientID := req.clientID
	selfSigned := claims.iss != "" && claims.iss == claims.sub && (clientID == "" || strings.EqualFold(claims.iss, clientID))
	if clientID == "" {
		if !selfSigned {
			return nil, badRequest("invalid_request", "client_id is required with a federated client assertion").aad(900144)
		}
		clientID = claims.iss
	}
	app, oerr := p.lookupApp(clientID, false)
	if oerr != nil {
		return nil, oerr
	}
	if selfSigned {
		if len(app.keys) == 0 {
			return nil, invalidClient(false, "application %s has no certificates or keys registered for client assertions", app.clientID).aad(700027)
		}
		if _, err := validateClientAssertion(ctx, j, claims, app, p.acceptedAudiences(), p.replay, now); err != nil {
			return nil, bad(err, app)
		}
		return app, nil
	}
	if _, err := p.validateFederated(ctx, j, claims, app, now); err != nil {
		return nil, bad(err, app)
	}
	return app, nil
}

// validateFederated checks a federated assertion against the application's
// federated credentials.
func (p *Provider) validateFederated(ctx context.Context, j *parsedJWS, c *assertionClaims, app *application, now time.Time) (*federatedCredential, error) {
	var cred *federatedCredential
	for _, f := range app.federated {
		if f.matches(c.iss, c.sub) {
			cred = f
			break
		}
	}
	if cred == nil {
		return nil, federationError(70021, "no matching federated identity record found for presented assertion issuer %q and subject %q", clip(c.iss), clip(c.sub))
	}
	if !typAllowed(j.header.typ) {
		return nil, jwsErrorf("the JWT typ %q is not a JWT", clip(j.header.typ))
	}
	if !c.hasAudience(cred.audience) {
		return nil, federationError(700212, "no matching federated identity record found for presented assertion audience %q: federated credential %q expects %q", clipList(c.aud), cred.name, cred.audience)
	}
	if err := c.checkTimes(now, maxFederatedAssertionLifetime); err != nil {
		return nil, err
	}
	keys, err := cred.source.keys(ctx, p.fetch, j.header.kid, now)
	if err != nil {
		return nil, err
	}
	if _, err := j.verify(keys, now); err != nil {
		return nil, err
	}
	return cred, nil
}

// federationError is a federated assertion that matches no credential.
func federationError(aadsts int, format string, args ...any) error {
	return &errJWS{msg: fmt.Sprintf(format, args...), aadsts: aadsts}
}

package policies

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/proxy"
	"github.com/lastmile-gw/lastmile/internal/urlquery"
)

// authentication-managed-identity gets an access token for resource as the
// gateway's system-assigned identity, or the user-assigned identity with
// client-id, and sends it as "Authorization: Bearer". With
// output-token-variable-name it stores the token in that variable instead and
// leaves the header to the policy, as API Management's documented pattern does.
type managedIdentityPolicy struct {
	tokens      TokenSource
	resource    pipeline.Value
	clientID    string
	variable    string
	ignoreError bool
	// last is the Authorization value of the last token, when resource is a
	// literal (one token, renewed now and then): a cached token's header is
	// not built again for every request.
	last *atomic.Pointer[bearer]
}

// bearer is a token and its Authorization header value.
type bearer struct{ token, header string }

func (d Deps) managedIdentity(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "resource", "client-id", "output-token-variable-name", "ignore-error", "authentication-provider")
	c.CheckChildren(el)
	res, ok := c.RequiredAttr(el, "resource")
	if !ok {
		return nil, nil
	}
	if lit, isLit := res.Literal(); isLit && strings.TrimSpace(lit) == "" {
		return nil, c.Errorf(el.Attr("resource").Value.Pos(), "resource must not be empty: name the backend's App ID URI or client id")
	}
	p := &managedIdentityPolicy{tokens: d.Tokens, resource: res}
	if _, isLit := res.Literal(); isLit {
		p.last = new(atomic.Pointer[bearer])
	}
	p.clientID, _ = c.LiteralAttr(el, "client-id")
	p.clientID = strings.TrimSpace(p.clientID)
	p.variable, _ = c.LiteralAttr(el, "output-token-variable-name")
	p.ignoreError = c.BoolAttr(el, "ignore-error", false)
	if prov, ok := c.LiteralAttr(el, "authentication-provider"); ok {
		// On API Management's self-hosted gateway WorkloadIdentity means "the
		// gateway workload's own identity", which is what lastmile's identity is.
		if !strings.EqualFold(strings.TrimSpace(prov), "WorkloadIdentity") {
			return nil, c.Errorf(el.Attr("authentication-provider").Value.Pos(), "authentication-provider must be WorkloadIdentity, not %q", prov)
		}
		if p.clientID != "" {
			return nil, c.Errorf(el.Attr("client-id").NamePos, "client-id cannot be combined with authentication-provider=\"WorkloadIdentity\"")
		}
		// The token sources decide what the workload's identity is: Entra
		// workload identity for the azure source, the configured federation for
		// workloadIdentity, the system-assigned identity for the embedded one.
		p.clientID = identity.WorkloadIdentity
	}
	if d.Tokens == nil {
		return nil, c.Errorf(el.Pos, "authentication-managed-identity needs the gateway's identity, which is not configured")
	}
	return p, nil
}

func (p *managedIdentityPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	res, err := p.resource.String(x)
	if err != nil {
		return err
	}
	tok, err := accessToken(ctx, p.tokens, x, p.clientID, res)
	if err != nil {
		if p.ignoreError {
			return nil
		}
		// The message names the resource and the reason, never a token.
		return &pipeline.Error{Reason: "TokenAcquisitionFailure", Message: "could not obtain a managed identity token: " + err.Error(), Status: 500, Err: err}
	}
	x.Backend.Token = exchange.BackendToken{ClientID: p.clientID, Resource: res, Value: tok}
	if p.variable != "" {
		x.SetVar(p.variable, tok)
		return nil
	}
	x.Request.Headers.Set("Authorization", p.bearer(tok))
	return nil
}

// bearer returns "Bearer " + tok.
func (p *managedIdentityPolicy) bearer(tok string) string {
	if p.last == nil {
		return "Bearer " + tok
	}
	if b := p.last.Load(); b != nil && b.token == tok {
		return b.header
	}
	b := &bearer{token: tok, header: "Bearer " + tok}
	p.last.Store(b)
	return b.header
}

// forward-request sends the request to the backend. When set-backend-service
// chose a backend entity, its credentials are added here, at the last moment, so
// that they only ever go to that backend.
type forwardRequestPolicy struct {
	fwd      Forwarder
	opts     proxy.Options
	backends map[string]Backend
	// bases are the backends' parsed URLs, for pool members.
	bases   map[string]*url.URL
	tokens  TokenSource
	logger  *slog.Logger
	metrics Metrics
	// creds name each backend's credential headers and query parameters,
	// which a redirect to another origin does not carry (only when
	// follow-redirects is on).
	creds map[string]proxy.Credentials
}

func (d Deps) forwardRequest(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "timeout", "follow-redirects", "buffer-request-body", "buffer-response", "fail-on-error-status-code", "http-version")
	c.CheckChildren(el)
	if d.Forwarder == nil {
		return nil, c.Errorf(el.Pos, "forward-request needs a backend transport, which is not configured")
	}
	p := &forwardRequestPolicy{fwd: d.Forwarder, backends: d.Backends, bases: d.baseURLs, tokens: d.Tokens, logger: d.Logger, metrics: d.Metrics}
	p.opts.Timeout = c.SecondsAttr(el, "timeout", d.ForwardTimeout)
	p.opts.FollowRedirects = c.BoolAttr(el, "follow-redirects", false)
	if p.opts.FollowRedirects {
		p.creds = credentialNames(d.Backends)
	}
	p.opts.BufferRequestBody = c.BoolAttr(el, "buffer-request-body", false)
	p.opts.FailOnErrorStatusCode = c.BoolAttr(el, "fail-on-error-status-code", false)
	// buffer-response only changes how API Management chunks the body; lastmile
	// always streams until a policy reads the body.
	c.BoolAttr(el, "buffer-response", true)
	if v, ok := c.LiteralAttr(el, "http-version"); ok && v != "1" && v != "2or1" && v != "2" {
		return nil, c.Errorf(el.Attr("http-version").Value.Pos(), "http-version must be 1, 2 or 2or1, not %q", v)
	}
	return p, nil
}

// Apply sends the request to the backend entity set-backend-service chose (a
// pool's member, see backends.go), or to the request's URL.
func (p *forwardRequestPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	err := p.apply(ctx, x)
	if err == nil && x.WebSocket && x.Response != nil && x.Response.StatusCode == http.StatusSwitchingProtocols {
		// The backend's connection is a WebSocket tunnel now: the gateway
		// relays it, and outbound has no message to work on.
		return pipeline.ErrReturn
	}
	return err
}

func (p *forwardRequestPolicy) apply(ctx context.Context, x *exchange.Exchange) error {
	b, ok := p.backends[x.Backend.ID]
	if !ok {
		return p.send(ctx, x, "")
	}
	if b.Pool != nil {
		return p.forwardToPool(ctx, x, x.Backend.ID, b)
	}
	return p.forwardToBackend(ctx, x, x.Backend.ID, b)
}

// send forwards the request to backend entity id ("" for a URL) and, when
// the backend rejects the managed identity token a policy sent, sends it once
// more with a new one.
func (p *forwardRequestPolicy) send(ctx context.Context, x *exchange.Exchange, id string) error {
	replayable := x.Request.Body == nil || x.Request.Body.Buffered()
	if err := p.forward(ctx, x, id); err != nil || !replayable {
		return err
	}
	if p.refreshRejectedToken(ctx, x) {
		return p.forward(ctx, x, id)
	}
	return nil
}

// forward makes one attempt: it calls the Forwarder, turns its failure into
// the policy's error, and tells the request's report, trace and span, and the
// metrics, how the attempt went (see backendCall).
func (p *forwardRequestPolicy) forward(ctx context.Context, x *exchange.Exchange, id string) error {
	call := startCall(ctx, x, "forward-request", id)
	opts := p.opts
	opts.Credentials = p.creds[id]
	err := p.fwd.Forward(call.ctx, x, opts)
	if err != nil {
		var pe *proxy.Error // declared here: it escapes, so costs an allocation
		if errors.As(err, &pe) {
			err = &pipeline.Error{Source: "forward-request", Reason: pe.Reason, Message: pe.Message, Status: pe.Status, Err: pe.Err}
		}
	}
	call.end(x, err, p.metrics)
	return err
}

// TokenInvalidator is implemented by token sources that can drop a cached token
// a backend rejected, so that the next request gets a new one.
type TokenInvalidator interface {
	InvalidateToken(clientID, resource string)
}

// refreshRejectedToken handles a backend that answered 401 with
// WWW-Authenticate: Bearer error="invalid_token" to the managed identity token a
// policy sent: the token is dropped from the cache and, when a different one is
// obtained, the request is sent again with it (once). It reports whether to
// resend. A token the backend rejects for another reason (insufficient scope, a
// missing role) is not refreshed: a new one would be rejected too.
func (p *forwardRequestPolicy) refreshRejectedToken(ctx context.Context, x *exchange.Exchange) bool {
	t := x.Backend.Token
	resp := x.Response
	if t.Value == "" || resp == nil || resp.StatusCode != 401 || !invalidTokenChallenge(resp.Headers.Values("Www-Authenticate")) ||
		x.Request.Headers.Get("Authorization") != "Bearer "+t.Value {
		return false
	}
	inv, ok := p.tokens.(TokenInvalidator)
	if !ok {
		return false
	}
	inv.InvalidateToken(t.ClientID, t.Resource)
	tok, err := accessToken(ctx, p.tokens, x, t.ClientID, t.Resource)
	if err != nil || tok == t.Value {
		// No new token (the cache keeps tokens younger than its invalidate
		// interval): the backend's 401 stands.
		return false
	}
	if resp.Body != nil {
		resp.Body.Close()
	}
	x.Response = nil
	x.Backend.Token.Value = tok
	x.Request.Headers.Set("Authorization", "Bearer "+tok)
	return true
}

// invalidTokenChallenge reports whether a WWW-Authenticate header holds a Bearer
// challenge with error="invalid_token" (RFC 6750 section 3).
func invalidTokenChallenge(values []string) bool {
	for _, v := range values {
		l := strings.ToLower(v)
		i := strings.Index(l, "bearer")
		if i < 0 {
			continue
		}
		rest := l[i+len("bearer"):]
		// The next challenge, if any, starts with a scheme name and no "=".
		for _, param := range strings.Split(rest, ",") {
			k, val, ok := strings.Cut(strings.TrimSpace(param), "=")
			if ok && strings.TrimSpace(k) == "error" && strings.Trim(strings.TrimSpace(val), `"`) == "invalid_token" {
				return true
			}
		}
	}
	return false
}

// credentials adds a backend entity's credentials to the request.
func (p *forwardRequestPolicy) credentials(ctx context.Context, x *exchange.Exchange, b Backend) error {
	for k, v := range b.Header {
		x.Request.Headers[textproto.CanonicalMIMEHeaderKey(k)] = v
	}
	for _, k := range slices.Sorted(maps.Keys(b.Query)) {
		x.Request.URL.RawQuery = urlquery.Set(x.Request.URL.RawQuery, k, b.Query[k])
	}
	if b.AuthScheme != "" {
		x.Request.Headers.Set("Authorization", strings.TrimSpace(b.AuthScheme+" "+b.AuthParameter))
	}
	if b.Resource != "" {
		if p.tokens == nil {
			return &pipeline.Error{Reason: "TokenAcquisitionFailure", Message: "backend " + x.Backend.ID + " needs a managed identity token, but the gateway has no identity", Status: 500}
		}
		tok, err := accessToken(ctx, p.tokens, x, b.ClientID, b.Resource)
		if err != nil {
			return &pipeline.Error{Reason: "TokenAcquisitionFailure", Message: "backend " + x.Backend.ID + ": could not obtain a managed identity token: " + err.Error(), Status: 500, Err: err}
		}
		x.Backend.Token = exchange.BackendToken{ClientID: b.ClientID, Resource: b.Resource, Value: tok}
		x.Request.Headers.Set("Authorization", "Bearer "+tok)
	}
	return nil
}

// credentialNames names what each backend's credentials add (credentials)
// besides Authorization, for the Forwarder to leave out of a redirect to
// another origin.
func credentialNames(backends map[string]Backend) map[string]proxy.Credentials {
	out := make(map[string]proxy.Credentials)
	for id, b := range backends {
		if len(b.Header) > 0 || len(b.Query) > 0 {
			out[id] = proxy.Credentials{Headers: slices.Collect(maps.Keys(b.Header)), Query: slices.Collect(maps.Keys(b.Query))}
		}
	}
	return out
}

// accessToken gets a managed identity token from src for a policy of the
// request x, and notes how it was served in x's report and trace (nil x:
// a request in the background, after the caller's). The trace shows the
// identity, the resource and the outcome, never the token.
func accessToken(ctx context.Context, src TokenSource, x *exchange.Exchange, clientID, resource string) (string, error) {
	tok, err := src.AccessToken(ctx, clientID, resource)
	if x == nil {
		return tok.Value, err
	}
	outcome := tok.Outcome
	if err != nil {
		outcome = "error"
	}
	x.Report.Token = outcome
	if x.Recorder != nil {
		x.Recorder.Secret(tok.Value)
		x.Recorder.Append("tokens", map[string]any{"clientId": clientID, "resource": resource, "outcome": outcome})
	}
	return tok.Value, err
}

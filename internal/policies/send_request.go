package policies

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/proxy"
)

// send-request sends a side request and stores the response in a variable as an
// IResponse (*exchange.Response), for expressions such as
// ((IResponse)context.Variables["x"]).Body.As<JObject>(). Redirects are never
// followed. The timeout bounds the wait for the response headers, as
// forward-request's does; the body streams (through the request's context) until a
// policy reads it, up to exchange.DefaultBodyLimit when one buffers it.
type sendRequestPolicy struct {
	transport http.RoundTripper
	logger    *slog.Logger
	hide      hider // secrets out of the URLs messages show

	mode        pipeline.Value // "new" or "copy"
	variable    pipeline.Value
	timeout     pipeline.Value // whole seconds
	ignoreError bool
	copyBody    bool // false in outbound, where mode="copy" does not copy the body

	url     pipeline.Value
	hasURL  bool
	method  pipeline.Value
	hasMeth bool
	headers []*setHeaderPolicy
	body    pipeline.Value
	hasBody bool
	mi      *managedIdentityPolicy
	cert    *certificatePolicy // <authentication-certificate>; nil presents none
	via     *proxyPolicy       // <proxy>; nil sends directly
	router  Router             // the transport for cert and via
	label   string             // the policy in messages and spans; "" is send-request
}

// name is the policy that sends, for messages and spans.
func (p *sendRequestPolicy) name() string {
	if p.label == "" {
		return "send-request"
	}
	return p.label
}

// Router gives the transport that presents a client certificate and goes
// through an HTTP proxy (either may be nil), for send-request's
// <authentication-certificate> and <proxy>: proxy.Forwarder, whose
// transports forward-request uses too.
type Router interface {
	Via(cert *tls.Certificate, proxy *url.URL) (http.RoundTripper, error)
}

const defaultSendTimeout = 60 * time.Second

// sendRequestChildren are send-request's children in the order API Management's
// schema requires; elements with the same rank may come in either order.
var sendRequestChildren = map[string]int{
	"set-url": 0, "set-method": 1, "set-header": 2, "set-body": 3,
	"authentication-certificate": 4, "authentication-managed-identity": 4, "proxy": 5,
}

func (d Deps) sendRequest(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	return d.compileSideRequest(c, el, false)
}

// compileSideRequest compiles send-request, or send-one-way-request, which
// has no response variable and no ignore-error.
func (d Deps) compileSideRequest(c *pipeline.Compiler, el *policyxml.Element, oneWay bool) (*sendRequestPolicy, error) {
	if oneWay {
		c.CheckAttrs(el, "mode", "timeout")
	} else {
		c.CheckAttrs(el, "mode", "response-variable-name", "timeout", "ignore-error")
	}
	p := &sendRequestPolicy{transport: d.SideRequests, logger: d.Logger, hide: newHider(d.Secrets), copyBody: c.Section() != pipeline.Outbound}
	p.mode = pipeline.Literal("new")
	if v, ok := c.Attr(el, "mode"); ok {
		p.mode = v
		if lit, isLit := v.Literal(); isLit {
			m := strings.ToLower(strings.TrimSpace(lit))
			if m != "new" && m != "copy" {
				c.Report(c.Errorf(el.Attr("mode").Value.Pos(), "mode of <%s> must be new or copy, not %q", el.Name, el.Attr("mode").Value.Redacted()))
			}
			p.mode = pipeline.Literal(m)
		}
	}
	if oneWay {
		// Nothing to store.
	} else if v, ok := c.RequiredAttr(el, "response-variable-name"); ok {
		if lit, isLit := v.Literal(); isLit && strings.TrimSpace(lit) == "" {
			c.Report(c.Errorf(el.Attr("response-variable-name").Value.Pos(), "response-variable-name of <send-request> must not be empty"))
		}
		p.variable = v
	}
	p.timeout = pipeline.Literal(strconv.Itoa(int(defaultSendTimeout / time.Second)))
	if v, ok := c.Attr(el, "timeout"); ok {
		p.timeout = v
		if lit, isLit := v.Literal(); isLit {
			if _, err := parseTimeout(lit, pipeline.MaxSeconds); err != nil {
				c.Report(c.Errorf(el.Attr("timeout").Value.Pos(), "timeout of <%s> %s", el.Name, err.Message))
			}
		}
	}
	if !oneWay {
		p.ignoreError = c.BoolAttr(el, "ignore-error", false)
	}

	last, lastName := -1, ""
	seen := map[string]bool{}
	for _, ch := range el.Elements() {
		rank, known := sendRequestChildren[ch.Name]
		if !known {
			c.Report(c.Errorf(ch.Pos, "unexpected <%s> in <%s>; expected <set-url>, <set-method>, <set-header>, <set-body>, <authentication-managed-identity> or <proxy>", ch.Name, el.Name))
			continue
		}
		if seen[ch.Name] && ch.Name != "set-header" {
			c.Report(c.Errorf(ch.Pos, "<%s> appears twice in <%s>", ch.Name, el.Name))
			continue
		}
		seen[ch.Name] = true
		if rank < last {
			c.Report(c.Errorf(ch.Pos, "<%s> must come before <%s> in <%s>", ch.Name, lastName, el.Name))
		}
		if rank > last {
			last, lastName = rank, ch.Name
		}
		switch ch.Name {
		case "set-url":
			c.CheckAttrs(ch)
			c.CheckChildren(ch)
			p.url, p.hasURL = c.Value(ch.Text()), true
			if lit, isLit := p.url.Literal(); isLit {
				if _, perr := parseSideURL(lit); perr != nil {
					c.Report(c.Errorf(ch.Text().Pos(), "<set-url> %s, not %s", perr.Message, quoteShort(ch.Text().Redacted())))
				}
			}
		case "set-method":
			pol, err := setMethod(c, ch)
			if err != nil {
				c.Report(err)
			} else if m, ok := pol.(*setMethodPolicy); ok {
				p.method, p.hasMeth = m.method, true
			}
		case "set-header":
			pol, err := compileSetHeader(c, ch, false)
			if err != nil {
				c.Report(err)
			} else if h, ok := pol.(*setHeaderPolicy); ok {
				p.headers = append(p.headers, h)
			}
		case "set-body":
			pol, err := compileSetBody(c, ch, false, true)
			if err != nil {
				c.Report(err)
			} else if b, ok := pol.(*setBodyPolicy); ok {
				p.body, p.hasBody = b.body, true
			} else if _, ok := pol.(*liquidBodyPolicy); ok {
				c.Report(c.Errorf(ch.Pos, `set-body template="liquid" is not supported inside send-request; build the body with a policy expression`))
			}
		case "authentication-managed-identity":
			pol, err := d.managedIdentity(c, ch)
			if err != nil {
				c.Report(err)
			} else if mi, ok := pol.(*managedIdentityPolicy); ok {
				p.mi = mi
				if oneWay && mi.variable != "" {
					c.Report(c.Errorf(ch.Attr("output-token-variable-name").NamePos, "output-token-variable-name has no use in <%s>: the request is sent after the policy is done, so no later policy could read the token; leave it out and the token goes in the Authorization header", el.Name))
				}
			}
		case "authentication-certificate":
			pol, err := d.authCertificate(c, ch)
			if err != nil {
				c.Report(err)
			} else if cert, ok := pol.(*certificatePolicy); ok {
				p.cert = cert
				p.router, _ = d.Forwarder.(Router)
			}
		case "proxy":
			pol, err := proxyRoute(c, ch)
			if err != nil {
				c.Report(err)
			} else if via, ok := pol.(*proxyPolicy); ok {
				p.via = via
				p.router, _ = d.Forwarder.(Router)
			}
		}
	}
	if lit, isLit := p.mode.Literal(); isLit && lit == "new" && !p.hasURL {
		c.Report(c.Errorf(el.Pos, "<%s> needs a <set-url> unless mode is copy", el.Name))
	}
	return p, nil
}

// parseTimeout parses a timeout in whole seconds, from 1 to max: at most a
// day (pipeline.MaxSeconds; a larger number would overflow a time.Duration
// into a timeout that fires at once), or a policy's own bound.
func parseTimeout(s string, max int) (time.Duration, *pipeline.Error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > max {
		return 0, &pipeline.Error{Reason: "InvalidTimeout", Message: "must be a whole number of seconds from 1 to " + strconv.Itoa(max) + ", not " + quoteShort(s)}
	}
	return time.Duration(n) * time.Second, nil
}

// parseSideURL accepts an absolute http or https URL.
func parseSideURL(s string) (*url.URL, *pipeline.Error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &pipeline.Error{Reason: "InvalidUrl", Message: "must be an absolute http or https URL"}
	}
	return u, nil
}

func (p *sendRequestPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	name, err := p.variable.String(x)
	if err != nil {
		return err
	}
	resp, ignorable, err := p.sendNow(ctx, x)
	switch {
	case err == nil:
		x.SetVar(name, resp)
		return nil
	case p.ignoreError && ignorable && ctx.Err() == nil:
		// API Management: "the error will be ignored, and the response variable
		// will contain a null value".
		x.SetVar(name, nil)
		return nil
	}
	return err
}

// sideRequest is a side request built from the exchange, ready to send.
type sideRequest struct {
	method   string
	target   *url.URL
	header   http.Header
	body     []byte
	timeout  time.Duration
	resource string // the managed identity token's resource, when the request needs one
	// transport sends it: the gateway's, or the one through <proxy>.
	transport http.RoundTripper
}

// sendNow builds the side request and sends it. Failures of the request itself
// (an unusable URL, no token, no connection, no answer in time) are ignorable;
// a policy expression that fails, or a configuration value that is wrong, is
// not.
func (p *sendRequestPolicy) sendNow(ctx context.Context, x *exchange.Exchange) (resp *exchange.Response, ignorable bool, err error) {
	r, ignorable, err := p.build(x)
	if err != nil {
		return nil, ignorable, err
	}
	if p.mi != nil {
		if err := p.authenticate(ctx, x, r.resource, r.header); err != nil {
			return nil, true, err
		}
	}
	resp, err = p.roundTrip(ctx, x, r.transport, r.method, r.target, r.header, r.body, r.timeout)
	return resp, err != nil, err
}

// build evaluates the side request's attributes and children on the exchange.
func (p *sendRequestPolicy) build(x *exchange.Exchange) (r *sideRequest, ignorable bool, err error) {
	mode, err := p.mode.String(x)
	if err != nil {
		return nil, false, err
	}
	copyMode := false
	switch strings.ToLower(strings.TrimSpace(mode)) {
	case "new":
	case "copy":
		copyMode = true
	default:
		return nil, false, &pipeline.Error{Reason: "InvalidMode", Message: "send-request mode must be new or copy, not " + quoteShort(mode)}
	}
	ts, err := p.timeout.String(x)
	if err != nil {
		return nil, false, err
	}
	timeout, perr := parseTimeout(ts, pipeline.MaxSeconds)
	if perr != nil {
		perr.Message = "send-request timeout " + perr.Message
		return nil, false, perr
	}

	method := http.MethodGet
	var target *url.URL
	h := make(http.Header)
	var body []byte
	if copyMode {
		method = x.Request.Method
		if x.Request.URL != nil {
			u := *x.Request.URL
			target = &u
		}
		for k, v := range x.Request.Headers {
			h[k] = append([]string(nil), v...)
		}
		exchange.RemoveFixedHopHeaders(h)
		h.Del("Host") // the copy goes to its own host unless a set-header says otherwise
		if p.copyBody {
			if body, err = copyRequestBody(x.Request.Body); err != nil {
				return nil, false, err
			}
		}
	}
	if p.hasURL {
		s, err := p.url.String(x)
		if err != nil {
			return nil, false, err
		}
		u, perr := parseSideURL(s)
		if perr != nil {
			perr.Message = "send-request URL " + perr.Message + ", not " + quoteShort(p.hide.url(s))
			return nil, true, perr
		}
		target = u
	}
	if target == nil {
		return nil, true, &pipeline.Error{Reason: "InvalidUrl", Message: "send-request has no URL: add <set-url>"}
	}
	if p.hasMeth {
		m, err := p.method.String(x)
		if err != nil {
			return nil, false, err
		}
		m = strings.TrimSpace(m)
		if !validMethod(m) {
			return nil, false, &pipeline.Error{Reason: "InvalidMethod", Message: "send-request set-method produced an invalid HTTP method " + quoteShort(m)}
		}
		method = strings.ToUpper(m)
	}
	for _, sh := range p.headers {
		name, vals, err := sh.eval(x)
		if err != nil {
			return nil, false, err
		}
		name = strings.TrimSpace(name)
		if err := checkHeaderName(name); err != nil {
			return nil, false, err
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		if fixedHeaders[key] {
			return nil, false, &pipeline.Error{Reason: "HeaderNotAllowed", Message: "header " + key + " is managed by the gateway and cannot be set or deleted"}
		}
		applyValues(h, key, sh.action, vals, multiLineHeaders[key])
	}
	if p.hasBody {
		if body, err = p.body.Bytes(x); err != nil {
			return nil, false, err
		}
	}
	r = &sideRequest{method: method, target: target, header: h, body: body, timeout: timeout, transport: p.transport}
	if p.cert != nil || p.via != nil {
		// Chosen now, from this exchange: a one-way request is sent later.
		var cert *tls.Certificate
		var via *url.URL
		if p.cert != nil {
			if cert, err = p.cert.certificate(x); err != nil {
				return nil, false, err
			}
		}
		if p.via != nil {
			if via, err = p.via.target(x); err != nil {
				return nil, false, err
			}
		}
		if p.router == nil {
			return nil, false, &pipeline.Error{Reason: "InvalidTransport", Message: "a client certificate or a proxy in send-request needs the gateway's own transport"}
		}
		if r.transport, err = p.router.Via(cert, via); err != nil {
			return nil, false, &pipeline.Error{Reason: "InvalidTransport", Message: err.Error(), Err: err}
		}
	}
	if p.mi != nil {
		if r.resource, err = p.mi.resource.String(x); err != nil {
			return nil, false, err
		}
	}
	return r, false, nil
}

// copyRequestBody returns the caller's request body for mode="copy", buffering it
// (so that forward-request still sends it). A body that a policy already read
// without preserving it, or that was already streamed to the backend, is empty,
// as it would be for context.Request.Body.
func copyRequestBody(b *exchange.Body) ([]byte, error) {
	if b == nil || b.Consumed() {
		return nil, nil
	}
	data, err := b.Bytes(true)
	if err == nil || errors.Is(err, exchange.ErrBodyConsumed) {
		return data, nil
	}
	return nil, pipeline.BodyFailure("send-request could not copy the request body", err)
}

// authenticate adds a managed identity token for resource (or stores it in the
// variable the element names). It leaves the main request's token alone.
func (p *sendRequestPolicy) authenticate(ctx context.Context, x *exchange.Exchange, resource string, h http.Header) error {
	mi := p.mi
	tok, err := accessToken(ctx, mi.tokens, x, mi.clientID, resource)
	if err != nil {
		if mi.ignoreError {
			return nil
		}
		return &pipeline.Error{Reason: "TokenAcquisitionFailure", Message: "could not obtain a managed identity token: " + err.Error(), Status: 500, Err: err}
	}
	if mi.variable != "" {
		x.SetVar(mi.variable, tok)
		return nil
	}
	h.Set("Authorization", "Bearer "+tok)
	return nil
}

func (p *sendRequestPolicy) roundTrip(ctx context.Context, x *exchange.Exchange, tr http.RoundTripper, method string, target *url.URL, h http.Header, body []byte, timeout time.Duration) (_ *exchange.Response, err error) {
	status := 0
	where := p.hide.url(target.String())
	var rd io.Reader
	if len(body) > 0 {
		rd = bytes.NewReader(body)
	}
	call := startCall(ctx, x, p.name(), "")
	// The span ends when the response head arrives: the body belongs to the
	// policies that read it.
	defer func() { call.finish(status, err) }()
	ctx = call.ctx
	proxy.InjectTraceContext(ctx, h)
	// reqCtx ends when the timeout fires before the headers arrive, or when the
	// response body is closed.
	reqCtx, cancel := context.WithCancel(ctx)
	req, err := http.NewRequestWithContext(reqCtx, method, target.String(), rd)
	if err != nil {
		cancel()
		return nil, &pipeline.Error{Reason: "InvalidRequest", Message: p.name() + " could not build the request to " + where, Status: 500, Err: err}
	}
	if host := h.Get("Host"); host != "" {
		req.Host = host
		h.Del("Host")
	}
	if _, ok := h["User-Agent"]; !ok {
		h["User-Agent"] = []string{""} // do not add Go's default
	}
	req.Header = h
	req.ContentLength = int64(len(body))
	if len(body) > 0 {
		req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	start := time.Now()
	timer := time.AfterFunc(timeout, cancel)
	resp, err := tr.RoundTrip(req)
	timedOut := !timer.Stop()
	if err != nil {
		cancel()
		switch {
		case timedOut:
			return nil, &pipeline.Error{Reason: "Timeout", Message: fmt.Sprintf("%s to %s did not get a response within %s", p.name(), where, timeout), Status: 500, Err: err}
		case ctx.Err() != nil:
			return nil, &pipeline.Error{Reason: "ClientConnectionFailure", Message: "the client went away", Status: 499, Err: err}
		}
		return nil, &pipeline.Error{Reason: "BackendConnectionFailure", Message: p.name() + " could not reach " + where + ": " + transportReason(err), Status: 500, Err: err}
	}
	status = resp.StatusCode
	exchange.RemoveHopHeaders(resp.Header)
	reason := strings.TrimSpace(strings.TrimPrefix(resp.Status, strconv.Itoa(resp.StatusCode)))
	if reason == "" {
		reason = http.StatusText(resp.StatusCode)
	}
	p.logger.DebugContext(ctx, p.name(), "request_id", x.RequestID, "method", method, "url", where,
		"status", resp.StatusCode, "duration", time.Since(start))
	return &exchange.Response{
		StatusCode:   resp.StatusCode,
		StatusReason: reason,
		Headers:      resp.Header,
		Body:         exchange.NewStreamBody(exchange.CloseFunc(resp.Body, cancel), resp.ContentLength, &x.Buffers),
	}, nil
}

// redactURL returns a URL for messages and logs: without user information, query
// or fragment, which may carry secrets (SAS signatures, API keys).
func redactURL(s string) string {
	s = strings.TrimSpace(s)
	if u, err := url.Parse(s); err == nil && u.Host != "" {
		u.User, u.RawQuery, u.ForceQuery, u.Fragment, u.RawFragment = nil, "", false, "", ""
		return u.String()
	}
	if i := strings.IndexAny(s, "?#"); i >= 0 {
		s = s[:i]
	}
	if strings.Contains(s, "@") {
		return "(a URL with user information)"
	}
	return s
}

// transportReason describes a transport error without repeating the URL, which
// url.Error would print with its query.
func transportReason(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return "no such host " + dnsErr.Name
	}
	return err.Error()
}

// NewSideTransport returns the transport send-request uses when Deps.SideRequests
// is nil: no proxy from the environment, no transparent decompression, bounded
// dials and TLS handshakes. main passes the backend transport instead, so that
// side requests trust the same CA bundle.
func NewSideTransport() *http.Transport {
	return &http.Transport{
		DialContext:           (&net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          256,
		MaxIdleConnsPerHost:   64,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		DisableCompression:    true,
	}
}

package policies

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// cors answers cross-origin requests as API Management's cors policy does. In
// the inbound section it handles actual requests: when the Origin matches, the
// CORS response headers go to x.ClientHeaders, which the gateway adds to
// whatever response the client gets, errors included. Preflight requests
// (OPTIONS with Origin and Access-Control-Request-Method) never reach the
// pipeline: the gateway finds the cors policies that are direct children of
// the effective inbound section and calls Preflight on them in order.
type corsPolicy struct {
	anyOrigin   bool
	origins     []corsOrigin
	credentials pipeline.Value // bool
	terminate   pipeline.Value // bool
	anyMethod   bool
	methods     []pipeline.Value // GET and POST when <allowed-methods> is absent
	maxAge      pipeline.Value
	hasMaxAge   bool
	anyHeader   bool
	headers     map[string]bool // allowed request headers, lower case
	expose      string          // Access-Control-Expose-Headers, "" for none
}

// maxRequestedHeaders bounds the header names a preflight may ask for; a
// browser asks for a handful, so more is answered as not allowed.
const maxRequestedHeaders = 100

var defaultCORSMethods = []pipeline.Value{pipeline.Literal(http.MethodGet), pipeline.Literal(http.MethodPost)}

func cors(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "allow-credentials", "terminate-unmatched-request")
	c.CheckChildren(el, "allowed-origins", "allowed-methods", "allowed-headers", "expose-headers")
	p := &corsPolicy{
		credentials: c.BoolValue(el, "allow-credentials", false),
		// The documentation's attribute table says false, its troubleshooting
		// notes and the gateway's observed answers say true: docs/policies.md.
		terminate: c.BoolValue(el, "terminate-unmatched-request", true),
		methods:   defaultCORSMethods,
	}
	seen := map[string]bool{}
	for _, ch := range el.Elements() {
		if seen[ch.Name] {
			c.Report(c.Errorf(ch.Pos, "<%s> appears twice in <cors>; put all its children in one", ch.Name))
			continue
		}
		seen[ch.Name] = true
		switch ch.Name {
		case "allowed-origins":
			p.compileOrigins(c, ch)
		case "allowed-methods":
			p.compileMethods(c, ch)
		case "allowed-headers":
			var names []string
			names, p.anyHeader = compileHeaderNames(c, ch)
			p.headers = make(map[string]bool, len(names))
			for _, n := range names {
				p.headers[strings.ToLower(n)] = true
			}
		case "expose-headers":
			names, any := compileHeaderNames(c, ch)
			if any {
				names = []string{"*"}
			}
			p.expose = strings.Join(names, ", ")
		}
	}
	if !seen["allowed-origins"] {
		c.Report(c.Errorf(el.Pos, "<cors> needs <allowed-origins> with at least one <origin>, such as <origin>https://app.example.com</origin>"))
	}
	if cred, ok := p.credentials.Literal(); ok && p.anyOrigin && strings.EqualFold(strings.TrimSpace(cred), "true") {
		c.Report(c.Errorf(el.Attr("allow-credentials").Value.Pos(), `allow-credentials="true" cannot be combined with <origin>*</origin>: browsers refuse credentials for a wildcard origin; list the allowed origins instead`))
	}
	return p, nil
}

func (p *corsPolicy) compileOrigins(c *pipeline.Compiler, el *policyxml.Element) {
	c.CheckAttrs(el)
	c.CheckChildren(el, "origin")
	for _, o := range el.Elements() {
		c.CheckAttrs(o)
		c.CheckChildren(o)
		v := o.Text()
		if v.IsExpression() {
			c.Report(c.Errorf(v.Pos(), "<origin> does not accept policy expressions"))
			continue
		}
		s := strings.TrimSpace(v.String())
		if s == "*" {
			p.anyOrigin = true
			continue
		}
		co, ok := parseOrigin(strings.TrimSuffix(s, "/"))
		if !ok {
			c.Report(c.Errorf(v.Pos(), "origin %q is not * or a URI with a scheme and a host (and an optional port), such as https://app.example.com", s))
			continue
		}
		p.origins = append(p.origins, co)
	}
	switch {
	case p.anyOrigin && len(p.origins) > 0:
		c.Report(c.Errorf(el.Pos, "<allowed-origins> holds either one <origin>*</origin> or a list of origins, not both"))
	case !p.anyOrigin && len(p.origins) == 0 && len(el.Elements()) == 0:
		c.Report(c.Errorf(el.Pos, "<allowed-origins> needs at least one <origin>"))
	}
}

func (p *corsPolicy) compileMethods(c *pipeline.Compiler, el *policyxml.Element) {
	c.CheckAttrs(el, "preflight-result-max-age")
	c.CheckChildren(el, "method")
	if v, ok := c.Attr(el, "preflight-result-max-age"); ok {
		p.maxAge, p.hasMaxAge = v, true
		if lit, isLit := v.Literal(); isLit {
			if _, ok := parseMaxAge(lit); !ok {
				c.Report(c.Errorf(el.Attr("preflight-result-max-age").Value.Pos(), "preflight-result-max-age must be a whole number of seconds, 0 or more, not %q", lit))
			}
		}
	}
	p.methods = nil
	for _, m := range el.Elements() {
		c.CheckAttrs(m)
		c.CheckChildren(m)
		v := c.Value(m.Text())
		if lit, ok := v.Literal(); ok {
			lit = strings.TrimSpace(lit)
			if lit == "*" {
				p.anyMethod = true
				continue
			}
			if !isToken(lit) {
				c.Report(c.Errorf(m.Text().Pos(), "method %q is not an HTTP method; write a name such as PUT, or *", lit))
				continue
			}
			v = pipeline.Literal(lit)
		}
		p.methods = append(p.methods, v)
	}
	if len(el.Elements()) == 0 {
		c.Report(c.Errorf(el.Pos, "<allowed-methods> needs at least one <method>; leave it out to allow GET and POST"))
	}
}

// compileHeaderNames reads <header> children: names, or * for any.
func compileHeaderNames(c *pipeline.Compiler, el *policyxml.Element) (names []string, any bool) {
	c.CheckAttrs(el)
	c.CheckChildren(el, "header")
	for _, h := range el.Elements() {
		c.CheckAttrs(h)
		c.CheckChildren(h)
		v := h.Text()
		if v.IsExpression() {
			c.Report(c.Errorf(v.Pos(), "<header> in <%s> does not accept policy expressions", el.Name))
			continue
		}
		s := strings.TrimSpace(v.String())
		switch {
		case s == "*":
			any = true
		case literalHeaderName(c, v.Pos(), "<header> in <"+el.Name+">", s):
			names = append(names, s)
		}
	}
	if len(el.Elements()) == 0 {
		c.Report(c.Errorf(el.Pos, "<%s> needs at least one <header>; leave it out if there is none", el.Name))
	}
	return names, any
}

// Apply handles an actual (not preflight) request. A matching Origin gets its
// CORS headers on the response; an unmatched one on GET or HEAD, with
// terminate-unmatched-request, ends the request with an empty 200; otherwise
// the request goes on without CORS headers. Only the first cors that matches
// applies.
func (p *corsPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	if _, done := x.ClientHeaders["Access-Control-Allow-Origin"]; done {
		return nil
	}
	matched, err := p.ResponseHeaders(x)
	if err != nil || matched {
		return err
	}
	if _, present := requestOrigin(x.Request.Headers); !present {
		return nil
	}
	if m := x.Request.Method; m != http.MethodGet && m != http.MethodHead {
		return nil
	}
	terminate, err := p.terminate.Bool(x)
	if err != nil || !terminate {
		return err
	}
	x.Response = emptyOK()
	return pipeline.ErrReturn
}

// ResponseHeaders puts the CORS headers for an actual request into
// x.ClientHeaders and reports whether its Origin matched. The gateway also
// calls it for a request refused before its pipeline runs (a missing
// subscription key), so that the browser can read the refusal.
func (p *corsPolicy) ResponseHeaders(x *exchange.Exchange) (bool, error) {
	origin, present := requestOrigin(x.Request.Headers)
	if !p.anyOrigin {
		// The answer depends on Origin, even when there is none: a shared cache
		// must not give one origin's answer to another.
		addClientVary(x, "Origin")
	}
	if !present || !p.allowsOrigin(origin) {
		return false, nil
	}
	h, err := p.originHeaders(x, origin)
	if err != nil {
		return false, err
	}
	if p.expose != "" {
		h.Set("Access-Control-Expose-Headers", p.expose)
	}
	if x.ClientHeaders == nil {
		x.ClientHeaders = make(http.Header, 4)
	}
	for k, v := range h {
		x.ClientHeaders[k] = v
	}
	return true, nil
}

// Preflight answers a preflight request into x.Response and reports whether it
// did. It did not when the request does not match (its origin, the method or a
// header it asks for is not allowed) and terminate-unmatched-request is false:
// the gateway then asks the next cors policy, and answers an empty 200 when
// none is left.
func (p *corsPolicy) Preflight(ctx context.Context, x *exchange.Exchange) (bool, error) {
	h, ok, err := p.preflightHeaders(x)
	if err != nil {
		return false, err
	}
	if ok {
		x.Response = &exchange.Response{StatusCode: 200, StatusReason: "OK", Headers: h, Body: exchange.NewBytesBody(nil)}
		return true, nil
	}
	terminate, err := p.terminate.Bool(x)
	if err != nil || !terminate {
		return false, err
	}
	x.Response = emptyOK()
	return true, nil
}

// preflightHeaders returns the preflight answer's headers when the request
// matches.
func (p *corsPolicy) preflightHeaders(x *exchange.Exchange) (http.Header, bool, error) {
	origin, present := requestOrigin(x.Request.Headers)
	if !present || !p.allowsOrigin(origin) {
		return nil, false, nil
	}
	method := x.Request.Headers.Get("Access-Control-Request-Method")
	allowed, ok, err := p.allowsMethod(x, method)
	if err != nil || !ok {
		return nil, false, err
	}
	requested, ok := p.allowsHeaders(x.Request.Headers.Values("Access-Control-Request-Headers"))
	if !ok {
		return nil, false, nil
	}
	h, err := p.originHeaders(x, origin)
	if err != nil {
		return nil, false, err
	}
	h.Set("Access-Control-Allow-Methods", allowed)
	if requested != "" {
		h.Set("Access-Control-Allow-Headers", requested)
	}
	if p.hasMaxAge {
		s, err := p.maxAge.String(x)
		if err != nil {
			return nil, false, err
		}
		age, ok := parseMaxAge(s)
		if !ok {
			return nil, false, &pipeline.Error{Reason: "InvalidMaxAge", Message: "preflight-result-max-age is not a whole number of seconds: " + quoteShort(s)}
		}
		h.Set("Access-Control-Max-Age", strconv.Itoa(age))
	}
	return h, true, nil
}

// originHeaders are the headers every matching answer has: the allowed origin
// and, when allowed, credentials.
func (p *corsPolicy) originHeaders(x *exchange.Exchange, origin string) (http.Header, error) {
	cred, err := p.credentials.Bool(x)
	if err != nil {
		return nil, err
	}
	h := make(http.Header, 6)
	if p.anyOrigin && !cred {
		h.Set("Access-Control-Allow-Origin", "*")
	} else if p.anyOrigin {
		// Only when allow-credentials is an expression that turned out true (a
		// literal true with * is refused at load): browsers refuse "*" with
		// credentials, which is the safe failure. Echoing the origin would let
		// every site make credentialed calls.
		h.Set("Access-Control-Allow-Origin", "*")
		h.Set("Access-Control-Allow-Credentials", "true")
	} else {
		h.Set("Access-Control-Allow-Origin", origin)
		h.Set("Vary", "Origin")
		if cred {
			h.Set("Access-Control-Allow-Credentials", "true")
		}
	}
	return h, nil
}

func (p *corsPolicy) allowsOrigin(origin string) bool {
	if p.anyOrigin {
		return true
	}
	o, ok := parseOrigin(origin)
	if !ok {
		return false // "null", or not an origin at all
	}
	for _, a := range p.origins {
		if a == o {
			return true
		}
	}
	return false
}

// allowsMethod reports whether method may be used, and the value of
// Access-Control-Allow-Methods.
func (p *corsPolicy) allowsMethod(x *exchange.Exchange, method string) (string, bool, error) {
	if !isToken(method) {
		return "", false, nil
	}
	if p.anyMethod {
		return method, true, nil
	}
	list := make([]string, 0, len(p.methods))
	found := false
	for _, v := range p.methods {
		m, err := v.String(x)
		if err != nil {
			return "", false, err
		}
		m = strings.TrimSpace(m)
		if m == "*" {
			return method, true, nil
		}
		found = found || strings.EqualFold(m, method)
		list = append(list, m)
	}
	return strings.Join(list, ", "), found, nil
}

// allowsHeaders reports whether every header a preflight asks for is allowed,
// and the value of Access-Control-Allow-Headers: the names asked for.
func (p *corsPolicy) allowsHeaders(lines []string) (string, bool) {
	var names []string
	for _, line := range lines {
		for _, n := range strings.Split(line, ",") {
			n = strings.TrimSpace(n)
			if n == "" {
				continue
			}
			if !validHeaderName(n) || len(names) == maxRequestedHeaders {
				return "", false
			}
			if !p.anyHeader && !p.headers[strings.ToLower(n)] {
				return "", false
			}
			names = append(names, strings.ToLower(n))
		}
	}
	return strings.Join(names, ", "), true
}

// requestOrigin returns the request's Origin and whether it has one. Several
// Origin lines are an origin that matches nothing.
func requestOrigin(h http.Header) (string, bool) {
	v := h["Origin"]
	switch len(v) {
	case 0:
		return "", false
	case 1:
		return strings.TrimSpace(v[0]), true
	}
	return "", true
}

func addClientVary(x *exchange.Exchange, name string) {
	if x.ClientHeaders == nil {
		x.ClientHeaders = make(http.Header, 4)
	}
	for _, v := range x.ClientHeaders["Vary"] {
		if strings.EqualFold(v, name) {
			return
		}
	}
	x.ClientHeaders["Vary"] = append(x.ClientHeaders["Vary"], name)
}

// emptyOK is API Management's answer to an unmatched cross-origin request
// with terminate-unmatched-request: 200 with no body.
func emptyOK() *exchange.Response {
	return &exchange.Response{StatusCode: 200, StatusReason: "OK", Headers: make(http.Header), Body: exchange.NewBytesBody(nil)}
}

func parseMaxAge(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	return n, err == nil && n >= 0
}

// corsOrigin is an origin as CORS compares them: scheme, host and port, lower
// case, with http's and https's default ports filled in.
type corsOrigin struct {
	scheme, host, port string
}

// parseOrigin parses a serialized origin, scheme://host[:port], and nothing
// else: no user information, path, query or fragment. "null" is not one.
func parseOrigin(s string) (corsOrigin, bool) {
	scheme, rest, ok := strings.Cut(s, "://")
	if !ok || !isScheme(scheme) || rest == "" {
		return corsOrigin{}, false
	}
	host, port, hasPort := rest, "", false
	if strings.HasPrefix(rest, "[") {
		end := strings.IndexByte(rest, ']')
		if end < 0 {
			return corsOrigin{}, false
		}
		host, rest = rest[:end+1], rest[end+1:]
		if !isIPv6Literal(host[1 : len(host)-1]) {
			return corsOrigin{}, false
		}
		if rest != "" {
			if rest[0] != ':' {
				return corsOrigin{}, false
			}
			port, hasPort = rest[1:], true
		}
	} else if i := strings.LastIndexByte(rest, ':'); i >= 0 {
		host, port, hasPort = rest[:i], rest[i+1:], true
	}
	if !isHostName(host) && !strings.HasPrefix(host, "[") {
		return corsOrigin{}, false
	}
	o := corsOrigin{scheme: strings.ToLower(scheme), host: strings.ToLower(host)}
	if hasPort {
		n, err := strconv.Atoi(port)
		if err != nil || n < 0 || n > 65535 || port == "" || port[0] == '+' || port[0] == '-' || len(port) > 5 {
			return corsOrigin{}, false
		}
		o.port = strconv.Itoa(n)
	}
	// A missing port is the scheme's default: https://a.example and
	// https://a.example:443 are the same origin.
	if o.scheme == "http" && o.port == "80" || o.scheme == "https" && o.port == "443" {
		o.port = ""
	}
	return o, true
}

func isScheme(s string) bool {
	if s == "" || !isLetter(s[0]) {
		return false
	}
	for i := 1; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && c != '+' && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

// isHostName accepts DNS names and IPv4 addresses: letters, digits, '-', '.'
// and '_'. Percent-encoding, user information and anything else a browser
// never puts in an origin is refused.
func isHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && c != '-' && c != '.' && c != '_' {
			return false
		}
	}
	return true
}

func isIPv6Literal(s string) bool {
	if s == "" || len(s) > 45 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isDigit(c) && !('a' <= c|0x20 && c|0x20 <= 'f') && c != ':' && c != '.' {
			return false
		}
	}
	return strings.Contains(s, ":")
}

func isLetter(c byte) bool { return 'a' <= c|0x20 && c|0x20 <= 'z' }
func isDigit(c byte) bool  { return '0' <= c && c <= '9' }

// isToken reports whether s is an HTTP token (RFC 9110 section 5.6.2), as a
// method is; header names are validHeaderName's.
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !isLetter(c) && !isDigit(c) && !strings.ContainsRune("!#$%&'*+-.^_`|~", rune(c)) {
			return false
		}
	}
	return true
}

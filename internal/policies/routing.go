package policies

import (
	"context"
	"errors"
	"net/url"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/urlpath"
	"github.com/lastmile-gw/lastmile/internal/urlquery"
)

// set-backend-service changes the base URL the request is forwarded to, keeping the
// operation's path and query.
type setBackendServicePolicy struct {
	baseURL   pipeline.Value
	computed  bool // base-url is an expression: its path may not have dot segments
	backendID pipeline.Value
	byID      bool
	backends  map[string]Backend
}

func (d Deps) setBackendService(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "base-url", "backend-id", "sf-resolve-condition", "sf-service-instance-name",
		"sf-partition-key", "sf-replica-type", "sf-listener-name", "dapr-app-id", "dapr-method", "dapr-namespace")
	for _, a := range el.Attrs {
		if strings.HasPrefix(a.Name, "sf-") {
			return nil, c.Errorf(a.NamePos, "set-backend-service %s (Service Fabric backends) is not supported by lastmile", a.Name)
		}
	}
	for _, a := range el.Attrs {
		if strings.HasPrefix(a.Name, "dapr-") {
			return d.daprBackend(c, el)
		}
	}
	base, hasBase := c.Attr(el, "base-url")
	id, hasID := c.Attr(el, "backend-id")
	switch {
	case hasBase == hasID:
		return nil, c.Errorf(el.Pos, "<set-backend-service> needs exactly one of base-url and backend-id")
	case hasBase:
		lit, ok := base.Literal()
		if ok {
			if _, err := parseBaseURL(lit, urlpath.Clean); err != nil {
				return nil, c.Errorf(el.Attr("base-url").Value.Pos(), "%s", err.Message)
			}
		}
		return &setBackendServicePolicy{baseURL: base, computed: !ok}, nil
	}
	if lit, ok := id.Literal(); ok {
		pos := el.Attr("backend-id").Value.Pos()
		name, b, found := lookupBackend(d.Backends, lit)
		if !found {
			return nil, c.Errorf(pos, "backend %q does not exist; add backends/%s/backendInformation.json", lit, lit)
		}
		names := []string{name}
		if b.Pool != nil {
			names = names[:0]
			for _, m := range b.Pool.Members() {
				names = append(names, m.ID)
			}
		}
		for _, name := range names {
			if _, err := parseBaseURL(d.Backends[name].URL, urlpath.Clean); err != nil {
				return nil, c.Errorf(pos, "backend %q: %s; fix url in backends/%s/backendInformation.json", name, err.Message, name)
			}
		}
	}
	return &setBackendServicePolicy{backendID: id, byID: true, backends: d.Backends}, nil
}

// lookupBackend finds the backend entity id names, ignoring case as Azure's
// resource names do, and returns its name as the configuration spells it.
func lookupBackend(backends map[string]Backend, id string) (string, Backend, bool) {
	if b, ok := backends[id]; ok {
		return id, b, true
	}
	for name, b := range backends {
		if strings.EqualFold(name, id) {
			return name, b, true
		}
	}
	return id, Backend{}, false
}

// ParseBaseURL parses a backend base URL (an API's serviceUrl, set-backend-service
// base-url, a backend entity's url): an absolute http or https URL whose path
// follows the path rules of internal/urlpath, with its dot segments resolved.
func ParseBaseURL(s string) (*url.URL, error) {
	u, err := parseBaseURL(s, urlpath.Clean)
	if err != nil {
		return nil, errors.New(err.Message)
	}
	return u, nil
}

// parseBaseURL is ParseBaseURL with the error a policy returns, and the path rule
// to apply: urlpath.Clean for a URL written in the configuration, urlpath.Check
// for one an expression computed. A path the rules refuse is the caller's error
// (400): a written one is refused at load, so at request time it comes from an
// expression, usually over request data.
func parseBaseURL(s string, rule func(string) (string, error)) (*url.URL, *pipeline.Error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &pipeline.Error{Reason: "InvalidBackendUrl", Message: "backend URL must be an absolute http or https URL, not " + quoteShort(s)}
	}
	p, err := rule(urlpath.Escaped(u))
	if err != nil {
		return nil, &pipeline.Error{Reason: "InvalidBackendUrl", Message: "backend URL path is not allowed: " + err.Error(), Status: 400, Err: err}
	}
	urlpath.SetPath(u, p)
	return u, nil
}

func quoteShort(s string) string {
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return `"` + s + `"`
}

func (p *setBackendServicePolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	var raw string
	if p.byID {
		id, err := p.backendID.String(x)
		if err != nil {
			return err
		}
		id, b, ok := lookupBackend(p.backends, id)
		if !ok {
			return &pipeline.Error{Reason: "BackendNotFound", Message: "backend " + quoteShort(id) + " does not exist"}
		}
		if id != x.Backend.ID {
			x.Backend.ID, x.Backend.Failed, x.Backend.Tried = id, 0, 0
		}
		if b.Pool != nil {
			// forward-request chooses the member, each time it sends.
			return nil
		}
		raw = b.URL
	} else {
		s, err := p.baseURL.String(x)
		if err != nil {
			return err
		}
		raw = s
		x.Backend.ID, x.Backend.Failed, x.Backend.Tried = "", 0, 0
	}
	rule := urlpath.Clean // a backend entity's url, or a written base-url
	if p.computed {
		rule = urlpath.Check
	}
	u, perr := parseBaseURL(raw, rule)
	if perr != nil {
		return perr
	}
	Retarget(x, u)
	return nil
}

// Retarget points the request at a new base URL, keeping the path suffix below the
// old base and the query. base comes from ParseBaseURL.
func Retarget(x *exchange.Exchange, base *url.URL) {
	suffix := Suffix(x)
	x.Backend.BaseURL = base
	x.Request.URL = JoinURL(base, suffix, x.Request.URL.RawQuery)
}

// Suffix returns the escaped path of the request URL below the backend base URL.
func Suffix(x *exchange.Exchange) string {
	p := urlpath.Escaped(x.Request.URL)
	if x.Backend.BaseURL == nil {
		return p
	}
	bp := strings.TrimSuffix(urlpath.Escaped(x.Backend.BaseURL), "/")
	return strings.TrimPrefix(p, bp)
}

// JoinURL returns base with the escaped path suffix appended and rawQuery as query.
// Both paths must follow the path rules (base from ParseBaseURL, suffix from
// urlpath.Clean): the result is then below base's path, with every escape kept.
func JoinURL(base *url.URL, suffix, rawQuery string) *url.URL {
	u := new(url.URL)
	SetJoinedURL(u, base, suffix, rawQuery)
	return u
}

// SetJoinedURL sets *u to JoinURL(base, suffix, rawQuery), for a caller that
// keeps the URL with the rest of a request's state. u must not be base.
func SetJoinedURL(u, base *url.URL, suffix, rawQuery string) {
	*u = *base
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	p := strings.TrimSuffix(urlpath.Escaped(base), "/")
	if suffix != "" && !strings.HasPrefix(suffix, "/") {
		suffix = "/" + suffix
	}
	p += suffix
	if p == "" {
		p = "/"
	}
	urlpath.SetPath(u, p)
	u.RawQuery = rawQuery
}

// rewrite-uri replaces the path (and adds query parameters) below the backend base
// URL, filling {parameters} from the operation's URL template.
type rewriteURIPolicy struct {
	template    pipeline.Value
	copyUnmatch bool
	// rule is urlpath.Clean for a written template, whose dot segments are
	// resolved, and urlpath.Check for an expression, whose dot segments are refused.
	rule func(string) (string, error)
}

func rewriteURI(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "template", "copy-unmatched-params")
	c.CheckChildren(el)
	t, ok := c.RequiredAttr(el, "template")
	if !ok {
		return nil, nil
	}
	rule := urlpath.Check
	if lit, isLit := t.Literal(); isLit {
		rule = urlpath.Clean
		err := checkTemplate(lit)
		if err == nil {
			// Parameters are data and cannot move the path: check what is written.
			pathPart, _, _ := strings.Cut(lit, "?")
			_, err = rewritePath(pathPart, rule, func(string, bool) (string, error) { return "p", nil })
		}
		if err != nil {
			msg := err.Message
			if errors.Is(err.Err, urlpath.ErrAboveRoot) {
				msg += "; the path is below the backend's base URL: use set-backend-service to change the base"
			}
			return nil, c.Errorf(el.Attr("template").Value.Pos(), "%s", msg)
		}
	}
	return &rewriteURIPolicy{template: t, copyUnmatch: c.BoolAttr(el, "copy-unmatched-params", true), rule: rule}, nil
}

func checkTemplate(t string) *pipeline.Error {
	depth := 0
	for _, r := range t {
		switch r {
		case '{':
			depth++
		case '}':
			depth--
		}
		if depth < 0 || depth > 1 {
			return &pipeline.Error{Reason: "InvalidTemplate", Message: "rewrite-uri template has unbalanced braces: " + quoteShort(t)}
		}
	}
	if depth != 0 {
		return &pipeline.Error{Reason: "InvalidTemplate", Message: "rewrite-uri template has unbalanced braces: " + quoteShort(t)}
	}
	return nil
}

func (p *rewriteURIPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	t, err := p.template.String(x)
	if err != nil {
		return err
	}
	if perr := checkTemplate(t); perr != nil {
		return perr
	}
	pathPart, queryPart, _ := strings.Cut(t, "?")
	path, perr := rewritePath(pathPart, p.rule, func(name string, wildcard bool) (string, error) {
		return pathParameter(&x.Request, name, wildcard)
	})
	if perr != nil {
		return perr
	}
	// The template's query is kept as written (its escapes are the author's,
	// such as a SAS token's), with {name} filled in escaped; then come the
	// request's parameters the template neither matched nor set, as the
	// client sent them.
	var pieces []string
	set := map[string]bool{}
	if queryPart != "" {
		escaped := func(name string, _ bool) (string, error) {
			return url.QueryEscape(x.Request.MatchedParameters[name]), nil
		}
		for _, kv := range strings.Split(queryPart, "&") {
			if kv == "" {
				continue
			}
			kv, _ = expandTemplate(kv, escaped)
			kv = urlquery.Clean(kv) // an expression's "?q=a b" is still one request line
			pieces = append(pieces, kv)
			set[urlquery.Name(kv)] = true
		}
	}
	if p.copyUnmatch && x.Request.URL.RawQuery != "" {
		for kv := range strings.SplitSeq(x.Request.URL.RawQuery, "&") {
			k := urlquery.Name(kv)
			if _, matched := x.Request.MatchedParameters[k]; kv == "" || matched || set[k] {
				continue
			}
			pieces = append(pieces, kv)
		}
	}
	base := x.Backend.BaseURL
	if base == nil {
		base = &url.URL{Scheme: x.Request.URL.Scheme, Host: x.Request.URL.Host}
	}
	x.Request.URL = JoinURL(base, path, strings.Join(pieces, "&"))
	return nil
}

// rewritePath fills the path part of a rewrite-uri template and applies the path
// rule: dot segments written in the template are resolved, but may not climb
// above the backend's base path; values are data and cannot move the path.
func rewritePath(t string, rule func(string) (string, error), value func(name string, wildcard bool) (string, error)) (string, *pipeline.Error) {
	path, err := expandTemplate(t, value)
	if err == nil {
		path, err = rule(path)
	}
	if err != nil {
		return "", &pipeline.Error{Reason: "InvalidPath", Message: "rewrite-uri path is not allowed: " + err.Error(), Status: 400, Err: err}
	}
	return path, nil
}

// pathParameter is the value of {name} (or {*name}) in a rewrite-uri path: a path
// parameter as the client escaped it, which is already clean, or a decoded value
// escaped as data (a query parameter, or a path parameter without escapes, which
// Segment leaves as it is).
func pathParameter(r *exchange.Request, name string, wildcard bool) (string, error) {
	if v, ok := r.RawParameters[name]; ok {
		return v, nil
	}
	v := r.MatchedParameters[name]
	if !wildcard {
		return urlpath.Segment(v)
	}
	parts := strings.Split(v, "/")
	for i, p := range parts {
		var err error
		if parts[i], err = urlpath.Segment(p); err != nil {
			return "", err
		}
	}
	return strings.Join(parts, "/"), nil
}

// expandTemplate replaces {name} and {*name} with value(name, wildcard).
func expandTemplate(t string, value func(name string, wildcard bool) (string, error)) (string, error) {
	if !strings.Contains(t, "{") {
		return t, nil
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			b.WriteString(t)
			return b.String(), nil
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			b.WriteString(t)
			return b.String(), nil
		}
		b.WriteString(t[:i])
		name, wildcard := strings.CutPrefix(t[i+1:i+j], "*")
		v, err := value(name, wildcard)
		if err != nil {
			return "", err
		}
		b.WriteString(v)
		t = t[i+j+1:]
	}
}

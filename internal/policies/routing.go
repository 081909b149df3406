package policies

import (
	"context"
	"net/url"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// set-backend-service changes the base URL the request is forwarded to, keeping the
// operation's path and query.
type setBackendServicePolicy struct {
	baseURL   pipeline.Value
	backendID pipeline.Value
	byID      bool
	backends  map[string]Backend
}

func (d Deps) setBackendService(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "base-url", "backend-id", "sf-resolve-condition", "sf-service-instance-name",
		"sf-partition-key", "sf-replica-type", "sf-listener-name", "dapr-app-id", "dapr-method", "dapr-namespace")
	for _, a := range el.Attrs {
		if strings.HasPrefix(a.Name, "sf-") || strings.HasPrefix(a.Name, "dapr-") {
			return nil, c.Errorf(a.NamePos, "set-backend-service %s (Service Fabric and Dapr backends) is not supported by lastmile", a.Name)
		}
	}
	base, hasBase := c.Attr(el, "base-url")
	id, hasID := c.Attr(el, "backend-id")
	switch {
	case hasBase == hasID:
		return nil, c.Errorf(el.Pos, "<set-backend-service> needs exactly one of base-url and backend-id")
	case hasBase:
		if lit, ok := base.Literal(); ok {
			if _, err := parseBaseURL(lit); err != nil {
				return nil, c.Errorf(el.Attr("base-url").Value.Pos(), "%s", err.Message)
			}
		}
		return &setBackendServicePolicy{baseURL: base}, nil
	}
	if lit, ok := id.Literal(); ok {
		b, found := d.Backends[lit]
		if !found {
			return nil, c.Errorf(el.Attr("backend-id").Value.Pos(), "backend %q does not exist; add backends/%s/backendInformation.json", lit, lit)
		}
		if b.URL == "" {
			return nil, c.Errorf(el.Attr("backend-id").Value.Pos(), "backend %q has no url; load-balanced backend pools are not supported yet", lit)
		}
	}
	return &setBackendServicePolicy{backendID: id, byID: true, backends: d.Backends}, nil
}

func parseBaseURL(s string) (*url.URL, *pipeline.Error) {
	u, err := url.Parse(strings.TrimSpace(s))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, &pipeline.Error{Reason: "InvalidBackendUrl", Message: "backend URL must be an absolute http or https URL, not " + quoteShort(s)}
	}
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
		b, ok := p.backends[id]
		if !ok {
			return &pipeline.Error{Reason: "BackendNotFound", Message: "backend " + quoteShort(id) + " does not exist"}
		}
		raw = b.URL
		x.Backend.ID = id
	} else {
		s, err := p.baseURL.String(x)
		if err != nil {
			return err
		}
		raw = s
		x.Backend.ID = ""
	}
	u, perr := parseBaseURL(raw)
	if perr != nil {
		return perr
	}
	Retarget(x, u)
	return nil
}

// Retarget points the request at a new base URL, keeping the path suffix below the
// old base and the query.
func Retarget(x *exchange.Exchange, base *url.URL) {
	suffix := Suffix(x)
	x.Backend.BaseURL = base
	x.Request.URL = JoinURL(base, suffix, x.Request.URL.RawQuery)
}

// Suffix returns the escaped path of the request URL below the backend base URL.
func Suffix(x *exchange.Exchange) string {
	p := x.Request.URL.EscapedPath()
	if x.Backend.BaseURL == nil {
		return p
	}
	bp := strings.TrimSuffix(x.Backend.BaseURL.EscapedPath(), "/")
	return strings.TrimPrefix(p, bp)
}

// JoinURL returns base with the escaped path suffix appended and rawQuery as query.
func JoinURL(base *url.URL, suffix, rawQuery string) *url.URL {
	u := *base
	u.User = nil
	u.Fragment, u.RawFragment = "", ""
	p := strings.TrimSuffix(base.EscapedPath(), "/")
	if suffix != "" && !strings.HasPrefix(suffix, "/") {
		suffix = "/" + suffix
	}
	p += suffix
	if p == "" {
		p = "/"
	}
	if dec, err := url.PathUnescape(p); err == nil {
		u.Path, u.RawPath = dec, p
		if u.EscapedPath() == p {
			u.RawPath = ""
		}
	} else {
		u.Path, u.RawPath = p, ""
	}
	u.RawQuery = rawQuery
	return &u
}

// rewrite-uri replaces the path (and adds query parameters) below the backend base
// URL, filling {parameters} from the operation's URL template.
type rewriteURIPolicy struct {
	template    pipeline.Value
	copyUnmatch bool
}

func rewriteURI(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "template", "copy-unmatched-params")
	c.CheckChildren(el)
	t, ok := c.RequiredAttr(el, "template")
	if !ok {
		return nil, nil
	}
	if lit, isLit := t.Literal(); isLit {
		if err := checkTemplate(lit); err != nil {
			return nil, c.Errorf(el.Attr("template").Value.Pos(), "%s", err.Message)
		}
	}
	return &rewriteURIPolicy{template: t, copyUnmatch: c.BoolAttr(el, "copy-unmatched-params", true)}, nil
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
	path := expandTemplate(pathPart, x.Request.MatchedParameters, url.PathEscape)
	q := url.Values{}
	if queryPart != "" {
		for _, kv := range strings.Split(queryPart, "&") {
			if kv == "" {
				continue
			}
			k, v, _ := strings.Cut(kv, "=")
			q.Add(expandTemplate(k, x.Request.MatchedParameters, nil), expandTemplate(v, x.Request.MatchedParameters, nil))
		}
	}
	if p.copyUnmatch {
		for k, vs := range x.Request.URL.Query() {
			if _, matched := x.Request.MatchedParameters[k]; matched {
				continue
			}
			if _, set := q[k]; set {
				continue
			}
			q[k] = vs
		}
	}
	base := x.Backend.BaseURL
	if base == nil {
		base = &url.URL{Scheme: x.Request.URL.Scheme, Host: x.Request.URL.Host}
	}
	x.Request.URL = JoinURL(base, path, q.Encode())
	return nil
}

// expandTemplate replaces {name} and {*name} with parameters, escaped by esc.
func expandTemplate(t string, params map[string]string, esc func(string) string) string {
	if !strings.Contains(t, "{") {
		return t
	}
	var b strings.Builder
	for {
		i := strings.IndexByte(t, '{')
		if i < 0 {
			b.WriteString(t)
			return b.String()
		}
		j := strings.IndexByte(t[i:], '}')
		if j < 0 {
			b.WriteString(t)
			return b.String()
		}
		b.WriteString(t[:i])
		name := strings.TrimPrefix(t[i+1:i+j], "*")
		v := params[name]
		if esc != nil && !strings.HasPrefix(t[i+1:], "*") {
			v = esc(v)
		}
		b.WriteString(v)
		t = t[i+j+1:]
	}
}

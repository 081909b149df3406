package gateway

import (
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Template is an operation's compiled URL template, such as
// "/orders/{id}/lines/{*rest}?v={v}". Literal path segments compare ignoring
// case, as API Management's do.
type Template struct {
	raw      string
	segs     []segment
	wildcard string   // the {*name} that takes the remaining path, if any
	query    []qparam // required query parameters from the template's ?a={b}
	literals int      // for ordering: more literal segments match first
}

type segment struct {
	lit   string         // a plain literal segment
	param string         // a whole-segment {param}
	re    *regexp.Regexp // a mixed segment such as "{id}.json"
	names []string       // the parameters of re
}

type qparam struct{ name, param, lit string }

var paramRE = regexp.MustCompile(`\{\*?([^{}]+)\}`)

// ParseTemplate compiles an API Management URL template.
func ParseTemplate(raw string) (*Template, error) {
	t := &Template{raw: raw}
	p, q, _ := strings.Cut(raw, "?")
	p = strings.Trim(p, "/")
	if p != "" {
		parts := strings.Split(p, "/")
		for i, s := range parts {
			switch {
			case strings.HasPrefix(s, "{*") && strings.HasSuffix(s, "}") && strings.Count(s, "{") == 1:
				if i != len(parts)-1 {
					return nil, fmt.Errorf("wildcard %s must be the last segment of %q", s, raw)
				}
				t.wildcard = s[2 : len(s)-1]
			case strings.HasPrefix(s, "{") && strings.HasSuffix(s, "}") && strings.Count(s, "{") == 1:
				t.segs = append(t.segs, segment{param: s[1 : len(s)-1]})
			case strings.Contains(s, "{"):
				var b strings.Builder
				b.WriteString("(?i)^")
				var names []string
				last := 0
				for _, m := range paramRE.FindAllStringSubmatchIndex(s, -1) {
					b.WriteString(regexp.QuoteMeta(s[last:m[0]]))
					b.WriteString("(.+?)")
					names = append(names, s[m[2]:m[3]])
					last = m[1]
				}
				b.WriteString(regexp.QuoteMeta(s[last:]))
				b.WriteString("$")
				re, err := regexp.Compile(b.String())
				if err != nil {
					return nil, fmt.Errorf("bad template segment %q in %q", s, raw)
				}
				t.segs = append(t.segs, segment{re: re, names: names})
			default:
				if strings.Contains(s, "}") {
					return nil, fmt.Errorf("unbalanced } in template %q", raw)
				}
				t.segs = append(t.segs, segment{lit: s})
				t.literals++
			}
		}
	}
	if q != "" {
		for _, kv := range strings.Split(q, "&") {
			k, v, _ := strings.Cut(kv, "=")
			qp := qparam{name: k}
			if strings.HasPrefix(v, "{") && strings.HasSuffix(v, "}") {
				qp.param = v[1 : len(v)-1]
			} else {
				qp.lit = v
			}
			t.query = append(t.query, qp)
		}
	}
	return t, nil
}

// setParam sets a path parameter in *params, decoded, and in *raw as the
// client escaped it when that differs. Both maps are made on first use: most
// routes have no parameters, and most paths no escapes.
func setParam(params, raw *map[string]string, name, escaped string) {
	v := unescape(escaped)
	putParam(params, name, v)
	if raw != nil && v != escaped {
		putParam(raw, name, escaped)
	}
}

// match matches the path below the API's path (segments, already split and
// cleaned) and the query. On success it fills *params with the decoded values and,
// when raw is not nil, *raw with the path parameters that had escapes, as the
// client escaped them ({*rest} with its slashes), for rewrite-uri to forward
// unchanged. *raw is made only when needed: most paths have no escapes.
func (t *Template) match(segs []string, query url.Values, params, raw *map[string]string) bool {
	if t.wildcard == "" && len(segs) != len(t.segs) {
		return false
	}
	if t.wildcard != "" && len(segs) < len(t.segs) {
		return false
	}
	for i, s := range t.segs {
		switch {
		case s.re != nil:
			if !s.re.MatchString(segs[i]) {
				return false
			}
		case s.param == "":
			if !literalMatches(s.lit, segs[i]) {
				return false
			}
		}
	}
	for _, qp := range t.query {
		if _, ok := query[qp.name]; !ok {
			return false
		}
		if qp.param == "" && query.Get(qp.name) != qp.lit {
			return false
		}
	}
	for i, s := range t.segs {
		switch {
		case s.re != nil:
			m := s.re.FindStringSubmatch(segs[i])
			for j, n := range s.names {
				setParam(params, raw, n, m[j+1])
			}
		case s.param != "":
			setParam(params, raw, s.param, segs[i])
		}
	}
	if t.wildcard != "" {
		setParam(params, raw, t.wildcard, strings.Join(segs[len(t.segs):], "/"))
	}
	for _, qp := range t.query {
		if qp.param != "" {
			putParam(params, qp.param, query.Get(qp.name))
		}
	}
	return true
}

// literalMatches reports whether the escaped path segment seg is the
// template's literal segment lit, ignoring case, as a backend would read it:
// with its escapes decoded ("%61dmin" is "admin") and without ";parameters"
// ("admin;v=1" is "admin", as Tomcat and JAX-RS read it). Otherwise a
// spelling of /items/admin would match /items/{id}, whose policies are not
// admin's, and reach the backend as admin.
func literalMatches(lit, seg string) bool {
	if strings.EqualFold(lit, seg) {
		return true
	}
	if !strings.ContainsAny(seg, "%;") {
		return false
	}
	seg, _, _ = strings.Cut(seg, ";")
	return strings.EqualFold(unescape(lit), unescape(seg))
}

// putParam sets name in *m, making the map on first use.
func putParam(m *map[string]string, name, v string) {
	if *m == nil {
		*m = make(map[string]string, 2)
	}
	(*m)[name] = v
}

func unescape(s string) string {
	if u, err := url.PathUnescape(s); err == nil {
		return u
	}
	return s
}

// splitPath splits an escaped path into its segments, ignoring leading and trailing
// slashes. "/" and "" have no segments.
func splitPath(p string) []string { return appendSegments(nil, p) }

// appendSegments is splitPath appending to dst, so that the request path can
// split into a stack buffer without allocating.
func appendSegments(dst []string, p string) []string {
	p = strings.Trim(p, "/")
	for p != "" {
		i := strings.IndexByte(p, '/')
		if i < 0 {
			return append(dst, p)
		}
		dst = append(dst, p[:i])
		p = p[i+1:]
	}
	return dst
}

package policies

import (
	"context"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/urlquery"
)

// existsAction is set-header's and set-query-parameter's exists-action.
type existsAction uint8

const (
	override existsAction = iota // the default
	skip
	appendValues
	deleteName
)

func parseExistsAction(c *pipeline.Compiler, el *policyxml.Element) existsAction {
	s, ok := c.LiteralAttr(el, "exists-action")
	if !ok {
		return override
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "override":
		return override
	case "skip":
		return skip
	case "append":
		return appendValues
	case "delete":
		return deleteName
	}
	c.Report(c.Errorf(el.Attr("exists-action").Value.Pos(), "exists-action must be override, skip, append or delete, not %q", s))
	return override
}

// nameValues is what set-header and set-query-parameter share: a name, an
// exists-action and <value> children.
type nameValues struct {
	name   pipeline.Value
	action existsAction
	values []pipeline.Value
}

func compileNameValues(c *pipeline.Compiler, el *policyxml.Element) (nameValues, bool) {
	c.CheckAttrs(el, "name", "exists-action")
	c.CheckChildren(el, "value")
	var nv nameValues
	name, ok := c.RequiredAttr(el, "name")
	if !ok {
		return nv, false
	}
	nv.name = name
	nv.action = parseExistsAction(c, el)
	for _, v := range el.Elements() {
		if v.Name == "value" {
			c.CheckAttrs(v)
			nv.values = append(nv.values, c.Value(v.Text()))
		}
	}
	if len(nv.values) == 0 && nv.action != deleteName {
		c.Report(c.Errorf(el.Pos, "<%s> needs at least one <value> unless exists-action is delete", el.Name))
		return nv, false
	}
	return nv, true
}

func (nv *nameValues) eval(x *exchange.Exchange) (string, []string, error) {
	name, err := nv.name.String(x)
	if err != nil {
		return "", nil, err
	}
	if nv.action == deleteName {
		return name, nil, nil
	}
	vals := make([]string, 0, len(nv.values))
	for _, v := range nv.values {
		s, err := v.String(x)
		if err != nil {
			return "", nil, err
		}
		vals = append(vals, s)
	}
	return name, vals, nil
}

// validHeaderName reports whether name is a header field name: an HTTP token
// (RFC 9110 §5.1, §5.6.2), so no spaces, colons or control characters. It is
// the one rule for every policy that takes a header name; a name that breaks
// it could never be sent, and was silently dropped.
func validHeaderName(name string) bool { return httpguts.ValidHeaderFieldName(name) }

// notHeaderName says why name is not a header name.
func notHeaderName(name string) string {
	if len(name) > 200 {
		name = name[:200] + "..."
	}
	return strconv.Quote(name) + " is not a header name: a header name is a token of letters, digits and !#$%&'*+-.^_`|~, with no spaces or colons"
}

// literalHeaderName reports a header name written in a policy (what says
// where, such as "name of <set-header>") at pos when it is not one, and says
// whether it is.
func literalHeaderName(c *pipeline.Compiler, pos policyxml.Pos, what, name string) bool {
	if validHeaderName(name) {
		return true
	}
	c.Report(c.Errorf(pos, "%s: %s", what, notHeaderName(name)))
	return false
}

// checkHeaderName is the failure of a policy whose expression gave a header
// name that is not one: reason InvalidHeaderName, and on-error runs.
func checkHeaderName(name string) error {
	if validHeaderName(name) {
		return nil
	}
	return &pipeline.Error{Reason: "InvalidHeaderName", Message: notHeaderName(name)}
}

// fixedHeaders cannot be changed by set-header: the gateway owns them.
var fixedHeaders = map[string]bool{"Connection": true, "Content-Length": true, "Keep-Alive": true, "Transfer-Encoding": true}

// multiLineHeaders keep one line per value instead of a comma-separated list.
var multiLineHeaders = map[string]bool{
	"User-Agent": true, "Www-Authenticate": true, "Proxy-Authenticate": true, "Cookie": true,
	"Set-Cookie": true, "Warning": true, "Date": true, "Expires": true, "If-Modified-Since": true,
	"If-Unmodified-Since": true, "Last-Modified": true, "Retry-After": true,
}

type setHeaderPolicy struct {
	nameValues
	response bool // the response headers even in inbound (inside return-response)
}

func setHeader(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	return compileSetHeader(c, el, c.Section()&(pipeline.Outbound|pipeline.OnError) != 0)
}

func compileSetHeader(c *pipeline.Compiler, el *policyxml.Element, response bool) (pipeline.Policy, error) {
	nv, ok := compileNameValues(c, el)
	if !ok {
		return nil, nil
	}
	if lit, isLit := nv.name.Literal(); isLit {
		if !literalHeaderName(c, el.Attr("name").Value.Pos(), "name of <"+el.Name+">", strings.TrimSpace(lit)) {
			return nil, nil
		}
		canon := textproto.CanonicalMIMEHeaderKey(strings.TrimSpace(lit))
		if fixedHeaders[canon] {
			return nil, c.Errorf(el.Attr("name").Value.Pos(), "header %s is managed by the gateway and cannot be set or deleted", canon)
		}
	}
	return &setHeaderPolicy{nameValues: nv, response: response}, nil
}

func (p *setHeaderPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	name, vals, err := p.eval(x)
	if err != nil {
		return err
	}
	var h http.Header
	if p.response {
		if x.Response == nil {
			x.Response = &exchange.Response{StatusCode: 200, StatusReason: "OK"}
		}
		if x.Response.Headers == nil {
			x.Response.Headers = make(http.Header)
		}
		h = x.Response.Headers
	} else {
		h = x.Request.Headers
	}
	name = strings.TrimSpace(name)
	if err := checkHeaderName(name); err != nil {
		return err
	}
	key := textproto.CanonicalMIMEHeaderKey(name)
	if fixedHeaders[key] {
		return &pipeline.Error{Reason: "HeaderNotAllowed", Message: "header " + key + " is managed by the gateway and cannot be set or deleted"}
	}
	applyValues(h, key, p.action, vals, multiLineHeaders[key])
	return nil
}

// applyValues applies an exists-action to a header or query map. Values are one
// comma-separated line unless multiLine.
func applyValues(m map[string][]string, key string, action existsAction, vals []string, multiLine bool) {
	if !multiLine && len(vals) > 1 {
		vals = []string{strings.Join(vals, ",")}
	}
	switch action {
	case deleteName:
		delete(m, key)
	case skip:
		if _, ok := m[key]; !ok {
			m[key] = vals
		}
	case appendValues:
		m[key] = append(m[key], vals...)
	default:
		m[key] = vals
	}
}

type setQueryParameterPolicy struct{ nameValues }

func setQueryParameter(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	nv, ok := compileNameValues(c, el)
	if !ok {
		return nil, nil
	}
	return &setQueryParameterPolicy{nv}, nil
}

func (p *setQueryParameterPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	name, vals, err := p.eval(x)
	if err != nil {
		return err
	}
	// Query parameters always keep one entry per value; the others keep their
	// bytes and places.
	u := x.Request.URL
	switch p.action {
	case deleteName:
		u.RawQuery = urlquery.Del(u.RawQuery, name)
	case skip:
		if !urlquery.Has(u.RawQuery, name) {
			u.RawQuery = urlquery.Set(u.RawQuery, name, vals)
		}
	case appendValues:
		u.RawQuery = urlquery.Add(u.RawQuery, name, vals)
	default:
		u.RawQuery = urlquery.Set(u.RawQuery, name, vals)
	}
	return nil
}

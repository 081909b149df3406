package policies

import (
	"context"
	"encoding/json"
	"net/http"
	"path"
	"strconv"
	"strings"

	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/expr"
	"github.com/lastmile-gw/lastmile/internal/graphql"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/urlquery"
)

// ReasonGraphQLRequestError is context.LastError.Reason when
// validate-graphql-request refuses a request.
const ReasonGraphQLRequestError = "GraphQLRequestError"

// graphQLErrorsVar is the variable every GraphQL validation error goes to, as
// in API Management.
const graphQLErrorsVar = "GraphQLErrors"

// maxGraphQLSize is API Management's largest max-size.
const maxGraphQLSize = 102400

// validateGraphQLPolicy is validate-graphql-request: the request is checked
// against the API's schema, then each field of its operation against the
// <authorize> rules, which allow, remove or reject it.
type validateGraphQLPolicy struct {
	errorsVar string
	maxSize   int64
	maxDepth  int
	rules     []graphQLRule
}

type graphQLRule struct {
	typ, field string // path.Match patterns; typ "" names the operation's root type
	action     pipeline.Value
}

func validateGraphQLRequest(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "error-variable-name", "max-size", "max-depth")
	c.CheckChildren(el, "authorize")
	c.CheckOnce(el, "authorize")
	p := &validateGraphQLPolicy{maxDepth: 6}
	if v, ok := c.LiteralAttr(el, "error-variable-name"); ok {
		p.errorsVar = strings.TrimSpace(v)
	}
	if v, ok := c.LiteralAttr(el, "max-size"); !ok {
		c.Report(c.Errorf(el.Pos, "<validate-graphql-request> needs a max-size attribute: the largest request body in bytes, at most 102400"))
	} else if n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64); err != nil || n < 1 || n > maxGraphQLSize {
		c.Report(c.Errorf(el.Attr("max-size").Value.Pos(), "max-size of <validate-graphql-request> must be a number of bytes from 1 to 102400, not %q", v))
	} else {
		p.maxSize = n
	}
	if v, ok := c.LiteralAttr(el, "max-depth"); ok {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || n > 100 {
			c.Report(c.Errorf(el.Attr("max-depth").Value.Pos(), "max-depth of <validate-graphql-request> must be a whole number from 1 to 100, not %q", v))
		}
		p.maxDepth = n
	}
	for _, auth := range el.Elements() {
		if auth.Name != "authorize" {
			continue
		}
		c.CheckAttrs(auth)
		c.CheckChildren(auth, "rule")
		for _, r := range auth.Elements() {
			if r.Name != "rule" {
				continue
			}
			c.CheckAttrs(r, "path", "action")
			c.CheckChildren(r)
			raw, ok := c.LiteralAttr(r, "path")
			if !ok {
				c.Report(c.Errorf(r.Pos, "<rule> needs a path attribute such as /Query/users or /__*"))
				continue
			}
			rule, err := parseGraphQLPath(raw)
			if err != "" {
				c.Report(c.Errorf(r.Attr("path").Value.Pos(), "path of <rule> %s, not %q", err, raw))
				continue
			}
			rule.action = pipeline.Literal("allow")
			if v, ok := c.Attr(r, "action"); ok {
				rule.action = v
				if lit, isLit := v.Literal(); isLit {
					if _, err := graphQLAction(lit); err != nil {
						c.Report(c.Errorf(r.Attr("action").Value.Pos(), "action of <rule> %s", err.Message))
					}
				}
			}
			p.rules = append(p.rules, rule)
		}
	}
	return p, nil
}

// parseGraphQLPath reads a rule's path: /Type/field, or /field for a field
// of the operation's root type (/__* is the introspection system's
// __schema and __type). Segments may use * wildcards.
func parseGraphQLPath(s string) (graphQLRule, string) {
	segs := strings.Split(strings.TrimPrefix(strings.TrimSpace(s), "/"), "/")
	if !strings.HasPrefix(strings.TrimSpace(s), "/") || len(segs) > 2 {
		return graphQLRule{}, "must be /type/field or /field"
	}
	for _, seg := range segs {
		if seg == "" || strings.Trim(seg, "*_0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ") != "" {
			return graphQLRule{}, "must be /type/field or /field, names of letters, digits and _ with * wildcards"
		}
	}
	if len(segs) == 1 {
		return graphQLRule{field: segs[0]}, ""
	}
	return graphQLRule{typ: segs[0], field: segs[1]}, ""
}

func graphQLAction(s string) (graphql.Action, *pipeline.Error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "allow":
		return graphql.Allow, nil
	case "remove":
		return graphql.Remove, nil
	case "reject", "deny": // "deny" is in Microsoft's second example
		return graphql.Reject, nil
	case "ignore":
		return graphql.Ignore, nil
	}
	return 0, &pipeline.Error{Reason: "InvalidAction", Message: "must be allow, remove, reject or ignore, not " + quoteShort(s)}
}

func (p *validateGraphQLPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	if x.WebSocket {
		// Operations inside a WebSocket (graphql-ws subscriptions, and
		// queries and mutations too) are frames the gateway does not
		// read: refused, so that no rule can be bypassed that way.
		return p.refuse(x, gqlerror.List{gqlerror.Errorf("GraphQL over WebSocket is not validated by this gateway; use HTTP, or remove validate-graphql-request from this API")}, http.StatusBadRequest)
	}
	if x.API == nil || x.API.GraphQL == nil {
		return &pipeline.Error{Reason: "NoGraphQLSchema", Message: "validate-graphql-request applies to GraphQL APIs with a schema (the API's specification.graphql); this API has none"}
	}
	body, tooBig, err := p.readBody(x.Request.Body)
	if err != nil {
		return err
	}
	if tooBig {
		return p.refuse(x, gqlerror.List{gqlerror.Errorf("the request body is over the limit of %d bytes", p.maxSize)}, http.StatusRequestEntityTooLarge)
	}
	var q map[string][]string
	if x.Request.URL != nil && x.Request.URL.RawQuery != "" {
		q = expr.ParseQuery(x.Request.URL.RawQuery)
	}
	req, derr := graphql.DecodeRequest(x.Request.Method, x.Request.Headers.Get("Content-Type"), q, body)
	if derr != nil {
		return p.refuse(x, gqlerror.List{gqlerror.Errorf("%s", derr.Error())}, http.StatusBadRequest)
	}
	actions := make([]*graphql.Action, len(p.rules)) // each rule's action, evaluated once
	decide := func(typ, field string) (graphql.Action, error) {
		root := isRootType(typ)
		for i, r := range p.rules {
			if r.typ == "" && !root || !globMatch(r.typ, typ) || !globMatch(r.field, field) {
				continue
			}
			if actions[i] == nil {
				s, err := r.action.String(x)
				if err != nil {
					return 0, err
				}
				a, perr := graphQLAction(s)
				if perr != nil {
					perr.Message = "validate-graphql-request: the action of rule " + strconv.Itoa(i+1) + " " + perr.Message
					return 0, perr
				}
				actions[i] = &a
			}
			if *actions[i] != graphql.Ignore {
				return *actions[i], nil
			}
		}
		return graphql.Allow, nil
	}
	res, err := x.API.GraphQL.Check(req, p.maxDepth, decide)
	if err != nil {
		return err
	}
	if len(res.Errors) > 0 {
		return p.refuse(x, res.Errors, http.StatusBadRequest)
	}
	if len(res.Removed) == 0 {
		return nil
	}
	p.record(x, res.Removed)
	// The backend gets the query without the removed fields; the client gets
	// a field error for each, added to the backend's errors.
	req.Query = res.Query
	if err := rewriteGraphQLRequest(x, req); err != nil {
		return err
	}
	removed := res.Removed
	x.Defer(func(context.Context) error { return addGraphQLErrors(x.Response, removed) })
	return nil
}

// isRootType reports whether typ is an operation's root type by its
// conventional name.
func isRootType(typ string) bool {
	return typ == "Query" || typ == "Mutation" || typ == "Subscription"
}

// globMatch matches a rule's segment; "" (a /field rule's type) matches any.
func globMatch(pattern, name string) bool {
	if pattern == "" {
		return true
	}
	ok, _ := path.Match(pattern, name)
	return ok
}

// readBody reads the request body up to max-size, keeping it for the backend.
func (p *validateGraphQLPolicy) readBody(b *exchange.Body) (data []byte, tooBig bool, err error) {
	if b == nil {
		return nil, false, nil
	}
	const failed = "validate-graphql-request could not read the request body"
	n, err := bodySize(b, p.maxSize)
	if err != nil {
		return nil, false, pipeline.BodyFailure(failed, err)
	}
	if n < 0 || n > p.maxSize {
		return nil, true, nil
	}
	if data, err = b.Bytes(true); err != nil {
		return nil, false, pipeline.BodyFailure(failed, err)
	}
	return data, false, nil
}

// refuse answers with a GraphQL errors block and no data, after recording the
// errors.
func (p *validateGraphQLPolicy) refuse(x *exchange.Exchange, errs gqlerror.List, status int) error {
	p.record(x, errs)
	body, _ := json.Marshal(struct {
		Errors gqlerror.List `json:"errors"`
	}{errs})
	h := make(http.Header, 1)
	h.Set("Content-Type", "application/json; charset=utf-8")
	return &pipeline.Error{Reason: ReasonGraphQLRequestError, Message: errs[0].Message, Status: status, Header: h, Body: body}
}

// record appends errs to GraphQLErrors and to the policy's variable, as a
// JArray of GraphQL error objects.
func (p *validateGraphQLPolicy) record(x *exchange.Exchange, errs gqlerror.List) {
	for _, name := range []string{graphQLErrorsVar, p.errorsVar} {
		if name == "" {
			continue
		}
		list := errorsList(x, name)
		for _, e := range errs {
			data, _ := json.Marshal(e)
			if tok, err := expr.ParseJToken(string(data)); err == nil {
				list.Append(tok)
			}
		}
	}
}

// rewriteGraphQLRequest puts req back in the request in the form the client
// sent: JSON, application/graphql, or the URL's query for a GET.
func rewriteGraphQLRequest(x *exchange.Exchange, req graphql.Request) error {
	if x.Request.Method == http.MethodGet || x.Request.Method == http.MethodHead {
		u := *x.Request.URL
		u.RawQuery = urlquery.Set(u.RawQuery, "query", []string{req.Query})
		x.Request.URL = &u
		return nil
	}
	var data []byte
	if strings.HasPrefix(strings.ToLower(x.Request.Headers.Get("Content-Type")), "application/graphql") {
		data = []byte(req.Query)
	} else {
		var err error
		if data, err = json.Marshal(req); err != nil {
			return &pipeline.Error{Reason: ReasonGraphQLRequestError, Message: "validate-graphql-request could not encode the request", Err: err}
		}
	}
	setBodyBytes(&x.Request.Body, data)
	return nil
}

// addGraphQLErrors adds the removed fields' errors to a JSON response's
// errors list. A response that is not a JSON object is left alone.
func addGraphQLErrors(resp *exchange.Response, errs gqlerror.List) error {
	if resp == nil || resp.Body == nil || !isJSON(resp.Headers.Get("Content-Type")) || resp.Headers.Get("Content-Encoding") != "" {
		return nil
	}
	data, err := resp.Body.Bytes(true)
	if err != nil {
		return nil // too big to rewrite: sent as it is
	}
	var doc map[string]json.RawMessage
	if json.Unmarshal(data, &doc) != nil {
		return nil
	}
	var list []json.RawMessage
	if raw, ok := doc["errors"]; ok && json.Unmarshal(raw, &list) != nil {
		return nil
	}
	for _, e := range errs {
		b, _ := json.Marshal(e)
		list = append(list, b)
	}
	doc["errors"], _ = json.Marshal(list)
	out, err := json.Marshal(doc)
	if err != nil {
		return nil
	}
	setBodyBytes(&resp.Body, out)
	return nil
}

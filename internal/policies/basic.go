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

// set-variable stores a value in context.Variables.
type setVariablePolicy struct {
	name  string
	value pipeline.Value
}

func setVariable(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "name", "value")
	c.CheckChildren(el)
	name, ok := c.LiteralAttr(el, "name")
	if !ok {
		if el.Attr("name") == nil {
			return nil, c.Errorf(el.Pos, "<set-variable> needs a name attribute")
		}
		return nil, nil
	}
	v, ok := c.RequiredAttr(el, "value")
	if !ok {
		return nil, nil
	}
	return &setVariablePolicy{name: name, value: v}, nil
}

func (p *setVariablePolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	v, err := p.value.Any(x)
	if err != nil {
		return err
	}
	x.SetVar(p.name, v)
	return nil
}

// set-status sets the response status code and reason.
type setStatusPolicy struct {
	code, reason pipeline.Value
	hasReason    bool
}

func setStatus(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "code", "reason")
	c.CheckChildren(el)
	code, ok := c.RequiredAttr(el, "code")
	if !ok {
		return nil, nil
	}
	if lit, isLit := code.Literal(); isLit {
		if _, err := parseStatus(lit); err != nil {
			return nil, c.Errorf(el.Attr("code").Value.Pos(), "%s", err.Message)
		}
	}
	reason, hasReason := c.Attr(el, "reason")
	return &setStatusPolicy{code: code, reason: reason, hasReason: hasReason}, nil
}

// parseStatus reads the status code of a response a policy makes (set-status,
// check-header's and validate-jwt's failures, mock-response): a final status,
// from 200 to 999. A 1xx is an interim response (RFC 9110 §15.2), which always
// comes before a final one: as a policy's answer, the client would get it and
// then a 200 without the body, or nothing it could use.
func parseStatus(s string) (int, *pipeline.Error) {
	n, err := strconv.Atoi(strings.TrimSpace(s))
	switch {
	case err == nil && n >= 100 && n <= 199:
		return 0, &pipeline.Error{Reason: "InvalidStatusCode", Message: "status code " + strconv.Itoa(n) + " is an interim (1xx) response, which a policy cannot send; use a final status from 200 to 999"}
	case err != nil || n < 200 || n > 999:
		return 0, &pipeline.Error{Reason: "InvalidStatusCode", Message: "status code must be a number from 200 to 999, not " + strconv.Quote(s)}
	}
	return n, nil
}

func (p *setStatusPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	s, err := p.code.String(x)
	if err != nil {
		return err
	}
	code, perr := parseStatus(s)
	if perr != nil {
		return perr
	}
	reason := http.StatusText(code)
	if p.hasReason {
		if reason, err = p.reason.String(x); err != nil {
			return err
		}
	}
	if x.Response == nil {
		x.Response = &exchange.Response{Headers: make(http.Header)}
	}
	x.Response.StatusCode, x.Response.StatusReason = code, reason
	return nil
}

// set-method changes the request's HTTP method.
type setMethodPolicy struct{ method pipeline.Value }

func setMethod(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el)
	c.CheckChildren(el)
	v := c.Value(el.Text())
	if lit, ok := v.Literal(); ok && !validMethod(strings.TrimSpace(lit)) {
		return nil, c.Errorf(el.Pos, "<set-method> needs an HTTP method such as GET or POST, not %q", lit)
	}
	return &setMethodPolicy{method: v}, nil
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for _, r := range m {
		if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r == '-') {
			return false
		}
	}
	return true
}

func (p *setMethodPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	m, err := p.method.String(x)
	if err != nil {
		return err
	}
	m = strings.TrimSpace(m)
	if !validMethod(m) {
		return &pipeline.Error{Reason: "InvalidMethod", Message: "set-method produced an invalid HTTP method " + strconv.Quote(m)}
	}
	x.Request.Method = strings.ToUpper(m)
	return nil
}

// set-body replaces the request body (inbound, backend) or the response body
// (outbound, on-error).
type setBodyPolicy struct {
	body     pipeline.Value
	response bool
}

func setBody(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	return compileSetBody(c, el, c.Section()&(pipeline.Outbound|pipeline.OnError) != 0, false)
}

// compileSetBody compiles set-body; inReturn says it is inside
// return-response, where a Liquid template has no body to read.
func compileSetBody(c *pipeline.Compiler, el *policyxml.Element, response, inReturn bool) (pipeline.Policy, error) {
	c.CheckAttrs(el, "template", "xsi-nil", "parse-date")
	if t, ok := c.LiteralAttr(el, "template"); ok {
		switch strings.TrimSpace(t) {
		case "liquid":
			return compileLiquidBody(c, el, response, inReturn)
		case "none", "":
		default:
			return nil, c.Errorf(el.Attr("template").Value.Pos(), "set-body template must be liquid (or none), not %q", t)
		}
	}
	var v pipeline.Value
	if len(el.Elements()) > 0 {
		// An XML payload written inline is literal text.
		v = pipeline.Literal(el.InnerXML())
	} else {
		v = c.Value(el.Text())
	}
	return &setBodyPolicy{body: v, response: response}, nil
}

func (p *setBodyPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	b, err := p.body.Bytes(x)
	if err != nil {
		return err
	}
	if p.response {
		if x.Response == nil {
			x.Response = &exchange.Response{StatusCode: 200, StatusReason: "OK", Headers: make(http.Header)}
		}
		setBodyBytes(&x.Response.Body, b)
		return nil
	}
	setBodyBytes(&x.Request.Body, b)
	return nil
}

func setBodyBytes(b **exchange.Body, p []byte) {
	if *b == nil {
		*b = exchange.NewBytesBody(p)
		return
	}
	(*b).Set(p)
}

// find-and-replace replaces text in the request or response body.
type findAndReplacePolicy struct {
	from, to pipeline.Value
	response bool
}

func findAndReplace(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "from", "to")
	c.CheckChildren(el)
	from, ok1 := c.RequiredAttr(el, "from")
	to, ok2 := c.RequiredAttr(el, "to")
	if !ok1 || !ok2 {
		return nil, nil
	}
	if lit, ok := from.Literal(); ok && lit == "" {
		return nil, c.Errorf(el.Attr("from").Value.Pos(), "find-and-replace from must not be empty")
	}
	return &findAndReplacePolicy{from: from, to: to, response: c.Section()&(pipeline.Outbound|pipeline.OnError) != 0}, nil
}

func (p *findAndReplacePolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	body := x.Request.Body
	if p.response {
		body = nil
		if x.Response != nil {
			body = x.Response.Body
		}
	}
	if body == nil {
		return nil
	}
	from, err := p.from.String(x)
	if err != nil {
		return err
	}
	to, err := p.to.String(x)
	if err != nil {
		return err
	}
	data, err := body.Bytes(true)
	if err != nil {
		return pipeline.BodyFailure("find-and-replace", err)
	}
	if from == "" || !strings.Contains(string(data), from) {
		return nil
	}
	body.Set([]byte(strings.ReplaceAll(string(data), from, to)))
	return nil
}

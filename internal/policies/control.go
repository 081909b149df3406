package policies

import (
	"context"
	"maps"
	"net/http"
	"strconv"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// choose runs the first <when> whose condition is true, else <otherwise>.
type choosePolicy struct {
	whens     []whenBranch
	otherwise []pipeline.Step
}

type whenBranch struct {
	cond  pipeline.Value
	steps []pipeline.Step
}

func choose(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el)
	p := &choosePolicy{}
	sawOtherwise := false
	nWhen := 0
	for _, ch := range el.Elements() {
		switch ch.Name {
		case "when":
			if sawOtherwise {
				c.Report(c.Errorf(ch.Pos, "<when> must come before <otherwise>"))
			}
			nWhen++
			c.CheckAttrs(ch, "condition")
			cond, _ := c.Condition(ch, "condition")
			var steps []pipeline.Step
			c.Nested("when["+strconv.Itoa(nWhen)+"]", func() { steps = c.Block(ch) })
			p.whens = append(p.whens, whenBranch{cond: cond, steps: steps})
		case "otherwise":
			if sawOtherwise {
				c.Report(c.Errorf(ch.Pos, "<choose> has more than one <otherwise>"))
			}
			sawOtherwise = true
			c.CheckAttrs(ch)
			c.Nested("otherwise", func() { p.otherwise = c.Block(ch) })
		default:
			c.Report(c.Errorf(ch.Pos, "unexpected <%s> in <choose>; expected <when> or <otherwise>", ch.Name))
		}
	}
	if nWhen == 0 {
		return nil, c.Errorf(el.Pos, "<choose> needs at least one <when condition=\"...\">")
	}
	return p, nil
}

func (p *choosePolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	for i := range p.whens {
		ok, err := p.whens[i].cond.Bool(x)
		if err != nil {
			return err
		}
		if ok {
			return pipeline.RunSteps(ctx, x, p.whens[i].steps)
		}
	}
	return pipeline.RunSteps(ctx, x, p.otherwise)
}

// return-response stops the pipeline and answers the caller, by default with
// 200 OK and no body.
type returnResponsePolicy struct {
	variable string
	children []pipeline.Policy // set-status, set-header and set-body on the response
}

func returnResponse(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "response-variable-name")
	p := &returnResponsePolicy{}
	p.variable, _ = c.LiteralAttr(el, "response-variable-name")
	for _, ch := range el.Elements() {
		var (
			pol pipeline.Policy
			err error
		)
		switch ch.Name {
		case "set-status":
			pol, err = setStatus(c, ch)
		case "set-header":
			pol, err = compileSetHeader(c, ch, true)
		case "set-body":
			pol, err = compileSetBody(c, ch, true, true)
		default:
			c.Report(c.Errorf(ch.Pos, "unexpected <%s> in <return-response>; expected <set-status>, <set-header> or <set-body>", ch.Name))
			continue
		}
		if err != nil {
			c.Report(err)
			continue
		}
		if pol != nil {
			p.children = append(p.children, pol)
		}
	}
	return p, nil
}

func (p *returnResponsePolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	resp := &exchange.Response{StatusCode: 200, StatusReason: "OK", Headers: make(http.Header)}
	if p.variable != "" {
		v, ok := x.Var(p.variable)
		if !ok {
			return &pipeline.Error{Reason: "VariableNotFound", Message: "return-response: variable " + p.variable + " is not set"}
		}
		r, ok := v.(*exchange.Response)
		if !ok || r == nil {
			return &pipeline.Error{Reason: "VariableTypeMismatch", Message: "return-response: variable " + p.variable + " does not hold a response"}
		}
		resp = &exchange.Response{StatusCode: r.StatusCode, StatusReason: r.StatusReason, Headers: maps.Clone(r.Headers), Body: r.Body}
		if resp.Headers == nil {
			resp.Headers = make(http.Header)
		}
	}
	if old := x.Response; old != nil && old.Body != resp.Body {
		// A backend's answer it replaces, unread, would keep its connection.
		old.Body.Close()
	}
	x.Response = resp
	for _, ch := range p.children {
		if err := ch.Apply(ctx, x); err != nil {
			return err
		}
	}
	return pipeline.ErrReturn
}

package policies

import (
	"context"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// check-header refuses a request that lacks a header, or whose header has none of
// the allowed values, with the configured status and message. Without <value>
// children it only checks that the header is there. A header sent on several
// lines passes only when every line has an allowed value, so that a second line
// cannot smuggle a forbidden value past the check.
type checkHeaderPolicy struct {
	name, status, message pipeline.Value
	ignoreCase            pipeline.Value
	values                []pipeline.Value
}

func checkHeader(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "name", "failed-check-httpcode", "failed-check-error-message", "ignore-case")
	c.CheckChildren(el, "value")
	p := &checkHeaderPolicy{}
	var ok [4]bool
	p.name, ok[0] = c.RequiredAttr(el, "name")
	p.status, ok[1] = c.RequiredAttr(el, "failed-check-httpcode")
	p.message, ok[2] = c.RequiredAttr(el, "failed-check-error-message")
	if el.Attr("ignore-case") == nil {
		c.Report(c.Errorf(el.Pos, "<check-header> needs an ignore-case attribute (true or false)"))
	} else {
		p.ignoreCase, ok[3] = c.BoolValue(el, "ignore-case", false), true
	}
	if ok[1] {
		if lit, isLit := p.status.Literal(); isLit {
			if _, perr := parseStatus(lit); perr != nil {
				c.Report(c.Errorf(el.Attr("failed-check-httpcode").Value.Pos(), "failed-check-httpcode of <check-header>: %s", perr.Message))
			}
		}
	}
	if ok[0] {
		if lit, isLit := p.name.Literal(); isLit {
			ok[0] = literalHeaderName(c, el.Attr("name").Value.Pos(), "name of <check-header>", strings.TrimSpace(lit))
		}
	}
	for _, v := range el.Elements() {
		if v.Name == "value" {
			c.CheckAttrs(v)
			c.CheckChildren(v)
			p.values = append(p.values, c.Value(v.Text()))
		}
	}
	if ok != [4]bool{true, true, true, true} {
		return nil, nil
	}
	return p, nil
}

func (p *checkHeaderPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	name, err := p.name.String(x)
	if err != nil {
		return err
	}
	name = strings.TrimSpace(name)
	if err := checkHeaderName(name); err != nil {
		return err
	}
	got := x.Request.Headers.Values(name)
	if len(got) == 0 {
		return p.fail(x, "HeaderNotFound", "Header "+name+" was not found in the request. Access denied.")
	}
	if len(p.values) == 0 {
		return nil
	}
	fold, err := p.ignoreCase.Bool(x)
	if err != nil {
		return err
	}
	allowed := make([]string, len(p.values))
	for i, v := range p.values {
		s, err := v.String(x)
		if err != nil {
			return err
		}
		allowed[i] = strings.TrimSpace(s)
	}
	for _, line := range got {
		if !matchesAny(strings.TrimSpace(line), allowed, fold) {
			// API Management's message names the value, too; the value may be a
			// credential (check-header often guards a shared key), so it is left
			// out of a message that reaches logs.
			return p.fail(x, "HeaderValueNotAllowed", "Header "+name+" value is not allowed. Access denied.")
		}
	}
	return nil
}

func matchesAny(s string, allowed []string, fold bool) bool {
	for _, a := range allowed {
		if s == a || fold && strings.EqualFold(s, a) {
			return true
		}
	}
	return false
}

// fail returns the check's error: LastError gets API Management's reason and
// message, the caller the configured status and message.
func (p *checkHeaderPolicy) fail(x *exchange.Exchange, reason, msg string) error {
	s, err := p.status.String(x)
	if err != nil {
		return err
	}
	code, perr := parseStatus(s)
	if perr != nil {
		return perr
	}
	public, err := p.message.String(x)
	if err != nil {
		return err
	}
	return &pipeline.Error{Reason: reason, Message: msg, Status: code, Public: public}
}

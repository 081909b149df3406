package policies

import (
	"context"
	"errors"
	"slices"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// wait runs its children (send-request, cache-lookup-value, choose) at the same
// time, and goes on when all of them completed (for="all", the default) or the
// first one did (for="any").
//
// The exchange has no locks, so each child runs on its own view of it
// (exchange.Fork): the request, the response and the context objects are
// shared for reading, the variables are the child's own copy, and buffered
// bodies are forked so that each child reads and consumes them on its own.
// Afterwards the views are joined back in the order the children are written:
// a variable a child set is set (the later child wins when two set the same
// one), and a body a child consumed is consumed. With for="any" only the first
// child to complete is joined and the others are cancelled; their variables
// are discarded. Children that may read a body (an expression that mentions
// Body, a send-request whose mode is not new) get the bodies buffered before
// they start, since a stream cannot be shared.
type waitPolicy struct {
	any         bool
	steps       []pipeline.Step
	readsBodies bool
}

// waitChildren are the policies wait may hold directly, as in API Management;
// inChoose are those its choose branches may hold: only policies that change
// nothing but variables, which the views keep apart.
var (
	waitChildren = []string{"send-request", "cache-lookup-value", "choose"}
	inChoose     = []string{"send-request", "cache-lookup-value", "choose", "set-variable"}
)

func wait(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "for")
	p := &waitPolicy{}
	if v, ok := c.LiteralAttr(el, "for"); ok {
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "all":
		case "any":
			p.any = true
		default:
			return nil, c.Errorf(el.Attr("for").Value.Pos(), `for of <wait> must be all or any, not %q`, v)
		}
	}
	for _, ch := range el.Elements() {
		checkWaitChild(c, ch, waitChildren, "<wait>")
	}
	p.steps = c.Block(el)
	if len(el.Elements()) == 0 {
		return nil, c.Errorf(el.Pos, "<wait> needs policies to wait for: send-request, cache-lookup-value or choose")
	}
	p.readsBodies = mayReadBodies(el)
	return p, nil
}

// checkWaitChild reports a policy that cannot run beside others under wait.
func checkWaitChild(c *pipeline.Compiler, el *policyxml.Element, allowed []string, in string) {
	if !slices.Contains(allowed, el.Name) {
		c.Report(c.Errorf(el.Pos, "<%s> cannot run in %s, whose policies run at the same time; it takes %s", el.Name, in, strings.Join(allowed, ", ")))
		return
	}
	if el.Name != "choose" {
		return
	}
	for _, branch := range el.Elements() {
		for _, ch := range branch.Elements() {
			checkWaitChild(c, ch, inChoose, "a <choose> in <wait>")
		}
	}
}

// mayReadBodies reports whether a policy under el may read a message body.
func mayReadBodies(el *policyxml.Element) bool {
	reads := func(v policyxml.Value) bool { return v.IsExpression() && strings.Contains(v.String(), "Body") }
	for _, a := range el.Attrs {
		if reads(a.Value) {
			return true
		}
	}
	if el.Name == "send-request" {
		if m := el.Attr("mode"); m != nil && !strings.EqualFold(strings.TrimSpace(m.Value.String()), "new") {
			return true
		}
	}
	if reads(el.Text()) {
		return true
	}
	return slices.ContainsFunc(el.Elements(), mayReadBodies)
}

func (p *waitPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	if p.readsBodies {
		if err := bufferBodies(x); err != nil {
			return err
		}
	}
	type result struct {
		i   int
		err error
	}
	n := len(p.steps)
	results := make(chan result, n)
	views := make([]*exchange.Exchange, n)
	cancels := make([]context.CancelFunc, n)
	for i := range p.steps {
		cctx, cancel := context.WithCancel(ctx)
		views[i], cancels[i] = x.Fork(), cancel
		go func() { results <- result{i, pipeline.RunSteps(cctx, views[i], p.steps[i:i+1])} }()
	}
	// A kept child's context is left alone: the response bodies it stored
	// stream through it.
	cancelOthers := func(keep int) {
		for i, cancel := range cancels {
			if i != keep {
				cancel()
			}
		}
	}
	first, errs := -1, make([]error, n)
	var failed error
	for range n { // every child has returned after this loop
		r := <-results
		errs[r.i] = r.err
		switch {
		case p.any && first < 0:
			first = r.i
			cancelOthers(first)
		case !p.any && r.err != nil && failed == nil:
			failed = r.err
			cancelOthers(-1)
		}
	}
	switch {
	case p.any:
		x.Join(views[first])
		return errs[first]
	case failed != nil:
		return failed
	}
	for _, v := range views {
		x.Join(v)
	}
	return nil
}

// bufferBodies buffers the bodies wait's children may read: the request's,
// the response's and those of responses held in variables.
func bufferBodies(x *exchange.Exchange) error {
	buffer := func(b *exchange.Body, what string) error {
		if b == nil || b.Buffered() || b.Consumed() {
			return nil
		}
		if _, err := b.Bytes(true); err != nil && !errors.Is(err, exchange.ErrBodyConsumed) {
			return pipeline.BodyFailure("wait could not buffer "+what+" for the policies it runs at the same time", err)
		}
		return nil
	}
	if err := buffer(x.Request.Body, "the request body"); err != nil {
		return err
	}
	if x.Response != nil {
		if err := buffer(x.Response.Body, "the response body"); err != nil {
			return err
		}
	}
	for name, v := range x.Variables {
		if r, ok := v.(*exchange.Response); ok && r != nil {
			if err := buffer(r.Body, "the body of the response in variable "+name); err != nil {
				return err
			}
		}
	}
	return nil
}

package snapshot

import (
	"errors"
	"fmt"

	"github.com/lastmile-gw/lastmile/internal/apiops"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// compilation is one build's policy compiler: it compiles each policy document
// of the folder once, composes them into pipelines, and collects every problem.
type compilation struct {
	svc  *apiops.Service
	pc   *pipeline.Compiler
	docs map[*apiops.Policy]*pipeline.Document
	errs srcpos.ErrorList
	seen map[srcpos.Error]bool // errs without Err, to report each once

	global      *pipeline.Document
	productDocs map[string]*pipeline.Document // product policies by product name
}

func newCompilation(svc *apiops.Service, reg *pipeline.Registry, expr pipeline.ExprCompiler) (*compilation, error) {
	c := &compilation{
		svc:         svc,
		pc:          pipeline.NewCompiler(reg, expr, svc.FragmentDocs()),
		docs:        map[*apiops.Policy]*pipeline.Document{},
		productDocs: map[string]*pipeline.Document{},
		seen:        map[srcpos.Error]bool{},
	}
	c.pc.Root = svc.Dir
	global := svc.Policy
	if global == nil {
		doc, err := policyxml.Parse("(default global policy)", []byte(pipeline.DefaultGlobal))
		if err != nil {
			return nil, err
		}
		global = &apiops.Policy{File: "policy.xml", Doc: doc}
	}
	c.global = c.compile(global, "global")
	return c, nil
}

// compile compiles p for scope once; nil stands for no policy.
func (c *compilation) compile(p *apiops.Policy, scope string) *pipeline.Document {
	if p == nil {
		return nil
	}
	if d, ok := c.docs[p]; ok {
		return d
	}
	d, err := c.pc.Compile(p.Doc, scope)
	if err != nil {
		var list srcpos.ErrorList
		if errors.As(err, &list) {
			c.add(list...)
		} else {
			c.fail(p.Doc.File, "%s", err)
		}
	}
	c.docs[p] = d
	return d
}

// add records errs, each once: a fragment's errors come back from every
// document that includes it, and from its own check.
func (c *compilation) add(errs ...*srcpos.Error) {
	for _, e := range errs {
		k := srcpos.Error{File: e.File, Pos: e.Pos, Msg: e.Msg}
		if !c.seen[k] {
			c.seen[k] = true
			c.errs = append(c.errs, e)
		}
	}
}

// fail records a problem with a file that has no better position than its start.
func (c *compilation) fail(file, format string, args ...any) {
	c.errs = append(c.errs, &srcpos.Error{File: file, Pos: srcpos.Pos{Line: 1, Col: 1}, Msg: fmt.Sprintf(format, args...)})
}

// pipelines composes an operation's pipelines: one in no product's context ("")
// and one in the context of each product containing the API.
func (c *compilation) pipelines(a *apiops.API, apiDoc, opDoc *pipeline.Document) map[string]*pipeline.Pipeline {
	m := map[string]*pipeline.Pipeline{"": pipeline.Compose(c.global, nil, apiDoc, opDoc)}
	for _, name := range a.Products {
		m[name] = pipeline.Compose(c.global, c.productDocs[name], apiDoc, opDoc)
	}
	return m
}

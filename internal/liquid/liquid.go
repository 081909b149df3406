// Package liquid runs Liquid templates as API Management's set-body
// template="liquid" does, in "C# mode": filters have PascalCase names (AtLeast,
// not at_least) and Date takes .NET formats. It is built on
// github.com/osteele/liquid's parser and expressions, with its own tags and
// filters so that every render has a budget: loop iterations, filter calls and
// the bytes written and built are counted, and a template that would loop too
// long or produce too much stops with ErrBudget. Templates are the operator's,
// but what they loop over and print is the client's.
package liquid

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/osteele/liquid/expressions"
	"github.com/osteele/liquid/parser"
	"github.com/osteele/liquid/render"
)

// Limits bound one render. Zero fields take DefaultLimits' values.
type Limits struct {
	// Steps is the most loop iterations and filter calls.
	Steps int
	// Output is the most bytes the template may write, captures included.
	Output int
	// Alloc is the most bytes of strings filters may build.
	Alloc int
}

// DefaultLimits: a million steps, 16 MiB out, 64 MiB built by filters.
var DefaultLimits = Limits{Steps: 1_000_000, Output: 16 << 20, Alloc: 64 << 20}

// ErrBudget is wrapped by the error of a render that went over its limits.
var ErrBudget = errors.New("the Liquid template went over its budget")

// Template is a compiled template. It is safe for concurrent use.
type Template struct {
	root render.Node
	cfg  render.Config
}

// budgetKey holds the render's budget in its bindings; templates cannot name
// it.
const budgetKey = "\x00budget"

// Parse compiles a template. Its errors name the line.
func Parse(src string) (*Template, error) {
	cfg := newConfig()
	root, err := cfg.Compile(src, parser.SourceLoc{LineNo: 1})
	if err != nil {
		return nil, err
	}
	if err := CheckFilters(src); err != nil {
		return nil, err
	}
	return &Template{root: root, cfg: cfg}, nil
}

// Render runs the template with vars bound, within l.
func (t *Template) Render(vars map[string]any, l Limits) (out []byte, err error) {
	defer func() {
		// The renderer panics on some failures (a failing writer); whatever
		// it is, it is this template's failure, not the gateway's.
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("the Liquid template failed: %v", r)
		}
	}()
	if l.Steps <= 0 {
		l.Steps = DefaultLimits.Steps
	}
	if l.Output <= 0 {
		l.Output = DefaultLimits.Output
	}
	if l.Alloc <= 0 {
		l.Alloc = DefaultLimits.Alloc
	}
	b := &budget{steps: l.Steps, out: l.Output, alloc: l.Alloc, limits: l}
	bindings := make(map[string]any, len(vars)+1)
	for k, v := range vars {
		bindings[k] = v
	}
	bindings[budgetKey] = b
	// Filters are bound to this render's budget: a copy of the configuration
	// with its own filter table; the grammar is shared and read only.
	cfg := t.cfg
	cfg.Config.Config = expressions.NewConfig()
	addFilters(&cfg, b)
	var buf bytes.Buffer
	w := &limitedWriter{w: &buf, b: b}
	rerr := render.Render(t.root, w, bindings, cfg)
	if b.err != nil {
		return nil, b.err
	}
	if rerr != nil {
		return nil, rerr
	}
	return buf.Bytes(), nil
}

// budget is what is left of a render's limits.
type budget struct {
	steps, out, alloc int
	limits            Limits
	err               error
}

func (b *budget) step() error {
	if b.steps--; b.steps < 0 && b.err == nil {
		b.err = fmt.Errorf("%w: more than %d loop iterations and filter calls", ErrBudget, b.limits.Steps)
	}
	return b.err
}

func (b *budget) write(n int) error {
	if b.out -= n; b.out < 0 && b.err == nil {
		b.err = fmt.Errorf("%w: more than %d bytes of output", ErrBudget, b.limits.Output)
	}
	return b.err
}

func (b *budget) build(n int) error {
	if b.alloc -= n; b.alloc < 0 && b.err == nil {
		b.err = fmt.Errorf("%w: filters built more than %d bytes", ErrBudget, b.limits.Alloc)
	}
	return b.err
}

// limitedWriter writes to w what the budget allows and drops the rest. It
// never fails, since the renderer panics on a failing writer; the next step
// and the end of Render see the budget's error.
type limitedWriter struct {
	w io.Writer
	b *budget
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.b.write(len(p)) == nil {
		l.w.Write(p)
	}
	return len(p), nil
}

func budgetOf(ctx render.Context) *budget {
	b, _ := ctx.Get(budgetKey).(*budget)
	if b == nil { // a render that did not come through Render: unbounded
		b = &budget{steps: DefaultLimits.Steps, out: DefaultLimits.Output, alloc: DefaultLimits.Alloc, limits: DefaultLimits}
	}
	return b
}

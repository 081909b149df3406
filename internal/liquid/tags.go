package liquid

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"regexp"
	"sort"
	"strings"

	"github.com/osteele/liquid/expressions"
	"github.com/osteele/liquid/render"
	"github.com/osteele/liquid/values"
)

// newConfig returns the grammar: Liquid's standard tags, with loops and
// captures that spend the render's budget, and without include (which would
// read files) and tablerow.
func newConfig() render.Config {
	cfg := render.NewConfig()
	cfg.AddTag("assign", assignTag)
	cfg.AddTag("break", func(string) (func(io.Writer, render.Context) error, error) {
		return func(_ io.Writer, ctx render.Context) error { return ctx.WrapError(errBreak) }, nil
	})
	cfg.AddTag("continue", func(string) (func(io.Writer, render.Context) error, error) {
		return func(_ io.Writer, ctx render.Context) error { return ctx.WrapError(errContinue) }, nil
	})
	cfg.AddTag("cycle", cycleTag)
	cfg.AddTag("include", func(string) (func(io.Writer, render.Context) error, error) {
		return nil, errors.New("the include tag is not supported: a set-body template is self-contained")
	})
	cfg.AddBlock("capture").Compiler(captureTag)
	cfg.AddBlock("case").Clause("when").Clause("else").Compiler(caseTag)
	cfg.AddBlock("comment")
	cfg.AddBlock("for").Clause("else").Compiler(forTag)
	cfg.AddBlock("if").Clause("else").Clause("elsif").Compiler(ifTag(true))
	cfg.AddBlock("raw")
	cfg.AddBlock("unless").Clause("else").Compiler(ifTag(false))
	return cfg
}

var (
	errBreak    = errors.New("break outside a loop")
	errContinue = errors.New("continue outside a loop")
)

func assignTag(source string) (func(io.Writer, render.Context) error, error) {
	stmt, err := expressions.ParseStatement(expressions.AssignStatementSelector, source)
	if err != nil {
		return nil, err
	}
	a := stmt.Assignment
	return func(_ io.Writer, ctx render.Context) error {
		v, err := ctx.Evaluate(a.ValueFn)
		if err != nil {
			return err
		}
		ctx.Set(a.Variable, v)
		return nil
	}, nil
}

func cycleTag(source string) (func(io.Writer, render.Context) error, error) {
	stmt, err := expressions.ParseStatement(expressions.CycleStatementSelector, source)
	if err != nil {
		return nil, err
	}
	c := stmt.Cycle
	return func(w io.Writer, ctx render.Context) error {
		loop, _ := ctx.Get(forloopVar).(map[string]any)
		cycles, _ := loop[cyclesKey].(map[string]int)
		if cycles == nil {
			return ctx.Errorf("cycle must be within a for loop")
		}
		n := cycles[c.Group]
		cycles[c.Group] = n + 1
		_, err := io.WriteString(w, c.Values[n%len(c.Values)])
		return err
	}, nil
}

func captureTag(node render.BlockNode) (func(io.Writer, render.Context) error, error) {
	name := strings.TrimSpace(node.Args)
	return func(_ io.Writer, ctx render.Context) error {
		var buf bytes.Buffer
		if err := ctx.RenderChildren(&limitedWriter{w: &buf, b: budgetOf(ctx)}); err != nil {
			return err
		}
		ctx.Set(name, buf.String())
		return nil
	}, nil
}

func caseTag(node render.BlockNode) (func(io.Writer, render.Context) error, error) {
	expr, err := expressions.Parse(node.Args)
	if err != nil {
		return nil, err
	}
	type branch struct {
		tests []expressions.Expression // nil for else
		body  *render.BlockNode
	}
	var branches []branch
	for _, c := range node.Clauses {
		if c.Name == "when" {
			stmt, err := expressions.ParseStatement(expressions.WhenStatementSelector, c.Args)
			if err != nil {
				return nil, err
			}
			branches = append(branches, branch{stmt.When.Exprs, c})
			continue
		}
		branches = append(branches, branch{nil, c})
	}
	return func(w io.Writer, ctx render.Context) error {
		v, err := ctx.Evaluate(expr)
		if err != nil {
			return err
		}
		for _, b := range branches {
			if b.tests == nil {
				return ctx.RenderBlock(w, b.body)
			}
			for _, t := range b.tests {
				wv, err := ctx.Evaluate(t)
				if err != nil {
					return err
				}
				if values.Equal(v, wv) {
					return ctx.RenderBlock(w, b.body)
				}
			}
		}
		return nil
	}, nil
}

func ifTag(polarity bool) render.BlockCompiler {
	return func(node render.BlockNode) (func(io.Writer, render.Context) error, error) {
		expr, err := expressions.Parse(node.Args)
		if err != nil {
			return nil, err
		}
		if !polarity {
			expr = expressions.Not(expr)
		}
		type branch struct {
			test expressions.Expression
			body *render.BlockNode
		}
		branches := []branch{{expr, &node}}
		for _, c := range node.Clauses {
			test := expressions.Constant(true)
			if c.Name == "elsif" {
				if test, err = expressions.Parse(c.Args); err != nil {
					return nil, err
				}
			}
			branches = append(branches, branch{test, c})
		}
		return func(w io.Writer, ctx render.Context) error {
			for _, b := range branches {
				v, err := ctx.Evaluate(b.test)
				if err != nil {
					return err
				}
				if v != nil && v != false {
					return ctx.RenderBlock(w, b.body)
				}
			}
			return nil
		}, nil
	}
}

const (
	forloopVar = "forloop"
	cyclesKey  = ".cycles"
)

// forTag is {% for x in items limit:n offset:n reversed %}...{% else %}...{% endfor %}.
// Every iteration is a step of the budget, so that neither a long collection
// nor a wide range runs unbounded.
func forTag(node render.BlockNode) (func(io.Writer, render.Context) error, error) {
	stmt, err := expressions.ParseStatement(expressions.LoopStatementSelector, node.Args)
	if err != nil {
		return nil, err
	}
	loop := stmt.Loop
	if len(node.Clauses) > 1 {
		return nil, errors.New("a for loop takes at most one else")
	}
	return func(w io.Writer, ctx render.Context) error {
		b := budgetOf(ctx)
		v, err := ctx.Evaluate(loop.Expr)
		if err != nil {
			return err
		}
		items := iterate(v)
		if n, err := loopInt(ctx, loop.Offset); err != nil {
			return err
		} else if n > 0 {
			items = items.offset(n)
		}
		if n, err := loopInt(ctx, loop.Limit); err != nil {
			return err
		} else if n >= 0 && loop.Limit != nil {
			items = items.limit(n)
		}
		if loop.Reversed {
			items.reversed = !items.reversed
		}
		l := items.Len()
		if l == 0 {
			if len(node.Clauses) == 1 {
				return ctx.RenderBlock(w, node.Clauses[0])
			}
			return nil
		}
		if l > b.steps { // fail at once rather than after the budget's worth of work
			b.steps = -1
			return b.step()
		}
		saved, savedLoop := ctx.Get(loop.Variable), ctx.Get(forloopVar)
		defer func() {
			ctx.Set(loop.Variable, saved)
			ctx.Set(forloopVar, savedLoop)
		}()
		cycles := map[string]int{}
		for i := range l {
			if err := b.step(); err != nil {
				return err
			}
			ctx.Set(loop.Variable, items.Index(i))
			ctx.Set(forloopVar, map[string]any{
				"first": i == 0, "last": i == l-1, "index": i + 1, "index0": i,
				"rindex": l - i, "rindex0": l - i - 1, "length": l, cyclesKey: cycles,
			})
			err := ctx.RenderChildren(w)
			switch {
			case err == nil:
			case errors.Is(err.Cause(), errBreak):
				return nil
			case errors.Is(err.Cause(), errContinue):
			default:
				return err
			}
		}
		return nil
	}, nil
}

func loopInt(ctx render.Context, e expressions.Expression) (int, error) {
	if e == nil {
		return 0, nil
	}
	v, err := ctx.Evaluate(e)
	if err != nil {
		return 0, err
	}
	n, ok := v.(int)
	if !ok {
		return 0, ctx.Errorf("a loop's limit and offset must be integers")
	}
	return n, nil
}

// items is a view of what a loop iterates over, without copying it.
type items struct {
	n        int
	at       func(int) any
	start    int
	reversed bool
}

func (it items) Len() int { return it.n }

func (it items) Index(i int) any {
	if it.reversed {
		i = it.n - 1 - i
	}
	return it.at(it.start + i)
}

func (it items) offset(n int) items {
	n = min(n, it.n)
	it.start, it.n = it.start+n, it.n-n
	return it
}

func (it items) limit(n int) items {
	it.n = min(n, it.n)
	return it
}

// iterate returns what a loop over v visits: the items of an array or range,
// the entries of a Dict as {Key, Value} pairs (as .NET's KeyValuePair), the
// entries of a map as [key, value] sorted by key, and nothing for anything
// else.
func iterate(v any) items {
	switch v := v.(type) {
	case nil:
		return items{}
	case *Dict:
		return items{n: len(v.keys), at: func(i int) any {
			return map[string]any{"Key": v.keys[i], "Value": v.vals[v.norm(v.keys[i])]}
		}}
	case values.Range:
		return items{n: max(v.Len(), 0), at: v.Index}
	case string:
		return items{n: 1, at: func(int) any { return v }}
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Array, reflect.Slice:
		return items{n: rv.Len(), at: func(i int) any { return rv.Index(i).Interface() }}
	case reflect.Map:
		keys := rv.MapKeys()
		sort.Slice(keys, func(i, j int) bool { return fmt.Sprint(keys[i].Interface()) < fmt.Sprint(keys[j].Interface()) })
		return items{n: len(keys), at: func(i int) any {
			return []any{keys[i].Interface(), rv.MapIndex(keys[i]).Interface()}
		}}
	}
	return items{}
}

// filterRef finds filter names in a template's tags and objects.
var filterRef = regexp.MustCompile(`\|\s*([A-Za-z_][A-Za-z0-9_]*)`)

// CheckFilters reports the first unknown filter named in src, so that a
// template with a misspelled or snake_case filter fails at load, not per
// request. Text outside {{ }} and {% %} and quoted strings are skipped.
func CheckFilters(src string) error {
	for _, region := range codeRegions(src) {
		for _, m := range filterRef.FindAllStringSubmatch(region, -1) {
			name := m[1]
			if _, ok := filterNames[name]; ok {
				continue
			}
			if pascal, ok := rubyNames[name]; ok {
				return fmt.Errorf("unknown Liquid filter %q: API Management's Liquid names filters in PascalCase; write %s", name, pascal)
			}
			return fmt.Errorf("unknown Liquid filter %q; the filters are %s", name, strings.Join(sortedFilterNames(), ", "))
		}
	}
	return nil
}

// codeRegions returns the insides of {{ }} and {% %} with quoted strings
// blanked out.
func codeRegions(src string) []string {
	var out []string
	for {
		i := strings.IndexByte(src, '{')
		if i < 0 || i+1 >= len(src) {
			return out
		}
		var end string
		switch src[i+1] {
		case '{':
			end = "}}"
		case '%':
			end = "%}"
		default:
			src = src[i+1:]
			continue
		}
		rest := src[i+2:]
		j := strings.Index(rest, end)
		if j < 0 {
			return out
		}
		out = append(out, blankStrings(rest[:j]))
		src = rest[j+2:]
	}
}

func blankStrings(s string) string {
	b := []byte(s)
	var quote byte
	for i, c := range b {
		switch {
		case quote != 0 && c == quote:
			quote = 0
		case quote != 0:
			b[i] = ' '
		case c == '"' || c == '\'':
			quote = c
		}
	}
	return string(b)
}

package pipeline

import (
	"fmt"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// Expression is a compiled policy expression, @(...) or @{...}. Implementations are
// immutable and safe for concurrent use.
type Expression interface {
	Eval(x *exchange.Exchange) (any, error)
	EvalString(x *exchange.Exchange) (string, error)
	EvalBool(x *exchange.Exchange) (bool, error)
}

// ExprCompiler compiles the source of one expression, "@(...)" or "@{...}". want
// is the C# type the result must convert to ("bool" for a condition), or "" for
// any. Its errors are placed by Pos.Offset, a byte offset into src. A nil
// ExprCompiler refuses every expression with a positioned error.
type ExprCompiler func(src, want string) (Expression, srcpos.ErrorList)

// Value is an attribute value or element text: a literal, or a policy expression
// that is evaluated per request.
type Value struct {
	lit    string
	expr   Expression
	src    policyxml.Value
	file   string
	isExpr bool
}

// Literal returns a literal Value, for defaults.
func Literal(s string) Value { return Value{lit: s} }

// IsExpr reports whether the value is a policy expression.
func (v Value) IsExpr() bool { return v.isExpr }

// Literal returns the value and true when it is a literal.
func (v Value) Literal() (string, bool) { return v.lit, !v.isExpr }

// Source returns the text as written (after named-value substitution).
func (v Value) Source() policyxml.Value { return v.src }

// String evaluates the value as a string.
func (v Value) String(x *exchange.Exchange) (string, error) {
	if !v.isExpr {
		return v.lit, nil
	}
	s, err := v.expr.EvalString(x)
	if err != nil {
		return "", v.fail(err)
	}
	v.recordExpr(x, s)
	return s, nil
}

// Bool evaluates the value as a condition. A literal must be "true" or "false"
// in any case; that is checked at compile time by Compiler.BoolValue.
func (v Value) Bool(x *exchange.Exchange) (bool, error) {
	if !v.isExpr {
		return strings.EqualFold(strings.TrimSpace(v.lit), "true"), nil
	}
	b, err := v.expr.EvalBool(x)
	if err != nil {
		return false, v.fail(err)
	}
	v.recordExpr(x, b)
	return b, nil
}

// Any evaluates the value as a Go value: a string for a literal, the expression's
// result otherwise. set-variable stores it.
func (v Value) Any(x *exchange.Exchange) (any, error) {
	if !v.isExpr {
		return v.lit, nil
	}
	a, err := v.expr.Eval(x)
	if err != nil {
		return nil, v.fail(err)
	}
	v.recordExpr(x, a)
	return a, nil
}

// Bytes evaluates the value as a message body: the bytes of an expression whose
// result is a byte[] (context.Request.Body.As<byte[]>(), Convert.FromBase64String),
// the text of anything else, as String gives it. The type is the expression's
// static one, so that it is evaluated once.
func (v Value) Bytes(x *exchange.Exchange) ([]byte, error) {
	if t, ok := v.expr.(interface{ ResultType() string }); !ok || t.ResultType() != "byte[]" {
		s, err := v.String(x)
		return []byte(s), err
	}
	a, err := v.Any(x)
	if err != nil {
		return nil, err
	}
	b, _ := a.([]byte) // nil for C# null
	return b, nil
}

func (v Value) fail(err error) error {
	pe := ExprFailure(err)
	if v.file != "" {
		pe.Message = fmt.Sprintf("%s (expression at %s:%s)", pe.Message, v.file, v.src.Pos())
	}
	return pe
}

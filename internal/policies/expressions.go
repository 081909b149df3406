package policies

import (
	"errors"

	"github.com/lastmile-gw/lastmile/internal/expr"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
)

// Expressions is the pipeline's expression compiler: package expr, the C# subset
// of API Management policy expressions.
func Expressions(src, want string) (pipeline.Expression, []pipeline.ExprError) {
	var opts []expr.Option
	if want != "" {
		opts = append(opts, expr.Expect(want))
	}
	p, err := expr.Compile(src, opts...)
	if err == nil {
		return p, nil
	}
	var list expr.ErrorList
	if !errors.As(err, &list) {
		return nil, []pipeline.ExprError{{Offset: 0, Msg: err.Error()}}
	}
	out := make([]pipeline.ExprError, len(list))
	for i, e := range list {
		out[i] = pipeline.ExprError{Offset: e.Offset, Msg: e.Msg}
	}
	return nil, out
}

package policies

import (
	"errors"

	"github.com/lastmile-gw/lastmile/internal/expr"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// Expressions is the pipeline's expression compiler: package expr, the C# subset
// of API Management policy expressions.
func Expressions(src, want string) (pipeline.Expression, srcpos.ErrorList) {
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
		return nil, srcpos.ErrorList{{Msg: err.Error()}}
	}
	return nil, srcpos.ErrorList(list)
}

package policies_test

import (
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
)

// corpusExpr is the expression compiler the corpus test uses.
var corpusExpr pipeline.ExprCompiler = policies.Expressions

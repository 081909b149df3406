package main

import (
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
)

// exprCompiler returns the policy expression compiler.
func exprCompiler() pipeline.ExprCompiler { return policies.Expressions }

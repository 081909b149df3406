package main

import "github.com/lastmile-gw/lastmile/internal/pipeline"

// exprCompiler returns the policy expression compiler.
func exprCompiler() pipeline.ExprCompiler { return nil }

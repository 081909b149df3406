package policyxml

import "github.com/lastmile-gw/lastmile/internal/srcpos"

// Pos is a position in a policy file.
type Pos = srcpos.Pos

// Error is a problem at a position in a policy file.
type Error = srcpos.Error

// ErrorList is several errors, in the order they were found.
type ErrorList = srcpos.ErrorList

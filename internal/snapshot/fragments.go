package snapshot

import (
	"errors"
	"html"
	"maps"
	"slices"

	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// fragments checks every policy fragment on its own, as API Management does
// when a fragment is created, so that one that nothing includes is checked
// too. An included fragment's errors came back from its includes already, and
// c.add reports each once. What is left is in fragments nothing includes:
// errors when strict (validate), else returned as warnings, since such a
// fragment never runs, and an exported configuration whose unused fragment
// holds a policy lastmile lacks should still serve.
func (c *compilation) fragments(strict bool) (warnings []string) {
	for _, name := range slices.Sorted(maps.Keys(c.svc.Fragments)) {
		for _, e := range checkFragment(c.pc, name) {
			k := srcpos.Error{File: e.File, Pos: e.Pos, Msg: e.Msg}
			switch {
			case strict:
				c.add(e)
			case !c.seen[k]:
				c.seen[k] = true
				warnings = append(warnings, "policy fragment "+name+", which nothing includes, would not compile: "+c.svc.HideSecrets(e).Error())
			}
		}
	}
	return warnings
}

// fragmentSections and fragmentScopes are where a fragment can be included.
var (
	fragmentSections = []string{"inbound", "backend", "outbound", "on-error"}
	fragmentScopes   = []string{"api", "operation", "product", "global"}
)

// checkFragment compiles the fragment name, one of pc's fragments, as included
// in each section at each scope, and returns the errors it has in all of them:
// an unknown policy or a bad expression, not a policy that one section or
// scope does not allow, since that depends on where it is included and is
// reported there. It stops at the first place where the fragment compiles.
func checkFragment(pc *pipeline.Compiler, name string) srcpos.ErrorList {
	var common srcpos.ErrorList
	first := true
	for _, section := range fragmentSections {
		wrapper, err := policyxml.Parse("(fragment check)", []byte(
			`<policies><`+section+`><include-fragment fragment-id="`+html.EscapeString(name)+`" /></`+section+`></policies>`))
		if err != nil {
			return srcpos.ErrorList{{Msg: "checking policy fragment " + name + ": " + err.Error(), Err: err}}
		}
		for _, scope := range fragmentScopes {
			var list srcpos.ErrorList
			if _, err := pc.Compile(wrapper, scope); err != nil && !errors.As(err, &list) {
				list = srcpos.ErrorList{{Msg: err.Error(), Err: err}}
			}
			if first {
				common, first = list, false
			} else {
				common = slices.DeleteFunc(common, func(e *srcpos.Error) bool {
					return !slices.ContainsFunc(list, func(o *srcpos.Error) bool { return sameError(e, o) })
				})
			}
			if len(common) == 0 {
				return nil
			}
		}
	}
	return common
}

func sameError(a, b *srcpos.Error) bool {
	return a.File == b.File && a.Pos == b.Pos && a.Msg == b.Msg
}

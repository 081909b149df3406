package expr

import (
	"sort"
	"testing"
)

// TestUniverseSignatures resolves every type named in every declared signature,
// so that a typo in a library declaration fails here rather than when a policy
// happens to call the member.
func TestUniverseSignatures(t *testing.T) {
	u := theUniverse()
	c := &checker{u: u, cfg: &config{limits: DefaultLimits, maxNodes: 1000}}
	check := func(owner string, m *member) {
		bind := map[string]*Type{}
		if m.owner != nil {
			for _, p := range m.owner.params {
				bind[p] = tObject
			}
		}
		for _, tp := range m.tparams {
			bind[tp] = tObject
		}
		for _, p := range m.params {
			if c.resolveTypeOpt(p.typ, bind, false) == nil {
				t.Errorf("%s.%s: parameter %s has unknown type %s", owner, m.name, p.name, p.typ.Name)
			}
		}
		if m.result != nil && c.resolveTypeOpt(m.result, bind, false) == nil {
			t.Errorf("%s.%s: unknown result type %s", owner, m.name, m.result.Name)
		}
		if m.impl == nil && m.kind != mConst {
			t.Errorf("%s.%s: no implementation", owner, m.name)
		}
	}
	var names []string
	for k := range u.defs {
		names = append(names, k)
	}
	sort.Strings(names)
	members := 0
	for _, k := range names {
		d := u.defs[k]
		for _, ms := range d.inst {
			for _, m := range ms {
				check(k, m)
				members++
			}
		}
		for _, ms := range d.static {
			for _, m := range ms {
				check(k, m)
				members++
			}
		}
		for _, m := range append(append([]*member(nil), d.ctors...), d.indexer...) {
			check(k, m)
			members++
		}
		if d.base != "" && c.resolveTypeOpt(mustType(d.base), bindOfParams(d), false) == nil {
			t.Errorf("%s: unknown base type %s", k, d.base)
		}
		for _, i := range d.ifaces {
			if c.resolveTypeOpt(mustType(i), bindOfParams(d), false) == nil {
				t.Errorf("%s: unknown interface %s", k, i)
			}
		}
		if d.kind != tkEnum && d.is == nil && !isStaticClass(d) && k != "Object" && k != "Nullable`1" {
			t.Errorf("%s: no run-time type test (typeDef.is)", k)
		}
	}
	for name, ms := range u.ext {
		for _, m := range ms {
			check("extension", m)
			members++
			_ = name
		}
	}
	t.Logf("%d types, %d members", len(u.defs), members)
}

func bindOfParams(d *typeDef) map[string]*Type {
	m := map[string]*Type{}
	for _, p := range d.params {
		m[p] = tObject
	}
	return m
}

// isStaticClass reports types that have only static members (Math, Convert).
func isStaticClass(d *typeDef) bool {
	return len(d.inst) == 0 && len(d.ctors) == 0 && len(d.indexer) == 0
}

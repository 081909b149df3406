package xslt

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lastmile-gw/lastmile/internal/xpath"
)

// sortSpec is a sort key with its AVTs evaluated.
type sortSpec struct {
	key        *sortKey
	number     bool
	descending bool
	upperFirst bool
}

type sortRow struct {
	n    *xpath.Node
	strs []string
	nums []float64
}

// sort orders nodes by xsl:sort keys (XSLT 1.0 §10), stably. Text compares
// case-insensitively first, then by case-order (lower-first by default, as
// .NET's culture-aware comparison does); lang is ignored.
func (x *exec) sort(nodes xpath.NodeSet, keys []*sortKey, f focus) (xpath.NodeSet, error) {
	if len(keys) == 0 || len(nodes) < 2 {
		return nodes, nil
	}
	specs := make([]sortSpec, len(keys))
	for i, k := range keys {
		sp := sortSpec{key: k}
		for _, a := range []struct {
			avt  *avt
			what string
			ok   []string
			set  *bool
			want string
		}{
			{k.dataType, "data-type", []string{"text", "number"}, &sp.number, "number"},
			{k.order, "order", []string{"ascending", "descending"}, &sp.descending, "descending"},
			{k.caseOrder, "case-order", []string{"upper-first", "lower-first"}, &sp.upperFirst, "upper-first"},
		} {
			if a.avt == nil {
				continue
			}
			v, err := x.avt(a.avt, f)
			if err != nil {
				return nil, err
			}
			v = strings.TrimSpace(v)
			if !slices.Contains(a.ok, v) && !(a.what == "data-type" && strings.Contains(v, ":")) {
				return nil, &Error{Msg: "xsl:sort " + a.what + " must be " + strings.Join(a.ok, " or ")}
			}
			*a.set = v == a.want
		}
		specs[i] = sp
	}
	rows := make([]sortRow, len(nodes))
	for i, n := range nodes {
		rows[i] = sortRow{n: n, strs: make([]string, len(specs)), nums: make([]float64, len(specs))}
		g := f
		g.node, g.pos, g.size = n, i+1, len(nodes)
		for j, sp := range specs {
			var s string
			if sp.key.sel == nil {
				s = xpath.StringValue(n)
			} else {
				var err error
				if s, err = x.str(sp.key.sel, g); err != nil {
					return nil, err
				}
			}
			if sp.number {
				rows[i].nums[j] = xpath.Number(s)
			} else {
				rows[i].strs[j] = s
			}
		}
	}
	if err := x.spend(len(rows) * len(specs)); err != nil {
		return nil, err
	}
	slices.SortStableFunc(rows, func(a, b sortRow) int {
		for j, sp := range specs {
			var c int
			if sp.number {
				c = compareNumbers(a.nums[j], b.nums[j])
			} else {
				c = compareText(a.strs[j], b.strs[j], sp.upperFirst)
			}
			if sp.descending {
				c = -c
			}
			if c != 0 {
				return c
			}
		}
		return 0
	})
	out := make(xpath.NodeSet, len(rows))
	for i, r := range rows {
		out[i] = r.n
	}
	return out, nil
}

// compareNumbers puts NaN before every number (XSLT 1.0 §10).
func compareNumbers(a, b float64) int {
	switch an, bn := math.IsNaN(a), math.IsNaN(b); {
	case an && bn:
		return 0
	case an:
		return -1
	case bn:
		return 1
	}
	return cmp.Compare(a, b)
}

func compareText(a, b string, upperFirst bool) int {
	if c := compareFolded(a, b); c != 0 {
		return c
	}
	// Same letters: the case decides, character by character.
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			la, lb := unicode.IsLower(ra), unicode.IsLower(rb)
			if la != lb {
				if la == upperFirst {
					return 1
				}
				return -1
			}
			return cmp.Compare(ra, rb)
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}

func compareFolded(a, b string) int {
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			if c := cmp.Compare(unicode.ToLower(ra), unicode.ToLower(rb)); c != 0 {
				return c
			}
		}
		a, b = a[na:], b[nb:]
	}
	return cmp.Compare(len(a), len(b))
}

package expr

import (
	"math"
	"math/bits"
	"sort"
	"strings"
)

// LINQ runs eagerly: each operator materialises its result as a []any. Deferred
// execution is only observable through side effects in lambdas, which policies
// do not rely on.

func linqFirst(f *frame, src any, p *lambdaCode, orDefault bool, last bool) (any, bool) {
	var found any
	ok := false
	iterate(f, src, func(v any) bool {
		if p != nil && !p.pred(f, v) {
			return true
		}
		found, ok = v, true
		return last
	})
	if !ok && !orDefault {
		if p != nil {
			throw("InvalidOperationException", "Sequence contains no matching element")
		}
		throw("InvalidOperationException", "Sequence contains no elements")
	}
	return found, ok
}

func linqSingle(f *frame, src any, p *lambdaCode, orDefault bool) (any, bool) {
	var found any
	n := 0
	iterate(f, src, func(v any) bool {
		if p != nil && !p.pred(f, v) {
			return true
		}
		found = v
		n++
		return n < 2
	})
	switch {
	case n > 1:
		if p != nil {
			throw("InvalidOperationException", "Sequence contains more than one matching element")
		}
		throw("InvalidOperationException", "Sequence contains more than one element")
	case n == 0 && !orDefault:
		if p != nil {
			throw("InvalidOperationException", "Sequence contains no matching element")
		}
		throw("InvalidOperationException", "Sequence contains no elements")
	}
	return found, n == 1
}

// firstImpl compiles First/Last/Single and their OrDefault forms, with or
// without a predicate.
func firstImpl(kind string, orDefault, withPred bool) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		src := args[0].anyFn()
		var p *lambdaCode
		if withPred {
			p = args[1].lamc
		}
		t := cs.t
		z := c.zeroOf(t, cs.n).anyFn()
		pos := cs.pos
		return fromAny(t, cs.n, func(f *frame) any {
			s := src(f)
			f.pos = pos
			if s == nil {
				throw("ArgumentNullException", "Value cannot be null. (Parameter 'source')")
			}
			var v any
			var ok bool
			switch kind {
			case "First":
				v, ok = linqFirst(f, s, p, orDefault, false)
			case "Last":
				v, ok = linqFirst(f, s, p, orDefault, true)
			default:
				v, ok = linqSingle(f, s, p, orDefault)
			}
			if !ok {
				return z(f)
			}
			return v
		})
	}
}

// rangeSeq is Enumerable.Range and repeatSeq Enumerable.Repeat: sequences made
// as they are enumerated, so that Range(0, int.MaxValue).First() costs one
// element and ToArray() is refused by the allocation budget before it starts.
type (
	rangeSeq  struct{ start, count int32 }
	repeatSeq struct {
		v     any
		count int32
	}
)

func declLinq(u *universe) {
	// the LINQ operators are extension methods of System.Linq.Enumerable, and
	// can be called as its static methods too: Enumerable.Sum(xs)
	en := u.decl("System.Linq.Enumerable", tkClass, "")
	ext := func(sig string, impl implFn) {
		u.extension(sig, impl)
		en.smethod(strings.Replace(sig, "(this ", "(", 1), impl)
	}
	en.smethod("Range(int start, int count) IEnumerable<int>", f2(func(start, count int32) rangeSeq {
		if count < 0 || int64(start)+int64(count)-1 > math.MaxInt32 {
			throw("ArgumentOutOfRangeException", "Specified argument was out of the range of valid values. (Parameter 'count')")
		}
		return rangeSeq{start, count}
	}))
	en.smethod("Repeat<TResult>(TResult element, int count) IEnumerable<TResult>", f2(func(v any, count int32) repeatSeq {
		if count < 0 {
			throw("ArgumentOutOfRangeException", "Specified argument was out of the range of valid values. (Parameter 'count')")
		}
		return repeatSeq{v, count}
	}))
	en.smethod("Empty<TResult>() IEnumerable<TResult>", func(c *checker, cs *site, args []*operand) *operand {
		et := cs.targs[0]
		return &operand{t: cs.t, n: cs.n, o: func(*frame) any { return makeArray(et, 0) }}
	})
	for _, k := range []string{"First", "Last", "Single"} {
		ext(k+"<T>(this IEnumerable<T> source) T", firstImpl(k, false, false))
		ext(k+"<T>(this IEnumerable<T> source, Func<T, bool> predicate) T", firstImpl(k, false, true))
		ext(k+"OrDefault<T>(this IEnumerable<T> source) T", firstImpl(k, true, false))
		ext(k+"OrDefault<T>(this IEnumerable<T> source, Func<T, bool> predicate) T", firstImpl(k, true, true))
	}
	ext("Where<T>(this IEnumerable<T> source, Func<T, bool> predicate) IEnumerable<T>", x2(func(f *frame, src any, p *lambdaCode) []any {
		out := []any{}
		iterate(f, src, func(v any) bool {
			if p.pred(f, v) {
				out = push(f, out, v)
			}
			return true
		})
		return out
	}))
	ext("Where<T>(this IEnumerable<T> source, Func<T, int, bool> predicate) IEnumerable<T>", x2(func(f *frame, src any, p *lambdaCode) []any {
		out := []any{}
		i := int32(0)
		iterate(f, src, func(v any) bool {
			if p.pred(f, v, i) {
				out = push(f, out, v)
			}
			i++
			return true
		})
		return out
	}))
	ext("Select<T, TResult>(this IEnumerable<T> source, Func<T, TResult> selector) IEnumerable<TResult>", x2(func(f *frame, src any, p *lambdaCode) []any {
		out := []any{}
		iterate(f, src, func(v any) bool {
			out = push(f, out, p.call(f, v))
			return true
		})
		return out
	}))
	ext("Select<T, TResult>(this IEnumerable<T> source, Func<T, int, TResult> selector) IEnumerable<TResult>", x2(func(f *frame, src any, p *lambdaCode) []any {
		out := []any{}
		i := int32(0)
		iterate(f, src, func(v any) bool {
			out = push(f, out, p.call(f, v, i))
			i++
			return true
		})
		return out
	}))
	ext("SelectMany<T, TResult>(this IEnumerable<T> source, Func<T, IEnumerable<TResult>> selector) IEnumerable<TResult>", x2(func(f *frame, src any, p *lambdaCode) []any {
		out := []any{}
		iterate(f, src, func(v any) bool {
			iterate(f, p.call(f, v), func(x any) bool {
				out = push(f, out, x)
				return true
			})
			return true
		})
		return out
	}))
	ext("Any<T>(this IEnumerable<T> source) bool", x1(func(f *frame, src any) bool {
		found := false
		iterate(f, src, func(any) bool { found = true; return false })
		return found
	}))
	ext("Any<T>(this IEnumerable<T> source, Func<T, bool> predicate) bool", x2(func(f *frame, src any, p *lambdaCode) bool {
		found := false
		iterate(f, src, func(v any) bool {
			if p.pred(f, v) {
				found = true
				return false
			}
			return true
		})
		return found
	}))
	ext("All<T>(this IEnumerable<T> source, Func<T, bool> predicate) bool", x2(func(f *frame, src any, p *lambdaCode) bool {
		all := true
		iterate(f, src, func(v any) bool {
			if !p.pred(f, v) {
				all = false
				return false
			}
			return true
		})
		return all
	}))
	ext("Count<T>(this IEnumerable<T> source) int", x1(func(f *frame, src any) int32 { return int32(seqCount(f, src)) }))
	ext("Count<T>(this IEnumerable<T> source, Func<T, bool> predicate) int", x2(func(f *frame, src any, p *lambdaCode) int32 {
		n := int32(0)
		iterate(f, src, func(v any) bool {
			if p.pred(f, v) {
				n++
			}
			return true
		})
		return n
	}))
	ext("LongCount<T>(this IEnumerable<T> source) long", x1(func(f *frame, src any) int64 { return int64(seqCount(f, src)) }))
	ext("Contains<T>(this IEnumerable<T> source, T value) bool", x2(func(f *frame, src any, x any) bool {
		found := false
		iterate(f, src, func(v any) bool {
			if valueEq(v, x) {
				found = true
				return false
			}
			return true
		})
		return found
	}))
	ext("Contains<T>(this IEnumerable<T> source, T value, StringComparer comparer) bool", x3(func(f *frame, src any, x any, cmp StringComparer) bool {
		xs, _ := x.(string)
		found := false
		iterate(f, src, func(v any) bool {
			vs, _ := v.(string)
			if cmp.equal(boxToStr(v, vs), boxToStr(x, xs)) {
				found = true
				return false
			}
			return true
		})
		return found
	}))
	ext("ToArray<T>(this IEnumerable<T> source) T[]", func(c *checker, cs *site, args []*operand) *operand {
		g, et, pos := args[0].anyFn(), cs.t.elem, cs.pos
		return &operand{t: cs.t, n: cs.n, o: func(f *frame) any {
			src := g(f)
			f.pos = pos
			return makeArrayFrom(et, copySlice(f, toSlice(f, src)))
		}}
	})
	ext("ToList<T>(this IEnumerable<T> source) List<T>", x1(func(f *frame, src any) *List {
		return &List{Items: copySlice(f, toSlice(f, src))}
	}))
	ext("ToHashSet<T>(this IEnumerable<T> source) HashSet<T>", x1(func(f *frame, src any) *HashSet {
		h := &HashSet{newDict(false)}
		iterate(f, src, func(v any) bool {
			h.d.put(f, v, true)
			return true
		})
		return h
	}))
	ext("ToDictionary<T, TKey>(this IEnumerable<T> source, Func<T, TKey> keySelector) Dictionary<TKey, T>", x2(func(f *frame, src any, k *lambdaCode) *Dict {
		d := newDict(false)
		iterate(f, src, func(v any) bool { d.add(f, k.call(f, v), v); return true })
		return d
	}))
	ext("ToDictionary<T, TKey, TValue>(this IEnumerable<T> source, Func<T, TKey> keySelector, Func<T, TValue> elementSelector) Dictionary<TKey, TValue>", x3(func(f *frame, src any, k, e *lambdaCode) *Dict {
		d := newDict(false)
		iterate(f, src, func(v any) bool { d.add(f, k.call(f, v), e.call(f, v)); return true })
		return d
	}))
	orderBy := func(desc bool) func(f *frame, src any, k *lambdaCode) []any {
		return func(f *frame, src any, k *lambdaCode) []any {
			items := copySlice(f, toSlice(f, src))
			f.allocN(len(items), 2*slotBytes+8) // keys, result, indexes
			keys := make([]any, len(items))
			for i, v := range items {
				keys[i] = k.call(f, v)
			}
			idx := make([]int, len(items))
			for i := range idx {
				idx[i] = i
			}
			f.elems(len(items) * bits.Len(uint(len(items)))) // the comparisons
			sort.SliceStable(idx, func(a, b int) bool {
				c := defaultCompare(keys[idx[a]], keys[idx[b]])
				if desc {
					return c > 0
				}
				return c < 0
			})
			out := make([]any, len(items))
			for i, j := range idx {
				out[i] = items[j]
			}
			return out
		}
	}
	ext("OrderBy<T, TKey>(this IEnumerable<T> source, Func<T, TKey> keySelector) IEnumerable<T>", x2(orderBy(false)))
	ext("OrderByDescending<T, TKey>(this IEnumerable<T> source, Func<T, TKey> keySelector) IEnumerable<T>", x2(orderBy(true)))
	ext("Distinct<T>(this IEnumerable<T> source) IEnumerable<T>", x1(func(f *frame, src any) []any {
		d := newDict(false)
		out := []any{}
		iterate(f, src, func(v any) bool {
			if v == nil {
				out = push(f, out, v)
				return true
			}
			if d.put(f, v, true) {
				out = push(f, out, v)
			}
			return true
		})
		return out
	}))
	ext("Distinct<T>(this IEnumerable<T> source, StringComparer comparer) IEnumerable<T>", x2(func(f *frame, src any, c StringComparer) []any {
		d := newDict(c.IgnoreCase)
		out := []any{}
		iterate(f, src, func(v any) bool {
			if d.put(f, v, true) {
				out = push(f, out, v)
			}
			return true
		})
		return out
	}))
	ext("Skip<T>(this IEnumerable<T> source, int count) IEnumerable<T>", x2(func(f *frame, src any, n int32) []any {
		items := toSlice(f, src)
		if n < 0 {
			n = 0
		}
		if int(n) > len(items) {
			return []any{}
		}
		return copySlice(f, items[n:])
	}))
	ext("Take<T>(this IEnumerable<T> source, int count) IEnumerable<T>", x2(func(f *frame, src any, n int32) []any {
		out := []any{}
		if n <= 0 {
			return out
		}
		iterate(f, src, func(v any) bool {
			out = push(f, out, v)
			return len(out) < int(n)
		})
		return out
	}))
	ext("SkipWhile<T>(this IEnumerable<T> source, Func<T, bool> predicate) IEnumerable<T>", x2(func(f *frame, src any, p *lambdaCode) []any {
		out := []any{}
		skipping := true
		iterate(f, src, func(v any) bool {
			if skipping && p.pred(f, v) {
				return true
			}
			skipping = false
			out = push(f, out, v)
			return true
		})
		return out
	}))
	ext("TakeWhile<T>(this IEnumerable<T> source, Func<T, bool> predicate) IEnumerable<T>", x2(func(f *frame, src any, p *lambdaCode) []any {
		out := []any{}
		iterate(f, src, func(v any) bool {
			if !p.pred(f, v) {
				return false
			}
			out = push(f, out, v)
			return true
		})
		return out
	}))
	ext("Reverse<T>(this IEnumerable<T> source) IEnumerable<T>", x1(func(f *frame, src any) []any {
		items := toSlice(f, src)
		f.allocN(len(items), slotBytes)
		out := make([]any, len(items))
		for i, v := range items {
			out[len(items)-1-i] = v
		}
		return out
	}))
	concat := func(f *frame, a, b any) []any {
		x, y := toSlice(f, a), toSlice(f, b)
		f.allocN(len(x)+len(y), slotBytes)
		return append(append(make([]any, 0, len(x)+len(y)), x...), y...)
	}
	ext("Concat<T>(this IEnumerable<T> first, IEnumerable<T> second) IEnumerable<T>", x2(concat))
	ext("Union<T>(this IEnumerable<T> first, IEnumerable<T> second) IEnumerable<T>", x2(func(f *frame, a, b any) []any {
		d := newDict(false)
		out := []any{}
		for _, v := range concat(f, a, b) {
			if d.put(f, v, true) {
				out = push(f, out, v)
			}
		}
		return out
	}))
	ext("Intersect<T>(this IEnumerable<T> first, IEnumerable<T> second) IEnumerable<T>", x2(func(f *frame, a, b any) []any {
		other := newDict(false)
		for _, v := range toSlice(f, b) {
			other.put(f, v, true)
		}
		seen := newDict(false)
		out := []any{}
		for _, v := range toSlice(f, a) {
			if _, ok := other.Get(v); ok && seen.put(f, v, true) {
				out = push(f, out, v)
			}
		}
		return out
	}))
	ext("Except<T>(this IEnumerable<T> first, IEnumerable<T> second) IEnumerable<T>", x2(func(f *frame, a, b any) []any {
		other := newDict(false)
		for _, v := range toSlice(f, b) {
			other.put(f, v, true)
		}
		out := []any{}
		for _, v := range toSlice(f, a) {
			if other.put(f, v, true) {
				out = push(f, out, v)
			}
		}
		return out
	}))
	ext("SequenceEqual<T>(this IEnumerable<T> first, IEnumerable<T> second) bool", x2(func(f *frame, a, b any) bool {
		x, y := toSlice(f, a), toSlice(f, b)
		if len(x) != len(y) {
			return false
		}
		for i := range x {
			if !valueEq(x[i], y[i]) {
				return false
			}
		}
		return true
	}))
	elemAt := func(orDefault bool) implFn {
		return func(c *checker, cs *site, args []*operand) *operand {
			g, i := args[0].anyFn(), args[1].i32Fn()
			z := c.zeroOf(cs.t, cs.n).anyFn()
			return fromAny(cs.t, cs.n, func(f *frame) any {
				src, k := g(f), i(f)
				var v any
				found := false
				if k >= 0 {
					n := int32(0)
					iterate(f, src, func(x any) bool {
						if n == k {
							v, found = x, true
							return false
						}
						n++
						return true
					})
				}
				if !found {
					if orDefault {
						return z(f)
					}
					throw("ArgumentOutOfRangeException", "Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')")
				}
				return v
			})
		}
	}
	ext("ElementAt<T>(this IEnumerable<T> source, int index) T", elemAt(false))
	ext("ElementAtOrDefault<T>(this IEnumerable<T> source, int index) T", elemAt(true))
	ext("DefaultIfEmpty<T>(this IEnumerable<T> source) IEnumerable<T>", func(c *checker, cs *site, args []*operand) *operand {
		g := args[0].anyFn()
		z := c.zeroOf(cs.bind["T"], cs.n).anyFn()
		return &operand{t: cs.t, n: cs.n, o: func(f *frame) any {
			items := toSlice(f, g(f))
			if len(items) == 0 {
				return []any{z(f)}
			}
			return items
		}}
	})
	ext("DefaultIfEmpty<T>(this IEnumerable<T> source, T defaultValue) IEnumerable<T>", x2(func(f *frame, src, d any) []any {
		if items := toSlice(f, src); len(items) > 0 {
			return items
		}
		return []any{d}
	}))
	ext("Cast<TResult>(this IEnumerable source) IEnumerable<TResult>", func(c *checker, cs *site, args []*operand) *operand {
		g, to := args[0].anyFn(), cs.targs[0]
		test := c.typeTest(to)
		return &operand{t: cs.t, n: cs.n, o: func(f *frame) any {
			out := []any{}
			iterate(f, g(f), func(v any) bool {
				if v != nil && test != nil && !test(v) {
					throw("InvalidCastException", "Unable to cast object of type '%s' to type '%s'", dotnetTypeName(v), clrName(to))
				}
				out = push(f, out, v)
				return true
			})
			return out
		}}
	})
	ext("OfType<TResult>(this IEnumerable source) IEnumerable<TResult>", func(c *checker, cs *site, args []*operand) *operand {
		g, to := args[0].anyFn(), cs.targs[0]
		test := c.typeTest(to)
		return &operand{t: cs.t, n: cs.n, o: func(f *frame) any {
			out := []any{}
			iterate(f, g(f), func(v any) bool {
				if v != nil && (test == nil || test(v)) {
					out = push(f, out, v)
				}
				return true
			})
			return out
		}}
	})
	ext("Aggregate<T, TAccumulate>(this IEnumerable<T> source, TAccumulate seed, Func<TAccumulate, T, TAccumulate> func) TAccumulate", func(c *checker, cs *site, args []*operand) *operand {
		g, seed, fn := args[0].anyFn(), args[1].anyFn(), args[2].lamc
		return fromAny(cs.t, cs.n, func(f *frame) any {
			acc := seed(f)
			iterate(f, g(f), func(v any) bool { acc = fn.call(f, acc, v); return true })
			return acc
		})
	})

	// numeric aggregates
	sumInt := func(f *frame, vals []any) int32 {
		var s int64
		for _, v := range vals {
			s += toI64(v)
			if s > math.MaxInt32 || s < math.MinInt32 {
				throw("OverflowException", "Arithmetic operation resulted in an overflow")
			}
		}
		return int32(s)
	}
	sumLong := func(f *frame, vals []any) int64 {
		var s int64
		for _, v := range vals {
			x := toI64(v)
			if (x > 0 && s > math.MaxInt64-x) || (x < 0 && s < math.MinInt64-x) {
				throw("OverflowException", "Arithmetic operation resulted in an overflow")
			}
			s += x
		}
		return s
	}
	sumDouble := func(f *frame, vals []any) float64 {
		var s float64
		for _, v := range vals {
			s += toF64(v)
		}
		return s
	}
	mapped := func(f *frame, src any, p *lambdaCode) []any {
		out := []any{}
		iterate(f, src, func(v any) bool {
			if p != nil {
				v = p.call(f, v)
			}
			out = push(f, out, v)
			return true
		})
		return out
	}
	ext("Sum(this IEnumerable<int> source) int", x1(func(f *frame, src any) int32 { return sumInt(f, mapped(f, src, nil)) }))
	ext("Sum(this IEnumerable<long> source) long", x1(func(f *frame, src any) int64 { return sumLong(f, mapped(f, src, nil)) }))
	ext("Sum(this IEnumerable<double> source) double", x1(func(f *frame, src any) float64 { return sumDouble(f, mapped(f, src, nil)) }))
	sumDecimal := func(f *frame, vals []any) Decimal {
		var s Decimal
		for _, v := range vals {
			d, _ := v.(Decimal)
			s = decAdd(s, d)
		}
		return s
	}
	ext("Sum(this IEnumerable<decimal> source) decimal", x1(func(f *frame, src any) Decimal { return sumDecimal(f, mapped(f, src, nil)) }))
	ext("Sum<T>(this IEnumerable<T> source, Func<T, decimal> selector) decimal", x2(func(f *frame, src any, p *lambdaCode) Decimal { return sumDecimal(f, mapped(f, src, p)) }))
	avgDecimal := func(f *frame, vals []any) Decimal {
		if len(vals) == 0 {
			throw("InvalidOperationException", "Sequence contains no elements")
		}
		return decDiv(sumDecimal(f, vals), decFromInt64(int64(len(vals))))
	}
	ext("Average(this IEnumerable<decimal> source) decimal", x1(func(f *frame, src any) Decimal { return avgDecimal(f, mapped(f, src, nil)) }))
	ext("Average<T>(this IEnumerable<T> source, Func<T, decimal> selector) decimal", x2(func(f *frame, src any, p *lambdaCode) Decimal { return avgDecimal(f, mapped(f, src, p)) }))
	ext("Sum<T>(this IEnumerable<T> source, Func<T, int> selector) int", x2(func(f *frame, src any, p *lambdaCode) int32 { return sumInt(f, mapped(f, src, p)) }))
	ext("Sum<T>(this IEnumerable<T> source, Func<T, long> selector) long", x2(func(f *frame, src any, p *lambdaCode) int64 { return sumLong(f, mapped(f, src, p)) }))
	ext("Sum<T>(this IEnumerable<T> source, Func<T, double> selector) double", x2(func(f *frame, src any, p *lambdaCode) float64 { return sumDouble(f, mapped(f, src, p)) }))
	avg := func(f *frame, vals []any) float64 {
		if len(vals) == 0 {
			throw("InvalidOperationException", "Sequence contains no elements")
		}
		return sumDouble(f, vals) / float64(len(vals))
	}
	ext("Average(this IEnumerable<int> source) double", x1(func(f *frame, src any) float64 { return avg(f, mapped(f, src, nil)) }))
	ext("Average(this IEnumerable<long> source) double", x1(func(f *frame, src any) float64 { return avg(f, mapped(f, src, nil)) }))
	ext("Average(this IEnumerable<double> source) double", x1(func(f *frame, src any) float64 { return avg(f, mapped(f, src, nil)) }))
	ext("Average<T>(this IEnumerable<T> source, Func<T, double> selector) double", x2(func(f *frame, src any, p *lambdaCode) float64 { return avg(f, mapped(f, src, p)) }))
	extreme := func(wantMax bool, withSel bool) implFn {
		return func(c *checker, cs *site, args []*operand) *operand {
			g := args[0].anyFn()
			var p *lambdaCode
			if withSel {
				p = args[1].lamc
			}
			nullable := !cs.t.value || cs.t.kind == tkNullable
			return fromAny(cs.t, cs.n, func(f *frame) any {
				vals := mapped(f, g(f), p)
				var best any
				for _, v := range vals {
					if v == nil {
						continue
					}
					if best == nil {
						best = v
						continue
					}
					cmp := defaultCompare(v, best)
					if wantMax && cmp > 0 || !wantMax && cmp < 0 {
						best = v
					}
				}
				if best == nil && !nullable {
					throw("InvalidOperationException", "Sequence contains no elements")
				}
				return best
			})
		}
	}
	ext("Max<T>(this IEnumerable<T> source) T", extreme(true, false))
	ext("Min<T>(this IEnumerable<T> source) T", extreme(false, false))
	ext("Max<T, TResult>(this IEnumerable<T> source, Func<T, TResult> selector) TResult", extreme(true, true))
	ext("Min<T, TResult>(this IEnumerable<T> source, Func<T, TResult> selector) TResult", extreme(false, true))
}

func boxToStr(v any, s string) string {
	if v == nil {
		return nullStr
	}
	return s
}

// copySlice copies items, charging for the copy.
func copySlice(f *frame, items []any) []any {
	f.allocN(len(items), slotBytes)
	return append(make([]any, 0, len(items)), items...)
}

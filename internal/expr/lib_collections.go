package expr

import (
	"fmt"
	"math/bits"
	"reflect"
	"slices"
	"sort"
	"strings"
	"time"
)

// List is a List<T>.
type List struct{ Items []any }

// Dict is a Dictionary<TKey, TValue>: insertion-ordered, optionally with
// case-insensitive string keys.
type Dict struct {
	keys  []any
	vals  []any
	index map[any]int
	fold  bool
}

// HashSet is a HashSet<T>, insertion-ordered.
type HashSet struct{ d *Dict }

// Queue is a Queue<T>; Stack is a Stack<T>.
type Queue struct{ items []any }

// Stack is a Stack<T>.
type Stack struct{ items []any }

func newDict(fold bool) *Dict { return &Dict{index: map[any]int{}, fold: fold} }

// dictKey normalises a key for the index map.
func (d *Dict) dictKey(k any) any {
	switch x := k.(type) {
	case string:
		if d.fold {
			return strings.ToUpper(x)
		}
		return x
	case nil:
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'key')")
	case int:
		return int32(x)
	case *JValue:
		return jvalueDictKey(x) // JValue overrides Equals and GetHashCode
	case Decimal:
		return x.normalized() // 1.0m and 1.00m are one key
	}
	if !reflect.TypeOf(k).Comparable() {
		return fmt.Sprintf("%T:%p", k, k)
	}
	return k
}

// Get returns the value for a key.
func (d *Dict) Get(k any) (any, bool) {
	i, ok := d.index[d.dictKey(k)]
	if !ok {
		return nil, false
	}
	return d.vals[i], true
}

// Len is the number of entries.
func (d *Dict) Len() int { return len(d.keys) }

// Keys returns the keys in insertion order.
func (d *Dict) Keys() []any { return d.keys }

func (d *Dict) set(k, v any) {
	key := d.dictKey(k)
	if i, ok := d.index[key]; ok {
		d.vals[i] = v
		return
	}
	d.index[key] = len(d.keys)
	d.keys = append(d.keys, k)
	d.vals = append(d.vals, v)
}

// add is Add: it throws if the key is there already.
func (d *Dict) add(f *frame, k, v any) {
	if !d.put(f, k, v) {
		throw("ArgumentException", "An item with the same key has already been added. Key: %s", f.str(k))
	}
}

// put adds the key unless it is there already, charging f for the new entry,
// and reports whether it did.
func (d *Dict) put(f *frame, k, v any) bool {
	if _, ok := d.index[d.dictKey(k)]; ok {
		return false
	}
	f.alloc(dictEntryBytes)
	d.set(k, v)
	return true
}

// store is the indexer's setter: it adds or replaces, charging f for a new
// entry.
func (d *Dict) store(f *frame, k, v any) {
	if _, ok := d.index[d.dictKey(k)]; !ok {
		f.alloc(dictEntryBytes)
	}
	d.set(k, v)
}

// remove deletes a key; the entries after it move down, so it is charged for
// them.
func (d *Dict) remove(f *frame, k any) bool {
	key := d.dictKey(k)
	i, ok := d.index[key]
	if !ok {
		return false
	}
	f.elems(len(d.keys) - i)
	d.keys = append(d.keys[:i:i], d.keys[i+1:]...)
	d.vals = append(d.vals[:i:i], d.vals[i+1:]...)
	delete(d.index, key)
	for j := i; j < len(d.keys); j++ {
		d.index[d.dictKey(d.keys[j])] = j
	}
	return true
}

// Items returns the set's elements in insertion order.
func (h *HashSet) Items() []any { return h.d.keys }

// seqCount counts an enumerable without copying when it can.
func seqCount(f *frame, v any) int {
	switch x := v.(type) {
	case *List:
		return len(x.Items)
	case *Dict:
		return len(x.keys)
	case *HashSet:
		return len(x.d.keys)
	case *JArray:
		return len(x.Items)
	case *JObject:
		return len(x.props)
	case rangeSeq:
		return int(x.count)
	case repeatSeq:
		return int(x.count)
	}
	if n := arrLen(v); n > 0 || isArray(v) {
		return n
	}
	n := 0
	iterate(f, v, func(any) bool { n++; return true })
	return n
}

func isArray(v any) bool {
	switch v.(type) {
	case []string, []byte, []int32, []int64, []float64, []bool, []any:
		return true
	}
	return false
}

// seqIndex reads element i of an IList<T>.
func seqIndex(f *frame, v any, i int32) any {
	switch x := v.(type) {
	case *List:
		if i < 0 || int(i) >= len(x.Items) {
			throw("ArgumentOutOfRangeException", "Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')")
		}
		return x.Items[i]
	}
	if isArray(v) {
		if i < 0 || int(i) >= arrLen(v) {
			throw("IndexOutOfRangeException", "Index was outside the bounds of the array: index %d, length %d", i, arrLen(v))
		}
		return arrGet(v, int(i))
	}
	items := toSlice(f, v)
	if i < 0 || int(i) >= len(items) {
		throw("ArgumentOutOfRangeException", "Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')")
	}
	return items[i]
}

func listIndex(l *List, i int32) int {
	if i < 0 || int(i) >= len(l.Items) {
		throw("ArgumentOutOfRangeException", "Index was out of range. Must be non-negative and less than the size of the collection. (Parameter 'index')")
	}
	return int(i)
}

// declDictMembers declares the dictionary members on d (Dictionary and the
// dictionary interfaces).
func declDictMembers(u *universe, d *typeDef, readOnly bool) {
	d.elem = func(t *Type) *Type {
		if len(t.args) == 2 {
			return u.kvType(t.args[0], t.args[1])
		}
		return nil
	}
	d.is = func(v any) bool { _, ok := v.(*Dict); return ok }
	get := f2(func(m *Dict, k any) any {
		v, ok := m.Get(k)
		if !ok {
			throw("KeyNotFoundException", "The given key '%s' was not present in the dictionary", toStringAny(k))
		}
		return v
	})
	if readOnly {
		d.index("this[TKey key] TValue", get, nil)
	} else {
		d.index("this[TKey key] TValue", get, vx3(func(f *frame, m *Dict, k, v any) { m.store(f, k, v) }))
		d.method("Add(TKey key, TValue value) void", vx3(func(f *frame, m *Dict, k, v any) { m.add(f, k, v) }))
		d.method("TryAdd(TKey key, TValue value) bool", x3(func(f *frame, m *Dict, k, v any) bool { return m.put(f, k, v) }))
		d.method("Remove(TKey key) bool", x2(func(f *frame, m *Dict, k any) bool { return m.remove(f, k) }))
		d.method("Clear() void", v1(func(m *Dict) { *m = *newDict(m.fold) }))
	}
	d.prop("Count int", f1(func(m *Dict) int32 { return int32(len(m.keys)) }))
	d.prop("Keys IEnumerable<TKey>", x1(func(f *frame, m *Dict) keysView { return keysView{copySlice(f, m.keys)} }))
	d.prop("Values IEnumerable<TValue>", x1(func(f *frame, m *Dict) valuesView { return valuesView{copySlice(f, m.vals)} }))
	d.method("ContainsKey(TKey key) bool", f2(func(m *Dict, k any) bool { _, ok := m.Get(k); return ok }))
	d.method("ContainsValue(TValue value) bool", x2(func(f *frame, m *Dict, v any) bool {
		f.elems(len(m.vals))
		for _, x := range m.vals {
			if valueEq(x, v) {
				return true
			}
		}
		return false
	}))
	d.method("TryGetValue(TKey key, out TValue value) bool", f3(func(m *Dict, k any, out *outRef) bool {
		v, ok := m.Get(k)
		out.set(v)
		return ok
	}))
	d.method("GetValueOrDefault(TKey key) TValue", func(c *checker, cs *site, args []*operand) *operand {
		m, k := args[0].anyFn(), args[1].anyFn()
		z := c.zeroOf(cs.t, cs.n).anyFn()
		return fromAny(cs.t, cs.n, func(f *frame) any {
			if v, ok := m(f).(*Dict).Get(k(f)); ok {
				return v
			}
			return z(f)
		})
	})
	d.method("GetValueOrDefault(TKey key, TValue defaultValue) TValue", func(c *checker, cs *site, args []*operand) *operand {
		m, k, dv := args[0].anyFn(), args[1].anyFn(), args[2].anyFn()
		return fromAny(cs.t, cs.n, func(f *frame) any {
			if v, ok := m(f).(*Dict).Get(k(f)); ok {
				return v
			}
			return dv(f)
		})
	})
}

func declCollections(u *universe) {
	gen := "System.Collections.Generic."
	// interfaces
	ie := u.decl(gen+"IEnumerable", tkClass, "", "T")
	ie.elem = func(t *Type) *Type { return t.args[0] }
	ie.is = isIterable
	ien := u.decl("System.Collections.IEnumerable", tkClass, "")
	ien.elem = func(*Type) *Type { return tObject }
	ien.is = isIterable
	for _, name := range []string{"ICollection", "IReadOnlyCollection", "IList", "IReadOnlyList", "ISet"} {
		d := u.decl(gen+name, tkClass, "", "T")
		d.elem = func(t *Type) *Type { return t.args[0] }
		d.is = isIterable
		d.prop("Count int", x1(func(f *frame, v any) int32 { return int32(seqCount(f, v)) }))
		if name == "IList" || name == "IReadOnlyList" {
			d.index("this[int index] T", x2(func(f *frame, v any, i int32) any { return seqIndex(f, v, i) }), nil)
		}
		if name != "IReadOnlyCollection" && name != "IReadOnlyList" {
			d.method("Contains(T item) bool", x2(func(f *frame, v, x any) bool {
				found := false
				iterate(f, v, func(e any) bool {
					if valueEq(e, x) {
						found = true
						return false
					}
					return true
				})
				return found
			}))
		}
	}
	u.decl(gen+"IEqualityComparer", tkClass, "", "T").is = func(v any) bool { _, ok := v.(StringComparer); return ok }
	declDictMembers(u, u.decl(gen+"IDictionary", tkClass, "", "TKey", "TValue"), false)
	declDictMembers(u, u.decl(gen+"IReadOnlyDictionary", tkClass, "", "TKey", "TValue"), true)

	// Dictionary<TKey, TValue>
	dict := u.decl(gen+"Dictionary", tkClass, "", "TKey", "TValue")
	dict.ifaces = []string{"IDictionary<TKey, TValue>", "IReadOnlyDictionary<TKey, TValue>"}
	declDictMembers(u, dict, false)
	dict.ctor("()", f0(func() *Dict { return newDict(false) }))
	dict.ctor("(int capacity)", f1(func(int32) *Dict { return newDict(false) }))
	dict.ctor("(StringComparer comparer)", f1(func(c StringComparer) *Dict { return newDict(c.IgnoreCase) }))
	dict.ctor("(IEnumerable<KeyValuePair<TKey, TValue>> collection)", x1(func(f *frame, v any) *Dict {
		d := newDict(false)
		iterate(f, v, func(e any) bool {
			kv := e.(KeyValuePair)
			d.add(f, kv.Key, kv.Value)
			return true
		})
		return d
	}))
	dict.ctor("(IEnumerable<KeyValuePair<TKey, TValue>> collection, StringComparer comparer)", x2(func(f *frame, v any, c StringComparer) *Dict {
		d := newDict(c.IgnoreCase)
		iterate(f, v, func(e any) bool {
			kv := e.(KeyValuePair)
			d.add(f, kv.Key, kv.Value)
			return true
		})
		return d
	}))

	// List<T>
	list := u.decl(gen+"List", tkClass, "", "T")
	list.ifaces = []string{"IList<T>", "ICollection<T>", "IReadOnlyList<T>", "IReadOnlyCollection<T>", "IEnumerable<T>"}
	list.elem = func(t *Type) *Type { return t.args[0] }
	list.is = func(v any) bool { _, ok := v.(*List); return ok }
	list.ctor("()", f0(func() *List { return &List{} }))
	list.ctor("(int capacity)", f1(func(n int32) *List {
		if n < 0 {
			throw("ArgumentOutOfRangeException", "Non-negative number required. (Parameter 'capacity')")
		}
		return &List{}
	}))
	list.ctor("(IEnumerable<T> collection)", x1(func(f *frame, v any) *List { return &List{Items: copySlice(f, toSlice(f, v))} }))
	list.prop("Count int", f1(func(l *List) int32 { return int32(len(l.Items)) }))
	list.index("this[int index] T", f2(func(l *List, i int32) any { return l.Items[listIndex(l, i)] }),
		v3(func(l *List, i int32, v any) { l.Items[listIndex(l, i)] = v }))
	list.method("Add(T item) void", vx2(func(f *frame, l *List, v any) { l.Items = push(f, l.Items, v) }))
	list.method("AddRange(IEnumerable<T> collection) void", vx2(func(f *frame, l *List, v any) {
		items := toSlice(f, v)
		f.allocN(len(items), 2*slotBytes)
		l.Items = append(l.Items, items...)
	}))
	list.method("Insert(int index, T item) void", vx3(func(f *frame, l *List, i int32, v any) {
		if i < 0 || int(i) > len(l.Items) {
			throw("ArgumentOutOfRangeException", "Index must be within the bounds of the List. (Parameter 'index')")
		}
		f.elems(len(l.Items))
		f.alloc(2 * slotBytes)
		l.Items = slices.Insert(l.Items, int(i), v)
	}))
	list.method("Remove(T item) bool", x2(func(f *frame, l *List, v any) bool {
		f.elems(len(l.Items))
		for i, x := range l.Items {
			if valueEq(x, v) {
				l.Items = append(l.Items[:i:i], l.Items[i+1:]...)
				return true
			}
		}
		return false
	}))
	list.method("RemoveAt(int index) void", vx2(func(f *frame, l *List, i int32) {
		k := listIndex(l, i)
		f.elems(len(l.Items) - k)
		l.Items = append(l.Items[:k:k], l.Items[k+1:]...)
	}))
	list.method("RemoveAll(Predicate<T> match) int", x2(func(f *frame, l *List, p *lambdaCode) int32 {
		var keep []any
		removed := 0
		for _, x := range l.Items {
			if p.pred(f, x) {
				removed++
			} else {
				keep = push(f, keep, x)
			}
		}
		l.Items = keep
		return int32(removed)
	}))
	list.method("Clear() void", v1(func(l *List) { l.Items = nil }))
	list.method("Contains(T item) bool", x2(func(f *frame, l *List, v any) bool {
		f.elems(len(l.Items))
		for _, x := range l.Items {
			if valueEq(x, v) {
				return true
			}
		}
		return false
	}))
	list.method("IndexOf(T item) int", x2(func(f *frame, l *List, v any) int32 {
		f.elems(len(l.Items))
		for i, x := range l.Items {
			if valueEq(x, v) {
				return int32(i)
			}
		}
		return -1
	}))
	list.method("ToArray() T[]", func(c *checker, cs *site, args []*operand) *operand {
		g, et := args[0].anyFn(), cs.t.elem
		return &operand{t: cs.t, n: cs.n, o: func(f *frame) any {
			return makeArrayFrom(et, copySlice(f, g(f).(*List).Items))
		}}
	})
	list.method("Sort() void", vx1(func(f *frame, l *List) {
		f.elems(len(l.Items) * bits.Len(uint(len(l.Items))))
		sort.SliceStable(l.Items, func(i, j int) bool { return defaultCompare(l.Items[i], l.Items[j]) < 0 })
	}))
	list.method("Sort(Comparison<T> comparison) void", vx2(func(f *frame, l *List, cmp *lambdaCode) {
		sort.SliceStable(l.Items, func(i, j int) bool { return toI32(cmp.call(f, l.Items[i], l.Items[j])) < 0 })
	}))
	list.method("Reverse() void", vx1(func(f *frame, l *List) {
		f.elems(len(l.Items))
		for i, j := 0, len(l.Items)-1; i < j; i, j = i+1, j-1 {
			l.Items[i], l.Items[j] = l.Items[j], l.Items[i]
		}
	}))
	list.method("Find(Predicate<T> match) T", func(c *checker, cs *site, args []*operand) *operand {
		g, p := args[0].anyFn(), args[1].lamc
		z := c.zeroOf(cs.t, cs.n).anyFn()
		return fromAny(cs.t, cs.n, func(f *frame) any {
			for _, x := range g(f).(*List).Items {
				if p.pred(f, x) {
					return x
				}
			}
			return z(f)
		})
	})
	list.method("FindAll(Predicate<T> match) List<T>", x2(func(f *frame, l *List, p *lambdaCode) *List {
		out := &List{}
		for _, x := range l.Items {
			if p.pred(f, x) {
				out.Items = push(f, out.Items, x)
			}
		}
		return out
	}))
	list.method("FindIndex(Predicate<T> match) int", x2(func(f *frame, l *List, p *lambdaCode) int32 {
		for i, x := range l.Items {
			if p.pred(f, x) {
				return int32(i)
			}
		}
		return -1
	}))
	list.method("Exists(Predicate<T> match) bool", x2(func(f *frame, l *List, p *lambdaCode) bool {
		for _, x := range l.Items {
			if p.pred(f, x) {
				return true
			}
		}
		return false
	}))
	list.method("TrueForAll(Predicate<T> match) bool", x2(func(f *frame, l *List, p *lambdaCode) bool {
		for _, x := range l.Items {
			if !p.pred(f, x) {
				return false
			}
		}
		return true
	}))
	list.method("ForEach(Action<T> action) void", vx2(func(f *frame, l *List, a *lambdaCode) {
		for _, x := range copySlice(f, l.Items) {
			a.call(f, x)
		}
	}))
	list.method("GetRange(int index, int count) List<T>", x3(func(f *frame, l *List, i, n int32) *List {
		if i < 0 || n < 0 || int64(i)+int64(n) > int64(len(l.Items)) {
			throw("ArgumentException", "Offset and length were out of bounds for the array or count is greater than the number of elements from index to the end of the source collection")
		}
		return &List{Items: copySlice(f, l.Items[i:i+n])}
	}))

	// HashSet<T>
	hs := u.decl(gen+"HashSet", tkClass, "", "T")
	hs.ifaces = []string{"ISet<T>", "ICollection<T>", "IReadOnlyCollection<T>", "IEnumerable<T>"}
	hs.elem = func(t *Type) *Type { return t.args[0] }
	hs.is = func(v any) bool { _, ok := v.(*HashSet); return ok }
	hsAdd := func(f *frame, h *HashSet, v any) bool { return h.d.put(f, v, true) }
	hs.ctor("()", f0(func() *HashSet { return &HashSet{newDict(false)} }))
	hs.ctor("(StringComparer comparer)", f1(func(c StringComparer) *HashSet { return &HashSet{newDict(c.IgnoreCase)} }))
	hs.ctor("(IEnumerable<T> collection)", x1(func(f *frame, v any) *HashSet {
		h := &HashSet{newDict(false)}
		iterate(f, v, func(e any) bool { hsAdd(f, h, e); return true })
		return h
	}))
	hs.ctor("(IEnumerable<T> collection, StringComparer comparer)", x2(func(f *frame, v any, c StringComparer) *HashSet {
		h := &HashSet{newDict(c.IgnoreCase)}
		iterate(f, v, func(e any) bool { hsAdd(f, h, e); return true })
		return h
	}))
	hs.prop("Count int", f1(func(h *HashSet) int32 { return int32(len(h.d.keys)) }))
	hs.method("Add(T item) bool", x2(func(f *frame, h *HashSet, v any) bool { return hsAdd(f, h, v) }))
	hs.method("Contains(T item) bool", f2(func(h *HashSet, v any) bool { _, ok := h.d.Get(v); return ok }))
	hs.method("Remove(T item) bool", x2(func(f *frame, h *HashSet, v any) bool { return h.d.remove(f, v) }))
	hs.method("Clear() void", v1(func(h *HashSet) { h.d = newDict(h.d.fold) }))
	hs.method("UnionWith(IEnumerable<T> other) void", vx2(func(f *frame, h *HashSet, v any) {
		iterate(f, v, func(e any) bool { hsAdd(f, h, e); return true })
	}))
	hs.method("ExceptWith(IEnumerable<T> other) void", vx2(func(f *frame, h *HashSet, v any) {
		iterate(f, v, func(e any) bool { h.d.remove(f, e); return true })
	}))
	hs.method("IntersectWith(IEnumerable<T> other) void", vx2(func(f *frame, h *HashSet, v any) {
		other := &HashSet{newDict(h.d.fold)}
		iterate(f, v, func(e any) bool { hsAdd(f, other, e); return true })
		var keep []any
		for _, k := range h.d.keys {
			if _, ok := other.d.Get(k); ok {
				keep = push(f, keep, k)
			}
		}
		h.d = newDict(h.d.fold)
		for _, k := range keep {
			h.d.set(k, true)
		}
	}))

	// Queue<T>, Stack<T>
	q := u.decl(gen+"Queue", tkClass, "", "T")
	q.elem = func(t *Type) *Type { return t.args[0] }
	q.is = func(v any) bool { _, ok := v.(*Queue); return ok }
	q.ctor("()", f0(func() *Queue { return &Queue{} }))
	q.prop("Count int", f1(func(q *Queue) int32 { return int32(len(q.items)) }))
	q.method("Enqueue(T item) void", vx2(func(f *frame, q *Queue, v any) { q.items = push(f, q.items, v) }))
	q.method("Dequeue() T", f1(func(q *Queue) any {
		if len(q.items) == 0 {
			throw("InvalidOperationException", "Queue empty.")
		}
		v := q.items[0]
		q.items = q.items[1:]
		return v
	}))
	q.method("Peek() T", f1(func(q *Queue) any {
		if len(q.items) == 0 {
			throw("InvalidOperationException", "Queue empty.")
		}
		return q.items[0]
	}))
	st := u.decl(gen+"Stack", tkClass, "", "T")
	st.elem = func(t *Type) *Type { return t.args[0] }
	st.is = func(v any) bool { _, ok := v.(*Stack); return ok }
	st.ctor("()", f0(func() *Stack { return &Stack{} }))
	st.prop("Count int", f1(func(s *Stack) int32 { return int32(len(s.items)) }))
	st.method("Push(T item) void", vx2(func(f *frame, s *Stack, v any) { s.items = push(f, s.items, v) }))
	st.method("Pop() T", f1(func(s *Stack) any {
		if len(s.items) == 0 {
			throw("InvalidOperationException", "Stack empty.")
		}
		v := s.items[len(s.items)-1]
		s.items = s.items[:len(s.items)-1]
		return v
	}))
	st.method("Peek() T", f1(func(s *Stack) any {
		if len(s.items) == 0 {
			throw("InvalidOperationException", "Stack empty.")
		}
		return s.items[len(s.items)-1]
	}))
}

// defaultCompare is Comparer<T>.Default: numbers by value, strings with the
// invariant culture's ordering (letters compared without case first, lower case
// before upper case on ties), dates chronologically, null first.
func defaultCompare(a, b any) int {
	switch {
	case a == nil && b == nil:
		return 0
	case a == nil:
		return -1
	case b == nil:
		return 1
	}
	switch x := a.(type) {
	case string:
		y, _ := b.(string)
		return cultureCompare(x, y)
	case bool:
		y, _ := b.(bool)
		switch {
		case x == y:
			return 0
		case !x:
			return -1
		}
		return 1
	case time.Time, DateTimeOffset, time.Duration, Guid, Decimal:
		return compareValues(a, b)
	case JToken:
		return cultureCompare(toStringAny(a), toStringAny(b))
	}
	fa, fb := toF64(a), toF64(b)
	switch {
	case fa < fb:
		return -1
	case fa > fb:
		return 1
	}
	return 0
}

func cultureCompare(a, b string) int { return cultureCmp(a, b, false) }

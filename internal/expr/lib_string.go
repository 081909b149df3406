package expr

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// String comparisons: culture-sensitive comparisons are done ordinally, with
// Unicode simple case folding for the IgnoreCase variants. For the ASCII text of
// headers, paths and tokens this is what .NET's invariant culture does.

func equalFoldOrdinal(a, b string) bool { return strings.EqualFold(a, b) }

func toUpperInvariant(s string) string { return strings.ToUpper(s) }

// ignoreCase reports whether a StringComparison value compares without case.
func ignoreCase(cmp int64) bool { return cmp%2 == 1 }

func mustNotNull(s, param string) {
	if isNull(s) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter '%s')", param)
	}
}

// u16 gives UTF-16 indexed access to a string, with a fast path for ASCII. Get
// one with frame.u16, which caches and charges the conversion.
type u16 struct {
	s     string
	ascii bool
	units []uint16
}

func newU16(s string) u16 {
	if isASCII(s) {
		return u16{s: s, ascii: true}
	}
	return u16{s: s, units: toUTF16(s)}
}

func (u u16) len() int {
	if u.ascii {
		return len(u.s)
	}
	return len(u.units)
}

// slice is s[i:j] in UTF-16 units: a substring for ASCII, a conversion (charged
// by the caller) otherwise.
func (u u16) slice(i, j int) string {
	if u.ascii {
		return u.s[i:j]
	}
	return fromUTF16(u.units[i:j])
}

// sliceCost is what slice(i, j) allocates.
func (u u16) sliceCost(i, j int) int {
	if u.ascii {
		return 0
	}
	return 3 * (j - i)
}

// byteToUnit converts a byte offset in u.s to a UTF-16 index.
func (u u16) byteToUnit(b int) int {
	if u.ascii || b < 0 {
		return b
	}
	n := 0
	for _, r := range u.s[:b] {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}

// unitToByte converts a UTF-16 index to a byte offset (the start of a
// surrogate pair that the index splits).
func (u u16) unitToByte(i int) int {
	if u.ascii {
		return i
	}
	n := 0
	for b, r := range u.s {
		w := 1
		if r >= 0x10000 {
			w = 2
		}
		if n+w > i {
			return b
		}
		n += w
	}
	return len(u.s)
}

func indexOfStr(f *frame, s, v string, start int, cmp int64) int32 {
	mustNotNull(v, "value")
	u := f.u16(s)
	if start < 0 || start > u.len() {
		throw("ArgumentOutOfRangeException", "Index was out of range. Must be non-negative and less than or equal to the size of the string. (Parameter 'startIndex')")
	}
	b := u.unitToByte(start)
	hay, needle := s[b:], v
	f.work(len(hay))
	var i int
	if ignoreCase(cmp) {
		i = indexFold(f, hay, needle)
	} else {
		i = strings.Index(hay, needle)
	}
	if i < 0 {
		return -1
	}
	return int32(u.byteToUnit(b + i))
}

// indexFold finds needle in hay without regard to case, comparing both
// upper-cased as .NET's OrdinalIgnoreCase does, in linear time. It returns a
// byte offset into hay.
func indexFold(f *frame, hay, needle string) int {
	if needle == "" {
		return 0
	}
	f.alloc(len(hay) + len(needle))
	uh, un := strings.ToUpper(hay), strings.ToUpper(needle)
	j := strings.Index(uh, un)
	if j <= 0 || len(uh) == len(hay) {
		return j
	}
	return foldedToByte(hay, j)
}

// foldedToByte maps a byte offset in strings.ToUpper(s) back to s, when upper
// casing changed the length of some characters.
func foldedToByte(s string, j int) int {
	off := 0
	for i, r := range s {
		if off >= j {
			return i
		}
		off += utf8.RuneLen(unicode.ToUpper(r))
	}
	return len(s)
}

func lastIndexOfStr(f *frame, s, v string, cmp int64) int32 {
	mustNotNull(v, "value")
	var i int
	if ignoreCase(cmp) {
		f.alloc(len(s) + len(v))
		us := strings.ToUpper(s)
		i = strings.LastIndex(us, strings.ToUpper(v))
		if i > 0 && len(us) != len(s) {
			i = foldedToByte(s, i)
		}
	} else {
		i = strings.LastIndex(s, v)
	}
	if i < 0 {
		return -1
	}
	return int32(f.u16(s).byteToUnit(i))
}

func substring(f *frame, s string, start, length int32, hasLen bool) string {
	u := f.u16(s)
	n := int32(u.len())
	if start < 0 || start > n {
		throw("ArgumentOutOfRangeException", "startIndex cannot be larger than length of string. (Parameter 'startIndex')")
	}
	if !hasLen {
		length = n - start
	}
	if length < 0 || start+length > n {
		throw("ArgumentOutOfRangeException", "Index and length must refer to a location within the string. (Parameter 'length')")
	}
	f.alloc(u.sliceCost(int(start), int(start+length)))
	return u.slice(int(start), int(start+length))
}

func isWhite(r rune) bool { return unicode.IsSpace(r) || r == 0x85 || r == 0xA0 }

func trimChars(f *frame, s string, chars []any, left, right bool) string {
	f.work(len(s))
	if len(chars) == 0 {
		if left {
			s = strings.TrimLeftFunc(s, isWhite)
		}
		if right {
			s = strings.TrimRightFunc(s, isWhite)
		}
		return s
	}
	f.elems(len(chars))
	f.allocN(len(chars), 2*slotBytes)
	set := map[rune]bool{}
	for _, c := range chars {
		set[rune(toI32(c))] = true
	}
	in := func(r rune) bool { return set[r] }
	if left {
		s = strings.TrimLeftFunc(s, in)
	}
	if right {
		s = strings.TrimRightFunc(s, in)
	}
	return s
}

// splitString implements String.Split for string separators (chars are
// one-character strings). count < 0 is unlimited. The parts are substrings of
// s; each slot is charged before it is appended.
func splitString(f *frame, s string, seps []string, count int, opts int64) []string {
	if count == 0 {
		return []string{}
	}
	f.work(len(s) * max(1, len(seps)))
	removeEmpty, trim := opts&1 != 0, opts&2 != 0
	if count > 0 {
		return splitLimited(f, s, seps, count, removeEmpty, trim)
	}
	var out []string
	add := func(p string) {
		if trim {
			p = strings.TrimFunc(p, isWhite)
		}
		if removeEmpty && p == "" {
			return
		}
		f.alloc(2 * slotBytes)
		out = append(out, p)
	}
	if len(seps) == 0 {
		// white space
		start := 0
		for i, r := range s {
			if isWhite(r) {
				add(s[start:i])
				start = i + utf8.RuneLen(r)
			}
		}
		add(s[start:])
	} else {
		start := 0
		for i := 0; i < len(s); {
			matched := ""
			for _, sep := range seps {
				if sep != "" && strings.HasPrefix(s[i:], sep) {
					matched = sep
					break
				}
			}
			if matched == "" {
				i++
				continue
			}
			add(s[start:i])
			i += len(matched)
			start = i
		}
		add(s[start:])
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// splitLimited is Split with a count: the last element holds the rest of the
// string, unsplit.
func splitLimited(f *frame, s string, seps []string, count int, removeEmpty, trim bool) []string {
	var out []string
	rest := s
	for len(out) < count-1 {
		i, l := -1, 0
		if len(seps) == 0 {
			i = strings.IndexFunc(rest, isWhite)
			if i >= 0 {
				_, l = utf8.DecodeRuneInString(rest[i:])
			}
		} else {
			for _, sep := range seps {
				if sep == "" {
					continue
				}
				if j := strings.Index(rest, sep); j >= 0 && (i < 0 || j < i) {
					i, l = j, len(sep)
				}
			}
		}
		if i < 0 {
			break
		}
		p := rest[:i]
		rest = rest[i+l:]
		if trim {
			p = strings.TrimFunc(p, isWhite)
		}
		if removeEmpty && p == "" {
			continue
		}
		f.alloc(2 * slotBytes)
		out = append(out, p)
	}
	if trim {
		rest = strings.TrimFunc(rest, isWhite)
	}
	if !(removeEmpty && rest == "") {
		out = append(out, rest)
	}
	if out == nil {
		out = []string{}
	}
	return out
}

// splitWhole is Split with nothing to split on: the string itself, after the
// options.
func splitWhole(s string, opts int64) []string {
	if opts&2 != 0 {
		s = strings.TrimFunc(s, isWhite)
	}
	if opts&1 != 0 && s == "" {
		return []string{}
	}
	return []string{s}
}

func charsToStrings(f *frame, chars []any) []string {
	f.elems(len(chars))
	f.allocN(len(chars), slotBytes)
	out := make([]string, 0, len(chars))
	for _, c := range chars {
		out = append(out, charString(toI32(c)))
	}
	return out
}

// anyToStrings collects an IEnumerable<string>.
func anyToStrings(f *frame, a any) []string {
	switch x := a.(type) {
	case []string:
		f.elems(len(x))
		return x
	case nil:
		return nil
	}
	var out []string
	iterate(f, a, func(v any) bool {
		s, _ := v.(string)
		f.alloc(2 * slotBytes)
		out = append(out, s)
		return true
	})
	return out
}

func replaceStr(f *frame, s, old, nw string, cmp int64) string {
	if isNull(old) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'oldValue')")
	}
	if old == "" {
		throw("ArgumentException", "The value cannot be an empty string. (Parameter 'oldValue')")
	}
	if ignoreCase(cmp) {
		return replaceFold(f, s, old, nw)
	}
	n := strings.Count(s, old)
	if n == 0 {
		return s
	}
	f.allocN(n, len(nw))
	f.alloc(len(s))
	return strings.ReplaceAll(s, old, nw)
}

// replaceFold is Replace with OrdinalIgnoreCase: matches are found in the
// upper-cased string and replaced in the original.
func replaceFold(f *frame, s, old, nw string) string {
	f.alloc(len(s) + len(old))
	us, uo := strings.ToUpper(s), strings.ToUpper(old)
	mapBack := len(us) != len(s)
	var b strings.Builder
	last, from := 0, 0
	for {
		j := strings.Index(us[from:], uo)
		if j < 0 {
			break
		}
		start, end := from+j, from+j+len(uo)
		from = end
		if mapBack {
			start, end = foldedToByte(s, start), foldedToByte(s, end)
		}
		f.alloc(start - last + len(nw))
		b.WriteString(s[last:start])
		b.WriteString(nw)
		last = end
	}
	if last == 0 {
		return s
	}
	f.alloc(len(s) - last)
	b.WriteString(s[last:])
	return b.String()
}

func padString(f *frame, s string, width int32, ch int32, left bool) string {
	if width < 0 {
		throw("ArgumentOutOfRangeException", "Non-negative number required. (Parameter 'totalWidth')")
	}
	n := int32(f.u16(s).len())
	if width <= n {
		return s
	}
	c := charString(ch)
	f.allocN(int(width-n), 2*len(c)) // the padding, then the result
	f.alloc(len(s))
	f.work(int(width-n) * len(c))
	p := strings.Repeat(c, int(width-n))
	if left {
		return p + s
	}
	return s + p
}

func declString(u *universe) {
	d := u.decl("System.String", tkClass, "")
	d.is = func(v any) bool { _, ok := v.(string); return ok }
	d.elem = func(*Type) *Type { return tChar }
	d.konst("Empty", "string", "")
	// members that only look at the string's header, or use the cached UTF-16
	// view, are selfMetered; the rest are charged by meterArgs for their input
	// and charge what they allocate
	d.prop("Length int", x1(func(f *frame, s string) int32 { return int32(f.u16(s).len()) })).selfMetered()
	d.method("ToString() string", f1(func(s string) string { return s })).selfMetered()
	d.method("ToString(IFormatProvider provider) string", f2(func(s string, _ any) string { return s })).selfMetered()
	d.method("Clone() object", f1(func(s string) any { return s })).selfMetered()
	d.method("GetHashCode() int", f1(stringHash))
	caseMap := func(fn func(string) string) implFn {
		return x1(func(f *frame, s string) string { f.alloc(len(s)); return fn(s) })
	}
	d.method("ToLower() string", caseMap(strings.ToLower))
	d.method("ToUpper() string", caseMap(strings.ToUpper))
	d.method("ToLowerInvariant() string", caseMap(strings.ToLower))
	d.method("ToUpperInvariant() string", caseMap(strings.ToUpper))
	trim := func(left, right bool) {
		name := map[[2]bool]string{{true, true}: "Trim", {true, false}: "TrimStart", {false, true}: "TrimEnd"}[[2]bool{left, right}]
		d.method(name+"() string", x1(func(f *frame, s string) string { return trimChars(f, s, nil, left, right) })).selfMetered()
		d.method(name+"(char trimChar) string", x2(func(f *frame, s string, c int32) string {
			return trimChars(f, s, []any{c}, left, right)
		})).selfMetered()
		d.method(name+"(params char[] trimChars) string", x2(func(f *frame, s string, cs []any) string {
			return trimChars(f, s, cs, left, right)
		})).selfMetered()
	}
	trim(true, true)
	trim(true, false)
	trim(false, true)
	d.method("Substring(int startIndex) string", x2(func(f *frame, s string, i int32) string { return substring(f, s, i, 0, false) })).selfMetered()
	d.method("Substring(int startIndex, int length) string", x3(func(f *frame, s string, i, n int32) string {
		return substring(f, s, i, n, true)
	})).selfMetered()
	d.method("Contains(string value) bool", f2(func(s, v string) bool { mustNotNull(v, "value"); return strings.Contains(s, v) }))
	d.method("Contains(char value) bool", f2(func(s string, c int32) bool { return strings.Contains(s, charString(c)) }))
	d.method("Contains(string value, StringComparison comparisonType) bool", x3(func(f *frame, s, v string, cmp int64) bool {
		return indexOfStr(f, s, v, 0, cmp) >= 0
	})).selfMetered()
	// StartsWith and EndsWith look at as much of s as value is long
	prefix := func(s, v string, fold, suffix bool) bool {
		if len(s) < len(v) {
			return false
		}
		part := s[:len(v)]
		if suffix {
			part = s[len(s)-len(v):]
		}
		if fold {
			return strings.EqualFold(part, v)
		}
		return part == v
	}
	d.method("StartsWith(string value) bool", x2(func(f *frame, s, v string) bool {
		mustNotNull(v, "value")
		f.work(len(v))
		return prefix(s, v, false, false)
	})).selfMetered()
	d.method("StartsWith(char value) bool", f2(func(s string, c int32) bool { return strings.HasPrefix(s, charString(c)) })).selfMetered()
	d.method("StartsWith(string value, StringComparison comparisonType) bool", x3(func(f *frame, s, v string, cmp int64) bool {
		mustNotNull(v, "value")
		f.work(len(v))
		return prefix(s, v, ignoreCase(cmp), false)
	})).selfMetered()
	d.method("StartsWith(string value, bool ignoreCase, CultureInfo culture) bool", x4(func(f *frame, s, v string, ic bool, _ any) bool {
		f.work(len(v))
		return prefix(s, v, ic, false)
	})).selfMetered()
	d.method("EndsWith(string value) bool", x2(func(f *frame, s, v string) bool {
		mustNotNull(v, "value")
		f.work(len(v))
		return prefix(s, v, false, true)
	})).selfMetered()
	d.method("EndsWith(char value) bool", f2(func(s string, c int32) bool { return strings.HasSuffix(s, charString(c)) })).selfMetered()
	d.method("EndsWith(string value, StringComparison comparisonType) bool", x3(func(f *frame, s, v string, cmp int64) bool {
		mustNotNull(v, "value")
		f.work(len(v))
		return prefix(s, v, ignoreCase(cmp), true)
	})).selfMetered()
	d.method("Equals(string value) bool", f2(func(s, v string) bool { return strEq(s, v) }))
	d.method("Equals(string value, StringComparison comparisonType) bool", f3(func(s, v string, cmp int64) bool {
		if isNull(v) {
			return false
		}
		if ignoreCase(cmp) {
			return strings.EqualFold(s, v)
		}
		return s == v
	}))
	d.method("Equals(object obj) bool", f2(func(s string, o any) bool { v, ok := o.(string); return ok && v == s }))
	d.method("CompareTo(string strB) int", f2(func(s, v string) int32 { return int32(compareNullable(s, v, 0)) }))
	indexOf := func(sig string, impl implFn) { d.method(sig, impl).selfMetered() }
	indexOf("IndexOf(string value) int", x2(func(f *frame, s, v string) int32 { return indexOfStr(f, s, v, 0, 4) }))
	indexOf("IndexOf(string value, StringComparison comparisonType) int", x3(func(f *frame, s, v string, cmp int64) int32 {
		return indexOfStr(f, s, v, 0, cmp)
	}))
	indexOf("IndexOf(string value, int startIndex) int", x3(func(f *frame, s, v string, i int32) int32 { return indexOfStr(f, s, v, int(i), 4) }))
	indexOf("IndexOf(string value, int startIndex, StringComparison comparisonType) int", x4(func(f *frame, s, v string, i int32, cmp int64) int32 {
		return indexOfStr(f, s, v, int(i), cmp)
	}))
	indexOf("IndexOf(char value) int", x2(func(f *frame, s string, c int32) int32 { return indexOfStr(f, s, charString(c), 0, 4) }))
	indexOf("IndexOf(char value, int startIndex) int", x3(func(f *frame, s string, c, i int32) int32 {
		return indexOfStr(f, s, charString(c), int(i), 4)
	}))
	d.method("IndexOfAny(char[] anyOf) int", x2(func(f *frame, s string, cs []any) int32 {
		i := strings.IndexAny(s, strings.Join(charsToStrings(f, cs), ""))
		if i < 0 {
			return -1
		}
		return int32(f.u16(s).byteToUnit(i))
	}))
	d.method("LastIndexOf(string value) int", x2(func(f *frame, s, v string) int32 { return lastIndexOfStr(f, s, v, 4) }))
	d.method("LastIndexOf(string value, StringComparison comparisonType) int", x3(func(f *frame, s, v string, cmp int64) int32 {
		return lastIndexOfStr(f, s, v, cmp)
	}))
	d.method("LastIndexOf(char value) int", x2(func(f *frame, s string, c int32) int32 { return lastIndexOfStr(f, s, charString(c), 4) }))
	d.method("Replace(string oldValue, string newValue) string", x3(func(f *frame, s, o, n string) string { return replaceStr(f, s, o, n, 4) }))
	d.method("Replace(string oldValue, string newValue, StringComparison comparisonType) string", x4(func(f *frame, s, o, n string, cmp int64) string {
		return replaceStr(f, s, o, n, cmp)
	}))
	d.method("Replace(char oldChar, char newChar) string", x3(func(f *frame, s string, o, n int32) string {
		return replaceStr(f, s, charString(o), charString(n), 4)
	}))
	split := func(sig string, impl implFn) { d.method(sig, impl).selfMetered() }
	split("Split(char separator, StringSplitOptions options = StringSplitOptions.None) string[]", x3(func(f *frame, s string, c int32, o int64) []string {
		return splitString(f, s, []string{charString(c)}, -1, o)
	}))
	split("Split(char separator, int count, StringSplitOptions options = StringSplitOptions.None) string[]", x4(func(f *frame, s string, c, n int32, o int64) []string {
		return splitString(f, s, []string{charString(c)}, countArg(n), o)
	}))
	split("Split(params char[] separator) string[]", x2(func(f *frame, s string, cs []any) []string {
		return splitString(f, s, charsToStrings(f, cs), -1, 0)
	}))
	split("Split(char[] separator, int count) string[]", x3(func(f *frame, s string, cs []any, n int32) []string {
		return splitString(f, s, charsToStrings(f, cs), countArg(n), 0)
	}))
	split("Split(char[] separator, StringSplitOptions options) string[]", x3(func(f *frame, s string, cs []any, o int64) []string {
		return splitString(f, s, charsToStrings(f, cs), -1, o)
	}))
	split("Split(char[] separator, int count, StringSplitOptions options) string[]", x4(func(f *frame, s string, cs []any, n int32, o int64) []string {
		return splitString(f, s, charsToStrings(f, cs), countArg(n), o)
	}))
	split("Split(string separator, StringSplitOptions options = StringSplitOptions.None) string[]", x3(func(f *frame, s, sep string, o int64) []string {
		if sep == "" {
			// an empty or null separator does not split
			return splitWhole(s, o)
		}
		return splitString(f, s, []string{sep}, -1, o)
	}))
	split("Split(string separator, int count, StringSplitOptions options = StringSplitOptions.None) string[]", x4(func(f *frame, s, sep string, n int32, o int64) []string {
		return splitString(f, s, []string{sep}, countArg(n), o)
	}))
	split("Split(string[] separator, StringSplitOptions options) string[]", x3(func(f *frame, s string, seps []string, o int64) []string {
		f.elems(len(seps))
		return splitString(f, s, seps, -1, o)
	}))
	split("Split(string[] separator, int count, StringSplitOptions options) string[]", x4(func(f *frame, s string, seps []string, n int32, o int64) []string {
		f.elems(len(seps))
		return splitString(f, s, seps, countArg(n), o)
	}))
	d.method("PadLeft(int totalWidth) string", x2(func(f *frame, s string, w int32) string { return padString(f, s, w, ' ', true) }))
	d.method("PadLeft(int totalWidth, char paddingChar) string", x3(func(f *frame, s string, w, c int32) string { return padString(f, s, w, c, true) }))
	d.method("PadRight(int totalWidth) string", x2(func(f *frame, s string, w int32) string { return padString(f, s, w, ' ', false) }))
	d.method("PadRight(int totalWidth, char paddingChar) string", x3(func(f *frame, s string, w, c int32) string { return padString(f, s, w, c, false) }))
	d.method("Insert(int startIndex, string value) string", x3(func(f *frame, s string, i int32, v string) string {
		mustNotNull(v, "value")
		u := f.u16(s)
		if i < 0 || int(i) > u.len() {
			throw("ArgumentOutOfRangeException", "Index must be within the bounds of the string. (Parameter 'startIndex')")
		}
		b := u.unitToByte(int(i))
		f.alloc(len(s) + len(v))
		return s[:b] + v + s[b:]
	}))
	d.method("Remove(int startIndex) string", x2(func(f *frame, s string, i int32) string {
		u := f.u16(s)
		if i < 0 || int(i) > u.len() {
			throw("ArgumentOutOfRangeException", "startIndex must be less than length of string. (Parameter 'startIndex')")
		}
		f.alloc(u.sliceCost(0, int(i)))
		return u.slice(0, int(i))
	})).selfMetered()
	d.method("Remove(int startIndex, int count) string", x3(func(f *frame, s string, i, n int32) string {
		u := f.u16(s)
		if i < 0 || n < 0 || int(i+n) > u.len() {
			throw("ArgumentOutOfRangeException", "Index and count must refer to a location within the string. (Parameter 'count')")
		}
		f.alloc(u.sliceCost(0, u.len()) + len(s))
		return u.slice(0, int(i)) + u.slice(int(i+n), u.len())
	}))
	d.method("ToCharArray() char[]", x1(func(f *frame, s string) []any {
		u := f.u16(s)
		f.allocN(u.len(), slotBytes)
		out := make([]any, u.len())
		for i := range out {
			if u.ascii {
				out[i] = Char(s[i])
			} else {
				out[i] = Char(u.units[i])
			}
		}
		return out
	}))
	d.method("Normalize() string", f1(func(s string) string { return s })).selfMetered()
	d.method("IsNormalized() bool", f1(func(s string) bool { return true })).selfMetered()

	// statics
	d.smethod("IsNullOrEmpty(string value) bool", f1(func(s string) bool { return len(s) == 0 })).selfMetered()
	d.smethod("IsNullOrWhiteSpace(string value) bool", f1(func(s string) bool { return strings.TrimFunc(s, isWhite) == "" }))
	d.smethod("Equals(string a, string b) bool", f2(strEq))
	d.smethod("Equals(string a, string b, StringComparison comparisonType) bool", f3(func(a, b string, cmp int64) bool {
		if isNull(a) || isNull(b) {
			return isNull(a) && isNull(b)
		}
		if ignoreCase(cmp) {
			return strings.EqualFold(a, b)
		}
		return a == b
	}))
	d.smethod("Compare(string strA, string strB) int", f2(func(a, b string) int32 { return int32(compareNullable(a, b, 0)) }))
	d.smethod("Compare(string strA, string strB, bool ignoreCase) int", f3(func(a, b string, ic bool) int32 {
		if ic {
			return int32(compareNullable(a, b, 1))
		}
		return int32(compareNullable(a, b, 0))
	}))
	d.smethod("Compare(string strA, string strB, StringComparison comparisonType) int", f3(func(a, b string, cmp int64) int32 {
		return int32(compareNullable(a, b, cmp))
	}))
	d.smethod("CompareOrdinal(string strA, string strB) int", f2(func(a, b string) int32 { return int32(compareNullable(a, b, 4)) }))
	d.smethod("Concat(string str0, string str1) string", x2(func(f *frame, a, b string) string { return joinStrings(f, "", []string{a, b}) }))
	d.smethod("Concat(string str0, string str1, string str2) string", x3(func(f *frame, a, b, c string) string {
		return joinStrings(f, "", []string{a, b, c})
	}))
	d.smethod("Concat(string str0, string str1, string str2, string str3) string", x4(func(f *frame, a, b, c, d string) string {
		return joinStrings(f, "", []string{a, b, c, d})
	}))
	d.smethod("Concat(params string[] values) string", x1(func(f *frame, vs []string) string { return joinStrings(f, "", vs) }))
	d.smethod("Concat(object arg0) string", x1(func(f *frame, v any) string { return f.str(v) }))
	d.smethod("Concat(object arg0, object arg1) string", x2(func(f *frame, a, b any) string {
		return joinStrings(f, "", []string{f.str(a), f.str(b)})
	}))
	d.smethod("Concat(object arg0, object arg1, object arg2) string", x3(func(f *frame, a, b, c any) string {
		return joinStrings(f, "", []string{f.str(a), f.str(b), f.str(c)})
	}))
	d.smethod("Concat(params object[] args) string", x1(func(f *frame, vs []any) string { return joinStrings(f, "", anysToStrings(f, vs)) }))
	d.smethod("Concat(IEnumerable<string> values) string", x1(func(f *frame, vs any) string { return joinStrings(f, "", anyToStrings(f, vs)) }))
	d.smethod("Join(string separator, params string[] value) string", x2(func(f *frame, sep string, vs []string) string { return joinStrings(f, sep, vs) }))
	d.smethod("Join(string separator, IEnumerable<string> values) string", x2(func(f *frame, sep string, vs any) string {
		return joinStrings(f, sep, anyToStrings(f, vs))
	}))
	d.smethod("Join<T>(string separator, IEnumerable<T> values) string", x2(func(f *frame, sep string, vs any) string {
		return joinStrings(f, sep, anysToStrings(f, toSlice(f, vs)))
	}))
	d.smethod("Join(string separator, params object[] values) string", x2(func(f *frame, sep string, vs []any) string {
		return joinStrings(f, sep, anysToStrings(f, vs))
	}))
	d.smethod("Join(char separator, params string[] value) string", x2(func(f *frame, sep int32, vs []string) string {
		return joinStrings(f, charString(sep), vs)
	}))
	d.smethod("Join(char separator, params object[] values) string", x2(func(f *frame, sep int32, vs []any) string {
		return joinStrings(f, charString(sep), anysToStrings(f, vs))
	}))
	d.smethod("Join<T>(char separator, IEnumerable<T> values) string", x2(func(f *frame, sep int32, vs any) string {
		return joinStrings(f, charString(sep), anysToStrings(f, toSlice(f, vs)))
	}))
	format := func(f *frame, format string, args []any) string {
		mustNotNull(format, "format")
		s, err := compositeFormat(f, format, args)
		if err != "" {
			throw("FormatException", "%s", err)
		}
		return s
	}
	d.smethod("Format(string format, params object[] args) string", x2(format))
	d.smethod("Format(IFormatProvider provider, string format, params object[] args) string", x3(func(f *frame, _ any, s string, args []any) string {
		return format(f, s, args)
	}))
	d.ctor("(char c, int count)", x2(func(f *frame, c, n int32) string {
		if n < 0 {
			throw("ArgumentOutOfRangeException", "Count cannot be less than zero. (Parameter 'count')")
		}
		cs := charString(c)
		f.allocN(int(n), len(cs))
		f.work(int(n) * len(cs))
		return strings.Repeat(cs, int(n))
	}))
	d.ctor("(char[] value)", x1(func(f *frame, cs []any) string {
		f.elems(len(cs))
		f.allocN(len(cs), 5) // the UTF-16 units, then at most 3 bytes of UTF-8 each
		units := make([]uint16, len(cs))
		for i, c := range cs {
			units[i] = uint16(toI32(c))
		}
		return fromUTF16(units)
	}))
	u.decl("System.IFormatProvider", tkClass, "").is = func(any) bool { return false }
	ci := u.decl("System.Globalization.CultureInfo", tkClass, "IFormatProvider")
	ci.is = func(v any) bool { _, ok := v.(cultureInfo); return ok }
	ci.sprop("InvariantCulture CultureInfo", f0(func() cultureInfo { return cultureInfo{} }))
	ci.sprop("CurrentCulture CultureInfo", f0(func() cultureInfo { return cultureInfo{} }))

	declChar(u)
	declStringBuilder(u)
	declEncoding(u)
}

// cultureInfo is CultureInfo: every culture formats as the invariant culture.
type cultureInfo struct{}

// compareNullable is string.Compare: null sorts first; cmp is a
// StringComparison. Culture comparisons order letters without regard to case
// first (invariant culture); ordinal ones return the difference of the first
// differing UTF-16 code units, as .NET's CompareOrdinal does. It allocates
// nothing: sorting compares often.
func compareNullable(a, b string, cmp int64) int {
	switch {
	case isNull(a) && isNull(b):
		return 0
	case isNull(a):
		return -1
	case isNull(b):
		return 1
	}
	if cmp < 4 {
		return cultureCmp(a, b, ignoreCase(cmp))
	}
	ra, rb := unitReader{s: a, fold: ignoreCase(cmp)}, unitReader{s: b, fold: ignoreCase(cmp)}
	for {
		ua, oka := ra.next()
		ub, okb := rb.next()
		switch {
		case !oka && !okb:
			return 0
		case !oka:
			return -1 - rb.rest()
		case !okb:
			return 1 + ra.rest()
		case ua != ub:
			return int(ua) - int(ub)
		}
	}
}

// unitReader reads the UTF-16 code units of a string, upper-cased if fold.
type unitReader struct {
	s       string
	i       int
	pending uint16 // the low surrogate of a pair (never 0)
	fold    bool
}

func (r *unitReader) next() (uint16, bool) {
	if r.pending != 0 {
		p := r.pending
		r.pending = 0
		return p, true
	}
	if r.i >= len(r.s) {
		return 0, false
	}
	c, w := utf8.DecodeRuneInString(r.s[r.i:])
	r.i += w
	if r.fold {
		c = unicode.ToUpper(c)
	}
	if c >= 0x10000 {
		hi, lo := utf16.EncodeRune(c)
		r.pending = uint16(lo)
		return uint16(hi), true
	}
	return uint16(c), true
}

// rest counts the units left.
func (r *unitReader) rest() int {
	n := 0
	for _, ok := r.next(); ok; _, ok = r.next() {
		n++
	}
	return n
}

// cultureCmp compares as the invariant culture does for the text policies
// handle: letters without regard to case first, then (unless fold) lower case
// before upper case.
func cultureCmp(a, b string, fold bool) int {
	i, j := 0, 0
	for i < len(a) && j < len(b) {
		ra, wa := utf8.DecodeRuneInString(a[i:])
		rb, wb := utf8.DecodeRuneInString(b[j:])
		if la, lb := unicode.ToLower(ra), unicode.ToLower(rb); la != lb {
			if la < lb {
				return -1
			}
			return 1
		}
		i, j = i+wa, j+wb
	}
	switch {
	case i < len(a):
		return 1
	case j < len(b):
		return -1
	case fold:
		return 0
	}
	// same letters: lower case sorts first in the invariant culture
	return -strings.Compare(a, b)
}

func countArg(n int32) int {
	if n < 0 {
		throw("ArgumentOutOfRangeException", "Count cannot be less than zero. (Parameter 'count')")
	}
	return int(n)
}

func joinStrings(f *frame, sep string, vs []string) string {
	f.elems(len(vs))
	total := 0
	for _, v := range vs {
		total += len(v) + len(sep)
	}
	f.alloc(total)
	f.work(total)
	return strings.Join(vs, sep)
}

func anysToStrings(f *frame, vs []any) []string {
	f.allocN(len(vs), slotBytes)
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = f.str(v)
	}
	return out
}

func declChar(u *universe) {
	d := u.decl("System.Char", tkStruct, "")
	d.is = func(v any) bool { _, ok := v.(Char); return ok }
	d.konst("MaxValue", "char", int64(0xFFFF))
	d.konst("MinValue", "char", int64(0))
	is := func(name string, fn func(rune) bool) {
		d.smethod(name+"(char c) bool", f1(func(c int32) bool { return fn(rune(c)) }))
		d.smethod(name+"(string s, int index) bool", x2(func(f *frame, s string, i int32) bool { return fn(rune(strIndex(f, s, i, -1))) })).selfMetered()
	}
	is("IsDigit", func(r rune) bool { return unicode.IsDigit(r) })
	is("IsLetter", unicode.IsLetter)
	is("IsLetterOrDigit", func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) })
	is("IsWhiteSpace", isWhite)
	is("IsUpper", unicode.IsUpper)
	is("IsLower", unicode.IsLower)
	is("IsPunctuation", unicode.IsPunct)
	is("IsNumber", unicode.IsNumber)
	is("IsControl", unicode.IsControl)
	is("IsSymbol", unicode.IsSymbol)
	is("IsSurrogate", func(r rune) bool { return r >= 0xD800 && r < 0xE000 })
	d.smethod("ToUpper(char c) char", f1(func(c int32) int32 { return int32(unicode.ToUpper(rune(c))) }))
	d.smethod("ToLower(char c) char", f1(func(c int32) int32 { return int32(unicode.ToLower(rune(c))) }))
	d.smethod("ToUpperInvariant(char c) char", f1(func(c int32) int32 { return int32(unicode.ToUpper(rune(c))) }))
	d.smethod("ToLowerInvariant(char c) char", f1(func(c int32) int32 { return int32(unicode.ToLower(rune(c))) }))
	d.smethod("ToString(char c) string", f1(charString))
	d.smethod("GetNumericValue(char c) double", f1(func(c int32) float64 {
		if c >= '0' && c <= '9' {
			return float64(c - '0')
		}
		return -1
	}))
	d.smethod("Parse(string s) char", f1(func(s string) int32 {
		mustNotNull(s, "s")
		u := toUTF16(s)
		if len(u) != 1 {
			throw("FormatException", "String must be exactly one character long")
		}
		return int32(u[0])
	}))
	d.method("ToString() string", f1(charString))
	d.method("Equals(char obj) bool", f2(func(a, b int32) bool { return a == b }))
	d.method("CompareTo(char value) int", f2(func(a, b int32) int32 { return a - b }))
	d.method("GetHashCode() int", f1(func(c int32) int32 { return c | c<<16 }))
}

// ---- StringBuilder ----

// StringBuilder is System.Text.StringBuilder.
type StringBuilder struct {
	b []byte
	// nonASCII is set once text that is not ASCII was added: until then Length
	// is the byte count.
	nonASCII bool
}

// String returns the built string.
func (s *StringBuilder) String() string { return string(s.b) }

// view is the content without a copy; it must not outlive the next change.
func (s *StringBuilder) view() string { return unsafe.String(unsafe.SliceData(s.b), len(s.b)) }

func (s *StringBuilder) add(f *frame, str string) *StringBuilder {
	f.alloc(len(str))
	if !s.nonASCII && !isASCII(str) {
		s.nonASCII = true
	}
	s.b = append(s.b, str...)
	return s
}

// length is Length, in UTF-16 code units.
func (s *StringBuilder) length(f *frame) int {
	if !s.nonASCII {
		return len(s.b)
	}
	f.work(len(s.b))
	return utf16Len(s.view())
}

// offset converts a UTF-16 index to a byte offset, checking it against Length.
func (s *StringBuilder) offset(f *frame, i int, param string) int {
	if i < 0 || i > s.length(f) {
		throw("ArgumentOutOfRangeException", "Index was out of range. (Parameter '%s')", param)
	}
	if !s.nonASCII {
		return i
	}
	return u16{s: s.view()}.unitToByte(i)
}

// replace sets the content to the result of fn on it, unless fn returns its
// input unchanged.
func (s *StringBuilder) replace(f *frame, fn func(string) string) *StringBuilder {
	v := s.view()
	r := fn(v)
	if len(r) == len(v) && unsafe.StringData(r) == unsafe.StringData(v) {
		return s
	}
	f.alloc(len(r))
	s.b = append(s.b[:0], r...)
	s.nonASCII = s.nonASCII || !isASCII(r)
	return s
}

func declStringBuilder(u *universe) {
	d := u.decl("System.Text.StringBuilder", tkClass, "")
	d.is = func(v any) bool { _, ok := v.(*StringBuilder); return ok }
	d.ctor("()", f0(func() *StringBuilder { return &StringBuilder{} }))
	d.ctor("(string value)", x1(func(f *frame, s string) *StringBuilder { return (&StringBuilder{}).add(f, s) }))
	d.ctor("(int capacity)", f1(func(int32) *StringBuilder { return &StringBuilder{} }))
	d.method("Append(string value) StringBuilder", x2(func(f *frame, s *StringBuilder, v string) *StringBuilder { return s.add(f, v) }))
	d.method("Append(char value) StringBuilder", x2(func(f *frame, s *StringBuilder, c int32) *StringBuilder { return s.add(f, charString(c)) }))
	d.method("Append(char value, int repeatCount) StringBuilder", x3(func(f *frame, s *StringBuilder, c, n int32) *StringBuilder {
		if n < 0 {
			throw("ArgumentOutOfRangeException", "Count cannot be less than zero. (Parameter 'repeatCount')")
		}
		cs := charString(c)
		f.allocN(int(n), len(cs))
		f.work(int(n) * len(cs))
		return s.add(f, strings.Repeat(cs, int(n)))
	}))
	d.method("Append(bool value) StringBuilder", x2(func(f *frame, s *StringBuilder, v bool) *StringBuilder { return s.add(f, toStringAny(v)) }))
	d.method("Append(int value) StringBuilder", x2(func(f *frame, s *StringBuilder, v int32) *StringBuilder { return s.add(f, toStringAny(v)) }))
	d.method("Append(long value) StringBuilder", x2(func(f *frame, s *StringBuilder, v int64) *StringBuilder { return s.add(f, toStringAny(v)) }))
	d.method("Append(double value) StringBuilder", x2(func(f *frame, s *StringBuilder, v float64) *StringBuilder { return s.add(f, formatDouble(v)) }))
	d.method("Append(object value) StringBuilder", x2(func(f *frame, s *StringBuilder, v any) *StringBuilder { return s.add(f, f.str(v)) }))
	d.method("AppendLine() StringBuilder", x1(func(f *frame, s *StringBuilder) *StringBuilder { return s.add(f, "\n") }))
	d.method("AppendLine(string value) StringBuilder", x2(func(f *frame, s *StringBuilder, v string) *StringBuilder {
		return s.add(f, v).add(f, "\n")
	}))
	d.method("AppendFormat(string format, params object[] args) StringBuilder", x3(func(f *frame, s *StringBuilder, format string, args []any) *StringBuilder {
		str, err := compositeFormat(f, format, args)
		if err != "" {
			throw("FormatException", "%s", err)
		}
		return s.add(f, str)
	}))
	d.method("Insert(int index, string value) StringBuilder", x3(func(f *frame, s *StringBuilder, i int32, v string) *StringBuilder {
		b := s.offset(f, int(i), "index")
		f.alloc(len(s.b) + len(v))
		s.b = slices.Insert(s.b, b, []byte(v)...)
		s.nonASCII = s.nonASCII || !isASCII(v)
		return s
	}))
	d.method("Remove(int startIndex, int length) StringBuilder", x3(func(f *frame, s *StringBuilder, i, n int32) *StringBuilder {
		if n < 0 || int64(i)+int64(n) > int64(s.length(f)) {
			throw("ArgumentOutOfRangeException", "Index was out of range. (Parameter 'length')")
		}
		from, to := s.offset(f, int(i), "startIndex"), s.offset(f, int(i+n), "length")
		s.b = append(s.b[:from], s.b[to:]...)
		return s
	}))
	d.method("Replace(string oldValue, string newValue) StringBuilder", x3(func(f *frame, s *StringBuilder, o, n string) *StringBuilder {
		return s.replace(f, func(v string) string { return replaceStr(f, v, o, n, 4) })
	}))
	d.method("Replace(char oldChar, char newChar) StringBuilder", x3(func(f *frame, s *StringBuilder, o, n int32) *StringBuilder {
		return s.replace(f, func(v string) string { return replaceStr(f, v, charString(o), charString(n), 4) })
	}))
	d.method("Clear() StringBuilder", f1(func(s *StringBuilder) *StringBuilder { s.b, s.nonASCII = s.b[:0], false; return s }))
	d.method("ToString() string", x1(func(f *frame, s *StringBuilder) string { return f.str(s) }))
	m := d.prop("Length int", x1(func(f *frame, s *StringBuilder) int32 { return int32(s.length(f)) }))
	m.set = vx2(func(f *frame, s *StringBuilder, n int32) {
		if n < 0 {
			throw("ArgumentOutOfRangeException", "Length cannot be less than zero. (Parameter 'value')")
		}
		if l := s.length(f); int(n) > l {
			f.alloc(int(n) - l)
			s.b = append(s.b, make([]byte, int(n)-l)...)
			return
		}
		s.b = s.b[:s.offset(f, int(n), "value")]
	})
}

// ---- Encoding ----

// Encoding is System.Text.Encoding.
type Encoding struct{ name string }

func (e *Encoding) getBytes(s string) []byte {
	switch e.name {
	case "ASCII":
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r < 0x80 {
				b = append(b, byte(r))
			} else {
				b = append(b, '?')
				if r >= 0x10000 {
					b = append(b, '?')
				}
			}
		}
		return b
	case "Latin1":
		b := make([]byte, 0, len(s))
		for _, r := range s {
			if r < 0x100 {
				b = append(b, byte(r))
			} else {
				b = append(b, '?')
			}
		}
		return b
	case "Unicode", "BigEndianUnicode":
		units := toUTF16(s)
		b := make([]byte, 2*len(units))
		for i, c := range units {
			if e.name == "Unicode" {
				b[2*i], b[2*i+1] = byte(c), byte(c>>8)
			} else {
				b[2*i], b[2*i+1] = byte(c>>8), byte(c)
			}
		}
		return b
	case "UTF32":
		b := make([]byte, 0, 4*utf8.RuneCountInString(s))
		for _, r := range s {
			b = append(b, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
		}
		return b
	}
	return []byte(s)
}

// byteCount is len(e.getBytes(s)), without the bytes.
func (e *Encoding) byteCount(s string) int {
	switch e.name {
	case "ASCII", "Latin1":
		return utf16Len(s)
	case "Unicode", "BigEndianUnicode":
		return 2 * utf16Len(s)
	case "UTF32":
		return 4 * utf8.RuneCountInString(s)
	}
	return len(s)
}

func (e *Encoding) getString(b []byte) string {
	switch e.name {
	case "ASCII":
		out := make([]byte, len(b))
		for i, c := range b {
			if c < 0x80 {
				out[i] = c
			} else {
				out[i] = '?'
			}
		}
		return string(out)
	case "Latin1":
		out := make([]byte, 0, 2*len(b))
		for _, c := range b {
			out = utf8.AppendRune(out, rune(c))
		}
		return string(out)
	case "Unicode", "BigEndianUnicode":
		units := make([]uint16, len(b)/2)
		for i := range units {
			if e.name == "Unicode" {
				units[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
			} else {
				units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
			}
		}
		s := fromUTF16(units)
		if len(b)%2 == 1 {
			s += "\uFFFD"
		}
		return s
	case "UTF32":
		rs := make([]rune, 0, len(b)/4)
		for i := 0; i+3 < len(b); i += 4 {
			r := rune(b[i]) | rune(b[i+1])<<8 | rune(b[i+2])<<16 | rune(b[i+3])<<24
			if !utf8.ValidRune(r) {
				r = utf8.RuneError
			}
			rs = append(rs, r)
		}
		return string(rs)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func (e *Encoding) webName() string {
	switch e.name {
	case "ASCII":
		return "us-ascii"
	case "Latin1":
		return "iso-8859-1"
	case "Unicode":
		return "utf-16"
	case "BigEndianUnicode":
		return "utf-16BE"
	case "UTF32":
		return "utf-32"
	}
	return "utf-8"
}

var (
	encUTF8    = &Encoding{"UTF8"}
	encASCII   = &Encoding{"ASCII"}
	encUnicode = &Encoding{"Unicode"}
	encBE      = &Encoding{"BigEndianUnicode"}
	encUTF32   = &Encoding{"UTF32"}
	encLatin1  = &Encoding{"Latin1"}
)

func declEncoding(u *universe) {
	d := u.decl("System.Text.Encoding", tkClass, "")
	d.is = func(v any) bool { _, ok := v.(*Encoding); return ok }
	for _, e := range []*Encoding{encUTF8, encASCII, encUnicode, encBE, encUTF32, encLatin1} {
		enc := e
		d.sprop(e.name+" Encoding", f0(func() *Encoding { return enc }))
	}
	d.sprop("Default Encoding", f0(func() *Encoding { return encUTF8 }))
	d.smethod("GetEncoding(string name) Encoding", f1(func(name string) *Encoding {
		switch strings.ToLower(name) {
		case "utf-8", "utf8":
			return encUTF8
		case "us-ascii", "ascii":
			return encASCII
		case "utf-16", "unicode", "utf-16le":
			return encUnicode
		case "utf-16be", "unicodefffe":
			return encBE
		case "utf-32", "utf-32le":
			return encUTF32
		case "iso-8859-1", "latin1", "windows-1252":
			return encLatin1
		}
		throw("ArgumentException", "'%s' is not a supported encoding name", name)
		return nil
	}))
	// the conversions allocate at most 4 bytes per byte or character in, with
	// their temporary copies
	d.method("GetBytes(string s) byte[]", x2(func(f *frame, e *Encoding, s string) []byte {
		mustNotNull(s, "s")
		f.allocN(len(s), 4)
		return e.getBytes(s)
	}))
	d.method("GetBytes(char[] chars) byte[]", x2(func(f *frame, e *Encoding, cs []any) []byte {
		f.elems(len(cs))
		f.allocN(len(cs), 2+3+4)
		units := make([]uint16, len(cs))
		for i, c := range cs {
			units[i] = uint16(toI32(c))
		}
		return e.getBytes(fromUTF16(units))
	}))
	d.method("GetString(byte[] bytes) string", x2(func(f *frame, e *Encoding, b []byte) string {
		if b == nil {
			throw("ArgumentNullException", "Value cannot be null. (Parameter 'bytes')")
		}
		f.allocN(len(b), 4)
		return e.getString(b)
	}))
	d.method("GetString(byte[] bytes, int index, int count) string", x4(func(f *frame, e *Encoding, b []byte, i, n int32) string {
		if i < 0 || n < 0 || int(i)+int(n) > len(b) {
			throw("ArgumentOutOfRangeException", "Index and count must refer to a location within the buffer. (Parameter 'bytes')")
		}
		f.allocN(int(n), 4)
		return e.getString(b[i : i+n])
	}))
	d.method("GetByteCount(string s) int", f2(func(e *Encoding, s string) int32 { return int32(e.byteCount(s)) }))
	d.method("GetPreamble() byte[]", f1(func(e *Encoding) []byte {
		switch e.name {
		case "UTF8":
			return []byte{0xEF, 0xBB, 0xBF}
		case "Unicode":
			return []byte{0xFF, 0xFE}
		case "BigEndianUnicode":
			return []byte{0xFE, 0xFF}
		}
		return []byte{}
	}))
	d.prop("WebName string", f1((*Encoding).webName))
	d.prop("BodyName string", f1((*Encoding).webName))
	d.prop("EncodingName string", f1(func(e *Encoding) string { return e.name }))
}

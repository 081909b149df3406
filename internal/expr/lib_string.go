package expr

import (
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// String comparisons: culture-sensitive comparisons are done ordinally, with
// Unicode simple case folding for the IgnoreCase variants. For the ASCII text of
// headers, paths and tokens this is what .NET's invariant culture does.

func equalFoldOrdinal(a, b string) bool { return strings.EqualFold(a, b) }

func toUpperInvariant(s string) string { return strings.ToUpper(s) }

func compareOrdinal(a, b string) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// ignoreCase reports whether a StringComparison value compares without case.
func ignoreCase(cmp int64) bool { return cmp%2 == 1 }

func mustNotNull(s, param string) {
	if isNull(s) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter '%s')", param)
	}
}

// u16 gives UTF-16 indexed access to a string, with a fast path for ASCII.
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

func (u u16) slice(i, j int) string {
	if u.ascii {
		return u.s[i:j]
	}
	return fromUTF16(u.units[i:j])
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

// unitToByte converts a UTF-16 index to a byte offset.
func (u u16) unitToByte(i int) int {
	if u.ascii {
		return i
	}
	return len(fromUTF16(u.units[:i]))
}

func indexOfStr(s, v string, start int, cmp int64) int32 {
	mustNotNull(v, "value")
	u := newU16(s)
	if start < 0 || start > u.len() {
		throw("ArgumentOutOfRangeException", "Index was out of range. Must be non-negative and less than or equal to the size of the string. (Parameter 'startIndex')")
	}
	b := u.unitToByte(start)
	hay, needle := s[b:], v
	var i int
	if ignoreCase(cmp) {
		i = indexFold(hay, needle)
	} else {
		i = strings.Index(hay, needle)
	}
	if i < 0 {
		return -1
	}
	return int32(u.byteToUnit(b + i))
}

func indexFold(hay, needle string) int {
	if needle == "" {
		return 0
	}
	n := len(needle)
	for i := 0; i+n <= len(hay); i++ {
		if strings.EqualFold(hay[i:i+n], needle) {
			return i
		}
	}
	// folding can change lengths; fall back to rune-wise search
	lh, ln := strings.ToUpper(hay), strings.ToUpper(needle)
	if j := strings.Index(lh, ln); j >= 0 && len(lh) == len(hay) {
		return j
	}
	return -1
}

func lastIndexOfStr(s, v string, cmp int64) int32 {
	mustNotNull(v, "value")
	var i int
	if ignoreCase(cmp) {
		i = strings.LastIndex(strings.ToUpper(s), strings.ToUpper(v))
		if len(strings.ToUpper(s)) != len(s) {
			i = -1
		}
	} else {
		i = strings.LastIndex(s, v)
	}
	if i < 0 {
		return -1
	}
	return int32(newU16(s).byteToUnit(i))
}

func substring(s string, start, length int32, hasLen bool) string {
	u := newU16(s)
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
	return u.slice(int(start), int(start+length))
}

func isWhite(r rune) bool { return unicode.IsSpace(r) || r == 0x85 || r == 0xA0 }

func trimChars(s string, chars []any, left, right bool) string {
	if len(chars) == 0 {
		if left {
			s = strings.TrimLeftFunc(s, isWhite)
		}
		if right {
			s = strings.TrimRightFunc(s, isWhite)
		}
		return s
	}
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
// one-character strings). count < 0 is unlimited.
func splitString(f *frame, s string, seps []string, count int, opts int64) []string {
	if count == 0 {
		return []string{}
	}
	removeEmpty, trim := opts&1 != 0, opts&2 != 0
	var parts []string
	if len(seps) == 0 {
		// white space
		start := 0
		for i, r := range s {
			if isWhite(r) {
				parts = append(parts, s[start:i])
				start = i + utf8.RuneLen(r)
			}
		}
		parts = append(parts, s[start:])
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
			parts = append(parts, s[start:i])
			i += len(matched)
			start = i
		}
		parts = append(parts, s[start:])
	}
	if f != nil {
		f.stepN(len(parts) / 16)
		f.alloc(len(parts) * 16)
	}
	out := parts[:0:0]
	for _, p := range parts {
		if trim {
			p = strings.TrimFunc(p, isWhite)
		}
		if removeEmpty && p == "" {
			continue
		}
		out = append(out, p)
	}
	if count > 0 && len(out) > count {
		// the last element holds the rest of the string, unsplit: rebuild it
		return splitLimited(s, seps, count, removeEmpty, trim)
	}
	return out
}

func splitLimited(s string, seps []string, count int, removeEmpty, trim bool) []string {
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
		out = append(out, p)
	}
	if trim {
		rest = strings.TrimFunc(rest, isWhite)
	}
	if !(removeEmpty && rest == "") {
		out = append(out, rest)
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

func charsToStrings(chars []any) []string {
	out := make([]string, 0, len(chars))
	for _, c := range chars {
		out = append(out, charString(toI32(c)))
	}
	return out
}

func anyToStrings(a any) []string {
	switch x := a.(type) {
	case []string:
		return x
	case nil:
		return nil
	}
	var out []string
	iterate(nil, a, func(v any) bool {
		s, _ := v.(string)
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
		var b strings.Builder
		for {
			i := indexFold(s, old)
			if i < 0 {
				b.WriteString(s)
				break
			}
			b.WriteString(s[:i])
			b.WriteString(nw)
			s = s[i+len(old):]
		}
		return b.String()
	}
	if n := strings.Count(s, old); n > 0 && len(nw) > len(old) {
		f.alloc(len(s) + n*(len(nw)-len(old)))
	}
	return strings.ReplaceAll(s, old, nw)
}

func padString(f *frame, s string, width int32, ch int32, left bool) string {
	if width < 0 {
		throw("ArgumentOutOfRangeException", "Non-negative number required. (Parameter 'totalWidth')")
	}
	n := int32(utf16Len(s))
	if width <= n {
		return s
	}
	f.alloc(int(width - n))
	p := strings.Repeat(charString(ch), int(width-n))
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
	d.prop("Length int", f1(func(s string) int32 { return int32(utf16Len(s)) }))
	d.method("ToString() string", f1(func(s string) string { return s }))
	d.method("ToString(IFormatProvider provider) string", f2(func(s string, _ any) string { return s }))
	d.method("Clone() object", f1(func(s string) any { return s }))
	d.method("GetHashCode() int", f1(stringHash))
	d.method("ToLower() string", f1(strings.ToLower))
	d.method("ToUpper() string", f1(strings.ToUpper))
	d.method("ToLowerInvariant() string", f1(strings.ToLower))
	d.method("ToUpperInvariant() string", f1(strings.ToUpper))
	d.method("Trim() string", f1(func(s string) string { return trimChars(s, nil, true, true) }))
	d.method("Trim(char trimChar) string", f2(func(s string, c int32) string { return trimChars(s, []any{c}, true, true) }))
	d.method("Trim(params char[] trimChars) string", f2(func(s string, cs []any) string { return trimChars(s, cs, true, true) }))
	d.method("TrimStart() string", f1(func(s string) string { return trimChars(s, nil, true, false) }))
	d.method("TrimStart(char trimChar) string", f2(func(s string, c int32) string { return trimChars(s, []any{c}, true, false) }))
	d.method("TrimStart(params char[] trimChars) string", f2(func(s string, cs []any) string { return trimChars(s, cs, true, false) }))
	d.method("TrimEnd() string", f1(func(s string) string { return trimChars(s, nil, false, true) }))
	d.method("TrimEnd(char trimChar) string", f2(func(s string, c int32) string { return trimChars(s, []any{c}, false, true) }))
	d.method("TrimEnd(params char[] trimChars) string", f2(func(s string, cs []any) string { return trimChars(s, cs, false, true) }))
	d.method("Substring(int startIndex) string", f2(func(s string, i int32) string { return substring(s, i, 0, false) }))
	d.method("Substring(int startIndex, int length) string", f3(func(s string, i, n int32) string { return substring(s, i, n, true) }))
	d.method("Contains(string value) bool", f2(func(s, v string) bool { mustNotNull(v, "value"); return strings.Contains(s, v) }))
	d.method("Contains(char value) bool", f2(func(s string, c int32) bool { return strings.Contains(s, charString(c)) }))
	d.method("Contains(string value, StringComparison comparisonType) bool", f3(func(s, v string, cmp int64) bool {
		return indexOfStr(s, v, 0, cmp) >= 0
	}))
	d.method("StartsWith(string value) bool", f2(func(s, v string) bool { mustNotNull(v, "value"); return strings.HasPrefix(s, v) }))
	d.method("StartsWith(char value) bool", f2(func(s string, c int32) bool { return strings.HasPrefix(s, charString(c)) }))
	d.method("StartsWith(string value, StringComparison comparisonType) bool", f3(func(s, v string, cmp int64) bool {
		mustNotNull(v, "value")
		if ignoreCase(cmp) {
			return len(s) >= len(v) && strings.EqualFold(s[:len(v)], v)
		}
		return strings.HasPrefix(s, v)
	}))
	d.method("StartsWith(string value, bool ignoreCase, CultureInfo culture) bool", f4(func(s, v string, ic bool, _ any) bool {
		if ic {
			return len(s) >= len(v) && strings.EqualFold(s[:len(v)], v)
		}
		return strings.HasPrefix(s, v)
	}))
	d.method("EndsWith(string value) bool", f2(func(s, v string) bool { mustNotNull(v, "value"); return strings.HasSuffix(s, v) }))
	d.method("EndsWith(char value) bool", f2(func(s string, c int32) bool { return strings.HasSuffix(s, charString(c)) }))
	d.method("EndsWith(string value, StringComparison comparisonType) bool", f3(func(s, v string, cmp int64) bool {
		mustNotNull(v, "value")
		if ignoreCase(cmp) {
			return len(s) >= len(v) && strings.EqualFold(s[len(s)-len(v):], v)
		}
		return strings.HasSuffix(s, v)
	}))
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
	d.method("IndexOf(string value) int", f2(func(s, v string) int32 { return indexOfStr(s, v, 0, 4) }))
	d.method("IndexOf(string value, StringComparison comparisonType) int", f3(func(s, v string, cmp int64) int32 { return indexOfStr(s, v, 0, cmp) }))
	d.method("IndexOf(string value, int startIndex) int", f3(func(s, v string, i int32) int32 { return indexOfStr(s, v, int(i), 4) }))
	d.method("IndexOf(string value, int startIndex, StringComparison comparisonType) int", f4(func(s, v string, i int32, cmp int64) int32 {
		return indexOfStr(s, v, int(i), cmp)
	}))
	d.method("IndexOf(char value) int", f2(func(s string, c int32) int32 { return indexOfStr(s, charString(c), 0, 4) }))
	d.method("IndexOf(char value, int startIndex) int", f3(func(s string, c, i int32) int32 { return indexOfStr(s, charString(c), int(i), 4) }))
	d.method("IndexOfAny(char[] anyOf) int", f2(func(s string, cs []any) int32 {
		best := int32(-1)
		for _, c := range cs {
			if i := indexOfStr(s, charString(toI32(c)), 0, 4); i >= 0 && (best < 0 || i < best) {
				best = i
			}
		}
		return best
	}))
	d.method("LastIndexOf(string value) int", f2(func(s, v string) int32 { return lastIndexOfStr(s, v, 4) }))
	d.method("LastIndexOf(string value, StringComparison comparisonType) int", f3(func(s, v string, cmp int64) int32 { return lastIndexOfStr(s, v, cmp) }))
	d.method("LastIndexOf(char value) int", f2(func(s string, c int32) int32 { return lastIndexOfStr(s, charString(c), 4) }))
	d.method("Replace(string oldValue, string newValue) string", x3(func(f *frame, s, o, n string) string { return replaceStr(f, s, o, n, 4) }))
	d.method("Replace(string oldValue, string newValue, StringComparison comparisonType) string", x4(func(f *frame, s, o, n string, cmp int64) string {
		return replaceStr(f, s, o, n, cmp)
	}))
	d.method("Replace(char oldChar, char newChar) string", f3(func(s string, o, n int32) string {
		return strings.ReplaceAll(s, charString(o), charString(n))
	}))
	d.method("Split(char separator, StringSplitOptions options = StringSplitOptions.None) string[]", x3(func(f *frame, s string, c int32, o int64) []string {
		return splitString(f, s, []string{charString(c)}, -1, o)
	}))
	d.method("Split(char separator, int count, StringSplitOptions options = StringSplitOptions.None) string[]", x4(func(f *frame, s string, c, n int32, o int64) []string {
		return splitString(f, s, []string{charString(c)}, countArg(n), o)
	}))
	d.method("Split(params char[] separator) string[]", x2(func(f *frame, s string, cs []any) []string {
		return splitString(f, s, charsToStrings(cs), -1, 0)
	}))
	d.method("Split(char[] separator, int count) string[]", x3(func(f *frame, s string, cs []any, n int32) []string {
		return splitString(f, s, charsToStrings(cs), countArg(n), 0)
	}))
	d.method("Split(char[] separator, StringSplitOptions options) string[]", x3(func(f *frame, s string, cs []any, o int64) []string {
		return splitString(f, s, charsToStrings(cs), -1, o)
	}))
	d.method("Split(char[] separator, int count, StringSplitOptions options) string[]", x4(func(f *frame, s string, cs []any, n int32, o int64) []string {
		return splitString(f, s, charsToStrings(cs), countArg(n), o)
	}))
	d.method("Split(string separator, StringSplitOptions options = StringSplitOptions.None) string[]", x3(func(f *frame, s, sep string, o int64) []string {
		if sep == "" {
			// an empty or null separator does not split
			return splitWhole(s, o)
		}
		return splitString(f, s, []string{sep}, -1, o)
	}))
	d.method("Split(string separator, int count, StringSplitOptions options = StringSplitOptions.None) string[]", x4(func(f *frame, s, sep string, n int32, o int64) []string {
		return splitString(f, s, []string{sep}, countArg(n), o)
	}))
	d.method("Split(string[] separator, StringSplitOptions options) string[]", x3(func(f *frame, s string, seps []string, o int64) []string {
		return splitString(f, s, seps, -1, o)
	}))
	d.method("Split(string[] separator, int count, StringSplitOptions options) string[]", x4(func(f *frame, s string, seps []string, n int32, o int64) []string {
		return splitString(f, s, seps, countArg(n), o)
	}))
	d.method("PadLeft(int totalWidth) string", x2(func(f *frame, s string, w int32) string { return padString(f, s, w, ' ', true) }))
	d.method("PadLeft(int totalWidth, char paddingChar) string", x3(func(f *frame, s string, w, c int32) string { return padString(f, s, w, c, true) }))
	d.method("PadRight(int totalWidth) string", x2(func(f *frame, s string, w int32) string { return padString(f, s, w, ' ', false) }))
	d.method("PadRight(int totalWidth, char paddingChar) string", x3(func(f *frame, s string, w, c int32) string { return padString(f, s, w, c, false) }))
	d.method("Insert(int startIndex, string value) string", f3(func(s string, i int32, v string) string {
		mustNotNull(v, "value")
		u := newU16(s)
		if i < 0 || int(i) > u.len() {
			throw("ArgumentOutOfRangeException", "Index must be within the bounds of the string. (Parameter 'startIndex')")
		}
		b := u.unitToByte(int(i))
		return s[:b] + v + s[b:]
	}))
	d.method("Remove(int startIndex) string", f2(func(s string, i int32) string {
		u := newU16(s)
		if i < 0 || int(i) > u.len() {
			throw("ArgumentOutOfRangeException", "startIndex must be less than length of string. (Parameter 'startIndex')")
		}
		return u.slice(0, int(i))
	}))
	d.method("Remove(int startIndex, int count) string", f3(func(s string, i, n int32) string {
		u := newU16(s)
		if i < 0 || n < 0 || int(i+n) > u.len() {
			throw("ArgumentOutOfRangeException", "Index and count must refer to a location within the string. (Parameter 'count')")
		}
		return u.slice(0, int(i)) + u.slice(int(i+n), u.len())
	}))
	d.method("ToCharArray() char[]", f1(func(s string) []any {
		out := []any{}
		for _, c := range toUTF16(s) {
			out = append(out, Char(c))
		}
		return out
	}))
	d.method("Normalize() string", f1(func(s string) string { return s }))
	d.method("IsNormalized() bool", f1(func(s string) bool { return true }))

	// statics
	d.smethod("IsNullOrEmpty(string value) bool", f1(func(s string) bool { return len(s) == 0 }))
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
	d.smethod("Concat(string str0, string str1) string", x2(func(f *frame, a, b string) string { f.alloc(len(a) + len(b)); return a + b }))
	d.smethod("Concat(string str0, string str1, string str2) string", x3(func(f *frame, a, b, c string) string {
		f.alloc(len(a) + len(b) + len(c))
		return a + b + c
	}))
	d.smethod("Concat(string str0, string str1, string str2, string str3) string", x4(func(f *frame, a, b, c, d string) string {
		f.alloc(len(a) + len(b) + len(c) + len(d))
		return a + b + c + d
	}))
	d.smethod("Concat(params string[] values) string", x1(func(f *frame, vs []string) string { return joinStrings(f, "", vs) }))
	d.smethod("Concat(object arg0) string", f1(toStringAny))
	d.smethod("Concat(object arg0, object arg1) string", x2(func(f *frame, a, b any) string {
		return joinStrings(f, "", []string{toStringAny(a), toStringAny(b)})
	}))
	d.smethod("Concat(object arg0, object arg1, object arg2) string", x3(func(f *frame, a, b, c any) string {
		return joinStrings(f, "", []string{toStringAny(a), toStringAny(b), toStringAny(c)})
	}))
	d.smethod("Concat(params object[] args) string", x1(func(f *frame, vs []any) string { return joinStrings(f, "", anysToStrings(vs)) }))
	d.smethod("Concat(IEnumerable<string> values) string", x1(func(f *frame, vs any) string { return joinStrings(f, "", anyToStrings(vs)) }))
	d.smethod("Join(string separator, params string[] value) string", x2(func(f *frame, sep string, vs []string) string { return joinStrings(f, sep, vs) }))
	d.smethod("Join(string separator, IEnumerable<string> values) string", x2(func(f *frame, sep string, vs any) string {
		return joinStrings(f, sep, anyToStrings(vs))
	}))
	d.smethod("Join<T>(string separator, IEnumerable<T> values) string", x2(func(f *frame, sep string, vs any) string {
		return joinStrings(f, sep, anysToStrings(toSlice(f, vs)))
	}))
	d.smethod("Join(string separator, params object[] values) string", x2(func(f *frame, sep string, vs []any) string {
		return joinStrings(f, sep, anysToStrings(vs))
	}))
	d.smethod("Join(char separator, params string[] value) string", x2(func(f *frame, sep int32, vs []string) string {
		return joinStrings(f, charString(sep), vs)
	}))
	d.smethod("Join(char separator, params object[] values) string", x2(func(f *frame, sep int32, vs []any) string {
		return joinStrings(f, charString(sep), anysToStrings(vs))
	}))
	d.smethod("Join<T>(char separator, IEnumerable<T> values) string", x2(func(f *frame, sep int32, vs any) string {
		return joinStrings(f, charString(sep), anysToStrings(toSlice(f, vs)))
	}))
	d.smethod("Format(string format, params object[] args) string", x2(func(f *frame, format string, args []any) string {
		mustNotNull(format, "format")
		s, err := compositeFormat(format, args)
		if err != "" {
			throw("FormatException", "%s", err)
		}
		f.alloc(len(s))
		return s
	}))
	d.smethod("Format(IFormatProvider provider, string format, params object[] args) string", x3(func(f *frame, _ any, format string, args []any) string {
		s, err := compositeFormat(format, args)
		if err != "" {
			throw("FormatException", "%s", err)
		}
		return s
	}))
	d.ctor("(char c, int count)", x2(func(f *frame, c, n int32) string {
		if n < 0 {
			throw("ArgumentOutOfRangeException", "Count cannot be less than zero. (Parameter 'count')")
		}
		f.alloc(int(n))
		return strings.Repeat(charString(c), int(n))
	}))
	d.ctor("(char[] value)", f1(func(cs []any) string {
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
// differing UTF-16 code units, as .NET's CompareOrdinal does.
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
		if ignoreCase(cmp) {
			return cultureCompare(strings.ToLower(a), strings.ToLower(b))
		}
		return cultureCompare(a, b)
	}
	if ignoreCase(cmp) {
		a, b = strings.ToUpper(a), strings.ToUpper(b)
	}
	ua, ub := toUTF16(a), toUTF16(b)
	for i := 0; i < len(ua) && i < len(ub); i++ {
		if ua[i] != ub[i] {
			return int(ua[i]) - int(ub[i])
		}
	}
	return len(ua) - len(ub)
}

func countArg(n int32) int {
	if n < 0 {
		throw("ArgumentOutOfRangeException", "Count cannot be less than zero. (Parameter 'count')")
	}
	return int(n)
}

func joinStrings(f *frame, sep string, vs []string) string {
	total := 0
	for _, v := range vs {
		total += len(v) + len(sep)
	}
	if f != nil {
		f.alloc(total)
	}
	return strings.Join(vs, sep)
}

func anysToStrings(vs []any) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = toStringAny(v)
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
		d.smethod(name+"(string s, int index) bool", f2(func(s string, i int32) bool { return fn(rune(strIndex(s, i, -1))) }))
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
type StringBuilder struct{ b []byte }

// String returns the built string.
func (s *StringBuilder) String() string { return string(s.b) }

func (s *StringBuilder) add(f *frame, str string) *StringBuilder {
	f.alloc(len(str))
	s.b = append(s.b, str...)
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
		f.alloc(int(n))
		return s.add(f, strings.Repeat(charString(c), int(n)))
	}))
	d.method("Append(bool value) StringBuilder", x2(func(f *frame, s *StringBuilder, v bool) *StringBuilder { return s.add(f, toStringAny(v)) }))
	d.method("Append(int value) StringBuilder", x2(func(f *frame, s *StringBuilder, v int32) *StringBuilder { return s.add(f, toStringAny(v)) }))
	d.method("Append(long value) StringBuilder", x2(func(f *frame, s *StringBuilder, v int64) *StringBuilder { return s.add(f, toStringAny(v)) }))
	d.method("Append(double value) StringBuilder", x2(func(f *frame, s *StringBuilder, v float64) *StringBuilder { return s.add(f, formatDouble(v)) }))
	d.method("Append(object value) StringBuilder", x2(func(f *frame, s *StringBuilder, v any) *StringBuilder { return s.add(f, toStringAny(v)) }))
	d.method("AppendLine() StringBuilder", x1(func(f *frame, s *StringBuilder) *StringBuilder { return s.add(f, "\n") }))
	d.method("AppendLine(string value) StringBuilder", x2(func(f *frame, s *StringBuilder, v string) *StringBuilder { return s.add(f, v+"\n") }))
	d.method("AppendFormat(string format, params object[] args) StringBuilder", x3(func(f *frame, s *StringBuilder, format string, args []any) *StringBuilder {
		str, err := compositeFormat(format, args)
		if err != "" {
			throw("FormatException", "%s", err)
		}
		return s.add(f, str)
	}))
	d.method("Insert(int index, string value) StringBuilder", x3(func(f *frame, s *StringBuilder, i int32, v string) *StringBuilder {
		str := string(s.b)
		u := newU16(str)
		if i < 0 || int(i) > u.len() {
			throw("ArgumentOutOfRangeException", "Index was out of range. (Parameter 'index')")
		}
		b := u.unitToByte(int(i))
		f.alloc(len(v))
		s.b = []byte(str[:b] + v + str[b:])
		return s
	}))
	d.method("Remove(int startIndex, int length) StringBuilder", f3(func(s *StringBuilder, i, n int32) *StringBuilder {
		str := string(s.b)
		u := newU16(str)
		if i < 0 || n < 0 || int(i+n) > u.len() {
			throw("ArgumentOutOfRangeException", "Index was out of range. (Parameter 'length')")
		}
		s.b = []byte(u.slice(0, int(i)) + u.slice(int(i+n), u.len()))
		return s
	}))
	d.method("Replace(string oldValue, string newValue) StringBuilder", x3(func(f *frame, s *StringBuilder, o, n string) *StringBuilder {
		s.b = []byte(replaceStr(f, string(s.b), o, n, 4))
		return s
	}))
	d.method("Replace(char oldChar, char newChar) StringBuilder", f3(func(s *StringBuilder, o, n int32) *StringBuilder {
		s.b = []byte(strings.ReplaceAll(string(s.b), charString(o), charString(n)))
		return s
	}))
	d.method("Clear() StringBuilder", f1(func(s *StringBuilder) *StringBuilder { s.b = s.b[:0]; return s }))
	d.method("ToString() string", f1(func(s *StringBuilder) string { return string(s.b) }))
	m := d.prop("Length int", f1(func(s *StringBuilder) int32 { return int32(utf16Len(string(s.b))) }))
	m.set = v2(func(s *StringBuilder, n int32) {
		str := string(s.b)
		u := newU16(str)
		if n < 0 {
			throw("ArgumentOutOfRangeException", "Length cannot be less than zero. (Parameter 'value')")
		}
		if int(n) <= u.len() {
			s.b = []byte(u.slice(0, int(n)))
		} else {
			s.b = append(s.b, strings.Repeat("\x00", int(n)-u.len())...)
		}
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
		rs := []rune(s)
		b := make([]byte, 4*len(rs))
		for i, r := range rs {
			b[4*i], b[4*i+1], b[4*i+2], b[4*i+3] = byte(r), byte(r>>8), byte(r>>16), byte(r>>24)
		}
		return b
	}
	return []byte(s)
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
		rs := make([]rune, len(b))
		for i, c := range b {
			rs[i] = rune(c)
		}
		return string(rs)
	case "Unicode", "BigEndianUnicode":
		units := make([]uint16, len(b)/2)
		for i := range units {
			if e.name == "Unicode" {
				units[i] = uint16(b[2*i]) | uint16(b[2*i+1])<<8
			} else {
				units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
			}
		}
		s := string(utf16.Decode(units))
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
	d.method("GetBytes(string s) byte[]", x2(func(f *frame, e *Encoding, s string) []byte {
		mustNotNull(s, "s")
		f.alloc(len(s) * 2)
		return e.getBytes(s)
	}))
	d.method("GetBytes(char[] chars) byte[]", x2(func(f *frame, e *Encoding, cs []any) []byte {
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
		f.alloc(len(b) * 2)
		return e.getString(b)
	}))
	d.method("GetString(byte[] bytes, int index, int count) string", x4(func(f *frame, e *Encoding, b []byte, i, n int32) string {
		if i < 0 || n < 0 || int(i+n) > len(b) {
			throw("ArgumentOutOfRangeException", "Index and count must refer to a location within the buffer. (Parameter 'bytes')")
		}
		return e.getString(b[i : i+n])
	}))
	d.method("GetByteCount(string s) int", f2(func(e *Encoding, s string) int32 { return int32(len(e.getBytes(s))) }))
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

package xslt

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/lastmile-gw/lastmile/internal/xpath"
)

// xsl:number's format string (XSLT 1.0 §7.7.1): alphanumeric format tokens
// separated by other characters, with an optional prefix and suffix.
type numberFormat struct {
	prefix, suffix string
	tokens         []string
	seps           []string // seps[i] separates the numbers of tokens[i] and tokens[i+1]
}

func parseNumberFormat(f string) numberFormat {
	var nf numberFormat
	isAlnum := func(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) }
	// parts alternate: separator (maybe empty), token, separator, token...
	var parts []string
	start, alnum := 0, false
	for i, r := range f {
		a := isAlnum(r)
		switch {
		case i == 0 && a:
			parts = append(parts, "")
		case i > 0 && a != alnum:
			parts = append(parts, f[start:i])
			start = i
		}
		alnum = a
	}
	if start < len(f) {
		parts = append(parts, f[start:])
	}
	if len(parts) == 0 {
		return numberFormat{tokens: []string{"1"}}
	}
	nf.prefix = parts[0]
	rest := parts[1:]
	for i := 0; i < len(rest); i += 2 {
		nf.tokens = append(nf.tokens, rest[i])
		if i+1 < len(rest) {
			if i+2 < len(rest) {
				nf.seps = append(nf.seps, rest[i+1])
			} else {
				nf.suffix = rest[i+1]
			}
		}
	}
	if len(nf.tokens) == 0 {
		nf.tokens = []string{"1"}
	}
	return nf
}

// format formats the numbers of xsl:number; groupSep and groupSize apply to
// decimal tokens when both are given.
func (nf numberFormat) format(nums []int, groupSep string, groupSize int) string {
	var b strings.Builder
	b.WriteString(nf.prefix)
	for i, n := range nums {
		if i > 0 {
			switch {
			case i-1 < len(nf.seps):
				b.WriteString(nf.seps[i-1])
			case len(nf.seps) > 0:
				b.WriteString(nf.seps[len(nf.seps)-1])
			default:
				b.WriteByte('.')
			}
		}
		tok := nf.tokens[len(nf.tokens)-1]
		if i < len(nf.tokens) {
			tok = nf.tokens[i]
		}
		b.WriteString(formatToken(n, tok, groupSep, groupSize))
	}
	b.WriteString(nf.suffix)
	return b.String()
}

func formatToken(n int, tok, groupSep string, groupSize int) string {
	switch {
	case tok == "a" && n > 0:
		return alphabetic(n, 'a')
	case tok == "A" && n > 0:
		return alphabetic(n, 'A')
	case tok == "i" && n > 0 && n < 4000:
		return strings.ToLower(roman(n))
	case tok == "I" && n > 0 && n < 4000:
		return roman(n)
	}
	width := 1
	if isZeroPadded(tok) {
		width = len(tok)
	}
	s := strconv.Itoa(n)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	for len(s) < width {
		s = "0" + s
	}
	if groupSep != "" && groupSize > 0 {
		s = group(s, groupSep, groupSize)
	}
	if neg {
		s = "-" + s
	}
	return s
}

// isZeroPadded reports whether tok is 0...01, which asks for that many digits.
func isZeroPadded(tok string) bool {
	return len(tok) > 1 && strings.TrimLeft(tok, "0") == "1"
}

func alphabetic(n int, a byte) string {
	var out []byte
	for n > 0 {
		n--
		out = append(out, a+byte(n%26))
		n /= 26
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out)
}

func roman(n int) string {
	vals := []int{1000, 900, 500, 400, 100, 90, 50, 40, 10, 9, 5, 4, 1}
	syms := []string{"M", "CM", "D", "CD", "C", "XC", "L", "XL", "X", "IX", "V", "IV", "I"}
	var b strings.Builder
	for i, v := range vals {
		for n >= v {
			b.WriteString(syms[i])
			n -= v
		}
	}
	return b.String()
}

// group inserts sep every size digits from the right of the digit string s.
func group(s, sep string, size int) string {
	if len(s) <= size {
		return s
	}
	var b strings.Builder
	first := len(s) % size
	if first > 0 {
		b.WriteString(s[:first])
	}
	for i := first; i < len(s); i += size {
		if i > 0 {
			b.WriteString(sep)
		}
		b.WriteString(s[i : i+size])
	}
	return b.String()
}

// decimalFormat is an xsl:decimal-format (XSLT 1.0 §12.3).
type decimalFormat struct {
	decimalSep, groupSep, percent, perMille, zero, digit, patternSep, minus rune
	infinity, nan                                                           string
}

func defaultDecimalFormat() *decimalFormat {
	return &decimalFormat{
		decimalSep: '.', groupSep: ',', percent: '%', perMille: '‰', zero: '0',
		digit: '#', patternSep: ';', minus: '-', infinity: "Infinity", nan: "NaN",
	}
}

// numberPattern is one half of a format-number pattern.
type numberPattern struct {
	prefix, suffix   string
	minInt           int
	minFrac, maxFrac int
	groupSize        int
	multiplier       float64
}

func (df *decimalFormat) parsePattern(p string) (pos numberPattern, neg *numberPattern, err error) {
	halves := strings.Split(p, string(df.patternSep))
	if len(halves) > 2 {
		return pos, nil, errors.New("format-number(): the pattern has more than one pattern separator")
	}
	pos, err = df.parseHalf(halves[0])
	if err != nil {
		return pos, nil, err
	}
	if len(halves) == 2 {
		n, err := df.parseHalf(halves[1])
		if err != nil {
			return pos, nil, err
		}
		// Only the negative half's prefix and suffix count (JDK DecimalFormat).
		m := pos
		m.prefix, m.suffix = n.prefix, n.suffix
		neg = &m
	}
	return pos, neg, nil
}

func (df *decimalFormat) isNumberChar(r rune) bool {
	return r == df.digit || r == df.zero || r == df.groupSep || r == df.decimalSep
}

func (df *decimalFormat) parseHalf(p string) (numberPattern, error) {
	np := numberPattern{multiplier: 1}
	bad := func(why string) (numberPattern, error) {
		return np, errors.New("format-number(): the pattern " + why)
	}
	rs := []rune(p)
	i := 0
	for i < len(rs) && !df.isNumberChar(rs[i]) {
		i++
	}
	np.prefix = string(rs[:i])
	start := i
	for i < len(rs) && df.isNumberChar(rs[i]) {
		i++
	}
	number := rs[start:i]
	np.suffix = string(rs[i:])
	if len(number) == 0 {
		return bad("has no digits: use # and 0, as in #,##0.00")
	}
	for _, r := range np.prefix + np.suffix {
		switch r {
		case df.percent:
			np.multiplier = 100
		case df.perMille:
			np.multiplier = 1000
		}
	}
	intPart, fracPart, hasDot := splitRunes(number, df.decimalSep)
	if hasDot && containsRune(fracPart, df.decimalSep) {
		return bad("has more than one decimal separator")
	}
	sawZero := false
	lastGroup := -1
	for j, r := range intPart {
		switch r {
		case df.zero:
			np.minInt++
			sawZero = true
		case df.digit:
			if sawZero {
				return bad("has # after 0 in the integer part")
			}
		case df.groupSep:
			lastGroup = j
		}
	}
	if lastGroup >= 0 {
		np.groupSize = len(intPart) - lastGroup - 1
	}
	sawDigit := false
	for _, r := range fracPart {
		switch r {
		case df.zero:
			if sawDigit {
				return bad("has 0 after # in the fraction part")
			}
			np.minFrac++
			np.maxFrac++
		case df.digit:
			sawDigit = true
			np.maxFrac++
		case df.groupSep:
			return bad("has a grouping separator in the fraction part")
		}
	}
	return np, nil
}

func splitRunes(rs []rune, sep rune) ([]rune, []rune, bool) {
	for i, r := range rs {
		if r == sep {
			return rs[:i], rs[i+1:], true
		}
	}
	return rs, nil, false
}

func containsRune(rs []rune, r rune) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// formatNumber implements format-number() (XSLT 1.0 §12.3, JDK 1.1
// DecimalFormat patterns).
func (df *decimalFormat) formatNumber(v float64, pattern string) (string, error) {
	pos, neg, err := df.parsePattern(pattern)
	if err != nil {
		return "", err
	}
	if math.IsNaN(v) {
		return df.nan, nil
	}
	np := pos
	negative := v < 0
	if negative {
		if neg != nil {
			np = *neg
		} else {
			np.prefix = string(df.minus) + np.prefix
		}
		v = -v
	}
	if math.IsInf(v, 0) {
		return np.prefix + df.infinity + np.suffix, nil
	}
	v *= np.multiplier
	intDigits, frac := roundHalfUp(strconv.FormatFloat(v, 'f', -1, 64), np.maxFrac)
	frac = strings.TrimRight(frac, "0")
	for len(frac) < np.minFrac {
		frac += "0"
	}
	intDigits = strings.TrimLeft(intDigits, "0")
	for len(intDigits) < np.minInt {
		intDigits = "0" + intDigits
	}
	if intDigits == "" && frac == "" {
		intDigits = "0"
	}
	if negative && strings.Trim(intDigits+frac, "0") == "" && neg == nil {
		// -0.001 with "0.00" is "0.00", not "-0.00" (JDK).
		np.prefix = strings.TrimPrefix(np.prefix, string(df.minus))
	}
	if np.groupSize > 0 {
		intDigits = group(intDigits, string(df.groupSep), np.groupSize)
	}
	var b strings.Builder
	b.WriteString(np.prefix)
	writeDigits(&b, intDigits, df)
	if frac != "" {
		b.WriteRune(df.decimalSep)
		writeDigits(&b, frac, df)
	}
	b.WriteString(np.suffix)
	return b.String(), nil
}

// roundHalfUp rounds a non-negative decimal number (digits, an optional
// point and more digits) to frac fraction digits, halves away from zero as
// .NET's number formatting does. It works on the shortest decimal form of the
// float, so 1.005 rounds to 1.01 as written rather than by its binary value.
func roundHalfUp(s string, frac int) (string, string) {
	intPart, fracPart, _ := strings.Cut(s, ".")
	if len(fracPart) <= frac {
		return intPart, fracPart
	}
	up := fracPart[frac] >= '5'
	digits := []byte(intPart + fracPart[:frac])
	for i := len(digits) - 1; up && i >= 0; i-- {
		if digits[i] == '9' {
			digits[i] = '0'
			continue
		}
		digits[i]++
		up = false
	}
	if up {
		digits = append([]byte{'1'}, digits...)
	}
	n := len(digits) - frac
	return string(digits[:n]), string(digits[n:])
}

// writeDigits writes ASCII digits in the decimal format's digit family.
func writeDigits(b *strings.Builder, s string, df *decimalFormat) {
	if df.zero == '0' {
		b.WriteString(s)
		return
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r >= '0' && r <= '9' {
			r = df.zero + (r - '0')
		}
		b.WriteRune(r)
		i += n
	}
}

// numberInstr runs xsl:number (XSLT 1.0 §7.7).
func (x *exec) numberInstr(in *numberInstr, f focus) error {
	var nums []int
	if in.value != nil {
		v, err := x.number(in.value, f)
		if err != nil {
			return err
		}
		v = math.Floor(v + 0.5)
		if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) > 1e15 {
			x.out.text(xpath.String(v), false)
			return nil
		}
		nums = []int{int(v)}
	} else {
		var err error
		if nums, err = x.countNodes(in, f.node); err != nil {
			return err
		}
	}
	format, err := x.avt(in.format, f)
	if err != nil {
		return err
	}
	var sep string
	var size int
	if in.groupSep != nil && in.groupSize != nil {
		if sep, err = x.avt(in.groupSep, f); err != nil {
			return err
		}
		s, err := x.avt(in.groupSize, f)
		if err != nil {
			return err
		}
		size, _ = strconv.Atoi(strings.TrimSpace(s))
	}
	if len(nums) == 0 {
		return nil
	}
	x.out.text(parseNumberFormat(format).format(nums, sep, size), false)
	return nil
}

// countNodes numbers node n by level, count and from.
func (x *exec) countNodes(in *numberInstr, n *xpath.Node) ([]int, error) {
	count := func(m *xpath.Node) (bool, error) {
		if err := x.spend(1); err != nil {
			return false, err
		}
		if in.count != nil {
			return x.matchAny(in.count, m)
		}
		// By default, nodes of n's kind and name.
		return m.Kind == n.Kind && m.Local == n.Local && m.Space == n.Space, nil
	}
	from := func(m *xpath.Node) (bool, error) {
		if in.from == nil {
			return false, nil
		}
		return x.matchAny(in.from, m)
	}
	siblingNumber := func(m *xpath.Node) (int, error) {
		num := 1
		if m.Parent == nil || m.Kind == xpath.AttributeNode || m.Kind == xpath.NamespaceNode {
			return num, nil
		}
		for _, s := range m.Parent.Children {
			if s == m {
				break
			}
			ok, err := count(s)
			if err != nil {
				return 0, err
			}
			if ok {
				num++
			}
		}
		return num, nil
	}
	switch in.level {
	case "single", "multiple":
		// Only below the nearest node matching from (XSLT 1.0 §7.7, as
		// libxslt reads it: that node, even n itself, is not counted).
		var nums []int
		for a := n; a != nil; a = a.Parent {
			stop, err := from(a)
			if err != nil {
				return nil, err
			}
			if stop {
				break
			}
			ok, err := count(a)
			if err != nil {
				return nil, err
			}
			if !ok {
				continue
			}
			num, err := siblingNumber(a)
			if err != nil {
				return nil, err
			}
			nums = append([]int{num}, nums...)
			if in.level == "single" {
				break
			}
		}
		return nums, nil
	}
	// any: the nodes up to n in document order, from the last that matches
	// from (itself included, as XSLT 2.0 makes clear and libxslt does).
	num := 0
	var err error
	walkAll(n.Root(), func(m *xpath.Node) bool {
		if m.Kind == xpath.AttributeNode && m != n {
			return true
		}
		var restart, ok bool
		if restart, err = from(m); err != nil {
			return false
		}
		if restart {
			num = 0
		}
		if ok, err = count(m); err != nil {
			return false
		}
		if ok {
			num++
		}
		return m != n
	})
	if err != nil {
		return nil, err
	}
	return []int{num}, nil
}

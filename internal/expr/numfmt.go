package expr

import (
	"math"
	"strconv"
	"strings"
)

// decNumber is a number as .NET's formatting code sees it (its NumberBuffer):
// decimal digits, most significant first, without leading or trailing zeros,
// standing for 0.d1d2d3... × 10^scale. Zero has no digits. Integers are exact;
// a double carries 15 significant digits for custom formats (7 for a float),
// as .NET's DoublePrecisionCustomFormat. A floating-point value keeps its sign
// when it rounds to zero ((-0.1).ToString("0") is "-0" since .NET Core 3.0); an
// integer does not.
type decNumber struct {
	neg    bool
	float  bool
	digits []byte
	scale  int
}

// intDecNumber is the exact decimal form of an integer.
func intDecNumber(v int64, unsigned bool) *decNumber {
	n := &decNumber{}
	var s string
	switch {
	case unsigned:
		s = strconv.FormatUint(uint64(v), 10)
	case v < 0:
		n.neg = true
		s = strconv.FormatUint(-uint64(v), 10)
	default:
		s = strconv.FormatInt(v, 10)
	}
	n.setDigits(s, len(s))
	return n
}

// floatDecNumber is v rounded to the significant digits .NET uses for custom
// formats: 15 for a double, 7 for a float. v must be finite.
func floatDecNumber(v float64, bits int) *decNumber {
	n := &decNumber{neg: math.Signbit(v), float: true}
	if v == 0 {
		return n
	}
	prec := 15
	if bits == 32 {
		prec = 7
	}
	mant, exp, _ := strings.Cut(strconv.FormatFloat(math.Abs(v), 'e', prec-1, bits), "e")
	e, _ := strconv.Atoi(exp)
	n.setDigits(strings.Replace(mant, ".", "", 1), e+1)
	return n
}

// setDigits sets the digits from s, which has no leading zeros.
func (n *decNumber) setDigits(s string, scale int) {
	s = strings.TrimRight(s, "0")
	if s == "" {
		n.digits, n.scale = nil, 0
		return
	}
	n.digits, n.scale = []byte(s), scale
}

// digit returns the i-th digit, '0' past the end.
func (n *decNumber) digit(i int) byte {
	if i < len(n.digits) {
		return n.digits[i]
	}
	return '0'
}

// round keeps the first pos digits, rounding half away from zero on the next
// one (.NET's RoundNumber).
func (n *decNumber) round(pos int) {
	i := max(min(pos, len(n.digits)), 0)
	if i == pos && i < len(n.digits) && n.digits[i] >= '5' {
		for i > 0 && n.digits[i-1] == '9' {
			i--
		}
		if i > 0 {
			n.digits[i-1]++
		} else {
			n.scale++
			n.digits[0] = '1'
			i = 1
		}
	} else {
		for i > 0 && n.digits[i-1] == '0' {
			i--
		}
	}
	n.digits = n.digits[:i]
	if i == 0 {
		n.scale = 0
		if !n.float {
			n.neg = false
		}
	}
}

// formatStandard formats n with the standard format c (C, E, F, G, N or P)
// and precision prec (-1: the default) as .NET's NumberToString does with the
// invariant culture. It reports false for any other format letter.
func (n *decNumber) formatStandard(c byte, prec int) (string, bool) {
	var b strings.Builder
	switch c {
	case 'C', 'c':
		if prec < 0 {
			prec = 2
		}
		n.round(n.scale + prec)
		if n.neg {
			b.WriteString("(¤")
			n.writeFixed(&b, prec, true)
			b.WriteByte(')')
		} else {
			b.WriteString("¤")
			n.writeFixed(&b, prec, true)
		}
	case 'F', 'f', 'N', 'n':
		if prec < 0 {
			prec = 2
		}
		n.round(n.scale + prec)
		if n.neg {
			b.WriteByte('-')
		}
		n.writeFixed(&b, prec, c == 'N' || c == 'n')
	case 'P', 'p':
		if prec < 0 {
			prec = 2
		}
		n.scale += 2
		n.round(n.scale + prec)
		if n.neg {
			b.WriteByte('-')
		}
		n.writeFixed(&b, prec, true)
		b.WriteString(" %")
	case 'E', 'e':
		if prec < 0 {
			prec = 6
		}
		prec++
		n.round(prec)
		if n.neg {
			b.WriteByte('-')
		}
		b.WriteByte(n.digit(0))
		if prec != 1 {
			b.WriteByte('.')
		}
		for i := 1; i < prec; i++ {
			b.WriteByte(n.digit(i))
		}
		exp := 0
		if len(n.digits) > 0 {
			exp = n.scale - 1
		}
		writeExponent(&b, exp, c, 3, true)
	case 'G', 'g':
		if prec < 1 {
			prec = len(n.digits)
		}
		n.round(prec)
		if n.neg {
			b.WriteByte('-')
		}
		n.writeGeneral(&b, prec, c-('G'-'E'))
	default:
		return "", false
	}
	return b.String(), true
}

// writeFixed writes the integer digits (grouped by three with commas if
// group) and prec decimals.
func (n *decNumber) writeFixed(b *strings.Builder, prec int, group bool) {
	cur := 0
	if n.scale > 0 {
		for i := n.scale; i > 0; i-- {
			b.WriteByte(n.digit(cur))
			cur++
			if group && i > 1 && (i-1)%3 == 0 {
				b.WriteByte(',')
			}
		}
	} else {
		b.WriteByte('0')
	}
	if prec <= 0 {
		return
	}
	b.WriteByte('.')
	if n.scale < 0 {
		zeros := min(-n.scale, prec)
		b.WriteString(strings.Repeat("0", zeros))
		prec -= zeros
	}
	for ; prec > 0; prec-- {
		b.WriteByte(n.digit(cur))
		cur++
	}
}

// writeGeneral is the G format: fixed notation unless the exponent is at least
// prec or below -4.
func (n *decNumber) writeGeneral(b *strings.Builder, prec int, expChar byte) {
	digPos := n.scale
	scientific := false
	if digPos > prec || digPos < -3 {
		digPos = 1
		scientific = true
	}
	cur := 0
	if digPos > 0 {
		for ; digPos > 0; digPos-- {
			b.WriteByte(n.digit(cur))
			cur++
		}
	} else {
		b.WriteByte('0')
	}
	if cur < len(n.digits) || digPos < 0 {
		b.WriteByte('.')
		for ; digPos < 0; digPos++ {
			b.WriteByte('0')
		}
		b.Write(n.digits[min(cur, len(n.digits)):])
	}
	if scientific {
		writeExponent(b, n.scale-1, expChar, 2, true)
	}
}

// writeExponent writes e+ddd: at least minDigits digits, the sign always when
// plus is set and only for negative exponents otherwise.
func writeExponent(b *strings.Builder, exp int, expChar byte, minDigits int, plus bool) {
	b.WriteByte(expChar)
	if exp < 0 {
		b.WriteByte('-')
		exp = -exp
	} else if plus {
		b.WriteByte('+')
	}
	s := strconv.Itoa(exp)
	if len(s) < minDigits {
		b.WriteString(strings.Repeat("0", minDigits-len(s)))
	}
	b.WriteString(s)
}

// formatCustom formats n with a custom numeric format string as .NET's
// NumberToStringFormat does with the invariant culture: 0 and # placeholders,
// '.', ',' (grouping, and scaling by 1000 before the point or at the end), '%'
// and '‰' (scaling by 100 and 1000), E0, E+0 and E-0 (scientific notation,
// rounded to as many significant digits as there are placeholders), quoted
// literals, '\' escapes and up to three ';' sections (positive, negative,
// zero).
func (n *decNumber) formatCustom(format string) string {
	f := []rune(format)
	which := 0
	if len(n.digits) == 0 {
		which = 2
	} else if n.neg {
		which = 1
	}
	section := findSection(f, which)

	var digitCount, decimalPos, firstDigit, lastDigit, thousandPos, thousandCount, scaleAdjust int
	var scientific, thousandSeps bool
	for {
		digitCount, decimalPos, firstDigit, lastDigit = 0, -1, math.MaxInt32, 0
		scientific, thousandPos, thousandSeps, scaleAdjust = false, -1, false, 0
	scan:
		for src := section; src < len(f); {
			ch := f[src]
			src++
			switch ch {
			case 0, ';':
				break scan
			case '#':
				digitCount++
			case '0':
				if firstDigit == math.MaxInt32 {
					firstDigit = digitCount
				}
				digitCount++
				lastDigit = digitCount
			case '.':
				if decimalPos < 0 {
					decimalPos = digitCount
				}
			case ',':
				if digitCount > 0 && decimalPos < 0 {
					if thousandPos >= 0 {
						if thousandPos == digitCount {
							thousandCount++
							break
						}
						thousandSeps = true
					}
					thousandPos = digitCount
					thousandCount = 1
				}
			case '%':
				scaleAdjust += 2
			case '‰':
				scaleAdjust += 3
			case '\'', '"', '\\':
				src = skipLiteral(f, src, ch)
			case 'E', 'e':
				if src < len(f) && f[src] == '0' || src+1 < len(f) && (f[src] == '+' || f[src] == '-') && f[src+1] == '0' {
					for src++; src < len(f) && f[src] == '0'; src++ {
					}
					scientific = true
				}
			}
		}
		if decimalPos < 0 {
			decimalPos = digitCount
		}
		if thousandPos >= 0 {
			if thousandPos == decimalPos {
				scaleAdjust -= thousandCount * 3
			} else {
				thousandSeps = true
			}
		}
		if len(n.digits) > 0 {
			n.scale += scaleAdjust
			pos := n.scale + digitCount - decimalPos
			if scientific {
				pos = digitCount
			}
			n.round(pos)
			if len(n.digits) == 0 {
				if s := findSection(f, 2); s != section {
					section = s
					continue
				}
			}
		} else {
			if !n.float {
				n.neg = false
			}
			n.scale = 0
		}
		break
	}

	if firstDigit < decimalPos {
		firstDigit = decimalPos - firstDigit
	} else {
		firstDigit = 0
	}
	if lastDigit > decimalPos {
		lastDigit = decimalPos - lastDigit
	} else {
		lastDigit = 0
	}
	var digPos, adjust int
	if scientific {
		digPos, adjust = decimalPos, 0
	} else {
		digPos, adjust = max(n.scale, decimalPos), n.scale-decimalPos
	}
	// the digit positions (counted from the point) after which a comma goes,
	// largest last
	var seps []int
	if thousandSeps {
		total := digPos + min(adjust, 0)
		for at := 3; max(firstDigit, total) > at; at += 3 {
			seps = append(seps, at)
		}
	}
	sepCtr := len(seps) - 1
	var b strings.Builder
	sep := func() {
		if thousandSeps && digPos > 1 && sepCtr >= 0 && digPos == seps[sepCtr]+1 {
			b.WriteByte(',')
			sepCtr--
		}
	}
	if n.neg && section == 0 && n.scale != 0 {
		b.WriteByte('-')
	}
	decimalWritten := false
	cur := 0
	for src := section; src < len(f); {
		ch := f[src]
		src++
		if ch == 0 || ch == ';' {
			break
		}
		if adjust > 0 && (ch == '#' || ch == '0' || ch == '.') {
			for ; adjust > 0; adjust-- {
				b.WriteByte(n.digit(cur))
				cur++
				sep()
				digPos--
			}
		}
		switch ch {
		case '#', '0':
			var d byte
			if adjust < 0 {
				adjust++
				if digPos <= firstDigit {
					d = '0'
				}
			} else if cur < len(n.digits) {
				d = n.digits[cur]
				cur++
			} else if digPos > lastDigit {
				d = '0'
			}
			if d != 0 {
				b.WriteByte(d)
				sep()
			}
			digPos--
		case '.':
			if digPos != 0 || decimalWritten {
				break
			}
			if lastDigit < 0 || decimalPos < digitCount && cur < len(n.digits) {
				b.WriteByte('.')
				decimalWritten = true
			}
		case '‰', '%':
			b.WriteRune(ch)
		case ',':
		case '\'', '"':
			for src < len(f) && f[src] != 0 && f[src] != ch {
				b.WriteRune(f[src])
				src++
			}
			if src < len(f) && f[src] != 0 {
				src++
			}
		case '\\':
			if src < len(f) && f[src] != 0 {
				b.WriteRune(f[src])
				src++
			}
		case 'E', 'e':
			if !scientific {
				b.WriteRune(ch)
				if src < len(f) && (f[src] == '+' || f[src] == '-') {
					b.WriteRune(f[src])
					src++
				}
				for src < len(f) && f[src] == '0' {
					b.WriteByte('0')
					src++
				}
				break
			}
			plus, minDigits := false, 0
			switch {
			case src < len(f) && f[src] == '0':
				minDigits++ // E0 is E-0
			case src+1 < len(f) && f[src] == '+' && f[src+1] == '0':
				plus = true
			case src+1 < len(f) && f[src] == '-' && f[src+1] == '0':
			default:
				b.WriteRune(ch)
				continue
			}
			for src++; src < len(f) && f[src] == '0'; src++ {
				minDigits++
			}
			exp := 0
			if len(n.digits) > 0 {
				exp = n.scale - decimalPos
			}
			writeExponent(&b, exp, byte(ch), min(minDigits, 10), plus)
			scientific = false
		default:
			b.WriteRune(ch)
		}
	}
	if n.neg && section == 0 && n.scale == 0 && b.Len() > 0 {
		return "-" + b.String()
	}
	return b.String()
}

// skipLiteral returns where the literal that ch opened just before src ends: a
// quoted string through its closing quote, or the one character a backslash
// escapes. The scanners pass over literals; only the writer copies them.
func skipLiteral(f []rune, src int, ch rune) int {
	if ch == '\\' {
		if src < len(f) && f[src] != 0 {
			src++
		}
		return src
	}
	for src < len(f) && f[src] != 0 {
		src++
		if f[src-1] == ch {
			break
		}
	}
	return src
}

// findSection returns where section which (0 positive, 1 negative, 2 zero)
// of a custom format starts, or 0 (the first section) when the format has no
// such section or it is empty.
func findSection(f []rune, which int) int {
	if which == 0 {
		return 0
	}
	for src := 0; src < len(f); {
		ch := f[src]
		src++
		switch ch {
		case '\'', '"', '\\':
			src = skipLiteral(f, src, ch)
		case ';':
			which--
			if which != 0 {
				break
			}
			if src < len(f) && f[src] != 0 && f[src] != ';' {
				return src
			}
			return 0
		case 0:
			return 0
		}
	}
	return 0
}

package expr

import (
	"math"
	"math/big"
	"math/bits"
	"strconv"
	"strings"
)

// Decimal is a System.Decimal: a 96-bit unsigned integer, a sign and a scale
// from 0 to 28, standing for ±mantissa / 10^scale. The scale is part of the
// value, as in .NET: 1.10m equals 1.1m but prints as 1.10.
type Decimal struct {
	lo    uint64 // the mantissa's low 64 bits
	hi    uint32 // and its high 32
	scale uint8
	neg   bool
}

const decMaxScale = 28

const decOverflowMsg = "Value was either too large or too small for a Decimal."

// pow10u64 holds the powers of ten that fit a uint64.
var pow10u64 = [...]uint64{
	1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
	1e15, 1e16, 1e17, 1e18, 1e19,
}

// NewDecimal returns unscaled / 10^scale; scale must be 0 to 28.
func NewDecimal(unscaled int64, scale int) Decimal {
	d := decFromInt64(unscaled)
	d.scale = uint8(min(max(scale, 0), decMaxScale))
	return d
}

// ParseDecimal parses s as decimal.Parse does with the invariant culture.
func ParseDecimal(s string) (Decimal, bool) {
	d, err := parseDecimalStr(s, false)
	return d, err == ""
}

// String is ToString(): the digits of the mantissa with the point scale digits
// from the right, without an exponent.
func (d Decimal) String() string {
	digits := d.mantString()
	if s := int(d.scale); s > 0 {
		if len(digits) <= s {
			digits = strings.Repeat("0", s-len(digits)+1) + digits
		}
		digits = digits[:len(digits)-s] + "." + digits[len(digits)-s:]
	}
	if d.neg && !d.isZero() {
		return "-" + digits
	}
	return digits
}

// Float64 is the explicit conversion to double.
func (d Decimal) Float64() float64 {
	if d.hi == 0 && d.lo < 1<<53 && d.scale <= 22 {
		f := float64(d.lo) / math.Pow10(int(d.scale)) // exact operands: correctly rounded
		if d.neg {
			f = -f
		}
		return f
	}
	f, _ := strconv.ParseFloat(d.String(), 64)
	return f
}

func (d Decimal) isZero() bool { return d.lo == 0 && d.hi == 0 }

func (d Decimal) negate() Decimal {
	d.neg = !d.neg
	return d
}

func (d Decimal) mantString() string {
	if d.hi == 0 {
		return strconv.FormatUint(d.lo, 10)
	}
	return d.mant().String()
}

func (d Decimal) mant() *big.Int {
	m := new(big.Int).SetUint64(uint64(d.hi))
	m.Lsh(m, 64)
	return m.Or(m, new(big.Int).SetUint64(d.lo))
}

func pow10(n int) *big.Int {
	if n < len(pow10u64) {
		return new(big.Int).SetUint64(pow10u64[n])
	}
	return new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(n)), nil)
}

func decFromInt64(v int64) Decimal {
	if v < 0 {
		return Decimal{lo: -uint64(v), neg: true}
	}
	return Decimal{lo: uint64(v)}
}

// decOf makes a Decimal of a mantissa known to fit 96 bits.
func decOf(m *big.Int, scale int, neg bool) Decimal {
	lo := new(big.Int).And(m, new(big.Int).SetUint64(math.MaxUint64)).Uint64()
	hi := new(big.Int).Rsh(m, 64).Uint64()
	return Decimal{lo: lo, hi: uint32(hi), scale: uint8(scale), neg: neg}
}

// divRoundEven is m / p rounded half to even.
func divRoundEven(m, p *big.Int) *big.Int {
	q, r := new(big.Int).QuoRem(m, p, new(big.Int))
	if r.Sign() == 0 {
		return q
	}
	if c := r.Lsh(r, 1).Cmp(p); c > 0 || c == 0 && q.Bit(0) == 1 {
		q.Add(q, big.NewInt(1))
	}
	return q
}

// decFromBig makes a Decimal of m / 10^scale (m >= 0, scale >= 0), rounding
// half to even to fewer decimals when m has more than 96 bits or scale is over
// 28, as .NET's arithmetic does; false when it does not fit with no decimals.
func decFromBig(m *big.Int, scale int, neg bool) (Decimal, bool) {
	drop := max(scale-decMaxScale, 0)
	if n := m.BitLen(); n > 96 {
		drop = max(drop, (n-96)*3/10) // a decimal digit is 3.32 bits: a lower bound
	}
	for ; drop <= scale; drop++ {
		q := m
		if drop > 0 {
			q = divRoundEven(m, pow10(drop))
		}
		if q.BitLen() <= 96 {
			return decOf(q, scale-drop, neg), true
		}
	}
	return Decimal{}, false
}

func decMust(d Decimal, ok bool) Decimal {
	if !ok {
		throw("OverflowException", decOverflowMsg)
	}
	return d
}

// scaleUp64 is v × 10^n, false when it does not fit a uint64.
func scaleUp64(v uint64, n int) (uint64, bool) {
	if n >= len(pow10u64) {
		return 0, v == 0
	}
	hi, lo := bits.Mul64(v, pow10u64[n])
	return lo, hi == 0
}

// aligned returns the mantissas of a and b at the larger of their scales.
func aligned(a, b Decimal) (*big.Int, *big.Int, int) {
	s := max(a.scale, b.scale)
	ma, mb := a.mant(), b.mant()
	if a.scale < s {
		ma.Mul(ma, pow10(int(s-a.scale)))
	}
	if b.scale < s {
		mb.Mul(mb, pow10(int(s-b.scale)))
	}
	return ma, mb, int(s)
}

// decAdd is a + b: exact at the larger scale, rounded to fewer decimals when
// the sum needs more than 96 bits.
func decAdd(a, b Decimal) Decimal {
	if a.hi == 0 && b.hi == 0 {
		s := max(a.scale, b.scale)
		x, okx := scaleUp64(a.lo, int(s-a.scale))
		y, oky := scaleUp64(b.lo, int(s-b.scale))
		if okx && oky {
			switch {
			case a.neg == b.neg:
				sum, carry := bits.Add64(x, y, 0)
				return Decimal{lo: sum, hi: uint32(carry), scale: s, neg: a.neg}
			case x >= y:
				return Decimal{lo: x - y, scale: s, neg: a.neg && x != y}
			}
			return Decimal{lo: y - x, scale: s, neg: b.neg}
		}
	}
	ma, mb, s := aligned(a, b)
	if a.neg {
		ma.Neg(ma)
	}
	if b.neg {
		mb.Neg(mb)
	}
	sum := ma.Add(ma, mb)
	neg := sum.Sign() < 0
	return decMust(decFromBig(sum.Abs(sum), s, neg))
}

// decMul is a × b: the scales add up, rounded to 28 decimals and 96 bits.
func decMul(a, b Decimal) Decimal {
	neg := a.neg != b.neg
	s := int(a.scale) + int(b.scale)
	if a.hi == 0 && b.hi == 0 {
		h, l := bits.Mul64(a.lo, b.lo)
		switch {
		case s <= decMaxScale && h>>32 == 0:
			return Decimal{lo: l, hi: uint32(h), scale: uint8(s), neg: neg}
		case s > decMaxScale+19 && h == 0:
			return Decimal{} // below 10^-28 / 2: .NET's zero, without a scale
		}
	}
	return decMust(decFromBig(new(big.Int).Mul(a.mant(), b.mant()), s, neg))
}

// decDiv is a / b as .NET's VarDecDiv computes it: an exact quotient at the
// difference of the scales stays as it is (10.00m / 4 is 2.50); otherwise the
// quotient takes as many decimals as fit, up to 28, rounded half to even,
// without trailing zeros (1m / 4 is 0.25, 1m / 3 is 0.3333333333333333333333333333).
func decDiv(a, b Decimal) Decimal {
	if b.isZero() {
		throw("DivideByZeroException", "Attempted to divide by zero")
	}
	neg := a.neg != b.neg
	scale := int(a.scale) - int(b.scale)
	ma, mb := a.mant(), b.mant()
	q, r := new(big.Int).QuoRem(ma, mb, new(big.Int))
	if r.Sign() == 0 {
		if scale < 0 {
			q.Mul(q, pow10(-scale))
			scale = 0
			if q.BitLen() > 96 {
				throw("OverflowException", decOverflowMsg)
			}
		}
		return decOf(q, scale, neg)
	}
	ten := big.NewInt(10)
	for s := decMaxScale; s >= 0; {
		num, den := ma, mb
		if e := s - scale; e >= 0 {
			num = new(big.Int).Mul(ma, pow10(e))
		} else {
			den = new(big.Int).Mul(mb, pow10(-e))
		}
		q := divRoundEven(num, den)
		if n := q.BitLen(); n > 96 {
			s -= max(1, (n-96)*3/10)
			continue
		}
		m := new(big.Int)
		for s > 0 {
			if _, m = q.QuoRem(q, ten, m); m.Sign() != 0 {
				q.Mul(q, ten).Add(q, m)
				break
			}
			s--
		}
		return decOf(q, s, neg)
	}
	throw("OverflowException", decOverflowMsg)
	return Decimal{}
}

// decRem is a % b: the sign of a, the larger scale; a itself when |a| < |b|.
func decRem(a, b Decimal) Decimal {
	if b.isZero() {
		throw("DivideByZeroException", "Attempted to divide by zero")
	}
	if a.isZero() {
		return a
	}
	ma, mb, s := aligned(a, b)
	switch ma.Cmp(mb) {
	case -1:
		return a
	case 0:
		return Decimal{scale: uint8(s), neg: a.neg}
	}
	return decMust(decFromBig(ma.Rem(ma, mb), s, a.neg))
}

// decCmp compares the values of a and b (1.0m and 1.00m are equal).
func decCmp(a, b Decimal) int {
	sa, sb := a.sign(), b.sign()
	if sa != sb || sa == 0 {
		return cmpI64(int64(sa), int64(sb))
	}
	var c int
	if a.hi == 0 && b.hi == 0 && a.scale == b.scale {
		c = cmpU64(a.lo, b.lo)
	} else {
		ma, mb, _ := aligned(a, b)
		c = ma.Cmp(mb)
	}
	return c * sa
}

func (d Decimal) sign() int {
	switch {
	case d.isZero():
		return 0
	case d.neg:
		return -1
	}
	return 1
}

// normalized is d without trailing zeros: the key under which equal values
// meet in a dictionary.
func (d Decimal) normalized() Decimal {
	if d.isZero() {
		return Decimal{}
	}
	for d.scale > 0 && d.hi == 0 && d.lo%10 == 0 {
		d.lo /= 10
		d.scale--
	}
	if d.hi != 0 && d.scale > 0 {
		m := d.mant()
		r := new(big.Int)
		ten := big.NewInt(10)
		for d.scale > 0 {
			q, rem := new(big.Int).QuoRem(m, ten, r)
			if rem.Sign() != 0 {
				break
			}
			m = q
			d.scale--
		}
		d = decOf(m, int(d.scale), d.neg)
	}
	return d
}

// decRound is Math.Round(d, decimals, mode): the result has decimals digits
// after the point unless d has fewer. mode is MidpointRounding's value, or
// 2, 3, 4 for Truncate, Floor and Ceiling.
func decRound(d Decimal, decimals int, mode int64) Decimal {
	if decimals < 0 || decimals > decMaxScale {
		throw("ArgumentOutOfRangeException", "Decimal can only round to between 0 and 28 digits of precision. (Parameter 'decimals')")
	}
	drop := int(d.scale) - decimals
	if drop <= 0 {
		return d
	}
	p := pow10(drop)
	q, r := new(big.Int).QuoRem(d.mant(), p, new(big.Int))
	if r.Sign() != 0 {
		up := false
		switch mode {
		case 1: // AwayFromZero
			up = r.Lsh(r, 1).Cmp(p) >= 0
		case 2: // ToZero
		case 3: // ToNegativeInfinity
			up = d.neg
		case 4: // ToPositiveInfinity
			up = !d.neg
		default: // ToEven
			c := r.Lsh(r, 1).Cmp(p)
			up = c > 0 || c == 0 && q.Bit(0) == 1
		}
		if up {
			q.Add(q, big.NewInt(1))
		}
	}
	return decOf(q, decimals, d.neg)
}

// decFromFloat is the conversion of a double (digits 15) or a float (digits 7)
// to decimal: .NET rounds it to that many significant digits first, so
// (decimal)0.1 is 0.1; trailing zeros are dropped. NaN, infinities and values
// of 2^96 or more throw OverflowException.
func decFromFloat(v float64, digits int) Decimal {
	if math.IsNaN(v) || math.IsInf(v, 0) || math.Abs(v) >= 7.9228162514264338e28 {
		throw("OverflowException", decOverflowMsg)
	}
	if v == 0 {
		return Decimal{}
	}
	mant, expS, _ := strings.Cut(strconv.FormatFloat(math.Abs(v), 'e', digits-1, 64), "e")
	exp, _ := strconv.Atoi(expS)
	ds := strings.TrimRight(strings.Replace(mant, ".", "", 1), "0")
	scale := len(ds) - 1 - exp
	if scale > decMaxScale+digits {
		return Decimal{}
	}
	m, _ := new(big.Int).SetString(ds, 10)
	if scale < 0 {
		m.Mul(m, pow10(-scale))
		scale = 0
	}
	d, ok := decFromBig(m, scale, v < 0)
	if !ok {
		throw("OverflowException", decOverflowMsg)
	}
	return d.normalized()
}

// decToInt is the explicit conversion of d to an integral type: truncated
// toward zero, OverflowException (also in unchecked code) when out of range.
func decToInt(d Decimal, k numKind) int64 {
	t := decRound(d, 0, 2)
	lo, hi := intLimits(k)
	if k == nkChar {
		lo, hi = 0, math.MaxUint16
	}
	if t.hi == 0 {
		switch {
		case k == nkULong:
			if !t.neg || t.lo == 0 {
				return int64(t.lo)
			}
		case t.neg && t.lo <= -uint64(lo):
			return -int64(t.lo)
		case !t.neg && t.lo <= uint64(hi):
			return int64(t.lo)
		}
	}
	throw("OverflowException", "%s", overflowMsg(clrNames[k]))
	return 0
}

// clrNames are the System names of the numeric types.
var clrNames = map[numKind]string{
	nkSByte: "System.SByte", nkByte: "System.Byte", nkShort: "System.Int16", nkUShort: "System.UInt16",
	nkChar: "System.Char", nkInt: "System.Int32", nkUInt: "System.UInt32", nkLong: "System.Int64",
	nkULong: "System.UInt64", nkFloat: "System.Single", nkDouble: "System.Double", nkDecimal: "System.Decimal",
}

// parseDecimalStr parses as decimal.Parse does with the invariant culture:
// NumberStyles.Number (white space, a leading or trailing sign, a point and
// thousands separators in the integer part), with an exponent too when exp is
// set (NumberStyles.Float | AllowThousands). The scale is that of the text
// ("1.10" is 1.10), rounded half to even to what fits. The error is "null",
// "format" or "overflow".
func parseDecimalStr(s string, exp bool) (Decimal, string) {
	if isNull(s) {
		return Decimal{}, "null"
	}
	t := strings.TrimFunc(s, isWhite)
	neg := false
	switch {
	case strings.HasPrefix(t, "-"):
		neg, t = true, t[1:]
	case strings.HasPrefix(t, "+"):
		t = t[1:]
	case !exp && strings.HasSuffix(t, "-"):
		neg, t = true, strings.TrimRightFunc(t[:len(t)-1], isWhite)
	case !exp && strings.HasSuffix(t, "+"):
		t = strings.TrimRightFunc(t[:len(t)-1], isWhite)
	}
	var digits []byte
	frac, seen, point, i := 0, false, false, 0
	for ; i < len(t); i++ {
		c := t[i]
		switch {
		case c >= '0' && c <= '9':
			seen = true
			if c != '0' || len(digits) > 0 {
				digits = append(digits, c)
			}
			if point {
				frac++
			}
			continue
		case c == '.' && !point:
			point = true
			continue
		case c == ',' && !point && seen:
			continue
		}
		break
	}
	if !seen {
		return Decimal{}, "format"
	}
	e := 0
	if i < len(t) {
		if !exp || t[i]|0x20 != 'e' {
			return Decimal{}, "format"
		}
		x, err := strconv.Atoi(t[i+1:])
		if ne, ok := err.(*strconv.NumError); ok && ne.Err != strconv.ErrRange {
			return Decimal{}, "format"
		}
		e = max(min(x, math.MaxInt32), math.MinInt32) // Atoi saturates out of range
	}
	scale := frac - e
	if len(digits) == 0 {
		return Decimal{scale: uint8(min(max(scale, 0), decMaxScale)), neg: neg}, ""
	}
	if len(digits)-scale > 29 {
		return Decimal{}, "overflow"
	}
	if scale > decMaxScale+len(digits)+1 {
		return Decimal{scale: decMaxScale, neg: neg}, ""
	}
	if len(digits) > 32 {
		// 31 digits and a sticky one for the rest round as all of them do,
		// and a long text does not cost quadratic time in SetString
		k := len(digits) - 31
		sticky := strings.Trim(string(digits[31:]), "0") != ""
		digits, scale = digits[:31], scale-k
		if sticky {
			digits, scale = append(digits, '1'), scale+1
		}
	}
	m, _ := new(big.Int).SetString(string(digits), 10)
	if scale < 0 {
		m.Mul(m, pow10(-scale))
		scale = 0
	}
	d, ok := decFromBig(m, scale, neg)
	if !ok {
		return Decimal{}, "overflow"
	}
	return d, ""
}

func parseDecimalOrThrow(s string, exp bool) Decimal {
	d, err := parseDecimalStr(s, exp)
	throwParse(err, decOverflowMsg)
	return d
}

// decNumber is d as .NET's formatting code sees it.
func (d Decimal) decNumber() *decNumber {
	s := d.mantString()
	n := &decNumber{neg: d.neg}
	if s == "0" {
		return n
	}
	n.setDigits(s, len(s)-int(d.scale))
	return n
}

// formatDecimal is decimal.ToString(format) with the invariant culture. "G"
// and "" print every digit of the scale (1.10m is "1.10"); the other formats
// work on the exact digits as for an integer.
func formatDecimal(d Decimal, format string) (string, string) {
	c, prec, std := parseStdFormat(format)
	if !std {
		return d.decNumber().formatCustom(format), ""
	}
	switch c {
	case 'G', 'g':
		if prec < 0 {
			return d.String(), ""
		}
		if prec == 0 {
			prec = max(len(d.mantString()), 1) // G0: the mantissa's digits, trailing zeros too
		}
	case 'R', 'r', 'D', 'd', 'X', 'x', 'B', 'b':
		return "", "Format specifier was invalid: " + format + " is not valid for decimal"
	}
	if s, ok := d.decNumber().formatStandard(c, prec); ok {
		return s, ""
	}
	return "", "Format specifier was invalid: " + format
}

// jsonDecimal is JsonConvert.ToString(decimal): ToString() with a point
// ("1.0" for 1m, "1.10" for 1.10m).
func jsonDecimal(d Decimal) string {
	s := d.String()
	if !strings.Contains(s, ".") {
		s += ".0"
	}
	return s
}

// atPos, deferred, gives an exception thrown without a position the position
// of the operator or conversion that threw it.
func atPos(pos int) {
	if r := recover(); r != nil {
		if e, ok := r.(*exception); ok && e.pos < 0 {
			e.pos = pos
		}
		panic(r)
	}
}

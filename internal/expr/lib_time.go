package expr

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// DateTime is a time.Time. Its Kind is carried by the location: time.UTC is
// DateTimeKind.Utc, localLoc is Local, and any other location is Unspecified
// (its wall clock is the value). The gateway's local time zone is UTC, as on API
// Management's own servers, so Local and Utc differ only in Kind.
var (
	localLoc  = time.FixedZone("Local", 0)
	unspecLoc = time.FixedZone("", 0)
)

// DateTimeOffset is a System.DateTimeOffset: an instant and its offset (the
// location's offset).
type DateTimeOffset struct{ time.Time }

const ticksPerSecond = 10_000_000

var (
	dateTimeMin = time.Date(1, 1, 1, 0, 0, 0, 0, unspecLoc)
	dateTimeMax = time.Date(9999, 12, 31, 23, 59, 59, 999999900, unspecLoc)
	unixEpoch   = time.Date(1970, 1, 1, 0, 0, 0, 0, time.UTC)
)

// dtKind returns 0 Unspecified, 1 Utc, 2 Local.
func dtKind(t time.Time) int64 {
	switch t.Location() {
	case time.UTC:
		return 1
	case localLoc:
		return 2
	}
	if t.Location().String() == "UTC" {
		return 1
	}
	return 0
}

func withKind(t time.Time, kind int64) time.Time {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	var loc *time.Location
	switch kind {
	case 1:
		loc = time.UTC
	case 2:
		loc = localLoc
	default:
		loc = unspecLoc
	}
	return time.Date(y, mo, d, h, mi, s, t.Nanosecond(), loc)
}

// dtTicks is DateTime.Ticks: 100 ns units since 0001-01-01 (of the wall clock).
func dtTicks(t time.Time) int64 {
	_, off := t.Zone()
	return (t.Unix()+int64(off)+62135596800)*ticksPerSecond + int64(t.Nanosecond()/100)
}

func fromTicks(ticks int64, kind int64) time.Time {
	if ticks < 0 || ticks > dtTicks(dateTimeMax) {
		throw("ArgumentOutOfRangeException", "Ticks must be between DateTime.MinValue.Ticks and DateTime.MaxValue.Ticks. (Parameter 'ticks')")
	}
	sec := ticks/ticksPerSecond - 62135596800
	ns := (ticks % ticksPerSecond) * 100
	return withKind(time.Unix(sec, ns).UTC(), kind)
}

func checkDateRange(t time.Time) time.Time {
	if t.Year() < 1 || t.Year() > 9999 {
		throw("ArgumentOutOfRangeException", "The added or subtracted value results in an un-representable DateTime. (Parameter 'value')")
	}
	return t
}

// dateAdd adds a TimeSpan to a DateTime, keeping the Kind.
func dateAdd(t time.Time, d time.Duration, pos int) time.Time {
	r := t.Add(d)
	if r.Year() < 1 || r.Year() > 9999 {
		throwAt(pos, "ArgumentOutOfRangeException", "The added or subtracted value results in an un-representable DateTime. (Parameter 'value')")
	}
	return r
}

// dateSub is DateTime - DateTime: wall clocks are subtracted, ignoring Kind.
func dateSub(a, b time.Time) time.Duration {
	return time.Duration(dtTicks(a)-dtTicks(b)) * 100
}

func addDur(a, b time.Duration, pos int) time.Duration {
	s := a + b
	if (a > 0 && b > 0 && s < 0) || (a < 0 && b < 0 && s >= 0) {
		throwAt(pos, "OverflowException", "TimeSpan overflowed because the duration is too long")
	}
	return s
}

// addUnits adds value*unit rounded to the nearest millisecond, as DateTime.AddDays
// and friends do.
func addUnits(t time.Time, value float64, unitMs float64) time.Time {
	ms := value*unitMs + math.Copysign(0.5, value)
	if math.IsNaN(ms) || math.Abs(ms) > 315537897600000 {
		throw("ArgumentOutOfRangeException", "Value to add was out of range. (Parameter 'value')")
	}
	return checkDateRange(t.Add(time.Duration(int64(ms)) * time.Millisecond))
}

// spanFrom is TimeSpan.FromSeconds and friends: rounded to the millisecond.
func spanFrom(value, unitMs float64) time.Duration {
	if math.IsNaN(value) {
		throw("ArgumentException", "TimeSpan does not accept floating point Not-a-Number values")
	}
	ms := value*unitMs + math.Copysign(0.5, value)
	if math.Abs(ms) > float64(math.MaxInt64/int64(time.Millisecond)) {
		throw("OverflowException", "TimeSpan overflowed because the duration is too long")
	}
	return time.Duration(int64(ms)) * time.Millisecond
}

func addMonths(t time.Time, months int) time.Time {
	if months < -120000 || months > 120000 {
		throw("ArgumentOutOfRangeException", "Months value must be between +/-120000. (Parameter 'months')")
	}
	y, m, d := t.Date()
	total := int(m) - 1 + months
	ny := y + total/12
	nm := total % 12
	if nm < 0 {
		nm += 12
		ny--
	}
	dim := daysIn(ny, nm+1)
	if d > dim {
		d = dim
	}
	h, mi, s := t.Clock()
	return checkDateRange(time.Date(ny, time.Month(nm+1), d, h, mi, s, t.Nanosecond(), t.Location()))
}

func daysIn(y, m int) int {
	return time.Date(y, time.Month(m)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

func isLeap(y int) bool { return y%4 == 0 && (y%100 != 0 || y%400 == 0) }

// ---- formatting ----

var dayNames = []string{"Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"}
var monthNames = []string{"January", "February", "March", "April", "May", "June", "July", "August", "September", "October", "November", "December"}

func formatDateTime(t time.Time, format string) string {
	s, err := formatDateTimeErr(t, format)
	if err != "" {
		throw("FormatException", "%s", err)
	}
	return s
}

func formatDateTimeErr(t time.Time, format string) (string, string) {
	return formatDT(t, format, false, 0)
}

func formatDateTimeOffset(t DateTimeOffset, format string) string {
	s, err := formatDateTimeOffsetErr(t, format)
	if err != "" {
		throw("FormatException", "%s", err)
	}
	return s
}

func formatDateTimeOffsetErr(t DateTimeOffset, format string) (string, string) {
	_, off := t.Zone()
	if format == "" || format == "G" {
		return formatDT(t.Time, "MM/dd/yyyy HH:mm:ss zzz", true, off)
	}
	return formatDT(t.Time, format, true, off)
}

// expandStandard turns a standard format into its custom pattern (invariant
// culture). utc reports that the value is converted to UTC first.
func expandStandard(format string, isOffset bool) (pattern string, utc bool, ok bool) {
	switch format {
	case "d":
		return "MM/dd/yyyy", false, true
	case "D":
		return "dddd, dd MMMM yyyy", false, true
	case "f":
		return "dddd, dd MMMM yyyy HH:mm", false, true
	case "F":
		return "dddd, dd MMMM yyyy HH:mm:ss", false, true
	case "g":
		return "MM/dd/yyyy HH:mm", false, true
	case "", "G":
		return "MM/dd/yyyy HH:mm:ss", false, true
	case "M", "m":
		return "MMMM dd", false, true
	case "O", "o":
		if isOffset {
			return "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffzzz", false, true
		}
		return "yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'fffffffK", false, true
	case "R", "r":
		return "ddd, dd MMM yyyy HH':'mm':'ss 'GMT'", isOffset, true
	case "s":
		return "yyyy'-'MM'-'dd'T'HH':'mm':'ss", false, true
	case "t":
		return "HH:mm", false, true
	case "T":
		return "HH:mm:ss", false, true
	case "u":
		return "yyyy'-'MM'-'dd HH':'mm':'ss'Z'", isOffset, true
	case "U":
		return "dddd, dd MMMM yyyy HH:mm:ss", true, true
	case "Y", "y":
		return "yyyy MMMM", false, true
	}
	return "", false, false
}

func formatDT(t time.Time, format string, isOffset bool, off int) (string, string) {
	if len(format) == 1 {
		p, utc, ok := expandStandard(format, isOffset)
		if !ok {
			return "", "Input string was not in a correct format: unknown date format specifier " + format
		}
		if utc {
			t = t.UTC()
			off = 0
		}
		format = p
	} else if format == "" {
		format = "MM/dd/yyyy HH:mm:ss"
	}
	var b strings.Builder
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	ticks := t.Nanosecond() / 100
	n := len(format)
	for i := 0; i < n; {
		ch := format[i]
		j := i + 1
		for j < n && format[j] == ch {
			j++
		}
		cnt := j - i
		switch ch {
		case 'd':
			switch {
			case cnt == 1:
				b.WriteString(strconv.Itoa(d))
			case cnt == 2:
				b.WriteString(pad2(d))
			case cnt == 3:
				b.WriteString(dayNames[t.Weekday()][:3])
			default:
				b.WriteString(dayNames[t.Weekday()])
			}
		case 'f', 'F':
			if cnt > 7 {
				return "", "Input string was not in a correct format: too many fraction digits"
			}
			frac := strconv.Itoa(ticks + 10_000_000)[1:][:cnt]
			if ch == 'F' {
				frac = strings.TrimRight(frac, "0")
				if frac == "" {
					// drop a '.' written just before an empty F specifier
					str := b.String()
					if strings.HasSuffix(str, ".") {
						b.Reset()
						b.WriteString(str[:len(str)-1])
					}
				}
			}
			b.WriteString(frac)
		case 'g':
			b.WriteString("A.D.")
		case 'h':
			h12 := h % 12
			if h12 == 0 {
				h12 = 12
			}
			if cnt == 1 {
				b.WriteString(strconv.Itoa(h12))
			} else {
				b.WriteString(pad2(h12))
			}
		case 'H':
			if cnt == 1 {
				b.WriteString(strconv.Itoa(h))
			} else {
				b.WriteString(pad2(h))
			}
		case 'K':
			if isOffset {
				b.WriteString(offsetString(off, 3))
			} else {
				switch dtKind(t) {
				case 1:
					b.WriteByte('Z')
				case 2:
					b.WriteString("+00:00")
				}
			}
			j = i + 1
		case 'm':
			if cnt == 1 {
				b.WriteString(strconv.Itoa(mi))
			} else {
				b.WriteString(pad2(mi))
			}
		case 'M':
			switch {
			case cnt == 1:
				b.WriteString(strconv.Itoa(int(mo)))
			case cnt == 2:
				b.WriteString(pad2(int(mo)))
			case cnt == 3:
				b.WriteString(monthNames[mo-1][:3])
			default:
				b.WriteString(monthNames[mo-1])
			}
		case 's':
			if cnt == 1 {
				b.WriteString(strconv.Itoa(s))
			} else {
				b.WriteString(pad2(s))
			}
		case 't':
			ampm := "AM"
			if h >= 12 {
				ampm = "PM"
			}
			if cnt == 1 {
				b.WriteString(ampm[:1])
			} else {
				b.WriteString(ampm)
			}
		case 'y':
			switch {
			case cnt == 1:
				b.WriteString(strconv.Itoa(y % 100))
			case cnt == 2:
				b.WriteString(pad2(y % 100))
			default:
				ys := strconv.Itoa(y)
				for len(ys) < cnt {
					ys = "0" + ys
				}
				b.WriteString(ys)
			}
		case 'z':
			o := off
			if !isOffset {
				o = 0
			}
			b.WriteString(offsetString(o, min(cnt, 3)))
		case ':':
			b.WriteByte(':')
			j = i + 1
		case '/':
			b.WriteByte('/')
			j = i + 1
		case '\'', '"':
			k := strings.IndexByte(format[i+1:], ch)
			if k < 0 {
				return "", "Cannot find a matching quote character for the character '" + string(ch) + "'"
			}
			b.WriteString(format[i+1 : i+1+k])
			j = i + 2 + k
		case '\\':
			if i+1 < n {
				b.WriteByte(format[i+1])
				j = i + 2
			} else {
				return "", "Input string was not in a correct format: trailing backslash"
			}
		case '%':
			j = i + 1
		default:
			b.WriteString(format[i:j])
		}
		i = j
	}
	return b.String(), ""
}

func pad2(v int) string {
	if v < 10 {
		return "0" + strconv.Itoa(v)
	}
	return strconv.Itoa(v)
}

// offsetString formats an offset: 1 "+0", 2 "+00", 3 "+00:00".
func offsetString(off, n int) string {
	sign := "+"
	if off < 0 {
		sign, off = "-", -off
	}
	h, m := off/3600, off%3600/60
	switch n {
	case 1:
		return sign + strconv.Itoa(h)
	case 2:
		return sign + pad2(h)
	}
	return sign + pad2(h) + ":" + pad2(m)
}

// ---- TimeSpan formatting ----

func formatTimeSpan(d time.Duration, format string) string {
	s, err := formatTimeSpanErr(d, format)
	if err != "" {
		throw("FormatException", "%s", err)
	}
	return s
}

func formatTimeSpanErr(d time.Duration, format string) (string, string) {
	ticks := int64(d / 100)
	neg := ticks < 0
	if neg {
		ticks = -ticks
	}
	days := ticks / (ticksPerSecond * 86400)
	rem := ticks % (ticksPerSecond * 86400)
	hh := rem / (ticksPerSecond * 3600)
	mm := rem / (ticksPerSecond * 60) % 60
	ss := rem / ticksPerSecond % 60
	frac := rem % ticksPerSecond
	sign := ""
	if neg {
		sign = "-"
	}
	f7 := strconv.FormatInt(frac+ticksPerSecond, 10)[1:]
	switch format {
	case "", "c", "t", "T":
		s := sign
		if days > 0 {
			s += strconv.FormatInt(days, 10) + "."
		}
		s += pad2(int(hh)) + ":" + pad2(int(mm)) + ":" + pad2(int(ss))
		if frac > 0 {
			s += "." + f7
		}
		return s, ""
	case "g":
		s := sign
		if days > 0 {
			s += strconv.FormatInt(days, 10) + ":"
		}
		s += strconv.FormatInt(hh, 10) + ":" + pad2(int(mm)) + ":" + pad2(int(ss))
		if frac > 0 {
			s += "." + strings.TrimRight(f7, "0")
		}
		return s, ""
	case "G":
		return sign + strconv.FormatInt(days, 10) + ":" + pad2(int(hh)) + ":" + pad2(int(mm)) + ":" + pad2(int(ss)) + "." + f7, ""
	}
	// custom
	var b strings.Builder
	for i := 0; i < len(format); {
		ch := format[i]
		j := i + 1
		for j < len(format) && format[j] == ch {
			j++
		}
		cnt := j - i
		switch ch {
		case 'd':
			ds := strconv.FormatInt(days, 10)
			for len(ds) < cnt {
				ds = "0" + ds
			}
			b.WriteString(ds)
		case 'h':
			b.WriteString(padN(hh, cnt))
		case 'm':
			b.WriteString(padN(mm, cnt))
		case 's':
			b.WriteString(padN(ss, cnt))
		case 'f':
			if cnt > 7 {
				return "", "Input string was not in a correct format"
			}
			b.WriteString(f7[:cnt])
		case 'F':
			if cnt > 7 {
				return "", "Input string was not in a correct format"
			}
			b.WriteString(strings.TrimRight(f7[:cnt], "0"))
		case '\'', '"':
			k := strings.IndexByte(format[i+1:], ch)
			if k < 0 {
				return "", "Input string was not in a correct format"
			}
			b.WriteString(format[i+1 : i+1+k])
			j = i + 2 + k
		case '\\':
			if i+1 >= len(format) {
				return "", "Input string was not in a correct format"
			}
			b.WriteByte(format[i+1])
			j = i + 2
		case '%':
			j = i + 1
		default:
			return "", "Input string was not in a correct format"
		}
		i = j
	}
	return b.String(), ""
}

func padN(v int64, n int) string {
	s := strconv.FormatInt(v, 10)
	if n >= 2 && len(s) < 2 {
		s = "0" + s
	}
	return s
}

// ---- parsing ----

// parseDateTime is DateTime.Parse with the invariant culture. A string with a
// time zone designator is converted to local time (Kind Local), as .NET does;
// otherwise the Kind is Unspecified.
func parseDateTime(s string, offset bool) (time.Time, string) {
	if isNull(s) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 's')")
	}
	t := strings.TrimSpace(s)
	zoned := []string{
		time.RFC3339Nano, "2006-01-02T15:04:05.9999999Z07:00", "2006-01-02T15:04Z07:00", "2006-01-02 15:04:05Z07:00",
		"2006-01-02 15:04:05.9999999Z07:00", time.RFC1123, "Mon, 2 Jan 2006 15:04:05 MST", time.RFC1123Z, "02 Jan 2006 15:04:05 MST",
		"2006-01-02T15:04:05.9999999Z", "2006-01-02T15:04:05Z", "2006-01-02 15:04:05Z",
	}
	for _, layout := range zoned {
		if v, err := time.Parse(layout, t); err == nil {
			if strings.Contains(layout, "MST") && v.Location().String() != "UTC" {
				name, _ := v.Zone()
				if name != "GMT" && name != "UTC" {
					continue
				}
			}
			if offset {
				return v, ""
			}
			return withKind(v.UTC(), 2), ""
		}
	}
	plain := []string{
		"2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02 15:04:05.9999999",
		"2006-01-02 15:04:05", "2006-01-02 15:04", "2006-01-02", "01/02/2006 15:04:05", "1/2/2006 15:04:05",
		"01/02/2006 15:04", "1/2/2006 15:04", "01/02/2006", "1/2/2006", "2006/01/02", "2006/01/02 15:04:05",
		"01/02/2006 03:04:05 PM", "1/2/2006 3:04:05 PM", "Mon, 02 Jan 2006 15:04:05", "02 Jan 2006", "January 2, 2006",
		"2 January 2006", "Monday, 02 January 2006 15:04:05", "Monday, 02 January 2006",
	}
	for _, layout := range plain {
		if v, err := time.ParseInLocation(layout, t, unspecLoc); err == nil {
			if offset {
				return v.In(time.UTC), ""
			}
			return v, ""
		}
	}
	return time.Time{}, "String '" + "' was not recognized as a valid DateTime"
}

// parseExact is DateTime.ParseExact for a .NET custom or standard format.
func parseExact(s, format string) (time.Time, string) {
	if len(format) == 1 {
		p, _, ok := expandStandard(format, false)
		if !ok {
			return time.Time{}, "Format specifier was invalid"
		}
		format = p
	}
	bad := "String was not recognized as a valid DateTime"
	y, mo, d, h, mi, sec, ns := 1, 1, 1, 0, 0, 0, 0
	pm := -1
	zone := -1 << 30
	utcZ := false
	i := 0
	num := func(minD, maxD int) (int, bool) {
		j := i
		for j < len(s) && j-i < maxD && s[j] >= '0' && s[j] <= '9' {
			j++
		}
		if j-i < minD {
			return 0, false
		}
		v, _ := strconv.Atoi(s[i:j])
		i = j
		return v, true
	}
	for k := 0; k < len(format); {
		ch := format[k]
		j := k + 1
		for j < len(format) && format[j] == ch {
			j++
		}
		cnt := j - k
		ok := true
		switch ch {
		case 'y':
			if cnt <= 2 {
				var v int
				v, ok = num(cnt, 2)
				y = 2000 + v
				if v >= 50 {
					y = 1900 + v
				}
			} else {
				y, ok = num(cnt, max(cnt, 4))
			}
		case 'M':
			if cnt <= 2 {
				mo, ok = num(cnt, 2)
			} else {
				ok = false
				for idx, name := range monthNames {
					cand := name
					if cnt == 3 {
						cand = name[:3]
					}
					if strings.HasPrefix(strings.ToLower(s[i:]), strings.ToLower(cand)) {
						mo, i, ok = idx+1, i+len(cand), true
						break
					}
				}
			}
		case 'd':
			if cnt <= 2 {
				d, ok = num(cnt, 2)
			} else {
				ok = false
				for _, name := range dayNames {
					cand := name
					if cnt == 3 {
						cand = name[:3]
					}
					if strings.HasPrefix(strings.ToLower(s[i:]), strings.ToLower(cand)) {
						i, ok = i+len(cand), true
						break
					}
				}
			}
		case 'H', 'h':
			h, ok = num(cnt, 2)
		case 'm':
			mi, ok = num(cnt, 2)
		case 's':
			sec, ok = num(cnt, 2)
		case 'f', 'F':
			start := i
			var v int
			minD := cnt
			if ch == 'F' {
				minD = 0
			}
			v, ok = num(minD, cnt)
			digits := i - start
			for ; digits < 9; digits++ {
				v *= 10
			}
			ns = v
		case 't':
			ok = false
			for _, a := range []string{"AM", "PM", "A", "P"} {
				if (cnt == 1) == (len(a) == 1) && strings.HasPrefix(strings.ToUpper(s[i:]), a) {
					pm, i, ok = boolToInt(a[0] == 'P'), i+len(a), true
					break
				}
			}
		case 'z', 'K':
			if ch == 'K' {
				j = k + 1
			}
			if i < len(s) && (s[i] == 'Z' || s[i] == 'z') {
				zone, utcZ = 0, true
				i++
				break
			}
			if i < len(s) && (s[i] == '+' || s[i] == '-') {
				sign := 1
				if s[i] == '-' {
					sign = -1
				}
				i++
				var hh, mm int
				hh, ok = num(1, 2)
				if ok && i < len(s) && s[i] == ':' {
					i++
					mm, ok = num(2, 2)
				}
				zone = sign * (hh*3600 + mm*60)
			} else if ch == 'z' {
				ok = false
			}
		case '\'', '"':
			q := strings.IndexByte(format[k+1:], ch)
			if q < 0 {
				return time.Time{}, bad
			}
			lit := format[k+1 : k+1+q]
			ok = strings.HasPrefix(s[i:], lit)
			i += len(lit)
			j = k + 2 + q
		case '\\':
			if k+1 < len(format) {
				ok = i < len(s) && s[i] == format[k+1]
				i++
				j = k + 2
			}
		case '%':
			j = k + 1
		default:
			lit := format[k:j]
			ok = strings.HasPrefix(s[i:], lit)
			i += len(lit)
		}
		if !ok {
			return time.Time{}, bad
		}
		k = j
	}
	if i != len(s) {
		return time.Time{}, bad
	}
	if pm == 1 && h < 12 {
		h += 12
	} else if pm == 0 && h == 12 {
		h = 0
	}
	if mo < 1 || mo > 12 || d < 1 || d > daysIn(y, mo) || h > 23 || mi > 59 || sec > 59 {
		return time.Time{}, bad
	}
	if zone != -1<<30 {
		v := time.Date(y, time.Month(mo), d, h, mi, sec, ns, time.FixedZone("", zone))
		_ = utcZ
		return withKind(v.UTC(), 2), ""
	}
	return time.Date(y, time.Month(mo), d, h, mi, sec, ns, unspecLoc), ""
}

// parseTimeSpan parses the "c" form [-][d.]hh:mm[:ss[.fffffff]] and d.
func parseTimeSpan(s string) (time.Duration, bool) {
	t := strings.TrimSpace(s)
	neg := strings.HasPrefix(t, "-")
	t = strings.TrimPrefix(t, "-")
	var days int64
	if !strings.Contains(t, ":") {
		d, err := strconv.ParseInt(t, 10, 64)
		if err != nil {
			return 0, false
		}
		days = d
		t = "0:0"
	} else if i := strings.IndexByte(t, '.'); i >= 0 && i < strings.IndexByte(t, ':') {
		d, err := strconv.ParseInt(t[:i], 10, 64)
		if err != nil {
			return 0, false
		}
		days, t = d, t[i+1:]
	}
	parts := strings.Split(t, ":")
	if len(parts) < 2 || len(parts) > 3 {
		return 0, false
	}
	h, err1 := strconv.Atoi(parts[0])
	m, err2 := strconv.Atoi(parts[1])
	if err1 != nil || err2 != nil || h > 23 || m > 59 || h < 0 || m < 0 {
		return 0, false
	}
	var sec, frac int64
	if len(parts) == 3 {
		sp, fp, hasF := strings.Cut(parts[2], ".")
		sv, err := strconv.Atoi(sp)
		if err != nil || sv > 59 || sv < 0 {
			return 0, false
		}
		sec = int64(sv)
		if hasF {
			if len(fp) == 0 || len(fp) > 7 {
				return 0, false
			}
			fv, err := strconv.ParseInt(fp, 10, 64)
			if err != nil {
				return 0, false
			}
			for i := len(fp); i < 7; i++ {
				fv *= 10
			}
			frac = fv
		}
	}
	ticks := ((days*86400+int64(h)*3600+int64(m)*60+sec)*ticksPerSecond + frac)
	if neg {
		ticks = -ticks
	}
	return time.Duration(ticks) * 100, true
}

func declTime(u *universe) {
	dt := u.decl("System.DateTime", tkStruct, "")
	dt.is = func(v any) bool { _, ok := v.(time.Time); return ok }
	dt.zero = dateTimeMin
	dto := u.decl("System.DateTimeOffset", tkStruct, "")
	dto.is = func(v any) bool { _, ok := v.(DateTimeOffset); return ok }
	dto.zero = DateTimeOffset{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)}
	ts := u.decl("System.TimeSpan", tkStruct, "")
	ts.is = func(v any) bool { _, ok := v.(time.Duration); return ok }
	ts.zero = time.Duration(0)

	now := func() time.Time { return time.Now().UTC() }
	dt.sprop("UtcNow DateTime", f0(func() any { return now().Truncate(100) }))
	dt.sprop("Now DateTime", f0(func() any { return withKind(now().Truncate(100), 2) }))
	dt.sprop("Today DateTime", f0(func() any {
		n := now()
		return time.Date(n.Year(), n.Month(), n.Day(), 0, 0, 0, 0, localLoc)
	}))
	dt.sprop("MinValue DateTime", f0(func() any { return dateTimeMin }))
	dt.sprop("MaxValue DateTime", f0(func() any { return dateTimeMax }))
	dt.sprop("UnixEpoch DateTime", f0(func() any { return unixEpoch }))
	mk := func(y, mo, d, h, mi, s, ms int32, kind int64) any {
		if y < 1 || y > 9999 || mo < 1 || mo > 12 || d < 1 || int(d) > daysIn(int(y), int(mo)) || h < 0 || h > 23 || mi < 0 || mi > 59 || s < 0 || s > 59 || ms < 0 || ms > 999 {
			throw("ArgumentOutOfRangeException", "Year, Month, and Day parameters describe an un-representable DateTime")
		}
		return withKind(time.Date(int(y), time.Month(mo), int(d), int(h), int(mi), int(s), int(ms)*1e6, time.UTC), kind)
	}
	dt.ctor("(int year, int month, int day)", f3(func(y, m, d int32) any { return mk(y, m, d, 0, 0, 0, 0, 0) }))
	dt.ctor("(int year, int month, int day, int hour, int minute, int second)", f6(func(y, m, d, h, mi int32, s int32) any {
		return mk(y, m, d, h, mi, s, 0, 0)
	}))
	dt.ctor("(int year, int month, int day, int hour, int minute, int second, DateTimeKind kind)", func(c *checker, cs *site, args []*operand) *operand {
		fs := make([]fnI, 6)
		for i := range fs {
			fs[i] = args[i].i32Fn()
		}
		k := args[6].i64Fn()
		return &operand{t: cs.t, n: cs.n, o: func(f *frame) any {
			return mk(fs[0](f), fs[1](f), fs[2](f), fs[3](f), fs[4](f), fs[5](f), 0, k(f))
		}}
	})
	dt.ctor("(int year, int month, int day, int hour, int minute, int second, int millisecond)", func(c *checker, cs *site, args []*operand) *operand {
		fs := make([]fnI, 7)
		for i := range fs {
			fs[i] = args[i].i32Fn()
		}
		return &operand{t: cs.t, n: cs.n, o: func(f *frame) any {
			return mk(fs[0](f), fs[1](f), fs[2](f), fs[3](f), fs[4](f), fs[5](f), fs[6](f), 0)
		}}
	})
	dt.ctor("(long ticks)", f1(func(t int64) any { return fromTicks(t, 0) }))
	dt.ctor("(long ticks, DateTimeKind kind)", f2(func(t int64, k int64) any { return fromTicks(t, k) }))
	dt.smethod("Parse(string s) DateTime", f1(func(s string) any {
		t, err := parseDateTime(s, false)
		if err != "" {
			throw("FormatException", "String was not recognized as a valid DateTime")
		}
		return t
	}))
	dt.smethod("Parse(string s, IFormatProvider provider) DateTime", f2(func(s string, _ any) any {
		t, err := parseDateTime(s, false)
		if err != "" {
			throw("FormatException", "String was not recognized as a valid DateTime")
		}
		return t
	}))
	dt.smethod("TryParse(string s, out DateTime result) bool", f2(func(s string, out *outRef) bool {
		if isNull(s) {
			out.set(dateTimeMin)
			return false
		}
		t, err := parseDateTime(s, false)
		if err != "" {
			out.set(dateTimeMin)
			return false
		}
		out.set(t)
		return true
	}))
	exact := func(s, format string) any {
		mustNotNull(s, "s")
		t, err := parseExact(s, format)
		if err != "" {
			throw("FormatException", "%s", err)
		}
		return t
	}
	dt.smethod("ParseExact(string s, string format, IFormatProvider provider) DateTime", f3(func(s, format string, _ any) any { return exact(s, format) }))
	dt.smethod("TryParseExact(string s, string format, IFormatProvider provider, DateTimeStyles style, out DateTime result) bool", f5(func(s, format string, _ any, _ int64, out *outRef) bool {
		t, err := parseExact(s, format)
		if err != "" {
			out.set(dateTimeMin)
			return false
		}
		out.set(t)
		return true
	}))
	styles := u.decl("System.Globalization.DateTimeStyles", tkEnum, "")
	styles.flagsV(map[string]int64{"None": 0, "AllowLeadingWhite": 1, "AllowTrailingWhite": 2, "AllowWhiteSpaces": 7, "AdjustToUniversal": 16, "AssumeLocal": 32, "AssumeUniversal": 64, "RoundtripKind": 128}, "None", "AllowLeadingWhite", "AllowTrailingWhite", "AllowWhiteSpaces", "AdjustToUniversal", "AssumeLocal", "AssumeUniversal", "RoundtripKind")
	dt.smethod("DaysInMonth(int year, int month) int", f2(func(y, m int32) int32 {
		if m < 1 || m > 12 || y < 1 || y > 9999 {
			throw("ArgumentOutOfRangeException", "Month must be between one and twelve. (Parameter 'month')")
		}
		return int32(daysIn(int(y), int(m)))
	}))
	dt.smethod("IsLeapYear(int year) bool", f1(func(y int32) bool { return isLeap(int(y)) }))
	dt.smethod("SpecifyKind(DateTime value, DateTimeKind kind) DateTime", f2(func(t time.Time, k int64) any { return withKind(t, k) }))
	dt.smethod("Compare(DateTime t1, DateTime t2) int", f2(func(a, b time.Time) int32 { return int32(cmpI64(dtTicks(a), dtTicks(b))) }))

	dt.prop("Year int", f1(func(t time.Time) int32 { return int32(t.Year()) }))
	dt.prop("Month int", f1(func(t time.Time) int32 { return int32(t.Month()) }))
	dt.prop("Day int", f1(func(t time.Time) int32 { return int32(t.Day()) }))
	dt.prop("Hour int", f1(func(t time.Time) int32 { return int32(t.Hour()) }))
	dt.prop("Minute int", f1(func(t time.Time) int32 { return int32(t.Minute()) }))
	dt.prop("Second int", f1(func(t time.Time) int32 { return int32(t.Second()) }))
	dt.prop("Millisecond int", f1(func(t time.Time) int32 { return int32(t.Nanosecond() / 1e6) }))
	dt.prop("Ticks long", f1(dtTicks))
	dt.prop("Kind DateTimeKind", f1(dtKind))
	dt.prop("DayOfWeek DayOfWeek", f1(func(t time.Time) int64 { return int64(t.Weekday()) }))
	dt.prop("DayOfYear int", f1(func(t time.Time) int32 { return int32(t.YearDay()) }))
	dt.prop("Date DateTime", f1(func(t time.Time) any {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, t.Location())
	}))
	dt.prop("TimeOfDay TimeSpan", f1(func(t time.Time) any {
		return time.Duration(dtTicks(t)%(86400*ticksPerSecond)) * 100
	}))
	dt.method("AddDays(double value) DateTime", f2(func(t time.Time, v float64) any { return addUnits(t, v, 86400000) }))
	dt.method("AddHours(double value) DateTime", f2(func(t time.Time, v float64) any { return addUnits(t, v, 3600000) }))
	dt.method("AddMinutes(double value) DateTime", f2(func(t time.Time, v float64) any { return addUnits(t, v, 60000) }))
	dt.method("AddSeconds(double value) DateTime", f2(func(t time.Time, v float64) any { return addUnits(t, v, 1000) }))
	dt.method("AddMilliseconds(double value) DateTime", f2(func(t time.Time, v float64) any { return addUnits(t, v, 1) }))
	dt.method("AddTicks(long value) DateTime", f2(func(t time.Time, v int64) any { return checkDateRange(t.Add(time.Duration(v) * 100)) }))
	dt.method("AddMonths(int months) DateTime", f2(func(t time.Time, m int32) any { return addMonths(t, int(m)) }))
	dt.method("AddYears(int value) DateTime", f2(func(t time.Time, y int32) any { return addMonths(t, int(y)*12) }))
	dt.method("Add(TimeSpan value) DateTime", f2(func(t time.Time, d time.Duration) any { return checkDateRange(t.Add(d)) }))
	dt.method("Subtract(DateTime value) TimeSpan", f2(func(a, b time.Time) any { return dateSub(a, b) }))
	dt.method("Subtract(TimeSpan value) DateTime", f2(func(t time.Time, d time.Duration) any { return checkDateRange(t.Add(-d)) }))
	dt.method("ToUniversalTime() DateTime", f1(func(t time.Time) any { return withKind(t, 1) }))
	dt.method("ToLocalTime() DateTime", f1(func(t time.Time) any { return withKind(t, 2) }))
	dt.method("ToString() string", f1(func(t time.Time) string { return formatDateTime(t, "G") }))
	dt.method("ToString(string format) string", x2(func(f *frame, t time.Time, format string) string {
		chargeFormat(f, format)
		return formatDateTime(t, format)
	}))
	dt.method("ToString(IFormatProvider provider) string", f2(func(t time.Time, _ any) string { return formatDateTime(t, "G") }))
	dt.method("ToString(string format, IFormatProvider provider) string", x3(func(f *frame, t time.Time, format string, _ any) string {
		chargeFormat(f, format)
		return formatDateTime(t, format)
	}))
	dt.method("ToShortDateString() string", f1(func(t time.Time) string { return formatDateTime(t, "d") }))
	dt.method("ToLongDateString() string", f1(func(t time.Time) string { return formatDateTime(t, "D") }))
	dt.method("ToShortTimeString() string", f1(func(t time.Time) string { return formatDateTime(t, "t") }))
	dt.method("ToLongTimeString() string", f1(func(t time.Time) string { return formatDateTime(t, "T") }))
	dt.method("ToFileTimeUtc() long", f1(func(t time.Time) int64 { return dtTicks(t) - 504911232000000000 }))
	dt.method("IsDaylightSavingTime() bool", f1(func(time.Time) bool { return false }))
	dt.method("CompareTo(DateTime value) int", f2(func(a, b time.Time) int32 { return int32(cmpI64(dtTicks(a), dtTicks(b))) }))
	dt.method("Equals(DateTime value) bool", f2(func(a, b time.Time) bool { return dtTicks(a) == dtTicks(b) }))
	dt.method("GetHashCode() int", f1(func(t time.Time) int32 { v := dtTicks(t); return int32(v) ^ int32(v>>32) }))

	// DateTimeOffset
	dto.sprop("UtcNow DateTimeOffset", f0(func() DateTimeOffset { return DateTimeOffset{now().Truncate(100)} }))
	dto.sprop("Now DateTimeOffset", f0(func() DateTimeOffset { return DateTimeOffset{now().Truncate(100)} }))
	dto.sprop("MinValue DateTimeOffset", f0(func() DateTimeOffset { return DateTimeOffset{time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)} }))
	dto.sprop("MaxValue DateTimeOffset", f0(func() DateTimeOffset { return DateTimeOffset{dateTimeMax.In(time.UTC)} }))
	dto.sprop("UnixEpoch DateTimeOffset", f0(func() DateTimeOffset { return DateTimeOffset{unixEpoch} }))
	dto.smethod("FromUnixTimeSeconds(long seconds) DateTimeOffset", f1(func(s int64) DateTimeOffset {
		if s < -62135596800 || s > 253402300799 {
			throw("ArgumentOutOfRangeException", "Valid values are between -62135596800 and 253402300799, inclusive. (Parameter 'seconds')")
		}
		return DateTimeOffset{time.Unix(s, 0).UTC()}
	}))
	dto.smethod("FromUnixTimeMilliseconds(long milliseconds) DateTimeOffset", f1(func(ms int64) DateTimeOffset {
		if ms < -62135596800000 || ms > 253402300799999 {
			throw("ArgumentOutOfRangeException", "Valid values are between -62135596800000 and 253402300799999, inclusive. (Parameter 'milliseconds')")
		}
		return DateTimeOffset{time.UnixMilli(ms).UTC()}
	}))
	dto.smethod("Parse(string input) DateTimeOffset", f1(func(s string) DateTimeOffset {
		t, err := parseDateTime(s, true)
		if err != "" {
			throw("FormatException", "String was not recognized as a valid DateTime")
		}
		return DateTimeOffset{t}
	}))
	dto.smethod("TryParse(string input, out DateTimeOffset result) bool", f2(func(s string, out *outRef) bool {
		if isNull(s) {
			out.set(dto.zero)
			return false
		}
		t, err := parseDateTime(s, true)
		if err != "" {
			out.set(dto.zero)
			return false
		}
		out.set(DateTimeOffset{t})
		return true
	}))
	dto.ctor("(DateTime dateTime)", f1(dtoFromDateTime))
	dto.ctor("(DateTime dateTime, TimeSpan offset)", f2(func(t time.Time, off time.Duration) DateTimeOffset {
		if dtKind(t) == 1 && off != 0 {
			throw("ArgumentException", "The UTC Offset for Utc DateTime instances must be 0. (Parameter 'offset')")
		}
		y, mo, d := t.Date()
		h, mi, s := t.Clock()
		return DateTimeOffset{time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.FixedZone("", int(off/time.Second)))}
	}))
	dto.ctor("(int year, int month, int day, int hour, int minute, int second, TimeSpan offset)", func(c *checker, cs *site, args []*operand) *operand {
		fs := make([]fnI, 6)
		for i := range fs {
			fs[i] = args[i].i32Fn()
		}
		off := args[6].anyFn()
		return &operand{t: cs.t, n: cs.n, o: func(f *frame) any {
			t := mk(fs[0](f), fs[1](f), fs[2](f), fs[3](f), fs[4](f), fs[5](f), 0, 0).(time.Time)
			o := off(f).(time.Duration)
			return DateTimeOffset{time.Date(t.Year(), t.Month(), t.Day(), t.Hour(), t.Minute(), t.Second(), 0, time.FixedZone("", int(o/time.Second)))}
		}}
	})
	dto.prop("DateTime DateTime", f1(func(d DateTimeOffset) any { return withKind(d.Time, 0) }))
	dto.prop("UtcDateTime DateTime", f1(func(d DateTimeOffset) any { return d.UTC() }))
	dto.prop("LocalDateTime DateTime", f1(func(d DateTimeOffset) any { return withKind(d.UTC(), 2) }))
	dto.prop("Offset TimeSpan", f1(func(d DateTimeOffset) any { _, o := d.Zone(); return time.Duration(o) * time.Second }))
	dto.prop("Year int", f1(func(d DateTimeOffset) int32 { return int32(d.Year()) }))
	dto.prop("Month int", f1(func(d DateTimeOffset) int32 { return int32(d.Month()) }))
	dto.prop("Day int", f1(func(d DateTimeOffset) int32 { return int32(d.Day()) }))
	dto.prop("Hour int", f1(func(d DateTimeOffset) int32 { return int32(d.Hour()) }))
	dto.prop("Minute int", f1(func(d DateTimeOffset) int32 { return int32(d.Minute()) }))
	dto.prop("Second int", f1(func(d DateTimeOffset) int32 { return int32(d.Second()) }))
	dto.prop("Millisecond int", f1(func(d DateTimeOffset) int32 { return int32(d.Nanosecond() / 1e6) }))
	dto.prop("Ticks long", f1(func(d DateTimeOffset) int64 { return dtTicks(d.Time) }))
	dto.prop("UtcTicks long", f1(func(d DateTimeOffset) int64 { return dtTicks(d.UTC()) }))
	dto.prop("Date DateTime", f1(func(d DateTimeOffset) any {
		return time.Date(d.Year(), d.Month(), d.Day(), 0, 0, 0, 0, unspecLoc)
	}))
	dto.prop("DayOfWeek DayOfWeek", f1(func(d DateTimeOffset) int64 { return int64(d.Weekday()) }))
	dto.method("ToUnixTimeSeconds() long", f1(func(d DateTimeOffset) int64 { return d.Unix() }))
	dto.method("ToUnixTimeMilliseconds() long", f1(func(d DateTimeOffset) int64 {
		// .NET floors toward negative infinity
		return int64(math.Floor(float64(d.UnixNano()) / 1e6))
	}))
	dtoAdd := func(unitMs float64) implFn {
		return f2(func(d DateTimeOffset, v float64) DateTimeOffset { return DateTimeOffset{addUnits(d.Time, v, unitMs)} })
	}
	dto.method("AddDays(double days) DateTimeOffset", dtoAdd(86400000))
	dto.method("AddHours(double hours) DateTimeOffset", dtoAdd(3600000))
	dto.method("AddMinutes(double minutes) DateTimeOffset", dtoAdd(60000))
	dto.method("AddSeconds(double seconds) DateTimeOffset", dtoAdd(1000))
	dto.method("AddMilliseconds(double milliseconds) DateTimeOffset", dtoAdd(1))
	dto.method("AddMonths(int months) DateTimeOffset", f2(func(d DateTimeOffset, m int32) DateTimeOffset { return DateTimeOffset{addMonths(d.Time, int(m))} }))
	dto.method("AddYears(int years) DateTimeOffset", f2(func(d DateTimeOffset, y int32) DateTimeOffset { return DateTimeOffset{addMonths(d.Time, int(y)*12)} }))
	dto.method("Add(TimeSpan timeSpan) DateTimeOffset", f2(func(d DateTimeOffset, t time.Duration) DateTimeOffset {
		return DateTimeOffset{checkDateRange(d.Add(t))}
	}))
	dto.method("Subtract(DateTimeOffset value) TimeSpan", f2(func(a, b DateTimeOffset) any { return a.Sub(b.Time) }))
	dto.method("Subtract(TimeSpan value) DateTimeOffset", f2(func(d DateTimeOffset, t time.Duration) DateTimeOffset {
		return DateTimeOffset{checkDateRange(d.Add(-t))}
	}))
	dto.method("ToUniversalTime() DateTimeOffset", f1(func(d DateTimeOffset) DateTimeOffset { return DateTimeOffset{d.UTC()} }))
	dto.method("ToLocalTime() DateTimeOffset", f1(func(d DateTimeOffset) DateTimeOffset { return DateTimeOffset{d.UTC()} }))
	dto.method("ToOffset(TimeSpan offset) DateTimeOffset", f2(func(d DateTimeOffset, o time.Duration) DateTimeOffset {
		return DateTimeOffset{d.In(time.FixedZone("", int(o/time.Second)))}
	}))
	dto.method("ToString() string", f1(func(d DateTimeOffset) string { return formatDateTimeOffset(d, "G") }))
	dto.method("ToString(string format) string", x2(func(f *frame, d DateTimeOffset, format string) string {
		chargeFormat(f, format)
		return formatDateTimeOffset(d, format)
	}))
	dto.method("ToString(string format, IFormatProvider formatProvider) string", x3(func(f *frame, d DateTimeOffset, format string, _ any) string {
		chargeFormat(f, format)
		return formatDateTimeOffset(d, format)
	}))
	dto.method("CompareTo(DateTimeOffset other) int", f2(func(a, b DateTimeOffset) int32 { return int32(a.Compare(b.Time)) }))
	dto.method("Equals(DateTimeOffset other) bool", f2(func(a, b DateTimeOffset) bool { return a.Equal(b.Time) }))

	// TimeSpan
	ts.sprop("Zero TimeSpan", f0(func() any { return time.Duration(0) }))
	ts.sprop("MaxValue TimeSpan", f0(func() any { return time.Duration(math.MaxInt64 / 100 * 100) }))
	ts.sprop("MinValue TimeSpan", f0(func() any { return time.Duration(math.MinInt64 / 100 * 100) }))
	ts.konst("TicksPerSecond", "long", int64(ticksPerSecond))
	ts.konst("TicksPerMillisecond", "long", int64(10000))
	ts.konst("TicksPerMinute", "long", int64(ticksPerSecond*60))
	ts.konst("TicksPerHour", "long", int64(ticksPerSecond*3600))
	ts.konst("TicksPerDay", "long", int64(ticksPerSecond*86400))
	ts.smethod("FromDays(double value) TimeSpan", f1(func(v float64) any { return spanFrom(v, 86400000) }))
	ts.smethod("FromHours(double value) TimeSpan", f1(func(v float64) any { return spanFrom(v, 3600000) }))
	ts.smethod("FromMinutes(double value) TimeSpan", f1(func(v float64) any { return spanFrom(v, 60000) }))
	ts.smethod("FromSeconds(double value) TimeSpan", f1(func(v float64) any { return spanFrom(v, 1000) }))
	ts.smethod("FromMilliseconds(double value) TimeSpan", f1(func(v float64) any { return spanFrom(v, 1) }))
	ts.smethod("FromTicks(long value) TimeSpan", f1(func(v int64) any { return ticksToDur(v) }))
	ts.smethod("Parse(string s) TimeSpan", f1(func(s string) any {
		mustNotNull(s, "input")
		d, ok := parseTimeSpan(s)
		if !ok {
			throw("FormatException", "String was not recognized as a valid TimeSpan")
		}
		return d
	}))
	ts.smethod("TryParse(string s, out TimeSpan result) bool", f2(func(s string, out *outRef) bool {
		d, ok := parseTimeSpan(s)
		out.set(d)
		return ok
	}))
	ts.ctor("(long ticks)", f1(func(v int64) any { return ticksToDur(v) }))
	ts.ctor("(int hours, int minutes, int seconds)", f3(func(h, m, s int32) any {
		return ticksToDur((int64(h)*3600 + int64(m)*60 + int64(s)) * ticksPerSecond)
	}))
	ts.ctor("(int days, int hours, int minutes, int seconds)", f4(func(d, h, m, s int32) any {
		return ticksToDur((int64(d)*86400 + int64(h)*3600 + int64(m)*60 + int64(s)) * ticksPerSecond)
	}))
	ts.ctor("(int days, int hours, int minutes, int seconds, int milliseconds)", f5(func(d, h, m, s, ms int32) any {
		return ticksToDur((int64(d)*86400+int64(h)*3600+int64(m)*60+int64(s))*ticksPerSecond + int64(ms)*10000)
	}))
	durTicks := func(d time.Duration) int64 { return int64(d / 100) }
	ts.prop("Ticks long", f1(durTicks))
	ts.prop("Days int", f1(func(d time.Duration) int32 { return int32(durTicks(d) / (86400 * ticksPerSecond)) }))
	ts.prop("Hours int", f1(func(d time.Duration) int32 { return int32(durTicks(d) / (3600 * ticksPerSecond) % 24) }))
	ts.prop("Minutes int", f1(func(d time.Duration) int32 { return int32(durTicks(d) / (60 * ticksPerSecond) % 60) }))
	ts.prop("Seconds int", f1(func(d time.Duration) int32 { return int32(durTicks(d) / ticksPerSecond % 60) }))
	ts.prop("Milliseconds int", f1(func(d time.Duration) int32 { return int32(durTicks(d) / 10000 % 1000) }))
	ts.prop("TotalDays double", f1(func(d time.Duration) float64 { return float64(durTicks(d)) / (86400 * ticksPerSecond) }))
	ts.prop("TotalHours double", f1(func(d time.Duration) float64 { return float64(durTicks(d)) / (3600 * ticksPerSecond) }))
	ts.prop("TotalMinutes double", f1(func(d time.Duration) float64 { return float64(durTicks(d)) / (60 * ticksPerSecond) }))
	ts.prop("TotalSeconds double", f1(func(d time.Duration) float64 { return float64(durTicks(d)) / ticksPerSecond }))
	ts.prop("TotalMilliseconds double", f1(func(d time.Duration) float64 { return float64(durTicks(d)) / 10000 }))
	ts.method("Add(TimeSpan ts) TimeSpan", f2(func(a, b time.Duration) any { return addDur(a, b, -1) }))
	ts.method("Subtract(TimeSpan ts) TimeSpan", f2(func(a, b time.Duration) any { return addDur(a, -b, -1) }))
	ts.method("Negate() TimeSpan", f1(func(a time.Duration) any { return -a }))
	ts.method("Duration() TimeSpan", f1(func(a time.Duration) any {
		if a < 0 {
			return -a
		}
		return a
	}))
	ts.method("ToString() string", f1(func(d time.Duration) string { return formatTimeSpan(d, "c") }))
	ts.method("ToString(string format) string", x2(func(f *frame, d time.Duration, format string) string {
		chargeFormat(f, format)
		return formatTimeSpan(d, format)
	}))
	ts.method("CompareTo(TimeSpan value) int", f2(func(a, b time.Duration) int32 { return int32(cmpI64(int64(a), int64(b))) }))
	ts.method("Equals(TimeSpan obj) bool", f2(func(a, b time.Duration) bool { return a == b }))
}

func ticksToDur(t int64) time.Duration {
	if t > math.MaxInt64/100 || t < math.MinInt64/100 {
		throw("OverflowException", "TimeSpan overflowed because the duration is too long")
	}
	return time.Duration(t) * 100
}

// dtoFromDateTime is the implicit conversion DateTime -> DateTimeOffset: UTC
// values get offset 0; local and unspecified ones the local offset (also 0 here).
func dtoFromDateTime(t time.Time) DateTimeOffset {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	return DateTimeOffset{time.Date(y, mo, d, h, mi, s, t.Nanosecond(), time.UTC)}
}

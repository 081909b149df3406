package liquid

import (
	"errors"
	"fmt"
	"html"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/osteele/liquid/render"
	"github.com/osteele/liquid/values"

	"github.com/lastmile-gw/lastmile/internal/expr"
)

// filters are the filters API Management documents for set-body, by their
// PascalCase names. Each is built per render around its budget.
func filterTable(b *budget) map[string]any {
	str := func(s string) (string, error) { // a built string, charged to the budget
		if err := b.step(); err != nil {
			return "", err
		}
		return s, b.build(len(s))
	}
	return map[string]any{
		"Abs": func(v any) (any, error) {
			return num1(b, v, func(i int64) any { return absInt(i) }, math.Abs)
		},
		"Append": func(v, s any) (string, error) { return str(toString(v) + toString(s)) },
		"AtLeast": func(v, n any) (any, error) {
			return num2(b, v, n, func(x, y int64) any { return max(x, y) }, math.Max)
		},
		"AtMost": func(v, n any) (any, error) {
			return num2(b, v, n, func(x, y int64) any { return min(x, y) }, math.Min)
		},
		"Capitalize": func(v any) (string, error) {
			s := toString(v)
			r, n := utf8.DecodeRuneInString(s)
			if n == 0 {
				return str(s)
			}
			return str(string(unicode.ToUpper(r)) + s[n:])
		},
		"Compact": func(v any) ([]any, error) {
			items, err := toSlice(b, v)
			return slices.DeleteFunc(items, func(x any) bool { return x == nil }), err
		},
		"Currency": func(v any, culture ...any) (string, error) {
			f, ok := toFloat(v)
			if !ok {
				return str(toString(v))
			}
			return str(currency(f))
		},
		"Date": func(v any, format ...any) (string, error) {
			t, ok := toTime(v)
			if !ok {
				return str(toString(v))
			}
			f := ""
			if len(format) > 0 {
				f = toString(format[0])
			}
			if f == "" {
				return str(toString(v))
			}
			s, err := expr.FormatDateTime(t, f)
			if err != nil {
				return "", fmt.Errorf("the Date filter: %w", err)
			}
			return str(s)
		},
		"Default": func(v, def any) any {
			if v == nil || v == false || v == "" {
				return def
			}
			if items, ok := v.([]any); ok && len(items) == 0 {
				return def
			}
			return v
		},
		"DividedBy": func(v, n any) (any, error) {
			return arith(b, v, n, func(x, y int64) (any, error) {
				if y == 0 {
					return nil, errors.New("division by zero in DividedBy")
				}
				return x / y, nil
			}, func(x, y float64) any { return x / y })
		},
		"Downcase": func(v any) (string, error) { return str(strings.ToLower(toString(v))) },
		"Escape":   func(v any) (string, error) { return str(htmlEscaper.Replace(toString(v))) },
		"First": func(v any) (any, error) {
			items, err := toSlice(b, v)
			if err != nil || len(items) == 0 {
				return nil, err
			}
			return items[0], nil
		},
		"H": func(v any) (string, error) { return str(html.EscapeString(toString(v))) },
		"Join": func(v any, sep ...any) (string, error) {
			items, err := toSlice(b, v)
			if err != nil {
				return "", err
			}
			s := " "
			if len(sep) > 0 {
				s = toString(sep[0])
			}
			parts := make([]string, 0, len(items))
			n := 0
			for _, it := range items {
				parts = append(parts, toString(it))
				if n += len(parts[len(parts)-1]) + len(s); n > b.alloc {
					return "", b.build(n)
				}
			}
			return str(strings.Join(parts, s))
		},
		"Last": func(v any) (any, error) {
			items, err := toSlice(b, v)
			if err != nil || len(items) == 0 {
				return nil, err
			}
			return items[len(items)-1], nil
		},
		"Lstrip": func(v any) (string, error) { return str(strings.TrimLeftFunc(toString(v), unicode.IsSpace)) },
		"Map": func(v, prop any) ([]any, error) {
			items, err := toSlice(b, v)
			if err != nil {
				return nil, err
			}
			out := make([]any, len(items))
			for i, it := range items {
				out[i] = values.ValueOf(it).PropertyValue(values.ValueOf(toString(prop))).Interface()
			}
			return out, nil
		},
		"Minus": func(v, n any) (any, error) {
			return arith(b, v, n, func(x, y int64) (any, error) { return x - y, nil }, func(x, y float64) any { return x - y })
		},
		"Modulo": func(v, n any) (any, error) {
			return arith(b, v, n, func(x, y int64) (any, error) {
				if y == 0 {
					return nil, errors.New("division by zero in Modulo")
				}
				return x % y, nil
			}, func(x, y float64) any { return math.Mod(x, y) })
		},
		"NewlineToBr": func(v any) (string, error) {
			return str(strings.ReplaceAll(toString(v), "\n", "<br />\n"))
		},
		"Plus": func(v, n any) (any, error) {
			return arith(b, v, n, func(x, y int64) (any, error) { return x + y, nil }, func(x, y float64) any { return x + y })
		},
		"Prepend":     func(v, s any) (string, error) { return str(toString(s) + toString(v)) },
		"Remove":      func(v, s any) (string, error) { return str(strings.ReplaceAll(toString(v), toString(s), "")) },
		"RemoveFirst": func(v, s any) (string, error) { return str(strings.Replace(toString(v), toString(s), "", 1)) },
		"Replace": func(v, s, r any) (string, error) {
			in, old, nw := toString(v), toString(s), toString(r)
			if old != "" {
				if err := b.build(strings.Count(in, old) * len(nw)); err != nil {
					return "", err
				}
			}
			return str(strings.ReplaceAll(in, old, nw))
		},
		"ReplaceFirst": func(v, s, r any) (string, error) {
			return str(strings.Replace(toString(v), toString(s), toString(r), 1))
		},
		"Round": func(v any, places ...any) (any, error) {
			if err := b.step(); err != nil {
				return nil, err
			}
			f, ok := toFloat(v)
			if !ok {
				return v, nil
			}
			n := int64(0)
			if len(places) > 0 {
				n, _ = toInt(places[0])
			}
			if n <= 0 {
				return int64(math.RoundToEven(f)), nil // .NET's Math.Round
			}
			p := math.Pow(10, float64(min(n, 15)))
			return math.RoundToEven(f*p) / p, nil
		},
		"Rstrip": func(v any) (string, error) { return str(strings.TrimRightFunc(toString(v), unicode.IsSpace)) },
		"Size": func(v any) (int, error) {
			if err := b.step(); err != nil {
				return 0, err
			}
			switch v := v.(type) {
			case string:
				return utf8.RuneCountInString(v), nil
			case *Dict:
				return v.Len(), nil
			case nil:
				return 0, nil
			}
			rv := reflect.ValueOf(v)
			if rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array || rv.Kind() == reflect.Map {
				return rv.Len(), nil
			}
			return 0, nil
		},
		"Slice": func(v, start any, length ...any) (any, error) {
			st, _ := toInt(start)
			n := int64(1)
			if len(length) > 0 {
				n, _ = toInt(length[0])
			}
			if s, ok := v.(string); ok {
				r := []rune(s)
				lo, hi := sliceBounds(int64(len(r)), st, n)
				return str(string(r[lo:hi]))
			}
			items, err := toSlice(b, v)
			if err != nil {
				return nil, err
			}
			lo, hi := sliceBounds(int64(len(items)), st, n)
			return items[lo:hi], nil
		},
		"Sort": func(v any, prop ...any) ([]any, error) {
			items, err := toSlice(b, v)
			if err != nil {
				return nil, err
			}
			if err := b.build(len(items) * 16); err != nil {
				return nil, err
			}
			items = slices.Clone(items)
			key := func(x any) any { return x }
			if len(prop) > 0 {
				name := values.ValueOf(toString(prop[0]))
				key = func(x any) any { return values.ValueOf(x).PropertyValue(name).Interface() }
			}
			slices.SortStableFunc(items, func(x, y any) int {
				kx, ky := key(x), key(y)
				switch {
				case values.Less(kx, ky):
					return -1
				case values.Less(ky, kx):
					return 1
				}
				return 0
			})
			return items, nil
		},
		"Split": func(v, sep any) ([]any, error) {
			s, p := toString(v), toString(sep)
			if err := b.step(); err != nil {
				return nil, err
			}
			var parts []string
			if p == "" {
				parts = strings.Split(s, "")
			} else {
				parts = strings.Split(s, p)
			}
			if err := b.build(len(s) + 16*len(parts)); err != nil {
				return nil, err
			}
			out := make([]any, len(parts))
			for i, x := range parts {
				out[i] = x
			}
			return out, nil
		},
		"Strip":     func(v any) (string, error) { return str(strings.TrimSpace(toString(v))) },
		"StripHtml": func(v any) (string, error) { return str(stripHTML(toString(v))) },
		"StripNewlines": func(v any) (string, error) {
			return str(strings.NewReplacer("\r\n", "", "\n", "", "\r", "").Replace(toString(v)))
		},
		"Times": func(v, n any) (any, error) {
			return arith(b, v, n, func(x, y int64) (any, error) { return x * y, nil }, func(x, y float64) any { return x * y })
		},
		"Truncate": func(v any, args ...any) (string, error) {
			s := []rune(toString(v))
			n, tail := int64(50), "..."
			if len(args) > 0 {
				n, _ = toInt(args[0])
			}
			if len(args) > 1 {
				tail = toString(args[1])
			}
			if int64(len(s)) <= n {
				return str(string(s))
			}
			keep := max(n-int64(utf8.RuneCountInString(tail)), 0)
			return str(string(s[:keep]) + tail)
		},
		"TruncateWords": func(v any, args ...any) (string, error) {
			words := strings.Fields(toString(v))
			n, tail := int64(15), "..."
			if len(args) > 0 {
				n, _ = toInt(args[0])
			}
			if len(args) > 1 {
				tail = toString(args[1])
			}
			n = max(n, 1)
			if int64(len(words)) <= n {
				return str(strings.Join(words, " "))
			}
			return str(strings.Join(words[:n], " ") + tail)
		},
		"Uniq": func(v any) ([]any, error) {
			items, err := toSlice(b, v)
			if err != nil {
				return nil, err
			}
			var out []any
			seen := map[string]bool{}
			for _, it := range items {
				k := fmt.Sprintf("%T:%v", it, it)
				if !seen[k] {
					seen[k] = true
					out = append(out, it)
				}
			}
			return out, nil
		},
		"Upcase": func(v any) (string, error) { return str(strings.ToUpper(toString(v))) },
		"UrlDecode": func(v any) (string, error) {
			s, err := url.QueryUnescape(toString(v))
			if err != nil {
				return str(toString(v))
			}
			return str(s)
		},
		"UrlEncode": func(v any) (string, error) { return str(url.QueryEscape(toString(v))) },
	}
}

// filterNames are the filters, for the check at load.
var filterNames = filterTable(&budget{})

func sortedFilterNames() []string {
	var out []string
	for n := range filterNames {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// rubyNames are the Ruby names of the filters, for the message that says
// which PascalCase name to write instead.
var rubyNames = func() map[string]string {
	m := map[string]string{}
	for pascal := range filterNames {
		var b strings.Builder
		for i, r := range pascal {
			if unicode.IsUpper(r) {
				if i > 0 {
					b.WriteByte('_')
				}
				r = unicode.ToLower(r)
			}
			b.WriteRune(r)
		}
		m[b.String()] = pascal
	}
	m["newline_to_br"] = "NewlineToBr"
	m["strip_html"] = "StripHtml"
	return m
}()

func addFilters(cfg *render.Config, b *budget) {
	for name, fn := range filterTable(b) {
		cfg.AddFilter(name, fn)
	}
}

// toString renders a value as Liquid prints it.
func toString(v any) string {
	switch v := v.(type) {
	case nil:
		return ""
	case string:
		return v
	case bool:
		if v {
			return "true"
		}
		return "false"
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case *Dict:
		return v.String()
	case []any:
		var b strings.Builder
		for _, it := range v {
			b.WriteString(toString(it))
		}
		return b.String()
	}
	return fmt.Sprint(v)
}

// toSlice returns v's items: an array's, a range's (within the budget), a
// Dict's entries; a scalar is a list of itself.
func toSlice(b *budget, v any) ([]any, error) {
	if err := b.step(); err != nil {
		return nil, err
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		return x, nil
	case string:
		return []any{x}, nil
	}
	it := iterate(v)
	if it.Len() == 0 {
		return []any{v}, nil
	}
	if err := b.build(it.Len() * 16); err != nil {
		return nil, err
	}
	out := make([]any, it.Len())
	for i := range out {
		out[i] = it.Index(i)
	}
	return out, nil
}

func toInt(v any) (int64, bool) {
	switch v := v.(type) {
	case int:
		return int64(v), true
	case int64:
		return v, true
	case float64:
		return int64(v), true
	case string:
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return n, err == nil
	}
	return 0, false
}

func toFloat(v any) (float64, bool) {
	switch v := v.(type) {
	case int:
		return float64(v), true
	case int64:
		return float64(v), true
	case float64:
		return v, true
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
		return f, err == nil
	}
	return 0, false
}

// isInt reports whether v is an integer, or a string that reads as one.
func isInt(v any) bool {
	switch v := v.(type) {
	case int, int64:
		return true
	case string:
		_, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		return err == nil
	}
	return false
}

// arith applies an operator: on integers when both operands are, else on
// floats; a non-number is an error.
func arith(b *budget, x, y any, ints func(int64, int64) (any, error), floats func(float64, float64) any) (any, error) {
	if err := b.step(); err != nil {
		return nil, err
	}
	if isInt(x) && isInt(y) {
		a, _ := toInt(x)
		c, _ := toInt(y)
		return ints(a, c)
	}
	a, ok1 := toFloat(x)
	c, ok2 := toFloat(y)
	if !ok1 || !ok2 {
		return nil, fmt.Errorf("%q and %q are not both numbers", toString(x), toString(y))
	}
	return floats(a, c), nil
}

func num1(b *budget, v any, ints func(int64) any, floats func(float64) float64) (any, error) {
	if err := b.step(); err != nil {
		return nil, err
	}
	if isInt(v) {
		n, _ := toInt(v)
		return ints(n), nil
	}
	f, ok := toFloat(v)
	if !ok {
		return v, nil
	}
	return floats(f), nil
}

func num2(b *budget, x, y any, ints func(int64, int64) any, floats func(float64, float64) float64) (any, error) {
	return arith(b, x, y, func(a, c int64) (any, error) { return ints(a, c), nil }, func(a, c float64) any { return floats(a, c) })
}

func absInt(i int64) int64 {
	if i < 0 {
		return -i
	}
	return i
}

func sliceBounds(length, start, n int64) (int, int) {
	if start < 0 {
		start += length
	}
	start = min(max(start, 0), length)
	end := min(max(start+n, start), length)
	return int(start), int(end)
}

// currency formats f as .NET's "C" format in the en-US culture does.
func currency(f float64) string {
	neg := f < 0
	s := strconv.FormatFloat(math.Abs(f), 'f', 2, 64)
	whole, frac, _ := strings.Cut(s, ".")
	var b strings.Builder
	for i, r := range whole {
		if i > 0 && (len(whole)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	out := "$" + b.String() + "." + frac
	if neg {
		return "-" + out
	}
	return out
}

var htmlTag = regexp.MustCompile(`(?s)<script.*?</script>|<!--.*?-->|<style.*?</style>|<.*?>`)

func stripHTML(s string) string { return htmlTag.ReplaceAllString(s, "") }

// toTime reads a date for the Date filter: a time, "now" or "today", or a
// string in ISO 8601 or RFC 1123 form.
func toTime(v any) (time.Time, bool) {
	switch v := v.(type) {
	case time.Time:
		return v, true
	case string:
		s := strings.TrimSpace(v)
		switch strings.ToLower(s) {
		case "now":
			return time.Now().UTC(), true
		case "today":
			y, m, d := time.Now().UTC().Date()
			return time.Date(y, m, d, 0, 0, 0, 0, time.UTC), true
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.9999999", "2006-01-02T15:04:05", "2006-01-02 15:04:05", "2006-01-02", time.RFC1123, time.RFC1123Z} {
			if t, err := time.Parse(layout, s); err == nil {
				return t, true
			}
		}
	}
	return time.Time{}, false
}

// htmlEscaper escapes as DotLiquid's Escape (.NET's HTML encoding) does: a
// double quote is &quot;, where Go's html package writes &#34;.
var htmlEscaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;", `"`, "&quot;", "'", "&#39;")

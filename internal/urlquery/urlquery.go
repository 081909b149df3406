// Package urlquery edits a raw query string one parameter at a time. Every
// parameter an edit does not name keeps the bytes the client sent (its
// escapes, a flag without "=", its place), because a backend may sign the query
// or compare it as written; url.Values.Encode would sort and re-escape them all.
//
// A parameter's name is compared decoded ("%24filter" is "$filter"); new
// values are escaped with url.QueryEscape.
package urlquery

import (
	"net/url"
	"slices"
	"strings"
)

// Set gives name the values vals, in place of all it had, where the first of
// them was (at the end when it had none).
func Set(raw, name string, vals []string) string {
	return edit(raw, name, vals, false)
}

// Add adds vals to name's values, after the last it had (at the end when it
// had none).
func Add(raw, name string, vals []string) string {
	return edit(raw, name, vals, true)
}

// Del removes every value of name. It does not allocate when there is none.
func Del(raw, name string) string {
	if !Has(raw, name) {
		return raw
	}
	return edit(raw, name, nil, false)
}

// Has reports whether raw has the parameter name.
func Has(raw, name string) bool {
	for piece := range strings.SplitSeq(raw, "&") {
		if piece != "" && Name(piece) == name {
			return true
		}
	}
	return false
}

// Name is the decoded name of one "name=value" piece of a raw query.
func Name(piece string) string {
	k, _, _ := strings.Cut(piece, "=")
	if d, err := url.QueryUnescape(k); err == nil {
		return d
	}
	return k
}

// edit writes raw with name's pieces replaced by vals (keep=false) or followed
// by them (keep=true).
func edit(raw, name string, vals []string, keep bool) string {
	pieces := strings.Split(raw, "&")
	if raw == "" {
		pieces = nil
	}
	at := -1 // where the new pieces go
	out := make([]string, 0, len(pieces)+len(vals))
	for _, p := range pieces {
		if p == "" || Name(p) != name {
			out = append(out, p)
			continue
		}
		if keep {
			out = append(out, p)
			at = len(out)
		} else if at < 0 {
			at = len(out)
		}
	}
	if at < 0 {
		at = len(out)
	}
	add := make([]string, len(vals))
	for i, v := range vals {
		add[i] = url.QueryEscape(name) + "=" + url.QueryEscape(v)
	}
	return strings.Join(slices.Insert(out, at, add...), "&")
}

// Clean escapes what may not appear in a query as written (RFC 3986 §3.4:
// a space, '#', '"', '<', non-ASCII, control characters, a '%' that does not
// start an escape), and keeps everything else, escapes included, as it is.
func Clean(raw string) string {
	i := 0
	for i < len(raw) && queryByte(raw, i) {
		i++
	}
	if i == len(raw) {
		return raw
	}
	var b strings.Builder
	b.Grow(len(raw) + 8)
	b.WriteString(raw[:i])
	for ; i < len(raw); i++ {
		if queryByte(raw, i) {
			b.WriteByte(raw[i])
			continue
		}
		const hex = "0123456789ABCDEF"
		b.WriteByte('%')
		b.WriteByte(hex[raw[i]>>4])
		b.WriteByte(hex[raw[i]&15])
	}
	return b.String()
}

// queryByte reports whether raw[i] may stay as it is in a query.
func queryByte(raw string, i int) bool {
	c := raw[i]
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	case c == '%':
		return i+2 < len(raw) && isHex(raw[i+1]) && isHex(raw[i+2])
	}
	return strings.IndexByte("-._~!$&'()*+,;=:@/?", c) >= 0
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

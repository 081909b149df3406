package policyxml

import (
	"slices"
	"strings"
)

// segKind says how a run of a Value's text maps onto the file.
type segKind uint8

const (
	segVerbatim segKind = iota // byte k of the run is byte src+k of the file
	segDecoded                 // the run is an entity reference or a normalised line ending at src, srcLen bytes long
	segNamed                   // the run is a named value substituted for the {{name}} at src, srcLen bytes long
)

// seg maps the text from off up to the next seg's off onto the file.
type seg struct {
	off    int // offset in Value.Text
	src    int // offset in the file
	srcLen int // for segDecoded and segNamed: how long the source is
	kind   segKind
}

// Value is decoded text that remembers where each part came from, so that errors
// inside it point at the right file:line:col. Entity and character references are
// decoded, line endings "\r\n" and "\r" become "\n" as XML requires, and, after
// SubstituteNamedValues, named values are substituted. Unlike XML, tabs and line
// breaks in attribute values are not turned into spaces: expressions keep their
// lines, as API Management keeps them.
type Value struct {
	// Text is the decoded text.
	Text string

	doc   *Document
	start int   // offset in the file of Text[0] when segs is nil
	segs  []seg // nil when Text is exactly the file's bytes from start
}

// String returns the decoded text.
func (v Value) String() string { return v.Text }

// IsZero reports whether v has no text. Pos is still meaningful for an empty
// attribute value: it is just after the opening quote.
func (v Value) IsZero() bool { return v.Text == "" }

// Pos returns the position of the first character (or, for empty text, where it
// would be).
func (v Value) Pos() Pos { return v.PosAt(0) }

// PosAt returns the position in the file of byte off of String(). A byte that
// came from an entity reference maps to its '&', and a byte inside a substituted
// named value maps to its "{{". off == len(String()) maps to just after the text.
// A Value that was not made by this package has no positions: PosAt returns the
// zero Pos.
func (v Value) PosAt(off int) Pos {
	if v.doc == nil {
		return Pos{}
	}
	return v.doc.Position(v.srcOffset(off))
}

// srcOffset maps byte off of the text to a file offset.
func (v Value) srcOffset(off int) int {
	off = min(max(off, 0), len(v.Text))
	if v.segs == nil {
		return v.start + off
	}
	i := v.segIndex(off)
	s := v.segs[i]
	if s.kind == segVerbatim {
		return s.src + off - s.off
	}
	if off == len(v.Text) && off > s.off {
		return s.src + s.srcLen
	}
	return s.src
}

// segIndex returns the index of the segment holding byte off: the last one that
// starts at or before it, so that empty segments (an empty named value) that share
// an offset with the next segment are passed over.
func (v Value) segIndex(off int) int {
	lo, hi := 0, len(v.segs)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if v.segs[m].off <= off {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return max(lo-1, 0)
}

// IsExpression reports whether the text, with surrounding white space trimmed,
// is one policy expression: it starts with "@(" or "@{" and the balanced
// expression ends exactly at its end.
func (v Value) IsExpression() bool {
	_, _, ok := v.ExpressionRange()
	return ok
}

// ExpressionRange returns the byte range [start, end) of String() that holds the
// expression, "@(" or "@{" through the closing bracket, when IsExpression is true.
// Positions inside it are v.PosAt(start+k).
func (v Value) ExpressionRange() (start, end int, ok bool) {
	s := v.Text
	start = 0
	for start < len(s) && isSpace(s[start]) {
		start++
	}
	stop := len(s)
	for stop > start && isSpace(s[stop-1]) {
		stop--
	}
	if stop-start < 3 || s[start] != '@' || (s[start+1] != '(' && s[start+1] != '{') {
		return 0, 0, false
	}
	end, err := ScanExpression(s[:stop], start)
	if err != nil || end != stop {
		return 0, 0, false
	}
	return start, end, true
}

// Redacted returns the text with every substituted named value shown as the
// {{name}} it replaced, so that it can go into an error message or a log without
// revealing a secret.
func (v Value) Redacted() string {
	if v.doc == nil || !slices.ContainsFunc(v.segs, func(s seg) bool { return s.kind == segNamed }) {
		return v.Text
	}
	var b strings.Builder
	for i, s := range v.segs {
		end := len(v.Text)
		if i+1 < len(v.segs) {
			end = v.segs[i+1].off
		}
		if s.kind == segNamed {
			b.WriteString(v.doc.src[s.src : s.src+s.srcLen])
		} else {
			b.WriteString(v.Text[s.off:end])
		}
	}
	return b.String()
}

// inNamed reports whether byte off of the text came from a named value.
func (v Value) inNamed(off int) bool {
	if v.segs == nil {
		return false
	}
	return v.segs[v.segIndex(off)].kind == segNamed
}

// touchesNamed reports whether any of the text from..to came from a named value,
// or an empty named value was substituted inside it. Segments starting inside the
// range follow the one holding from, so one pass sees them all.
func (v Value) touchesNamed(from, to int) bool {
	if v.segs == nil || from >= to {
		return false
	}
	for i := v.segIndex(from); i < len(v.segs) && v.segs[i].off < to; i++ {
		if v.segs[i].kind == segNamed {
			return true
		}
	}
	return false
}

// valueJoiner concatenates values, keeping their position maps.
type valueJoiner struct {
	text []byte
	segs []seg
	doc  *Document
	n    int
	one  Value
}

func (j *valueJoiner) add(v Value) {
	j.n++
	if j.n == 1 {
		j.one = v
	}
	if v.doc != nil {
		j.doc = v.doc
	}
	if v.Text == "" { // keep empty named values, for Redacted
		for _, s := range v.segs {
			if s.kind == segNamed {
				j.appendNamed("", s.src, s.srcLen)
			}
		}
		return
	}
	j.appendRange(v, 0, len(v.Text))
}

// appendRange appends v.Text[from:to] with its position map.
func (j *valueJoiner) appendRange(v Value, from, to int) {
	if from >= to {
		return
	}
	base := len(j.text)
	j.text = append(j.text, v.Text[from:to]...)
	if v.segs == nil {
		j.segs = append(j.segs, seg{off: base, src: v.start + from})
		return
	}
	i := v.segIndex(from)
	for i > 0 && v.segs[i-1].off == from { // keep empty named values, for Redacted
		i--
	}
	for ; i < len(v.segs); i++ {
		s := v.segs[i]
		if s.off >= to {
			break
		}
		at := max(s.off, from)
		ns := seg{off: base + at - from, src: s.src, srcLen: s.srcLen, kind: s.kind}
		if s.kind == segVerbatim {
			ns.src = s.src + at - s.off
		}
		j.segs = append(j.segs, ns)
	}
}

// appendNamed appends a named value that replaced the {{name}} at src.
func (j *valueJoiner) appendNamed(value string, src, srcLen int) {
	j.segs = append(j.segs, seg{off: len(j.text), src: src, srcLen: srcLen, kind: segNamed})
	j.text = append(j.text, value...)
}

func (j *valueJoiner) value(doc *Document) Value {
	if j.n == 1 && len(j.segs) <= 1 || len(j.segs) == 0 {
		return j.one
	}
	return Value{Text: string(j.text), doc: doc, segs: slices.Clone(j.segs)}
}

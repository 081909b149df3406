// Package srcpos places problems in source files: a position (line, column and
// byte offset), an error at a position printed as file:line:col: message, lists
// of such errors, and the source line with a caret under the column for the
// command line. Policy documents, the APIOps folder, lastmile.yaml and policy
// expressions all report their problems with it.
package srcpos

import (
	"bytes"
	"cmp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Pos is a position in a source file.
type Pos struct {
	Offset int // byte offset in the file
	Line   int // 1-based line number; 0 when only Offset is known
	Col    int // 1-based column, counted in bytes (a leading byte order mark is not counted)
}

// String returns "line:col".
func (p Pos) String() string {
	return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
}

// IsValid reports whether p has a line (the zero Pos does not).
func (p Pos) IsValid() bool { return p.Line > 0 }

// Error is a problem at a position in a file. Pos is the zero Pos when the
// problem has no position (a missing file), and has only its Offset for a
// problem in a string that is not yet placed in a file (a policy expression,
// before the pipeline places it).
type Error struct {
	File string
	Pos  Pos
	Msg  string
	// Err is the underlying error, if any.
	Err error
}

// Error returns "file:line:col: msg", "file:line: msg" without a column,
// "file: msg" without a line, and the same without "file:" when File is empty.
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	switch {
	case e.Pos.IsValid():
		b.WriteString(strconv.Itoa(e.Pos.Line))
		if e.Pos.Col > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(e.Pos.Col))
		}
		b.WriteString(": ")
	case e.File != "":
		b.WriteByte(' ')
	}
	b.WriteString(e.Msg)
	return b.String()
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// snippetWidth is how much of a long line Snippet shows around the column, so
// that a minified one-line document does not flood the terminal.
const snippetWidth = 100

// Snippet returns the source line of the error and a caret under its column,
// each indented by four spaces and ended by a newline, for command-line output
// after Error(). Tabs in the line are kept so that the caret lines up in a
// terminal, a multi-byte character takes one column, and other control
// characters show as '?'. It returns "" when src does not contain the position.
func (e *Error) Snippet(src []byte) string {
	start, off, ok := lineStart(src, e.Pos)
	if !ok {
		return ""
	}
	end := off
	for end < len(src) && src[end] != '\n' {
		end++
	}
	if end > start && src[end-1] == '\r' && end-1 >= off {
		end--
	}
	prefixCut, suffixCut := false, false
	if off-start > snippetWidth/2 {
		start = off - snippetWidth/2
		for start < off && !utf8.RuneStart(src[start]) {
			start++
		}
		prefixCut = true
	}
	if end-start > snippetWidth {
		end = start + snippetWidth
		for end > off && end < len(src) && !utf8.RuneStart(src[end]) {
			end--
		}
		suffixCut = true
	}
	var line, caret strings.Builder
	line.WriteString("    ")
	caret.WriteString("    ")
	if prefixCut {
		line.WriteString("...")
		caret.WriteString("   ")
	}
	for i := start; i < end; {
		r, size := utf8.DecodeRune(src[i:])
		if i < off {
			if r == '\t' {
				caret.WriteByte('\t')
			} else {
				caret.WriteByte(' ')
			}
		}
		switch {
		case r == '\t':
			line.WriteByte('\t')
		case r < ' ' || r == 0x7f || r == utf8.RuneError && size == 1:
			line.WriteByte('?')
		default:
			line.WriteRune(r)
		}
		i += size
	}
	if suffixCut {
		line.WriteString("...")
	}
	caret.WriteByte('^')
	return line.String() + "\n" + caret.String() + "\n"
}

// lineStart finds p's line in src: the offset where the line starts (after a
// byte order mark on the first line) and p's own offset, which may be just past
// the end of the line. A position without a column is at the line's start.
func lineStart(src []byte, p Pos) (start, off int, ok bool) {
	if !p.IsValid() {
		return 0, 0, false
	}
	for line := 1; line < p.Line; line++ {
		i := bytes.IndexByte(src[start:], '\n')
		if i < 0 {
			return 0, 0, false
		}
		start += i + 1
	}
	if start == 0 && HasBOM(src) {
		start = 3
	}
	off = start + max(p.Col, 1) - 1
	if next := bytes.IndexByte(src[start:], '\n'); off > len(src) || next >= 0 && off > start+next {
		return 0, 0, false
	}
	return start, off, true
}

// HasBOM reports whether src starts with a UTF-8 byte order mark, which
// columns do not count.
func HasBOM(src []byte) bool {
	return len(src) >= 3 && src[0] == 0xEF && src[1] == 0xBB && src[2] == 0xBF
}

// ErrorList is several errors, in the order they were found or, after Sort, by
// file and position.
type ErrorList []*Error

// Error returns the errors, one a line.
func (l ErrorList) Error() string {
	var b strings.Builder
	for i, e := range l {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(e.Error())
	}
	return b.String()
}

// Unwrap returns the errors, so that errors.As finds an *Error in the list.
func (l ErrorList) Unwrap() []error {
	errs := make([]error, len(l))
	for i, e := range l {
		errs[i] = e
	}
	return errs
}

// Sort orders the errors by file, line and column, keeping the order of errors
// at the same place.
func (l ErrorList) Sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Pos.Line, b.Pos.Line), cmp.Compare(a.Pos.Col, b.Pos.Col))
	})
}

// Lines maps byte offsets in a source to positions.
type Lines struct {
	starts []int // offset of the first byte of each line; starts[0] == 0
	bom    int   // length of a leading byte order mark (0 or 3), not counted in columns
	size   int
}

// NewLines indexes the lines of src.
func NewLines(src []byte) Lines {
	starts := make([]int, 1, bytes.Count(src, []byte{'\n'})+1)
	for i := 0; ; {
		k := bytes.IndexByte(src[i:], '\n')
		if k < 0 {
			break
		}
		i += k + 1
		starts = append(starts, i)
	}
	t := Lines{starts: starts, size: len(src)}
	if HasBOM(src) {
		t.bom = 3
	}
	return t
}

// Pos returns the position of offset, which is clamped to the source.
func (t Lines) Pos(offset int) Pos {
	offset = max(0, min(offset, t.size))
	if len(t.starts) == 0 {
		return Pos{Offset: offset, Line: 1, Col: offset + 1}
	}
	i, found := slices.BinarySearch(t.starts, offset)
	if !found {
		i--
	}
	col := offset - t.starts[i] + 1
	if i == 0 && t.bom > 0 {
		col = max(1, col-t.bom)
	}
	return Pos{Offset: offset, Line: i + 1, Col: col}
}

package policyxml

import (
	"strings"
	"unicode/utf8"
)

// Error is a problem at a position in a policy file.
type Error struct {
	File string
	Pos  Pos
	Msg  string
}

// Error returns "file:line:col: msg".
func (e *Error) Error() string {
	var b strings.Builder
	if e.File != "" {
		b.WriteString(e.File)
		b.WriteByte(':')
	}
	if e.Pos.IsValid() {
		b.WriteString(e.Pos.String())
		b.WriteString(": ")
	} else if e.File != "" {
		b.WriteByte(' ')
	}
	b.WriteString(e.Msg)
	return b.String()
}

// snippetWidth is how much of a long line Snippet shows around the column, so that a
// minified one-line policy does not flood the terminal.
const snippetWidth = 100

// Snippet returns the source line of the error and a caret under its column, each
// indented by four spaces and ended by a newline, for command-line output after
// Error(). Tabs in the line are kept so that the caret lines up in a terminal. It
// returns "" when src does not contain the position.
func (e *Error) Snippet(src []byte) string {
	off := e.Pos.Offset
	if !e.Pos.IsValid() || off < 0 || off > len(src) {
		return ""
	}
	start := off
	for start > 0 && src[start-1] != '\n' {
		start--
	}
	if start == 0 && hasBOM(src) {
		start = min(3, off)
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

// ErrorList is several errors, in the order they were found.
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

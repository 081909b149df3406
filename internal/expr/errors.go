package expr

import (
	"strconv"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// Error is a compile error in an expression. Its Pos has only an Offset: the
// byte offset into the source passed to Compile, which the pipeline maps to
// file:line:col.
type Error = srcpos.Error

// ErrorList is every compile error of one expression, in source order.
type ErrorList []*Error

// Error returns the errors, one a line.
func (l ErrorList) Error() string { return srcpos.ErrorList(l).Error() }

// Unwrap returns the errors so that errors.As finds an *Error.
func (l ErrorList) Unwrap() []error { return srcpos.ErrorList(l).Unwrap() }

// Format renders the errors against src as "name:line:col: msg" followed by the
// source line and a caret, the way `lastmile validate` prints them. name may be
// empty. It is for tests and tools that have no file of their own; the pipeline
// maps offsets into the policy file instead.
func (l ErrorList) Format(name, src string) string {
	var b strings.Builder
	for _, e := range l {
		line, col := lineCol(src, e.Pos.Offset)
		if name != "" {
			b.WriteString(name)
			b.WriteByte(':')
		}
		b.WriteString(strconv.Itoa(line))
		b.WriteByte(':')
		b.WriteString(strconv.Itoa(col))
		b.WriteString(": ")
		b.WriteString(e.Msg)
		b.WriteByte('\n')
		start := strings.LastIndexByte(src[:min(e.Pos.Offset, len(src))], '\n') + 1
		end := strings.IndexByte(src[start:], '\n')
		if end < 0 {
			end = len(src)
		} else {
			end += start
		}
		text := strings.TrimRight(src[start:end], "\r")
		b.WriteString("    ")
		b.WriteString(text)
		b.WriteString("\n    ")
		for i := start; i < e.Pos.Offset && i < len(src); i++ {
			if src[i] == '\t' {
				b.WriteByte('\t')
			} else if src[i] < 0x80 || src[i] >= 0xC0 {
				b.WriteByte(' ')
			}
		}
		b.WriteString("^\n")
	}
	return b.String()
}

// lineCol returns the 1-based line and column (in runes) of offset in src.
func lineCol(src string, offset int) (int, int) {
	offset = min(max(offset, 0), len(src))
	line := 1 + strings.Count(src[:offset], "\n")
	start := strings.LastIndexByte(src[:offset], '\n') + 1
	col := 1
	for i := start; i < offset; i++ {
		if src[i] < 0x80 || src[i] >= 0xC0 {
			col++
		}
	}
	return line, col
}

// RuntimeError is an exception thrown while evaluating an expression: the policy
// error that on-error sees, with Reason ExpressionValueEvaluationFailure. Offset is
// the byte offset in the source of the failing operation. Msg never contains the
// value of a variable, header or token, only names and types.
type RuntimeError struct {
	Offset int
	// Type is the .NET exception type name, e.g. "NullReferenceException".
	Type string
	Msg  string
	// Err is the underlying Go error, if any (e.g. exchange.ErrBodyConsumed).
	Err error
}

// Error returns the message.
func (e *RuntimeError) Error() string { return e.Msg }

// Unwrap returns the underlying error.
func (e *RuntimeError) Unwrap() error { return e.Err }

package apiops

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// Error is one problem in the folder. File is the path as the operator can open it
// (the folder given to Load joined with the file's relative path). Line and Col are
// 1-based, 0 when the problem has no position (a missing file, a folder).
type Error struct {
	File      string
	Line, Col int
	Msg       string
	// Err is the underlying error when there is one, such as the *policyxml.Error
	// of a policy document (whose Snippet shows the source line).
	Err error
}

// Error returns "file:line:col: msg", or "file: msg" without a position.
func (e *Error) Error() string {
	switch {
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Msg)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	default:
		return fmt.Sprintf("%s: %s", e.File, e.Msg)
	}
}

// Unwrap returns the underlying error, if any.
func (e *Error) Unwrap() error { return e.Err }

// ErrorList is every problem Load found, sorted by file and position.
type ErrorList []*Error

// Error prints each problem on its own line.
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

// Unwrap gives errors.As access to each problem.
func (l ErrorList) Unwrap() []error {
	out := make([]error, len(l))
	for i, e := range l {
		out[i] = e
	}
	return out
}

func (l ErrorList) sort() {
	slices.SortStableFunc(l, func(a, b *Error) int {
		return cmp.Or(strings.Compare(a.File, b.File), cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
}

// fromPolicy converts what policyxml returns into positioned errors.
func fromPolicy(file string, err error) []*Error {
	var list policyxml.ErrorList
	if errors.As(err, &list) {
		out := make([]*Error, 0, len(list))
		for _, e := range list {
			out = append(out, fromPolicyError(file, e))
		}
		return out
	}
	var pe *policyxml.Error
	if errors.As(err, &pe) {
		return []*Error{fromPolicyError(file, pe)}
	}
	return []*Error{{File: file, Msg: err.Error(), Err: err}}
}

func fromPolicyError(file string, e *policyxml.Error) *Error {
	f := e.File
	if f == "" {
		f = file
	}
	return &Error{File: f, Line: e.Pos.Line, Col: e.Pos.Col, Msg: e.Msg, Err: e}
}

// position returns the 1-based line and column (in bytes) of offset in src. A
// leading byte order mark is not counted, as in policyxml.
func position(src []byte, offset int) (line, col int) {
	offset = max(0, min(offset, len(src)))
	line, start := 1, 0
	for i := 0; i < offset; i++ {
		if src[i] == '\n' {
			line++
			start = i + 1
		}
	}
	col = offset - start + 1
	if start == 0 && hasBOM(src) {
		col = max(1, col-3)
	}
	return line, col
}

func hasBOM(src []byte) bool {
	return len(src) >= 3 && src[0] == 0xEF && src[1] == 0xBB && src[2] == 0xBF
}

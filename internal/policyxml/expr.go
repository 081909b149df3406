package policyxml

import (
	"fmt"
	"strconv"
)

// maxExprDepth caps bracket nesting inside one expression. Real expressions nest a
// handful of levels; the cap keeps a hostile file from growing the stack without
// bound.
const maxExprDepth = 1000

// ExprError is the error ScanExpression returns.
type ExprError struct {
	// Offset is the byte offset in the scanned string of what is wrong: the
	// opening quote of an unterminated literal, the start of an unterminated
	// comment, a closing bracket that does not match, or the innermost bracket
	// that is never closed.
	Offset int
	Msg    string
}

// Error returns "offset N: msg".
func (e *ExprError) Error() string {
	return "offset " + strconv.Itoa(e.Offset) + ": " + e.Msg
}

// ScanExpression finds the end of the C# expression that starts at s[i], which must
// be "@(" or "@{". It balances (), [] and {} and skips C# literals and comments:
//
//	"..."          regular strings with backslash escapes
//	@"..."         verbatim strings, where "" is a quote
//	$"..{expr}.."  interpolated strings with nested holes; also $@"..." and @$"..."
//	'x' '\''       character literals
//	// and /* */   comments
//
// Regular string and character literals cannot span lines, as in C#. It returns the
// index just after the closing bracket, or an *ExprError.
func ScanExpression(s string, i int) (end int, err error) {
	if i < 0 || i+1 >= len(s) || s[i] != '@' || (s[i+1] != '(' && s[i+1] != '{') {
		off := min(max(i, 0), len(s))
		return 0, &ExprError{Offset: off, Msg: `expected "@(" or "@{" at the start of an expression`}
	}
	x := exprScanner{stack: make([]exprFrame, 0, 8)} // enough for most expressions
	x.start(i)
	for j := i + 1; j < len(s); j++ {
		if j = x.skip(s, j); j >= len(s) {
			break
		}
		if x.step(s[j], j) {
			return j + 1, nil
		}
		if x.err.code != 0 {
			return 0, x.err.exprError(i, offsetString)
		}
	}
	x.eof(len(s))
	return 0, x.err.exprError(i, offsetString)
}

func offsetString(off int) string { return "offset " + strconv.Itoa(off) }

type exprState uint8

const (
	stCode            exprState = iota
	stSlash                     // '/' in code: maybe a comment
	stLineComment               // after //
	stBlockComment              // after /*
	stBlockStar                 // '*' in a block comment
	stAt                        // '@' in code: maybe @" or @$"
	stDollar                    // '$' in code: maybe $" or $@"
	stAtDollar                  // "@$"
	stDollarAt                  // "$@"
	stString                    // "..."
	stStringEsc                 // after '\' in "..."
	stChar                      // '...'
	stCharEsc                   // after '\' in '...'
	stVerbatim                  // @"..."
	stVerbatimQuote             // '"' in @"...": "" or the end
	stInterp                    // $"..."
	stInterpEsc                 // after '\' in $"..."
	stInterpOpen                // '{' in $"...": {{ or a hole
	stInterpClose               // '}' in $"...": }}
	stInterpVerb                // $@"..."
	stInterpVerbQuote           // '"' in $@"..."
	stInterpVerbOpen            // '{' in $@"..."
	stInterpVerbClose           // '}' in $@"..."
	stFormat                    // after ':' in a hole of $"...": format text up to '}'
	stFormatVerb                // the same in $@"..."
)

// Hole frames on the bracket stack: the '{' of an interpolation hole, remembering
// which kind of string to return to.
const (
	holeRegular  = 'h'
	holeVerbatim = 'v'
)

type exprFrame struct {
	kind   byte // '(', '[', '{', holeRegular or holeVerbatim
	off    int  // offset of the bracket
	strOff int  // for holes: offset of the string's opening quote
}

type exprErrCode uint8

const (
	errNone exprErrCode = iota
	errUnterminatedString
	errNewlineString
	errUnterminatedChar
	errNewlineChar
	errUnterminatedInterp
	errNewlineInterp
	errUnterminatedComment
	errMismatch
	errUnclosed
	errTooDeep
)

// exprErr describes a scanning failure with raw offsets, so that the XML scanner can
// print line:col where ScanExpression prints byte offsets.
type exprErr struct {
	code    exprErrCode
	off     int  // where the error is reported
	open    byte // errMismatch, errUnclosed: the open frame's kind
	openOff int  // errMismatch: where it was opened
	close   byte // errMismatch: the closing bracket
}

func bracketName(kind byte) string {
	switch kind {
	case holeRegular, holeVerbatim:
		return `"{" of an interpolation hole`
	}
	return strconv.Quote(string(kind))
}

// message describes the failure; where formats an offset, start is where the
// expression begins. Every message says where the expression starts, because
// the failure can be far from it: a missing ')' is found only at the next line
// break inside what was meant to be a string.
func (e exprErr) message(start int, where func(int) string) string {
	var msg string
	switch e.code {
	case errUnterminatedString:
		msg = "unterminated string literal in expression"
	case errNewlineString:
		msg = `string literal in expression is not closed before the end of the line: C# "..." strings cannot span lines`
	case errUnterminatedChar:
		msg = "unterminated character literal in expression"
	case errNewlineChar:
		msg = "character literal in expression is not closed before the end of the line"
	case errUnterminatedInterp:
		msg = "unterminated interpolated string in expression"
	case errNewlineInterp:
		msg = `interpolated string in expression is not closed before the end of the line: C# $"..." strings cannot span lines`
	case errUnterminatedComment:
		msg = "unterminated /* comment in expression"
	case errMismatch:
		msg = fmt.Sprintf("%q in expression does not match %s opened at %s", string(e.close), bracketName(e.open), where(e.openOff))
	case errUnclosed:
		msg = fmt.Sprintf("unterminated expression: %s is never closed", bracketName(e.open))
	case errTooDeep:
		msg = fmt.Sprintf("expression nested deeper than %d brackets", maxExprDepth)
	default:
		msg = "invalid expression"
	}
	return msg + " (the expression starts at " + where(start) + ")"
}

func (e exprErr) exprError(start int, where func(int) string) *ExprError {
	return &ExprError{Offset: e.off, Msg: e.message(start, where)}
}

// exprScanner is a byte-at-a-time state machine over a C# expression. It is fed
// bytes with their offsets, so the XML scanner can feed it decoded text (entity
// references already replaced) while offsets still point into the file.
type exprScanner struct {
	st       exprState
	stack    []exprFrame
	litOff   int // opening of the current literal or comment
	braceOff int // the '{' that may open an interpolation hole
	err      exprErr
}

// start begins an expression whose '@' is at off; the next byte fed must be its
// '(' or '{'.
func (x *exprScanner) start(off int) {
	x.st = stCode
	x.stack = x.stack[:0]
	x.err = exprErr{}
	x.litOff = off
}

func (x *exprScanner) push(kind byte, off, strOff int) bool {
	if len(x.stack) >= maxExprDepth {
		x.err = exprErr{code: errTooDeep, off: off}
		return false
	}
	x.stack = append(x.stack, exprFrame{kind: kind, off: off, strOff: strOff})
	return true
}

// step consumes byte c at offset off. It reports true when c closes the
// expression. After a false return the caller checks x.err.code.
func (x *exprScanner) step(c byte, off int) (done bool) {
	for {
		switch x.st {
		case stCode:
			return x.code(c, off)
		case stSlash:
			switch c {
			case '/':
				x.st = stLineComment
				return false
			case '*':
				x.st = stBlockComment
				return false
			}
			x.st = stCode
			continue
		case stLineComment:
			if c == '\n' || c == '\r' {
				x.st = stCode
			}
			return false
		case stBlockComment:
			if c == '*' {
				x.st = stBlockStar
			}
			return false
		case stBlockStar:
			switch c {
			case '/':
				x.st = stCode
			case '*':
			default:
				x.st = stBlockComment
			}
			return false
		case stAt:
			switch c {
			case '"':
				x.st = stVerbatim
				return false
			case '$':
				x.st = stAtDollar
				return false
			}
			x.st = stCode // a verbatim identifier such as @class
			continue
		case stDollar:
			switch c {
			case '"':
				x.st = stInterp
				return false
			case '@':
				x.st = stDollarAt
				return false
			}
			x.st = stCode
			continue
		case stAtDollar, stDollarAt:
			if c == '"' {
				x.st = stInterpVerb
				return false
			}
			x.st = stCode
			continue
		case stString:
			switch c {
			case '\\':
				x.st = stStringEsc
			case '"':
				x.st = stCode
			case '\n', '\r':
				x.err = exprErr{code: errNewlineString, off: x.litOff}
			}
			return false
		case stStringEsc:
			if c == '\n' || c == '\r' {
				x.err = exprErr{code: errNewlineString, off: x.litOff}
				return false
			}
			x.st = stString
			return false
		case stChar:
			switch c {
			case '\\':
				x.st = stCharEsc
			case '\'':
				x.st = stCode
			case '\n', '\r':
				x.err = exprErr{code: errNewlineChar, off: x.litOff}
			}
			return false
		case stCharEsc:
			if c == '\n' || c == '\r' {
				x.err = exprErr{code: errNewlineChar, off: x.litOff}
				return false
			}
			x.st = stChar
			return false
		case stVerbatim:
			if c == '"' {
				x.st = stVerbatimQuote
			}
			return false
		case stVerbatimQuote:
			if c == '"' { // "" is an escaped quote
				x.st = stVerbatim
				return false
			}
			x.st = stCode
			continue
		case stInterp:
			switch c {
			case '\\':
				x.st = stInterpEsc
			case '"':
				x.st = stCode
			case '{':
				x.st, x.braceOff = stInterpOpen, off
			case '}':
				x.st = stInterpClose
			case '\n', '\r':
				x.err = exprErr{code: errNewlineInterp, off: x.litOff}
			}
			return false
		case stInterpEsc:
			if c == '\n' || c == '\r' {
				x.err = exprErr{code: errNewlineInterp, off: x.litOff}
				return false
			}
			x.st = stInterp
			return false
		case stInterpOpen, stInterpVerbOpen:
			verbatim := x.st == stInterpVerbOpen
			if c == '{' { // {{ is an escaped brace
				if verbatim {
					x.st = stInterpVerb
				} else {
					x.st = stInterp
				}
				return false
			}
			kind := byte(holeRegular)
			if verbatim {
				kind = holeVerbatim
			}
			if !x.push(kind, x.braceOff, x.litOff) {
				return false
			}
			x.st = stCode
			continue
		case stInterpClose:
			// }} is an escaped brace; a lone } is a C# error that does not
			// affect where the expression ends, so it is taken as text.
			x.st = stInterp
			if c == '}' {
				return false
			}
			continue
		case stInterpVerbClose:
			x.st = stInterpVerb
			if c == '}' {
				return false
			}
			continue
		case stInterpVerb:
			switch c {
			case '"':
				x.st = stInterpVerbQuote
			case '{':
				x.st, x.braceOff = stInterpVerbOpen, off
			case '}':
				x.st = stInterpVerbClose
			}
			return false
		case stInterpVerbQuote:
			if c == '"' {
				x.st = stInterpVerb
				return false
			}
			x.st = stCode
			continue
		case stFormat, stFormatVerb:
			if c == '}' {
				return x.closeHole()
			}
			if x.st == stFormat && (c == '\n' || c == '\r') {
				x.err = exprErr{code: errNewlineInterp, off: x.litOff}
			}
			return false
		}
		return false
	}
}

// skipTable marks, for each state, the bytes that step must see; any other byte
// leaves the state unchanged, so a caller may pass over runs of them with skip.
// '&' and '\r' are always marked, because the XML scanner decodes them before
// the expression scanner sees them.
var skipTable = func() (t [stFormatVerb + 1][256]bool) {
	special := func(st exprState, chars string) {
		for c := range 256 {
			t[st][c] = true // by default every byte matters
		}
		if chars == "" {
			return
		}
		for c := range 256 {
			t[st][c] = false
		}
		for _, c := range []byte(chars + "&\r") {
			t[st][c] = true
		}
	}
	for st := range t {
		special(exprState(st), "")
	}
	special(stCode, "\"'@$/()[]{}:")
	special(stLineComment, "\n")
	special(stBlockComment, "*")
	special(stString, "\\\"\n")
	special(stChar, "\\'\n")
	special(stVerbatim, "\"")
	special(stInterp, "\\\"{}\n")
	special(stInterpVerb, "\"{}")
	return t
}()

// skip returns the index of the first byte at or after i in s that step must see
// in the current state.
func (x *exprScanner) skip(s string, i int) int {
	t := &skipTable[x.st]
	for i < len(s) && !t[s[i]] {
		i++
	}
	return i
}

// closeHole pops the hole frame on top of the stack and returns to its string.
func (x *exprScanner) closeHole() bool {
	f := x.stack[len(x.stack)-1]
	x.stack = x.stack[:len(x.stack)-1]
	x.litOff = f.strOff
	if f.kind == holeVerbatim {
		x.st = stInterpVerb
	} else {
		x.st = stInterp
	}
	return false
}

func (x *exprScanner) code(c byte, off int) bool {
	switch c {
	case '"':
		x.st, x.litOff = stString, off
	case '\'':
		x.st, x.litOff = stChar, off
	case '@':
		x.st, x.litOff = stAt, off
	case '$':
		x.st, x.litOff = stDollar, off
	case '/':
		x.st, x.litOff = stSlash, off
	case '(', '[', '{':
		x.push(c, off, 0)
	case ':':
		if n := len(x.stack); n > 0 {
			switch x.stack[n-1].kind {
			case holeRegular:
				x.st = stFormat
			case holeVerbatim:
				x.st = stFormatVerb
			}
		}
	case ')', ']', '}':
		n := len(x.stack)
		if n == 0 { // not reached: the expression ends when the stack empties
			return true
		}
		f := x.stack[n-1]
		if c == '}' && (f.kind == holeRegular || f.kind == holeVerbatim) {
			return x.closeHole()
		}
		if f.kind != openerOf(c) {
			x.err = exprErr{code: errMismatch, off: off, open: f.kind, openOff: f.off, close: c}
			return false
		}
		x.stack = x.stack[:n-1]
		return n == 1
	}
	return false
}

func openerOf(c byte) byte {
	switch c {
	case ')':
		return '('
	case ']':
		return '['
	}
	return '{'
}

// eof records why the input ended before the expression did; end is the offset
// of the end of the input.
func (x *exprScanner) eof(end int) {
	if x.err.code != errNone {
		return
	}
	switch x.st {
	case stString, stStringEsc:
		x.err = exprErr{code: errUnterminatedString, off: x.litOff}
		return
	case stVerbatim:
		x.err = exprErr{code: errUnterminatedString, off: x.litOff}
		return
	case stChar, stCharEsc:
		x.err = exprErr{code: errUnterminatedChar, off: x.litOff}
		return
	case stInterp, stInterpEsc, stInterpOpen, stInterpClose,
		stInterpVerb, stInterpVerbOpen, stInterpVerbClose:
		x.err = exprErr{code: errUnterminatedInterp, off: x.litOff}
		return
	case stBlockComment, stBlockStar:
		x.err = exprErr{code: errUnterminatedComment, off: x.litOff}
		return
	}
	if n := len(x.stack); n > 0 {
		f := x.stack[n-1]
		x.err = exprErr{code: errUnclosed, off: f.off, open: f.kind}
		return
	}
	x.err = exprErr{code: errUnclosed, off: end, open: '('}
}

package xpath

import (
	"strconv"
	"unicode"
	"unicode/utf8"
)

type tokKind uint8

const (
	tEOF tokKind = iota
	tLParen
	tRParen
	tLBrack
	tRBrack
	tDot
	tDotDot
	tAt
	tComma
	tColonColon
	tNameTest // prefix, s ("*" for a wildcard)
	tNodeType // s
	tOp       // s: and or mod div * / // | + - = != < <= > >=
	tFunc     // prefix, s
	tAxis     // s
	tLiteral  // s
	tNumber   // num
	tVar      // prefix, s
)

type token struct {
	kind   tokKind
	s      string
	prefix string
	num    float64
	pos    int
}

// operand reports whether a token leaves the lexer expecting an operand, per
// XPath 1.0 §3.7: after @ :: ( [ , or an operator, "*" is a name test and
// "div" a name; after anything else they are operators.
func (t token) operand() bool {
	switch t.kind {
	case tAt, tColonColon, tLParen, tLBrack, tComma, tOp:
		return true
	}
	return false
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' }

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// lex splits an expression into tokens, resolving XPath's lexical
// ambiguities (§3.7) from the preceding token and the following characters.
func lex(src string) ([]token, error) {
	var toks []token
	i := 0
	for {
		for i < len(src) && isSpace(src[i]) {
			i++
		}
		if i == len(src) {
			return append(toks, token{kind: tEOF, pos: i}), nil
		}
		start := i
		opWanted := len(toks) > 0 && !toks[len(toks)-1].operand()
		t := token{pos: start}
		c := src[i]
		switch {
		case c == '(':
			t.kind, i = tLParen, i+1
		case c == ')':
			t.kind, i = tRParen, i+1
		case c == '[':
			t.kind, i = tLBrack, i+1
		case c == ']':
			t.kind, i = tRBrack, i+1
		case c == '@':
			t.kind, i = tAt, i+1
		case c == ',':
			t.kind, i = tComma, i+1
		case c == ':' && i+1 < len(src) && src[i+1] == ':':
			t.kind, i = tColonColon, i+2
		case c == '.' && i+1 < len(src) && src[i+1] == '.':
			t.kind, i = tDotDot, i+2
		case c == '.' && (i+1 == len(src) || !isDigit(src[i+1])):
			t.kind, i = tDot, i+1
		case isDigit(c) || c == '.':
			for i < len(src) && isDigit(src[i]) {
				i++
			}
			if i < len(src) && src[i] == '.' {
				i++
				for i < len(src) && isDigit(src[i]) {
					i++
				}
			}
			t.kind = tNumber
			t.num, _ = strconv.ParseFloat(src[start:i], 64) // digits only, so only range errors, which give ±Inf
		case c == '"' || c == '\'':
			end := -1
			for j := i + 1; j < len(src); j++ {
				if src[j] == c {
					end = j
					break
				}
			}
			if end < 0 {
				return nil, &SyntaxError{Offset: start, Msg: "unterminated string literal"}
			}
			t.kind, t.s, i = tLiteral, src[i+1:end], end+1
		case c == '*':
			t.kind, t.s, i = tNameTest, "*", i+1
			if opWanted {
				t.kind = tOp
			}
		case c == '/':
			t.kind, t.s, i = tOp, "/", i+1
			if i < len(src) && src[i] == '/' {
				t.s, i = "//", i+1
			}
		case c == '|' || c == '+' || c == '-' || c == '=':
			t.kind, t.s, i = tOp, src[i:i+1], i+1
		case c == '!' || c == '<' || c == '>':
			t.kind, t.s, i = tOp, src[i:i+1], i+1
			if i < len(src) && src[i] == '=' {
				t.s, i = src[start:i+1], i+1
			} else if c == '!' {
				return nil, &SyntaxError{Offset: start, Msg: "'!' must be followed by '='"}
			}
		case c == '$':
			prefix, local, n := qnameAt(src, i+1)
			if n == 0 || local == "*" {
				return nil, &SyntaxError{Offset: start, Msg: "'$' must be followed by a variable name"}
			}
			t.kind, t.prefix, t.s, i = tVar, prefix, local, i+1+n
		default:
			prefix, local, n := qnameAt(src, i)
			if n == 0 {
				r, _ := utf8.DecodeRuneInString(src[i:])
				return nil, &SyntaxError{Offset: start, Msg: "unexpected character " + strconv.QuoteRune(r)}
			}
			i += n
			if opWanted {
				if prefix != "" || (local != "and" && local != "or" && local != "mod" && local != "div") {
					return nil, &SyntaxError{Offset: start, Msg: "expected an operator, found " + src[start:i]}
				}
				t.kind, t.s = tOp, local
				break
			}
			t.kind, t.prefix, t.s = tNameTest, prefix, local
			if local == "*" {
				break
			}
			j := i
			for j < len(src) && isSpace(src[j]) {
				j++
			}
			switch {
			case j < len(src) && src[j] == '(':
				t.kind = tFunc
				if prefix == "" && (local == "node" || local == "text" || local == "comment" || local == "processing-instruction") {
					t.kind = tNodeType
				}
			case j+1 < len(src) && src[j] == ':' && src[j+1] == ':':
				if prefix != "" {
					return nil, &SyntaxError{Offset: start, Msg: "an axis name has no prefix"}
				}
				t.kind = tAxis
			}
		}
		toks = append(toks, t)
	}
}

// qnameAt reads a QName, or NCName:* , at src[i:]; n is its length, 0 if
// there is none. No space is allowed around the colon.
func qnameAt(src string, i int) (prefix, local string, n int) {
	a := ncnameAt(src, i)
	if a == 0 {
		return "", "", 0
	}
	j := i + a
	if j+1 < len(src) && src[j] == ':' && src[j+1] != ':' {
		if src[j+1] == '*' {
			return src[i : i+a], "*", a + 2
		}
		if b := ncnameAt(src, j+1); b > 0 {
			return src[i : i+a], src[j+1 : j+1+b], a + 1 + b
		}
	}
	return "", src[i : i+a], a
}

// ncnameAt is the length of the NCName at src[i:], 0 if there is none.
func ncnameAt(src string, i int) int {
	j := i
	for j < len(src) {
		r, size := utf8.DecodeRuneInString(src[j:])
		ok := r == '_' || unicode.IsLetter(r)
		if j > i {
			ok = ok || r == '-' || r == '.' || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r) || r == '·'
		}
		if !ok || r == utf8.RuneError {
			break
		}
		j += size
	}
	return j - i
}

// ParseQName splits a QName ("p:local" or "local") as XSLT's name
// attributes hold them; ok is false for anything else, spaces included.
func ParseQName(s string) (prefix, local string, ok bool) {
	prefix, local, n := qnameAt(s, 0)
	if n == 0 || n != len(s) || local == "*" {
		return "", "", false
	}
	return prefix, local, true
}

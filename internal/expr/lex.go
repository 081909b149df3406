package expr

import (
	"cmp"
	"strings"
	"unicode"
	"unicode/utf8"
)

// interpPart is one piece of an interpolated string: literal text, or a hole
// {expr,align:format} whose expression text is src[exprPos:exprEnd].
type interpPart struct {
	lit       string
	hole      bool
	exprPos   int
	exprEnd   int
	alignPos  int // 0 when there is no alignment
	alignEnd  int
	format    string
	formatPos int
}

// lexer turns C# source into tokens. It works on the whole source and never
// fails: a bad character becomes a tokError token that the parser reports.
type lexer struct {
	src    string
	pos    int
	end    int // scan up to here
	toks   []token
	interp map[int][]interpPart // interpolated-string parts by token position
}

// lex tokenizes src[start:end].
func lex(src string, start, end int) *lexer {
	l := &lexer{src: src, pos: start, end: end}
	for {
		t := l.next()
		l.toks = append(l.toks, t)
		if t.kind == tokEOF {
			return l
		}
		if len(l.toks) > maxTokens {
			l.toks = append(l.toks[:len(l.toks)-1], token{kind: tokError, pos: t.pos, end: t.end, msg: "expression is too long"}, token{kind: tokEOF, pos: l.end, end: l.end})
			return l
		}
	}
}

// maxTokens bounds the work the parser does on one expression.
const maxTokens = 200000

func isIdentStart(r rune) bool {
	return r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= 0x80 && unicode.IsLetter(r)
}

func isIdentPart(r rune) bool {
	return isIdentStart(r) || r >= '0' && r <= '9' || r >= 0x80 && (unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r) || unicode.Is(unicode.Pc, r))
}

func (l *lexer) peekByte(i int) byte {
	if l.pos+i < l.end {
		return l.src[l.pos+i]
	}
	return 0
}

func (l *lexer) errTok(pos int, msg string) token {
	if l.pos <= pos {
		l.pos = pos + 1
	}
	if l.pos > l.end {
		l.pos = l.end
	}
	return token{kind: tokError, pos: pos, end: l.pos, msg: msg}
}

// skipSpace skips white space and comments; it returns an error token for an
// unterminated block comment.
func (l *lexer) skipSpace() (token, bool) {
	for l.pos < l.end {
		c := l.src[l.pos]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v':
			l.pos++
		case c == '/' && l.peekByte(1) == '/':
			for l.pos < l.end && l.src[l.pos] != '\n' {
				l.pos++
			}
		case c == '/' && l.peekByte(1) == '*':
			start := l.pos
			i := strings.Index(l.src[l.pos+2:l.end], "*/")
			if i < 0 {
				l.pos = l.end
				return token{kind: tokError, pos: start, end: start + 2, msg: "unterminated /* comment"}, true
			}
			l.pos += 2 + i + 2
		case c >= 0x80:
			r, n := utf8.DecodeRuneInString(l.src[l.pos:l.end])
			if r == 0xFEFF || unicode.IsSpace(r) {
				l.pos += n
				continue
			}
			return token{}, false
		default:
			return token{}, false
		}
	}
	return token{}, false
}

// puncts are the operators, longest first within each first byte.
var puncts = []string{
	"??=", "<<=", "...",
	"=>", "==", "!=", "<=", ">=", "&&", "||", "++", "--", "+=", "-=", "*=", "/=", "%=",
	"&=", "|=", "^=", "??", "?.", "?[", "<<", "::", "->",
	"(", ")", "[", "]", "{", "}", ".", ",", ";", ":", "?", "+", "-", "*", "/", "%",
	"&", "|", "^", "!", "~", "=", "<", ">",
}

func (l *lexer) next() token {
	if t, bad := l.skipSpace(); bad {
		return t
	}
	if l.pos >= l.end {
		return token{kind: tokEOF, pos: l.end, end: l.end}
	}
	start := l.pos
	c := l.src[l.pos]
	switch {
	case c == '"':
		return l.lexString(start, start+1, false)
	case c == '@' && l.peekByte(1) == '"':
		return l.lexString(start, start+2, true)
	case c == '$' && l.peekByte(1) == '"':
		return l.lexInterp(start, start+2, false)
	case c == '$' && l.peekByte(1) == '@' && l.peekByte(2) == '"',
		c == '@' && l.peekByte(1) == '$' && l.peekByte(2) == '"':
		return l.lexInterp(start, start+3, true)
	case c == '\'':
		return l.lexChar(start)
	case c >= '0' && c <= '9' || c == '.' && l.peekByte(1) >= '0' && l.peekByte(1) <= '9':
		return l.lexNumber(start)
	case c == '@':
		l.pos++
		r, _ := utf8.DecodeRuneInString(l.src[l.pos:l.end])
		if !isIdentStart(r) {
			return l.errTok(start, "unexpected \"@\"")
		}
		t := l.lexIdent(l.pos)
		t.pos = start
		t.text = l.src[start:t.end]
		t.verbatim = true
		return t
	}
	r, n := utf8.DecodeRuneInString(l.src[l.pos:l.end])
	if isIdentStart(r) || r == '\\' {
		return l.lexIdent(start)
	}
	// '?[' is only null-conditional indexing when not followed by what makes it a
	// conditional whose true branch is a collection expression; C# 7 has no such
	// expressions, so it is always '?['. But '?.' followed by a digit is '? .5'.
	for _, p := range puncts {
		if strings.HasPrefix(l.src[l.pos:l.end], p) {
			if p == "?." && l.peekByte(2) >= '0' && l.peekByte(2) <= '9' {
				continue
			}
			l.pos += len(p)
			return token{kind: tokPunct, pos: start, end: l.pos, text: p}
		}
	}
	l.pos += n
	if r == utf8.RuneError && n == 1 {
		return token{kind: tokError, pos: start, end: l.pos, msg: "invalid UTF-8 in expression"}
	}
	return token{kind: tokError, pos: start, end: l.pos, msg: "unexpected character " + quoteRune(r)}
}

func quoteRune(r rune) string {
	if r < ' ' || r == 0x7f {
		return "U+" + strings.ToUpper(hex4(int(r)))
	}
	return "\"" + string(r) + "\""
}

func hex4(v int) string {
	const digits = "0123456789abcdef"
	b := []byte{digits[v>>12&15], digits[v>>8&15], digits[v>>4&15], digits[v&15]}
	return string(b)
}

func (l *lexer) lexIdent(start int) token {
	var sb *strings.Builder
	for l.pos < l.end {
		if l.src[l.pos] == '\\' && l.peekByte(1) == 'u' {
			// \uXXXX escape in an identifier
			r, ok := parseHexN(l.src, l.pos+2, l.end, 4)
			if !ok {
				return l.errTok(l.pos, "invalid \\u escape in identifier")
			}
			if sb == nil {
				sb = &strings.Builder{}
				sb.WriteString(l.src[start:l.pos])
			}
			sb.WriteRune(r)
			l.pos += 6
			continue
		}
		r, n := utf8.DecodeRuneInString(l.src[l.pos:l.end])
		if !isIdentPart(r) {
			break
		}
		if sb != nil {
			sb.WriteRune(r)
		}
		l.pos += n
	}
	if l.pos == start {
		return l.errTok(start, "unexpected \"\\\"")
	}
	val := l.src[start:l.pos]
	if sb != nil {
		val = sb.String()
	}
	return token{kind: tokIdent, pos: start, end: l.pos, text: l.src[start:l.pos], val: val}
}

func parseHexN(s string, i, end, n int) (rune, bool) {
	if i+n > end {
		return 0, false
	}
	var v rune
	for k := 0; k < n; k++ {
		d := hexVal(s[i+k])
		if d < 0 {
			return 0, false
		}
		v = v<<4 | rune(d)
	}
	return v, true
}

func hexVal(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// escape decodes the escape sequence at s[i] (just after the backslash) and returns
// the rune(s) and the index after it.
func (l *lexer) escape(i int) (string, int, string) {
	if i >= l.end {
		return "", i, "unterminated escape sequence"
	}
	switch l.src[i] {
	case '\'':
		return "'", i + 1, ""
	case '"':
		return "\"", i + 1, ""
	case '\\':
		return "\\", i + 1, ""
	case '0':
		return "\x00", i + 1, ""
	case 'a':
		return "\a", i + 1, ""
	case 'b':
		return "\b", i + 1, ""
	case 'f':
		return "\f", i + 1, ""
	case 'n':
		return "\n", i + 1, ""
	case 'r':
		return "\r", i + 1, ""
	case 't':
		return "\t", i + 1, ""
	case 'v':
		return "\v", i + 1, ""
	case 'e':
		return "\x1b", i + 1, ""
	case 'u':
		r, ok := parseHexN(l.src, i+1, l.end, 4)
		if !ok {
			return "", i + 1, "invalid \\u escape: want 4 hex digits"
		}
		return utf16Rune(r), i + 5, ""
	case 'U':
		r, ok := parseHexN(l.src, i+1, l.end, 8)
		if !ok || r > unicode.MaxRune {
			return "", i + 1, "invalid \\U escape: want 8 hex digits"
		}
		return string(r), i + 9, ""
	case 'x':
		// \x followed by 1 to 4 hex digits
		j := i + 1
		var v rune
		for j < l.end && j < i+5 && hexVal(l.src[j]) >= 0 {
			v = v<<4 | rune(hexVal(l.src[j]))
			j++
		}
		if j == i+1 {
			return "", j, "invalid \\x escape: want hex digits"
		}
		return utf16Rune(v), j, ""
	}
	return "", i + 1, "unrecognized escape sequence \\" + string(l.src[i])
}

// utf16Rune turns a UTF-16 code unit into a string; lone surrogates become U+FFFD,
// since Go strings hold UTF-8.
func utf16Rune(r rune) string {
	if r >= 0xD800 && r < 0xE000 {
		return "\uFFFD"
	}
	return string(r)
}

func (l *lexer) lexString(start, i int, verbatim bool) token {
	var b strings.Builder
	for {
		if i >= l.end {
			l.pos = l.end
			return token{kind: tokError, pos: start, end: start + 1, msg: "unterminated string literal"}
		}
		c := l.src[i]
		switch {
		case c == '"' && verbatim && i+1 < l.end && l.src[i+1] == '"':
			b.WriteByte('"')
			i += 2
		case c == '"':
			l.pos = i + 1
			return token{kind: tokString, pos: start, end: l.pos, text: l.src[start:l.pos], val: b.String(), verbatim: verbatim}
		case c == '\\' && !verbatim:
			s, j, msg := l.escape(i + 1)
			if msg != "" {
				l.pos = j
				// keep scanning to the end of the string so the parser can go on
				for l.pos < l.end && l.src[l.pos] != '"' && l.src[l.pos] != '\n' {
					l.pos++
				}
				if l.pos < l.end && l.src[l.pos] == '"' {
					l.pos++
				}
				return token{kind: tokError, pos: i, end: j, msg: msg}
			}
			b.WriteString(s)
			i = j
		case c == '\n' && !verbatim:
			l.pos = i
			return token{kind: tokError, pos: start, end: start + 1, msg: "newline in string literal (C# \"...\" strings cannot span lines; use @\"...\")"}
		default:
			b.WriteByte(c)
			i++
		}
	}
}

func (l *lexer) lexChar(start int) token {
	i := start + 1
	if i >= l.end || l.src[i] == '\'' || l.src[i] == '\n' {
		l.pos = min(i+1, l.end)
		return token{kind: tokError, pos: start, end: l.pos, msg: "empty character literal"}
	}
	var s string
	if l.src[i] == '\\' {
		var msg string
		s, i, msg = l.escape(i + 1)
		if msg != "" {
			l.pos = i
			return token{kind: tokError, pos: start, end: i, msg: msg}
		}
	} else {
		r, n := utf8.DecodeRuneInString(l.src[i:l.end])
		s = string(r)
		i += n
	}
	if i >= l.end || l.src[i] != '\'' {
		l.pos = i
		return token{kind: tokError, pos: start, end: i, msg: "character literal must hold exactly one character"}
	}
	l.pos = i + 1
	return token{kind: tokChar, pos: start, end: l.pos, text: l.src[start:l.pos], val: s}
}

func (l *lexer) lexNumber(start int) token {
	i := start
	isDigit := func(c byte) bool { return c >= '0' && c <= '9' || c == '_' }
	real := false
	if l.src[i] == '0' && i+1 < l.end && (l.src[i+1] == 'x' || l.src[i+1] == 'X') {
		i += 2
		for i < l.end && (hexVal(l.src[i]) >= 0 || l.src[i] == '_') {
			i++
		}
	} else if l.src[i] == '0' && i+1 < l.end && (l.src[i+1] == 'b' || l.src[i+1] == 'B') {
		i += 2
		for i < l.end && (l.src[i] == '0' || l.src[i] == '1' || l.src[i] == '_') {
			i++
		}
	} else {
		for i < l.end && isDigit(l.src[i]) {
			i++
		}
		if i+1 < l.end && l.src[i] == '.' && l.src[i+1] >= '0' && l.src[i+1] <= '9' {
			real = true
			i++
			for i < l.end && isDigit(l.src[i]) {
				i++
			}
		}
		if i < l.end && (l.src[i] == 'e' || l.src[i] == 'E') {
			j := i + 1
			if j < l.end && (l.src[j] == '+' || l.src[j] == '-') {
				j++
			}
			if j < l.end && l.src[j] >= '0' && l.src[j] <= '9' {
				real = true
				i = j
				for i < l.end && isDigit(l.src[i]) {
					i++
				}
			}
		}
	}
	// suffix
	for i < l.end {
		c := l.src[i] | 0x20
		if c == 'u' || c == 'l' || c == 'f' || c == 'd' || c == 'm' {
			if c == 'f' || c == 'd' || c == 'm' {
				if l.src[start] == '0' && start+1 < l.end && (l.src[start+1]|0x20 == 'x') {
					break // hex digits, already consumed
				}
				real = true
			}
			i++
			continue
		}
		break
	}
	l.pos = i
	if i < l.end {
		r, _ := utf8.DecodeRuneInString(l.src[i:l.end])
		if isIdentPart(r) {
			for l.pos < l.end {
				r, n := utf8.DecodeRuneInString(l.src[l.pos:l.end])
				if !isIdentPart(r) {
					break
				}
				l.pos += n
			}
			return token{kind: tokError, pos: start, end: l.pos, msg: "invalid number " + l.src[start:l.pos]}
		}
	}
	k := tokInt
	if real {
		k = tokReal
	}
	return token{kind: k, pos: start, end: i, text: l.src[start:i]}
}

// lexInterp scans an interpolated string whose text starts at i. Holes are scanned
// with the token scanner, so that strings, characters and comments inside them are
// skipped correctly.
func (l *lexer) lexInterp(start, i int, verbatim bool) token {
	var parts []interpPart
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			parts = append(parts, interpPart{lit: b.String()})
			b.Reset()
		}
	}
	for {
		if i >= l.end {
			l.pos = l.end
			return token{kind: tokError, pos: start, end: start + 2, msg: "unterminated interpolated string"}
		}
		c := l.src[i]
		switch {
		case c == '"' && verbatim && i+1 < l.end && l.src[i+1] == '"':
			b.WriteByte('"')
			i += 2
		case c == '"':
			flush()
			l.pos = i + 1
			if l.interp == nil {
				l.interp = map[int][]interpPart{}
			}
			l.interp[start] = parts
			return token{kind: tokInterp, pos: start, end: l.pos, text: l.src[start:l.pos], verbatim: verbatim}
		case c == '{' && i+1 < l.end && l.src[i+1] == '{':
			b.WriteByte('{')
			i += 2
		case c == '}' && i+1 < l.end && l.src[i+1] == '}':
			b.WriteByte('}')
			i += 2
		case c == '}':
			l.pos = i + 1
			return token{kind: tokError, pos: i, end: i + 1, msg: "\"}\" in an interpolated string must be written \"}}\""}
		case c == '{':
			flush()
			p, j, errTok := l.scanHole(i+1, verbatim)
			if errTok != nil {
				// skip to the end of the string so that parsing can go on
				return *errTok
			}
			parts = append(parts, p)
			i = j
		case c == '\\' && !verbatim:
			s, j, msg := l.escape(i + 1)
			if msg != "" {
				l.pos = j
				return token{kind: tokError, pos: i, end: j, msg: msg}
			}
			b.WriteString(s)
			i = j
		case c == '\n' && !verbatim:
			l.pos = i
			return token{kind: tokError, pos: start, end: start + 2, msg: "newline in interpolated string (C# $\"...\" strings cannot span lines; use $@\"...\")"}
		default:
			b.WriteByte(c)
			i++
		}
	}
}

// scanHole scans an interpolation hole starting at i (after '{') and returns the
// part and the index after its closing '}'. In a regular (not verbatim) string
// the format's escape sequences are decoded, as C# does: $"{t:hh\\:mm}" formats
// with hh\:mm.
func (l *lexer) scanHole(i int, verbatim bool) (interpPart, int, *token) {
	p := interpPart{hole: true, exprPos: i}
	saved := l.pos
	l.pos = i
	depth := 0
	holeStart := i - 1
	for {
		t := l.next()
		switch {
		case t.kind == tokEOF:
			l.pos = l.end
			_ = saved
			return p, 0, &token{kind: tokError, pos: holeStart, end: holeStart + 1, msg: "interpolation hole is never closed with \"}\""}
		case t.kind == tokError:
			return p, 0, &t
		case t.kind != tokPunct:
			continue
		case t.text == "(" || t.text == "[" || t.text == "{" || t.text == "?[":
			depth++
		case t.text == ")" || t.text == "]":
			depth--
		case t.text == "}" && depth > 0:
			depth--
		case t.text == "}":
			if p.alignPos > 0 {
				p.alignEnd = t.pos
			} else {
				p.exprEnd = t.pos
			}
			return p, t.end, nil
		case t.text == "," && depth == 0 && p.alignPos == 0:
			p.exprEnd = t.pos
			p.alignPos = t.end
		case (t.text == ":" || t.text == "::") && depth == 0:
			if p.alignPos > 0 {
				p.alignEnd = t.pos
			} else {
				p.exprEnd = t.pos
			}
			// the format runs up to the next '}'
			j := t.pos + 1
			k := strings.IndexByte(l.src[j:l.end], '}')
			if k < 0 {
				l.pos = l.end
				return p, 0, &token{kind: tokError, pos: holeStart, end: holeStart + 1, msg: "interpolation hole is never closed with \"}\""}
			}
			p.format = l.src[j : j+k]
			p.formatPos = j
			bad := func(at, end int, msg string) (interpPart, int, *token) {
				l.pos = j + k + 1
				return p, 0, &token{kind: tokError, pos: at, end: end, msg: msg}
			}
			if verbatim || strings.IndexByte(p.format, '\\') < 0 {
				if strings.ContainsAny(p.format, "\"\n") {
					return bad(j, j+k, "invalid format specifier in interpolation hole")
				}
				return p, j + k + 1, nil
			}
			var b strings.Builder
			for x := j; x < j+k; {
				switch l.src[x] {
				case '"', '\n':
					return bad(j, j+k, "invalid format specifier in interpolation hole")
				case '\\':
					s, y, msg := l.escape(x + 1)
					if msg != "" || y > j+k {
						return bad(x, min(y, j+k), cmp.Or(msg, "invalid escape sequence"))
					}
					b.WriteString(s)
					x = y
				default:
					b.WriteByte(l.src[x])
					x++
				}
			}
			p.format = b.String()
			return p, j + k + 1, nil
		}
	}
}

package expr

import (
	"fmt"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// maxErrors is how many errors one expression reports before giving up.
const maxErrors = 10

// maxDepth bounds the nesting of the syntax tree, so that a hostile expression
// cannot exhaust the stack of the parser or of later passes.
const maxDepth = 200

// parser is a recursive-descent parser over the token slice, with backtracking
// where C# needs it (generic type arguments, casts, lambdas, declarations).
type parser struct {
	src   string
	lx    *lexer
	toks  []token
	p     int
	errs  ErrorList
	depth int
}

// bailout is panicked to abandon the current statement after a syntax error.
type bailout struct{}

func newParser(src string, start, end int) *parser {
	lx := lex(src, start, end)
	return &parser{src: src, lx: lx, toks: lx.toks}
}

func (p *parser) tok() token { return p.toks[p.p] }
func (p *parser) peek(n int) token {
	if p.p+n < len(p.toks) {
		return p.toks[p.p+n]
	}
	return p.toks[len(p.toks)-1]
}
func (p *parser) advance() token {
	t := p.toks[p.p]
	if p.p < len(p.toks)-1 {
		p.p++
	}
	return t
}
func (p *parser) at(s string) bool { return p.tok().is(s) }
func (p *parser) atKw(s string) bool {
	t := p.tok()
	return t.kind == tokIdent && !t.verbatim && t.val == s
}
func (p *parser) accept(s string) bool {
	if p.at(s) {
		p.advance()
		return true
	}
	return false
}

// errorf records an error at the current token and abandons the statement.
func (p *parser) errorf(format string, args ...any) {
	t := p.tok()
	if t.kind == tokError {
		p.errorAt(t.pos, t.end-t.pos, t.msg)
	} else {
		p.errorAt(t.pos, max(t.end-t.pos, 1), fmt.Sprintf(format, args...))
	}
	panic(bailout{})
}

func (p *parser) errorAt(pos, n int, msg string) {
	if len(p.errs) > 0 {
		last := p.errs[len(p.errs)-1]
		if last.Pos.Offset == pos {
			return
		}
	}
	p.errs = append(p.errs, &Error{Pos: srcpos.Pos{Offset: pos}, Msg: msg})
	if len(p.errs) >= maxErrors {
		panic(tooManyErrors{})
	}
}

type tooManyErrors struct{}

func (p *parser) expect(s string) token {
	if !p.at(s) {
		p.errorf("expected %q, found %s", s, p.tok())
	}
	return p.advance()
}

// expectSemi expects the ';' that ends a statement.
func (p *parser) expectSemi() token {
	if p.at(";") {
		return p.advance()
	}
	if p.tok().kind == tokEOF || p.at("}") {
		prev := p.toks[max(p.p-1, 0)]
		p.errorAt(prev.end, 1, "expected \";\" at the end of the statement")
		panic(bailout{})
	}
	p.errorf("expected \";\" after the expression, found %s", p.tok())
	panic("unreachable")
}

func (p *parser) expectIdent() token {
	t := p.tok()
	if t.kind != tokIdent || (!t.verbatim && keywords[t.val]) {
		p.errorf("expected a name, found %s", t)
	}
	return p.advance()
}

func (p *parser) enter() {
	p.depth++
	if p.depth > maxDepth {
		p.errorf("expression is nested too deeply (more than %d levels)", maxDepth)
	}
}
func (p *parser) leave() { p.depth-- }

func (p *parser) isKeyword(t token) bool { return t.kind == tokIdent && !t.verbatim && keywords[t.val] }

// ---- entry points ----

// parseSource parses the whole "@(...)" or "@{...}" text. It returns the
// expression or the block.
func parseSource(src string) (root Node, isBlock bool, errs ErrorList) {
	s := strings.TrimRight(src, " \t\r\n")
	lead := len(src) - len(strings.TrimLeft(src, " \t\r\n"))
	if len(s)-lead < 3 || s[lead] != '@' || (s[lead+1] != '(' && s[lead+1] != '{') {
		return nil, false, ErrorList{{Pos: srcpos.Pos{Offset: lead}, Msg: `a policy expression starts with "@(" or "@{"`}}
	}
	open, close := s[lead+1], byte(')')
	if open == '{' {
		close = '}'
	}
	if s[len(s)-1] != close {
		return nil, false, ErrorList{{Pos: srcpos.Pos{Offset: len(s)}, Msg: fmt.Sprintf("a policy expression that starts with \"@%c\" must end with \"%c\"", open, close)}}
	}
	p := newParser(src, lead+2, len(s)-1)
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(tooManyErrors); !ok {
				panic(r)
			}
			errs = p.errs
		}
	}()
	if open == '(' {
		x := p.parseTop()
		return x, false, p.errs
	}
	b := p.parseStmtsUntilEOF(lead + 1)
	b.end = len(s)
	return b, true, p.errs
}

func (p *parser) parseTop() (x Node) {
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bailout); !ok {
				panic(r)
			}
			x = nil
		}
	}()
	if p.tok().kind == tokEOF {
		p.errorf("empty expression")
	}
	x = p.parseExpr()
	if p.tok().kind != tokEOF {
		if p.at(";") {
			p.errorf(`unexpected ";": "@(...)" holds one expression; use "@{ ...; return ...; }" for statements`)
		}
		p.errorf("unexpected %s after the expression", p.tok())
	}
	return x
}

func (p *parser) parseStmtsUntilEOF(pos int) *Block {
	b := &Block{span: span{pos, 0}}
	for p.tok().kind != tokEOF {
		if s := p.parseStmtRecover(); s != nil {
			b.Stmts = append(b.Stmts, s)
		}
	}
	return b
}

// parseStmtRecover parses a statement; after a syntax error it skips to the end of
// the statement so that later errors are reported too.
func (p *parser) parseStmtRecover() (s Node) {
	start := p.p
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(bailout); !ok {
				panic(r)
			}
			s = nil
			p.depth = 0
			p.syncStmt(start)
		}
	}()
	return p.parseStmt()
}

// syncStmt skips to just after the next ';' or '}' at the statement's nesting level.
func (p *parser) syncStmt(start int) {
	if p.p == start {
		p.advance()
	}
	depth := 0
	for p.tok().kind != tokEOF {
		t := p.tok()
		if t.kind == tokPunct {
			switch t.text {
			case "(", "[", "{", "?[":
				depth++
			case ")", "]":
				depth--
			case "}":
				if depth <= 0 {
					p.advance()
					return
				}
				depth--
			case ";":
				if depth <= 0 {
					p.advance()
					return
				}
			}
		}
		p.advance()
	}
}

// ---- statements ----

func (p *parser) parseBlock() *Block {
	p.enter()
	defer p.leave()
	open := p.expect("{")
	b := &Block{span: span{open.pos, 0}}
	for !p.at("}") {
		if p.tok().kind == tokEOF {
			p.errorAt(open.pos, 1, "\"{\" is never closed")
			panic(bailout{})
		}
		if s := p.parseStmtRecover(); s != nil {
			b.Stmts = append(b.Stmts, s)
		}
	}
	b.end = p.advance().end
	return b
}

func (p *parser) parseEmbedded() Node {
	if p.at("{") {
		return p.parseBlock()
	}
	return p.parseStmt()
}

func (p *parser) parseStmt() Node {
	p.enter()
	defer p.leave()
	t := p.tok()
	if t.kind == tokPunct {
		switch t.text {
		case "{":
			return p.parseBlock()
		case ";":
			p.advance()
			return &Empty{span{t.pos, t.end}}
		}
	}
	if t.kind == tokIdent && !t.verbatim {
		switch t.val {
		case "if":
			p.advance()
			p.expect("(")
			c := p.parseExpr()
			p.expect(")")
			then := p.parseEmbedded()
			s := &If{span: span{t.pos, then.End()}, C: c, Then: then}
			if p.atKw("else") {
				p.advance()
				s.Else = p.parseEmbedded()
				s.end = s.Else.End()
			}
			return s
		case "while":
			p.advance()
			p.expect("(")
			c := p.parseExpr()
			p.expect(")")
			body := p.parseEmbedded()
			return &While{span: span{t.pos, body.End()}, C: c, Body: body}
		case "do":
			p.advance()
			body := p.parseEmbedded()
			if !p.atKw("while") {
				p.errorf("expected \"while\" after the body of do, found %s", p.tok())
			}
			p.advance()
			p.expect("(")
			c := p.parseExpr()
			p.expect(")")
			end := p.expectSemi().end
			return &While{span: span{t.pos, end}, C: c, Body: body, Do: true}
		case "for":
			return p.parseFor()
		case "foreach":
			return p.parseForeach()
		case "return":
			p.advance()
			s := &Return{span: span{t.pos, t.end}}
			if !p.at(";") {
				s.X = p.parseExpr()
			}
			s.end = p.expectSemi().end
			return s
		case "break":
			p.advance()
			return &Break{span{t.pos, p.expectSemi().end}}
		case "continue":
			p.advance()
			return &Continue{span{t.pos, p.expectSemi().end}}
		case "throw":
			p.advance()
			s := &Throw{span: span{t.pos, t.end}}
			if !p.at(";") {
				s.X = p.parseExpr()
			}
			s.end = p.expectSemi().end
			return s
		case "try":
			return p.parseTry()
		case "using":
			return p.parseUsing()
		case "checked", "unchecked":
			if p.peek(1).is("{") {
				p.advance()
				b := p.parseBlock()
				return &CheckedStmt{span: span{t.pos, b.end}, Checked: t.val == "checked", Body: b}
			}
		case "switch":
			return p.parseSwitch()
		case "const":
			p.advance()
			d := p.parseDeclAfterType(t.pos, p.parseType(false), false)
			d.Const = true
			return d
		case "goto", "lock", "yield", "fixed", "unsafe":
			p.errorf("%q statements are not supported in policy expressions", t.val)
		case "else":
			p.errorf("\"else\" without a matching \"if\"")
		case "case", "default":
			if t.val == "case" || p.peek(1).is(":") {
				p.errorf("%q outside a switch statement", t.val)
			}
		}
	}
	if s := p.tryDecl(); s != nil {
		return s
	}
	x := p.parseExpr()
	end := p.expectSemi().end
	return &ExprStmt{span: span{x.Pos(), end}, X: x}
}

// tryDecl parses a local variable or function declaration if one starts here.
func (p *parser) tryDecl() Node {
	start := p.p
	t := p.tok()
	if t.kind != tokIdent {
		return nil
	}
	usingDecl := false
	if t.val == "using" && !t.verbatim {
		usingDecl = true
		p.advance()
	}
	if p.atKw("var") && p.peek(1).kind == tokIdent && !p.isKeyword(p.peek(1)) {
		p.advance()
		d := p.parseDeclAfterType(t.pos, nil, false)
		d.Using = usingDecl
		return d
	}
	typ, ok := p.tryType(true)
	if !ok || p.tok().kind != tokIdent || p.isKeyword(p.tok()) {
		p.p = start
		return nil
	}
	next := p.peek(1)
	if !(next.is("=") || next.is(";") || next.is(",") || next.is("(") || next.is("=>")) {
		p.p = start
		return nil
	}
	if next.is("(") || (next.is("=>")) {
		if usingDecl {
			p.errorf("expected a variable declaration after \"using\"")
		}
		return p.parseLocalFunc(t.pos, typ)
	}
	d := p.parseDeclAfterType(t.pos, typ, false)
	d.Using = usingDecl
	return d
}

func (p *parser) parseDeclAfterType(pos int, typ *TypeExpr, noSemi bool) *VarDecl {
	d := &VarDecl{span: span{pos, 0}, Type: typ}
	for {
		n := p.expectIdent()
		d.Names = append(d.Names, n.val)
		d.Poss = append(d.Poss, n.pos)
		var init Node
		if p.accept("=") {
			if p.at("{") && typ != nil && len(typ.Arrays) > 0 {
				init = p.parseArrayInitAsNew(typ)
			} else {
				init = p.parseExpr()
			}
		}
		d.Inits = append(d.Inits, init)
		if !p.accept(",") {
			break
		}
	}
	if noSemi {
		d.end = p.toks[p.p-1].end
		return d
	}
	d.end = p.expectSemi().end
	return d
}

// parseArrayInitAsNew handles `int[] a = { 1, 2 };`.
func (p *parser) parseArrayInitAsNew(typ *TypeExpr) Node {
	init := p.parseInitializer(true)
	elem := *typ
	elem.Arrays = append([]int(nil), typ.Arrays[1:]...)
	return &NewArray{span: init.span, Elem: &elem, Init: init}
}

func (p *parser) parseLocalFunc(pos int, result *TypeExpr) Node {
	name := p.expectIdent()
	params := p.parseParamList()
	f := &FuncDecl{span: span{pos, 0}, Result: result, Name: name.val, Params: params}
	if p.accept("=>") {
		f.Body = p.parseExpr()
		f.end = p.expectSemi().end
		return f
	}
	b := p.parseBlock()
	f.Body = b
	f.end = b.end
	return f
}

func (p *parser) parseParamList() []*Param {
	p.expect("(")
	var ps []*Param
	for !p.at(")") {
		t := p.tok()
		prm := &Param{span: span{t.pos, 0}}
		if p.atKw("out") || p.atKw("ref") || p.atKw("params") || p.atKw("in") || p.atKw("this") {
			prm.Modifier = p.advance().val
		}
		typ, ok := p.tryType(false)
		if !ok {
			p.errorf("expected a parameter type, found %s", p.tok())
		}
		prm.Type = typ
		n := p.expectIdent()
		prm.Name = n.val
		prm.end = n.end
		if p.accept("=") {
			prm.Default = p.parseExpr()
			prm.end = prm.Default.End()
		}
		ps = append(ps, prm)
		if !p.accept(",") {
			break
		}
	}
	p.expect(")")
	return ps
}

func (p *parser) parseFor() Node {
	t := p.advance()
	p.expect("(")
	s := &For{span: span{t.pos, 0}}
	if !p.at(";") {
		if d := p.tryForDecl(); d != nil {
			s.Init = []Node{d}
		} else {
			for {
				x := p.parseExpr()
				s.Init = append(s.Init, &ExprStmt{span: span{x.Pos(), x.End()}, X: x})
				if !p.accept(",") {
					break
				}
			}
		}
	}
	p.expect(";")
	if !p.at(";") {
		s.C = p.parseExpr()
	}
	p.expect(";")
	if !p.at(")") {
		for {
			x := p.parseExpr()
			s.Post = append(s.Post, &ExprStmt{span: span{x.Pos(), x.End()}, X: x})
			if !p.accept(",") {
				break
			}
		}
	}
	p.expect(")")
	s.Body = p.parseEmbedded()
	s.end = s.Body.End()
	return s
}

func (p *parser) tryForDecl() Node {
	start := p.p
	t := p.tok()
	if p.atKw("var") && p.peek(1).kind == tokIdent {
		p.advance()
		return p.parseDeclAfterType(t.pos, nil, true)
	}
	typ, ok := p.tryType(true)
	if ok && p.tok().kind == tokIdent && !p.isKeyword(p.tok()) && (p.peek(1).is("=") || p.peek(1).is(",") || p.peek(1).is(";")) {
		return p.parseDeclAfterType(t.pos, typ, true)
	}
	p.p = start
	return nil
}

func (p *parser) parseForeach() Node {
	t := p.advance()
	p.expect("(")
	s := &Foreach{span: span{t.pos, 0}}
	if p.atKw("var") && p.peek(1).kind == tokIdent && !p.peek(1).is("in") {
		p.advance()
	} else {
		typ, ok := p.tryType(false)
		if !ok {
			p.errorf("expected the type of the loop variable, found %s", p.tok())
		}
		s.Type = typ
	}
	n := p.expectIdent()
	s.Name, s.NamePos = n.val, n.pos
	if !p.atKw("in") {
		p.errorf("expected \"in\" in foreach, found %s", p.tok())
	}
	p.advance()
	s.X = p.parseExpr()
	p.expect(")")
	s.Body = p.parseEmbedded()
	s.end = s.Body.End()
	return s
}

func (p *parser) parseTry() Node {
	t := p.advance()
	s := &Try{span: span{t.pos, 0}, Body: p.parseBlock()}
	s.end = s.Body.end
	for p.atKw("catch") {
		ct := p.advance()
		c := &Catch{span: span{ct.pos, 0}}
		if p.accept("(") {
			typ, ok := p.tryType(false)
			if !ok {
				p.errorf("expected an exception type, found %s", p.tok())
			}
			c.Type = typ
			if p.tok().kind == tokIdent && !p.isKeyword(p.tok()) {
				c.Name = p.advance().val
			}
			p.expect(")")
		}
		if p.atKw("when") {
			p.advance()
			p.expect("(")
			c.Filter = p.parseExpr()
			p.expect(")")
		}
		c.Body = p.parseBlock()
		c.end = c.Body.end
		s.Catches = append(s.Catches, c)
		s.end = c.end
	}
	if p.atKw("finally") {
		p.advance()
		s.Finally = p.parseBlock()
		s.end = s.Finally.end
	}
	if len(s.Catches) == 0 && s.Finally == nil {
		p.errorf("expected \"catch\" or \"finally\" after the try block, found %s", p.tok())
	}
	return s
}

func (p *parser) parseUsing() Node {
	t := p.tok()
	if !p.peek(1).is("(") {
		if d := p.tryDecl(); d != nil {
			return d
		}
		p.errorf("expected \"(\" or a declaration after \"using\"")
	}
	p.advance()
	p.expect("(")
	s := &Using{span: span{t.pos, 0}}
	start := p.p
	if p.atKw("var") && p.peek(1).kind == tokIdent {
		p.advance()
		s.Decl = p.parseDeclAfterType(t.pos, nil, true)
	} else if typ, ok := p.tryType(true); ok && p.tok().kind == tokIdent && p.peek(1).is("=") {
		s.Decl = p.parseDeclAfterType(t.pos, typ, true)
	} else {
		p.p = start
		s.X = p.parseExpr()
	}
	p.expect(")")
	s.Body = p.parseEmbedded()
	s.end = s.Body.End()
	return s
}

func (p *parser) parseSwitch() Node {
	t := p.advance()
	p.expect("(")
	x := p.parseExpr()
	p.expect(")")
	p.expect("{")
	s := &Switch{span: span{t.pos, 0}, X: x}
	for !p.at("}") {
		sec := &SwitchSection{span: span{p.tok().pos, 0}}
		for p.atKw("case") || p.atKw("default") {
			kw := p.advance()
			if kw.val == "default" {
				p.expect(":")
				sec.Labels = append(sec.Labels, nil)
				sec.Guards = append(sec.Guards, nil)
				continue
			}
			pat := p.parsePattern()
			var guard Node
			if p.atKw("when") {
				p.advance()
				guard = p.parseExpr()
			}
			p.expect(":")
			sec.Labels = append(sec.Labels, pat)
			sec.Guards = append(sec.Guards, guard)
		}
		if len(sec.Labels) == 0 {
			p.errorf("expected \"case\" or \"default\" in switch, found %s", p.tok())
		}
		for !p.atKw("case") && !p.atKw("default") && !p.at("}") {
			if p.tok().kind == tokEOF {
				p.errorf("switch statement is never closed")
			}
			if st := p.parseStmtRecover(); st != nil {
				sec.Stmts = append(sec.Stmts, st)
			}
		}
		sec.end = p.toks[p.p-1].end
		s.Sections = append(s.Sections, sec)
	}
	s.end = p.advance().end
	return s
}

// ---- types ----

// tryType parses a type if one starts here; it restores the position and returns
// false otherwise. With allowNullable, T? is nullable unless the '?' starts a
// conditional expression.
func (p *parser) tryType(allowNullable bool) (typ *TypeExpr, ok bool) {
	start := p.p
	nerr := len(p.errs)
	defer func() {
		if r := recover(); r != nil {
			if _, isBail := r.(bailout); !isBail {
				panic(r)
			}
			// a failed speculative parse must not leave errors behind
			p.p = start
			p.errs = p.errs[:nerr]
			typ, ok = nil, false
		}
	}()
	typ = p.parseTypeOpt(allowNullable)
	if typ == nil {
		p.p = start
		p.errs = p.errs[:nerr]
		return nil, false
	}
	return typ, true
}

// parseType parses a type or reports an error.
func (p *parser) parseType(allowNullable bool) *TypeExpr {
	t := p.parseTypeOpt(allowNullable)
	if t == nil {
		p.errorf("expected a type, found %s", p.tok())
	}
	return t
}

func (p *parser) parseTypeOpt(allowNullable bool) *TypeExpr {
	t := p.tok()
	var typ *TypeExpr
	switch {
	case t.kind == tokIdent && !t.verbatim && predefinedTypes[t.val]:
		p.advance()
		typ = &TypeExpr{span: span{t.pos, t.end}, Name: t.val}
	case t.kind == tokIdent && (t.verbatim || !keywords[t.val]):
		typ = &TypeExpr{span: span{t.pos, t.end}}
		var name strings.Builder
		for {
			n := p.advance()
			name.WriteString(n.val)
			typ.end = n.end
			if p.at("<") {
				save := p.p
				args, ok := p.tryTypeArgs()
				if !ok {
					p.p = save
					break
				}
				typ.Args = args
				typ.end = p.toks[p.p-1].end
			}
			if p.at("::") {
				// global::System.X — drop the alias
				p.advance()
				name.Reset()
				continue
			}
			if p.at(".") && p.peek(1).kind == tokIdent && !p.isKeyword(p.peek(1)) && len(typ.Args) == 0 {
				p.advance()
				name.WriteByte('.')
				continue
			}
			break
		}
		typ.Name = name.String()
	case t.is("("):
		// tuple type (T1, T2)
		save := p.p
		p.advance()
		var elems []*TypeExpr
		for {
			e, ok := p.tryType(true)
			if !ok {
				p.p = save
				return nil
			}
			if p.tok().kind == tokIdent && !p.isKeyword(p.tok()) {
				p.advance() // element name
			}
			elems = append(elems, e)
			if !p.accept(",") {
				break
			}
		}
		if len(elems) < 2 || !p.at(")") {
			p.p = save
			return nil
		}
		end := p.advance().end
		typ = &TypeExpr{span: span{t.pos, end}, Name: "ValueTuple", Tuple: elems}
	default:
		return nil
	}
	for {
		if allowNullable && p.at("?") && (!p.startsExpr(p.peek(1)) || p.declaresAfterNullable()) {
			typ.Nullable = true
			typ.end = p.advance().end
			continue
		}
		if p.at("[") && (p.peek(1).is("]") || p.peek(1).is(",")) {
			p.advance()
			rank := 1
			for p.accept(",") {
				rank++
			}
			typ.end = p.expect("]").end
			typ.Arrays = append(typ.Arrays, rank)
			continue
		}
		break
	}
	return typ
}

// declaresAfterNullable reports `T? name =`, `T? name;` and similar: the '?' at
// the current token is a nullable mark, not a conditional.
func (p *parser) declaresAfterNullable() bool {
	n, m := p.peek(1), p.peek(2)
	if n.kind != tokIdent || p.isKeyword(n) {
		return false
	}
	return m.is("=") || m.is(";") || m.is(",") || m.is(")") || (m.kind == tokIdent && (m.val == "in" || m.val == "when"))
}

// startsExpr reports whether t can start an expression; after `T?` it means the '?'
// is a conditional operator.
func (p *parser) startsExpr(t token) bool {
	switch t.kind {
	case tokInt, tokReal, tokString, tokChar, tokInterp:
		return true
	case tokIdent:
		return true
	case tokPunct:
		switch t.text {
		case "(", "!", "-", "+", "~", "++", "--":
			return true
		}
	}
	return false
}

// tryTypeArgs parses <T1, T2> if it is a type argument list by C#'s rule: the
// token after '>' must be one that cannot continue a relational expression.
func (p *parser) tryTypeArgs() ([]*TypeExpr, bool) {
	save := p.p
	nerr := len(p.errs)
	args, ok := func() (args []*TypeExpr, ok bool) {
		defer func() {
			if r := recover(); r != nil {
				if _, isBail := r.(bailout); !isBail {
					panic(r)
				}
				ok = false
			}
		}()
		p.advance() // <
		for {
			a, ok := p.tryType(true)
			if !ok {
				return nil, false
			}
			args = append(args, a)
			if !p.accept(",") {
				break
			}
		}
		if !p.at(">") {
			return nil, false
		}
		p.advance()
		return args, true
	}()
	if !ok {
		p.p = save
		p.errs = p.errs[:nerr]
		return nil, false
	}
	n := p.tok()
	switch {
	case n.kind == tokEOF:
	case n.kind == tokPunct:
		switch n.text {
		case "(", ")", "]", "}", ":", ";", ",", ".", "?", "==", "!=", "|", "^", "&&", "||", "&", "[", "?.", "=>", ">", "=", "{":
		default:
			p.p = save
			return nil, false
		}
	case n.kind == tokIdent:
		// `List<int> x` in a declaration
	default:
		p.p = save
		return nil, false
	}
	return args, true
}

// ---- expressions ----

func (p *parser) parseExpr() Node {
	p.enter()
	defer p.leave()
	if l := p.tryLambda(); l != nil {
		return l
	}
	x := p.parseConditional()
	t := p.tok()
	if t.kind == tokPunct {
		switch t.text {
		case "=", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<<=", "??=":
			p.advance()
			y := p.parseExpr()
			return &Assign{span: span{x.Pos(), y.End()}, Op: t.text, OpPos: t.pos, X: x, Y: y}
		case ">":
			// >>= is lexed as '>' '>='
			if n := p.peek(1); n.is(">=") && n.pos == t.end {
				p.advance()
				p.advance()
				y := p.parseExpr()
				return &Assign{span: span{x.Pos(), y.End()}, Op: ">>=", OpPos: t.pos, X: x, Y: y}
			}
		}
	}
	return x
}

// tryLambda parses a lambda if one starts here.
func (p *parser) tryLambda() Node {
	t := p.tok()
	if t.kind == tokIdent && t.val == "async" && !t.verbatim {
		if n := p.peek(1); n.kind == tokIdent || n.is("(") {
			p.errorf("async lambdas are not supported in policy expressions")
		}
	}
	if t.kind == tokIdent && !p.isKeyword(t) && p.peek(1).is("=>") {
		p.advance()
		p.advance()
		prm := &Param{span: span{t.pos, t.end}, Name: t.val}
		body := p.parseLambdaBody()
		return &Lambda{span: span{t.pos, body.End()}, Params: []*Param{prm}, Body: body}
	}
	if !t.is("(") {
		return nil
	}
	// find the matching ')' and see whether '=>' follows
	depth := 0
	i := p.p
	for ; i < len(p.toks); i++ {
		k := p.toks[i]
		if k.kind == tokEOF {
			return nil
		}
		if k.kind != tokPunct {
			continue
		}
		switch k.text {
		case "(", "[", "{", "?[":
			depth++
		case ")", "]", "}":
			depth--
		}
		if depth == 0 {
			break
		}
	}
	if i+1 >= len(p.toks) || !p.toks[i+1].is("=>") {
		return nil
	}
	p.advance() // (
	var ps []*Param
	for !p.at(")") {
		pt := p.tok()
		prm := &Param{span: span{pt.pos, 0}}
		if p.atKw("out") || p.atKw("ref") || p.atKw("in") {
			prm.Modifier = p.advance().val
		}
		if p.tok().kind == tokIdent && (p.peek(1).is(",") || p.peek(1).is(")")) {
			n := p.advance()
			prm.Name, prm.end = n.val, n.end
		} else {
			prm.Type = p.parseType(true)
			n := p.expectIdent()
			prm.Name, prm.end = n.val, n.end
		}
		ps = append(ps, prm)
		if !p.accept(",") {
			break
		}
	}
	p.expect(")")
	p.expect("=>")
	body := p.parseLambdaBody()
	return &Lambda{span: span{t.pos, body.End()}, Params: ps, Body: body}
}

func (p *parser) parseLambdaBody() Node {
	if p.at("{") {
		return p.parseBlock()
	}
	return p.parseExpr()
}

func (p *parser) parseConditional() Node {
	c := p.parseNullCoalesce()
	if !p.at("?") {
		return c
	}
	p.advance()
	x := p.parseExpr()
	p.expect(":")
	y := p.parseExpr()
	return &Cond{span: span{c.Pos(), y.End()}, C: c, X: x, Y: y}
}

// parseNullCoalesce parses a ?? b ?? c, which is right-associative: a ?? (b ?? c).
// The operands are read in a loop, so a long chain does not recurse.
func (p *parser) parseNullCoalesce() Node {
	xs := []Node{p.parseBinary(1)}
	var ops []token
	for p.at("??") {
		ops = append(ops, p.advance())
		if p.atKw("throw") {
			t := p.advance()
			p.enter()
			v := p.parseNullCoalesce()
			p.leave()
			xs = append(xs, &ThrowExpr{span: span{t.pos, v.End()}, X: v})
			break
		}
		xs = append(xs, p.parseBinary(1))
	}
	y := xs[len(xs)-1]
	for i := len(ops) - 1; i >= 0; i-- {
		x := xs[i]
		y = &Binary{span: span{x.Pos(), y.End()}, Op: "??", OpPos: ops[i].pos, X: x, Y: y}
	}
	return y
}

// binaryPrec returns the precedence of the binary operator at the current token
// (higher binds tighter) and its text, or 0.
func (p *parser) binaryPrec() (int, string, int) {
	t := p.tok()
	if t.kind == tokIdent && !t.verbatim {
		switch t.val {
		case "is", "as":
			return 6, t.val, 1
		}
		return 0, "", 0
	}
	if t.kind != tokPunct {
		return 0, "", 0
	}
	switch t.text {
	case "||":
		return 1, t.text, 1
	case "&&":
		return 2, t.text, 1
	case "|":
		return 3, t.text, 1
	case "^":
		return 4, t.text, 1
	case "&":
		return 5, t.text, 1
	case "==", "!=":
		return 6, t.text, 1 // equality binds looser than relational; see below
	case "<", "<=", ">=":
		return 7, t.text, 1
	case ">":
		if n := p.peek(1); n.is(">") && n.pos == t.end {
			return 8, ">>", 2
		}
		if n := p.peek(1); n.is(">=") && n.pos == t.end {
			return 0, "", 0 // >>= is an assignment
		}
		return 7, t.text, 1
	case "<<":
		return 8, t.text, 1
	case "+", "-":
		return 9, t.text, 1
	case "*", "/", "%":
		return 10, t.text, 1
	}
	return 0, "", 0
}

func (p *parser) parseBinary(minPrec int) Node {
	p.enter()
	defer p.leave()
	x := p.parseUnary()
	for {
		prec, op, ntok := p.binaryPrec()
		// is/as are relational (7); equality is 6.
		if op == "is" || op == "as" {
			prec = 7
		}
		if prec == 0 || prec < minPrec {
			return x
		}
		opTok := p.tok()
		for i := 0; i < ntok; i++ {
			p.advance()
		}
		switch op {
		case "is":
			pat := p.parsePattern()
			x = &Is{span: span{x.Pos(), pat.End()}, X: x, Pat: pat}
			continue
		case "as":
			typ := p.parseType(true)
			x = &As{span: span{x.Pos(), typ.End()}, X: x, Type: typ}
			continue
		}
		y := p.parseBinary(prec + 1)
		x = &Binary{span: span{x.Pos(), y.End()}, Op: op, OpPos: opTok.pos, X: x, Y: y}
	}
}

// ---- patterns ----

func (p *parser) parsePattern() Pattern {
	p.enter()
	defer p.leave()
	x := p.parsePatternAnd()
	for p.atKw("or") {
		p.advance()
		y := p.parsePatternAnd()
		x = &BinPattern{span: span{x.Pos(), y.End()}, Op: "or", X: x, Y: y}
	}
	return x
}

func (p *parser) parsePatternAnd() Pattern {
	x := p.parsePatternUnary()
	for p.atKw("and") {
		p.advance()
		y := p.parsePatternUnary()
		x = &BinPattern{span: span{x.Pos(), y.End()}, Op: "and", X: x, Y: y}
	}
	return x
}

func (p *parser) parsePatternUnary() Pattern {
	t := p.tok()
	if p.atKw("not") {
		p.advance()
		q := p.parsePatternUnary()
		return &NotPattern{span: span{t.pos, q.End()}, P: q}
	}
	if t.kind == tokPunct {
		switch t.text {
		case "<", "<=", ">", ">=":
			p.advance()
			x := p.parseUnary()
			return &RelPattern{span: span{t.pos, x.End()}, Op: t.text, X: x}
		case "(":
			p.advance()
			q := p.parsePattern()
			p.expect(")")
			return q
		}
	}
	if p.atKw("var") && p.peek(1).kind == tokIdent {
		p.advance()
		n := p.advance()
		return &TypePattern{span: span{t.pos, n.end}, Name: n.val}
	}
	if t.kind == tokIdent && t.val == "_" && !t.verbatim {
		p.advance()
		return &TypePattern{span: span{t.pos, t.end}, Name: "_"}
	}
	// a type (optionally followed by a designation) or a constant
	if t.kind == tokIdent && !(p.atKw("null") || p.atKw("true") || p.atKw("false") || p.atKw("default") || p.atKw("typeof") || p.atKw("nameof")) {
		start := p.p
		if typ, ok := p.tryType(true); ok {
			n := p.tok()
			if n.kind == tokIdent && !p.isKeyword(n) && n.val != "and" && n.val != "or" && n.val != "when" {
				p.advance()
				return &TypePattern{span: span{t.pos, n.end}, Type: typ, Name: n.val}
			}
			// `x is Foo.Bar(...)` or other continuations are constants
			if !(n.is("(") || n.is("[") || n.is(".")) {
				return &TypePattern{span: span{t.pos, typ.end}, Type: typ}
			}
			p.p = start
		}
	}
	x := p.parseUnary()
	return &ConstPattern{span: span{x.Pos(), x.End()}, X: x}
}

// ---- unary and primary ----

func (p *parser) parseUnary() Node {
	p.enter()
	defer p.leave()
	t := p.tok()
	if t.kind == tokPunct {
		switch t.text {
		case "+", "-", "!", "~", "++", "--", "^", "&", "*":
			if t.text == "&" || t.text == "*" {
				p.errorf("pointer operators are not supported in policy expressions")
			}
			p.advance()
			x := p.parseUnary()
			return &Unary{span: span{t.pos, x.End()}, Op: t.text, X: x}
		case "(":
			if c := p.tryCast(); c != nil {
				return c
			}
		}
	}
	if t.kind == tokIdent && !t.verbatim && t.val == "await" && p.startsExpr(p.peek(1)) {
		p.errorf("await is not supported in policy expressions")
	}
	return p.parsePostfix(p.parsePrimary())
}

// tryCast parses (T)x when the parenthesised tokens are a type and what follows
// can only be a cast operand, as C# decides.
func (p *parser) tryCast() Node {
	start := p.p
	open := p.advance()
	typ, ok := p.tryType(true)
	if !ok || !p.at(")") {
		p.p = start
		return nil
	}
	p.advance()
	n := p.tok()
	cast := false
	predefined := predefinedTypes[typ.Name] || len(typ.Arrays) > 0 || typ.Nullable || len(typ.Args) > 0
	switch n.kind {
	case tokIdent:
		// (T)x — but not (x) is / (x) as / (x) when ...
		cast = !(n.val == "is" || n.val == "as") || n.verbatim
		if !n.verbatim && keywords[n.val] && !(n.val == "new" || n.val == "this" || n.val == "base" || n.val == "null" || n.val == "true" || n.val == "false" || n.val == "typeof" || n.val == "default" || n.val == "checked" || n.val == "unchecked" || predefinedTypes[n.val]) {
			cast = false
		}
	case tokInt, tokReal, tokString, tokChar, tokInterp:
		cast = true
	case tokPunct:
		switch n.text {
		case "(", "!", "~":
			cast = true
		case "+", "-", "++", "--":
			cast = predefined
		}
	}
	if !cast {
		p.p = start
		return nil
	}
	x := p.parseUnary()
	return &Cast{span: span{open.pos, x.End()}, Type: typ, X: x}
}

func (p *parser) parsePrimary() Node {
	t := p.tok()
	switch t.kind {
	case tokInt:
		p.advance()
		return &Literal{span: span{t.pos, t.end}, Kind: LitInt, Raw: t.text}
	case tokReal:
		p.advance()
		return &Literal{span: span{t.pos, t.end}, Kind: LitReal, Raw: t.text}
	case tokString:
		p.advance()
		return &Literal{span: span{t.pos, t.end}, Kind: LitString, Raw: t.text, Str: t.val}
	case tokChar:
		p.advance()
		return &Literal{span: span{t.pos, t.end}, Kind: LitChar, Raw: t.text, Str: t.val}
	case tokInterp:
		p.advance()
		return p.parseInterp(t)
	case tokError:
		p.errorf("%s", t.msg)
	case tokEOF:
		p.errorf("unexpected end of expression")
	case tokPunct:
		if t.text == "(" {
			p.advance()
			x := p.parseExpr()
			if p.at(",") {
				p.errorf("tuples are not supported in policy expressions")
			}
			end := p.expect(")").end
			return &Paren{span: span{t.pos, end}, X: x}
		}
		p.errorf("unexpected %s", t)
	case tokIdent:
		if t.verbatim {
			p.advance()
			return p.identWithArgs(t)
		}
		switch t.val {
		case "true", "false":
			p.advance()
			return &Literal{span: span{t.pos, t.end}, Kind: LitBool, Raw: t.val, Bool: t.val == "true"}
		case "null":
			p.advance()
			return &Literal{span: span{t.pos, t.end}, Kind: LitNull, Raw: t.val}
		case "new":
			return p.parseNew()
		case "typeof":
			p.advance()
			p.expect("(")
			typ := p.parseType(true)
			end := p.expect(")").end
			return &TypeOf{span: span{t.pos, end}, Type: typ}
		case "default":
			p.advance()
			if p.accept("(") {
				typ := p.parseType(true)
				end := p.expect(")").end
				return &DefaultOf{span: span{t.pos, end}, Type: typ}
			}
			return &Literal{span: span{t.pos, t.end}, Kind: LitDefault, Raw: "default"}
		case "checked", "unchecked":
			p.advance()
			p.expect("(")
			x := p.parseExpr()
			end := p.expect(")").end
			return &CheckedExpr{span: span{t.pos, end}, Checked: t.val == "checked", X: x}
		case "this", "base":
			p.advance()
			return &This{span{t.pos, t.end}}
		case "nameof":
			if p.peek(1).is("(") {
				p.advance()
				p.advance()
				x := p.parseExpr()
				end := p.expect(")").end
				name := ""
				switch v := x.(type) {
				case *Ident:
					name = v.Name
				case *Member:
					name = v.Name
				default:
					p.errorAt(x.Pos(), x.End()-x.Pos(), "nameof needs a name")
				}
				return &NameOf{span: span{t.pos, end}, Name: name}
			}
		case "stackalloc", "sizeof", "delegate":
			p.errorf("%q is not supported in policy expressions", t.val)
		}
		if keywords[t.val] && !predefinedTypes[t.val] {
			p.errorf("unexpected keyword %q", t.val)
		}
		p.advance()
		return p.identWithArgs(t)
	}
	p.errorf("unexpected %s", t)
	return nil
}

func (p *parser) identWithArgs(t token) Node {
	id := &Ident{span: span{t.pos, t.end}, Name: t.val}
	if p.at("<") && !predefinedTypes[t.val] {
		if args, ok := p.tryTypeArgs(); ok {
			id.TypeArgs = args
			id.end = p.toks[p.p-1].end
		}
	}
	return id
}

func (p *parser) parsePostfix(x Node) Node {
	for {
		t := p.tok()
		if t.kind == tokIdent && t.val == "switch" && !t.verbatim && p.peek(1).is("{") {
			x = p.parseSwitchExpr(x)
			continue
		}
		if t.kind != tokPunct {
			return x
		}
		switch t.text {
		case ".", "?.":
			p.advance()
			n := p.tok()
			if n.kind != tokIdent {
				p.errorf("expected a member name after %q, found %s", t.text, n)
			}
			p.advance()
			m := &Member{span: span{x.Pos(), n.end}, X: x, Name: n.val, NamePos: n.pos, NullCond: t.text == "?."}
			if p.at("<") {
				if args, ok := p.tryTypeArgs(); ok {
					m.TypeArgs = args
					m.end = p.toks[p.p-1].end
				}
			}
			x = m
		case "[", "?[":
			p.advance()
			args := p.parseArgs("]")
			end := p.expect("]").end
			x = &Index{span: span{x.Pos(), end}, X: x, Args: args, NullCond: t.text == "?["}
		case "(":
			p.advance()
			args := p.parseArgs(")")
			end := p.expect(")").end
			x = &Call{span: span{x.Pos(), end}, Fun: x, Args: args}
		case "++", "--":
			p.advance()
			x = &Unary{span: span{x.Pos(), t.end}, Op: t.text, X: x, Postfix: true}
		case "!":
			// null-forgiving operator: x!.y, x![i], x!)
			n := p.peek(1)
			if n.is(".") || n.is("[") || n.is("?.") || n.is(")") || n.is(";") || n.is(",") || n.is("]") {
				p.advance()
				continue
			}
			return x
		default:
			return x
		}
	}
}

func (p *parser) parseSwitchExpr(x Node) Node {
	p.advance() // switch
	p.expect("{")
	s := &SwitchExpr{span: span{x.Pos(), 0}, X: x}
	for !p.at("}") {
		pat := p.parsePattern()
		var guard Node
		if p.atKw("when") {
			p.advance()
			guard = p.parseExpr()
		}
		p.expect("=>")
		v := p.parseExpr()
		s.Arms = append(s.Arms, pat)
		s.Guard = append(s.Guard, guard)
		s.Vals = append(s.Vals, v)
		if !p.accept(",") {
			break
		}
	}
	s.end = p.expect("}").end
	return s
}

func (p *parser) parseArgs(close string) []*Arg {
	var args []*Arg
	for !p.at(close) {
		t := p.tok()
		if t.kind == tokEOF {
			p.errorf("expected %q to close the argument list", close)
		}
		a := &Arg{span: span{t.pos, 0}}
		if t.kind == tokIdent && p.peek(1).is(":") && !p.isKeyword(t) {
			a.Name = t.val
			p.advance()
			p.advance()
		}
		if p.atKw("out") || p.atKw("ref") || p.atKw("in") {
			a.Modifier = p.advance().val
			if a.Modifier == "out" {
				dt := p.tok()
				if p.atKw("var") && p.peek(1).kind == tokIdent {
					p.advance()
					n := p.advance()
					a.X = &DeclExpr{span: span{dt.pos, n.end}, Name: n.val}
				} else if n := p.peek(1); dt.kind == tokIdent && !n.is(")") && !n.is(",") && !n.is(".") && !n.is("[") {
					typ := p.parseType(true)
					n := p.expectIdent()
					a.X = &DeclExpr{span: span{dt.pos, n.end}, Type: typ, Name: n.val}
				}
			}
		}
		if a.X == nil {
			a.X = p.parseExpr()
		}
		a.end = a.X.End()
		args = append(args, a)
		if !p.accept(",") {
			break
		}
		if p.at(close) || p.tok().kind == tokEOF {
			p.errorf("expected an argument after \",\"")
		}
	}
	return args
}

func (p *parser) parseNew() Node {
	t := p.advance() // new
	switch {
	case p.at("{"):
		return p.parseAnon(t)
	case p.at("["):
		// new[] { ... }
		p.advance()
		for p.accept(",") {
		}
		p.expect("]")
		if !p.at("{") {
			p.errorf("expected \"{\" after new[], found %s", p.tok())
		}
		init := p.parseInitializer(true)
		return &NewArray{span: span{t.pos, init.end}, Init: init}
	case p.at("("):
		// target-typed new(): not supported
		p.errorf("target-typed new() is not supported; write the type: new T(...)")
	}
	typ := p.parseTypeNoArray()
	if p.at("[") {
		// new T[n] or new T[] { } or new T[n] { }
		p.advance()
		na := &NewArray{span: span{t.pos, 0}, Elem: typ}
		if !p.at("]") {
			na.Size = p.parseExpr()
			if p.at(",") {
				p.errorf("multi-dimensional arrays are not supported")
			}
		}
		na.end = p.expect("]").end
		// further ranks: new int[3][] -> array of arrays
		for p.at("[") && p.peek(1).is("]") {
			p.advance()
			na.end = p.advance().end
			e := *na.Elem
			e.Arrays = append(append([]int(nil), e.Arrays...), 1)
			na.Elem = &e
		}
		if p.at("{") {
			na.Init = p.parseInitializer(true)
			na.end = na.Init.end
		} else if na.Size == nil {
			p.errorf("expected an array size or initializer, found %s", p.tok())
		}
		return na
	}
	n := &New{span: span{t.pos, typ.end}, Type: typ}
	if p.at("(") {
		p.advance()
		n.Args = p.parseArgs(")")
		n.HasArgs = true
		n.end = p.expect(")").end
	}
	if p.at("{") {
		n.Init = p.parseInitializer(false)
		n.end = n.Init.end
	}
	if !n.HasArgs && n.Init == nil {
		p.errorf("expected \"(\" or \"{\" after new %s, found %s", typ.Name, p.tok())
	}
	return n
}

// parseTypeNoArray parses the type after `new`, stopping before '[' so that the
// array size can be parsed.
func (p *parser) parseTypeNoArray() *TypeExpr {
	t := p.tok()
	if t.kind != tokIdent || (!t.verbatim && keywords[t.val] && !predefinedTypes[t.val]) {
		p.errorf("expected a type after new, found %s", t)
	}
	typ := &TypeExpr{span: span{t.pos, t.end}}
	if predefinedTypes[t.val] && !t.verbatim {
		p.advance()
		typ.Name = t.val
	} else {
		var name strings.Builder
		for {
			n := p.advance()
			name.WriteString(n.val)
			typ.end = n.end
			if p.at("<") {
				if args, ok := p.tryTypeArgs(); ok {
					typ.Args = args
					typ.end = p.toks[p.p-1].end
				}
			}
			if p.at(".") && p.peek(1).kind == tokIdent && len(typ.Args) == 0 {
				p.advance()
				name.WriteByte('.')
				continue
			}
			break
		}
		typ.Name = name.String()
	}
	if p.at("?") {
		typ.Nullable = true
		typ.end = p.advance().end
	}
	return typ
}

func (p *parser) parseAnon(t token) Node {
	p.advance() // {
	a := &NewAnon{span: span{t.pos, 0}}
	for !p.at("}") {
		if p.tok().kind == tokIdent && p.peek(1).is("=") {
			n := p.advance()
			p.advance()
			a.Names = append(a.Names, n.val)
			a.Vals = append(a.Vals, p.parseExpr())
		} else {
			x := p.parseExpr()
			name := ""
			switch v := x.(type) {
			case *Ident:
				name = v.Name
			case *Member:
				name = v.Name
			default:
				p.errorAt(x.Pos(), x.End()-x.Pos(), "an anonymous type member needs a name: write name = value")
				panic(bailout{})
			}
			a.Names = append(a.Names, name)
			a.Vals = append(a.Vals, x)
		}
		if !p.accept(",") {
			break
		}
	}
	a.end = p.expect("}").end
	return a
}

// parseInitializer parses { ... } after new T(...) or an array type. For arrays
// (array == true) every item is an element.
func (p *parser) parseInitializer(array bool) *Initializer {
	p.enter()
	defer p.leave()
	open := p.expect("{")
	in := &Initializer{span: span{open.pos, 0}}
	if !array {
		// object initializer if the first item is `Name =` or `[key] =`
		if p.tok().kind == tokIdent && p.peek(1).is("=") {
			in.Kind = InitObject
		} else if p.at("[") {
			in.Kind = InitObject
		}
	}
	for !p.at("}") {
		if in.Kind == InitObject {
			t := p.tok()
			mi := &MemberInit{span: span{t.pos, 0}}
			if p.accept("[") {
				mi.Index = p.parseArgs("]")
				p.expect("]")
			} else {
				mi.Name = p.expectIdent().val
			}
			p.expect("=")
			if p.at("{") {
				mi.Value = p.parseInitializer(false)
			} else {
				mi.Value = p.parseExpr()
			}
			mi.end = mi.Value.End()
			in.Members = append(in.Members, mi)
		} else if p.at("{") {
			t := p.advance()
			el := &ElemList{span: span{t.pos, 0}}
			for !p.at("}") {
				if p.at("{") && array {
					el.Items = append(el.Items, p.parseInitializer(true))
				} else {
					el.Items = append(el.Items, p.parseExpr())
				}
				if !p.accept(",") {
					break
				}
			}
			el.end = p.expect("}").end
			in.Items = append(in.Items, el)
		} else {
			in.Items = append(in.Items, p.parseExpr())
		}
		if !p.accept(",") {
			break
		}
	}
	in.end = p.expect("}").end
	return in
}

// parseInterp parses the holes of an interpolated string token.
func (p *parser) parseInterp(t token) Node {
	parts := p.lx.interp[t.pos]
	s := &InterpString{span: span{t.pos, t.end}}
	for _, part := range parts {
		if !part.hole {
			s.Parts = append(s.Parts, InterpHole{Lit: part.lit})
			continue
		}
		h := InterpHole{Format: part.format, FormatPos: part.formatPos}
		h.X = p.subExpr(part.exprPos, part.exprEnd, "interpolation hole")
		if part.alignPos > 0 {
			h.Align = p.subExpr(part.alignPos, part.alignEnd, "alignment")
		}
		s.Parts = append(s.Parts, h)
	}
	return s
}

// subExpr parses src[start:end] as one expression, with offsets kept absolute.
func (p *parser) subExpr(start, end int, what string) Node {
	sub := &parser{src: p.src, lx: lex(p.src, start, end), depth: p.depth}
	sub.toks = sub.lx.toks
	sub.errs = p.errs
	defer func() { p.errs = sub.errs }()
	if sub.tok().kind == tokEOF {
		p.errs = sub.errs
		p.errorAt(max(start-1, 0), 1, "empty "+what)
		panic(bailout{})
	}
	x := sub.parseExpr()
	if sub.tok().kind != tokEOF {
		sub.errorf("unexpected %s in %s", sub.tok(), what)
	}
	return x
}

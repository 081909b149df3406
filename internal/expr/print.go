package expr

import (
	"strconv"
	"strings"
)

// printNode renders a syntax tree as canonical, fully parenthesised C#: the form
// the parser tests compare against.
func printNode(n Node) string {
	var b strings.Builder
	pr(&b, n)
	return b.String()
}

func prType(b *strings.Builder, t *TypeExpr) {
	if t == nil {
		b.WriteString("var")
		return
	}
	if len(t.Tuple) > 0 {
		b.WriteByte('(')
		for i, e := range t.Tuple {
			if i > 0 {
				b.WriteString(", ")
			}
			prType(b, e)
		}
		b.WriteByte(')')
	} else {
		b.WriteString(t.Name)
	}
	if len(t.Args) > 0 {
		b.WriteByte('<')
		for i, a := range t.Args {
			if i > 0 {
				b.WriteString(", ")
			}
			prType(b, a)
		}
		b.WriteByte('>')
	}
	if t.Nullable {
		b.WriteByte('?')
	}
	for _, r := range t.Arrays {
		b.WriteByte('[')
		b.WriteString(strings.Repeat(",", r-1))
		b.WriteByte(']')
	}
}

func prArgs(b *strings.Builder, args []*Arg) {
	for i, a := range args {
		if i > 0 {
			b.WriteString(", ")
		}
		if a.Name != "" {
			b.WriteString(a.Name)
			b.WriteString(": ")
		}
		if a.Modifier != "" {
			b.WriteString(a.Modifier)
			b.WriteByte(' ')
		}
		pr(b, a.X)
	}
}

func prTypeArgs(b *strings.Builder, ts []*TypeExpr) {
	if len(ts) == 0 {
		return
	}
	b.WriteByte('<')
	for i, t := range ts {
		if i > 0 {
			b.WriteString(", ")
		}
		prType(b, t)
	}
	b.WriteByte('>')
}

func prPattern(b *strings.Builder, p Pattern) {
	switch p := p.(type) {
	case *TypePattern:
		prType(b, p.Type)
		if p.Name != "" {
			b.WriteByte(' ')
			b.WriteString(p.Name)
		}
	case *ConstPattern:
		pr(b, p.X)
	case *NotPattern:
		b.WriteString("not ")
		prPattern(b, p.P)
	case *RelPattern:
		b.WriteString(p.Op)
		b.WriteByte(' ')
		pr(b, p.X)
	case *BinPattern:
		b.WriteByte('(')
		prPattern(b, p.X)
		b.WriteString(" " + p.Op + " ")
		prPattern(b, p.Y)
		b.WriteByte(')')
	case nil:
		b.WriteString("default")
	}
}

func prInit(b *strings.Builder, in *Initializer) {
	b.WriteString(" { ")
	if in.Kind == InitObject {
		for i, m := range in.Members {
			if i > 0 {
				b.WriteString(", ")
			}
			if m.Index != nil {
				b.WriteByte('[')
				prArgs(b, m.Index)
				b.WriteByte(']')
			} else {
				b.WriteString(m.Name)
			}
			b.WriteString(" = ")
			if in2, ok := m.Value.(*Initializer); ok {
				prInit(b, in2)
			} else {
				pr(b, m.Value)
			}
		}
	} else {
		for i, it := range in.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			pr(b, it)
		}
	}
	b.WriteString(" }")
}

func pr(b *strings.Builder, n Node) {
	switch n := n.(type) {
	case nil:
		b.WriteString("<nil>")
	case *Literal:
		switch n.Kind {
		case LitString:
			b.WriteString(strconv.Quote(n.Str))
		case LitChar:
			b.WriteString(strconv.QuoteRune([]rune(n.Str)[0]))
		default:
			b.WriteString(n.Raw)
		}
	case *Ident:
		b.WriteString(n.Name)
		prTypeArgs(b, n.TypeArgs)
	case *InterpString:
		b.WriteString("$\"")
		for _, p := range n.Parts {
			if p.X == nil {
				b.WriteString(strings.NewReplacer("{", "{{", "}", "}}", "\"", "\\\"", "\n", "\\n").Replace(p.Lit))
				continue
			}
			b.WriteByte('{')
			pr(b, p.X)
			if p.Align != nil {
				b.WriteByte(',')
				pr(b, p.Align)
			}
			if p.Format != "" {
				b.WriteByte(':')
				b.WriteString(strings.NewReplacer("\\", "\\\\", "\"", "\\\"", "\n", "\\n", "}", "\\u007D").Replace(p.Format))
			}
			b.WriteByte('}')
		}
		b.WriteByte('"')
	case *Member:
		pr(b, n.X)
		if n.NullCond {
			b.WriteString("?.")
		} else {
			b.WriteByte('.')
		}
		b.WriteString(n.Name)
		prTypeArgs(b, n.TypeArgs)
	case *Index:
		pr(b, n.X)
		if n.NullCond {
			b.WriteString("?[")
		} else {
			b.WriteByte('[')
		}
		prArgs(b, n.Args)
		b.WriteByte(']')
	case *Call:
		pr(b, n.Fun)
		b.WriteByte('(')
		prArgs(b, n.Args)
		b.WriteByte(')')
	case *DeclExpr:
		prType(b, n.Type)
		b.WriteByte(' ')
		b.WriteString(n.Name)
	case *Unary:
		b.WriteByte('(')
		if n.Postfix {
			pr(b, n.X)
			b.WriteString(n.Op)
		} else {
			b.WriteString(n.Op)
			pr(b, n.X)
		}
		b.WriteByte(')')
	case *Binary:
		b.WriteByte('(')
		pr(b, n.X)
		b.WriteString(" " + n.Op + " ")
		pr(b, n.Y)
		b.WriteByte(')')
	case *Assign:
		pr(b, n.X)
		b.WriteString(" " + n.Op + " ")
		pr(b, n.Y)
	case *Cond:
		b.WriteByte('(')
		pr(b, n.C)
		b.WriteString(" ? ")
		pr(b, n.X)
		b.WriteString(" : ")
		pr(b, n.Y)
		b.WriteByte(')')
	case *Cast:
		b.WriteString("((")
		prType(b, n.Type)
		b.WriteByte(')')
		pr(b, n.X)
		b.WriteByte(')')
	case *Is:
		b.WriteByte('(')
		pr(b, n.X)
		b.WriteString(" is ")
		prPattern(b, n.Pat)
		b.WriteByte(')')
	case *As:
		b.WriteByte('(')
		pr(b, n.X)
		b.WriteString(" as ")
		prType(b, n.Type)
		b.WriteByte(')')
	case *Lambda:
		b.WriteByte('(')
		for i, p := range n.Params {
			if i > 0 {
				b.WriteString(", ")
			}
			if p.Type != nil {
				prType(b, p.Type)
				b.WriteByte(' ')
			}
			b.WriteString(p.Name)
		}
		b.WriteString(") => ")
		pr(b, n.Body)
	case *New:
		b.WriteString("new ")
		prType(b, n.Type)
		if n.HasArgs {
			b.WriteByte('(')
			prArgs(b, n.Args)
			b.WriteByte(')')
		}
		if n.Init != nil {
			prInit(b, n.Init)
		}
	case *NewArray:
		b.WriteString("new ")
		if n.Elem != nil {
			prType(b, n.Elem)
		}
		b.WriteByte('[')
		if n.Size != nil {
			pr(b, n.Size)
		}
		b.WriteByte(']')
		if n.Init != nil {
			prInit(b, n.Init)
		}
	case *NewAnon:
		b.WriteString("new { ")
		for i := range n.Names {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(n.Names[i] + " = ")
			pr(b, n.Vals[i])
		}
		b.WriteString(" }")
	case *Initializer:
		prInit(b, n)
	case *ElemList:
		b.WriteString("{ ")
		for i, it := range n.Items {
			if i > 0 {
				b.WriteString(", ")
			}
			pr(b, it)
		}
		b.WriteString(" }")
	case *Paren:
		pr(b, n.X)
	case *TypeOf:
		b.WriteString("typeof(")
		prType(b, n.Type)
		b.WriteByte(')')
	case *DefaultOf:
		b.WriteString("default(")
		prType(b, n.Type)
		b.WriteByte(')')
	case *NameOf:
		b.WriteString("nameof(" + n.Name + ")")
	case *CheckedExpr:
		if n.Checked {
			b.WriteString("checked(")
		} else {
			b.WriteString("unchecked(")
		}
		pr(b, n.X)
		b.WriteByte(')')
	case *ThrowExpr:
		b.WriteString("throw ")
		pr(b, n.X)
	case *This:
		b.WriteString("this")
	case *SwitchExpr:
		pr(b, n.X)
		b.WriteString(" switch { ")
		for i := range n.Arms {
			if i > 0 {
				b.WriteString(", ")
			}
			prPattern(b, n.Arms[i])
			if n.Guard[i] != nil {
				b.WriteString(" when ")
				pr(b, n.Guard[i])
			}
			b.WriteString(" => ")
			pr(b, n.Vals[i])
		}
		b.WriteString(" }")
	// statements
	case *Block:
		b.WriteString("{ ")
		for _, s := range n.Stmts {
			pr(b, s)
			b.WriteByte(' ')
		}
		b.WriteByte('}')
	case *VarDecl:
		if n.Using {
			b.WriteString("using ")
		}
		if n.Const {
			b.WriteString("const ")
		}
		prType(b, n.Type)
		b.WriteByte(' ')
		for i, name := range n.Names {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(name)
			if n.Inits[i] != nil {
				b.WriteString(" = ")
				pr(b, n.Inits[i])
			}
		}
		b.WriteByte(';')
	case *FuncDecl:
		prType(b, n.Result)
		b.WriteString(" " + n.Name + "(")
		for i, p := range n.Params {
			if i > 0 {
				b.WriteString(", ")
			}
			prType(b, p.Type)
			b.WriteString(" " + p.Name)
		}
		b.WriteString(") ")
		if _, ok := n.Body.(*Block); ok {
			pr(b, n.Body)
		} else {
			b.WriteString("=> ")
			pr(b, n.Body)
			b.WriteByte(';')
		}
	case *ExprStmt:
		pr(b, n.X)
		b.WriteByte(';')
	case *If:
		b.WriteString("if (")
		pr(b, n.C)
		b.WriteString(") ")
		pr(b, n.Then)
		if n.Else != nil {
			b.WriteString(" else ")
			pr(b, n.Else)
		}
	case *While:
		if n.Do {
			b.WriteString("do ")
			pr(b, n.Body)
			b.WriteString(" while (")
			pr(b, n.C)
			b.WriteString(");")
		} else {
			b.WriteString("while (")
			pr(b, n.C)
			b.WriteString(") ")
			pr(b, n.Body)
		}
	case *For:
		b.WriteString("for (")
		for i, s := range n.Init {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strings.TrimSuffix(printNode(s), ";"))
		}
		b.WriteString("; ")
		if n.C != nil {
			pr(b, n.C)
		}
		b.WriteString("; ")
		for i, s := range n.Post {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(strings.TrimSuffix(printNode(s), ";"))
		}
		b.WriteString(") ")
		pr(b, n.Body)
	case *Foreach:
		b.WriteString("foreach (")
		prType(b, n.Type)
		b.WriteString(" " + n.Name + " in ")
		pr(b, n.X)
		b.WriteString(") ")
		pr(b, n.Body)
	case *Return:
		b.WriteString("return")
		if n.X != nil {
			b.WriteByte(' ')
			pr(b, n.X)
		}
		b.WriteByte(';')
	case *Break:
		b.WriteString("break;")
	case *Continue:
		b.WriteString("continue;")
	case *Throw:
		b.WriteString("throw")
		if n.X != nil {
			b.WriteByte(' ')
			pr(b, n.X)
		}
		b.WriteByte(';')
	case *Try:
		b.WriteString("try ")
		pr(b, n.Body)
		for _, c := range n.Catches {
			b.WriteString(" catch")
			if c.Type != nil {
				b.WriteString(" (")
				prType(b, c.Type)
				if c.Name != "" {
					b.WriteString(" " + c.Name)
				}
				b.WriteByte(')')
			}
			if c.Filter != nil {
				b.WriteString(" when (")
				pr(b, c.Filter)
				b.WriteByte(')')
			}
			b.WriteByte(' ')
			pr(b, c.Body)
		}
		if n.Finally != nil {
			b.WriteString(" finally ")
			pr(b, n.Finally)
		}
	case *Using:
		b.WriteString("using (")
		if n.Decl != nil {
			b.WriteString(strings.TrimSuffix(printNode(n.Decl), ";"))
		} else {
			pr(b, n.X)
		}
		b.WriteString(") ")
		pr(b, n.Body)
	case *CheckedStmt:
		if n.Checked {
			b.WriteString("checked ")
		} else {
			b.WriteString("unchecked ")
		}
		pr(b, n.Body)
	case *Switch:
		b.WriteString("switch (")
		pr(b, n.X)
		b.WriteString(") { ")
		for _, s := range n.Sections {
			for i, l := range s.Labels {
				if l == nil {
					b.WriteString("default: ")
					continue
				}
				b.WriteString("case ")
				prPattern(b, l)
				if s.Guards[i] != nil {
					b.WriteString(" when ")
					pr(b, s.Guards[i])
				}
				b.WriteString(": ")
			}
			for _, st := range s.Stmts {
				pr(b, st)
				b.WriteByte(' ')
			}
		}
		b.WriteByte('}')
	case *Empty:
		b.WriteByte(';')
	default:
		b.WriteString("<?>")
	}
}

package policyxml

import (
	"slices"
	"strings"
)

// SubstituteNamedValues replaces every {{name}} in attribute values and text with
// lookup(name), as API Management does before it evaluates a policy. A name is
// made of ASCII letters, digits, '.', '-' and '_' with no spaces, so single braces
// such as {application-id}, C#'s {{ escapes followed by anything else, and Liquid
// tags such as {{ body.name }} (with spaces) are literal text.
//
// A name that lookup does not know is an error at the position of its "{{". All
// such errors are returned, as an ErrorList. Error messages never contain a value
// returned by lookup, since named values can be secrets. After substitution,
// Value.PosAt of a byte inside a substituted value maps to its "{{", and
// Value.Redacted shows the text with {{name}} in place of the value. Named values
// are substituted once: a value that contains {{other}} is not expanded again, even
// if SubstituteNamedValues is called a second time.
//
// Liquid templates (set-body template="liquid") also use double braces: a tag
// written without spaces, such as {{body.name}}, looks exactly like a named
// value. Inside a Liquid set-body it is one when a named value of that name is
// defined, and Liquid otherwise, so that templates written as in API
// Management's documentation ({{body.customer.name}}) run.
//
// SubstituteNamedValues changes the tree, so call it before the document is shared
// between goroutines.
func (d *Document) SubstituteNamedValues(lookup func(name string) (string, bool)) error {
	return d.SubstituteNamedRefs(func(r NamedRef) (string, bool) { return lookup(r.Name) })
}

// NamedRef is one {{name}} in a document, as SubstituteNamedRefs finds it.
type NamedRef struct {
	Name string
	Pos  Pos // of its "{{"
	Use  NamedUse
	// From and To are where the text that the value goes into is checked: the
	// policy expression holding the reference, or its whole value when the
	// value is not an expression.
	From, To Pos
}

// NamedUse says what a named value stands for where it is written, since
// substitution is textual.
type NamedUse uint8

const (
	NamedInText   NamedUse = iota // in text or an attribute value that is not an expression
	NamedInString                 // in a string or character literal, or a comment, of an expression
	NamedInCode                   // in an expression outside its literals: C# code
)

// SubstituteNamedRefs is SubstituteNamedValues with a lookup that is told
// where each reference is, for a check that has no values (lastmile validate
// of a single file).
func (d *Document) SubstituteNamedRefs(lookup func(NamedRef) (string, bool)) error {
	if d.Root == nil {
		return nil
	}
	s := substituter{d: d, lookup: lookup}
	s.element(d.Root)
	if len(s.errs) > 0 {
		return s.errs
	}
	return nil
}

type substituter struct {
	d      *Document
	lookup func(NamedRef) (string, bool)
	errs   ErrorList
	j      valueJoiner
	liquid bool // inside set-body template="liquid": unknown names are Liquid
}

func (s *substituter) element(el *Element) {
	if liquidTemplate(el) && !s.liquid {
		s.liquid = true
		defer func() { s.liquid = false }()
	}
	for _, a := range el.Attrs {
		a.Value = s.value(a.Value)
	}
	for _, c := range el.Children {
		switch c := c.(type) {
		case *Element:
			s.element(c)
		case *Text:
			c.Value = s.value(c.Value)
		}
	}
}

// liquidTemplate reports whether el's text is a Liquid template, where {{name}}
// is Liquid's unless a named value has that name: set-body template="liquid",
// and the Dapr policies' template="Liquid".
func liquidTemplate(el *Element) bool {
	a := el.Attr("template")
	if a == nil {
		return false
	}
	switch t := strings.TrimSpace(a.Value.Text); el.Name {
	case "set-body":
		return t == "liquid"
	case "publish-to-dapr", "invoke-dapr-binding":
		return strings.EqualFold(t, "liquid")
	}
	return false
}

func (s *substituter) value(v Value) Value {
	text := v.Text
	if !strings.Contains(text, "{{") {
		return v
	}
	j := &s.j
	j.text, j.segs = j.text[:0], j.segs[:0]
	last, changed := 0, false
	var refs []string // the named values substituted, for an error
	first := 0        // where the first of them is
	from, to := 0, len(text)
	exprStart, exprEnd, isExpr := v.ExpressionRange()
	if isExpr {
		from, to = exprStart, exprEnd
	}
	for i := 0; i < len(text); {
		k := strings.Index(text[i:], "{{")
		if k < 0 {
			break
		}
		k += i
		name, n := namedRef(text, k)
		if n == 0 || v.touchesNamed(k, k+n) { // named values are never expanded again
			i = k + 1
			continue
		}
		i = k + n
		use := NamedInText
		if isExpr && exprStart <= k && k < exprEnd {
			use = useAt(text, exprStart, k)
		}
		val, ok := s.lookup(NamedRef{Name: name, Pos: v.PosAt(k), Use: use, From: v.PosAt(from), To: v.PosAt(to)})
		if !ok && s.liquid {
			continue // a Liquid object, left as it is
		}
		if !ok {
			s.errs = append(s.errs, s.d.Errorf(v.PosAt(k), "named value %q is not defined: add named values/%s/namedValueInformation.json", name, name))
			continue
		}
		if s.d.named == nil {
			s.d.named = make(map[string]string)
		}
		s.d.named[name] = val
		if len(refs) == 0 {
			first = k
		}
		if ref := "{{" + name + "}}"; !slices.Contains(refs, ref) {
			refs = append(refs, ref)
		}
		j.appendRange(v, last, k)
		src, srcEnd := v.srcOffset(k), v.srcOffset(k+n)
		j.appendNamed(val, src, srcEnd-src)
		last, changed = k+n, true
	}
	if !changed {
		return v
	}
	j.appendRange(v, last, len(text))
	out := Value{Text: string(j.text), doc: s.d, segs: append([]seg(nil), j.segs...)}
	if isExpr && !out.IsExpression() {
		// Left as it is, the expression would become text sent as written,
		// with the named value in it (a password with a quote in it).
		s.errs = append(s.errs, s.d.Errorf(v.PosAt(first),
			"the expression at %s is no longer one C# expression once %s is substituted: a value holds a quote, a line break or a bracket that ends it early. Keep such a value out of string literals: set a variable from it (<set-variable name=\"v\" value=\"%s\" />) and read (string)context.Variables[\"v\"]",
			v.PosAt(exprStart), strings.Join(refs, ", "), refs[0]))
	}
	return out
}

// useAt says what s[k] is in the expression that starts at s[start]: code, or
// part of a literal or comment.
func useAt(s string, start, k int) NamedUse {
	var x exprScanner
	x.start(start)
	// Up to s[k] itself: after a verbatim string's closing quote, whether it
	// was one shows only at the next byte.
	for j := start + 1; j <= k; j++ {
		if j = x.skip(s, j); j > k {
			break
		}
		x.step(s[j], j)
	}
	switch x.st {
	case stCode, stSlash, stAt, stDollar, stAtDollar, stDollarAt:
		return NamedInCode
	}
	return NamedInString
}

// namedRef reports the name and length of the {{name}} at s[i], or n == 0 if there
// is none.
func namedRef(s string, i int) (name string, n int) {
	j := i + 2
	for j < len(s) && isNamedValueChar(s[j]) {
		j++
	}
	if j == i+2 || j+1 >= len(s) || s[j] != '}' || s[j+1] != '}' {
		return "", 0
	}
	return s[i+2 : j], j + 2 - i
}

func isNamedValueChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_'
}

// substituteInner replaces the named values in raw XML source, escaped for XML
// outside CDATA sections. Comments are left as they are, as in the tree.
func substituteInner(src string, named map[string]string) string {
	var b strings.Builder
	b.Grow(len(src))
	for i := 0; i < len(src); {
		rest := src[i:]
		switch {
		case strings.HasPrefix(rest, "<!--"):
			end := len(rest)
			if k := strings.Index(rest[4:], "-->"); k >= 0 {
				end = 4 + k + 3
			}
			b.WriteString(rest[:end])
			i += end
		case strings.HasPrefix(rest, "<![CDATA["):
			end := len(rest)
			if k := strings.Index(rest, "]]>"); k >= 0 {
				end = k + 3
			}
			writeNamed(&b, rest[:end], named, false)
			i += end
		default:
			end := len(rest)
			if k := strings.Index(rest[1:], "<"); k >= 0 {
				end = 1 + k
			}
			writeNamed(&b, rest[:end], named, true)
			i += end
		}
	}
	return b.String()
}

func writeNamed(b *strings.Builder, s string, named map[string]string, escape bool) {
	for {
		k := strings.Index(s, "{{")
		if k < 0 {
			b.WriteString(s)
			return
		}
		name, n := namedRef(s, k)
		val, ok := named[name]
		if n == 0 || !ok {
			b.WriteString(s[:k+1])
			s = s[k+1:]
			continue
		}
		b.WriteString(s[:k])
		if escape {
			xmlEscape(b, val)
		} else {
			b.WriteString(val)
		}
		s = s[k+n:]
	}
}

func xmlEscape(b *strings.Builder, s string) {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '&':
			b.WriteString("&amp;")
		case '<':
			b.WriteString("&lt;")
		case '>':
			b.WriteString("&gt;")
		case '"':
			b.WriteString("&quot;")
		case '\'':
			b.WriteString("&apos;")
		default:
			b.WriteByte(c)
		}
	}
}

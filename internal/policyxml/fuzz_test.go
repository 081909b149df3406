package policyxml

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/corpustest"
	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// fuzzSeeds are small inputs that reach every part of the scanner.
var fuzzSeeds = []string{
	``,
	`<policies/>`,
	"\ufeff<?xml version=\"1.0\"?>\n<!-- c --><policies><inbound><base /></inbound></policies>",
	`<a x="1" y='2'>t&lt;&#65;&#x42;<![CDATA[<c>]]><!--d--><?pi?></a>`,
	`<when condition="@(context.Request.Headers.ContainsKey("Authorization") && x < 3)"/>`,
	`<set-body>@{ var b = context.Request.Body.As<JObject>(); return b.ToString(); }</set-body>`,
	`<a x="@($"{a("}")}" + @"x""(" + '\'' /* ) */)">@{ if (x) { return "}"; } return "{"; }</a>`,
	`<a x="@($@"{x:N2}""" + @$"{{")">{{named}} {single} {{ liquid }}</a>`,
	"<a>\r\n@(\"x\")\r\n</a>",
	`<a><b></a>`,
	`<a x="@(f(1)"/>`,
	"<!-- <!-- -->",
	`<a x="&nbsp;"/>`,
}

func FuzzParse(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	if corpus, err := corpustest.Find(); err == nil {
		for _, rel := range corpusFiles(f, corpus) {
			if src, err := os.ReadFile(filepath.Join(corpus, rel)); err == nil {
				f.Add(src)
			}
		}
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		doc, err := Parse("fuzz.xml", src)
		if err != nil {
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("error %T is not an *Error: %v", err, err)
			}
			if e.Pos.Offset < 0 || e.Pos.Offset > len(src) {
				t.Fatalf("error offset %d outside the input (%d bytes): %v", e.Pos.Offset, len(src), err)
			}
			lines := srcpos.NewLines(src)
			if got := lines.Pos(e.Pos.Offset); got != e.Pos {
				t.Fatalf("error at %+v, but its offset is at %+v", e.Pos, got)
			}
			_ = e.Snippet(src)
			return
		}
		if doc.Root == nil {
			t.Fatal("no error and no root")
		}
		checkPositions(t, doc)
		checkValues(t, doc)

		// The root's inner XML, in a new root, parses to the same children.
		inner := doc.Root.InnerXML()
		again, err := Parse("inner.xml", []byte("<r>"+inner+"</r>"))
		if err != nil {
			t.Fatalf("the root's inner XML %q does not parse: %v", inner, err)
		}
		if got, want := children(again.Root), children(doc.Root); got != want {
			t.Fatalf("inner XML parses to\n%s\nwant\n%s", got, want)
		}

		// Substitution keeps the position maps consistent, whatever it finds.
		// Values contain braces, to try to form new names with the text around.
		missing := map[string]bool{}
		err = doc.SubstituteNamedValues(func(name string) (string, bool) {
			if len(name)%2 == 0 {
				missing[name] = true
				return "", false
			}
			return strings.Repeat("}}{{"+name+"}}", len(name)%3), true
		})
		if err != nil {
			for _, e := range err.(ErrorList) {
				if !bytes.HasPrefix(src[e.Pos.Offset:], []byte("{{")) && src[e.Pos.Offset] != '&' {
					t.Fatalf("error %v does not point at a named value", e)
				}
			}
		}
		checkValues(t, doc)
		// A second pass looks up only names the first could not find: never one
		// made partly of a substituted value.
		_ = doc.SubstituteNamedValues(func(name string) (string, bool) {
			if !missing[name] {
				t.Fatalf("second substitution looked up %q", name)
			}
			return "", false
		})
	})
}

// children prints an element's children for comparison.
func children(el *Element) string {
	var b strings.Builder
	for _, c := range el.Children {
		switch c := c.(type) {
		case *Element:
			b.WriteString(tree(c))
		case *Text:
			b.WriteString(strconv.Quote(c.Value.Text))
		}
	}
	return b.String()
}

// checkValues checks the position map of every value in the document.
func checkValues(t *testing.T, doc *Document) {
	t.Helper()
	var walk func(*Element)
	walk = func(el *Element) {
		for _, a := range el.Attrs {
			checkValueMap(t, doc, a.Name, a.Value)
			_ = a.Value.IsExpression()
			_ = a.Value.Redacted()
		}
		checkValueMap(t, doc, el.Name+" text", el.Text())
		for _, c := range el.Children {
			switch c := c.(type) {
			case *Element:
				walk(c)
			case *Text:
				checkValueMap(t, doc, el.Name+" text", c.Value)
			}
		}
	}
	walk(doc.Root)
}

func FuzzScanExpression(f *testing.F) {
	for _, s := range []string{
		`@(x)`, `@{ return 1; }`, `@("a)b")`, `@('(')`, `@(@"x""(")`, `@($"{a("}")}")`,
		`@{ if (x) { return "}"; } return "{"; }`, `@(a /* ) */ // )` + "\n)", `@($@"{x:N2}""")`,
		`@(@$"{ $"{y}" }")`, `@(x])`, `@("`, "@(\"\n\")", `@((((`,
	} {
		f.Add(s, 0)
	}
	f.Fuzz(func(t *testing.T, s string, i int) {
		end, err := ScanExpression(s, i)
		if err != nil {
			e, ok := err.(*ExprError)
			if !ok {
				t.Fatalf("error %T is not an *ExprError", err)
			}
			if e.Offset < 0 || e.Offset > len(s) {
				t.Fatalf("error offset %d outside the input (%d bytes)", e.Offset, len(s))
			}
			return
		}
		if end <= i+2 || end > len(s) {
			t.Fatalf("ScanExpression(%q, %d) = %d, outside the input", s, i, end)
		}
		if want := map[byte]byte{'(': ')', '{': '}'}[s[i+1]]; s[end-1] != want {
			t.Fatalf("ScanExpression(%q, %d) = %d, which does not end with %q", s, i, end, want)
		}
		// The end does not depend on what follows it.
		if got, err := ScanExpression(s[:end], i); got != end || err != nil {
			t.Fatalf("ScanExpression(%q, %d) = %d, %v; the whole input gave %d", s[:end], i, got, err, end)
		}
		if got, err := ScanExpression(s[:end]+")}]\"'", i); got != end || err != nil {
			t.Fatalf("with a suffix, ScanExpression = %d, %v; want %d", got, err, end)
		}
		// A prefix before i does not change the end.
		if got, err := ScanExpression(`"'(`+s, i+3); got != end+3 || err != nil {
			t.Fatalf("with a prefix, ScanExpression = %d, %v; want %d", got, err, end+3)
		}
		v := Value{Text: s[i:end]}
		if !v.IsExpression() {
			t.Fatalf("%q scans as an expression but IsExpression is false", s[i:end])
		}
	})
}

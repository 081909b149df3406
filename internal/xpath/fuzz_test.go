package xpath

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

// FuzzParse: any input parses into a tree that keeps its invariants, or
// fails with a *SyntaxError; it never panics.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		sample,
		`<a/>`,
		`<?xml version="1.0" encoding="us-ascii"?><a b="1">x<![CDATA[y]]>&lt;<!--c--><?p d?></a>`,
		`<p:a xmlns:p="u" xmlns="v"><b xmlns="" p:c="1"/></p:a>`,
		`<!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>`,
		`<a><b></a>`,
		"\xef\xbb\xbf<a>\r\n</a>",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, err := Parse(data, Limits{MaxDepth: 32, MaxNodes: 2000})
		if err != nil {
			var se *SyntaxError
			if !errors.As(err, &se) || se.Line < 1 || se.Col < 1 {
				t.Fatalf("error %v (%T) is not a positioned *SyntaxError", err, err)
			}
			return
		}
		checkTree(t, doc)
		roots := 0
		for _, c := range doc.Children {
			if c.Kind == ElementNode {
				roots++
			}
		}
		if roots != 1 {
			t.Fatalf("%d root elements", roots)
		}
	})
}

// FuzzEvaluate: any expression compiles or fails with a *SyntaxError, and a
// compiled one evaluates within its budget without panicking, on the sample
// or on a fuzzed document; any pattern likewise matches or fails against
// every node.
func FuzzEvaluate(f *testing.F) {
	for _, s := range []string{
		"//e[@n > 2]/..", "count(//*) div 2", "$ns[last()]/@n", "id('g1')//text()",
		"substring('12345', 1.5, 2.6)", "//a[lang('en')]/following::node()[1]",
		"/doc/namespace::*", "-(1 | 2)", "//e/@n != //d/@n", "a|d/e|@*", "key('k','x')//b",
		"translate(normalize-space(.), 'abc', 'AB')", "preceding-sibling::*[position() mod 2]",
		"(//b)[2]/ancestor::*[1]", "p:c/@*", "processing-instruction('t')", "round(-0.5) * 3",
	} {
		f.Add(s, "")
	}
	f.Add("//x[2]/preceding::node()[1]", `<x xmlns:q="u"><x q:a="1">t<!--c--></x><x><?p?></x></x>`)
	f.Add("id('i')/ancestor-or-self::*[lang('en')]", `<r xml:lang="en"><a xml:id="i"/></r>`)
	f.Add("$unsorted[1] | key('k', 'v')", `<e><e n="v"/></e>`)
	sampleDoc := mustParse(f, sample)
	f.Fuzz(func(t *testing.T, src, xml string) {
		doc := sampleDoc
		if xml != "" {
			d, err := Parse([]byte(xml), Limits{MaxDepth: 32, MaxNodes: 500})
			if err != nil {
				return
			}
			doc = d
		}
		all := mustEval(doc, "/ | //node() | //@* | //namespace::*").(NodeSet)
		st := patternStatic(doc)
		if e, err := Compile(src, st); err == nil {
			for _, n := range []*Node{doc, all[len(all)/2], all[len(all)-1]} {
				budget := int64(20000)
				v, err := e.Evaluate(&Context{Node: n, Variable: testVars(doc), Budget: &budget})
				if err == nil {
					if ns, ok := v.(NodeSet); ok && !sorted(ns) {
						t.Fatalf("%q: node-set out of order", src)
					}
					_ = String(v)
				}
			}
		} else if _, ok := err.(*SyntaxError); !ok {
			t.Fatalf("%q: error %v is not a *SyntaxError", src, err)
		}
		pats, err := CompilePattern(src, st)
		if err != nil {
			if _, ok := err.(*SyntaxError); !ok {
				t.Fatalf("%q: pattern error %v is not a *SyntaxError", src, err)
			}
			return
		}
		budget := int64(20000)
		c := &Context{Variable: testVars(doc), Budget: &budget}
		for _, p := range pats {
			for _, n := range all {
				if _, err := p.Match(c, n); errors.Is(err, ErrBudget) {
					return
				}
			}
		}
	})
}

// benchDoc is a ~10 KB document of the kind a gateway sees: a list of
// records with attributes and text.
func benchDoc() []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?><orders xmlns:x="urn:x">`)
	for i := 0; b.Len() < 10_000; i++ {
		fmt.Fprintf(&b, `<order id="%d" status="%s"><customer>Customer %d</customer><total currency="EUR">%d.50</total><x:note>n</x:note></order>`,
			i, []string{"open", "paid", "shipped"}[i%3], i, i*7%100)
	}
	b.WriteString(`</orders>`)
	return []byte(b.String())
}

func BenchmarkParse(b *testing.B) {
	data := benchDoc()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(data, Limits{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEvaluate(b *testing.B) {
	doc := mustParse(b, string(benchDoc()))
	for _, src := range []string{
		"/orders/order[@status = 'paid' and total > 50]/customer",
		"count(//order[contains(customer, '7')])",
		"sum(//total)",
	} {
		b.Run(src, func(b *testing.B) {
			e, err := Compile(src, Static{})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				budget := int64(1_000_000)
				if _, err := e.Evaluate(&Context{Node: doc, Budget: &budget}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile("/orders/order[@status = 'paid' and total > 50]/customer", Static{}); err != nil {
			b.Fatal(err)
		}
	}
}

package xpath

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// patternStatic adds a key() that selects the e elements whose n is the
// key value, as XSLT's key() would for <xsl:key name="k" match="e" use="@n">.
func patternStatic(doc *Node) Static {
	st := testStatic
	st.Function = func(q QName, arity int) (Function, bool) {
		if q != (QName{Local: "key"}) || arity != 2 {
			return nil, false
		}
		return func(c *Context, args []Value) (Value, error) {
			var out NodeSet
			for _, e := range mustEval(doc, "//e").(NodeSet) {
				if len(e.Attrs) > 0 && e.Attrs[0].Data == String(args[1]) {
					out = append(out, e)
				}
			}
			return out, nil
		}, true
	}
	return st
}

func TestPatterns(t *testing.T) {
	doc := mustParse(t, sample)
	st := patternStatic(doc)
	// Every node of the document, attributes and namespace nodes included,
	// so that each pattern is tried against all of them.
	all := mustEval(doc, "/ | //node() | //@* | //namespace::*").(NodeSet)
	tests := []struct {
		pattern string
		want    string // the nodes that match, in document order
	}{
		{"e", "[e[2] e[3.5] e[x]]"},
		{"d/e", "[e[2] e[3.5] e[x]]"},
		{"doc//e", "[e[2] e[3.5] e[x]]"},
		{"doc/e", "[]"},
		{"/doc/d/e", "[e[2] e[3.5] e[x]]"},
		{"/d/e", "[]"},
		{"//e", "[e[2] e[3.5] e[x]]"},
		{"//doc", "[doc[en-GB]]"},
		{"/doc", "[doc[en-GB]]"},
		{"/", "[/]"},
		{"/*", "[doc[en-GB]]"},
		{"e[2]", "[e[3.5]]"},
		{"e[last()]", "[e[x]]"},
		{"e[position() > 1]", "[e[3.5] e[x]]"},
		{"e[@n = 'x']", "[e[x]]"},
		{"e[@n > 2][1]", "[e[3.5]]"},
		{"*[@n][2]", "[d[5] e[3.5]]"},
		{"d[e]", "[d[5]]"},
		{"a[2]/b", "[b]"},
		{"a/b[1]", "[b b]"},
		{"@n", "[@n=10 @n=5 @n=2 @n=3.5 @n=x]"},
		{"e/@n", "[@n=2 @n=3.5 @n=x]"},
		{"@*", "[@xml:lang=en-GB @id=a1 @p:x=px @id=a2 @n=10 @n=5 @n=2 @n=3.5 @n=x @xml:id=g1 @xml:lang=de]"},
		{"@p:*", "[@p:x=px]"},
		{"@xml:lang", "[@xml:lang=en-GB @xml:lang=de]"},
		{"attribute::n[. = 5]", "[@n=5]"},
		{"@*[2]", "[@p:x=px @xml:lang=de]"},
		{"child::e[1]", "[e[2]]"},
		{"node()", "[comment(head) pi(style) doc[en-GB] a[a1] text(one) b text(two) text(three) a[a2] comment(c1) pi(t) b text(four) text(<5>&) p:c[10] text(ten) d[5] e[2] e[3.5] e[x] g[g1] h text(in g) comment(tail)]"},
		{"text()", "[text(one) text(two) text(three) text(four) text(<5>&) text(ten) text(in g)]"},
		{"a/text()[2]", "[text(three)]"},
		{"comment()", "[comment(head) comment(c1) comment(tail)]"},
		{"/comment()", "[comment(head) comment(tail)]"},
		{"processing-instruction()", "[pi(style) pi(t)]"},
		{"processing-instruction('t')", "[pi(t)]"},
		{"p:c", "[p:c[10]]"},
		{"p:*", "[p:c[10]]"},
		{"g:h", "[h]"},
		{"g:*/g:h", "[h]"},
		{"*/g:*", "[g[g1] h]"},
		{"id('g1')", "[g[g1]]"},
		{"id('g1')/g:h", "[h]"},
		{"id('g1')//g:h", "[h]"},
		{"id('g1')//text()", "[text(in g)]"},
		{"id('nope')", "[]"},
		{"key('k', 'x')", "[e[x]]"},
		{"key('k', '3.5')//node()", "[]"},
		{"doc//b//text()", "[text(two) text(four)]"},
		{"doc//a//text()", "[text(one) text(two) text(three) text(four) text(<5>&)]"},
		{"a[@id = 'a2']//node()", "[comment(c1) pi(t) b text(four) text(<5>&)]"},
		{"e[$n]", "[e[x]]"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			pats, err := CompilePattern(tt.pattern, st)
			if err != nil {
				t.Fatalf("CompilePattern: %v", err)
			}
			var got NodeSet
			c := &Context{Variable: testVars(doc)}
			for _, n := range all {
				for _, p := range pats {
					ok, err := p.Match(c, n)
					if err != nil {
						t.Fatalf("Match(%s): %v", describeNode(n), err)
					}
					if ok {
						got = append(got, n)
						break
					}
				}
			}
			if show(got) != tt.want {
				t.Errorf("got %s, want %s", show(got), tt.want)
			}
		})
	}
}

func TestPatternAlternatives(t *testing.T) {
	pats, err := CompilePattern(" a | d/e|@n  |/ ", testStatic)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range pats {
		got = append(got, p.String())
	}
	if diff := cmp.Diff([]string{"a", "d/e", "@n", "/"}, got); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestDefaultPriority(t *testing.T) {
	tests := []struct {
		pattern string
		want    float64
	}{
		{"e", 0},
		{"child::e", 0},
		{"p:c", 0},
		{"@n", 0},
		{"attribute::n", 0},
		{"@p:x", 0},
		{"processing-instruction('t')", 0},
		{"p:*", -0.25},
		{"@p:*", -0.25},
		{"*", -0.5},
		{"@*", -0.5},
		{"attribute::*", -0.5},
		{"node()", -0.5},
		{"text()", -0.5},
		{"comment()", -0.5},
		{"processing-instruction()", -0.5},
		{"d/e", 0.5},
		{"e[1]", 0.5},
		{"*[1]", 0.5},
		{"/", 0.5},
		{"/e", 0.5},
		{"//e", 0.5},
		{"id('x')", 0.5},
		{"key('k', 'v')", 0.5},
	}
	doc := mustParse(t, sample)
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			pats, err := CompilePattern(tt.pattern, patternStatic(doc))
			if err != nil {
				t.Fatal(err)
			}
			if got := pats[0].DefaultPriority(); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func TestPatternErrors(t *testing.T) {
	tests := []struct {
		pattern string
		offset  int
		msg     string
	}{
		{"", 0, "expected a node test, found the end of the expression"},
		{"ancestor::a", 0, "a pattern allows only the child and attribute axes, not ancestor"},
		{"a/descendant::b", 2, "a pattern allows only the child and attribute axes, not descendant"},
		{"1+1", 0, "expected a node test, found number"},
		{"..", 0, "expected a node test, found '..'"},
		{".", 0, "expected a node test, found '.'"},
		{"a/..", 2, "expected a node test, found '..'"},
		{"$x", 0, "expected a node test, found variable reference"},
		{"a or b", 2, "unexpected operator or"},
		{"a|", 2, "expected a node test, found the end of the expression"},
		{"id(1)", 3, "expected a string literal, found number"},
		{"key('k')", 7, "expected ',', found ')'"},
		{"key('k', 'v')", 0, "unknown function key() with 2 arguments"},
		{"count(a)", 0, "expected a node test, found name count"},
		{"id('x')/..", 8, "expected a node test, found '..'"},
		{"a[", 2, "expected a node test, found the end of the expression"},
		{"zz:a", 0, "namespace prefix zz is not declared"},
		{"(a)", 0, "expected a node test, found '('"},
		{"a//", 3, "expected a node test, found the end of the expression"},
		{"/ /", 2, "unexpected operator /"},
	}
	for _, tt := range tests {
		t.Run(tt.pattern, func(t *testing.T) {
			_, err := CompilePattern(tt.pattern, testStatic)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *SyntaxError", err)
			}
			if diff := cmp.Diff(SyntaxError{Offset: tt.offset, Msg: tt.msg}, *se); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// TestPatternBudget: matching pays for predicates and for the siblings it
// counts, so a hostile document cannot make one match run away.
func TestPatternBudget(t *testing.T) {
	doc := mustParse(t, "<r>"+strings.Repeat("<i/>", 5000)+"</r>")
	pats, err := CompilePattern("i[last()]", Static{})
	if err != nil {
		t.Fatal(err)
	}
	budget := int64(100_000)
	c := &Context{Budget: &budget}
	var err2 error
	for _, n := range doc.Children[0].Children {
		if _, err2 = pats[0].Match(c, n); err2 != nil {
			break
		}
	}
	if !errors.Is(err2, ErrBudget) {
		t.Errorf("got %v, want ErrBudget", err2)
	}
}

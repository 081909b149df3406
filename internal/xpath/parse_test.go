package xpath

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// dump renders a tree one node a line, indented, with orders, so that a
// whole parse can be compared at once.
func dump(doc *Node) string {
	var b strings.Builder
	var rec func(n *Node, depth int)
	rec = func(n *Node, depth int) {
		ind := strings.Repeat("  ", depth)
		switch n.Kind {
		case ElementNode:
			fmt.Fprintf(&b, "%s%d <%s {%s}>\n", ind, n.Order, qualified(n), n.Space)
			for _, x := range n.Namespaces() {
				fmt.Fprintf(&b, "%s  %d ns %s=%s\n", ind, x.Order, x.Prefix, x.Data)
			}
			for _, a := range n.Attrs {
				fmt.Fprintf(&b, "%s  %d @%s {%s} %q\n", ind, a.Order, qualified(a), a.Space, a.Data)
			}
		case DocumentNode:
			fmt.Fprintf(&b, "%d /\n", n.Order)
		default:
			fmt.Fprintf(&b, "%s%d %s %q\n", ind, n.Order, describeNode(n), n.Data)
		}
		for _, c := range n.Children {
			rec(c, depth+1)
		}
	}
	rec(doc, 0)
	return b.String()
}

// checkTree verifies the invariants every tree must keep: parents, the root,
// and orders increasing in document order.
func checkTree(t testing.TB, doc *Node) {
	t.Helper()
	last := -1
	var rec func(n, parent *Node)
	rec = func(n, parent *Node) {
		if n.Parent != parent {
			t.Fatalf("%s: wrong parent", describeNode(n))
		}
		if n.Root() != doc {
			t.Fatalf("%s: wrong root", describeNode(n))
		}
		if n.Order <= last {
			t.Fatalf("%s: order %d after %d", describeNode(n), n.Order, last)
		}
		last = n.Order
		for _, x := range n.Namespaces() {
			rec(x, n)
		}
		for _, x := range n.Attrs {
			rec(x, n)
		}
		for i, x := range n.Children {
			if x.Kind == TextNode && (x.Data == "" || i > 0 && n.Children[i-1].Kind == TextNode) {
				t.Fatalf("empty or adjacent text node %q", x.Data)
			}
			rec(x, n)
		}
	}
	rec(doc, nil)
}

func TestParse(t *testing.T) {
	doc := mustParse(t, "<?xml version='1.0' encoding='us-ascii'?>\n<!--c-->\n<r xmlns='urn:d' xmlns:p='urn:p' a='1' p:b='2'>x<![CDATA[<y>]]>&lt;&#65;\n"+
		"  <p:s xmlns:p='urn:q' xml:lang='en'/><t xmlns=''>\r\n</t><?pi  data ?></r>")
	checkTree(t, doc)
	want := `0 /
  1 comment(c) "c"
  2 <r {urn:d}>
    3 ns xml=http://www.w3.org/XML/1998/namespace
    4 ns =urn:d
    5 ns p=urn:p
    6 @a {} "1"
    7 @p:b {urn:p} "2"
    8 text(x<y><A
  ) "x<y><A\n  "
    9 <p:s {urn:q}>
      10 ns xml=http://www.w3.org/XML/1998/namespace
      11 ns =urn:d
      12 ns p=urn:q
      13 @xml:lang {http://www.w3.org/XML/1998/namespace} "en"
    14 <t {}>
      15 ns xml=http://www.w3.org/XML/1998/namespace
      16 ns p=urn:p
      17 text(
) "\n"
    18 pi(pi) "data "
`
	if diff := cmp.Diff(want, dump(doc)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
		lim  Limits
		line int
		col  int
		msg  string
	}{
		{"doctype", `<!DOCTYPE a [<!ENTITY x "y">]><a>&x;</a>`, Limits{}, 1, 1, "DOCTYPE and other declarations are not accepted"},
		{"doctype later", "<?xml version='1.0'?>\n<!DOCTYPE a>\n<a/>", Limits{}, 2, 1, "DOCTYPE and other declarations are not accepted"},
		{"entity", `<a>&x;</a>`, Limits{}, 1, 7, "invalid character entity &x;"},
		{"undeclared element prefix", `<a><p:b/></a>`, Limits{}, 1, 4, "prefix p is not declared"},
		{"undeclared attribute prefix", `<a p:x="1"/>`, Limits{}, 1, 1, "prefix p is not declared"},
		{"mismatched end", "<a>\n<b>\n</a>", Limits{}, 3, 1, "end tag </a> does not close <b>"},
		{"end without start", `<a/></a>`, Limits{}, 1, 5, "end tag </a> without a start tag"},
		{"two roots", `<a/><b/>`, Limits{}, 1, 5, "a second root element <b>"},
		{"text outside", `x<a/>`, Limits{}, 1, 1, "text outside the root element"},
		{"text after", `<a/>x`, Limits{}, 1, 5, "text outside the root element"},
		{"empty", ``, Limits{}, 1, 1, "no root element"},
		{"only a comment", `<!--x-->`, Limits{}, 1, 9, "no root element"},
		{"unclosed", `<a><b>`, Limits{}, 1, 7, "the document ends inside <b>"},
		{"depth", `<a><a><a><a/></a></a></a>`, Limits{MaxDepth: 3}, 1, 10, "elements are nested more than 3 deep"},
		{"nodes", `<a><b/><b/><b/><b/></a>`, Limits{MaxNodes: 5}, 1, 20, "the document has more than 5 nodes"},
		{"namespace declarations count", `<a xmlns:p="u" xmlns:q="v"><b/></a>`, Limits{MaxNodes: 5}, 1, 32, "the document has more than 5 nodes"},
		{"encoding", `<?xml version="1.0" encoding="ISO-8859-1"?><a/>`, Limits{}, 1, 44, `encoding "ISO-8859-1" is not supported: send UTF-8`},
		{"late declaration", ` <?xml version="1.0"?><a/>`, Limits{}, 1, 2, "an XML declaration is allowed only at the very start"},
		{"duplicate attribute", `<a x="1" x="2"/>`, Limits{}, 1, 1, "attribute x appears twice on <a>"},
		{"duplicate expanded name", `<a xmlns:p="u" xmlns:q="u" p:x="1" q:x="2"/>`, Limits{}, 1, 1, "attribute q:x appears twice on <a>"},
		{"undeclare prefix", `<a xmlns:p=""/>`, Limits{}, 1, 1, "prefix p cannot be undeclared"},
		{"rebind xml", `<a xmlns:xml="urn:x"/>`, Limits{}, 1, 1, "the xml prefix is bound to http://www.w3.org/XML/1998/namespace and only it"},
		{"bind xmlns", `<a xmlns:xmlns="urn:x"/>`, Limits{}, 1, 1, "the xmlns prefix and namespace are reserved"},
		{"xmlns element", `<xmlns:a/>`, Limits{}, 1, 1, `"xmlns:a" is not a valid name`},
		{"bad utf-8", "<a>\xff</a>", Limits{}, 1, 5, "invalid UTF-8"},
		{"bad char", "<a>\x01</a>", Limits{}, 1, 5, "illegal character code U+0001"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse([]byte(tt.in), tt.lim)
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("got %v, want a *SyntaxError", err)
			}
			if diff := cmp.Diff(SyntaxError{Line: tt.line, Col: tt.col, Msg: tt.msg}, *se); diff != "" {
				t.Errorf("(-want +got)\n%s", diff)
			}
		})
	}
}

// TestParseLimits: many attributes and entities are linear, and the
// defaults allow an ordinary document.
func TestParseLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("<a")
	for i := range 5000 {
		fmt.Fprintf(&b, " a%d='%d'", i, i)
	}
	b.WriteString(">")
	for range 5000 {
		b.WriteString("x<![CDATA[y]]>&amp;")
	}
	b.WriteString("</a>")
	doc := mustParse(t, b.String())
	a := doc.Children[0]
	if len(a.Attrs) != 5000 || len(a.Children) != 1 || len(a.Children[0].Data) != 5000*3 {
		t.Errorf("got %d attributes, %d children", len(a.Attrs), len(a.Children))
	}
	checkTree(t, doc)
	deep := strings.Repeat("<a>", 256) + strings.Repeat("</a>", 256)
	if _, err := Parse([]byte(deep), Limits{}); err != nil {
		t.Errorf("256 deep: %v", err)
	}
	if _, err := Parse([]byte("<a>"+deep+"</a>"), Limits{}); err == nil {
		t.Error("257 deep: no error")
	}
	if _, err := Parse([]byte("\xef\xbb\xbf<a/>"), Limits{}); err != nil {
		t.Errorf("with a byte order mark: %v", err)
	}
}

func TestBuilder(t *testing.T) {
	b := NewBuilder()
	b.Comment("c")
	b.StartElement("urn:d", "", "r")
	b.Namespace("p", "urn:p")
	b.Attr("", "", "a", "1")
	b.Attr("urn:q", "q", "b", "2")
	b.Attr("", "", "a", "one") // replaces
	b.Text("x")
	b.Text("")
	b.Text("y")
	b.StartElement("", "", "plain") // undeclares the default namespace
	b.Text("z")
	b.EndElement()
	b.Text("w")
	b.StartElement("urn:p", "p", "s")
	b.ProcessingInstruction("pi", "data")
	b.EndElement()
	b.StartElement("urn:d", "", "open")
	b.Text("left open")
	doc := b.Document()
	b.Text("ignored after Document")
	if b.Document() != doc {
		t.Error("Document returned a different node the second time")
	}
	checkTree(t, doc)
	want := `0 /
  1 comment(c) "c"
  2 <r {urn:d}>
    3 ns xml=http://www.w3.org/XML/1998/namespace
    4 ns p=urn:p
    5 ns =urn:d
    6 ns q=urn:q
    7 @a {} "one"
    8 @q:b {urn:q} "2"
    9 text(xy) "xy"
    10 <plain {}>
      11 ns xml=http://www.w3.org/XML/1998/namespace
      12 ns p=urn:p
      13 ns q=urn:q
      14 text(z) "z"
    15 text(w) "w"
    16 <p:s {urn:p}>
      17 ns xml=http://www.w3.org/XML/1998/namespace
      18 ns p=urn:p
      19 ns =urn:d
      20 ns q=urn:q
      21 pi(pi) "data"
    22 <open {urn:d}>
      23 ns xml=http://www.w3.org/XML/1998/namespace
      24 ns p=urn:p
      25 ns =urn:d
      26 ns q=urn:q
      27 text(left open) "left open"
`
	if diff := cmp.Diff(want, dump(doc)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
	// XPath navigates a built tree like a parsed one.
	st := Static{Namespace: func(p string) (string, bool) { return "urn:" + p, true }}
	e, err := Compile("concat(count(/d:r/node()), string(/d:r), /d:r/@q:b, name(//p:s/namespace::*[. = 'urn:q']))", st)
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Evaluate(&Context{Node: doc})
	if err != nil || v != "5xyzwleft open2q" {
		t.Errorf("got %v, %v", v, err)
	}
	// Misuse is ignored, not a panic.
	m := NewBuilder()
	m.EndElement()
	m.Attr("", "", "a", "1")
	m.Namespace("p", "u")
	m.Text("top-level text")
	if got := dump(m.Document()); got != "0 /\n  1 text(top-level text) \"top-level text\"\n" {
		t.Errorf("misused builder gave\n%s", got)
	}
}

// TestOrderAcrossTrees: node-sets that mix trees are still ordered
// consistently and without duplicates.
func TestOrderAcrossTrees(t *testing.T) {
	one := mustParse(t, "<a><b/><b/></a>")
	b := NewBuilder()
	b.StartElement("", "", "b")
	b.EndElement()
	two := b.Document()
	vars := func(q QName) (Value, bool) { return NodeSet{two.Children[0]}, true }
	e, err := Compile("$x | //b | $x | /a/b[2]", Static{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := e.Evaluate(&Context{Node: one, Variable: vars})
	if err != nil {
		t.Fatal(err)
	}
	ns := v.(NodeSet)
	if len(ns) != 3 || !sorted(ns) {
		t.Fatalf("got %d nodes, sorted %v", len(ns), sorted(ns))
	}
	if Compare(one, two) == 0 || Compare(one, two) != -Compare(two, one) {
		t.Error("trees are not ordered consistently")
	}
}

func TestStripSpace(t *testing.T) {
	doc := mustParse(t, "<r>\n  <a> </a>\n  <keep>\n    <b/>\n  </keep>\n  <a>x</a>\n</r>")
	notKeep := func(e *Node) bool { return e.Local != "keep" }
	got := StripSpace(doc, notKeep)
	if got == doc {
		t.Fatal("nothing was stripped")
	}
	checkTree(t, got)
	e, _ := Compile("count(//text())", Static{})
	for _, tt := range []struct {
		doc  *Node
		want float64
	}{{doc, 8}, {got, 3}} {
		if v, err := e.Evaluate(&Context{Node: tt.doc}); err != nil || v != tt.want {
			t.Errorf("got %v, %v, want %v text nodes", v, err, tt.want)
		}
	}
	if StripSpace(got, notKeep) != got {
		t.Error("a tree with nothing to strip was copied")
	}
	if StripSpace(doc, func(*Node) bool { return false }) != doc {
		t.Error("a tree with nothing to strip was copied")
	}
	if StringValue(doc) != "\n   \n  \n    \n  \n  x\n" || StringValue(got) != "\n    \n  x" {
		t.Errorf("string-values %q and %q", StringValue(doc), StringValue(got))
	}
}

func TestErrorStrings(t *testing.T) {
	tests := []struct {
		err  error
		want string
	}{
		{&SyntaxError{Line: 2, Col: 5, Msg: "no root element"}, "xml syntax error at line 2, column 5: no root element"},
		{&SyntaxError{Offset: 3, Msg: "unknown axis x"}, "xpath syntax error at offset 3: unknown axis x"},
		{ErrBudget, "xpath: the expression needs more steps than allowed"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("got %q, want %q", got, tt.want)
		}
	}
	var kinds []string
	for k := Kind(0); k <= NamespaceNode; k++ {
		kinds = append(kinds, k.String())
	}
	want := []string{"invalid", "document", "element", "attribute", "text", "comment", "processing-instruction", "namespace"}
	if diff := cmp.Diff(want, kinds); diff != "" {
		t.Errorf("Kind.String (-want +got)\n%s", diff)
	}
}

// TestBuilderDetails: redeclaring a prefix replaces it, text split by other
// nodes stays apart, and elements nest as started.
func TestBuilderDetails(t *testing.T) {
	b := NewBuilder()
	b.StartElement("", "", "r")
	b.Namespace("p", "urn:one")
	b.Namespace("p", "urn:two")
	b.Namespace("", "urn:default-but-unused")
	b.Text("a")
	b.Comment("c")
	b.Text("b")
	b.StartElement("", "", "x")
	b.EndElement()
	b.Text("c")
	b.Text("d")
	b.EndElement()
	b.EndElement() // one too many: ignored
	doc := b.Document()
	checkTree(t, doc)
	want := `0 /
  1 <r {}>
    2 ns xml=http://www.w3.org/XML/1998/namespace
    3 ns p=urn:two
    4 text(a) "a"
    5 comment(c) "c"
    6 text(b) "b"
    7 <x {}>
      8 ns xml=http://www.w3.org/XML/1998/namespace
      9 ns p=urn:two
    10 text(cd) "cd"
`
	if diff := cmp.Diff(want, dump(doc)); diff != "" {
		t.Errorf("(-want +got)\n%s", diff)
	}
}

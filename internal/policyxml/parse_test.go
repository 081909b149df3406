package policyxml

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// tree prints an element compactly for comparison: attribute values and text are
// quoted decoded text, empty elements are written <name/>.
func tree(el *Element) string {
	var b strings.Builder
	var walk func(*Element)
	walk = func(el *Element) {
		b.WriteString("<" + el.Name)
		for _, a := range el.Attrs {
			fmt.Fprintf(&b, " %s=%q", a.Name, a.Value.Text)
		}
		if len(el.Children) == 0 {
			b.WriteString("/>")
			return
		}
		b.WriteString(">")
		for _, c := range el.Children {
			switch c := c.(type) {
			case *Element:
				walk(c)
			case *Text:
				b.WriteString(strconv.Quote(c.Value.Text))
			}
		}
		b.WriteString("</" + el.Name + ">")
	}
	walk(el)
	return b.String()
}

func TestParseTree(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"empty element", `<policies/>`, `<policies/>`},
		{"empty element with space", `<policies />`, `<policies/>`},
		{"start and end", `<policies></policies>`, `<policies/>`},
		{"nested", `<policies><inbound><base /></inbound></policies>`, `<policies><inbound><base/></inbound></policies>`},
		{"white space text kept", "<a>\n  <b/>\n</a>", `<a>"\n  "<b/>"\n"</a>`},
		{"double quoted attribute", `<a x="1"/>`, `<a x="1"/>`},
		{"single quoted attribute", `<a x='1'/>`, `<a x="1"/>`},
		{"double quote inside single quotes", `<a x='say "hi"'/>`, `<a x="say \"hi\""/>`},
		{"single quote inside double quotes", `<a x="it's"/>`, `<a x="it's"/>`},
		{"empty attribute", `<a x=""/>`, `<a x=""/>`},
		{"spaces around equals", "<a x = \"1\"\n\ty\t=\t'2' />", `<a x="1" y="2"/>`},
		{"attribute order kept", `<a z="1" a="2" m="3"/>`, `<a z="1" a="2" m="3"/>`},
		{"names with punctuation", `<xsl:value-of select="." my_attr.x="1"/>`, `<xsl:value-of select="." my_attr.x="1"/>`},
		{"greater than in attribute", `<a x="a>b"/>`, `<a x="a>b"/>`},
		{"text", `<a>hello</a>`, `<a>"hello"</a>`},
		{"entities in text", `<a>&lt;&gt;&amp;&quot;&apos;</a>`, `<a>"<>&\"'"</a>`},
		{"entities in attribute", `<a x="&lt;b&gt; &amp; &quot;c&quot; &apos;"/>`, `<a x="<b> & \"c\" '"/>`},
		{"character references", `<a x="&#65;&#x42;&#X43;&#10;&#xe9;&#x1F600;">&#9;</a>`, `<a x="ABC\né😀">"\t"</a>`},
		{"CDATA", `<a><![CDATA[<b> & "c" ]]></a>`, `<a>"<b> & \"c\" "</a>`},
		{"CDATA joined with text", `<a>x<![CDATA[<y>]]>z</a>`, `<a>"x<y>z"</a>`},
		{"empty CDATA", `<a><![CDATA[]]></a>`, `<a/>`},
		{"comment dropped and text joined", `<a>x<!-- c -->y</a>`, `<a>"xy"</a>`},
		{"comment only", `<a><!-- c --></a>`, `<a/>`},
		{"empty comment", `<a><!----></a>`, `<a/>`},
		{"comment with dashes and tags", `<a><!-- - <b> -x- --></a>`, `<a/>`},
		{"processing instruction dropped", `<a>x<?pi data?>y</a>`, `<a>"xy"</a>`},
		{"xml declaration", `<?xml version="1.0" encoding="utf-8"?>` + "\n<a/>", `<a/>`},
		{"BOM", "\ufeff<a/>", `<a/>`},
		{"BOM and declaration", "\ufeff<?xml version=\"1.0\"?><a/>", `<a/>`},
		{"comments around root", "<!-- a -->\n<a/>\n<!-- b -->\n", `<a/>`},
		{"CRLF in text", "<a>x\r\ny\rz</a>", `<a>"x\ny\nz"</a>`},
		{"CRLF in attribute", "<a x=\"1\r\n2\"/>", `<a x="1\n2"/>`},
		{"CRLF in CDATA", "<a><![CDATA[1\r\n2]]></a>", `<a>"1\n2"</a>`},
		{"single braces are text", `<a x="/v1/{id}/{{"/>`, `<a x="/v1/{id}/{{"/>`},
		{"non-ASCII names and text", `<é ü="ö">ß</é>`, `<é ü="ö">"ß"</é>`},
		{"at sign without bracket", `<a x="user@example.com">@ b</a>`, `<a x="user@example.com">"@ b"</a>`},

		// Expressions: raw quotes, '<', '>' and '&' are C# code.
		{"quotes in attribute expression",
			`<when condition="@(context.Request.Headers.ContainsKey("Authorization") && x < 3)"/>`,
			`<when condition="@(context.Request.Headers.ContainsKey(\"Authorization\") && x < 3)"/>`},
		{"single quote attribute with char literal",
			`<a x='@(s.Split(',')[0])'/>`, `<a x="@(s.Split(',')[0])"/>`},
		{"block in text",
			`<set-body>@{ var b = context.Request.Body.As<JObject>(); return b.ToString(); }</set-body>`,
			`<set-body>"@{ var b = context.Request.Body.As<JObject>(); return b.ToString(); }"</set-body>`},
		{"end tag inside a string in text",
			`<set-body>@("</set-body>")</set-body>`, `<set-body>"@(\"</set-body>\")"</set-body>`},
		{"expression with text around it",
			`<a x="Bearer @(token) !">pre @{ return "}"; } post</a>`,
			`<a x="Bearer @(token) !">"pre @{ return \"}\"; } post"</a>`},
		{"escaped entities decoded inside expression",
			`<a x="@(x.Equals(&quot;a)b&quot;) &amp;&amp; y &lt; 2)"/>`,
			`<a x="@(x.Equals(\"a)b\") && y < 2)"/>`},
		{"raw ampersand inside expression",
			`<a x="@(a & b &&c &foo; &#zz;)"/>`, `<a x="@(a & b &&c &foo; &#zz;)"/>`},
		{"comment markers inside expression are code",
			`<a>@("<!-- not a comment -->")</a>`, `<a>"@(\"<!-- not a comment -->\")"</a>`},
		{"CDATA is literal, expression inside it not scanned",
			`<a><![CDATA[@("]]></a>`, `<a>"@(\""</a>`},
		{"verbatim string across lines",
			"<a>@(@\"line1\n\"\"line2\"\"\")</a>", `<a>"@(@\"line1\n\"\"line2\"\"\")"</a>`},
		{"interpolated string with quotes in hole",
			`<a x="@($"{a("}")}")"/>`, `<a x="@($\"{a(\"}\")}\")"/>`},
		{"expression with CRLF",
			"<a>@{\r\nreturn 1;\r\n}</a>", `<a>"@{\nreturn 1;\n}"</a>`},
		{"expression in both quotes",
			`<a x='@(y == "it's")' z="@('"')"/>`, `<a x="@(y == \"it's\")" z="@('\"')"/>`},
		{"formatter damage that is still C#",
			`<when condition="@(new [] {"post=""", "put="""}.Contains(m))"/>`,
			`<when condition="@(new [] {\"post=\"\"\", \"put=\"\"\"}.Contains(m))"/>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse("p.xml", []byte(tt.src))
			if err != nil {
				t.Fatalf("Parse(%q): %v", tt.src, err)
			}
			if got := tree(doc.Root); got != tt.want {
				t.Errorf("Parse(%q)\n got: %s\nwant: %s", tt.src, got, tt.want)
			}
		})
	}
}

// positions prints every element, attribute and text with its positions.
func positions(el *Element) []string {
	var out []string
	var walk func(*Element)
	walk = func(el *Element) {
		out = append(out, fmt.Sprintf("<%s> %s-%s inner %s", el.Name, el.Pos, el.End, el.InnerPos()))
		for _, a := range el.Attrs {
			out = append(out, fmt.Sprintf("  %s at %s, value at %s", a.Name, a.NamePos, a.Value.Pos()))
		}
		for _, c := range el.Children {
			switch c := c.(type) {
			case *Element:
				walk(c)
			case *Text:
				out = append(out, fmt.Sprintf("  text %q at %s", c.Value.Text, c.Value.Pos()))
			}
		}
	}
	walk(el)
	return out
}

func TestPositions(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want []string
	}{
		{
			name: "document",
			src: "<policies>\n" +
				"  <inbound>\n" +
				"    <set-header name=\"x\" exists-action='override'>\n" +
				"      <value>v</value>\n" +
				"    </set-header>\n" +
				"  </inbound>\n" +
				"</policies>\n",
			want: []string{
				"<policies> 1:1-7:12 inner 1:11",
				`  text "\n  " at 1:11`,
				"<inbound> 2:3-6:13 inner 2:12",
				`  text "\n    " at 2:12`,
				"<set-header> 3:5-5:18 inner 3:51",
				"  name at 3:17, value at 3:23",
				"  exists-action at 3:26, value at 3:41",
				`  text "\n      " at 3:51`,
				"<value> 4:7-4:23 inner 4:14",
				`  text "v" at 4:14`,
				`  text "\n    " at 4:23`,
				`  text "\n  " at 5:18`,
				`  text "\n" at 6:13`,
			},
		},
		{
			name: "self-closing and empty value",
			src:  "<a><b x=\"\" /></a>",
			want: []string{
				"<a> 1:1-1:18 inner 1:4",
				"<b> 1:4-1:14 inner 1:14",
				"  x at 1:7, value at 1:10",
			},
		},
		{
			name: "BOM is not counted in columns",
			src:  "\ufeff<a x=\"1\">\n<b/></a>",
			want: []string{
				"<a> 1:1-2:9 inner 1:10",
				"  x at 1:4, value at 1:7",
				`  text "\n" at 1:10`,
				"<b> 2:1-2:5 inner 2:5",
			},
		},
		{
			name: "text after a comment starts after it",
			src:  "<a><!-- c -->text</a>",
			want: []string{
				"<a> 1:1-1:22 inner 1:4",
				`  text "text" at 1:14`,
			},
		},
		{
			name: "CRLF lines",
			src:  "<a>\r\n<b y=\"1\"/>\r\n</a>",
			want: []string{
				"<a> 1:1-3:5 inner 1:4",
				`  text "\n" at 1:4`,
				"<b> 2:1-2:11 inner 2:11",
				"  y at 2:4, value at 2:7",
				`  text "\n" at 2:11`,
			},
		},
		{
			name: "expression spanning lines",
			src:  "<a x=\"@(f(\n\"<\"))\" y=\"2\"/>",
			want: []string{
				"<a> 1:1-2:15 inner 2:15",
				"  x at 1:4, value at 1:7",
				"  y at 2:8, value at 2:11",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse("p.xml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, positions(doc.Root)); diff != "" {
				t.Errorf("positions (-want +got):\n%s", diff)
			}
			checkPositions(t, doc)
		})
	}
}

// checkPositions checks that every position in the tree agrees with
// Document.Position and lies inside the file.
func checkPositions(t *testing.T, doc *Document) {
	t.Helper()
	var walk func(*Element)
	walk = func(el *Element) {
		for _, p := range []Pos{el.Pos, el.End} {
			if got := doc.Position(p.Offset); got != p {
				t.Errorf("<%s>: Position(%d) = %v, the tree has %v", el.Name, p.Offset, got, p)
			}
		}
		if !(el.Pos.Offset < el.End.Offset && el.End.Offset <= len(doc.Src)) {
			t.Errorf("<%s>: Pos %d, End %d, file length %d", el.Name, el.Pos.Offset, el.End.Offset, len(doc.Src))
		}
		if doc.Src[el.Pos.Offset] != '<' || doc.Src[el.End.Offset-1] != '>' {
			t.Errorf("<%s>: source from Pos to End is %q", el.Name, doc.Src[el.Pos.Offset:el.End.Offset])
		}
		for _, a := range el.Attrs {
			if got := doc.Position(a.NamePos.Offset); got != a.NamePos {
				t.Errorf("<%s %s>: Position(%d) = %v, NamePos is %v", el.Name, a.Name, a.NamePos.Offset, got, a.NamePos)
			}
			if !bytes.HasPrefix(doc.Src[a.NamePos.Offset:], []byte(a.Name)) {
				t.Errorf("<%s %s>: NamePos %v is not at the name", el.Name, a.Name, a.NamePos)
			}
			if p := a.Value.Pos(); p.Offset < a.NamePos.Offset || p.Offset > el.End.Offset {
				t.Errorf("<%s %s>: value at %v is outside the element", el.Name, a.Name, p)
			}
		}
		for _, c := range el.Children {
			switch c := c.(type) {
			case *Element:
				if c.Pos.Offset < el.InnerPos().Offset || c.End.Offset > el.End.Offset {
					t.Errorf("<%s> at %v-%v is outside its parent <%s> at %v-%v", c.Name, c.Pos, c.End, el.Name, el.Pos, el.End)
				}
				walk(c)
			case *Text:
				if c.Value.Text == "" {
					t.Errorf("<%s>: empty text node", el.Name)
				}
			}
		}
	}
	walk(doc.Root)
}

func TestPosAt(t *testing.T) {
	type at struct {
		Off int
		Pos string
	}
	tests := []struct {
		name  string
		src   string
		value func(*Document) Value
		want  []at
	}{
		{
			name:  "plain attribute",
			src:   `<a x="hello"/>`,
			value: func(d *Document) Value { return d.Root.Attr("x").Value },
			want:  []at{{0, "1:7"}, {4, "1:11"}, {5, "1:12"}},
		},
		{
			name:  "entities map to their ampersand",
			src:   `<a x="a&amp;b&#x41;c"/>`,
			value: func(d *Document) Value { return d.Root.Attr("x").Value },
			// text "a&bAc"
			want: []at{{0, "1:7"}, {1, "1:8"}, {2, "1:13"}, {3, "1:14"}, {4, "1:20"}, {5, "1:21"}},
		},
		{
			name:  "multi-byte character reference",
			src:   `<a x="&#xe9;z"/>`,
			value: func(d *Document) Value { return d.Root.Attr("x").Value },
			// text "\xc3\xa9z": both bytes of é map to the '&'
			want: []at{{0, "1:7"}, {1, "1:7"}, {2, "1:13"}},
		},
		{
			name:  "across lines",
			src:   "<a>\n  line2 &lt;\n  line3</a>",
			value: func(d *Document) Value { return d.Root.Text() },
			// text "\n  line2 <\n  line3"
			want: []at{{0, "1:4"}, {3, "2:3"}, {9, "2:9"}, {10, "2:13"}, {13, "3:3"}},
		},
		{
			name:  "CRLF",
			src:   "<a>x\r\ny</a>",
			value: func(d *Document) Value { return d.Root.Text() },
			want:  []at{{0, "1:4"}, {1, "1:5"}, {2, "2:1"}, {3, "2:2"}},
		},
		{
			name:  "text around a comment and a CDATA section",
			src:   "<a>ab<!--c--><![CDATA[de]]>f</a>",
			value: func(d *Document) Value { return d.Root.Text() },
			// text "abdef"
			want: []at{{0, "1:4"}, {1, "1:5"}, {2, "1:23"}, {3, "1:24"}, {4, "1:28"}, {5, "1:29"}},
		},
		{
			name:  "text joined across child elements",
			src:   "<a>ab<b/>cd</a>",
			value: func(d *Document) Value { return d.Root.Text() },
			want:  []at{{0, "1:4"}, {1, "1:5"}, {2, "1:10"}, {3, "1:11"}, {4, "1:12"}},
		},
		{
			name:  "expression with escaped quotes",
			src:   `<a x="@(f(&quot;k&quot;) + 1)"/>`,
			value: func(d *Document) Value { return d.Root.Attr("x").Value },
			// text `@(f("k") + 1)`
			want: []at{{0, "1:7"}, {4, "1:11"}, {5, "1:17"}, {6, "1:18"}, {8, "1:25"}, {12, "1:29"}},
		},
		{
			name:  "out of range offsets are clamped",
			src:   `<a x="ab"/>`,
			value: func(d *Document) Value { return d.Root.Attr("x").Value },
			want:  []at{{-5, "1:7"}, {99, "1:9"}},
		},
		{
			name:  "zero value has no position",
			src:   `<a/>`,
			value: func(d *Document) Value { return d.Root.Text() },
			want:  []at{{0, "0:0"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse("p.xml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			v := tt.value(doc)
			var got []at
			for _, w := range tt.want {
				got = append(got, at{w.Off, v.PosAt(w.Off).String()})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PosAt of %q (-want +got):\n%s", v.Text, diff)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"empty", ``, `p.xml:1:1: empty document: expected a root element such as <policies> or <fragment>`},
		{"only space and comments", "  <!-- x -->\n", `p.xml:2:1: empty document: expected a root element such as <policies> or <fragment>`},
		{"only BOM", "\ufeff", `p.xml:1:1: empty document: expected a root element such as <policies> or <fragment>`},
		{"text before root", "\n  hello <a/>", `p.xml:2:3: unexpected text "hello" before the root element: a policy document starts with <policies> or <fragment>`},
		{"text after root", "<a/>\nworld", `p.xml:2:1: unexpected text "world" after the root element <a> closed at 1:5: a document has one root element and nothing else but comments`},
		{"long text outside root is shortened", "<a/>abcdefghijklmnopqrstuvwxyz0123456789", `p.xml:1:5: unexpected text "abcdefghijklmnopqrstuvwx..." after the root element <a> closed at 1:5: a document has one root element and nothing else but comments`},
		{"second root", "<a/>\n<b/>", `p.xml:2:1: second root element <b>: the document already has the root element <a> at 1:1, and a document has only one`},
		{"CDATA outside root", "<![CDATA[x]]><a/>", `p.xml:1:1: CDATA section outside the root element: text belongs inside an element`},
		{"DOCTYPE", "<!DOCTYPE a><a/>", `p.xml:1:1: <!DOCTYPE> is not supported: a policy document has no document type declaration`},
		{"other markup outside root", "<!ELEMENT a><a/>", `p.xml:1:1: unexpected "<!": expected "<!--" to start a comment`},
		{"other markup in content", "<a><!ENTITY x></a>", `p.xml:1:4: unexpected "<!": expected "<!--" to start a comment or "<![CDATA[" to start a CDATA section`},
		{"unterminated comment", "<a>\n<!-- x </a>", `p.xml:2:1: unterminated comment: "<!--" has no matching "-->"`},
		{"comment opened twice", "<!-- one\n<!-- two -->\n<a/>", `p.xml:2:1: "<!--" inside the comment opened at 1:1: comments cannot nest; close the first comment with "-->"`},
		{"double dash in comment", "<a><!-- a -- b --></a>", `p.xml:1:11: "--" inside the comment opened at 1:4: XML does not allow "--" in a comment except in the closing "-->"`},
		{"comment ending with three dashes", "<a><!-- a ---></a>", `p.xml:1:11: "--" inside the comment opened at 1:4: XML does not allow "--" in a comment except in the closing "-->"`},
		{"unterminated CDATA", "<a><![CDATA[x</a>", `p.xml:1:4: unterminated CDATA section: "<![CDATA[" has no matching "]]>"`},
		{"unterminated processing instruction", "<?xml version='1.0'\n<a/>", `p.xml:1:1: unterminated processing instruction: "<?" has no matching "?>"`},
		{"no name after <", "< a/>", `p.xml:1:1: expected an element name after "<", found ' '`},
		{"less than in text", "<a>x < 3</a>", `p.xml:1:6: expected an element name after "<", found ' ' (write &lt; for a literal "<" in text)`},
		{"less than at end", "<a>x <", `p.xml:1:6: unexpected end of input after "<": expected an element name`},
		{"unterminated start tag", "<a>\n  <set-header name=\"x\"", `p.xml:2:3: unexpected end of input in start tag <set-header>: expected ">" or "/>"`},
		{"slash without >", `<a x="1" / >`, `p.xml:1:10: unexpected "/" in start tag <a>: expected "/>"`},
		{"bad character in start tag", `<a x="1" ?>`, `p.xml:1:10: unexpected '?' in start tag <a>: expected an attribute name, ">" or "/>"`},
		{"missing space between attributes", `<a x="1"y="2"/>`, `p.xml:1:9: expected white space before attribute "y" in <a>`},
		{"missing equals", `<a x "1"/>`, `p.xml:1:6: expected "=" after attribute name "x" in <a>, found '"'`},
		{"missing equals at end", `<a x`, `p.xml:1:1: unexpected end of input in start tag <a>: expected "=" after attribute "x"`},
		{"missing value at end", `<a x=`, `p.xml:1:1: unexpected end of input in start tag <a>: expected a quoted value for attribute "x"`},
		{"unquoted value", `<a x=1/>`, `p.xml:1:6: expected a quoted value for attribute "x", found '1': write x="..."`},
		{"unterminated attribute value", "<policies>\n  <inbound>\n    <set-header name=\"x\n", `p.xml:3:17: unexpected end of input in attribute value: the value of "name" opened at 3:22 has no closing "`},
		{"unterminated single-quoted value", "<a x='1\"/>", `p.xml:1:4: unexpected end of input in attribute value: the value of "x" opened at 1:6 has no closing '`},
		{"less than in attribute", `<a x="1<2"/>`, `p.xml:1:8: "<" in the value of attribute "x": write &lt;, or put it inside an @(...) expression`},
		{"duplicate attribute", "<a x=\"1\"\n   x='2'/>", `p.xml:2:4: duplicate attribute "x" in <a>: it is already set at 1:4`},
		{"bare ampersand in attribute", `<a x="/v2/{p1}&{p2}"/>`, `p.xml:1:15: "&" must start an entity reference such as &amp; or &lt; (write &amp; for a literal "&")`},
		{"bare ampersand in text", `<a>fish & chips</a>`, `p.xml:1:9: "&" must start an entity reference such as &amp; or &lt; (write &amp; for a literal "&")`},
		{"ampersand at end", `<a>x&`, `p.xml:1:5: "&" must start an entity reference such as &amp; or &lt; (write &amp; for a literal "&")`},
		{"empty reference", `<a>&;</a>`, `p.xml:1:4: "&" must start an entity reference such as &amp; or &lt; (write &amp; for a literal "&")`},
		{"unknown entity", `<a>&nbsp;</a>`, `p.xml:1:4: unknown entity reference &nbsp;: XML defines only &lt; &gt; &amp; &quot; and &apos; (write other characters by number, such as &#160;)`},
		{"NUL character reference", `<a>&#0;</a>`, `p.xml:1:4: invalid character reference &#0;: it must name a character XML allows, such as &#10; or &#x41;`},
		{"surrogate character reference", `<a x="&#xD800;"/>`, `p.xml:1:7: invalid character reference &#xD800;: it must name a character XML allows, such as &#10; or &#x41;`},
		{"too large character reference", `<a>&#x110000;</a>`, `p.xml:1:4: invalid character reference &#x110000;: it must name a character XML allows, such as &#10; or &#x41;`},
		{"empty character reference", `<a>&#x;</a>`, `p.xml:1:4: invalid character reference &#x;: it must name a character XML allows, such as &#10; or &#x41;`},
		{"signed character reference", `<a>&#+65;</a>`, `p.xml:1:4: invalid character reference &#+65;: it must name a character XML allows, such as &#10; or &#x41;`},
		{"mismatched end tag", "<policies>\n  <inbound>\n    <base />\n    <set-header name=\"x\">\n  </inbound>", `p.xml:5:3: end tag </inbound> does not match <set-header> opened at 4:5 (expected </set-header>)`},
		{"end tag with no open element", "</a>", `p.xml:1:1: end tag </a> before any element was opened`},
		{"end tag after root", "<a></a></a>", `p.xml:1:8: end tag </a> after the root element <a> was closed at 1:8`},
		{"no name in end tag", "<a></ a>", `p.xml:1:4: expected an element name after "</", found ' '`},
		{"junk in end tag", "<a></a b>", `p.xml:1:8: unexpected 'b' in end tag </a>: expected ">"`},
		{"unterminated end tag", "<a></a", `p.xml:1:4: unexpected end of input in end tag </a>: expected ">"`},
		{"unclosed element", "<policies>\n  <inbound>\n", `p.xml:2:3: element <inbound> is not closed: expected </inbound> before the end of input`},
		{"nesting too deep", strings.Repeat("<a>", MaxDepth+1), fmt.Sprintf("p.xml:1:%d: element <a> is nested more than %d levels deep", 3*MaxDepth+1, MaxDepth)},
		{"line break in character position", "<a x=\"1\"\n=/>", `p.xml:2:1: unexpected '=' in start tag <a>: expected an attribute name, ">" or "/>"`},
		{"invalid UTF-8 attribute name", "<a \xff/>", `p.xml:1:5: expected "=" after attribute name "\xff" in <a>, found '/'`},
		{"invalid UTF-8 after attribute", "<a x=\"1\"\xff/>", `p.xml:1:9: expected white space before attribute "\xff" in <a>`},

		// Expressions.
		{"expression missing a bracket in attribute", "<a x=\"@(f(1)\"/>\n<b/>", `p.xml:1:13: string literal in expression is not closed before the end of the line: C# "..." strings cannot span lines (the expression starts at 1:7)`},
		{"unterminated expression in attribute", "<a x=\"@(\"abc)\"/>", `p.xml:1:8: unterminated expression: "(" is never closed (the expression starts at 1:7)`},
		{"unterminated string in expression", "<a>@(\"abc", `p.xml:1:6: unterminated string literal in expression (the expression starts at 1:4)`},
		{"newline in string", "<a x=\"@(f(\"abc)\n\"/>", `p.xml:1:11: string literal in expression is not closed before the end of the line: C# "..." strings cannot span lines (the expression starts at 1:7)`},
		{"newline in char", "<a>@('\n')</a>", `p.xml:1:6: character literal in expression is not closed before the end of the line (the expression starts at 1:4)`},
		{"newline in interpolated string", "<a>@($\"x\n\")</a>", `p.xml:1:6: interpolated string in expression is not closed before the end of the line: C# $"..." strings cannot span lines (the expression starts at 1:4)`},
		{"unterminated verbatim string", "<a>@(@\"x</a>", `p.xml:1:6: unterminated string literal in expression (the expression starts at 1:4)`},
		{"unterminated char", "<a>@('x", `p.xml:1:6: unterminated character literal in expression (the expression starts at 1:4)`},
		{"unterminated interpolated string", "<a>@($@\"{x}", `p.xml:1:6: unterminated interpolated string in expression (the expression starts at 1:4)`},
		{"unterminated block comment", "<a>@(x /* )</a>", `p.xml:1:8: unterminated /* comment in expression (the expression starts at 1:4)`},
		{"mismatched bracket", "<a>\n  @{ var x = y[1); }</a>", `p.xml:2:17: ")" in expression does not match "[" opened at 2:15 (the expression starts at 2:3)`},
		{"mismatched bracket in hole", `<a>@($"{a)}")</a>`, `p.xml:1:10: ")" in expression does not match "{" of an interpolation hole opened at 1:8 (the expression starts at 1:4)`},
		{"unterminated block in text", "<set-body>@{\n  return 1;\n</set-body>", `p.xml:1:12: unterminated expression: "{" is never closed (the expression starts at 1:11)`},
		{"expression nested too deep", "<a>@(" + strings.Repeat("(", maxExprDepth) + "</a>", fmt.Sprintf("p.xml:1:%d: expression nested deeper than %d brackets (the expression starts at 1:4)", 5+maxExprDepth, maxExprDepth)},
		{"formatter damage", "<a x=\"@{ var loc = Parse((string)v[\"latlong=\"\"\n  lat=\"\";}\"/>", `p.xml:1:46: string literal in expression is not closed before the end of the line: C# "..." strings cannot span lines (the expression starts at 1:7)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse("p.xml", []byte(tt.src))
			if err == nil {
				t.Fatalf("Parse(%q) = %s, want error %s", tt.src, tree(doc.Root), tt.want)
			}
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Parse(%q) error is %T, want *Error", tt.src, err)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("Parse(%q) error\n got: %s\nwant: %s", tt.src, got, tt.want)
			}
			if e.File != "p.xml" {
				t.Errorf("File = %q, want p.xml", e.File)
			}
			if got := doc0(tt.src).Position(e.Pos.Offset); got != e.Pos {
				t.Errorf("error at %v, but Position(%d) = %v", e.Pos, e.Pos.Offset, got)
			}
		})
	}
}

// doc0 returns a Document that only knows the lines of src.
func doc0(src string) *Document {
	return &Document{Src: []byte(src), lines: srcpos.NewLines([]byte(src)), src: src}
}

func TestElementHelpers(t *testing.T) {
	doc, err := Parse("p.xml", []byte(`<a x="1" y="2">t1<b/>t2<!-- c --><c z="3">in</c>t3</a>`))
	if err != nil {
		t.Fatal(err)
	}
	a := doc.Root
	if got := a.Attr("y"); got == nil || got.Value.Text != "2" {
		t.Errorf(`Attr("y") = %+v, want value "2"`, got)
	}
	if got := a.Attr("nope"); got != nil {
		t.Errorf(`Attr("nope") = %+v, want nil`, got)
	}
	var names []string
	for _, el := range a.Elements() {
		names = append(names, el.Name)
	}
	if diff := cmp.Diff([]string{"b", "c"}, names); diff != "" {
		t.Errorf("Elements (-want +got):\n%s", diff)
	}
	if got := a.Elements()[0].Elements(); got != nil {
		t.Errorf("Elements of <b/> = %v, want nil", got)
	}
	if got, want := a.Text().String(), "t1t2t3"; got != want {
		t.Errorf("Text() = %q, want %q", got, want)
	}
	if got := a.Elements()[0].Text(); !got.IsZero() || got.Pos().IsValid() {
		t.Errorf("Text() of <b/> = %#v, want the zero Value", got)
	}
	if got, want := a.InnerXML(), `t1<b/>t2<!-- c --><c z="3">in</c>t3`; got != want {
		t.Errorf("InnerXML() = %q, want %q", got, want)
	}
	if got := a.Elements()[0].InnerXML(); got != "" {
		t.Errorf("InnerXML() of <b/> = %q, want empty", got)
	}
	if got := (&Element{}).InnerXML(); got != "" {
		t.Errorf("InnerXML() of a zero Element = %q, want empty", got)
	}
}

func TestInnerXMLExact(t *testing.T) {
	src := "<set-body>\r\n  <soap:Envelope xmlns:soap=\"urn:x\">&lt;<![CDATA[<&>]]><!--c--></soap:Envelope>\r\n</set-body>"
	doc, err := Parse("p.xml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	want := "\r\n  <soap:Envelope xmlns:soap=\"urn:x\">&lt;<![CDATA[<&>]]><!--c--></soap:Envelope>\r\n"
	if got := doc.Root.InnerXML(); got != want {
		t.Errorf("InnerXML() = %q, want %q", got, want)
	}
}

func TestExpressionRange(t *testing.T) {
	tests := []struct {
		text       string
		start, end int
		ok         bool
	}{
		{`@(x)`, 0, 4, true},
		{"  @{ return 1; }\n ", 2, 16, true},
		{`@(a) + @(b)`, 0, 0, false},
		{`Bearer @(t)`, 0, 0, false},
		{`@(x) `, 0, 4, true},
		{`@(x)y`, 0, 0, false},
		{`@(x`, 0, 0, false},
		{`@x`, 0, 0, false},
		{`@(`, 0, 0, false},
		{``, 0, 0, false},
		{`(x)`, 0, 0, false},
		{`@("a)b")`, 0, 8, true},
	}
	for _, tt := range tests {
		v := Value{Text: tt.text}
		start, end, ok := v.ExpressionRange()
		if start != tt.start || end != tt.end || ok != tt.ok {
			t.Errorf("ExpressionRange(%q) = %d, %d, %v, want %d, %d, %v", tt.text, start, end, ok, tt.start, tt.end, tt.ok)
		}
		if got := v.IsExpression(); got != tt.ok {
			t.Errorf("IsExpression(%q) = %v, want %v", tt.text, got, tt.ok)
		}
	}
}

func TestValueBasics(t *testing.T) {
	var zero Value
	if !zero.IsZero() || zero.String() != "" || zero.Pos() != (Pos{}) || zero.Redacted() != "" {
		t.Errorf("zero Value: IsZero %v, String %q, Pos %v", zero.IsZero(), zero.String(), zero.Pos())
	}
	doc, err := Parse("p.xml", []byte(`<a x=""/>`))
	if err != nil {
		t.Fatal(err)
	}
	v := doc.Root.Attr("x").Value
	if !v.IsZero() || v.Pos().String() != "1:7" {
		t.Errorf(`value of x="": IsZero %v, Pos %v, want true, 1:7`, v.IsZero(), v.Pos())
	}
}

func TestPosString(t *testing.T) {
	if got := (Pos{Offset: 10, Line: 3, Col: 17}).String(); got != "3:17" {
		t.Errorf("String() = %q, want 3:17", got)
	}
}

func TestManyAttributes(t *testing.T) {
	var b strings.Builder
	b.WriteString("<a")
	for i := range 5000 {
		fmt.Fprintf(&b, " a%d='%d'", i, i)
	}
	b.WriteString("/>")
	doc, err := Parse("p.xml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	if got := len(doc.Root.Attrs); got != 5000 {
		t.Errorf("%d attributes, want 5000", got)
	}
	if got := doc.Root.Attr("a4999"); got == nil || got.Value.Text != "4999" {
		t.Errorf(`Attr("a4999") = %v`, got)
	}
	dup := strings.TrimSuffix(b.String(), "/>") + " a17='x'/>"
	_, err = Parse("p.xml", []byte(dup))
	if want := `p.xml:1:`; err == nil || !strings.Contains(err.Error(), `duplicate attribute "a17" in <a>: it is already set at 1:`) || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("Parse with a late duplicate: %v", err)
	}
}

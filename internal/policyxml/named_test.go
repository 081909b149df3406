package policyxml

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func lookupIn(m map[string]string) func(string) (string, bool) {
	return func(name string) (string, bool) {
		v, ok := m[name]
		return v, ok
	}
}

func TestSubstituteNamedValues(t *testing.T) {
	named := map[string]string{
		"host":    "api.example.com",
		"secret":  "s3cr3t<&>\"",
		"empty":   "",
		"expr":    `@(DateTime.UtcNow.ToString())`,
		"a.b-c_d": "dotted",
		"inner":   "{{host}}",
	}
	tests := []struct {
		name string
		src  string
		want string
	}{
		{"attribute", `<a x="https://{{host}}/v1"/>`, `<a x="https://api.example.com/v1"/>`},
		{"text", `<a>{{host}}</a>`, `<a>"api.example.com"</a>`},
		{"several in one value", `<a x="{{host}}:{{host}}{{empty}}!"/>`, `<a x="api.example.com:api.example.com!"/>`},
		{"name characters", `<a x="{{a.b-c_d}}"/>`, `<a x="dotted"/>`},
		{"value with XML characters is taken as is", `<a>{{secret}}</a>`, `<a>"s3cr3t<&>\""</a>`},
		{"inside an expression", `<a x="@(&quot;{{host}}&quot; + &quot;x&quot;)"/>`, `<a x="@(\"api.example.com\" + \"x\")"/>`},
		{"inside an interpolated string", `<a>@($"https://{{host}}/{id}")</a>`, `<a>"@($\"https://api.example.com/{id}\")"</a>`},
		{"a value that is an expression", `<a x="{{expr}}"/>`, `<a x="@(DateTime.UtcNow.ToString())"/>`},
		{"named values are not expanded twice", `<a x="{{inner}}"/>`, `<a x="{{host}}"/>`},
		{"single braces are literal", `<a x="/users/{application-id}/{x}"/>`, `<a x="/users/{application-id}/{x}"/>`},
		{"Liquid tags with spaces are literal", `<a>{{ body.name }} {{- header.Key }}</a>`, `<a>"{{ body.name }} {{- header.Key }}"</a>`},
		{"other characters are literal", `<a x="{{queue|topic}} {{x[&quot;y&quot;]}} {{}} {{host}"/>`, `<a x="{{queue|topic}} {{x[\"y\"]}} {{}} {{host}"/>`},
		{"three braces", `<a x="{{{host}}}"/>`, `<a x="{api.example.com}"/>`},
		{"nested elements and CDATA", `<a><b y="{{host}}"><![CDATA[{{host}}]]></b></a>`, `<a><b y="api.example.com">"api.example.com"</b></a>`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse("p.xml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if err := doc.SubstituteNamedValues(lookupIn(named)); err != nil {
				t.Fatalf("SubstituteNamedValues: %v", err)
			}
			if got := tree(doc.Root); got != tt.want {
				t.Errorf("after substitution\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

// TestNamedRefUse: where a {{name}} stands, for a check without values.
func TestNamedRefUse(t *testing.T) {
	tests := []struct {
		src  string
		want NamedUse
	}{
		{`<a x="Bearer {{t}}"/>`, NamedInText},
		{`<a x="{{t}}"/>`, NamedInText},
		{`<a>{{t}}</a>`, NamedInText},
		{`<a x="@(&quot;Bearer &quot; + &quot;{{t}}&quot;)"/>`, NamedInString},
		{`<a x='@(context.Variables.GetValueOrDefault&lt;string>("{{t}}"))'/>`, NamedInString},
		{`<a>@($"pre {{t}} post")</a>`, NamedInString},
		{`<a>@($@"pre {{t}} post")</a>`, NamedInString},
		{`<a>@(@"a""{{t}}")</a>`, NamedInString},
		{`<a>@('{{t}}')</a>`, NamedInString},
		{`<a>@{ /* {{t}} */ return 1; }</a>`, NamedInString},
		{`<a>@({{t}})</a>`, NamedInCode},
		{`<a>@({{t}} + 1)</a>`, NamedInCode},
		{`<a>@(@"a"{{t}})</a>`, NamedInCode},
		{`<a>@($"pre {({{t}})} post")</a>`, NamedInCode},
		{`<a>@{ return {{t}}; }</a>`, NamedInCode},
		{`<a>@(1) {{t}}</a>`, NamedInText},
	}
	for _, tt := range tests {
		doc, err := Parse("p.xml", []byte(tt.src))
		if err != nil {
			t.Fatal(err)
		}
		var got []NamedUse
		err = doc.SubstituteNamedRefs(func(r NamedRef) (string, bool) {
			got = append(got, r.Use)
			return "v", true
		})
		if err != nil || len(got) != 1 || got[0] != tt.want {
			t.Errorf("%s: uses %v (%v), want [%d]", tt.src, got, err, tt.want)
		}
	}
}

func TestSubstituteNamedValuesExpression(t *testing.T) {
	doc, err := Parse("p.xml", []byte(`<a x="{{expr}}"/>`))
	if err != nil {
		t.Fatal(err)
	}
	v := doc.Root.Attr("x").Value
	if v.IsExpression() {
		t.Errorf("%q is an expression before substitution", v.Text)
	}
	if err := doc.SubstituteNamedValues(lookupIn(map[string]string{"expr": "@(1)"})); err != nil {
		t.Fatal(err)
	}
	if v := doc.Root.Attr("x").Value; !v.IsExpression() {
		t.Errorf("%q is not an expression after substitution", v.Text)
	}
}

func TestSubstituteNamedValuesErrors(t *testing.T) {
	src := "<policies>\n" +
		"  <inbound>\n" +
		"    <set-header name=\"{{known}}\" value=\"{{missing-one}}\" />\n" +
		"    <set-body>{{known}} and {{missing.two}}</set-body>\n" +
		"    <x y=\"&amp;{{missing-one}}\"/>\n" +
		"  </inbound>\n" +
		"</policies>\n"
	doc, err := Parse("policy.xml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	const secret = "TOP-SECRET-VALUE"
	err = doc.SubstituteNamedValues(lookupIn(map[string]string{"known": secret}))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error is %T (%v), want ErrorList", err, err)
	}
	var got []string
	for _, e := range list {
		got = append(got, e.Error())
	}
	want := []string{
		`policy.xml:3:41: named value "missing-one" is not defined: add named values/missing-one/namedValueInformation.json`,
		`policy.xml:4:29: named value "missing.two" is not defined: add named values/missing.two/namedValueInformation.json`,
		`policy.xml:5:16: named value "missing-one" is not defined: add named values/missing-one/namedValueInformation.json`,
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error message contains a named value: %s", err)
	}
	var one *Error
	if !errors.As(err, &one) || one != list[0] {
		t.Errorf("errors.As(*Error) = %v, want the first error", one)
	}
	// Known names are still substituted.
	if got := doc.Root.Elements()[0].Elements()[0].Attr("name").Value.Text; got != secret {
		t.Errorf("name = %q, want the substituted value", got)
	}
}

func TestSubstitutedPositions(t *testing.T) {
	src := "<a x=\"k={{key}}&amp;v={{val}}!\"/>"
	//      123456789012345678901234567890123
	doc, err := Parse("p.xml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.SubstituteNamedValues(lookupIn(map[string]string{"key": "SECRET", "val": ""})); err != nil {
		t.Fatal(err)
	}
	v := doc.Root.Attr("x").Value
	if v.Text != "k=SECRET&v=!" {
		t.Fatalf("text = %q", v.Text)
	}
	type at struct {
		Off int
		Pos string
	}
	want := []at{
		{0, "1:7"},  // k
		{1, "1:8"},  // =
		{2, "1:9"},  // S: the {{ of {{key}}
		{7, "1:9"},  // T
		{8, "1:16"}, // &
		{9, "1:21"}, // v
		{10, "1:22"},
		{11, "1:30"}, // ! after the empty {{val}} at 1:23
		{12, "1:31"}, // the end
	}
	var got []at
	for _, w := range want {
		got = append(got, at{w.Off, v.PosAt(w.Off).String()})
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PosAt (-want +got):\n%s", diff)
	}
	if got, want := v.Redacted(), "k={{key}}&v={{val}}!"; got != want {
		t.Errorf("Redacted() = %q, want %q", got, want)
	}
	// A second call finds nothing new to substitute, even though lookup now knows
	// more names.
	if err := doc.SubstituteNamedValues(lookupIn(map[string]string{"key": "other"})); err != nil {
		t.Fatal(err)
	}
	if got := doc.Root.Attr("x").Value.Text; got != "k=SECRET&v=!" {
		t.Errorf("after a second call, text = %q", got)
	}
}

func TestSubstitutedTextJoin(t *testing.T) {
	doc, err := Parse("p.xml", []byte("<a>{{x}}<b/>y{{x}}</a>"))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.SubstituteNamedValues(lookupIn(map[string]string{"x": "XX"})); err != nil {
		t.Fatal(err)
	}
	v := doc.Root.Text()
	if v.Text != "XXyXX" {
		t.Fatalf("Text() = %q", v.Text)
	}
	var got []string
	for i := 0; i <= len(v.Text); i++ {
		got = append(got, v.PosAt(i).String())
	}
	want := []string{"1:4", "1:4", "1:13", "1:14", "1:14", "1:19"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("PosAt (-want +got):\n%s", diff)
	}
	if got, want := v.Redacted(), "{{x}}y{{x}}"; got != want {
		t.Errorf("Redacted() = %q, want %q", got, want)
	}
}

func TestInnerXMLSubstituted(t *testing.T) {
	src := `<set-body><r a="{{v}}">{{v}}<![CDATA[{{v}}]]><!-- {{v}} {{unknown}} -->{{ v }}</r></set-body>`
	doc, err := Parse("p.xml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	before := doc.Root.InnerXML()
	if err := doc.SubstituteNamedValues(lookupIn(map[string]string{"v": `<"&'>`})); err != nil {
		t.Fatal(err)
	}
	want := `<r a="&lt;&quot;&amp;&apos;&gt;">&lt;&quot;&amp;&apos;&gt;<![CDATA[<"&'>]]><!-- {{v}} {{unknown}} -->{{ v }}</r>`
	if got := doc.Root.InnerXML(); got != want {
		t.Errorf("InnerXML()\n got: %s\nwant: %s", got, want)
	}
	if before == want {
		t.Errorf("InnerXML() before substitution already substituted")
	}
	r := doc.Root.Elements()[0]
	if got := r.XML(); got != want {
		t.Errorf("XML() of <r>\n got: %s\nwant: %s", got, want)
	}
	if got, want := doc.Root.XML(), "<set-body>"+want+"</set-body>"; got != want {
		t.Errorf("XML()\n got: %s\nwant: %s", got, want)
	}
	if got := (&Element{}).XML(); got != "" {
		t.Errorf("XML() of an element without a document = %q, want empty", got)
	}
	// The substituted inner XML parses to the same tree as the substituted document.
	inner, err := Parse("inner.xml", []byte(doc.Root.InnerXML()))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := tree(inner.Root), tree(doc.Root.Elements()[0]); got != want {
		t.Errorf("inner XML parses to %s, the tree has %s", got, want)
	}
}

func TestSubstituteEmptyDocument(t *testing.T) {
	var d Document
	if err := d.SubstituteNamedValues(lookupIn(nil)); err != nil {
		t.Errorf("SubstituteNamedValues on an empty Document = %v", err)
	}
}

func TestEmptyNamedValues(t *testing.T) {
	src := "<a>{{e}}x<b/>{{e}}{{e}}<c/>{{e}}</a>"
	//      1234567890123456789012345678901234
	doc, err := Parse("p.xml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.SubstituteNamedValues(lookupIn(map[string]string{"e": ""})); err != nil {
		t.Fatal(err)
	}
	v := doc.Root.Text()
	if v.Text != "x" {
		t.Fatalf("Text() = %q, want x", v.Text)
	}
	if got, want := v.Redacted(), "{{e}}x{{e}}{{e}}{{e}}"; got != want {
		t.Errorf("Redacted() = %q, want %q", got, want)
	}
	if got := v.PosAt(0).String(); got != "1:9" {
		t.Errorf("PosAt(0) = %s, want 1:9 (the x)", got)
	}
	last := doc.Root.Children[len(doc.Root.Children)-1].(*Text).Value
	if last.Text != "" || last.Pos().String() != "1:28" || last.Redacted() != "{{e}}" {
		t.Errorf("last text %q at %s, redacted %q; want empty at 1:28, {{e}}", last.Text, last.Pos(), last.Redacted())
	}
	var b valueJoiner
	b.add(Value{})
	b.add(Value{})
	if got := b.value(nil); !got.IsZero() || got.Pos().IsValid() {
		t.Errorf("joining zero values = %#v, want the zero Value", got)
	}
}

// TestConcurrentReads reads a parsed, substituted document from several
// goroutines, as the pipeline does; run with -race.
func TestConcurrentReads(t *testing.T) {
	src := `<policies><inbound><set-body>{{v}}<x a="@(&quot;{{v}}&quot;)">t</x>u</set-body></inbound></policies>`
	doc, err := Parse("p.xml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.SubstituteNamedValues(lookupIn(map[string]string{"v": "V"})); err != nil {
		t.Fatal(err)
	}
	want := tree(doc.Root)
	done := make(chan string)
	for range 4 {
		go func() {
			var walk func(*Element)
			walk = func(el *Element) {
				_ = el.InnerXML()
				v := el.Text()
				_, _ = v.PosAt(len(v.Text)/2), v.Redacted()
				for _, a := range el.Attrs {
					_, _ = a.Value.IsExpression(), a.Value.Redacted()
				}
				for _, c := range el.Elements() {
					walk(c)
				}
			}
			walk(doc.Root)
			done <- tree(doc.Root)
		}()
	}
	for range 4 {
		if got := <-done; got != want {
			t.Errorf("tree changed while reading: %s", got)
		}
	}
}

// TestNamesNeverIncludeSubstitutedText checks that a {{name}} made partly of a
// substituted value is not looked up, so that no error can quote a secret.
func TestNamesNeverIncludeSubstitutedText(t *testing.T) {
	for _, src := range []string{
		`<a x="{{{{s}}"/>`,      // "{{" + "abc}}"
		`<a x="{{t}}def}}"/>`,   // "{{abc" + "def}}"
		`<a x="{{ab{{e}}c}}"/>`, // "{{ab" + "" + "c}}"
	} {
		doc, err := Parse("p.xml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		first := lookupIn(map[string]string{"s": "abc}}", "t": "{{abc", "e": ""})
		if err := doc.SubstituteNamedValues(first); err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		var asked []string
		err = doc.SubstituteNamedValues(func(name string) (string, bool) {
			asked = append(asked, name)
			return "", false
		})
		if err != nil || asked != nil {
			t.Errorf("%s: second substitution of %q looked up %q: %v", src, doc.Root.Attr("x").Value.Text, asked, err)
		}
	}
}

// TestNamedValuesInLiquid: inside set-body template="liquid", {{name}} is a
// named value when one is defined and Liquid otherwise; elsewhere an unknown
// name is an error.
func TestNamedValuesInLiquid(t *testing.T) {
	src := `<policies><inbound><set-body template="liquid">{{known}} {{body.customer.name}}</set-body><set-header name="x"><value>{{unknown}}</value></set-header></inbound></policies>`
	doc, err := Parse("p.xml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	err = doc.SubstituteNamedValues(func(name string) (string, bool) {
		return "v", name == "known"
	})
	if err == nil || !strings.Contains(err.Error(), `named value "unknown" is not defined`) || strings.Contains(err.Error(), "body.customer.name") {
		t.Errorf("err = %v, want only unknown reported", err)
	}
	body := doc.Root.Elements()[0].Elements()[0]
	if got := body.Text().String(); got != "v {{body.customer.name}}" {
		t.Errorf("liquid text = %q", got)
	}
}

// OuterXML shows an element as written: a console shows it as the policy's
// origin, so a named value marked secret must not appear substituted.
func TestOuterXMLKeepsReferences(t *testing.T) {
	src := "<policies>\n  <inbound>\n    <set-header name=\"k\"><value>{{secret}}</value></set-header>\n    <base />\n  </inbound>\n</policies>"
	doc, err := Parse("p.xml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.SubstituteNamedValues(lookupIn(map[string]string{"secret": "hunter2"})); err != nil {
		t.Fatal(err)
	}
	inbound := doc.Root.Elements()[0]
	tests := []struct {
		el   *Element
		want string
	}{
		{inbound.Elements()[0], `<set-header name="k"><value>{{secret}}</value></set-header>`},
		{inbound.Elements()[1], `<base />`},
	}
	for _, tt := range tests {
		if got := tt.el.OuterXML(); got != tt.want {
			t.Errorf("OuterXML() = %q, want %q", got, tt.want)
		}
	}
	if got := (&Element{}).OuterXML(); got != "" {
		t.Errorf("OuterXML() of an element without a document = %q, want empty", got)
	}
}

// TestSubstitutionBreaksExpression: a named value that ends an expression's
// string literal early (a password with a quote, a PEM's line breaks) is an
// error at the expression, naming the value but never showing it; the
// expression would otherwise become text, sent as written with the value in it.
func TestSubstitutionBreaksExpression(t *testing.T) {
	const secret = `pa"ss`
	for _, tt := range []struct {
		name, src string
		values    map[string]string
		want      []string
	}{
		{"a quote in a string literal", `<a>` + "\n" + `  <b x='@("svc:{{pwd}}")' y="@({{pwd}}.Length)" /></a>`, map[string]string{"pwd": secret},
			[]string{`p.xml:2:16: the expression at 2:9 is no longer one C# expression once {{pwd}} is substituted: a value holds a quote, a line break or a bracket that ends it early. Keep such a value out of string literals: set a variable from it (<set-variable name="v" value="{{pwd}}" />) and read (string)context.Variables["v"]`,
				`p.xml:2:32: the expression at 2:30 is no longer one C# expression once {{pwd}} is substituted: a value holds a quote, a line break or a bracket that ends it early. Keep such a value out of string literals: set a variable from it (<set-variable name="v" value="{{pwd}}" />) and read (string)context.Variables["v"]`}},
		{"a line break, in text", `<a>@{ var k = "{{pem}}"; return k; }</a>`, map[string]string{"pem": "line1\nline2"},
			[]string{`p.xml:1:16: the expression at 1:4 is no longer one C# expression once {{pem}} is substituted: a value holds a quote, a line break or a bracket that ends it early. Keep such a value out of string literals: set a variable from it (<set-variable name="v" value="{{pem}}" />) and read (string)context.Variables["v"]`}},
		{"values that keep it whole", `<a x='@("{{u}}:{{p}}")'>@(context.Variables["{{u}}"])</a>`, map[string]string{"u": "svc", "p": "pass"}, nil},
		{"text that was never an expression", `<a x='user {{pwd}}' y='@@("{{pwd}}")'/>`, map[string]string{"pwd": secret}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc, err := Parse("p.xml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			err = doc.SubstituteNamedValues(lookupIn(tt.values))
			var got []string
			var list ErrorList
			if errors.As(err, &list) {
				for _, e := range list {
					got = append(got, e.Error())
				}
			} else if err != nil {
				t.Fatalf("error %T %v, want an ErrorList", err, err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
			if err != nil && strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the value: %s", err)
			}
		})
	}
}

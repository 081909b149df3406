package apiops

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/corpustest"
)

// wadlDoc wraps resources and definitions in a 2009 WADL application.
func wadlDoc(body string) string {
	return `<?xml version="1.0"?>
<application xmlns="http://wadl.dev.java.net/2009/02" xmlns:xsd="http://www.w3.org/2001/XMLSchema">
` + body + `
</application>`
}

type wadlOpWant struct{ Name, Method, Template, Display string }

func wadlOps(ops []specOp) []wadlOpWant {
	var out []wadlOpWant
	for _, o := range ops {
		out = append(out, wadlOpWant{o.op.Name, o.op.Method, o.op.URLTemplate, o.op.DisplayName})
	}
	return out
}

func TestParseWADL(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		want      []wadlOpWant
		wantWarns []string
	}{
		{
			name: "nested resources and regex parameters",
			src: wadlDoc(`<grammars><xsd:schema/></grammars>
<resources base="https://backend.example/api/">
  <resource path="items">
    <method id="listItems" name="GET"><doc xml:lang="en" title="List items">All of them.</doc></method>
    <resource path="{id: [0-9]+}">
      <param name="id" style="template" type="xsd:int"/>
      <method id="getItem" name="get"/>
      <method id="putItem" name="PUT"/>
      <resource path="/parts/{part: [a-z]{3}}/{n:\{?[0-9]}/">
        <method id="getPart" name="GET"/>
      </resource>
    </resource>
  </resource>
</resources>`),
			want: []wadlOpWant{
				{"listItems", "GET", "/items", "List items"},
				{"getItem", "GET", "/items/{id}", ""},
				{"putItem", "PUT", "/items/{id}", ""},
				{"getPart", "GET", "/items/{id}/parts/{part}/{n}", ""},
			},
		},
		{
			name: "resource types",
			src: wadlDoc(`<resources>
  <resource path="orders" type="#collection http://example.com/types.wadl#deletable">
    <method id="createOrder" name="POST"/>
  </resource>
  <resource path="users" type="collection2"/>
</resources>
<resource_type id="collection">
  <method id="listOrders" name="GET"><doc title="List"/></method>
  <resource path="{id}"><method id="getOrder" name="GET"/></resource>
</resource_type>
<resource_type id="deletable"><method id="deleteOrders" name="DELETE"/></resource_type>
<resource_type id="collection2"><resource path="{id}" type="#deletable2"/></resource_type>
<resource_type id="deletable2"><method id="deleteUser" name="DELETE"/></resource_type>`),
			want: []wadlOpWant{
				{"listOrders", "GET", "/orders", "List"},
				{"createOrder", "POST", "/orders", ""},
				{"deleteOrders", "DELETE", "/orders", ""},
				{"getOrder", "GET", "/orders/{id}", ""},
				{"deleteUser", "DELETE", "/users/{id}", ""},
			},
		},
		{
			name: "method href",
			src: wadlDoc(`<resources><resource path="health"><method href="#ping"/></resource></resources>
<method id="ping" name="HEAD"><doc title=""/><doc title="Ping"/></method>`),
			want: []wadlOpWant{{"ping", "HEAD", "/health", "Ping"}},
		},
		{
			name: "no id",
			src: wadlDoc(`<resources><resource path="a/b"><method name="post"/><method name="GET" id="get"/></resource>
<resource path="{x: .*}"><method name="DELETE"/></resource></resources>`),
			want: []wadlOpWant{
				{"get", "GET", "/a/b", ""},
				{"post-a-b", "POST", "/a/b", ""},
				{"delete-x", "DELETE", "/{x}", ""},
			},
			wantWarns: []string{"methods without an id were named by method and path: POST /a/b as post-a-b, DELETE /{x} as delete-x; add an id to them to name their policy folders"},
		},
		{
			name: "several resources elements",
			src: wadlDoc(`<resources base="https://a.example/"><resource path="a"><method id="a" name="GET"/></resource></resources>
<resources base="https://b.example/"><resource path="b"><method id="b" name="GET"/></resource></resources>`),
			want: []wadlOpWant{{"a", "GET", "/a", ""}, {"b", "GET", "/b", ""}},
		},
		{
			name: "2006 namespace",
			src: `<wadl:application xmlns:wadl="http://research.sun.com/wadl/2006/10">
  <wadl:resources base="http://x/"><wadl:resource path="status/"><wadl:method id="s" name="GET"><wadl:doc title="Status"/></wadl:method></wadl:resource></wadl:resources>
</wadl:application>`,
			want: []wadlOpWant{{"s", "GET", "/status", "Status"}},
		},
		{
			name: "slashes",
			src: wadlDoc(`<resources><resource path="/"><method id="root" name="GET"/>
  <resource path=""><method id="root2" name="POST"/></resource>
  <resource path="x//y/"><method id="xy" name="GET"/><resource path="/"><method id="xy2" name="PUT"/></resource></resource>
</resource></resources>`),
			want: []wadlOpWant{
				{"root", "GET", "/", ""},
				{"root2", "POST", "/", ""},
				{"xy", "GET", "/x/y", ""},
				{"xy2", "PUT", "/x/y", ""},
			},
		},
		{
			name: "query, header and matrix params are not in the template",
			src: wadlDoc(`<resources><resource path="search"><param name="v" style="matrix"/>
  <method id="search" name="GET"><request>
    <param name="q" style="query" required="true"/><param name="X-Key" style="header"/>
  </request><response status="200"><representation mediaType="application/json"/></response></method>
</resource></resources>`),
			want: []wadlOpWant{{"search", "GET", "/search", ""}},
		},
		{
			name: "other namespaces are ignored",
			src: wadlDoc(`<resources xmlns:x="urn:x"><resource path="a">
  <x:method id="no" name="GET"/><x:resource path="no"><method id="no2" name="GET"/></x:resource>
  <method id="a" name="GET"><x:doc title="no"/><doc xmlns="urn:x" title="no"/></method>
</resource></resources>`),
			want: []wadlOpWant{{"a", "GET", "/a", ""}},
		},
		{
			name:      "no methods",
			src:       wadlDoc(`<resources><resource path="a"/></resources><method id="unused" name="GET"/>`),
			wantWarns: []string{"the WADL defines no operations (no <method> in its resources); the API is served as one operation that passes every request under its URL suffix to the backend"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, warns, errs := parseWADL("spec.wadl", []byte(tt.src))
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			if diff := cmp.Diff(tt.want, wadlOps(ops)); diff != "" {
				t.Errorf("operations (-want +got):\n%s", diff)
			}
			var gotWarns []string
			for _, w := range warns {
				gotWarns = append(gotWarns, w.Msg)
			}
			if diff := cmp.Diff(tt.wantWarns, gotWarns); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParseWADLPositions checks that an operation is placed at its <method>,
// the one in the resource when it refers to another.
func TestParseWADLPositions(t *testing.T) {
	src := wadlDoc(`<resources><resource path="a">
  <method id="a" name="GET"/>
    <method href="#m"/></resource></resources>
<method id="m" name="POST"/>`)
	ops, _, errs := parseWADL("spec.wadl", []byte(src))
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, o := range ops {
		got = append(got, fmt.Sprintf("%s %d:%d", o.op.Name, o.line, o.col))
	}
	if want := []string{"a 4:3", "m 5:5"}; !cmp.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}

func TestParseWADLSample(t *testing.T) {
	file := filepath.Join(corpustest.Dir(t, "apiops/SampleArtifacts/apis/wadl-api"), "specification.wadl")
	src, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	ops, warns, errs := parseWADL("specification.wadl", src)
	if len(errs) > 0 || len(warns) > 0 {
		t.Fatalf("errors %v, warnings %v", errs, warns)
	}
	if diff := cmp.Diff([]wadlOpWant{{"get-wadl-status", "GET", "/status", ""}}, wadlOps(ops)); diff != "" {
		t.Errorf("operations (-want +got):\n%s", diff)
	}
}

func TestParseWADLErrors(t *testing.T) {
	// typeChain is n resource types, each used twice by the one before it.
	typeChain := func(n int, twice bool) string {
		var b strings.Builder
		b.WriteString(`<resources><resource path="r" type="t0"/></resources>` + "\n")
		for i := range n {
			fmt.Fprintf(&b, `<resource_type id="t%d"><method name="GET"/><resource path="a" type="t%d"/>`, i, i+1)
			if twice {
				fmt.Fprintf(&b, `<resource path="b" type="t%d"/>`, i+1)
			}
			b.WriteString("</resource_type>\n")
		}
		fmt.Fprintf(&b, `<resource_type id="t%d"/>`, n)
		return wadlDoc(b.String())
	}
	tests := []struct {
		name string
		src  string
		want string   // the error's beginning: file:line:col: and the start of the message
		more []string // fragments of the message
	}{
		{"empty", " \n", "spec.wadl: the specification is empty", []string{"export the API's WADL"}},
		{"malformed", "<application>\n<a></b>", "spec.wadl:2: the WADL is not well-formed XML", []string{"closed by </b>"}},
		{"DOCTYPE", "<!DOCTYPE a [<!ENTITY x \"y\">]>\n" + wadlDoc(""), "spec.wadl:1:1: the WADL has a DOCTYPE", []string{"remove it"}},
		{"not WADL", "<?xml version=\"1.0\"?>\n<definitions xmlns=\"http://schemas.xmlsoap.org/wsdl/\"/>", "spec.wadl:2:1: the specification is not a WADL document",
			[]string{`<definitions> in namespace "http://schemas.xmlsoap.org/wsdl/"`, `not <application xmlns="http://wadl.dev.java.net/2009/02">`, "export the API's WADL"}},
		{"application without namespace", `<application><resources/></application>`, "spec.wadl:1:1: the specification is not a WADL document", []string{"<application>, not <application xmlns="}},
		{"unknown resource type", wadlDoc(`<resources>
  <resource path="a" type="#known #nope"/></resources><resource_type id="known"/>`),
			"spec.wadl:4:3: resource type \"#nope\" is not defined", []string{`no <resource_type id="nope">`, "define it, or remove it"}},
		{"type cycle", wadlDoc(`<resources><resource path="r" type="#t"/></resources>
<resource_type id="t"><method id="m" name="GET"/>
  <resource path="x" type="u"/></resource_type>
<resource_type id="u"><resource path="y" type="#t"/></resource_type>`),
			"spec.wadl:6:23: resource type \"t\" is used inside itself", []string{`remove "#t" from this resource's type attribute`}},
		{"types nested too deep", typeChain(maxWADLTypeNesting+1, false), fmt.Sprintf("spec.wadl:%d:", maxWADLTypeNesting+3), []string{"resource types are used inside each other more than 64 deep"}},
		{"types expand too much", typeChain(40, true), "spec.wadl:", []string{"too large once its resource types are expanded"}},
		{"method without name", wadlDoc(`<resources><resource path="a">
  <method id="m"/></resource></resources>`), "spec.wadl:4:3: <method> has neither a name", []string{`add name="GET"`}},
		{"href to nothing", wadlDoc(`<resources><resource path="a">
  <method href="#nope"/></resource></resources><method id="m" name="GET"/>`), `spec.wadl:4:3: <method href="#nope"> refers to no <method id="nope">`, []string{"define that method"}},
		{"href to a method without name", wadlDoc(`<resources><resource path="a"><method href="#m"/></resource></resources>
<method id="m"/>`), `spec.wadl:4:1: <method id="m"> has no name`, []string{"at line 3 refers to it"}},
		{"bad method name", wadlDoc(`<resources><resource path="a">
 <method id="m" name="GET /x"/></resource></resources>`), `spec.wadl:4:2: method name "GET /x" is not an HTTP method`, nil},
		{"duplicate id", wadlDoc(`<resources><resource path="a"><method id="get" name="GET"/></resource>
<resource path="b">
  <method id="get" name="GET"/></resource></resources>`),
			`spec.wadl:5:3: method id "get" of GET /b is also the id of GET /a (line 3)`, []string{"operation ids must be unique within an API"}},
		{"shared method", wadlDoc(`<resources><resource path="a" type="t"/><resource path="b" type="t"/></resources>
<resource_type id="t">
  <method id="get" name="GET"/></resource_type>`),
			`spec.wadl:5:3: method id "get" is both GET /a and GET /b`, []string{"give each resource its own method with its own id"}},
		{"same route", wadlDoc(`<resources><resource path="a/{x}"><method id="one" name="GET"/></resource>
<resource path="a/{y: .+}"><method id="two" name="get"/></resource></resources>`),
			`spec.wadl:4:28: GET /a/{y} is also defined at line 3 as /a/{x};`, []string{"one of them would never be reached"}},
		{"same route twice", wadlDoc(`<resources><resource path="a"><method id="one" name="GET"/>
  <method id="two" name="GET"/></resource></resources>`),
			`spec.wadl:4:3: GET /a is also defined at line 3; API Management`, nil},
		{"synthetic name taken", wadlDoc(`<resources><resource path="x"><method id="get-a-b" name="GET"/></resource>
<resource path="a/b"><method name="GET"/></resource></resources>`),
			`spec.wadl:4:22: GET /a/b has no id, and the name lastmile gives it, "get-a-b", is also the name of GET /x (line 3)`, []string{"give the method an id"}},
		{"unclosed parameter", wadlDoc(`<resources>
 <resource path="a/{id: [0-9]{2}"/></resources>`), `spec.wadl:4:2: resource path "a/{id: [0-9]{2}" has a { without its }`, []string{"fix the path"}},
		{"stray brace", wadlDoc(`<resources><resource path="a}"/></resources>`), `spec.wadl:3:12: resource path "a}" has a } without its {`, nil},
		{"query in path", wadlDoc(`<resources><resource path="a?b=1"/></resources>`), `spec.wadl:3:12: resource path "a?b=1" has a '?'`, []string{`<param style="query">`}},
		{"mistake in a type used twice, reported once", wadlDoc(`<resources><resource path="a" type="t"/><resource path="b" type="t"/></resources>
<resource_type id="t"><resource path="{x"/></resource_type>`), `spec.wadl:4:23: resource path "{x" has a { without its }`, nil},
		{"fragment in path", wadlDoc(`<resources><resource path="0#{00}"/></resources>`), `spec.wadl:3:12: resource path "0#{00}" has a '#', which a URL path cannot have`, nil},
		{"bad parameter name", wadlDoc(`<resources><resource path="{ : x}"/></resources>`), `spec.wadl:3:12: resource path "{ : x}" has a parameter named ""`, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, errs := parseWADL("spec.wadl", []byte(tt.src))
			if len(errs) != 1 {
				t.Fatalf("got %d errors %v, want 1", len(errs), errs)
			}
			got := errs[0].Error()
			if !strings.HasPrefix(got, tt.want) {
				t.Errorf("got  %s\nwant %s...", got, tt.want)
			}
			for _, f := range tt.more {
				if !strings.Contains(got, f) {
					t.Errorf("%s\ndoes not say %q", got, f)
				}
			}
		})
	}
}

// FuzzParseWADL feeds arbitrary documents to the WADL reader: it must not
// panic, errors name the file, and operations are complete with templates the
// gateway can parse.
func FuzzParseWADL(f *testing.F) {
	if dir, err := corpustest.Find("apiops/SampleArtifacts/apis/wadl-api"); err == nil {
		if src, err := os.ReadFile(filepath.Join(dir, "specification.wadl")); err == nil {
			f.Add(src)
		}
	}
	f.Add([]byte(wadlDoc(`<resources><resource path="a/{id: [0-9]{3}}/" type="#t rt"><method href="#m"/><resource path="/"><method name="GET"/></resource></resource></resources>
<resource_type id="t"><method id="x" name="PUT"/><resource path="{y}" type="rt"/></resource_type><resource_type id="rt"><method name="DELETE"/></resource_type>
<method id="m" name="post"><doc title="M"/></method>`)))
	f.Add([]byte(`<w:application xmlns:w="http://research.sun.com/wadl/2006/10"><w:resources><w:resource path="{a}{b:\}}x"><w:method name="GET"/></w:resource></w:resources></w:application>`))
	f.Add([]byte(wadlDoc(`<resources><resource path="r" type="#t"/></resources><resource_type id="t"><resource path="x" type="t"/></resource_type>`)))
	f.Add([]byte(wadlDoc(`<resources><resource path="0#{00}"><resource><method name="000"/></resource></resource></resources>`)))
	f.Fuzz(func(t *testing.T, src []byte) {
		ops, _, errs := parseWADL("spec.wadl", src)
		for _, e := range errs {
			if e.File != "spec.wadl" || !strings.HasPrefix(e.Error(), "spec.wadl:") {
				t.Fatalf("error does not name the file: %q", e.Error())
			}
		}
		for _, o := range ops {
			tmpl := o.op.URLTemplate
			if o.op.Name == "" || o.op.Method == "" || !strings.HasPrefix(tmpl, "/") {
				t.Fatalf("incomplete operation %+v", *o.op)
			}
			if tmpl != "/" && strings.Contains(tmpl[1:]+"/", "//") {
				t.Fatalf("template %q has an empty segment", tmpl)
			}
			open := false
			for _, c := range tmpl {
				if c == '{' && open || c == '}' && !open || c == '/' && open {
					t.Fatalf("template %q has unbalanced braces", tmpl)
				}
				if c == '{' || c == '}' {
					open = !open
				}
			}
			if open || strings.ContainsAny(tmpl, "?#") {
				t.Fatalf("template %q is not a path template", tmpl)
			}
		}
	})
}

package policyxml_test

import (
	"fmt"

	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

func ExampleParse() {
	src := []byte(`<policies>
  <inbound>
    <set-header name="X-Env" exists-action="override">
      <value>{{environment}}</value>
    </set-header>
    <choose>
      <when condition="@(context.Request.Headers.ContainsKey("Authorization") && x < 3)" />
    </choose>
  </inbound>
</policies>`)
	doc, err := policyxml.Parse("policy.xml", src)
	if err != nil {
		fmt.Println(err)
		return
	}
	named := map[string]string{"environment": "staging"}
	err = doc.SubstituteNamedValues(func(name string) (string, bool) {
		v, ok := named[name]
		return v, ok
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	inbound := doc.Root.Elements()[0]
	value := inbound.Elements()[0].Elements()[0].Text()
	fmt.Printf("value %q at %s, written %s\n", value, value.Pos(), value.Redacted())
	cond := inbound.Elements()[1].Elements()[0].Attr("condition").Value
	fmt.Printf("condition at %s is an expression: %v\n", cond.Pos(), cond.IsExpression())
	fmt.Println(cond)
	// An error found by a later stage at byte 48 of the condition ("&&"):
	fmt.Println(doc.Errorf(cond.PosAt(48), "example"))
	// Output:
	// value "staging" at 4:14, written {{environment}}
	// condition at 7:24 is an expression: true
	// @(context.Request.Headers.ContainsKey("Authorization") && x < 3)
	// policy.xml:7:72: example
}

func ExampleError_Snippet() {
	src := []byte("<policies>\n  <inbound>\n    <set-header name=\"x\n")
	_, err := policyxml.Parse("policy.xml", src)
	if e, ok := err.(*policyxml.Error); ok {
		fmt.Println(e)
		fmt.Print(e.Snippet(src))
	}
	// Output:
	// policy.xml:3:17: unexpected end of input in attribute value: the value of "name" opened at 3:22 has no closing "
	//         <set-header name="x
	//                     ^
}

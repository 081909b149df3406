package policies_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// TestValidateODataRequestErrors: what <validate-odata-request> refuses at
// load, with its position. What it does to requests is in internal/server's
// TestValidateODataRequest.
func TestValidateODataRequestErrors(t *testing.T) {
	tests := []struct {
		name, inbound, outbound, want string
	}{
		{"not a version", `<validate-odata-request min-odata-version="four" />`, "",
			`policy.xml:1:63: min-odata-version of <validate-odata-request> must be an OData version such as 4.0 or 4.01, not "four"`},
		{"a version without its minor part", `<validate-odata-request default-odata-version="4" />`, "",
			`policy.xml:1:67: default-odata-version of <validate-odata-request> must be an OData version such as 4.0 or 4.01, not "4"`},
		{"a version with three parts", `<validate-odata-request max-odata-version="4.0.1" />`, "",
			`policy.xml:1:63: max-odata-version of <validate-odata-request> must be an OData version such as 4.0 or 4.01, not "4.0.1"`},
		{"an expression", `<validate-odata-request max-odata-version="@(&quot;4.0&quot;)" />`, "",
			`policy.xml:1:63: attribute max-odata-version of <validate-odata-request> does not accept policy expressions`},
		{"min above max", `<validate-odata-request min-odata-version="4.01" max-odata-version="4.0" />`, "",
			`policy.xml:1:88: max-odata-version 4.0 of <validate-odata-request> is below min-odata-version 4.01`},
		{"a default below min", `<validate-odata-request default-odata-version="4.0" min-odata-version="4.01" />`, "",
			`policy.xml:1:67: default-odata-version 4.0 of <validate-odata-request> is outside the versions it accepts (OData 4.01 or later): requests without OData-Version would all be refused`},
		{"the implicit default below min", `<validate-odata-request min-odata-version="4.01" />`, "",
			`policy.xml:1:20: the default OData version 4.0 (default-odata-version is not set) of <validate-odata-request> is outside the versions it accepts (OData 4.01 or later)`},
		{"a default above max", `<validate-odata-request default-odata-version="4.01" max-odata-version="4.0" />`, "",
			`policy.xml:1:67: default-odata-version 4.01 of <validate-odata-request> is outside the versions it accepts (OData 4.0 or earlier)`},
		{"a max of 0.0", `<validate-odata-request max-odata-version="0.0" />`, "",
			`policy.xml:1:20: the default OData version 4.0 (default-odata-version is not set) of <validate-odata-request> is outside the versions it accepts (OData 0.0 or earlier)`},
		{"a negative max-size", `<validate-odata-request max-size="-1" />`, "",
			`policy.xml:1:54: max-size of <validate-odata-request> must be a whole number of bytes, such as 102400, not "-1"`},
		{"a max-size with a unit", `<validate-odata-request max-size="100KB" />`, "",
			`policy.xml:1:54: max-size of <validate-odata-request> must be a whole number of bytes, such as 102400, not "100KB"`},
		{"an empty error variable", `<validate-odata-request error-variable-name="" />`, "",
			`policy.xml:1:65: error-variable-name of <validate-odata-request> must not be empty`},
		{"the other validation policies' attribute", `<validate-odata-request errors-variable-name="errs" />`, "",
			`policy.xml:1:44: unknown attribute "errors-variable-name" on <validate-odata-request>; expected error-variable-name, default-odata-version, min-odata-version, max-odata-version, max-size`},
		{"a child", `<validate-odata-request><max-size>10</max-size></validate-odata-request>`, "",
			`policy.xml:1:44: <validate-odata-request> takes no child elements, found <max-size>`},
		{"in outbound", "", `<validate-odata-request />`,
			`policy.xml:1:59: policy <validate-odata-request> is not allowed in <outbound>; it can be used in inbound`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sideCompile(t, policies.Deps{}, sideDoc(tt.inbound, "", tt.outbound, ""))
			if err == nil || !strings.Contains(err.Error(), tt.want) || strings.Count(err.Error(), "policy.xml:") != 1 {
				t.Errorf("error %v\nwant one, containing %s", err, tt.want)
			}
		})
	}

	for _, ok := range []string{
		`<validate-odata-request />`,
		`<validate-odata-request default-odata-version="4.01" />`,
		`<validate-odata-request error-variable-name="odata-errors" default-odata-version="4.0" min-odata-version="4.0" max-odata-version="4.01" max-size="100" />`,
		`<validate-odata-request min-odata-version="3.0" max-odata-version="4.0" max-size="0" />`,
	} {
		if _, err := sideCompile(t, policies.Deps{}, sideDoc(ok, "", "", "")); err != nil {
			t.Errorf("%s: %v", ok, err)
		}
	}

	// API Management allows it in the global, product and API policies.
	r := pipeline.NewRegistry()
	policies.Register(r, policies.Deps{})
	doc, _ := policyxml.Parse("policy.xml", []byte(sideDoc(`<validate-odata-request />`, "", "", "")))
	for scope, want := range map[string]string{"global": "", "product": "", "api": "",
		"operation": "policy.xml:1:20: <validate-odata-request> cannot be used in an operation's policy"} {
		_, err := pipeline.NewCompiler(r, policies.Expressions, nil).Compile(doc, scope)
		if want == "" && err != nil || want != "" && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s scope: %v, want %q", scope, err, want)
		}
	}
}

// BenchmarkValidateODataRequest runs validate-odata-request on a typical
// query ($filter, $top, $select) with OData-Version 4.0, as a pipeline's
// inbound.
func BenchmarkValidateODataRequest(b *testing.B) {
	p, err := sideCompile(&testing.T{}, policies.Deps{}, sideDoc(
		`<validate-odata-request error-variable-name="odata-errors" min-odata-version="4.0" max-odata-version="4.01" max-size="102400" />`, "", "", ""))
	if err != nil {
		b.Fatal(err)
	}
	orig, _ := url.Parse("http://gateway.local/odata/Products?$filter=" + url.QueryEscape("Name eq 'Milk' and (Price lt 2.55 or Rating ge 4)") +
		"&$top=10&$select=Name,Price,Rating")
	h := http.Header{"Odata-Version": {"4.0"}, "Accept": {"application/json"}}
	b.ReportAllocs()
	for b.Loop() {
		x := &exchange.Exchange{Request: exchange.Request{Method: "GET", URL: orig, OriginalURL: orig, Headers: h}}
		if err := p.Run(context.Background(), x); err != nil || x.LastError != nil {
			b.Fatalf("%v %v", err, x.LastError)
		}
	}
}

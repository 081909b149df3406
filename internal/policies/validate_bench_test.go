package policies_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/lastmile-gw/lastmile/internal/apispec"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/policies"
)

const benchSpec = `openapi: 3.0.1
info: {title: t, version: "1"}
paths:
  /items:
    post:
      parameters:
        - {name: a, in: query, schema: {type: integer, minimum: 0}}
        - {name: X-Trace, in: header, schema: {type: string, pattern: "^[a-f0-9]{8}$"}}
      requestBody:
        content: {application/json: {schema: {$ref: "#/components/schemas/Order"}}}
      responses:
        "201": {description: ok}
components:
  schemas:
    Order:
      type: object
      required: [id, lines]
      properties:
        id: {type: integer, minimum: 1}
        note: {type: string, maxLength: 200}
        lines:
          type: array
          items:
            type: object
            required: [sku, qty]
            properties:
              sku: {type: string, pattern: "^[A-Z]{3}-[0-9]{4}$"}
              qty: {type: integer, minimum: 1}
`

// BenchmarkValidation runs validate-parameters and validate-content (JSON, a
// 10-line order of about 400 bytes) on one request, as a pipeline's inbound.
func BenchmarkValidation(b *testing.B) {
	doc, err := openapi3.NewLoader().LoadFromData([]byte(benchSpec))
	if err != nil {
		b.Fatal(err)
	}
	pi := doc.Paths.Find("/items")
	op := &exchange.Operation{ID: "add", Method: "POST", Spec: apispec.FromOpenAPI(pi.Parameters, pi.Post)}
	p, err := sideCompile(&testing.T{}, policies.Deps{}, sideDoc(`
		<validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="prevent"><headers unspecified-parameter-action="ignore" /></validate-parameters>
		<validate-content unspecified-content-type-action="prevent" max-size="102400" size-exceeded-action="prevent"><content type="application/json" validate-as="json" action="prevent" /></validate-content>`, "", "", ""))
	if err != nil {
		b.Fatal(err)
	}
	body := `{"id":42,"note":"leave at the door","lines":[`
	for i := range 10 {
		if i > 0 {
			body += ","
		}
		body += `{"sku":"ABC-123` + string(rune('0'+i)) + `","qty":2}`
	}
	body += `]}`
	b.ReportAllocs()
	for b.Loop() {
		x := sideExchange("POST", http.Header{"Content-Type": {"application/json"}, "X-Trace": {"0a1b2c3d"}}, body)
		x.Operation = op
		if err := p.Run(context.Background(), x); err != nil || x.LastError != nil {
			b.Fatalf("%v %v", err, x.LastError)
		}
	}
}

package apispec_test

import (
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/lastmile-gw/lastmile/internal/apispec"
)

const spec = `openapi: 3.0.1
info: {title: t, version: "1"}
paths:
  /items/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: string}}
      - {name: x-tenant, in: header, schema: {type: string}}
    get:
      parameters:
        - {name: id, in: path, required: true, schema: {type: integer}}
        - {name: session, in: cookie, schema: {type: string}}
        - name: filter
          in: query
          content: {application/json: {schema: {$ref: "#/components/schemas/Filter"}}}
      requestBody:
        content:
          Application/JSON: {schema: {$ref: "#/components/schemas/Filter"}}
          "text/*": {}
      responses:
        "200":
          description: ok
          headers: {x-rate-limit: {schema: {type: integer}}}
          content: {"*/*": {}}
        "4xx": {description: client}
        default: {description: other}
components:
  schemas:
    Filter: {type: object}
`

func load(t *testing.T) *apispec.Operation {
	t.Helper()
	l := openapi3.NewLoader()
	doc, err := l.LoadFromData([]byte(spec))
	if err != nil {
		t.Fatal(err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatal(err)
	}
	pi := doc.Paths.Find("/items/{id}")
	return apispec.FromOpenAPI(pi.Parameters, pi.Get)
}

func TestFromOpenAPI(t *testing.T) {
	o := load(t)
	var got []string
	for _, p := range o.Params {
		typ := "-"
		if p.Schema != nil && p.Schema.Value.Type != nil {
			typ = p.Schema.Value.Type.Slice()[0]
		}
		got = append(got, p.In+" "+p.Name+" "+typ)
	}
	// The operation's id wins over its path's; cookies are not parameters the
	// policies check; a content parameter takes its media type's schema; header
	// names are canonical.
	want := []string{"path id integer", "query filter object", "header X-Tenant string"}
	if len(got) != len(want) {
		t.Fatalf("params %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("param %d: %s, want %s", i, got[i], want[i])
		}
	}
	if s, ok := o.Request.Find("application/json; charset=utf-8"); !ok || s == nil || s.Name != "Filter" {
		t.Errorf("request application/json: %v %v", s, ok)
	}
	if s, ok := o.Request.Find("TEXT/plain"); !ok || s != nil {
		t.Errorf("request text/plain: %v %v, want the text/* entry without a schema", s, ok)
	}
	if _, ok := o.Request.Find("image/png"); ok {
		t.Error("request image/png found")
	}
	if _, ok := o.Request.Find(""); ok {
		t.Error("a message without a content type found")
	}
}

func TestResponse(t *testing.T) {
	o := load(t)
	for _, tt := range []struct {
		status int
		want   string
	}{
		{200, "200"}, {404, "4XX"}, {500, "default"}, {201, "default"},
	} {
		got := o.Response(tt.status)
		if got == nil || got != o.Responses[tt.want] {
			t.Errorf("Response(%d) is not %s", tt.status, tt.want)
		}
	}
	if _, ok := o.Response(200).Headers["X-Rate-Limit"]; !ok {
		t.Error("the 200's header is not under its canonical name")
	}
	if _, ok := o.Response(200).Content.Find("application/xml"); !ok {
		t.Error("*/* does not match application/xml")
	}
	delete(o.Responses, "default")
	if o.Response(500) != nil {
		t.Error("Response(500) without a default")
	}
	var none *apispec.Operation
	if none.Response(200) != nil {
		t.Error("a nil operation has a response")
	}
}

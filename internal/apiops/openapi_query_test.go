package apiops

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// oa3 is an OpenAPI 3 document whose body starts on line 5.
func oa3(body string) string {
	return "openapi: 3.0.1\ninfo:\n  title: x\n  version: '1'\n" + body
}

// TestRequiredQueryTemplates checks that required query parameters become
// template parameters of their operations, as API Management's OpenAPI import
// makes them unless translateRequiredQueryParameters is "query".
func TestRequiredQueryTemplates(t *testing.T) {
	search := oa3("paths:\n  /search:\n    get:\n      operationId: search\n      parameters:\n" +
		"        - {name: page, in: query, schema: {type: integer}}\n" +
		"        - {name: q, in: query, required: true, schema: {type: string}}\n" +
		"        - {name: X-Id, in: header, required: true, schema: {type: string}}\n" +
		"        - {name: sid, in: cookie, required: true, schema: {type: string}}\n" +
		"      responses: {}\n")
	for _, tc := range []struct {
		name      string
		translate string // translateRequiredQueryParameters, "" when absent
		file      string
		spec      string
		want      []opView
		wantWarn  []Warning
	}{
		{
			name: "a required query parameter; optional ones, headers and cookies are not template parameters",
			spec: search,
			want: []opView{{"search", "", "GET", "/search?q={q}", ""}},
		},
		{
			name:      "translateRequiredQueryParameters template is the default",
			translate: "template",
			spec:      search,
			want:      []opView{{"search", "", "GET", "/search?q={q}", ""}},
		},
		{
			name:      "translateRequiredQueryParameters query keeps them out of the template",
			translate: "query",
			spec:      search,
			want:      []opView{{"search", "", "GET", "/search", ""}},
		},
		{
			name:      "the setting's case does not matter",
			translate: "Query",
			spec:      search,
			want:      []opView{{"search", "", "GET", "/search", ""}},
		},
		{
			name: "the operation's own in order, then its path's that it does not override, after path parameters",
			spec: oa3("paths:\n  /items/{id}:\n    parameters:\n" +
				"      - {name: id, in: path, required: true, schema: {type: string}}\n" +
				"      - {name: a, in: query, required: true, schema: {type: string}}\n" +
				"      - {name: b, in: query, required: true, schema: {type: string}}\n" +
				"      - {name: c, in: header, required: true, schema: {type: string}}\n" +
				"    get:\n      operationId: get-item\n      parameters:\n" +
				"        - {name: z, in: query, required: true, schema: {type: string}}\n" +
				"        - {name: b, in: query, required: false, schema: {type: string}}\n" +
				"        - {name: c, in: query, required: true, schema: {type: string}}\n" +
				"      responses: {}\n" +
				"    delete:\n      operationId: delete-item\n      responses: {}\n"),
			want: []opView{
				{"delete-item", "", "DELETE", "/items/{id}?a={a}&b={b}", ""},
				{"get-item", "", "GET", "/items/{id}?z={z}&c={c}&a={a}", ""},
			},
		},
		{
			name: "references are followed",
			spec: oa3("paths:\n  /r:\n    get:\n      operationId: r\n      parameters:\n        - $ref: '#/components/parameters/Q'\n      responses: {}\n" +
				"components:\n  parameters:\n    Q: {name: api-version, in: query, required: true, schema: {type: string}}\n"),
			want: []opView{{"r", "", "GET", "/r?api-version={api-version}", ""}},
		},
		{
			name: "x-ms-paths: a parameter the query part has stays as written, others are added",
			spec: oa3("paths: {}\nx-ms-paths:\n  /search?mode=exact&q={term}:\n    get:\n      operationId: search-exact\n      parameters:\n" +
				"        - {name: q, in: query, required: true, schema: {type: string}}\n" +
				"        - {name: mode, in: query, required: true, schema: {type: string}}\n" +
				"        - $ref: '#/components/parameters/Lang'\n" +
				"      responses: {}\n" +
				"components:\n  parameters:\n    Lang: {name: lang, in: query, required: true, schema: {type: string}}\n"),
			want: []opView{{"search-exact", "", "GET", "/search?mode=exact&q={term}&lang={lang}", ""}},
		},
		{
			name: "Swagger 2, with a reference, a body parameter and a path's parameter",
			file: "specification.json",
			spec: `{"swagger": "2.0", "info": {"title": "x", "version": "1"},
"parameters": {"V": {"name": "v", "in": "query", "required": true, "type": "string"}},
"paths": {"/a": {"parameters": [{"name": "p", "in": "query", "required": true, "type": "string"}], "post": {"operationId": "post-a", "parameters": [
  {"name": "body", "in": "body", "required": true, "schema": {"type": "object"}},
  {"name": "k", "in": "query", "required": true, "type": "string"},
  {"$ref": "#/parameters/V"}],
  "responses": {"200": {"description": "ok"}}}}},
"x-ms-paths": {"/a?op=x": {"get": {"operationId": "get-a-x", "parameters": [{"$ref": "#/parameters/V"}], "responses": {"200": {"description": "ok"}}}}}}`,
			want: []opView{
				{"post-a", "", "POST", "/a?k={k}&v={v}&p={p}", ""},
				{"get-a-x", "", "GET", "/a?op=x&v={v}", ""},
			},
		},
		{
			name: "an operation without an operationId is named by its path alone",
			spec: oa3("paths:\n  /search:\n    get:\n      parameters:\n        - {name: q, in: query, required: true, schema: {type: string}}\n      responses: {}\n"),
			want: []opView{{"get-search", "", "GET", "/search?q={q}", ""}},
			wantWarn: []Warning{{"apis/x/specification.yaml",
				"operations without an operationId were named by method and path: GET /search?q={q} as get-search; add operationId to them to name their policy folders"}},
		},
		{
			name:      "with query, a required query parameter may have a path parameter's name",
			translate: "query",
			spec: oa3("paths:\n  /items/{id}:\n    get:\n      operationId: get-item\n      parameters:\n" +
				"        - {name: id, in: path, required: true, schema: {type: string}}\n" +
				"        - {name: id, in: query, required: true, schema: {type: string}}\n      responses: {}\n"),
			want: []opView{{"get-item", "", "GET", "/items/{id}", ""}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			props := []string{`    "path": "x"`}
			if tc.translate != "" {
				props = append(props, `    "translateRequiredQueryParameters": "`+tc.translate+`"`)
			}
			file := tc.file
			if file == "" {
				file = "specification.yaml"
			}
			svc, errs, _ := loadTree(t, map[string]string{
				"apis/x/apiInformation.json": info(props...),
				"apis/x/" + file:             tc.spec,
			})
			if errs != nil {
				t.Fatalf("Load: %s", strings.Join(errs, "\n"))
			}
			if diff := cmp.Diff(tc.want, viewAPI(svc.APIs[0]).Operations); diff != "" {
				t.Errorf("operations (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.wantWarn, svc.Warnings); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

// TestRequiredQueryTemplateErrors checks the load errors of required query
// parameters that cannot be template parameters, each at the parameter.
func TestRequiredQueryTemplateErrors(t *testing.T) {
	const fix = `, or set "translateRequiredQueryParameters": "query" in the API's apiInformation.json to keep required query parameters out of URL templates`
	for _, tc := range []struct {
		name      string
		translate string
		spec      string
		want      []string
	}{
		{
			name: "a path parameter's name",
			spec: oa3("paths:\n  /items/{id}:\n    get:\n      operationId: get-item\n      parameters:\n" +
				"        - {name: id, in: path, required: true, schema: {type: string}}\n" +
				"        - {name: id, in: query, required: true, schema: {type: string}}\n      responses: {}\n"),
			want: []string{`apis/x/specification.yaml:11:18: required query parameter "id" of GET /items/{id} has the name of the template parameter {id}; ` +
				`API Management makes required query parameters template parameters (?id={id}), whose names must differ, and refuses to import this: rename one of them, make the query parameter optional` + fix},
		},
		{
			name: "a reference, given at the path, to a wildcard's name",
			spec: oa3("paths:\n  /files/{*rest}:\n    parameters:\n      - $ref: '#/components/parameters/Rest'\n" +
				"    get:\n      operationId: get-file\n      responses: {}\n" +
				"components:\n  parameters:\n    Rest: {name: rest, in: query, required: true, schema: {type: string}}\n"),
			want: []string{`apis/x/specification.yaml:8:15: required query parameter "rest" of GET /files/{*rest} has the name of the template parameter {rest}; ` +
				`API Management makes required query parameters template parameters (?rest={rest}), whose names must differ, and refuses to import this: rename one of them, make the query parameter optional` + fix},
		},
		{
			name: "Swagger 2 in JSON",
			spec: `{"swagger": "2.0", "info": {"title": "x", "version": "1"},
"paths": {"/a/{k}": {"get": {"operationId": "a", "parameters": [
  {"name": "k", "in": "path", "required": true, "type": "string"},
  {"name": "k", "in": "query", "required": true, "type": "string"}],
  "responses": {"200": {"description": "ok"}}}}}}`,
			want: []string{`apis/x/specification.yaml:4:12: required query parameter "k" of GET /a/{k} has the name of the template parameter {k}; ` +
				`API Management makes required query parameters template parameters (?k={k}), whose names must differ, and refuses to import this: rename one of them, make the query parameter optional` + fix},
		},
		{
			name: "a name a template cannot hold",
			spec: oa3("paths:\n  /a:\n    get:\n      operationId: a\n      parameters:\n" +
				"        - name: 'x=y'\n          in: query\n          required: true\n      responses: {}\n"),
			want: []string{`apis/x/specification.yaml:10:17: required query parameter "x=y" of GET /a cannot be a URL template parameter, which API Management makes it: ` +
				`its name has '=', which a template uses; rename it, make it optional` + fix},
		},
		{
			name:      "an unknown translateRequiredQueryParameters",
			translate: "body",
			spec:      oa3("paths: {}\n"),
			want: []string{`apis/x/apiInformation.json:4:41: "translateRequiredQueryParameters" is "body"; it is "template" (required query parameters of the specification ` +
				`become template parameters of their operations, the default) or "query" (they stay query parameters)`},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			props := []string{`    "path": "x"`}
			if tc.translate != "" {
				props = append(props, `    "translateRequiredQueryParameters": "`+tc.translate+`"`)
			}
			_, errs, _ := loadTree(t, map[string]string{
				"apis/x/apiInformation.json": info(props...),
				"apis/x/specification.yaml":  tc.spec,
			})
			if diff := cmp.Diff(tc.want, errs); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

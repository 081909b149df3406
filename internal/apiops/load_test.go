package apiops

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// info wraps property lines (each indented by four spaces) in the ARM shape, so
// that the first property is on line 3.
func info(props ...string) string {
	return "{\n  \"properties\": {\n" + strings.Join(props, ",\n") + "\n  }\n}\n"
}

const ordersSpec = `openapi: 3.0.1
info:
  title: orders
  version: '1.0'
paths:
  /orders:
    get:
      operationId: list-orders
      responses:
        '200':
          description: ok
    post:
      operationId: create-order
      responses:
        '201':
          description: created
  /orders/{id}:
    get:
      operationId: get-order-by-id
      parameters:
        - name: id
          in: path
          required: true
          schema:
            type: string
      responses:
        '200':
          description: ok
`

const emptyPolicies = "<policies>\n\t<inbound>\n\t\t<base />\n\t</inbound>\n</policies>\n"

// policyWith returns a policy document whose inbound section holds body, which
// starts on line 3.
func policyWith(body string) string {
	return "<policies>\n\t<inbound>\n" + body + "\n\t</inbound>\n</policies>\n"
}

// baseTree is a small valid folder: one API with a specification, one product.
func baseTree() map[string]string {
	return map[string]string{
		"policy.xml":                                        emptyPolicies,
		"apis/orders/apiInformation.json":                   info(`    "path": "orders"`, `    "serviceUrl": "https://orders.internal"`),
		"apis/orders/specification.yaml":                    ordersSpec,
		"products/p/productInformation.json":                info(`    "displayName": "P"`, `    "state": "published"`),
		"products/p/apis/orders/productApiInformation.json": "{}",
	}
}

// writeTree writes files into a new temporary folder. A value of "<dir>" makes
// an empty folder.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for rel, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if content == "<dir>" {
			if err := os.MkdirAll(p, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// tree is baseTree with changes: a nil value deletes a file.
func tree(changes map[string]*string) map[string]string {
	files := baseTree()
	for k, v := range changes {
		if v == nil {
			delete(files, k)
		} else {
			files[k] = *v
		}
	}
	return files
}

func s(v string) *string { return &v }

// loadTree writes files and loads them, returning the service, the error lines
// with the folder prefix removed, and the log.
func loadTree(t *testing.T, files map[string]string) (*Service, []string, *recorder) {
	t.Helper()
	dir := writeTree(t, files)
	rec := &recorder{}
	svc, err := Load(t.Context(), dir, slog.New(rec))
	if err == nil {
		return svc, nil, rec
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Load returned %T, want ErrorList: %v", err, err)
	}
	if svc != nil {
		t.Errorf("Load returned a Service with an error")
	}
	lines := strings.Split(strings.ReplaceAll(err.Error(), dir+string(filepath.Separator), ""), "\n")
	return nil, lines, rec
}

func TestLoadErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changes map[string]*string
		want    []string
		// wantPrefix checks only the start of a single error, for messages that
		// another library writes.
		wantPrefix string
	}{
		{
			name: "bad JSON has line and column",
			changes: map[string]*string{"apis/orders/apiInformation.json": s(
				"{\n  \"properties\": {\n    \"path\": \"orders\"\n    \"serviceUrl\": \"https://x\"\n  }\n}\n")},
			want: []string{`apis/orders/apiInformation.json:4:5: invalid JSON: invalid character '"' after object key:value pair`},
		},
		{
			name: "truncated JSON points at the end",
			changes: map[string]*string{"apis/orders/apiInformation.json": s(
				"{\n  \"properties\": {\n    \"path\": \"orders\"\n")},
			want: []string{`apis/orders/apiInformation.json:4:1: invalid JSON: unexpected end of JSON input`},
		},
		{
			name:    "value of the wrong type is reported at the value",
			changes: map[string]*string{"apis/orders/apiInformation.json": s(info(`    "path": "orders"`, `    "subscriptionRequired": "yes"`))},
			want:    []string{`apis/orders/apiInformation.json:4:29: "subscriptionRequired" must be true or false, not a string`},
		},
		{
			name:    "nested value of the wrong type",
			changes: map[string]*string{"apis/orders/apiInformation.json": s(info(`    "path": "orders"`, `    "subscriptionKeyParameterNames": {"header": 7}`))},
			want:    []string{`apis/orders/apiInformation.json:4:49: "header" must be a string, not a number`},
		},
		{
			name:    "properties of the wrong type",
			changes: map[string]*string{"apis/orders/apiInformation.json": s(`{"properties": ["path"]}`)},
			want:    []string{`apis/orders/apiInformation.json:1:16: "properties" must be an object, not an array`},
		},
		{
			name:    "no properties wrapper",
			changes: map[string]*string{"apis/orders/apiInformation.json": s(`{"path": "orders"}`)},
			want:    []string{`apis/orders/apiInformation.json:1:1: there is no "properties" object; apiops files have the shape {"properties": {...}}: move the fields into it`},
		},
		{
			name:    "top level is not an object",
			changes: map[string]*string{"apis/orders/apiInformation.json": s("\n  [1]")},
			want:    []string{`apis/orders/apiInformation.json:2:3: the file must be an object, not an array`},
		},
		{
			name:    "empty info file",
			changes: map[string]*string{"apis/orders/apiInformation.json": s(" \n")},
			want:    []string{`apis/orders/apiInformation.json: the file is empty; it must hold the resource as {"properties": {...}}`},
		},
		{
			name:    "missing apiInformation.json",
			changes: map[string]*string{"apis/orders/apiInformation.json": nil},
			want:    []string{`apis/orders/apiInformation.json: missing; apiops writes one in every API folder: add it, or remove the folder apis/orders`},
		},
		{
			name:    "missing path",
			changes: map[string]*string{"apis/orders/apiInformation.json": s(info(`    "displayName": "Orders"`))},
			want:    []string{`apis/orders/apiInformation.json:2:17: "path" is missing; set it to the API URL suffix (the part after the gateway's host, "" for the root)`},
		},
		{
			name:    "subscription scope names an unknown product",
			changes: map[string]*string{"subscriptions/s/subscriptionInformation.json": s(info(`    "scope": "/products/nope"`, `    "state": "active"`))},
			want:    []string{`subscriptions/s/subscriptionInformation.json:3:14: scope names product "nope", which does not exist; known products: p`},
		},
		{
			name:    "subscription scope names an unknown product in a full ARM id",
			changes: map[string]*string{"subscriptions/s/subscriptionInformation.json": s(info(`    "scope": "/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc/products/nope"`))},
			want:    []string{`subscriptions/s/subscriptionInformation.json:3:14: scope names product "nope", which does not exist; known products: p`},
		},
		{
			name:    "subscription scope names an unknown API",
			changes: map[string]*string{"subscriptions/s/subscriptionInformation.json": s(info(`    "scope": "/apis/nope"`))},
			want:    []string{`subscriptions/s/subscriptionInformation.json:3:14: scope names API "nope", which does not exist; known APIs: orders`},
		},
		{
			name:    "subscription scope of an unknown kind",
			changes: map[string]*string{"subscriptions/s/subscriptionInformation.json": s(info(`    "scope": "/groups/admins"`))},
			want:    []string{`subscriptions/s/subscriptionInformation.json:3:14: scope "/groups/admins" is not a scope lastmile knows; use "/products/<product>", "/apis/<api>" or "/apis" (all APIs)`},
		},
		{
			name:    "subscription state that does not exist",
			changes: map[string]*string{"subscriptions/s/subscriptionInformation.json": s(info(`    "scope": "/apis"`, `    "state": "paused"`))},
			want:    []string{`subscriptions/s/subscriptionInformation.json:4:14: state "paused" is not one of active, suspended, cancelled, expired, submitted, rejected`},
		},
		{
			name: "two subscriptions with the same key",
			changes: map[string]*string{
				"subscriptions/a/subscriptionInformation.json": s(info(`    "primaryKey": "k-0123456789"`)),
				"subscriptions/b/subscriptionInformation.json": s(info(`    "primaryKey": "k-other"`, `    "secondaryKey": "k-0123456789"`)),
			},
			want: []string{`subscriptions/b/subscriptionInformation.json:4:21: secondaryKey is the same key as the primaryKey of subscriptions/a; every key must be unique, or a call could not tell them apart`},
		},
		{
			name:    "operation folder that matches no operationId",
			changes: map[string]*string{"apis/orders/operations/get-order/policy.xml": s(emptyPolicies)},
			want:    []string{`apis/orders/operations/get-order: operation folder "get-order" matches no operationId in apis/orders/specification.yaml (known operationIds: create-order, get-order-by-id, list-orders); rename the folder to the operation's operationId`},
		},
		{
			name: "operation folder in an API without a specification",
			changes: map[string]*string{
				"apis/orders/specification.yaml":      nil,
				"apis/orders/operations/x/policy.xml": s(emptyPolicies),
			},
			want: []string{`apis/orders/operations/x: there is a policy for operation "x", but the API has no specification to define operations; add apis/orders/specification.yaml or remove the folder`},
		},
		{
			name:    "specification that is not YAML",
			changes: map[string]*string{"apis/orders/specification.yaml": s("openapi: 3.0.1\npaths:\n\t/x: {}\n")},
			want:    []string{`apis/orders/specification.yaml:3: invalid YAML in the specification: found character that cannot start any token`},
		},
		{
			name:    "specification JSON with a syntax error",
			changes: map[string]*string{"apis/orders/specification.yaml": nil, "apis/orders/specification.json": s("{\n  \"openapi\": \"3.0.1\"\n  \"paths\": {}\n}\n")},
			want:    []string{`apis/orders/specification.json:3:3: invalid JSON in the specification: invalid character '"' after object key:value pair`},
		},
		{
			name: "a broken specification does not make its operation folders unknown",
			changes: map[string]*string{
				"apis/orders/specification.yaml":                s("title: hello\n"),
				"apis/orders/operations/list-orders/policy.xml": s(emptyPolicies),
			},
			want: []string{`apis/orders/specification.yaml:1:1: the specification is not an OpenAPI document: it has neither "openapi" nor "swagger" at the top level`},
		},
		{
			name: "operation folders of an API that is not served are only parsed",
			changes: map[string]*string{
				"apis/soap/apiInformation.json":            s(info(`    "path": "soap"`, `    "type": "soap"`)),
				"apis/soap/operations/GetQuote/policy.xml": s(emptyPolicies),
				"apis/soap/operations/Broken/policy.xml":   s("<policies>"),
			},
			wantPrefix: "apis/soap/operations/Broken/policy.xml:1:",
		},
		{
			name: "a GraphQL schema that does not load",
			changes: map[string]*string{
				"apis/gql/apiInformation.json":   s(info(`    "path": "gql"`, `    "type": "graphql"`, `    "serviceUrl": "https://gql.example"`)),
				"apis/gql/specification.graphql": s("type Query {\n  orders: [Order]\n}\n"),
			},
			want: []string{`apis/gql/specification.graphql:2:12: the GraphQL schema does not load: Undefined type Order.`},
		},
		{
			name:    "specification that is not OpenAPI",
			changes: map[string]*string{"apis/orders/specification.yaml": s("title: hello\n")},
			want:    []string{`apis/orders/specification.yaml:1:1: the specification is not an OpenAPI document: it has neither "openapi" nor "swagger" at the top level`},
		},
		{
			name:    "specification of an unsupported OpenAPI version",
			changes: map[string]*string{"apis/orders/specification.yaml": s("openapi: 4.0.0\npaths: {}\n")},
			want:    []string{`apis/orders/specification.yaml:1:10: OpenAPI version "4.0.0" is not supported; lastmile reads OpenAPI 3.x and Swagger 2.0`},
		},
		{
			name:       "specification that kin-openapi rejects",
			changes:    map[string]*string{"apis/orders/specification.yaml": s("openapi: 3.0.1\ninfo:\n  title: x\n  version: '1'\npaths: 5\n")},
			wantPrefix: `apis/orders/specification.yaml:5: not a valid OpenAPI 3 document: `,
		},
		{
			name:       "specification with a $ref to another file",
			changes:    map[string]*string{"apis/orders/specification.yaml": s("openapi: 3.0.1\ninfo:\n  title: x\n  version: '1'\npaths:\n  /a:\n    $ref: 'other.yaml#/a'\n")},
			wantPrefix: `apis/orders/specification.yaml: not a valid OpenAPI 3 document: `,
		},
		{
			name:    "Swagger specification with an alias that contains itself",
			changes: map[string]*string{"apis/orders/specification.yaml": s("swagger: '2.0'\npaths:\n  /a: &a\n    get: *a\n")},
			want:    []string{"apis/orders/specification.yaml:3: not a valid Swagger 2.0 document: line 3: a YAML alias refers to a node that contains it; a specification cannot be infinite; fix the specification, or delete it to serve the API without operations (every path under its URL suffix)"},
		},
		{
			name:       "OpenAPI specification with an alias that contains itself",
			changes:    map[string]*string{"apis/orders/specification.yaml": s("openapi: 3.0.1\npaths:\n  /a: &a\n    get: *a\n")},
			wantPrefix: "apis/orders/specification.yaml: not a valid OpenAPI 3 document: ",
		},
		{
			name: "duplicate operationId is reported at the second",
			changes: map[string]*string{"apis/orders/specification.yaml": s("openapi: 3.0.1\ninfo:\n  title: x\n  version: '1'\npaths:\n" +
				"  /a:\n    get:\n      operationId: same\n      responses: {}\n" +
				"  /b:\n    get:\n      operationId: same\n      responses: {}\n")},
			want: []string{`apis/orders/specification.yaml:12:20: operationId "same" of GET /b is also the operationId of GET /a (line 8); operation ids must be unique within an API`},
		},
		{
			name:    "undefined named value is reported at its braces",
			changes: map[string]*string{"apis/orders/policy.xml": s(policyWith("\t\t<set-header name=\"X-Env\" exists-action=\"override\">\n\t\t\t<value>env-{{environment}}</value>\n\t\t</set-header>"))},
			want:    []string{`apis/orders/policy.xml:4:15: named value "environment" is not defined: add named values/environment/namedValueInformation.json`},
		},
		{
			name: "named value referred to by its folder name instead of its display name",
			changes: map[string]*string{
				"named values/env-nv/namedValueInformation.json": s(info(`    "displayName": "environment-name"`, `    "value": "prod"`)),
				"policy.xml": s(policyWith(`		<set-variable name="e" value="{{env-nv}}" />`)),
			},
			want: []string{`policy.xml:3:33: named value "env-nv" is not defined; named values/env-nv has the display name "environment-name": write {{environment-name}}`},
		},
		{
			name: "secret named value without a value, used by a policy",
			changes: map[string]*string{
				"named values/db-password/namedValueInformation.json": s(info(`    "displayName": "db-password"`, `    "secret": true`)),
				"products/p/policy.xml":                               s(policyWith(`		<set-header name="X-Pw" exists-action="override"><value>{{db-password}}</value></set-header>`)),
			},
			want: []string{`products/p/policy.xml:3:59: named value "db-password" is secret and apiops extracts secrets without their value; set the environment variable LASTMILE_NAMED_VALUE_DB_PASSWORD to its value`},
		},
		{
			name: "Key Vault named value used by a fragment",
			changes: map[string]*string{
				"named values/kv/namedValueInformation.json": s(info(`    "displayName": "kv-secret"`, `    "secret": true`, `    "keyVault": {"secretIdentifier": "https://v.vault.azure.net/secrets/s"}`)),
				"policy fragments/f/policy.xml":              s("<fragment>\n\t<set-variable name=\"k\" value=\"{{kv-secret}}\" />\n</fragment>\n"),
			},
			want: []string{`policy fragments/f/policy.xml:2:32: named value "kv-secret" is a Key Vault reference, which lastmile does not read; set the environment variable LASTMILE_NAMED_VALUE_KV_SECRET to its value`},
		},
		{
			name: "two named values with one display name",
			changes: map[string]*string{
				"named values/a/namedValueInformation.json": s(info(`    "displayName": "shared"`, `    "value": "1"`)),
				"named values/b/namedValueInformation.json": s(info(`    "displayName": "shared"`, `    "value": "2"`)),
			},
			want: []string{`named values/b/namedValueInformation.json:3:20: display name "shared" is also the display name of named values/a, so {{shared}} would be ambiguous; rename one`},
		},
		{
			name: "named value in backend credentials without a value",
			changes: map[string]*string{
				"backends/b/backendInformation.json": s(info(`    "url": "https://b.internal"`, `    "credentials": {"header": {"x-key": ["{{b-key}}"]}}`)),
			},
			want: []string{`backends/b/backendInformation.json:4:41: named value "b-key" is not defined: add named values/b-key/namedValueInformation.json`},
		},
		{
			name:    "backend without url",
			changes: map[string]*string{"backends/b/backendInformation.json": s(info(`    "protocol": "http"`))},
			want:    []string{`backends/b/backendInformation.json:2:17: the backend has neither "url" nor "pool"; set "url" to the backend's base URL`},
		},
		{
			name: "two APIs at one path",
			changes: map[string]*string{
				"apis/orders2/apiInformation.json": s(info(`    "path": "Orders/"`)),
			},
			want: []string{`apis/orders2/apiInformation.json:3:13: API orders2 is served at /Orders, and so is API orders (apis/orders/apiInformation.json); give one of them another path, or make them versions in one version set`},
		},
		{
			name: "two current revisions",
			changes: map[string]*string{
				"apis/orders;rev=2/apiInformation.json": s(info(`    "path": "orders"`, `    "apiRevision": "2"`, `    "isCurrent": true`)),
				"apis/orders;rev=3/apiInformation.json": s(info(`    "path": "orders"`, `    "apiRevision": "3"`, `    "isCurrent": true`)),
			},
			want: []string{`apis/orders;rev=3/apiInformation.json:5:18: revision 3 of API orders says isCurrent, and so does apis/orders;rev=2; only one revision can be current`},
		},
		{
			name: "revisions without a current one",
			changes: map[string]*string{
				"apis/orders/apiInformation.json":       nil,
				"apis/orders/specification.yaml":        nil,
				"apis/orders;rev=2/apiInformation.json": s(info(`    "path": "orders"`)),
				"apis/orders;rev=3/apiInformation.json": s(info(`    "path": "orders"`)),
			},
			want: []string{`apis/orders: API orders has revisions apis/orders;rev=2, apis/orders;rev=3 and none is current; set "isCurrent": true in the apiInformation.json of the one to serve`},
		},
		{
			name: "the only candidate says it is not current",
			changes: map[string]*string{
				"apis/orders/apiInformation.json":       s(info(`    "path": "orders"`, `    "isCurrent": false`)),
				"apis/orders;rev=2/apiInformation.json": s(info(`    "path": "orders"`)),
			},
			want: []string{`apis/orders: API orders has revisions apis/orders, apis/orders;rev=2 and none is current; set "isCurrent": true in the apiInformation.json of the one to serve`},
		},
		{
			name: "revision folder and apiRevision disagree",
			changes: map[string]*string{
				"apis/orders;rev=2/apiInformation.json": s(info(`    "path": "orders"`, `    "apiRevision": "3"`)),
			},
			want: []string{`apis/orders;rev=2/apiInformation.json:4:20: apiRevision is "3" but the folder name says rev=2; make them agree`},
		},
		{
			name:    "revision folder with a bad name",
			changes: map[string]*string{"apis/orders;rev=x/apiInformation.json": s(info(`    "path": "orders"`))},
			want:    []string{`apis/orders;rev=x: the folder name is not <api>;rev=<number>; rename it`},
		},
		{
			name:    "unknown version set",
			changes: map[string]*string{"apis/orders/apiInformation.json": s(info(`    "path": "orders"`, `    "apiVersion": "v1"`, `    "apiVersionSetId": "/apiVersionSets/vs9"`))},
			want:    []string{`apis/orders/apiInformation.json:5:24: version set "vs9" does not exist; add version sets/vs9/versionSetInformation.json or fix apiVersionSetId`},
		},
		{
			name:    "Query version set without its parameter",
			changes: map[string]*string{"version sets/vs/versionSetInformation.json": s(info(`    "displayName": "vs"`, `    "versioningScheme": "query"`))},
			want:    []string{`version sets/vs/versionSetInformation.json:4:25: versioningScheme is Query but "versionQueryName" is missing; set it to the query parameter that carries the version, such as "api-version"`},
		},
		{
			name:    "policy with the wrong root",
			changes: map[string]*string{"apis/orders/policy.xml": s("<policy>\n</policy>\n")},
			want:    []string{`apis/orders/policy.xml:1:1: the root element is <policy>; a policy document must have a <policies> root`},
		},
		{
			name:    "fragment with the wrong root",
			changes: map[string]*string{"policy fragments/f/policy.xml": s(emptyPolicies)},
			want:    []string{`policy fragments/f/policy.xml:1:1: the root element is <policies>; a policy fragment must have a <fragment> root`},
		},
		{
			name:    "fragment folder without policy.xml",
			changes: map[string]*string{"policy fragments/f/policyFragmentInformation.json": s(info(`    "description": "d"`))},
			want:    []string{`policy fragments/f/policy.xml: missing; a policy fragment folder holds its <fragment> in policy.xml`},
		},
		{
			name:       "policy that is not XML",
			changes:    map[string]*string{"policy.xml": s("<policies>\n\t<inbound>\n\t</outbound>\n</policies>\n")},
			wantPrefix: `policy.xml:3:`,
		},
		{
			name:    "apis is a file",
			changes: map[string]*string{"apis/orders/apiInformation.json": nil, "apis/orders/specification.yaml": nil, "products/p/apis/orders/productApiInformation.json": nil, "apis": s("x")},
			want:    []string{`apis: is a file; apiops writes apis as a folder`},
		},
		{
			name: "an API in two open products",
			changes: map[string]*string{
				"products/p/productInformation.json":                s(info(`    "subscriptionRequired": false`)),
				"products/q/productInformation.json":                s(info(`    "subscriptionRequired": false`)),
				"products/q/apis/orders/productApiInformation.json": s("{}"),
			},
			want: []string{`products/q/apis/orders: API orders is in two products that need no subscription (p, q); keyless calls would be ambiguous: remove it from all but one, or set subscriptionRequired on the others`},
		},
		{
			name: "every error is reported, sorted by file",
			changes: map[string]*string{
				"subscriptions/s/subscriptionInformation.json": s(info(`    "scope": "/products/nope"`)),
				"apis/orders/operations/nope/policy.xml":       s(emptyPolicies),
				"policy.xml":                                   s(policyWith(`		<set-variable name="e" value="{{a}}{{b}}" />`)),
			},
			want: []string{
				`apis/orders/operations/nope: operation folder "nope" matches no operationId in apis/orders/specification.yaml (known operationIds: create-order, get-order-by-id, list-orders); rename the folder to the operation's operationId`,
				`policy.xml:3:33: named value "a" is not defined: add named values/a/namedValueInformation.json`,
				`policy.xml:3:38: named value "b" is not defined: add named values/b/namedValueInformation.json`,
				`subscriptions/s/subscriptionInformation.json:3:14: scope names product "nope", which does not exist; known products: p`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got, _ := loadTree(t, tree(tc.changes))
			if tc.wantPrefix != "" {
				if len(got) != 1 || !strings.HasPrefix(got[0], tc.wantPrefix) {
					t.Errorf("errors:\n%s\nwant one starting with %q", strings.Join(got, "\n"), tc.wantPrefix)
				}
				return
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadDir(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir, want string
	}{
		{"missing", filepath.Join(dir, "nope"), filepath.Join(dir, "nope") + " does not exist; pass --config the folder that apiops extracted (the one holding apis/ and policy.xml)"},
		{"file", file, file + " is a file, not a folder; pass --config the folder that apiops extracted (the one holding apis/ and policy.xml)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load(t.Context(), tc.dir, nil)
			if err == nil || err.Error() != "configuration folder "+tc.want {
				t.Errorf("Load error = %v, want configuration folder %s", err, tc.want)
			}
		})
	}
	t.Run("empty folder is an empty service", func(t *testing.T) {
		svc, err := Load(t.Context(), t.TempDir(), nil)
		if err != nil {
			t.Fatal(err)
		}
		if svc.Policy != nil || len(svc.APIs) != 0 || len(svc.Warnings) != 0 {
			t.Errorf("empty folder loaded as %+v", svc)
		}
	})
	t.Run("cancelled context", func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		_, err := Load(ctx, writeTree(t, baseTree()), nil)
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Load with a cancelled context = %v, want context.Canceled", err)
		}
	})
}

func TestDefaults(t *testing.T) {
	svc, errs, _ := loadTree(t, tree(map[string]*string{
		"products/p/productInformation.json":           s(info(`    "displayName": "P"`)),
		"subscriptions/s/subscriptionInformation.json": s(info(`    "displayName": "S"`)),
		"apis/custom/apiInformation.json": s(info(`    "path": "/custom/"`, `    "subscriptionRequired": false`, `    "type": "HTTP"`,
			`    "protocols": ["HTTP", "https"]`, `    "subscriptionKeyParameterNames": {"header": "X-Key", "query": "key"}`)),
	}))
	if errs != nil {
		t.Fatalf("Load: %v", errs)
	}
	var got []apiView
	for _, a := range svc.APIs {
		got = append(got, viewAPI(a))
	}
	want := []apiView{
		{
			Name: "custom", Dir: "apis/custom", DisplayName: "custom", Path: "custom", Protocols: []string{"http", "https"},
			SubscriptionRequired: false, KeyHeader: "X-Key", KeyQuery: "key", Revision: "1", IsCurrent: true, Type: "http",
		},
		{
			Name: "orders", Dir: "apis/orders", DisplayName: "orders", Path: "orders", ServiceURL: "https://orders.internal",
			SubscriptionRequired: true, KeyHeader: "Ocp-Apim-Subscription-Key", KeyQuery: "subscription-key",
			Revision: "1", IsCurrent: true, Type: "http", Spec: "apis/orders/specification.yaml",
			Operations: []opView{
				{"list-orders", "", "GET", "/orders", ""},
				{"create-order", "", "POST", "/orders", ""},
				{"get-order-by-id", "", "GET", "/orders/{id}", ""},
			},
			Products: []string{"p"},
		},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("APIs (-want +got):\n%s", diff)
	}
	wantProduct := &Product{Name: "p", DisplayName: "P", State: "notPublished", SubscriptionRequired: true, APIs: []string{"orders"}}
	if diff := cmp.Diff(wantProduct, svc.Products["p"]); diff != "" {
		t.Errorf("product (-want +got):\n%s", diff)
	}
	// Without a state, API Management creates a subscription as submitted.
	wantSub := &Subscription{Name: "s", DisplayName: "S", Scope: ScopeAllAPIs, State: StateSubmitted}
	if diff := cmp.Diff(wantSub, svc.Subscriptions["s"]); diff != "" {
		t.Errorf("subscription (-want +got):\n%s", diff)
	}
	if !slices.ContainsFunc(svc.Warnings, func(w Warning) bool {
		return w.File == "subscriptions/s/subscriptionInformation.json" && strings.Contains(w.Msg, `add "state": "active"`)
	}) {
		t.Errorf("warnings %v, want one that says to add the state", svc.Warnings)
	}
	if svc.Policy == nil || svc.Policy.File != "policy.xml" {
		t.Errorf("global policy = %+v, want policy.xml", svc.Policy)
	}
}

func TestRevisions(t *testing.T) {
	for _, tc := range []struct {
		name    string
		changes map[string]*string
		want    []string // Dir, Revision and whether current
	}{
		{
			name:    "folder without ;rev= is current when none says so",
			changes: map[string]*string{"apis/orders;rev=2/apiInformation.json": s(info(`    "path": "orders"`, `    "apiRevision": "2"`))},
			want:    []string{"apis/orders 1 current", "apis/orders;rev=2 2 not current"},
		},
		{
			name: "isCurrent wins over the folder without ;rev=",
			changes: map[string]*string{
				"apis/orders/apiInformation.json":       s(info(`    "path": "orders"`, `    "isCurrent": false`)),
				"apis/orders;rev=2/apiInformation.json": s(info(`    "path": "orders"`, `    "apiRevision": "2"`, `    "isCurrent": true`)),
			},
			want: []string{"apis/orders 1 not current", "apis/orders;rev=2 2 current"},
		},
		{
			name: "a lone revision folder is current, its number from the folder",
			changes: map[string]*string{
				"apis/orders/apiInformation.json":        nil,
				"apis/orders/specification.yaml":         nil,
				"apis/orders;rev=10/apiInformation.json": s(info(`    "path": "orders"`)),
			},
			want: []string{"apis/orders;rev=10 10 current"},
		},
		{
			name: "revisions sort by number",
			changes: map[string]*string{
				"apis/orders;rev=10/apiInformation.json": s(info(`    "path": "orders"`)),
				"apis/orders;rev=9/apiInformation.json":  s(info(`    "path": "orders"`)),
			},
			want: []string{"apis/orders 1 current", "apis/orders;rev=9 9 not current", "apis/orders;rev=10 10 not current"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, errs, _ := loadTree(t, tree(tc.changes))
			if errs != nil {
				t.Fatalf("Load: %s", strings.Join(errs, "\n"))
			}
			var got []string
			for _, a := range svc.APIs {
				cur := "not current"
				if a.IsCurrent {
					cur = "current"
				}
				got = append(got, a.Dir+" "+a.Revision+" "+cur)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("revisions (-want +got):\n%s", diff)
			}
			if n := len(svc.Served()); n != 1 {
				t.Errorf("%d APIs served, want 1", n)
			}
		})
	}
}

func TestSubscriptionScopes(t *testing.T) {
	for _, tc := range []struct {
		scope      string
		wantKind   ScopeKind
		wantTarget string
	}{
		{`"/products/p"`, ScopeProduct, "p"},
		{`"/apis/orders"`, ScopeAPI, "orders"},
		{`"/apis/orders;rev=2"`, ScopeAPI, "orders"},
		{`"/apis"`, ScopeAllAPIs, ""},
		{`"/apis/"`, ScopeAllAPIs, ""},
		{`""`, ScopeAllAPIs, ""},
		{`null`, ScopeAllAPIs, ""},
		{`"/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc/products/p"`, ScopeProduct, "p"},
		{`"/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc/apis/orders"`, ScopeAPI, "orders"},
		{`"/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc/apis"`, ScopeAllAPIs, ""},
		{`"/subscriptions/0000/resourceGroups/rg/providers/Microsoft.ApiManagement/service/svc"`, ScopeAllAPIs, ""},
	} {
		t.Run(tc.scope, func(t *testing.T) {
			svc, errs, _ := loadTree(t, tree(map[string]*string{
				"subscriptions/s/subscriptionInformation.json": s(info(`    "scope": `+tc.scope, `    "state": "Suspended"`, `    "primaryKey": "pk"`, `    "secondaryKey": "sk"`)),
			}))
			if errs != nil {
				t.Fatalf("Load: %s", strings.Join(errs, "\n"))
			}
			want := &Subscription{Name: "s", DisplayName: "s", Scope: tc.wantKind, Target: tc.wantTarget, State: StateSuspended, PrimaryKey: "pk", SecondaryKey: "sk"}
			if diff := cmp.Diff(want, svc.Subscriptions["s"]); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			if svc.Subscriptions["s"].Active() {
				t.Error("a suspended subscription is Active")
			}
		})
	}
}

func TestNamedValuesFromEnvironment(t *testing.T) {
	const secret = "pa55-w0rd-from-env"
	t.Setenv("LASTMILE_NAMED_VALUE_DB_PASSWORD", secret)
	files := tree(map[string]*string{
		"named values/db/namedValueInformation.json":     s(info(`    "displayName": "db-password"`, `    "secret": true`)),
		"named values/unused/namedValueInformation.json": s(info(`    "displayName": "unused-secret"`, `    "secret": true`)),
		"backends/b/backendInformation.json": s(info(`    "url": "https://b.internal"`,
			`    "credentials": {"header": {"x-key": ["{{db-password}}"]}, "authorization": {"scheme": "Basic", "parameter": "u:{{db-password}}"}}`)),
		"policy.xml": s(policyWith(`		<set-header name="X-Pw" exists-action="override"><value>{{db-password}}</value></set-header>`)),
		// An error elsewhere: the secret must not appear in it.
		"apis/orders/policy.xml": s(policyWith(`		<set-variable name="x" value="{{missing}}" />`)),
	})
	_, errs, rec := loadTree(t, files)
	if want := []string{`apis/orders/policy.xml:3:33: named value "missing" is not defined: add named values/missing/namedValueInformation.json`}; !cmp.Equal(want, errs) {
		t.Errorf("errors = %q, want %q", errs, want)
	}
	if strings.Contains(strings.Join(errs, "\n"), secret) || strings.Contains(rec.all(), secret) {
		t.Errorf("the secret value appears in an error or a log line")
	}

	delete(files, "apis/orders/policy.xml")
	svc, errs, rec := loadTree(t, files)
	if errs != nil {
		t.Fatalf("Load: %s", strings.Join(errs, "\n"))
	}
	if got := values(svc.Policy.Doc, "set-header", ""); !cmp.Equal(got, []string{secret}) {
		t.Errorf("policy header value = %q, want the value from the environment", got)
	}
	b := svc.Backends["b"]
	if got := b.Credentials.Header["x-key"]; !cmp.Equal(got, []string{secret}) {
		t.Errorf("backend header = %q, want the value from the environment", got)
	}
	if got := b.Credentials.Authorization.Parameter; got != "u:"+secret {
		t.Errorf("backend authorization parameter = %q, want u:<value>", got)
	}
	nv := svc.NamedValues["db"]
	if !nv.FromEnv || !nv.HasValue || nv.EnvVar != "LASTMILE_NAMED_VALUE_DB_PASSWORD" {
		t.Errorf("named value = %+v, want it from LASTMILE_NAMED_VALUE_DB_PASSWORD", nv)
	}
	if u := svc.NamedValues["unused"]; u.HasValue {
		t.Errorf("unused secret has a value: %+v", u)
	}
	if strings.Contains(rec.all(), secret) {
		t.Errorf("the secret value appears in a log line:\n%s", rec.all())
	}
	if want := "named value from the environment name=db-password variable=LASTMILE_NAMED_VALUE_DB_PASSWORD"; !strings.Contains(rec.all(), want) {
		t.Errorf("log lacks %q:\n%s", want, rec.all())
	}
	if got := nv.String() + " " + b.Credentials.String(); strings.Contains(got, secret) {
		t.Errorf("String() shows the secret: %s", got)
	}
}

func TestNamedValueEnvVar(t *testing.T) {
	for in, want := range map[string]string{
		"db-password":        "LASTMILE_NAMED_VALUE_DB_PASSWORD",
		"environment.name":   "LASTMILE_NAMED_VALUE_ENVIRONMENT_NAME",
		"Mixed_Case9":        "LASTMILE_NAMED_VALUE_MIXED_CASE9",
		"allowed-ip-address": "LASTMILE_NAMED_VALUE_ALLOWED_IP_ADDRESS",
	} {
		if got := NamedValueEnvVar(in); got != want {
			t.Errorf("NamedValueEnvVar(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSpecifications(t *testing.T) {
	for _, tc := range []struct {
		name     string
		file     string
		spec     string
		want     []opView
		wantWarn []Warning
	}{
		{
			name: "Swagger 2.0 in YAML, with numbers where strings are meant",
			file: "specification.yaml",
			spec: "swagger: 2.0\ninfo:\n  title: x\n  version: 1.0\nbasePath: /orders\npaths:\n" +
				"  /items/{id}:\n    get:\n      operationId: get-item\n      summary: Get one\n      parameters:\n        - {name: id, in: path, required: true, type: string}\n      responses:\n        200: {description: ok}\n" +
				"    delete:\n      operationId: delete-item\n      responses:\n        204: {description: gone}\n",
			want: []opView{
				{"get-item", "Get one", "GET", "/items/{id}", ""},
				{"delete-item", "", "DELETE", "/items/{id}", ""},
			},
		},
		{
			name: "Swagger 2.0 in JSON",
			file: "specification.json",
			spec: `{"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {"/a": {"put": {"operationId": "put-a", "responses": {"200": {"description": "ok"}}}}}}`,
			want: []opView{{"put-a", "", "PUT", "/a", ""}},
		},
		{
			name: "OpenAPI 3 with API Management's query templates in x-ms-paths and a path without a slash",
			file: "specification.yml",
			spec: "openapi: 3.0.1\ninfo:\n  title: x\n  version: '1'\npaths:\n  search:\n    get:\n      operationId: search\n      responses: {}\n" +
				"x-ms-paths:\n  /search?mode=exact&q={q}:\n    get:\n      operationId: search-exact\n      responses: {}\n",
			want: []opView{
				{"search", "", "GET", "/search", ""},
				{"search-exact", "", "GET", "/search?mode=exact&q={q}", ""},
			},
		},
		{
			name:     "operations without operationId are named by method and path",
			file:     "specification.yaml",
			spec:     "openapi: 3.0.1\ninfo:\n  title: x\n  version: '1'\npaths:\n  /items/{item-id}/notes:\n    post:\n      responses: {}\n",
			want:     []opView{{"post-items-item-id-notes", "", "POST", "/items/{item-id}/notes", ""}},
			wantWarn: []Warning{{"apis/x/specification.yaml", "operations without an operationId were named by method and path: POST /items/{item-id}/notes as post-items-item-id-notes; add operationId to them to name their policy folders"}},
		},
		{
			name: "byte order mark",
			file: "specification.json",
			spec: "\uFEFF" + `{"openapi": "3.0.1", "info": {"title": "x", "version": "1"}, "paths": {"/a": {"get": {"operationId": "a", "responses": {}}}}}`,
			want: []opView{{"a", "", "GET", "/a", ""}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc, errs, _ := loadTree(t, map[string]string{
				"apis/x/apiInformation.json": "\uFEFF" + info(`    "path": "x"`),
				"apis/x/" + tc.file:          tc.spec,
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

func TestVersionSets(t *testing.T) {
	svc, errs, _ := loadTree(t, map[string]string{
		"version sets/vs/versionSetInformation.json":  info(`    "displayName": "Orders"`, `    "versioningScheme": "Query"`, `    "versionQueryName": "api-version"`),
		"version sets/seg/versionSetInformation.json": info(`    "versioningScheme": "Segment"`),
		"apis/v1/apiInformation.json":                 info(`    "path": "orders"`, `    "apiVersion": "v1"`, `    "apiVersionSetId": "/apiVersionSets/vs"`),
		"apis/v2/apiInformation.json":                 info(`    "path": "orders"`, `    "apiVersion": "v2"`, `    "apiVersionSetId": "/subscriptions/0/resourceGroups/rg/providers/Microsoft.ApiManagement/service/s/apiVersionSets/vs"`),
		"apis/s1/apiInformation.json":                 info(`    "path": "stock"`, `    "apiVersion": "v1"`, `    "apiVersionSetId": "/apiVersionSets/seg"`),
		"apis/s2/apiInformation.json":                 info(`    "path": "stock"`, `    "apiVersion": "v2"`, `    "apiVersionSetId": "/apiVersionSets/seg"`),
	})
	if errs != nil {
		t.Fatalf("Load: %s", strings.Join(errs, "\n"))
	}
	var got []string
	for _, a := range svc.APIs {
		got = append(got, a.Name+" /"+a.RoutePath()+" "+a.VersionSet.Scheme+" "+a.VersionSet.QueryName+" "+a.Version)
	}
	want := []string{
		"s1 /stock/v1 Segment  v1",
		"s2 /stock/v2 Segment  v2",
		"v1 /orders Query api-version v1",
		"v2 /orders Query api-version v2",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

func TestWarnings(t *testing.T) {
	svc, errs, rec := loadTree(t, tree(map[string]*string{
		"products/p/apis/ghost/productApiInformation.json": s("{}"),
		"apis/orders;rev=2/apiInformation.json":            s(info(`    "path": "orders-next"`)),
		"apis/ws/apiInformation.json":                      s(info(`    "path": "ws"`, `    "type": "websocket"`)),
		"apis/ws/operations/onHandshake/policy.xml":        s(emptyPolicies),
		"apis/rpc/apiInformation.json":                     s(info(`    "path": "rpc"`, `    "type": "grpc"`)),
		"apis/rpc/specification.proto":                     s("syntax = \"proto3\";\n"),
		"apis/wsops/apiInformation.json":                   s(info(`    "path": "wsops"`, `    "type": "websocket"`)),
		"apis/wsops/operations/onMessage/policy.xml":       s(emptyPolicies),
		"apis/synthetic/apiInformation.json":               s(info(`    "path": "synthetic"`, `    "type": "graphql"`, `    "serviceUrl": ""`)),
		"apis/gql/apiInformation.json":                     s(info(`    "path": "gql"`, `    "type": "graphql"`, `    "serviceUrl": "https://gql.example"`)),
		"apis/gql/specification.graphql":                   s("type Query { orders: [String] }\n"),
		"apis/odata/apiInformation.json":                   s(info(`    "path": "odata"`, `    "type": "odata"`)),
		"apis/soapwsdl/apiInformation.json":                s(info(`    "path": "soapwsdl"`, `    "type": "soap"`)),
		"apis/soapwsdl/specification.wsdl":                 s(`<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"/>`),
		"apis/soapnames/apiInformation.json":               s(info(`    "path": "soapnames"`, `    "type": "soap"`)),
		"apis/soapnames/specification.wsdl":                s(calculatorWSDL),
		"apis/soapnames/operations/Add/policy.xml":         s(emptyPolicies),
		"apis/soapnames/operations/5c3a0f/policy.xml":      s(emptyPolicies),
		"apis/soapops/apiInformation.json":                 s(info(`    "path": "soapops"`, `    "type": "soap"`)),
		"apis/soapops/operations/GetQuote/policy.xml":      s(emptyPolicies),
		"backends/pool/backendInformation.json":            s(info(`    "type": "Pool"`, `    "pool": {"services": [{"id": "/backends/b1", "priority": 1, "weight": 2}, {"id": "/backends/gone"}]}`)),
		"backends/b1/backendInformation.json":              s(info(`    "url": "https://b1"`)),
		"apis/fn/apiInformation.json":                      s(info(`    "path": "fn"`, `    "serviceUrl": "https://fn.example/api?code=SECRET-CODE"`)),
	}))
	if errs != nil {
		t.Fatalf("Load: %s", strings.Join(errs, "\n"))
	}
	want := []Warning{
		{"apis/fn/apiInformation.json", "serviceUrl has a query string, which is not sent to the backend (the request's own query is); add its parameters with set-query-parameter, or a backend entity's credentials.query, instead"},
		{"apis/orders;rev=2", `revision 2 has path "orders-next" but the current revision (apis/orders) has "orders"; only the current revision is served`},
		{"apis/soapnames", "operation folder 5c3a0f matches no operation of specification.wsdl (its operations: Add, Divide); rename each folder to its operation's name, or the API would skip their policies; requests under /soapnames will get 404"},
		{"apis/soapops", "SOAP APIs with operation policies need the API's specification.wsdl to tell their operations apart (lastmile would otherwise serve them as one pass-through operation, which would skip those policies); requests under /soapops will get 404"},
		{"apis/soapwsdl/specification.wsdl", "the WSDL defines no SOAP operations; the API is served as one operation that takes every request"},
		{"apis/synthetic", "synthetic GraphQL APIs (resolvers instead of a backend) are not served yet; requests under /synthetic will get 404"},
		{"apis/wsops", "WebSocket APIs with operation policies are not served yet (lastmile serves them as one pass-through operation, which would skip those policies); requests under /wsops will get 404"},
		{"backends/pool/backendInformation.json", `pool member "gone" is not a backend in backends/; requests will not be sent to it`},
		{"products/p/apis/ghost", `product p lists API "ghost", which is not in apis/; it is left out of the product`},
	}
	if diff := cmp.Diff(want, svc.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
	if got := len(rec.lines(slog.LevelWarn)); got != len(want) {
		t.Errorf("%d warn log lines, want %d", got, len(want))
	}
	wantPool := &BackendPool{Services: []PoolService{{Backend: "b1", Priority: 1, Weight: 2}}}
	if diff := cmp.Diff(wantPool, svc.Backends["pool"].Pool); diff != "" {
		t.Errorf("pool (-want +got):\n%s", diff)
	}
	for _, a := range svc.Served() {
		if a.Name == "gql" && a.GraphQL == nil {
			t.Error("the GraphQL API's schema was not read")
		}
		if a.Name == "ws" && (len(a.Operations) != 1 || a.Operations[0].Name != "onHandshake" || a.Operations[0].Policy == nil) {
			t.Errorf("the WebSocket API's operations: %+v, want onHandshake with its policy", a.Operations)
		}
	}
	if got := len(svc.Served()); got != 7 { // orders, gql, odata, soapwsdl, ws, rpc, fn
		t.Errorf("%d APIs served, want 7", got)
	}
	if got := svc.Products["p"].APIs; !cmp.Equal(got, []string{"orders"}) {
		t.Errorf("product APIs = %q, want [orders]", got)
	}
}

func TestLegacyProductAPIList(t *testing.T) {
	svc, errs, _ := loadTree(t, tree(map[string]*string{
		"products/p/apis/orders/productApiInformation.json": nil,
		"products/p/apis.json":                              s(`[{"name": "orders"}, {"name": "ghost"}]`),
		"products/q/productInformation.json":                s(info(`    "displayName": "Q"`)),
		"products/q/apis.json":                              s(`{"name": "orders"}`),
	}))
	if svc != nil {
		t.Fatal("Load succeeded, want an error for products/q/apis.json")
	}
	want := []string{`products/q/apis.json:1:1: the file must be a list such as [{"name": "my-api"}]`}
	if diff := cmp.Diff(want, errs); diff != "" {
		t.Errorf("errors (-want +got):\n%s", diff)
	}

	svc, errs, _ = loadTree(t, tree(map[string]*string{
		"products/p/apis/orders/productApiInformation.json": nil,
		"products/p/apis.json":                              s(`[{"name": "orders"}, {"name": "ghost"}]`),
	}))
	if errs != nil {
		t.Fatalf("Load: %s", strings.Join(errs, "\n"))
	}
	if got := svc.Products["p"].APIs; !cmp.Equal(got, []string{"orders"}) {
		t.Errorf("product APIs = %q, want [orders]", got)
	}
	wantWarn := []Warning{{"products/p/apis.json", `product p lists API "ghost", which is not in apis/; it is left out of the product`}}
	if diff := cmp.Diff(wantWarn, svc.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestBackend(t *testing.T) {
	svc, errs, _ := loadTree(t, map[string]string{
		"named values/k/namedValueInformation.json": info(`    "displayName": "key"`, `    "value": "v-1"`),
		"backends/b/backendInformation.json": info(
			`    "url": "https://b.internal/api"`, `    "protocol": "http"`, `    "title": "B"`, `    "description": "d"`,
			`    "resourceId": "https://management.azure.com/x"`,
			`    "credentials": {"header": {"x-key": ["{{key}}", "plain"]}, "query": {"code": ["c"]}, "certificateIds": ["/certificates/c1"], "managedIdentity": {"clientId": "0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11", "resource": "api://orders"}}`,
			`    "tls": {"validateCertificateChain": false, "validateCertificateName": true}`),
	})
	if errs != nil {
		t.Fatalf("Load: %s", strings.Join(errs, "\n"))
	}
	f, tr := false, true
	want := &Backend{
		Name: "b", Title: "B", Description: "d", URL: "https://b.internal/api", Protocol: "http", ResourceID: "https://management.azure.com/x",
		Credentials: &BackendCredentials{
			Header:          map[string][]string{"x-key": {"v-1", "plain"}},
			Query:           map[string][]string{"code": {"c"}},
			CertificateIDs:  []string{"/certificates/c1"},
			ManagedIdentity: &BackendManagedIdentity{ClientID: "0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11", Resource: "api://orders"},
		},
		TLS: &BackendTLS{ValidateCertificateChain: &f, ValidateCertificateName: &tr},
	}
	if diff := cmp.Diff(want, svc.Backends["b"]); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestPolicyErrorsKeepTheirSource checks that a policy error can still be shown
// with policyxml's caret snippet.
func TestPolicyErrorsKeepTheirSource(t *testing.T) {
	dir := writeTree(t, map[string]string{"policy.xml": policyWith(`		<set-variable name="e" value="{{nope}}" />`)})
	_, err := Load(t.Context(), dir, nil)
	var pe *policyxml.Error
	if !errors.As(err, &pe) {
		t.Fatalf("errors.As(*policyxml.Error) failed on %v", err)
	}
	src, _ := os.ReadFile(filepath.Join(dir, "policy.xml"))
	if got, want := pe.Snippet(src), "    \t\t<set-variable name=\"e\" value=\"{{nope}}\" />\n    \t\t"+strings.Repeat(" ", 30)+"^\n"; got != want {
		t.Errorf("snippet:\n%q\nwant\n%q", got, want)
	}
}

package server_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
)

// petsSpec is the API both test APIs of TestValidationPolicies import.
const petsSpec = `openapi: 3.0.1
info: {title: pets, version: "1"}
paths:
  /pets/{id}:
    parameters:
      - {name: id, in: path, required: true, schema: {type: integer, minimum: 1}}
    get:
      operationId: get-pet
      parameters:
        - {name: fields, in: query, schema: {type: string, enum: [name, all]}}
        - {name: tags, in: query, schema: {type: array, items: {type: string, maxLength: 5}}}
        - {name: weight, in: query, schema: {type: number, maximum: 100}}
        - {name: X-Trace, in: header, schema: {type: string, pattern: "^[a-f0-9]{8}$"}}
      responses:
        "200":
          description: a pet
          headers:
            X-Rate-Remaining: {schema: {type: integer, minimum: 0}}
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Pet"}
        "404": {description: no such pet}
  /pets:
    post:
      operationId: add-pet
      requestBody:
        content:
          application/json:
            schema: {$ref: "#/components/schemas/Pet"}
      responses:
        "201":
          description: added
          content:
            application/json:
              schema: {$ref: "#/components/schemas/Pet"}
        "4XX": {description: refused}
components:
  schemas:
    Pet:
      type: object
      required: [name]
      properties:
        name: {type: string, minLength: 1}
        age: {type: integer, minimum: 0}
`

// TestValidationPolicies runs validate-parameters, validate-content,
// validate-headers and validate-status-code through the real server against
// an OpenAPI specification: prevented requests get 400 with API Management's
// message and never reach the backend; prevented responses become 502 with a
// message that tells nothing of the backend; detected ones pass and are
// listed in errors-variable-name.
func TestValidationPolicies(t *testing.T) {
	var calls atomic.Int32
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		io.Copy(io.Discard, r.Body)
		json := func(status int, body string) {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
		switch strings.TrimPrefix(r.URL.Path, "/out") {
		case "/pets/1":
			w.Header().Set("X-Rate-Remaining", "5")
			json(200, `{"name":"Rex","age":3}`)
		case "/pets/2":
			w.Header().Set("X-Powered-By", "PHP/5.6")
			json(200, `{"name":"Rex"}`)
		case "/pets/3":
			w.Header().Set("Content-Type", "text/plain")
			w.WriteHeader(500)
			io.WriteString(w, "NullReferenceException at Pets.Get() in C:\\src\\Pets.cs:line 42")
		case "/pets/4":
			json(200, `{"age":-1}`)
		case "/pets/5":
			w.Header().Set("X-Rate-Remaining", "lots")
			json(200, `{"name":"Rex"}`)
		case "/pets/6":
			w.WriteHeader(404)
		case "/pets/7":
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<p>Rex</p>")
		case "/pets/8":
			json(200, `{"name":"`+strings.Repeat("x", 2000)+`"}`)
		case "/pets/9":
			w.WriteHeader(418)
		case "/pets/10": // compressed, as backends answer clients that accept it
			w.Header().Set("Content-Encoding", "gzip")
			json(200, gzipped(`{"name":"Rex","age":3}`))
		case "/pets/11":
			w.Header().Set("Content-Encoding", "gzip")
			json(200, gzipped(`{"age":-1}`))
		default: // the API without response validation
			if r.Method == http.MethodPost {
				json(201, `{"name":"Rex"}`)
				return
			}
			json(200, `{"name":"Rex"}`)
		}
	}))
	t.Cleanup(backend.Close)

	api := func(path string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":false}}`, path, backend.URL+"/"+path)
	}
	// on-error answers with the findings, so that the test sees them.
	onError := `<on-error><base /><set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Reason)</value></set-header>` +
		`<set-header name="X-Errors" exists-action="override"><value>@(context.Variables.ContainsKey("errs") ? ((JArray)context.Variables["errs"]).ToString(Newtonsoft.Json.Formatting.None).Replace("\n", " ") : "")</value></set-header></on-error>`
	detected := `<set-header name="X-Errors" exists-action="override"><value>@(context.Variables.ContainsKey("errs") ? ((JArray)context.Variables["errs"]).ToString(Newtonsoft.Json.Formatting.None).Replace("\n", " ") : "")</value></set-header>`
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/in/apiInformation.json": api("in"),
		"apis/in/specification.yaml":  petsSpec,
		"apis/in/policy.xml": `<policies><inbound><base />
			<validate-parameters specified-parameter-action="prevent" unspecified-parameter-action="prevent" errors-variable-name="errs">
				<headers specified-parameter-action="prevent" unspecified-parameter-action="detect">
					<parameter name="Host" action="ignore" />
					<parameter name="User-Agent" action="ignore" />
					<parameter name="Accept-Encoding" action="ignore" />
					<parameter name="X-Forbidden" action="prevent" />
					<parameter name="Authorization" action="prevent" />
				</headers>
				<query unspecified-parameter-action="prevent"><parameter name="debug" action="detect" /></query>
			</validate-parameters>
			<validate-content unspecified-content-type-action="prevent" max-size="1024" size-exceeded-action="prevent" errors-variable-name="errs">
				<content-type-map missing-content-type-value="application/json"><type from="application/hal+json" to="application/json" /></content-type-map>
				<content type="application/json" validate-as="json" action="prevent" allow-additional-properties="false" />
			</validate-content>
			</inbound><backend><base /></backend><outbound><base />` + detected + `</outbound>` + onError + `</policies>`,
		"apis/ci/apiInformation.json": api("ci"),
		"apis/ci/specification.yaml":  petsSpec,
		"apis/ci/policy.xml": `<policies><inbound><base />
			<validate-content unspecified-content-type-action="prevent" max-size="1024" size-exceeded-action="prevent">
				<content type="application/json" validate-as="json" action="prevent" allow-additional-properties="false" case-insensitive-property-names="true" />
			</validate-content>
			</inbound><backend><base /></backend><outbound><base /></outbound>` + onError + `</policies>`,
		"apis/nospec/apiInformation.json": api("nospec"),
		"apis/nospec/policy.xml": `<policies><inbound><base /></inbound><backend><base /></backend><outbound><base />
			<validate-status-code unspecified-status-code-action="detect" errors-variable-name="errs" />` + detected + `</outbound>` + onError + `</policies>`,
		"apis/out/apiInformation.json": api("out"),
		"apis/out/specification.yaml":  petsSpec,
		"apis/out/policy.xml": `<policies><inbound><base /></inbound><backend><base /></backend><outbound><base />
			<validate-status-code unspecified-status-code-action="prevent" errors-variable-name="errs"><status-code code="418" action="detect" /></validate-status-code>
			<validate-headers specified-header-action="prevent" unspecified-header-action="prevent" errors-variable-name="errs"><header name="X-Powered-By" action="@(context.Request.Headers.GetValueOrDefault(&quot;X-Mode&quot;, &quot;prevent&quot;))" /></validate-headers>
			<validate-content unspecified-content-type-action="prevent" max-size="1024" size-exceeded-action="prevent" errors-variable-name="errs"><content validate-as="json" action="prevent" /></validate-content>
			` + detected + `</outbound>` + onError + `</policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))

	const internal = `{"statusCode":502,"message":"The request could not be processed due to an internal error. Contact the API owner.","activityId":"`
	tests := []struct {
		name, method, target, body string
		header                     map[string]string
		status                     int
		reason                     string // X-Reason (on-error)
		bodyPrefix                 string // of the response
		errors                     string // in X-Errors
		reachesBackend             bool
	}{
		// validate-parameters
		{name: "valid parameters", method: "GET", target: "/in/pets/7?fields=name&tags=a,b&tags=c", header: map[string]string{"X-Trace": "0a1b2c3d"},
			status: 200, reachesBackend: true},
		{name: "a path parameter below its minimum", method: "GET", target: "/in/pets/0", status: 400, reason: "Bad request",
			bodyPrefix: `{"statusCode":400,"message":"Value of the path parameter id does not conform to the definition.`, errors: `"Type":"PathParameter","ValidationRule":"IncorrectMessage"`},
		{name: "NaN, which would pass every bound", method: "GET", target: "/in/pets/1?weight=NaN", status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Value of the query parameter weight cannot be parsed according to the definition.\n\nthe value is not a number"}`},
		{name: "a number over its maximum", method: "GET", target: "/in/pets/1?weight=1e3", status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Value of the query parameter weight does not conform to the definition.`},
		{name: "a number within it", method: "GET", target: "/in/pets/1?weight=12.5", status: 200, reachesBackend: true},
		{name: "a path parameter that is not an integer", method: "GET", target: "/in/pets/rex", status: 400, reason: "Bad request",
			bodyPrefix: `{"statusCode":400,"message":"Value of the path parameter id cannot be parsed according to the definition.`},
		{name: "a query value outside its enum", method: "GET", target: "/in/pets/1?fields=secret", status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Value of the query parameter fields does not conform to the definition.`},
		{name: "a scalar query parameter twice", method: "GET", target: "/in/pets/1?fields=name&fields=all", status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Request cannot contain multiple values for the query parameter fields."`},
		{name: "an array item too long", method: "GET", target: "/in/pets/1?tags=a,toolong", status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Value of the query parameter tags does not conform to the definition.`},
		{name: "an unspecified query parameter", method: "GET", target: "/in/pets/1?admin=true", status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Unspecified query parameter admin is not allowed."}`, errors: `{"Name":"admin","Type":"QueryParameter","ValidationRule":"Unspecified","Details":"Unspecified query parameter admin is not allowed.","Action":"prevent"}`},
		{name: "an unspecified query parameter with a long name and a line break", method: "GET", target: "/in/pets/1?a%0A" + strings.Repeat("b", 200) + "=1", status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Unspecified query parameter a\\u000a` + strings.Repeat("b", 98) + `... is not allowed."}`},
		{name: "an unspecified query parameter, detected", method: "GET", target: "/in/pets/1?debug=1", status: 200, reachesBackend: true,
			errors: `{"Name":"debug","Type":"QueryParameter","ValidationRule":"Unspecified","Details":"Unspecified query parameter debug is not allowed.","Action":"detect"}`},
		{name: "a header against its pattern", method: "GET", target: "/in/pets/1", header: map[string]string{"X-Trace": "nothex!!"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Value of the header X-Trace does not conform to the definition.`},
		{name: "an unspecified header, detected", method: "GET", target: "/in/pets/1", header: map[string]string{"X-Custom": "1"}, status: 200, reachesBackend: true,
			errors: `"Name":"X-Custom","Type":"RequestHeader","ValidationRule":"Unspecified","Details":"Unspecified header X-Custom is not allowed.","Action":"detect"`},
		{name: "an unspecified header, prevented by name", method: "GET", target: "/in/pets/1", header: map[string]string{"x-forbidden": "1"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Unspecified header X-Forbidden is not allowed."}`},
		// API Management's own example: Authorization is left out of the
		// unspecified headers unless a <parameter> names it.
		{name: "Authorization, prevented by name", method: "GET", target: "/in/pets/1", header: map[string]string{"Authorization": "Bearer x"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Unspecified header Authorization is not allowed."}`},
		// validate-content on requests
		{name: "a valid body", method: "POST", target: "/in/pets", body: `{"name":"Rex","age":2}`, header: map[string]string{"Content-Type": "application/json"}, status: 201, reachesBackend: true},
		{name: "a mapped content type", method: "POST", target: "/in/pets", body: `{"name":"Rex"}`, header: map[string]string{"Content-Type": "application/hal+json"}, status: 201, reachesBackend: true},
		{name: "a body without its required property", method: "POST", target: "/in/pets", body: `{"age":2}`, header: map[string]string{"Content-Type": "application/json"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Body of the request does not conform to the definition Pet, which is associated with the content type application/json.`},
		{name: "a property of the wrong type", method: "POST", target: "/in/pets", body: `{"name":"Rex","age":"two"}`, header: map[string]string{"Content-Type": "application/json"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Body of the request does not conform to the definition Pet`},
		{name: "an additional property, refused by the override", method: "POST", target: "/in/pets", body: `{"name":"Rex","isAdmin":true}`, header: map[string]string{"Content-Type": "application/json"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Body of the request does not conform to the definition Pet`},
		// A compressed body is validated decompressed, and max-size is its
		// decompressed length (API Management's reference says so).
		{name: "a valid gzip body", method: "POST", target: "/in/pets", body: gzipped(`{"name":"Rex","age":2}`), header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, status: 201, reachesBackend: true},
		{name: "a gzip body of the wrong shape", method: "POST", target: "/in/pets", body: gzipped(`{"name":"Rex","age":"two"}`), header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Body of the request does not conform to the definition Pet`},
		{name: "a small gzip body that is large decompressed", method: "POST", target: "/in/pets", body: gzipped(`{"name":"` + strings.Repeat("x", 5000) + `"}`), header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Request's body is 5011 bytes long and it exceeds the limit of 1024 bytes."}`},
		{name: "a coding the gateway cannot read", method: "POST", target: "/in/pets", body: `{"name":"Rex"}`, header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "compress"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Body of the request does not conform to the definition Pet, which is associated with the content type application/json.\n\nthe body's Content-Encoding \"compress\" is not one the gateway can read`},
		{name: "gzip that is not", method: "POST", target: "/in/pets", body: `{"name":"Rex"}`, header: map[string]string{"Content-Type": "application/json", "Content-Encoding": "gzip"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Body of the request does not conform to the definition Pet, which is associated with the content type application/json.\n\nthe body is not gzip data`},
		{name: "property names in another case", method: "POST", target: "/in/pets", body: `{"NAME":"Rex"}`, header: map[string]string{"Content-Type": "application/json"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Body of the request does not conform to the definition Pet`},
		{name: "property names in another case, case-insensitive-property-names", method: "POST", target: "/ci/pets", body: `{"NAME":"Rex","Age":2}`, header: map[string]string{"Content-Type": "application/json"}, status: 201, reachesBackend: true},
		{name: "case-insensitive-property-names still checks values", method: "POST", target: "/ci/pets", body: `{"NAME":"Rex","AGE":-2}`, header: map[string]string{"Content-Type": "application/json"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Body of the request does not conform to the definition Pet`},
		{name: "a body that is not JSON", method: "POST", target: "/in/pets", body: `{"name":`, header: map[string]string{"Content-Type": "application/json"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Body of the request does not conform to the definition Pet, which is associated with the content type application/json.\n\nThe body is not JSON`},
		{name: "JSON with a second value after the first", method: "POST", target: "/in/pets", body: `{"name":"Rex"}{"name":"Max"}`, header: map[string]string{"Content-Type": "application/json"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Body of the request does not conform`},
		{name: "no content type: the mapped one", method: "POST", target: "/in/pets", body: `{"age":1}`, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Body of the request does not conform to the definition Pet`},
		{name: "an unspecified content type", method: "POST", target: "/in/pets", body: `<pet/>`, header: map[string]string{"Content-Type": "application/xml"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Unspecified content type application/xml is not allowed."}`},
		{name: "a body over max-size", method: "POST", target: "/in/pets", body: `{"name":"` + strings.Repeat("x", 2000) + `"}`, header: map[string]string{"Content-Type": "application/json"}, status: 400,
			bodyPrefix: `{"statusCode":400,"message":"Request's body is 2011 bytes long and it exceeds the limit of 1024 bytes."}`},
		{name: "an API without a specification", method: "GET", target: "/nospec/pets/1", status: 200, reachesBackend: true,
			errors: `{"Name":"","Type":"ApiSchema","ValidationRule":"","Details":"API's schema does not exist or it could not be resolved.","Action":"detect"}`},
		// validate-status-code, validate-headers, validate-content on responses
		{name: "a valid response", method: "GET", target: "/out/pets/1", status: 200, reachesBackend: true},
		{name: "a valid gzip response", method: "GET", target: "/out/pets/10", header: map[string]string{"Accept-Encoding": "gzip"}, status: 200, reachesBackend: true},
		{name: "a gzip response against its schema", method: "GET", target: "/out/pets/11", header: map[string]string{"Accept-Encoding": "gzip"}, status: 502, bodyPrefix: internal,
			errors: `"ValidationRule":"IncorrectMessage"`, reachesBackend: true},
		{name: "an unspecified response header", method: "GET", target: "/out/pets/2", status: 502, reason: "Response not allowed", bodyPrefix: internal,
			errors: `{"Name":"X-Powered-By","Type":"ResponseHeader","ValidationRule":"Unspecified","Details":"Unspecified header X-Powered-By is not allowed.","Action":"prevent"}`, reachesBackend: true},
		{name: "an unspecified response header, detected by an expression", method: "GET", target: "/out/pets/2", header: map[string]string{"X-Mode": "detect"}, status: 200,
			errors: `"Details":"Unspecified header X-Powered-By is not allowed.","Action":"detect"`, reachesBackend: true},
		{name: "an undocumented 500 with a stack trace", method: "GET", target: "/out/pets/3", status: 502, reason: "Response not allowed", bodyPrefix: internal,
			errors: `{"Name":"500","Type":"StatusCode","ValidationRule":"Unspecified","Details":"Response status code 500 is not allowed.","Action":"prevent"}`, reachesBackend: true},
		{name: "an undocumented status, detected by its override", method: "GET", target: "/out/pets/9", status: 418,
			errors: `"Details":"Response status code 418 is not allowed.","Action":"detect"`, reachesBackend: true},
		{name: "a response body against its schema", method: "GET", target: "/out/pets/4", status: 502, bodyPrefix: internal,
			errors: `"Type":"ResponseBody","ValidationRule":"IncorrectMessage","Details":"Body of the response does not conform to the definition Pet`, reachesBackend: true},
		{name: "a response header against its schema", method: "GET", target: "/out/pets/5", status: 502, bodyPrefix: internal,
			errors: `"Details":"Value of the header X-Rate-Remaining cannot be parsed according to the definition."`, reachesBackend: true},
		{name: "a documented status without a body", method: "GET", target: "/out/pets/6", status: 404, reachesBackend: true},
		{name: "an unspecified response content type", method: "GET", target: "/out/pets/7", status: 502, bodyPrefix: internal,
			errors: `"Details":"Unspecified content type text/html is not allowed."`, reachesBackend: true},
		{name: "a response body over max-size", method: "GET", target: "/out/pets/8", status: 502, bodyPrefix: internal,
			errors: `"Details":"Response's body is 2011 bytes long and it exceeds the configured limit of 1024 bytes."`, reachesBackend: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := calls.Load()
			req, _ := http.NewRequest(tt.method, e.srv.GatewayURL()+tt.target, strings.NewReader(tt.body))
			if tt.body == "" {
				req.Body = nil
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.HasPrefix(string(body), tt.bodyPrefix) {
				t.Errorf("%s %s: %d %q\nwant %d %q...", tt.method, tt.target, resp.StatusCode, body, tt.status, tt.bodyPrefix)
			}
			if tt.reason != "" && resp.Header.Get("X-Reason") != tt.reason {
				t.Errorf("LastError.Reason %q, want %q", resp.Header.Get("X-Reason"), tt.reason)
			}
			// A prevented message lists its finding; one that passed without
			// findings lists none.
			if got := resp.Header.Get("X-Errors"); !strings.Contains(got, tt.errors) || tt.errors == "" && tt.status < 400 && got != "" {
				t.Errorf("errors variable %s\nwant it to hold %s", got, tt.errors)
			}
			if reached := calls.Load() != before; reached != tt.reachesBackend {
				t.Errorf("reached the backend: %t, want %t", reached, tt.reachesBackend)
			}
			if strings.Contains(string(body), "NullReferenceException") || strings.Contains(string(body), "PHP") {
				t.Errorf("the backend's details leaked: %s", body)
			}
		})
	}

	// A chunked body has no Content-Length: its size is what arrives, read
	// only up to max-size and one byte more. A body that never ends is
	// refused as soon as it is over, not when the gateway's body limit is
	// reached or the client stops.
	endless := make(chan struct{})
	t.Cleanup(func() { close(endless) })
	for _, tt := range []struct {
		name   string
		body   io.Reader
		status int
		prefix string
	}{
		{"a chunked body over max-size", strings.NewReader(`{"name":"` + strings.Repeat("x", 5000) + `"}`), 400, `{"statusCode":400,"message":"Request's body is more than 1024 bytes long and it exceeds the limit of 1024 bytes."}`},
		{"a chunked body within max-size", strings.NewReader(`{"name":"Rex"}`), 201, `{"name":"Rex"}`},
		{"a chunked body that never ends", io.MultiReader(strings.NewReader(`{"name":"`+strings.Repeat("x", 2000)), blockingReader(endless)), 400, `{"statusCode":400,"message":"Request's body is more than 1024 bytes long and it exceeds the limit of 1024 bytes."}`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", e.srv.GatewayURL()+"/in/pets", io.MultiReader(tt.body))
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if req.ContentLength != 0 || resp.StatusCode != tt.status || string(body) != tt.prefix {
				t.Errorf("%d %q (sent with length %d), want %d %q", resp.StatusCode, body, req.ContentLength, tt.status, tt.prefix)
			}
		})
	}
}

// blockingReader is a body that sends nothing more until it is closed.
type blockingReader chan struct{}

func (r blockingReader) Read([]byte) (int, error) {
	<-r
	return 0, io.EOF
}

// gzipped is s compressed with gzip.
func gzipped(s string) string {
	var b bytes.Buffer
	z := gzip.NewWriter(&b)
	io.WriteString(z, s)
	z.Close()
	return b.String()
}

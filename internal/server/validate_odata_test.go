package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// TestValidateODataRequest runs validate-odata-request through the real
// server: conforming OData requests reach the backend unchanged; a bad
// version header, a malformed, repeated or unknown system query option, or a
// body over max-size is refused before the backend, with API Management's
// error shape, a reason on context.LastError and the findings in the errors
// variable.
func TestValidateODataRequest(t *testing.T) {
	var calls atomic.Int32
	var mu sync.Mutex
	var gotQuery, gotBody string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		mu.Lock()
		gotQuery, gotBody = r.URL.RawQuery, string(body)
		mu.Unlock()
		calls.Add(1)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"value":[]}`)
	}))
	t.Cleanup(backend.Close)

	api := func(path string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":false}}`, path, backend.URL+"/"+path)
	}
	errorsVar := `@(context.Variables.ContainsKey("odata-errors") ? ((JArray)context.Variables["odata-errors"]).ToString(Newtonsoft.Json.Formatting.None) : "")`
	doc := func(policy string) string {
		return `<policies><inbound><base />` + policy + `</inbound><backend><base /></backend>` +
			`<outbound><base /><set-header name="X-Errors" exists-action="override"><value>` + errorsVar + `</value></set-header></outbound>` +
			`<on-error><base />` +
			`<set-header name="X-Source" exists-action="override"><value>@(context.LastError.Source)</value></set-header>` +
			`<set-header name="X-Reason" exists-action="override"><value>@(context.LastError.Reason)</value></set-header>` +
			`<set-header name="X-Message" exists-action="override"><value>@(context.LastError.Message)</value></set-header>` +
			`<set-header name="X-Errors" exists-action="override"><value>` + errorsVar + `</value></set-header></on-error></policies>`
	}
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		// A small buffering limit, so that a chunked body can exceed it.
		"lastmile.yaml":                  "limits:\n  bufferedBody: 64KiB\n",
		"apis/odata/apiInformation.json": api("odata"),
		"apis/odata/policy.xml": doc(`<validate-odata-request error-variable-name="odata-errors" default-odata-version="4.0" ` +
			`min-odata-version="4.0" max-odata-version="4.01" max-size="100" />`),
		"apis/odata401/apiInformation.json": api("odata401"),
		"apis/odata401/policy.xml":          doc(`<validate-odata-request default-odata-version="4.01" />`),
		"apis/legacy/apiInformation.json":   api("legacy"),
		"apis/legacy/policy.xml":            doc(`<validate-odata-request min-odata-version="3.0" />`),
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))

	v40, v401 := http.Header{"OData-Version": {"4.0"}}, http.Header{"OData-Version": {"4.01"}}
	huge := strings.Repeat("9", 6000) // within the 8 KiB request line
	type result struct {
		status  int
		reason  string
		message string // LastError.Message, and the message in the body
		errors  string // within the errors variable, as JSON
	}
	ok := result{status: 200}
	refused := func(status int, reason, message, errors string) result {
		return result{status, reason, message, errors}
	}
	// The client is told its body's limit, the log what was configured, as
	// validate-content does.
	public := func(message string) string { return strings.Replace(message, "the configured limit", "the limit", 1) }
	tests := []struct {
		name, target string
		header       http.Header
		body         string
		chunked      bool
		want         result
	}{
		// Accepted, and forwarded as they came.
		{name: "a typical query", target: "/odata/Products?$filter=Name%20eq%20'Milk'%20and%20(Price%20lt%202.55)&$top=10&$select=Name,Price", header: v40, want: ok},
		{name: "no OData-Version: the default, 4.0", target: "/odata/Products?$orderby=Name%20desc&$count=true&$format=application/json;odata.metadata=minimal", want: ok},
		{name: "custom options and $-less names are custom in 4.0", target: "/odata/Products?sap-client=100&filter=x&top=all", header: v40, want: ok},
		{name: "a parameter alias", target: "/odata/Products?$filter=Price%20lt%20@p&@p=10", header: v40, want: ok},
		{name: "encoded names", target: "/odata/Products?%24top=1&%24filter=a%20eq%201", header: v40, want: ok},
		{name: "4.01: any case, $ optional", target: "/odata/Products?$FILTER=Name%20eq%20'it''s'&Top=5&select=Name", header: v401, want: ok},
		{name: "OData-MaxVersion within the range", target: "/odata/Products?$top=1", header: http.Header{"OData-MaxVersion": {"4.01"}}, want: ok},
		{name: "nested options", target: "/odata/Orders?$expand=Lines($filter=Qty%20gt%201;$top=5;$expand=Product($levels=max))", header: v40, want: ok},
		{name: "a body within max-size", target: "/odata/Products", body: `{"Name":"Milk"}`, header: v40, want: ok},
		{name: "a chunked body within max-size", target: "/odata/Products", body: `{"Name":"Milk"}`, chunked: true, header: v40, want: ok},
		{name: "default-odata-version 4.01", target: "/odata401/Products?Top=5&$Select=Name", want: ok},
		{name: "an older version min-odata-version allows: its query is not checked", target: "/legacy/Products?$inlinecount=allpages",
			header: http.Header{"OData-Version": {"3.0"}}, want: ok},

		// Versions.
		{name: "a version below min", target: "/odata/Products", header: http.Header{"OData-Version": {"3.0"}},
			want: refused(400, "ODataVersionNotSupported", "OData version 3.0 in the header OData-Version is not supported: the API accepts OData 4.0 to 4.01.",
				`[{"Name":"OData-Version","Type":"RequestHeader","ValidationRule":"IncorrectMessage","Details":"OData version 3.0 in the header OData-Version is not supported: the API accepts OData 4.0 to 4.01.","Action":"prevent"}]`)},
		{name: "a version above max", target: "/odata/Products", header: http.Header{"OData-Version": {"4.02"}},
			want: refused(400, "ODataVersionNotSupported", "OData version 4.02 in the header OData-Version is not supported: the API accepts OData 4.0 to 4.01.", "")},
		{name: "not a version", target: "/odata/Products", header: http.Header{"OData-Version": {"four"}},
			want: refused(400, "InvalidODataVersion", `Value of the header OData-Version is not an OData version such as 4.0 or 4.01: "four".`, "")},
		{name: "a version header twice", target: "/odata/Products", header: http.Header{"OData-Version": {"4.0", "4.01"}},
			want: refused(400, "InvalidODataVersion", "Request cannot contain multiple values for the header OData-Version.", "")},
		{name: "OData-MaxVersion below min", target: "/odata/Products", header: http.Header{"OData-MaxVersion": {"3.0"}},
			want: refused(400, "ODataVersionNotSupported", "OData version 3.0 in the header OData-MaxVersion is below 4.0, the lowest version the API accepts.", "")},

		// Query options.
		{name: "4.0 names are lower case", target: "/odata/Products?$Top=5", header: v40,
			want: refused(400, "UnknownQueryOption", `Unknown system query option "$Top": OData 4.0 names system query options in lower case, as $top.`,
				`[{"Name":"$Top","Type":"QueryParameter","ValidationRule":"Unspecified","Details":"Unknown system query option \"$Top\": OData 4.0 names system query options in lower case, as $top.","Action":"prevent"}]`)},
		{name: "an unknown $ option", target: "/odata/Products?$inlinecount=allpages", header: v401,
			want: refused(400, "UnknownQueryOption", `Unknown system query option "$inlinecount": names that begin with $ are reserved for OData's system query options.`, "")},
		{name: "$top not a number", target: "/odata/Products?$top=ten", header: v40,
			want: refused(400, "InvalidQueryOption", `Value of the system query option $top must be a whole number of 0 or more, not "ten".`,
				`[{"Name":"$top","Type":"QueryParameter","ValidationRule":"IncorrectMessage","Details":"Value of the system query option $top must be a whole number of 0 or more, not \"ten\".","Action":"prevent"}]`)},
		{name: "an encoded name", target: "/odata/Products?%24skip=-5", header: v40,
			want: refused(400, "InvalidQueryOption", `Value of the system query option $skip must be a whole number of 0 or more, not "-5".`, "")},
		{name: "a repeated option", target: "/odata/Products?$top=1&$top=2", header: v40,
			want: refused(400, "InvalidQueryOption", "Request cannot contain multiple values for the system query option $top.", "")},
		{name: "4.01: the same option under two spellings", target: "/odata/Products?$top=1&TOP=2", header: v401,
			want: refused(400, "InvalidQueryOption", "Request cannot contain multiple values for the system query option $top.", "")},
		{name: "4.01: a $-less system option's value", target: "/odata401/Products?count=5",
			want: refused(400, "InvalidQueryOption", `Value of the system query option $count must be true or false, not "5".`, "")},
		{name: "an unclosed parenthesis", target: "/odata/Products?$filter=(Price%20lt%202", header: v40,
			want: refused(400, "InvalidQueryOption", "Value of the system query option $filter is not well-formed: the ( at byte 1 is not closed.", "")},
		{name: "an unclosed string", target: "/odata/Products?$filter=Name%20eq%20'Milk", header: v40,
			want: refused(400, "InvalidQueryOption", "Value of the system query option $filter is not well-formed: a string starting at byte 9 is not closed.", "")},
		{name: "an empty option", target: "/odata/Products?$select=", header: v40,
			want: refused(400, "InvalidQueryOption", "Value of the system query option $select needs a value.", "")},
		{name: "a huge value, cut in the message", target: "/odata/Products?$top=" + huge, header: v40,
			want: refused(400, "InvalidQueryOption", `Value of the system query option $top must be a whole number of 0 or more, not "`+huge[:100]+`...".`, "")},
		{name: "a control character in a name", target: "/odata/Products?$x%0D%0AInjected:%201=1", header: v40,
			want: refused(400, "UnknownQueryOption", `Unknown system query option "$x\r\nInjected: 1": names that begin with $ are reserved for OData's system query options.`, "")},
		{name: "several findings: all recorded, the first decides", target: "/odata/Products?$foo=1&$top=x", header: http.Header{"OData-Version": {"3.0"}},
			want: refused(400, "ODataVersionNotSupported", "OData version 3.0 in the header OData-Version is not supported: the API accepts OData 4.0 to 4.01.",
				`[{"Name":"OData-Version","Type":"RequestHeader","ValidationRule":"IncorrectMessage","Details":"OData version 3.0 in the header OData-Version is not supported: the API accepts OData 4.0 to 4.01.","Action":"prevent"},`+
					`{"Name":"$foo","Type":"QueryParameter","ValidationRule":"Unspecified","Details":"Unknown system query option \"$foo\": names that begin with $ are reserved for OData's system query options.","Action":"prevent"},`+
					`{"Name":"$top","Type":"QueryParameter","ValidationRule":"IncorrectMessage","Details":"Value of the system query option $top must be a whole number of 0 or more, not \"x\".","Action":"prevent"}]`)},

		// Size.
		{name: "a body over max-size", target: "/odata/Products", body: strings.Repeat("x", 150), header: v40,
			want: refused(413, "PayloadTooLarge", "Request's body is 150 bytes long and it exceeds the configured limit of 100 bytes.",
				`[{"Name":"","Type":"RequestBody","ValidationRule":"SizeLimit","Details":"Request's body is 150 bytes long and it exceeds the configured limit of 100 bytes.","Action":"prevent"}]`)},
		// A chunked body is read only up to max-size and one byte more.
		{name: "a chunked body over max-size", target: "/odata/Products", body: strings.Repeat("x", 150), chunked: true, header: v40,
			want: refused(413, "PayloadTooLarge", "Request's body is more than 100 bytes long and it exceeds the configured limit of 100 bytes.", "")},
		{name: "a chunked body over the buffering limit", target: "/odata/Products", body: strings.Repeat("x", 100<<10), chunked: true, header: v40,
			want: refused(413, "PayloadTooLarge", "Request's body is more than 100 bytes long and it exceeds the configured limit of 100 bytes.", "")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := calls.Load()
			method := http.MethodGet
			var body io.Reader
			if tt.body != "" {
				method, body = http.MethodPost, strings.NewReader(tt.body)
				if tt.chunked {
					body = io.MultiReader(body) // no length: sent chunked
				}
			}
			req, _ := http.NewRequest(method, e.srv.GatewayURL()+tt.target, body)
			for k, vs := range tt.header {
				req.Header[http.CanonicalHeaderKey(k)] = vs
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if tt.chunked && req.ContentLength != 0 {
				t.Fatalf("sent with Content-Length %d", req.ContentLength)
			}
			reached := calls.Load() != before
			if tt.want.status == 200 {
				mu.Lock()
				query, fwd := gotQuery, gotBody
				mu.Unlock()
				_, sent, _ := strings.Cut(tt.target, "?")
				if resp.StatusCode != 200 || !reached || query != sent || fwd != tt.body || resp.Header.Get("X-Errors") != "" {
					t.Errorf("%d %s (reached %t, query %q, body %q, errors %q)\nwant 200, the backend to get %q and %q", resp.StatusCode, got, reached, query, fwd, resp.Header.Get("X-Errors"), sent, tt.body)
				}
				return
			}
			wantBody, _ := json.Marshal(struct {
				StatusCode int    `json:"statusCode"`
				Message    string `json:"message"`
			}{tt.want.status, public(tt.want.message)})
			if resp.StatusCode != tt.want.status || string(got) != string(wantBody) {
				t.Errorf("%d %s\nwant %d %s", resp.StatusCode, got, tt.want.status, wantBody)
			}
			if reached {
				t.Error("the backend was called")
			}
			if s, r, m := resp.Header.Get("X-Source"), resp.Header.Get("X-Reason"), resp.Header.Get("X-Message"); s != "validate-odata-request" || r != tt.want.reason || m != tt.want.message {
				t.Errorf("LastError %s, %s, %q\nwant validate-odata-request, %s, %q", s, r, m, tt.want.reason, tt.want.message)
			}
			errs := resp.Header.Get("X-Errors")
			if strings.HasPrefix(tt.target, "/odata/") && !strings.Contains(errs, tt.want.errors) || !strings.HasPrefix(tt.target, "/odata/") && errs != "" {
				t.Errorf("errors variable %s\nwant it to hold %s", errs, tt.want.errors)
			}
		})
	}
}

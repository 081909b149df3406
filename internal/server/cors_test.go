package server_test

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// corsConfig: an API "shop" that requires a subscription key, whose
// specification has GET /items/{id} and POST /orders, with a cors policy first
// at API scope and a check-header after it that every actual request fails
// without X-Tenant; create-order adds an operation-scope cors for another
// origin before <base />. An API "catalog" in the product "partner", whose
// product policy has the only cors policy.
func corsConfig(backendURL string) map[string]string {
	api := func(path string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":true}}`, path, backendURL+"/"+path)
	}
	doc := func(inbound string) string {
		return `<policies><inbound>` + inbound + `</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`
	}
	return map[string]string{
		"apis/shop/apiInformation.json": api("shop"),
		"apis/shop/specification.yaml": `openapi: 3.0.1
info: {title: shop, version: "1"}
paths:
  /items/{id}:
    get:
      operationId: get-item
      responses: {"200": {description: ok}}
  /orders:
    post:
      operationId: create-order
      responses: {"201": {description: created}}
`,
		"apis/shop/policy.xml": doc(`<base />
			<cors allow-credentials="true">
				<allowed-origins><origin>https://app.example</origin></allowed-origins>
				<allowed-methods preflight-result-max-age="600"><method>GET</method><method>POST</method><method>PUT</method></allowed-methods>
				<allowed-headers><header>content-type</header><header>ocp-apim-subscription-key</header></allowed-headers>
				<expose-headers><header>X-Total</header></expose-headers>
			</cors>
			<check-header name="X-Tenant" failed-check-httpcode="403" failed-check-error-message="Tenant required" ignore-case="true" />`),
		"apis/shop/operations/create-order/policy.xml": doc(`
			<cors terminate-unmatched-request="false">
				<allowed-origins><origin>https://orders.example</origin></allowed-origins>
				<allowed-headers><header>content-type</header></allowed-headers>
			</cors>
			<base />`),
		"apis/catalog/apiInformation.json":                         api("catalog"),
		"products/partner/productInformation.json":                 `{"properties":{"displayName":"Partner","state":"published","subscriptionRequired":true}}`,
		"products/partner/apis/catalog/productApiInformation.json": `{}`,
		"products/partner/policy.xml": doc(`<cors>
				<allowed-origins><origin>https://partner.example</origin></allowed-origins>
				<allowed-methods><method>*</method></allowed-methods>
			</cors>
			<base />`),
		"subscriptions/all/subscriptionInformation.json":     `{"properties":{"scope":"/apis","state":"active","primaryKey":"all-key","secondaryKey":"all-key-2"}}`,
		"subscriptions/partner/subscriptionInformation.json": `{"properties":{"scope":"/products/partner","state":"active","primaryKey":"partner-key","secondaryKey":"partner-key-2"}}`,
	}
}

func startCORS(t *testing.T) (*recordingBackend, string) {
	t.Helper()
	rb := newRecordingBackend(t)
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, corsConfig(rb.srv.URL))
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	return rb, e.srv.GatewayURL()
}

func doCORS(t *testing.T, method, url string, h map[string]string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range h {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, string(body)
}

// corsHeaders are the response's CORS headers, one line each, sorted as
// written here.
func corsHeaders(h http.Header) map[string]string {
	out := map[string]string{}
	for _, k := range []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Credentials", "Access-Control-Allow-Methods",
		"Access-Control-Allow-Headers", "Access-Control-Max-Age", "Access-Control-Expose-Headers"} {
		if v := h.Values(k); len(v) > 0 {
			out[k] = strings.Join(v, " | ")
		}
	}
	return out
}

func TestCORSThroughTheServer(t *testing.T) {
	rb, gw := startCORS(t)
	preflight := func(origin, method, headers string) map[string]string {
		h := map[string]string{"Origin": origin, "Access-Control-Request-Method": method}
		if headers != "" {
			h["Access-Control-Request-Headers"] = headers
		}
		return h
	}
	appAllowed := map[string]string{
		"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Credentials": "true",
		"Access-Control-Allow-Methods": "GET, POST, PUT", "Access-Control-Max-Age": "600",
	}
	with := func(m map[string]string, kv ...string) map[string]string {
		out := map[string]string{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[kv[i]] = kv[i+1]
		}
		return out
	}
	tests := []struct {
		name        string
		method, url string
		header      map[string]string
		wantStatus  int
		wantCORS    map[string]string
		wantBackend int
	}{
		{"a preflight is answered without a key and without calling the backend", "OPTIONS", "/shop/items/42",
			preflight("https://app.example", "GET", "content-type,ocp-apim-subscription-key"), 200,
			with(appAllowed, "Access-Control-Allow-Headers", "content-type, ocp-apim-subscription-key"), 0},
		{"a preflight for a method the GET-only path does not define", "OPTIONS", "/shop/items/42",
			preflight("https://app.example", "PUT", ""), 200, appAllowed, 0},
		{"a preflight with a header the policy does not allow", "OPTIONS", "/shop/items/42",
			preflight("https://app.example", "GET", "x-secret"), 200, map[string]string{}, 0},
		{"a preflight with a method the policy does not allow", "OPTIONS", "/shop/items/42",
			preflight("https://app.example", "DELETE", ""), 200, map[string]string{}, 0},
		{"a preflight from an unmatched origin (terminate-unmatched-request true)", "OPTIONS", "/shop/items/42",
			preflight("https://evil.example", "GET", ""), 200, map[string]string{}, 0},
		{"operation scope: its own cors answers its origin", "OPTIONS", "/shop/orders",
			preflight("https://orders.example", "POST", "content-type"), 200,
			map[string]string{"Access-Control-Allow-Origin": "https://orders.example", "Access-Control-Allow-Methods": "GET, POST", "Access-Control-Allow-Headers": "content-type"}, 0},
		{"operation scope: unmatched with terminate false, the API's cors answers", "OPTIONS", "/shop/orders",
			preflight("https://app.example", "POST", ""), 200, appAllowed, 0},
		{"an actual request: origin echoed with credentials, also on the policy's 403", "GET", "/shop/items/42",
			map[string]string{"Origin": "https://app.example", "Ocp-Apim-Subscription-Key": "all-key"}, 403,
			map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Credentials": "true", "Access-Control-Expose-Headers": "X-Total"}, 0},
		{"an actual request that passes reaches the backend with its CORS headers", "GET", "/shop/items/42",
			map[string]string{"Origin": "https://app.example", "Ocp-Apim-Subscription-Key": "all-key", "X-Tenant": "t"}, 200,
			map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Credentials": "true", "Access-Control-Expose-Headers": "X-Total"}, 1},
		{"an actual request without a key: the 401 carries the CORS headers", "GET", "/shop/items/42",
			map[string]string{"Origin": "https://app.example"}, 401,
			map[string]string{"Access-Control-Allow-Origin": "https://app.example", "Access-Control-Allow-Credentials": "true", "Access-Control-Expose-Headers": "X-Total"}, 0},
		{"an unmatched simple GET is ended with an empty 200 (terminate true)", "GET", "/shop/items/42",
			map[string]string{"Origin": "https://evil.example", "Ocp-Apim-Subscription-Key": "all-key", "X-Tenant": "t"}, 200, map[string]string{}, 0},
		{"an unmatched POST goes on without CORS headers (terminate false at operation scope, then the API's cors: POST is not terminated)", "POST", "/shop/orders",
			map[string]string{"Origin": "https://evil.example", "Ocp-Apim-Subscription-Key": "all-key", "X-Tenant": "t"}, 200, map[string]string{}, 1},
		{"product scope: a preflight with the key in the query is answered by the product's cors", "OPTIONS", "/catalog/anything?subscription-key=partner-key",
			preflight("https://partner.example", "DELETE", ""), 200,
			map[string]string{"Access-Control-Allow-Origin": "https://partner.example", "Access-Control-Allow-Methods": "DELETE"}, 0},
		{"product scope: without the key the product is unknown, and the preflight is an ordinary request (API Management documents this)", "OPTIONS", "/catalog/anything",
			preflight("https://partner.example", "DELETE", ""), 401, map[string]string{}, 0},
		{"product scope: an actual request with the product's key", "GET", "/catalog/anything",
			map[string]string{"Origin": "https://partner.example", "Ocp-Apim-Subscription-Key": "partner-key"}, 200,
			map[string]string{"Access-Control-Allow-Origin": "https://partner.example"}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rb.requests())
			resp, body := doCORS(t, tt.method, gw+tt.url, tt.header)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if got := corsHeaders(resp.Header); fmt.Sprint(got) != fmt.Sprint(tt.wantCORS) {
				t.Errorf("CORS headers\n got %v\nwant %v", got, tt.wantCORS)
			}
			if len(tt.wantCORS) > 0 && tt.wantCORS["Access-Control-Allow-Origin"] != "*" && !strings.Contains(strings.Join(resp.Header.Values("Vary"), ","), "Origin") {
				t.Errorf("Vary %q, want Origin in it", resp.Header.Values("Vary"))
			}
			if n := len(rb.requests()) - before; n != tt.wantBackend {
				t.Errorf("the backend got %d requests, want %d", n, tt.wantBackend)
			}
		})
	}
}

// TestCORSAttacks sends what an attacker would: origins that are not allowed
// but look like one, and preflights that try to make the gateway work hard or
// write what they chose into the response.
func TestCORSAttacks(t *testing.T) {
	rb, gw := startCORS(t)
	addr := strings.TrimPrefix(gw, "http://")
	tests := []struct {
		name       string
		raw        string
		wantStatus int
		wantACAO   string
	}{
		{"Origin: null is no allowed origin", "OPTIONS /shop/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nOrigin: null\r\nAccess-Control-Request-Method: GET\r\n\r\n", 200, ""},
		{"an origin that only starts like an allowed one", "OPTIONS /shop/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nOrigin: https://app.example.evil.com\r\nAccess-Control-Request-Method: GET\r\n\r\n", 200, ""},
		{"an allowed origin as user information", "OPTIONS /shop/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nOrigin: https://app.example@evil.com\r\nAccess-Control-Request-Method: GET\r\n\r\n", 200, ""},
		{"an allowed origin with a path", "OPTIONS /shop/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nOrigin: https://app.example/x\r\nAccess-Control-Request-Method: GET\r\n\r\n", 200, ""},
		{"two Origin lines", "OPTIONS /shop/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nOrigin: https://app.example\r\nOrigin: https://evil.example\r\nAccess-Control-Request-Method: GET\r\n\r\n", 200, ""},
		{"an encoded CRLF in Origin", "OPTIONS /shop/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nOrigin: https://app.example%0d%0aX-Injected:%201\r\nAccess-Control-Request-Method: GET\r\n\r\n", 200, ""},
		{"a bare CR in Origin is refused", "OPTIONS /shop/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nOrigin: https://app.example\rX-Injected: 1\r\nAccess-Control-Request-Method: GET\r\n\r\n", 400, ""},
		{"a bare LF ends the Origin line: only the origin is echoed", "OPTIONS /shop/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nOrigin: https://app.example\nX-Injected: 1\r\nAccess-Control-Request-Method: GET\r\n\r\n", 200, "https://app.example"},
		{"a method with a space", "OPTIONS /shop/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: G ET\r\n\r\n", 200, ""},
		{"a huge Access-Control-Request-Headers within the header limit is not allowed",
			"OPTIONS /shop/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: " +
				strings.TrimSuffix(strings.Repeat("content-type,", 2000), ",") + "\r\n\r\n", 200, ""},
		{"an Access-Control-Request-Headers over the header limit is 431",
			"OPTIONS /shop/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nOrigin: https://app.example\r\nAccess-Control-Request-Method: GET\r\nAccess-Control-Request-Headers: " +
				strings.Repeat("x", 64<<10) + "\r\n\r\n", 431, ""},
		{"a simple GET from a prefix origin is ended, not forwarded", "GET /shop/items/1 HTTP/1.1\r\nHost: gw\r\nConnection: close\r\nOrigin: https://app.example.evil.com\r\nOcp-Apim-Subscription-Key: all-key\r\nX-Tenant: t\r\n\r\n", 200, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(rb.requests())
			resp, body, _ := rawExchange(t, addr, tt.raw)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status %d (%s), want %d", resp.StatusCode, body, tt.wantStatus)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tt.wantACAO {
				t.Errorf("Access-Control-Allow-Origin %q, want %q", got, tt.wantACAO)
			}
			if len(resp.Header.Values("Access-Control-Allow-Origin")) > 1 || resp.Header.Get("X-Injected") != "" {
				t.Errorf("response headers %v", resp.Header)
			}
			if resp.StatusCode == 200 && tt.wantACAO == "" && (resp.Header.Get("Access-Control-Allow-Credentials") != "" || body != "") {
				t.Errorf("an unmatched request got %v and body %q, want an empty 200", resp.Header, body)
			}
			if n := len(rb.requests()) - before; n != 0 {
				t.Errorf("the backend got %d requests, want none", n)
			}
		})
	}
}

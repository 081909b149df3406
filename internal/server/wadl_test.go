package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestWADLOperations serves an API that API Management imported from WADL: its
// operations are the WADL's methods (nested resources, a path parameter, a
// resource type), each runs its own operation policy, and a request that
// matches none is 404.
func TestWADLOperations(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s op=%s", r.Method, r.URL.RequestURI(), r.Header.Get("X-Op"))
	}))
	t.Cleanup(backend.Close)
	opPolicy := `<policies><inbound><base /><set-header name="X-Op" exists-action="override"><value>@(context.Operation.Id + " " + context.Operation.UrlTemplate + " " + context.Request.MatchedParameters.GetValueOrDefault("id", "-"))</value></set-header></inbound>` +
		`<backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/shop/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"shop","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL+"/v1"),
		"apis/shop/specification.wadl": `<?xml version="1.0"?>
<application xmlns="http://wadl.dev.java.net/2009/02">
  <resource_type id="deletable"><method id="delete-order" name="DELETE"/></resource_type>
  <resources base="https://shop.example/v1">
    <resource path="orders">
      <method id="list-orders" name="GET"><doc title="List orders"/></method>
      <resource path="{id: [0-9]+}" type="#deletable">
        <param name="id" style="template"/>
        <method id="get-order" name="GET"><request><param name="expand" style="query"/></request></method>
      </resource>
    </resource>
  </resources>
</application>
`,
		"apis/shop/operations/get-order/policy.xml":    opPolicy,
		"apis/shop/operations/delete-order/policy.xml": opPolicy,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	tests := []struct {
		method, path string
		status       int
		want         string
	}{
		{"GET", "/shop/orders", 200, "GET /v1/orders op="},
		{"GET", "/shop/orders/42?expand=lines", 200, "GET /v1/orders/42?expand=lines op=get-order /orders/{id} 42"},
		{"DELETE", "/shop/orders/7", 200, "DELETE /v1/orders/7 op=delete-order /orders/{id} 7"},
		{"POST", "/shop/orders", 404, "Resource not found"},
		{"GET", "/shop/customers", 404, "Resource not found"},
		{"GET", "/shop/orders/42/lines", 404, "Resource not found"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.srv.GatewayURL()+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(got), tt.want) {
				t.Errorf("%d %s\nwant %d containing %s", resp.StatusCode, got, tt.status, tt.want)
			}
		})
	}
}

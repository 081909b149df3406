package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestSOAPPassThrough serves a SOAP API (type soap, with its WSDL) as API
// Management's pass-through SOAP APIs work: the envelope, SOAPAction and the
// SOAP 1.2 action parameter reach the backend unchanged, the API's policy
// runs, and the backend's fault comes back as it is.
func TestSOAPPassThrough(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
		if strings.Contains(string(body), "Unknown") {
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><soap:Fault><faultcode>soap:Client</faultcode><faultstring>unknown symbol</faultstring></soap:Fault></soap:Body></soap:Envelope>`)
			return
		}
		fmt.Fprintf(w, "%s %s SOAPAction=%s X-Api=%s %s", r.Method, r.URL.RequestURI(), r.Header.Get("SOAPAction"), r.Header.Get("X-Api"), body)
	}))
	t.Cleanup(backend.Close)
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/quotes/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"quotes","type":"soap","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL+"/StockQuote.asmx"),
		"apis/quotes/specification.wsdl":  `<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" name="StockQuote" />`,
		"apis/quotes/policy.xml": `<policies><inbound><set-header name="X-Api" exists-action="override"><value>@(context.Api.Name)</value></set-header>` +
			`</inbound>` +
			`<backend><forward-request /></backend><outbound /><on-error><set-header name="X-Error" exists-action="override"><value>@(context.LastError.Reason + ": " + context.LastError.Message)</value></set-header></on-error></policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	const envelope = `<soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body><GetQuote xmlns="urn:q"><Symbol>%s</Symbol></GetQuote></soap:Body></soap:Envelope>`
	tests := []struct {
		name, path, contentType, action, symbol string
		status                                  int
		want                                    string
	}{
		{"SOAP 1.1", "/quotes", "text/xml; charset=utf-8", `"urn:q/GetQuote"`, "MSFT", 200,
			`POST /StockQuote.asmx SOAPAction="urn:q/GetQuote" X-Api=quotes ` + fmt.Sprintf(envelope, "MSFT")},
		{"SOAP 1.2", "/quotes?x=1", `application/soap+xml; charset=utf-8; action="urn:q/GetQuote"`, "", "MSFT", 200,
			`POST /StockQuote.asmx?x=1 SOAPAction= X-Api=quotes ` + fmt.Sprintf(envelope, "MSFT")},
		{"a fault passes through", "/quotes", "text/xml", `"urn:q/GetQuote"`, "Unknown", 500, "unknown symbol"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := fmt.Sprintf(envelope, tt.symbol)
			req, _ := http.NewRequest("POST", e.srv.GatewayURL()+tt.path, strings.NewReader(body))
			req.Header.Set("Content-Type", tt.contentType)
			if tt.action != "" {
				req.Header.Set("SOAPAction", tt.action)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			got, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.Contains(string(got), tt.want) {
				t.Errorf("%d %s (X-Error %q)\nwant %d containing %s", resp.StatusCode, got, resp.Header.Get("X-Error"), tt.status, tt.want)
			}
		})
	}
}

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

// TestSOAPOperations serves a SOAP API whose WSDL defines its operations, as
// API Management imports one: each request runs the policies of the
// operation its SOAP action names (SOAPAction, or SOAP 1.2's action
// parameter), and one that names none of them is 404. A request that names
// two actions is refused, so that policies cannot run for one operation while
// the backend acts on another.
func TestSOAPOperations(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s op=%s", r.Method, r.URL.RequestURI(), r.Header.Get("X-Op"))
	}))
	t.Cleanup(backend.Close)
	cfgDir := t.TempDir()
	opPolicy := func(check string) string {
		return `<policies><inbound><base />` + check + `<set-header name="X-Op" exists-action="override"><value>@(context.Operation.Id + " " + context.Operation.Method + " " + context.Operation.UrlTemplate)</value></set-header></inbound>` +
			`<backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`
	}
	writeFiles(t, cfgDir, map[string]string{
		"apis/calc/apiInformation.json":       fmt.Sprintf(`{"properties":{"path":"calc","type":"soap","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL+"/calc.svc"),
		"apis/calc/specification.wsdl":        calcWSDL,
		"apis/calc/operations/Add/policy.xml": opPolicy(""),
		// Divide is for callers with a key: a request that names Divide's action
		// anywhere must not reach it through Add.
		"apis/calc/operations/Divide/policy.xml": opPolicy(`<check-header name="X-Key" failed-check-httpcode="401" failed-check-error-message="Divide needs a key" ignore-case="false"><value>secret</value></check-header>`),
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	const add, divide = "http://tempuri.org/ICalculator/Add", "http://tempuri.org/ICalculator/Divide"
	tests := []struct {
		name, method, path string
		header             http.Header
		status             int
		want               string
	}{
		{"SOAP 1.1", "POST", "/calc", http.Header{"Soapaction": {`"` + add + `"`}, "Content-Type": {"text/xml"}}, 200,
			"POST /calc.svc op=Add POST /?soapAction=" + add},
		{"SOAP 1.1 unquoted, with a query", "POST", "/calc?x=1", http.Header{"Soapaction": {add}}, 200, "POST /calc.svc?x=1 op=Add"},
		{"SOAP 1.2 action parameter", "POST", "/calc", http.Header{"Content-Type": {`application/soap+xml; charset=utf-8; action="urn:add12"`}}, 200, "op=Add"},
		{"SOAP 1.2 with the same SOAPAction", "POST", "/calc", http.Header{"Soapaction": {"urn:add12"}, "Content-Type": {`application/soap+xml; action="urn:add12"`}}, 200, "op=Add"},
		{"the other operation's policy", "POST", "/calc", http.Header{"Soapaction": {divide}}, 401, "Divide needs a key"},
		{"the other operation, with its key", "POST", "/calc", http.Header{"Soapaction": {divide}, "X-Key": {"secret"}}, 200, "op=Divide"},
		{"an action of no operation", "POST", "/calc", http.Header{"Soapaction": {"urn:nope"}}, 404, "Resource not found"},
		{"no action", "POST", "/calc", http.Header{"Content-Type": {"text/xml"}}, 404, "Resource not found"},
		{"an action is not a query parameter", "POST", "/calc?soapAction=" + add, nil, 404, "Resource not found"},
		{"operations are POST", "GET", "/calc", http.Header{"Soapaction": {add}}, 404, "Resource not found"},
		{"operations are at the API's path", "POST", "/calc/more", http.Header{"Soapaction": {add}}, 404, "Resource not found"},
		{"two SOAPAction headers", "POST", "/calc", http.Header{"Soapaction": {add, divide}}, 400, "more than one SOAPAction header"},
		{"two actions in the Content-Type", "POST", "/calc", http.Header{"Content-Type": {`application/soap+xml; action="` + divide + `"; action="urn:add12"`}}, 400,
			"Content-Type cannot be read: mime: duplicate parameter name"},
		{"two Content-Types", "POST", "/calc", http.Header{"Soapaction": {add}, "Content-Type": {"text/xml", `application/soap+xml; action="` + divide + `"`}}, 400,
			"more than one Content-Type header"},
		{"RFC 2231's action*", "POST", "/calc", http.Header{"Content-Type": {`application/soap+xml; action="` + divide + `"; action*=utf-8''urn%3Aadd12`}}, 400,
			"RFC 2231 form"},
		{"RFC 2231's continuations", "POST", "/calc", http.Header{"Content-Type": {`application/soap+xml; action="` + divide + `"; action*0="urn:"; action*1="add12"`}}, 400,
			"RFC 2231 form"},
		// The backend would not get a header that Connection names: the
		// action is the Content-Type's, or none.
		{"a SOAPAction the client's Connection removes", "POST", "/calc", http.Header{"Connection": {"SOAPAction"}, "Soapaction": {add}}, 404, "Resource not found"},
		{"a SOAPAction the client's Connection removes, and an action", "POST", "/calc", http.Header{"Connection": {"soapaction"}, "Soapaction": {add}, "Content-Type": {`application/soap+xml; action="` + divide + `"`}}, 401,
			"Divide needs a key"},
		{"SOAPAction and Content-Type disagree", "POST", "/calc", http.Header{"Soapaction": {add}, "Content-Type": {`application/soap+xml; action="` + divide + `"`}}, 400,
			"name different actions"},
	}
	// On the wire, the second header may differ from the first only in case,
	// and come after the body's length.
	t.Run("raw: two SOAPAction headers spelt differently", func(t *testing.T) {
		resp, body, _ := rawExchange(t, strings.TrimPrefix(e.srv.GatewayURL(), "http://"), "POST /calc HTTP/1.1\r\nHost: gw\r\nsoapaction: "+add+
			"\r\nContent-Length: 2\r\nSOAPAction: "+divide+"\r\n\r\n<a")
		if resp.StatusCode != 400 || !strings.Contains(body, "more than one SOAPAction header") {
			t.Errorf("%d %s, want 400", resp.StatusCode, body)
		}
	})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, e.srv.GatewayURL()+tt.path, strings.NewReader("<soap:Envelope/>"))
			for k, v := range tt.header {
				req.Header[k] = v
			}
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

// calcWSDL describes Add and Divide in a SOAP 1.1 and a SOAP 1.2 binding; Add
// has another action in SOAP 1.2.
const calcWSDL = `<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/" xmlns:tns="http://tempuri.org/" targetNamespace="http://tempuri.org/">
  <wsdl:binding name="Basic" type="tns:ICalculator">
    <soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Add"><soap:operation soapAction="http://tempuri.org/ICalculator/Add"/></wsdl:operation>
    <wsdl:operation name="Divide"><soap:operation soapAction="http://tempuri.org/ICalculator/Divide"/></wsdl:operation>
  </wsdl:binding>
  <wsdl:binding name="Soap12" type="tns:ICalculator">
    <soap12:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Add"><soap12:operation soapAction="urn:add12"/></wsdl:operation>
    <wsdl:operation name="Divide"><soap12:operation soapAction="http://tempuri.org/ICalculator/Divide"/></wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="Calculator">
    <wsdl:port name="BasicPort" binding="tns:Basic"><soap:address location="http://backend.example/calc.svc"/></wsdl:port>
    <wsdl:port name="Soap12Port" binding="tns:Soap12"><soap12:address location="http://backend.example/calc.svc"/></wsdl:port>
  </wsdl:service>
</wsdl:definitions>
`

package server_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestXSLTransform runs xsl-transform through the real server: Microsoft's
// two examples (a parameter from a policy expression on the request, the
// identity transform on the response), a SOAP answer reshaped for a REST
// client, and the failures a client or a stylesheet can cause.
func TestXSLTransform(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		switch r.URL.Path {
		case "/soap":
			w.Header().Set("Content-Type", "text/xml; charset=utf-8")
			io.WriteString(w, `<?xml version="1.0"?><soap:Envelope xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/"><soap:Body>`+
				`<m:GetOrdersResponse xmlns:m="urn:orders"><m:Order id="2"><m:Total>5.50</m:Total></m:Order><m:Order id="1"><m:Total>12</m:Total></m:Order></m:GetOrdersResponse>`+
				`</soap:Body></soap:Envelope>`)
		default: // what the backend got, as it got it
			w.Header().Set("Content-Type", r.Header.Get("Content-Type"))
			w.Header().Set("X-Backend-Length", fmt.Sprint(len(body)))
			w.Write(body)
		}
	}))
	t.Cleanup(backend.Close)

	api := func(path string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":false}}`, path, backend.URL)
	}
	onError := `<on-error><set-header name="X-Error" exists-action="override"><value>@(context.LastError.Source + " " + context.LastError.Reason + ": " + context.LastError.Message)</value></set-header></on-error>`
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		// Microsoft's first example: the request body, with the caller's
		// User-Agent as an attribute of its root element.
		"apis/in/apiInformation.json": api("in"),
		"apis/in/policy.xml": `<policies><inbound><base /><xsl-transform>
    <parameter name="User-Agent">@(context.Request.Headers.GetValueOrDefault("User-Agent","non-specified"))</parameter>
    <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
        <xsl:output method="xml" indent="yes" />
        <xsl:param name="User-Agent" />
        <xsl:template match="* | @* | node()">
            <xsl:copy>
                <xsl:if test="self::* and not(parent::*)">
                    <xsl:attribute name="User-Agent">
                        <xsl:value-of select="$User-Agent" />
                    </xsl:attribute>
                </xsl:if>
                <xsl:apply-templates select="* | @* | node()" />
            </xsl:copy>
        </xsl:template>
    </xsl:stylesheet>
</xsl-transform></inbound><backend><base /></backend><outbound><base /></outbound>` + onError + `</policies>`,
		// Microsoft's second example: the identity transform of the response.
		"apis/out/apiInformation.json": api("out"),
		"apis/out/policy.xml": `<policies><inbound><base /></inbound><backend><base /></backend><outbound><base /><xsl-transform>
    <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
        <xsl:output omit-xml-declaration="yes" method="xml" indent="yes" />
        <!-- Copy all nodes directly-->
        <xsl:template match="node()| @*|*">
            <xsl:copy>
                <xsl:apply-templates select="@* | node()|*" />
            </xsl:copy>
        </xsl:template>
    </xsl:stylesheet>
</xsl-transform></outbound>` + onError + `</policies>`,
		// A SOAP answer reshaped for a REST client: namespaces, sorting, a
		// computed total, a named value in the stylesheet.
		"named values/currency/namedValueInformation.json": `{"properties":{"displayName":"currency","value":"EUR"}}`,
		"apis/soap/apiInformation.json":                    api("soap"),
		"apis/soap/policy.xml": `<policies><inbound><base /></inbound><backend><base /></backend><outbound><base /><xsl-transform>
    <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform"
        xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/" xmlns:m="urn:orders" exclude-result-prefixes="soap m">
        <xsl:output method="xml" omit-xml-declaration="yes" />
        <xsl:template match="/">
            <orders currency="{{currency}}" total="{sum(//m:Total)}">
                <xsl:for-each select="soap:Envelope/soap:Body/m:GetOrdersResponse/m:Order">
                    <xsl:sort select="@id" data-type="number" />
                    <order id="{@id}"><xsl:value-of select="format-number(m:Total, '0.00')" /></order>
                </xsl:for-each>
            </orders>
        </xsl:template>
    </xsl:stylesheet>
</xsl-transform></outbound>` + onError + `</policies>`,
		// A stylesheet that gives up, with a message for on-error.
		"apis/stop/apiInformation.json": api("stop"),
		"apis/stop/policy.xml": `<policies><inbound><base /><xsl-transform>
    <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
        <xsl:template match="/"><xsl:if test="not(/order/@id)"><xsl:message terminate="yes">an order needs an id</xsl:message></xsl:if><ok /></xsl:template>
    </xsl:stylesheet>
</xsl-transform></inbound><backend><base /></backend><outbound><base /></outbound>` + onError + `</policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))

	tests := []struct {
		name, method, path, body string
		chunked                  bool // sent without a length
		header                   map[string]string
		status                   int
		respBody, xError         string
	}{
		{name: "Microsoft's request example", method: "POST", path: "/in/x", body: `<order id="7"><item>pen</item></order>`,
			header: map[string]string{"User-Agent": "curl/8", "Content-Type": "application/xml"}, status: 200,
			respBody: "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<order User-Agent=\"curl/8\" id=\"7\">\n  <item>pen</item>\n</order>"},
		{name: "Microsoft's response example", method: "POST", path: "/out/x", body: `<a x="1"><!-- c --><b>t</b><?pi d?></a>`,
			header: map[string]string{"Content-Type": "text/xml"}, status: 200,
			respBody: "<a x=\"1\">\n  <!-- c -->\n  <b>t</b>\n  <?pi d?>\n</a>"},
		{name: "a SOAP answer for a REST client", method: "GET", path: "/soap/soap", status: 200,
			respBody: `<orders currency="EUR" total="17.5"><order id="1">12.00</order><order id="2">5.50</order></orders>`},
		{name: "a request body that is not XML", method: "POST", path: "/in/x", body: `{"json": true}`, status: 400,
			xError: "xsl-transform XslTransformFailure: xsl-transform: the body is not XML: "},
		{name: "a document type declaration", method: "POST", path: "/in/x", status: 400,
			body:   `<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;">]><lolz>&lol2;</lolz>`,
			xError: "xsl-transform XslTransformFailure: xsl-transform: the body is not XML: "},
		{name: "xsl:message terminate", method: "POST", path: "/stop/x", body: `<order />`, status: 500,
			respBody: `{"statusCode":500,"message":"Internal server error"`,
			xError:   "xsl-transform XslTransformFailure: xsl-transform: the stylesheet failed: line 3, column 64 of the policy: xsl:message terminated the transform: an order needs an id"},
		{name: "the stylesheet's output to the backend", method: "POST", path: "/stop/x", body: `<order id="1" />`, status: 200,
			respBody: `<?xml version="1.0" encoding="utf-8"?><ok />`},
		{name: "a compressed body", method: "POST", path: "/in/x", body: `<a />`, header: map[string]string{"Content-Encoding": "gzip"}, status: 400,
			xError: "xsl-transform XslTransformFailure: xsl-transform: the body is gzip-compressed; xsl-transform reads XML as it is"},
		{name: "no body, nothing to transform", method: "GET", path: "/in/x", status: 200},
		{name: "an empty chunked body, nothing to transform", method: "POST", path: "/in/x", chunked: true, status: 200},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var reqBody io.Reader = strings.NewReader(tt.body)
			if tt.chunked {
				reqBody = io.MultiReader(reqBody) // no length the client can see
			}
			req, _ := http.NewRequest(tt.method, e.srv.GatewayURL()+tt.path, reqBody)
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.HasPrefix(string(body), tt.respBody) || !strings.HasPrefix(resp.Header.Get("X-Error"), tt.xError) || (tt.xError == "") != (resp.Header.Get("X-Error") == "") {
				t.Errorf("%s %s: %d %q (X-Error %q)\nwant %d %q (X-Error %q...)", tt.method, tt.path, resp.StatusCode, body, resp.Header.Get("X-Error"), tt.status, tt.respBody, tt.xError)
			}
		})
	}
}

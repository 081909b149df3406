package server_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/certfile"
	"github.com/lastmile-gw/lastmile/internal/certfile/certtest"
)

// whoBackend is an HTTPS backend with a certificate from ca that answers with
// the common name of the client certificate the connection presented, or
// "none", and the Authorization header it got. With require, a handshake
// without a certificate from ca fails.
func whoBackend(t *testing.T, ca *certtest.CA, require bool) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		cn := "none"
		if len(r.TLS.PeerCertificates) > 0 {
			cn = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		fmt.Fprintf(w, "%s %s", cn, r.Header.Get("Authorization"))
	}))
	auth := tls.VerifyClientCertIfGiven
	if require {
		auth = tls.RequireAndVerifyClientCert
	}
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{*ca.Server()}, ClientAuth: auth, ClientCAs: ca.Pool()}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

// TestBackendAuthentication runs authentication-certificate and
// authentication-basic through the real server: the client certificates come
// from lastmile.yaml's certificates (a PFX whose password is in the
// environment, and a PEM), by certificate-id and by thumbprint, and reach a
// TLS backend that requires and checks them; an API without the policy
// presents none, on the same backend.
func TestBackendAuthentication(t *testing.T) {
	ca := certtest.NewCA(t, "backend CA")
	orders, billing := ca.Client("orders-client"), ca.Client("billing-client")
	optional, required := whoBackend(t, ca, false), whoBackend(t, ca, true)
	const pfxPassword = "pfx-s3cret"
	t.Setenv("LASTMILE_TEST_ORDERS_PFX_PASSWORD", pfxPassword)

	cfgDir := t.TempDir()
	certtest.WriteFile(t, cfgDir, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
	certtest.WriteFile(t, cfgDir, "orders.pfx", certtest.PFX(t, orders, pfxPassword))
	certtest.WriteFile(t, cfgDir, "billing.pem", certtest.PEM(t, billing, false))
	api := func(path, backend string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":false}}`, path, backend)
	}
	doc := func(inbound string) string {
		return `<policies><inbound><base />` + inbound + `</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`
	}
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml": `backend:
  caFile: ca.pem
certificates:
  - id: orders-client
    file: orders.pfx
    passwordEnv: LASTMILE_TEST_ORDERS_PFX_PASSWORD
  - id: billing-client
    file: billing.pem
`,
		"apis/by-id/apiInformation.json":         api("by-id", required.URL),
		"apis/by-id/policy.xml":                  doc(`<authentication-certificate certificate-id="orders-client" />`),
		"apis/by-thumbprint/apiInformation.json": api("by-thumbprint", required.URL),
		"apis/by-thumbprint/policy.xml":          doc(`<authentication-certificate thumbprint="` + certfile.Thumbprint(billing.Leaf) + `" />`),
		"apis/by-expression/apiInformation.json": api("by-expression", optional.URL),
		"apis/by-expression/policy.xml":          doc(`<authentication-certificate certificate-id="@(context.Request.Headers.GetValueOrDefault(&quot;X-Cert&quot;, &quot;orders-client&quot;))" />`),
		"apis/none/apiInformation.json":          api("none", optional.URL),
		"apis/none-required/apiInformation.json": api("none-required", required.URL),
		"apis/side/apiInformation.json":          api("side", optional.URL),
		"apis/side/policy.xml": doc(`<send-request response-variable-name="r" ignore-error="true"><set-url>@(context.Request.Headers.GetValueOrDefault("X-Url", ""))</set-url><authentication-certificate certificate-id="@(context.Request.Headers.GetValueOrDefault(&quot;X-Cert&quot;, &quot;orders-client&quot;))" /></send-request>` +
			`<return-response><set-body>@(context.Variables["r"] == null ? "no response" : ((IResponse)context.Variables["r"]).Body.As&lt;string&gt;())</set-body></return-response>`),
		"apis/side-none/apiInformation.json": api("side-none", optional.URL),
		"apis/side-none/policy.xml": doc(`<send-request response-variable-name="r" ignore-error="true"><set-url>` + required.URL + `/x</set-url></send-request>` +
			`<return-response><set-body>@(context.Variables["r"] == null ? "no response" : ((IResponse)context.Variables["r"]).Body.As&lt;string&gt;())</set-body></return-response>`),
		"apis/basic/apiInformation.json":                         api("basic", optional.URL),
		"apis/basic/policy.xml":                                  doc(`<authentication-basic username="svc" password="{{basic-password}}" />`),
		"named values/basic-password/namedValueInformation.json": `{"properties":{"displayName":"basic-password","value":"b4sic-s3cret","secret":true}}`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte("svc:b4sic-s3cret"))
	for _, tt := range []struct {
		path       string
		header     http.Header
		wantStatus int
		want       string
	}{
		{"/by-id/x", nil, 200, "orders-client "},
		{"/by-thumbprint/x", nil, 200, "billing-client "},
		{"/none/x", nil, 200, "none "},
		{"/by-expression/x", http.Header{"X-Cert": {"billing-client"}}, 200, "billing-client "},
		{"/none/x", nil, 200, "none "},
		{"/by-expression/x", nil, 200, "orders-client "},
		{"/none/x", nil, 200, "none "},
		{"/basic/x", nil, 200, "none " + basic},
		{"/none-required/x", nil, 500, `{"statusCode":500,"message":"Internal server error","activityId":"`},
		// send-request's own <authentication-certificate>, to a backend that requires one.
		{"/side/x", http.Header{"X-Url": {required.URL + "/x"}}, 200, "orders-client "},
		{"/side/x", http.Header{"X-Url": {required.URL + "/x"}, "X-Cert": {"billing-client"}}, 200, "billing-client "},
		{"/side-none/x", nil, 200, "no response"},
		{"/by-expression/x", http.Header{"X-Cert": {"unknown"}}, 500, `{"statusCode":500,"message":"Internal server error","activityId":"`},
	} {
		status, _, body := e.get(t, tt.path, tt.header)
		if status != tt.wantStatus || len(body) < len(tt.want) || body[:len(tt.want)] != tt.want {
			t.Errorf("GET %s %v: %d %q, want %d %q", tt.path, tt.header, status, body, tt.wantStatus, tt.want)
		}
	}

	// A renewed certificate in the same file is presented after a reload.
	certtest.WriteFile(t, cfgDir, "orders.pfx", certtest.PFX(t, ca.Client("orders-client-renewed"), pfxPassword))
	if _, err := e.srv.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if status, _, body := e.get(t, "/by-id/x", nil); status != 200 || body != "orders-client-renewed " {
		t.Errorf("after the reload: %d %q, want the renewed certificate", status, body)
	}
}

package server_test

import (
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/certfile/certtest"
)

// TestSendServiceBusMessage sends Microsoft's documented example through the
// real server to a Service Bus stand-in that speaks its REST API over TLS: a
// POST to /{queue}/messages with the gateway's managed identity token for
// https://servicebus.azure.net (verified with the issuer's keys), the
// payload, and each message property as a header holding a JSON string. The
// request that sends it does not wait for it.
func TestSendServiceBusMessage(t *testing.T) {
	type message struct {
		path, auth, contentType, customer, body string
	}
	got := make(chan message, 4)
	ca := certtest.NewCA(t, "service bus CA")
	bus := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- message{r.Method + " " + r.URL.EscapedPath(), r.Header.Get("Authorization"), r.Header.Get("Content-Type"), r.Header.Get("Customer"), string(body)}
		w.WriteHeader(http.StatusCreated)
	}))
	bus.TLS = &tls.Config{Certificates: []tls.Certificate{*ca.Server()}}
	bus.StartTLS()
	t.Cleanup(bus.Close)
	namespace := strings.TrimPrefix(bus.URL, "https://")

	verifier := newVerifyingBackend(t, "https://servicebus.azure.net")
	cfgDir := t.TempDir()
	certtest.WriteFile(t, cfgDir, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml":                   "backend:\n  caFile: ca.pem\nidentity:\n  resources:\n    - id: https://servicebus.azure.net\n",
		"apis/orders/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"orders","serviceUrl":%q,"subscriptionRequired":false}}`, verifier.srv.URL),
		"apis/orders/policy.xml": `<policies><inbound><base />
			<send-service-bus-message queue-name="new orders" namespace="` + namespace + `">
				<message-properties><message-property name="Customer">Contoso "East"</message-property></message-properties>
				<payload>@(context.Request.Body.As&lt;string&gt;(preserveContent: true))</payload>
			</send-service-bus-message>
			</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), verifier)

	resp, err := http.Post(e.srv.GatewayURL()+"/orders/submit", "application/json", strings.NewReader(`{"order":42}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if b := verifier.last(t); b.Path != "/submit" {
		t.Errorf("the backend got %s: the request must go on (preserveContent)", b.Path)
	}
	var m message
	select {
	case m = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("Service Bus got no message")
	}
	if m.path != "POST /new%20orders/messages" || m.body != `{"order":42}` || m.customer != `"Contoso \"East\""` ||
		m.contentType != "application/atom+xml;type=entry;charset=utf-8" {
		t.Errorf("Service Bus got %+v", m)
	}
	claims, _, err := verifier.verify(strings.TrimPrefix(m.auth, "Bearer "))
	if err != nil {
		t.Fatalf("the token does not verify: %v", err)
	}
	if claims["aud"] != "https://servicebus.azure.net" || claims["oid"] != e.srv.Provider().SystemIdentity().ObjectID {
		t.Errorf("claims %v", claims)
	}
}

package server_test

import (
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/certfile/certtest"
)

// testProxy is an HTTP proxy that wants Basic credentials: CONNECT tunnels,
// and absolute-form requests it forwards itself. It records what it saw.
type testProxy struct {
	ln   net.Listener
	auth string // the Proxy-Authorization it accepts

	mu   sync.Mutex
	seen []string // "CONNECT host:port <auth>" or "GET http://... <auth>"
}

func newTestProxy(t *testing.T, user, pass string) *testProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &testProxy{ln: ln, auth: "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))}
	direct := &http.Transport{Proxy: nil}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := r.Header.Get("Proxy-Authorization")
		target := r.Host
		if r.Method != http.MethodConnect {
			target = r.URL.String()
		}
		p.mu.Lock()
		p.seen = append(p.seen, r.Method+" "+target+" "+got)
		p.mu.Unlock()
		if got != p.auth {
			w.Header().Set("Proxy-Authenticate", `Basic realm="proxy"`)
			w.WriteHeader(http.StatusProxyAuthRequired)
			return
		}
		if r.Method == http.MethodConnect {
			up, err := net.Dial("tcp", r.Host)
			if err != nil {
				w.WriteHeader(http.StatusBadGateway)
				return
			}
			conn, rw, _ := w.(http.Hijacker).Hijack()
			rw.WriteString("HTTP/1.1 200 Connection established\r\n\r\n")
			rw.Flush()
			go func() { io.Copy(up, rw); up.Close() }()
			io.Copy(conn, up)
			conn.Close()
			return
		}
		if !r.URL.IsAbs() {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		out, _ := http.NewRequest(r.Method, r.URL.String(), r.Body)
		for k, v := range r.Header {
			if k != "Proxy-Authorization" && k != "Proxy-Connection" {
				out.Header[k] = v
			}
		}
		resp, err := direct.RoundTrip(out)
		if err != nil {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		for k, v := range resp.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(resp.StatusCode)
		io.Copy(w, resp.Body)
	})}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close(); direct.CloseIdleConnections() })
	return p
}

func (p *testProxy) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.seen
	p.seen = nil
	return s
}

// TestProxyPolicy sends forward-request through an HTTP proxy, as the proxy
// policy asks (and send-request, as its <proxy> child asks): absolute-form requests to an http backend, a CONNECT tunnel to
// an https one. The proxy's credentials go to the proxy only, never to a
// backend, an error or the client; the client's own Proxy-Authorization goes
// nowhere.
func TestProxyPolicy(t *testing.T) {
	const user, secret = "gateway", "pr0xy-s3cret"
	px := newTestProxy(t, user, secret)
	proxyURL := "http://" + px.ln.Addr().String()

	var mu sync.Mutex
	var backendSaw []string
	record := func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		backendSaw = append(backendSaw, fmt.Sprintf("%s %s host=%s proxy-auth=%q", r.Method, r.URL.Path, r.Host, r.Header.Get("Proxy-Authorization")))
		mu.Unlock()
		io.WriteString(w, "from "+r.URL.Path)
	}
	plain := httptest.NewServer(http.HandlerFunc(record))
	t.Cleanup(plain.Close)
	ca := certtest.NewCA(t, "backend CA")
	tlsBackend := httptest.NewUnstartedServer(http.HandlerFunc(record))
	tlsBackend.TLS = &tls.Config{Certificates: []tls.Certificate{*ca.Server()}}
	tlsBackend.StartTLS()
	t.Cleanup(tlsBackend.Close)
	takeBackend := func() []string {
		mu.Lock()
		defer mu.Unlock()
		s := backendSaw
		backendSaw = nil
		return s
	}

	// A backend that sends every request on to the plain one, another origin.
	redirector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, plain.URL+"/redirected"+r.URL.Path, http.StatusFound)
	}))
	t.Cleanup(redirector.Close)

	cfgDir := t.TempDir()
	certtest.WriteFile(t, cfgDir, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
	api := func(path, backend string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":false}}`, path, backend+"/"+path)
	}
	doc := func(inbound string) string {
		return `<policies><inbound><base />` + inbound + `</inbound><backend><base /></backend><outbound><base /></outbound>` +
			`<on-error><base /><set-header name="X-Error" exists-action="override"><value>@(context.LastError.Reason + ": " + context.LastError.Message)</value></set-header></on-error></policies>`
	}
	via := `<proxy url="` + proxyURL + `" username="` + user + `" password="{{proxy-password}}" />`
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml": "backend:\n  caFile: ca.pem\n",
		"named values/proxy-password/namedValueInformation.json": `{"properties":{"displayName":"proxy-password","value":"` + secret + `","secret":true}}`,
		"named values/wrong-password/namedValueInformation.json": `{"properties":{"displayName":"wrong-password","value":"not-it","secret":true}}`,
		"apis/plain/apiInformation.json":                         api("plain", plain.URL),
		"apis/plain/policy.xml":                                  doc(via),
		"apis/tls/apiInformation.json":                           api("tls", tlsBackend.URL),
		"apis/tls/policy.xml":                                    doc(via),
		"apis/computed/apiInformation.json":                      api("computed", plain.URL),
		"apis/computed/policy.xml":                               doc(`<proxy url="@(&quot;` + proxyURL + `&quot;)" username="@(&quot;` + user + `&quot;)" password="{{proxy-password}}" />`),
		"apis/wrong/apiInformation.json":                         api("wrong", tlsBackend.URL),
		"apis/wrong/policy.xml":                                  doc(`<proxy url="` + proxyURL + `" username="` + user + `" password="{{wrong-password}}" />`),
		"apis/anonymous/apiInformation.json":                     api("anonymous", plain.URL),
		"apis/anonymous/policy.xml":                              doc(`<proxy url="` + proxyURL + `" />`),
		"apis/direct/apiInformation.json":                        api("direct", plain.URL),
		"apis/redirect/apiInformation.json":                      api("redirect", redirector.URL),
		"apis/redirect/policy.xml": `<policies><inbound><base />` + via + `</inbound>` +
			`<backend><forward-request follow-redirects="true" /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
		"apis/oneway/apiInformation.json": api("oneway", plain.URL),
		"apis/oneway/policy.xml": doc(`<send-one-way-request mode="new" timeout="10"><set-url>` + plain.URL + `/oneway/x</set-url>` +
			`<proxy url="@(context.Request.Headers.GetValueOrDefault(&quot;X-Proxy&quot;, &quot;&quot;))" username="` + user + `" password="{{proxy-password}}" /></send-one-way-request>` +
			`<return-response><set-status code="202" reason="Accepted" /></return-response>`),
		"apis/side/apiInformation.json": api("side", plain.URL),
		"apis/side/policy.xml": doc(`<send-request mode="new" response-variable-name="r" timeout="10"><set-url>` + plain.URL + `/side/x</set-url>` + via + `</send-request>` +
			`<return-response><set-body>@(((IResponse)context.Variables["r"]).Body.As&lt;string&gt;())</set-body></return-response>`),
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	plainHost := strings.TrimPrefix(plain.URL, "http://")
	tlsHost := strings.TrimPrefix(tlsBackend.URL, "https://")
	gatewayAuth := "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+secret))

	tests := []struct {
		name, path string
		status     int
		body       string
		proxySaw   []string
		backendSaw []string
	}{
		{"an http backend: absolute form", "/plain/x", 200, "from /plain/x",
			[]string{"GET http://" + plainHost + "/plain/x " + gatewayAuth}, []string{`GET /plain/x host=` + plainHost + ` proxy-auth=""`}},
		{"an https backend: a tunnel", "/tls/x", 200, "from /tls/x",
			[]string{"CONNECT " + tlsHost + " " + gatewayAuth}, []string{`GET /tls/x host=` + tlsHost + ` proxy-auth=""`}},
		{"the tunnel is kept for the next request", "/tls/y", 200, "from /tls/y",
			nil, []string{`GET /tls/y host=` + tlsHost + ` proxy-auth=""`}},
		{"computed by expressions", "/computed/x", 200, "from /computed/x",
			[]string{"GET http://" + plainHost + "/computed/x " + gatewayAuth}, []string{`GET /computed/x host=` + plainHost + ` proxy-auth=""`}},
		{"refused credentials", "/wrong/x", 500, `{"statusCode":500,"message":"Internal server error"`,
			[]string{"CONNECT " + tlsHost + " Basic " + base64.StdEncoding.EncodeToString([]byte(user+":not-it"))}, nil},
		{"no credentials for a proxy that wants some: its 407 is not the client's", "/anonymous/x", 500, `{"statusCode":500,"message":"Internal server error"`,
			[]string{"GET http://" + plainHost + "/anonymous/x "}, nil},
		{"send-request's own <proxy>", "/side/x", 200, "from /side/x",
			[]string{"GET http://" + plainHost + "/side/x " + gatewayAuth}, []string{`GET /side/x host=` + plainHost + ` proxy-auth=""`}},
		{"a redirect to another origin goes through the proxy too", "/redirect/x", 200, "from /redirected/redirect/x",
			[]string{"GET http://" + strings.TrimPrefix(redirector.URL, "http://") + "/redirect/x " + gatewayAuth, "GET http://" + plainHost + "/redirected/redirect/x " + gatewayAuth},
			[]string{`GET /redirected/redirect/x host=` + plainHost + ` proxy-auth=""`}},
		{"no proxy", "/direct/x", 200, "from /direct/x", nil, []string{`GET /direct/x host=` + plainHost + ` proxy-auth=""`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", e.srv.GatewayURL()+tt.path, nil)
			req.Header.Set("Proxy-Authorization", "Basic Y2xpZW50OmV2aWw=") // the client's: hop-by-hop, dropped
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status || !strings.HasPrefix(string(body), tt.body) {
				t.Errorf("GET %s: %d %q, want %d %q", tt.path, resp.StatusCode, body, tt.status, tt.body)
			}
			if got := px.take(); strings.Join(got, "\n") != strings.Join(tt.proxySaw, "\n") {
				t.Errorf("the proxy saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.proxySaw, "\n"))
			}
			if got := takeBackend(); strings.Join(got, "\n") != strings.Join(tt.backendSaw, "\n") {
				t.Errorf("the backend saw\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tt.backendSaw, "\n"))
			}
			all := string(body) + fmt.Sprint(resp.Header)
			if strings.Contains(all, secret) || strings.Contains(all, base64.StdEncoding.EncodeToString([]byte(user+":"+secret))) {
				t.Errorf("the proxy's credentials reached the client: %s", all)
			}
			if strings.Contains(resp.Header.Get("X-Error"), secret) {
				t.Errorf("the password is in LastError: %q", resp.Header.Get("X-Error"))
			}
		})
	}
	// A one-way request is sent after its exchange: its proxy is chosen from
	// the exchange when the policy runs.
	t.Run("send-one-way-request's <proxy>, from an expression", func(t *testing.T) {
		req, _ := http.NewRequest("GET", e.srv.GatewayURL()+"/oneway/x", nil)
		req.Header.Set("X-Proxy", proxyURL)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 202 {
			t.Fatalf("status %d", resp.StatusCode)
		}
		want := "GET http://" + plainHost + "/oneway/x " + gatewayAuth
		var seen []string
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if seen = append(seen, px.take()...); len(seen) > 0 {
				break
			}
		}
		if strings.Join(seen, "\n") != want {
			t.Errorf("the proxy saw %q, want %q", seen, want)
		}
		takeBackend()
	})
	if got := lastError(t, e.srv.GatewayURL()+"/wrong/x"); !strings.Contains(got, "BackendConnectionFailure") || !strings.Contains(got, "407") {
		t.Errorf("LastError for refused credentials: %q, want BackendConnectionFailure naming the 407", got)
	}
}

// lastError returns the X-Error on-error set for a request to url.
func lastError(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.Header.Get("X-Error")
}

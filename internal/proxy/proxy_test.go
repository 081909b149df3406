package proxy

import (
	"bufio"
	"context"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"go.opentelemetry.io/otel/trace"
)

func newX(t *testing.T, method, target string, body io.Reader, size int64) *exchange.Exchange {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	orig, _ := url.Parse("https://gateway.example/api/x")
	var b io.ReadCloser
	if body != nil {
		b = io.NopCloser(body)
	}
	return &exchange.Exchange{Request: exchange.Request{
		Method: method, URL: u, OriginalURL: orig, IPAddress: "203.0.113.9",
		Headers: http.Header{"Host": {"gateway.example"}}, Body: exchange.NewRequestBody(b, size, nil),
	}}
}

func opts() Options { return Options{Timeout: 10 * time.Second} }

func forwarder(t *testing.T) *Forwarder {
	tr, err := NewTransport("")
	if err != nil {
		t.Fatal(err)
	}
	return &Forwarder{Transport: tr}
}

func readBody(t *testing.T, x *exchange.Exchange) string {
	t.Helper()
	b, err := x.Response.Body.Bytes(false)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestHeaders checks the header the backend gets, through the Client (which
// writes the exchange's header with forwarding's changes) and through
// another transport (which gets a changed copy), with and without a span to
// propagate; and that forwarding leaves the exchange's header as it was,
// since outbound policies read it and a retry forwards it again.
func TestHeaders(t *testing.T) {
	var got http.Header
	var gotHost string
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got, gotHost = r.Header.Clone(), r.Host
		w.Header().Set("Connection", "X-Drop-Me")
		w.Header().Set("X-Drop-Me", "1")
		w.Header().Set("Keep-Alive", "timeout=5")
		w.Header().Set("X-Keep", "1")
		fmt.Fprint(w, "ok")
	}))
	defer be.Close()
	span := trace.NewSpanContext(trace.SpanContextConfig{
		TraceID: trace.TraceID{1, 2, 3}, SpanID: trace.SpanID{4, 5, 6}, TraceFlags: trace.FlagsSampled,
	})
	for _, tc := range []struct {
		name      string
		transport http.RoundTripper
		traced    bool
	}{
		{"Client", nil, false},
		{"Client/traced", nil, true},
		{"http.Transport", &http.Transport{}, false},
		{"http.Transport/traced", &http.Transport{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := forwarder(t)
			if tc.transport != nil {
				f.Transport = tc.transport
			}
			ctx := context.Background()
			if tc.traced {
				ctx = trace.ContextWithSpanContext(ctx, span)
			}
			x := newX(t, "GET", be.URL+"/p", nil, 0)
			x.Request.Headers.Set("Connection", "X-Hop")
			x.Request.Headers.Set("X-Hop", "1")
			x.Request.Headers.Set("Proxy-Authorization", "Basic c2VjcmV0")
			x.Request.Headers.Set("X-Forwarded-For", "198.51.100.1")
			x.Request.Headers.Set("X-Forwarded-Proto", "ftp")
			x.Request.Headers.Set("X-Custom", "kept")
			x.Request.Headers.Set("Traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")
			x.Request.Headers.Set("Tracestate", "client=1")
			before := x.Request.Headers.Clone()
			for try := range 2 { // a retry forwards the same exchange again
				if err := f.Forward(ctx, x, opts()); err != nil {
					t.Fatal(err)
				}
				if diff := cmp.Diff(before, x.Request.Headers); diff != "" {
					t.Errorf("try %d: forwarding changed the exchange's header (-before +after):\n%s", try, diff)
				}
				if readBody(t, x) != "ok" {
					t.Error("body")
				}
			}
			for _, h := range []string{"Proxy-Authorization", "Connection"} {
				if v := got.Get(h); v != "" {
					t.Errorf("backend got hop-by-hop %s: %q", h, v)
				}
			}
			// The client's Connection header was handled when the request arrived; a
			// header in the exchange is the policies' and is sent whatever Connection
			// names (the backend's own Connection header still applies to its reply).
			want := map[string][]string{
				"X-Hop": {"1"}, "X-Custom": {"kept"}, "X-Forwarded-For": {"198.51.100.1, 203.0.113.9"},
				"X-Forwarded-Host": {"gateway.example"}, "X-Forwarded-Proto": {"https"},
				"Traceparent": {"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}, "Tracestate": {"client=1"},
			}
			if tc.traced {
				// The gateway's span replaces the client's trace context.
				want["Traceparent"] = []string{"00-" + span.TraceID().String() + "-" + span.SpanID().String() + "-01"}
				delete(want, "Tracestate")
			}
			for h, v := range want {
				if diff := cmp.Diff(v, got[h]); diff != "" {
					t.Errorf("backend %s (-want +got):\n%s", h, diff)
				}
			}
			if v, ok := got["Tracestate"]; tc.traced && ok {
				t.Errorf("backend got the client's Tracestate %q with the gateway's Traceparent", v)
			}
			if !strings.HasPrefix(gotHost, "127.0.0.1:") {
				t.Errorf("backend Host = %q, want the backend's own host", gotHost)
			}
			if _, ok := got["User-Agent"]; ok {
				t.Errorf("backend got a User-Agent the client did not send: %q", got.Get("User-Agent"))
			}
			h := x.Response.Headers
			if h.Get("X-Drop-Me") != "" || h.Get("Keep-Alive") != "" || h.Get("X-Keep") != "1" {
				t.Errorf("response headers = %v", h)
			}
		})
	}
}

// TestForwardAllocations bounds what forwarding a request to a keep-alive
// backend allocates: the response head and its parsed header (a map, its
// group, the values), and the response with its body. The outgoing request
// stays on Forward's stack (nothing the Client returns or starts keeps it).
// It was 18 before: a copy of the exchange's header, the pool key, the
// cancellation closures, the request URI with its query, the status code's
// text, the outgoing request, and the response and its body apart.
func TestForwardAllocations(t *testing.T) {
	addr := rawBackend(t, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 16\r\n\r\n0123456789abcdef")
	f := forwarder(t)
	x := newX(t, "GET", "http://"+addr+"/orders/17?x=1", nil, 0)
	x.Request.Headers.Set("Authorization", "Bearer eyJ.test.token")
	x.Request.Headers.Set("X-A", "a")
	x.Request.Headers.Set("User-Agent", "test")
	ctx := context.Background()
	var buf [64]byte
	forward := func() {
		if err := f.Forward(ctx, x, opts()); err != nil {
			t.Fatal(err)
		}
		r := x.Response.Body.Reader()
		if n, err := io.ReadFull(r, buf[:16]); err != nil || string(buf[:n]) != "0123456789abcdef" {
			t.Fatalf("body %q, %v", buf[:n], err)
		}
		r.Close()
	}
	forward() // dials
	const want = 6
	if n := testing.AllocsPerRun(200, forward); n > want {
		t.Errorf("Forward made %v allocations, want at most %d", n, want)
	}
}

// rawBackend serves answer to every request on a keep-alive connection,
// allocating nothing per request (its allocations would count as the
// client's in testing.AllocsPerRun).
func rawBackend(t testing.TB, answer string) string {
	t.Helper()
	resp := []byte(answer)
	addr, _ := rawServer(t, func(c net.Conn, br *bufio.Reader) {
		for {
			for { // the request head, up to its empty line
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(line) <= 2 {
					break
				}
			}
			if _, err := c.Write(resp); err != nil {
				return
			}
		}
	})
	return addr
}

func TestStreamsBodies(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Request-Length", fmt.Sprint(r.ContentLength))
		w.WriteHeader(201)
		fl := w.(http.Flusher)
		for i := 0; i < 3; i++ {
			fmt.Fprintf(w, "chunk%d:%s;", i, b)
			fl.Flush()
		}
	}))
	defer be.Close()
	payload := strings.Repeat("z", 100_000)
	x := newX(t, "POST", be.URL, strings.NewReader(payload), int64(len(payload)))
	if err := forwarder(t).Forward(context.Background(), x, opts()); err != nil {
		t.Fatal(err)
	}
	if x.Response.StatusCode != 201 || x.Response.Headers.Get("X-Request-Length") != "100000" {
		t.Errorf("status %d, backend saw length %s", x.Response.StatusCode, x.Response.Headers.Get("X-Request-Length"))
	}
	if x.Response.Body.Buffered() || x.Response.Body.Len() != -1 {
		t.Errorf("a chunked response should stream: buffered %v, len %d", x.Response.Body.Buffered(), x.Response.Body.Len())
	}
	want := "chunk0:" + payload + ";chunk1:" + payload + ";chunk2:" + payload + ";"
	if got := readBody(t, x); got != want {
		t.Errorf("body has %d bytes, want %d", len(got), len(want))
	}
}

func TestRedirects(t *testing.T) {
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "other auth=%q", r.Header.Get("Authorization"))
	}))
	defer other.Close()
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/final", http.StatusFound)
		case "/cross":
			http.Redirect(w, r, other.URL+"/x", http.StatusTemporaryRedirect)
		case "/final":
			fmt.Fprintf(w, "final auth=%q", r.Header.Get("Authorization"))
		}
	}))
	defer be.Close()
	tests := []struct {
		path       string
		follow     bool
		wantStatus int
		wantBody   string
	}{
		{"/same", false, 302, ""},
		{"/same", true, 200, `final auth="Bearer secret"`},
		{"/cross", true, 200, `other auth=""`},
	}
	for _, tt := range tests {
		x := newX(t, "GET", be.URL+tt.path, nil, 0)
		x.Request.Headers.Set("Authorization", "Bearer secret")
		o := opts()
		o.FollowRedirects = tt.follow
		if err := forwarder(t).Forward(context.Background(), x, o); err != nil {
			t.Fatal(err)
		}
		if x.Response.StatusCode != tt.wantStatus {
			t.Errorf("%s follow=%v: status %d, want %d", tt.path, tt.follow, x.Response.StatusCode, tt.wantStatus)
		}
		if body := readBody(t, x); tt.wantBody != "" && body != tt.wantBody {
			t.Errorf("%s follow=%v: body %q, want %q", tt.path, tt.follow, body, tt.wantBody)
		}
	}
}

// TestRedirectCredentials: the header fields and query parameters that
// Options.Credentials names go to the backend's origin only, like
// Authorization: a redirect to another origin drops them (the query
// parameter also when the backend copied it into the Location), and one within
// the origin keeps them. A later redirect back to the backend's origin does
// not bring them back.
func TestRedirectCredentials(t *testing.T) {
	var back string
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/back" {
			http.Redirect(w, r, back+"/final?"+r.URL.RawQuery, http.StatusFound)
			return
		}
		fmt.Fprintf(w, "other key=%q auth=%q query=%q", r.Header.Get("X-Functions-Key"), r.Header.Get("Authorization"), r.URL.RawQuery)
	}))
	defer other.Close()
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/same":
			http.Redirect(w, r, "/final?"+r.URL.RawQuery, http.StatusFound)
		case "/cross":
			http.Redirect(w, r, other.URL+"/x?"+r.URL.RawQuery, http.StatusTemporaryRedirect)
		case "/round":
			http.Redirect(w, r, other.URL+"/back?"+r.URL.RawQuery, http.StatusFound)
		case "/final":
			fmt.Fprintf(w, "final key=%q auth=%q query=%q", r.Header.Get("X-Functions-Key"), r.Header.Get("Authorization"), r.URL.RawQuery)
		}
	}))
	defer be.Close()
	back = be.URL
	tests := []struct{ path, want string }{
		{"/same", `final key="s3cret" auth="Bearer t" query="a=1&code=c0de&b=2"`},
		{"/cross", `other key="" auth="" query="a=1&b=2"`},
		{"/round", `final key="" auth="" query="a=1&b=2"`},
	}
	for _, tt := range tests {
		x := newX(t, "GET", be.URL+tt.path+"?a=1&code=c0de&b=2", nil, 0)
		x.Request.Headers.Set("X-Functions-Key", "s3cret")
		x.Request.Headers.Set("Authorization", "Bearer t")
		o := opts()
		o.FollowRedirects = true
		o.Credentials = Credentials{Headers: []string{"x-functions-key"}, Query: []string{"code"}}
		if err := forwarder(t).Forward(context.Background(), x, o); err != nil {
			t.Fatal(err)
		}
		if body := readBody(t, x); x.Response.StatusCode != 200 || body != tt.want {
			t.Errorf("%s: %d %q, want 200 %q", tt.path, x.Response.StatusCode, body, tt.want)
		}
		if x.Request.Headers.Get("X-Functions-Key") != "s3cret" || x.Request.URL.RawQuery != "a=1&code=c0de&b=2" {
			t.Errorf("%s: the exchange's request was changed: %v %s", tt.path, x.Request.Headers, x.Request.URL)
		}
	}
}

func TestFailures(t *testing.T) {
	stuck := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer stuck.Close()
	closed := httptest.NewServer(http.NotFoundHandler())
	closedURL := closed.URL
	closed.Close()
	tests := []struct {
		name, target string
		timeout      time.Duration
		wantReason   string
	}{
		{"timeout", stuck.URL, 50 * time.Millisecond, "Timeout"},
		{"connection refused", closedURL, 10 * time.Second, "BackendConnectionFailure"},
		{"no backend URL", "/relative", 10 * time.Second, "BackendUrlNotSet"},
	}
	for _, tt := range tests {
		x := newX(t, "GET", tt.target+"?sig=secret-query", nil, 0)
		err := forwarder(t).Forward(context.Background(), x, Options{Timeout: tt.timeout})
		var pe *Error
		if !errors.As(err, &pe) || pe.Reason != tt.wantReason || pe.Status != 500 {
			t.Errorf("%s: err = %v, want reason %s", tt.name, err, tt.wantReason)
			continue
		}
		if strings.Contains(pe.Message, "secret-query") {
			t.Errorf("%s: the error message leaks the query string: %s", tt.name, pe.Message)
		}
	}
}

// trickle is a client's request body that keeps coming, fast enough, until
// it is closed; a read that Close interrupts fails as the gateway's HTTP
// server's does (a timeout on the connection, reported as a body sent too
// slowly).
type trickle struct {
	closed chan struct{}
	once   sync.Once
}

type slowBody struct{}

func (slowBody) Error() string   { return "request body: the body was sent too slowly" }
func (slowBody) HTTPStatus() int { return 408 }

func (b *trickle) Read(p []byte) (int, error) {
	select {
	case <-b.closed:
		return 0, slowBody{}
	case <-time.After(5 * time.Millisecond):
		n := min(len(p), 1024)
		copy(p, strings.Repeat("x", n))
		return n, nil
	}
}

func (b *trickle) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// TestTimeoutWhileBodyStreams: when the timeout expires while the client is
// still sending its body, the forward fails with Timeout, not with the
// failure of the body's read that stopping the upload caused; through the
// Client and through another transport, with a Content-Length and chunked.
func TestTimeoutWhileBodyStreams(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // answers only once it has the whole body
	}))
	defer be.Close()
	for _, tr := range []struct {
		name string
		f    *Forwarder
	}{
		{"Client", forwarder(t)},
		{"http.Transport", &Forwarder{Transport: &http.Transport{}}},
	} {
		for _, size := range []int64{10 << 20, -1} {
			x := newX(t, "POST", be.URL, nil, 0)
			x.Request.Body = exchange.NewRequestBody(&trickle{closed: make(chan struct{})}, size, nil)
			o := opts()
			o.Timeout = 200 * time.Millisecond
			err := tr.f.Forward(context.Background(), x, o)
			var pe *Error
			if !errors.As(err, &pe) || pe.Reason != "Timeout" || pe.Status != 500 {
				t.Errorf("%s, size %d: %v, want reason Timeout, 500", tr.name, size, err)
			}
		}
	}
}

func TestBackendCABundle(t *testing.T) {
	be := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "private") }))
	defer be.Close()
	x := newX(t, "GET", be.URL, nil, 0)
	if err := forwarder(t).Forward(context.Background(), x, opts()); err == nil {
		t.Fatal("a backend with an unknown CA was trusted")
	}
	ca := filepath.Join(t.TempDir(), "ca.pem")
	pemData := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: be.Certificate().Raw})
	if err := os.WriteFile(ca, pemData, 0o600); err != nil {
		t.Fatal(err)
	}
	tr, err := NewTransport(ca)
	if err != nil {
		t.Fatal(err)
	}
	x = newX(t, "GET", be.URL, nil, 0)
	if err := (&Forwarder{Transport: tr}).Forward(context.Background(), x, opts()); err != nil {
		t.Fatalf("with the CA bundle: %v", err)
	}
	if readBody(t, x) != "private" {
		t.Error("body")
	}
	if _, err := NewTransport(filepath.Join(t.TempDir(), "missing.pem")); err == nil {
		t.Error("a missing CA file was accepted")
	}
}

// readCount is a policy's wrapper around a request body: plain state, which
// the race detector watches.
type readCount struct {
	io.ReadCloser
	n int
}

func (r *readCount) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	r.n += n
	return n, err
}

// TestEarlyAnswerStopsTheBodysReader: when a backend answered before it read
// the request body, and the client stopped sending, the answer still ends, and
// once it has, nothing reads the body any more, whichever transport took it:
// the body's source is closed, which ends the read blocked in it.
func TestEarlyAnswerStopsTheBodysReader(t *testing.T) {
	addr := earlyBackend(t)
	for name, tr := range map[string]http.RoundTripper{"Client": &Client{}, "http.Transport": &http.Transport{}} {
		t.Run(name, func(t *testing.T) {
			src := newUpload(true)
			x := newX(t, "POST", "http://"+addr+"/", nil, 0)
			x.Request.Body = exchange.NewRequestBody(src, 1<<20, nil)
			var wrap *readCount
			x.Request.Body.WrapStream(func(rc io.ReadCloser) io.ReadCloser { wrap = &readCount{ReadCloser: rc}; return wrap })
			done := make(chan error, 1)
			go func() {
				err := (&Forwarder{Transport: tr}).Forward(context.Background(), x, opts())
				if err == nil {
					_, err = x.Response.Body.Bytes(false)
				}
				done <- err
			}()
			select {
			case err := <-done:
				if err != nil || x.Response.StatusCode != 413 {
					t.Fatalf("%v, want the backend's 413", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the answer did not end while the body's read was blocked")
			}
			select {
			case <-src.closed:
			default:
				t.Fatal("the body's source was not closed when the answer ended")
			}
			// Read after the answer ended: the race detector reports it if
			// the transport still reads the body.
			t.Logf("%d bytes of the body were read", wrap.n)
		})
	}
}

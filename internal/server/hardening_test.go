package server_test

import (
	"bufio"
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// recordingBackend records what reached it, including whether the body it
// received was complete.
type recordingBackend struct {
	srv *httptest.Server
	mu  sync.Mutex
	got []backendRequest
}

type backendRequest struct {
	Target  string
	Header  http.Header
	Body    string
	BodyErr error
}

func newRecordingBackend(t *testing.T) *recordingBackend {
	b := &recordingBackend{}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := io.ReadAll(r.Body)
		b.mu.Lock()
		b.got = append(b.got, backendRequest{Target: r.RequestURI, Header: r.Header.Clone(), Body: string(data), BodyErr: err})
		b.mu.Unlock()
		w.Header().Set("Content-Type", "text/plain")
		fmt.Fprintf(w, "backend read %d bytes", len(data))
	}))
	t.Cleanup(b.srv.Close)
	return b
}

func (b *recordingBackend) requests() []backendRequest {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]backendRequest(nil), b.got...)
}

// hardeningConfig: a global policy that sets a header, an API that adds the
// managed identity token, one whose policy buffers the body, and small limits
// so that tests reach them quickly.
func hardeningConfig(backendURL string) map[string]string {
	api := func(path string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"serviceUrl":%q,"subscriptionRequired":false}}`, path, backendURL+"/"+path)
	}
	policy := func(inbound string) string {
		return `<policies><inbound><base />` + inbound + `</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`
	}
	return map[string]string{
		"lastmile.yaml": `identity:
  resources:
    - id: api://orders
limits:
  minBodyRate: 2000
  bodyGracePeriod: 1s
  bufferedBody: 64KiB
  bufferedBodies: 256KiB
`,
		"policy.xml":                      `<policies><inbound><set-header name="X-Gateway" exists-action="override"><value>set-by-policy</value></set-header></inbound><backend><forward-request /></backend><outbound /><on-error /></policies>`,
		"apis/echo/apiInformation.json":   api("echo"),
		"apis/echo/policy.xml":            policy(`<authentication-managed-identity resource="api://orders" />`),
		"apis/buffer/apiInformation.json": api("buffer"),
		"apis/buffer/policy.xml":          policy(`<set-body>@(context.Request.Body.As<string>())</set-body>`),
		"apis/retry/apiInformation.json":  api("retry"),
		"apis/retry/policy.xml":           policy(`<set-header name="X-Retry" exists-action="override"><value>1</value></set-header>`),
	}
}

// rawExchange sends raw bytes to the gateway and reads one response, and
// whether the connection was then closed.
func rawExchange(t *testing.T, addr, raw string) (*http.Response, string, bool) {
	t.Helper()
	c := dialGateway(t, addr)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	data, _ := io.ReadAll(resp.Body)
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err = br.ReadByte()
	return resp, string(data), err == io.EOF
}

// dialGateway opens a connection to addr that closes with the test, with 10 s
// to do its work.
func dialGateway(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return c
}

func startHardening(t *testing.T) (*env, *recordingBackend, string) {
	t.Helper()
	rb := newRecordingBackend(t)
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, hardeningConfig(rb.srv.URL))
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://orders"))
	return e, rb, strings.TrimPrefix(e.srv.GatewayURL(), "http://")
}

func TestClientHopHeadersNeverRemovePolicyHeaders(t *testing.T) {
	e, rb, addr := startHardening(t)
	_ = e
	resp, body, _ := rawExchange(t, addr, "GET /echo/x HTTP/1.1\r\nHost: gw\r\n"+
		"Connection: keep-alive, Authorization, X-Gateway, X-Client-Hop\r\nX-Client-Hop: 1\r\nAuthorization: Bearer client-token\r\n\r\n")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, body)
	}
	got := rb.requests()[0].Header
	if a := got.Get("Authorization"); !strings.HasPrefix(a, "Bearer ey") {
		t.Errorf("the backend got Authorization %q, want the gateway's managed identity token", a)
	}
	if got.Get("X-Gateway") != "set-by-policy" {
		t.Errorf("the backend got X-Gateway %q, want the global policy's value", got.Get("X-Gateway"))
	}
	if got.Get("X-Client-Hop") != "" || got.Get("Connection") != "" {
		t.Errorf("the client's hop-by-hop headers reached the backend: %v", got)
	}
}

func TestRequestFraming(t *testing.T) {
	_, rb, addr := startHardening(t)
	tests := []struct {
		name        string
		raw         string
		wantStatus  int
		wantClosed  bool
		wantBackend int    // requests the backend got
		wantBody    string // what the backend read, when it got one
	}{
		{
			name:       "Content-Length and Transfer-Encoding together are refused, and what follows is not served",
			raw:        "POST /echo/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /echo/smuggled HTTP/1.1\r\nHost: gw\r\n\r\n",
			wantStatus: 400, wantClosed: true,
		},
		{
			name:       "a malformed chunk size is the client's 400 and the backend is not called",
			raw:        "POST /echo/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\nworld\r\n0\r\n\r\n",
			wantStatus: 400, wantClosed: true,
		},
		{
			name:       "a valid chunked body reaches the backend whole",
			raw:        "POST /echo/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n",
			wantStatus: 200, wantClosed: true, wantBackend: 1, wantBody: "hello world",
		},
		{
			name:       "a malformed chunk size in a policy-read body is a 400",
			raw:        "POST /buffer/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n",
			wantStatus: 400, wantClosed: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rb.requests())
			resp, body, closed := rawExchange(t, addr, tc.raw)
			if resp.StatusCode != tc.wantStatus || closed != tc.wantClosed {
				t.Fatalf("status %d closed %v (%s), want %d closed %v", resp.StatusCode, closed, body, tc.wantStatus, tc.wantClosed)
			}
			if tc.wantStatus >= 400 {
				var apim struct {
					StatusCode int    `json:"statusCode"`
					Message    string `json:"message"`
				}
				if err := json.Unmarshal([]byte(body), &apim); err != nil || apim.StatusCode != tc.wantStatus || apim.Message == "" {
					t.Errorf("body %q: want API Management's error shape", body)
				}
			}
			got := rb.requests()[before:]
			if len(got) != tc.wantBackend {
				t.Fatalf("the backend got %d requests, want %d: %+v", len(got), tc.wantBackend, got)
			}
			if tc.wantBackend > 0 && (got[0].Body != tc.wantBody || got[0].BodyErr != nil) {
				t.Errorf("the backend read %q (%v), want %q", got[0].Body, got[0].BodyErr, tc.wantBody)
			}
		})
	}

	// A client streaming an upload sends each chunk as it has it: the
	// gateway reads each before the next arrives, streamed or buffered.
	for _, api := range []string{"echo", "buffer"} {
		t.Run("a chunked body sent a chunk at a time reaches the backend whole: "+api, func(t *testing.T) {
			before := len(rb.requests())
			c := dialGateway(t, addr)
			fmt.Fprintf(c, "POST /%s/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", api)
			for _, piece := range []string{"5\r\nhello\r\n", "1\r\n,\r\n", "6\r\n world\r\n", "0\r\n\r\n"} {
				time.Sleep(50 * time.Millisecond)
				io.WriteString(c, piece)
			}
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("response %v, %v; want 200", resp, err)
			}
			got := rb.requests()[before:]
			if len(got) != 1 || got[0].Body != "hello, world" || got[0].BodyErr != nil {
				t.Errorf("the backend got %+v, want one request with the whole body", got)
			}
		})
	}

	t.Run("a long chunked body whose framing breaks late never reaches the backend complete", func(t *testing.T) {
		before := len(rb.requests())
		c := dialGateway(t, addr)
		chunk := strings.Repeat("a", 16<<10)
		fmt.Fprintf(c, "POST /echo/a HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n", len(chunk), chunk)
		time.Sleep(200 * time.Millisecond) // let the first part go on to the backend
		io.WriteString(c, "zz\r\n")
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 400 {
			t.Fatalf("response %v, %v; want 400", resp, err)
		}
		for _, r := range rb.requests()[before:] {
			if r.BodyErr == nil {
				t.Errorf("the backend read a complete body of %d bytes", len(r.Body))
			}
		}
	})
}

func TestBodyLimits(t *testing.T) {
	_, rb, addr := startHardening(t)

	t.Run("a body a policy reads, over the buffering limit, is 413", func(t *testing.T) {
		big := strings.Repeat("x", 65<<10)
		resp, body, _ := rawExchange(t, addr, fmt.Sprintf("POST /buffer/a HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n%s", len(big), big))
		if resp.StatusCode != 413 {
			t.Fatalf("status %d (%s), want 413", resp.StatusCode, body)
		}
	})
	t.Run("an announced length over the limit is refused before the body is read", func(t *testing.T) {
		resp, body, _ := rawExchange(t, addr, "POST /buffer/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 104857600\r\n\r\nonly this")
		if resp.StatusCode != 413 {
			t.Fatalf("status %d (%s), want 413", resp.StatusCode, body)
		}
		// The caller learns what was wrong with its body, not the exception,
		// nor the policy file and position the expression is at.
		if !strings.Contains(body, "request body: body exceeds the buffering limit") || strings.Contains(body, "policy.xml") || strings.Contains(body, "Exception") {
			t.Errorf("body %s", body)
		}
	})
	t.Run("a body no policy reads streams past the buffering limit", func(t *testing.T) {
		before := len(rb.requests())
		big := strings.Repeat("y", 200<<10)
		resp, body, _ := rawExchange(t, addr, fmt.Sprintf("POST /echo/a HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n%s", len(big), big))
		if resp.StatusCode != 200 || len(rb.requests()[before:]) != 1 || rb.requests()[before].Body != big {
			t.Fatalf("status %d (%s)", resp.StatusCode, body)
		}
	})
	t.Run("bodies that together exceed the budget get 503, never more memory", func(t *testing.T) {
		// Each body is within the 64 KiB limit; six at once hold 6*60 KiB,
		// over the 256 KiB budget. The clients send the header and most of
		// the body, then wait, so that every request holds its buffer at the
		// same time.
		const n = 6
		size := 60 << 10
		conns := make([]net.Conn, n)
		for i := range conns {
			c := dialGateway(t, addr)
			fmt.Fprintf(c, "POST /buffer/a HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n%s", size, strings.Repeat("z", size-1))
			conns[i] = c
		}
		time.Sleep(300 * time.Millisecond) // every request is buffering (or refused)
		statuses := map[int]int{}
		for _, c := range conns {
			c.Write([]byte("z"))
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			statuses[resp.StatusCode]++
			if resp.StatusCode == 503 && resp.Header.Get("Retry-After") == "" {
				t.Error("a 503 without Retry-After")
			}
		}
		if statuses[503] == 0 || statuses[200] == 0 || statuses[200]+statuses[503] != n {
			t.Errorf("statuses %v: want some 200 (within the budget) and the rest 503", statuses)
		}
		// Once they are done, the budget is whole again.
		resp, body, _ := rawExchange(t, addr, fmt.Sprintf("POST /buffer/a HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n%s", size, strings.Repeat("z", size)))
		if resp.StatusCode != 200 {
			t.Errorf("after the others: status %d (%s), want 200", resp.StatusCode, body)
		}
	})
	t.Run("a body sent a byte at a time is cut off with 408", func(t *testing.T) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(15 * time.Second))
		io.WriteString(c, "POST /echo/a HTTP/1.1\r\nHost: gw\r\nContent-Length: 100000\r\n\r\n")
		done := make(chan struct{})
		defer close(done)
		go func() {
			for {
				select {
				case <-done:
					return
				case <-time.After(100 * time.Millisecond):
					if _, err := c.Write([]byte("s")); err != nil {
						return
					}
				}
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil || resp.StatusCode != 408 {
			t.Fatalf("response %v, %v; want 408", resp, err)
		}
	})
}

// misframingBackend answers by the request's path: "/extra" with more bytes
// than the message it frames (a whole second response), "/brokenchunk" with a
// chunked body whose framing breaks after a first chunk, "/short" with a body
// shorter than its Content-Length (then it closes), "/early" with a 413 as
// soon as it has the head (then it neither reads nor closes), and anything
// else with "real".
func misframingBackend(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hold := make(chan struct{})
	t.Cleanup(func() { close(hold); ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					switch req.URL.Path {
					case "/extra":
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nLEAKED")
					case "/brokenchunk":
						io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\nzz\r\n")
						return
					case "/short":
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
						return
					case "/early":
						io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 8\r\n\r\ntoo big!")
						<-hold
						return
					default:
						io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nreal")
					}
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String()
}

// TestMisframedBackendAnswers: what a backend sends beyond its message never
// reaches another request, and a body that breaks after the status went out
// reaches the client cut short, never as a complete message.
func TestMisframedBackendAnswers(t *testing.T) {
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/m/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"m","serviceUrl":%q,"subscriptionRequired":false}}`, misframingBackend(t)),
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://none"))
	addr := strings.TrimPrefix(e.srv.GatewayURL(), "http://")

	t.Run("bytes beyond the message never answer another client", func(t *testing.T) {
		for i := range 5 {
			resp, body, _ := rawExchange(t, addr, "GET /m/extra HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("extra %d: %d %q", i, resp.StatusCode, body)
			}
			resp, body, _ = rawExchange(t, addr, "GET /m/plain HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
			if resp.StatusCode != 200 || body != "real" {
				t.Fatalf("the next client got %d %q, want its own answer", resp.StatusCode, body)
			}
		}
	})

	for _, path := range []string{"/m/brokenchunk", "/m/short"} {
		t.Run("a body that breaks is cut short: "+path, func(t *testing.T) {
			c := dialGateway(t, addr)
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: gw\r\n\r\n", path)
			br := bufio.NewReader(c)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			body, err := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || err != io.ErrUnexpectedEOF {
				t.Fatalf("%d, body %q, %v; want 200 and the body cut short", resp.StatusCode, body, err)
			}
			if _, err := br.ReadByte(); err != io.EOF {
				t.Errorf("the connection stayed open after a cut response: %v", err)
			}
		})
	}

	t.Run("an answer before the backend read the upload reaches the client at once", func(t *testing.T) {
		c := dialGateway(t, addr)
		fmt.Fprintf(c, "POST /m/early HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n", 1<<30)
		go func() { // the client keeps sending, as uploaders do
			chunk := make([]byte, 64<<10)
			for {
				if _, err := c.Write(chunk); err != nil {
					return
				}
			}
		}()
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer while the upload could not go on: %v", err)
		}
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 413 || string(body) != "too big!" {
			t.Fatalf("%d %q, want the backend's 413", resp.StatusCode, body)
		}
	})

	// A client that stopped sending (it waits for the answer) still gets it
	// at once: the body's writer, blocked reading the client, is stopped. The
	// body's deadline, 5 s plus what 10 KiB earn at 240 bytes/s, is far later.
	t.Run("an early answer reaches a client that stopped sending", func(t *testing.T) {
		c := dialGateway(t, addr)
		fmt.Fprintf(c, "POST /m/early HTTP/1.1\r\nHost: gw\r\nContent-Length: %d\r\n\r\n", 1<<20)
		c.Write(make([]byte, 10<<10))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("no answer: %v", err)
		}
		body, err := io.ReadAll(resp.Body)
		if resp.StatusCode != 413 || string(body) != "too big!" || err != nil {
			t.Fatalf("%d %q %v, want the backend's 413 whole", resp.StatusCode, body, err)
		}
	})
	t.Run("over HTTP/2 an early answer reaches a client that stopped sending", func(t *testing.T) {
		// Go's client stops its upload once the answer came; this one keeps
		// the stream open, as other clients may.
		status, body, err := h2Exchange(t, addr, [][2]string{{":method", "POST"}, {":scheme", "http"}, {":authority", "gw"}, {":path", "/m/early"}, {"content-length", fmt.Sprint(1 << 20)}}, make([]byte, 10<<10))
		if err != nil {
			t.Fatalf("no whole answer (status %q, body %q): %v", status, body, err)
		}
		if status != "413" || string(body) != "too big!" {
			t.Fatalf("%s %q, want the backend's 413 whole", status, body)
		}
	})

	t.Run("over HTTP/2 the stream is reset", func(t *testing.T) {
		var p http.Protocols
		p.SetUnencryptedHTTP2(true)
		client := &http.Client{Transport: &http.Transport{Protocols: &p}}
		defer client.CloseIdleConnections()
		resp, err := client.Get(e.srv.GatewayURL() + "/m/brokenchunk")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if resp.ProtoMajor != 2 || err == nil {
			t.Fatalf("%s: body %q, %v; want an HTTP/2 stream error", resp.Proto, body, err)
		}
	})
}

// h2Exchange sends one request over a new h2c connection from raw frames, as
// no Go client would send it: fields in the order given, and data without the
// stream's end (the client then waits). The preface, the head and the data go
// in one write, so the gateway has read them all before it answers. It
// returns the answer's status and body once the stream ends.
func h2Exchange(t *testing.T, addr string, fields [][2]string, data []byte) (status string, body []byte, err error) {
	t.Helper()
	var out, head bytes.Buffer
	out.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&out, nil)
	fr.WriteSettings()
	enc := hpack.NewEncoder(&head)
	for _, f := range fields {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: head.Bytes(), EndHeaders: true, EndStream: data == nil})
	if data != nil {
		fr.WriteData(1, false, data)
	}
	c := dialGateway(t, addr)
	c.Write(out.Bytes())
	fr = http2.NewFramer(c, c)
	dec := hpack.NewDecoder(4096, nil)
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return status, body, err
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
			}
		case *http2.HeadersFrame:
			fields, _ := dec.DecodeFull(f.HeaderBlockFragment())
			for _, hf := range fields {
				if hf.Name == ":status" {
					status = hf.Value
				}
			}
			if f.StreamEnded() {
				return status, body, nil
			}
		case *http2.DataFrame:
			body = append(body, f.Data()...)
			if f.StreamEnded() {
				return status, body, nil
			}
		case *http2.RSTStreamFrame:
			return status, body, fmt.Errorf("stream reset: %v", f.ErrCode)
		}
	}
}

// TestHTTP2Head: over HTTP/2 the :authority and :path are held to the rules
// of an HTTP/1.1 Host header and request target, as Go's and other clients
// cannot be relied on to: the authority reaches policies and the backend's
// X-Forwarded-Host, and the query goes to the backend as sent.
func TestHTTP2Head(t *testing.T) {
	_, rb, addr := startHardening(t)
	for _, tc := range []struct {
		name, method, authority, path string
		want                          string
	}{
		{"an authority", "", "gw", "/echo/x", "200"},
		{"an authority with a port", "", "gw:8080", "/echo/x", "200"},
		{"escapes", "", "gw", "/echo/a%20b?q=%20%C3%A9", "200"},
		{"a space in the authority", "", "a b", "/echo/x", "400"},
		{"braces in the authority", "", "a{b}", "/echo/x", "400"},
		{"a quote in the authority", "", `a"b`, "/echo/x", "400"},
		{"a slash in the authority", "", "a/b", "/echo/x", "400"},
		{"no authority and no Host", "", "", "/echo/x", "400"},
		{"a space in the path", "", "gw", "/echo/a b", "400"},
		{"a space in the query", "", "gw", "/echo/x?a=1 HTTP/1.1", "400"},
		{"non-ASCII in the path", "", "gw", "/echo/é", "400"},
		{"non-ASCII in the query", "", "gw", "/echo/x?q=é", "400"},
		{"a space in the method", "G ET", "gw", "/echo/x", "400"},
		{"a request line in the method", "GET /admin?", "gw", "/echo/x", "400"},
		{"CONNECT", "CONNECT", "gw", "", "405"},
		{"an asterisk without OPTIONS", "GET", "gw", "*", "400"},
		{"OPTIONS *", "OPTIONS", "gw", "*", "404"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			method := cmp.Or(tc.method, "GET")
			fields := [][2]string{{":method", method}, {":scheme", "http"}, {":path", tc.path}}
			if method == "CONNECT" { // RFC 9113 §8.5: no :scheme, no :path
				fields = fields[:1]
			}
			if tc.authority != "" {
				fields = append(fields, [2]string{":authority", tc.authority})
			}
			before := len(rb.requests())
			status, body, err := h2Exchange(t, addr, fields, nil)
			if err != nil || status != tc.want {
				t.Fatalf("%s %q %v, want %s", status, body, err, tc.want)
			}
			got := rb.requests()
			switch {
			case tc.want != "200" && len(got) != before:
				t.Error("a refused request reached the backend")
			case tc.want == "200" && got[len(got)-1].Header.Get("X-Forwarded-Host") != tc.authority:
				t.Errorf("X-Forwarded-Host %q, want %q", got[len(got)-1].Header.Get("X-Forwarded-Host"), tc.authority)
			}
		})
	}
}

// TestHTTP2HostAndLength: the fields that decide where a request goes and
// how long its body is must agree with each other over HTTP/2 as over
// HTTP/1.1: a host field that names another host than :authority (RFC 9113
// §8.3.1), content-length fields that disagree, one that is not digits, or a
// length on a request whose HEADERS end the stream, are 400, and never reach
// the backend (net/http reads a length it cannot parse as 0: the request
// went on without its body).
func TestHTTP2HostAndLength(t *testing.T) {
	_, rb, addr := startHardening(t)
	base := [][2]string{{":method", "POST"}, {":scheme", "http"}, {":path", "/echo/x"}, {":authority", "gw"}}
	// The stream stays open (an empty DATA frame without END_STREAM) and
	// waits for the gateway's answer; DATA beyond the length net/http parsed
	// would have the stream reset before the answer.
	body := []byte{}
	for _, tc := range []struct {
		name  string
		extra [][2]string
		data  []byte // nil: the HEADERS end the stream
		want  string
	}{
		{"no host field", nil, nil, "200"},
		{"the same host", [][2]string{{"host", "GW"}}, nil, "200"},
		{"another host", [][2]string{{"host", "admin.internal"}}, nil, "400"},
		{"two host fields", [][2]string{{"host", "gw"}, {"host", "admin.internal"}}, nil, "400"},
		{"equal lengths", [][2]string{{"content-length", "0"}, {"content-length", "0"}}, nil, "200"},
		{"different lengths", [][2]string{{"content-length", "0"}, {"content-length", "20"}}, nil, "400"},
		{"a length that is not a number", [][2]string{{"content-length", "abc"}}, body, "400"},
		{"a signed length", [][2]string{{"content-length", "+5"}}, body, "400"},
		{"a list in one field", [][2]string{{"content-length", "5, 5"}}, body, "400"},
		{"a length past int64", [][2]string{{"content-length", "99999999999999999999"}}, body, "400"},
		{"a length, and HEADERS that end the stream", [][2]string{{"content-length", "5"}}, nil, "400"},
		{"an absolute-form :path", [][2]string{{":path", "https://evil.example/echo/x"}}, nil, "400"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(rb.requests())
			fields := slices.Clone(base)
			for _, f := range tc.extra {
				if i := slices.IndexFunc(fields, func(b [2]string) bool { return b[0] == f[0] && f[0][0] == ':' }); i >= 0 {
					fields[i] = f // a pseudo-header replaces the base's
				} else {
					fields = append(fields, f)
				}
			}
			status, body, err := h2Exchange(t, addr, fields, tc.data)
			if err != nil || status != tc.want {
				t.Fatalf("%s %q %v, want %s", status, body, err, tc.want)
			}
			if tc.want != "200" && len(rb.requests()) != before {
				t.Error("a refused request reached the backend")
			}
		})
	}
}

// TestPolicyHeadersCannotSplitMessages: a header value a policy computes from
// the request (here a decoded query parameter) cannot add a header or end a
// head early, towards the backend or the client: CR, LF and NUL become spaces.
func TestPolicyHeadersCannotSplitMessages(t *testing.T) {
	rb := newRecordingBackend(t)
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/q/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"q","serviceUrl":%q,"subscriptionRequired":false}}`, rb.srv.URL),
		"apis/q/policy.xml": `<policies><inbound><base />
			<set-header name="X-Q" exists-action="override"><value>@(context.Request.Url.Query.GetValueOrDefault("q", ""))</value></set-header>
		</inbound><backend><base /></backend><outbound><base />
			<set-header name="X-Out" exists-action="override"><value>@(context.Request.Url.Query.GetValueOrDefault("q", ""))</value></set-header>
		</outbound><on-error><base /></on-error></policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://none"))
	addr := strings.TrimPrefix(e.srv.GatewayURL(), "http://")
	resp, _, _ := rawExchange(t, addr, "GET /q/x?q=a%0d%0aInjected:%20yes%0ab%00c HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n")
	const want = "a Injected: yes b c"
	if got := resp.Header.Get("X-Out"); got != want || resp.Header.Get("Injected") != "" {
		t.Errorf("to the client: X-Out %q, Injected %q; want %q and none", got, resp.Header.Get("Injected"), want)
	}
	got := rb.requests()
	if len(got) != 1 || got[0].Header.Get("X-Q") != want || got[0].Header.Get("Injected") != "" {
		t.Fatalf("to the backend: %+v; want X-Q %q and no Injected", got, want)
	}
}

// TestHTTP2RapidReset: a client that resets most of its streams before their
// answers (CVE-2023-44487) has its connection closed once it reset 100 of
// them, so that it cannot keep the backend busy, or make the gateway open a
// backend connection for every few resets, for the price of two frames a
// request.
func TestHTTP2RapidReset(t *testing.T) {
	_, rb, addr := startHardening(t)
	c := dialGateway(t, addr)
	var out, head bytes.Buffer
	out.WriteString(http2.ClientPreface)
	fr := http2.NewFramer(&out, nil)
	fr.WriteSettings()
	enc := hpack.NewEncoder(&head)
	const streams = 2000
	for i := range streams {
		head.Reset()
		for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/echo/x"}, {":authority", "gw"}} {
			enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
		}
		id := uint32(2*i + 1)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: head.Bytes(), EndHeaders: true, EndStream: true})
		fr.WriteRSTStream(id, http2.ErrCodeCancel)
	}
	go c.Write(out.Bytes()) // the gateway may close the connection before it took it all
	// The gateway closes the connection: reading ends before the test's
	// deadline, with or without a GOAWAY first.
	rd := http2.NewFramer(io.Discard, c)
	for {
		if _, err := rd.ReadFrame(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatalf("the connection is still open after %d reset streams", streams)
			}
			break
		}
	}
	if n := len(rb.requests()); n >= streams/2 {
		t.Errorf("%d of %d reset requests reached the backend", n, streams)
	}
}

// TestHTTP2HeaderTimeout: limits.headerTimeout holds for an HTTP/2 header
// block too: a client that sends HEADERS without END_HEADERS and then a
// CONTINUATION frame now and then has its connection closed once the
// timeout passed, instead of holding it (and the decoding of its block) for
// the idle timeout, 120 s.
func TestHTTP2HeaderTimeout(t *testing.T) {
	rb := newRecordingBackend(t)
	files := hardeningConfig(rb.srv.URL)
	files["lastmile.yaml"] = strings.Replace(files["lastmile.yaml"], "limits:\n", "limits:\n  headerTimeout: 1s\n", 1)
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, files)
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://orders"))
	c := dialGateway(t, strings.TrimPrefix(e.srv.GatewayURL(), "http://")) // 10 s deadline
	var head bytes.Buffer
	enc := hpack.NewEncoder(&head)
	for _, f := range [][2]string{{":method", "GET"}, {":scheme", "http"}, {":path", "/echo/x"}, {":authority", "gw"}, {"x-pad", strings.Repeat("p", 200)}} {
		enc.WriteField(hpack.HeaderField{Name: f[0], Value: f[1]})
	}
	blk := head.Bytes()
	io.WriteString(c, http2.ClientPreface)
	fr := http2.NewFramer(c, c)
	fr.WriteSettings()
	fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:10], EndStream: true})
	start := time.Now()
	go func() {
		// 4 s of CONTINUATION frames, 10 bytes of the block each.
		for i := 10; i+10 < len(blk) && time.Since(start) < 4*time.Second; i += 10 {
			time.Sleep(250 * time.Millisecond)
			if fr.WriteContinuation(1, false, blk[i:i+10]) != nil {
				return
			}
		}
	}()
	rd := http2.NewFramer(io.Discard, c)
	for {
		if _, err := rd.ReadFrame(); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				t.Fatal("the connection is still open")
			}
			break
		}
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("closed after %v, want about the header timeout (1s)", took)
	}
	if len(rb.requests()) != 0 {
		t.Error("the request reached the backend")
	}
}

// TestTLSOnPlainListener: a TLS ClientHello sent to the plain listener ends
// the connection at once, instead of holding it for the header timeout (30 s)
// while the gateway waits for a request line.
func TestTLSOnPlainListener(t *testing.T) {
	_, rb, addr := startHardening(t)
	c := dialGateway(t, addr) // 10 s deadline
	// A TLS 1.2 record header (handshake, version 3.1) and the start of a ClientHello.
	c.Write([]byte{0x16, 0x03, 0x01, 0x00, 0x40, 0x01, 0x00, 0x00, 0x3c, 0x03, 0x03})
	_, err := c.Read(make([]byte, 1))
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the connection is still open")
	}
	if err != io.EOF && !errors.Is(err, syscall.ECONNRESET) {
		t.Errorf("read: %v, want the connection closed", err)
	}
	if len(rb.requests()) != 0 {
		t.Error("something reached the backend")
	}
}

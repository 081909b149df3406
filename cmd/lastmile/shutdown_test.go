package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// slowBackend is a backend that holds every request until released, and
// reports each one as it arrives.
type slowBackend struct {
	*httptest.Server
	arrived chan string
	release chan struct{}
	once    sync.Once
}

func newSlowBackend(t *testing.T) *slowBackend {
	t.Helper()
	b := &slowBackend{arrived: make(chan string, 64), release: make(chan struct{})}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		b.arrived <- r.URL.Path
		<-b.release
		fmt.Fprintf(w, "%s %d", r.URL.Path, len(body))
	}))
	t.Cleanup(func() { b.Release(); b.Close() })
	return b
}

// Release lets every held request (and every later one) through.
func (b *slowBackend) Release() { b.once.Do(func() { close(b.release) }) }

// waitArrivals waits until n requests reached the backend.
func (b *slowBackend) waitArrivals(t *testing.T, n int) {
	t.Helper()
	for i := range n {
		select {
		case <-b.arrived:
		case <-time.After(30 * time.Second):
			t.Fatalf("%d of %d requests reached the backend", i, n)
		}
	}
}

// serveSlowAPI starts lastmile serve with one API, /slow, forwarding to
// backend, and lastmile.yaml as given.
func serveSlowAPI(t *testing.T, backend, yaml string) *process {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg")
	files := map[string]string{
		"apis/slow/apiInformation.json": `{"properties":{"path":"slow","serviceUrl":"` + backend + `","subscriptionRequired":false}}`,
		"lastmile.yaml":                 yaml,
	}
	for name, content := range files {
		p := filepath.Join(cfg, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p := startProcess(t, "serve", "--config", cfg, "--state", filepath.Join(dir, "state"),
		"--listen", "127.0.0.1:0", "--identity-listen", "127.0.0.1:0")
	p.waitFor(t, "lastmile is serving")
	return p
}

// idleConn opens a keep-alive connection to addr, makes one request on it and
// leaves it idle.
func idleConn(t *testing.T, addr, path string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\n\r\n", path, addr)
	br := bufio.NewReader(c)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Close {
		t.Fatalf("GET %s: %s, close %v; want 200 on a connection kept alive", path, resp.Status, resp.Close)
	}
	return c, br
}

// closedByServer reports whether the server closed the idle connection c
// within the wait: a read ends with EOF (or a reset) rather than a timeout.
func closedByServer(c net.Conn, br *bufio.Reader, wait time.Duration) error {
	c.SetReadDeadline(time.Now().Add(wait))
	n, err := br.Read(make([]byte, 1))
	var ne net.Error
	switch {
	case n > 0:
		return fmt.Errorf("the server sent %d unexpected bytes", n)
	case errors.As(err, &ne) && ne.Timeout():
		return fmt.Errorf("still open after %s", wait)
	case err == nil:
		return errors.New("read returned nothing and no error")
	}
	return nil
}

// h2cClient speaks HTTP/2 with prior knowledge (h2c), as the data plane serves it.
func h2cClient() *http.Client {
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: &http.Transport{Protocols: &p}}
}

type result struct {
	name   string
	status int
	body   string
	close  bool // the response said Connection: close
	proto  string
	err    error
}

// TestShutdownDrainsRequestsInFlight sends SIGTERM to `lastmile serve` while
// requests wait at a slow backend: HTTP/1.1 requests on their own
// connections, a POST whose body was sent, and two HTTP/2 (h2c) streams on one
// connection. The listener stops accepting at once (new connections are
// refused) and an idle keep-alive connection is closed at once, while every
// request in flight still completes with 200 and its whole answer; the
// process then exits 0 within the grace period, cutting nothing off.
func TestShutdownDrainsRequestsInFlight(t *testing.T) {
	backend := newSlowBackend(t)
	p := serveSlowAPI(t, backend.URL, "shutdown:\n  gracePeriod: 30s\n")
	gw := p.logged(t, "gateway_url")
	addr := strings.TrimPrefix(gw, "http://")
	idle, idleBR := idleConn(t, addr, "/status-0123456789abcdef")
	// Held open: an idle connection to the identity listener must not delay the exit.
	idleConn(t, strings.TrimPrefix(p.logged(t, "identity_url"), "http://"), "/.well-known/openid-configuration")

	h1 := &http.Client{Transport: &http.Transport{}}
	h2 := h2cClient()
	const h1Requests = 6
	postBody := strings.Repeat("x", 100_000)
	type req struct {
		name, method string
		client       *http.Client
		body         string
	}
	var reqs []req
	for i := range h1Requests {
		reqs = append(reqs, req{fmt.Sprintf("h1-%d", i), http.MethodGet, h1, ""})
	}
	reqs = append(reqs, req{"post", http.MethodPost, h1, postBody}, req{"h2-0", http.MethodGet, h2, ""}, req{"h2-1", http.MethodGet, h2, ""})
	results := make(chan result, len(reqs))
	for _, r := range reqs {
		go func() {
			res := result{name: r.name}
			hr, _ := http.NewRequest(r.method, gw+"/slow/"+r.name, strings.NewReader(r.body))
			resp, err := r.client.Do(hr)
			if err != nil {
				res.err = err
				results <- res
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			res.status, res.body, res.close, res.proto, res.err = resp.StatusCode, string(b), resp.Close, resp.Proto, err
			results <- res
		}()
	}
	backend.waitArrivals(t, len(reqs))

	p.cmd.Process.Signal(syscall.SIGTERM)
	p.waitFor(t, "shutdown started")
	if err := closedByServer(idle, idleBR, 10*time.Second); err != nil {
		t.Errorf("an idle keep-alive connection while requests are in flight: %v; want it closed at once", err)
	}
	// The listener closes as the shutdown starts: poll until a new
	// connection is refused, while the requests are still held.
	var dialErr error
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		var c net.Conn
		if c, dialErr = net.Dial("tcp", addr); dialErr != nil {
			break
		}
		c.Close()
	}
	if !errors.Is(dialErr, syscall.ECONNREFUSED) {
		t.Errorf("a new connection during the drain: %v; want it refused", dialErr)
	}
	select {
	case r := <-results:
		t.Fatalf("%s ended before the backend answered: %+v", r.name, r)
	default:
	}
	time.Sleep(time.Second) // the backend takes its time
	backend.Release()

	for range reqs {
		r := <-results
		want := "/" + r.name + " 0" // the API path is not forwarded
		if r.name == "post" {
			want = fmt.Sprintf("/post %d", len(postBody))
		}
		if r.err != nil || r.status != http.StatusOK || r.body != want {
			t.Errorf("%s: %d %q, %v; want 200 %q", r.name, r.status, r.body, r.err, want)
		}
		if !strings.HasPrefix(r.name, "h2") && !r.close {
			t.Errorf("%s: the response did not say Connection: close; a client would reuse a connection that is closing", r.name)
		}
		if strings.HasPrefix(r.name, "h2") && r.proto != "HTTP/2.0" {
			t.Errorf("%s went over %s, want HTTP/2.0", r.name, r.proto)
		}
	}
	if code := p.exit(t); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	if out := p.stderr.String(); !strings.Contains(out, "shutdown finished") || strings.Contains(out, "cut off") {
		t.Errorf("want \"shutdown finished\" with nothing cut off in the log")
	}
}

// TestShutdownIdleConnectionsDoNotDelay sends SIGTERM to `lastmile serve`
// while clients hold idle keep-alive connections (HTTP/1.1 and h2c to the data
// plane, HTTP/1.1 to the identity listener) and nothing is in flight. With a
// grace period and an idle timeout of an hour, the process must still exit at
// once, closing them.
func TestShutdownIdleConnectionsDoNotDelay(t *testing.T) {
	backend := newSlowBackend(t)
	backend.Release()
	p := serveSlowAPI(t, backend.URL, "shutdown:\n  gracePeriod: 1h\nlimits:\n  idleTimeout: 1h\n")
	gw := p.logged(t, "gateway_url")
	h1, h1BR := idleConn(t, strings.TrimPrefix(gw, "http://"), "/slow/once")
	id, idBR := idleConn(t, strings.TrimPrefix(p.logged(t, "identity_url"), "http://"), "/.well-known/openid-configuration")
	h2 := h2cClient()
	resp, err := h2.Get(gw + "/slow/h2")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.Proto != "HTTP/2.0" {
		t.Fatalf("the h2c client went over %s", resp.Proto)
	}

	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatal("lastmile did not exit within 20 s of SIGTERM with only idle connections open (grace period 1h)")
	}
	if code := p.exit(t); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	for name, c := range map[string]struct {
		c  net.Conn
		br *bufio.Reader
	}{"data plane": {h1, h1BR}, "identity listener": {id, idBR}} {
		if err := closedByServer(c.c, c.br, 5*time.Second); err != nil {
			t.Errorf("the idle connection to the %s: %v", name, err)
		}
	}
}

// TestShutdownGracePeriodCutsOff checks shutdown.gracePeriod: a request that
// is still at the backend when it ends is cut off, the log says so, and the
// process exits then (not after the backend, which never answers, nor after
// the 10 s default).
func TestShutdownGracePeriodCutsOff(t *testing.T) {
	backend := newSlowBackend(t)
	p := serveSlowAPI(t, backend.URL, "shutdown:\n  gracePeriod: 1s\n")
	gw := p.logged(t, "gateway_url")
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Get(gw + "/slow/forever")
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil {
				err = fmt.Errorf("answered %s", resp.Status)
			}
		}
		errc <- err
	}()
	backend.waitArrivals(t, 1)

	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(8 * time.Second):
		t.Fatal("lastmile did not exit within 8 s of SIGTERM with shutdown.gracePeriod: 1s")
	}
	if code := p.exit(t); code != 0 {
		t.Errorf("exit %d after SIGTERM", code)
	}
	if !strings.Contains(p.stderr.String(), "requests still in flight after the grace period were cut off") {
		t.Errorf("the log does not say that a request was cut off")
	}
	select {
	case err := <-errc:
		if err == nil {
			t.Errorf("the request at the backend completed; want it cut off")
		}
	case <-time.After(10 * time.Second):
		t.Errorf("the request cut off at the end of the grace period still waits")
	}
}

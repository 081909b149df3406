package http1_test

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/http1"
)

// TestRequestContext drives a request's context as a handler and the code it
// calls use it: values of the base context, context.AfterFunc, derived
// contexts, Done asked for before and after; all of it must end when the
// handler returns, as net/http's does.
func TestRequestContext(t *testing.T) {
	type key struct{}
	base := context.WithValue(context.Background(), key{}, "base value")
	var mu sync.Mutex
	var (
		during     error
		value      any
		afterRan   = make(chan struct{})
		stopped    bool
		stoppedRan bool
		child      context.Context
		stopChild  context.CancelFunc
		doneEarly  <-chan struct{}
		reqCtx     context.Context
	)
	s := &http1.Server{BaseContext: base, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		mu.Lock()
		defer mu.Unlock()
		reqCtx = ctx
		during, value = ctx.Err(), ctx.Value(key{})
		context.AfterFunc(ctx, func() { close(afterRan) })
		stop := context.AfterFunc(ctx, func() {
			mu.Lock()
			stoppedRan = true
			mu.Unlock()
		})
		stopped = stop()
		child, stopChild = context.WithTimeout(ctx, time.Hour)
		doneEarly = ctx.Done()
		w.Write([]byte("ok"))
	})}
	addr := serve(t, s)
	resp, err := http.Get("http://" + addr + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	select {
	case <-afterRan:
	case <-time.After(10 * time.Second):
		t.Fatal("context.AfterFunc did not run when the request ended")
	}
	select {
	case <-child.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("a context derived from the request's was not canceled with it")
	}
	stopChild()
	select {
	case <-doneEarly:
	case <-time.After(10 * time.Second):
		t.Fatal("the Done channel taken during the request was not closed")
	}
	mu.Lock()
	defer mu.Unlock()
	if during != nil {
		t.Errorf("Err during the request = %v, want nil", during)
	}
	if value != "base value" {
		t.Errorf("Value from the base context = %v, want %q", value, "base value")
	}
	if !stopped || stoppedRan {
		t.Errorf("a stopped AfterFunc: stop() = %v, ran = %v; want true, false", stopped, stoppedRan)
	}
	if got := reqCtx.Err(); got != context.Canceled {
		t.Errorf("Err after the request = %v, want context.Canceled", got)
	}
	if got := context.Cause(reqCtx); got != context.Canceled {
		t.Errorf("Cause after the request = %v, want context.Canceled", got)
	}
	select {
	case <-reqCtx.Done(): // asked for the first time after the end
	default:
		t.Error("Done asked for after the request is not closed")
	}
	ran := make(chan struct{})
	context.AfterFunc(reqCtx, func() { close(ran) })
	select {
	case <-ran:
	case <-time.After(10 * time.Second):
		t.Error("an AfterFunc registered after the end did not run")
	}
}

// TestResponseStateIsNotCarriedOver sends two requests on one connection: the
// second response must carry nothing the first handler set (the server keeps
// the response and its header map for the connection's next request).
func TestResponseStateIsNotCarriedOver(t *testing.T) {
	n := 0
	s := &http1.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n++
		if n == 1 {
			w.Header().Set("X-First", "1")
			w.Header().Set("Content-Length", "5")
			w.WriteHeader(http.StatusTeapot)
			w.Write([]byte("first"))
			return
		}
		if len(w.Header()) != 0 {
			t.Errorf("the second response's header starts with %v, want it empty", w.Header())
		}
		w.Write([]byte("second"))
	})}
	addr := serve(t, s)
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	for i, want := range []struct {
		status int
		first  string
		body   string
	}{{418, "1", "first"}, {200, "", "second"}} {
		if _, err := c.Write([]byte("GET /" + strings.Repeat("x", i) + " HTTP/1.1\r\nHost: x\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		bufio.NewReader(resp.Body).WriteTo(&body)
		resp.Body.Close()
		if resp.StatusCode != want.status || resp.Header.Get("X-First") != want.first || body.String() != want.body {
			t.Errorf("response %d: %d X-First=%q %q, want %d %q %q", i+1, resp.StatusCode, resp.Header.Get("X-First"), body.String(), want.status, want.first, want.body)
		}
	}
}

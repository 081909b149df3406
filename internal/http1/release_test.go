package http1_test

import (
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lastmile-gw/lastmile/internal/http1"
)

// TestReleaseRequest sends requests down one connection to a handler that
// releases some of them, and checks what the next request is parsed into: a
// released request's Request and header map, emptied, and never those of a
// request that was not released, whose map the handler keeps and must find
// unchanged.
func TestReleaseRequest(t *testing.T) {
	type view struct {
		req    *http.Request
		hdr    uintptr
		url    string
		header http.Header
	}
	var (
		mu    sync.Mutex
		seen  []view
		kept  http.Header // the map of the request that was not released
		wantK http.Header // what it held
	)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		seen = append(seen, view{r, reflect.ValueOf(r.Header).Pointer(), r.URL.String(), r.Header.Clone()})
		if r.Header.Get("X-Release") == "yes" {
			w.(interface{ ReleaseRequest() }).ReleaseRequest()
		} else {
			kept, wantK = r.Header, r.Header.Clone()
		}
		w.Header().Set("Content-Length", "2")
		w.Write([]byte("ok"))
	})
	addr := serve(t, &http1.Server{Handler: h})
	var many strings.Builder
	for i := range 40 {
		fmt.Fprintf(&many, "X-Field-%d: %d\r\n", i, i)
	}
	raw := "GET /a HTTP/1.1\r\nHost: x\r\nX-Release: yes\r\nCookie: secret-a\r\nX-One: 1\r\n\r\n" +
		"GET /b?q=1 HTTP/1.1\r\nHost: x\r\nX-Release: yes\r\nX-Two: 2\r\n\r\n" +
		"GET /c HTTP/1.1\r\nHost: x\r\nX-Three: 3\r\n\r\n" +
		"GET /d HTTP/1.1\r\nHost: x\r\nX-Release: yes\r\nX-Four: 4\r\n\r\n" +
		"GET /e HTTP/1.1\r\nHost: x\r\nX-Release: yes\r\n" + many.String() + "\r\n" +
		"GET /f HTTP/1.1\r\nHost: x\r\nX-Six: 6\r\n\r\n"
	resps, _, _ := roundTrip(t, addr, raw)
	if len(resps) != 6 {
		t.Fatalf("got %d responses, want 6", len(resps))
	}
	mu.Lock()
	defer mu.Unlock()
	wantHeaders := []http.Header{
		{"X-Release": {"yes"}, "Cookie": {"secret-a"}, "X-One": {"1"}},
		{"X-Release": {"yes"}, "X-Two": {"2"}},
		{"X-Three": {"3"}},
		{"X-Release": {"yes"}, "X-Four": {"4"}},
		nil, // the 40 fields
		{"X-Six": {"6"}},
	}
	wantURLs := []string{"/a", "/b?q=1", "/c", "/d", "/e", "/f"}
	for i, v := range seen {
		if v.url != wantURLs[i] {
			t.Errorf("request %d: URL %q, want %q", i, v.url, wantURLs[i])
		}
		if want := wantHeaders[i]; want != nil {
			if diff := cmp.Diff(want, v.header); diff != "" {
				t.Errorf("request %d: header (-want +got):\n%s", i, diff)
			}
		}
	}
	// reused[i]: request i was parsed into request i-1's state.
	reused := []bool{false, true, true, false, true, false}
	for i := 1; i < len(seen); i++ {
		got := seen[i].req == seen[i-1].req && seen[i].hdr == seen[i-1].hdr
		if got != reused[i] {
			t.Errorf("request %d parsed into request %d's state: %v, want %v", i, i-1, got, reused[i])
		}
	}
	if diff := cmp.Diff(wantK, kept); diff != "" {
		t.Errorf("the map of the request that was not released changed after it (-want +got):\n%s", diff)
	}
}

// TestReleaseRequestConcurrent runs released requests with distinct headers
// on several pipelined connections at once (with -race, the reuse's
// ordering): each handler must see its own request's headers and no other's.
// The requests have from 2 to 46 fields, some repeated, so that the reused
// state moves across the 8 values it holds in place and the 32 fields past
// which a map is not kept; every third one has a body.
func TestReleaseRequestConcurrent(t *testing.T) {
	// fields: request id's extra fields, name and value, a name twice when
	// it repeats.
	fields := func(id int) [][2]string {
		var f [][2]string
		for k := range id % 45 {
			f = append(f, [2]string{fmt.Sprintf("X-F-%d", k%40), fmt.Sprint(id)})
		}
		return f
	}
	var bad sync.Map
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := strings.TrimPrefix(r.URL.Path, "/")
		n, _ := strconv.Atoi(id)
		want := http.Header{"X-Id": {id}, "X-Id-" + id: {id}}
		for _, f := range fields(n) {
			want[f[0]] = append(want[f[0]], f[1])
		}
		body, err := io.ReadAll(r.Body)
		if wantBody := map[bool]string{true: "body " + id}[n%3 == 0]; string(body) != wantBody || err != nil {
			bad.Store(id+" body", fmt.Sprintf("%q %v", body, err))
		}
		delete(r.Header, "Content-Length")
		if !reflect.DeepEqual(r.Header, want) || r.Host != "x" {
			bad.Store(id, fmt.Sprint(r.Header))
		}
		w.(interface{ ReleaseRequest() }).ReleaseRequest()
		w.Header().Set("Content-Length", "2")
		w.Write([]byte("ok"))
	})
	addr := serve(t, &http1.Server{Handler: h})
	var wg sync.WaitGroup
	for c := range 4 {
		wg.Go(func() {
			var raw strings.Builder
			for i := range 50 {
				n := c*1000 + i
				fmt.Fprintf(&raw, "GET /%d HTTP/1.1\r\nHost: x\r\nX-Id: %d\r\nX-Id-%d: %d\r\n", n, n, n, n)
				for _, f := range fields(n) {
					fmt.Fprintf(&raw, "%s: %s\r\n", f[0], f[1])
				}
				if body := fmt.Sprintf("body %d", n); n%3 == 0 {
					fmt.Fprintf(&raw, "Content-Length: %d\r\n\r\n%s", len(body), body)
				} else {
					raw.WriteString("\r\n")
				}
			}
			if resps, _, _ := roundTrip(t, addr, raw.String()); len(resps) != 50 {
				t.Errorf("connection %d: %d responses, want 50", c, len(resps))
			}
		})
	}
	wg.Wait()
	bad.Range(func(k, v any) bool {
		t.Errorf("request %v saw %v", k, v)
		return true
	})
}

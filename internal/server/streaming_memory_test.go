package server_test

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"testing"
)

// TestStreamingMemory sends a large upload and a large download through the
// gateway with no policy reading them: both stream, so what the process
// allocates in all (gateway, test backend and test client together) stays a
// small fraction of what passes. A gateway that buffered either body would
// allocate at least its size (and the upload, over limits.bufferedBody, would
// be refused with 413). Measured: about 0.3 MiB for 512 MiB moved.
func TestStreamingMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 512 MiB")
	}
	const size = 256 << 20
	chunk := bytes.Repeat([]byte("0123456789abcdef"), 2048) // 32 KiB
	big := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 32<<10)
		n, err := io.CopyBuffer(io.Discard, r.Body, buf)
		if err != nil {
			http.Error(w, err.Error(), 500)
			return
		}
		w.Header().Set("X-Uploaded", strconv.FormatInt(n, 10))
		if r.URL.Query().Get("declared") != "" {
			w.Header().Set("Content-Length", strconv.Itoa(size))
		}
		for sent := 0; sent < size; sent += len(chunk) {
			if _, err := w.Write(chunk); err != nil {
				return
			}
		}
	}))
	defer big.Close()
	backend := newVerifyingBackend(t, "api://orders")
	cfgDir := t.TempDir()
	files := testConfig(backend.srv.URL)
	files["apis/big/apiInformation.json"] = fmt.Sprintf(`{"properties":{"path":"big","serviceUrl":%q,"subscriptionRequired":false}}`, big.URL)
	writeFiles(t, cfgDir, files)
	e := start(t, cfgDir, t.TempDir(), backend)

	for _, tt := range []struct{ name, query string }{
		{"chunked", ""},
		{"declared length", "?declared=1"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := totalAlloc()
			req, _ := http.NewRequest("POST", e.srv.GatewayURL()+"/big/file"+tt.query, io.LimitReader(zeros{}, size))
			req.ContentLength = size
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			n, err := io.CopyBuffer(io.Discard, resp.Body, make([]byte, 32<<10))
			resp.Body.Close()
			if err != nil || resp.StatusCode != 200 || n != size || resp.Header.Get("X-Uploaded") != strconv.Itoa(size) {
				t.Fatalf("status %d, downloaded %d (%v), uploaded %s; want 200 and %d both ways", resp.StatusCode, n, err, resp.Header.Get("X-Uploaded"), size)
			}
			if got := totalAlloc() - before; got > 16<<20 {
				t.Errorf("moving %d MiB each way allocated %d MiB: a body was buffered", size>>20, got>>20)
			}
		})
	}
}

func totalAlloc() uint64 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.TotalAlloc
}

// zeros is an endless reader of zero bytes that allocates nothing.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

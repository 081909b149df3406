package http1_test

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/http1"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// rawH2 is an HTTP/2 client connection that sends frames as a test builds
// them, one write each.
type rawH2 struct {
	c   net.Conn
	mu  sync.Mutex // a test may write from two goroutines
	w   *http2.Framer
	r   *http2.Framer
	dec *hpack.Decoder
}

// dialH2 opens an HTTP/2 connection (h2c, or h2 when tlsCfg is set) that
// gives up after 10 s, and sends the preface and SETTINGS.
func dialH2(t *testing.T, addr string, tlsCfg *tls.Config) *rawH2 {
	t.Helper()
	var c net.Conn
	var err error
	if tlsCfg != nil {
		c, err = tls.Dial("tcp", addr, tlsCfg)
	} else {
		c, err = net.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, http2.ClientPreface)
	h := &rawH2{c: c, w: http2.NewFramer(c, nil), r: http2.NewFramer(nil, c), dec: hpack.NewDecoder(4096, nil)}
	h.write(func(fr *http2.Framer) error { return fr.WriteSettings() })
	// The server's SETTINGS come first: acknowledged now, the ACK cannot
	// fall inside a header block the test sends.
	f, err := h.r.ReadFrame()
	if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
		t.Fatalf("%v %v, want the server's SETTINGS", f, err)
	}
	h.write(func(fr *http2.Framer) error { return fr.WriteSettingsAck() })
	return h
}

func (h *rawH2) write(f func(*http2.Framer) error) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	return f(h.w)
}

// raw writes bytes that need not be whole frames.
func (h *rawH2) raw(b []byte) error {
	return h.write(func(*http2.Framer) error { _, err := h.c.Write(b); return err })
}

// block is the header block of a request for / with the fields given as
// name, value.
func block(method string, fields ...string) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	fields = append([]string{":method", method, ":scheme", "http", ":path", "/", ":authority", "x"}, fields...)
	for i := 0; i < len(fields); i += 2 {
		enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return b.Bytes()
}

// response reads frames until the stream ends and returns its status and
// body, or the error that ended the reading (a closed connection).
func (h *rawH2) response(id uint32) (status, body string, err error) {
	for {
		f, err := h.r.ReadFrame()
		if err != nil {
			return status, body, err
		}
		if f.Header().StreamID != id && f.Header().StreamID != 0 {
			continue
		}
		switch f := f.(type) {
		case *http2.HeadersFrame:
			fields, _ := h.dec.DecodeFull(f.HeaderBlockFragment())
			for _, hf := range fields {
				if hf.Name == ":status" {
					status = hf.Value
				}
			}
			if f.StreamEnded() {
				return status, body, nil
			}
		case *http2.DataFrame:
			body += string(f.Data())
			if f.StreamEnded() {
				return status, body, nil
			}
		case *http2.RSTStreamFrame:
			return status, body, fmt.Errorf("stream reset: %v", f.ErrCode)
		case *http2.GoAwayFrame:
			return status, body, fmt.Errorf("GOAWAY: %v", f.ErrCode)
		}
	}
}

// sendBlock sends a request's header block in pieces of at most size bytes,
// a HEADERS frame and CONTINUATION frames, pause apart; the request has no
// body.
func (h *rawH2) sendBlock(id uint32, blk []byte, size int, pause time.Duration) error {
	for first := true; first || len(blk) > 0; first = false {
		n := min(size, len(blk))
		piece, end := blk[:n], n == len(blk)
		blk = blk[n:]
		err := h.write(func(fr *http2.Framer) error {
			if first {
				return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: piece, EndHeaders: end, EndStream: true})
			}
			return fr.WriteContinuation(id, end, piece)
		})
		if err != nil {
			return err
		}
		if !end {
			time.Sleep(pause)
		}
	}
	return nil
}

// TestHTTP2HeaderTimeout: an HTTP/2 header block, a HEADERS frame and its
// CONTINUATION frames, has the header timeout of an HTTP/1.1 head: one
// dribbled a frame or a byte at a time closes the connection, where
// net/http's HTTP/2 server would wait for the idle timeout (here a minute).
// Blocks sent promptly in many frames, a connection idle between requests
// and a stream whose body is slow are not cut; over h2c and over TLS.
func TestHTTP2HeaderTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %s", len(r.Header.Get("X-Big")), data)
	})
	s := &http1.Server{Handler: h, HTTP2: true, ReadHeaderTimeout: timeout, IdleTimeout: time.Minute}
	h2c := serve(t, s)
	tlsSrv := httptest.NewTLSServer(h) // only for its test certificate
	pool := tlsSrv.Client().Transport.(*http.Transport).TLSClientConfig.RootCAs
	certs := tlsSrv.TLS.Certificates
	tlsSrv.Close()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: certs, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)

	// closedWithin sends a request's head with send, and reports how long
	// the server took to close the connection, or fails if it did not
	// within 2 s.
	closedWithin := func(t *testing.T, c *rawH2, send func()) time.Duration {
		t.Helper()
		start := time.Now()
		go send()
		c.c.SetReadDeadline(start.Add(2 * time.Second))
		status, _, err := c.response(1)
		if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
			t.Fatalf("%s %v after %v, want the connection closed", status, err, time.Since(start))
		}
		return time.Since(start)
	}
	big := strings.Repeat("v", 2000)
	for _, tr := range []struct {
		name string
		addr string
		tls  *tls.Config
	}{
		{"h2c", h2c, nil},
		{"h2 over TLS", ln.Addr().String(), &tls.Config{RootCAs: pool, ServerName: "example.com", NextProtos: []string{"h2"}}},
	} {
		t.Run(tr.name, func(t *testing.T) {
			t.Run("a block dribbled in CONTINUATION frames is cut", func(t *testing.T) {
				c := dialH2(t, tr.addr, tr.tls)
				took := closedWithin(t, c, func() { c.sendBlock(1, block("GET", "x-big", big), 100, 100*time.Millisecond) })
				if took < timeout-50*time.Millisecond {
					t.Errorf("closed after %v, before the header timeout", took)
				}
			})
			t.Run("a HEADERS frame whose payload dribbles is cut", func(t *testing.T) {
				c := dialH2(t, tr.addr, tr.tls)
				blk := block("GET", "x-big", big)
				closedWithin(t, c, func() {
					// The frame header says the whole block; its bytes follow one at a time.
					c.raw([]byte{byte(len(blk) >> 16), byte(len(blk) >> 8), byte(len(blk)), byte(http2.FrameHeaders), byte(http2.FlagHeadersEndHeaders | http2.FlagHeadersEndStream), 0, 0, 0, 1})
					for _, b := range blk {
						time.Sleep(50 * time.Millisecond)
						if c.raw([]byte{b}) != nil {
							return
						}
					}
				})
			})
			t.Run("blocks sent promptly in many frames pass, for longer than the timeout in all", func(t *testing.T) {
				c := dialH2(t, tr.addr, tr.tls)
				start := time.Now()
				for i := range 8 {
					id := uint32(2*i + 1)
					// About 60 ms a block, well within the timeout on a busy
					// machine; the pauses between blocks make the whole run
					// longer than the timeout twice.
					if err := c.sendBlock(id, block("GET", "x-big", big), 100, 3*time.Millisecond); err != nil {
						t.Fatal(err)
					}
					if status, body, err := c.response(id); status != "200" || body != "2000 " || err != nil {
						t.Fatalf("request %d: %s %q %v, want 200", i, status, body, err)
					}
					time.Sleep(timeout / 6)
				}
				if took := time.Since(start); took < 2*timeout {
					t.Errorf("the requests took %v, want longer than the header timeout twice", took)
				}
			})
			t.Run("a connection idle between requests stays", func(t *testing.T) {
				c := dialH2(t, tr.addr, tr.tls)
				for id := uint32(1); id <= 3; id += 2 {
					time.Sleep(time.Duration(id-1) * timeout) // 2 timeouts before the second
					if err := c.sendBlock(id, block("GET"), 100, 0); err != nil {
						t.Fatal(err)
					}
					if status, body, err := c.response(id); status != "200" || body != "0 " || err != nil {
						t.Fatalf("stream %d: %s %q %v, want 200", id, status, body, err)
					}
				}
			})
			t.Run("a stream whose body dribbles is not cut", func(t *testing.T) {
				c := dialH2(t, tr.addr, tr.tls)
				c.write(func(fr *http2.Framer) error {
					return fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: block("POST"), EndHeaders: true})
				})
				for i := range 8 {
					time.Sleep(100 * time.Millisecond)
					c.write(func(fr *http2.Framer) error { return fr.WriteData(1, i == 7, []byte("b")) })
				}
				if status, body, err := c.response(1); status != "200" || body != "0 bbbbbbbb" || err != nil {
					t.Fatalf("%s %q %v, want 200 and the body", status, body, err)
				}
			})
		})
	}
}

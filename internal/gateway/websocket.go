package gateway

import (
	"io"
	"math"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/httpfield"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
)

// handshakeProblem says why r is not a WebSocket opening handshake (RFC 6455
// §4.1) that the gateway can tunnel, or "" when it is one. HTTP/2's extended
// CONNECT (RFC 8441) is not supported.
func handshakeProblem(r *http.Request) string {
	h := r.Header
	switch {
	case r.ProtoMajor != 1 || r.ProtoMinor < 1:
		return "a WebSocket API takes WebSocket handshakes over HTTP/1.1"
	case r.Method != http.MethodGet:
		return "a WebSocket handshake is a GET request"
	case r.ContentLength != 0 || len(h["Transfer-Encoding"]) > 0:
		return "a WebSocket handshake has no body"
	case !httpfield.HasToken(h["Upgrade"], "websocket") || !httpfield.HasToken(h["Connection"], "upgrade"):
		return "this is a WebSocket API: the request must ask to upgrade to websocket (Connection: Upgrade, Upgrade: websocket)"
	case len(h["Sec-Websocket-Key"]) != 1 || h["Sec-Websocket-Key"][0] == "":
		return "a WebSocket handshake needs one Sec-WebSocket-Key"
	case len(h["Sec-Websocket-Version"]) != 1 || h["Sec-Websocket-Version"][0] != "13":
		return "a WebSocket handshake needs Sec-WebSocket-Version: 13"
	}
	return ""
}

// tunnel answers a handshake the backend accepted: the backend's 101 goes to
// the client on the hijacked connection, then bytes are copied both ways
// until either side closes, which closes both. It returns how many bytes
// went to the client.
func (h *Handler) tunnel(w http.ResponseWriter, r *http.Request, x *exchange.Exchange) (int64, int) {
	backend, _ := x.Response.Body.Source().(io.ReadWriteCloser)
	hj, _ := w.(http.Hijacker)
	if backend == nil || hj == nil {
		if backend != nil {
			backend.Close()
		}
		resp := pipeline.ErrorResponse(http.StatusBadGateway, "The backend's answer to the WebSocket handshake cannot be relayed.", x.RequestID)
		writeResponse(w, r, resp, nil, h.log)
		return 0, http.StatusBadGateway
	}
	defer backend.Close()
	client, rw, err := hj.Hijack()
	if err != nil {
		h.log.Debug("websocket: hijack failed", "error", err)
		resp := pipeline.ErrorResponse(http.StatusInternalServerError, "Internal server error", x.RequestID)
		writeResponse(w, r, resp, nil, h.log)
		return 0, http.StatusInternalServerError
	}
	defer client.Close()

	hdr := make(http.Header, len(x.Response.Headers)+4)
	for k, v := range x.Response.Headers {
		hdr[k] = v
	}
	addClientHeaders(hdr, x.ClientHeaders)
	exchange.RemoveFixedHopHeaders(hdr)
	delete(hdr, "Content-Length")
	hdr.Set("Connection", "Upgrade")
	hdr.Set("Upgrade", "websocket")
	rw.WriteString("HTTP/1.1 101 Switching Protocols\r\n")
	hdr.Write(rw) // folds any line break in a value into a space
	rw.WriteString("\r\n")
	if err := rw.Flush(); err != nil {
		return 0, http.StatusSwitchingProtocols
	}

	return splice(client, rw.Reader, backend, h.TunnelIdleTimeout), http.StatusSwitchingProtocols
}

// splice copies bytes both ways between a client and a backend until either
// side closes, or, when idle is positive, until nothing went either way for
// that long; then it closes both. clientIn is what to read from the client (a
// buffer holding what came with the handshake, then the connection). It
// returns how many bytes went to the client.
func splice(client io.WriteCloser, clientIn io.Reader, backend io.ReadWriteCloser, idle time.Duration) int64 {
	var once sync.Once
	closeBoth := func() { once.Do(func() { client.Close(); backend.Close() }) }
	// One timer for both directions: it fires when the tunnel may have been
	// idle for the timeout, and looks at when bytes last went either way.
	backendIn := io.Reader(backend)
	var last atomic.Int64 // unix nanoseconds of the last read on either side
	if idle > 0 {
		last.Store(time.Now().UnixNano())
		var ended atomic.Bool
		var t *time.Timer
		t = time.AfterFunc(time.Duration(math.MaxInt64), func() {
			quiet := time.Since(time.Unix(0, last.Load()))
			switch {
			case ended.Load():
			case quiet < idle:
				t.Reset(idle - quiet)
			default:
				closeBoth()
			}
		})
		t.Reset(idle) // t is set before it can fire
		defer func() { ended.Store(true); t.Stop() }()
		clientIn, backendIn = activity{clientIn, &last}, activity{backend, &last}
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		io.Copy(backend, clientIn)
		closeBoth()
	}()
	n, _ := io.Copy(client, backendIn)
	closeBoth()
	<-done
	return n
}

// activity is a reader that records the time of each read that got bytes.
type activity struct {
	r    io.Reader
	last *atomic.Int64
}

func (a activity) Read(p []byte) (int, error) {
	n, err := a.r.Read(p)
	if n > 0 {
		a.last.Store(time.Now().UnixNano())
	}
	return n, err
}

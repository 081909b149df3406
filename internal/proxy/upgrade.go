package proxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/httpfield"
)

// Tunnel is the backend's side of a WebSocket connection after its 101
// Switching Protocols: the body of that response, which the gateway copies
// to and from the client.
type Tunnel struct {
	net.Conn
	br *bufio.Reader // what the backend sent after its 101, then the connection
}

func (t *Tunnel) Read(p []byte) (int, error) { return t.br.Read(p) }

// upgrade sends a WebSocket handshake (x.WebSocket) to the backend on a
// connection of its own. When the backend switches protocols, x.Response is
// its 101 with a *Tunnel as the body; any other answer is an ordinary
// response, whose body closes the connection.
func (f *Forwarder) upgrade(ctx context.Context, x *exchange.Exchange, opts Options) error {
	tr := f.Transport
	if c, via := x.Backend.Certificate(), x.Backend.Proxy(); c != nil || via != nil {
		var err error
		if tr, err = f.routes.get(f.Transport, c, via); err != nil {
			return &Error{Reason: "BackendConnectionFailure", Message: err.Error(), Status: 500, Err: err}
		}
	}
	cl, ok := tr.(*Client)
	if !ok {
		return &Error{Reason: "BackendConnectionFailure", Message: "a WebSocket backend needs the gateway's own HTTP client", Status: 500}
	}
	u := x.Request.URL
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	bc, err := cl.conn(dctx, newPoolKey(u.Scheme, u.Host), true)
	if err != nil {
		return upgradeError(ctx, dctx, err, timeout)
	}
	if bc.proxied {
		bc.Close()
		return &Error{Reason: "BackendConnectionFailure", Message: "a WebSocket backend on http cannot be reached through an HTTP proxy; use wss", Status: 500}
	}
	deadline, _ := dctx.Deadline()
	bc.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { bc.SetDeadline(aLongTimeAgo) }) // the client went away
	defer stop()

	req := f.handshake(ctx, x)
	if err = req.Write(bc.bw); err == nil {
		err = bc.bw.Flush()
	}
	var resp *http.Response
	if err == nil {
		resp, err = http.ReadResponse(bc.br, req)
	}
	if err != nil {
		bc.Close()
		return upgradeError(ctx, dctx, err, timeout)
	}
	h := resp.Header
	if resp.StatusCode != http.StatusSwitchingProtocols {
		exchange.RemoveHopHeaders(h)
		x.Response = x.NewStreamResponse(resp.StatusCode, reasonPhrase(resp), h, closeBoth{resp.Body, bc}, resp.ContentLength)
		bc.SetDeadline(time.Time{})
		if opts.FailOnErrorStatusCode && resp.StatusCode >= 400 {
			return &Error{Reason: "BackendErrorStatusCode", Message: fmt.Sprintf("the backend answered %d", resp.StatusCode), Status: resp.StatusCode}
		}
		return nil
	}
	if !httpfield.HasToken(h["Upgrade"], "websocket") {
		bc.Close()
		return &Error{Reason: "BackendConnectionFailure", Message: "the backend switched to a protocol other than WebSocket", Status: 502}
	}
	bc.SetDeadline(time.Time{})
	exchange.RemoveHopHeaders(h)                                                                                    // the gateway writes its own Connection and Upgrade
	x.Response = x.NewStreamResponse(resp.StatusCode, reasonPhrase(resp), h, &Tunnel{Conn: bc.Conn, br: bc.br}, -1) // -1: a stream, never "empty"
	return nil
}

// handshake is the request for the backend: the client's handshake as
// policies left it, with forwarding's changes (hop-by-hop headers,
// X-Forwarded-*, trace context) made as for any forwarded request.
func (f *Forwarder) handshake(ctx context.Context, x *exchange.Exchange) *http.Request {
	var fw forwarded
	fw.set(ctx, x)
	h := fw.header(x.Request.Headers)
	h.Set("Connection", "Upgrade")
	h.Set("Upgrade", "websocket")
	u := *x.Request.URL
	return &http.Request{Method: http.MethodGet, URL: &u, Host: backendHost(x), Header: h, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1}
}

// upgradeError turns a failed handshake into the forward's error.
func upgradeError(ctx, dctx context.Context, err error, timeout time.Duration) error {
	switch {
	case ctx.Err() != nil:
		return &Error{Reason: "ClientConnectionFailure", Message: "the client went away", Status: 499, Err: err}
	case errors.Is(dctx.Err(), context.DeadlineExceeded) || isTimeout(err):
		return &Error{Reason: "Timeout", Message: fmt.Sprintf("the backend did not answer within %s", timeout), Status: 500, Err: err}
	}
	return &Error{Reason: "BackendConnectionFailure", Message: "could not reach the backend: " + sanitize(err), Status: 500, Err: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// closeBoth is the body of a refused handshake: closing it closes the
// connection too.
type closeBoth struct {
	io.ReadCloser
	conn io.Closer
}

func (c closeBoth) Close() error {
	err := c.ReadCloser.Close()
	c.conn.Close()
	return err
}

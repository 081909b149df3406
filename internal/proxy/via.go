package proxy

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"
)

// connectTimeout bounds a proxy's answer to CONNECT.
const connectTimeout = 30 * time.Second

// maxConnectHead bounds a proxy's answer to CONNECT.
const maxConnectHead = 16 << 10

// ErrProxyAuth is a proxy's 407: it refused the credentials, or wanted some.
var ErrProxyAuth = errors.New("the HTTP proxy refused the request's credentials (407 Proxy Authentication Required)")

// proxyAddr is the address to dial for proxy u (port 80 when it has none).
func proxyAddr(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// proxyAuthorization is the Proxy-Authorization value for u's user and
// password (Basic), or "" without a user.
func proxyAuthorization(u *url.URL) string {
	if u.User == nil || u.User.Username() == "" {
		return ""
	}
	pw, _ := u.User.Password()
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(u.User.Username()+":"+pw))
}

// connect asks the proxy on nc for a tunnel to addr. A 2xx opens it; the
// proxy's refusal is an error that names its status, never the credentials.
func connect(ctx context.Context, nc net.Conn, addr, auth string) error {
	deadline := time.Now().Add(connectTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	nc.SetDeadline(deadline)
	defer nc.SetDeadline(time.Time{})
	stop := context.AfterFunc(ctx, func() { nc.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var b strings.Builder
	b.WriteString("CONNECT ")
	b.WriteString(addr)
	b.WriteString(" HTTP/1.1\r\nHost: ")
	b.WriteString(addr)
	b.WriteString("\r\n")
	if auth != "" {
		b.WriteString("Proxy-Authorization: ")
		b.WriteString(auth)
		b.WriteString("\r\n")
	}
	b.WriteString("\r\n")
	if _, err := nc.Write([]byte(b.String())); err != nil {
		return fmt.Errorf("proxy CONNECT: %w", err)
	}
	// Read the head a byte at a time: the TLS handshake that follows must find
	// everything after it on the connection. It is short, and read once a
	// connection.
	var head []byte
	var one [1]byte
	for !bytes.HasSuffix(head, []byte("\r\n\r\n")) && !bytes.HasSuffix(head, []byte("\n\n")) {
		_, err := io.ReadFull(nc, one[:])
		c := one[0]
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) || ctx.Err() != nil {
				return fmt.Errorf("proxy CONNECT: the proxy did not answer in time: %w", context.DeadlineExceeded)
			}
			return fmt.Errorf("proxy CONNECT: reading the proxy's answer: %w", err)
		}
		if head = append(head, c); len(head) > maxConnectHead {
			return errors.New("proxy CONNECT: the proxy's answer is too long")
		}
	}
	line, _, _ := strings.Cut(string(head), "\n")
	proto, rest, _ := strings.Cut(strings.TrimRight(line, "\r"), " ")
	code, _, _ := strings.Cut(rest, " ")
	status, err := strconv.Atoi(code)
	switch {
	case !strings.HasPrefix(proto, "HTTP/1.") || err != nil || len(code) != 3:
		return errors.New("proxy CONNECT: the proxy's answer is not HTTP")
	case status == 407:
		return ErrProxyAuth
	case status < 200 || status > 299:
		return fmt.Errorf("proxy CONNECT: the proxy answered %d", status)
	}
	return nil
}

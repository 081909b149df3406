package server_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/lastmile-gw/lastmile/internal/certfile/certtest"
)

// TestWebSocket serves WebSocket APIs through the real server to real
// WebSocket peers (coder/websocket) on ws and wss backends: the handshake runs
// the API's and onHandshake's policies (a subscription key, a header for the
// backend), messages flow both ways, a refused handshake is answered as any
// response, and requests that are not handshakes, or Upgrade headers sent to
// an HTTP API, never open a tunnel.
func TestWebSocket(t *testing.T) {
	var handshakes, ended atomic.Int32
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "" && r.URL.Query().Get("deny") != "" {
			http.Error(w, "not you", http.StatusForbidden)
			return
		}
		if r.Header.Get("Upgrade") == "" {
			// An HTTP API's backend that would switch protocols if asked.
			fmt.Fprintf(w, "plain Upgrade=%q Connection=%q", r.Header.Get("Upgrade"), r.Header.Get("Connection"))
			return
		}
		handshakes.Add(1)
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"chat"}})
		if err != nil {
			return
		}
		c.SetReadLimit(1 << 20)
		defer c.CloseNow()
		defer ended.Add(1)
		ctx := r.Context()
		// The Host the backend gets names the backend, not the gateway.
		ownHost := r.Host == r.Context().Value(http.LocalAddrContextKey).(net.Addr).String()
		hello := fmt.Sprintf("hello path=%s query=%s via=%s key=%q proto=%s own-host=%v", r.URL.Path, r.URL.RawQuery, r.Header.Get("X-Via"), r.Header.Get("Ocp-Apim-Subscription-Key"), c.Subprotocol(), ownHost)
		if err := c.Write(ctx, websocket.MessageText, []byte(hello)); err != nil {
			return
		}
		for {
			typ, msg, err := c.Read(ctx)
			if err != nil {
				return
			}
			if err := c.Write(ctx, typ, append([]byte("echo:"), msg...)); err != nil {
				return
			}
		}
	})
	plain := httptest.NewServer(echo)
	t.Cleanup(plain.Close)
	ca := certtest.NewCA(t, "backend CA")
	secure := httptest.NewUnstartedServer(echo)
	secure.TLS = &tls.Config{Certificates: []tls.Certificate{*ca.Server()}}
	secure.StartTLS()
	t.Cleanup(secure.Close)

	ws := func(path, backend string, keyed bool) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"type":"websocket","protocols":["ws","wss"],"serviceUrl":%q,"subscriptionRequired":%v}}`,
			path, strings.Replace(strings.Replace(backend, "https://", "wss://", 1), "http://", "ws://", 1)+"/socket", keyed)
	}
	cfgDir := t.TempDir()
	certtest.WriteFile(t, cfgDir, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml":                 "backend:\n  caFile: ca.pem\nlimits:\n  tunnelIdleTimeout: 1s\n",
		"apis/chat/apiInformation.json": ws("chat", plain.URL, true),
		"apis/chat/policy.xml":          `<policies><inbound><base /><set-header name="X-Via" exists-action="override"><value>lastmile</value></set-header></inbound><backend><forward-request /></backend><outbound><set-header name="X-Outbound" exists-action="override"><value>ran</value></set-header></outbound><on-error /></policies>`,
		"apis/chat/operations/onHandshake/policy.xml": `<policies><inbound><base /><check-header name="X-Team" failed-check-httpcode="401" failed-check-error-message="which team?" ignore-case="true"><value>blue</value></check-header></inbound>` +
			`<backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
		"apis/securechat/apiInformation.json":             ws("securechat", secure.URL, false),
		"apis/http/apiInformation.json":                   fmt.Sprintf(`{"properties":{"path":"http","serviceUrl":%q,"subscriptionRequired":false}}`, plain.URL),
		"subscriptions/team/subscriptionInformation.json": `{"properties":{"scope":"/apis","displayName":"team","state":"active","primaryKey":"team-key"}}`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	wsURL := "ws" + strings.TrimPrefix(e.srv.GatewayURL(), "http")

	talk := func(t *testing.T, c *websocket.Conn, want string) {
		t.Helper()
		c.SetReadLimit(1 << 20)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if _, msg, err := c.Read(ctx); err != nil || !strings.HasPrefix(string(msg), "hello ") {
			t.Fatalf("greeting %q %v", msg, err)
		} else if string(msg) != want {
			t.Errorf("greeting %q, want %q", msg, want)
		}
		for _, m := range []struct {
			typ  websocket.MessageType
			data string
		}{{websocket.MessageText, "one"}, {websocket.MessageBinary, strings.Repeat("\x00\xff", 40000)}, {websocket.MessageText, "three"}} {
			if err := c.Write(ctx, m.typ, []byte(m.data)); err != nil {
				t.Fatal(err)
			}
			typ, msg, err := c.Read(ctx)
			if err != nil || typ != m.typ || string(msg) != "echo:"+m.data {
				t.Fatalf("echo of %d bytes: %v %d bytes %v", len(m.data), typ, len(msg), err)
			}
		}
	}

	t.Run("through the API's and onHandshake's policies", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, resp, err := websocket.Dial(ctx, wsURL+"/chat?room=1", &websocket.DialOptions{
			HTTPHeader:   http.Header{"Ocp-Apim-Subscription-Key": {"team-key"}, "X-Team": {"Blue"}},
			Subprotocols: []string{"chat"},
		})
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if resp.Header.Get("X-Outbound") != "" {
			t.Error("outbound ran on the 101")
		}
		talk(t, c, `hello path=/socket query=room=1 via=lastmile key="" proto=chat own-host=true`)
		c.Close(websocket.StatusNormalClosure, "bye")
	})
	t.Run("wss backend", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, wsURL+"/securechat", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		talk(t, c, `hello path=/socket query= via= key="" proto= own-host=true`)
		c.Close(websocket.StatusNormalClosure, "bye")
	})

	handshake := "GET %s HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n%s\r\n"
	tests := []struct {
		name, raw string
		status    int
		body      string
	}{
		{"no subscription key", fmt.Sprintf(handshake, "/chat", "X-Team: blue\r\n"), 401, "missing subscription key"},
		{"onHandshake's policy refuses", fmt.Sprintf(handshake, "/chat", "Ocp-Apim-Subscription-Key: team-key\r\n"), 401, "which team?"},
		{"the backend refuses", fmt.Sprintf(handshake, "/securechat?deny=1", ""), 403, "not you"},
		{"not a handshake", "GET /securechat HTTP/1.1\r\nHost: x\r\n\r\n", 400, "must ask to upgrade to websocket"},
		{"no key", "GET /securechat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\r\n", 400, "needs one Sec-WebSocket-Key"},
		{"another version", strings.Replace(fmt.Sprintf(handshake, "/securechat", ""), "Version: 13", "Version: 8", 1), 400, "Sec-WebSocket-Version: 13"},
		{"a POST", strings.Replace(fmt.Sprintf(handshake, "/securechat", "Content-Length: 2\r\n"), "GET", "POST", 1) + "hi", 400, "is a GET request"},
		{"a GET with a body", fmt.Sprintf(handshake, "/securechat", "Content-Length: 2\r\n") + "hi", 400, "has no body"},
		{"HTTP/1.0", strings.Replace(fmt.Sprintf(handshake, "/securechat", ""), "HTTP/1.1", "HTTP/1.0", 1), 400, "over HTTP/1.1"},
		{"Upgrade to an HTTP API is not passed on", fmt.Sprintf(handshake, "/http/x", ""), 200, `plain Upgrade="" Connection=""`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := handshakes.Load()
			c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.GatewayURL(), "http://"))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(c, tt.raw)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			if resp.StatusCode != tt.status || !strings.Contains(string(body), tt.body) {
				t.Errorf("%d %s, want %d containing %q", resp.StatusCode, body, tt.status, tt.body)
			}
			if handshakes.Load() != before {
				t.Error("the backend accepted a handshake")
			}
		})
	}

	t.Run("limits.tunnelIdleTimeout closes an idle tunnel, not a busy one", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, wsURL+"/securechat", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c.CloseNow()
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
		for i := range 8 { // 2 s of traffic, twice the timeout
			time.Sleep(250 * time.Millisecond)
			if err := c.Write(ctx, websocket.MessageText, []byte("still here")); err != nil {
				t.Fatalf("write %d: %v", i, err)
			}
			if _, _, err := c.Read(ctx); err != nil {
				t.Fatalf("the busy tunnel closed after %d messages: %v", i, err)
			}
		}
		before, start := ended.Load(), time.Now()
		if _, _, err := c.Read(ctx); err == nil {
			t.Fatal("an idle tunnel carried a message")
		}
		if waited := time.Since(start); waited < 900*time.Millisecond || ctx.Err() != nil {
			t.Errorf("the idle tunnel closed after %v, want about 1s", waited)
		}
		for deadline := time.Now().Add(3 * time.Second); ended.Load() == before; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the backend's side stayed open")
			}
		}
	})
	t.Run("a client that goes away closes the backend's side", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, _, err := websocket.Dial(ctx, wsURL+"/securechat", nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			t.Fatal(err)
		}
		before := ended.Load()
		c.CloseNow() // no close frame: the TCP connection just ends
		for deadline := time.Now().Add(3 * time.Second); ended.Load() == before; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the backend's side stayed open")
			}
		}
		// Another connection still works.
		c2, _, err := websocket.Dial(ctx, wsURL+"/securechat", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer c2.CloseNow()
		talk(t, c2, `hello path=/socket query= via= key="" proto= own-host=true`)
	})

	t.Run("a frame sent with the handshake is not lost", func(t *testing.T) {
		c, err := net.Dial("tcp", strings.TrimPrefix(e.srv.GatewayURL(), "http://"))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		// The handshake and a masked text frame "hi" (mask 0) in one write.
		io.WriteString(c, fmt.Sprintf(handshake, "/securechat", "")+"\x81\x82\x00\x00\x00\x00hi")
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil || resp.StatusCode != 101 || resp.Header.Get("Sec-Websocket-Accept") != "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" {
			t.Fatalf("%v %v", resp, err)
		}
		var got []string
		for range 2 {
			var head [2]byte
			if _, err := io.ReadFull(br, head[:]); err != nil {
				t.Fatal(err)
			}
			payload := make([]byte, head[1]&0x7f)
			if _, err := io.ReadFull(br, payload); err != nil {
				t.Fatal(err)
			}
			got = append(got, string(payload))
		}
		if got[1] != "echo:hi" {
			t.Errorf("frames %q, want the greeting then echo:hi", got)
		}
	})
}

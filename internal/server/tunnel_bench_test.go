package server_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/coder/websocket"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
)

// BenchmarkWebSocketEcho is one 1 KiB message to a WebSocket backend and its
// echo back, through the gateway's tunnel, on an open connection.
func BenchmarkWebSocketEcho(b *testing.B) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, nil)
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil {
				return
			}
			if c.Write(r.Context(), typ, msg) != nil {
				return
			}
		}
	}))
	b.Cleanup(backend.Close)
	cfgDir := b.TempDir()
	writeFiles(b, cfgDir, map[string]string{
		"apis/ws/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"ws","type":"websocket","serviceUrl":%q,"subscriptionRequired":false}}`, "ws"+strings.TrimPrefix(backend.URL, "http")),
	})
	e := start(b, cfgDir, b.TempDir(), newVerifyingBackend(b, "api://unused"))
	ctx := context.Background()
	c, _, err := websocket.Dial(ctx, "ws"+strings.TrimPrefix(e.srv.GatewayURL(), "http")+"/ws", nil)
	if err != nil {
		b.Fatal(err)
	}
	defer c.CloseNow()
	msg := []byte(strings.Repeat("x", 1024))
	b.SetBytes(int64(len(msg)))
	b.ReportAllocs()
	for b.Loop() {
		if err := c.Write(ctx, websocket.MessageBinary, msg); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.Read(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGRPCUnary is one unary gRPC call through a gRPC API, h2c on both
// sides.
func BenchmarkGRPCUnary(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(srv, grpcBackend{})
	go srv.Serve(ln)
	b.Cleanup(srv.Stop)
	cfgDir := b.TempDir()
	writeFiles(b, cfgDir, map[string]string{
		"apis/tests/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"","type":"grpc","serviceUrl":"grpc://%s","subscriptionRequired":false}}`, ln.Addr()),
	})
	e := start(b, cfgDir, b.TempDir(), newVerifyingBackend(b, "api://unused"))
	conn, err := grpc.NewClient(strings.TrimPrefix(e.srv.GatewayURL(), "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	client := testgrpc.NewTestServiceClient(conn)
	req := &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte("hello")}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := client.UnaryCall(context.Background(), req); err != nil {
			b.Fatal(err)
		}
	}
}

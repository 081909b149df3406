package server_test

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	testgrpc "google.golang.org/grpc/interop/grpc_testing"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/lastmile-gw/lastmile/internal/certfile/certtest"
)

// grpcBackend is gRPC's test service: each response names what the server
// saw, and a request's response status (EchoStatus) is returned as its error.
type grpcBackend struct {
	testgrpc.UnimplementedTestServiceServer
}

func (grpcBackend) UnaryCall(ctx context.Context, req *testgrpc.SimpleRequest) (*testgrpc.SimpleResponse, error) {
	if s := req.GetResponseStatus(); s != nil {
		return nil, grpcstatus.Error(codes.Code(s.GetCode()), s.GetMessage())
	}
	if req.GetFillUsername() { // "who presented which client certificate?"
		who := "nobody"
		if p, ok := peer.FromContext(ctx); ok {
			if ti, ok := p.AuthInfo.(credentials.TLSInfo); ok && len(ti.State.PeerCertificates) > 0 {
				who = ti.State.PeerCertificates[0].Subject.CommonName
			}
		}
		return &testgrpc.SimpleResponse{Username: who}, nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	grpc.SetTrailer(ctx, metadata.Pairs("x-backend-trailer", "done"))
	body := fmt.Sprintf("team=%s key=%q body=%s", strings.Join(md.Get("x-team"), ","), strings.Join(md.Get("ocp-apim-subscription-key"), ","), req.GetPayload().GetBody())
	return &testgrpc.SimpleResponse{Payload: &testgrpc.Payload{Body: []byte(body)}}, nil
}

func (grpcBackend) StreamingOutputCall(req *testgrpc.StreamingOutputCallRequest, s grpc.ServerStreamingServer[testgrpc.StreamingOutputCallResponse]) error {
	for i, p := range req.GetResponseParameters() {
		if err := s.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: []byte(fmt.Sprintf("part %d of %d bytes", i, p.GetSize()))}}); err != nil {
			return err
		}
	}
	return nil
}

func (grpcBackend) FullDuplexCall(s grpc.BidiStreamingServer[testgrpc.StreamingOutputCallRequest, testgrpc.StreamingOutputCallResponse]) error {
	for {
		req, err := s.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := s.Send(&testgrpc.StreamingOutputCallResponse{Payload: &testgrpc.Payload{Body: append([]byte("pong "), req.GetPayload().GetBody()...)}}); err != nil {
			return err
		}
	}
}

// TestGRPC passes a real gRPC client's calls through a gRPC API (h2c from the
// client, h2c to a real gRPC server): unary calls with metadata a policy adds,
// server streaming, full-duplex streaming in lockstep (each response before
// the next request), status codes and trailers from the backend, and the
// gateway's own refusals as gRPC errors.
func TestGRPC(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	testgrpc.RegisterTestServiceServer(srv, grpcBackend{})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)

	// The same service over TLS, for a grpcs backend.
	ca := certtest.NewCA(t, "backend CA")
	tlsLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	tlsSrv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{*ca.Server()}, ClientCAs: ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven})))
	testgrpc.RegisterTestServiceServer(tlsSrv, grpcBackend{})
	go tlsSrv.Serve(tlsLn)
	t.Cleanup(tlsSrv.Stop)

	proxy := newTestProxy(t, "gw", "pw")
	cfgDir := t.TempDir()
	certtest.WriteFile(t, cfgDir, "orders.pem", certtest.PEM(t, ca.Client("orders-client"), false))
	certtest.WriteFile(t, cfgDir, "ca.pem", pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw}))
	writeFiles(t, cfgDir, map[string]string{
		"lastmile.yaml":                                   "backend:\n  caFile: ca.pem\ncertificates:\n  - id: orders-client\n    file: orders.pem\nlimits:\n  bodyGracePeriod: 1s\n",
		"apis/mtls/apiInformation.json":                   fmt.Sprintf(`{"properties":{"path":"mtls","type":"grpc","serviceUrl":"grpcs://%s","subscriptionRequired":false}}`, tlsLn.Addr()),
		"apis/mtls/policy.xml":                            `<policies><inbound><authentication-certificate certificate-id="orders-client" /></inbound><backend><forward-request /></backend><outbound /><on-error /></policies>`,
		"apis/viaproxy/apiInformation.json":               fmt.Sprintf(`{"properties":{"path":"viaproxy","type":"grpc","serviceUrl":"grpcs://%s","subscriptionRequired":false}}`, tlsLn.Addr()),
		"apis/viaproxy/policy.xml":                        `<policies><inbound><proxy url="http://` + proxy.ln.Addr().String() + `" username="gw" password="pw" /></inbound><backend><forward-request /></backend><outbound /><on-error /></policies>`,
		"apis/h2cproxy/apiInformation.json":               fmt.Sprintf(`{"properties":{"path":"h2cproxy","type":"grpc","serviceUrl":"grpc://%s","subscriptionRequired":false}}`, ln.Addr()),
		"apis/h2cproxy/policy.xml":                        `<policies><inbound><proxy url="http://` + proxy.ln.Addr().String() + `" username="gw" password="pw" /></inbound><backend><forward-request /></backend><outbound /><on-error /></policies>`,
		"apis/secure/apiInformation.json":                 fmt.Sprintf(`{"properties":{"path":"secure","type":"grpc","serviceUrl":"grpcs://%s","subscriptionRequired":false}}`, tlsLn.Addr()),
		"apis/tests/apiInformation.json":                  fmt.Sprintf(`{"properties":{"path":"","type":"grpc","serviceUrl":"grpc://%s","subscriptionRequired":true}}`, ln.Addr()),
		"apis/tests/policy.xml":                           `<policies><inbound><base /><set-header name="X-Team" exists-action="override"><value>blue</value></set-header></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
		"subscriptions/team/subscriptionInformation.json": `{"properties":{"scope":"/apis","displayName":"team","state":"active","primaryKey":"team-key"}}`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	conn, err := grpc.NewClient(strings.TrimPrefix(e.srv.GatewayURL(), "http://"), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	client := testgrpc.NewTestServiceClient(conn)
	keyed := func() (context.Context, context.CancelFunc) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		return metadata.AppendToOutgoingContext(ctx, "ocp-apim-subscription-key", "team-key"), cancel
	}

	t.Run("unary", func(t *testing.T) {
		ctx, cancel := keyed()
		defer cancel()
		var trailer metadata.MD
		resp, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte("hello")}}, grpc.Trailer(&trailer))
		if err != nil {
			t.Fatal(err)
		}
		if got, want := string(resp.GetPayload().GetBody()), `team=blue key="" body=hello`; got != want {
			t.Errorf("%s, want %s", got, want)
		}
		if got := trailer.Get("x-backend-trailer"); len(got) != 1 || got[0] != "done" {
			t.Errorf("trailers %v, want the backend's", trailer)
		}
	})
	t.Run("a status from the backend", func(t *testing.T) {
		ctx, cancel := keyed()
		defer cancel()
		_, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{ResponseStatus: &testgrpc.EchoStatus{Code: int32(codes.NotFound), Message: "no such mission"}})
		if s := grpcstatus.Convert(err); s.Code() != codes.NotFound || s.Message() != "no such mission" {
			t.Errorf("%v, want NotFound: no such mission", err)
		}
	})
	t.Run("server streaming", func(t *testing.T) {
		ctx, cancel := keyed()
		defer cancel()
		stream, err := client.StreamingOutputCall(ctx, &testgrpc.StreamingOutputCallRequest{ResponseParameters: []*testgrpc.ResponseParameters{{Size: 1}, {Size: 2}, {Size: 3}}})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for {
			resp, err := stream.Recv()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(resp.GetPayload().GetBody()))
		}
		if strings.Join(got, "|") != "part 0 of 1 bytes|part 1 of 2 bytes|part 2 of 3 bytes" {
			t.Errorf("%q", got)
		}
	})
	t.Run("full duplex in lockstep", func(t *testing.T) {
		ctx, cancel := keyed()
		defer cancel()
		stream, err := client.FullDuplexCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ping := range []string{"one", "two", "three"} {
			if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: []byte(ping)}}); err != nil {
				t.Fatal(err)
			}
			// The answer must come before the stream ends: the gateway
			// streams both ways at once.
			resp, err := stream.Recv()
			if err != nil || string(resp.GetPayload().GetBody()) != "pong "+ping {
				t.Fatalf("%v %v", resp, err)
			}
		}
		stream.CloseSend()
		if _, err := stream.Recv(); err != io.EOF {
			t.Errorf("after CloseSend: %v, want EOF", err)
		}
	})
	t.Run("a client stream that pauses is not cut by limits.minBodyRate", func(t *testing.T) {
		ctx, cancel := keyed()
		defer cancel()
		stream, err := client.FullDuplexCall(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for i, ping := range []string{"before", "after a pause"} {
			if i > 0 {
				time.Sleep(2500 * time.Millisecond) // past the 1 s grace period at any rate
			}
			if err := stream.Send(&testgrpc.StreamingOutputCallRequest{Payload: &testgrpc.Payload{Body: []byte(ping)}}); err != nil {
				t.Fatal(err)
			}
			resp, err := stream.Recv()
			if err != nil || string(resp.GetPayload().GetBody()) != "pong "+ping {
				t.Fatalf("%v %v", resp, err)
			}
		}
		stream.CloseSend()
		if _, err := stream.Recv(); err != io.EOF {
			t.Errorf("after CloseSend: %v, want EOF", err)
		}
	})
	t.Run("no subscription key", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, err := client.UnaryCall(ctx, &testgrpc.SimpleRequest{})
		if s := grpcstatus.Convert(err); s.Code() != codes.Unauthenticated {
			t.Errorf("%v, want Unauthenticated (HTTP 401)", err)
		}
	})
	t.Run("an unimplemented method", func(t *testing.T) {
		ctx, cancel := keyed()
		defer cancel()
		_, err := client.UnimplementedCall(ctx, &testgrpc.Empty{})
		if s := grpcstatus.Convert(err); s.Code() != codes.Unimplemented {
			t.Errorf("%v, want the backend's Unimplemented", err)
		}
	})
	t.Run("a grpcs backend", func(t *testing.T) {
		// The API's path prefixes the service's: a client that knows it
		// (grpc-go takes the authority's path as is) dials it through a
		// connection whose method names carry the prefix.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var resp testgrpc.SimpleResponse
		err := conn.Invoke(ctx, "/secure/grpc.testing.TestService/UnaryCall", &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte("over tls")}}, &resp)
		if err != nil || !strings.HasSuffix(string(resp.GetPayload().GetBody()), "body=over tls") {
			t.Errorf("%v %v", resp.GetPayload(), err)
		}
	})
	t.Run("a client certificate to a grpcs backend", func(t *testing.T) {
		for _, tt := range []struct{ path, want string }{{"/mtls", "orders-client"}, {"/secure", "nobody"}} {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			var resp testgrpc.SimpleResponse
			err := conn.Invoke(ctx, tt.path+"/grpc.testing.TestService/UnaryCall", &testgrpc.SimpleRequest{FillUsername: true}, &resp)
			cancel()
			if err != nil || resp.GetUsername() != tt.want {
				t.Errorf("%s: %q %v, want %q", tt.path, resp.GetUsername(), err, tt.want)
			}
		}
	})
	t.Run("through an HTTP proxy", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		var resp testgrpc.SimpleResponse
		err := conn.Invoke(ctx, "/viaproxy/grpc.testing.TestService/UnaryCall", &testgrpc.SimpleRequest{Payload: &testgrpc.Payload{Body: []byte("via proxy")}}, &resp)
		if err != nil || !strings.HasSuffix(string(resp.GetPayload().GetBody()), "body=via proxy") {
			t.Errorf("%v %v", resp.GetPayload(), err)
		}
		auth := "Basic " + base64.StdEncoding.EncodeToString([]byte("gw:pw"))
		if got := proxy.take(); len(got) != 1 || got[0] != "CONNECT "+tlsLn.Addr().String()+" "+auth {
			t.Errorf("the proxy saw %q", got)
		}
		// h2c cannot be tunnelled: refused, and the proxy sees nothing.
		err = conn.Invoke(ctx, "/h2cproxy/grpc.testing.TestService/UnaryCall", &testgrpc.SimpleRequest{}, &resp)
		if grpcstatus.Code(err) != codes.Unknown && grpcstatus.Code(err) != codes.Internal {
			t.Errorf("h2c through a proxy: %v, want the gateway's 500", err)
		}
		if got := proxy.take(); len(got) != 0 {
			t.Errorf("the proxy saw %q", got)
		}
	})
	t.Run("HTTP/1.1 is refused", func(t *testing.T) {
		req, _ := http.NewRequest("POST", e.srv.GatewayURL()+"/grpc.testing.TestService/UnaryCall", strings.NewReader("x"))
		req.Header.Set("Content-Type", "application/grpc")
		req.Header.Set("Ocp-Apim-Subscription-Key", "team-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 400 || !strings.Contains(string(body), "over HTTP/2") {
			t.Errorf("%d %s", resp.StatusCode, body)
		}
	})
}

package server_test

import (
	"context"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/server"
)

// otlpReceiver is an OTLP trace collector in the test: the real protocol
// (protobuf over HTTP, or gRPC), keeping every span it receives.
type otlpReceiver struct {
	coltracepb.UnimplementedTraceServiceServer
	mu       sync.Mutex
	spans    []*tracepb.Span
	resource []*commonpb.KeyValue
	endpoint string
}

func (rcv *otlpReceiver) Export(_ context.Context, req *coltracepb.ExportTraceServiceRequest) (*coltracepb.ExportTraceServiceResponse, error) {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	for _, rs := range req.ResourceSpans {
		rcv.resource = append(rcv.resource, rs.GetResource().GetAttributes()...)
		for _, ss := range rs.ScopeSpans {
			rcv.spans = append(rcv.spans, ss.Spans...)
		}
	}
	return &coltracepb.ExportTraceServiceResponse{}, nil
}

func (rcv *otlpReceiver) received() []*tracepb.Span {
	rcv.mu.Lock()
	defer rcv.mu.Unlock()
	return slices.Clone(rcv.spans)
}

// newOTLPReceiver starts a collector speaking protocol (grpc or
// http/protobuf) on loopback.
func newOTLPReceiver(t *testing.T, protocol string) *otlpReceiver {
	t.Helper()
	rcv := &otlpReceiver{}
	if protocol == "grpc" {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer()
		coltracepb.RegisterTraceServiceServer(srv, rcv)
		go srv.Serve(ln)
		t.Cleanup(srv.Stop)
		rcv.endpoint = "http://" + ln.Addr().String()
		return rcv
	}
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/v1/traces" || r.Header.Get("Content-Type") != "application/x-protobuf" {
			http.Error(w, "not an OTLP/HTTP trace export", http.StatusNotFound)
			return
		}
		data, _ := io.ReadAll(r.Body)
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(data, &req); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		resp, _ := rcv.Export(r.Context(), &req)
		out, _ := proto.Marshal(resp)
		w.Header().Set("Content-Type", "application/x-protobuf")
		w.Write(out)
	}))
	t.Cleanup(hs.Close)
	rcv.endpoint = hs.URL
	return rcv
}

// tracedConfig is an API whose requests pass validate-jwt,
// authentication-managed-identity and forward-request, with a trace policy.
func tracedConfig(issuer, backend, telemetry string) map[string]string {
	return map[string]string{
		"lastmile.yaml": `identity:
  resources:
    - id: api://orders
      roles: [Orders.Read]
      assignments:
        system: [Orders.Read]
` + telemetry,
		"apis/orders/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"orders","serviceUrl":%q,"subscriptionRequired":true}}`, backend),
		"apis/orders/specification.yaml": `openapi: 3.0.1
info: {title: orders, version: "1"}
paths:
  /{id}:
    get:
      operationId: get-order
      responses: {"200": {description: ok}}
`,
		"apis/orders/policy.xml": `<policies><inbound><base />
			<validate-jwt header-name="Authorization" output-token-variable-name="jwt">
				<openid-config url="` + issuer + `/.well-known/openid-configuration" />
				<audiences><audience>api://orders</audience></audiences>
			</validate-jwt>
			<trace source="orders" severity="information"><message>@("caller " + ((Jwt)context.Variables["jwt"]).Subject)</message></trace>
			<authentication-managed-identity resource="api://orders" />
		</inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`,
		"subscriptions/shop/subscriptionInformation.json": `{"properties":{"scope":"/apis","state":"active","primaryKey":"shop-primary-key","secondaryKey":"shop-secondary-key","allowTracing":true}}`,
	}
}

// serveUntil starts the server and returns a function that shuts it down
// gracefully, as SIGTERM does, and waits for it.
func serveUntil(t *testing.T, cfgDir string, log *slog.Logger) (*server.Server, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s, err := server.New(ctx, server.Options{ConfigDir: cfgDir, StateDir: t.TempDir(),
		Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0", Logger: log, Expr: policies.Expressions})
	if err != nil {
		cancel()
		t.Fatalf("server.New: %v", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	stop := sync.OnceFunc(func() { cancel(); <-done })
	t.Cleanup(stop)
	return s, stop
}

type spanShape struct {
	Name, Parent string
	Kind         tracepb.Span_SpanKind
}

// TestOpenTelemetryTrace sends two requests, each with a W3C traceparent,
// through validate-jwt, authentication-managed-identity and forward-request,
// and reads what arrives at an OTLP collector (gRPC and HTTP/protobuf): one
// trace per request, continuing the client's, with the server span, the
// section spans, the token lookup (issued the first time, from the cache the
// second) and the backend call as children in the right places; the trace
// policy's message as an event; the backend's traceparent naming the
// forward-request span; and no token or key in any attribute.
func TestOpenTelemetryTrace(t *testing.T) {
	for _, protocol := range []string{"http/protobuf", "grpc"} {
		t.Run(protocol, func(t *testing.T) {
			rcv := newOTLPReceiver(t, protocol)
			iss := newTestIssuer(t)
			backend := newVerifyingBackend(t, "api://orders")
			cfgDir := t.TempDir()
			writeFiles(t, cfgDir, tracedConfig(iss.srv.URL, backend.srv.URL, `telemetry:
  traces:
    exporter: otlp
  otlp:
    endpoint: `+rcv.endpoint+`
    protocol: `+protocol+`
`))
			s, stop := serveUntil(t, cfgDir, nil)
			backend.issuer = s.Issuer()

			clientJWT := iss.token(t, "k1", iss.claims("api://orders", time.Hour))
			traceIDs := []string{"4bf92f3577b34da6a3ce929d0e0e4736", "0af7651916cd43dd8448eb211c80319c"}
			const clientSpan = "00f067aa0ba902b7"
			var backendTokens, backendParents []string
			for _, tid := range traceIDs {
				req, _ := http.NewRequest("GET", s.GatewayURL()+"/orders/42", nil)
				req.Header.Set("Authorization", "Bearer "+clientJWT)
				req.Header.Set("Ocp-Apim-Subscription-Key", "shop-primary-key")
				req.Header.Set("Traceparent", "00-"+tid+"-"+clientSpan+"-01")
				req.Header.Set("Tracestate", "vendor=client")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				body, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					t.Fatalf("status %d: %s", resp.StatusCode, body)
				}
				got := backend.last(t)
				if got.Err != "" {
					t.Fatalf("the backend refused the token: %s", got.Err)
				}
				backendTokens = append(backendTokens, strings.TrimPrefix(got.Header.Get("Authorization"), "Bearer "))
				backendParents = append(backendParents, got.Header.Get("Traceparent"))
				if ts := got.Header.Get("Tracestate"); ts != "vendor=client" {
					t.Errorf("backend tracestate %q, want the client's", ts)
				}
			}
			stop() // a graceful shutdown sends what the exporter holds

			byTrace := map[string][]*tracepb.Span{}
			for _, sp := range rcv.received() {
				byTrace[hex.EncodeToString(sp.TraceId)] = append(byTrace[hex.EncodeToString(sp.TraceId)], sp)
			}
			if len(byTrace) != len(traceIDs) {
				t.Fatalf("spans arrived in %d traces, want %d (the clients'): %v", len(byTrace), len(traceIDs), byTrace)
			}
			for i, tid := range traceIDs {
				spans := byTrace[tid]
				names := map[string]string{clientSpan: "(client)"}
				byName := map[string]*tracepb.Span{}
				for _, sp := range spans {
					names[hex.EncodeToString(sp.SpanId)] = sp.Name
					byName[sp.Name] = sp
				}
				var got []spanShape
				for _, sp := range spans {
					parent, ok := names[hex.EncodeToString(sp.ParentSpanId)]
					if !ok {
						parent = "(unknown " + hex.EncodeToString(sp.ParentSpanId) + ")"
					}
					got = append(got, spanShape{sp.Name, parent, sp.Kind})
				}
				want := []spanShape{
					{"GET /orders/{id}", "(client)", tracepb.Span_SPAN_KIND_SERVER},
					{"inbound", "GET /orders/{id}", tracepb.Span_SPAN_KIND_INTERNAL},
					{"managed identity token", "inbound", tracepb.Span_SPAN_KIND_INTERNAL},
					{"backend", "GET /orders/{id}", tracepb.Span_SPAN_KIND_INTERNAL},
					{"forward-request", "backend", tracepb.Span_SPAN_KIND_CLIENT},
				}
				outcome := "hit"
				if i == 0 {
					// The first request waits for the token's issuance.
					want = append(want, spanShape{"token source", "managed identity token", tracepb.Span_SPAN_KIND_INTERNAL})
					outcome = "issued"
				}
				sortShapes(want)
				sortShapes(got)
				if diff := cmp.Diff(want, got); diff != "" {
					t.Errorf("request %d: spans (-want +got):\n%s", i+1, diff)
				}
				if a := attrs(byName["managed identity token"]); a["lastmile.token.outcome"] != outcome || a["lastmile.token.resource"] != "api://orders" {
					t.Errorf("request %d: token span attributes %v, want outcome %s", i+1, a, outcome)
				}
				server := byName["GET /orders/{id}"]
				if a := attrs(server); a["http.response.status_code"] != "200" || a["lastmile.api"] != "orders" ||
					a["lastmile.operation"] != "get-order" || a["lastmile.subscription"] != "shop" || a["http.route"] != "/orders/{id}" {
					t.Errorf("request %d: server span attributes %v", i+1, a)
				}
				if len(server.GetEvents()) != 1 || attrs(&tracepb.Span{Attributes: server.Events[0].Attributes})["lastmile.trace.message"] != "caller alice" {
					t.Errorf("request %d: server span events %v, want the trace policy's message", i+1, server.GetEvents())
				}
				fwd := byName["forward-request"]
				if want := "00-" + tid + "-" + hex.EncodeToString(fwd.GetSpanId()) + "-01"; backendParents[i] != want {
					t.Errorf("request %d: the backend got traceparent %q, want %q (the forward-request span)", i+1, backendParents[i], want)
				}
				if a := attrs(fwd); a["http.response.status_code"] != "200" || a["server.address"] != "127.0.0.1" {
					t.Errorf("request %d: forward-request attributes %v", i+1, a)
				}
			}
			secrets := append([]string{clientJWT, "shop-primary-key", "shop-secondary-key"}, backendTokens...)
			for _, sp := range rcv.received() {
				for _, kv := range allAttributes(sp) {
					v := kv.GetValue().String()
					for _, secret := range secrets {
						if secret != "" && strings.Contains(v, secret) {
							t.Errorf("span %q attribute %s holds a token or key", sp.Name, kv.Key)
						}
					}
					if strings.Contains(v, "eyJ") {
						t.Errorf("span %q attribute %s holds something shaped like a JWT: %s", sp.Name, kv.Key, v)
					}
				}
			}
			rcv.mu.Lock()
			res := attrs(&tracepb.Span{Attributes: rcv.resource})
			rcv.mu.Unlock()
			if res["service.name"] != "lastmile" {
				t.Errorf("resource service.name %q, want lastmile", res["service.name"])
			}
		})
	}
}

func sortShapes(s []spanShape) {
	slices.SortFunc(s, func(a, b spanShape) int { return strings.Compare(a.Name+a.Parent, b.Name+b.Parent) })
}

// attrs are a span's attributes as strings.
func attrs(sp *tracepb.Span) map[string]string {
	out := map[string]string{}
	for _, kv := range sp.GetAttributes() {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			out[kv.Key] = v.GetStringValue()
		default:
			out[kv.Key] = fmt.Sprint(v.GetIntValue())
		}
	}
	return out
}

// allAttributes are a span's attributes and its events'.
func allAttributes(sp *tracepb.Span) []*commonpb.KeyValue {
	out := slices.Clone(sp.Attributes)
	for _, e := range sp.Events {
		out = append(out, e.Attributes...)
	}
	return out
}

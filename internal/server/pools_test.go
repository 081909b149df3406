package server_test

import (
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// members are backends that answer with their name, or with the status their
// script gives for their n-th request (1-based), and count what they get.
type members struct {
	mu   sync.Mutex
	hits map[string]int
	urls map[string]string
}

// script answers a member's n-th request: a status (0 for 200 with the
// member's name) and headers.
type script func(n int) (int, http.Header)

func newMembers(t *testing.T, scripts map[string]script) *members {
	m := &members{hits: map[string]int{}, urls: map[string]string{}}
	for name, sc := range scripts {
		if sc == nil { // refuses connections
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			m.urls[name] = "http://" + ln.Addr().String()
			ln.Close()
			continue
		}
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			m.mu.Lock()
			m.hits[name]++
			n := m.hits[name]
			m.mu.Unlock()
			status, h := sc(n)
			for k, v := range h {
				w.Header()[k] = v
			}
			if status == 0 {
				io.WriteString(w, name)
				return
			}
			w.WriteHeader(status)
		}))
		t.Cleanup(srv.Close)
		m.urls[name] = srv.URL
	}
	return m
}

func (m *members) counts() map[string]int {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]int{}
	for k, v := range m.hits {
		if v > 0 {
			out[k] = v
		}
	}
	return out
}

func ok(int) (int, http.Header) { return 0, nil }

// status answers every request with code.
func status(code int, h http.Header) script { return func(int) (int, http.Header) { return code, h } }

// poolMember is one service of the pool, with its backend's breaker rule JSON
// ("" for none).
type poolMember struct {
	name             string
	priority, weight int
	breaker          string
}

// breaker503 trips on one 5xx for an hour; breakerRefused on one refused
// connection; breaker429 is the AI-Gateway samples' rule.
const (
	breaker503     = `{"failureCondition": {"count": 1, "interval": "PT1M", "statusCodeRanges": [{"min": 500, "max": 599}]}, "tripDuration": "PT1H"}`
	breakerTwo503  = `{"failureCondition": {"count": 2, "interval": "PT1M", "statusCodeRanges": [{"min": 500, "max": 599}]}, "tripDuration": "PT1H"}`
	breakerRefused = `{"failureCondition": {"count": 1, "interval": "PT1M", "errorReasons": ["BackendConnectionFailure"]}, "tripDuration": "PT1H"}`
	breaker429     = `{"failureCondition": {"count": 1, "interval": "PT5M", "errorReasons": ["Server errors"], "statusCodeRanges": [{"min": 429, "max": 429}]}, "tripDuration": "PT1M", "acceptRetryAfter": true}`
)

// poolConfig is an API "llm" whose policy is the AI-Gateway pattern on a
// pool of ms.
func poolConfig(m *members, ms ...poolMember) map[string]string {
	var services []string
	files := map[string]string{
		"apis/llm/apiInformation.json": `{"properties":{"path":"llm","serviceUrl":"http://127.0.0.1:1","subscriptionRequired":false}}`,
		"apis/llm/policy.xml": `<policies>
	<inbound><base /><set-backend-service backend-id="pool" /></inbound>
	<backend>
		<retry count="2" interval="0" first-fast-retry="true" condition="@(context.Response.StatusCode == 429 || context.Response.StatusCode == 503)">
			<set-backend-service backend-id="pool" />
			<forward-request buffer-request-body="true" />
		</retry>
	</backend>
	<outbound><base /></outbound>
	<on-error><base /></on-error>
</policies>`,
	}
	for _, s := range ms {
		services = append(services, fmt.Sprintf(`{"id": "/backends/%s", "priority": %d, "weight": %d}`, s.name, s.priority, s.weight))
		cb := ""
		if s.breaker != "" {
			cb = `, "circuitBreaker": {"rules": [` + s.breaker + `]}`
		}
		files["backends/"+s.name+"/backendInformation.json"] = fmt.Sprintf(`{"properties": {"url": %q, "protocol": "http"%s}}`, m.urls[s.name], cb)
	}
	files["backends/pool/backendInformation.json"] = `{"properties": {"type": "Pool", "pool": {"services": [` + strings.Join(services, ", ") + `]}}}`
	return files
}

// startPool starts a gateway with poolConfig.
func startPool(t *testing.T, m *members, ms ...poolMember) *env {
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, poolConfig(m, ms...))
	return start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "unused"))
}

// calls sends n POSTs and returns the statuses and bodies it got, counted.
func calls(t *testing.T, e *env, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		resp, err := http.Post(e.srv.GatewayURL()+"/llm/chat", "application/json", strings.NewReader(`{"prompt":"hi"}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		got[fmt.Sprint(resp.StatusCode, " ", string(body))]++
	}
	return got
}

// TestPoolFirstMemberFails: a pool of three whose first member fails, by
// refusing connections or by answering 503, serves every request through the
// others; once its breaker trips it gets no more requests.
func TestPoolFirstMemberFails(t *testing.T) {
	for _, tc := range []struct {
		name    string
		first   script
		breaker string
		want    map[string]int // requests the members got
	}{
		// A refused connection sends the request to the next member at once;
		// the breaker that counts BackendConnectionFailure stops the dials.
		{"connection refused", nil, breakerRefused, map[string]int{"b": 15, "c": 15}},
		// Without a breaker, a is dialled at each of its turns, and every
		// request still succeeds.
		{"connection refused without a breaker", nil, "", map[string]int{"b": 15, "c": 15}},
		// 503s: the retry goes to another member; two of them trip a.
		{"503s", status(503, nil), breakerTwo503, map[string]int{"a": 2, "b": 15, "c": 15}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMembers(t, map[string]script{"a": tc.first, "b": ok, "c": ok})
			e := startPool(t, m, poolMember{"a", 1, 1, tc.breaker}, poolMember{"b", 1, 1, ""}, poolMember{"c", 1, 1, ""})
			got := calls(t, e, 30)
			if diff := cmp.Diff(map[string]int{"200 b": 15, "200 c": 15}, got); diff != "" {
				t.Errorf("client got (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tc.want, m.counts()); diff != "" {
				t.Errorf("members got (-want +got):\n%s", diff)
			}
		})
	}
}

// TestPoolPriorityFailover: the priority 2 group gets requests only once
// every member of group 1 is tripped; group 3 none.
func TestPoolPriorityFailover(t *testing.T) {
	m := newMembers(t, map[string]script{
		"a1": status(503, nil),
		"a2": func(n int) (int, http.Header) {
			if n <= 3 {
				return 0, nil
			}
			return 503, nil
		},
		"b": ok, "c": ok,
	})
	e := startPool(t, m, poolMember{"a1", 1, 1, breaker503}, poolMember{"a2", 1, 1, breaker503}, poolMember{"b", 2, 1, ""}, poolMember{"c", 3, 1, ""})
	got := calls(t, e, 10)
	// a1 trips on the first request, which a2 answers; a2 answers the next
	// two and trips on its fourth; b takes the rest.
	if diff := cmp.Diff(map[string]int{"200 a2": 3, "200 b": 7}, got); diff != "" {
		t.Errorf("client got (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"a1": 1, "a2": 4, "b": 7}, m.counts()); diff != "" {
		t.Errorf("members got (-want +got):\n%s", diff)
	}
}

// TestPoolWeights: weights 5, 3 and 2 split 100 sequential requests exactly
// 50/30/20 (smooth weighted round-robin is exact over each cycle of 10).
func TestPoolWeights(t *testing.T) {
	m := newMembers(t, map[string]script{"a": ok, "b": ok, "c": ok})
	e := startPool(t, m, poolMember{"a", 0, 5, ""}, poolMember{"b", 0, 3, ""}, poolMember{"c", 0, 2, ""})
	calls(t, e, 100)
	if diff := cmp.Diff(map[string]int{"a": 50, "b": 30, "c": 20}, m.counts()); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestPoolRetryAfter: a member that answers 429 with Retry-After trips its
// breaker for that long (acceptRetryAfter), the retry serves the client from
// the other member, and later requests do not reach the tripped member. (That
// it closes exactly when Retry-After ends is tested with a fake clock in
// internal/policies.)
func TestPoolRetryAfter(t *testing.T) {
	m := newMembers(t, map[string]script{
		"a": func(n int) (int, http.Header) {
			if n == 1 {
				return 429, http.Header{"Retry-After": {"3600"}}
			}
			return 0, nil
		},
		"b": ok,
	})
	e := startPool(t, m, poolMember{"a", 1, 1, breaker429}, poolMember{"b", 1, 1, breaker429})
	if diff := cmp.Diff(map[string]int{"200 b": 6}, calls(t, e, 6)); diff != "" {
		t.Errorf("client got (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 6}, m.counts()); diff != "" {
		t.Errorf("members got (-want +got):\n%s", diff)
	}
}

// TestPoolAllTripped: when every member is tripped the client gets the
// documented 503, and no member is called until a circuit closes.
func TestPoolAllTripped(t *testing.T) {
	m := newMembers(t, map[string]script{"a": status(503, nil), "b": status(503, nil)})
	e := startPool(t, m, poolMember{"a", 1, 1, breaker503}, poolMember{"b", 1, 1, breaker503})
	for i := range 2 {
		resp, err := http.Post(e.srv.GatewayURL()+"/llm/chat", "application/json", strings.NewReader(`{}`))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		msg := `{"statusCode":503,"message":"Backend pool pool is temporarily unavailable","activityId":"`
		if resp.StatusCode != 503 || !strings.HasPrefix(string(body), msg) || resp.Header.Get("Retry-After") == "" {
			t.Errorf("request %d: %d %s, Retry-After %q; want 503 %s...", i, resp.StatusCode, body, resp.Header.Get("Retry-After"), msg)
		}
	}
	if diff := cmp.Diff(map[string]int{"a": 1, "b": 1}, m.counts()); diff != "" {
		t.Errorf("members got (-want +got):\n%s", diff)
	}
}

// TestSendOneWayRequestThroughServer: the client's answer does not wait for the
// one-way request, which still reaches its target.
func TestSendOneWayRequestThroughServer(t *testing.T) {
	release := make(chan struct{})
	got := make(chan string, 1)
	mirror := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		b, _ := io.ReadAll(r.Body)
		got <- r.Method + " " + r.URL.Path + " " + string(b)
	}))
	defer mirror.Close()
	defer close(release)
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/m/apiInformation.json": `{"properties":{"path":"m","serviceUrl":"http://127.0.0.1:1","subscriptionRequired":false}}`,
		"apis/m/policy.xml": `<policies><inbound>
	<send-one-way-request mode="copy"><set-url>` + mirror.URL + `/copy</set-url></send-one-way-request>
	<return-response><set-status code="202" reason="Accepted" /></return-response>
</inbound></policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "unused"))
	resp, err := http.Post(e.srv.GatewayURL()+"/m/x", "text/plain", strings.NewReader("mirrored"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 202 {
		t.Fatalf("status %d, want 202 while the one-way request is still held", resp.StatusCode)
	}
	select {
	case release <- struct{}{}:
	case <-time.After(30 * time.Second): // a guard against hanging, not a measurement
		t.Fatal("the one-way request never reached the mirror")
	}
	if g := <-got; g != "POST /copy mirrored" {
		t.Errorf("mirror got %q", g)
	}
}

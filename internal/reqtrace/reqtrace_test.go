package reqtrace

import (
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestRedaction records what an attacker would like a trace to leak: a
// secret named value inside a header and an expression, a token a policy
// obtained, a JWT under an innocent name, credential headers, a subscription
// key in the URL. None of them is in the finished trace.
func TestRedaction(t *testing.T) {
	const (
		secret = "nv-s3cret"
		key    = "sub-key-123"
		token  = "opaque-token-value"
		jwt    = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJl"
	)
	r := New(Options{RequestID: "r1", Start: time.Now(), Secrets: []string{secret, key}, Headers: []string{"Ocp-Apim-Subscription-Key"}})
	r.SetRequest("GET", "http://gw/orders?subscription-key="+key, map[string][]string{
		"Authorization": {"Bearer " + jwt}, "Ocp-Apim-Subscription-Key": {key}, "Cookie": {"s=1"}, "X-Plain": {"visible"},
	})
	r.StartPolicy(Policy{Name: "set-header", Section: "inbound"})
	r.Expression(`@("k=`+secret+`")`, "k="+secret)
	r.Data("note", map[string]any{"list": []any{"jwt " + jwt}, "n": 3})
	r.Secret(token)
	r.EndPolicy([]Change{{Target: "request.headers", Name: "X-Token", To: []string{token}}}, nil)
	r.Trace("src", "information", "token is "+token)
	tr := r.Finish(200, map[string][]string{"Set-Cookie": {"a=b"}}, &Error{Source: "x", Message: "bad " + secret})
	data, err := json.Marshal(tr)
	if err != nil {
		t.Fatal(err)
	}
	for _, leak := range []string{secret, key, token, jwt, "s=1", "a=b"} {
		if strings.Contains(string(data), leak) {
			t.Errorf("the trace shows %q:\n%s", leak, data)
		}
	}
	if !strings.Contains(string(data), "visible") {
		t.Errorf("the trace hides a plain header:\n%s", data)
	}
}

// TestBounds: a request that loops cannot grow its trace without bound, and
// a long value is cut.
func TestBounds(t *testing.T) {
	r := New(Options{Start: time.Now()})
	for range MaxEntries + 10 {
		r.StartPolicy(Policy{Name: "retry", Section: "backend"})
		r.Expression("@(x)", strings.Repeat("a", 10*MaxStringBytes))
		r.EndPolicy(nil, nil)
	}
	tr := r.Finish(200, nil, nil)
	if got := len(tr.Entries.Backend); got != MaxEntries || tr.Dropped != 10 {
		t.Errorf("%d entries, %d dropped; want %d and 10", got, tr.Dropped, MaxEntries)
	}
	if v := tr.Entries.Backend[0].Expressions[0].Value; len(v) > MaxStringBytes+20 {
		t.Errorf("a value of %d bytes was kept", len(v))
	}
}

// TestForkedViews: policies that run side by side (wait) each record into
// their own open entry.
func TestForkedViews(t *testing.T) {
	r := New(Options{Start: time.Now()})
	r.Section("inbound")
	r.StartPolicy(Policy{Name: "wait", Section: "inbound"})
	var wg sync.WaitGroup
	for _, name := range []string{"a", "b"} {
		v := r.Fork()
		wg.Go(func() {
			v.StartPolicy(Policy{Name: "send-request", ID: name, Section: "inbound"})
			v.Data("branch", name)
			v.EndPolicy(nil, nil)
		})
	}
	wg.Wait()
	r.EndPolicy(nil, nil)
	tr := r.Finish(200, nil, nil)
	got := map[string]any{}
	for _, e := range tr.Entries.Inbound {
		if e.Source == "send-request" {
			got[e.Policy.ID] = e.Data["branch"]
		}
	}
	if diff := cmp.Diff(map[string]any{"a": "a", "b": "b"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
}

// TestStore: a trace can be read under its id until its time is over; the
// oldest go first when the store is full; ids are 128 random bits.
func TestStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		s := &Store{TTL: time.Minute, Max: 2}
		tr := func(id string) *Trace { return New(Options{RequestID: id, Start: time.Now()}).Finish(200, nil, nil) }
		a, _ := s.Put(tr("a"))
		b, _ := s.Put(tr("b"))
		if len(a) != 32 || a == b {
			t.Fatalf("ids %q %q", a, b)
		}
		if data, ok := s.Get(a); !ok || !strings.Contains(string(data), `"requestId":"a"`) {
			t.Errorf("Get(a) = %s, %v", data, ok)
		}
		c, _ := s.Put(tr("c"))
		if _, ok := s.Get(a); ok {
			t.Error("the oldest trace was kept beyond Max")
		}
		time.Sleep(59 * time.Second)
		if _, ok := s.Get(c); !ok {
			t.Error("a trace expired early")
		}
		time.Sleep(2 * time.Second)
		for _, id := range []string{b, c} {
			if _, ok := s.Get(id); ok {
				t.Errorf("trace %s outlived its TTL", id)
			}
		}
		if _, ok := s.Get("../" + b); ok {
			t.Error("a made-up id was found")
		}
	})
}

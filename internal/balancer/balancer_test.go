package balancer

import (
	"fmt"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
)

var status503 = Outcome{Status: 503}

func TestCountRule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBreaker(Rule{Count: 3, Interval: time.Minute, StatusRanges: []StatusRange{{500, 599}}, TripDuration: 30 * time.Second})
		b.Record(time.Now(), status503)
		time.Sleep(time.Minute) // the first failure leaves the interval
		b.Record(time.Now(), status503)
		b.Record(time.Now(), Outcome{Status: 200})
		b.Record(time.Now(), Outcome{Status: 404})
		if _, tripped := b.Record(time.Now(), status503); tripped {
			t.Fatal("tripped on 2 failures within the interval, want 3")
		}
		time.Sleep(59 * time.Second)
		until, tripped := b.Record(time.Now(), status503)
		if !tripped {
			t.Fatal("not tripped by the third failure within a minute")
		}
		if want := time.Now().Add(30 * time.Second); !until.Equal(want) {
			t.Errorf("open until %v, want %v", until, want)
		}
		// Outcomes of requests sent before the trip do not extend it.
		if _, again := b.Record(time.Now(), status503); again {
			t.Error("a failure while open tripped the breaker again")
		}
		time.Sleep(30*time.Second - time.Nanosecond)
		if _, open := b.Open(time.Now()); !open {
			t.Error("closed before the trip duration ended")
		}
		time.Sleep(time.Nanosecond)
		if _, open := b.Open(time.Now()); open {
			t.Error("still open when the trip duration ended")
		}
		// It closes with nothing counted.
		b.Record(time.Now(), status503)
		b.Record(time.Now(), status503)
		if _, open := b.Open(time.Now()); open {
			t.Error("tripped again on 2 failures after closing")
		}
	})
}

// TestRetryAfter: with acceptRetryAfter, a response that trips the breaker and
// carries Retry-After keeps the circuit open for exactly that long; without
// it, for the trip duration.
func TestRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name   string
		accept bool
		o      Outcome
		want   time.Duration
		trips  bool
	}{
		{"accepted", true, Outcome{Status: 429, RetryAfter: 17 * time.Second, HasRetryAfter: true}, 17 * time.Second, true},
		{"ignored", false, Outcome{Status: 429, RetryAfter: 17 * time.Second, HasRetryAfter: true}, time.Minute, true},
		{"absent", true, Outcome{Status: 429}, time.Minute, true},
		{"capped", true, Outcome{Status: 429, RetryAfter: 1000 * time.Hour, HasRetryAfter: true}, MaxRetryAfter, true},
		{"zero", true, Outcome{Status: 429, HasRetryAfter: true}, 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				b := NewBreaker(Rule{Count: 1, Interval: 5 * time.Minute, StatusRanges: []StatusRange{{429, 429}}, TripDuration: time.Minute, AcceptRetryAfter: tc.accept})
				start := time.Now()
				until, tripped := b.Record(start, tc.o)
				if tripped != tc.trips {
					t.Fatalf("tripped = %v, want %v", tripped, tc.trips)
				}
				if !tc.trips {
					return
				}
				if got := until.Sub(start); got != tc.want {
					t.Errorf("open for %v, want %v", got, tc.want)
				}
				time.Sleep(tc.want - time.Nanosecond)
				if _, open := b.Open(time.Now()); !open {
					t.Errorf("closed 1ns before %v", tc.want)
				}
				time.Sleep(time.Nanosecond)
				if _, open := b.Open(time.Now()); open {
					t.Errorf("open after %v", tc.want)
				}
			})
		})
	}
}

func TestErrorReasons(t *testing.T) {
	b := NewBreaker(Rule{Count: 1, Interval: time.Minute, ErrorReasons: []string{"backendconnectionfailure"}, TripDuration: time.Minute})
	now := time.Now()
	if _, tripped := b.Record(now, Outcome{Reason: "Timeout"}); tripped {
		t.Error("a Timeout tripped a rule that counts only BackendConnectionFailure")
	}
	if _, tripped := b.Record(now, Outcome{Status: 500}); tripped {
		t.Error("a 500 tripped a rule without status code ranges")
	}
	if _, tripped := b.Record(now, Outcome{Reason: "BackendConnectionFailure"}); !tripped {
		t.Error("BackendConnectionFailure did not trip")
	}
}

func TestPercentageRule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := NewBreaker(Rule{Percentage: 50, Interval: 20 * time.Second, StatusRanges: []StatusRange{{500, 599}}, TripDuration: time.Minute})
		// Below MinPercentageRequests, even all failures do not trip.
		for range MinPercentageRequests - 1 {
			if _, tripped := b.Record(time.Now(), status503); tripped {
				t.Fatal("tripped below MinPercentageRequests")
			}
		}
		time.Sleep(20 * time.Second) // all of them leave the interval
		for range 5 {
			b.Record(time.Now(), Outcome{Status: 200})
		}
		for range 4 {
			if _, tripped := b.Record(time.Now(), status503); tripped {
				t.Fatal("tripped at 4 failures of 9")
			}
		}
		if _, tripped := b.Record(time.Now(), Outcome{Status: 200}); tripped {
			t.Fatal("a success tripped the breaker")
		}
		if _, tripped := b.Record(time.Now(), status503); tripped {
			t.Fatal("tripped at 5 failures of 11 (45%)")
		}
		if _, tripped := b.Record(time.Now(), status503); !tripped {
			t.Fatal("not tripped at 6 failures of 12 (50%)")
		}
	})
}

func TestBreakersKeepState(t *testing.T) {
	var s Breakers
	r := Rule{Count: 1, Interval: time.Minute, StatusRanges: []StatusRange{{500, 599}}, TripDuration: time.Minute}
	a := s.Get("a", r)
	a.Record(time.Now(), status503)
	if got := s.Get("a", Rule{Count: 1, Interval: time.Minute, StatusRanges: []StatusRange{{500, 599}}, TripDuration: time.Minute}); got != a {
		t.Error("an unchanged rule got a new breaker")
	}
	r.TripDuration = time.Hour
	if got := s.Get("a", r); got == a {
		t.Error("a changed rule kept its breaker")
	} else if _, open := got.Open(time.Now()); open {
		t.Error("a new breaker is open")
	}
}

// counts selects n times and counts the members chosen.
func counts(p *Pool, n int, exclude Set) map[string]int {
	got := map[string]int{}
	for range n {
		i, _ := p.Select(time.Now(), exclude, 0)
		if i < 0 {
			got["none"]++
			continue
		}
		got[p.Members()[i].ID]++
	}
	return got
}

func TestWeights(t *testing.T) {
	for _, tc := range []struct {
		name    string
		members []Member
		n       int
		want    map[string]int
	}{
		{"round-robin", []Member{{ID: "a"}, {ID: "b"}, {ID: "c"}}, 300, map[string]int{"a": 100, "b": 100, "c": 100}},
		{"weighted", []Member{{ID: "a", Weight: 5}, {ID: "b", Weight: 3}, {ID: "c", Weight: 2}}, 1000, map[string]int{"a": 500, "b": 300, "c": 200}},
		{"weight 0 beside weights", []Member{{ID: "a", Weight: 1}, {ID: "b"}}, 10, map[string]int{"a": 10}},
		{"lower priority unused", []Member{{ID: "a", Priority: 1}, {ID: "b", Priority: 2}}, 10, map[string]int{"a": 10}},
		{"priority 0 first", []Member{{ID: "b", Priority: 2}, {ID: "a"}}, 10, map[string]int{"a": 10}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := counts(NewPool("p", tc.members), tc.n, 0)
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

// TestSmoothOrder: smooth weighted round-robin interleaves the members instead
// of sending a weight's requests in a burst.
func TestSmoothOrder(t *testing.T) {
	p := NewPool("p", []Member{{ID: "a", Weight: 5}, {ID: "b", Weight: 1}, {ID: "c", Weight: 1}})
	var got string
	for range 7 {
		i, _ := p.Select(time.Now(), 0, 0)
		got += p.Members()[i].ID
	}
	if want := "aabacaa"; got != want {
		t.Errorf("order %s, want %s", got, want)
	}
}

func TestFailover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		rule := Rule{Count: 1, Interval: time.Minute, StatusRanges: []StatusRange{{500, 599}}, TripDuration: time.Minute}
		a1, a2, b := NewBreaker(rule), NewBreaker(rule), NewBreaker(rule)
		p := NewPool("p", []Member{{ID: "a1", Priority: 1, Breaker: a1}, {ID: "a2", Priority: 1, Breaker: a2}, {ID: "b", Priority: 2, Breaker: b}, {ID: "c", Priority: 3}})
		a1.Record(time.Now(), status503)
		if diff := cmp.Diff(map[string]int{"a2": 4}, counts(p, 4, 0)); diff != "" {
			t.Errorf("one of group 1 tripped (-want +got):\n%s", diff)
		}
		time.Sleep(time.Second)
		a2.Record(time.Now(), status503)
		if diff := cmp.Diff(map[string]int{"b": 4}, counts(p, 4, 0)); diff != "" {
			t.Errorf("group 1 tripped (-want +got):\n%s", diff)
		}
		if diff := cmp.Diff(map[string]int{"c": 4}, counts(p, 4, Set(0).Add(2))); diff != "" {
			t.Errorf("group 1 tripped, b excluded (-want +got):\n%s", diff)
		}
		i, until := p.Select(time.Now(), Set(0).Add(2).Add(3), 0)
		if i != -1 || !until.Equal(time.Now().Add(59*time.Second)) {
			t.Errorf("nothing left: Select = %d, %v; want -1, when a1 closes (%v)", i, until, time.Now().Add(59*time.Second))
		}
		time.Sleep(59 * time.Second)
		if diff := cmp.Diff(map[string]int{"a1": 4}, counts(p, 4, 0)); diff != "" {
			t.Errorf("a1 closed again (-want +got):\n%s", diff)
		}
	})
}

func TestAvoid(t *testing.T) {
	p := NewPool("p", []Member{{ID: "a", Weight: 9}, {ID: "b", Weight: 1}, {ID: "c", Priority: 1}})
	for range 5 {
		if i, _ := p.Select(time.Now(), 0, Set(0).Add(0)); p.Members()[i].ID != "b" {
			t.Fatalf("chose %s, want b: a is avoided", p.Members()[i].ID)
		}
	}
	// Avoiding every member of the group still uses the group: only a tripped
	// breaker moves requests to a lower priority.
	if i, _ := p.Select(time.Now(), 0, Set(0).Add(0).Add(1)); p.Members()[i].ID == "c" {
		t.Error("avoiding group 0 moved the request to a lower priority")
	}
}

func TestTokens(t *testing.T) {
	p := NewPool("pool", []Member{{ID: "a"}, {ID: "b"}})
	q := NewPool("pool", []Member{{ID: "b"}, {ID: "a"}})
	if p.Token(0) == p.Token(1) || len(p.Token(0)) != 16 {
		t.Fatalf("tokens %q %q", p.Token(0), p.Token(1))
	}
	// The same member has the same token whatever its place, on any instance.
	if got := q.Find(p.Token(0)); got != 1 {
		t.Errorf("Find = %d, want 1", got)
	}
	if got := p.Find("nope"); got != -1 {
		t.Errorf("Find(nope) = %d, want -1", got)
	}
}

func BenchmarkSelect(b *testing.B) {
	for _, n := range []int{3, 30} {
		b.Run(fmt.Sprint(n, " members"), func(b *testing.B) {
			rule := Rule{Count: 5, Interval: time.Minute, StatusRanges: []StatusRange{{500, 599}}, TripDuration: time.Minute}
			var ms []Member
			for i := range n {
				ms = append(ms, Member{ID: fmt.Sprint("m", i), Priority: i % 3, Weight: 1 + i%4, Breaker: NewBreaker(rule)})
			}
			p := NewPool("p", ms)
			now := time.Now()
			b.ReportAllocs()
			for b.Loop() {
				i, _ := p.Select(now, 0, 0)
				ms[i].Breaker.Record(now, Outcome{Status: 200})
			}
		})
	}
}

package policies

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRetryWaitFormula(t *testing.T) {
	s := time.Second
	exp := retrySettings{interval: 10 * s, delta: 10 * s, maxInt: 100 * s, hasDelta: true, hasMax: true}
	tests := []struct {
		name   string
		s      retrySettings
		jitter float64
		want   []time.Duration // for retries 1, 2, ...
	}{
		{"exponential, API Management's example", exp, 1, []time.Duration{10 * s, 20 * s, 40 * s, 80 * s, 100 * s, 100 * s}},
		{"exponential, low jitter", exp, 0.8, []time.Duration{10 * s, 18 * s, 34 * s, 66 * s, 100 * s}},
		{"exponential, high jitter", exp, 1.2, []time.Duration{10 * s, 22 * s, 46 * s, 94 * s, 100 * s}},
		{"exponential, first fast", retrySettings{interval: 1 * s, delta: 1 * s, maxInt: 60 * s, hasDelta: true, hasMax: true, fastOne: true}, 1,
			[]time.Duration{0, 2 * s, 4 * s, 8 * s}},
		{"linear", retrySettings{interval: 5 * s, delta: 2 * s, hasDelta: true}, 1, []time.Duration{5 * s, 7 * s, 9 * s}},
		{"fixed", retrySettings{interval: 3 * s}, 1, []time.Duration{3 * s, 3 * s}},
		{"max-interval caps a large interval", retrySettings{interval: 30 * s, maxInt: 10 * s, hasMax: true}, 1, []time.Duration{10 * s}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []time.Duration
			for n := 1; n <= len(tt.want); n++ {
				got = append(got, tt.s.wait(n, func() float64 { return tt.jitter }).Round(time.Millisecond))
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("waits (-want +got):\n%s", diff)
			}
		})
	}
	t.Run("no overflow at the 50th retry", func(t *testing.T) {
		huge := retrySettings{interval: 1 << 30 * s, delta: 1 << 30 * s, maxInt: 1 << 31 * s, hasDelta: true, hasMax: true}
		if got := huge.wait(50, func() float64 { return 1.2 }); got != 24*time.Hour {
			t.Errorf("wait = %s, want the one-day cap", got)
		}
		lin := retrySettings{interval: 0, delta: 1 << 30 * s, hasDelta: true}
		if got := lin.wait(50, func() float64 { return 1 }); got != 24*time.Hour {
			t.Errorf("linear wait = %s, want the one-day cap", got)
		}
	})
}

func TestRetryJitterRange(t *testing.T) {
	lo, hi := 2.0, 0.0
	for range 10000 {
		j := retryJitter()
		lo, hi = min(lo, j), max(hi, j)
	}
	if lo < 0.8 || hi >= 1.2 || lo > 0.81 || hi < 1.19 {
		t.Errorf("jitter ranged over [%g, %g], want [0.8, 1.2) covered", lo, hi)
	}
}

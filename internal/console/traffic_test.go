package console

import (
	"fmt"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/gateway"
)

func TestLatencyBuckets(t *testing.T) {
	prev := time.Duration(0)
	for i := range latBuckets - 1 {
		up := latUpper(i)
		if up < prev {
			t.Fatalf("latUpper(%d) = %v < latUpper(%d) = %v", i, up, i-1, prev)
		}
		prev = up
	}
	for _, d := range []time.Duration{0, time.Microsecond, 3 * time.Microsecond, 150 * time.Microsecond,
		time.Millisecond, 7 * time.Millisecond, time.Second, 42 * time.Second, time.Hour} {
		i := latIndex(d)
		if up := latUpper(i); up < d {
			t.Errorf("latIndex(%v) = %d, whose upper bound %v is below it", d, i, up)
		}
		if i > 0 && i < latBuckets-1 {
			if low := latUpper(i - 1); d > 0 && float64(low) > float64(d) {
				t.Errorf("latIndex(%v) = %d, but the bucket below ends at %v", d, i, low)
			}
		}
	}
}

func TestTrafficSeries(t *testing.T) {
	tr := NewTraffic()
	now := time.Unix(1_800_000_000, 0)
	for i := range 100 {
		status := 200
		switch {
		case i%10 == 0:
			status = 503
		case i%10 == 1:
			status = 404
		}
		d := time.Millisecond
		if i == 99 {
			d = time.Second // the one slow request: p99 and not p50
		}
		tr.RequestDone(gateway.RequestDone{Start: now.Add(-d), Duration: d, API: "orders", Status: status, Path: fmt.Sprint("/orders/", i)})
	}
	tr.RequestDone(gateway.RequestDone{Start: now.Add(-20 * time.Minute), API: "old", Status: 200}) // outside the window
	got := tr.Series(now)
	if len(got) != 2 {
		t.Fatalf("Series: %d APIs, want 2 (orders and old)", len(got))
	}
	old, orders := got[0], got[1]
	if old.Total.Requests != 0 {
		t.Errorf("a request 20 minutes ago counts in the 10-minute window: %+v", old.Total)
	}
	tot := orders.Total
	if tot.Requests != 100 || tot.Errors5xx != 10 || tot.Errors4xx != 10 {
		t.Errorf("orders totals = %+v, want 100 requests, 10 4xx, 10 5xx", tot)
	}
	if tot.P50Ms < 1 || tot.P50Ms > 1.2 || tot.P99Ms < 1 || tot.P99Ms > 1.2 {
		t.Errorf("p50, p99 = %v, %v ms; want about 1ms for both (one slow request of 100 is the 100th percentile)", tot.P50Ms, tot.P99Ms)
	}
	last := orders.Points[len(orders.Points)-1]
	if last.Requests != 100 || last.PerSecond != 10 {
		t.Errorf("last bucket = %+v, want 100 requests, 10/s", last)
	}
	if len(orders.Points) != numBuckets {
		t.Errorf("%d points, want %d", len(orders.Points), numBuckets)
	}
	if r := tr.Recent(); len(r) != 101 || r[0].API != "old" || r[1].Path != "/orders/99" {
		t.Errorf("Recent: %d requests starting %+v, want 101 newest first", len(r), r[0])
	}
}

func TestTrafficBounds(t *testing.T) {
	tr := NewTraffic()
	now := time.Now()
	for i := range MaxTrackedAPIs + 10 {
		tr.RequestDone(gateway.RequestDone{Start: now, API: fmt.Sprint("api-", i), Status: 200})
	}
	if got := len(tr.Series(now)); got != MaxTrackedAPIs+1 {
		t.Errorf("%d series, want %d and one for the rest", got, MaxTrackedAPIs+1)
	}
	if got := len(tr.Recent()); got != RecentRequests {
		t.Errorf("%d recent requests, want %d", got, RecentRequests)
	}
}

// BenchmarkRequestDone is the data plane's cost of the live traffic view.
func BenchmarkRequestDone(b *testing.B) {
	tr := NewTraffic()
	d := gateway.RequestDone{Start: time.Now(), Duration: 3 * time.Millisecond, API: "orders", Operation: "get", Method: "GET", Path: "/orders/1", Status: 200}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			tr.RequestDone(d)
		}
	})
}

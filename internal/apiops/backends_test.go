package apiops

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestPoolAndCircuitBreaker(t *testing.T) {
	svc, errs, _ := loadTree(t, tree(map[string]*string{
		"backends/pool/backendInformation.json": s(info(`    "type": "Pool"`,
			`    "pool": {"services": [{"id": "/backends/a", "priority": 1, "weight": "3"}, {"id": "/subscriptions/x/resourceGroups/y/providers/Microsoft.ApiManagement/service/z/backends/b", "priority": null, "weight": null}], "sessionAffinity": {"sessionId": {"source": "Cookie", "name": "APIM-Session"}}}`)),
		"backends/a/backendInformation.json": s(info(`    "url": "https://a.internal"`,
			`    "circuitBreaker": {"rules": [{"name": "r", "failureCondition": {"count": "3", "errorReasons": ["Timeout"], "interval": "PT1M", "statusCodeRanges": [{"min": "500", "max": 599}]}, "tripDuration": "PT1H30M", "acceptRetryAfter": true}]}`)),
		"backends/b/backendInformation.json": s(info(`    "url": "https://b.internal"`,
			`    "circuitBreaker": {"rules": [{"failureCondition": {"percentage": 50, "interval": "P1DT0.5S", "statusCodeRanges": [{"min": 429, "max": 429}]}, "tripDuration": "PT10S"}]}`)),
	}))
	if errs != nil {
		t.Fatalf("Load: %s", strings.Join(errs, "\n"))
	}
	wantPool := &BackendPool{
		Services:      []PoolService{{Backend: "a", Priority: 1, Weight: 3}, {Backend: "b"}},
		SessionCookie: "APIM-Session",
	}
	if diff := cmp.Diff(wantPool, svc.Backends["pool"].Pool); diff != "" {
		t.Errorf("pool (-want +got):\n%s", diff)
	}
	if got := svc.Backends["pool"].Type; got != "Pool" {
		t.Errorf("type = %q, want Pool", got)
	}
	wantA := &CircuitBreakerRule{Name: "r", Count: 3, Interval: time.Minute, StatusCodeRanges: []StatusCodeRange{{500, 599}},
		ErrorReasons: []string{"Timeout"}, TripDuration: 90 * time.Minute, AcceptRetryAfter: true}
	if diff := cmp.Diff(wantA, svc.Backends["a"].CircuitBreaker); diff != "" {
		t.Errorf("breaker a (-want +got):\n%s", diff)
	}
	wantB := &CircuitBreakerRule{Percentage: 50, Interval: 24*time.Hour + 500*time.Millisecond, StatusCodeRanges: []StatusCodeRange{{429, 429}}, TripDuration: 10 * time.Second}
	if diff := cmp.Diff(wantB, svc.Backends["b"].CircuitBreaker); diff != "" {
		t.Errorf("breaker b (-want +got):\n%s", diff)
	}
}

func TestPoolAndCircuitBreakerErrors(t *testing.T) {
	backend := func(props ...string) *string { return s(info(props...)) }
	single := backend(`    "url": "https://a.internal"`)
	breaker := func(rule string) *string {
		return backend(`    "url": "https://a.internal"`, `    "circuitBreaker": {"rules": [`+rule+`]}`)
	}
	var members []string
	for i := range 31 {
		members = append(members, fmt.Sprintf(`{"id": "/backends/m%d"}`, i))
	}
	many := strings.Join(members, ", ")
	for _, tc := range []struct {
		name    string
		changes map[string]*string
		want    []string
	}{
		{
			name:    "pool without members",
			changes: map[string]*string{"backends/p/backendInformation.json": backend(`    "type": "Pool"`, `    "pool": {"services": []}`)},
			want:    []string{`backends/p/backendInformation.json:4:26: the pool has no members; list them as "services": [{"id": "/backends/<name>"}]`},
		},
		{
			name:    "type Pool without a pool",
			changes: map[string]*string{"backends/p/backendInformation.json": backend(`    "type": "Pool"`)},
			want:    []string{`backends/p/backendInformation.json:3:13: the backend's type is Pool but it has no "pool"; list its members as "pool": {"services": [{"id": "/backends/<name>"}]}`},
		},
		{
			name:    "a pool of type Single",
			changes: map[string]*string{"backends/p/backendInformation.json": backend(`    "type": "Single"`, `    "pool": {"services": [{"id": "/backends/a"}]}`), "backends/a/backendInformation.json": single},
			want:    []string{`backends/p/backendInformation.json:3:13: the backend has a "pool", so its type must be Pool, not "Single"`},
		},
		{
			name:    "more than 30 members",
			changes: map[string]*string{"backends/p/backendInformation.json": backend(`    "pool": {"services": [` + many + `]}`), "backends/a/backendInformation.json": single},
			want:    []string{`backends/p/backendInformation.json:3:26: the pool has 31 members; a pool has at most 30`},
		},
		{
			name: "bad member fields",
			changes: map[string]*string{
				"backends/p/backendInformation.json": backend(`    "pool": {"services": [{"id": "/backends/a", "priority": 101}, {"weight": 1}, {"id": "/backends/b", "weight": "x"}]}`),
				"backends/a/backendInformation.json": single,
			},
			want: []string{`backends/p/backendInformation.json:3:26: "weight" must be a whole number, not a string`},
		},
		{
			name: "bad member ranges",
			changes: map[string]*string{
				"backends/p/backendInformation.json": backend(`    "pool": {"services": [{"id": "/backends/a", "priority": 101}, {"weight": 1}, {"id": "/backends/b", "weight": -1}]}`),
				"backends/a/backendInformation.json": single,
			},
			want: []string{
				`backends/p/backendInformation.json:3:61: "priority" must be from 0 to 100, not 101`,
				`backends/p/backendInformation.json:3:67: the pool member has no "id"; set it to "/backends/<name>"`,
				`backends/p/backendInformation.json:3:114: "weight" must be from 0 to 100, not -1`,
			},
		},
		{
			name: "nested pool and no member left",
			changes: map[string]*string{
				"backends/p/backendInformation.json": backend(`    "pool": {"services": [{"id": "/backends/q"}, {"id": "/backends/gone"}]}`),
				"backends/q/backendInformation.json": backend(`    "pool": {"services": [{"id": "/backends/a"}]}`),
				"backends/a/backendInformation.json": single,
			},
			want: []string{
				`backends/p/backendInformation.json:3:26: none of the pool's members is a backend in backends/; add them, or remove the pool`,
				`backends/p/backendInformation.json:3:34: pool member "q" is a pool itself; pools cannot be nested: list its members instead`,
			},
		},
		{
			name: "session affinity not by cookie",
			changes: map[string]*string{
				"backends/p/backendInformation.json": backend(`    "pool": {"services": [{"id": "/backends/a"}], "sessionAffinity": {"sessionId": {"source": "Header", "name": "x"}}}`),
				"backends/a/backendInformation.json": single,
			},
			want: []string{`backends/p/backendInformation.json:3:95: sessionId "source" must be "Cookie", not "Header"`},
		},
		{
			name: "session cookie name",
			changes: map[string]*string{
				"backends/p/backendInformation.json": backend(`    "pool": {"services": [{"id": "/backends/a"}], "sessionAffinity": {"sessionId": {"source": "cookie", "name": "a b"}}}`),
				"backends/a/backendInformation.json": single,
			},
			want: []string{`backends/p/backendInformation.json:3:113: sessionId "name" must be a cookie name (letters, digits and !#$%&'*+-.^_|~), not "a b"`},
		},
		{
			name: "a circuit breaker on a pool",
			changes: map[string]*string{
				"backends/p/backendInformation.json": backend(`    "pool": {"services": [{"id": "/backends/a"}]}`, `    "circuitBreaker": {"rules": []}`),
				"backends/a/backendInformation.json": single,
			},
			want: []string{`backends/p/backendInformation.json:4:23: a pool has no circuit breaker of its own: give each member backend its circuit breaker`},
		},
		{
			name:    "no rule",
			changes: map[string]*string{"backends/a/backendInformation.json": backend(`    "url": "https://a"`, `    "circuitBreaker": {"rules": []}`)},
			want:    []string{`backends/a/backendInformation.json:4:33: circuitBreaker has no rules; add one such as {"failureCondition": {"count": 3, "interval": "PT1M", "statusCodeRanges": [{"min": 500, "max": 599}]}, "tripDuration": "PT1M"}`},
		},
		{
			name:    "two rules",
			changes: map[string]*string{"backends/a/backendInformation.json": breaker(`{}, {}`)},
			want:    []string{`backends/a/backendInformation.json:4:38: circuitBreaker has 2 rules; a backend has one circuit breaker rule`},
		},
		{
			name:    "no failure condition",
			changes: map[string]*string{"backends/a/backendInformation.json": breaker(`{"tripDuration": "PT1M"}`)},
			want:    []string{`backends/a/backendInformation.json:4:34: the rule has no "failureCondition"; add one such as {"count": 3, "interval": "PT1M", "statusCodeRanges": [{"min": 500, "max": 599}]}`},
		},
		{
			name: "bad rule",
			changes: map[string]*string{"backends/a/backendInformation.json": breaker(
				`{"failureCondition": {"percentage": 0, "interval": "P1M", "statusCodeRanges": [{"min": 500}, {"min": 599, "max": 500}]}, "tripDuration": "1h"}`)},
			want: []string{
				`backends/a/backendInformation.json:4:70: "percentage" must be from 1 to 100, not 0`,
				`backends/a/backendInformation.json:4:85: "interval": years and months have no fixed length; write "P1M" in days (P30D) or weeks`,
				`backends/a/backendInformation.json:4:113: a status code range needs "min" and "max", such as {"min": 500, "max": 599}`,
				`backends/a/backendInformation.json:4:127: status code range 599-500 is not within 100-599 with min at most max`,
				`backends/a/backendInformation.json:4:171: "tripDuration" must be an ISO 8601 duration such as "PT1M" (one minute) or "P1D" (one day), not "1h"`,
			},
		},
		{
			name: "a rule that counts nothing",
			changes: map[string]*string{"backends/a/backendInformation.json": breaker(
				`{"failureCondition": {"interval": "PT1M"}}`)},
			want: []string{
				`backends/a/backendInformation.json:4:34: "tripDuration" is missing; set it to an ISO 8601 duration such as "PT1M" (one minute)`,
				`backends/a/backendInformation.json:4:55: failureCondition needs "count" (failures) or "percentage" (of the requests) in its interval`,
				`backends/a/backendInformation.json:4:55: the rule counts no failures: add "statusCodeRanges" (such as [{"min": 500, "max": 599}]) or "errorReasons" (such as ["BackendConnectionFailure", "Timeout"])`,
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got, _ := loadTree(t, tree(tc.changes))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("errors (-want +got):\n%s", diff)
			}
		})
	}
}

func TestUnknownErrorReasonWarns(t *testing.T) {
	svc, errs, _ := loadTree(t, tree(map[string]*string{
		"backends/a/backendInformation.json": s(info(`    "url": "https://a"`,
			`    "circuitBreaker": {"rules": [{"failureCondition": {"count": 1, "interval": "PT5M", "errorReasons": ["Server errors", "backendconnectionfailure"], "statusCodeRanges": [{"min": 429, "max": 429}]}, "tripDuration": "PT1M", "acceptRetryAfter": true}]}`)),
	}))
	if errs != nil {
		t.Fatalf("Load: %s", strings.Join(errs, "\n"))
	}
	want := []Warning{{"backends/a/backendInformation.json", `circuit breaker errorReasons "Server errors" never matches: the reasons of a failed forward are BackendConnectionFailure and Timeout`}}
	if diff := cmp.Diff(want, svc.Warnings); diff != "" {
		t.Errorf("warnings (-want +got):\n%s", diff)
	}
}

func TestISODuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"PT1M", time.Minute, true},
		{"P1D", 24 * time.Hour, true},
		{"pt30s", 30 * time.Second, true},
		{"PT0.5S", 500 * time.Millisecond, true},
		{"PT0,25S", 250 * time.Millisecond, true},
		{"P1W", 7 * 24 * time.Hour, true},
		{"P1DT2H3M4S", 26*time.Hour + 3*time.Minute + 4*time.Second, true},
		{"P", 0, false},
		{"PT", 0, false},
		{"P1DT", 0, false},
		{"PT0S", 0, false},
		{"P1Y", 0, false},
		{"PT1H1H", 0, false},
		{"PT1S1M", 0, false},
		{"P1H", 0, false},
		{"PTT1H", 0, false},
		{"PT-1S", 0, false},
		{"P400D", 0, false},
		{"PT1e3S", 0, false},
		{"60", 0, false},
	} {
		got, msg := isoDuration("f", tc.in)
		if (msg == "") != tc.ok || got != tc.want {
			t.Errorf("isoDuration(%q) = %v, %q; want %v, ok %v", tc.in, got, msg, tc.want, tc.ok)
		}
	}
}

// FuzzISODuration: any string gives a duration in (0, a year] or a message,
// never a panic.
func FuzzISODuration(f *testing.F) {
	for _, s := range []string{"PT1M", "P1D", "P1DT12H30M0.5S", "P1W", "PT", "P1Y", "PT1e9S", "P99999999999999999999D", "PT-1S", "PT0,5S"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, msg := isoDuration("f", s)
		if (msg == "") != (d > 0) || d > maxBreakerDuration {
			t.Errorf("isoDuration(%q) = %v, %q", s, d, msg)
		}
	})
}

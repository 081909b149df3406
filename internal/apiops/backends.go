package apiops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/httpfield"
)

// MaxPoolServices is the most members a backend pool may have, as in API
// Management.
const MaxPoolServices = 30

// maxBreakerDuration bounds a circuit breaker's interval and trip duration, far
// beyond any sensible value and far short of overflowing a time.Duration.
const maxBreakerDuration = 365 * 24 * time.Hour

// The shapes of a backend's "pool" and "circuitBreaker" objects. Numbers are
// flexInts because API Management's own ARM examples write them as strings
// ("count": "3").

type poolProps struct {
	Services []struct {
		ID       string   `json:"id"`
		Priority *flexInt `json:"priority"`
		Weight   *flexInt `json:"weight"`
	} `json:"services"`
	SessionAffinity *struct {
		SessionID *struct {
			Source string `json:"source"`
			Name   string `json:"name"`
		} `json:"sessionId"`
	} `json:"sessionAffinity"`
}

type circuitBreakerProps struct {
	Rules []struct {
		Name             string `json:"name"`
		FailureCondition *struct {
			Count            *flexInt `json:"count"`
			Percentage       *flexInt `json:"percentage"`
			Interval         string   `json:"interval"`
			StatusCodeRanges []struct {
				Min *flexInt `json:"min"`
				Max *flexInt `json:"max"`
			} `json:"statusCodeRanges"`
			ErrorReasons []string `json:"errorReasons"`
		} `json:"failureCondition"`
		TripDuration     string `json:"tripDuration"`
		AcceptRetryAfter bool   `json:"acceptRetryAfter"`
	} `json:"rules"`
}

// flexInt is a whole number written as a JSON number or as a string of digits.
type flexInt int

func (n *flexInt) UnmarshalJSON(b []byte) error {
	s := string(bytes.TrimSpace(b))
	kind := "number"
	if strings.HasPrefix(s, `"`) {
		kind = "string"
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		s = strings.TrimSpace(s)
	}
	v, err := strconv.ParseInt(s, 10, 32)
	if err != nil {
		if s == "null" {
			return nil
		}
		return &json.UnmarshalTypeError{Value: kind, Type: reflect.TypeFor[int]()}
	}
	*n = flexInt(v)
	return nil
}

// CircuitBreakerRule is a backend's circuit breaker rule: it trips when Count
// failures, or Percentage percent of the requests, fall within Interval, and
// then stops requests to the backend for TripDuration (or for the backend's
// Retry-After, with AcceptRetryAfter). A failure is a response whose status is
// in StatusCodeRanges, or a forwarding failure whose reason is in ErrorReasons.
type CircuitBreakerRule struct {
	Name             string
	Count            int // 0 when the rule uses Percentage only
	Percentage       int // 0 when the rule uses Count only
	Interval         time.Duration
	StatusCodeRanges []StatusCodeRange
	ErrorReasons     []string
	TripDuration     time.Duration
	AcceptRetryAfter bool
}

// ForwardFailureReasons are the reasons of a forward that got no response,
// which a circuit breaker rule's errorReasons can count.
var ForwardFailureReasons = []string{"BackendConnectionFailure", "Timeout"}

// StatusCodeRange is an inclusive range of HTTP status codes.
type StatusCodeRange struct{ Min, Max int }

// pool reads and checks a backend's "pool" object.
func (l *loader) pool(info *infoFile, p *poolProps) *BackendPool {
	at := func(path ...string) []string { return append([]string{"properties", "pool"}, path...) }
	ok := true
	fail := func(path []string, msg string) {
		l.add(info.errorAt(path, msg))
		ok = false
	}
	out := &BackendPool{}
	switch n := len(p.Services); {
	case n == 0:
		fail(at("services"), `the pool has no members; list them as "services": [{"id": "/backends/<name>"}]`)
	case n > MaxPoolServices:
		fail(at("services"), fmt.Sprintf("the pool has %d members; a pool has at most %d", n, MaxPoolServices))
	}
	seen := map[string]bool{}
	for i, s := range p.Services {
		where := func(field string) []string {
			if field == "" {
				return at("services", strconv.Itoa(i))
			}
			return at("services", strconv.Itoa(i), field)
		}
		name := ""
		if strings.TrimSpace(s.ID) != "" {
			name = lastSegment(s.ID, "backends")
		}
		switch {
		case name == "":
			fail(where(""), `the pool member has no "id"; set it to "/backends/<name>"`)
			continue
		case seen[strings.ToLower(name)]:
			fail(where("id"), fmt.Sprintf("backend %q is in the pool twice", name))
			continue
		}
		seen[strings.ToLower(name)] = true
		ps := PoolService{Backend: name}
		for _, f := range []struct {
			name string
			v    *flexInt
			dst  *int
		}{{"priority", s.Priority, &ps.Priority}, {"weight", s.Weight, &ps.Weight}} {
			if f.v == nil {
				continue
			}
			if *f.v < 0 || *f.v > 100 {
				fail(where(f.name), fmt.Sprintf("%q must be from 0 to 100, not %d", f.name, *f.v))
			}
			*f.dst = int(*f.v)
		}
		out.Services = append(out.Services, ps)
	}
	if a := p.SessionAffinity; a != nil && a.SessionID != nil {
		sid := a.SessionID
		switch {
		case !strings.EqualFold(sid.Source, "Cookie"):
			fail(at("sessionAffinity", "sessionId", "source"), fmt.Sprintf(`sessionId "source" must be "Cookie", not %q`, sid.Source))
		case !validCookieName(sid.Name):
			fail(at("sessionAffinity", "sessionId", "name"), fmt.Sprintf(`sessionId "name" must be a cookie name (letters, digits and !#$%%&'*+-.^_|~), not %q`, sid.Name))
		default:
			out.SessionCookie = sid.Name
		}
	}
	if !ok {
		return nil
	}
	return out
}

// validCookieName reports whether s is an RFC 6265 cookie name (an RFC 9110
// token) of at most 128 characters.
func validCookieName(s string) bool { return len(s) <= 128 && httpfield.ValidName(s) }

// circuitBreaker reads and checks a backend's "circuitBreaker" object.
func (l *loader) circuitBreaker(rel string, info *infoFile, cb *circuitBreakerProps) *CircuitBreakerRule {
	at := func(path ...string) []string { return append([]string{"properties", "circuitBreaker"}, path...) }
	switch len(cb.Rules) {
	case 0:
		l.add(info.errorAt(at("rules"), `circuitBreaker has no rules; add one such as {"failureCondition": {"count": 3, "interval": "PT1M", "statusCodeRanges": [{"min": 500, "max": 599}]}, "tripDuration": "PT1M"}`))
		return nil
	case 1:
	default:
		l.add(info.errorAt(at("rules", "1"), fmt.Sprintf("circuitBreaker has %d rules; a backend has one circuit breaker rule", len(cb.Rules))))
		return nil
	}
	r := cb.Rules[0]
	rule := at("rules", "0")
	in := func(path ...string) []string { return append(append([]string(nil), rule...), path...) }
	ok := true
	fail := func(path []string, msg string) {
		l.add(info.errorAt(path, msg))
		ok = false
	}
	out := &CircuitBreakerRule{Name: r.Name, AcceptRetryAfter: r.AcceptRetryAfter}
	fc := r.FailureCondition
	if fc == nil {
		fail(rule, `the rule has no "failureCondition"; add one such as {"count": 3, "interval": "PT1M", "statusCodeRanges": [{"min": 500, "max": 599}]}`)
		return nil
	}
	cond := func(path ...string) []string { return in(append([]string{"failureCondition"}, path...)...) }
	if fc.Count == nil && fc.Percentage == nil {
		fail(cond(), `failureCondition needs "count" (failures) or "percentage" (of the requests) in its interval`)
	}
	if fc.Count != nil {
		if *fc.Count < 1 || *fc.Count > 100000 {
			fail(cond("count"), fmt.Sprintf(`"count" must be from 1 to 100000, not %d`, *fc.Count))
		}
		out.Count = int(*fc.Count)
	}
	if fc.Percentage != nil {
		if *fc.Percentage < 1 || *fc.Percentage > 100 {
			fail(cond("percentage"), fmt.Sprintf(`"percentage" must be from 1 to 100, not %d`, *fc.Percentage))
		}
		out.Percentage = int(*fc.Percentage)
	}
	if d, msg := isoDuration("interval", fc.Interval); msg != "" {
		fail(cond("interval"), msg)
	} else {
		out.Interval = d
	}
	for i, sr := range fc.StatusCodeRanges {
		where := cond("statusCodeRanges", strconv.Itoa(i))
		if sr.Min == nil || sr.Max == nil {
			fail(where, `a status code range needs "min" and "max", such as {"min": 500, "max": 599}`)
			continue
		}
		lo, hi := int(*sr.Min), int(*sr.Max)
		if lo < 100 || hi > 599 || lo > hi {
			fail(where, fmt.Sprintf("status code range %d-%d is not within 100-599 with min at most max", lo, hi))
			continue
		}
		out.StatusCodeRanges = append(out.StatusCodeRanges, StatusCodeRange{lo, hi})
	}
	for _, reason := range fc.ErrorReasons {
		if reason = strings.TrimSpace(reason); reason == "" {
			continue
		}
		if !slices.ContainsFunc(ForwardFailureReasons, func(r string) bool { return strings.EqualFold(r, reason) }) {
			l.warnf(rel, "circuit breaker errorReasons %q never matches: the reasons of a failed forward are %s", reason, strings.Join(ForwardFailureReasons, " and "))
		}
		out.ErrorReasons = append(out.ErrorReasons, reason)
	}
	if len(out.StatusCodeRanges) == 0 && len(out.ErrorReasons) == 0 && len(fc.StatusCodeRanges) == 0 {
		fail(cond(), `the rule counts no failures: add "statusCodeRanges" (such as [{"min": 500, "max": 599}]) or "errorReasons" (such as ["BackendConnectionFailure", "Timeout"])`)
	}
	if d, msg := isoDuration("tripDuration", r.TripDuration); msg != "" {
		fail(in("tripDuration"), msg)
	} else {
		out.TripDuration = d
	}
	if !ok {
		return nil
	}
	return out
}

// isoDuration parses a positive ISO 8601 duration of days, hours, minutes and
// seconds (P1D, PT1M, PT0.5S, P1DT12H; PnW for weeks). Years and months, whose
// length varies, are refused. It returns a message naming the field when s is
// not one.
func isoDuration(field, s string) (time.Duration, string) {
	bad := fmt.Sprintf("%q must be an ISO 8601 duration such as \"PT1M\" (one minute) or \"P1D\" (one day), not %q", field, s)
	if s == "" {
		return 0, fmt.Sprintf("%q is missing; set it to an ISO 8601 duration such as \"PT1M\" (one minute)", field)
	}
	rest, ok := strings.CutPrefix(strings.ToUpper(strings.TrimSpace(s)), "P")
	if !ok || rest == "" || strings.HasSuffix(rest, "T") {
		return 0, bad
	}
	units := map[byte]float64{'W': 7 * 86400, 'D': 86400}
	timeUnits := map[byte]float64{'H': 3600, 'M': 60, 'S': 1}
	order := "WDTHMS" // each unit at most once, in this order
	var secs float64
	inTime := false
	last := -1
	for rest != "" {
		if rest[0] == 'T' {
			if inTime {
				return 0, bad
			}
			inTime, rest, last = true, rest[1:], strings.IndexByte(order, 'T')
			continue
		}
		i := strings.IndexFunc(rest, func(r rune) bool { return (r < '0' || r > '9') && r != '.' && r != ',' })
		if i <= 0 {
			return 0, bad
		}
		n, err := strconv.ParseFloat(strings.Replace(rest[:i], ",", ".", 1), 64)
		if err != nil {
			return 0, bad
		}
		u := units
		if inTime {
			u = timeUnits
		}
		mult, known := u[rest[i]]
		if !known {
			if !inTime && (rest[i] == 'Y' || rest[i] == 'M') {
				return 0, fmt.Sprintf("%q: years and months have no fixed length; write %q in days (P30D) or weeks", field, s)
			}
			return 0, bad
		}
		k := strings.LastIndexByte(order, rest[i])
		if k <= last {
			return 0, bad
		}
		secs += n * mult
		rest, last = rest[i+1:], k
	}
	if secs <= 0 || math.IsInf(secs, 0) || secs > maxBreakerDuration.Seconds() {
		return 0, fmt.Sprintf("%q must be more than zero and at most a year, not %q", field, s)
	}
	return time.Duration(secs * float64(time.Second)), ""
}

package config

import (
	"time"

	"go.yaml.in/yaml/v4"
)

// Defaults of the store's traffic limit settings.
const (
	DefaultRedisTimeout = 250 * time.Millisecond
	DefaultLeaseTTL     = 30 * time.Second
)

// Failure modes of store.failureMode.
const (
	FailOpen   = "open"   // the request goes through uncounted
	FailClosed = "closed" // the request is refused with 503
)

// FailureMode says, for each kind of traffic limit, what happens to a request
// when the store cannot decide (Redis is down or too slow): FailOpen or
// FailClosed.
type FailureMode struct {
	RateLimit   string // rate-limit, rate-limit-by-key
	Quota       string // quota, quota-by-key
	Concurrency string // limit-concurrency
}

func (d *decoder) decodeFailureMode(n *yaml.Node, f *FailureMode) {
	mode := func(path string, dst *string) func(k, v *yaml.Node) {
		return func(k, v *yaml.Node) {
			v = resolve(v)
			s, ok := d.scalar(v, path, "open or closed")
			if !ok {
				return
			}
			if s != FailOpen && s != FailClosed {
				d.errorf(v, "%s: %q is not a failure mode; use open (let requests through uncounted) or closed (refuse them with 503)", path, s)
				return
			}
			*dst = s
		}
	}
	d.mapping(n, "store.failureMode", []field{
		{"rateLimit", mode("store.failureMode.rateLimit", &f.RateLimit)},
		{"quota", mode("store.failureMode.quota", &f.Quota)},
		{"concurrency", mode("store.failureMode.concurrency", &f.Concurrency)},
	})
}

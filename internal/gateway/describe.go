package gateway

import (
	"maps"
	"slices"
	"time"

	"github.com/lastmile-gw/lastmile/internal/balancer"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/reqtrace"
)

// APIInfo describes one API of a Snapshot as the gateway routes it, for a
// console. Nothing in it is a secret.
type APIInfo struct {
	Info *exchange.API
	// Path is where the API is routed, with a Segment version.
	Path string
	// VersionQuery or VersionHeader name what selects Info.Version in its
	// version set, when it is selected by query or header.
	VersionQuery, VersionHeader string
	KeyRequired                 bool
	// Products contain the API; OpenProduct is the one needing no
	// subscription, if any.
	Products    []*exchange.Product
	OpenProduct string
	// Operations are in matching order: the most specific template first.
	Operations []OperationInfo
}

// OperationInfo describes one operation of an APIInfo.
type OperationInfo struct {
	Info *exchange.Operation
	// Pipelines are the composed pipelines by product id; "" is the request
	// in no product's context.
	Pipelines map[string]*pipeline.Pipeline
}

// BackendInfo is a backend entity (backends/<id>) as the gateway uses it,
// without its credentials.
type BackendInfo struct {
	ID  string
	URL string
	// Breaker is its circuit breaker, or nil.
	Breaker *balancer.Breaker
	// Pool are its members when it is a load-balanced pool.
	Pool []balancer.Member
}

// APIs describes the snapshot's APIs in routing order.
func (s *Snapshot) APIs() []APIInfo {
	out := make([]APIInfo, 0, len(s.apis))
	for _, a := range s.apis {
		if a.unserved {
			continue
		}
		ai := APIInfo{Info: a.info, Path: joinPath(a.prefix), VersionQuery: a.version.query,
			VersionHeader: a.version.header, KeyRequired: a.keyRequired}
		for _, name := range slices.Sorted(maps.Keys(a.products)) {
			ai.Products = append(ai.Products, a.products[name].info)
		}
		if a.openProduct != nil {
			ai.OpenProduct = a.openProduct.name
		}
		for _, op := range a.ops {
			ai.Operations = append(ai.Operations, OperationInfo{Info: op.info, Pipelines: op.pipelines})
		}
		out = append(out, ai)
	}
	return out
}

func joinPath(segs []string) string {
	p := ""
	for i, s := range segs {
		if i > 0 {
			p += "/"
		}
		p += s
	}
	return p
}

// Backends are the snapshot's backend entities, by id.
func (s *Snapshot) Backends() []BackendInfo { return slices.Clone(s.backends) }

// Redact returns str with every value the snapshot holds secret cut out:
// named values marked secret, subscription keys, and anything shaped like a
// JWT (reqtrace.Redact).
func (s *Snapshot) Redact(str string) string { return reqtrace.Redact(str, s.redact) }

// Dir is the configuration folder the snapshot was built from.
func (s *Snapshot) Dir() string { return s.dir }

// RequestObserver is told of every request the data plane answered, for a
// live view of traffic. It runs on the request's goroutine after the
// response was written: it must be cheap and safe for concurrent use.
type RequestObserver interface {
	RequestDone(d RequestDone)
}

// RequestDone is one answered request. Path is the request's path without its
// query string (where a subscription key may travel).
type RequestDone struct {
	Start          time.Time
	Duration       time.Duration
	RequestID      string
	Method, Path   string
	API, Operation string // ids; "" when routing found none
	Status         int    // 499 when the client went away before the answer
	Product        string // id; "" when none
	Subscription   string // id, never a key; "" when none
}

package snapshot

import (
	"maps"
	"slices"

	"github.com/lastmile-gw/lastmile/internal/apiops"
	"github.com/lastmile-gw/lastmile/internal/balancer"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/policies"
)

// backends are the folder's backend entities, as set-backend-service and
// forward-request use them, with their circuit breakers from breakers (which
// keeps a breaker's state across reloads while its rule stays the same).
func backends(svc *apiops.Service, breakers *balancer.Breakers) map[string]policies.Backend {
	out := make(map[string]policies.Backend, len(svc.Backends))
	breakerOf := map[string]*balancer.Breaker{}
	for name, be := range svc.Backends {
		if r := be.CircuitBreaker; r != nil {
			rule := balancer.Rule{Count: r.Count, Percentage: r.Percentage, Interval: r.Interval, ErrorReasons: r.ErrorReasons,
				TripDuration: r.TripDuration, AcceptRetryAfter: r.AcceptRetryAfter}
			for _, sr := range r.StatusCodeRanges {
				rule.StatusRanges = append(rule.StatusRanges, balancer.StatusRange{Min: sr.Min, Max: sr.Max})
			}
			breakerOf[name] = breakers.Get(name, rule)
		}
	}
	for name, be := range svc.Backends {
		pb := policies.Backend{URL: be.URL, Breaker: breakerOf[name]}
		if p := be.Pool; p != nil {
			members := make([]balancer.Member, 0, len(p.Services))
			for _, s := range p.Services {
				members = append(members, balancer.Member{ID: s.Backend, Priority: s.Priority, Weight: s.Weight, Breaker: breakerOf[s.Backend]})
			}
			pb.Pool, pb.SessionCookie = balancer.NewPool(name, members), p.SessionCookie
		}
		if c := be.Credentials; c != nil {
			pb.Header, pb.Query = c.Header, c.Query
			if a := c.Authorization; a != nil {
				pb.AuthScheme, pb.AuthParameter = a.Scheme, a.Parameter
			}
			if mi := c.ManagedIdentity; mi != nil {
				pb.Resource, pb.ClientID = mi.Resource, mi.ClientID
			}
		}
		out[name] = pb
	}
	return out
}

// backendInfo describes the backends for a console, without their
// credentials, by id.
func backendInfo(bes map[string]policies.Backend) []gateway.BackendInfo {
	out := make([]gateway.BackendInfo, 0, len(bes))
	for _, id := range slices.Sorted(maps.Keys(bes)) {
		be := bes[id]
		bi := gateway.BackendInfo{ID: id, URL: be.URL, Breaker: be.Breaker}
		if be.Pool != nil {
			bi.Pool = be.Pool.Members()
		}
		out = append(out, bi)
	}
	return out
}

// backendTLSWarnings name the backends that ask to skip certificate checks,
// which lastmile never does.
func backendTLSWarnings(svc *apiops.Service) []string {
	var out []string
	for _, name := range slices.Sorted(maps.Keys(svc.Backends)) {
		t := svc.Backends[name].TLS
		if t == nil {
			continue
		}
		if (t.ValidateCertificateChain != nil && !*t.ValidateCertificateChain) || (t.ValidateCertificateName != nil && !*t.ValidateCertificateName) {
			out = append(out, "backends/"+name+": tls validation cannot be turned off in lastmile; the backend's certificate is checked (trust a private CA with backend.caFile in lastmile.yaml)")
		}
	}
	return out
}

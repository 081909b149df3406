package snapshot

import (
	"maps"
	"slices"

	"github.com/lastmile-gw/lastmile/internal/apiops"
	"github.com/lastmile-gw/lastmile/internal/policies"
)

// backends are the folder's backend entities, as set-backend-service and
// send-request use them.
func backends(svc *apiops.Service) map[string]policies.Backend {
	out := make(map[string]policies.Backend, len(svc.Backends))
	for name, be := range svc.Backends {
		pb := policies.Backend{URL: be.URL}
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

package gateway

import (
	"context"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
)

// corsPolicy is what the gateway needs of the cors policy (package policies
// implements it). Preflight requests never reach the pipeline: the gateway
// asks the operation's cors policies to answer them. ResponseHeaders gives the
// CORS headers of an actual request that is refused before its pipeline runs.
type corsPolicy interface {
	// Preflight sets x.Response and reports true when the policy answers the
	// preflight; false asks the next cors policy.
	Preflight(ctx context.Context, x *exchange.Exchange) (bool, error)
	// ResponseHeaders puts the CORS headers of an actual request into
	// x.ClientHeaders and reports whether its Origin matched.
	ResponseHeaders(x *exchange.Exchange) (bool, error)
}

// corsStep is a cors policy of an operation's effective inbound section, with
// where it came from for context.LastError.
type corsStep struct {
	policy corsPolicy
	info   *pipeline.StepInfo
}

// corsSteps returns the cors policies that are direct children of p's
// effective inbound section, in order: API Management considers those, and
// only those, for a preflight.
func corsSteps(p *pipeline.Pipeline) []corsStep {
	var out []corsStep
	for _, st := range p.Steps(pipeline.Inbound) {
		if c, ok := st.Policy.(corsPolicy); ok && st.Info != nil && st.Info.Name == "cors" {
			out = append(out, corsStep{policy: c, info: st.Info})
		}
	}
	return out
}

// isPreflight reports whether r is a CORS preflight request as the Fetch
// standard sends it: OPTIONS with Origin and Access-Control-Request-Method.
func isPreflight(r *http.Request) bool {
	return r.Method == http.MethodOptions && len(r.Header["Origin"]) > 0 && len(r.Header["Access-Control-Request-Method"]) > 0
}

// preflight answers a CORS preflight request for API a, running only the cors
// policies of the operation the preflight is about: the backend is not called,
// and no other policy runs (no subscription key is needed). It reports false,
// and writes nothing, when the request is to be handled as any other: an
// operation is defined for OPTIONS on the path, no operation matches the path,
// or the operation has no cors policy.
func (h *Handler) preflight(w http.ResponseWriter, r *http.Request, snap *Snapshot, a *api, rest []string, q url.Values, o *outcome) bool {
	if a.definesOptions(rest, q) {
		return false // API Management: such an operation does its own preflight handling
	}
	var params, raw map[string]string
	// The operation the browser is about to call, else any operation on the path:
	// an API whose specification has only GET /items/{id} still answers the
	// preflight of OPTIONS /items/42.
	// A preflight carries no SOAP action: a SOAP API's preflight finds any
	// operation on the path.
	op := a.operation(r.Header.Get("Access-Control-Request-Method"), "", rest, q, &params, &raw)
	if op == nil {
		params, raw = nil, nil
		op = a.anyOperation(rest, q, &params, &raw)
	}
	if op == nil {
		return false
	}
	// The product context comes from a subscription key when the preflight has a
	// valid one (in the query string: a browser sends no custom header with a
	// preflight); without one, the request has the keyless context.
	key, _ := subscriptionKey(r, q, a)
	prod, sub, _ := snap.authorize(a, key)
	name := ""
	if prod != nil {
		name = prod.name
	}
	steps := op.cors[name]
	if len(steps) == 0 {
		return false
	}
	st := h.getState()
	h.newExchange(st, r, snap, a, op, rest, q, params, o.requestID, o.start)
	x := &st.x
	x.Request.RawParameters = raw
	if prod != nil {
		x.Product = prod.info
	}
	if sub != nil {
		x.Subscription = st.subscription(sub, key)
	}
	ctx := r.Context()
	answered := false
	for _, st := range steps {
		run := pipeline.PolicyFunc(func(ctx context.Context, x *exchange.Exchange) error {
			var err error
			answered, err = st.policy.Preflight(ctx, x)
			return err
		})
		if err := pipeline.RunSteps(ctx, x, []pipeline.Step{{Policy: run, Info: st.info}}); err != nil {
			op.pipelines[name].HandleError(ctx, x, err)
			break
		}
		if answered {
			break
		}
	}
	if x.Response == nil {
		// No cors policy matched and none terminated: API Management's empty 200.
		x.Response = &exchange.Response{StatusCode: http.StatusOK, StatusReason: "OK", Headers: make(http.Header)}
	}
	h.logFailure(x)
	o.sent, o.cut = writeResponse(w, r, x.Response, nil, h.log)
	o.op, o.status, o.x = op.info.ID, x.Response.StatusCode, x
	h.finish(r, o)
	closeBodies(x)
	return true
}

// refusalCORS adds the CORS headers of the keyless context's cors policies to
// a request refused before its pipeline ran (a missing or invalid
// subscription key), so that the browser lets the page read the refusal. The
// first policy whose origin matches applies; a policy that fails to evaluate
// adds nothing, as the refusal must stand as it is.
func refusalCORS(x *exchange.Exchange, steps []corsStep) {
	for _, st := range steps {
		if ok, err := st.policy.ResponseHeaders(x); ok || err != nil {
			return
		}
	}
}

// addClientHeaders adds the exchange's ClientHeaders to the response headers
// dst: each replaces the response's, except Vary, whose names are added to the
// response's.
func addClientHeaders(dst, extra http.Header) {
	for k, v := range extra {
		if k != "Vary" {
			dst[k] = v
			continue
		}
		have := dst[k]
		merged := make([]string, len(have), len(have)+len(v))
		copy(merged, have) // never append to the response's own slice
		for _, name := range v {
			if !varies(have, name) {
				merged = append(merged, name)
			}
		}
		dst[k] = merged
	}
}

// varies reports whether the Vary lines list name (or *).
func varies(lines []string, name string) bool {
	for _, l := range lines {
		for _, n := range strings.Split(l, ",") {
			n = textproto.TrimString(n)
			if n == "*" || strings.EqualFold(n, name) {
				return true
			}
		}
	}
	return false
}

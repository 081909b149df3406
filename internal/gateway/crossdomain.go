package gateway

import (
	"net/http"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
)

// CrossDomainPath is where Flash and Silverlight clients look for the
// cross-domain policy file of a host.
const CrossDomainPath = "/crossdomain.xml"

// crossDomainPolicy is what the gateway needs of the cross-domain policy
// (package policies implements it): the children of the file's root element.
type crossDomainPolicy interface{ CrossDomainPolicy() string }

// crossDomainFile returns the cross-domain policy file that the global policy's
// cross-domain policies describe, or nil when it has none. Several policies
// make one file, their rules in order.
func crossDomainFile(global *pipeline.Pipeline) []byte {
	if global == nil {
		return nil
	}
	var rules []string
	for _, st := range global.Steps(pipeline.Inbound) {
		if p, ok := st.Policy.(crossDomainPolicy); ok {
			rules = append(rules, p.CrossDomainPolicy())
		}
	}
	if rules == nil {
		return nil
	}
	return []byte("<?xml version=\"1.0\"?>\n<cross-domain-policy>\n" + strings.Join(rules, "\n") + "\n</cross-domain-policy>\n")
}

// serveCrossDomain answers GET and HEAD /crossdomain.xml from the global
// cross-domain policy, before any API is looked for: the file is the host's,
// and a catch-all API at the root must not hide it. It reports false, and
// writes nothing, for every other request.
func (h *Handler) serveCrossDomain(w http.ResponseWriter, r *http.Request, snap *Snapshot, o *outcome) bool {
	if snap.crossDomain == nil || r.URL.Path != CrossDomainPath || r.Method != http.MethodGet && r.Method != http.MethodHead {
		return false
	}
	hdr := make(http.Header, 1)
	hdr.Set("Content-Type", "text/x-cross-domain-policy")
	resp := &exchange.Response{StatusCode: http.StatusOK, StatusReason: "OK", Headers: hdr, Body: exchange.NewBytesBody(snap.crossDomain)}
	o.sent, o.cut = writeResponse(w, r, resp, nil, h.log)
	o.status = http.StatusOK
	h.finish(r, o)
	return true
}

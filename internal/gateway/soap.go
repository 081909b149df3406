package gateway

import (
	"mime"
	"net/http"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/httpfield"
)

// soapAction returns the SOAP action of a request to a SOAP API, which picks
// its operation: the SOAPAction header of SOAP 1.1 without its quotes, or the
// action parameter of SOAP 1.2's Content-Type; "" when it has neither.
//
// problem is not "" when the request names its action twice, in two
// SOAPAction headers, two Content-Types or in both places with different
// values, or in a Content-Type that cannot be read: the operation's policies
// would run for one action while the backend may act on another.
func soapAction(h http.Header) (action, problem string) {
	// What the backend will get: the headers the client's Connection names
	// are removed before forwarding, so they do not count here either.
	hop := func(name string) bool { return httpfield.HasToken(h["Connection"], name) }
	var ct string
	switch v := h["Content-Type"]; {
	case hop("content-type"):
	case len(v) > 1:
		return "", "the request has more than one Content-Type header"
	case len(v) == 1:
		lower := strings.ToLower(v[0])
		if strings.Contains(lower, "action*") {
			// RFC 2231's action*= would win here, where most SOAP stacks
			// read the plain action=.
			return "", "the request's Content-Type writes its action parameter in RFC 2231 form (action*=), which SOAP backends do not read; write action=\"...\""
		}
		_, params, err := mime.ParseMediaType(v[0])
		if err != nil && strings.Contains(lower, "action") {
			// A backend might read an action from it that this cannot.
			return "", "the request's Content-Type cannot be read: " + err.Error()
		}
		ct = params["action"]
	}
	v, ok := h["Soapaction"]
	switch {
	case ok && hop("soapaction"):
		return ct, ""
	case !ok:
		return ct, ""
	case len(v) > 1:
		return "", "the request has more than one SOAPAction header"
	}
	action = strings.Trim(strings.TrimSpace(v[0]), `"`)
	if ct != "" && ct != action {
		return "", "the request's SOAPAction header and the action parameter of its Content-Type name different actions"
	}
	return action, ""
}

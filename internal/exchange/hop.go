package exchange

import (
	"net/http"
	"net/textproto"
	"strings"
)

// hopHeaders are the hop-by-hop headers (RFC 9110 section 7.6.1): they describe one
// connection and are never passed on by a proxy.
var hopHeaders = []string{
	"Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
	"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// RemoveHopHeaders deletes the hop-by-hop headers of a message as it was
// received, including those its Connection header names. The gateway applies it
// to what a client or a backend sent, before any policy runs: a header named in
// Connection describes the sender's hop, so a client's "Connection:
// Authorization" removes its own Authorization, never one a policy sets later.
func RemoveHopHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for name := range strings.SplitSeq(f, ",") {
			switch name = textproto.TrimString(name); {
			case name == "":
			case strings.EqualFold(name, "keep-alive"), strings.EqualFold(name, "close"):
				// The usual options, whose canonical names are known: Del
				// would allocate one per request to find them.
				delete(h, canonicalOption(name))
			default:
				h.Del(name)
			}
		}
	}
	RemoveFixedHopHeaders(h)
}

// canonicalOption is the field name of the connection option keep-alive or
// close, in any case.
func canonicalOption(name string) string {
	if len(name) == len("close") {
		return "Close"
	}
	return "Keep-Alive"
}

// RemoveFixedHopHeaders deletes the hop-by-hop headers themselves from a
// message the gateway is about to send, without honouring Connection: what
// remains was put there by the gateway's policies, after the received message's
// hop-by-hop headers were removed.
func RemoveFixedHopHeaders(h http.Header) {
	if len(h) > 2*len(hopHeaders) {
		for _, name := range hopHeaders {
			delete(h, name)
		}
		return
	}
	// A usual message has fewer fields than there are hop-by-hop names, and
	// none of them: looking at each field is cheaper than a delete (a hash)
	// per name, and this runs four times per request.
	for k := range h {
		if IsHopHeader(k) {
			delete(h, k)
		}
	}
}

// IsHopHeader reports whether the canonical name k is a hop-by-hop header
// (one of hopHeaders), which RemoveFixedHopHeaders removes.
func IsHopHeader(k string) bool {
	switch k {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
		"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
		return true
	}
	return false
}

package policies

import (
	"context"
	"errors"
	"math"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/balancer"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/urlpath"
)

// forwardToBackend sends the request to a single backend entity, unless its
// circuit breaker is open, and counts the outcome with the breaker.
func (p *forwardRequestPolicy) forwardToBackend(ctx context.Context, x *exchange.Exchange, id string, b Backend) error {
	if until, open := b.Breaker.Open(time.Now()); open {
		return unavailable("Backend "+id, until)
	}
	err := p.sendWithCredentials(ctx, x, id, &b)
	p.record(x, id, b.Breaker, err)
	return err
}

// forwardToPool sends the request to a member of a load-balanced pool: the
// session's member when the pool has session affinity, the client sent its
// cookie and this request was not sent to it yet, otherwise the one
// balancer.Pool.Select chooses, which skips members whose circuit is open and
// prefers those this request was not sent to yet (a retry goes elsewhere). A
// member the request cannot connect to did not get it, so when the request can
// be sent again the next member is tried at once. When no member is left, the
// request fails with 503.
func (p *forwardRequestPolicy) forwardToPool(ctx context.Context, x *exchange.Exchange, id string, b Backend) error {
	pool := b.Pool
	replayable := x.Request.Body == nil || x.Request.Body.Buffered() || p.opts.BufferRequestBody || p.opts.FollowRedirects
	session := -1
	if b.SessionCookie != "" {
		session = pool.Find(cookieValue(x.Request.Headers, b.SessionCookie))
	}
	for {
		now := time.Now()
		failed, tried := balancer.Set(x.Backend.Failed), balancer.Set(x.Backend.Tried)
		i := session
		if !pool.Available(now, i, failed) || tried.Has(i) {
			// The session's member is unavailable, or already failed this
			// request (a retry): the session moves.
			var until time.Time
			if i, until = pool.Select(now, failed, tried); i < 0 {
				return unavailable("Backend pool "+id, until)
			}
		}
		m := pool.Members()[i]
		mb := p.backends[m.ID]
		base := p.bases[m.ID]
		if base == nil {
			_, perr := parseBaseURL(mb.URL, urlpath.Clean)
			return perr // checked at load for a written backend-id; an expression's pool fails here
		}
		Retarget(x, base)
		x.Backend.Tried = uint32(tried.Add(i))
		err := p.sendWithCredentials(ctx, x, m.ID, &mb)
		p.record(x, m.ID, m.Breaker, err)
		if err != nil && replayable && connectFailed(err) {
			x.Backend.Failed = uint32(failed.Add(i))
			p.logger.DebugContext(ctx, "pool member unreachable; trying another", "request_id", x.RequestID, "pool", id, "backend", m.ID)
			continue // at most once per member: a failed member is never chosen again
		}
		if err == nil && b.SessionCookie != "" && session != i && x.Response != nil {
			c := &http.Cookie{Name: b.SessionCookie, Value: pool.Token(i), Path: "/", HttpOnly: true,
				Secure: x.Request.OriginalURL != nil && x.Request.OriginalURL.Scheme == "https"}
			x.Response.Headers.Add("Set-Cookie", c.String())
		}
		return err
	}
}

// bases parses the backends' URLs once; a URL that does not parse is left
// out (set-backend-service reports it).
func (d Deps) bases() map[string]*url.URL {
	out := make(map[string]*url.URL, len(d.Backends))
	for id, b := range d.Backends {
		if u, err := parseBaseURL(b.URL, urlpath.Clean); err == nil {
			out[id] = u
		}
	}
	return out
}

// sendWithCredentials sends the request with the backend entity's credentials
// added, and takes them out again afterwards: they go to that backend only,
// never to another member a retry chooses, and later policies do not see them.
func (p *forwardRequestPolicy) sendWithCredentials(ctx context.Context, x *exchange.Exchange, id string, b *Backend) error {
	if !b.hasCredentials() {
		return p.send(ctx, x, id)
	}
	h, u, tok := x.Request.Headers, x.Request.URL, x.Backend.Token
	if h == nil {
		h = make(http.Header)
	}
	x.Request.Headers = h.Clone()
	cu := *u
	x.Request.URL = &cu
	err := p.credentials(ctx, x, *b)
	if err == nil {
		err = p.send(ctx, x, id)
	}
	if !setsAuthorization(b) {
		// A policy's token that forward-request replaced after a rejection
		// stays replaced for the next attempt.
		if v, ok := x.Request.Headers["Authorization"]; ok {
			h["Authorization"] = v
		}
		tok = x.Backend.Token
	}
	x.Request.Headers, x.Request.URL, x.Backend.Token = h, u, tok
	return err
}

// setsAuthorization reports whether b puts its own Authorization header on the
// requests sent to it.
func setsAuthorization(b *Backend) bool {
	if b.AuthScheme != "" || b.Resource != "" {
		return true
	}
	for k := range b.Header {
		if textproto.CanonicalMIMEHeaderKey(k) == "Authorization" {
			return true
		}
	}
	return false
}

// record counts how the forward ended with the backend's circuit breaker: the
// backend's status, or the reason it did not answer. Failures that are not the
// backend's (the client went away, its body was bad, no token) do not count.
func (p *forwardRequestPolicy) record(x *exchange.Exchange, id string, br *balancer.Breaker, err error) {
	if br == nil {
		return
	}
	now := time.Now()
	var o balancer.Outcome
	var pe *pipeline.Error
	switch {
	case err == nil || errors.As(err, &pe) && pe.Reason == "BackendErrorStatusCode":
		if x.Response == nil {
			return
		}
		o.Status = x.Response.StatusCode
		o.RetryAfter, o.HasRetryAfter = retryAfter(x.Response.Headers.Get("Retry-After"), now)
	case errors.As(err, &pe) && (pe.Reason == "BackendConnectionFailure" || pe.Reason == "Timeout"):
		o.Reason = pe.Reason
	default:
		return
	}
	if until, tripped := br.Record(now, o); tripped {
		p.logger.Warn("circuit breaker tripped: no requests go to the backend until it closes",
			"backend", id, "until", until.UTC().Format(time.RFC3339), "status", o.Status, "reason", o.Reason)
	}
}

// retryAfter parses a Retry-After value: seconds, or an HTTP date.
func retryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < 0 {
			return 0, false
		}
		return time.Duration(min(n, int64(balancer.MaxRetryAfter/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// connectFailed reports whether err is a forward that could not connect to the
// backend, so that the backend got nothing of the request.
func connectFailed(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// unavailable is the error when a backend's circuit is open, or every member of
// a pool is unavailable: 503, with the reason phrase the AI-Gateway samples'
// retry conditions look for ("Backend pool ... is temporarily unavailable"),
// and Retry-After when a circuit is known to close.
func unavailable(what string, until time.Time) *pipeline.Error {
	msg := what + " is temporarily unavailable"
	e := &pipeline.Error{Source: "forward-request", Reason: "BackendUnavailable", Message: msg, Public: msg, StatusReason: msg, Status: http.StatusServiceUnavailable}
	if !until.IsZero() {
		secs := max(int64(math.Ceil(time.Until(until).Seconds())), 1)
		e.Header = http.Header{"Retry-After": {strconv.FormatInt(secs, 10)}}
	}
	return e
}

// cookieValue returns the value of the request's cookie name, or "".
func cookieValue(h http.Header, name string) string {
	for _, line := range h.Values("Cookie") {
		cs, err := http.ParseCookie(line)
		if err != nil {
			continue
		}
		for _, c := range cs {
			if c.Name == name {
				return c.Value
			}
		}
	}
	return ""
}

package policies

import (
	"bytes"
	"cmp"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// The response cache: cache-lookup in inbound finds a stored response for the
// request and answers with it, skipping the backend; on a miss it leaves its
// key in x.CacheLookup, and cache-store in outbound stores the response there.
// Both use the caches of the cache-*-value policies (pickCache), with keys
// hashed by hashedKey under their own prefix.

// requestCacheHeaders are removed from a request that missed the cache, so
// that the backend answers with a complete response that can be stored, as
// API Management does ("Cache headers listed below were removed from the
// request to prompt the backend service to send back a complete response").
var requestCacheHeaders = []string{"Cache-Control", "Pragma", "If-Modified-Since", "If-None-Match", "If-Unmodified-Since", "If-Match", "If-Range"}

// cacheLookupPolicy is cache-lookup.
type cacheLookupPolicy struct {
	cache         ValueCache
	kind          string
	namespace     string
	log           *slog.Logger
	varyHeaders   []string // canonical names, sorted
	varyQuery     []string // sorted
	varyDeveloper pipeline.Value
	varyGroups    pipeline.Value
	downstream    pipeline.Value // none, private or public
	mustReval     pipeline.Value
	allowPrivate  pipeline.Value
	maxBytes      int
}

// lookupState is what a miss leaves for cache-store in x.CacheLookup.
type lookupState struct {
	cache        ValueCache
	kind         string
	key          string // hashed
	downstream   string // none, private or public
	mustReval    bool
	allowPrivate bool
	maxBytes     int
	log          *slog.Logger
}

func (d *Deps) cacheLookup(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "vary-by-developer", "vary-by-developer-groups", "caching-type", "downstream-caching-type", "must-revalidate", "allow-private-response-caching")
	c.CheckChildren(el, "vary-by-header", "vary-by-query-parameter")
	cache, kind, ok := d.pickCache(c, el)
	p := &cacheLookupPolicy{
		cache: cache, kind: kind, log: d.Logger,
		namespace:     "response:" + d.Cache.Namespace + ":",
		varyDeveloper: c.BoolValue(el, "vary-by-developer", false),
		varyGroups:    c.BoolValue(el, "vary-by-developer-groups", false),
		mustReval:     c.BoolValue(el, "must-revalidate", true),
		allowPrivate:  c.BoolValue(el, "allow-private-response-caching", false),
		downstream:    pipeline.Literal("none"),
		maxBytes:      cmp.Or(d.Cache.MaxValueBytes, DefaultMaxCachedValueBytes),
	}
	if v, present := c.Attr(el, "downstream-caching-type"); present {
		if lit, isLit := v.Literal(); isLit && !validDownstream(lit) {
			c.Report(c.Errorf(el.Attr("downstream-caching-type").Value.Pos(), "downstream-caching-type must be none, private or public, not %q", lit))
		}
		p.downstream = v
	}
	for _, ch := range el.Elements() {
		c.CheckAttrs(ch)
		text := ch.Text()
		if text.IsExpression() {
			c.Report(c.Errorf(text.Pos(), "<%s> does not accept policy expressions; write the names, separated by semicolons", ch.Name))
			continue
		}
		off := 0
		for _, part := range strings.Split(text.String(), ";") {
			start := off
			off += len(part) + 1
			name := strings.TrimSpace(part)
			if name == "" {
				continue
			}
			if ch.Name == "vary-by-header" {
				if !literalHeaderName(c, text.PosAt(start+strings.Index(part, name)), "<vary-by-header>", name) {
					continue
				}
				p.varyHeaders = append(p.varyHeaders, textproto.CanonicalMIMEHeaderKey(name))
			} else {
				p.varyQuery = append(p.varyQuery, name)
			}
		}
	}
	slices.Sort(p.varyHeaders)
	p.varyHeaders = slices.Compact(p.varyHeaders)
	slices.Sort(p.varyQuery)
	p.varyQuery = slices.Compact(p.varyQuery)
	if !ok {
		return nil, nil
	}
	return p, nil
}

func validDownstream(s string) bool {
	switch strings.TrimSpace(s) {
	case "none", "private", "public":
		return true
	}
	return false
}

func (p *cacheLookupPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	x.CacheLookup = nil
	if x.Request.Method != http.MethodGet || x.Request.Headers.Get("Range") != "" {
		// API Management caches GET only; a range is a part of a response that
		// must never be served as the whole.
		return nil
	}
	allowPrivate, err := p.allowPrivate.Bool(x)
	if err != nil {
		return err
	}
	if !allowPrivate && x.Request.Headers.Get("Authorization") != "" {
		return nil
	}
	st := &lookupState{cache: p.cache, kind: p.kind, allowPrivate: allowPrivate, maxBytes: p.maxBytes, log: p.log}
	if st.downstream, err = p.downstream.String(x); err != nil {
		return err
	}
	st.downstream = strings.TrimSpace(st.downstream)
	if !validDownstream(st.downstream) {
		return &pipeline.Error{Reason: "InvalidDownstreamCachingType", Message: "cache-lookup downstream-caching-type must be none, private or public, not " + strconv.Quote(st.downstream)}
	}
	if st.mustReval, err = p.mustReval.Bool(x); err != nil {
		return err
	}
	key, err := p.key(x)
	if err != nil {
		return err
	}
	st.key = hashedKey(p.namespace, key)

	data, hit, err := p.cache.Get(ctx, st.key)
	if err != nil {
		// The cache is an optimisation: one that is down is a miss.
		p.log.LogAttrs(ctx, slog.LevelWarn, "cache lookup failed; treating it as a miss", slog.String("policy", "cache-lookup"),
			slog.String("cache", p.kind), slog.String("requestId", x.RequestID), slog.String("error", err.Error()))
		hit = false
	}
	if hit {
		e, err := decodeCachedResponse(data)
		if err != nil {
			p.log.LogAttrs(ctx, slog.LevelWarn, "cached response unreadable; treating it as a miss", slog.String("policy", "cache-lookup"),
				slog.String("cache", p.kind), slog.String("requestId", x.RequestID), slog.String("error", err.Error()))
		} else if !e.Stored.IsZero() && acceptsEncoding(x.Request.Headers, e.Headers.Get("Content-Encoding")) {
			// An entry a gateway from before Age stored has no time of
			// storing: it is a miss, and is stored again.
			x.Response = &exchange.Response{StatusCode: e.Status, StatusReason: e.Reason, Headers: e.Headers, Body: exchange.NewBytesBody(e.body)}
			x.Response.Headers.Set("Age", strconv.FormatInt(e.age(time.Now()), 10))
			setDownstream(x.Response.Headers, st.downstream, st.mustReval, e.Expires.Sub(e.Stored))
			x.Report.Cache = "hit"
			x.Recorder.Data("cache", "hit")
			return pipeline.ErrSkipToOutbound
		}
	}
	for _, h := range requestCacheHeaders {
		x.Request.Headers.Del(h)
	}
	x.CacheLookup = st
	x.Report.Cache = "miss"
	x.Recorder.Data("cache", "miss")
	return nil
}

// key is what the response depends on: the operation in its API, revision and
// product, the path the client called, and what the policy varies by. Fields
// are separated by a zero byte, which no header, path or query value holds
// (the HTTP server refuses it), and each list is in a fixed order.
func (p *cacheLookupPolicy) key(x *exchange.Exchange) (string, error) {
	var b strings.Builder
	field := func(s string) { b.WriteString(s); b.WriteByte(0) }
	if x.API != nil {
		field(x.API.ID)
		field(x.API.Revision)
	}
	if x.Operation != nil {
		field(x.Operation.ID)
	}
	if x.Product != nil {
		field(x.Product.ID)
	} else {
		field("")
	}
	if x.Request.OriginalURL != nil {
		field(x.Request.OriginalURL.EscapedPath())
	}
	if len(p.varyQuery) > 0 && x.Request.OriginalURL != nil {
		q := x.Request.OriginalURL.Query()
		for _, name := range p.varyQuery {
			field("q:" + name)
			for _, v := range q[name] {
				field(v)
			}
		}
	}
	for _, name := range p.varyHeaders {
		field("h:" + name)
		for _, v := range x.Request.Headers[name] {
			field(v)
		}
	}
	// lastmile has no developer accounts: a subscription stands for its
	// developer, and for the developer's groups, which keeps apart every pair
	// of callers that API Management keeps apart.
	for _, v := range []pipeline.Value{p.varyDeveloper, p.varyGroups} {
		on, err := v.Bool(x)
		if err != nil {
			return "", err
		}
		if on {
			field("d:" + developer(x))
		}
	}
	return b.String(), nil
}

func developer(x *exchange.Exchange) string {
	switch {
	case x.User != nil:
		return "user:" + x.User.ID
	case x.Subscription != nil:
		return "subscription:" + x.Subscription.ID
	}
	return ""
}

// acceptsEncoding reports whether a client that sent h accepts a body with the
// content coding enc ("" or identity always).
func acceptsEncoding(h http.Header, enc string) bool {
	enc = strings.ToLower(strings.TrimSpace(enc))
	if enc == "" || enc == "identity" {
		return true
	}
	for _, v := range h.Values("Accept-Encoding") {
		for _, part := range strings.Split(v, ",") {
			name, params, _ := strings.Cut(part, ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name != enc && name != "*" {
				continue
			}
			if q, ok := strings.CutPrefix(strings.ReplaceAll(strings.TrimSpace(params), " ", ""), "q="); ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
					return false
				}
			}
			return true
		}
	}
	return false
}

// setDownstream sets the Cache-Control the client sees when downstream caching
// is allowed: private or public, for as long as the gateway keeps the response
// (cache-store's duration, on a hit too). With none the response's own
// Cache-Control is left as it is.
//
// A hit keeps the response as stored, its Date too, and says how old it is in
// Age, as RFC 9111 has every cache do (§4, §5.1): a downstream cache takes its
// age from Age (or from Date, whichever is older, §4.2.3) and counts it
// against max-age once. The alternative, a max-age reduced to what is left,
// would need a new Date, and would lose a backend's own max-age's meaning
// when downstream-caching-type is none.
func setDownstream(h http.Header, downstream string, mustReval bool, ttl time.Duration) {
	if downstream == "none" {
		return
	}
	v := downstream + ", max-age=" + strconv.FormatInt(max(int64(ttl/time.Second), 0), 10)
	if mustReval {
		v += ", must-revalidate"
	}
	h.Set("Cache-Control", v)
}

// cacheStorePolicy is cache-store.
type cacheStorePolicy struct {
	duration      pipeline.Value
	cacheResponse pipeline.Value
}

func (d *Deps) cacheStore(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "duration", "cache-response")
	c.CheckChildren(el)
	duration, ok, err := durationAttr(c, el)
	if err != nil {
		return nil, err
	}
	// On a cache hit, outbound resumes after this policy: the cached response
	// already had what the policies before it did.
	c.MarkResumePoint()
	if !ok {
		return nil, nil
	}
	return &cacheStorePolicy{duration: duration, cacheResponse: c.BoolValue(el, "cache-response", false)}, nil
}

func (p *cacheStorePolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	st, _ := x.CacheLookup.(*lookupState)
	if st == nil || x.Response == nil {
		return nil // no cache-lookup ran for this request, or it did not apply
	}
	x.CacheLookup = nil // one response, stored once
	all, err := p.cacheResponse.Bool(x)
	if err != nil {
		return err
	}
	if !all && x.Response.StatusCode != http.StatusOK {
		return nil
	}
	ds, err := p.duration.String(x)
	if err != nil {
		return err
	}
	secs, err := parseDuration(ds)
	if err != nil {
		return &pipeline.Error{Reason: ReasonInvalidCacheDuration, Message: "cache-store duration " + err.Error()}
	}
	if secs < 1 || !storable(x.Response.Headers, st.allowPrivate) {
		return nil
	}
	ttl := time.Duration(secs) * time.Second
	now := time.Now()
	e := cachedResponse{Status: x.Response.StatusCode, Reason: x.Response.StatusReason, Headers: x.Response.Headers.Clone(), Stored: now, Expires: now.Add(ttl)}
	e.Headers.Del("Content-Length") // the gateway writes the body's own
	if e.Headers == nil {
		e.Headers = http.Header{}
	}
	body := x.Response.Body
	if body == nil {
		body = exchange.NewBytesBody(nil)
		x.Response.Body = body
	}
	if n := body.Len(); n > int64(st.maxBytes) {
		return nil // too large to cache: sent on as it streams
	}
	if body.Buffered() {
		data, err := body.Bytes(true)
		if err != nil {
			return nil // consumed by a policy: nothing to store
		}
		e.body = data
		st.store(ctx, x, e, ttl)
	} else {
		// Stored once the body has gone through whole, as it is read anyway:
		// by the gateway sending it on, or by a later policy buffering it.
		sctx := context.WithoutCancel(ctx)
		body.WrapStream(func(r io.ReadCloser) io.ReadCloser {
			return &cacheTee{r: r, max: st.maxBytes, bufs: &x.Buffers, done: func(data []byte) {
				e.body = data
				st.store(sctx, x, e, ttl)
			}}
		})
	}
	setDownstream(x.Response.Headers, st.downstream, st.mustReval, ttl)
	return nil
}

// storable reports whether a response with headers h may be kept in a cache
// that serves other callers: not when the backend forbids it (no-store), nor
// when it is one caller's (private, a cookie being set) unless the policy
// allows private responses, nor when it varies by everything (Vary: *).
func storable(h http.Header, allowPrivate bool) bool {
	for _, v := range h.Values("Cache-Control") {
		for _, d := range strings.Split(v, ",") {
			name, _, _ := strings.Cut(strings.TrimSpace(d), "=")
			switch strings.ToLower(strings.TrimSpace(name)) {
			case "no-store":
				return false
			case "private":
				if !allowPrivate {
					return false
				}
			}
		}
	}
	if !allowPrivate && len(h.Values("Set-Cookie")) > 0 {
		return false
	}
	for _, v := range h.Values("Vary") {
		if strings.TrimSpace(v) == "*" {
			return false
		}
	}
	return true
}

// store writes e under the lookup's key; a cache that fails is logged, not an
// error, as for cache-store-value.
func (st *lookupState) store(ctx context.Context, x *exchange.Exchange, e cachedResponse, ttl time.Duration) {
	data, err := e.encode()
	if err == nil && len(data) > st.maxBytes {
		return
	}
	if err == nil {
		err = st.cache.Set(ctx, st.key, data, ttl)
	}
	if err != nil {
		st.log.LogAttrs(ctx, slog.LevelWarn, "cache store failed", slog.String("policy", "cache-store"),
			slog.String("cache", st.kind), slog.String("requestId", x.RequestID), slog.String("error", err.Error()))
	}
}

// cacheTee copies a body as it is read, up to max bytes, and hands the copy to
// done when the body ends; a body that grows past max, that fails or that is
// closed early is not handed over. The copy is charged to the request's
// buffers; when they are full, the body is not cached.
type cacheTee struct {
	r     io.ReadCloser
	buf   []byte
	max   int
	bufs  *exchange.Buffers
	over  bool
	ended bool
	done  func([]byte)
}

func (t *cacheTee) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	if !t.over && n > 0 {
		if len(t.buf)+n > t.max {
			t.over, t.buf = true, nil
		} else {
			if len(t.buf)+n > cap(t.buf) {
				grow := min(max(2*cap(t.buf), len(t.buf)+n, 4096), t.max)
				if t.bufs.Take(int64(grow-cap(t.buf))) != nil {
					t.over, t.buf = true, nil
				} else {
					t.buf = append(make([]byte, 0, grow), t.buf...)
				}
			}
			if !t.over {
				t.buf = append(t.buf, p[:n]...)
			}
		}
	}
	if err == io.EOF && !t.ended {
		t.ended = true
		if !t.over {
			t.done(t.buf)
		}
	}
	return n, err
}

func (t *cacheTee) Close() error { return t.r.Close() }

// cachedResponse is a stored response. It is stored as a magic prefix, the
// length of a JSON head, the head (status, reason, headers, expiry) and the
// body as it is, so that a hit serves the body from the stored bytes without
// decoding or copying it.
type cachedResponse struct {
	Status  int         `json:"s"`
	Reason  string      `json:"r,omitempty"`
	Headers http.Header `json:"h"`
	Expires time.Time   `json:"e"`
	// Stored is when it was stored; zero in what gateways before Age stored.
	Stored time.Time `json:"t,omitzero"`
	body   []byte
}

// age is the response's current age at now in whole seconds (RFC 9111
// §4.2.3): the Age it had when stored, if it had one, and the time it has
// been stored.
func (e *cachedResponse) age(now time.Time) int64 {
	initial, err := strconv.ParseInt(strings.TrimSpace(e.Headers.Get("Age")), 10, 64)
	if err != nil || initial < 0 {
		initial = 0
	}
	// An age past 2^31 seconds is sent as 2^31 (§1.2.2).
	return min(initial, 1<<31) + max(int64(now.Sub(e.Stored)/time.Second), 0)
}

const responseMagic = "lmresp1\n"

func (e *cachedResponse) encode() ([]byte, error) {
	head, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(responseMagic)+4+len(head)+len(e.body))
	out = append(out, responseMagic...)
	out = binary.BigEndian.AppendUint32(out, uint32(len(head)))
	out = append(out, head...)
	return append(out, e.body...), nil
}

func decodeCachedResponse(data []byte) (cachedResponse, error) {
	var e cachedResponse
	rest, ok := bytes.CutPrefix(data, []byte(responseMagic))
	if !ok || len(rest) < 4 {
		return e, errors.New("not a cached response")
	}
	n := binary.BigEndian.Uint32(rest)
	rest = rest[4:]
	if uint64(n) > uint64(len(rest)) {
		return e, errors.New("cached response truncated")
	}
	if err := json.Unmarshal(rest[:n], &e); err != nil {
		return e, fmt.Errorf("cached response head: %w", err)
	}
	if e.Status < 100 || e.Status > 999 {
		return e, fmt.Errorf("cached response has status %d", e.Status)
	}
	if e.Headers == nil {
		e.Headers = http.Header{}
	}
	e.body = rest[n:]
	return e, nil
}

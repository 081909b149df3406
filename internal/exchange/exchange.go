// Package exchange holds the state of one request as it moves through the policy
// pipeline: what API Management policy expressions call `context`.
//
// Policies change an Exchange; policy expressions read it. The pipeline creates one
// per request and it is used by one goroutine at a time, so it has no locks.
package exchange

import (
	"crypto/tls"
	"crypto/x509"
	"maps"
	"net/http"
	"net/url"
	"reflect"
	"time"

	"github.com/lastmile-gw/lastmile/internal/apispec"
	"github.com/lastmile-gw/lastmile/internal/graphql"
	"github.com/lastmile-gw/lastmile/internal/reqtrace"
)

// Exchange is the per-request state, the `context` of API Management expressions.
type Exchange struct {
	// RequestID is context.RequestId, a random GUID in its canonical lower-case form.
	RequestID string
	// Timestamp is when the gateway received the request (context.Timestamp);
	// context.Elapsed is measured from it.
	Timestamp time.Time

	Request Request
	// Response is nil until the backend answers or a policy (return-response,
	// set-status, an error) creates one.
	Response *Response

	// Variables are context.Variables: set-variable and other policies store values
	// here. Values are Go values chosen by the expression package (string, bool,
	// int32, int64, float64, time.Time, JSON values, *Response, ...).
	Variables map[string]any

	API          *API
	Operation    *Operation
	Product      *Product      // nil when the request has no product context
	Subscription *Subscription // nil when no subscription key was used
	User         *User         // nil: lastmile has no developer-portal users
	Deployment   *Deployment

	// LastError is set when a policy fails, before on-error runs.
	LastError *LastError

	// Tracing is context.Tracing; Trace receives context.Trace(message) calls,
	// and must be safe for concurrent use (wait runs policies concurrently).
	// Both are set when the request is traced: for its developer (Recorder),
	// or by OpenTelemetry, where the messages become span events.
	Tracing bool
	// finished says Done has run (hooks.go). It sits here, in the padding
	// after Tracing, to keep the gateway's exchange allocation in a smaller
	// size class.
	finished bool
	// WebSocket says the request is the handshake of a WebSocket API, which
	// forward-request upgrades and the gateway then tunnels. Gateway state,
	// in the same padding.
	WebSocket bool
	// GRPC says the request is a gRPC call to a gRPC API, which
	// forward-request sends over HTTP/2 with its trailers. Gateway state, in
	// the same padding.
	GRPC  bool
	Trace func(source, severity, message string)

	// Recorder records the request's step-by-step trace for its developer
	// (Ocp-Apim-Trace); nil when nobody asked for one. Policies add what
	// they decided with its Data and Append methods. Gateway state, not part
	// of the expression `context`.
	Recorder *reqtrace.Recorder

	// Report is what the access log says about the request besides its
	// response, filled in by policies as they run. Gateway state, not part
	// of the expression `context`.
	Report Report

	// Backend is where forward-request sends the request. It is gateway state,
	// not part of the expression `context`.
	Backend Backend

	// ClientHeaders are added to the response the client receives, whatever
	// produced it: the backend, return-response, an error or on-error. The cors
	// policy puts its headers here, so that a browser can read every answer,
	// and so that a stored response never keeps one origin's headers for
	// another. A header here replaces the response's, except Vary, which is
	// merged. Gateway state, not part of the expression `context`.
	ClientHeaders http.Header

	// CacheLookup is what cache-lookup leaves for cache-store on a miss: where
	// and how to store the response. Package policies owns its type; nil when
	// cache-lookup did not run or did not apply to the request.
	CacheLookup any

	// LLM is what the llm-* policies of a request share: its parsed prompt,
	// and the token usage of the model's answer. Package policies owns its
	// type; nil when no such policy ran.
	LLM any
	// SemanticCacheLookup is what llm-semantic-cache-lookup leaves for
	// llm-semantic-cache-store on a miss (the prompt's embedding and its
	// partition), apart from CacheLookup so that both caches can be used on
	// one request. Package policies owns its type.
	SemanticCacheLookup any

	// Buffers is what the request's bodies may buffer: each at most a limit,
	// all requests together within the gateway's budget. The gateway releases
	// it when the request ends.
	Buffers Buffers

	hooks *hooks // Defer, OnDone and Mark (hooks.go); made on first use

	// own holds the client's request body and the first backend response in
	// the exchange itself (SetRequestStream, NewStreamResponse): a gateway
	// that reuses exchanges then allocates neither.
	own struct {
		reqBody  Body
		resp     Response
		respBody Body
		respUsed bool
	}
}

// Report is what the access log says about a request besides its response.
type Report struct {
	// BackendTime is how long forward-request waited for the backend's
	// response headers, every attempt together; BackendTries counts the
	// attempts.
	BackendTime  time.Duration
	BackendTries int
	// Cache is what cache-lookup found: "hit", "miss", or "" when it did not
	// look.
	Cache string
	// Token is how the last managed identity token was obtained: "hit",
	// "refresh", "outage", "issued" (see identity.Outcome), "error", or ""
	// when no policy asked for one.
	Token string
}

// join adds what a view (Fork), which starts with an empty Report, found.
func (r *Report) join(v Report) {
	r.BackendTime += v.BackendTime
	r.BackendTries += v.BackendTries
	if v.Cache != "" {
		r.Cache = v.Cache
	}
	if v.Token != "" {
		r.Token = v.Token
	}
}

// Backend is the forwarding target that set-backend-service and rewrite-uri change.
// Request.URL always equals BaseURL joined with the operation's path suffix.
type Backend struct {
	// BaseURL is the API's service URL, or the base-url or backend entity URL that
	// set-backend-service chose.
	BaseURL *url.URL
	// ID is the backend entity chosen with set-backend-service backend-id, if any.
	// When it is a load-balanced pool, forward-request chooses the member each
	// time it sends the request, and BaseURL is that member's.
	ID string
	// Failed and Tried are the members of pool ID, by index, that this request
	// could not connect to (forward-request does not choose them again) and
	// that it was sent to (forward-request prefers others). set-backend-service
	// clears them when it chooses another backend.
	Failed, Tried uint32
	// Token is the managed identity token a policy obtained for this request, so
	// that forward-request can replace it once when the backend rejects it.
	Token BackendToken
	// via is how forward-request reaches the backend, when a policy chose
	// something other than a direct connection: behind a pointer made on first
	// use, so that the exchange stays in its size class. Set it through
	// SetCertificate and SetProxy, which copy it: forks share the pointer.
	via *backendVia
}

type backendVia struct {
	certificate *tls.Certificate
	proxy       *url.URL
}

// Certificate is the client certificate authentication-certificate chose:
// forward-request presents it to this request's backend, and to no other
// host. Nil presents none.
func (b *Backend) Certificate() *tls.Certificate {
	if b.via == nil {
		return nil
	}
	return b.via.certificate
}

// Proxy is the HTTP proxy the proxy policy chose (http://host:port, with its
// user and password): forward-request goes through it. Nil goes directly. It
// is never shown to expressions.
func (b *Backend) Proxy() *url.URL {
	if b.via == nil {
		return nil
	}
	return b.via.proxy
}

// SetCertificate sets Certificate.
func (b *Backend) SetCertificate(c *tls.Certificate) {
	v := b.copyVia()
	v.certificate = c
	b.via = v
}

// SetProxy sets Proxy.
func (b *Backend) SetProxy(u *url.URL) {
	v := b.copyVia()
	v.proxy = u
	b.via = v
}

func (b *Backend) copyVia() *backendVia {
	if b.via == nil {
		return &backendVia{}
	}
	v := *b.via
	return &v
}

// BackendToken records which managed identity token a policy obtained: the
// identity's client id ("" for the system-assigned one), the resource, and the
// token, which forward-request compares with the Authorization header before
// replacing it. It is never shown to expressions.
type BackendToken struct {
	ClientID, Resource, Value string
}

// Fork returns a view of x for a policy that runs beside others on the same
// request (wait's children): it shares what they only read (the request, the
// response, the context objects), has its own Variables (a copy) and its own
// forks of the buffered bodies, and charges x's Buffers. Join takes a view's
// variables, body state and Report back. Every field of Exchange must be handled here
// (a test checks).
func (x *Exchange) Fork() *Exchange {
	v := &Exchange{
		RequestID:    x.RequestID,
		Timestamp:    x.Timestamp,
		Request:      x.Request,
		Response:     x.Response,
		Variables:    maps.Clone(x.Variables),
		API:          x.API,
		Operation:    x.Operation,
		Product:      x.Product,
		Subscription: x.Subscription,
		User:         x.User,
		Deployment:   x.Deployment,
		LastError:    x.LastError,
		Tracing:      x.Tracing,
		WebSocket:    x.WebSocket,
		GRPC:         x.GRPC,
		Trace:        x.Trace,
		Recorder:     x.Recorder.Fork(),
		Backend:      x.Backend,

		ClientHeaders: x.ClientHeaders.Clone(),
		CacheLookup:   x.CacheLookup,
		LLM:           x.LLM,

		SemanticCacheLookup: x.SemanticCacheLookup,
	}
	v.Buffers.parent = &x.Buffers
	v.Request.Body = x.Request.Body.Fork()
	if x.Response != nil {
		r := *x.Response
		r.Body = r.Body.Fork()
		v.Response = &r
	}
	for k, val := range v.Variables {
		if r, ok := val.(*Response); ok && r != nil && r.Body.Buffered() {
			c := *r
			c.Body = r.Body.Fork()
			v.Variables[k] = &c
		}
	}
	return v
}

// Join takes back what the view v (from Fork) changed: the variables it set,
// which bodies it consumed, and the work it left for later (AfterBackend,
// Defer, OnDone, Mark). A view starts with no hooks of its own.
func (x *Exchange) Join(v *Exchange) {
	x.Report.join(v.Report)
	if vh := v.hooks; vh != nil {
		h := x.hooksFor()
		h.afterBackend = append(h.afterBackend, vh.afterBackend...)
		h.deferred = append(h.deferred, vh.deferred...)
		h.done = append(h.done, vh.done...)
		for k := range vh.marks {
			x.Mark(k)
		}
	}
	for k, vals := range v.ClientHeaders {
		if x.ClientHeaders == nil {
			x.ClientHeaders = make(http.Header, len(v.ClientHeaders))
		}
		x.ClientHeaders[k] = vals
	}
	// State a policy of the view left for a later one (a lookup's miss, the
	// llm-* policies' prompt and usage) stays when x had none.
	if x.CacheLookup == nil {
		x.CacheLookup = v.CacheLookup
	}
	if x.LLM == nil {
		x.LLM = v.LLM
	}
	if x.SemanticCacheLookup == nil {
		x.SemanticCacheLookup = v.SemanticCacheLookup
	}
	x.Request.Body.Join(v.Request.Body)
	if x.Response != nil && v.Response != nil {
		x.Response.Body.Join(v.Response.Body)
	}
	for k, val := range v.Variables {
		old, had := x.Variables[k]
		if had {
			if o, ok := old.(*Response); ok && o != nil {
				if r, ok := val.(*Response); ok && r != nil && r != o && r.forkOf(o) {
					o.Body.Join(r.Body)
					continue
				}
			}
			if same(old, val) {
				continue
			}
		}
		x.SetVar(k, val)
	}
}

// forkOf reports whether r is the copy of o that Fork made.
func (r *Response) forkOf(o *Response) bool {
	return r.Body != nil && r.Body.origin == o.Body && r.StatusCode == o.StatusCode && r.StatusReason == o.StatusReason
}

// same reports whether a view's variable is still the value it was forked
// with: equal, or for slices and maps the same one.
func same(a, b any) (eq bool) {
	ta := reflect.TypeOf(a)
	if ta != reflect.TypeOf(b) {
		return false
	}
	if ta == nil {
		return true
	}
	va, vb := reflect.ValueOf(a), reflect.ValueOf(b)
	switch ta.Kind() {
	case reflect.Slice:
		return va.Pointer() == vb.Pointer() && va.Len() == vb.Len()
	case reflect.Map, reflect.Func:
		return va.Pointer() == vb.Pointer()
	}
	defer func() {
		if recover() != nil {
			eq = false // a struct holding something not comparable
		}
	}()
	return ta.Comparable() && a == b
}

// Elapsed is context.Elapsed: the time since Timestamp.
func (x *Exchange) Elapsed() time.Duration { return time.Since(x.Timestamp) }

// Var returns a variable and whether it is set.
func (x *Exchange) Var(name string) (any, bool) {
	v, ok := x.Variables[name]
	return v, ok
}

// SetVar sets a variable, creating the map on first use.
func (x *Exchange) SetVar(name string, v any) {
	if x.Variables == nil {
		x.Variables = make(map[string]any, 4)
	}
	x.Variables[name] = v
}

// Request is context.Request. Before forward-request, URL is the backend URL the
// request will be sent to (the API's service URL joined with the operation's path),
// and policies such as rewrite-uri and set-backend-service change it.
type Request struct {
	Method string
	// URL is context.Request.Url: where the request goes. Policies change it.
	URL *url.URL
	// OriginalURL is context.Request.OriginalUrl: the URL the client called, as
	// the gateway saw it. It never changes.
	OriginalURL *url.URL
	Headers     http.Header
	Body        *Body
	// IPAddress is the caller's address without a port.
	IPAddress string
	// MatchedParameters are the operation's URL template parameters, decoded.
	MatchedParameters map[string]string
	// RawParameters are the path parameters among MatchedParameters that the
	// client escaped, as it escaped them ({*rest} with its slashes); nil when none
	// was. rewrite-uri puts these into the backend path, so that an encoded slash
	// stays data. Expressions do not see them.
	RawParameters map[string]string
	// Certificate is the client's TLS certificate, or nil.
	Certificate *x509.Certificate
	// CertificateChain are the other certificates the client sent after
	// Certificate (intermediates), for validate-client-certificate; nil when
	// none. Expressions do not see them.
	CertificateChain []*x509.Certificate
}

// Response is context.Response, and also the IResponse that send-request stores
// in a variable.
type Response struct {
	StatusCode   int
	StatusReason string
	Headers      http.Header
	Body         *Body

	pooled http.Header // Headers as the backend's response came, from a pool (MarkPooled)
}

// MarkPooled notes that Headers was taken from a pool (the proxy's client
// parses backend responses into pooled maps), so that it can go back once
// the request is done.
func (r *Response) MarkPooled() { r.pooled = r.Headers }

// PooledHeaders returns the map MarkPooled noted when Headers is still that
// map, else nil: a map a policy put in its place belongs to someone else.
func (r *Response) PooledHeaders() http.Header {
	if r == nil || r.pooled == nil || reflect.ValueOf(r.pooled).UnsafePointer() != reflect.ValueOf(r.Headers).UnsafePointer() {
		return nil
	}
	return r.pooled
}

// API is context.Api.
type API struct {
	ID                string
	Name              string
	Path              string
	Revision          string
	Version           string
	IsCurrentRevision bool
	ServiceURL        *url.URL
	Protocols         []string
	// SubscriptionKeyHeader and SubscriptionKeyQuery are
	// context.Api.SubscriptionKeyParameterNames.Header and .Query.
	SubscriptionKeyHeader string
	SubscriptionKeyQuery  string
	// GraphQL is a GraphQL API's schema, for validate-graphql-request; nil
	// for other APIs. Expressions do not see it.
	GraphQL *graphql.Schema
}

// Operation is context.Operation.
type Operation struct {
	ID          string
	Method      string
	Name        string
	URLTemplate string
	// Examples are the responses the operation's specification documents, by
	// status, for mock-response; expressions do not see them.
	Examples []Example
	// Spec is what the specification says of the operation's messages, for the
	// validation policies; nil for an API without a specification.
	Spec *apispec.Operation
}

// Example is a documented response of an operation: a status, a media type
// and its example body (nil when the specification has none).
type Example struct {
	Status      int
	ContentType string
	Body        []byte
}

// Product is context.Product.
type Product struct {
	ID                   string
	Name                 string
	State                string // "NotPublished" or "Published"
	ApprovalRequired     bool
	SubscriptionRequired bool
	SubscriptionsLimit   *int
	Groups               []Group
}

// Group is an IGroup.
type Group struct {
	ID   string
	Name string
}

// Subscription is context.Subscription.
type Subscription struct {
	ID           string
	Name         string
	Key          string // the key the caller used
	PrimaryKey   string
	SecondaryKey string
	CreatedDate  time.Time
	StartDate    *time.Time
	EndDate      *time.Time
}

// User is context.User.
type User struct {
	ID               string
	Email            string
	FirstName        string
	LastName         string
	Note             string
	RegistrationDate time.Time
	Groups           []Group
}

// Deployment is context.Deployment.
type Deployment struct {
	GatewayID   string
	Region      string
	ServiceName string
	ServiceID   string
}

// LastError is context.LastError, filled in when a policy fails.
type LastError struct {
	Source   string // the policy element name, or "configuration", "authorization", ...
	Reason   string // e.g. "ExpressionValueEvaluationFailure", "SubscriptionKeyNotFound"
	Message  string
	Scope    string // "global", "product", "api", "operation"
	Section  string // "inbound", "backend", "outbound", "on-error"
	Path     string // where in the section, e.g. "choose\\when[1]\\set-header[2]"
	PolicyID string // the failing element's id attribute

	// Original is, when this is a failure of the on-error section itself, the
	// failure that ran on-error. It is for the logs, not part of
	// context.LastError.
	Original *LastError
}

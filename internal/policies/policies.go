// Package policies implements API Management's policy elements on top of package
// pipeline: one factory per element, compiled once at load.
//
// Register adds them all to a pipeline.Registry; main builds the registry with the
// gateway's dependencies, so there is no global state.
package policies

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/proxy"
)

// TokenSource gets access tokens for the gateway's managed identities.
// clientID "" is the system-assigned identity.
type TokenSource interface {
	AccessToken(ctx context.Context, clientID, resource string) (string, error)
}

// Forwarder sends the request to the backend and sets x.Response
// (forward-request). A *proxy.Error it returns becomes the policy's LastError.
type Forwarder interface {
	Forward(ctx context.Context, x *exchange.Exchange, opts proxy.Options) error
}

// Backend is a backend entity (backends/<id>/backendInformation.json), the target
// of set-backend-service backend-id.
type Backend struct {
	URL string
	// Header and Query are credentials sent with every forwarded request.
	Header, Query map[string][]string
	// AuthScheme and AuthParameter form an Authorization header, when set.
	AuthScheme, AuthParameter string
	// Resource, when set, gets a managed-identity token for that resource (as
	// ClientID, "" for the system-assigned identity) sent as a bearer token.
	Resource, ClientID string
}

// Deps are what the policies need from the rest of the gateway.
type Deps struct {
	Tokens    TokenSource
	Forwarder Forwarder
	// Backends are the backend entities by id.
	Backends map[string]Backend
	// ForwardTimeout is forward-request's default timeout.
	ForwardTimeout time.Duration
	Logger         *slog.Logger
	// SideRequests sends send-request's requests (a RoundTripper never follows
	// redirects); NewSideTransport's when nil.
	SideRequests http.RoundTripper
	// Cache is where cache-lookup-value, cache-store-value and
	// cache-remove-value keep values.
	Cache Caches
}

// Register adds every supported policy to r.
func Register(r *pipeline.Registry, d Deps) {
	if d.ForwardTimeout == 0 {
		d.ForwardTimeout = 300 * time.Second
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	if d.SideRequests == nil {
		d.SideRequests = NewSideTransport()
	}
	all := pipeline.AllSections
	in := pipeline.Inbound
	inBack := pipeline.Inbound | pipeline.Backend
	r.Register("authentication-managed-identity", in, d.managedIdentity)
	r.Register("set-header", all, setHeader)
	r.Register("set-query-parameter", inBack, setQueryParameter)
	r.Register("set-variable", all, setVariable)
	r.Register("set-backend-service", inBack, d.setBackendService)
	r.Register("rewrite-uri", in, rewriteURI)
	r.Register("find-and-replace", all, findAndReplace)
	r.Register("ip-filter", in, ipFilter)
	r.Register("set-status", all, setStatus)
	r.Register("set-method", in|pipeline.OnError, setMethod)
	r.Register("set-body", in|pipeline.Backend|pipeline.Outbound|pipeline.OnError, setBody)
	r.Register("return-response", all, returnResponse)
	r.Register("forward-request", pipeline.Backend, d.forwardRequest)
	r.Register("choose", all, choose)
	r.Register("send-request", all, d.sendRequest)
	r.Register("retry", all, retry)
	r.Register("trace", all, d.trace)
	r.Register("check-header", in, checkHeader)
	r.Register("cache-lookup-value", all, d.cacheLookupValue)
	r.Register("cache-store-value", all, d.cacheStoreValue)
	r.Register("cache-remove-value", all, d.cacheRemoveValue)
	r.Register("cache-lookup", in, d.cacheLookup)
	r.Register("cache-store", pipeline.Outbound, d.cacheStore)
	inOutErr := pipeline.Inbound | pipeline.Outbound | pipeline.OnError
	r.Register("json-to-xml", inOutErr, jsonToXML)
	r.Register("xml-to-json", inOutErr, xmlToJSON)
	r.Register("mock-response", inOutErr, mockResponse)
	r.Register("redirect-content-urls", pipeline.Inbound|pipeline.Outbound, redirectContentURLs)
}

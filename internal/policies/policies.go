// Package policies implements API Management's policy elements on top of package
// pipeline: one factory per element, compiled once at load.
//
// Register adds them all to a pipeline.Registry; main builds the registry with the
// gateway's dependencies, so there is no global state.
package policies

import (
	"context"
	"crypto/x509"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/balancer"
	"github.com/lastmile-gw/lastmile/internal/custommetrics"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/jwks"
	"github.com/lastmile-gw/lastmile/internal/llm"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/proxy"
)

// TokenSource gets access tokens for the gateway's managed identities.
// clientID "" is the system-assigned identity.
type TokenSource interface {
	AccessToken(ctx context.Context, clientID, resource string) (AccessToken, error)
}

// AccessToken is a managed identity token and how the gateway got it.
type AccessToken struct {
	Value string
	// Outcome says how the token cache served it (identity.Outcome: hit,
	// refresh, outage, issued), for the access log and the request trace;
	// "" when the source does not say.
	Outcome string
}

// Forwarder sends the request to the backend and sets x.Response
// (forward-request). A *proxy.Error it returns becomes the policy's LastError.
type Forwarder interface {
	Forward(ctx context.Context, x *exchange.Exchange, opts proxy.Options) error
}

// Backend is a backend entity (backends/<id>/backendInformation.json), the target
// of set-backend-service backend-id: a single backend with a URL, or a
// load-balanced pool of single backends.
type Backend struct {
	URL string
	// Header and Query are credentials sent with every forwarded request.
	Header, Query map[string][]string
	// AuthScheme and AuthParameter form an Authorization header, when set.
	AuthScheme, AuthParameter string
	// Resource, when set, gets a managed-identity token for that resource (as
	// ClientID, "" for the system-assigned identity) sent as a bearer token.
	Resource, ClientID string
	// Breaker is the backend's circuit breaker, or nil.
	Breaker *balancer.Breaker
	// Pool is set when the backend is a load-balanced pool; its members are
	// backends by id.
	Pool *balancer.Pool
	// SessionCookie is the pool's session affinity cookie; "" when none.
	SessionCookie string
}

// hasCredentials reports whether b adds anything to the requests sent to it.
func (b *Backend) hasCredentials() bool {
	return len(b.Header) > 0 || len(b.Query) > 0 || b.AuthScheme != "" || b.Resource != ""
}

// Deps are what the policies need from the rest of the gateway.
type Deps struct {
	// Secrets are the values of secret named values (and their escaped
	// forms): messages that show a URL a policy computed cut them out.
	Secrets   []string
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
	// Vectors is where the semantic cache policies keep prompts' embeddings
	// and responses: Redis when lastmile.yaml's store.type is redis, so that
	// every instance shares them, else the gateway's memory. Register makes an
	// in-memory one when nil; the gateway passes one that lives across
	// reloads.
	Vectors VectorCache
	// CustomMetrics keeps emit-metric's custom metrics for Prometheus and
	// OpenTelemetry; nil when nothing exports metrics (the policy then does
	// nothing).
	CustomMetrics *custommetrics.Registry
	// Limits is where rate-limit, rate-limit-by-key, quota, quota-by-key,
	// limit-concurrency and the token limits keep their counters.
	Limits Limits
	// Estimator counts the tokens of prompts and of streamed completions for
	// the token limits and metrics; Register makes one when nil.
	Estimator *llm.Estimator
	// TokenMetrics receives what llm-emit-token-metric and
	// azure-openai-emit-token-metric emit; nil drops it (no metrics are
	// exported).
	TokenMetrics TokenRecorder

	// OneWay sends send-one-way-request's requests; pass the same one to every
	// reload so that its bounds hold for the process. Register makes one when
	// nil.
	OneWay *OneWay

	baseURLs map[string]*url.URL // the Backends' parsed URLs, made by Register

	// Certificates are lastmile.yaml's certificates, which
	// authentication-certificate names; nil when it has none.
	Certificates Certificates
	// Keys fetches and caches issuers' signing keys for validate-jwt's
	// <openid-config> and validate-azure-ad-token; nil when policies are only
	// compiled to be checked (nothing is fetched then).
	Keys *jwks.Cache
	// AllowInsecureIssuer permits openid-config and authentication-endpoint
	// URLs on http on hosts other than loopback (identity.allowInsecureIssuer).
	AllowInsecureIssuer bool
	// OwnTenant is lastmile's own identity provider, for
	// validate-azure-ad-token; zero when there is none.
	OwnTenant Tenant
	// ClientCATrust are the certificates validate-client-certificate trusts as
	// roots besides the system's (validate-trust): lastmile.yaml's CA
	// certificates.
	ClientCATrust *x509.CertPool
	// Revocation checks client certificates against their issuers' CRLs
	// (validate-revocation); nil when policies are only compiled.
	Revocation RevocationChecker
	// Metrics counts limit decisions and backend calls; nil counts nothing.
	Metrics Metrics
	// Dapr is the Dapr sidecar's HTTP API (lastmile.yaml's dapr.url), which
	// the Dapr policies call; DefaultDaprURL when nil.
	Dapr *url.URL
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
	if d.OneWay == nil {
		d.OneWay = &OneWay{Logger: d.Logger}
	}
	d.baseURLs = d.bases()
	if d.Dapr == nil {
		d.Dapr, _ = url.Parse(DefaultDaprURL)
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
	r.Register("rate-limit", in, d.counted("rate-limit", d.rateLimit))
	r.Register("rate-limit-by-key", in, d.counted("rate-limit-by-key", d.rateLimitByKey))
	r.Register("quota", in, d.counted("quota", d.quota))
	r.Register("quota-by-key", in, d.counted("quota-by-key", d.quotaByKey))
	r.Register("limit-concurrency", all, d.counted("limit-concurrency", d.limitConcurrency))
	r.Register("wait", in|pipeline.Backend|pipeline.Outbound, wait)
	r.Register("send-one-way-request", all, d.sendOneWayRequest)
	r.Register("cors", in, cors)
	r.Register("cross-domain", in, crossDomain)
	r.Register("authentication-basic", in, basicAuth)
	r.Register("authentication-certificate", in, d.authCertificate)
	r.Register("validate-jwt", in, d.validateJWT)
	r.Register("validate-azure-ad-token", in, d.validateAzureADToken)
	r.Register("validate-client-certificate", in, d.validateClientCertificate)
	r.Register("cache-lookup", in, d.cacheLookup)
	r.Register("cache-store", pipeline.Outbound, d.cacheStore)
	inOutErr := pipeline.Inbound | pipeline.Outbound | pipeline.OnError
	r.Register("json-to-xml", inOutErr, jsonToXML)
	r.Register("xml-to-json", inOutErr, xmlToJSON)
	r.Register("xsl-transform", pipeline.Inbound|pipeline.Outbound, xslTransform)
	r.Register("mock-response", inOutErr, mockResponse)
	r.Register("redirect-content-urls", pipeline.Inbound|pipeline.Outbound, redirectContentURLs)
	r.Register("jsonp", pipeline.Outbound, jsonp)
	r.Register("proxy", in, proxyRoute)
	r.Register("log-to-eventhub", all, d.logToEventHub)
	r.Register("send-service-bus-message", inOutErr, d.sendServiceBusMessage)
	r.Register("publish-to-dapr", in, d.publishToDapr)
	r.Register("invoke-dapr-binding", inOutErr, d.invokeDaprBinding)
	outErr := pipeline.Outbound | pipeline.OnError
	r.Register("validate-parameters", in, validateParameters)
	r.Register("validate-odata-request", in, validateODataRequest)
	r.Register("validate-headers", outErr, validateHeaders)
	r.Register("validate-status-code", outErr, validateStatusCode)
	r.Register("validate-content", inOutErr, validateContent)
	r.Register("validate-graphql-request", in, validateGraphQLRequest)
	r.Register("llm-token-limit", in, d.llmTokenLimit)
	r.Register("azure-openai-token-limit", in, d.azureOpenAITokenLimit)
	r.Register("llm-emit-token-metric", in, d.llmEmitTokenMetric)
	r.Register("azure-openai-emit-token-metric", in, d.azureOpenAIEmitTokenMetric)
	r.Register("llm-content-safety", in, d.contentSafety)
	r.Register("emit-metric", all, d.emitMetric)
	r.Register("get-authorization-context", in, getAuthorizationContext)
	for _, prefix := range []string{"llm", "azure-openai"} {
		r.Register(prefix+"-semantic-cache-lookup", in, d.semanticCacheLookup)
		r.Register(prefix+"-semantic-cache-store", pipeline.Outbound, d.semanticCacheStore)
	}
}

// estimator returns the token estimator, made on first use so that every
// policy of one Register call shares it.
func (d *Deps) estimator() *llm.Estimator {
	if d.Estimator == nil {
		d.Estimator = llm.NewEstimator()
	}
	return d.Estimator
}

// hider cuts secret values out of what a message shows of a URL.
type hider struct{ r *strings.Replacer }

func newHider(secrets []string) hider {
	if len(secrets) == 0 {
		return hider{}
	}
	pairs := make([]string, 0, 2*len(secrets))
	for _, s := range secrets {
		if s != "" {
			pairs = append(pairs, s, "***")
		}
	}
	return hider{strings.NewReplacer(pairs...)}
}

// url is u without its query, user information or fragment (redactURL), and
// without secrets.
func (h hider) url(u string) string {
	s := redactURL(u)
	if h.r != nil {
		s = h.r.Replace(s)
	}
	return s
}

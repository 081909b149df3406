// Package apiops reads an API Management configuration in the folder layout that
// Azure/apiops extracts it into (apis/, products/, subscriptions/, named values/,
// policy fragments/, backends/, version sets/ and the global policy.xml) into an
// immutable model.
//
// Load parses every policy document with policyxml and substitutes named values
// into it, parses OpenAPI specifications into operations, links APIs to version
// sets and products, and checks references between the files. It reports every
// problem at once, each as file:line:col: message. It does not compile policies or
// expressions: that is the pipeline's job.
//
// # Named values from the environment
//
// A named value's value can come from the environment: the variable
// LASTMILE_NAMED_VALUE_<NAME>, where <NAME> is the named value's display name (the
// name used in {{...}}) upper-cased, with every character other than A-Z and 0-9
// replaced by '_' (so {{backend-api-key}} reads LASTMILE_NAMED_VALUE_BACKEND_API_KEY).
// When the variable is set, it takes precedence over the value in the file. This is
// how secret named values (which apiops extracts without a value) and Key Vault
// references get their values. A named value without a value is an error only if a
// policy uses it. Values are never logged or put in error messages.
package apiops

import (
	"log/slog"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/apispec"
	"github.com/lastmile-gw/lastmile/internal/graphql"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// Service is a loaded APIOps folder. It is plain data and must not be changed after
// Load returns; a reload loads a new one. Paths in it are relative to Dir and
// slash-separated.
type Service struct {
	// Dir is the folder as given to Load.
	Dir string
	// Policy is the global (all APIs) policy, nil when there is no policy.xml.
	Policy *Policy
	// APIs are all APIs, every revision, sorted by name and then revision. Only the
	// ones with IsCurrent and no Unsupported reason are served.
	APIs []*API
	// Products, Subscriptions, NamedValues, Fragments, Backends and VersionSets are
	// keyed by their folder name (the resource name in API Management).
	Products      map[string]*Product
	Subscriptions map[string]*Subscription
	NamedValues   map[string]*NamedValue
	Fragments     map[string]*Policy
	Backends      map[string]*Backend
	VersionSets   map[string]*VersionSet
	// Warnings are problems that do not stop the gateway (an API that is not served,
	// a product that lists an unknown API, ...), sorted by file.
	Warnings []Warning
}

// API returns the current revision of the API named name, or nil.
func (s *Service) API(name string) *API {
	for _, a := range s.APIs {
		if a.Name == name && a.IsCurrent {
			return a
		}
	}
	return nil
}

// FragmentDocs returns the policy fragments' documents by name, the shape the
// pipeline compiler takes for include-fragment.
func (s *Service) FragmentDocs() map[string]*policyxml.Document {
	out := make(map[string]*policyxml.Document, len(s.Fragments))
	for name, p := range s.Fragments {
		out[name] = p.Doc
	}
	return out
}

// Served returns the APIs the gateway serves: current revisions of supported types.
func (s *Service) Served() []*API {
	var out []*API
	for _, a := range s.APIs {
		if a.IsCurrent && a.Unsupported == "" {
			out = append(out, a)
		}
	}
	return out
}

// Policy is one policy document: <policies> for the global, product, API and
// operation scopes, <fragment> for a policy fragment. Named values are already
// substituted into Doc.
type Policy struct {
	// File is the document's path relative to Service.Dir, such as
	// "apis/orders/policy.xml". Doc.File is the same file joined to Service.Dir, so
	// that pipeline errors name a path the operator can open.
	File string
	Doc  *policyxml.Document
}

// API is one revision of an API: apis/<name>/ or apis/<name>;rev=<n>/.
type API struct {
	// Name is the API's name (its folder name without ";rev=<n>").
	Name string
	// Dir is the API's folder, such as "apis/orders" or "apis/orders;rev=2".
	Dir         string
	DisplayName string
	Description string
	// Path is the API URL suffix, without leading or trailing slashes ("" for an API
	// at the root).
	Path       string
	ServiceURL string
	// Protocols are the accepted schemes, lower-case ("https", "http", "ws", "wss").
	Protocols []string
	// SubscriptionRequired defaults to true when the file does not say.
	SubscriptionRequired bool
	// KeyHeader and KeyQuery are where a subscription key is read from; they default
	// to Ocp-Apim-Subscription-Key and subscription-key.
	KeyHeader string
	KeyQuery  string
	// Revision is apiRevision ("1" when absent).
	Revision string
	// IsCurrent marks the revision that is served.
	IsCurrent bool
	// Version is apiVersion ("" for an unversioned API or a version set's original).
	Version string
	// VersionSet is the API's version set, or nil.
	VersionSet *VersionSet
	// Type is the API type, lower-case; "http" when absent.
	Type string
	// Unsupported says why the gateway does not serve this API ("" if it does).
	Unsupported string
	// Policy is the API-scope policy, or nil.
	Policy *Policy
	// Spec is the specification file relative to Service.Dir, or "" when there is none.
	Spec string
	// GraphQL is the schema of a GraphQL API (its specification.graphql), or
	// nil. A GraphQL API with a backend passes requests through; the schema is
	// for validate-graphql-request.
	GraphQL *graphql.Schema

	unmatchedOps []string // operation folders the API's specification gives no operation to
	// Operations come from the specification, sorted by URL template and method. An
	// API without a specification has none (it matches everything under its path).
	Operations []*Operation
	// Products are the names of the products that contain the API, sorted.
	Products []string
}

// RoutePath is the URL path under which a current revision is served, without a
// leading slash. For a version set with the Segment scheme it is Path followed by
// the version, unless Path already ends with that segment (the apiops sample writes
// "versioned-api/v1" as the path of version v1).
func (a *API) RoutePath() string {
	if a.VersionSet == nil || a.VersionSet.Scheme != SchemeSegment || a.Version == "" {
		return a.Path
	}
	if a.Path == "" {
		return a.Version
	}
	if strings.EqualFold(a.Path, a.Version) || hasSuffixFold(a.Path, "/"+a.Version) {
		return a.Path
	}
	return a.Path + "/" + a.Version
}

func hasSuffixFold(s, suffix string) bool {
	return len(s) >= len(suffix) && strings.EqualFold(s[len(s)-len(suffix):], suffix)
}

// Operation is one operation of an API, from its specification.
type Operation struct {
	// Name is the operationId, which names the operation's policy folder.
	Name string
	// DisplayName is the operation's summary ("" when it has none).
	DisplayName string
	// Method is upper-case.
	Method string
	// URLTemplate is the path template relative to the API path, with a leading
	// slash, such as "/items/{id}", and a query part when the operation has one:
	// an x-ms-paths key's ("/search?mode=exact&q={q}"), to which the required
	// query parameters of an OpenAPI operation are added as template parameters,
	// as API Management's import adds them unless the API's
	// translateRequiredQueryParameters is "query" ("/search" with a required q
	// is "/search?q={q}").
	URLTemplate string
	// Examples are the responses the specification documents, for
	// mock-response.
	Examples []Example
	// Spec is what the specification says of the operation's messages, for the
	// validation policies.
	Spec *apispec.Operation
	// SOAPActions, for an operation of a SOAP API described by WSDL, are the
	// SOAP actions it answers to (SOAPAction, or the action parameter of a SOAP
	// 1.2 Content-Type); "" is a request without one. Nil for other operations.
	SOAPActions []string
	// Policy is operations/<Name>/policy.xml, or nil.
	Policy *Policy
}

// Versioning schemes of a version set.
const (
	SchemeSegment = "Segment"
	SchemeQuery   = "Query"
	SchemeHeader  = "Header"
)

// VersionSet is version sets/<name>/.
type VersionSet struct {
	Name        string
	DisplayName string
	// Scheme is SchemeSegment, SchemeQuery or SchemeHeader.
	Scheme string
	// QueryName is the query parameter of the Query scheme.
	QueryName string
	// HeaderName is the header of the Header scheme.
	HeaderName string
}

// Product is products/<name>/.
type Product struct {
	Name        string
	DisplayName string
	Description string
	// State is "published" or "notPublished".
	State string
	// SubscriptionRequired defaults to true; a product that does not require one is
	// "open": keyless calls to its APIs run in its context.
	SubscriptionRequired bool
	ApprovalRequired     bool
	// SubscriptionsLimit is the maximum number of subscriptions per user, or nil for
	// no limit. It is kept for completeness; lastmile has no users.
	SubscriptionsLimit *int
	Policy             *Policy
	// APIs are the names of the APIs in the product (products/<name>/apis/<api>/),
	// sorted. Names that match no API are left out, with a warning.
	APIs []string
}

// Subscription states. Only StateActive accepts calls.
const (
	StateActive    = "active"
	StateSuspended = "suspended"
	StateCancelled = "cancelled"
	StateExpired   = "expired"
	StateSubmitted = "submitted"
	StateRejected  = "rejected"
)

// ScopeKind is what a subscription gives access to.
type ScopeKind int

// Subscription scopes.
const (
	// ScopeAllAPIs is every API ("/apis", the service, or no scope).
	ScopeAllAPIs ScopeKind = iota
	// ScopeProduct is the APIs of one product.
	ScopeProduct
	// ScopeAPI is one API, every revision.
	ScopeAPI
)

// String names the scope kind for messages.
func (k ScopeKind) String() string {
	switch k {
	case ScopeProduct:
		return "product"
	case ScopeAPI:
		return "api"
	default:
		return "all APIs"
	}
}

// Subscription is subscriptions/<name>/.
type Subscription struct {
	Name        string
	DisplayName string
	// Scope is what the subscription gives access to; Target names the product or
	// API for ScopeProduct and ScopeAPI.
	Scope  ScopeKind
	Target string
	// State is one of the State constants; "active" when the file does not say.
	State        string
	AllowTracing bool
	// PrimaryKey and SecondaryKey are the keys from the file, or "" (apiops
	// extracts subscriptions without keys: generate and persist them).
	PrimaryKey   string
	SecondaryKey string
}

// Active reports whether the subscription accepts calls.
func (s *Subscription) Active() bool { return s.State == StateActive }

// ScopePath is the subscription's scope in API Management's relative form:
// "/apis", "/apis/<api>" or "/products/<product>".
func (s *Subscription) ScopePath() string {
	switch s.Scope {
	case ScopeAPI:
		return "/apis/" + s.Target
	case ScopeProduct:
		return "/products/" + s.Target
	}
	return "/apis"
}

// String describes the subscription without its keys.
func (s *Subscription) String() string {
	if s.Target == "" {
		return "subscription " + s.Name + " (" + s.Scope.String() + ", " + s.State + ")"
	}
	return "subscription " + s.Name + " (" + s.Scope.String() + " " + s.Target + ", " + s.State + ")"
}

// LogValue keeps the keys out of logs.
func (s *Subscription) LogValue() slog.Value { return slog.StringValue(s.String()) }

// NamedValue is named values/<name>/.
type NamedValue struct {
	// Name is the folder name; DisplayName is the name used in {{...}}.
	Name        string
	DisplayName string
	Secret      bool
	// Value is the value, from the environment variable EnvVar if it is set, else
	// from the file. HasValue is false when neither gives one (a secret extracted
	// without its value, or a Key Vault reference).
	Value    string
	HasValue bool
	// FromEnv is true when Value came from the environment variable EnvVar.
	FromEnv bool
	EnvVar  string
	// KeyVault is the Key Vault reference, or nil.
	KeyVault *KeyVault
}

// String describes the named value without its value.
func (n *NamedValue) String() string { return "named value " + n.DisplayName }

// LogValue keeps the value out of logs.
func (n *NamedValue) LogValue() slog.Value { return slog.StringValue(n.String()) }

// KeyVault is a named value's Key Vault reference.
type KeyVault struct {
	SecretIdentifier string
	IdentityClientID string
}

// Backend is backends/<name>/: a backend entity that set-backend-service backend-id
// refers to. Everything the file says is kept; fields absent in the file are zero.
type Backend struct {
	Name        string
	Title       string
	Description string
	URL         string
	// Protocol is "http" or "soap".
	Protocol    string
	Type        string // "Single" or "Pool"; "" when absent
	ResourceID  string
	Credentials *BackendCredentials
	TLS         *BackendTLS
	// Pool is set for a load-balanced pool (Type "Pool"), whose URL is unused.
	Pool *BackendPool
	// CircuitBreaker is the backend's circuit breaker rule, or nil.
	CircuitBreaker *CircuitBreakerRule
}

// BackendCredentials are the credentials a backend entity adds to each request.
// Named values in them are substituted.
type BackendCredentials struct {
	Header          map[string][]string
	Query           map[string][]string
	Authorization   *BackendAuthorization
	CertificateIDs  []string
	Certificate     []string // thumbprints
	ManagedIdentity *BackendManagedIdentity
}

// String keeps credential values out of logs and errors.
func (c *BackendCredentials) String() string { return "backend credentials" }

// LogValue keeps credential values out of logs.
func (c *BackendCredentials) LogValue() slog.Value { return slog.StringValue(c.String()) }

// BackendAuthorization is the Authorization header a backend entity sends.
type BackendAuthorization struct {
	Scheme    string
	Parameter string
}

// BackendManagedIdentity asks for a managed-identity token for Resource; ClientID
// selects a user-assigned identity ("" for the system-assigned one).
type BackendManagedIdentity struct {
	ClientID string
	Resource string
}

// BackendTLS is a backend's certificate checks; nil fields were absent (API
// Management's default is to check both).
type BackendTLS struct {
	ValidateCertificateChain *bool
	ValidateCertificateName  *bool
}

// BackendPool is a load-balanced pool of backends.
type BackendPool struct {
	// Services are the members, at most MaxPoolServices, each a backend in
	// backends/ that is not a pool (members that are not there are left out
	// with a warning).
	Services []PoolService
	// SessionCookie is the cookie that keeps a client's session on one member
	// (sessionAffinity.sessionId.name); "" when the pool has no session affinity.
	SessionCookie string
}

// PoolService is one member of a pool.
type PoolService struct {
	// Backend is the member backend's name (from its id, "/backends/<name>").
	Backend string
	// Priority is the member's priority group, 0 to 100: the lowest number is
	// used first.
	Priority int
	// Weight is the member's share of its group's requests, 0 to 100.
	Weight int
}

// Warning is a problem that does not stop the gateway.
type Warning struct {
	// File is the file or folder, relative to Service.Dir.
	File string
	Msg  string
}

// String returns "file: msg".
func (w Warning) String() string { return w.File + ": " + w.Msg }

// Package config reads lastmile.yaml: the settings that Azure keeps outside API
// Management (identities, app registrations, listeners, backend trust, shared state).
//
// The file sits at the root of the --config folder, beside the APIOps artifacts. It is
// optional: a missing file means every default below. Every key is optional; unknown
// keys are errors, so a typo never silently falls back to a default. A complete file,
// with every default spelled out:
//
//	identity:
//	  # The directory (tenant) id put in tokens (tid) and in the Entra-shaped
//	  # endpoint paths. Optional: when absent, lastmile generates one on first start
//	  # and keeps it in the state directory. Must be a GUID.
//	  tenantId: 72f988bf-86f1-41af-91ab-2d7cd011db47
//	  # How long issued access tokens live (exp - iat). A Go duration between 1m
//	  # and 24h. Default 1h.
//	  tokenLifetime: 1h
//	  # Managed identities besides the system-assigned one (which always exists and
//	  # is called "system" below). Default none.
//	  userAssignedIdentities:
//	    # name: required; 1 to 128 letters, digits, '.', '-', '_', starting with a
//	    # letter or digit; unique and not "system" (names are not case-sensitive).
//	    - name: reporting
//	      # Optional GUID; generated on first start and kept in the state
//	      # directory when absent. Unique among identities.
//	      clientId: 0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11
//	  # The app registrations that tokens can be issued for. A token request for
//	  # any other resource is refused (deny by default). Default none.
//	  resources:
//	    # The resource (App ID URI or application id), without the /.default
//	    # scope suffix. Requests for "api://orders", "API://orders/" and
//	    # "api://orders/.default" all name this resource (ASCII case, a trailing
//	    # / and /.default do not count), so ids must be unique under that rule.
//	    - id: api://orders
//	      # App roles the resource defines: no white space. Default none.
//	      roles: [Orders.Read, Orders.Write]
//	      # App roles granted to managed identities, by identity: "system" or a
//	      # user-assigned name (or an application's), in any case. Every role
//	      # must be listed in roles. Default none:
//	      # identities get tokens without a roles claim.
//	      assignments:
//	        system: [Orders.Read]
//	        reporting: [Orders.Write]
//	  # Token sources, managed identity endpoints for local workloads and the
//	  # registration entries of attested callers; identityplane.go documents every key.
//	  sources: [embedded]
//	  managedIdentityEndpoints:
//	    appService: true
//	    imds:
//	      listen: ""
//	    socket: ""
//	    tcpCallers: any
//	    rateLimit:
//	      requestsPerSecond: 20
//	      concurrent: 5
//	  workloads: []
//	  # The token service: registered applications and their credentials, the
//	  # signing key rotation schedule, and insecure issuers for test networks;
//	  # config_tokenservice.go documents every key. Resources also take
//	  # tokenProfile (native) and signingAlgorithm (ES256).
//	  applications: []
//	  keys:
//	    rotationPeriod: 168h
//	    prepublish: 56h
//	    automatic: true
//	  allowInsecureIssuer: false
//	listeners:
//	  gateway: ":8080"           # data plane, host:port. Default ":8080"
//	  identity: "127.0.0.1:8081" # discovery, JWKS and token endpoints. Default "127.0.0.1:8081"
//	  # The public issuer URL when clients reach the identity listener through
//	  # another name: https (http only on loopback, unless
//	  # identity.allowInsecureIssuer), no query, fragment or trailing /.
//	  # Default "": the issuer is http://<identity listener> (https:// when it
//	  # serves TLS), with 127.0.0.1 for an unspecified address such as 0.0.0.0.
//	  issuer: ""
//	  # Where Prometheus metrics are served (GET /metrics), host:port. Default
//	  # "": no metrics listener.
//	  metrics: ""
//	  # The web console, host:port; console.go documents it. Default "": none.
//	  console: ""
//	  # TLS, off by default (plain HTTP): listeners.tls for every listener,
//	  # or a listener written as a mapping of address and tls, and the ACME
//	  # HTTP-01 challenge listener; tls.go documents every key.
//	  acmeHTTP: ""
//	backend:
//	  # An extra PEM bundle of CA certificates trusted for backend TLS, on top of
//	  # the system roots. Relative paths are relative to the folder that holds
//	  # lastmile.yaml. Default "": system roots only.
//	  caFile: ""
//	  # Default timeout of forward-request when the policy sets none. Default 300s,
//	  # as in API Management.
//	  timeout: 300s
//	gateway:
//	  region: local          # context.Deployment.Region. Default "local"
//	  serviceName: lastmile  # context.Deployment.ServiceName. Default "lastmile"
//	dapr:
//	  # The Dapr sidecar's HTTP API, for set-backend-service backend-id="dapr",
//	  # publish-to-dapr and invoke-dapr-binding. Default http://localhost:3500.
//	  url: http://localhost:3500
//	store:
//	  # Shared state: memory (one process) or redis (shared by every gateway
//	  # instance). It holds the token service's client assertion replay check,
//	  # the external value cache, the traffic limits' counters, and with redis
//	  # the identity provider's state (signing keys, identities, generated
//	  # subscription keys), encrypted. Default memory.
//	  type: memory
//	  redis:                     # read only when type is redis
//	    address: 127.0.0.1:6379  # host:port. Default "127.0.0.1:6379"
//	    username: ""             # ACL user. Default "": none
//	    # The name of an environment variable that holds the password (never the
//	    # password itself). When type is redis it must be set. Default "": no password.
//	    passwordEnv: ""
//	    db: 0                    # database number, 0 or more. Default 0
//	    tls: false               # connect with TLS. Default false
//	    # The longest a traffic limit decision waits for Redis before it fails
//	    # as failureMode says. Default 250ms; 10ms to 10s.
//	    timeout: 250ms
//	    # How long a limit-concurrency slot outlives an instance that died
//	    # holding it. Default 30s; 3s to 10m.
//	    leaseTTL: 30s
//	  # What each kind of traffic limit does with a request when the store
//	  # cannot decide (Redis down): open lets it through uncounted, closed
//	  # refuses it with 503. Default open for all three.
//	  failureMode:
//	    rateLimit: open          # rate-limit, rate-limit-by-key
//	    quota: open              # quota, quota-by-key
//	    concurrency: open        # limit-concurrency
//	  # With redis, one of these two must be set: the name of an environment
//	  # variable, or a file (relative to this file's folder), holding the keys
//	  # the identity state is encrypted with: 32 random bytes in base64 each,
//	  # separated by white space or commas, the encrypting key first; the same
//	  # on every instance. Default "": none.
//	  encryptionKeyEnv: ""
//	  encryptionKeyFile: ""
//	limits: {}  # the data plane's limits; limits.go documents every key
//	shutdown:
//	  # How long requests in flight may take to finish after SIGTERM or SIGINT.
//	  # The data plane stops accepting at once and closes idle keep-alive
//	  # connections; what still runs after this is cut off. Under Kubernetes,
//	  # keep it below terminationGracePeriodSeconds minus the preStop sleep.
//	  # Default 10s; 0s to 1h.
//	  gracePeriod: 10s
//	# Certificates that policies name by certificate-id or thumbprint, such as
//	# authentication-certificate's client certificates; certificates.go
//	# documents every key. Default none.
//	certificates: []
//	# OpenTelemetry (traces and metrics over OTLP, off by default), the access
//	# log (on by default) and request traces for developers (Ocp-Apim-Trace);
//	# telemetry.go documents every key.
//	telemetry: {}
//
// Errors name the file with line and column (lastmile.yaml:12:7: ...) and say what to
// do; Load reports all of them at once as an ErrorList.
package config

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// FileName is the name of the configuration file at the root of the --config folder.
const FileName = "lastmile.yaml"

// SystemIdentity is the name that assignments use for the system-assigned identity.
const SystemIdentity = directory.SystemName

// Defaults for the optional fields, documented in the package comment.
const (
	DefaultTokenLifetime    = directory.DefaultTokenLifetime
	DefaultGatewayListener  = ":8080"
	DefaultIdentityListener = "127.0.0.1:8081"
	DefaultBackendTimeout   = 300 * time.Second
	DefaultRegion           = "local"
	DefaultServiceName      = "lastmile"
	// DefaultDaprURL is where API Management's self-hosted gateway finds the
	// Dapr sidecar.
	DefaultDaprURL       = "http://localhost:3500"
	DefaultStoreType     = StoreMemory
	DefaultRedisAddress  = "127.0.0.1:6379"
	DefaultShutdownGrace = 10 * time.Second
)

// Store types accepted in store.type.
const (
	StoreMemory = "memory"
	StoreRedis  = "redis"
)

// Config is the content of lastmile.yaml with defaults applied. It is plain data; the
// zero value is not useful, use Default or Load.
type Config struct {
	Identity  Identity
	Listeners Listeners
	Backend   Backend
	Gateway   Gateway
	Store     Store
	Limits    Limits
	Shutdown  Shutdown
	// Certificates are the certificates policies name, in file order (see
	// certificates.go).
	Certificates []Certificate
	// Telemetry is OpenTelemetry, the access log and request traces (see
	// telemetry.go).
	Telemetry Telemetry
	// Console is the web console's authentication (see console.go).
	Console Console
	// Dapr is the Dapr sidecar that the Dapr policies call.
	Dapr Dapr
}

// Dapr is the Dapr runtime next to the gateway, which set-backend-service
// backend-id="dapr", publish-to-dapr and invoke-dapr-binding call.
type Dapr struct {
	// URL is the sidecar's HTTP API, such as http://localhost:3500.
	URL string
}

// Identity configures the embedded identity provider and the managed identities it
// issues tokens to.
type Identity struct {
	// TenantID is the configured tenant GUID, lower-cased; "" means generate and persist one.
	TenantID string
	// TokenLifetime is the lifetime of issued access tokens.
	TokenLifetime time.Duration
	// UserAssignedIdentities are the declared user-assigned identities, in file order.
	UserAssignedIdentities []UserAssignedIdentity
	// Resources are the app registrations tokens can be issued for, in file order.
	Resources []Resource
	// Sources is the token source chain, in order (see identityplane.go).
	Sources []TokenSource
	// Endpoints are the managed identity endpoints for local workloads.
	Endpoints ManagedIdentityEndpoints
	// Workloads are the registration entries of attested callers, in file order.
	Workloads []Workload
	// Applications are the registered applications of the token service, in
	// file order (see config_tokenservice.go).
	Applications []Application
	// Keys is the signing key rotation schedule.
	Keys KeyRotation
	// AllowInsecureIssuer permits an http:// issuer, and http:// federated
	// issuers, on hosts other than loopback.
	AllowInsecureIssuer bool
}

// UserAssignedIdentity is one user-assigned managed identity.
type UserAssignedIdentity struct {
	Name string
	// ClientID is the configured client GUID, lower-cased; "" means generate and persist one.
	ClientID string
}

// Resource is one app registration that tokens can be issued for.
type Resource struct {
	// ID is the resource as written in the file (it becomes the token audience as
	// requested by the client; compare with identity.NormalizeResource).
	ID string
	// Roles are the app roles the resource defines.
	Roles []string
	// Assignments grant roles to identities (and applications), in file order.
	Assignments []Assignment
	// TokenProfile is TokenProfileNative, TokenProfileEntraV1 or TokenProfileEntraV2.
	TokenProfile string
	// SigningAlgorithm is SigningES256 or SigningRS256.
	SigningAlgorithm string
}

// Assignment grants app roles on a resource to one identity.
type Assignment struct {
	// Identity is SystemIdentity or the name of a user-assigned identity.
	Identity string
	Roles    []string
}

// Listeners are the addresses lastmile listens on.
type Listeners struct {
	Gateway  string
	Identity string
	// Issuer is the public issuer URL; "" means http://<Identity>, or
	// https://<Identity> when the identity listener serves TLS.
	Issuer string
	// Metrics is where Prometheus metrics are served (GET /metrics); "" means
	// nowhere.
	Metrics string
	// ACMEHTTP is where ACME HTTP-01 challenges are answered; "" means
	// nowhere (tls.go).
	ACMEHTTP string
	// Console is where the web console is served; "" means nowhere
	// (console.go).
	Console string
	// TLS are the listeners' TLS settings (tls.go).
	TLS ListenersTLS
}

// Backend holds settings for connections to backends.
type Backend struct {
	// CAFile is the absolute path of the extra CA bundle (a relative path in the file
	// is resolved against the folder of lastmile.yaml); "" for none.
	CAFile  string
	Timeout time.Duration
}

// Gateway holds the values policies see as context.Deployment.
type Gateway struct {
	Region      string
	ServiceName string
}

// Shutdown says how lastmile stops.
type Shutdown struct {
	// GracePeriod is how long requests in flight may take to finish once a
	// shutdown began; what still runs after it is cut off.
	GracePeriod time.Duration
}

// Store selects where shared state lives.
type Store struct {
	Type        string // StoreMemory or StoreRedis
	Redis       Redis
	FailureMode FailureMode
	// EncryptionKeyEnv names the environment variable that holds the keys
	// the identity state is encrypted with in Redis (see
	// statedir.ParseKeys); read only when Type is StoreRedis.
	EncryptionKeyEnv string
	// EncryptionKeyFile is the absolute path of a file holding those keys,
	// instead of EncryptionKeyEnv.
	EncryptionKeyFile string
}

// Redis is how to reach Redis when Store.Type is StoreRedis.
type Redis struct {
	Address  string
	Username string
	// PasswordEnv names the environment variable holding the password.
	PasswordEnv string
	DB          int
	TLS         bool
	// Timeout bounds each traffic limit decision's call to Redis, and each
	// call of the cache policies.
	Timeout time.Duration
	// LeaseTTL is how long a limit-concurrency slot outlives its instance.
	LeaseTTL time.Duration
}

// Default returns the configuration used when lastmile.yaml is absent.
func Default() *Config {
	c := &Config{
		Identity:  Identity{TokenLifetime: DefaultTokenLifetime},
		Listeners: Listeners{Gateway: DefaultGatewayListener, Identity: DefaultIdentityListener},
		Backend:   Backend{Timeout: DefaultBackendTimeout},
		Gateway:   Gateway{Region: DefaultRegion, ServiceName: DefaultServiceName},
		Store: Store{Type: DefaultStoreType,
			Redis:       Redis{Address: DefaultRedisAddress, Timeout: DefaultRedisTimeout, LeaseTTL: DefaultLeaseTTL},
			FailureMode: FailureMode{RateLimit: FailOpen, Quota: FailOpen, Concurrency: FailOpen}},
		Limits:    DefaultLimits,
		Telemetry: DefaultTelemetry,
		Shutdown:  Shutdown{GracePeriod: DefaultShutdownGrace},
		Dapr:      Dapr{URL: DefaultDaprURL},
	}
	defaultIdentityPlane(&c.Identity)
	defaultTokenService(&c.Identity)
	return c
}

// maxFileSize bounds what Load reads, so a wrong path (a device, a huge file) fails
// clearly instead of eating memory.
const maxFileSize = 4 << 20

// Load reads the configuration file at path. A missing file is not an error: it
// returns Default(). Problems in the file are returned together as an ErrorList whose
// entries carry path:line:col.
func Load(path string) (*Config, error) {
	c, _, err := load(path, false)
	return c, err
}

// LoadForCheck is Load for a check without the environment's secrets, such as
// lastmile validate in CI: an environment variable that the file names
// (passwordEnv, encryptionKeyEnv) and the environment does not set is one of
// the warnings, not an error, and what needs its value (a PFX file's content,
// the store encryption key) is not checked. Neither names a value.
func LoadForCheck(path string) (c *Config, warnings ErrorList, err error) {
	return load(path, true)
}

func load(path string, check bool) (*Config, ErrorList, error) {
	fi, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return Default(), nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("reading configuration: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, nil, fmt.Errorf("%s: not a regular file; lastmile.yaml must be a YAML file", path)
	}
	if fi.Size() > maxFileSize {
		return nil, nil, fmt.Errorf("%s: file is %d bytes, more than the %d allowed; is this the right file?", path, fi.Size(), maxFileSize)
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("reading configuration: %w", err)
	}
	return decode(path, src, os.LookupEnv, check)
}

// Parse parses src, the content of file, applies defaults and validates it. file names
// the file in errors, and relative paths in it (backend.caFile) are resolved against
// its folder. Environment variables named in the file are looked up in the process
// environment. Problems are returned together as an ErrorList.
func Parse(file string, src []byte) (*Config, error) {
	return parse(file, src, os.LookupEnv)
}

func parse(file string, src []byte, lookupEnv func(string) (string, bool)) (*Config, error) {
	c, _, err := decode(file, src, lookupEnv, false)
	return c, err
}

// decode parses src; check is LoadForCheck's.
func decode(file string, src []byte, lookupEnv func(string) (string, bool), check bool) (*Config, ErrorList, error) {
	d := &decoder{file: file, dir: filepath.Dir(file), lookupEnv: lookupEnv, check: check}
	c := Default()
	d.decodeFile(src, c)
	d.warns.Sort()
	if len(d.errs) > 0 {
		return nil, d.warns, d.errs
	}
	return c, d.warns, nil
}

// Resource returns the registered resource that id names (under
// identity.NormalizeResource), or false if none does.
func (id *Identity) Resource(resource string) (*Resource, bool) {
	n := identity.NormalizeResource(resource)
	if n == "" {
		return nil, false
	}
	for i := range id.Resources {
		if identity.NormalizeResource(id.Resources[i].ID) == n {
			return &id.Resources[i], true
		}
	}
	return nil, false
}

// RolesFor returns the app roles on r granted to the identity named name
// (SystemIdentity or a user-assigned name, in any case), or nil.
func (r *Resource) RolesFor(name string) []string {
	for _, a := range r.Assignments {
		if strings.EqualFold(a.Identity, name) {
			return a.Roles
		}
	}
	return nil
}

// Error is one problem in a configuration file. Pos is the zero Pos when the
// problem has no position.
type Error = srcpos.Error

// ErrorList is every problem found in a configuration file, in file order.
type ErrorList = srcpos.ErrorList

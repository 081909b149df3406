// Package agent serves managed identity tokens to local workloads with the
// protocols Azure's SDKs already speak, so that unmodified clients get lastmile's
// tokens the way they would get Entra's on an Azure host:
//
//   - the App Service protocol (IDENTITY_ENDPOINT and IDENTITY_HEADER), served on
//     the identity listener to loopback callers that present the header;
//   - the IMDS protocol (/metadata/identity/oauth2/token with Metadata: true) on
//     its own loopback address, for SDKs that honour
//     AZURE_POD_IDENTITY_AUTHORITY_HOST;
//   - both, on a Unix socket whose callers are identified by the kernel
//     (SO_PEERCRED, /proc/<pid>/exe) and given only the identities their
//     registration entries name.
//
// Azure gives every process on a VM every identity; the socket, and the TCP
// endpoints with attested callers, give each process only its own. Every caller is
// rate limited (20 requests a second and 5 at once by default, as Azure's
// endpoints are). Tokens, the identity header and assertions are never logged.
package agent

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/identity/wire"
)

// Identity is a managed identity the agent hands out tokens for.
type Identity struct {
	// Name is "system" for the system-assigned identity, otherwise the
	// user-assigned identity's configured name; registration entries and
	// mi_res_id name identities by it.
	Name           string
	SystemAssigned bool
	ClientID       string
	ObjectID       string
}

// SystemName names the system-assigned identity in Workload.Identities.
const SystemName = "system"

// Workload is a registration entry: a caller that matches every selector that is
// set may use Identities.
type Workload struct {
	Name     string
	UID, GID *uint32
	// Path is the executable's path as /proc/<pid>/exe names it.
	Path string
	// SHA256 is the executable's digest, lower-case hex.
	SHA256     string
	Identities []string
}

// Config is what an Agent serves.
type Config struct {
	// Tokens issues the tokens; the gateway's identity.Cache, so that local
	// workloads and the gateway share cached tokens and outage behaviour.
	Tokens identity.TokenSource
	// Identities are the identities callers can ask for, the system-assigned one
	// first.
	Identities []Identity
	// Header is the IDENTITY_HEADER secret of the App Service protocol. Empty
	// turns the App Service protocol off on TCP.
	Header string
	// Workloads are the registration entries for attested callers.
	Workloads []Workload
	// AttestTCP identifies loopback TCP callers through /proc and applies the
	// registration entries to them, as on the socket. When false every loopback
	// caller may use every identity, as on an Azure VM.
	AttestTCP bool
	// RequestsPerSecond and Concurrent limit each caller; 20 and 5 when zero.
	RequestsPerSecond int
	Concurrent        int
	// Logger receives refusals and failures, never tokens or the header.
	Logger *slog.Logger
}

// Agent serves the managed identity endpoints. It is safe for concurrent use.
type Agent struct {
	cfg      Config
	log      *slog.Logger
	limits   *limiter
	attestor *attestor
}

// Paths of the protocols.
const (
	// AppServicePath is the App Service endpoint's path on the identity listener.
	AppServicePath = "/msi/token"
	// IMDSPath is the IMDS token path.
	IMDSPath = "/metadata/identity/oauth2/token"
)

// Minimum API versions of the two protocols.
const (
	appServiceAPIVersion = "2019-08-01"
	imdsAPIVersion       = "2018-02-01"
)

// New returns an Agent for cfg.
func New(cfg Config) (*Agent, error) {
	if cfg.Tokens == nil {
		return nil, errors.New("managed identity agent: no token source")
	}
	if len(cfg.Identities) == 0 || !cfg.Identities[0].SystemAssigned {
		return nil, errors.New("managed identity agent: the system-assigned identity must come first")
	}
	known := map[string]bool{}
	for _, id := range cfg.Identities {
		known[strings.ToLower(id.Name)] = true
	}
	for _, w := range cfg.Workloads {
		if w.UID == nil && w.GID == nil && w.Path == "" && w.SHA256 == "" {
			return nil, fmt.Errorf("managed identity agent: workload %s has no selector", w.Name)
		}
		for _, n := range w.Identities {
			if !known[strings.ToLower(n)] {
				return nil, fmt.Errorf("managed identity agent: workload %s names unknown identity %q", w.Name, n)
			}
		}
	}
	if cfg.RequestsPerSecond <= 0 {
		cfg.RequestsPerSecond = 20
	}
	if cfg.Concurrent <= 0 {
		cfg.Concurrent = 5
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Agent{
		cfg:      cfg,
		log:      log,
		limits:   newLimiter(cfg.RequestsPerSecond, cfg.Concurrent),
		attestor: newAttestor(),
	}, nil
}

// protocol is the request and response shape of an endpoint.
type protocol int

const (
	appService protocol = iota
	imds
)

// transport says where a request arrived, which decides how its caller is
// identified.
type transport int

const (
	overTCP transport = iota
	overSocket
)

// Wrap returns a handler for the identity listener: App Service protocol requests
// go to the agent, everything else to next. The path matches ignoring ASCII case
// and a trailing slash, because @azure/identity lower-cases IDENTITY_ENDPOINT and
// appends "/".
func (a *Agent) Wrap(next http.Handler) http.Handler {
	if a.cfg.Header == "" {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pathIs(r.URL.Path, AppServicePath) {
			a.serve(w, r, appService, overTCP)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// IMDSHandler serves the IMDS protocol on its loopback listener.
func (a *Agent) IMDSHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if pathIs(r.URL.Path, IMDSPath) {
			a.serve(w, r, imds, overTCP)
			return
		}
		writeError(w, http.StatusNotFound, "not_found", "this endpoint serves "+IMDSPath+" only")
	})
}

// SocketHandler serves both protocols on the attested Unix socket: AppServicePath
// without the identity header (the kernel says who the caller is) and IMDSPath.
// The server must use ConnContext.
func (a *Agent) SocketHandler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case pathIs(r.URL.Path, AppServicePath):
			a.serve(w, r, appService, overSocket)
		case pathIs(r.URL.Path, IMDSPath):
			a.serve(w, r, imds, overSocket)
		default:
			writeError(w, http.StatusNotFound, "not_found", "this socket serves "+AppServicePath+" and "+IMDSPath)
		}
	})
}

// ConnContext records the connection in the request context so that its caller
// can be identified; set it as http.Server.ConnContext on every server that
// serves the agent.
func (a *Agent) ConnContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, &connState{conn: c})
}

// pathIs reports whether p is want, ignoring ASCII case and one trailing slash.
func pathIs(p, want string) bool {
	if len(p) == len(want)+1 && p[len(p)-1] == '/' {
		p = p[:len(p)-1]
	}
	return len(p) == len(want) && strings.EqualFold(p, want)
}

// serve handles one token request.
func (a *Agent) serve(w http.ResponseWriter, r *http.Request, proto protocol, tr transport) {
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")

	// The IMDS probe of DefaultAzureCredential sends no Metadata header and waits
	// one second: answer it before anything slow.
	if proto == imds && !strings.EqualFold(r.Header.Get("Metadata"), "true") {
		writeError(w, http.StatusBadRequest, "bad_request_102", "Required metadata header not specified")
		return
	}
	if r.Method != http.MethodGet {
		h.Set("Allow", "GET")
		writeError(w, http.StatusMethodNotAllowed, "invalid_request", "use GET")
		return
	}
	if tr == overTCP {
		// A request relayed by a proxy is a request from somewhere else: the SSRF
		// that Metadata: true and the identity header exist to stop.
		if _, ok := r.Header["X-Forwarded-For"]; ok {
			writeError(w, http.StatusBadRequest, "invalid_request", "requests relayed by a proxy (X-Forwarded-For) are refused")
			return
		}
		if _, ok := r.Header["Forwarded"]; ok {
			writeError(w, http.StatusBadRequest, "invalid_request", "requests relayed by a proxy (Forwarded) are refused")
			return
		}
		if !loopbackRemote(r.RemoteAddr) {
			writeError(w, http.StatusForbidden, "access_denied", "the managed identity endpoint serves callers on this host only")
			return
		}
		if !loopbackHost(r.Host) {
			// DNS rebinding: a browser page that resolved its own name to 127.0.0.1.
			writeError(w, http.StatusBadRequest, "invalid_request", "the Host header must name a loopback address")
			return
		}
		if proto == appService {
			if len(r.Header.Values("X-Identity-Header")) > 1 {
				// Which one a check reads is a guess the caller should not get to make.
				writeError(w, http.StatusBadRequest, "invalid_request", "X-IDENTITY-HEADER is given more than once")
				return
			}
			got := r.Header.Get("X-Identity-Header")
			if got == "" || subtle.ConstantTimeCompare([]byte(got), []byte(a.cfg.Header)) != 1 {
				// Neither value is ever logged or echoed.
				writeError(w, http.StatusUnauthorized, "unauthorized_client", "X-IDENTITY-HEADER is missing or does not match IDENTITY_HEADER")
				return
			}
		}
	}

	c, err := a.caller(r, tr)
	if err != nil {
		a.log.Warn("managed identity request refused: caller not identified", "error", err)
		writeError(w, http.StatusForbidden, "access_denied", "the caller could not be identified: "+err.Error())
		return
	}
	release, retry, ok := a.limits.acquire(c.key)
	if !ok {
		h.Set("Retry-After", strconv.Itoa(int((retry+time.Second-1)/time.Second)))
		writeError(w, http.StatusTooManyRequests, "throttled", "too many requests from this caller; retry later")
		return
	}
	defer release()

	// One value per parameter: with two resources or two identity selectors
	// there is no telling which one the caller meant.
	q, err := wire.ParseParams(r.URL.RawQuery)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request", err.Error())
		return
	}
	if status, code, msg := checkAPIVersion(q.Get("api-version"), proto); status != 0 {
		writeError(w, status, code, msg)
		return
	}
	resource := strings.TrimSpace(q.Get("resource"))
	if resource == "" {
		writeError(w, http.StatusBadRequest, "invalid_request", "the resource parameter is required: name the App ID URI or application id of the API the token is for")
		return
	}
	id, status, code, msg := a.resolve(q, proto)
	if status != 0 {
		writeError(w, status, code, msg)
		return
	}
	if !c.may(id) {
		a.log.Warn("managed identity request refused: identity not granted to the caller",
			"caller", c.describe(), "identity", id.Name)
		writeError(w, http.StatusForbidden, "access_denied", fmt.Sprintf("no registration entry gives this caller the identity %s", id.Name))
		return
	}

	clientID := id.ClientID
	if id.SystemAssigned {
		clientID = ""
	}
	tok, err := a.cfg.Tokens.Token(r.Context(), clientID, resource)
	if err != nil {
		a.tokenError(w, err, id, resource)
		return
	}
	writeToken(w, tok, resource, id.ClientID, proto)
}

func checkAPIVersion(v string, proto protocol) (int, string, string) {
	min := appServiceAPIVersion
	if proto == imds {
		min = imdsAPIVersion
	}
	if v == "" {
		return http.StatusBadRequest, "invalid_request", "the api-version parameter is required; use " + min
	}
	// Versions are dates, so they compare as strings; a preview suffix is allowed.
	date, _, _ := strings.Cut(v, "-preview")
	if len(date) != len(min) || !validDate(date) || date < min {
		return http.StatusBadRequest, "invalid_request", fmt.Sprintf("api-version %q is not supported; use %s or later", clip(v), min)
	}
	return 0, "", ""
}

func validDate(s string) bool {
	_, err := time.Parse(time.DateOnly, s)
	return err == nil
}

// resolve finds the identity the request selects: the system-assigned one unless
// one of client_id, object_id (principal_id) or the resource id is given. The
// resource id is App Service's mi_res_id and IMDS's msi_res_id; both names are
// taken on both endpoints, since a caller that names a user-assigned identity
// under the other name must not get the system-assigned one instead.
func (a *Agent) resolve(q url.Values, proto protocol) (Identity, int, string, string) {
	resParam := "mi_res_id"
	if proto == imds {
		resParam = "msi_res_id"
	}
	var selName, selValue string
	n := 0
	for _, p := range []string{"client_id", "object_id", "principal_id", "mi_res_id", "msi_res_id"} {
		vs, ok := q[p]
		if !ok {
			continue
		}
		v := strings.TrimSpace(vs[0])
		if v == "" {
			// Empty, it would select the system-assigned identity.
			return Identity{}, http.StatusBadRequest, "invalid_request", p + " is empty; give the identity's value, or leave the parameter out for the system-assigned identity"
		}
		selName, selValue = p, v
		n++
	}
	if n > 1 {
		return Identity{}, http.StatusBadRequest, "invalid_request", "give at most one of client_id, object_id, principal_id and " + resParam
	}
	if n == 0 {
		return a.cfg.Identities[0], 0, "", ""
	}
	for _, id := range a.cfg.Identities {
		switch selName {
		case "client_id":
			if strings.EqualFold(id.ClientID, selValue) {
				return id, 0, "", ""
			}
		case "object_id", "principal_id":
			if strings.EqualFold(id.ObjectID, selValue) {
				return id, 0, "", ""
			}
		default:
			// /subscriptions/.../providers/Microsoft.ManagedIdentity/userAssignedIdentities/<name>
			if !id.SystemAssigned && strings.EqualFold(resourceName(selValue), id.Name) {
				return id, 0, "", ""
			}
		}
	}
	// Azure's answer to an identity that is not assigned to this host.
	return Identity{}, http.StatusBadRequest, "invalid_request",
		fmt.Sprintf("Identity not found: no managed identity has %s %q; declare it under identity.userAssignedIdentities in lastmile.yaml", selName, clip(selValue))
}

// resourceName returns the last segment of an Azure resource id.
func resourceName(id string) string {
	id = strings.TrimRight(id, "/")
	if i := strings.LastIndexByte(id, '/'); i >= 0 {
		return id[i+1:]
	}
	return id
}

func (a *Agent) tokenError(w http.ResponseWriter, err error, id Identity, resource string) {
	var unavailable *identity.UnavailableError
	var transient *identity.TransientError
	switch {
	case errors.Is(err, identity.ErrConfiguration):
		writeError(w, http.StatusBadRequest, "invalid_resource", err.Error())
	case errors.As(err, &unavailable):
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((unavailable.RetryAfter+time.Second-1)/time.Second))))
		a.log.Warn("managed identity token unavailable", "identity", id.Name, "resource", resource, "error", err)
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "no token is available now; retry later")
	case errors.As(err, &transient):
		w.Header().Set("Retry-After", strconv.Itoa(max(1, int((transient.RetryAfter+time.Second-1)/time.Second))))
		a.log.Warn("managed identity token source failed", "identity", id.Name, "resource", resource, "error", err)
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the token source is not answering; retry later")
	case errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded):
		writeError(w, http.StatusServiceUnavailable, "temporarily_unavailable", "the request ended before a token was issued")
	default:
		a.log.Warn("managed identity token request failed", "identity", id.Name, "resource", resource, "error", err)
		writeError(w, http.StatusInternalServerError, "unknown", "the token source failed; see the lastmile log")
	}
}

// tokenResponse is the body both protocols answer with. The fields Azure's
// endpoints send carry Azure's types: epoch seconds and durations are strings
// (expires_on in App Service 2019-08-01; expires_in, expires_on, not_before and
// ext_expires_in in IMDS 2018-02-01). refresh_in is lastmile's addition, the
// field of Entra's token endpoint, where it is an integer: MSAL Python's token
// cache adds it to an int, so it is a JSON number here too.
type tokenResponse struct {
	AccessToken  string  `json:"access_token"`
	RefreshToken *string `json:"refresh_token,omitempty"`
	ExpiresIn    string  `json:"expires_in"`
	ExpiresOn    string  `json:"expires_on"`
	ExtExpiresIn string  `json:"ext_expires_in,omitempty"`
	NotBefore    string  `json:"not_before"`
	RefreshIn    int64   `json:"refresh_in,omitempty"`
	Resource     string  `json:"resource"`
	TokenType    string  `json:"token_type"`
	ClientID     string  `json:"client_id"`
}

func writeToken(w http.ResponseWriter, tok identity.Token, resource, clientID string, proto protocol) {
	now := time.Now()
	nbf := tok.IssuedAt
	if nbf.IsZero() {
		nbf = now
	}
	resp := tokenResponse{
		AccessToken: tok.Value,
		ExpiresIn:   strconv.FormatInt(max(0, int64(tok.ExpiresAt.Sub(now)/time.Second)), 10),
		ExpiresOn:   strconv.FormatInt(tok.ExpiresAt.Unix(), 10),
		NotBefore:   strconv.FormatInt(nbf.Unix(), 10),
		Resource:    resource,
		TokenType:   "Bearer",
		ClientID:    clientID,
	}
	if d := tok.RefreshAt.Sub(now); d >= time.Second {
		// When the cache will renew it: clients that honour refresh_in ask again
		// then rather than at a time of their own.
		resp.RefreshIn = int64(d / time.Second)
	}
	if proto == imds {
		empty := ""
		resp.RefreshToken = &empty
		resp.ExtExpiresIn = resp.ExpiresIn
	}
	body, _ := json.Marshal(&resp)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	w.Write(body)
}

// errorResponse is an RFC 6749 error, the shape MSAL and Azure's endpoints use.
type errorResponse struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
}

func writeError(w http.ResponseWriter, status int, code, desc string) {
	body, _ := json.Marshal(errorResponse{Error: code, Description: desc})
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func loopbackRemote(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// loopbackHost reports whether a Host header names a loopback address.
func loopbackHost(hostport string) bool {
	host := hostport
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if strings.EqualFold(host, "localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// clip shortens a caller-supplied string for an error message.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

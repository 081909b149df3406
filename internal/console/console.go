// Package console is lastmile's web console: a read-only view of the
// configuration as the gateway runs it (APIs, operations and their composed
// policies with each policy's origin, backends), the live traffic, the
// identity plane and the configuration's problems, and "Try it", which sends a
// request to the data plane as a client would and shows its request trace. A
// JSON API serves the data, to the embedded front end and to scripts alike
// (docs/console.md). Nothing it answers holds a token, a subscription key, a
// secret named value or a private key.
//
// It depends on small interfaces of its own (Source, Directory, TokenCache,
// Authenticator); internal/server wires them to the running gateway.
package console

import (
	"context"
	"embed"
	"encoding/json"
	"errors"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/idp"
)

// Source is the running gateway, as the console reads it. A reload replaces
// what its methods return; the console asks again for each call.
type Source interface {
	// Snapshot is the configuration being served.
	Snapshot() *gateway.Snapshot
	// Directory is the embedded identity provider; nil when there is none.
	Directory() Directory
	// TokenCache is the gateway's managed identity token cache.
	TokenCache() TokenCache
	// Status is the configuration's load and reload state.
	Status() Status
}

// Directory is the embedded identity provider (*idp.Provider).
type Directory interface {
	Issuer() string
	TenantID() string
	Identities() []idp.Identity
	Applications() []idp.ApplicationInfo
	Resources() []idp.Resource
	Keys() []idp.KeyInfo
	KeySchedule() idp.KeySchedule
	NextKeyEvent() time.Time
	RecentIssuance() []idp.Issuance
}

// TokenCache is the managed identity token cache (*identity.Cache).
type TokenCache interface {
	Entries() []identity.CacheEntry
}

// Status is the configuration's load and reload state.
type Status struct {
	// ConfigDir is the configuration folder; problems name files relative
	// to it.
	ConfigDir string
	// Loaded is when the configuration being served was built.
	Loaded time.Time
	// LastReload is the last reload, if any: a failed one left the previous
	// configuration serving.
	LastReload *Reload
}

// Reload is one reload's outcome.
type Reload struct {
	At  time.Time
	Err error // nil when it succeeded
	// NeedRestart are the settings it could not apply without a restart.
	NeedRestart []string
}

// Authenticator decides whether a call to the JSON API may proceed: nil, or
// an error saying why not (the answer is 401).
type Authenticator interface {
	Authenticate(ctx context.Context, r *http.Request) error
}

// Options configure a console.
type Options struct {
	Source Source
	// DataPlane serves "Try it"'s requests: the gateway's handler.
	DataPlane http.Handler
	// GatewayHost is the data plane's host:port, the Host of "Try it"'s
	// requests.
	GatewayHost string
	// Traffic is fed by the data plane (gateway.Handler.Requests).
	Traffic *Traffic
	// Auth, when not nil, must accept every call of the JSON API. When nil,
	// the console is reachable on loopback only (the configuration checks
	// it), and it answers only requests whose Host is a loopback name, so
	// that a web page cannot reach it through DNS rebinding.
	Auth   Authenticator
	Logger *slog.Logger
}

//go:embed static
var static embed.FS

// Handler serves the console: the front end at / and the JSON API below
// /api/.
type Handler struct {
	o     Options
	mux   *http.ServeMux
	tries chan struct{} // a slot per "Try it" in flight
}

// New returns the console's handler.
func New(o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Traffic == nil {
		o.Traffic = NewTraffic()
	}
	h := &Handler{o: o, mux: http.NewServeMux(), tries: make(chan struct{}, MaxConcurrentTries)}
	files, _ := fs.Sub(static, "static")
	h.mux.Handle("GET /{$}", serveFile(files, "index.html"))
	h.mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(files)))
	h.api("GET /api/overview", h.overview)
	h.api("GET /api/apis", h.apis)
	h.api("GET /api/apis/{api}", h.apiDetail)
	h.api("GET /api/apis/{api}/operations/{op}/policy", h.policy)
	h.api("GET /api/backends", h.backends)
	h.api("GET /api/subscriptions", h.subscriptions)
	h.api("POST /api/try", h.try)
	h.api("GET /api/traffic", h.traffic)
	h.api("GET /api/identity", h.identity)
	h.api("GET /api/validation", h.validation)
	h.mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "no such console API; see docs/console.md")
	})
	return h
}

// ServeHTTP serves the console, with the headers that keep browsers from
// running anything but its own code.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hdr := w.Header()
	// Everything the front end loads is its own: no inline script, no other
	// origin, never in a frame.
	hdr.Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'")
	hdr.Set("X-Content-Type-Options", "nosniff")
	hdr.Set("Referrer-Policy", "no-referrer")
	hdr.Set("X-Frame-Options", "DENY")
	if h.o.Auth == nil && !loopbackHost(r.Host) {
		// Without authentication only a browser on this host may call: a
		// page elsewhere that rebinds its name to 127.0.0.1 sends its own
		// name as Host.
		writeError(w, http.StatusMisdirectedRequest, "this console takes requests for localhost or a loopback address only")
		return
	}
	h.mux.ServeHTTP(w, r)
}

func loopbackHost(host string) bool {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	return directory.IsLoopbackHost(strings.Trim(host, "[]"))
}

// api registers a JSON API endpoint: authenticated, never cached, and a
// POST must be JSON from the console's own origin.
func (h *Handler) api(pattern string, f func(w http.ResponseWriter, r *http.Request) (any, error)) {
	h.mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		if h.o.Auth != nil {
			if err := h.o.Auth.Authenticate(r.Context(), r); err != nil {
				w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
				writeError(w, http.StatusUnauthorized, err.Error())
				return
			}
		}
		if r.Method == http.MethodPost {
			if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "application/json") {
				writeError(w, http.StatusUnsupportedMediaType, "send the request as application/json")
				return
			}
			if o := r.Header.Get("Origin"); o != "" && !sameOrigin(o, r) {
				writeError(w, http.StatusForbidden, "cross-origin calls are refused")
				return
			}
		}
		v, err := f(w, r)
		if err != nil {
			var he *httpError
			if errors.As(err, &he) {
				writeError(w, he.status, he.msg)
				return
			}
			h.o.Logger.Error("console call failed", "path", r.URL.Path, "error", err)
			writeError(w, http.StatusInternalServerError, "the console could not answer; see lastmile's log")
			return
		}
		writeJSON(w, http.StatusOK, v)
	})
}

// sameOrigin reports whether a browser's Origin is the console's own.
func sameOrigin(origin string, r *http.Request) bool {
	rest, ok := strings.CutPrefix(origin, "http://")
	if !ok {
		rest, ok = strings.CutPrefix(origin, "https://")
	}
	return ok && strings.EqualFold(rest, r.Host)
}

type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, msg string) error { return &httpError{status: status, msg: msg} }

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, status, map[string]any{"error": map[string]any{"status": status, "message": msg}})
}

func serveFile(files fs.FS, name string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		data, err := fs.ReadFile(files, name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Cache-Control", "no-cache")
		w.Write(data)
	})
}

package console

import (
	"cmp"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/balancer"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// The JSON API's shapes; docs/console.md documents them.

type apiJSON struct {
	ID                    string          `json:"id"`
	Name                  string          `json:"name"`
	Path                  string          `json:"path"`
	Revision              string          `json:"revision,omitempty"`
	Version               string          `json:"version,omitempty"`
	VersionScheme         string          `json:"versionScheme,omitempty"` // segment, query or header
	VersionParameter      string          `json:"versionParameter,omitempty"`
	Protocols             []string        `json:"protocols,omitempty"`
	ServiceURL            string          `json:"serviceUrl,omitempty"`
	SubscriptionRequired  bool            `json:"subscriptionRequired"`
	SubscriptionKeyHeader string          `json:"subscriptionKeyHeader"`
	SubscriptionKeyQuery  string          `json:"subscriptionKeyQuery"`
	Products              []productJSON   `json:"products"`
	OpenProduct           string          `json:"openProduct,omitempty"`
	Backends              []string        `json:"backends"`
	Operations            []operationJSON `json:"operations,omitempty"`
}

type productJSON struct {
	ID                   string `json:"id"`
	Name                 string `json:"name"`
	State                string `json:"state,omitempty"`
	SubscriptionRequired bool   `json:"subscriptionRequired"`
}

type operationJSON struct {
	ID          string `json:"id"`
	Name        string `json:"name"`
	Method      string `json:"method"`
	URLTemplate string `json:"urlTemplate"`
	// Backends are the backend entities its policies name (backend-id).
	Backends []string `json:"backends"`
	// Contexts are the product contexts it has a pipeline for; "" is none.
	Contexts []string `json:"contexts"`
}

func (h *Handler) snapshot() (*gateway.Snapshot, error) {
	s := h.o.Source.Snapshot()
	if s == nil {
		return nil, errorf(http.StatusServiceUnavailable, "the gateway has no configuration loaded")
	}
	return s, nil
}

func (h *Handler) overview(w http.ResponseWriter, r *http.Request) (any, error) {
	snap, err := h.snapshot()
	if err != nil {
		return nil, err
	}
	apis := snap.APIs()
	ops := 0
	for _, a := range apis {
		ops += len(a.Operations)
	}
	st := h.o.Source.Status()
	out := map[string]any{
		"apis": len(apis), "operations": ops, "backends": len(snap.Backends()), "subscriptions": len(snap.Subscriptions()),
		"warnings": len(snap.Warnings()), "loaded": st.Loaded.UTC(), "time": time.Now().UTC(),
	}
	if lr := st.LastReload; lr != nil {
		out["lastReload"] = map[string]any{"at": lr.At.UTC(), "ok": lr.Err == nil}
	}
	return out, nil
}

func (h *Handler) apis(w http.ResponseWriter, r *http.Request) (any, error) {
	snap, err := h.snapshot()
	if err != nil {
		return nil, err
	}
	out := []apiJSON{}
	for _, a := range snap.APIs() {
		out = append(out, describeAPI(snap, a))
	}
	return out, nil
}

func (h *Handler) apiDetail(w http.ResponseWriter, r *http.Request) (any, error) {
	snap, err := h.snapshot()
	if err != nil {
		return nil, err
	}
	a, ok := findAPI(snap, r.PathValue("api"))
	if !ok {
		return nil, errorf(http.StatusNotFound, "no API "+strconv.Quote(r.PathValue("api")))
	}
	return describeAPI(snap, a), nil
}

func findAPI(snap *gateway.Snapshot, id string) (gateway.APIInfo, bool) {
	for _, a := range snap.APIs() {
		if a.Info.ID == id {
			return a, true
		}
	}
	return gateway.APIInfo{}, false
}

func describeAPI(snap *gateway.Snapshot, a gateway.APIInfo) apiJSON {
	out := apiJSON{
		ID: a.Info.ID, Name: a.Info.Name, Path: a.Path, Revision: a.Info.Revision, Version: a.Info.Version,
		Protocols: a.Info.Protocols, SubscriptionRequired: a.KeyRequired,
		SubscriptionKeyHeader: a.Info.SubscriptionKeyHeader, SubscriptionKeyQuery: a.Info.SubscriptionKeyQuery,
		Products: []productJSON{}, OpenProduct: a.OpenProduct, Backends: []string{},
	}
	switch {
	case a.VersionQuery != "":
		out.VersionScheme, out.VersionParameter = "query", a.VersionQuery
	case a.VersionHeader != "":
		out.VersionScheme, out.VersionParameter = "header", a.VersionHeader
	case a.Info.Version != "":
		out.VersionScheme = "segment"
	}
	if u := a.Info.ServiceURL; u != nil {
		out.ServiceURL = snap.Redact(safeURL(u))
	}
	for _, p := range a.Products {
		out.Products = append(out.Products, productJSON{ID: p.ID, Name: p.Name, State: p.State, SubscriptionRequired: p.SubscriptionRequired})
	}
	for _, op := range a.Operations {
		oj := describeOperation(op.Info, op.Pipelines)
		out.Operations = append(out.Operations, oj)
		for _, b := range oj.Backends {
			if !slices.Contains(out.Backends, b) {
				out.Backends = append(out.Backends, b)
			}
		}
	}
	slices.Sort(out.Backends)
	return out
}

func describeOperation(info *exchange.Operation, pipes map[string]*pipeline.Pipeline) operationJSON {
	oj := operationJSON{ID: info.ID, Name: info.Name, Method: info.Method, URLTemplate: info.URLTemplate, Backends: []string{}}
	for _, name := range sortedKeys(pipes) {
		oj.Contexts = append(oj.Contexts, name)
		for _, b := range namedBackends(pipes[name]) {
			if !slices.Contains(oj.Backends, b) {
				oj.Backends = append(oj.Backends, b)
			}
		}
	}
	slices.Sort(oj.Backends)
	return oj
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// namedBackends are the backend entities a pipeline's policies name with a
// literal backend-id (set-backend-service, and the AI policies'
// embeddings-backend-id), nested policies included.
func namedBackends(p *pipeline.Pipeline) []string {
	var out []string
	var walk func(*policyxml.Element)
	walk = func(e *policyxml.Element) {
		for _, name := range []string{"backend-id", "embeddings-backend-id"} {
			if a := e.Attr(name); a != nil && !a.Value.IsExpression() && !slices.Contains(out, a.Value.String()) {
				out = append(out, a.Value.String())
			}
		}
		for _, c := range e.Elements() {
			walk(c)
		}
	}
	for _, sec := range sections {
		for _, st := range p.Steps(sec.s) {
			if st.Info == nil || !strings.Contains(st.Info.Source, "backend-id") {
				continue
			}
			if doc, err := policyxml.Parse(st.Info.File, []byte(st.Info.Source)); err == nil && doc.Root != nil {
				walk(doc.Root)
			}
		}
	}
	return out
}

var sections = []struct {
	s    pipeline.Section
	name string
}{{pipeline.Inbound, "inbound"}, {pipeline.Backend, "backend"}, {pipeline.Outbound, "outbound"}, {pipeline.OnError, "on-error"}}

// safeURL is a URL without user information or query string, which may
// carry credentials.
func safeURL(u *url.URL) string {
	c := *u
	c.User, c.RawQuery, c.ForceQuery, c.Fragment = nil, "", false, ""
	return c.String()
}

type stepJSON struct {
	Name   string `json:"name"`
	ID     string `json:"id,omitempty"`
	Scope  string `json:"scope"`
	Path   string `json:"path"`
	File   string `json:"file"`
	Line   int    `json:"line"`
	Column int    `json:"column"`
	// Source is the policy as written in File; named values show as
	// {{name}}.
	Source string `json:"source"`
}

type policyJSON struct {
	API       string                `json:"api"`
	Operation string                `json:"operation"`
	Product   string                `json:"product"`
	Contexts  []string              `json:"contexts"`
	Sections  map[string][]stepJSON `json:"sections"`
	// Document is the effective policy as one XML document: each policy as
	// written, after a comment naming its scope and file:line.
	Document string `json:"document"`
}

func (h *Handler) policy(w http.ResponseWriter, r *http.Request) (any, error) {
	snap, err := h.snapshot()
	if err != nil {
		return nil, err
	}
	a, ok := findAPI(snap, r.PathValue("api"))
	if !ok {
		return nil, errorf(http.StatusNotFound, "no API "+strconv.Quote(r.PathValue("api")))
	}
	var op *gateway.OperationInfo
	for i := range a.Operations {
		if a.Operations[i].Info.ID == r.PathValue("op") {
			op = &a.Operations[i]
		}
	}
	if op == nil {
		return nil, errorf(http.StatusNotFound, "API "+a.Info.ID+" has no operation "+strconv.Quote(r.PathValue("op")))
	}
	product := r.URL.Query().Get("product")
	if _, set := r.URL.Query()["product"]; !set {
		product = a.OpenProduct // the context of a call without a key
	}
	p := op.Pipelines[product]
	if p == nil {
		return nil, errorf(http.StatusNotFound, "operation "+op.Info.ID+" has no pipeline in the context of product "+strconv.Quote(product)+"; see contexts in GET /api/apis/"+a.Info.ID)
	}
	dir := snap.Dir()
	out := policyJSON{API: a.Info.ID, Operation: op.Info.ID, Product: product, Contexts: sortedKeys(op.Pipelines), Sections: map[string][]stepJSON{}}
	var doc strings.Builder
	doc.WriteString("<policies>\n")
	for _, sec := range sections {
		steps := []stepJSON{}
		doc.WriteString("  <" + sec.name + ">\n")
		for _, st := range p.Steps(sec.s) {
			in := st.Info
			if in == nil {
				continue
			}
			sj := stepJSON{Name: in.Name, ID: in.ID, Scope: in.Scope, Path: in.Path, File: relFile(dir, in.File),
				Line: in.Pos.Line, Column: in.Pos.Col, Source: snap.Redact(in.Source)}
			steps = append(steps, sj)
			doc.WriteString("    <!-- " + sj.Scope + ": " + sj.File + ":" + strconv.Itoa(sj.Line) + " -->\n")
			doc.WriteString("    " + reindent(sj.Source, in.Pos.Col-1, "    ") + "\n")
		}
		doc.WriteString("  </" + sec.name + ">\n")
		out.Sections[sec.name] = steps
	}
	doc.WriteString("</policies>\n")
	out.Document = doc.String()
	return out, nil
}

// reindent moves the continuation lines of an element written at column
// col+1 to indent.
func reindent(src string, col int, indent string) string {
	lines := strings.Split(src, "\n")
	for i := 1; i < len(lines); i++ {
		l := strings.TrimRight(lines[i], "\r")
		cut := 0
		for cut < col && cut < len(l) && (l[cut] == ' ' || l[cut] == '\t') {
			cut++
		}
		lines[i] = indent + l[cut:]
	}
	return strings.Join(lines, "\n")
}

// relFile names a file relative to the configuration folder, as request
// traces do.
func relFile(dir, file string) string {
	if dir == "" || !filepath.IsAbs(file) {
		return filepath.ToSlash(file)
	}
	if rel, err := filepath.Rel(dir, file); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.ToSlash(rel)
	}
	return filepath.ToSlash(file)
}

type breakerJSON struct {
	Open      bool       `json:"open"`
	OpenUntil *time.Time `json:"openUntil,omitempty"`
	Trips     int64      `json:"trips"`
}

type memberJSON struct {
	ID       string       `json:"id"`
	Priority int          `json:"priority"`
	Weight   int          `json:"weight"`
	Breaker  *breakerJSON `json:"circuitBreaker,omitempty"`
}

type backendJSON struct {
	ID      string       `json:"id"`
	URL     string       `json:"url,omitempty"`
	Breaker *breakerJSON `json:"circuitBreaker,omitempty"`
	Pool    []memberJSON `json:"pool,omitempty"`
}

func (h *Handler) backends(w http.ResponseWriter, r *http.Request) (any, error) {
	snap, err := h.snapshot()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	out := []backendJSON{}
	for _, b := range snap.Backends() {
		bj := backendJSON{ID: b.ID, Breaker: breakerState(b.Breaker, now)}
		if u, err := url.Parse(b.URL); err == nil && b.URL != "" {
			bj.URL = snap.Redact(safeURL(u))
		}
		for _, m := range b.Pool {
			bj.Pool = append(bj.Pool, memberJSON{ID: m.ID, Priority: m.Priority, Weight: m.Weight, Breaker: breakerState(m.Breaker, now)})
		}
		out = append(out, bj)
	}
	return out, nil
}

func breakerState(b *balancer.Breaker, now time.Time) *breakerJSON {
	if b == nil {
		return nil
	}
	until, open := b.Open(now)
	bj := &breakerJSON{Open: open, Trips: b.Trips()}
	if open {
		u := until.UTC()
		bj.OpenUntil = &u
	}
	return bj
}

type subscriptionJSON struct {
	ID           string `json:"id"`
	Name         string `json:"name"`
	Scope        string `json:"scope"`
	State        string `json:"state"`
	AllowTracing bool   `json:"allowTracing"`
}

func (h *Handler) subscriptions(w http.ResponseWriter, r *http.Request) (any, error) {
	snap, err := h.snapshot()
	if err != nil {
		return nil, err
	}
	out := []subscriptionJSON{}
	for _, s := range snap.Subscriptions() {
		out = append(out, subscriptionJSON{ID: s.Name, Name: cmp.Or(s.DisplayName, s.Name), Scope: s.ScopePath(), State: s.State, AllowTracing: s.AllowTracing})
	}
	return out, nil
}

type requestJSON struct {
	Time         time.Time `json:"time"`
	RequestID    string    `json:"requestId"`
	Method       string    `json:"method"`
	Path         string    `json:"path"`
	API          string    `json:"api"`
	Operation    string    `json:"operation"`
	Product      string    `json:"product,omitempty"`
	Subscription string    `json:"subscription,omitempty"`
	Status       int       `json:"status"`
	DurationMs   float64   `json:"durationMs"`
}

func (h *Handler) traffic(w http.ResponseWriter, r *http.Request) (any, error) {
	snap, err := h.snapshot()
	if err != nil {
		return nil, err
	}
	recent := []requestJSON{}
	for _, d := range h.o.Traffic.Recent() {
		recent = append(recent, requestJSON{Time: d.Start.UTC(), RequestID: d.RequestID, Method: d.Method, Path: snap.Redact(d.Path),
			API: d.API, Operation: d.Operation, Product: d.Product, Subscription: d.Subscription, Status: d.Status,
			DurationMs: float64(d.Duration.Microseconds()) / 1000})
	}
	return map[string]any{
		"bucketSeconds": BucketWidth.Seconds(), "windowSeconds": Window.Seconds(),
		"apis": h.o.Traffic.Series(time.Now()), "recent": recent,
	}, nil
}

type problemJSON struct {
	File    string `json:"file,omitempty"`
	Line    int    `json:"line,omitempty"`
	Column  int    `json:"column,omitempty"`
	Message string `json:"message"`
}

// positioned matches "file:line:col: message", how warnings are written.
var positioned = regexp.MustCompile(`^(.+?):(\d+):(\d+): (?s)(.*)$`)

func (h *Handler) validation(w http.ResponseWriter, r *http.Request) (any, error) {
	st := h.o.Source.Status()
	snap := h.o.Source.Snapshot()
	redact := func(s string) string { return s }
	if snap != nil {
		redact = snap.Redact
	}
	warnings := []problemJSON{}
	if snap != nil {
		for _, w := range snap.Warnings() {
			p := problemJSON{Message: w}
			if m := positioned.FindStringSubmatch(w); m != nil {
				p.File, p.Message = relFile(st.ConfigDir, m[1]), m[4]
				p.Line, _ = strconv.Atoi(m[2])
				p.Column, _ = strconv.Atoi(m[3])
			} else if file, msg, ok := strings.Cut(w, ": "); ok && st.ConfigDir != "" && exists(filepath.Join(st.ConfigDir, file)) {
				// "file: message", a file or folder of the configuration
				// without a line.
				p.File, p.Message = filepath.ToSlash(file), msg
			}
			p.Message = redact(p.Message)
			warnings = append(warnings, p)
		}
	}
	out := map[string]any{"loaded": st.Loaded.UTC(), "warnings": warnings, "errors": []problemJSON{}}
	if lr := st.LastReload; lr != nil {
		rj := map[string]any{"at": lr.At.UTC(), "ok": lr.Err == nil, "needRestart": append([]string{}, lr.NeedRestart...)}
		if lr.Err != nil {
			probs := problems(lr.Err, st.ConfigDir, redact)
			rj["errors"] = probs
			out["errors"] = probs // the configuration on disk does not load: what to fix
		}
		out["lastReload"] = rj
	}
	return out, nil
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// problems lists an error's positioned problems (a configuration or policy
// error list), or the error itself.
func problems(err error, dir string, redact func(string) string) []problemJSON {
	var list srcpos.ErrorList
	var one *srcpos.Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = srcpos.ErrorList{one}
	default:
		return []problemJSON{{Message: redact(relMessage(dir, err.Error()))}}
	}
	out := make([]problemJSON, 0, len(list))
	for _, e := range list {
		out = append(out, problemJSON{File: relFile(dir, e.File), Line: e.Pos.Line, Column: e.Pos.Col, Message: redact(relMessage(dir, e.Msg))})
	}
	return out
}

// relMessage shortens the configuration folder's path in a message.
func relMessage(dir, msg string) string {
	if dir == "" {
		return msg
	}
	return strings.ReplaceAll(msg, strings.TrimSuffix(dir, string(filepath.Separator))+string(filepath.Separator), "")
}

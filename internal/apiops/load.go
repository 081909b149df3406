package apiops

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/lastmile-gw/lastmile/internal/graphql"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// Folder and file names of the apiops layout.
const (
	dirAPIs          = "apis"
	dirProducts      = "products"
	dirSubscriptions = "subscriptions"
	dirNamedValues   = "named values"
	dirFragments     = "policy fragments"
	dirBackends      = "backends"
	dirVersionSets   = "version sets"
	fileGlobalPolicy = "policy.xml"
	fileLastmile     = "lastmile.yaml"
	revSeparator     = ";rev="

	defaultKeyHeader = "Ocp-Apim-Subscription-Key"
	defaultKeyQuery  = "subscription-key"
)

// maxFileSize bounds what Load reads from one file, so that a wrong folder fails
// clearly instead of exhausting memory.
const maxFileSize = 64 << 20

// Load reads the apiops folder dir into a Service. Problems are collected, not
// stopped at: the error is an ErrorList with every one of them, each positioned
// where possible. Warnings go into Service.Warnings and to log at Warn; files and
// folders that lastmile does not use are logged at Debug, one line each. log may
// be nil.
func Load(ctx context.Context, dir string, log *slog.Logger) (*Service, error) {
	svc, err := LoadForCheck(ctx, dir, log)
	if err != nil {
		return nil, err
	}
	return svc, nil
}

// LoadForCheck is Load for a check that reports every problem (lastmile
// validate): with load errors that leave every policy fragment and backend
// loaded, it also returns the service as far as it loaded, so that the check
// can compile the policies that did load and report their errors too. A
// document with errors is left out of it; a broken fragment or backend would
// make every reference to it an error of its own, so then the service is nil.
func LoadForCheck(ctx context.Context, dir string, log *slog.Logger) (*Service, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("configuration folder %s does not exist; pass --config the folder that apiops extracted (the one holding apis/ and policy.xml)", dir)
	case err != nil:
		return nil, fmt.Errorf("configuration folder: %w", err)
	case !fi.IsDir():
		return nil, fmt.Errorf("configuration folder %s is a file, not a folder; pass --config the folder that apiops extracted (the one holding apis/ and policy.xml)", dir)
	}
	l := &loader{
		ctx:       ctx,
		dir:       dir,
		log:       log,
		lookupEnv: os.LookupEnv,
		svc: &Service{
			Dir:           dir,
			Products:      map[string]*Product{},
			Subscriptions: map[string]*Subscription{},
			NamedValues:   map[string]*NamedValue{},
			Fragments:     map[string]*Policy{},
			Backends:      map[string]*Backend{},
			VersionSets:   map[string]*VersionSet{},
		},
		byDisplay: map[string]*NamedValue{},
		infos:     map[string]*infoFile{},
	}
	l.load()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	slices.SortStableFunc(l.svc.Warnings, func(a, b Warning) int { return strings.Compare(a.File, b.File) })
	for _, w := range l.svc.Warnings {
		log.Warn(w.Msg, "file", l.display(w.File))
	}
	if len(l.errs) > 0 {
		l.errs.Sort()
		hideSecrets(l.errs, l.svc.NamedValues)
		if l.refsBroken {
			return nil, l.errs
		}
		return l.svc, l.errs
	}
	return l.svc, nil
}

// caseVariant returns the known top-level name that name spells in another case
// (a policy.xml committed as Policy.xml), or "".
func caseVariant(name string, known map[string]bool) string {
	for _, k := range append([]string{fileGlobalPolicy, fileLastmile}, slices.Collect(maps.Keys(known))...) {
		if k != name && strings.EqualFold(k, name) {
			return k
		}
	}
	return ""
}

type loader struct {
	ctx       context.Context
	dir       string
	log       *slog.Logger
	lookupEnv func(string) (string, bool)
	svc       *Service
	errs      ErrorList

	byDisplay map[string]*NamedValue // named values by the name used in {{...}}
	infos     map[string]*infoFile   // decoded info files by relative path, for positioned cross-checks
	apiInfos  map[*API]*infoFile
	// refsBroken: a policy fragment or backend folder did not load, so
	// references to it would be errors too (LoadForCheck).
	refsBroken bool
	// saysNotCurrent marks revisions whose file says "isCurrent": false.
	saysNotCurrent map[*API]bool
	opDirs         map[*API][]string // operation policy folders by API, checked after the spec is read
}

// display is rel joined to the folder given to Load, as the operator can open it.
func (l *loader) display(rel string) string {
	return filepath.Join(l.dir, filepath.FromSlash(rel))
}

func (l *loader) errorf(rel string, format string, args ...any) {
	l.errs = append(l.errs, &Error{File: l.display(rel), Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) add(errs ...*Error) {
	l.errs = append(l.errs, errs...)
}

func (l *loader) warnf(rel string, format string, args ...any) {
	l.svc.Warnings = append(l.svc.Warnings, Warning{File: rel, Msg: fmt.Sprintf(format, args...)})
}

func (l *loader) ignore(rel string) {
	l.log.Debug("ignoring what lastmile does not use", "path", l.display(rel))
}

// entry is one directory entry, with symbolic links followed.
type entry struct {
	name  string
	isDir bool
}

// readDir lists rel, sorted by name. A missing folder is empty.
func (l *loader) readDir(rel string) []entry {
	des, err := os.ReadDir(l.display(rel))
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			l.errorf(rel, "cannot read the folder: %v", unwrapPath(err))
		}
		return nil
	}
	out := make([]entry, 0, len(des))
	for _, de := range des {
		e := entry{name: de.Name(), isDir: de.IsDir()}
		if de.Type()&fs.ModeSymlink != 0 {
			if fi, err := os.Stat(l.display(path.Join(rel, de.Name()))); err == nil {
				e.isDir = fi.IsDir()
			}
		}
		out = append(out, e)
	}
	return out
}

func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readFile reads rel; ok is false when it does not exist. Other problems are
// recorded as errors.
func (l *loader) readFile(rel string) (src []byte, ok bool) {
	p := l.display(rel)
	fi, err := os.Stat(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false
	}
	if err != nil {
		l.errorf(rel, "cannot read the file: %v", unwrapPath(err))
		return nil, false
	}
	if fi.IsDir() {
		l.errorf(rel, "is a folder; it must be a file")
		return nil, false
	}
	if !fi.Mode().IsRegular() {
		l.errorf(rel, "is not a regular file")
		return nil, false
	}
	if fi.Size() > maxFileSize {
		l.errorf(rel, "the file is %d bytes, more than the %d lastmile reads; is it the right file?", fi.Size(), maxFileSize)
		return nil, false
	}
	src, err = os.ReadFile(p)
	if err != nil {
		l.errorf(rel, "cannot read the file: %v", unwrapPath(err))
		return nil, false
	}
	return src, true
}

// readInfo reads and decodes an info file into props; ok is false when it is
// missing or broken (the error is recorded). kind names the resource in the
// message for a missing file.
func (l *loader) readInfo(rel string, props any, kind string) (*infoFile, bool) {
	src, ok := l.readFile(rel)
	if !ok {
		if _, err := os.Stat(l.display(rel)); errors.Is(err, fs.ErrNotExist) {
			l.errorf(rel, "missing; apiops writes one in every %s folder: add it, or remove the folder %s", kind, path.Dir(rel))
		}
		return nil, false
	}
	f, err := decodeInfo(l.display(rel), src, props)
	if err != nil {
		l.add(err)
		return nil, false
	}
	l.infos[rel] = f
	return f, true
}

func (l *loader) load() {
	top := l.readDir(".")
	known := map[string]bool{
		dirAPIs: true, dirProducts: true, dirSubscriptions: true, dirNamedValues: true,
		dirFragments: true, dirBackends: true, dirVersionSets: true,
	}
	for _, e := range top {
		switch {
		case known[e.name] && !e.isDir:
			l.errorf(e.name, "is a file; apiops writes %s as a folder", e.name)
		case known[e.name], e.name == fileGlobalPolicy, e.name == fileLastmile:
		case e.name == "workspaces":
			l.warnf(e.name, "workspaces are not served yet; the APIs and policies under workspaces/ are ignored")
		default:
			if want := caseVariant(e.name, known); want != "" {
				l.warnf(e.name, "is not read: lastmile reads %q, and names are case-sensitive", want)
				continue
			}
			l.ignore(e.name)
		}
	}
	// Named values come first: every policy document gets them substituted as soon
	// as it is parsed. Version sets and backends come before the APIs that use them.
	l.loadNamedValues()
	l.loadVersionSets()
	l.loadBackends()
	l.loadFragments()
	if p := l.loadPolicy(fileGlobalPolicy, "policies"); p != nil {
		l.svc.Policy = p
	}
	l.loadAPIs()
	l.loadProducts()
	l.loadSubscriptions()
	l.checkRoutes()
}

// subdirs lists the folders under rel; files there are ignored with a debug line.
func (l *loader) subdirs(rel string) []string {
	var out []string
	for _, e := range l.readDir(rel) {
		if !e.isDir {
			l.ignore(path.Join(rel, e.name))
			continue
		}
		out = append(out, e.name)
	}
	return out
}

// children walks the entries of a resource folder: known names go to their
// handler, the rest are ignored with a debug line.
func (l *loader) children(rel string, known ...string) {
	for _, e := range l.readDir(rel) {
		if !slices.Contains(known, e.name) {
			l.ignore(path.Join(rel, e.name))
		}
	}
}

// loadPolicy parses the policy document rel, if it exists, checks its root
// element and substitutes named values into it.
func (l *loader) loadPolicy(rel, root string) *Policy {
	src, ok := l.readFile(rel)
	if !ok {
		return nil
	}
	file := l.display(rel)
	doc, err := policyxml.Parse(file, src)
	if err != nil {
		l.add(fromPolicy(file, err)...)
		return nil
	}
	if doc.Root == nil {
		l.errorf(rel, "the document has no root element; write <%s> ... </%s>", root, root)
		return nil
	}
	if doc.Root.Name != root {
		what := "a policy document"
		if root == "fragment" {
			what = "a policy fragment"
		}
		l.add(&Error{File: file, Pos: doc.Root.Pos,
			Msg: fmt.Sprintf("the root element is <%s>; %s must have a <%s> root", doc.Root.Name, what, root)})
		return nil
	}
	if !l.substitute(file, doc) {
		return nil
	}
	return &Policy{File: rel, Doc: doc}
}

// loadAPIs reads apis/<name>/ and apis/<name>;rev=<n>/.
func (l *loader) loadAPIs() {
	l.apiInfos = map[*API]*infoFile{}
	l.saysNotCurrent = map[*API]bool{}
	l.opDirs = map[*API][]string{}
	for _, name := range l.subdirs(dirAPIs) {
		if err := l.ctx.Err(); err != nil {
			return
		}
		if a := l.loadAPI(name); a != nil {
			l.svc.APIs = append(l.svc.APIs, a)
		}
	}
	l.pickCurrent()
	for _, a := range l.svc.APIs {
		l.checkSupport(a)
	}
	slices.SortFunc(l.svc.APIs, func(a, b *API) int {
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		return compareRevisions(a.Revision, b.Revision)
	})
}

func compareRevisions(a, b string) int {
	na, ea := strconv.Atoi(a)
	nb, eb := strconv.Atoi(b)
	if ea == nil && eb == nil {
		return na - nb
	}
	return strings.Compare(a, b)
}

func (l *loader) loadAPI(folder string) *API {
	dir := path.Join(dirAPIs, folder)
	name, rev, hasRev := strings.Cut(folder, revSeparator)
	if hasRev {
		if _, err := strconv.Atoi(rev); err != nil || name == "" {
			l.errorf(dir, "the folder name is not <api>;rev=<number>; rename it")
			return nil
		}
	}
	var p apiProps
	info, ok := l.readInfo(path.Join(dir, "apiInformation.json"), &p, "API")
	if !ok {
		// Still read the policies, so that their errors are reported too.
		l.loadPolicy(path.Join(dir, "policy.xml"), "policies")
		return nil
	}
	a := &API{
		Name:                 name,
		Dir:                  dir,
		DisplayName:          p.DisplayName,
		Description:          p.Description,
		ServiceURL:           p.ServiceURL,
		SubscriptionRequired: p.SubscriptionRequired == nil || *p.SubscriptionRequired,
		KeyHeader:            defaultKeyHeader,
		KeyQuery:             defaultKeyQuery,
		Revision:             p.APIRevision,
		IsCurrent:            p.IsCurrent != nil && *p.IsCurrent,
		Version:              p.APIVersion,
		Type:                 strings.ToLower(cmp.Or(p.Type, p.APIType, "http")),
	}
	if a.DisplayName == "" {
		a.DisplayName = name
	}
	if u, err := url.Parse(a.ServiceURL); err == nil && (u.RawQuery != "" || u.ForceQuery) {
		// Not shown: such a query often holds a key (an Azure Functions code).
		l.warnf(path.Join(dir, "apiInformation.json"), "serviceUrl has a query string, which is not sent to the backend (the request's own query is); add its parameters with set-query-parameter, or a backend entity's credentials.query, instead")
	}
	for _, proto := range p.Protocols {
		a.Protocols = append(a.Protocols, strings.ToLower(proto))
	}
	if k := p.SubscriptionKeyParameterNames; k != nil {
		a.KeyHeader = cmp.Or(k.Header, defaultKeyHeader)
		a.KeyQuery = cmp.Or(k.Query, defaultKeyQuery)
	}
	if p.Path == nil {
		l.add(info.errorAt([]string{"properties"}, `"path" is missing; set it to the API URL suffix (the part after the gateway's host, "" for the root)`))
	} else {
		a.Path = strings.Trim(*p.Path, "/")
	}
	switch {
	case a.Revision == "" && hasRev:
		a.Revision = rev
	case a.Revision == "":
		a.Revision = "1"
	case hasRev && a.Revision != rev:
		l.add(info.errorAt([]string{"properties", "apiRevision"}, fmt.Sprintf(
			"apiRevision is %q but the folder name says rev=%s; make them agree", a.Revision, rev)))
	}
	if id := p.APIVersionSetID; id != "" {
		vs := lastSegment(id, "apiVersionSets")
		if set, ok := l.svc.VersionSets[vs]; ok {
			a.VersionSet = set
		} else {
			l.add(info.errorAt([]string{"properties", "apiVersionSetId"}, fmt.Sprintf(
				"version set %q does not exist; add %s/%s/versionSetInformation.json or fix apiVersionSetId", vs, dirVersionSets, vs)))
		}
	}
	queryTemplates := true
	if t := p.TranslateRequiredQueryParameters; t != nil {
		switch {
		case strings.EqualFold(*t, "query"):
			queryTemplates = false
		case strings.EqualFold(*t, "template"):
		default:
			l.add(info.errorAt([]string{"properties", "translateRequiredQueryParameters"}, fmt.Sprintf(
				`"translateRequiredQueryParameters" is %q; it is "template" (required query parameters of the specification become template parameters of their operations, the default) or "query" (they stay query parameters)`, *t)))
		}
	}
	l.apiInfos[a] = info
	if p.IsCurrent != nil && !*p.IsCurrent {
		l.saysNotCurrent[a] = true
	}
	a.Policy = l.loadPolicy(path.Join(dir, "policy.xml"), "policies")

	var specs []string
	var opFolders []string
	for _, e := range l.readDir(dir) {
		rel := path.Join(dir, e.name)
		switch {
		case e.name == "apiInformation.json" || e.name == "policy.xml":
		case !e.isDir && strings.HasPrefix(e.name, "specification."):
			specs = append(specs, e.name)
		case e.name == "operations" && e.isDir:
			opFolders = append(opFolders, l.subdirs(rel)...)
		default:
			l.ignore(rel)
		}
	}
	specOK := l.loadSpec(a, specs, queryTemplates)
	if a.Type == "websocket" {
		// API Management's WebSocket APIs have one operation, whose policies
		// run on the handshake.
		a.Operations = []*Operation{{Name: "onHandshake", DisplayName: "onHandshake", Method: "GET", URLTemplate: "/"}}
	}
	l.loadOperationPolicies(a, opFolders, specOK)
	return a
}

// lastSegment returns the name after the last "/<kind>/" in an id such as
// "/apiVersionSets/vs1" or a full ARM id; an id without that segment is taken as
// the name itself.
func lastSegment(id, kind string) string {
	parts := strings.Split(strings.Trim(id, "/"), "/")
	for i := len(parts) - 2; i >= 0; i-- {
		if strings.EqualFold(parts[i], kind) {
			return parts[i+1]
		}
	}
	return parts[len(parts)-1]
}

// specKinds maps a specification's extension to what it is. OpenAPI is read;
// the others make the API unsupported.
var specKinds = map[string]string{
	"yaml": "openapi", "yml": "openapi", "json": "openapi",
	"graphql": "graphql", "gql": "graphql", "wsdl": "wsdl", "wadl": "wadl",
}

// specKind says what the specification file is, by its extension.
func specKind(file string) string {
	return specKinds[strings.ToLower(strings.TrimPrefix(path.Ext(file), "."))]
}

// readsSpec reports whether lastmile reads a's specification for its
// operations: OpenAPI, WADL, and the WSDL of a SOAP pass-through API.
func readsSpec(a *API) bool {
	switch specKind(a.Spec) {
	case "openapi", "wadl":
		return true
	case "wsdl":
		return a.Type == "soap"
	}
	return false
}

// loadSpec reads the API's specification, if it has one. It returns false when
// the specification is broken (the error is recorded), so that operation folders
// are not reported as unknown as well. queryTemplates makes an OpenAPI
// operation's required query parameters part of its URL template.
func (l *loader) loadSpec(a *API, specs []string, queryTemplates bool) bool {
	var chosen string
	for _, s := range specs {
		ext := strings.ToLower(strings.TrimPrefix(path.Ext(s), "."))
		if _, ok := specKinds[ext]; !ok {
			l.ignore(path.Join(a.Dir, s))
			continue
		}
		if chosen != "" {
			l.errorf(path.Join(a.Dir, s), "the API has two specifications (%s and %s); delete the one that is not current", chosen, s)
			continue
		}
		chosen = s
	}
	if chosen == "" {
		return true
	}
	a.Spec = path.Join(a.Dir, chosen)
	kind := specKind(chosen)
	if kind == "graphql" {
		src, ok := l.readFile(a.Spec)
		if !ok {
			return false
		}
		schema, err := graphql.ParseSchema(l.display(a.Spec), src)
		if err != nil {
			var e *Error
			if !errors.As(err, &e) {
				e = &Error{File: l.display(a.Spec), Msg: err.Error()}
			}
			l.add(e)
			return false
		}
		a.GraphQL = schema
		return true
	}
	var parse func(file string, src []byte) ([]specOp, []Warning, []*Error)
	switch {
	case kind == "openapi":
		parse = func(file string, src []byte) ([]specOp, []Warning, []*Error) {
			return parseSpec(l.ctx, file, src, queryTemplates)
		}
	case kind == "wadl":
		parse = parseWADL
	case kind == "wsdl" && a.Type == "soap":
		parse = parseWSDL
	default:
		return true // checkSupport reports it
	}
	src, ok := l.readFile(a.Spec)
	if !ok {
		return false
	}
	ops, warns, errs := parse(l.display(a.Spec), src)
	l.add(errs...)
	for _, w := range warns {
		l.warnf(a.Spec, "%s", w.Msg)
	}
	a.Operations = make([]*Operation, 0, len(ops))
	for _, o := range ops {
		a.Operations = append(a.Operations, o.op)
	}
	return len(errs) == 0
}

// loadOperationPolicies reads operations/<op>/policy.xml for each folder and
// attaches it to the operation whose operationId is the folder name. Operations
// of APIs that are not served (GraphQL, SOAP to REST, ...) are not read from
// their specifications, so their folders are only checked for valid policies.
func (l *loader) loadOperationPolicies(a *API, folders []string, specOK bool) {
	for _, op := range folders {
		dir := path.Join(a.Dir, "operations", op)
		l.children(dir, "policy.xml")
		pol := l.loadPolicy(path.Join(dir, "policy.xml"), "policies")
		if pol == nil {
			continue
		}
		i := slices.IndexFunc(a.Operations, func(o *Operation) bool { return o.Name == op })
		switch {
		case i >= 0:
			a.Operations[i].Policy = pol
		case a.Spec != "" && !readsSpec(a) || a.Type != "http" || !specOK:
			// The API is not served (checkSupport says why), or is served
			// as one operation, which would skip this policy.
			a.unmatchedOps = append(a.unmatchedOps, op)
		case a.Spec == "":
			l.errorf(dir, "there is a policy for operation %q, but the API has no specification to define operations; add %s/specification.yaml or remove the folder", op, a.Dir)
		default:
			ids := make([]string, len(a.Operations))
			for j, o := range a.Operations {
				ids[j] = o.Name
			}
			slices.Sort(ids)
			known := "the specification defines no operations"
			if len(ids) > 0 {
				known = "known operationIds: " + strings.Join(ids, ", ")
			}
			l.errorf(dir, "operation folder %q matches no operationId in %s (%s); rename the folder to the operation's operationId", op, a.Spec, known)
		}
	}
}

// pickCurrent decides which revision of each API is current: the one that says
// isCurrent, else the folder without ";rev=", else the only one.
func (l *loader) pickCurrent() {
	groups := map[string][]*API{}
	var names []string
	for _, a := range l.svc.APIs {
		if _, ok := groups[a.Name]; !ok {
			names = append(names, a.Name)
		}
		groups[a.Name] = append(groups[a.Name], a)
	}
	for _, name := range names {
		revs := groups[name]
		var marked []*API
		for _, a := range revs {
			if a.IsCurrent {
				marked = append(marked, a)
			}
		}
		switch {
		case len(marked) > 1:
			for _, a := range marked[1:] {
				l.add(l.apiInfos[a].errorAt([]string{"properties", "isCurrent"}, fmt.Sprintf(
					"revision %s of API %s says isCurrent, and so does %s; only one revision can be current", a.Revision, name, marked[0].Dir)))
				a.IsCurrent = false // reported once, not again as a path clash
			}
		case len(marked) == 1:
		default:
			base := slices.IndexFunc(revs, func(a *API) bool { return !strings.Contains(a.Dir, revSeparator) && !l.saysNotCurrent[a] })
			switch {
			case base >= 0:
				revs[base].IsCurrent = true
			case len(revs) == 1 && !l.saysNotCurrent[revs[0]]:
				revs[0].IsCurrent = true
			default:
				dirs := make([]string, len(revs))
				for i, a := range revs {
					dirs[i] = a.Dir
				}
				l.errorf(path.Join(dirAPIs, name), "API %s has revisions %s and none is current; set \"isCurrent\": true in the apiInformation.json of the one to serve", name, strings.Join(dirs, ", "))
			}
		}
		// The revisions share the API's path and subscription settings in API
		// Management; a revision with another path is a mistake.
		var cur *API
		for _, a := range revs {
			if a.IsCurrent {
				cur = a
			}
		}
		if cur == nil {
			continue
		}
		for _, a := range revs {
			if a != cur && a.Path != cur.Path {
				l.warnf(a.Dir, "revision %s has path %q but the current revision (%s) has %q; only the current revision is served", a.Revision, a.Path, cur.Dir, cur.Path)
			}
		}
	}
}

// checkSupport marks the APIs that lastmile does not serve yet and warns about
// the current ones.
func (l *loader) checkSupport(a *API) {
	var why string
	switch a.Type {
	case "http", "":
	case "graphql":
		if a.ServiceURL == "" {
			why = "synthetic GraphQL APIs (resolvers instead of a backend) are not served yet"
		}
	case "soap":
	case "websocket":
	case "grpc":
	case "odata":
	default:
		why = fmt.Sprintf("APIs of type %q are not served", a.Type)
	}
	if why == "" && a.Spec != "" {
		switch specKind(a.Spec) {
		case "graphql":
			if a.Type != "graphql" {
				why = fmt.Sprintf("an API of type %q cannot have a GraphQL schema; set \"type\": \"graphql\" in apiInformation.json", a.Type)
			}
		case "wsdl":
			if a.Type != "soap" {
				why = "APIs described by WSDL are not served yet" // SOAP to REST: operations from the WSDL
			}
		}
	}
	switch {
	case why != "" || len(a.unmatchedOps) == 0 || a.Type == "http" || a.Type == "":
	case a.Type == "soap" && len(a.Operations) > 0:
		names := make([]string, len(a.Operations))
		for i, o := range a.Operations {
			names[i] = o.Name
		}
		folders := "operation folder " + a.unmatchedOps[0] + " matches"
		if len(a.unmatchedOps) > 1 {
			folders = "operation folders " + strings.Join(a.unmatchedOps, ", ") + " match"
		}
		why = fmt.Sprintf("%s no operation of %s (its operations: %s); rename each folder to its operation's name, or the API would skip their policies",
			folders, path.Base(a.Spec), strings.Join(names, ", "))
	default:
		// Served as one pass-through operation, the API would skip them.
		kind := map[string]string{"soap": "SOAP", "graphql": "GraphQL", "odata": "OData", "websocket": "WebSocket", "grpc": "gRPC"}[a.Type]
		why = fmt.Sprintf("%s APIs with operation policies are not served yet (lastmile serves them as one pass-through operation, which would skip those policies)", kind)
		if a.Type == "soap" {
			why = "SOAP APIs with operation policies need the API's specification.wsdl to tell their operations apart (lastmile would otherwise serve them as one pass-through operation, which would skip those policies)"
		}
	}
	if why == "" {
		return
	}
	a.Unsupported = why
	if a.IsCurrent {
		l.warnf(a.Dir, "%s; requests under /%s will get 404", why, a.RoutePath())
	}
}

// checkRoutes reports served APIs that would answer the same requests.
func (l *loader) checkRoutes() {
	seen := map[string]*API{}
	for _, a := range l.svc.Served() {
		key := strings.ToLower(a.RoutePath())
		if vs := a.VersionSet; vs != nil && vs.Scheme != SchemeSegment {
			key += "\x00" + vs.Scheme + "\x00" + strings.ToLower(vs.QueryName+vs.HeaderName) + "\x00" + strings.ToLower(a.Version)
		}
		prev, ok := seen[key]
		if !ok {
			seen[key] = a
			continue
		}
		info := l.apiInfos[a]
		l.add(info.errorAt([]string{"properties", "path"}, fmt.Sprintf(
			"API %s is served at /%s, and so is API %s (%s/apiInformation.json); give one of them another path, or make them versions in one version set",
			a.Name, a.RoutePath(), prev.Name, prev.Dir)))
	}
}

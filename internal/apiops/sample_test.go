package apiops

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lastmile-gw/lastmile/internal/corpustest"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// recorder is a slog.Handler that keeps every record, for checking log lines.
type recorder struct {
	mu   sync.Mutex
	recs []slog.Record
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.recs = append(r.recs, rec.Clone())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

// lines returns "LEVEL msg key=value ..." for each record at level.
func (r *recorder) lines(level slog.Level) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, rec := range r.recs {
		if rec.Level != level {
			continue
		}
		var b strings.Builder
		b.WriteString(rec.Message)
		rec.Attrs(func(a slog.Attr) bool {
			b.WriteString(" " + a.Key + "=" + a.Value.String())
			return true
		})
		out = append(out, b.String())
	}
	return out
}

// all returns every record's text, for checking that nothing secret was logged.
func (r *recorder) all() string {
	var b strings.Builder
	for _, lvl := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn, slog.LevelError} {
		for _, l := range r.lines(lvl) {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

// Comparable views of the model: policies are compared by file, here; their
// content is checked separately.
type (
	opView struct {
		Name, DisplayName, Method, URLTemplate, Policy string
	}
	apiView struct {
		Name, Dir, DisplayName, Description, Path, ServiceURL string
		Protocols                                             []string
		SubscriptionRequired                                  bool
		KeyHeader, KeyQuery, Revision                         string
		IsCurrent                                             bool
		Version, VersionSet, Type, Unsupported, Policy, Spec  string
		Operations                                            []opView
		Products                                              []string
	}
)

func policyFile(p *Policy) string {
	if p == nil {
		return ""
	}
	return p.File
}

func viewAPI(a *API) apiView {
	v := apiView{
		Name: a.Name, Dir: a.Dir, DisplayName: a.DisplayName, Description: a.Description, Path: a.Path,
		ServiceURL: a.ServiceURL, Protocols: a.Protocols, SubscriptionRequired: a.SubscriptionRequired,
		KeyHeader: a.KeyHeader, KeyQuery: a.KeyQuery, Revision: a.Revision, IsCurrent: a.IsCurrent,
		Version: a.Version, Type: a.Type, Unsupported: a.Unsupported, Policy: policyFile(a.Policy),
		Spec: a.Spec, Products: a.Products,
	}
	if a.VersionSet != nil {
		v.VersionSet = a.VersionSet.Name
	}
	for _, o := range a.Operations {
		v.Operations = append(v.Operations, opView{o.Name, o.DisplayName, o.Method, o.URLTemplate, policyFile(o.Policy)})
	}
	return v
}

// elements returns the elements named name in doc, in document order.
func elements(doc *policyxml.Document, name string) []*policyxml.Element {
	var out []*policyxml.Element
	var walk func(el *policyxml.Element)
	walk = func(el *policyxml.Element) {
		if el.Name == name {
			out = append(out, el)
		}
		for _, c := range el.Elements() {
			walk(c)
		}
	}
	walk(doc.Root)
	return out
}

// values lists, for every element named name, its attribute attr or (attr "")
// the text of its <value> child.
func values(doc *policyxml.Document, name, attr string) []string {
	var out []string
	for _, el := range elements(doc, name) {
		if attr != "" {
			if a := el.Attr(attr); a != nil {
				out = append(out, a.Value.Text)
			}
			continue
		}
		for _, c := range el.Elements() {
			if c.Name == "value" {
				out = append(out, c.Text().Text)
			}
		}
	}
	return out
}

func TestLoadSample(t *testing.T) {
	dir := corpustest.Dir(t, "apiops/SampleArtifacts")
	rec := &recorder{}
	svc, err := Load(t.Context(), dir, slog.New(rec))
	if err != nil {
		t.Fatalf("Load(%s): %v", dir, err)
	}
	defaultKeys := func(v apiView) apiView {
		v.KeyHeader, v.KeyQuery, v.Protocols = "Ocp-Apim-Subscription-Key", "subscription-key", []string{"https"}
		if v.Revision == "" {
			v.Revision = "1"
		}
		if v.Type == "" {
			v.Type = "http"
		}
		return v
	}

	t.Run("APIs", func(t *testing.T) {
		want := []apiView{
			defaultKeys(apiView{
				Name: "basic-api", Dir: "apis/basic-api", DisplayName: "basic-api",
				Description: "Basic OpenAPI YAML API with operation policies.", Path: "basic-api",
				ServiceURL: "https://httpbin.org", SubscriptionRequired: true, IsCurrent: true,
				Policy: "apis/basic-api/policy.xml", Spec: "apis/basic-api/specification.yaml",
				Operations: []opView{
					{"get-items", "Get items", "GET", "/items", "apis/basic-api/operations/get-items/policy.xml"},
					{"create-item", "Create item", "POST", "/items", "apis/basic-api/operations/create-item/policy.xml"},
				},
				Products: []string{"product1"},
			}),
			defaultKeys(apiView{
				Name: "graphql-api", Dir: "apis/graphql-api", DisplayName: "graphql-api",
				Description: "GraphQL API using specification.graphql.", Path: "graphql-api",
				ServiceURL: "https://httpbin.org", IsCurrent: true, Type: "graphql",
				Spec:     "apis/graphql-api/specification.graphql",
				Products: []string{"product2"},
			}),
			defaultKeys(apiView{
				Name: "revisioned-api", Dir: "apis/revisioned-api", DisplayName: "revisioned-api",
				Description: "Revisioned API with multiple revisions.", Path: "revisioned-api",
				ServiceURL: "https://httpbin.org", SubscriptionRequired: true, IsCurrent: true,
				Spec: "apis/revisioned-api/specification.yaml",
				Operations: []opView{
					{"get-revision", "Get revision", "GET", "/revision", "apis/revisioned-api/operations/get-revision/policy.xml"},
				},
				Products: []string{"product1"},
			}),
			defaultKeys(apiView{
				Name: "revisioned-api", Dir: "apis/revisioned-api;rev=2", DisplayName: "revisioned-api",
				Description: "Revisioned API with multiple revisions.", Path: "revisioned-api",
				ServiceURL: "https://httpbin.org", SubscriptionRequired: true, IsCurrent: false, Revision: "2",
				Policy: "apis/revisioned-api;rev=2/policy.xml", Spec: "apis/revisioned-api;rev=2/specification.yaml",
				Operations: []opView{
					{"get-revision-v2", "Get revision v2", "GET", "/revision", "apis/revisioned-api;rev=2/operations/get-revision-v2/policy.xml"},
					{"get-revision-details", "Get revision details", "GET", "/revision/details", ""},
				},
				Products: []string{"product1"},
			}),
			defaultKeys(apiView{
				Name: "soap-api", Dir: "apis/soap-api", DisplayName: "SoapApiService", Description: "SOAP API",
				Path: "soap-api", ServiceURL: "https://example.com/soap", IsCurrent: true, Type: "soap", Products: []string{"product2"},
			}),
			defaultKeys(apiView{
				Name: "versioned-api-v1", Dir: "apis/versioned-api-v1", DisplayName: "versioned-api-v1",
				Description: "Version 1 of a versioned API.", Path: "versioned-api/v1",
				ServiceURL: "https://httpbin.org", SubscriptionRequired: true, IsCurrent: true,
				Version: "v1", VersionSet: "versionSet1", Spec: "apis/versioned-api-v1/specification.yaml",
				Operations: []opView{{"get-version-v1", "Get version", "GET", "/version", ""}},
				Products:   []string{"product1"},
			}),
			defaultKeys(apiView{
				Name: "versioned-api-v2", Dir: "apis/versioned-api-v2", DisplayName: "versioned-api-v2",
				Description: "Version 2 of a versioned API using OpenAPI JSON.", Path: "versioned-api/v2",
				ServiceURL: "https://httpbin.org", SubscriptionRequired: true, IsCurrent: true,
				Version: "v2", VersionSet: "versionSet1", Spec: "apis/versioned-api-v2/specification.json",
				Operations: []opView{{"get-version-v2", "Get version", "GET", "/version", ""}},
				Products:   []string{"product2"},
			}),
			defaultKeys(apiView{
				Name: "wadl-api", Dir: "apis/wadl-api", DisplayName: "wadl-api",
				Description: "HTTP API using specification.wadl.", Path: "wadl-api",
				ServiceURL: "https://example.com/wadl", IsCurrent: true,
				Spec:       "apis/wadl-api/specification.wadl",
				Operations: []opView{{"get-wadl-status", "", "GET", "/status", ""}},
				Products:   []string{"product2"},
			}),
		}
		var got []apiView
		for _, a := range svc.APIs {
			got = append(got, viewAPI(a))
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("APIs (-want +got):\n%s", diff)
		}
	})

	t.Run("served APIs and their routes", func(t *testing.T) {
		var got []string
		for _, a := range svc.Served() {
			got = append(got, a.Dir+" /"+a.RoutePath())
		}
		want := []string{
			"apis/basic-api /basic-api",
			"apis/graphql-api /graphql-api",
			"apis/revisioned-api /revisioned-api",
			"apis/soap-api /soap-api",
			"apis/versioned-api-v1 /versioned-api/v1",
			"apis/versioned-api-v2 /versioned-api/v2",
			"apis/wadl-api /wadl-api",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Served (-want +got):\n%s", diff)
		}
		if a := svc.API("revisioned-api"); a == nil || a.Revision != "1" {
			t.Errorf("API(revisioned-api) = %+v, want revision 1", a)
		}
	})

	t.Run("version sets", func(t *testing.T) {
		want := map[string]*VersionSet{"versionSet1": {Name: "versionSet1", DisplayName: "versionSet1", Scheme: SchemeSegment}}
		if diff := cmp.Diff(want, svc.VersionSets); diff != "" {
			t.Errorf("VersionSets (-want +got):\n%s", diff)
		}
	})

	t.Run("products", func(t *testing.T) {
		ten := 10
		want := map[string]*Product{
			"product1": {
				Name: "product1", DisplayName: "product1", Description: "Product for HTTP-style scenario APIs.",
				State: "published", SubscriptionRequired: true, SubscriptionsLimit: &ten,
				Policy: &Policy{File: "products/product1/policy.xml"},
				APIs:   []string{"basic-api", "revisioned-api", "versioned-api-v1"},
			},
			"product2": {
				Name: "product2", DisplayName: "product2", Description: "Product for alternate specification formats.",
				State: "published", SubscriptionRequired: false,
				Policy: &Policy{File: "products/product2/policy.xml"},
				APIs:   []string{"graphql-api", "soap-api", "versioned-api-v2", "wadl-api"},
			},
		}
		if diff := cmp.Diff(want, svc.Products, cmp.Comparer(func(a, b *Policy) bool { return policyFile(a) == policyFile(b) })); diff != "" {
			t.Errorf("Products (-want +got):\n%s", diff)
		}
	})

	t.Run("subscriptions", func(t *testing.T) {
		want := map[string]*Subscription{
			"subscription1": {Name: "subscription1", DisplayName: "subscription1", Scope: ScopeProduct, Target: "product1", State: StateActive},
			"subscription2": {Name: "subscription2", DisplayName: "subscription2", Scope: ScopeAPI, Target: "basic-api", State: StateActive, AllowTracing: true},
		}
		if diff := cmp.Diff(want, svc.Subscriptions); diff != "" {
			t.Errorf("Subscriptions (-want +got):\n%s", diff)
		}
	})

	t.Run("named values", func(t *testing.T) {
		nv := func(name, value string) *NamedValue {
			return &NamedValue{Name: name, DisplayName: name, Value: value, HasValue: true, EnvVar: NamedValueEnvVar(name)}
		}
		want := map[string]*NamedValue{
			"allowed-ip-address":  nv("allowed-ip-address", "10.0.0.1"),
			"environment-name":    nv("environment-name", "scenario"),
			"intranet-proxy-url":  nv("intranet-proxy-url", "https://httpbin.org"),
			"rewrite-search-term": nv("rewrite-search-term", "legacy"),
		}
		for _, v := range want {
			if _, set := os.LookupEnv(v.EnvVar); set {
				t.Skipf("skipping: %s is set in the environment", v.EnvVar)
			}
		}
		if diff := cmp.Diff(want, svc.NamedValues); diff != "" {
			t.Errorf("NamedValues (-want +got):\n%s", diff)
		}
	})

	t.Run("named values substituted into policies", func(t *testing.T) {
		byFile := map[string]*Policy{}
		add := func(p *Policy) {
			if p != nil {
				byFile[p.File] = p
			}
		}
		add(svc.Policy)
		for _, a := range svc.APIs {
			add(a.Policy)
			for _, o := range a.Operations {
				add(o.Policy)
			}
		}
		for _, p := range svc.Products {
			add(p.Policy)
		}
		for _, p := range svc.Fragments {
			add(p)
		}
		for _, tc := range []struct {
			file, element, attr string
			want                []string
		}{
			{"policy.xml", "set-variable", "value", []string{"scenario"}},
			{"policy.xml", "set-header", "", []string{"scenario", "scenario"}},
			{"policy.xml", "include-fragment", "fragment-id", []string{"policyFragment1"}},
			{"apis/basic-api/policy.xml", "set-header", "", []string{"basic-api", "scenario"}},
			{"apis/basic-api/policy.xml", "set-backend-service", "backend-id", []string{"backend1"}},
			{"apis/basic-api/operations/create-item/policy.xml", "find-and-replace", "from", []string{"legacy"}},
			{"apis/basic-api/operations/get-items/policy.xml", "set-variable", "value", []string{"10.0.0.1"}},
			{"apis/revisioned-api;rev=2/policy.xml", "set-backend-service", "base-url", []string{"https://httpbin.org"}},
			{"apis/revisioned-api;rev=2/policy.xml", "set-variable", "value", []string{"https://httpbin.org"}},
			{"apis/revisioned-api;rev=2/operations/get-revision-v2/policy.xml", "find-and-replace", "from", []string{"legacy"}},
			{"products/product1/policy.xml", "set-variable", "value", []string{"scenario"}},
			{"products/product2/policy.xml", "find-and-replace", "from", []string{"legacy"}},
			{"policy fragments/policyFragment1/policy.xml", "set-variable", "value", []string{"scenario"}},
			// The expression is kept verbatim for the pipeline to compile.
			{"policy fragments/policyFragment1/policy.xml", "set-header", "", []string{"@(context.RequestId.ToString())", "10.0.0.1"}},
			{"policy fragments/policyFragment2/policy.xml", "find-and-replace", "from", []string{"legacy"}},
			{"policy fragments/policyFragment2/policy.xml", "set-variable", "value", []string{"https://httpbin.org"}},
		} {
			p := byFile[tc.file]
			if p == nil {
				t.Errorf("%s: no such policy in the model", tc.file)
				continue
			}
			if got := values(p.Doc, tc.element, tc.attr); !slices.Equal(got, tc.want) {
				t.Errorf("%s <%s %s>: got %q, want %q", tc.file, tc.element, tc.attr, got, tc.want)
			}
		}
		var files []string
		for f, p := range byFile {
			files = append(files, f)
			if want := filepath.Join(dir, filepath.FromSlash(f)); p.Doc.File != want {
				t.Errorf("%s: Doc.File = %q, want %q", f, p.Doc.File, want)
			}
			for _, el := range elements(p.Doc, p.Doc.Root.Name) {
				checkNoNamedRefs(t, f, el)
			}
		}
		slices.Sort(files)
		wantFiles := []string{
			"apis/basic-api/operations/create-item/policy.xml",
			"apis/basic-api/operations/get-items/policy.xml",
			"apis/basic-api/policy.xml",
			"apis/revisioned-api/operations/get-revision/policy.xml",
			"apis/revisioned-api;rev=2/operations/get-revision-v2/policy.xml",
			"apis/revisioned-api;rev=2/policy.xml",
			"policy fragments/policyFragment1/policy.xml",
			"policy fragments/policyFragment2/policy.xml",
			"policy.xml",
			"products/product1/policy.xml",
			"products/product2/policy.xml",
		}
		if diff := cmp.Diff(wantFiles, files); diff != "" {
			t.Errorf("policy documents in the model (-want +got):\n%s", diff)
		}
	})

	t.Run("fragments", func(t *testing.T) {
		var got []string
		for name, p := range svc.Fragments {
			got = append(got, name+" "+p.File+" <"+p.Doc.Root.Name+">")
		}
		slices.Sort(got)
		want := []string{
			"policyFragment1 policy fragments/policyFragment1/policy.xml <fragment>",
			"policyFragment2 policy fragments/policyFragment2/policy.xml <fragment>",
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Fragments (-want +got):\n%s", diff)
		}
		docs := svc.FragmentDocs()
		if len(docs) != 2 || docs["policyFragment1"] != svc.Fragments["policyFragment1"].Doc {
			t.Errorf("FragmentDocs = %v, want the two fragments' documents", docs)
		}
	})

	t.Run("backends", func(t *testing.T) {
		want := map[string]*Backend{
			"backend1": {Name: "backend1", Description: "HTTPBin backend for scenario APIs.", URL: "https://httpbin.org", Protocol: "http"},
			"backend2": {Name: "backend2", Description: "Postman Echo backend for scenario APIs.", URL: "https://postman-echo.com", Protocol: "http"},
		}
		if diff := cmp.Diff(want, svc.Backends); diff != "" {
			t.Errorf("Backends (-want +got):\n%s", diff)
		}
	})

	t.Run("warnings", func(t *testing.T) {
		var want []Warning // every API of the sample is served
		if diff := cmp.Diff(want, svc.Warnings); diff != "" {
			t.Errorf("Warnings (-want +got):\n%s", diff)
		}
		var wantLog []string
		for _, w := range want {
			wantLog = append(wantLog, w.Msg+" file="+filepath.Join(dir, w.File))
		}
		if diff := cmp.Diff(wantLog, rec.lines(slog.LevelWarn)); diff != "" {
			t.Errorf("Warn log lines (-want +got):\n%s", diff)
		}
	})

	t.Run("ignored files get one debug line each", func(t *testing.T) {
		var want []string
		for _, p := range []string{"diagnostics", "loggers", "tags", "apis/basic-api/diagnostics"} {
			want = append(want, "ignoring what lastmile does not use path="+filepath.Join(dir, p))
		}
		got := rec.lines(slog.LevelDebug)
		slices.Sort(want)
		slices.Sort(got)
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("Debug log lines (-want +got):\n%s", diff)
		}
	})
}

// checkNoNamedRefs fails if a {{name}} is left in any attribute or text.
func checkNoNamedRefs(t *testing.T, file string, el *policyxml.Element) {
	t.Helper()
	for _, a := range el.Attrs {
		if strings.Contains(a.Value.Text, "{{") {
			t.Errorf("%s: <%s %s=%q> still has a named value reference", file, el.Name, a.Name, a.Value.Text)
		}
	}
	if txt := el.Text().Text; strings.Contains(txt, "{{") {
		t.Errorf("%s: <%s> text %q still has a named value reference", file, el.Name, txt)
	}
	for _, c := range el.Elements() {
		checkNoNamedRefs(t, file, c)
	}
}

func BenchmarkLoadSample(b *testing.B) {
	dir := corpustest.Dir(b, "apiops/SampleArtifacts")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Load(ctx, dir, nil); err != nil {
			b.Fatal(err)
		}
	}
}

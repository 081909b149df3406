package policies_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/corpustest"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/proxy"
)

// corpusFiles lists every policy document under policies/** of the corpus. (The
// APIOps sample's documents need their named values, fragments and backends; the
// gateway package loads that sample whole.)
func corpusFiles(t testing.TB) []string {
	root := corpustest.Dir(t)
	var files []string
	for _, sub := range []string{"policies"} {
		filepath.WalkDir(filepath.Join(root, sub), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.HasSuffix(p, ".xml") {
				files = append(files, p)
			}
			return nil
		})
	}
	sort.Strings(files)
	return files
}

// brokenUpstream are the two corpus documents that are not valid even for API
// Management's tolerant reader.
var brokenUpstream = []string{
	"Call out to an HTTP endpoint and cache the response.policy.xml",
	"Filter response content based on product name.policy.xml",
}

// placeholder stands in for a named value the corpus does not define: a URL
// where the name says it is one, a base64 key of 32 bytes where it says it is
// a signing key or a hashing secret, else a number, so that
// base-url="{{backend-url}}", <key>{{signing-key}}</key> and
// @({{max-calls}} + 1) stay meaningful.
func placeholder(name string) (string, bool) {
	n := strings.ToLower(name)
	if n == "signing-key" || strings.HasSuffix(n, "hashing-secret") {
		return "c2VjcmV0LWtleS1mb3ItdGhlLWNvcnB1cy10ZXN0cy0zMg==", true
	}
	for _, hint := range []string{"url", "uri", "endpoint", "host", "server", "base"} {
		if strings.Contains(n, hint) {
			return "https://named-value.example", true
		}
	}
	return "1", true
}

// corpusFragments parses the corpus documents whose root is <fragment>, by file
// name without extension: that is how the corpora's policies include them.
func corpusFragments(files []string) map[string]*policyxml.Document {
	frags := map[string]*policyxml.Document{}
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		doc, err := policyxml.Parse(f, src)
		if err != nil || doc.Root == nil || doc.Root.Name != "fragment" {
			continue
		}
		doc.SubstituteNamedValues(placeholder)
		name := strings.TrimSuffix(strings.TrimSuffix(filepath.Base(f), ".xml"), ".policy")
		frags[name] = doc
	}
	return frags
}

// compileCorpusFile parses and compiles one corpus document with every policy
// lastmile has. It returns the errors, or nil.
func compileCorpusFile(path string, expr pipeline.ExprCompiler, frags map[string]*policyxml.Document) (policyxml.ErrorList, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := policyxml.Parse(path, src)
	if err != nil {
		var list policyxml.ErrorList
		var one *policyxml.Error
		switch {
		case errors.As(err, &list):
			return list, nil
		case errors.As(err, &one):
			return policyxml.ErrorList{one}, nil
		}
		return nil, err
	}
	// Named values are placeholders here; a number-like value keeps expressions
	// such as @({{limit}} + 1) meaningful.
	if err := doc.SubstituteNamedValues(placeholder); err != nil {
		return nil, err
	}
	r := pipeline.NewRegistry()
	policies.Register(r, policies.Deps{
		Tokens: &fakeTokens{}, Forwarder: nopForwarder{},
		Backends: map[string]policies.Backend{"1": {URL: "https://backend.example"},
			// The AI gateway documents' embeddings and content safety backends,
			// entities of the API Management instance that the corpus lacks.
			"embeddings-backend":     {URL: "https://aoai.example/openai/deployments/embeddings/embeddings"},
			"my-embeddings":          {URL: "https://aoai.example/openai/deployments/embeddings/embeddings"},
			"content-safety-backend": {URL: "https://contentsafety.example", Resource: "https://cognitiveservices.azure.com"},
		},
		// Certificates live in lastmile.yaml, which the corpus does not have: every
		// certificate a document names is taken to be there, as backend "1" is.
		Certificates: anyCertificates{},
	})
	if doc.Root != nil && doc.Root.Name == "fragment" {
		// A fragment is compiled where it would be included; try every section and
		// keep the one with the fewest errors.
		var best policyxml.ErrorList
		for i, sec := range []string{"inbound", "backend", "outbound", "on-error"} {
			c := pipeline.NewCompiler(r, expr, map[string]*policyxml.Document{"f": doc})
			wrapper, _ := policyxml.Parse("wrapper.xml", []byte(`<policies><`+sec+`><include-fragment fragment-id="f" /></`+sec+`></policies>`))
			_, err := c.Compile(wrapper, "api")
			if err == nil {
				return nil, nil
			}
			list := err.(policyxml.ErrorList)
			if i == 0 || len(list) < len(best) {
				best = list
			}
		}
		return best, nil
	}
	c := pipeline.NewCompiler(r, expr, frags)
	if _, err := c.Compile(doc, "api"); err != nil {
		return err.(policyxml.ErrorList), nil
	}
	return nil, nil
}

type anyCertificates struct{}

var placeholderCertificate = &tls.Certificate{PrivateKey: struct{}{}}

func (anyCertificates) ByID(string) (*tls.Certificate, bool) { return placeholderCertificate, true }
func (anyCertificates) ByThumbprint(string) (*tls.Certificate, bool) {
	return placeholderCertificate, true
}

type nopForwarder struct{}

func (nopForwarder) Forward(context.Context, *exchange.Exchange, proxy.Options) error {
	return nil
}

// minCompiled is how many corpus documents compile today (99 of 131). The test
// fails when fewer do, so that no change loses coverage unnoticed: raise it
// when a new policy or feature makes more of them compile.
const minCompiled = 100

// TestCorpus compiles every corpus document and reports, per file, either that it
// compiled or exactly why it cannot run yet; -v prints the table. It fails if a
// document crashes the loader, if a document other than the two broken upstream
// fails to parse, if a failure is not one of the documented "not supported yet"
// reasons, or if fewer than minCompiled documents compile.
func TestCorpus(t *testing.T) {
	files := corpusFiles(t)
	root := corpustest.Dir(t)
	frags := corpusFragments(files)
	reasons := map[string]int{}
	outcomes := map[string]int{}
	var report strings.Builder
	for _, f := range files {
		rel, _ := filepath.Rel(root, f)
		errs, err := compileCorpusFile(f, corpusExpr, frags)
		if err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		broken := slices.ContainsFunc(brokenUpstream, func(b string) bool { return strings.HasSuffix(f, b) })
		if len(errs) == 0 {
			if broken {
				t.Errorf("%s compiled, but it is broken upstream", rel)
			}
			outcomes[outcomeCompiles]++
			fmt.Fprintf(&report, "ok    %s\n", rel)
			continue
		}
		fmt.Fprintf(&report, "FAIL  %s\n", rel)
		outcome := outcomeOwnMistake
		for _, e := range errs {
			fmt.Fprintf(&report, "        %s: %s\n", e.Pos, e.Msg)
			reason := classify(e.Msg)
			if documentError(e.File, e.Msg) {
				reason = "the document's own mistake (see documentErrors)"
			} else {
				outcome = outcomeNotYet
			}
			reasons[reason]++
			if reason == "other" && !broken {
				t.Errorf("%s:%s: unexpected error: %s", rel, e.Pos, e.Msg)
			}
		}
		if broken {
			outcome = outcomeBroken
		}
		outcomes[outcome]++
	}
	t.Logf("corpus: %d documents\n%s", len(files), report.String())
	t.Logf("outcomes:\n%s", table(outcomes))
	t.Logf("errors by reason:\n%s", table(reasons))
	if n := outcomes[outcomeCompiles]; n < minCompiled {
		t.Errorf("%d of %d corpus documents compile, fewer than the %d that did (minCompiled): a change lost coverage; go test -v -run TestCorpus lists them", n, len(files), minCompiled)
	}
}

// Outcomes of a corpus document.
const (
	outcomeCompiles   = "compiles"
	outcomeNotYet     = "needs a policy or feature lastmile does not have yet"
	outcomeOwnMistake = "fails only on the document's own mistakes"
	outcomeBroken     = "broken upstream"
)

// table prints counts by name, one a line, sorted by name.
func table(counts map[string]int) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(counts)) {
		fmt.Fprintf(&b, "  %4d  %s\n", counts[k], k)
	}
	return b.String()
}

// documentErrors are errors that are right: the document itself is wrong or
// needs something the corpus does not include.
var documentErrors = []struct{ file, msg string }{
	// Test data of the policy toolkit's decompiler, with made-up or misspelt names.
	{"Test.Decompiling/TestData/cache-value.xml", "unknown policy <cache-value>"},
	{"Test.Decompiling/TestData/invoke-darp-binding.xml", "unknown policy <invoke-darp-binding>"},
	{"Test.Decompiling/TestData/publish-to-darp.xml", "unknown policy <publish-to-darp>"},
	// The decompiler's token policies misspell estimate-prompt-tokens (which
	// API Management requires), name a quota period it does not have ("day",
	// not Daily), and leave the value out of a dimension that is not one of
	// the defaults.
	{"Test.Decompiling/TestData/azure-openai-token-limit.xml", `unknown attribute "estimate-prompt-token"`},
	{"Test.Decompiling/TestData/azure-openai-token-limit.xml", "<azure-openai-token-limit> needs estimate-prompt-tokens"},
	{"Test.Decompiling/TestData/llm-token-limit.xml", `unknown attribute "estimate-prompt-token"`},
	{"Test.Decompiling/TestData/llm-token-limit.xml", "<llm-token-limit> needs estimate-prompt-tokens"},
	{"Test.Decompiling/TestData/llm-token-limit.xml", `token-quota-period of <llm-token-limit> must be Hourly, Daily, Weekly, Monthly or Yearly, not "day"`},
	{"Test.Decompiling/TestData/llm-emit-token-metric.xml", `dimension "Operation" needs a value`},
	// caching-type="external" needs Redis (store.type: redis), which the corpus
	// test does not configure.
	{"Test.Decompiling/TestData/cache-lookup-value.xml", `caching-type="external" needs an external cache`},
	// An empty placeholder for the reader to fill in.
	{"Generate Azure Relay Token.policy.xml", `backend URL must be an absolute http or https URL, not ""`},
	// A named value reference closed with "}]" instead of "}}".
	{"Get OAuth2 access token from AAD using client id and certificate using key vault manage identity.xml", `duration "{{cachetime}]" is not a whole number of seconds`},
	// Backend entities that live in the APIM instance, not in the corpus.
	{"simple-priority-weighted.xml", `backend "aoai-lb-pool" does not exist`},
	// Formatter damage upstream: `"Ocp-Apim-Subscription-Key="""` is not C#.
	{"Loopback request for service at same API Management service.xml", `expected ")", found string literal`},
	{"Pre-authorize requests based on HTTP method with validate-jwt.policy.xml", `expected ")", found string literal`},
	{"Pre-authorize requests based on HTTP method with validate-jwt.policy.xml", `expected "}", found string literal`},
	// DateTime.AddSeconds takes a double; C# does not convert a string to one.
	{"Return a blob URL signed with a user delegation SAS token.xml", "argument 1 of AddSeconds: cannot convert from string to double"},
	// C# does not call a dictionary: MatchedParameters is indexed, MatchedParameters["x"].
	{"DELETE a from to blobStorage account.xml", "MatchedParameters is a property of IRequest, not a method"},
	{"GET a file from blobStorage account.xml", "MatchedParameters is a property of IRequest, not a method"},
	{"PUT a file to blobStorage account.xml", "MatchedParameters is a property of IRequest, not a method"},
	// Header names with {placeholders} for the reader to fill in: braces
	// cannot be in a header name.
	{"GET a file from blobStorage account.xml", `name of <set-header>: "{MyMetadataName`},
	{"PUT a file to blobStorage account.xml", `name of <set-header>: "x-ms-meta-{MyMetadataName`},
	// A URL with {placeholders} for the reader to fill in.
	{"Query CosmosDB.policy.xml", `<set-url> must be an absolute http or https URL, not "https://{database-account}.`},
	// A named value holding a URL whose name does not say so, so the test's
	// placeholder for it is a number.
	{"Extracting multiple values from xml documents.policy.xml", `<set-url> must be an absolute http or https URL, not "{{my-send-request}}"`},
	// Decompiler test data: a 4-byte key that no JWE algorithm takes, and no
	// key to verify the token it decrypts with.
	{"Test.Decompiling/TestData/validate-jwt.xml", "the symmetric key in <decryption-keys> is 4 bytes"},
	// Decompiler test data with attributes and values API Management does not
	// document: no cache-id attribute, embeddings-backend-auth must be
	// "system-assigned", and only the default dimensions may omit their value.
	{"Test.Decompiling/TestData/azure-openai-semantic-cache-lookup.xml", `unknown attribute "cache-id"`},
	{"Test.Decompiling/TestData/llm-semantic-cache-lookup.xml", `unknown attribute "cache-id"`},
	{"Test.Decompiling/TestData/llm-semantic-cache-lookup.xml", `embeddings-backend-auth must be "system-assigned"`},
	{"Test.Decompiling/TestData/emit-metric.xml", `dimension "Method" needs a value`},
	// Decompiler test data: API Management's attribute is errors-variable-name,
	// as validate-status-code's reference and its other validation policies
	// spell it.
	{"Test.Decompiling/TestData/validate-status-code.xml", `unknown attribute "error-variable-name"`},
	// Decompiler test data with cross-domain in an API's policy (it has <base />);
	// API Management allows the policy at the global scope only.
	{"Test.Decompiling/TestData/cross-domain.xml", "<cross-domain> belongs directly in the inbound section of the global policy"},
	// Fragments the landing zone deploys from files whose names differ from the ids.
	{"genai-policy.xml", "policy fragment "},
	{"managed-identity-fragment.xml", `policy fragment "routing-headers" does not exist`},
}

func documentError(file, msg string) bool {
	for _, d := range documentErrors {
		if strings.HasSuffix(file, d.file) && strings.HasPrefix(msg, d.msg) {
			return true
		}
	}
	return false
}

var notSupportedRE = regexp.MustCompile(`^policy <([a-z0-9-]+)> is not supported by lastmile yet`)

// classify names the reason behind a compile error, for the coverage table.
func classify(msg string) string {
	switch {
	case strings.HasPrefix(msg, "policy expressions are not supported yet"):
		return "expressions not supported yet"
	case notSupportedRE.MatchString(msg):
		return "policy not supported yet: " + notSupportedRE.FindStringSubmatch(msg)[1]
	case strings.Contains(msg, "is not supported"):
		return "feature not supported yet: " + msg
	}
	return "other"
}

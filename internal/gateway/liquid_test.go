package gateway_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/corpustest"
	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// corpusPolicy returns a policy document of the shared corpus, unchanged.
func corpusPolicy(t *testing.T, name string) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(corpustest.Dir(t, "policies"), "api-management-policy-snippets", "examples", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(data)
}

// serveFolder builds a gateway from a configuration folder's files, reaching
// backends through transport (the default one when nil).
func serveFolder(t *testing.T, files map[string]string, transport http.RoundTripper) *httptest.Server {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := statedir.Open(t.TempDir())
	snap, err := (&snapshot.Builder{ConfigDir: dir, State: st, Tokens: fakeTokens{}, Expr: goldenExpr, Transport: transport}).Build(context.Background())
	if err != nil {
		t.Fatalf("configuration: %v", err)
	}
	h := gateway.NewHandler(slog.New(slog.NewTextHandler(tWriter{t}, nil)))
	h.Swap(snap)
	gw := httptest.NewServer(h)
	t.Cleanup(gw.Close)
	return gw
}

// tWriter logs the gateway's warnings in the test's output.
type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestLiquidCorpusListHeaders runs the corpus's "List all inbound headers"
// unchanged: a for loop over context.Request.Headers with header.Key and
// header.Value, trimmed by {{- }}.
func TestLiquidCorpusListHeaders(t *testing.T) {
	gw := serveFolder(t, map[string]string{
		"apis/api/apiInformation.json": `{"properties":{"path":"api","serviceUrl":"http://127.0.0.1:1","subscriptionRequired":false}}`,
		"apis/api/policy.xml":          corpusPolicy(t, "List all inbound headers.policy.xml"),
	}, nil)
	req, _ := http.NewRequest("GET", gw.URL+"/api/anything", nil)
	req.Header.Set("X-Colour", "blue")
	req.Header["X-Two"] = []string{"a", "b"}
	req.Header.Set("User-Agent", "test")
	req.Header.Set("Accept-Encoding", "identity")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	host := strings.TrimPrefix(gw.URL, "http://")
	indent := "\n                "
	want := indent + "Accept-Encoding: identity" + indent + "Host: " + host + indent + "User-Agent: test" + indent +
		"X-Colour: blue" + indent + "X-Two: a, b" + indent + "\n            "
	if resp.StatusCode != 200 || string(body) != want {
		t.Errorf("status %d, body:\n%q\nwant:\n%q", resp.StatusCode, body, want)
	}
}

// TestLiquidCorpusXMLValues runs the corpus's "Extracting multiple values from
// xml documents" unchanged: send-request fetches an XML document, an
// expression extracts values into a JObject, and a Liquid template in
// return-response reads them through context.Variables.
func TestLiquidCorpusXMLValues(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/xml")
		io.WriteString(w, `<message1>
            <conditionValue>true</conditionValue>
            <value1>MESSAGE1_TEST1</value1>
            <value2>MESSAGE1_TEST2</value2>
            <value3>MESSAGE1_TEST3</value3>
        </message1>`)
	}))
	defer backend.Close()
	gw := serveFolder(t, map[string]string{
		"apis/api/apiInformation.json":                            fmt.Sprintf(`{"properties":{"path":"api","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL),
		"apis/api/policy.xml":                                     corpusPolicy(t, "Extracting multiple values from xml documents.policy.xml"),
		"named values/my-send-request/namedValueInformation.json": fmt.Sprintf(`{"properties":{"displayName":"my-send-request","value":%q}}`, backend.URL+"/message1"),
	}, nil)
	resp, err := http.Get(gw.URL + "/api/x")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	want := "<message3>\n                    <data val1=\"MESSAGE1_TEST1\" val3=\"MESSAGE1_TEST3\" />\n                </message3>\n            "
	if diff := cmp.Diff(want, string(body)); resp.StatusCode != 200 || diff != "" {
		t.Errorf("status %d, body (-want +got):\n%s", resp.StatusCode, diff)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/xml" {
		t.Errorf("Content-Type %q", ct)
	}
}

// recorder is a backend transport that records what it is sent and answers
// 200, so that a policy whose backend is a public host can run.
type recorder struct{ got []string }

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	body := ""
	if req.Body != nil {
		b, _ := io.ReadAll(req.Body)
		body = string(b)
	}
	r.got = append(r.got, req.Method+" "+req.URL.String()+"\n"+req.Header.Get("Authorization")+"\n"+req.Header.Get("Content-Type")+"\n"+body)
	return &http.Response{StatusCode: 200, Header: http.Header{}, Body: http.NoBody, Request: req}, nil
}

// TestLiquidCorpusDataFactory runs the corpus's "Trigger Azure Data Factory
// Pipeline With Parameters" unchanged: a Liquid body made of a matched URL
// template parameter, sent to Azure Resource Manager with a managed identity
// token (the transport records the request instead of reaching Azure).
func TestLiquidCorpusDataFactory(t *testing.T) {
	rec := &recorder{}
	named := func(name, value string) (string, string) {
		return "named values/" + name + "/namedValueInformation.json", fmt.Sprintf(`{"properties":{"displayName":%q,"value":%q}}`, name, value)
	}
	files := map[string]string{
		"apis/adf/apiInformation.json": `{"properties":{"path":"adf","serviceUrl":"https://backend.example","subscriptionRequired":false}}`,
		"apis/adf/specification.yaml": `openapi: 3.0.1
info: {title: adf, version: "1"}
paths:
  /runs/{emailAddress}:
    post:
      operationId: trigger
      parameters:
        - {name: emailAddress, in: path, required: true, schema: {type: string}}
      responses: {"200": {description: ok}}
`,
		"apis/adf/policy.xml": corpusPolicy(t, "Trigger Azure Data Factory Pipeline With Parameters.policy.xml"),
	}
	for _, nv := range [][2]string{{"Subscription-Id", "sub-1"}, {"ResourceGroup-Name", "rg-1"}, {"DataFactory-Name", "adf-1"}, {"Pipeline-Name", "copy"}} {
		k, v := named(nv[0], nv[1])
		files[k] = v
	}
	gw := serveFolder(t, files, rec)
	resp, err := http.Post(gw.URL+"/adf/runs/ada%40example.com", "text/plain", strings.NewReader("ignored"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	t.Logf("response: %s", b)
	want := []string{"POST https://management.azure.com/subscriptions/sub-1/resourceGroups/rg-1/providers/Microsoft.DataFactory/factories/adf-1/pipelines/copy/createRun?api-version=2017-09-01-preview\n" +
		"Bearer token(system,https://management.azure.com)\napplication/json\n" +
		"\n            {\n                \"UserEmailAddress\": \"ada@example.com\"\n            }\n        "}
	if diff := cmp.Diff(want, rec.got); resp.StatusCode != 200 || diff != "" {
		t.Errorf("status %d; backend requests (-want +got):\n%s", resp.StatusCode, diff)
	}
}

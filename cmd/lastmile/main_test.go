package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

func runCmd(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out, errb bytes.Buffer
	code := run(ctx, args, func(k string) string { return env[k] }, &out, &errb)
	return code, out.String(), errb.String()
}

func TestVersionAndUsage(t *testing.T) {
	code, out, _ := runCmd(t, nil, "version")
	if code != 0 || !strings.HasPrefix(out, "lastmile ") {
		t.Errorf("version: %d %q", code, out)
	}
	code, _, errOut := runCmd(t, nil, "frobnicate")
	if code != 2 || !strings.Contains(errOut, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %d %q", code, errOut)
	}
	code, _, _ = runCmd(t, nil)
	if code != 2 {
		t.Errorf("no command: exit %d, want 2", code)
	}
}

// TestDemo runs the README's demo command once: a request goes through the gateway
// to a backend that verifies the managed-identity token.
func TestDemo(t *testing.T) {
	code, out, errOut := runCmd(t, nil, "demo", "--once")
	if code != 0 {
		t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"token verified:", "audience (aud):    api://orders", "roles:             Orders.Read\n",
		"roles:             Orders.Read, Orders.Write", "client id (appid): 0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11",
		"web console:      http://127.0.0.1:", "without --once",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("demo output lacks %q:\n%s", want, out)
		}
	}
	// With --once the gateway is gone when the command returns: no commands to try on it.
	if strings.Contains(out, "curl ") {
		t.Errorf("demo --once printed curl commands for a gateway that has stopped:\n%s", out)
	}
	// The raw token is never printed: no JWT-shaped string in the output.
	if jwt := regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.`); jwt.MatchString(out + errOut) {
		t.Errorf("the demo printed a raw token")
	}
}

func TestServeErrors(t *testing.T) {
	dir := t.TempDir()
	code, _, errOut := runCmd(t, map[string]string{"LASTMILE_STATE": filepath.Join(dir, "state")}, "serve")
	if code != 1 || !strings.Contains(errOut, "no configuration folder: pass --config DIR") {
		t.Errorf("serve without config: %d %q", code, errOut)
	}
	code, _, errOut = runCmd(t, map[string]string{"LASTMILE_STATE": filepath.Join(dir, "state")}, "subscriptions")
	if code != 1 || !strings.Contains(errOut, "no configuration folder: pass --config DIR") {
		t.Errorf("subscriptions without config: %d %q", code, errOut)
	}
	// Flags come from the environment too; a bad configuration names the file.
	cfg := filepath.Join(dir, "cfg")
	os.MkdirAll(filepath.Join(cfg, "apis", "a"), 0o755)
	os.WriteFile(filepath.Join(cfg, "apis", "a", "apiInformation.json"), []byte("{\n  \"properties\": {\"path\": 12}\n}"), 0o644)
	code, _, errOut = runCmd(t, map[string]string{"LASTMILE_CONFIG": cfg, "LASTMILE_STATE": filepath.Join(dir, "state"),
		"LASTMILE_LISTEN": "127.0.0.1:0", "LASTMILE_IDENTITY_LISTEN": "127.0.0.1:0"}, "serve")
	if code != 1 || !strings.Contains(errOut, filepath.Join("apis", "a", "apiInformation.json")+":2:") {
		t.Errorf("serve with a bad config: %d %q", code, errOut)
	}
	code, _, errOut = runCmd(t, nil, "serve", "--log-level", "loud", "--config", cfg)
	if code != 1 || !strings.Contains(errOut, `log level "loud"`) {
		t.Errorf("bad log level: %d %q", code, errOut)
	}
}

func TestSubscriptionsCommand(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg")
	os.MkdirAll(filepath.Join(cfg, "subscriptions", "s1"), 0o755)
	os.WriteFile(filepath.Join(cfg, "subscriptions", "s1", "subscriptionInformation.json"), []byte(`{"properties":{"scope":"/apis","state":"active"}}`), 0o644)
	env := map[string]string{"LASTMILE_STATE": filepath.Join(dir, "state")}
	code, out1, errOut := runCmd(t, env, "subscriptions", "--config", cfg)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	keys := regexp.MustCompile(`[0-9a-f]{32}`).FindAllString(out1, -1)
	if !strings.Contains(out1, "s1") || !strings.Contains(out1, "/apis") || len(keys) != 2 {
		t.Errorf("output:\n%s", out1)
	}
	_, out2, _ := runCmd(t, env, "subscriptions", "--config", cfg)
	if out1 != out2 {
		t.Errorf("generated keys changed between runs:\n%s\n%s", out1, out2)
	}
}

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good")
	os.MkdirAll(filepath.Join(good, "apis", "a"), 0o755)
	os.WriteFile(filepath.Join(good, "apis", "a", "apiInformation.json"), []byte(`{"properties":{"path":"a","serviceUrl":"http://b.example"}}`), 0o644)
	os.WriteFile(filepath.Join(good, "apis", "a", "policy.xml"), []byte("<policies><inbound><base /></inbound></policies>"), 0o644)
	bad := filepath.Join(dir, "bad")
	os.MkdirAll(filepath.Join(bad, "apis", "a"), 0o755)
	os.WriteFile(filepath.Join(bad, "apis", "a", "apiInformation.json"), []byte(`{"properties":{"path":"a"}}`), 0o644)
	os.WriteFile(filepath.Join(bad, "apis", "a", "policy.xml"), []byte("<policies>\n\t<inbound>\n\t\t<set-heder name=\"x\" />\n\t\t<ip-filter action=\"deny\"><address>1.2.3.4</address></ip-filter>\n\t</inbound>\n</policies>\n"), 0o644)
	os.WriteFile(filepath.Join(bad, "lastmile.yaml"), []byte("identity:\n  tokenLifetyme: 1h\n"), 0o644)
	single := filepath.Join(dir, "one.xml")
	os.WriteFile(single, []byte(`<policies><inbound><set-backend-service backend-id="{{be}}" /><set-header name="a"><value>{{v}}</value></set-header></inbound></policies>`), 0o644)

	code, out, _ := runCmd(t, nil, "validate", good, single)
	if code != 0 || !strings.Contains(out, good+": ok") || !strings.Contains(out, single+": ok") {
		t.Errorf("good: exit %d\n%s", code, out)
	}
	code, out, _ = runCmd(t, nil, "validate", bad)
	if code != 1 {
		t.Errorf("bad: exit %d, want 1", code)
	}
	if !strings.Contains(out, "lastmile.yaml:2:3: ") || !strings.Contains(out, `tokenLifetime`) {
		t.Errorf("lastmile.yaml error missing or without a suggestion:\n%s", out)
	}
	// The folder is checked too, whatever lastmile.yaml says.
	if !strings.Contains(out, "unknown policy <set-heder>") || !strings.Contains(out, `ip-filter action must be allow or forbid`) {
		t.Errorf("the policies' errors are missing when lastmile.yaml has one:\n%s", out)
	}
	code, out, _ = runCmd(t, nil, "validate", filepath.Join(bad, "apis", "a", "policy.xml"))
	want := filepath.Join(bad, "apis", "a", "policy.xml") + ":3:3: unknown policy <set-heder>; did you mean <set-header>?\n" +
		"    \t\t<set-heder name=\"x\" />\n" +
		"    \t\t^\n" +
		filepath.Join(bad, "apis", "a", "policy.xml") + `:4:22: ip-filter action must be allow or forbid, not "deny"` + "\n"
	if code != 1 || !strings.HasPrefix(out, want) || !strings.HasSuffix(out, "2 error(s)\n") {
		t.Errorf("single bad file: exit %d\n got:\n%s\nwant prefix:\n%s", code, out, want)
	}
	if code, _, _ := runCmd(t, nil, "validate"); code != 2 {
		t.Errorf("no paths: exit %d, want 2", code)
	}
}

// TestValidateRefusesTimeoutsThatFailEveryRequest: `lastmile validate` refuses
// what would fail every request at run time, with the position.
// TestValidateSemanticCacheFile: a single policy file names its embeddings
// backend; like backend-id, it is taken to exist (the configuration folder
// with its backends is not at hand).
func TestValidateSemanticCacheFile(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.xml")
	os.WriteFile(file, []byte(`<policies><inbound><azure-openai-semantic-cache-lookup score-threshold="0.8" embeddings-backend-id="embeddings-backend" embeddings-backend-auth="system-assigned" /></inbound><outbound><azure-openai-semantic-cache-store duration="60" /></outbound></policies>`), 0o644)
	if code, out, _ := runCmd(t, nil, "validate", file); code != 0 {
		t.Errorf("exit %d\n%s", code, out)
	}
}

func TestValidateRefusesTimeoutsThatFailEveryRequest(t *testing.T) {
	file := filepath.Join(t.TempDir(), "policy.xml")
	os.WriteFile(file, []byte("<policies>\n  <inbound><base /></inbound>\n  <backend>\n    <forward-request timeout=\"0\" />\n  </backend>\n</policies>\n"), 0o644)
	code, out, _ := runCmd(t, nil, "validate", file)
	want := file + `:4:31: attribute timeout of <forward-request> must be a whole number of seconds from 1 to 86400, not "0"`
	if code != 1 || !strings.Contains(out, want) {
		t.Errorf("exit %d\n%s\nwant %s", code, out, want)
	}
}

// TestValidateHidesSecrets: an error about an attribute that holds a secret
// named value quotes {{name}}, never the value: validate's output goes to CI
// logs. The same holds for errors of the folder's own files (a backend's URL).
func TestValidateHidesSecrets(t *testing.T) {
	dir := t.TempDir()
	files := map[string]string{
		"apis/a/apiInformation.json":                        `{"properties":{"path":"a","serviceUrl":"http://b.example"}}`,
		"apis/a/policy.xml":                                 `<policies><inbound><set-backend-service base-url="{{secretval}}/x" /><rate-limit calls="{{secretval}}" renewal-period="60" /></inbound></policies>`,
		"named values/secretval/namedValueInformation.json": `{"properties":{"displayName":"secretval","value":"TOPSECRET-123","secret":true}}`,
		"named values/plain/namedValueInformation.json":     `{"properties":{"displayName":"plain","value":"PLAIN-456"}}`,
		"apis/b/apiInformation.json":                        `{"properties":{"path":"b","serviceUrl":"http://b.example"}}`,
		"apis/b/policy.xml":                                 `<policies><inbound><set-backend-service base-url="{{plain}}" /></inbound></policies>`,
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	code, out, _ := runCmd(t, nil, "validate", dir)
	if code != 1 || strings.Contains(out, "TOPSECRET") || strings.Count(out, "{{secretval}}") < 2 || !strings.Contains(out, "PLAIN-456") {
		t.Errorf("exit %d\n%s\nwant errors that name {{secretval}} without its value (a value that is not secret may show)", code, out)
	}

	be := t.TempDir()
	os.MkdirAll(filepath.Join(be, "backends", "x"), 0o755)
	os.MkdirAll(filepath.Join(be, "named values", "s"), 0o755)
	os.WriteFile(filepath.Join(be, "backends", "x", "backendInformation.json"), []byte(`{"properties":{"url":"{{s}}"}}`), 0o644)
	os.WriteFile(filepath.Join(be, "named values", "s", "namedValueInformation.json"), []byte(`{"properties":{"displayName":"s","value":"ftp://user:HUSH@host","secret":true}}`), 0o644)
	os.MkdirAll(filepath.Join(be, "apis", "a"), 0o755)
	os.WriteFile(filepath.Join(be, "apis", "a", "apiInformation.json"), []byte(`{"properties":{"path":"a","serviceUrl":"http://b.example"}}`), 0o644)
	os.WriteFile(filepath.Join(be, "apis", "a", "policy.xml"), []byte(`<policies><inbound><set-backend-service backend-id="x" /></inbound></policies>`), 0o644)
	code, out, _ = runCmd(t, nil, "validate", be)
	if code != 1 || strings.Contains(out, "HUSH") {
		t.Errorf("backend: exit %d\n%s\nwant an error without the secret", code, out)
	}

	// A secret that ends the string literal it is substituted into.
	q := t.TempDir()
	writeFile(t, q, "named values/pwd/namedValueInformation.json", `{"properties":{"displayName":"pwd","value":"pa\"ss-QUOTED","secret":true}}`)
	writeFile(t, q, "apis/a/apiInformation.json", `{"properties":{"path":"a","serviceUrl":"http://b.example"}}`)
	writeFile(t, q, "apis/a/policy.xml", `<policies><inbound><set-header name="Authorization"><value>@("Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("svc:{{pwd}}")))</value></set-header></inbound></policies>`)
	code, out, _ = runCmd(t, nil, "validate", q)
	if code != 1 || strings.Contains(out, "QUOTED") || !strings.Contains(out, "policy.xml:1:124: the expression at 1:60 is no longer one C# expression once {{pwd}} is substituted") {
		t.Errorf("a secret that breaks an expression: exit %d\n%s\nwant an error at its {{pwd}}, without the value", code, out)
	}
}

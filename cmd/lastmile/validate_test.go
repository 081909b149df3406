package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestValidateSnippets: errors from lastmile.yaml and the APIOps folder's JSON
// files, which have no byte offsets, are printed with their source line and a
// caret under the column, like policy errors (TestValidate).
func TestValidateSnippets(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) { writeFile(t, dir, name, content) }
	write("apis/a/apiInformation.json", "{\"properties\": {\n  \"path\": 12\n}}")
	write("lastmile.yaml", "identity:\n  tokenLifetyme: 1h\n")
	code, out, _ := runCmd(t, nil, "validate", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		filepath.Join(dir, "lastmile.yaml") + ":2:3: unknown key \"tokenLifetyme\" in identity; did you mean \"tokenLifetime\"?\n" +
			"      tokenLifetyme: 1h\n" +
			"      ^\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks\n%s\ngot:\n%s", want, out)
		}
	}
	write("lastmile.yaml", "")
	code, out, _ = runCmd(t, nil, "validate", dir)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		filepath.Join(dir, "apis", "a", "apiInformation.json") + ":2:11: \"path\" must be a string, not a number\n" +
			"      \"path\": 12\n" +
			"              ^\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks\n%s\ngot:\n%s", want, out)
		}
	}
}

// TestValidateReportsEveryFile: one file's load error (an undefined named
// value, a broken JSON file) does not hide the other policies' compile errors:
// both lists are printed. A broken fragment stops the check at the load
// errors, since every include of it would be an error too.
func TestValidateReportsEveryFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) { writeFile(t, dir, name, content) }
	api := func(name string) {
		write("apis/"+name+"/apiInformation.json", `{"properties":{"path":"`+name+`","serviceUrl":"http://b.example"}}`)
	}
	api("x1")
	write("apis/x1/policy.xml", `<policies><inbound><set-header name="X"><value>{{missing}}</value></set-header></inbound></policies>`)
	api("x2")
	write("apis/x2/policy.xml", `<policies><inbound><bogus /></inbound></policies>`)
	api("x3")
	write("apis/x3/policy.xml", `<policies><inbound><include-fragment fragment-id="f" /></inbound></policies>`)
	write("apis/x4/apiInformation.json", `{"properties": {"path": 12}}`)
	write("policy fragments/f/policy.xml", `<fragment><set-header name="Y"><value>y</value></set-header></fragment>`)
	code, out, _ := runCmd(t, nil, "validate", dir)
	for _, want := range []string{
		filepath.Join(dir, "apis", "x1", "policy.xml") + `:1:48: named value "missing" is not defined`,
		filepath.Join(dir, "apis", "x2", "policy.xml") + `:1:20: unknown policy <bogus>`,
		filepath.Join(dir, "apis", "x4", "apiInformation.json") + `:1:25: "path" must be a string`,
		"3 error(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}

	// A fragment that does not load: its includes are not reported as missing.
	write("policy fragments/f/policy.xml", `<fragment><set-header name="Y"></fragment>`)
	code, out, _ = runCmd(t, nil, "validate", dir)
	if code != 1 || strings.Contains(out, `fragment "f" does not exist`) || strings.Contains(out, "bogus") ||
		!strings.Contains(out, filepath.Join(dir, "policy fragments", "f", "policy.xml")) {
		t.Errorf("exit %d, want the fragment's error and the other load errors only:\n%s", code, out)
	}
}

// writeFile writes content to name (slash-separated) under dir, making its folders.
func writeFile(t *testing.T, dir, name, content string) {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(name))
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestValidateFragments: every policy fragment is compiled, as API Management
// does when one is created, whether or not a policy includes it; an included
// fragment's errors are printed once however often it is included. A policy
// that only some sections allow is an error only where the fragment is
// included in another section.
func TestValidateFragments(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) { writeFile(t, dir, name, content) }
	write("apis/a/apiInformation.json", `{"properties":{"path":"a","serviceUrl":"http://b.example"}}`)
	write("apis/a/policy.xml", `<policies><inbound><include-fragment fragment-id="used" /><include-fragment fragment-id="out" /></inbound></policies>`)
	write("apis/b/apiInformation.json", `{"properties":{"path":"b","serviceUrl":"http://b.example"}}`)
	write("apis/b/policy.xml", `<policies><inbound><include-fragment fragment-id="used" /></inbound><outbound><include-fragment fragment-id="used" /></outbound></policies>`)
	write("policy fragments/used/policy.xml", "<fragment>\n  <set-heder name=\"x\" />\n</fragment>\n")
	write("policy fragments/unused/policy.xml", "<fragment>\n  <bogus />\n  <set-variable name=\"v\" value=\"@(1 +)\" />\n</fragment>\n")
	write("policy fragments/out/policy.xml", "<fragment>\n  <cache-store duration=\"10\" />\n</fragment>\n")
	write("policy fragments/outunused/policy.xml", "<fragment>\n  <cache-store duration=\"10\" />\n</fragment>\n")
	frag := func(name string) string { return filepath.Join(dir, "policy fragments", name, "policy.xml") }

	code, out, _ := runCmd(t, nil, "validate", dir)
	for _, want := range []string{
		frag("unused") + ":2:3: unknown policy <bogus>; check the spelling against docs/policies.md\n      <bogus />\n      ^\n",
		frag("unused") + ":3:38: unexpected end of expression\n",
		frag("used") + ":2:3: unknown policy <set-heder>; did you mean <set-header>?\n",
		frag("out") + ":2:3: policy <cache-store> is not allowed in <inbound>",
		"4 error(s)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks\n%s\ngot:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "<set-heder>"); n != 1 {
		t.Errorf("the included fragment's error is printed %d times, want once:\n%s", n, out)
	}
	if strings.Contains(out, frag("outunused")) {
		t.Errorf("a fragment that nothing includes is refused for a policy that some sections allow:\n%s", out)
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}

	// A single fragment file is checked by the same rule.
	code, out, _ = runCmd(t, nil, "validate", frag("outunused"), frag("unused"))
	if code != 1 || !strings.Contains(out, frag("outunused")+": ok") || !strings.Contains(out, frag("unused")+":2:3: unknown policy <bogus>") ||
		!strings.HasSuffix(out, "2 error(s)\n") {
		t.Errorf("single fragments: exit %d\n%s", code, out)
	}

	// serve starts when only a fragment that nothing includes is broken: it
	// never runs, and warns.
	t.Run("serve", func(t *testing.T) {
		dir := t.TempDir()
		writeConfig(t, dir, "")
		writeFile(t, dir, "policy fragments/unused/policy.xml", "<fragment>\n  <bogus />\n</fragment>\n")
		p := startProcess(t, "serve", "--config", dir, "--state", filepath.Join(dir, "state"), "--listen", "127.0.0.1:0", "--identity-listen", "127.0.0.1:0")
		p.waitFor(t, "lastmile is serving")
		if want := "policy fragment unused, which nothing includes, would not compile: "; !strings.Contains(p.stderr.String(), want) {
			t.Errorf("serve did not warn %q:\n%s", want, p.stderr.String())
		}
	})
}

// TestValidateFileNamedValues: a single policy file has no named values. One
// inside a string literal is checked as a string; one that stands for C# code,
// or for a whole number or a choice, cannot be checked without its value: a
// warning names it at its position, in place of errors about a placeholder.
func TestValidateFileNamedValues(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "strings.xml", `<policies><inbound>
<set-header name="Authorization"><value>@("Bearer " + "{{token}}")</value></set-header>
<set-variable name="v" value="@(context.Variables.GetValueOrDefault<string>(&quot;{{var-name}}&quot;))" />
<set-variable name="i" value="@($&quot;{{host}}/{context.Request.Url.Path}&quot;)" />
<set-header name="X-Plain"><value>{{plain}}</value></set-header>
</inbound></policies>`)
	writeFile(t, dir, "code.xml", `<policies><inbound>
<set-variable name="n" value="@({{expr}})" />
<set-variable name="m" value="@(&quot;{{prefix}}&quot; + {{count}} + 1)" />
<rate-limit calls="{{calls}}" renewal-period="60" />
<set-header name="Authorization"><value>@("Bearer " + "{{token}}".Nope())</value></set-header>
</inbound></policies>`)
	file := func(name string) string { return filepath.Join(dir, name) }

	code, out, _ := runCmd(t, nil, "validate", file("strings.xml"))
	if code != 0 || out != file("strings.xml")+": ok\n" {
		t.Errorf("named values in string literals and text: exit %d\n%s", code, out)
	}

	code, out, _ = runCmd(t, nil, "validate", file("code.xml"))
	for _, want := range []string{
		file("code.xml") + ":2:33: warning: this expression is not checked: it uses {{expr}} as C# code, and a single file has no named values; validate the configuration folder to check it\n" +
			"    <set-variable name=\"n\" value=\"@({{expr}})\" />\n" +
			"                                    ^\n",
		file("code.xml") + ":3:58: warning: this expression is not checked: it uses {{count}} as C# code,",
		file("code.xml") + ":4:20: warning: this value is not checked: it holds {{calls}}",
		file("code.xml") + ":5:67: unknown method \"Nope\" on string",
		"1 error(s), 3 warning(s)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks\n%s\ngot:\n%s", want, out)
		}
	}
	for _, wrong := range []string{`unknown name "named"`, `not "named-value"`, "uses {{prefix}}"} {
		if strings.Contains(out, wrong) {
			t.Errorf("output has %q:\n%s", wrong, out)
		}
	}
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
}

// TestValidateWithoutSecrets: lastmile.yaml names the environment variables
// that hold its secrets; CI validates without them. An unset one is a warning
// that names it, and the rest is checked: a certificate whose PFX cannot be
// opened still stands for the policies that name it. serve still refuses to
// start without them, and no value is ever printed.
func TestValidateWithoutSecrets(t *testing.T) {
	vars := []string{"LASTMILE_TEST_PFX_PASSWORD", "LASTMILE_TEST_REDIS_PASSWORD", "LASTMILE_TEST_STATE_KEY"}
	for _, v := range vars {
		t.Setenv(v, "")
		os.Unsetenv(v)
	}
	dir := t.TempDir()
	write := func(name, content string) { writeFile(t, dir, name, content) }
	write("lastmile.yaml", `store:
  type: redis
  redis:
    passwordEnv: LASTMILE_TEST_REDIS_PASSWORD
  encryptionKeyEnv: LASTMILE_TEST_STATE_KEY
certificates:
  - id: client
    file: client.pfx
    passwordEnv: LASTMILE_TEST_PFX_PASSWORD
listeners:
  tls:
    certificates:
      - file: client.pfx
        passwordEnv: LASTMILE_TEST_PFX_PASSWORD
`)
	write("client.pfx", "not a PFX")
	write("apis/a/apiInformation.json", `{"properties":{"path":"a","serviceUrl":"http://b.example"}}`)
	write("apis/a/policy.xml", `<policies><inbound><authentication-certificate certificate-id="client" /><authentication-certificate thumbprint="0123456789ABCDEF0123456789ABCDEF01234567" /></inbound></policies>`)
	yaml := filepath.Join(dir, "lastmile.yaml")

	code, out, _ := runCmd(t, nil, "validate", dir)
	for _, want := range []string{
		yaml + ":4:18: warning: store.redis.passwordEnv: environment variable LASTMILE_TEST_REDIS_PASSWORD is not set;",
		yaml + ":5:21: warning: store.encryptionKeyEnv: environment variable LASTMILE_TEST_STATE_KEY is not set;",
		yaml + ":9:18: warning: certificates[0].passwordEnv: environment variable LASTMILE_TEST_PFX_PASSWORD is not set;",
		"        passwordEnv: LASTMILE_TEST_PFX_PASSWORD\n" + strings.Repeat(" ", 4+17) + "^\n",
		yaml + ":14:22: warning: listeners.tls.certificates[0].passwordEnv: environment variable LASTMILE_TEST_PFX_PASSWORD is not set;",
		dir + ": ok, 4 warning(s)\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks\n%s\ngot:\n%s", want, out)
		}
	}
	if code != 0 {
		t.Errorf("exit %d, want 0", code)
	}

	// The rest is still checked: the policies, and that the certificate file is there.
	write("apis/a/policy.xml", `<policies><inbound><authentication-certificate certificate-id="other" /></inbound></policies>`)
	code, out, _ = runCmd(t, nil, "validate", dir)
	if want := `policy.xml:1:64: no certificate of lastmile.yaml's certificates has the id "other"`; code != 1 || !strings.Contains(out, want) || !strings.HasSuffix(out, "1 error(s), 4 warning(s)\n") {
		t.Errorf("exit %d, want 1 and %s:\n%s", code, want, out)
	}
	write("lastmile.yaml", strings.Replace(readFile(t, yaml), "client.pfx", "gone.pfx", 1))
	code, out, _ = runCmd(t, nil, "validate", dir)
	if want := yaml + ":8:11: certificates[0]: " + filepath.Join(dir, "gone.pfx") + " does not exist"; code != 1 || !strings.Contains(out, want) {
		t.Errorf("exit %d, want 1 and %s:\n%s", code, want, out)
	}

	// serve needs the values.
	code, _, errOut := runCmd(t, map[string]string{"LASTMILE_CONFIG": dir, "LASTMILE_STATE": filepath.Join(t.TempDir(), "state"),
		"LASTMILE_LISTEN": "127.0.0.1:0", "LASTMILE_IDENTITY_LISTEN": "127.0.0.1:0"}, "serve")
	if code != 1 || !strings.Contains(errOut, "environment variable LASTMILE_TEST_STATE_KEY is not set") {
		t.Errorf("serve without the variables: exit %d, want 1 and the unset variable named\n%s", code, errOut)
	}

	// Set but wrong, the values are checked, and never printed.
	write("lastmile.yaml", strings.Replace(readFile(t, yaml), "gone.pfx", "client.pfx", 1))
	for _, v := range vars {
		t.Setenv(v, "VALUE-OF-"+v)
	}
	code, out, _ = runCmd(t, nil, "validate", dir)
	if code != 1 || strings.Contains(out, "VALUE-OF-") || strings.Contains(out, "warning") ||
		!strings.Contains(out, "store.encryptionKeyEnv: environment variable LASTMILE_TEST_STATE_KEY:") || !strings.Contains(out, "client.pfx: ") {
		t.Errorf("exit %d, want errors about the key and the PFX without their values:\n%s", code, out)
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

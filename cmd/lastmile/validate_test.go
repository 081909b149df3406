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

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
	write := func(name, content string) {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
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

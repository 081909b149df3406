package statedir

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestOpenAndWrite(t *testing.T) {
	base := t.TempDir()
	os.Chmod(base, 0o755)
	path := filepath.Join(base, "state")
	os.MkdirAll(path, 0o755) // too open: Open tightens it
	d, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o700 {
		t.Errorf("dir mode %v, want 0700", fi.Mode().Perm())
	}
	if err := d.WriteJSON("sub/keys.json", map[string]int{"a": 1}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(d.File("sub/keys.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("file mode %v (%v), want 0600", fi.Mode().Perm(), err)
	}
	if fi, _ := os.Stat(filepath.Join(path, "sub")); fi.Mode().Perm() != 0o700 {
		t.Errorf("subdir mode %v, want 0700", fi.Mode().Perm())
	}
	var got map[string]int
	if err := d.ReadJSON("sub/keys.json", &got); err != nil || got["a"] != 1 {
		t.Errorf("ReadJSON = %v, %v", got, err)
	}
	if err := d.ReadJSON("missing.json", &got); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v, want fs.ErrNotExist", err)
	}
	entries, _ := os.ReadDir(filepath.Join(path, "sub"))
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	if _, err := Open(d.File("sub/keys.json")); err == nil {
		t.Error("Open accepted a file")
	}
}

func TestLoadOrCreateJSON(t *testing.T) {
	d, err := Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	create := func(v *string) func() error {
		return func() error { calls++; *v = "generated"; return nil }
	}
	var first, second string
	if err := d.LoadOrCreateJSON("id.json", &first, create(&first)); err != nil {
		t.Fatal(err)
	}
	if err := d.LoadOrCreateJSON("id.json", &second, create(&second)); err != nil {
		t.Fatal(err)
	}
	if calls != 1 || first != "generated" || second != "generated" {
		t.Errorf("calls %d, first %q, second %q", calls, first, second)
	}
	os.WriteFile(d.File("bad.json"), []byte("{"), 0o600)
	var v any
	if err := d.LoadOrCreateJSON("bad.json", &v, func() error { t.Error("create called for a corrupt file"); return nil }); err == nil {
		t.Error("a corrupt file was accepted")
	}
}

func TestDefault(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	for _, tt := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"LASTMILE_STATE": "/s", "XDG_STATE_HOME": "/x", "HOME": "/h"}, "/s"},
		{map[string]string{"XDG_STATE_HOME": "/x", "HOME": "/h"}, "/x/lastmile"},
		{map[string]string{"HOME": "/h"}, "/h/.local/state/lastmile"},
	} {
		got, err := Default(env(tt.env))
		if err != nil || got != tt.want {
			t.Errorf("Default(%v) = %q, %v; want %q", tt.env, got, err, tt.want)
		}
	}
}

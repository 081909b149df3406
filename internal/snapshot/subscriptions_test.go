package snapshot_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// TestRestoreKeys: generated subscription keys that the state loses (a Redis
// restarted without persistence, a deleted file) are written back as the
// running gateway holds them, so that a rebuild, or another instance, keeps
// the keys clients have instead of generating new ones.
func TestRestoreKeys(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for name, content := range map[string]string{
		"apis/a/apiInformation.json":                    `{"properties":{"path":"a","serviceUrl":"http://b.example"}}`,
		"subscriptions/s1/subscriptionInformation.json": `{"properties":{"scope":"/apis","state":"active"}}`,
	} {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	stateDir := t.TempDir()
	st, err := statedir.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	b := &snapshot.Builder{ConfigDir: dir, State: st, Expr: policies.Expressions}
	snap, err := b.Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if wrote, err := b.RestoreKeys(ctx); wrote || err != nil {
		t.Fatalf("RestoreKeys with the keys in place: %v %v", wrote, err)
	}
	matches, _ := filepath.Glob(filepath.Join(stateDir, "subscription-keys.json*"))
	for _, m := range matches {
		os.Remove(m)
	}
	if wrote, err := b.RestoreKeys(ctx); !wrote || err != nil {
		t.Fatalf("RestoreKeys after the loss: %v %v", wrote, err)
	}
	again, err := (&snapshot.Builder{ConfigDir: dir, State: st, Expr: policies.Expressions}).Build(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(snap.Subscriptions(), again.Subscriptions()); diff != "" {
		t.Errorf("the keys after the loss differ (-before +after):\n%s", diff)
	}
}

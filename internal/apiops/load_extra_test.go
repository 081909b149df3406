package apiops

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestTopLevelWarnings(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "workspaces", "ws1", "apis"), 0o755)
	os.WriteFile(filepath.Join(dir, "Policy.xml"), []byte("<policies />"), 0o644)
	svc, err := Load(context.Background(), dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`Policy.xml: is not read: lastmile reads "policy.xml", and names are case-sensitive`,
		"workspaces: workspaces are not served yet; the APIs and policies under workspaces/ are ignored",
	}
	if len(svc.Warnings) != len(want) {
		t.Fatalf("warnings = %v", svc.Warnings)
	}
	for i, w := range svc.Warnings {
		if w.String() != want[i] {
			t.Errorf("warning %d = %q, want %q", i, w.String(), want[i])
		}
	}
}

func TestScopePath(t *testing.T) {
	tests := []struct {
		s    Subscription
		want string
	}{
		{Subscription{Scope: ScopeAllAPIs}, "/apis"},
		{Subscription{Scope: ScopeAPI, Target: "orders"}, "/apis/orders"},
		{Subscription{Scope: ScopeProduct, Target: "starter"}, "/products/starter"},
	}
	for _, tt := range tests {
		if got := tt.s.ScopePath(); got != tt.want {
			t.Errorf("ScopePath of %v = %q, want %q", &tt.s, got, tt.want)
		}
	}
}

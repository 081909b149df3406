package snapshot_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/corpustest"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

func TestAPIOpsSampleWithoutExpressions(t *testing.T) {
	dir := corpustest.Dir(t, "apiops/SampleArtifacts")
	st, _ := statedir.Open(t.TempDir())
	_, err := (&snapshot.Builder{ConfigDir: dir, State: st}).Build(context.Background())
	var list policyxml.ErrorList
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("Build: %v; want exactly one error, for the sample's one policy expression", err)
	}
	got := list[0].Error()
	want := filepath.Join(dir, "policy fragments", "policyFragment1", "policy.xml") + ":4:10: policy expressions are not supported yet: @(context.RequestId.ToString())"
	if got != want {
		t.Errorf("error:\n got %s\nwant %s", got, want)
	}
}

// TestAPIOpsSampleSubscriptions: the sample's subscriptions have no keys in the
// extract; they are generated once and kept in the state directory, by Build and
// ListSubscriptions alike.
func TestAPIOpsSampleSubscriptions(t *testing.T) {
	dir := corpustest.Dir(t, "apiops/SampleArtifacts")
	stateDir := t.TempDir()
	st, _ := statedir.Open(stateDir)
	b := &snapshot.Builder{ConfigDir: dir, State: st, Expr: policies.Expressions}
	snap, err := b.Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	subs := snap.Subscriptions()
	if len(subs) != 2 || len(subs[0].PrimaryKey) != 32 || subs[0].PrimaryKey == subs[0].SecondaryKey {
		t.Errorf("subscriptions = %+v", subs)
	}
	again, err := b.Build(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(subs, again.Subscriptions()); diff != "" {
		t.Errorf("generated keys changed on rebuild (-first +second):\n%s", diff)
	}
	listed, err := snapshot.ListSubscriptions(context.Background(), dir, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(subs, listed); diff != "" {
		t.Errorf("ListSubscriptions differs from the snapshot (-snapshot +listed):\n%s", diff)
	}

	var unsupported []string
	for _, w := range snap.Warnings() {
		for _, kind := range []string{"graphql-api", "soap-api", "wadl-api"} { // all served
			if strings.HasPrefix(w, "apis/"+kind) {
				unsupported = append(unsupported, kind)
			}
		}
	}
	if diff := cmp.Diff([]string(nil), unsupported); diff != "" {
		t.Errorf("unsupported-API warnings (-want +got):\n%s\nall warnings: %q", diff, snap.Warnings())
	}
}

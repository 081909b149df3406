package idp_test

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/lastmile-gw/lastmile/internal/idp"
)

// RecentIssuance tells a console which tokens were issued, newest first, with
// their key and id but never the token; refusals carry their reason.
func TestRecentIssuance(t *testing.T) {
	p := newProvider(t, testConfig("http://127.0.0.1:8081"), openState(t, t.TempDir()))
	tok, err := p.Issue(t.Context(), "", "api://orders")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Issue(t.Context(), "", "api://unknown"); err == nil {
		t.Fatal("Issue for an unregistered resource succeeded")
	}
	got := p.RecentIssuance()
	want := []idp.Issuance{
		{Grant: idp.GrantManagedIdentity, Resource: "api://unknown"},
		{Grant: idp.GrantManagedIdentity, Resource: "api://orders", KeyID: tok.KeyID, TokenID: tok.ID, ExpiresAt: tok.ExpiresAt},
	}
	if diff := cmp.Diff(want, got, cmpopts.IgnoreFields(idp.Issuance{}, "Time", "Error")); diff != "" {
		t.Errorf("RecentIssuance() (-want +got):\n%s", diff)
	}
	if len(got) == 2 && !strings.Contains(got[0].Error, "api://unknown") {
		t.Errorf("refusal's Error = %q, want the reason naming the resource", got[0].Error)
	}
	for i := range idp.RecentIssuanceSize {
		if _, err := p.Issue(t.Context(), "", "api://orders"); err != nil {
			t.Fatalf("issue %d: %v", i, err)
		}
	}
	if got := p.RecentIssuance(); len(got) != idp.RecentIssuanceSize || got[0].Time.Before(got[len(got)-1].Time) {
		t.Errorf("after %d more: %d issuances, want the %d newest first", idp.RecentIssuanceSize, len(got), idp.RecentIssuanceSize)
	}
}

func TestResourcesAndSchedule(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:8081")
	p := newProvider(t, cfg, openState(t, t.TempDir()))
	if diff := cmp.Diff(cfg.Resources, p.Resources()); diff != "" {
		t.Errorf("Resources() (-want +got):\n%s", diff)
	}
	s := p.KeySchedule()
	if s.RotationPeriod <= 0 || s.Prepublish <= 0 {
		t.Errorf("KeySchedule() = %+v, want the defaults applied", s)
	}
	if next := p.NextKeyEvent(); !next.After(time.Now()) {
		t.Errorf("NextKeyEvent() = %v, want a time in the future (the next key's publication)", next)
	}
}

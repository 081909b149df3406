package idp_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/idp"
)

func states(keys []idp.KeyInfo) []string {
	var out []string
	for _, k := range keys {
		out = append(out, k.KeyID+" "+string(k.State))
	}
	return out
}

func TestKeyRotation(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	p, srv := serve(t, "", testConfig, openState(t, dir))
	// A backend that fetched the JWKS before any rotation.
	early, err := oidc.NewProvider(ctx, p.Issuer())
	if err != nil {
		t.Fatal(err)
	}
	verify := func(op *oidc.Provider, token string) error {
		_, err := op.Verifier(&oidc.Config{ClientID: "api://orders", SupportedSigningAlgs: []string{"ES256"}}).Verify(ctx, token)
		return err
	}
	first := p.Keys()
	if len(first) != 1 || first[0].State != idp.KeyCurrent || first[0].Algorithm != "ES256" || first[0].Activated.IsZero() {
		t.Fatalf("initial keys = %+v, want one current ES256 key", first)
	}
	old := first[0].KeyID
	tok1, err := p.Issue(ctx, "", "api://orders")
	if err != nil {
		t.Fatal(err)
	}
	if err := verify(early, tok1.Value); err != nil {
		t.Fatalf("token before rotation: %v", err)
	}

	// Prepare: the next key is published but does not sign.
	next, err := p.PrepareKey(ctx, idp.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := p.PrepareKey(ctx, idp.AlgES256); again.KeyID != next.KeyID {
		t.Errorf("second PrepareKey made another key: %s, then %s", next.KeyID, again.KeyID)
	}
	if diff := cmp.Diff([]string{old + " current", next.KeyID + " next"}, states(p.Keys())); diff != "" {
		t.Errorf("keys after PrepareKey (-want +got):\n%s", diff)
	}
	if got := fetchKeys(t, srv.URL); len(got) != 2 || got[next.KeyID] == nil {
		t.Errorf("JWKS after PrepareKey has %d keys, want both", len(got))
	}
	if tok, _ := p.Issue(ctx, "", "api://orders"); tok.KeyID != old {
		t.Errorf("after PrepareKey tokens are signed by %s, want still %s", tok.KeyID, old)
	}

	// Rotate: the next key signs, the old one is retired and stays published.
	cur, err := p.Rotate(ctx, idp.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	if cur.KeyID != next.KeyID || cur.State != idp.KeyCurrent {
		t.Fatalf("Rotate made %+v current, want the prepared key %s", cur, next.KeyID)
	}
	keys := p.Keys()
	if diff := cmp.Diff([]string{next.KeyID + " current", old + " retired"}, states(keys)); diff != "" {
		t.Errorf("keys after Rotate (-want +got):\n%s", diff)
	}
	if retired := keys[1]; !retired.PublishedUntil.Equal(retired.Retired.Add(time.Hour + 5*time.Minute)) {
		t.Errorf("retired key published until %v, want retirement %v + token lifetime + 5m", retired.PublishedUntil, retired.Retired)
	}
	tok2, err := p.Issue(ctx, "", "api://orders")
	if err != nil {
		t.Fatal(err)
	}
	if tok2.KeyID != next.KeyID {
		t.Errorf("after Rotate tokens are signed by %s, want %s", tok2.KeyID, next.KeyID)
	}
	for name, tok := range map[string]string{"before rotation": tok1.Value, "after rotation": tok2.Value} {
		if err := verify(early, tok); err != nil {
			t.Errorf("go-oidc with a JWKS fetched before rotation, token %s: %v", name, err)
		}
		if _, err := verifyJWT(tok, fetchKeys(t, srv.URL), p.Issuer(), "api://orders", time.Now()); err != nil {
			t.Errorf("golang-jwt, token %s: %v", name, err)
		}
	}

	// A restart keeps the rotation; the retired key's private half is gone.
	restarted := newProvider(t, testConfig(p.Issuer()), openState(t, dir))
	if diff := cmp.Diff(p.Keys(), restarted.Keys()); diff != "" {
		t.Errorf("keys after restart (-before +after):\n%s", diff)
	}
	data, err := openState(t, dir).ReadFile("idp/keys.json")
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(data), `"d":`); n != 1 {
		t.Errorf("keys.json holds %d private keys, want 1 (the current key's)", n)
	}

	// Revoke the retired key: tokens it signed stop verifying.
	if _, err := p.RevokeKey(ctx, "no-such-kid"); err == nil || !strings.Contains(err.Error(), "no such key") {
		t.Errorf("revoking an unknown key: %v, want a refusal", err)
	}
	if info, err := p.RevokeKey(ctx, old); err != nil || info.State != idp.KeyRevoked {
		t.Fatalf("RevokeKey = %+v, %v", info, err)
	}
	if _, err := p.RevokeKey(ctx, old); err != nil {
		t.Errorf("revoking a revoked key again: %v", err)
	}
	published := fetchKeys(t, srv.URL)
	if len(published) != 1 || published[cur.KeyID] == nil {
		t.Errorf("JWKS after revocation = %d keys, want only the current one", len(published))
	}
	if _, err := verifyJWT(tok1.Value, published, p.Issuer(), "api://orders", time.Now()); err == nil {
		t.Error("a token signed by a revoked key still verifies")
	}
	if _, err := verifyJWT(tok2.Value, published, p.Issuer(), "api://orders", time.Now()); err != nil {
		t.Errorf("token of the current key after revoking another: %v", err)
	}
	if got := states(p.Keys()); got[1] != old+" revoked" {
		t.Errorf("revoked key listed as %q", got[1])
	}

	// Rotate without a prepared key: a new key is made and signs at once.
	third, err := p.Rotate(ctx, idp.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	if third.KeyID == cur.KeyID || third.KeyID == old {
		t.Errorf("Rotate without PrepareKey reused key %s", third.KeyID)
	}
	tok3, _ := p.Issue(ctx, "", "api://orders")
	if err := verify(early, tok3.Value); err != nil {
		t.Errorf("go-oidc did not pick up a key it had never seen: %v", err)
	}

	// Emergency: revoking the current key replaces it at once with a fresh key
	// (not a prepared one, which was kept beside it), and withdraws both.
	prepared, err := p.PrepareKey(ctx, idp.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.RevokeKey(ctx, third.KeyID); err != nil {
		t.Fatalf("emergency revocation: %v", err)
	}
	now := p.Keys()[0]
	if now.State != idp.KeyCurrent || now.KeyID == third.KeyID || now.KeyID == prepared.KeyID {
		t.Fatalf("after revoking the current key, current = %+v; want a fresh key", now)
	}
	published = fetchKeys(t, srv.URL)
	if published[third.KeyID] != nil || published[prepared.KeyID] != nil || published[now.KeyID] == nil {
		t.Errorf("JWKS after emergency revocation has %d keys; want the revoked and prepared keys gone and the fresh one there", len(published))
	}
	if _, err := verifyJWT(tok3.Value, published, p.Issuer(), "api://orders", time.Now()); err == nil {
		t.Error("a token signed by the revoked current key still verifies")
	}
	tok4, _ := p.Issue(ctx, "", "api://orders")
	if tok4.KeyID != now.KeyID {
		t.Errorf("after emergency revocation tokens are signed by %s, want %s", tok4.KeyID, now.KeyID)
	}
	if err := verify(early, tok4.Value); err != nil {
		t.Errorf("token after emergency revocation: %v", err)
	}
}

func TestIssueDuringRotation(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t, testConfig("http://127.0.0.1:8081"), openState(t, t.TempDir()))
	var wg sync.WaitGroup
	tokens := make(chan string, 400)
	for range 4 {
		wg.Go(func() {
			for range 100 {
				tok, err := p.Issue(ctx, "", "api://orders")
				if err != nil {
					t.Error(err)
					return
				}
				tokens <- tok.Value
			}
		})
	}
	for range 5 {
		if _, err := p.Rotate(ctx, idp.AlgES256); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(tokens)
	keys := decodeKeys(t, p.JWKS())
	if len(keys) != 6 {
		t.Errorf("JWKS has %d keys after 5 rotations, want 6 (retired keys stay published)", len(keys))
	}
	for tok := range tokens {
		if _, err := verifyJWT(tok, keys, p.Issuer(), "api://orders", time.Now()); err != nil {
			t.Fatalf("token issued during rotation: %v", err)
		}
	}
}

func TestRetiredKeysArePruned(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		dir := t.TempDir()
		cfg := testConfig("http://127.0.0.1:8081")
		cfg.TokenLifetime = 10 * time.Minute
		p := newProvider(t, cfg, openState(t, dir))
		old := p.Keys()[0].KeyID
		if _, err := p.Rotate(ctx, idp.AlgES256); err != nil {
			t.Fatal(err)
		}
		// Published for the token lifetime plus 5 minutes after retirement.
		time.Sleep(15*time.Minute - time.Second)
		if got := newProvider(t, cfg, openState(t, dir)).Keys(); len(got) != 2 || got[1].KeyID != old {
			t.Fatalf("1s before the end of publication: keys %v, want the retired key still there", states(got))
		}
		time.Sleep(time.Second)
		restarted := newProvider(t, cfg, openState(t, dir))
		if got := restarted.Keys(); len(got) != 1 || got[0].State != idp.KeyCurrent {
			t.Fatalf("after publication ended: keys %v, want only the current key", states(got))
		}
		if n := len(decodeKeys(t, restarted.JWKS())); n != 1 {
			t.Errorf("JWKS has %d keys, want 1", n)
		}
		// Rotate prunes too.
		if _, err := p.Rotate(ctx, idp.AlgES256); err != nil {
			t.Fatal(err)
		}
		for _, k := range p.Keys() {
			if k.KeyID == old {
				t.Errorf("Rotate kept the expired retired key %s", old)
			}
		}
	})
}

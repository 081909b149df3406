package idp_test

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/lastmile-gw/lastmile/internal/idp"
)

// jwksKeys decodes a JWKS into verification keys by kid (ES256 and RS256).
func jwksKeys(t testing.TB, data []byte) map[string]crypto.PublicKey {
	t.Helper()
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(data, &set); err != nil {
		t.Fatalf("decoding the JWKS: %v", err)
	}
	out := map[string]crypto.PublicKey{}
	for _, k := range set.Keys {
		if !k.IsPublic() {
			t.Fatalf("JWKS key %s is not public", k.KeyID)
		}
		out[k.KeyID] = k.Key
	}
	return out
}

// verifyWith checks a token's signature and expiry against keys, at now.
func verifyWith(token string, keys map[string]crypto.PublicKey, now time.Time) error {
	_, err := jwt.Parse(token, func(tok *jwt.Token) (any, error) {
		kid, _ := tok.Header["kid"].(string)
		if k, ok := keys[kid]; ok {
			return k, nil
		}
		return nil, fmt.Errorf("kid %q is not published", kid)
	}, jwt.WithValidMethods([]string{"ES256", "RS256"}), jwt.WithExpirationRequired(), jwt.WithTimeFunc(func() time.Time { return now }))
	return err
}

// rotationConfig has an ES256 and an RS256 resource, 10-minute tokens and a
// 2-hour rotation period with 40 minutes of pre-publication.
func rotationConfig() idp.Config {
	cfg := testConfig("http://127.0.0.1:8081")
	cfg.TokenLifetime = 10 * time.Minute
	cfg.Keys = idp.KeySchedule{RotationPeriod: 2 * time.Hour, Prepublish: 40 * time.Minute}
	cfg.Resources = append(cfg.Resources, idp.Resource{ID: "api://federation", SigningAlgorithm: idp.AlgRS256})
	return cfg
}

type issued struct {
	value string
	exp   time.Time
}

// TestRotationSchedule runs the provider's schedule for seven hours of
// simulated time, issuing a token every minute and looking at the JWKS as a
// validator would: every key is published at least the pre-publication time
// before it signs, every token verifies against the JWKS until it expires,
// retired keys leave once their tokens have expired, and keys rotate on time.
func TestRotationSchedule(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cfg := rotationConfig()
		p := newProvider(t, cfg, openState(t, t.TempDir()))
		done := make(chan struct{})
		go func() { p.Run(ctx); close(done) }()

		start := time.Now()
		published := map[string]time.Time{}   // kid -> first seen in the JWKS
		lastSeen := map[string]time.Time{}    // kid -> last seen in the JWKS
		firstSigned := map[string]time.Time{} // kid -> first token
		lastSigned := map[string]time.Time{}
		var live []issued
		maxKeys := 0
		for time.Since(start) <= 7*time.Hour {
			now := time.Now()
			keys := jwksKeys(t, p.JWKS())
			maxKeys = max(maxKeys, len(keys))
			for kid := range keys {
				if _, ok := published[kid]; !ok {
					published[kid] = now
				}
				lastSeen[kid] = now
			}
			for _, res := range []string{"api://orders", "api://federation"} {
				tok, err := p.Issue(ctx, "", res)
				if err != nil {
					t.Fatal(err)
				}
				if _, ok := firstSigned[tok.KeyID]; !ok {
					firstSigned[tok.KeyID] = now
				}
				lastSigned[tok.KeyID] = now
				live = append(live, issued{tok.Value, tok.ExpiresAt})
			}
			// Every unexpired token verifies against the JWKS a validator fetches now.
			live = slices.DeleteFunc(live, func(i issued) bool { return !now.Before(i.exp) })
			for _, i := range live {
				if err := verifyWith(i.value, keys, now); err != nil {
					t.Fatalf("at %v: a token issued before does not verify: %v", now.Sub(start), err)
				}
			}
			time.Sleep(time.Minute)
		}
		cancel()
		<-done

		signers := 0
		for kid, first := range firstSigned {
			signers++
			if first.Equal(start) {
				continue // the keys made at first start sign at once
			}
			// Both times are sampled once a minute, and a key published just after
			// one sample and used just at another looks a minute closer: allow that.
			if lead := first.Sub(published[kid]); lead < cfg.Keys.Prepublish-time.Minute {
				t.Errorf("key %s signed %v after it was published, want at least %v", kid, lead, cfg.Keys.Prepublish)
			}
		}
		for kid, last := range lastSigned {
			if stay := lastSeen[kid].Sub(last); stay < cfg.TokenLifetime && lastSeen[kid].Sub(start) < 7*time.Hour {
				t.Errorf("key %s left the JWKS %v after its last token, want at least the token lifetime %v", kid, stay, cfg.TokenLifetime)
			}
		}
		// Two algorithms, rotated at 2h, 4h and 6h: four signing keys each.
		if signers != 8 {
			t.Errorf("%d keys signed in 7 hours, want 8 (2 algorithms × the first key and 3 rotations)", signers)
		}
		// At most current, next and one retired key per algorithm.
		if maxKeys > 6 {
			t.Errorf("the JWKS held up to %d keys, want at most 6", maxKeys)
		}
	})
}

// TestRunningGatewayPicksUpKeyCommands changes the keys through a separate key
// store, as lastmile keys does against a running gateway's state directory: the
// gateway picks the change up within KeyReloadInterval, or at once on
// ReloadKeys (SIGHUP).
func TestRunningGatewayPicksUpKeyCommands(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		dir := t.TempDir()
		// Told of every change it picks up, to drop tokens cached elsewhere.
		var told atomic.Int32
		p, err := idp.New(context.Background(), testConfig("http://127.0.0.1:8081"), openState(t, dir), idp.WithKeysChanged(func() { told.Add(1) }))
		if err != nil {
			t.Fatal(err)
		}
		go p.Run(ctx)
		synctest.Wait()

		cli, err := idp.OpenKeyStore(ctx, openState(t, dir), idp.KeyStoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		rotated, err := cli.Rotate(ctx, idp.AlgES256)
		if err != nil {
			t.Fatal(err)
		}
		if tok, _ := p.Issue(ctx, "", "api://orders"); tok.KeyID == rotated.KeyID {
			t.Fatal("the gateway signed with the new key before reloading")
		}
		time.Sleep(idp.KeyReloadInterval + time.Second)
		if tok, _ := p.Issue(ctx, "", "api://orders"); tok.KeyID != rotated.KeyID {
			t.Errorf("%v after lastmile keys rotate, the gateway signs with %s, want %s", idp.KeyReloadInterval, tok.KeyID, rotated.KeyID)
		}
		if n := told.Load(); n != 1 {
			t.Errorf("told of %d key changes after the rotation, want 1", n)
		}

		// Emergency revocation, picked up at once with ReloadKeys.
		revoked, err := cli.Revoke(ctx, rotated.KeyID)
		if err != nil {
			t.Fatal(err)
		}
		if changed, err := p.ReloadKeys(ctx); !changed || err != nil {
			t.Fatalf("ReloadKeys = %v, %v", changed, err)
		}
		if changed, _ := p.ReloadKeys(ctx); changed {
			t.Error("a second ReloadKeys without a change reported one")
		}
		if n := told.Load(); n != 2 {
			t.Errorf("told of %d key changes after the revocation, want 2", n)
		}
		if _, ok := jwksKeys(t, p.JWKS())[revoked.KeyID]; ok {
			t.Error("the revoked key is still published after ReloadKeys")
		}
		if tok, _ := p.Issue(ctx, "", "api://orders"); tok.KeyID == revoked.KeyID {
			t.Error("the gateway still signs with the revoked key")
		}
	})
}

// TestSharedStateDirectory runs two providers on one state directory, as two
// gateway instances sharing a volume: they publish byte-identical JWKS (with the
// same ETag) over HTTP, a rotation by one is picked up by the other, and
// concurrent rotations by both leave one consistent key set.
func TestSharedStateDirectory(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cfg := rotationConfig()
	a := newProvider(t, cfg, openState(t, dir))
	b := newProvider(t, cfg, openState(t, dir))
	srvA := httptest.NewServer(a.Handler())
	defer srvA.Close()
	srvB := httptest.NewServer(b.Handler())
	defer srvB.Close()
	same := func(when string) {
		t.Helper()
		ra, bodyA := do(t, http.MethodGet, srvA.URL+"/.well-known/jwks.json", nil)
		rb, bodyB := do(t, http.MethodGet, srvB.URL+"/.well-known/jwks.json", nil)
		if string(bodyA) != string(bodyB) || ra.Header.Get("ETag") != rb.Header.Get("ETag") {
			t.Fatalf("%s: the instances publish different JWKS:\n%s\n%s", when, bodyA, bodyB)
		}
	}
	same("after both started")
	if a.TenantID() != b.TenantID() || a.SystemIdentity() != b.SystemIdentity() {
		t.Fatal("the instances have different identities")
	}

	tokA, _ := a.Issue(ctx, "", "api://federation")
	next, err := a.Rotate(ctx, idp.AlgRS256)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.ReloadKeys(ctx); err != nil {
		t.Fatal(err)
	}
	same("after a rotation by one instance")
	tokB, _ := b.Issue(ctx, "", "api://federation")
	if tokB.KeyID != next.KeyID {
		t.Errorf("the other instance signs with %s, want the rotated key %s", tokB.KeyID, next.KeyID)
	}
	keys := jwksKeys(t, b.JWKS())
	for _, tok := range []idp.Token{tokA, tokB} {
		if err := verifyWith(tok.Value, keys, time.Now()); err != nil {
			t.Errorf("token signed by %s: %v", tok.KeyID, err)
		}
	}

	// Both instances rotate and issue at once.
	var wg sync.WaitGroup
	var mu sync.Mutex
	var tokens []idp.Token
	for i, p := range []*idp.Provider{a, b, a, b} {
		wg.Go(func() {
			for range 5 {
				if _, err := p.Rotate(ctx, []string{idp.AlgES256, idp.AlgRS256}[i%2]); err != nil {
					t.Error(err)
				}
				if _, err := p.ReloadKeys(ctx); err != nil {
					t.Error(err)
				}
				tok, err := p.Issue(ctx, "", []string{"api://orders", "api://federation"}[i%2])
				if err != nil {
					t.Error(err)
				}
				mu.Lock()
				tokens = append(tokens, tok)
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	for _, p := range []*idp.Provider{a, b} {
		if _, err := p.ReloadKeys(ctx); err != nil {
			t.Fatal(err)
		}
	}
	same("after concurrent rotations")
	current := map[string]int{}
	for _, k := range a.Keys() {
		if k.State == idp.KeyCurrent {
			current[k.Algorithm]++
		}
	}
	if current[idp.AlgES256] != 1 || current[idp.AlgRS256] != 1 {
		t.Errorf("current keys after concurrent rotations: %v, want one per algorithm", current)
	}
	keys = jwksKeys(t, a.JWKS())
	for _, tok := range tokens {
		if err := verifyWith(tok.Value, keys, time.Now()); err != nil {
			t.Errorf("token signed by %s during concurrent rotations: %v", tok.KeyID, err)
		}
	}
	// 1 + 10 rotations per algorithm (plus the one above for RS256), all retired
	// keys still published: nothing was lost to a lost update.
	if n := len(keys); n != 2+10+10+1 {
		t.Errorf("%d keys published, want %d", n, 2+10+10+1)
	}
}

// TestSharedScheduleRotatesOnce runs the schedule on two instances sharing a
// state directory: each rotation happens once, not once per instance.
func TestSharedScheduleRotatesOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		dir := t.TempDir()
		cfg := rotationConfig()
		a := newProvider(t, cfg, openState(t, dir))
		b := newProvider(t, cfg, openState(t, dir))
		var wg sync.WaitGroup
		wg.Go(func() { a.Run(ctx) })
		wg.Go(func() { b.Run(ctx) })
		signed := map[string]bool{}
		for range 5 * 60 {
			for _, p := range []*idp.Provider{a, b} {
				tok, err := p.Issue(ctx, "", "api://orders")
				if err != nil {
					t.Fatal(err)
				}
				signed[tok.KeyID] = true
			}
			time.Sleep(time.Minute)
		}
		cancel()
		wg.Wait()
		// 5 hours: the first key, then rotations at 2h and 4h.
		if len(signed) != 3 {
			t.Errorf("%d ES256 keys signed in 5 hours by two instances, want 3", len(signed))
		}
		if string(a.JWKS()) != string(b.JWKS()) {
			t.Error("the instances publish different JWKS")
		}
	})
}

package idp_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/redis/go-redis/v9"

	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/statedir"
	"github.com/lastmile-gw/lastmile/internal/store"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// fleetIssuer is the one issuer URL of a fleet behind a load balancer.
const fleetIssuer = "https://login.fleet.test"

func newStateKey() string {
	b := make([]byte, statedir.KeySize)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

// fleetState is one instance's view of the fleet's state: its own connection
// to the Redis at addr, and the encryption keys.
func fleetState(t testing.TB, addr, keys string, leaseTTL time.Duration) *statedir.Shared {
	t.Helper()
	r, err := store.NewRedis(context.Background(), store.RedisOptions{Address: addr})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	k, err := statedir.ParseKeys(keys)
	if err != nil {
		t.Fatal(err)
	}
	return statedir.NewShared(r, k, leaseTTL)
}

// fleetConfig has ES256 and RS256 resources, user-assigned identities and an
// application, so that every kind of generated id is shared.
func fleetConfig() idp.Config {
	cfg := rotationConfig()
	cfg.Issuer = fleetIssuer
	cfg.Applications = []idp.Application{{Name: "legacy-policy", ClientID: secretAppID, SecretHashes: []string{testSecretHash()}}}
	return cfg
}

// syncBuffer is a log destination shared by several instances.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// instance is one gateway of a fleet: a provider on its own connection, served
// over HTTP.
type instance struct {
	p   *idp.Provider
	srv *httptest.Server
}

func (i instance) jwks(t *testing.T) (etag string, body []byte) {
	t.Helper()
	resp, body := do(t, http.MethodGet, i.srv.URL+"/.well-known/jwks.json", nil)
	return resp.Header.Get("ETag"), body
}

// TestFleetSharesIdentityState starts three instances at once on one Redis, as
// three machines would: they agree on the tenant and every generated id,
// publish byte-identical JWKS with the same ETag, and a token any of them
// issues verifies against any other's JWKS, before and after a rotation made
// by one of them. No private key reaches Redis or the log in clear.
func TestFleetSharesIdentityState(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	ctx := context.Background()
	key := newStateKey()
	var logs syncBuffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))

	fleet := make([]instance, 3)
	var wg sync.WaitGroup
	for i := range fleet {
		state := fleetState(t, addr, key, 0)
		wg.Go(func() {
			p, err := idp.New(ctx, fleetConfig(), state, idp.WithLogger(log))
			if err != nil {
				t.Error(err)
				return
			}
			srv := httptest.NewServer(p.Handler())
			t.Cleanup(srv.Close)
			fleet[i] = instance{p, srv}
		})
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}

	a := fleet[0].p
	for i, in := range fleet[1:] {
		p := in.p
		if p.TenantID() != a.TenantID() {
			t.Errorf("instance %d: tenant %s, want %s", i+1, p.TenantID(), a.TenantID())
		}
		if diff := cmp.Diff(a.Identities(), p.Identities()); diff != "" {
			t.Errorf("instance %d: identities differ (-first +this):\n%s", i+1, diff)
		}
		if diff := cmp.Diff(a.Applications(), p.Applications()); diff != "" {
			t.Errorf("instance %d: applications differ (-first +this):\n%s", i+1, diff)
		}
	}
	same := func(when string) {
		t.Helper()
		etag, body := fleet[0].jwks(t)
		for i, in := range fleet[1:] {
			if e, b := in.jwks(t); e != etag || !bytes.Equal(b, body) {
				t.Fatalf("%s: instance %d publishes another JWKS:\n%s %s\n%s %s", when, i+1, etag, body, e, b)
			}
		}
	}
	// crossVerify issues a token of each algorithm from every instance and
	// verifies it against every instance's JWKS, as fetched by a backend.
	var earlier []idp.Token
	crossVerify := func(when string) {
		t.Helper()
		var tokens []idp.Token
		for _, in := range fleet {
			for _, res := range []string{"api://orders", "api://federation"} {
				tok, err := in.p.Issue(ctx, "", res)
				if err != nil {
					t.Fatal(err)
				}
				tokens = append(tokens, tok)
			}
		}
		for i, in := range fleet {
			_, body := in.jwks(t)
			keys := jwksKeys(t, body)
			for _, tok := range append(earlier, tokens...) {
				if err := verifyWith(tok.Value, keys, time.Now()); err != nil {
					t.Errorf("%s: a token signed with %s does not verify against instance %d's JWKS: %v", when, tok.KeyID, i, err)
				}
			}
		}
		earlier = append(earlier, tokens...)
	}
	same("after starting together")
	crossVerify("after starting together")

	// One instance rotates (as its schedule or lastmile keys would); the
	// others pick it up at their next reload.
	prepared, err := a.PrepareKey(ctx, idp.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	rotated, err := a.Rotate(ctx, idp.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	if rotated.KeyID != prepared.KeyID {
		t.Errorf("rotated to %s, want the prepared key %s", rotated.KeyID, prepared.KeyID)
	}
	for i, in := range fleet[1:] {
		if changed, err := in.p.ReloadKeys(ctx); !changed || err != nil {
			t.Fatalf("instance %d: ReloadKeys = %v, %v; want a change", i+1, changed, err)
		}
		if tok, _ := in.p.Issue(ctx, "", "api://orders"); tok.KeyID != rotated.KeyID {
			t.Errorf("instance %d signs with %s after reloading, want %s", i+1, tok.KeyID, rotated.KeyID)
		}
	}
	same("after a rotation by one instance")
	crossVerify("after a rotation by one instance")

	// Nothing in Redis holds a private key in clear; neither does the log.
	assertNoPrivateKeys(t, addr, fleetState(t, addr, key, 0), logs.String())
}

// assertNoPrivateKeys reads every value in the Redis at addr and fails if one
// holds a private key: PEM, a JWK private member, or the value of one of the
// private keys the state (decrypted with the fleet's key) holds. text (the
// log) must not hold those values either.
func assertNoPrivateKeys(t *testing.T, addr string, state *statedir.Shared, text string) {
	t.Helper()
	ctx := context.Background()
	doc, err := state.Read(ctx, "idp/keys.json")
	if err != nil {
		t.Fatal(err)
	}
	var kf struct {
		Keys []struct {
			Private map[string]any `json:"private"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(doc, &kf); err != nil {
		t.Fatal(err)
	}
	var secrets []string
	for _, k := range kf.Keys {
		for _, member := range []string{"d", "p", "q", "dp", "dq", "qi"} {
			if v, ok := k.Private[member].(string); ok {
				secrets = append(secrets, v)
			}
		}
	}
	if len(secrets) < 2 {
		t.Fatalf("the decrypted state holds %d private key values; the scan would prove nothing", len(secrets))
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	redisKeys, err := c.Keys(ctx, "*").Result()
	if err != nil || len(redisKeys) == 0 {
		t.Fatalf("listing Redis: %v %v", redisKeys, err)
	}
	for _, k := range redisKeys {
		v, err := c.Get(ctx, k).Result()
		if err != nil {
			t.Fatalf("GET %s: %v", k, err)
		}
		for _, bad := range append([]string{"PRIVATE KEY", `"d":`, `"private"`, `"kty"`}, secrets...) {
			if strings.Contains(v, bad) {
				t.Errorf("Redis key %s holds %.20q in clear", k, bad)
			}
		}
	}
	for _, s := range secrets {
		if strings.Contains(text, s) {
			t.Errorf("the log holds a private key value")
		}
	}
}

// TestFleetScheduleRotatesOnce runs three instances' schedules on one Redis
// for five simulated hours. Each rotation happens once for the fleet, not once
// per instance, and at every minute every token any instance issued verifies
// against the JWKS of every instance. A change made by one (or by lastmile
// keys) is picked up by the others within KeyReloadInterval.
func TestFleetScheduleRotatesOnce(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	key := newStateKey()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var logs syncBuffer
		log := slog.New(slog.NewTextHandler(&logs, nil))
		var fleet []*idp.Provider
		var wg sync.WaitGroup
		for range 3 {
			p, err := idp.New(ctx, fleetConfig(), fleetState(t, addr, key, 0), idp.WithLogger(log))
			if err != nil {
				t.Fatal(err)
			}
			fleet = append(fleet, p)
			wg.Go(func() { p.Run(ctx) })
		}
		start := time.Now()
		var live []issued
		// A token verified against a JWKS (by its bytes) stays verified until
		// it expires: each pair is checked once.
		verified := map[string]bool{}
		for time.Since(start) <= 5*time.Hour {
			for _, p := range fleet {
				for _, res := range []string{"api://orders", "api://federation"} {
					tok, err := p.Issue(ctx, "", res)
					if err != nil {
						t.Fatal(err)
					}
					live = append(live, issued{tok.Value, tok.ExpiresAt})
				}
			}
			now := time.Now()
			live = slices.DeleteFunc(live, func(i issued) bool { return !now.Before(i.exp) })
			for i, p := range fleet {
				jwks := p.JWKS()
				sum := sha256.Sum256(jwks)
				var keys map[string]crypto.PublicKey
				for _, tok := range live {
					if verified[tok.value+string(sum[:])] {
						continue
					}
					if keys == nil {
						keys = jwksKeys(t, jwks)
					}
					if err := verifyWith(tok.value, keys, now); err != nil {
						t.Fatalf("at %v: a token does not verify against instance %d's JWKS: %v", now.Sub(start), i, err)
					}
					verified[tok.value+string(sum[:])] = true
				}
			}
			time.Sleep(time.Minute)
		}
		// A 2-hour period with 40 minutes of pre-publication: for each of the
		// two algorithms, next keys prepared at 1h20 and 3h20, rotations at 2h
		// and 4h, once each for the whole fleet.
		out := logs.String()
		if n := strings.Count(out, `msg="prepared the next signing key on schedule"`); n != 4 {
			t.Errorf("%d keys prepared by the fleet, want 4 (2 algorithms × 2)", n)
		}
		if n := strings.Count(out, `msg="rotated the signing key"`); n != 4 {
			t.Errorf("%d rotations by the fleet, want 4 (2 algorithms × 2):\n%s", n, out)
		}

		// A change by another process (lastmile keys revoke) reaches every
		// instance within KeyReloadInterval.
		cli, err := idp.OpenKeyStore(ctx, fleetState(t, addr, key, 0), idp.KeyStoreOptions{})
		if err != nil {
			t.Fatal(err)
		}
		tok, _ := fleet[0].Issue(ctx, "", "api://orders")
		if _, err := cli.Revoke(ctx, tok.KeyID); err != nil {
			t.Fatal(err)
		}
		time.Sleep(idp.KeyReloadInterval + time.Second)
		for i, p := range fleet {
			if _, ok := jwksKeys(t, p.JWKS())[tok.KeyID]; ok {
				t.Errorf("instance %d still publishes the revoked key %v after the revocation", i, idp.KeyReloadInterval)
			}
			if got, _ := p.Issue(ctx, "", "api://orders"); got.KeyID == tok.KeyID {
				t.Errorf("instance %d still signs with the revoked key", i)
			}
			if !bytes.Equal(p.JWKS(), fleet[0].JWKS()) {
				t.Errorf("instance %d publishes another JWKS", i)
			}
		}
		cancel()
		wg.Wait()
	})
}

// TestFleetKilledInstanceLease: an instance killed (SIGKILL) while it holds
// the state's lease, in the middle of a change, blocks the fleet's key changes
// only until the lease expires; then another instance rotates.
func TestFleetKilledInstanceLease(t *testing.T) {
	if addr := os.Getenv("LASTMILE_LEASE_HELPER_ADDR"); addr != "" {
		// The instance that dies: it takes the lease and never finishes.
		state := fleetState(t, addr, os.Getenv("LASTMILE_LEASE_HELPER_KEY"), 2*time.Second)
		state.Update(context.Background(), "idp/keys.json", func([]byte) ([]byte, error) {
			fmt.Println("holding the lease")
			select {}
		})
		return
	}
	addr := storetest.StartRedis(t, "")
	ctx := context.Background()
	key := newStateKey()
	// This instance's own leases last the default 15 seconds; the dead one's
	// lasts 2.
	p, err := idp.New(ctx, fleetConfig(), fleetState(t, addr, key, 0))
	if err != nil {
		t.Fatal(err)
	}
	before, _ := p.Issue(ctx, "", "api://orders")

	cmd := exec.Command(os.Args[0], "-test.run=^TestFleetKilledInstanceLease$")
	cmd.Env = append(os.Environ(), "LASTMILE_LEASE_HELPER_ADDR="+addr, "LASTMILE_LEASE_HELPER_KEY="+key)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "holding the lease\n" {
		t.Fatalf("helper: %q %v", line, err)
	}
	cmd.Process.Kill()
	cmd.Wait()

	// The dead instance's lease still blocks...
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := p.Rotate(short, idp.AlgES256); err == nil || !strings.Contains(err.Error(), "another instance holds it") {
		t.Fatalf("Rotate while the dead instance's lease lasts: %v", err)
	}
	// ...until it expires.
	rotated, err := p.Rotate(ctx, idp.AlgES256)
	if err != nil {
		t.Fatalf("Rotate after the lease expired: %v", err)
	}
	if rotated.KeyID == before.KeyID {
		t.Error("the key did not change")
	}
}

// TestFleetEncryptionKey: an instance with another key refuses to start,
// naming the key the state was encrypted with; one that has both keys (during
// a rotation of the key) starts.
func TestFleetEncryptionKey(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	ctx := context.Background()
	key, other := newStateKey(), newStateKey()
	first := fleetState(t, addr, key, 0)
	if _, err := idp.New(ctx, fleetConfig(), first); err != nil {
		t.Fatal(err)
	}
	wrong := fleetState(t, addr, other, 0)
	_, err := idp.New(ctx, fleetConfig(), wrong)
	want := "is encrypted with key " + first.KeyIDs()[0] + ", which is not among this instance's encryption keys (" + wrong.KeyIDs()[0] + ")"
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "cipher") {
		t.Fatalf("New with another key: %v\nwant an error saying %q", err, want)
	}
	if _, err := idp.OpenKeyStore(ctx, wrong, idp.KeyStoreOptions{ReadOnly: true}); err == nil || !strings.Contains(err.Error(), first.KeyIDs()[0]) {
		t.Errorf("OpenKeyStore with another key: %v", err)
	}
	if _, err := idp.New(ctx, fleetConfig(), fleetState(t, addr, other+" "+key, 0)); err != nil {
		t.Errorf("New with the new key first and the old one second: %v", err)
	}
}

// TestFleetSurvivesRedisLosingState: a Redis restarted without persistence
// loses the state; the running instances write back what they hold within
// KeyReloadInterval, so an instance that starts next joins the same tenant,
// identities and keys instead of generating new ones.
func TestFleetSurvivesRedisLosingState(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	key := newStateKey()
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var wg sync.WaitGroup
		var fleet []*idp.Provider
		for range 2 {
			p, err := idp.New(ctx, fleetConfig(), fleetState(t, addr, key, 0))
			if err != nil {
				t.Fatal(err)
			}
			fleet = append(fleet, p)
			wg.Go(func() { p.Run(ctx) })
		}
		tok, _ := fleet[0].Issue(ctx, "", "api://orders")
		c := redis.NewClient(&redis.Options{Addr: addr})
		defer c.Close()
		if err := c.FlushAll(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(idp.KeyReloadInterval + time.Second)

		late, err := idp.New(ctx, fleetConfig(), fleetState(t, addr, key, 0))
		if err != nil {
			t.Fatal(err)
		}
		if late.TenantID() != fleet[0].TenantID() || late.SystemIdentity() != fleet[0].SystemIdentity() {
			t.Errorf("the instance started after Redis lost its data has tenant %s and system identity %v, want the fleet's %s and %v",
				late.TenantID(), late.SystemIdentity(), fleet[0].TenantID(), fleet[0].SystemIdentity())
		}
		if !bytes.Equal(late.JWKS(), fleet[0].JWKS()) || !bytes.Equal(late.JWKS(), fleet[1].JWKS()) {
			t.Errorf("the fleet publishes different JWKS after Redis lost its data:\n%s\n%s", late.JWKS(), fleet[0].JWKS())
		}
		if err := verifyWith(tok.Value, jwksKeys(t, late.JWKS()), time.Now()); err != nil {
			t.Errorf("a token issued before Redis lost its data: %v", err)
		}
		cancel()
		wg.Wait()
	})
}

// TestMigrateToFleet moves a single machine's state directory to Redis: the
// fleet keeps its tenant, identities and keys; the directory is marked and no
// longer used; a second migration, onto a fleet that has started, is refused.
func TestMigrateToFleet(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	ctx := context.Background()
	dir := openState(t, t.TempDir())
	single, err := idp.New(ctx, fleetConfig(), dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := single.PrepareKey(ctx, idp.AlgES256); err != nil {
		t.Fatal(err)
	}
	tok, _ := single.Issue(ctx, "", "api://orders")
	fleet := fleetState(t, addr, newStateKey(), 0)
	if has, err := idp.HasState(ctx, fleet); has || err != nil {
		t.Fatalf("HasState of an empty Redis = %v, %v", has, err)
	}

	if err := idp.Migrate(ctx, dir, fleet, "Redis at "+addr); err != nil {
		t.Fatal(err)
	}
	p, err := idp.New(ctx, fleetConfig(), fleet)
	if err != nil {
		t.Fatal(err)
	}
	if p.TenantID() != single.TenantID() || !slices.Equal(p.Identities(), single.Identities()) || !slices.Equal(p.Applications(), single.Applications()) {
		t.Errorf("after migrating: tenant %s identities %v applications %v; want %s %v %v",
			p.TenantID(), p.Identities(), p.Applications(), single.TenantID(), single.Identities(), single.Applications())
	}
	if !bytes.Equal(p.JWKS(), single.JWKS()) {
		t.Errorf("after migrating, the JWKS differs:\n%s\n%s", p.JWKS(), single.JWKS())
	}
	if got, _ := p.Issue(ctx, "", "api://orders"); got.KeyID != tok.KeyID {
		t.Errorf("the fleet signs with %s, want the migrated current key %s", got.KeyID, tok.KeyID)
	}

	// The directory is a backup now: a provider refuses it, and so does a
	// second migration.
	if _, err := idp.New(ctx, fleetConfig(), dir); err == nil || !strings.Contains(err.Error(), "were moved to Redis at "+addr+" by lastmile keys migrate") {
		t.Errorf("New on the migrated directory: %v", err)
	}
	if err := idp.Migrate(ctx, dir, fleet, "Redis"); err == nil || !strings.Contains(err.Error(), "moved to Redis at") {
		t.Errorf("migrating again: %v", err)
	}
	other := openState(t, t.TempDir())
	if _, err := idp.New(ctx, fleetConfig(), other); err != nil {
		t.Fatal(err)
	}
	if err := idp.Migrate(ctx, other, fleet, "Redis"); err == nil || !strings.Contains(err.Error(), "already exists: the fleet has identities of its own") {
		t.Errorf("migrating onto a fleet that has identities: %v", err)
	}
}

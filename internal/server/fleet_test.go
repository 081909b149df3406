package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/redis/go-redis/v9"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/server"
	"github.com/lastmile-gw/lastmile/internal/statedir"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

// testStateKey is the state encryption key of the Redis tests: 32 bytes in
// base64.
const testStateKey = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="

// stateKeyFile writes key to a new file and returns its absolute path, for
// store.encryptionKeyFile.
func stateKeyFile(t testing.TB, key string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.key")
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// redisStore is the store section of lastmile.yaml for the Redis at addr,
// with testStateKey as the encryption key.
func redisStore(t testing.TB, addr string) string {
	return "store:\n  type: redis\n  encryptionKeyFile: " + stateKeyFile(t, testStateKey) + "\n  redis:\n    address: " + addr + "\n"
}

// roundRobin is a load balancer in front of a fleet's identity listeners: the
// one issuer URL that backends fetch discovery and JWKS from, answered by each
// instance in turn.
type roundRobin struct {
	srv     *httptest.Server
	mu      sync.Mutex
	targets []*url.URL
	next    atomic.Uint64
}

func newRoundRobin(t *testing.T) *roundRobin {
	lb := &roundRobin{}
	lb.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lb.mu.Lock()
		target := lb.targets[int(lb.next.Add(1))%len(lb.targets)]
		lb.mu.Unlock()
		httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
	}))
	t.Cleanup(lb.srv.Close)
	return lb
}

func (lb *roundRobin) add(rawURL string) {
	u, _ := url.Parse(rawURL)
	lb.mu.Lock()
	lb.targets = append(lb.targets, u)
	lb.mu.Unlock()
}

// startInstance starts one gateway of a fleet with its own state directory,
// logging to log.
func startInstance(t *testing.T, cfgDir string, backend *verifyingBackend, log *syncBuffer) *env {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, server.Options{
		ConfigDir: cfgDir, StateDir: t.TempDir(),
		Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0",
		Logger: slog.New(slog.NewTextHandler(log, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Expr:   policies.Expressions,
	})
	if err != nil {
		cancel()
		t.Fatalf("server.New: %v", err)
	}
	backend.issuer = s.Issuer()
	e := &env{srv: s, backend: backend, cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- s.Serve(ctx) }()
	t.Cleanup(e.stop)
	return e
}

// TestFleetOnRedis runs three gateways on different state directories (three
// machines) with one Redis, behind one issuer URL that a load balancer spreads
// over their identity listeners. They publish the same JWKS with the same
// ETag, accept the same generated subscription keys, and every token any of
// them puts on a backend request verifies against the JWKS whichever instance
// serves it, before and after one of them rotates. Redis and the logs never
// hold a private key in clear.
func TestFleetOnRedis(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	backend := newVerifyingBackend(t, "api://orders")
	lb := newRoundRobin(t)
	cfgDir := t.TempDir()
	files := testConfig(backend.srv.URL)
	files["lastmile.yaml"] += "listeners:\n  issuer: " + lb.srv.URL + "\n" + redisStore(t, addr)
	writeFiles(t, cfgDir, files)
	var logs syncBuffer
	var fleet []*env
	for range 3 {
		e := startInstance(t, cfgDir, backend, &logs)
		lb.add(e.srv.IdentityURL())
		fleet = append(fleet, e)
	}

	jwks := func(e *env) (string, string) {
		resp, err := http.Get(e.srv.IdentityURL() + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var b bytes.Buffer
		b.ReadFrom(resp.Body)
		return resp.Header.Get("ETag"), b.String()
	}
	same := func(when string) {
		t.Helper()
		etag, body := jwks(fleet[0])
		for i, e := range fleet[1:] {
			if e2, b2 := jwks(e); e2 != etag || b2 != body {
				t.Fatalf("%s: instance %d publishes another JWKS:\n%s %s\n%s %s", when, i+1, etag, body, e2, b2)
			}
		}
	}
	// call sends a request through every instance, each verified by the
	// backend against the JWKS of whichever instance the load balancer picks
	// (each verification fetches discovery and JWKS: two instances in turn).
	call := func(when string) map[string]bool {
		t.Helper()
		kids, tenants := map[string]bool{}, map[string]bool{}
		for i, e := range fleet {
			for range len(fleet) {
				if status, _, body := e.get(t, "/orders/1", key("shop-primary-key")); status != 200 {
					t.Fatalf("%s: instance %d: status %d: %s", when, i, status, body)
				}
				got := backend.last(t)
				if got.Err != "" {
					t.Fatalf("%s: instance %d's token was rejected: %s", when, i, got.Err)
				}
				kids[got.Kid], tenants[fmt.Sprint(got.Claims["tid"])] = true, true
			}
		}
		if len(tenants) != 1 {
			t.Errorf("%s: tokens carry tenants %v, want one", when, tenants)
		}
		return kids
	}
	same("after start")
	if kids := call("after start"); len(kids) != 1 {
		t.Errorf("the instances sign with %v, want one key", kids)
	}

	// Generated subscription keys are the same on every instance.
	var generated string
	for i, e := range fleet {
		for _, s := range e.srv.Snapshot().Subscriptions() {
			if s.Name == "generated" {
				if generated == "" {
					generated = s.PrimaryKey
				} else if s.PrimaryKey != generated {
					t.Errorf("instance %d generated another key for the subscription without keys", i)
				}
			}
		}
		if status, _, body := e.get(t, "/orders/1", key(generated)); status != 200 {
			t.Errorf("instance %d refuses the fleet's generated key: %d %s", i, status, body)
		}
	}

	// One instance rotates; the others pick it up on SIGHUP (or within
	// idp.KeyReloadInterval).
	rotated, err := fleet[0].srv.Provider().Rotate(context.Background(), idp.AlgES256)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range fleet[1:] {
		if _, err := e.srv.Reload(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	same("after a rotation by one instance")
	for i, e := range fleet {
		if tok, err := e.srv.Provider().Issue(context.Background(), "", "api://orders"); err != nil || tok.KeyID != rotated.KeyID {
			t.Errorf("instance %d signs new tokens with %s (%v), want %s", i, tok.KeyID, err, rotated.KeyID)
		}
	}
	// The tokens cached before the rotation were signed with the retired key,
	// which stays published: they still verify, whichever instance answers.
	call("after a rotation")

	// Nothing in Redis is a private key or a generated subscription key in
	// clear, and the logs hold no private key either.
	cfg, err := config.Load(filepath.Join(cfgDir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenIdentityState(context.Background(), cfg, t.TempDir(), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	secrets := privateKeyValues(t, st)
	secrets = append(secrets, generated)
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	all, err := c.Keys(context.Background(), "*").Result()
	if err != nil || len(all) < 3 {
		t.Fatalf("Redis keys %v, %v", all, err)
	}
	for _, k := range all {
		v, _ := c.Get(context.Background(), k).Result()
		for _, bad := range append([]string{"PRIVATE KEY", `"d":`, `"kty"`, "primaryKey"}, secrets...) {
			if strings.Contains(v, bad) {
				t.Errorf("Redis key %s holds %.12q... in clear", k, bad)
			}
		}
	}
	for _, s := range secrets[:len(secrets)-1] {
		if strings.Contains(logs.String(), s) {
			t.Error("the log holds a private key")
		}
	}
}

// privateKeyValues returns the private members of the signing keys in the
// identity state, decrypted: what must never be seen in clear elsewhere.
func privateKeyValues(t *testing.T, st *server.IdentityState) []string {
	t.Helper()
	doc, err := st.Read(context.Background(), "idp/keys.json")
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
	var out []string
	for _, k := range kf.Keys {
		if d, ok := k.Private["d"].(string); ok {
			out = append(out, d)
		}
	}
	if len(out) == 0 {
		t.Fatal("no private key in the decrypted state; the scan would prove nothing")
	}
	return out
}

// TestFleetEncryptionKeyMismatch: an instance given another encryption key
// than the fleet's refuses to start, naming the key the state is encrypted
// with and the one it has.
func TestFleetEncryptionKeyMismatch(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	backend := newVerifyingBackend(t, "api://orders")
	files := testConfig(backend.srv.URL)
	base := files["lastmile.yaml"]
	first := t.TempDir()
	files["lastmile.yaml"] = base + redisStore(t, addr)
	writeFiles(t, first, files)
	start(t, first, t.TempDir(), backend)

	const otherKey = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
	other := t.TempDir()
	files["lastmile.yaml"] = base + "store:\n  type: redis\n  encryptionKeyFile: " + stateKeyFile(t, otherKey) + "\n  redis:\n    address: " + addr + "\n"
	writeFiles(t, other, files)
	_, err := server.New(context.Background(), server.Options{ConfigDir: other, StateDir: t.TempDir(), Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0", Expr: policies.Expressions})
	fleetKey, _ := statedir.ParseKeys(testStateKey)
	ownKey, _ := statedir.ParseKeys(otherKey)
	want := "is encrypted with key " + fleetKey.IDs()[0] + ", which is not among this instance's encryption keys (" + ownKey.IDs()[0] + "): give every instance the same keys"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("server.New with another key: %v\nwant it to say %q", err, want)
	}
	for _, leak := range []string{testStateKey, otherKey, "cipher", "authentication failed"} {
		if strings.Contains(err.Error(), leak) {
			t.Errorf("the error holds %q: %v", leak, err)
		}
	}
}

// TestFleetRefusesUnmigratedStateDirectory: a gateway that ran with the
// memory store and is switched to Redis does not silently start with new
// identities and keys: it refuses, saying to migrate, until lastmile keys
// migrate has copied its state.
func TestFleetRefusesUnmigratedStateDirectory(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	backend := newVerifyingBackend(t, "api://orders")
	cfgDir, stateDir := t.TempDir(), t.TempDir()
	files := testConfig(backend.srv.URL)
	writeFiles(t, cfgDir, files)
	start(t, cfgDir, stateDir, backend).stop()

	files["lastmile.yaml"] += redisStore(t, addr)
	writeFiles(t, cfgDir, files)
	_, err := server.New(context.Background(), server.Options{ConfigDir: cfgDir, StateDir: stateDir, Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0", Expr: policies.Expressions})
	if err == nil || !strings.Contains(err.Error(), "run `lastmile keys migrate --config DIR --state "+stateDir+"` once") {
		t.Fatalf("switching to Redis with a state directory in use: %v", err)
	}
	c := redis.NewClient(&redis.Options{Addr: addr})
	defer c.Close()
	if n, _ := c.DBSize(context.Background()).Result(); n != 0 {
		t.Errorf("the refused start left %d keys in Redis", n)
	}
}

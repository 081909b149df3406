package main

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"

	"github.com/go-jose/go-jose/v4"
	"github.com/golang-jwt/jwt/v5"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/server"
	"github.com/lastmile-gw/lastmile/internal/store/storetest"
)

const (
	stateKeyA = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="
	stateKeyB = "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8="
)

// redisYAML is the store section for the Redis at addr with the encryption
// keys in the file keyFile.
func redisYAML(addr, keyFile string) string {
	return "store:\n  type: redis\n  encryptionKeyFile: " + keyFile + "\n  redis:\n    address: " + addr + "\n"
}

func writeKeyFile(t *testing.T, path string, keys ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(keys, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestKeysOnRedis moves a single gateway's state directory to Redis with
// lastmile keys migrate, works on the fleet's keys with lastmile keys, and
// changes the encryption key with lastmile keys reencrypt. A gateway started
// afterwards on another machine (another state directory) keeps the tenant,
// the keys and the generated subscription keys of the migrated one.
func TestKeysOnRedis(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	dir := t.TempDir()
	cfg, stateDir := filepath.Join(dir, "cfg"), filepath.Join(dir, "state")
	writeConfig(t, cfg, ordersYAML+"  tokenLifetime: 2h\n")
	os.MkdirAll(filepath.Join(cfg, "subscriptions", "gen"), 0o755)
	os.WriteFile(filepath.Join(cfg, "subscriptions", "gen", "subscriptionInformation.json"), []byte(`{"properties":{"scope":"/apis","state":"active"}}`), 0o644)
	subKeys := regexp.MustCompile(`[0-9a-f]{32}`)

	// The single gateway, with the memory store.
	s, err := server.New(context.Background(), server.Options{ConfigDir: cfg, StateDir: stateDir, Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	tenant := s.Provider().TenantID()
	s.Close()
	_, subsBefore, _ := runCmd(t, nil, "subscriptions", "--config", cfg, "--state", stateDir)
	_, listBefore, _ := runCmd(t, nil, "keys", "list", "--state", stateDir)

	// The configuration switches to Redis.
	keyFile := filepath.Join(dir, "state.key")
	writeKeyFile(t, keyFile, stateKeyA)
	writeConfig(t, cfg, ordersYAML+"  tokenLifetime: 2h\n"+redisYAML(addr, keyFile))
	if code, out, errOut := runCmd(t, nil, "keys", "list", "--config", cfg, "--state", stateDir); code != 1 || !strings.Contains(errOut, "no signing keys in state idp/keys.json") {
		t.Errorf("keys list on an empty Redis: %d %s%s", code, out, errOut)
	}
	code, out, errOut := runCmd(t, nil, "keys", "migrate", "--config", cfg, "--state", stateDir)
	if code != 0 || !strings.Contains(out, "copied the tenant, the identities, 1 signing keys and 1 generated subscription keys") {
		t.Fatalf("keys migrate: %d\n%s%s", code, out, errOut)
	}
	code, listAfter, errOut := runCmd(t, nil, "keys", "list", "--config", cfg)
	if code != 0 || !strings.HasPrefix(listAfter, "state: Redis at "+addr+", encrypted with key ") || !strings.HasSuffix(listAfter, listBefore) {
		t.Errorf("keys list after migrating: %d\n%s%s\nwant the keys listed before:\n%s", code, listAfter, errOut, listBefore)
	}
	if _, subsAfter, _ := runCmd(t, nil, "subscriptions", "--config", cfg, "--state", t.TempDir()); subKeys.FindString(subsAfter) == "" || subKeys.FindString(subsAfter) != subKeys.FindString(subsBefore) {
		t.Errorf("generated subscription keys after migrating:\n%s\nbefore:\n%s", subsAfter, subsBefore)
	}
	// The state directory is a backup now, and the fleet is not overwritten.
	if code, _, errOut := runCmd(t, nil, "keys", "list", "--state", stateDir); code != 1 || !strings.Contains(errOut, "by lastmile keys migrate") {
		t.Errorf("keys list on the migrated directory: %d %s", code, errOut)
	}
	if code, _, errOut := runCmd(t, nil, "keys", "migrate", "--config", cfg, "--state", stateDir); code != 1 || !strings.Contains(errOut, "already holds identities") {
		t.Errorf("migrating again: %d %s", code, errOut)
	}

	// A gateway on another machine joins the migrated fleet.
	s2, err := server.New(context.Background(), server.Options{ConfigDir: cfg, StateDir: t.TempDir(), Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if got := s2.Provider().TenantID(); got != tenant {
		t.Errorf("the fleet's tenant is %s, want the migrated %s", got, tenant)
	}
	s2.Close()

	// lastmile keys works on the fleet's keys.
	code, out, errOut = runCmd(t, nil, "keys", "prepare", "--config", cfg)
	prepared := regexp.MustCompile(`next ES256 key (\S+) is published`).FindStringSubmatch(out)
	if code != 0 || prepared == nil {
		t.Fatalf("keys prepare: %d %s%s", code, out, errOut)
	}
	if code, out, errOut := runCmd(t, nil, "keys", "rotate", "--config", cfg); code != 0 || !strings.Contains(out, prepared[1]+" signs from now") {
		t.Fatalf("keys rotate: %d %s%s; want the prepared key %s to sign", code, out, errOut, prepared[1])
	}
	st := openFleet(t, cfg)
	var current string
	for _, k := range keyInfos(t, st) {
		if k.State == idp.KeyCurrent {
			current = k.KeyID
		}
	}
	if code, out, errOut := runCmd(t, nil, "keys", "revoke", "--kid", current, "--config", cfg); code != 0 || !strings.Contains(out, current+" is revoked") {
		t.Fatalf("keys revoke: %d %s%s", code, out, errOut)
	}
	if _, jwks, _ := runCmd(t, nil, "keys", "jwks", "--config", cfg); strings.Contains(jwks, current) || !strings.Contains(jwks, `"keys"`) {
		t.Errorf("keys jwks after revoking %s:\n%s", current, jwks)
	}

	// A new encryption key: beside the old one first, then first, then
	// re-encrypt, then alone.
	writeKeyFile(t, keyFile, stateKeyB, stateKeyA)
	code, out, errOut = runCmd(t, nil, "keys", "reencrypt", "--config", cfg)
	if code != 0 || !strings.HasPrefix(out, "3 of 3 records") {
		t.Fatalf("keys reencrypt: %d %s%s", code, out, errOut)
	}
	writeKeyFile(t, keyFile, stateKeyB)
	if code, out, errOut := runCmd(t, nil, "keys", "list", "--config", cfg); code != 0 || !strings.Contains(out, "current") {
		t.Errorf("keys list with the new key alone: %d %s%s", code, out, errOut)
	}
	// With the old key alone, the state no longer opens, and the error says
	// which key it needs.
	writeKeyFile(t, keyFile, stateKeyA)
	if code, _, errOut := runCmd(t, nil, "keys", "list", "--config", cfg); code != 1 || !strings.Contains(errOut, "which is not among this instance's encryption keys") {
		t.Errorf("keys list with the old key: %d %s", code, errOut)
	}
	for _, k := range []string{stateKeyA, stateKeyB} {
		if strings.Contains(errOut, k) {
			t.Error("the error holds an encryption key")
		}
	}

	if code, _, errOut := runCmd(t, nil, "keys", "migrate", "--state", stateDir); code != 1 || !strings.Contains(errOut, "pass --config DIR, whose lastmile.yaml has store.type: redis") {
		t.Errorf("migrate without --config: %d %s", code, errOut)
	}
}

func openFleet(t *testing.T, cfgDir string) *server.IdentityState {
	t.Helper()
	cfg, err := config.Load(filepath.Join(cfgDir, config.FileName))
	if err != nil {
		t.Fatal(err)
	}
	st, err := server.OpenIdentityState(context.Background(), cfg, t.TempDir(), os.Getenv)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

func keyInfos(t *testing.T, st *server.IdentityState) []idp.KeyInfo {
	t.Helper()
	ks, err := idp.OpenKeyStore(context.Background(), st, idp.KeyStoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	return ks.Keys()
}

// TestFleetProcesses runs three `lastmile serve` processes, each with its own
// state directory, on one Redis, as three machines would. They publish the
// same JWKS with the same ETag; a token one of them gives a workload verifies
// against the others' JWKS; lastmile keys rotate, then SIGHUP, moves all of
// them to the new key.
func TestFleetProcesses(t *testing.T) {
	addr := storetest.StartRedis(t, "")
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg")
	keyFile := filepath.Join(dir, "state.key")
	writeKeyFile(t, keyFile, stateKeyA)
	writeConfig(t, cfg, ordersYAML+redisYAML(addr, keyFile))
	type member struct {
		p        *process
		state    string
		identity string
	}
	var fleet []member
	for i := range 3 {
		state := filepath.Join(dir, fmt.Sprintf("state-%d", i))
		p := startProcess(t, "serve", "--config", cfg, "--state", state, "--listen", "127.0.0.1:0", "--identity-listen", "127.0.0.1:0")
		p.waitFor(t, "lastmile is serving")
		fleet = append(fleet, member{p, state, p.logged(t, "identity_url")})
	}
	jwks := func(m member) (string, string) {
		resp, err := http.Get(m.identity + "/.well-known/jwks.json")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.Header.Get("ETag"), string(body)
	}
	same := func(when string) string {
		t.Helper()
		etag, body := jwks(fleet[0])
		for i, m := range fleet[1:] {
			if e, b := jwks(m); e != etag || b != body {
				t.Fatalf("%s: instance %d publishes another JWKS:\n%s %s\n%s %s", when, i+1, etag, body, e, b)
			}
		}
		return body
	}
	// Each instance gives a workload a token; each verifies against every
	// instance's JWKS. The issuer differs per instance here (each is its own
	// identity listener), so only the signature and expiry are checked.
	crossVerify := func(when string) {
		t.Helper()
		for i, m := range fleet {
			code, raw, errOut := runCmd(t, nil, "token", "--resource", "api://orders", "--raw", "--state", m.state)
			if code != 0 {
				t.Fatalf("%s: lastmile token from instance %d: %d %s", when, i, code, errOut)
			}
			for j, other := range fleet {
				_, body := jwks(other)
				var set jose.JSONWebKeySet
				json.Unmarshal([]byte(body), &set)
				_, err := jwt.Parse(strings.TrimSpace(raw), func(tok *jwt.Token) (any, error) {
					kid, _ := tok.Header["kid"].(string)
					for _, k := range set.Keys {
						if k.KeyID == kid {
							return k.Key.(crypto.PublicKey), nil
						}
					}
					return nil, fmt.Errorf("kid %q is not published", kid)
				}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithExpirationRequired())
				if err != nil {
					t.Errorf("%s: a token from instance %d does not verify against instance %d's JWKS: %v", when, i, j, err)
				}
			}
		}
	}
	before := same("after start")
	crossVerify("after start")

	code, out, errOut := runCmd(t, nil, "keys", "rotate", "--config", cfg)
	if code != 0 {
		t.Fatalf("keys rotate: %d %s%s", code, out, errOut)
	}
	for _, m := range fleet {
		m.p.cmd.Process.Signal(syscall.SIGHUP)
	}
	for _, m := range fleet {
		// A reload reads the keys before it logs this (the periodic reload
		// may have picked them up already).
		m.p.waitFor(t, "configuration reloaded")
	}
	if after := same("after lastmile keys rotate and SIGHUP"); after == before {
		t.Error("the JWKS did not change with the rotation")
	}
	crossVerify("after the rotation")
}

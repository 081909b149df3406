package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// stoppedGateway leaves the state a gateway with an ES256 and an RS256 resource
// leaves behind, and a configuration folder with a 2-hour token lifetime.
func stoppedGateway(t *testing.T) (stateDir, configDir string) {
	t.Helper()
	stateDir, configDir = t.TempDir(), t.TempDir()
	state, err := statedir.Open(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := idp.New(context.Background(), idp.Config{
		Issuer:    "http://127.0.0.1:8081",
		Resources: []idp.Resource{{ID: "api://a"}, {ID: "api://b", SigningAlgorithm: idp.AlgRS256}},
	}, state); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(configDir, "lastmile.yaml"), []byte("identity:\n  tokenLifetime: 2h\n"), 0o644)
	return stateDir, configDir
}

func keyStates(t *testing.T, stateDir string) map[string][]idp.KeyInfo {
	t.Helper()
	state, _ := statedir.Open(stateDir)
	ks, err := idp.OpenKeyStore(context.Background(), state, idp.KeyStoreOptions{ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string][]idp.KeyInfo{}
	for _, k := range ks.Keys() {
		out[string(k.State)] = append(out[string(k.State)], k)
	}
	return out
}

func TestKeysCommand(t *testing.T) {
	stateDir, configDir := stoppedGateway(t)
	code, out, errOut := runCmd(t, nil, "keys", "list", "--state", stateDir)
	if code != 0 || strings.Count(out, "current") != 2 || !strings.Contains(out, "ES256") || !strings.Contains(out, "RS256") {
		t.Fatalf("keys list: %d\n%s%s", code, out, errOut)
	}
	before := keyStates(t, stateDir)["current"]

	// jwks prints the public keys only.
	code, out, _ = runCmd(t, nil, "keys", "jwks", "--state", stateDir)
	var set struct{ Keys []map[string]any }
	if code != 0 || json.Unmarshal([]byte(out), &set) != nil || len(set.Keys) != 2 || strings.Contains(out, `"d"`) {
		t.Fatalf("keys jwks: %d %s", code, out)
	}

	// prepare, then rotate ES256 only, with the configuration's 2h lifetime.
	code, out, errOut = runCmd(t, map[string]string{"LASTMILE_STATE": stateDir}, "keys", "prepare", "--alg", "ES256")
	if code != 0 || !strings.Contains(out, "next ES256 key") {
		t.Fatalf("keys prepare: %d %s %s", code, out, errOut)
	}
	prepared := keyStates(t, stateDir)["next"][0]
	code, out, errOut = runCmd(t, nil, "keys", "rotate", "--alg", "ES256", "--state", stateDir, "--config", configDir)
	if code != 0 || !strings.Contains(out, prepared.KeyID+" signs from now") || !strings.Contains(out, "SIGHUP") {
		t.Fatalf("keys rotate: %d %s %s", code, out, errOut)
	}
	after := keyStates(t, stateDir)
	retired := after["retired"]
	if len(retired) != 1 || retired[0].KeyID != before[0].KeyID {
		t.Fatalf("after rotate: retired %v, want the previous ES256 key", retired)
	}
	if got := retired[0].PublishedUntil.Sub(retired[0].Retired); got.Hours() != 2+5.0/60 {
		t.Errorf("retired key published for %v after retirement, want the configured 2h token lifetime + 5m", got)
	}

	// rotate without --alg rotates every algorithm in use.
	if code, out, _ = runCmd(t, nil, "keys", "rotate", "--state", stateDir); code != 0 || !strings.Contains(out, "ES256 key") || !strings.Contains(out, "RS256 key") {
		t.Fatalf("keys rotate (all): %d %s", code, out)
	}

	// Emergency revocation of the current ES256 key.
	var cur idp.KeyInfo
	for _, k := range keyStates(t, stateDir)["current"] {
		if k.Algorithm == idp.AlgES256 {
			cur = k
		}
	}
	code, out, errOut = runCmd(t, nil, "keys", "revoke", "--kid", cur.KeyID, "--state", stateDir)
	if code != 0 || !strings.Contains(out, cur.KeyID+" is revoked") {
		t.Fatalf("keys revoke: %d %s %s", code, out, errOut)
	}
	for _, k := range keyStates(t, stateDir)["current"] {
		if k.KeyID == cur.KeyID {
			t.Error("the revoked key is still current")
		}
	}
	_, jwks, _ := runCmd(t, nil, "keys", "jwks", "--state", stateDir)
	if strings.Contains(jwks, cur.KeyID) {
		t.Error("the revoked key is still published")
	}
}

func TestKeysCommandErrors(t *testing.T) {
	stateDir, _ := stoppedGateway(t)
	for _, tc := range []struct {
		name     string
		args     []string
		wantCode int
		want     string
	}{
		{"no command", []string{"keys"}, 2, "usage: lastmile keys"},
		{"unknown command", []string{"keys", "delete", "--state", stateDir}, 2, `unknown command "delete"`},
		{"revoke without kid", []string{"keys", "revoke", "--state", stateDir}, 2, "--kid is required"},
		{"revoke an unknown kid", []string{"keys", "revoke", "--kid", "nope", "--state", stateDir}, 1, "no such key"},
		{"unknown algorithm", []string{"keys", "rotate", "--alg", "HS256", "--state", stateDir}, 1, `"HS256" is not supported`},
		{"no gateway state", []string{"keys", "list", "--state", t.TempDir()}, 1, "start lastmile serve with this state folder first"},
		{"bad configuration", []string{"keys", "rotate", "--state", stateDir, "--config", writeBadConfig(t)}, 1, "lastmile.yaml:1:1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runCmd(t, nil, tc.args...)
			if code != tc.wantCode || !strings.Contains(out+errOut, tc.want) {
				t.Errorf("exit %d, output %q; want %d mentioning %q", code, out+errOut, tc.wantCode, tc.want)
			}
		})
	}
}

func writeBadConfig(t *testing.T) string {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "lastmile.yaml"), []byte("idenity: {}\n"), 0o644)
	return dir
}

func TestSecretCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if err := cmdSecret(context.Background(), []string{"new"}, nil, strings.NewReader(""), &out, &errb); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(out.String(), "\n")
	secret, _ := strings.CutPrefix(lines[0], "secret: ")
	hash, _ := strings.CutPrefix(lines[1], "hash:   ")
	if len(secret) != 43 || directory.CheckClientSecretHash(hash) != nil {
		t.Fatalf("secret new printed %q", out.String())
	}
	out.Reset()
	if err := cmdSecret(context.Background(), []string{"hash"}, nil, strings.NewReader("my secret\n"), &out, &errb); err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(out.String())
	if directory.CheckClientSecretHash(h) != nil || strings.Contains(h, "my secret") {
		t.Fatalf("secret hash printed %q", h)
	}
	if err := cmdSecret(context.Background(), []string{"hash"}, nil, strings.NewReader(""), &out, &errb); err == nil {
		t.Error("secret hash with no input succeeded")
	}
	if err := cmdSecret(context.Background(), nil, nil, strings.NewReader(""), &out, &errb); err == nil {
		t.Error("secret with no command succeeded")
	}
}

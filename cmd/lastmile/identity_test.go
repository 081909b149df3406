package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/server"
)

func TestIdentityCommands(t *testing.T) {
	cfg, state := t.TempDir(), t.TempDir()
	yaml := "identity:\n  resources:\n    - id: api://orders\n  userAssignedIdentities:\n    - name: reporting\n      clientId: 0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11\n"
	if err := os.WriteFile(filepath.Join(cfg, "lastmile.yaml"), []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	code, _, errOut := runCmd(t, nil, "identity", "env", "--state", state)
	if code != 1 || !strings.Contains(errOut, "start `lastmile serve` with it") {
		t.Errorf("before serve: %d %q", code, errOut)
	}

	ctx, cancel := context.WithCancel(context.Background())
	s, err := server.New(ctx, server.Options{ConfigDir: cfg, StateDir: state, Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	env := s.WorkloadEnvironment()

	t.Run("identity env", func(t *testing.T) {
		code, out, errOut := runCmd(t, nil, "identity", "env", "--state", state)
		if code != 0 || out != string(env.Format()) {
			t.Errorf("exit %d, stderr %q, out:\n%s\nwant:\n%s", code, errOut, out, env.Format())
		}
		if !strings.Contains(out, "IDENTITY_ENDPOINT="+s.IdentityURL()+"/msi/token\n") || !strings.Contains(out, "IDENTITY_HEADER=") {
			t.Errorf("missing variables:\n%s", out)
		}
		code, _, errOut = runCmd(t, nil, "identity")
		if code != 2 || !strings.Contains(errOut, "usage: lastmile identity env") {
			t.Errorf("no subcommand: %d %q", code, errOut)
		}
	})
	t.Run("token prints claims, not the token", func(t *testing.T) {
		code, out, errOut := runCmd(t, map[string]string{"LASTMILE_STATE": state}, "token", "--resource", "api://orders/.default")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		for _, want := range []string{`"aud": "api://orders"`, `"typ": "at+jwt"`, `"oid": "` + s.Provider().SystemIdentity().ObjectID + `"`, "# expires "} {
			if !strings.Contains(out, want) {
				t.Errorf("output lacks %s:\n%s", want, out)
			}
		}
		if strings.Contains(out, "eyJ") {
			t.Errorf("the token was printed without --raw:\n%s", out)
		}
	})
	t.Run("a user-assigned identity, raw", func(t *testing.T) {
		code, out, errOut := runCmd(t, nil, "token", "--resource", "api://orders", "--client-id", "0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11", "--raw", "--state", state)
		if code != 0 || !strings.HasPrefix(out, "eyJ") || strings.Count(out, ".") != 2 || strings.Count(out, "\n") != 1 {
			t.Errorf("exit %d %q: %q", code, errOut, out)
		}
		h, c, err := decodeJWT(strings.TrimSpace(out))
		if err != nil || !strings.Contains(string(c), "0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11") || !strings.Contains(string(h), "kid") {
			t.Errorf("decoded: %s %s %v", h, c, err)
		}
	})
	t.Run("errors", func(t *testing.T) {
		code, _, errOut := runCmd(t, nil, "token", "--state", state)
		if code != 2 || !strings.Contains(errOut, "--resource is required") {
			t.Errorf("no resource: %d %q", code, errOut)
		}
		code, _, errOut = runCmd(t, nil, "token", "--resource", "api://nobody", "--state", state)
		if code != 1 || !strings.Contains(errOut, "AADSTS500011") || !strings.Contains(errOut, "api://nobody") {
			t.Errorf("unregistered resource: %d %q", code, errOut)
		}
	})
}

package agent_test

import (
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// nodeProject prepares testdata/node: `npm ci` when node_modules is missing. It
// skips when node or npm is missing (scripts/test.sh installs both).
func nodeProject(t *testing.T) string {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed; scripts/test.sh installs it (apt-get install nodejs npm)")
	}
	dir, err := filepath.Abs("testdata/node")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@azure", "identity")); err != nil {
		npm, err := exec.LookPath("npm")
		if err != nil {
			t.Skip("npm is not installed; scripts/test.sh installs it")
		}
		cmd := exec.Command(npm, "ci", "--no-audit", "--no-fund")
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
		}
	}
	return node
}

// runNode runs gettoken.mjs with only the variables given (and PATH, HOME).
func runNode(t *testing.T, node string, env map[string]string) (token string, expires time.Time, stderr string, ok bool) {
	t.Helper()
	cmd := exec.Command(node, "gettoken.mjs")
	cmd.Dir = "testdata/node"
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "NODE_NO_WARNINGS=1"}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	if err != nil {
		return "", time.Time{}, errb.String(), false
	}
	var r struct {
		Token              string `json:"token"`
		ExpiresOnTimestamp int64  `json:"expiresOnTimestamp"`
	}
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("node printed %d bytes that are not the expected JSON", len(out))
	}
	return r.Token, time.UnixMilli(r.ExpiresOnTimestamp), errb.String(), true
}

// TestNodeIMDS runs @azure/identity's ManagedIdentityCredential against the IMDS
// endpoint through AZURE_POD_IDENTITY_AUTHORITY_HOST. msal-node lower-cases the
// URL and appends a slash, which the endpoint tolerates.
func TestNodeIMDS(t *testing.T) {
	node := nodeProject(t)
	f := newFixture(t, nil)
	srv := httptest.NewUnstartedServer(f.agent.IMDSHandler())
	srv.Config.ConnContext = f.agent.ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	reporting := f.identity("reporting")

	for _, tc := range []struct {
		name, clientID, scope, audience, wantOID string
	}{
		{"system-assigned", "", "api://orders/.default", "api://orders", f.provider.SystemIdentity().ObjectID},
		{"user-assigned", reporting.ClientID, "https://storage.example.com/.default", "https://storage.example.com/", reporting.ObjectID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, exp, stderr, ok := runNode(t, node, map[string]string{
				"AZURE_POD_IDENTITY_AUTHORITY_HOST": srv.URL,
				"LASTMILE_TEST_SCOPE":               tc.scope,
				"LASTMILE_TEST_CLIENT_ID":           tc.clientID,
			})
			if !ok {
				t.Fatalf("node failed: %s", stderr)
			}
			if d := time.Until(exp); d < 50*time.Minute || d > time.Hour+time.Minute {
				t.Errorf("expiresOnTimestamp is %s away, want about an hour", d)
			}
			if claims := f.verify(t, tok, tc.audience); claims["oid"] != tc.wantOID {
				t.Errorf("oid = %v, want %s", claims["oid"], tc.wantOID)
			}
		})
	}
	t.Run("an identity lastmile does not have", func(t *testing.T) {
		_, _, stderr, ok := runNode(t, node, map[string]string{
			"AZURE_POD_IDENTITY_AUTHORITY_HOST": srv.URL,
			"LASTMILE_TEST_SCOPE":               "api://orders/.default",
			"LASTMILE_TEST_CLIENT_ID":           "00000000-0000-0000-0000-000000000009",
		})
		if ok {
			t.Fatal("node got a token for an identity that does not exist")
		}
		if !strings.Contains(stderr, "CredentialUnavailableError") && !strings.Contains(stderr, "AuthenticationError") {
			t.Errorf("stderr: %s", stderr)
		}
	})
}

// TestNodeAppService runs the same client through IDENTITY_ENDPOINT and
// IDENTITY_HEADER, which msal-node lower-cases and ends with a slash.
func TestNodeAppService(t *testing.T) {
	node := nodeProject(t)
	f := newFixture(t, nil)
	tok, _, stderr, ok := runNode(t, node, map[string]string{
		"IDENTITY_ENDPOINT":   f.url + "/MSI/Token",
		"IDENTITY_HEADER":     testHeader,
		"LASTMILE_TEST_SCOPE": "api://orders/.default",
	})
	if !ok {
		t.Fatalf("node failed: %s", stderr)
	}
	f.verify(t, tok, "api://orders")
}

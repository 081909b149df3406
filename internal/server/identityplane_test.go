package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"

	"github.com/lastmile-gw/lastmile/internal/identity/agent"
)

// TestManagedIdentityEndpoints runs lastmile with every managed identity
// endpoint on and gets tokens from each the way a local workload would.
func TestManagedIdentityEndpoints(t *testing.T) {
	backend := newVerifyingBackend(t, "api://orders")
	sockDir, err := os.MkdirTemp("", "lm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sockDir) })
	socket := filepath.Join(sockDir, "identity.sock")
	files := testConfig(backend.srv.URL)
	files["lastmile.yaml"] += fmt.Sprintf(`  managedIdentityEndpoints:
    imds:
      listen: "127.0.0.1:0"
    socket: %s
  workloads:
    - name: this-test
      uid: %d
      identities: [system]
`, socket, os.Getuid())
	files["apis/wi/apiInformation.json"] = fmt.Sprintf(`{"properties":{"path":"wi","serviceUrl":%q,"subscriptionRequired":false}}`, backend.srv.URL+"/wi")
	files["apis/wi/policy.xml"] = `<policies><inbound><base /><authentication-managed-identity resource="api://orders" authentication-provider="WorkloadIdentity" /></inbound><backend><base /></backend><outbound><base /></outbound><on-error><base /></on-error></policies>`
	cfgDir, stateDir := t.TempDir(), t.TempDir()
	writeFiles(t, cfgDir, files)
	e := start(t, cfgDir, stateDir, backend)
	sys := e.srv.Provider().SystemIdentity()
	env := e.srv.WorkloadEnvironment()

	t.Run("the environment file", func(t *testing.T) {
		p := filepath.Join(stateDir, agent.EnvFile)
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s has mode %v, want 0600", p, fi.Mode().Perm())
		}
		data, _ := os.ReadFile(p)
		if string(data) != string(env.Format()) {
			t.Errorf("file:\n%s\nwant:\n%s", data, env.Format())
		}
		if env.IdentityEndpoint != e.srv.IdentityURL()+"/msi/token" || env.IdentityHeader == "" ||
			!strings.HasPrefix(env.IMDSHost, "http://127.0.0.1:") || env.Socket != "unix://"+socket {
			t.Errorf("environment %+v", env)
		}
	})

	check := func(t *testing.T, raw string) {
		t.Helper()
		claims, _, err := backend.verify(raw)
		if err != nil {
			t.Fatalf("the backend rejects the token: %v", err)
		}
		if claims["oid"] != sys.ObjectID {
			t.Errorf("oid %v, want the system identity's", claims["oid"])
		}
	}

	t.Run("App Service protocol, through azidentity", func(t *testing.T) {
		for _, k := range []string{"IDENTITY_SERVER_THUMBPRINT", "MSI_ENDPOINT", "MSI_SECRET", "IMDS_ENDPOINT"} {
			t.Setenv(k, "")
		}
		t.Setenv("IDENTITY_ENDPOINT", env.IdentityEndpoint)
		t.Setenv("IDENTITY_HEADER", env.IdentityHeader)
		cred, err := azidentity.NewManagedIdentityCredential(nil)
		if err != nil {
			t.Fatal(err)
		}
		tok, err := cred.GetToken(context.Background(), policy.TokenRequestOptions{Scopes: []string{"api://orders/.default"}})
		if err != nil {
			t.Fatal(err)
		}
		check(t, tok.Token)
	})

	getToken := func(t *testing.T, c *http.Client, url string, h map[string]string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url, nil)
		for k, v := range h {
			req.Header.Set(k, v)
		}
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("status %d: %s", resp.StatusCode, body)
		}
		var out struct {
			AccessToken string `json:"access_token"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		return out.AccessToken
	}
	t.Run("IMDS protocol", func(t *testing.T) {
		check(t, getToken(t, http.DefaultClient, env.IMDSHost+agent.IMDSPath+"?api-version=2018-02-01&resource=api://orders", map[string]string{"Metadata": "true"}))
	})
	t.Run("attested socket", func(t *testing.T) {
		c := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", socket)
		}}}
		check(t, getToken(t, c, "http://lastmile/msi/token?api-version=2019-08-01&resource=api://orders", nil))
	})
	t.Run("WorkloadIdentity provider in a policy", func(t *testing.T) {
		status, _, body := e.get(t, "/wi/x", nil)
		if status != 200 {
			t.Fatalf("status %d: %s", status, body)
		}
		if got := backend.last(t); got.Err != "" || got.Claims["oid"] != sys.ObjectID {
			t.Errorf("backend saw %q, oid %v", got.Err, got.Claims["oid"])
		}
		if e.srv.TokenSource() != "embedded" {
			t.Errorf("TokenSource = %q, want embedded", e.srv.TokenSource())
		}
	})
	t.Run("the socket is removed at shutdown", func(t *testing.T) {
		e.stop()
		if _, err := os.Stat(socket); !os.IsNotExist(err) {
			t.Errorf("socket still there after shutdown: %v", err)
		}
	})
}

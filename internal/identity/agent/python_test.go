package agent_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/identity/agent"
)

// debianPython is the interpreter Debian's python3-azure and python3-msal
// install for; the python3 on PATH may be another one (pyenv) without them.
const debianPython = "/usr/bin/python3"

// pythonClient skips unless /usr/bin/python3 can run probe, the import a
// client needs.
func pythonClient(t *testing.T, probe string) {
	t.Helper()
	if _, err := os.Stat(debianPython); err != nil {
		t.Skipf("%s is missing; scripts/test.sh installs it with python3-azure and python3-msal (apt-get)", debianPython)
	}
	if out, err := exec.Command(debianPython, "-c", probe).CombinedOutput(); err != nil {
		t.Skipf("%s: %s (scripts/test.sh installs Debian's python3-azure and python3-msal)", debianPython, lastLine(string(out)))
	}
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}

// pythonResult is what testdata/python/gettoken.py prints.
type pythonResult struct {
	Token           string `json:"token"`
	ExpiresOn       int64  `json:"expires_on"`
	SecondFromCache bool   `json:"second_from_cache"`
	Version         string `json:"version"`
	Skip            string `json:"skip"`
}

// runPython runs gettoken.py with only the variables given, PATH and a fresh
// HOME. A dead loopback proxy catches any request to an address other than
// loopback (169.254.169.254 above all), so that a client that ignores the
// endpoint variables fails here instead of calling out.
func runPython(t *testing.T, env map[string]string) (pythonResult, string, error) {
	t.Helper()
	cmd := exec.Command(debianPython, "gettoken.py")
	cmd.Dir = "testdata/python"
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"HTTP_PROXY=http://127.0.0.1:9", "HTTPS_PROXY=http://127.0.0.1:9", "NO_PROXY=127.0.0.1,localhost",
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	out, err := cmd.Output()
	var r pythonResult
	if jerr := json.Unmarshal(out, &r); jerr != nil && err == nil {
		t.Fatalf("gettoken.py printed %d bytes that are not the expected JSON", len(out))
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) && exit.ExitCode() == 3 && r.Skip != "" {
		t.Skip(r.Skip)
	}
	return r, errb.String(), err
}

// countTokenRequests counts the requests that reach h.
func countTokenRequests(h http.Handler, n *atomic.Int64) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		h.ServeHTTP(w, r)
	})
}

// TestPythonClients runs Microsoft's Python clients, as Debian packages them,
// against both protocols: azure-identity's ManagedIdentityCredential and
// DefaultAzureCredential, and MSAL Python's ManagedIdentityClient, for the
// system-assigned and a user-assigned identity. Each gets a token twice: the
// token must verify and the second must come from the client's own cache.
func TestPythonClients(t *testing.T) {
	f := newFixture(t, nil)
	var appServiceRequests, imdsRequests atomic.Int64
	appService := httptest.NewUnstartedServer(countTokenRequests(f.agent.Wrap(http.NotFoundHandler()), &appServiceRequests))
	appService.Config.ConnContext = f.agent.ConnContext
	appService.Start()
	t.Cleanup(appService.Close)
	imds := httptest.NewUnstartedServer(countTokenRequests(f.agent.IMDSHandler(), &imdsRequests))
	imds.Config.ConnContext = f.agent.ConnContext
	imds.Start()
	t.Cleanup(imds.Close)

	protocols := []struct {
		name     string
		env      map[string]string
		requests *atomic.Int64
	}{
		{"App Service", map[string]string{agent.EnvIdentityEndpoint: appService.URL + agent.AppServicePath, agent.EnvIdentityHeader: testHeader}, &appServiceRequests},
		{"IMDS", map[string]string{agent.EnvPodIdentityHost: imds.URL}, &imdsRequests},
	}
	reporting := f.identity("reporting")
	identities := []struct {
		name, clientID, wantOID string
	}{
		{"system-assigned", "", f.provider.SystemIdentity().ObjectID},
		{"user-assigned", reporting.ClientID, reporting.ObjectID},
	}
	clients := []struct{ name, probe string }{
		{"ManagedIdentityCredential", "import azure.identity"},
		{"DefaultAzureCredential", "import azure.identity"},
		{"ManagedIdentityClient", `import msal; assert hasattr(msal, "ManagedIdentityClient"), "MSAL Python " + msal.__version__ + " has no ManagedIdentityClient: it came in 1.29, and Debian 12 packages 1.21"`},
	}
	for _, c := range clients {
		t.Run(c.name, func(t *testing.T) {
			pythonClient(t, c.probe)
			for _, p := range protocols {
				for _, id := range identities {
					t.Run(p.name+"/"+id.name, func(t *testing.T) {
						env := map[string]string{
							"LASTMILE_TEST_CLIENT":    c.name,
							"LASTMILE_TEST_SCOPE":     "api://orders/.default",
							"LASTMILE_TEST_CLIENT_ID": id.clientID,
						}
						for k, v := range p.env {
							env[k] = v
						}
						before := p.requests.Load()
						got, stderr, err := runPython(t, env)
						if err != nil {
							t.Fatalf("%s failed: %v\n%s", c.name, err, stderr)
						}
						if n := p.requests.Load() - before; n != 1 {
							t.Errorf("%s sent %d requests for two tokens, want 1: the second should come from its cache", c.name, n)
						}
						if !got.SecondFromCache {
							t.Errorf("%s %s did not serve the second call from its cache", c.name, got.Version)
						}
						if d := time.Until(time.Unix(got.ExpiresOn, 0)); d < 50*time.Minute || d > time.Hour+time.Minute {
							t.Errorf("expires_on is %s away, want about an hour", d)
						}
						claims := f.verify(t, got.Token, "api://orders")
						if claims["oid"] != id.wantOID {
							t.Errorf("oid = %v, want %s", claims["oid"], id.wantOID)
						}
						if claims["iss"] != f.url {
							t.Errorf("iss = %v, want %s", claims["iss"], f.url)
						}
					})
				}
			}
		})
	}
}

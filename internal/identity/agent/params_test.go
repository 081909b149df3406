package agent_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/identity/agent"
)

// rawGet writes a GET request as bytes on a new connection from dial, so that
// the query string reaches the server exactly as written, and reads the answer.
func rawGet(t *testing.T, dial func() (net.Conn, error), target string, header map[string]string) (*http.Response, []byte) {
	t.Helper()
	conn, err := dial()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	var b strings.Builder
	b.WriteString("GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n")
	for k, v := range header {
		b.WriteString(k + ": " + v + "\r\n")
	}
	b.WriteString("\r\n")
	if _, err := io.WriteString(conn, b.String()); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, body
}

func tcpDialer(addr string) func() (net.Conn, error) {
	return func() (net.Conn, error) { return net.Dial("tcp", addr) }
}

// TestRepeatedParameters: every managed identity endpoint refuses a request that
// names any parameter twice, even with the same value twice, instead of taking
// the first: 400 invalid_request in the endpoints' error shape, before a token
// is asked for. A query that is not form-encoded is refused the same way.
func TestRepeatedParameters(t *testing.T) {
	type endpoint struct {
		name   string
		dial   func() (net.Conn, error)
		path   string
		header map[string]string
		resID  string // mi_res_id or msi_res_id
	}
	appServiceHeader := map[string]string{"X-IDENTITY-HEADER": testHeader}
	metadata := map[string]string{"Metadata": "true"}
	endpoints := func(t *testing.T) (*fixture, []endpoint) {
		// Dozens of requests in a burst: no rate limit here.
		f := newFixture(t, func(c *agent.Config) { c.RequestsPerSecond = 1 << 30 })
		imds := httptest.NewUnstartedServer(f.agent.IMDSHandler())
		imds.Config.ConnContext = f.agent.ConnContext
		imds.Start()
		t.Cleanup(imds.Close)
		tcp := strings.TrimPrefix(f.url, "http://")
		return f, []endpoint{
			{"App Service", tcpDialer(tcp), agent.AppServicePath, appServiceHeader, "mi_res_id"},
			{"IMDS", tcpDialer(imds.Listener.Addr().String()), agent.IMDSPath, metadata, "msi_res_id"},
		}
	}
	attested := func(t *testing.T) (*fixture, []endpoint) {
		me := whoami(t)
		f := newFixture(t, func(c *agent.Config) {
			c.AttestTCP, c.RequestsPerSecond = true, 1<<30
			c.Workloads = []agent.Workload{{Name: "tests", UID: u32(me.uid), Identities: []string{"system", "reporting"}}}
		})
		socket := serveSocket(t, f).Transport.(*http.Transport)
		dialSocket := func() (net.Conn, error) { return socket.DialContext(context.Background(), "", "") }
		return f, []endpoint{
			{"attested TCP, App Service", tcpDialer(strings.TrimPrefix(f.url, "http://")), agent.AppServicePath, appServiceHeader, "mi_res_id"},
			{"socket, App Service", dialSocket, agent.AppServicePath, nil, "mi_res_id"},
			{"socket, IMDS", dialSocket, agent.IMDSPath, metadata, "msi_res_id"},
		}
	}

	for _, setup := range []struct {
		name      string
		endpoints func(*testing.T) (*fixture, []endpoint)
	}{{"loopback", endpoints}, {"attested", attested}} {
		t.Run(setup.name, func(t *testing.T) {
			f, eps := setup.endpoints(t)
			reporting := f.identity("reporting")
			for _, ep := range eps {
				version := "2019-08-01"
				if ep.path == agent.IMDSPath {
					version = "2018-02-01"
				}
				base := "api-version=" + version + "&resource=api%3A%2F%2Forders"
				resID := ep.resID + "=%2Fsubscriptions%2F0%2FresourceGroups%2Frg%2Fproviders%2FMicrosoft.ManagedIdentity%2FuserAssignedIdentities%2Freporting"
				t.Run(ep.name, func(t *testing.T) {
					// Today's request, answered: the cases below differ only by a repeat.
					if resp, body := rawGet(t, ep.dial, ep.path+"?"+base+"&client_id="+reporting.ClientID, ep.header); resp.StatusCode != 200 {
						t.Fatalf("the request without repeats: status %d: %s", resp.StatusCode, body)
					}
					for _, tc := range []struct {
						name, query, wantParam string
					}{
						{"resource", base + "&resource=api%3A%2F%2Forders", "resource"},
						{"resource with another value", base + "&resource=https%3A%2F%2Fstorage.example.com%2F", "resource"},
						{"api-version", base + "&api-version=" + version, "api-version"},
						{"api-version first", "api-version=" + version + "&" + base, "api-version"},
						{"client_id", base + "&client_id=" + reporting.ClientID + "&client_id=" + reporting.ClientID, "client_id"},
						{"object_id", base + "&object_id=" + reporting.ObjectID + "&object_id=" + reporting.ObjectID, "object_id"},
						{"principal_id", base + "&principal_id=" + reporting.ObjectID + "&principal_id=" + reporting.ObjectID, "principal_id"},
						{ep.resID, base + "&" + resID + "&" + resID, ep.resID},
						{"a parameter lastmile does not read", base + "&bypass_cache=true&bypass_cache=true", "bypass_cache"},
						{"the name escaped the second time", base + "&client_id=" + reporting.ClientID + "&client%5Fid=" + reporting.ClientID, "client_id"},
						{"a semicolon separator", base + ";resource=api%3A%2F%2Fnobody", "resource"},
						{"a bad escape", base + "&client_id=%zz", "client_id"},
					} {
						t.Run(tc.name, func(t *testing.T) {
							resp, raw := rawGet(t, ep.dial, ep.path+"?"+tc.query, ep.header)
							if resp.StatusCode != http.StatusBadRequest {
								t.Fatalf("status %d, want 400: %s", resp.StatusCode, raw)
							}
							if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
								t.Errorf("Content-Type = %q", ct)
							}
							if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
								t.Errorf("Cache-Control = %q, want no-store", cc)
							}
							var body struct {
								Error       string `json:"error"`
								Description string `json:"error_description"`
								AccessToken string `json:"access_token"`
							}
							if err := json.Unmarshal(raw, &body); err != nil {
								t.Fatalf("body is not JSON: %q", raw)
							}
							if body.Error != "invalid_request" || !strings.Contains(body.Description, `"`+tc.wantParam+`"`) || body.AccessToken != "" {
								t.Errorf("body %s: want invalid_request naming %q", raw, tc.wantParam)
							}
						})
					}
				})
			}
		})
	}
}

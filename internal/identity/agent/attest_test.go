package agent_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/identity/agent"
)

// self describes the test process as the agent will see it.
type self struct {
	uid, gid uint32
	exe      string
	sha      string
}

func whoami(t *testing.T) self {
	t.Helper()
	if runtime.GOOS != "linux" {
		t.Skip("attestation needs Linux")
	}
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	f, err := os.Open("/proc/self/exe")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return self{uid: uint32(os.Getuid()), gid: uint32(os.Getgid()), exe: exe, sha: hex.EncodeToString(h.Sum(nil))}
}

func u32(v uint32) *uint32 { return &v }

// serveSocket serves the agent's socket handler on a Unix socket and returns a
// client that dials it.
func serveSocket(t *testing.T, f *fixture) *http.Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "lm")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "identity.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.agent.SocketHandler(), ConnContext: f.agent.ConnContext}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", path)
		},
	}}
}

func TestSocketAttestation(t *testing.T) {
	me := whoami(t)
	other := me.uid + 1
	wrongSHA := "0000000000000000000000000000000000000000000000000000000000000000"
	const orders = "api://orders"
	for _, tc := range []struct {
		name      string
		workloads []agent.Workload
		query     string // identity selection
		want      int
	}{
		{"no registration entry: denied", nil, "", 403},
		{"uid", []agent.Workload{{Name: "w", UID: u32(me.uid), Identities: []string{"system"}}}, "", 200},
		{"uid and gid", []agent.Workload{{Name: "w", UID: u32(me.uid), GID: u32(me.gid), Identities: []string{"system"}}}, "", 200},
		{"another uid", []agent.Workload{{Name: "w", UID: u32(other), Identities: []string{"system"}}}, "", 403},
		{"the executable's path", []agent.Workload{{Name: "w", Path: me.exe, Identities: []string{"system"}}}, "", 200},
		{"another path", []agent.Workload{{Name: "w", Path: "/usr/bin/true", Identities: []string{"system"}}}, "", 403},
		{"the executable's digest", []agent.Workload{{Name: "w", UID: u32(me.uid), SHA256: me.sha, Identities: []string{"system"}}}, "", 200},
		{"another digest", []agent.Workload{{Name: "w", UID: u32(me.uid), SHA256: wrongSHA, Identities: []string{"system"}}}, "", 403},
		{"every selector must match", []agent.Workload{{Name: "w", UID: u32(me.uid), Path: "/usr/bin/true", Identities: []string{"system"}}}, "", 403},
		{"an identity the entry does not give", []agent.Workload{{Name: "w", UID: u32(me.uid), Identities: []string{"system"}}}, "reporting", 403},
		{"the entry's user-assigned identity", []agent.Workload{{Name: "w", UID: u32(me.uid), Identities: []string{"reporting"}}}, "reporting", 200},
		{"but not the system identity then", []agent.Workload{{Name: "w", UID: u32(me.uid), Identities: []string{"reporting"}}}, "", 403},
		{"entries add up", []agent.Workload{
			{Name: "a", UID: u32(me.uid), Identities: []string{"reporting"}},
			{Name: "b", Path: me.exe, Identities: []string{"billing"}},
			{Name: "c", UID: u32(other), Identities: []string{"system"}},
		}, "billing", 200},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *agent.Config) { c.Workloads = tc.workloads })
			c := serveSocket(t, f)
			q := "?api-version=2019-08-01&resource=" + orders
			if tc.query != "" {
				q += "&client_id=" + f.identity(tc.query).ClientID
			}
			// Over the socket the kernel vouches for the caller: no identity header.
			resp, body := get(t, c, "http://lastmile"+agent.AppServicePath+q, nil)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %v", resp.StatusCode, tc.want, body)
			}
			if tc.want == 200 {
				f.verify(t, body["access_token"].(string), orders)
			} else if body["error"] != "access_denied" {
				t.Errorf("error = %v, want access_denied", body["error"])
			}
			// The IMDS protocol on the same socket, with the same decision.
			resp, _ = get(t, c, "http://lastmile"+agent.IMDSPath+q, map[string]string{"Metadata": "true"})
			if resp.StatusCode != tc.want {
				t.Errorf("IMDS path: status %d, want %d", resp.StatusCode, tc.want)
			}
		})
	}
}

// TestTCPAttestation identifies loopback TCP callers through /proc/net/tcp.
func TestTCPAttestation(t *testing.T) {
	me := whoami(t)
	for _, tc := range []struct {
		name      string
		workloads []agent.Workload
		want      int
	}{
		{"no entry", nil, 403},
		{"uid", []agent.Workload{{Name: "w", UID: u32(me.uid), Identities: []string{"system"}}}, 200},
		{"path and digest (the process is found through its socket)", []agent.Workload{{Name: "w", Path: me.exe, SHA256: me.sha, Identities: []string{"system"}}}, 200},
		{"gid", []agent.Workload{{Name: "w", GID: u32(me.gid), Identities: []string{"system"}}}, 200},
		{"another uid", []agent.Workload{{Name: "w", UID: u32(me.uid + 1), Identities: []string{"system"}}}, 403},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *agent.Config) { c.Workloads, c.AttestTCP = tc.workloads, true })
			resp, body := get(t, nil, f.url+"/msi/token?api-version=2019-08-01&resource=api://orders", map[string]string{"X-Identity-Header": testHeader})
			if resp.StatusCode != tc.want {
				t.Errorf("status %d, want %d: %v", resp.StatusCode, tc.want, body)
			}
		})
	}
}

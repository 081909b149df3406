package remote_test

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/identity/agent"
	"github.com/lastmile-gw/lastmile/internal/identity/remote"
)

const header = "remote-test-header-0123456789abcdefghijklmnop"

// issuer is the other lastmile's token source: it records what it was asked.
type issuer struct {
	mu    sync.Mutex
	asked []string
	err   error
}

func (i *issuer) Token(ctx context.Context, clientID, resource string) (identity.Token, error) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.asked = append(i.asked, clientID+" "+resource)
	if i.err != nil {
		return identity.Token{}, i.err
	}
	now := time.Now()
	return identity.Token{Value: "tok-for-" + clientID + "-" + resource, IssuedAt: now, ExpiresAt: now.Add(time.Hour), RefreshAt: now.Add(20 * time.Minute)}, nil
}

const userClient = "0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11"

// otherLastmile runs an agent as another lastmile would: the App Service endpoint
// on loopback TCP and the attested socket, which registers this test's uid.
func otherLastmile(t testing.TB, src identity.TokenSource, perSecond int) (httpURL, socketURL string) {
	t.Helper()
	uid := uint32(os.Getuid())
	a, err := agent.New(agent.Config{
		Tokens: src,
		Identities: []agent.Identity{
			{Name: "system", SystemAssigned: true, ClientID: "11111111-0000-0000-0000-000000000000"},
			{Name: "reporting", ClientID: userClient},
		},
		Header:            header,
		Workloads:         []agent.Workload{{Name: "gateway", UID: &uid, Identities: []string{"system", "reporting"}}},
		RequestsPerSecond: perSecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "lm")
	if err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	uln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	tcp := &http.Server{Handler: a.Wrap(http.NotFoundHandler()), ConnContext: a.ConnContext}
	unix := &http.Server{Handler: a.SocketHandler(), ConnContext: a.ConnContext}
	go tcp.Serve(ln)
	go unix.Serve(uln)
	t.Cleanup(func() { tcp.Close(); unix.Close(); os.RemoveAll(dir) })
	return "http://" + ln.Addr().String() + agent.AppServicePath, "unix://" + sock
}

func TestSource(t *testing.T) {
	iss := &issuer{}
	httpURL, socketURL := otherLastmile(t, iss, 0)
	for _, tc := range []struct {
		name, endpoint, header string
	}{
		{"App Service endpoint", httpURL, header},
		{"attested socket", socketURL, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := remote.New(tc.endpoint, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			for _, c := range []struct{ clientID, wantAsked string }{
				{"", " api://orders"},
				{identity.WorkloadIdentity, " api://orders"},
				{strings.ToUpper(userClient), userClient + " api://orders"},
			} {
				iss.asked = nil
				tok, err := s.Token(t.Context(), c.clientID, "api://orders")
				if err != nil {
					t.Fatalf("%q: %v", c.clientID, err)
				}
				if len(iss.asked) != 1 || iss.asked[0] != c.wantAsked {
					t.Errorf("%q: the other lastmile was asked %q, want %q", c.clientID, iss.asked, c.wantAsked)
				}
				if d := time.Until(tok.ExpiresAt); d < 59*time.Minute || d > time.Hour {
					t.Errorf("expires in %s", d)
				}
				if d := time.Until(tok.RefreshAt); d < 19*time.Minute || d > 20*time.Minute {
					t.Errorf("refresh_in was not kept: refresh in %s", d)
				}
			}
		})
	}
}

func TestSourceErrors(t *testing.T) {
	iss := &issuer{}
	httpURL, socketURL := otherLastmile(t, iss, 0)
	dead := "http://127.0.0.1:1/msi/token"
	for _, tc := range []struct {
		name             string
		endpoint, header string
		clientID         string
		srcErr           error
		wantConfig       bool
		wantRetry        time.Duration
		wantIn           string
	}{
		{"wrong header", httpURL, "wrong", "", nil, true, 0, "401 unauthorized_client"},
		{"unknown identity", socketURL, "", "22222222-0000-0000-0000-000000000000", nil, true, 0, "Identity not found"},
		{"unregistered resource", socketURL, "", "", identity.ErrConfiguration, true, 0, "400 invalid_resource"},
		{"the other lastmile backs off", httpURL, header, "", &identity.UnavailableError{Err: errors.New("down"), RetryAfter: 4 * time.Second}, false, 4 * time.Second, "503 temporarily_unavailable"},
		{"the other lastmile is down", dead, header, "", nil, false, 0, "connection refused"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			iss.mu.Lock()
			iss.err = tc.srcErr
			iss.mu.Unlock()
			s, err := remote.New(tc.endpoint, tc.header)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.Token(t.Context(), tc.clientID, "api://orders")
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.Contains(err.Error(), tc.wantIn) {
				t.Errorf("error %q does not say %q", err, tc.wantIn)
			}
			if strings.Contains(err.Error(), header) {
				t.Errorf("the error shows the header")
			}
			if errors.Is(err, identity.ErrConfiguration) != tc.wantConfig {
				t.Errorf("%v: configuration error %v, want %v", err, !tc.wantConfig, tc.wantConfig)
			}
			var te *identity.TransientError
			if !tc.wantConfig && (!errors.As(err, &te) || te.RetryAfter != tc.wantRetry) {
				t.Errorf("%v: want a TransientError retrying after %s", err, tc.wantRetry)
			}
		})
	}
}

func TestNew(t *testing.T) {
	for _, tc := range []struct{ endpoint, header, want string }{
		{"unix://relative/path", "", `lastmile token source: write the socket as unix:///absolute/path, not "unix://relative/path"`},
		{"http://127.0.0.1:1/msi/token", "", "lastmile token source: an http endpoint needs the other lastmile's IDENTITY_HEADER"},
		{"ftp://x", "", `lastmile token source: "ftp://x": use unix:///path or http://127.0.0.1:PORT/msi/token`},
	} {
		if _, err := remote.New(tc.endpoint, tc.header); err == nil || err.Error() != tc.want {
			t.Errorf("New(%q) = %v, want %s", tc.endpoint, err, tc.want)
		}
	}
}

// BenchmarkCacheHit is a cache hit with the lastmile source behind the cache.
func BenchmarkCacheHit(b *testing.B) {
	_, socketURL := otherLastmile(b, &issuer{}, 1e9)
	s, err := remote.New(socketURL, "")
	if err != nil {
		b.Fatal(err)
	}
	c := identity.NewCache(s)
	if _, err := c.Token(context.Background(), "", "api://orders"); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		c.Token(context.Background(), "", "api://orders")
	}
}

// BenchmarkSourceToken is one request to the other lastmile's socket, what a
// refresh costs.
func BenchmarkSourceToken(b *testing.B) {
	_, socketURL := otherLastmile(b, &issuer{}, 1e9)
	s, err := remote.New(socketURL, "")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Token(context.Background(), "", "api://orders"); err != nil {
			b.Fatal(err)
		}
	}
}

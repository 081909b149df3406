package agent_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/identity/agent"
	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

const testHeader = "test-identity-header-0123456789abcdef0123456789"

// fixture is an identity provider, its token cache and an agent serving the App
// Service protocol on the provider's own listener, as lastmile serve runs them.
type fixture struct {
	url      string // the identity listener, also the issuer
	provider *idp.Provider
	cache    *identity.Cache
	agent    *agent.Agent
	state    *statedir.Dir
}

func (f *fixture) identity(name string) idp.Identity {
	for _, id := range f.provider.Identities() {
		if id.Name == name {
			return id
		}
	}
	panic("no identity " + name)
}

func agentIdentities(p *idp.Provider) []agent.Identity {
	var out []agent.Identity
	for _, id := range p.Identities() {
		out = append(out, agent.Identity{Name: id.Name, SystemAssigned: id.SystemAssigned, ClientID: id.ClientID, ObjectID: id.ObjectID})
	}
	return out
}

// newFixture starts the provider and the agent; edit changes the agent's Config
// before it is created.
func newFixture(t testing.TB, edit func(*agent.Config)) *fixture {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	state, err := statedir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{url: "http://" + ln.Addr().String(), state: state}
	f.provider, err = idp.New(context.Background(), idp.Config{
		Issuer:       f.url,
		UserAssigned: []idp.UserAssignedIdentity{{Name: "reporting"}, {Name: "billing"}},
		Resources: []idp.Resource{
			{ID: "api://orders", Roles: []string{"Orders.Read"}, Assignments: map[string][]string{"reporting": {"Orders.Read"}}},
			{ID: "https://storage.example.com/"},
		},
	}, state)
	if err != nil {
		t.Fatal(err)
	}
	f.cache = identity.NewCache(f.provider)
	cfg := agent.Config{Tokens: f.cache, Identities: agentIdentities(f.provider), Header: testHeader}
	if edit != nil {
		edit(&cfg)
	}
	f.agent, err = agent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: f.agent.Wrap(f.provider.Handler()), ConnContext: f.agent.ConnContext}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return f
}

// verify checks a token the way a backend would, by discovery, and returns its claims.
func (f *fixture) verify(t testing.TB, raw, audience string) map[string]any {
	t.Helper()
	ctx := context.Background()
	p, err := oidc.NewProvider(ctx, f.url)
	if err != nil {
		t.Fatalf("discovery: %v", err)
	}
	tok, err := p.Verifier(&oidc.Config{ClientID: audience, SupportedSigningAlgs: []string{"ES256", "RS256"}}).Verify(ctx, raw)
	if err != nil {
		t.Fatalf("verifying the token: %v", err)
	}
	var claims map[string]any
	if err := tok.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	return claims
}

// get sends a GET with headers and decodes the JSON answer.
func get(t testing.TB, c *http.Client, url string, header map[string]string) (*http.Response, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		for _, v := range strings.Split(v, "\n") { // one field per line
			req.Header.Add(k, v)
		}
	}
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var out map[string]any
	if len(body) > 0 {
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatalf("%s: body is not JSON: %q", url, body)
		}
	}
	return resp, out
}

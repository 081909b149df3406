package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestConsole(t *testing.T) {
	const resource = "identity:\n  resources:\n    - id: api://lastmile-console\n      roles: [Console.Admin]\n"
	for _, tc := range []struct {
		name    string
		src     string
		want    Console
		wantTLS bool
		addr    string
	}{
		{name: "off by default", src: ""},
		{name: "loopback without authentication", src: "listeners:\n  console: 127.0.0.1:9090\n", addr: "127.0.0.1:9090"},
		{name: "localhost without authentication", src: "listeners:\n  console: localhost:9090\n", addr: "localhost:9090"},
		{
			name: "any address with both issuers and TLS of its own",
			src: resource + "listeners:\n  console:\n    address: \":9090\"\n    tls:\n      certificates:\n        - file: testdata/client.pem\n" +
				"console:\n  auth:\n    lastmile:\n      audience: api://lastmile-console\n      role: Console.Admin\n" +
				"    oidc:\n      issuer: https://login.example.com/t/v2.0\n      audience: api://console\n      role: Admin\n",
			addr:    ":9090",
			wantTLS: true,
			want: Console{Auth: &ConsoleAuth{
				Lastmile: &ConsoleIssuer{Audience: "api://lastmile-console", Role: "Console.Admin"},
				OIDC:     &ConsoleIssuer{Issuer: "https://login.example.com/t/v2.0", Audience: "api://console", Role: "Admin"},
			}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := parse("lastmile.yaml", []byte(tc.src), noEnv)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c.Console); diff != "" {
				t.Errorf("Console (-want +got):\n%s", diff)
			}
			if c.Listeners.Console != tc.addr {
				t.Errorf("listeners.console = %q, want %q", c.Listeners.Console, tc.addr)
			}
			if got := c.Listeners.TLS.Console != nil; got != tc.wantTLS {
				t.Errorf("console TLS = %v, want %v", got, tc.wantTLS)
			}
		})
	}
}

func TestConsoleErrors(t *testing.T) {
	for _, tc := range []struct{ name, src, want string }{
		{
			name: "an address other than loopback without authentication",
			src:  "listeners:\n  console: \"0.0.0.0:9090\"\n",
			want: `lastmile.yaml:2:12: listeners.console "0.0.0.0:9090" is not a loopback address, so the console needs authentication: add console.auth (docs/console.md), or listen on 127.0.0.1`,
		},
		{
			name: "an empty host without authentication",
			src:  "listeners:\n  console: \":9090\"\n",
			want: `lastmile.yaml:2:12: listeners.console ":9090" is not a loopback address, so the console needs authentication: add console.auth (docs/console.md), or listen on 127.0.0.1`,
		},
		{
			name: "auth without an issuer",
			src:  "console:\n  auth: {}\n",
			want: `lastmile.yaml:2:9: console.auth trusts no issuer; give it lastmile or oidc (or both), or remove it on a loopback console`,
		},
		{
			name: "an audience that is not a resource",
			src:  "console:\n  auth:\n    lastmile:\n      audience: api://nope\n      role: Admin\n",
			want: `lastmile.yaml:4:17: console.auth.lastmile.audience "api://nope" is not a resource of identity.resources; register it there with the role Admin`,
		},
		{
			name: "a role the resource does not define",
			src:  "identity:\n  resources:\n    - id: api://c\nconsole:\n  auth:\n    lastmile:\n      audience: api://c\n      role: Admin\n",
			want: `lastmile.yaml:8:13: console.auth.lastmile.role "Admin" is not a role of resource api://c; add it to its roles, and assign it to who may open the console`,
		},
		{
			name: "oidc without a role",
			src:  "console:\n  auth:\n    oidc:\n      issuer: https://idp.example.com\n      audience: a\n",
			want: `lastmile.yaml:4:7: console.auth.oidc needs role: tokens are accepted for an audience and a role`,
		},
		{
			name: "an oidc issuer over http",
			src:  "console:\n  auth:\n    oidc:\n      issuer: http://idp.example.com\n      audience: a\n      role: r\n",
			want: `lastmile.yaml:4:15: console.auth.oidc.issuer: "http://idp.example.com" uses http on a host other than loopback: use https, since anyone on the path could replace the keys (identity.allowInsecureIssuer allows http on closed test networks)`,
		},
		{
			name: "tls without an address",
			src:  "listeners:\n  console:\n    tls:\n      certificates:\n        - file: testdata/client.pem\n",
			want: `lastmile.yaml:2:3: listeners.console has tls but no address; give it an address, or remove tls`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse("lastmile.yaml", []byte(tc.src), noEnv)
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

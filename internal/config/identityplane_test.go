package config

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func ptr[T any](v T) *T { return &v }

func TestIdentityPlane(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		want Identity
	}{
		{
			name: "a key without a value keeps the default chain",
			src:  "identity:\n  sources:\n  workloads:\n  managedIdentityEndpoints:\n",
			want: Identity{},
		},
		{
			name: "bare type names in the chain",
			src:  "identity:\n  sources: [azure, embedded]\n",
			want: Identity{Sources: []TokenSource{{Type: "azure"}, {Type: "embedded"}}},
		},
		{
			name: "an http lastmile endpoint with its header variable",
			src:  "identity:\n  sources:\n    - type: lastmile\n      endpoint: http://127.0.0.1:8081/msi/token\n      headerEnv: AGENT_HEADER\n",
			want: Identity{Sources: []TokenSource{{Type: "lastmile", Endpoint: "http://127.0.0.1:8081/msi/token", HeaderEnv: "AGENT_HEADER"}}},
		},
		{
			name: "workload identity defaults to the scope parameter",
			src: "identity:\n  sources:\n    - type: workloadIdentity\n      tokenEndpoint: http://localhost:9000/token\n" +
				"      clientId: app\n      tokenFile: /var/run/token\n",
			want: Identity{Sources: []TokenSource{{Type: "workloadIdentity", TokenEndpoint: "http://localhost:9000/token",
				ClientID: "app", TokenFile: "/var/run/token", AudienceParameter: "scope"}}},
		},
		{
			name: "a workload on uid only; user-assigned identity names",
			src: "identity:\n  userAssignedIdentities:\n    - name: reporting\n  workloads:\n" +
				"    - name: w\n      uid: 0\n      identities: [reporting]\n",
			want: Identity{
				UserAssignedIdentities: []UserAssignedIdentity{{Name: "reporting"}},
				Workloads:              []Workload{{Name: "w", UID: ptr[uint32](0), Identities: []string{"reporting"}}},
			},
		},
		{
			name: "endpoints: only what is set changes",
			src:  "identity:\n  managedIdentityEndpoints:\n    imds:\n      listen: \"[::1]:8082\"\n    rateLimit:\n      concurrent: 1\n",
			want: Identity{Endpoints: ManagedIdentityEndpoints{AppService: true, IMDSListen: "[::1]:8082", TCPCallers: "any",
				RateLimit: RateLimit{RequestsPerSecond: 20, Concurrent: 1}}},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse("lastmile.yaml", []byte(tc.src), noEnv)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			want := Default().Identity
			if tc.want.Sources != nil {
				want.Sources = tc.want.Sources
			}
			if tc.want.Endpoints != (ManagedIdentityEndpoints{}) {
				want.Endpoints = tc.want.Endpoints
			}
			want.UserAssignedIdentities = tc.want.UserAssignedIdentities
			want.Workloads = tc.want.Workloads
			if diff := cmp.Diff(want, got.Identity); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
			// Marshal writes what parse reads back.
			out, err := got.Marshal()
			if err != nil {
				t.Fatal(err)
			}
			again, err := parse("lastmile.yaml", out, noEnv)
			if err != nil {
				t.Fatalf("parse marshalled:\n%s\n%v", out, err)
			}
			if diff := cmp.Diff(got, again); diff != "" {
				t.Errorf("round trip (-first +second):\n%s", diff)
			}
		})
	}
}

func TestIdentityPlaneErrors(t *testing.T) {
	for _, tc := range []struct {
		name, src, want string
	}{
		{
			name: "empty chain",
			src:  "identity:\n  sources: []\n",
			want: `lastmile.yaml:2:12: identity.sources lists no source; remove the key to use the default chain [embedded]`,
		},
		{
			name: "unknown source type suggests the nearest",
			src:  "identity:\n  sources: [azur]\n",
			want: `lastmile.yaml:2:13: identity.sources[0].type: unknown token source "azur"; did you mean "azure"? use embedded, lastmile, azure or workloadIdentity`,
		},
		{
			name: "a source without a type",
			src:  "identity:\n  sources:\n    - endpoint: unix:///s\n",
			want: `lastmile.yaml:3:7: identity.sources[0] has no type; add type: embedded, lastmile, azure or workloadIdentity`,
		},
		{
			name: "a key of another source type",
			src:  "identity:\n  sources:\n    - type: embedded\n      endpoint: unix:///s\n",
			want: `lastmile.yaml:4:7: unknown key "endpoint" in identity.sources[0]; valid keys are type`,
		},
		{
			name: "a type listed twice",
			src:  "identity:\n  sources: [embedded, azure, embedded]\n",
			want: `lastmile.yaml:2:30: identity.sources[2]: a embedded source is already listed at line 2; each type appears once in the chain`,
		},
		{
			name: "lastmile without endpoint",
			src:  "identity:\n  sources:\n    - type: lastmile\n",
			want: `lastmile.yaml:3:7: identity.sources[0]: a lastmile source needs endpoint: unix:///path/to/socket or http://127.0.0.1:PORT/msi/token`,
		},
		{
			name: "lastmile http endpoint off loopback",
			src:  "identity:\n  sources:\n    - type: lastmile\n      endpoint: http://10.0.0.1:8081/msi/token\n      headerEnv: H\n",
			want: `lastmile.yaml:4:17: identity.sources[0].endpoint: "http://10.0.0.1:8081/msi/token" is not on loopback; the App Service protocol sends its secret in clear text, so it is only served on loopback: use the other lastmile's socket for anything else`,
		},
		{
			name: "lastmile http endpoint without header variable",
			src:  "identity:\n  sources:\n    - type: lastmile\n      endpoint: http://127.0.0.1:8081/msi/token\n",
			want: `lastmile.yaml:3:7: identity.sources[0]: an http endpoint needs headerEnv, the environment variable that holds the other lastmile's IDENTITY_HEADER (lastmile identity env prints it)`,
		},
		{
			name: "relative socket URL",
			src:  "identity:\n  sources:\n    - type: lastmile\n      endpoint: unix://run/s.sock\n",
			want: `lastmile.yaml:4:17: identity.sources[0].endpoint: "unix://run/s.sock": write a socket as unix:///absolute/path (three slashes)`,
		},
		{
			name: "the header itself instead of a variable name",
			src:  "identity:\n  sources:\n    - type: lastmile\n      endpoint: http://127.0.0.1:1/msi/token\n      headerEnv: s3cr3t-value!\n",
			want: `lastmile.yaml:5:18: identity.sources[0].headerEnv: "s3cr3t-value!" is not an environment variable name; write the variable's name, never the secret itself`,
		},
		{
			name: "workload identity missing settings",
			src:  "identity:\n  sources:\n    - type: workloadIdentity\n      clientId: app\n",
			want: `lastmile.yaml:3:7: identity.sources[0]: a workloadIdentity source needs tokenEndpoint, tokenFile`,
		},
		{
			name: "workload identity over http off loopback",
			src:  "identity:\n  sources:\n    - type: workloadIdentity\n      tokenEndpoint: http://idp.example.com/token\n      clientId: a\n      tokenFile: /t\n",
			want: `lastmile.yaml:4:22: identity.sources[0].tokenEndpoint: "http://idp.example.com/token" uses http on a host other than loopback; use https, since the request carries a client assertion`,
		},
		{
			name: "unknown audience parameter",
			src:  "identity:\n  sources:\n    - type: workloadIdentity\n      tokenEndpoint: https://idp/token\n      clientId: a\n      tokenFile: /t\n      audienceParameter: aud\n",
			want: `lastmile.yaml:7:26: identity.sources[0].audienceParameter: "aud" is not scope, resource or audience`,
		},
		{
			name: "imds off loopback",
			src:  "identity:\n  managedIdentityEndpoints:\n    imds:\n      listen: \"0.0.0.0:8082\"\n",
			want: `lastmile.yaml:4:15: identity.managedIdentityEndpoints.imds.listen: "0.0.0.0:8082" is not a loopback address; the IMDS protocol has no secret, so it is only served on loopback (such as 127.0.0.1:8082)`,
		},
		{
			name: "imds address without port",
			src:  "identity:\n  managedIdentityEndpoints:\n    imds:\n      listen: localhost\n",
			want: `lastmile.yaml:4:15: identity.managedIdentityEndpoints.imds.listen: "localhost" is not host:port; write a loopback address such as "127.0.0.1:8082" (quoted)`,
		},
		{
			name: "relative socket path",
			src:  "identity:\n  managedIdentityEndpoints:\n    socket: run/identity.sock\n",
			want: `lastmile.yaml:3:13: identity.managedIdentityEndpoints.socket: "run/identity.sock" is not an absolute path; write one such as /run/lastmile/identity.sock`,
		},
		{
			name: "unknown caller mode",
			src:  "identity:\n  managedIdentityEndpoints:\n    tcpCallers: everyone\n",
			want: `lastmile.yaml:3:17: identity.managedIdentityEndpoints.tcpCallers: "everyone" is not any or attested`,
		},
		{
			name: "rate limit out of range",
			src:  "identity:\n  managedIdentityEndpoints:\n    rateLimit:\n      requestsPerSecond: 0\n",
			want: `lastmile.yaml:4:26: identity.managedIdentityEndpoints.rateLimit.requestsPerSecond: 0 is out of range; use 1 to 100000`,
		},
		{
			name: "a workload without selectors matches everyone",
			src:  "identity:\n  workloads:\n    - name: w\n      identities: [system]\n",
			want: `lastmile.yaml:3:13: identity.workloads[0] (w) has no selector, so it would match every caller; add uid, gid, path or sha256`,
		},
		{
			name: "a workload without identities",
			src:  "identity:\n  workloads:\n    - name: w\n      uid: 1\n",
			want: `lastmile.yaml:3:7: identity.workloads[0] (w) gives no identities; add identities: [system] or user-assigned identity names`,
		},
		{
			name: "a workload without a name",
			src:  "identity:\n  workloads:\n    - uid: 1\n      identities: [system]\n",
			want: `lastmile.yaml:3:7: identity.workloads[0] has no name; add name: <workload name>`,
		},
		{
			name: "bad uid, path and digest",
			src:  "identity:\n  workloads:\n    - name: w\n      uid: -1\n      path: bin/w\n      sha256: abc\n      identities: [system]\n",
			want: "lastmile.yaml:4:12: identity.workloads[0].uid: -1 is out of range; use 0 to 4294967295\n" +
				`lastmile.yaml:5:13: identity.workloads[0].path: "bin/w" is not a clean absolute path; write the executable's path as /proc/<pid>/exe shows it, such as /usr/local/bin/worker` + "\n" +
				`lastmile.yaml:6:15: identity.workloads[0].sha256: "abc" is not a SHA-256 digest; write 64 hex digits, as sha256sum prints them`,
		},
		{
			name: "unknown identity suggests the nearest",
			src:  "identity:\n  workloads:\n    - name: w\n      uid: 1\n      identities: [sytem]\n",
			want: `lastmile.yaml:5:20: identities of workload w: unknown identity "sytem"; did you mean "system"? use "system" or a name declared under identity.userAssignedIdentities`,
		},
		{
			name: "duplicate workload names",
			src:  "identity:\n  workloads:\n    - name: w\n      uid: 1\n      identities: [system]\n    - name: w\n      gid: 1\n      identities: [system]\n",
			want: `lastmile.yaml:6:13: identity.workloads: "w" is declared twice (first at line 3; names are not case-sensitive); workload names must be unique`,
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parse("lastmile.yaml", []byte(tc.src), noEnv)
			if err == nil {
				t.Fatalf("parse succeeded, want error:\n%s", tc.want)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

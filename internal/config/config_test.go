package config

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata")

func noEnv(string) (string, bool) { return "", false }

func TestParseFull(t *testing.T) {
	src, err := os.ReadFile("testdata/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	env := func(k string) (string, bool) {
		switch k {
		case "LASTMILE_TEST_REDIS_PASSWORD":
			return "not-printed", true
		case "LASTMILE_TEST_PFX_PASSWORD":
			return "pfx-password", true
		case "LASTMILE_TEST_STATE_KEY":
			return testStateKey, true
		}
		return "", false
	}
	got, err := parse("testdata/full.yaml", src, env)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	want := &Config{
		Identity: Identity{
			TenantID:      "72f988bf-86f1-41af-91ab-2d7cd011db47",
			TokenLifetime: 90 * time.Minute,
			UserAssignedIdentities: []UserAssignedIdentity{
				{Name: "reporting", ClientID: "0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11"},
				{Name: "batch-jobs"},
			},
			Resources: []Resource{
				{
					ID:    "api://orders",
					Roles: []string{"Orders.Read", "Orders.Write"},
					Assignments: []Assignment{
						{Identity: "system", Roles: []string{"Orders.Read"}},
						{Identity: "reporting", Roles: []string{"Orders.Write", "Orders.Read"}},
					},
					TokenProfile: "native", SigningAlgorithm: "ES256",
				},
				{
					ID:    "https://storage.example.com/",
					Roles: []string{"Blob.Read"},
					Assignments: []Assignment{{Identity: "batch-jobs", Roles: []string{"Blob.Read"}},
						{Identity: "orders-batch", Roles: []string{"Blob.Read"}}},
					TokenProfile: "entra-v2", SigningAlgorithm: "ES256",
				},
				{ID: "6c1c5a1e-3b0e-4f7e-8a4b-2f0d9e8c7b6a", TokenProfile: "entra-v1", SigningAlgorithm: "RS256"},
			},
			Sources: []TokenSource{
				{Type: "lastmile", Endpoint: "unix:///run/lastmile/identity.sock"},
				{Type: "workloadIdentity", TokenEndpoint: "https://login.example.com/tenant/oauth2/v2.0/token",
					ClientID: "5e29463d-0a1b-4c2d-8e3f-405162738495", TokenFile: filepath.Join(testdataAbs(t), "federated-token"), AudienceParameter: "resource"},
				{Type: "azure"},
				{Type: "embedded"},
			},
			Endpoints: ManagedIdentityEndpoints{IMDSListen: "127.0.0.1:9082", Socket: "/run/lastmile/identity.sock", TCPCallers: "attested",
				RateLimit: RateLimit{RequestsPerSecond: 50, Concurrent: 2}},
			Workloads: []Workload{
				{Name: "billing-worker", UID: ptr[uint32](1000), GID: ptr[uint32](1001), Path: "/usr/local/bin/billing-worker",
					SHA256: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", Identities: []string{"system", "reporting"}},
				{Name: "root-scripts", UID: ptr[uint32](0), Identities: []string{"batch-jobs"}},
			},
			Applications: []Application{{
				Name:         "orders-batch",
				ClientID:     "3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70",
				Certificates: []string{filepath.Join(testdataAbs(t), "app-cert.pem")},
				SecretHashes: []string{"$argon2id$v=19$m=19456,t=2,p=1$5Ck82B3OjDv9sCtZBLmt+Q$fcXH1gHjEaR3lJL3HNuSPX+uN2y+dmQRQH35AU56B9g"},
				FederatedCredentials: []FederatedCredential{
					{Name: "aks", Issuer: "https://oidc.example.com/cluster", Subject: "system:serviceaccount:orders:batch",
						Audience: "api://orders-federation", JWKSFile: filepath.Join(testdataAbs(t), "sa-jwks.json")},
					{Issuer: "spiffe://example.org", Subject: "spiffe://example.org/ns/orders/sa/batch", Audience: "api://AzureADTokenExchange",
						JWKSURI: "http://spire.internal:8443/bundle", CAFile: filepath.Join(testdataAbs(t), "ca.pem")},
				},
			}},
			Keys:                KeyRotation{RotationPeriod: 720 * time.Hour, Prepublish: 48 * time.Hour},
			AllowInsecureIssuer: true,
		},
		Listeners: Listeners{Gateway: "0.0.0.0:9080", Identity: "127.0.0.1:9081", Issuer: "https://login.example.com/lastmile", Metrics: "127.0.0.1:9464",
			ACMEHTTP: ":80", Console: "0.0.0.0:9090",
			TLS: ListenersTLS{
				Console: &TLS{
					Certificates: []CertificateFile{{File: filepath.Join(testdataAbs(t), "client.pem")},
						{File: filepath.Join(testdataAbs(t), "client.pfx"), PasswordEnv: "LASTMILE_TEST_PFX_PASSWORD"}},
					ClientCertificates: ClientCertificates{Mode: "verify-if-given", CAFile: filepath.Join(testdataAbs(t), "ca.pem")},
				},
				Gateway: &TLS{
					Certificates: []CertificateFile{{File: filepath.Join(testdataAbs(t), "client.pem")},
						{File: filepath.Join(testdataAbs(t), "client.pfx"), PasswordEnv: "LASTMILE_TEST_PFX_PASSWORD"}},
					ClientCertificates: ClientCertificates{Mode: "verify-if-given", CAFile: filepath.Join(testdataAbs(t), "ca.pem")},
				},
				Identity: &TLS{
					ACME: &ACME{Domains: []string{"login.example.com", "api.example.com"}, Email: "ops@example.com",
						DirectoryURL: "https://acme-staging-v02.api.letsencrypt.org/directory", CAFile: filepath.Join(testdataAbs(t), "ca.pem")},
					ClientCertificates: ClientCertificates{Mode: "none"},
				},
			}},
		Backend: Backend{CAFile: filepath.Join(testdataAbs(t), "ca.pem"), Timeout: 45 * time.Second},
		Gateway: Gateway{Region: "westeurope", ServiceName: "contoso-gw"},
		Store: Store{Type: "redis", Redis: Redis{
			Address: "redis.internal:6380", Username: "gateway", PasswordEnv: "LASTMILE_TEST_REDIS_PASSWORD", DB: 3, TLS: true,
			Timeout: 100 * time.Millisecond, LeaseTTL: time.Minute,
		}, FailureMode: FailureMode{RateLimit: "closed", Quota: "closed", Concurrency: "open"}, EncryptionKeyEnv: "LASTMILE_TEST_STATE_KEY"},
		Limits: Limits{RequestLine: 16 << 10, HeaderBytes: 64 << 10, HeaderCount: 200, HeaderTimeout: 10 * time.Second,
			IdleTimeout: time.Minute, MinBodyRate: 1024, BodyGracePeriod: 2 * time.Second, MinResponseRate: 0,
			BufferedBody: 4 << 20, BufferedBodies: 1 << 30, TunnelIdleTimeout: 30 * time.Minute},
		Shutdown: Shutdown{GracePeriod: 45 * time.Second},
		Certificates: []Certificate{
			{ID: "orders-client", File: filepath.Join(testdataAbs(t), "client.pem")},
			{ID: "orders-pfx", File: filepath.Join(testdataAbs(t), "client.pfx"), PasswordEnv: "LASTMILE_TEST_PFX_PASSWORD"},
		},
		Telemetry: Telemetry{
			ServiceName:        "contoso-gateway",
			ResourceAttributes: []Attribute{{"deployment.environment.name", "production"}, {"service.namespace", "contoso"}},
			Traces:             TelemetrySignal{Exporter: "otlp", Sampler: "parentbased_traceidratio", SamplerArg: "0.25"},
			Metrics:            TelemetrySignal{Exporter: "none", Interval: 30 * time.Second},
			OTLP:               OTLP{Endpoint: "https://collector.internal:4318", Protocol: "http/protobuf"},
			AccessLog:          AccessLog{Enabled: true, File: filepath.Join(testdataAbs(t), "access.log"), Format: "json"},
			RequestTrace:       RequestTrace{Enabled: false, TTL: 5 * time.Minute, MaxTraces: 20},
		},
		Console: Console{Auth: &ConsoleAuth{
			Lastmile: &ConsoleIssuer{Audience: "api://orders", Role: "Orders.Write"},
			OIDC:     &ConsoleIssuer{Issuer: "https://login.example.com/tenant/v2.0", Audience: "api://lastmile-console", Role: "Console.Admin"},
		}},
		Dapr: Dapr{URL: "http://dapr.internal:3500"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parse testdata/full.yaml (-want +got):\n%s", diff)
	}

	// Golden round trip: Marshal writes every field; parsing that gives the same Config.
	out, err := got.Marshal()
	if err != nil {
		t.Fatalf("Marshal: %v", err)
	}
	// The CA path is absolute, so the golden file has a placeholder for this folder.
	portable := strings.ReplaceAll(string(out), testdataAbs(t), "$TESTDATA")
	golden := "testdata/full.golden.yaml"
	if *update {
		if err := os.WriteFile(golden, []byte(portable), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	wantOut, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(wantOut), portable); diff != "" {
		t.Errorf("Marshal (-want +got):\n%s", diff)
	}
	again, err := parse("testdata/full.golden.yaml", out, env)
	if err != nil {
		t.Fatalf("parse marshalled config: %v\n%s", err, out)
	}
	if diff := cmp.Diff(got, again); diff != "" {
		t.Errorf("round trip changed the config (-first +second):\n%s", diff)
	}
}

func testdataAbs(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDefaults(t *testing.T) {
	want := &Config{
		Identity: Identity{TokenLifetime: time.Hour, Sources: []TokenSource{{Type: "embedded"}},
			Endpoints: ManagedIdentityEndpoints{AppService: true, TCPCallers: "any", RateLimit: RateLimit{RequestsPerSecond: 20, Concurrent: 5}},
			Keys:      KeyRotation{RotationPeriod: 168 * time.Hour, Prepublish: 56 * time.Hour, Automatic: true}},
		Listeners: Listeners{Gateway: ":8080", Identity: "127.0.0.1:8081"},
		Backend:   Backend{Timeout: 300 * time.Second},
		Gateway:   Gateway{Region: "local", ServiceName: "lastmile"},
		Store: Store{Type: "memory", Redis: Redis{Address: "127.0.0.1:6379", Timeout: 250 * time.Millisecond, LeaseTTL: 30 * time.Second},
			FailureMode: FailureMode{RateLimit: "open", Quota: "open", Concurrency: "open"}},
		Limits:    DefaultLimits,
		Telemetry: DefaultTelemetry,
		Shutdown:  Shutdown{GracePeriod: 10 * time.Second},
		Dapr:      Dapr{URL: "http://localhost:3500"},
	}
	for _, tc := range []struct {
		name, src string
	}{
		{"empty file", ""},
		{"document markers", "---\n...\n"},
		{"trailing separator", "gateway:\n---\n"},
		{"empty GUIDs mean generate", "identity:\n  tenantId: \"\"\n"},
		{"only comments", "# nothing here\n"},
		{"null document", "~\n"},
		{"empty sections", "identity:\nlisteners:\nbackend:\ngateway:\nstore:\n  redis:\n"},
		{"null values", "identity:\n  tokenLifetime:\n  resources:\nstore:\n  type: ~\n"},
		{"explicit defaults", "identity:\n  tokenLifetime: 1h\nlisteners:\n  gateway: \":8080\"\n  identity: 127.0.0.1:8081\n  issuer: \"\"\nbackend:\n  caFile: \"\"\n  timeout: 5m\nstore:\n  type: memory\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := parse("lastmile.yaml", []byte(tc.src), noEnv)
			if err != nil {
				t.Fatalf("parse: %v", err)
			}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	t.Run("Default round trip", func(t *testing.T) {
		out, err := Default().Marshal()
		if err != nil {
			t.Fatal(err)
		}
		got, err := parse("lastmile.yaml", out, noEnv)
		if err != nil {
			t.Fatalf("parse:\n%s\n%v", out, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	t.Run("missing file gives defaults", func(t *testing.T) {
		got, err := Load(filepath.Join(dir, "lastmile.yaml"))
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if diff := cmp.Diff(Default(), got); diff != "" {
			t.Errorf("(-want +got):\n%s", diff)
		}
	})
	t.Run("errors carry the path", func(t *testing.T) {
		p := filepath.Join(dir, "bad.yaml")
		if err := os.WriteFile(p, []byte("store:\n  type: mongo\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		_, err := Load(p)
		want := p + `:2:9: store.type: unknown store type "mongo"; use memory or redis`
		if err == nil || err.Error() != want {
			t.Errorf("Load error:\n got %v\nwant %s", err, want)
		}
		var list ErrorList
		if !errors.As(err, &list) || len(list) != 1 || list[0].Pos.Line != 2 || list[0].Pos.Col != 9 {
			t.Errorf("error is not an ErrorList with one positioned entry: %#v", err)
		}
	})
	t.Run("a directory is refused", func(t *testing.T) {
		_, err := Load(dir)
		want := dir + ": not a regular file; lastmile.yaml must be a YAML file"
		if err == nil || err.Error() != want {
			t.Errorf("Load error:\n got %v\nwant %s", err, want)
		}
	})
	t.Run("relative caFile starts from the file's folder", func(t *testing.T) {
		ca, err := os.ReadFile("testdata/ca.pem")
		if err != nil {
			t.Fatal(err)
		}
		sub := filepath.Join(dir, "conf")
		if err := os.MkdirAll(sub, 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(sub, "ca.pem"), ca, 0o600); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(sub, "lastmile.yaml")
		if err := os.WriteFile(p, []byte("backend:\n  caFile: ca.pem\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		got, err := Load(p)
		if err != nil {
			t.Fatalf("Load: %v", err)
		}
		if want := filepath.Join(sub, "ca.pem"); got.Backend.CAFile != want {
			t.Errorf("CAFile = %q, want %q", got.Backend.CAFile, want)
		}
	})
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		src  string
		env  map[string]string
		want string
	}{
		{
			name: "telemetry exporter other than otlp or none",
			src:  "telemetry:\n  traces:\n    exporter: zipkin\n",
			want: `lastmile.yaml:3:15: telemetry.traces.exporter: "zipkin" is not one of otlp, none; use one of them`,
		},
		{
			name: "telemetry sampler ratio out of range",
			src:  "telemetry:\n  traces:\n    samplerArg: 1.5\n",
			want: `lastmile.yaml:3:17: telemetry.traces.samplerArg: "1.5" is not a ratio; write a number from 0 to 1, such as 0.25`,
		},
		{
			name: "telemetry endpoint that is not a URL",
			src:  "telemetry:\n  otlp:\n    endpoint: collector:4317\n",
			want: `lastmile.yaml:3:15: telemetry.otlp.endpoint: "collector:4317" is not an OTLP endpoint; write the collector's base URL, such as http://collector:4318 (https for TLS)`,
		},
		{
			name: "telemetry resource attribute that is not a string",
			src:  "telemetry:\n  resourceAttributes:\n    a: [1]\n",
			want: `lastmile.yaml:3:8: telemetry.resourceAttributes.a must be a string, not a list`,
		},
		{
			name: "request trace ttl out of range",
			src:  "telemetry:\n  requestTrace:\n    ttl: 2s\n",
			want: `lastmile.yaml:3:10: telemetry.requestTrace.ttl: 2s is out of range; use a duration from 1m to 24h`,
		},
		{
			name: "unknown top-level key suggests the nearest",
			src:  "identty:\n  tokenLifetime: 1h\n",
			want: `lastmile.yaml:1:1: unknown key "identty" at the top level; did you mean "identity"?`,
		},
		{
			name: "unknown nested key suggests the nearest, ignoring case",
			src:  "identity:\n  tokenlifetime: 1h\n",
			want: `lastmile.yaml:2:3: unknown key "tokenlifetime" in identity; did you mean "tokenLifetime"?`,
		},
		{
			name: "unknown key with nothing close lists the valid keys",
			src:  "store:\n  kind: redis\n",
			want: `lastmile.yaml:2:3: unknown key "kind" in store; valid keys are type, redis, failureMode, encryptionKeyEnv, encryptionKeyFile`,
		},
		{
			name: "unknown key in a list item",
			src:  "identity:\n  userAssignedIdentities:\n    - name: a\n      clientID: 0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11\n",
			want: `lastmile.yaml:4:7: unknown key "clientID" in identity.userAssignedIdentities[0]; did you mean "clientId"?`,
		},
		{
			name: "duplicate key",
			src:  "gateway:\n  region: a\n  region: b\n",
			want: `lastmile.yaml:3:3: gateway.region is set twice (first at line 2); remove one`,
		},
		{
			name: "yaml syntax error has a line and a column",
			src:  "identity:\n\ttokenLifetime: 1h\n",
			want: `lastmile.yaml:2:1: YAML syntax: found character that cannot start any token; YAML indents with spaces, not tabs`,
		},
		{
			name: "an unclosed flow sequence",
			src:  "identity: [\n",
			want: `lastmile.yaml:2:1: YAML syntax: did not find expected node content`,
		},
		{
			// The position is the stray key's; the block it breaks is named too.
			name: "yaml syntax error in a block names the block",
			src:  "identity:\n  tokenLifetime: 1h\n bad: [\n",
			want: `lastmile.yaml:3:2: YAML syntax: did not find expected key (while parsing a block mapping that starts at line 1, column 1)`,
		},
		{
			name: "two documents: reported at the separator",
			src:  "gateway:\n  region: a\n---\ngateway:\n  region: b\n",
			want: `lastmile.yaml:3:1: a second YAML document; lastmile.yaml holds one document, remove the '---' separator`,
		},
		{
			name: "top level is not a mapping",
			src:  "- identity\n",
			want: `lastmile.yaml:1:1: the file must be a mapping of keys to values, not a list`,
		},
		{
			name: "section is not a mapping",
			src:  "listeners: \":8080\"\n",
			want: `lastmile.yaml:1:12: listeners must be a mapping of keys to values, not ":8080"`,
		},
		{
			name: "tenant id is not a GUID",
			src:  "identity:\n  tenantId: contoso.onmicrosoft.com\n",
			want: `lastmile.yaml:2:13: identity.tenantId: "contoso.onmicrosoft.com" is not a GUID; write it as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits) or remove the key to have one generated`,
		},
		{
			name: "client id is not a GUID",
			src:  "identity:\n  userAssignedIdentities:\n    - name: a\n      clientId: 0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a1\n",
			want: `lastmile.yaml:4:17: identity.userAssignedIdentities[0].clientId: "0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a1" is not a GUID; write it as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits) or remove the key to have one generated`,
		},
		{
			name: "duration without unit",
			src:  "backend:\n  timeout: 300\n",
			want: `lastmile.yaml:2:12: backend.timeout: 300 has no unit; write a duration such as 300s`,
		},
		{
			name: "duration that does not parse",
			src:  "identity:\n  tokenLifetime: one hour\n",
			want: `lastmile.yaml:2:18: identity.tokenLifetime: "one hour" is not a duration; write a number with a unit, such as 30s, 5m or 1h`,
		},
		{
			name: "duration out of range",
			src:  "identity:\n  tokenLifetime: 48h\n",
			want: `lastmile.yaml:2:18: identity.tokenLifetime: 48h is out of range; use a duration from 1m to 24h`,
		},
		{
			name: "negative timeout",
			src:  "backend:\n  timeout: -5s\n",
			want: `lastmile.yaml:2:12: backend.timeout: -5s is out of range; use a duration from 1s to 24h`,
		},
		{
			name: "identity without a name",
			src:  "identity:\n  userAssignedIdentities:\n    - clientId: 0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11\n",
			want: `lastmile.yaml:3:7: identity.userAssignedIdentities[0] has no name; add name: <identity name>`,
		},
		{
			name: "identity named system",
			src:  "identity:\n  userAssignedIdentities:\n    - name: system\n",
			want: `lastmile.yaml:3:13: identity.userAssignedIdentities[0].name: "system" is reserved for the system-assigned identity; choose another name`,
		},
		{
			name: "identity name with spaces",
			src:  "identity:\n  userAssignedIdentities:\n    - name: my identity\n",
			want: `lastmile.yaml:3:13: identity.userAssignedIdentities[0].name: "my identity" is not a valid name; use 1 to 128 letters, digits, '.', '-' and '_', starting with a letter or digit`,
		},
		{
			name: "duplicate identity names",
			src:  "identity:\n  userAssignedIdentities:\n    - name: reporting\n    - name: Reporting\n",
			want: `lastmile.yaml:4:13: identity.userAssignedIdentities: "Reporting" is declared twice (first at line 3; names are not case-sensitive); identity names must be unique`,
		},
		{
			name: "identity named System in another case",
			src:  "identity:\n  userAssignedIdentities:\n    - name: System\n",
			want: `lastmile.yaml:3:13: identity.userAssignedIdentities[0].name: "System" is reserved for the system-assigned identity; choose another name`,
		},
		{
			name: "identity name too long",
			src:  "identity:\n  userAssignedIdentities:\n    - name: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n",
			want: `lastmile.yaml:3:13: identity.userAssignedIdentities[0].name: "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa" is not a valid name; use 1 to 128 letters, digits, '.', '-' and '_', starting with a letter or digit`,
		},
		{
			name: "duplicate identity names, same case",
			src:  "identity:\n  userAssignedIdentities:\n    - name: reporting\n    - name: reporting\n",
			want: `lastmile.yaml:4:13: identity.userAssignedIdentities: "reporting" is declared twice (first at line 3; names are not case-sensitive); identity names must be unique`,
		},
		{
			name: "duplicate client ids",
			src:  "identity:\n  userAssignedIdentities:\n    - name: a\n      clientId: 0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11\n    - name: b\n      clientId: 0B6F1C1E-2A7D-4C1E-9B1F-5D7F6C0E9A11\n",
			want: `lastmile.yaml:6:17: identity.userAssignedIdentities: client id 0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11 is used twice (first at line 4); each identity needs its own, or remove clientId to have one generated`,
		},
		{
			name: "duplicate resource ids under normalisation",
			src:  "identity:\n  resources:\n    - id: api://orders\n    - id: API://Orders/\n",
			want: `lastmile.yaml:4:11: identity.resources: "API://Orders/" is the same resource as "api://orders" at line 3 (resource ids match ignoring ASCII case and a trailing /); merge them`,
		},
		{
			name: "resource id with the scope suffix",
			src:  "identity:\n  resources:\n    - id: api://orders/.default\n",
			want: `lastmile.yaml:3:11: identity.resources[0].id "api://orders/.default" ends in /.default, a scope suffix that is not part of the resource id; remove it`,
		},
		{
			name: "role with white space",
			src:  "identity:\n  resources:\n    - id: api://orders\n      roles: [\"Orders Read\"]\n",
			want: `lastmile.yaml:4:15: role of api://orders: "Orders Read" is not a role value: it must be non-empty, without white space or control characters`,
		},
		{
			name: "roles assigned twice to one identity in different cases",
			src:  "identity:\n  resources:\n    - id: api://orders\n      roles: [R]\n      assignments:\n        system: [R]\n        System: [R]\n",
			want: `lastmile.yaml:7:9: assignments of api://orders: "System" is assigned roles twice (first at line 6; names are not case-sensitive); merge the roles into one list`,
		},
		{
			name: "resource without id",
			src:  "identity:\n  resources:\n    - roles: [A]\n",
			want: `lastmile.yaml:3:7: identity.resources[0] has no id; add id: <App ID URI>, such as id: api://orders`,
		},
		{
			name: "resource with empty id",
			src:  "identity:\n  resources:\n    - id: \"/\"\n",
			want: `lastmile.yaml:3:11: identity.resources[0].id is empty; write the resource's App ID URI, such as api://orders`,
		},
		{
			name: "assignment to an unknown identity",
			src:  "identity:\n  userAssignedIdentities:\n    - name: reporting\n  resources:\n    - id: api://orders\n      roles: [Orders.Read]\n      assignments:\n        reportng: [Orders.Read]\n",
			want: `lastmile.yaml:8:9: assignments of api://orders: unknown identity "reportng"; did you mean "reporting"? assign roles to "system" or to a name declared under identity.userAssignedIdentities`,
		},
		{
			name: "assignment of an undeclared role is reported at the role",
			src:  "identity:\n  resources:\n    - id: api://orders\n      roles: [Orders.Read, Orders.Write]\n      assignments:\n        system: [Orders.Read, Orders.Writ]\n",
			want: `lastmile.yaml:6:31: role "Orders.Writ" assigned on api://orders is not declared in its roles; did you mean "Orders.Write"? declared roles are Orders.Read, Orders.Write`,
		},
		{
			name: "assignment on a resource with no roles",
			src:  "identity:\n  resources:\n    - id: api://orders\n      assignments:\n        system:\n          - Orders.Read\n",
			want: `lastmile.yaml:6:13: role "Orders.Read" assigned on api://orders is not declared: the resource declares no roles; add roles: [Orders.Read] to it`,
		},
		{
			name: "duplicate role",
			src:  "identity:\n  resources:\n    - id: api://orders\n      roles: [A, B, A]\n",
			want: `lastmile.yaml:4:21: role "A" of api://orders is listed twice (first at line 4); remove one`,
		},
		{
			name: "empty role",
			src:  "identity:\n  resources:\n    - id: api://orders\n      roles: [A, \"\"]\n",
			want: `lastmile.yaml:4:18: identity.resources[0].roles[1] is empty; remove it or write a name`,
		},
		{
			name: "roles is not a list",
			src:  "identity:\n  resources:\n    - id: api://orders\n      roles: Orders.Read\n",
			want: `lastmile.yaml:4:14: identity.resources[0].roles must be a list, not "Orders.Read"`,
		},
		{
			name: "assignments is a list",
			src:  "identity:\n  resources:\n    - id: api://orders\n      assignments: [system]\n",
			want: `lastmile.yaml:4:20: identity.resources[0].assignments must be a mapping of identity name to roles, such as system: [Orders.Read], not a list`,
		},
		{
			name: "unknown store type",
			src:  "store:\n  type: mongo\n",
			want: `lastmile.yaml:2:9: store.type: unknown store type "mongo"; use memory or redis`,
		},
		{
			name: "unknown failure mode",
			src:  "store:\n  failureMode:\n    quota: ignore\n",
			want: `lastmile.yaml:3:12: store.failureMode.quota: "ignore" is not a failure mode; use open (let requests through uncounted) or closed (refuse them with 503)`,
		},
		{
			name: "redis timeout out of range",
			src:  "store:\n  redis:\n    timeout: 1m\n",
			want: `lastmile.yaml:3:14: store.redis.timeout: 1m is out of range; use a duration from 10ms to 10s`,
		},
		{
			name: "redis db is not a number",
			src:  "store:\n  redis:\n    db: one\n",
			want: `lastmile.yaml:3:9: store.redis.db must be a whole number, not "one"`,
		},
		{
			name: "redis db negative",
			src:  "store:\n  redis:\n    db: -1\n",
			want: `lastmile.yaml:3:9: store.redis.db: -1 is out of range; use 0 to 1048576`,
		},
		{
			name: "redis tls is not a boolean",
			src:  "store:\n  redis:\n    tls: yes\n",
			want: `lastmile.yaml:3:10: store.redis.tls must be true or false, not "yes"`,
		},
		{
			name: "redis address without port",
			src:  "store:\n  redis:\n    address: redis.internal\n",
			want: `lastmile.yaml:3:14: store.redis.address: "redis.internal" is not host:port; write host:port, such as 127.0.0.1:6379`,
		},
		{
			name: "password env holding a password",
			src:  "store:\n  type: redis\n  encryptionKeyEnv: K\n  redis:\n    passwordEnv: hunter2!\n",
			env:  map[string]string{"K": testStateKey},
			want: `lastmile.yaml:5:18: store.redis.passwordEnv: "hunter2!" is not an environment variable name; write the variable's name (such as REDIS_PASSWORD), never the password itself`,
		},
		{
			name: "password env not set",
			src:  "store:\n  type: redis\n  encryptionKeyEnv: K\n  redis:\n    passwordEnv: REDIS_PASSWORD\n",
			env:  map[string]string{"K": testStateKey},
			want: `lastmile.yaml:5:18: store.redis.passwordEnv: environment variable REDIS_PASSWORD is not set; set it to the Redis password, or remove passwordEnv if Redis has none`,
		},
		{
			name: "listener without port",
			src:  "listeners:\n  gateway: 8080\n",
			want: `lastmile.yaml:2:12: listeners.gateway: "8080" is not host:port; write host:port, such as ":8080" or "127.0.0.1:8081" (quoted)`,
		},
		{
			name: "listener with bad port",
			src:  "listeners:\n  identity: \"localhost:http2\"\n",
			want: `lastmile.yaml:2:13: listeners.identity: "localhost:http2" has no valid port number; write host:port, such as ":8080" or "127.0.0.1:8081" (quoted)`,
		},
		{
			name: "issuer is not a URL",
			src:  "listeners:\n  issuer: login.example.com\n",
			want: `lastmile.yaml:2:11: listeners.issuer: "login.example.com": the scheme must be https (or http on loopback)`,
		},
		{
			name: "issuer with a query",
			src:  "listeners:\n  issuer: https://login.example.com/?x=1\n",
			want: `lastmile.yaml:2:11: listeners.issuer: "https://login.example.com/?x=1" has user info, a query or a fragment, which an issuer URL must not have; remove it`,
		},
		{
			name: "issuer with a trailing slash",
			src:  "listeners:\n  issuer: https://login.example.com/\n",
			want: `lastmile.yaml:2:11: listeners.issuer: "https://login.example.com/" ends with /: remove it (iss is compared byte for byte, and the discovery document is at issuer + "/.well-known/openid-configuration")`,
		},
		{
			name: "issuer over plain http elsewhere than loopback",
			src:  "listeners:\n  issuer: http://10.0.0.5:8081\n",
			want: `lastmile.yaml:2:11: listeners.issuer: "http://10.0.0.5:8081" uses http on a host other than loopback: use https (set listeners.issuer to the https URL clients use), since anyone on the path could replace the keys backends fetch; identity.allowInsecureIssuer allows http on closed test networks`,
		},
		{
			name: "caFile missing",
			src:  "backend:\n  caFile: /nonexistent/ca.pem\n",
			want: `lastmile.yaml:2:11: backend.caFile: /nonexistent/ca.pem does not exist; point it at a PEM file of CA certificates (relative paths start from the folder of lastmile.yaml)`,
		},
		{
			name: "caFile not PEM",
			src:  "backend:\n  caFile: config_test.go\n",
			want: `lastmile.yaml:2:11: backend.caFile: config_test.go holds no PEM certificates; point it at a PEM file of CA certificates (relative paths start from the folder of lastmile.yaml)`,
		},
		{
			name: "caFile is a device",
			src:  "backend:\n  caFile: /dev/zero\n",
			want: `lastmile.yaml:2:11: backend.caFile: /dev/zero is not a regular file; point it at a PEM file of CA certificates (relative paths start from the folder of lastmile.yaml)`,
		},
		{
			name: "empty region",
			src:  "gateway:\n  region: \"\"\n",
			want: `lastmile.yaml:2:11: gateway.region is empty; remove the key to use the default "local"`,
		},
		{
			name: "a size without a known unit",
			src:  "limits:\n  bufferedBody: 16MB\n",
			want: `lastmile.yaml:2:17: limits.bufferedBody: "16MB" is not a size; write a number of bytes, or one with KiB, MiB or GiB, such as 16MiB`,
		},
		{
			name: "a size out of range",
			src:  "limits:\n  headerBytes: 100\n",
			want: `lastmile.yaml:2:16: limits.headerBytes: 100 is out of range; use 1KiB to 16MiB`,
		},
		{
			name: "a header count of zero",
			src:  "limits:\n  headerCount: 0\n",
			want: `lastmile.yaml:2:16: limits.headerCount: 0 is out of range; use 1 to 10000`,
		},
		{
			name: "a negative tunnel idle timeout",
			src:  "limits:\n  tunnelIdleTimeout: -5m\n",
			want: `lastmile.yaml:2:22: limits.tunnelIdleTimeout: -5m is out of range; use a duration from 0s to 24h`,
		},
		{
			name: "a grace period without a unit",
			src:  "shutdown:\n  gracePeriod: 30\n",
			want: `lastmile.yaml:2:16: shutdown.gracePeriod: 30 has no unit; write a duration such as 30s`,
		},
		{
			name: "a grace period over an hour",
			src:  "shutdown:\n  gracePeriod: 2h\n",
			want: `lastmile.yaml:2:16: shutdown.gracePeriod: 2h is out of range; use a duration from 0s to 1h`,
		},
		{
			name: "a certificate without an id",
			src:  "certificates:\n  - file: testdata/client.pem\n",
			want: `lastmile.yaml:2:5: certificates[0] has no id; add id: <the certificate-id policies name it by>`,
		},
		{
			name: "a certificate without a file",
			src:  "certificates:\n  - id: a\n",
			want: `lastmile.yaml:2:5: certificates[0] has no file; add file: <a PEM or PFX file>`,
		},
		{
			name: "a certificate id with a space",
			src:  "certificates:\n  - id: a b\n    file: testdata/client.pem\n",
			want: `lastmile.yaml:2:9: certificates[0].id: "a b" is not a certificate id; use 1 to 80 letters, digits, '.', '-' and '_', starting with a letter or digit`,
		},
		{
			name: "certificate ids that differ in case",
			src:  "certificates:\n  - id: a\n    file: testdata/client.pem\n  - id: A\n    file: testdata/client.pem\n",
			want: `lastmile.yaml:4:9: certificates[1].id: "A" is already the id of the certificate at line 2 (ids are not case-sensitive); ids must be unique`,
		},
		{
			name: "a certificate file that does not exist",
			src:  "certificates:\n  - id: a\n    file: /nonexistent/a.pem\n",
			want: `lastmile.yaml:3:11: certificates[0]: /nonexistent/a.pem does not exist; point file at a PEM or PFX file (relative paths start from the folder of lastmile.yaml)`,
		},
		{
			name: "a certificate file that is not one",
			src:  "certificates:\n  - id: a\n    file: /dev/null\n",
			want: `lastmile.yaml:3:11: certificates[0]: /dev/null is not a regular file; point file at a PEM or PFX file (relative paths start from the folder of lastmile.yaml)`,
		},
		{
			name: "a PFX with the wrong password",
			src:  "certificates:\n  - id: a\n    file: testdata/client.pfx\n    passwordEnv: PFX_PW\n",
			env:  map[string]string{"PFX_PW": "guess"},
			want: `lastmile.yaml:3:11: certificates[0]: ` + testdataAbs(t) + `/client.pfx: PKCS#12 (PFX): the password is wrong; point file at a PEM or PFX file (relative paths start from the folder of lastmile.yaml)`,
		},
		{
			name: "a PFX password variable that is not set",
			src:  "certificates:\n  - id: a\n    file: testdata/client.pfx\n    passwordEnv: PFX_PW\n",
			want: `lastmile.yaml:4:18: certificates[0].passwordEnv: environment variable PFX_PW is not set; set it to the password of ` + testdataAbs(t) + `/client.pfx`,
		},
		{
			name: "a password instead of a variable name",
			src:  "certificates:\n  - id: a\n    file: testdata/client.pfx\n    passwordEnv: pass word!\n",
			want: `lastmile.yaml:4:18: certificates[0].passwordEnv: "pass word!" is not an environment variable name; write the variable's name (such as ORDERS_PFX_PASSWORD), never the password itself`,
		},
		{
			name: "a Dapr URL with a path",
			src:  "dapr:\n  url: http://localhost:3500/v1.0\n",
			want: `lastmile.yaml:2:8: dapr.url: "http://localhost:3500/v1.0" is not the Dapr sidecar's address; write its scheme, host and port, such as http://localhost:3500`,
		},
		{
			name: "merge keys are refused",
			src:  "base: &b\n  region: x\ngateway:\n  <<: *b\n",
			want: "lastmile.yaml:1:1: unknown key \"base\" at the top level; valid keys are identity, listeners, backend, gateway, store, limits, shutdown, certificates, telemetry, console, dapr\n" +
				`lastmile.yaml:4:3: merge keys (<<) are not supported in lastmile.yaml; write the keys out`,
		},
		{
			name: "all errors are reported in file order",
			src: "identity:\n  tenantId: nope\n  resources:\n    - id: api://a\n      assignments:\n        ghost: [R]\n" +
				"store:\n  type: disk\n",
			want: "lastmile.yaml:2:13: identity.tenantId: \"nope\" is not a GUID; write it as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits) or remove the key to have one generated\n" +
				"lastmile.yaml:6:9: assignments of api://a: unknown identity \"ghost\"; assign roles to \"system\" or to a name declared under identity.userAssignedIdentities\n" +
				"lastmile.yaml:6:17: role \"R\" assigned on api://a is not declared: the resource declares no roles; add roles: [R] to it\n" +
				"lastmile.yaml:8:9: store.type: unknown store type \"disk\"; use memory or redis",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			_, err := parse("lastmile.yaml", []byte(tc.src), env)
			if err == nil {
				t.Fatalf("parse succeeded, want error:\n%s", tc.want)
			}
			if diff := cmp.Diff(tc.want, err.Error()); diff != "" {
				t.Errorf("error (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPasswordNeverPrinted(t *testing.T) {
	// The value of the environment variable must not leak into any message, even
	// when the rest of the file is wrong.
	const secret = "s3cr3t-Redis-Pa55"
	src := "store:\n  type: redis\n  redis:\n    passwordEnv: REDIS_PW\n    db: x\n"
	_, err := parse("lastmile.yaml", []byte(src), func(string) (string, bool) { return secret, true })
	if err == nil {
		t.Fatal("want an error for db: x")
	}
	if strings.Contains(err.Error(), secret) {
		t.Errorf("error contains the password: %v", err)
	}
}

func TestResourceLookup(t *testing.T) {
	src := "identity:\n  resources:\n    - id: api://orders/\n      roles: [R, W]\n      assignments:\n        system: [R]\n    - id: https://vault.azure.net\n"
	c, err := parse("lastmile.yaml", []byte(src), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		ask     string
		wantID  string
		wantSys []string
	}{
		{"api://orders", "api://orders/", []string{"R"}},
		{"api://orders/", "api://orders/", []string{"R"}},
		{"api://orders/.default", "api://orders/", []string{"R"}},
		{"https://vault.azure.net/", "https://vault.azure.net", nil},
		{"https://vault.azure.net/.default", "https://vault.azure.net", nil},
		{"api://orders2", "", nil},
		{"", "", nil},
		{"/.default", "", nil},
	} {
		t.Run(tc.ask, func(t *testing.T) {
			r, ok := c.Identity.Resource(tc.ask)
			gotID := ""
			var gotSys []string
			if ok {
				gotID = r.ID
				gotSys = r.RolesFor(SystemIdentity)
			}
			if gotID != tc.wantID {
				t.Errorf("Resource(%q) = %q, want %q", tc.ask, gotID, tc.wantID)
			}
			if diff := cmp.Diff(tc.wantSys, gotSys); diff != "" {
				t.Errorf("RolesFor(system) (-want +got):\n%s", diff)
			}
		})
	}
}

func TestNearest(t *testing.T) {
	keys := []string{"tenantId", "tokenLifetime", "userAssignedIdentities", "resources"}
	for _, tc := range []struct {
		in, want string
	}{
		{"tenantID", "tenantId"},
		{"tokenLifeTime", "tokenLifetime"},
		{"resource", "resources"},
		{"userAssignedIdentity", "userAssignedIdentities"},
		{"zzz", ""},
		{strings.Repeat("x", 200), ""},
	} {
		got, _ := nearest(tc.in, keys)
		if got != tc.want {
			t.Errorf("nearest(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, p := range []string{"testdata/full.yaml", "testdata/full.golden.yaml"} {
		if src, err := os.ReadFile(p); err == nil {
			f.Add(string(src))
		}
	}
	for _, s := range []string{
		"", "identity: {resources: [{id: a, roles: [x], assignments: {system: [x, y]}}]}",
		"a: &a [*a]", "x: &x {y: *x}", "store: {redis: {db: 99999999999999999999}}",
		"identity:\n  userAssignedIdentities: [~, {name: a}, {name: a}]",
		"backend: {caFile: /dev/zero}", "---\n---\n", "<<: {a: b}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		c, err := parse("lastmile.yaml", []byte(src), noEnv)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is not a non-empty ErrorList: %#v", err)
			}
			for _, e := range list {
				if !strings.HasPrefix(e.Error(), "lastmile.yaml:") {
					t.Fatalf("error without the file name: %q", e.Error())
				}
			}
			return
		}
		// Whatever parses must survive Marshal and parse back to the same thing.
		out, err := c.Marshal()
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		again, err := parse("lastmile.yaml", out, noEnv)
		if err != nil {
			t.Fatalf("parse(Marshal(c)): %v\n%s", err, out)
		}
		if diff := cmp.Diff(c, again); diff != "" {
			t.Fatalf("round trip (-first +second):\n%s", diff)
		}
	})
}

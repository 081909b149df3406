package server_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/coreos/go-oidc/v3/oidc"

	"github.com/lastmile-gw/lastmile/internal/certfile/certtest"
	"github.com/lastmile-gw/lastmile/internal/directory"
)

// TestTLSCurl reaches the TLS listeners with curl, which checks the chain
// against the test CA (--cacert) with OpenSSL: HTTP/2 and HTTP/1.1 on the
// data plane, a client certificate verified by the listener (verify-if-given)
// and one from another CA refused in the handshake, discovery on the
// identity listener, and plain HTTP answered with a clear 400.
func TestTLSCurl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl is not installed (scripts/test.sh installs it from Debian's packages)")
	}
	ca, partners, strangers := certtest.NewCA(t, "listener CA"), certtest.NewCA(t, "partner CA"), certtest.NewCA(t, "stranger CA")
	cfgDir := tlsFolder(t, ca, mergeFiles(echoAPI, map[string]string{"lastmile.yaml": `listeners:
  tls:
    certificates:
      - file: server.pem
    clientCertificates:
      mode: verify-if-given
      caFile: partners.pem
`}))
	certtest.WriteFile(t, cfgDir, "partners.pem", caPEM(partners))
	partner := certtest.WriteFile(t, cfgDir, "partner.pem", certtest.PEM(t, partners.Client("partner-1"), false))
	stranger := certtest.WriteFile(t, cfgDir, "stranger.pem", certtest.PEM(t, strangers.Client("partner-1"), false))
	caFile := filepath.Join(cfgDir, "ca.pem")
	s, _ := serveTLS(t, cfgDir, t.TempDir(), nil)

	run := func(args ...string) (string, error) {
		out, err := exec.Command(curl, append([]string{"-sS", "--max-time", "20", "-w", " %{http_code} %{http_version}"}, args...)...).CombinedOutput()
		return strings.TrimSpace(string(out)), err
	}
	for _, tt := range []struct {
		name string
		args []string
		want string
	}{
		{"HTTP/2", []string{"--cacert", caFile, s.GatewayURL() + "/echo/x"}, "none 200 2"},
		{"HTTP/1.1", []string{"--http1.1", "--cacert", caFile, s.GatewayURL() + "/echo/x"}, "none 200 1.1"},
		{"a verified client certificate", []string{"--cacert", caFile, "--cert", partner, s.GatewayURL() + "/echo/x"}, "CN=partner-1 200 2"},
		{"discovery", []string{"--cacert", caFile, s.Issuer() + "/.well-known/openid-configuration"}, `"issuer":"` + s.Issuer() + `"`},
		{"plain HTTP", []string{strings.Replace(s.GatewayURL(), "https:", "http:", 1) + "/echo/x"}, "this listener serves HTTPS; the client sent plain HTTP"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, err := run(tt.args...)
			if err != nil || !strings.Contains(out, tt.want) {
				t.Errorf("curl %s: %v\n%s\nwant %s", strings.Join(tt.args, " "), err, out, tt.want)
			}
		})
	}
	for name, args := range map[string][]string{
		"another CA's client certificate": {"--cacert", caFile, "--cert", stranger, s.GatewayURL() + "/echo/x"},
		"without the test CA":             {s.GatewayURL() + "/echo/x"},
	} {
		if out, err := run(args...); err == nil {
			t.Errorf("%s: curl succeeded: %s", name, out)
		}
	}
}

// TestTLSIdentityClients gets tokens from the identity listener over https
// with Microsoft's clients, trusting the test CA: MSAL Go's confidential
// client and azidentity's client secret credential, with lastmile as their
// authority; go-oidc verifies the tokens by discovery at the https issuer,
// which lastmile derived from the identity listener.
func TestTLSIdentityClients(t *testing.T) {
	ca := certtest.NewCA(t, "listener CA")
	const tenant = "9a8b7c6d-5e4f-4a3b-8c2d-1e0f9a8b7c6d"
	secret, hash := directory.NewClientSecret()
	cfgDir := tlsFolder(t, ca, map[string]string{"lastmile.yaml": `identity:
  tenantId: ` + tenant + `
  resources:
    - id: api://orders
      roles: [Orders.Read]
      assignments:
        batch: [Orders.Read]
  applications:
    - name: batch
      clientId: ` + batchClientID + `
      secretHashes: ["` + hash + `"]
listeners:
  identity:
    tls:
      certificates:
        - file: server.pem
`})
	s, _ := serveTLS(t, cfgDir, t.TempDir(), nil)
	if !strings.HasPrefix(s.Issuer(), "https://127.0.0.1:") || s.Issuer() != s.IdentityURL() {
		t.Fatalf("issuer %s, want the identity listener's https URL %s", s.Issuer(), s.IdentityURL())
	}
	client := httpsClient(ca.Pool(), true)
	ctx := oidc.ClientContext(context.Background(), client)
	provider, err := oidc.NewProvider(ctx, s.Issuer())
	if err != nil {
		t.Fatalf("go-oidc discovery over https: %v", err)
	}
	verifier := provider.Verifier(&oidc.Config{ClientID: "api://orders", SupportedSigningAlgs: []string{"ES256"}})

	cred, err := confidential.NewCredFromSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	msal, err := confidential.New(s.IdentityURL()+"/"+tenant, batchClientID, cred,
		confidential.WithHTTPClient(client), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	res, err := msal.AcquireTokenByCredential(ctx, []string{"api://orders/.default"})
	if err != nil {
		t.Fatalf("MSAL over https: %v", err)
	}
	if _, err := verifier.Verify(ctx, res.AccessToken); err != nil {
		t.Errorf("MSAL's token: %v", err)
	}

	az, err := azidentity.NewClientSecretCredential(tenant, batchClientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions: azcore.ClientOptions{
			Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: s.IdentityURL() + "/"},
			Transport: client,
			Retry:     policy.RetryOptions{MaxRetries: -1},
		},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	at, err := az.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://orders/.default"}})
	if err != nil {
		t.Fatalf("azidentity over https: %v", err)
	}
	if _, err := verifier.Verify(ctx, at.Token); err != nil {
		t.Errorf("azidentity's token: %v", err)
	}

	// A client that does not trust the CA gets nothing.
	other := httpsClient(certtest.NewCA(t, "another CA").Pool(), false)
	strict, _ := confidential.New(s.IdentityURL()+"/"+tenant, batchClientID, cred, confidential.WithHTTPClient(other), confidential.WithInstanceDiscovery(false))
	if _, err := strict.AcquireTokenByCredential(context.Background(), []string{"api://orders/.default"}); err == nil {
		t.Error("MSAL got a token from a server it does not trust")
	}
}

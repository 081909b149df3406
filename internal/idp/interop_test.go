package idp_test

import (
	"context"
	"crypto/tls"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/identity/federation"
	"github.com/lastmile-gw/lastmile/internal/idp"
)

// TestFederationSourceInterop runs lastmile's own workload identity federation
// client (the gateway's workloadIdentity token source) against the token
// service: one lastmile's managed identity token, in a file, is exchanged at
// another lastmile for an application's tokens, with each audience parameter.
func TestFederationSourceInterop(t *testing.T) {
	ctx := context.Background()
	westSrv := httptest.NewUnstartedServer(nil)
	westSrv.TLS = &tls.Config{Certificates: []tls.Certificate{getTestCA(t).server}}
	westCfg := testConfig("https://" + westSrv.Listener.Addr().String())
	westCfg.Resources = append(westCfg.Resources, idp.Resource{ID: "api://AzureADTokenExchange", SigningAlgorithm: idp.AlgRS256})
	west := newProvider(t, westCfg, openState(t, t.TempDir()))
	westSrv.Config.Handler = west.Handler()
	westSrv.StartTLS()
	t.Cleanup(westSrv.Close)

	east := startTokenService(t, []idp.FederatedCredential{
		{Name: "west", Issuer: west.Issuer(), Subject: west.SystemIdentity().ObjectID, RootCAs: getTestCA(t).pool},
	})
	tok, err := west.Issue(ctx, "", "api://AzureADTokenExchange")
	if err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "federated-token")
	if err := os.WriteFile(file, []byte(tok.Value+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, param := range []string{federation.Scope, federation.Resource, federation.Audience} {
		t.Run(param, func(t *testing.T) {
			src, err := federation.New(federation.Config{TokenEndpoint: east.p.EntraTokenURL(), ClientID: federatedAppID, TokenFile: file,
				AudienceParameter: param, HTTPClient: east.client})
			if err != nil {
				t.Fatal(err)
			}
			got, err := src.Token(ctx, "", "api://orders")
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			idt := verifyByDiscovery(t, east.client, east.p.Issuer(), "", got.Value, "api://orders", "ES256")
			if c := claimsOf(t, idt); c["appid"] != federatedAppID {
				t.Errorf("appid %v, want the federated application", c["appid"])
			}
		})
	}
}

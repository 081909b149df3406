package idp_test

import (
	"context"
	"crypto/x509"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/go-jose/go-jose/v4"
	"github.com/google/go-cmp/cmp"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/lastmile-gw/lastmile/internal/idp"
)

// Real clients, written by others, against the token service over TLS with a
// test CA: MSAL Go's confidential client and azidentity's credentials with
// lastmile as their authority (instance discovery off), x/oauth2's client
// credentials flow with both client authentication styles; go-oidc verifies
// every token by discovery.

// verifyByDiscovery verifies a token with go-oidc, discovering the keys from
// discoveryBase + "/.well-known/openid-configuration"; for the Entra profiles the
// documents' issuer is Entra's, which go-oidc is told to expect.
func verifyByDiscovery(t *testing.T, client *http.Client, discoveryBase, expectIssuer, token, aud string, algs ...string) *oidc.IDToken {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), client)
	if expectIssuer != "" {
		ctx = oidc.InsecureIssuerURLContext(ctx, expectIssuer)
	}
	provider, err := oidc.NewProvider(ctx, discoveryBase)
	if err != nil {
		t.Fatalf("go-oidc discovery at %s: %v", discoveryBase, err)
	}
	v := provider.Verifier(&oidc.Config{ClientID: aud, SupportedSigningAlgs: algs})
	tok, err := v.Verify(ctx, token)
	if err != nil {
		t.Fatalf("go-oidc Verify: %v", err)
	}
	return tok
}

func claimsOf(t *testing.T, tok *oidc.IDToken) map[string]any {
	t.Helper()
	var m map[string]any
	if err := tok.Claims(&m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMSALConfidentialClient(t *testing.T) {
	env := startTokenService(t, nil)
	ctx := context.Background()
	authority := env.srv.URL + "/" + strings.ToUpper(env.tenant) // MSAL lower-cases it
	cred, err := confidential.NewCredFromCert([]*x509.Certificate{env.cert.cert}, env.cert.key)
	if err != nil {
		t.Fatal(err)
	}
	client, err := confidential.New(authority, certAppID, cred,
		confidential.WithHTTPClient(env.client), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	res, err := client.AcquireTokenByCredential(ctx, []string{"api://orders/.default"})
	if err != nil {
		t.Fatalf("MSAL AcquireTokenByCredential with a certificate: %v", err)
	}
	tok := verifyByDiscovery(t, env.client, env.p.Issuer(), "", res.AccessToken, "api://orders", "ES256")
	apps := env.p.Applications()
	c := claimsOf(t, tok)
	want := map[string]any{"appid": certAppID, "client_id": certAppID, "azp": certAppID, "oid": apps[0].ObjectID, "sub": apps[0].ObjectID,
		"tid": env.tenant, "roles": []any{"Orders.Write"}, "iss": env.p.Issuer(), "aud": "api://orders"}
	for k, v := range want {
		if diff := cmp.Diff(v, c[k]); diff != "" {
			t.Errorf("claim %s (-want +got):\n%s", k, diff)
		}
	}
	if res.ExpiresOn.Before(time.Now().Add(50 * time.Minute)) {
		t.Errorf("MSAL ExpiresOn %v, want about an hour from now", res.ExpiresOn)
	}

	// MSAL's cache answers the second request; a second client sends a second
	// assertion (a new jti), which is accepted.
	again, err := client.AcquireTokenByCredential(ctx, []string{"api://orders/.default"})
	if err != nil || again.AccessToken != res.AccessToken {
		t.Errorf("second request: %v (cached token: %v)", err, again.AccessToken == res.AccessToken)
	}
	other, _ := confidential.New(authority, certAppID, cred, confidential.WithHTTPClient(env.client), confidential.WithInstanceDiscovery(false))
	if _, err := other.AcquireTokenByCredential(ctx, []string{"api://entra-v2/.default"}); err != nil {
		t.Errorf("another client's assertion: %v", err)
	}

	// A secret, through MSAL.
	secretCred, err := confidential.NewCredFromSecret(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	sc, _ := confidential.New(authority, secretAppID, secretCred, confidential.WithHTTPClient(env.client), confidential.WithInstanceDiscovery(false))
	sres, err := sc.AcquireTokenByCredential(ctx, []string{"api://entra-v1/.default"})
	if err != nil {
		t.Fatalf("MSAL with a secret: %v", err)
	}
	v1 := verifyByDiscovery(t, env.client, env.srv.URL+"/"+env.tenant, idp.EntraV1Issuer(env.tenant), sres.AccessToken, "api://entra-v1", "RS256")
	if c := claimsOf(t, v1); c["appidacr"] != "1" || c["ver"] != "1.0" || c["appid"] != secretAppID {
		t.Errorf("v1 token from a secret: appidacr %v ver %v appid %v, want 1, 1.0, %s", c["appidacr"], c["ver"], c["appid"], secretAppID)
	}

	// A wrong secret is an MSAL error carrying Entra's code.
	bad, _ := confidential.NewCredFromSecret("wrong")
	bc, _ := confidential.New(authority, secretAppID, bad, confidential.WithHTTPClient(env.client), confidential.WithInstanceDiscovery(false))
	if _, err := bc.AcquireTokenByCredential(ctx, []string{"api://orders/.default"}); err == nil || !strings.Contains(err.Error(), "AADSTS7000215") {
		t.Errorf("MSAL with a wrong secret: %v, want AADSTS7000215", err)
	}
}

// azOptions points an azidentity credential at lastmile.
func azOptions(env *tokenServiceEnv) azcore.ClientOptions {
	return azcore.ClientOptions{
		Cloud:     cloud.Configuration{ActiveDirectoryAuthorityHost: env.srv.URL + "/"},
		Transport: env.client,
		Retry:     policy.RetryOptions{MaxRetries: -1},
	}
}

func TestAzidentityCredentials(t *testing.T) {
	env := startTokenService(t, nil)
	ctx := context.Background()

	certCred, err := azidentity.NewClientCertificateCredential(env.tenant, certAppID, []*x509.Certificate{env.cert.cert}, env.cert.key,
		&azidentity.ClientCertificateCredentialOptions{ClientOptions: azOptions(env), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	assertions := 0
	assertCred, err := azidentity.NewClientAssertionCredential(env.tenant, certAppID, func(ctx context.Context) (string, error) {
		assertions++
		// A generic private_key_jwt assertion with the EC key and its kid, aud the issuer.
		return signJWT(t, env.ecKey, jose.ES256, map[string]any{"kid": env.ecKID}, assertionClaims(certAppID, env.p.Issuer(), time.Now())), nil
	}, &azidentity.ClientAssertionCredentialOptions{ClientOptions: azOptions(env), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	secretCred, err := azidentity.NewClientSecretCredential(env.tenant, secretAppID, testSecret,
		&azidentity.ClientSecretCredentialOptions{ClientOptions: azOptions(env), DisableInstanceDiscovery: true})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		cred      azcore.TokenCredential
		scope     string
		discovery string // "" for the native document
		issuer    string
		aud       string
		alg       string
		acr       string
	}{
		{"certificate, native ES256", certCred, "api://orders/.default", "", "", "api://orders", "ES256", ""},
		{"certificate, native RS256", certCred, "api://orders-rsa/.default", "", "", "api://orders-rsa", "RS256", ""},
		{"certificate, Entra v2", certCred, "api://entra-v2/.default", "/v2.0", idp.EntraV2Issuer(env.tenant), "api://entra-v2", "ES256", "2"},
		{"assertion callback, Entra v1 RS256", assertCred, "api://entra-v1/.default", "", idp.EntraV1Issuer(env.tenant), "api://entra-v1", "RS256", "2"},
		{"secret, Entra v2", secretCred, "api://entra-v2/.default", "/v2.0", idp.EntraV2Issuer(env.tenant), "api://entra-v2", "ES256", "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			at, err := tt.cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{tt.scope}})
			if err != nil {
				t.Fatalf("GetToken: %v", err)
			}
			base := env.p.Issuer()
			if tt.issuer != "" {
				base = env.srv.URL + "/" + env.tenant + tt.discovery
			}
			tok := verifyByDiscovery(t, env.client, base, tt.issuer, at.Token, tt.aud, tt.alg)
			c := claimsOf(t, tok)
			if tt.acr != "" && c["appidacr"] != tt.acr && c["azpacr"] != tt.acr {
				t.Errorf("appidacr/azpacr = %v/%v, want %s", c["appidacr"], c["azpacr"], tt.acr)
			}
		})
	}
	if assertions == 0 {
		t.Error("the assertion callback was never called")
	}

	// An unknown resource is an azidentity error with Entra's code.
	if _, err := certCred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{"api://nothing/.default"}}); err == nil || !strings.Contains(err.Error(), "AADSTS500011") {
		t.Errorf("unknown resource: %v, want AADSTS500011", err)
	}
}

func TestOAuth2ClientCredentials(t *testing.T) {
	env := startTokenService(t, nil)
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, env.client)
	for _, style := range []struct {
		name  string
		style oauth2.AuthStyle
	}{{"Basic (form-encoded credentials)", oauth2.AuthStyleInHeader}, {"form parameters", oauth2.AuthStyleInParams}, {"auto-detect", oauth2.AuthStyleAutoDetect}} {
		t.Run(style.name, func(t *testing.T) {
			cc := clientcredentials.Config{
				ClientID:     secretAppID,
				ClientSecret: testSecret,
				TokenURL:     env.p.TokenURL(),
				Scopes:       []string{"api://orders/.default"},
				AuthStyle:    style.style,
			}
			tok, err := cc.Token(ctx)
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if tok.TokenType != "Bearer" || tok.Expiry.Before(time.Now().Add(50*time.Minute)) {
				t.Errorf("token type %q expiry %v", tok.TokenType, tok.Expiry)
			}
			verifyByDiscovery(t, env.client, env.p.Issuer(), "", tok.AccessToken, "api://orders", "ES256")

			// resource instead of scope, through EndpointParams.
			cc.Scopes = nil
			cc.EndpointParams = map[string][]string{"resource": {"https://billing.example.com"}}
			tok, err = cc.Token(ctx)
			if err != nil {
				t.Fatalf("Token with resource: %v", err)
			}
			verifyByDiscovery(t, env.client, env.p.Issuer(), "", tok.AccessToken, "https://billing.example.com/", "ES256")

			cc.ClientSecret = "wrong"
			if _, err := cc.Token(ctx); err == nil {
				t.Error("a wrong secret got a token")
			} else if re := (*oauth2.RetrieveError)(nil); !asRetrieveError(err, &re) || re.ErrorCode != "invalid_client" {
				t.Errorf("wrong secret: %v, want invalid_client", err)
			}
		})
	}

	// private_key_jwt through x/oauth2's EndpointParams, at the v2 endpoint.
	cc := clientcredentials.Config{
		ClientID: certAppID,
		TokenURL: env.p.EntraTokenURL(),
		Scopes:   []string{"api://orders/.default", "openid", "offline_access", "profile"},
		EndpointParams: map[string][]string{
			"client_assertion_type": {idp.ClientAssertionType},
			"client_assertion":      {env.certAssertion(t, env.p.EntraTokenURL(), time.Now())},
		},
		AuthStyle: oauth2.AuthStyleInParams,
	}
	tok, err := cc.Token(ctx)
	if err != nil {
		t.Fatalf("private_key_jwt: %v", err)
	}
	verifyByDiscovery(t, env.client, env.p.Issuer(), "", tok.AccessToken, "api://orders", "ES256")
}

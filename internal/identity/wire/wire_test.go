package wire_test

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/identity/wire"
)

func TestParseToken(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	for _, tc := range []struct {
		name    string
		body    string
		want    identity.Token
		wantErr string
	}{
		{"Entra v2: expires_in as a number", `{"token_type":"Bearer","expires_in":3599,"ext_expires_in":3599,"access_token":"a.b.c"}`,
			identity.Token{Value: "a.b.c", ExpiresAt: now.Add(3599 * time.Second)}, ""},
		{"IMDS: every number a string", `{"access_token":"a.b.c","refresh_token":"","expires_in":"3599","expires_on":"1700003599","not_before":"1699999999","resource":"r","token_type":"Bearer"}`,
			identity.Token{Value: "a.b.c", IssuedAt: now.Add(-time.Second), ExpiresAt: now.Add(3599 * time.Second)}, ""},
		{"App Service with refresh_in", `{"access_token":"t","expires_on":"1700003600","resource":"r","token_type":"Bearer","client_id":"c","refresh_in":"1800"}`,
			identity.Token{Value: "t", ExpiresAt: now.Add(time.Hour), RefreshAt: now.Add(30 * time.Minute)}, ""},
		{"lastmile's agent: refresh_in a number", `{"access_token":"t","expires_in":"3600","expires_on":"1700003600","not_before":"1700000000","refresh_in":1800,"resource":"r","token_type":"Bearer","client_id":"c"}`,
			identity.Token{Value: "t", IssuedAt: now, ExpiresAt: now.Add(time.Hour), RefreshAt: now.Add(30 * time.Minute)}, ""},
		{"expires_on wins over expires_in", `{"access_token":"t","expires_in":60,"expires_on":1700000120}`,
			identity.Token{Value: "t", ExpiresAt: now.Add(2 * time.Minute)}, ""},
		{"token type in lower case", `{"access_token":"t","expires_in":60,"token_type":"bearer"}`,
			identity.Token{Value: "t", ExpiresAt: now.Add(time.Minute)}, ""},
		{"no token", `{"expires_in":60}`, identity.Token{}, "the token response has no access_token"},
		{"no expiry", `{"access_token":"t"}`, identity.Token{}, "the token response has neither expires_on nor expires_in"},
		{"already expired", `{"access_token":"t","expires_on":"1699999999"}`, identity.Token{}, "the token response says the token expired at 2023-11-14T22:13:19Z"},
		{"a DPoP token", `{"access_token":"t","expires_in":60,"token_type":"DPoP"}`, identity.Token{}, `the token response has token_type "DPoP", not Bearer`},
		{"not a number", `{"access_token":"secret-token","expires_in":"soon"}`, identity.Token{}, "the token response is not JSON a token endpoint sends: \"soon\" is not a number"},
		{"not JSON", `access_token=secret-token&expires_in=60`, identity.Token{}, "the token response is not JSON a token endpoint sends: syntax error at byte 1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := wire.ParseToken([]byte(tc.body), now)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %s", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "secret-token") {
					t.Errorf("the error quotes the token")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
}

func TestResponseError(t *testing.T) {
	now := time.Now()
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		body       string
		wantMsg    string
		wantConfig bool
		wantRetry  time.Duration
	}{
		{"unknown resource", 400, "", `{"error":"invalid_resource","error_description":"AADSTS500011: not found\r\nTrace ID: x"}`,
			"the endpoint answered 400 invalid_resource: AADSTS500011: not found: identity configuration error", true, 0},
		{"wrong client", 401, "", `{"error":"invalid_client"}`, "the endpoint answered 401 invalid_client: identity configuration error", true, 0},
		{"App Service's own shape", 500, "", `{"statusCode":500,"message":"An unexpected error occured while fetching the AAD Token.","correlationId":"x"}`,
			"the endpoint answered 500: An unexpected error occured while fetching the AAD Token.", false, 0},
		{"throttled", 429, "7", `{"error":"throttled"}`, "the endpoint answered 429 throttled", false, 7 * time.Second},
		{"unavailable with a date", 503, now.Add(90 * time.Second).UTC().Format(http.TimeFormat), ``, "the endpoint answered 503", false, 89 * time.Second},
		{"a 4xx with a configuration code", 422, "", `{"error":"invalid_scope"}`, "the endpoint answered 422 invalid_scope: identity configuration error", true, 0},
		{"a 4xx with another code", 409, "", `{"error":"conflict"}`, "the endpoint answered 409 conflict", false, 0},
		{"a negative Retry-After", 503, "-5", ``, "the endpoint answered 503", false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tc.status, Header: http.Header{}}
			if tc.retryAfter != "" {
				resp.Header.Set("Retry-After", tc.retryAfter)
			}
			err := wire.ResponseError("the endpoint", resp, []byte(tc.body))
			if err.Error() != tc.wantMsg && !strings.HasPrefix(err.Error(), tc.wantMsg+" (retry after") {
				t.Errorf("message %q, want %q", err.Error(), tc.wantMsg)
			}
			if errors.Is(err, identity.ErrConfiguration) != tc.wantConfig {
				t.Errorf("configuration error = %v, want %v", !tc.wantConfig, tc.wantConfig)
			}
			var te *identity.TransientError
			if !tc.wantConfig && !errors.As(err, &te) {
				t.Fatalf("%T is not a TransientError", err)
			}
			if te != nil && (te.RetryAfter < tc.wantRetry || te.RetryAfter > tc.wantRetry+2*time.Second) {
				t.Errorf("RetryAfter = %s, want %s", te.RetryAfter, tc.wantRetry)
			}
		})
	}
}

func FuzzParseToken(f *testing.F) {
	f.Add([]byte(`{"access_token":"a","expires_in":"3599","expires_on":"1700003599","refresh_in":1800,"not_before":"1"}`))
	f.Add([]byte(`{"access_token":"a","expires_in":1e3}`))
	f.Add([]byte(`[]`))
	now := time.Unix(1_700_000_000, 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		tok, err := wire.ParseToken(body, now)
		if err != nil {
			return
		}
		if tok.Value == "" || !tok.ExpiresAt.After(now) {
			t.Errorf("accepted an unusable token: %v", tok)
		}
	})
}

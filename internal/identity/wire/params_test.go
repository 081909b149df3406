package wire_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/identity/wire"
)

func TestParseParams(t *testing.T) {
	for _, tc := range []struct {
		name    string
		raw     string
		want    url.Values
		wantErr string
	}{
		{"empty", "", url.Values{}, ""},
		{"managed identity query", "api-version=2019-08-01&resource=api%3A%2F%2Forders&client_id=c",
			url.Values{"api-version": {"2019-08-01"}, "resource": {"api://orders"}, "client_id": {"c"}}, ""},
		{"plus is a space, empty pairs are skipped", "scope=a+b&&x=", url.Values{"scope": {"a b"}, "x": {""}}, ""},
		{"a name without a value", "flag", url.Values{"flag": {""}}, ""},
		{"an escaped semicolon is a character", "a=%3B", url.Values{"a": {";"}}, ""},
		{"names are case-sensitive (RFC 6749 §3.1)", "resource=a&Resource=b", url.Values{"resource": {"a"}, "Resource": {"b"}}, ""},
		{"repeated", "resource=a&resource=b", nil, `the parameter "resource" is repeated; send it once (RFC 6749 §3.1)`},
		{"repeated with the same value", "resource=a&resource=a", nil, `the parameter "resource" is repeated; send it once (RFC 6749 §3.1)`},
		{"repeated without a value", "api-version=1&api-version", nil, `the parameter "api-version" is repeated; send it once (RFC 6749 §3.1)`},
		{"repeated through an escape", "client_id=a&client%5Fid=b", nil, `the parameter "client_id" is repeated; send it once (RFC 6749 §3.1)`},
		{"repeated empty name", "=a&=b", nil, `the parameter "" is repeated; send it once (RFC 6749 §3.1)`},
		{"a semicolon separator", "resource=a;resource=b", nil, `the parameter "resource" is not form-encoded`},
		{"a bad escape in a value", "resource=%zz", nil, `the parameter "resource" is not form-encoded`},
		{"a bad escape in a name is not repeated", "res%zource=a", nil, `the parameter (a name that is not a parameter name) is not form-encoded`},
		{"nor is a JSON body, which may hold a secret", `{"client_secret":"s3cret;"}`, nil, `the parameter (a name that is not a parameter name) is not form-encoded`},
		{"nor a long name", strings.Repeat("a", 65) + "=1&" + strings.Repeat("a", 65) + "=2", nil,
			`the parameter (a name that is not a parameter name) is repeated; send it once (RFC 6749 §3.1)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := wire.ParseParams(tc.raw)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %s", err, tc.wantErr)
				}
				var pe *wire.ParamError
				if !errors.As(err, &pe) {
					t.Errorf("error %T is not a *wire.ParamError", err)
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

// FuzzParseParams: what ParseParams accepts, url.ParseQuery reads the same way
// without an error, with one value per name; what it refuses is repeated or
// something url.ParseQuery refuses too.
func FuzzParseParams(f *testing.F) {
	for _, s := range []string{"", "a=1&b=2", "a=1&a=2", "a=%zz", "a;b", "a=+%2B&&=", "resource=api%3A%2F%2Forders"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := wire.ParseParams(raw)
		want, werr := url.ParseQuery(raw)
		if err != nil {
			var pe *wire.ParamError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is not a *wire.ParamError", err)
			}
			if pe.Repeated {
				if len(want[pe.Name]) < 2 {
					t.Fatalf("%q: %v, but url.ParseQuery has %q", raw, err, want[pe.Name])
				}
			} else if werr == nil {
				t.Fatalf("%q: %v, but url.ParseQuery accepts it", raw, err)
			}
			return
		}
		if werr != nil {
			t.Fatalf("%q: accepted, but url.ParseQuery says %v", raw, werr)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("%q (-url.ParseQuery +ParseParams):\n%s", raw, diff)
		}
	})
}

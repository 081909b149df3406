package policies_test

import (
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/certfile"
	"github.com/lastmile-gw/lastmile/internal/certfile/certtest"
	"github.com/lastmile-gw/lastmile/internal/policies"
)

func TestAuthenticationBasic(t *testing.T) {
	tests := []struct {
		name, policy, want string
	}{
		{"literal", `<authentication-basic username="user1" password="pass123" />`, "Basic " + base64.StdEncoding.EncodeToString([]byte("user1:pass123"))},
		{"expressions", `<authentication-basic username="@(&quot;u&quot; + &quot;2&quot;)" password="@(context.Request.Headers.GetValueOrDefault(&quot;X-P&quot;, &quot;&quot;))" />`,
			"Basic " + base64.StdEncoding.EncodeToString([]byte("u2:p:w"))},
		{"an empty password", `<authentication-basic username="u" password="" />`, "Basic " + base64.StdEncoding.EncodeToString([]byte("u:"))},
		{"replaces the client's", `<set-header name="Authorization"><value>Bearer client</value></set-header><authentication-basic username="a" password="b" />`,
			"Basic " + base64.StdEncoding.EncodeToString([]byte("a:b"))},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := sideRun(t, policies.Deps{}, sideDoc(tt.policy, "", "", ""), sideExchange("GET", http.Header{"X-P": {"p:w"}}, ""))
			if x.LastError != nil {
				t.Fatalf("LastError %+v", x.LastError)
			}
			if got := x.Request.Headers.Get("Authorization"); got != tt.want {
				t.Errorf("Authorization %q, want %q", got, tt.want)
			}
		})
	}
}

func TestAuthenticationBasicErrors(t *testing.T) {
	const secret = "pass-s3cret"
	for _, tt := range []struct{ name, policy, want string }{
		{"no password", `<authentication-basic username="u" />`, "<authentication-basic> needs a password attribute"},
		{"no username", `<authentication-basic password="` + secret + `" />`, "<authentication-basic> needs a username attribute"},
		{"a colon in the username", `<authentication-basic username="a:b" password="` + secret + `" />`, "username of <authentication-basic> must not contain ':'"},
		{"a child", `<authentication-basic username="u" password="p"><value /></authentication-basic>`, "<authentication-basic> takes no child elements"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := sideCompile(t, policies.Deps{}, sideDoc(tt.policy, "", "", ""))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v, want one containing %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	x := sideRun(t, policies.Deps{}, sideDoc(`<authentication-basic username="@(&quot;a:b&quot;)" password="`+secret+`" />`, "", "", ""), sideExchange("GET", nil, ""))
	if le := x.LastError; le == nil || le.Reason != "InvalidCredentials" || strings.Contains(le.Message, secret) || strings.Contains(le.Message, "a:b") {
		t.Errorf("LastError %+v, want InvalidCredentials naming no credential", le)
	}
}

func TestAuthenticationCertificate(t *testing.T) {
	ca := certtest.NewCA(t, "ca")
	client := ca.Client("orders")
	pubOnly, err := certfile.Parse(certtest.PEM(t, ca.Client("no-key"), true), "")
	if err != nil {
		t.Fatal(err)
	}
	set := policies.NewCertificateSet(map[string]*tls.Certificate{"Orders-Client": client, "public": pubOnly})
	deps := policies.Deps{Certificates: set}
	tp := certfile.Thumbprint(client.Leaf)
	pfx := base64.StdEncoding.EncodeToString(certtest.PFX(t, client, "pw"))

	for _, tt := range []struct {
		name, policy string
		want         *tls.Certificate // nil: the leaf must be orders' (a body is parsed anew)
	}{
		{"by thumbprint", `<authentication-certificate thumbprint="` + tp + `" />`, client},
		{"by thumbprint, lower case", `<authentication-certificate thumbprint="` + strings.ToLower(tp) + `" />`, client},
		{"by id, ignoring case", `<authentication-certificate certificate-id="orders-client" />`, client},
		{"by an id expression", `<authentication-certificate certificate-id="@(&quot;orders-&quot; + &quot;client&quot;)" />`, client},
		{"by body and password", `<set-variable name="pfx" value="` + pfx + `" /><authentication-certificate body="@(Convert.FromBase64String((string)context.Variables[&quot;pfx&quot;]))" password="pw" />`, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x := sideRun(t, deps, sideDoc(tt.policy, "", "", ""), sideExchange("GET", nil, ""))
			if x.LastError != nil {
				t.Fatalf("LastError %+v", x.LastError)
			}
			got := x.Backend.Certificate()
			switch {
			case got == nil:
				t.Fatal("no certificate for the backend")
			case tt.want != nil && got != tt.want:
				t.Errorf("certificate %v, want the configured one", got.Leaf.Subject)
			case got.Leaf == nil || !got.Leaf.Equal(client.Leaf) || got.PrivateKey == nil:
				t.Errorf("certificate %v, want orders' with its key", got.Leaf)
			}
		})
	}

	for _, tt := range []struct{ name, policy, reason, msg string }{
		{"an unknown id from an expression", `<authentication-certificate certificate-id="@(&quot;nope&quot;)" />`,
			"CertificateNotFound", `no certificate of lastmile.yaml's certificates has the id "nope"`},
		{"a body that is not bytes", `<authentication-certificate body="@(&quot;text&quot;)" />`, "CertificateInvalid", "must give a byte[]"},
		{"a body with the wrong password", `<set-variable name="pfx" value="` + pfx + `" /><authentication-certificate body="@(Convert.FromBase64String((string)context.Variables[&quot;pfx&quot;]))" password="guess-s3cret" />`,
			"CertificateInvalid", "the password is wrong"},
		{"a body without a key", `<authentication-certificate body="@(Convert.FromBase64String(&quot;` + base64.StdEncoding.EncodeToString(certtest.PEM(t, client, true)) + `&quot;))" />`,
			"CertificateInvalid", "has no private key"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			x := sideRun(t, deps, sideDoc(tt.policy, "", "", ""), sideExchange("GET", nil, ""))
			le := x.LastError
			if le == nil || le.Source != "authentication-certificate" || le.Reason != tt.reason || !strings.Contains(le.Message, tt.msg) {
				t.Fatalf("LastError %+v, want %s %q", le, tt.reason, tt.msg)
			}
			if strings.Contains(le.Message, "guess-s3cret") {
				t.Errorf("LastError shows the password: %q", le.Message)
			}
			if x.Response.StatusCode != 500 || x.Backend.Certificate() != nil {
				t.Errorf("status %d, certificate %v; want 500 and none", x.Response.StatusCode, x.Backend.Certificate())
			}
		})
	}
}

func TestAuthenticationCertificateCompileErrors(t *testing.T) {
	ca := certtest.NewCA(t, "ca")
	pubOnly, _ := certfile.Parse(certtest.PEM(t, ca.Client("no-key"), true), "")
	deps := policies.Deps{Certificates: policies.NewCertificateSet(map[string]*tls.Certificate{"c": ca.Client("c"), "public": pubOnly})}
	for _, tt := range []struct {
		name, policy, want string
		deps               policies.Deps
	}{
		{"nothing", `<authentication-certificate />`, "needs exactly one of thumbprint, certificate-id and body", deps},
		{"two", `<authentication-certificate thumbprint="AB" certificate-id="c" />`, "needs exactly one of thumbprint, certificate-id and body", deps},
		{"password without body", `<authentication-certificate certificate-id="c" password="p" />`, "password of <authentication-certificate> goes with body only", deps},
		{"a literal body", `<authentication-certificate body="MIIB" />`, "body of <authentication-certificate> must be a policy expression", deps},
		{"an unknown thumbprint", `<authentication-certificate thumbprint="0123456789ABCDEF0123456789ABCDEF01234567" />`,
			`policy.xml:1:60: no certificate of lastmile.yaml's certificates has the thumbprint "0123456789ABCDEF0123456789ABCDEF01234567"; add it there`, deps},
		{"an unknown id", `<authentication-certificate certificate-id="orders" />`, `no certificate of lastmile.yaml's certificates has the id "orders"`, deps},
		{"a certificate without a key", `<authentication-certificate certificate-id="public" />`, `the certificate with the id "public" has no private key`, deps},
		{"no certificates at all", `<authentication-certificate certificate-id="c" />`, "lastmile.yaml has no certificates; add the certificate to its certificates section", policies.Deps{}},
		{"not in outbound", ``, "policy <authentication-certificate> is not allowed in <outbound>", deps},
	} {
		t.Run(tt.name, func(t *testing.T) {
			doc := sideDoc(tt.policy, "", "", "")
			if tt.policy == "" {
				doc = sideDoc("", "", `<authentication-certificate certificate-id="c" />`, "")
			}
			_, err := sideCompile(t, tt.deps, doc)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

package server_test

import (
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
)

// TestCrossDomain serves /crossdomain.xml from the global cross-domain
// policies through the real server, ahead of an API at the root that would
// take every path, and only for GET and HEAD of that exact path.
func TestCrossDomain(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("X-Global", r.Header.Get("X-Global")) // the global policy's inbound set it
		io.WriteString(w, "backend "+r.Method+" "+r.URL.Path)
	}))
	t.Cleanup(backend.Close)
	root := fmt.Sprintf(`{"properties":{"path":"","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL)
	global := func(inbound string) string {
		return `<policies><inbound>` + inbound + `</inbound><backend><forward-request /></backend><outbound /><on-error /></policies>`
	}
	withPolicy := t.TempDir()
	writeFiles(t, withPolicy, map[string]string{
		"policy.xml": global(`<cross-domain>
			<cross-domain-policy>
				<allow-access-from domain="*.contoso.com" secure="true" />
			</cross-domain-policy>
		</cross-domain>
		<set-header name="X-Global" exists-action="override"><value>ran</value></set-header>
		<cross-domain><cross-domain-policy><allow-http-request-headers-from domain="{{partner}}" headers="SOAPAction" /></cross-domain-policy></cross-domain>`),
		"named values/partner/namedValueInformation.json": `{"properties":{"displayName":"partner","value":"partner.example"}}`,
		"apis/root/apiInformation.json":                   root,
	})
	without := t.TempDir()
	writeFiles(t, without, map[string]string{"policy.xml": global(`<set-header name="X-Global" exists-action="override"><value>ran</value></set-header>`), "apis/root/apiInformation.json": root})
	e := start(t, withPolicy, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	plain := start(t, without, t.TempDir(), newVerifyingBackend(t, "api://unused"))

	type policyFile struct {
		XMLName xml.Name `xml:"cross-domain-policy"`
		Access  []struct {
			Domain string `xml:"domain,attr"`
			Secure string `xml:"secure,attr"`
		} `xml:"allow-access-from"`
		Headers []struct {
			Domain  string `xml:"domain,attr"`
			Headers string `xml:"headers,attr"`
		} `xml:"allow-http-request-headers-from"`
	}
	t.Run("GET", func(t *testing.T) {
		resp, err := http.Get(e.srv.GatewayURL() + "/crossdomain.xml?cache=1")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/x-cross-domain-policy" {
			t.Fatalf("%d %q %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
		}
		var f policyFile
		if err := xml.Unmarshal(body, &f); err != nil {
			t.Fatalf("not a policy file: %v\n%s", err, body)
		}
		got := fmt.Sprint(f.Access, f.Headers)
		if want := "[{*.contoso.com true}] [{partner.example SOAPAction}]"; got != want {
			t.Errorf("rules %s, want %s", got, want)
		}
		if resp.Header.Get("X-Global") != "" {
			t.Error("the global pipeline ran for the policy file")
		}
	})
	tests := []struct {
		name, method, path string
		env                *env
		status             int
		body               string // "" for the policy file
	}{
		{"HEAD", "HEAD", "/crossdomain.xml", e, 200, ""},
		{"POST goes to the API", "POST", "/crossdomain.xml", e, 200, "backend POST /crossdomain.xml"},
		{"another case goes to the API", "GET", "/CrossDomain.xml", e, 200, "backend GET /CrossDomain.xml"},
		{"a longer path goes to the API", "GET", "/crossdomain.xml/x", e, 200, "backend GET /crossdomain.xml/x"},
		{"an encoded name is the same file", "GET", "/%63rossdomain.xml", e, 200, ""},
		{"without the policy the API answers", "GET", "/crossdomain.xml", plain, 200, "backend GET /crossdomain.xml"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, _ := http.NewRequest(tt.method, tt.env.srv.GatewayURL()+tt.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			file := resp.Header.Get("Content-Type") == "text/x-cross-domain-policy"
			if resp.StatusCode != tt.status || file != (tt.body == "") || tt.body != "" && string(body) != tt.body {
				t.Errorf("%s %s: %d %q %q, want %d %q", tt.method, tt.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tt.status, tt.body)
			}
			if tt.body != "" && resp.Header.Get("X-Global") != "ran" {
				t.Errorf("%s %s did not run the global policy", tt.method, tt.path)
			}
			if tt.method == "HEAD" && len(body) != 0 {
				t.Errorf("HEAD answered with a body: %q", body)
			}
		})
	}
}

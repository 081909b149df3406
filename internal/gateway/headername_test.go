package gateway_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/gateway"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// buildFolder builds a snapshot from a configuration folder's files.
func buildFolder(t *testing.T, files map[string]string) (*gateway.Snapshot, error) {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := statedir.Open(t.TempDir())
	return (&snapshot.Builder{ConfigDir: dir, State: st, Tokens: fakeTokens{}, Expr: goldenExpr}).Build(context.Background())
}

// TestHeaderNameLoadError: a header name written in a policy that is not an
// HTTP token stops the configuration from loading, at its file, line and
// column (it loaded, and the header was silently dropped). Requests with
// names that expressions give are in golden set-header-name.
func TestHeaderNameLoadError(t *testing.T) {
	for _, tt := range []struct{ policy, want string }{
		{`<set-header name="Bad Name" exists-action="override"><value>v</value></set-header>`,
			`apis/api/policy.xml:3:21: name of <set-header>: "Bad Name" is not a header name: a header name is a token of letters, digits and !#$%&'*+-.^_` + "`|~" + `, with no spaces or colons`},
		{`<set-header name="X:Y" exists-action="override"><value>v</value></set-header>`,
			`apis/api/policy.xml:3:21: name of <set-header>: "X:Y" is not a header name`},
		{`<cache-lookup vary-by-developer="false" vary-by-developer-groups="false"><vary-by-header>Accept;X Y</vary-by-header></cache-lookup>`,
			`apis/api/policy.xml:3:99: <vary-by-header>: "X Y" is not a header name`},
	} {
		_, err := buildFolder(t, map[string]string{
			"apis/api/apiInformation.json": `{"properties":{"path":"api","serviceUrl":"http://127.0.0.1:1","subscriptionRequired":false}}`,
			"apis/api/policy.xml":          "<policies>\n\t<inbound>\n\t\t" + tt.policy + "\n\t</inbound>\n</policies>",
		})
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s:\n got %v\nwant %s", tt.policy, err, tt.want)
		}
	}
}

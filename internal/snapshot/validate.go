package snapshot

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"os"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/proxy"
)

// Validate loads and compiles a configuration folder like Build, without a state
// directory, a token source or a backend: nothing is written or contacted. It
// returns every problem it finds.
func Validate(ctx context.Context, dir string, cfg *config.Config, expr pipeline.ExprCompiler, log *slog.Logger) error {
	b := &Builder{ConfigDir: dir, Config: cfg, Expr: expr, Logger: log, Tokens: noTokens{}, Transport: http.DefaultTransport}
	_, err := b.build(ctx, true)
	return err
}

// ValidateFile compiles one policy document or fragment (a fragment as
// checkFragment does, wherever it could be included). A single file comes without its configuration folder:
// each {{name}} stands for a placeholder value, and every literal backend-id it
// names is taken to exist. Nothing is contacted.
func ValidateFile(path string, expr pipeline.ExprCompiler) error {
	src, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	doc, err := policyxml.Parse(path, src)
	if err != nil {
		return err
	}
	if err := doc.SubstituteNamedValues(func(string) (string, bool) { return "named-value", true }); err != nil {
		return err
	}
	r := pipeline.NewRegistry()
	policies.Register(r, policies.Deps{
		Tokens:       noTokens{},
		Forwarder:    &proxy.Forwarder{Transport: http.DefaultTransport},
		SideRequests: http.DefaultTransport,
		Backends:     backendsNamedIn(doc.Root),
		Certificates: anyCertificates{},
	})
	if doc.Root != nil && doc.Root.Name == "fragment" {
		if errs := checkFragment(pipeline.NewCompiler(r, expr, map[string]*policyxml.Document{"f": doc}), "f"); len(errs) > 0 {
			return errs
		}
		return nil
	}
	_, err = pipeline.NewCompiler(r, expr, nil).Compile(doc, "api")
	return err
}

// backendsNamedIn accepts every literal backend-id (and embeddings-backend-id)
// under el.
func backendsNamedIn(el *policyxml.Element) map[string]policies.Backend {
	m := map[string]policies.Backend{}
	var walk func(*policyxml.Element)
	walk = func(e *policyxml.Element) {
		for _, name := range []string{"backend-id", "embeddings-backend-id"} {
			if a := e.Attr(name); a != nil && !a.Value.IsExpression() {
				m[a.Value.String()] = policies.Backend{URL: "https://backend.invalid"}
			}
		}
		for _, c := range e.Elements() {
			walk(c)
		}
	}
	if el != nil {
		walk(el)
	}
	return m
}

// anyCertificates takes every certificate a single file names to exist, as
// backendsNamedIn does backends: lastmile.yaml is not at hand.
type anyCertificates struct{}

var placeholderCertificate = &tls.Certificate{PrivateKey: struct{}{}}

func (anyCertificates) ByID(string) (*tls.Certificate, bool) { return placeholderCertificate, true }
func (anyCertificates) ByThumbprint(string) (*tls.Certificate, bool) {
	return placeholderCertificate, true
}

// noTokens stands in for the identity provider when only compiling.
type noTokens struct{}

func (noTokens) AccessToken(context.Context, string, string) (policies.AccessToken, error) {
	return policies.AccessToken{}, errors.New("validation only: no identity provider")
}

package snapshot

import (
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"slices"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/proxy"
	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// Validate loads and compiles a configuration folder like Build, without a state
// directory, a token source or a backend: nothing is written or contacted. It
// returns every problem it finds.
func Validate(ctx context.Context, dir string, cfg *config.Config, expr pipeline.ExprCompiler, log *slog.Logger) error {
	b := &Builder{ConfigDir: dir, Config: cfg, Expr: expr, Logger: log, Tokens: noTokens{}, Transport: http.DefaultTransport}
	_, err := b.build(ctx, true)
	return err
}

// Check is Validate for lastmile validate: a policy fragment that nothing
// includes and that does not compile is an error, as API Management refuses
// to create one, where serving only warns about it.
func Check(ctx context.Context, dir string, cfg *config.Config, expr pipeline.ExprCompiler, log *slog.Logger) error {
	b := &Builder{ConfigDir: dir, Config: cfg, Expr: expr, Logger: log, Tokens: noTokens{}, Transport: http.DefaultTransport, strictFragments: true}
	_, err := b.build(ctx, true)
	return err
}

// ValidateFile compiles one policy document or fragment (a fragment as
// checkFragment does, wherever it could be included). A single file comes
// without its configuration folder: each {{name}} in text or in a string
// literal of an expression stands for a placeholder text, and every literal
// backend-id it names is taken to exist. A value whose check needs a named
// value's own text (an expression that uses one as C# code, a number or a
// choice that is one) is not checked: a warning says so instead of an error
// about the placeholder. Nothing is contacted.
func ValidateFile(path string, expr pipeline.ExprCompiler) (warnings srcpos.ErrorList, err error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	doc, err := policyxml.Parse(path, src)
	if err != nil {
		return nil, err
	}
	var values []*unchecked
	err = doc.SubstituteNamedRefs(func(r policyxml.NamedRef) (string, bool) {
		if r.Use != policyxml.NamedInString {
			i := slices.IndexFunc(values, func(u *unchecked) bool { return u.from == r.From.Offset })
			if i < 0 {
				i = len(values)
				values = append(values, &unchecked{from: r.From.Offset, to: r.To.Offset, pos: r.Pos})
			}
			u := values[i]
			u.code = u.code || r.Use == policyxml.NamedInCode
			if ref := "{{" + r.Name + "}}"; !slices.Contains(u.names, ref) {
				u.names = append(u.names, ref)
			}
		}
		return "named-value", true
	})
	if err != nil {
		return nil, err
	}
	r := pipeline.NewRegistry()
	policies.Register(r, policies.Deps{
		Tokens:       noTokens{},
		Forwarder:    &proxy.Forwarder{Transport: http.DefaultTransport},
		SideRequests: http.DefaultTransport,
		Backends:     backendsNamedIn(doc.Root),
		Certificates: anyCertificates{},
	})
	var errs srcpos.ErrorList
	if doc.Root != nil && doc.Root.Name == "fragment" {
		errs = checkFragment(pipeline.NewCompiler(r, expr, map[string]*policyxml.Document{"f": doc}), "f")
	} else if _, err := pipeline.NewCompiler(r, expr, nil).Compile(doc, "api"); err != nil && !errors.As(err, &errs) {
		return nil, err
	}
	errs = slices.DeleteFunc(errs, func(e *srcpos.Error) bool {
		for _, u := range values {
			if e.File == path && u.from <= e.Pos.Offset && e.Pos.Offset < u.to {
				u.hid = true
				return true
			}
		}
		return false
	})
	for _, u := range values {
		switch {
		case u.code:
			warnings = append(warnings, doc.Errorf(u.pos, "this expression is not checked: it uses %s as C# code, and a single file has no named values; validate the configuration folder to check it", strings.Join(u.names, ", ")))
		case u.hid:
			warnings = append(warnings, doc.Errorf(u.pos, "this value is not checked: it holds %s, and a single file has no named values; validate the configuration folder to check it", strings.Join(u.names, ", ")))
		}
	}
	if len(errs) > 0 {
		return warnings, errs
	}
	return warnings, nil
}

// unchecked is an expression or value of a single policy file that holds
// named values which its check needs the text of.
type unchecked struct {
	from, to int           // its file offsets
	pos      policyxml.Pos // of its first {{name}}
	names    []string      // "{{name}}"
	code     bool          // a name stands for C# code: the expression is not checked
	hid      bool          // an error about the placeholder was left out
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

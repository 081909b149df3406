package apiops

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/corpustest"
)

// FuzzDecodeInfo feeds arbitrary bytes to the info-file decoder for each resource
// shape: it must never panic, and every error must name the file and, when the
// file is not empty, a position inside it.
func FuzzDecodeInfo(f *testing.F) {
	if dir, err := corpustest.Find("apiops/SampleArtifacts"); err == nil {
		_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
			if err == nil && strings.HasSuffix(p, ".json") {
				if src, err := os.ReadFile(p); err == nil {
					f.Add(src)
				}
			}
			return nil
		})
	}
	for _, s := range []string{
		"", "{}", "null", "[]", `{"properties": null}`, `{"properties": {"path": 5}}`,
		`{"properties": {"subscriptionKeyParameterNames": {"header": []}}}`,
		`{"properties": {"credentials": {"header": {"x": [1]}}}}`, "\uFEFF{", `{"properties": {}} x`,
		`{"PROPERTIES": {"scope": "/products/p"}}`, `{"properties": {"pool": {"services": [{"id": 1}]}}}`,
	} {
		f.Add([]byte(s))
	}
	shapes := []func() any{
		func() any { return new(apiProps) }, func() any { return new(productProps) },
		func() any { return new(subscriptionProps) }, func() any { return new(namedValueProps) },
		func() any { return new(backendProps) }, func() any { return new(versionSetProps) },
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		for _, shape := range shapes {
			info, err := decodeInfo("x.json", src, shape())
			if info == nil {
				t.Fatal("decodeInfo returned no infoFile")
			}
			if err == nil {
				// Positions of values that exist and do not exist must be inside the file.
				for _, path := range [][]string{{"properties", "scope"}, {"properties", "credentials", "header", "x"}, {"nope"}} {
					if off := locate(info.src, path); off < 0 || off > len(info.src) {
						t.Fatalf("locate(%q) = %d, outside the file of %d bytes", path, off, len(info.src))
					}
				}
				continue
			}
			if err.File != "x.json" || !strings.HasPrefix(err.Error(), "x.json:") {
				t.Fatalf("error does not name the file: %q", err.Error())
			}
			if len(strings.TrimSpace(string(info.src))) > 0 && err.Pos.Line < 1 {
				t.Fatalf("error without a position: %q", err.Error())
			}
		}
	})
}

// FuzzParseSpec feeds arbitrary specifications to the OpenAPI reader.
func FuzzParseSpec(f *testing.F) {
	f.Add([]byte(ordersSpec))
	f.Add([]byte(`{"swagger": "2.0", "info": {"title": "x", "version": "1"}, "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}}}`))
	f.Add([]byte("swagger: 2.0\npaths:\n  /a: &a\n    get: {operationId: x}\n  /b: *a\n"))
	f.Add([]byte("openapi: 3.0.0\nx-ms-paths:\n  /a?b={c}:\n    get: {operationId: q}\n"))
	f.Add([]byte("openapi: 3.0.0\npaths:\n  /a/{q}:\n    parameters: [{$ref: '#/components/parameters/q'}]\n    get: {operationId: q}\ncomponents: {parameters: {q: {name: q, in: query, required: true}}}\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		ops, _, errs := parseSpec(context.Background(), "spec.yaml", src, true)
		for _, e := range errs {
			if e.File != "spec.yaml" {
				t.Fatalf("error does not name the file: %q", e.Error())
			}
		}
		for _, o := range ops {
			if o.op.Name == "" || o.op.Method == "" || !strings.HasPrefix(o.op.URLTemplate, "/") {
				t.Fatalf("incomplete operation %+v", *o.op)
			}
		}
	})
}

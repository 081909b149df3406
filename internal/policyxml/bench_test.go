package policyxml

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/corpustest"
)

// benchFile is a typical policy: a few sections, validate-jwt, choose/when with
// raw-quoted expressions, a send-request and a C# block in set-body.
const benchFile = "policies/api-management-policy-snippets/examples/Get OAuth2 access token from AAD using client id and certificate using key vault manage identity.xml"

func BenchmarkParse(b *testing.B) {
	src, err := os.ReadFile(filepath.Join(corpustest.Dir(b), benchFile))
	if err != nil {
		b.Skipf("skipping: %v", err)
	}
	b.SetBytes(int64(len(src)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse("p.xml", src); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseCorpus parses every file of the corpus once per iteration.
func BenchmarkParseCorpus(b *testing.B) {
	corpus := corpustest.Dir(b)
	var srcs [][]byte
	var size int64
	for _, rel := range corpusFiles(b, corpus) {
		src, err := os.ReadFile(filepath.Join(corpus, rel))
		if err != nil {
			b.Fatal(err)
		}
		srcs = append(srcs, src)
		size += int64(len(src))
	}
	b.SetBytes(size)
	b.ReportAllocs()
	for b.Loop() {
		for _, src := range srcs {
			_, _ = Parse("p.xml", src)
		}
	}
}

func BenchmarkScanExpression(b *testing.B) {
	const s = `@{ var jwt = context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt(); return $"{jwt?.Subject ?? "none"}:{(jwt == null ? 0 : 1)}"; /* ) */ }`
	b.SetBytes(int64(len(s)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ScanExpression(s, 0); err != nil {
			b.Fatal(err)
		}
	}
}

package expr

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"golang.org/x/tools/txtar"
)

// fuzzSeeds returns the expressions of the eval tests and, when the shared
// corpus is present, of the corpus.
func fuzzSeeds(f *testing.F) []string {
	var seeds []string
	files, _ := filepath.Glob("testdata/eval/*.txtar")
	for _, file := range files {
		ar, err := txtar.ParseFile(file)
		if err != nil {
			f.Fatal(err)
		}
		for _, fl := range ar.Files {
			if strings.HasSuffix(fl.Name, ".expr") {
				seeds = append(seeds, strings.TrimSuffix(string(fl.Data), "\n"))
			}
		}
	}
	func() {
		defer func() { recover() }() // corpusExpressions skips without the corpus
		st := &skipTB{TB: f}
		exprs, _, _ := corpusExpressions(st)
		for _, e := range exprs {
			seeds = append(seeds, e.src)
		}
	}()
	return seeds
}

// skipTB turns Skipf into a panic so that a missing corpus does not skip the
// fuzz target.
type skipTB struct{ testing.TB }

func (s *skipTB) Skipf(format string, args ...any) { panic("skip") }

const fuzzMaxLen = 4096

func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > fuzzMaxLen {
			return
		}
		p, err := Compile(src)
		if err != nil {
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("Compile(%q) returned %T %v, want a non-empty ErrorList", src, err, err)
			}
			for _, e := range list {
				if strings.HasPrefix(e.Msg, "internal compiler error") {
					t.Fatalf("Compile(%q): %s", src, e.Msg)
				}
				if e.Pos.Offset < 0 || e.Pos.Offset > len(src) {
					t.Fatalf("Compile(%q): error offset %d outside the source", src, e.Pos.Offset)
				}
				if !utf8.ValidString(e.Msg) && utf8.ValidString(src) {
					t.Fatalf("Compile(%q): invalid UTF-8 in message %q", src, e.Msg)
				}
			}
			return
		}
		if p.ResultType() == "" {
			t.Fatalf("Compile(%q): empty result type", src)
		}
	})
}

func FuzzEval(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	// decimal at the edges of its range: rounding to 96 bits, to 28 decimals
	f.Add(`@(decimal.Parse("79228162514264337593543950334.5") + 0.5m - 0.0000000000000000000000000001m * 3)`)
	f.Add(`@{ var d = decimal.Parse(" -1,234.567890123456789012345678901 "); return (d * d / 7m % 0.3m).ToString("N5") + Math.Round(d, 27) + (long)(d / 3); }`)
	fx := fixture(f, "")
	_ = fx
	limits := WithLimits(Limits{Steps: 20000, Alloc: 4 << 20, Recursion: 16})
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > fuzzMaxLen {
			return
		}
		p, err := Compile(src, limits)
		if err != nil {
			return
		}
		for _, eval := range []func() error{
			func() error { _, err := p.Eval(fixture(t, "")); return err },
			func() error { _, err := p.EvalString(fixture(t, "")); return err },
		} {
			err := eval()
			if err == nil {
				continue
			}
			var re *RuntimeError
			if !errors.As(err, &re) {
				t.Fatalf("%q: error %T %v, want *RuntimeError", src, err, err)
			}
			if strings.Contains(re.Msg, "internal error") {
				t.Fatalf("%q: %s", src, re.Msg)
			}
		}
	})
}

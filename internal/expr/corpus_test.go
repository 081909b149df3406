package expr

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// repoRoot walks up from the test's directory to the directory with go.mod.
func repoRoot(t testing.TB) string {
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("go.mod not found above the test directory")
		}
		dir = parent
	}
}

// corpusDirs are the policy documents the coverage test reads.
var corpusDirs = []string{"policies", "apiops/SampleArtifacts"}

// corpusExpr is one policy expression found in the corpus.
type corpusExpr struct {
	file string // relative to the corpus
	pos  policyxml.Pos
	src  string
}

// nvMarker stands in for a named value during extraction; markers in code
// position become the number 1 (every corpus named value used in code is a
// number: a percentage, a key index, a count), markers inside string literals
// stay text.
var nvMarker = regexp.MustCompile(`^__nv_[A-Za-z0-9_]+__$`)

// nvIdent matches the characters of a named value's name that cannot be in an
// identifier.
var nvIdent = regexp.MustCompile(`[^A-Za-z0-9_]`)

// corpusExpressions parses every policy document and returns its expressions and
// the documents that do not parse.
func corpusExpressions(t testing.TB) (exprs []corpusExpr, broken map[string]string, files int) {
	root := filepath.Join(repoRoot(t), "..", "shared", "corpus")
	if _, err := os.Stat(root); err != nil {
		t.Skipf("corpus not found at %s (../shared/corpus from the repository root): skipping the corpus coverage test", root)
	}
	broken = map[string]string{}
	for _, d := range corpusDirs {
		err := filepath.WalkDir(filepath.Join(root, d), func(path string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() || !strings.HasSuffix(path, ".xml") {
				return err
			}
			rel, _ := filepath.Rel(root, path)
			src, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			files++
			doc, err := policyxml.Parse(rel, src)
			if err != nil {
				broken[rel] = firstLine(err.Error())
				return nil
			}
			if doc.Root == nil {
				return nil
			}
			_ = doc.SubstituteNamedValues(func(name string) (string, bool) {
				return "__nv_" + nvIdent.ReplaceAllString(name, "_") + "__", true
			})
			var walk func(*policyxml.Element)
			add := func(v policyxml.Value) {
				start, end, ok := v.ExpressionRange()
				if !ok {
					return
				}
				exprs = append(exprs, corpusExpr{file: rel, pos: v.PosAt(start), src: numbersForCodeMarkers(v.String()[start:end])})
			}
			walk = func(el *policyxml.Element) {
				for _, a := range el.Attrs {
					add(a.Value)
				}
				for _, ch := range el.Children {
					switch c := ch.(type) {
					case *policyxml.Element:
						walk(c)
					case *policyxml.Text:
						add(c.Value)
					}
				}
			}
			walk(doc.Root)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	return exprs, broken, files
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// numbersForCodeMarkers replaces named-value markers that the lexer sees as
// identifiers (code position) by 1.
func numbersForCodeMarkers(src string) string {
	if !strings.Contains(src, "__nv_") {
		return src
	}
	type span struct{ pos, end int }
	var code []span
	var scan func(start, end int)
	scan = func(start, end int) {
		lx := lex(src, start, end)
		for _, tk := range lx.toks {
			switch tk.kind {
			case tokIdent:
				if nvMarker.MatchString(tk.val) {
					code = append(code, span{tk.pos, tk.end})
				}
			case tokInterp:
				for _, p := range lx.interp[tk.pos] {
					if p.hole {
						scan(p.exprPos, p.exprEnd)
					}
				}
			}
		}
	}
	scan(2, len(src)-1)
	sort.Slice(code, func(i, j int) bool { return code[i].pos > code[j].pos })
	for _, s := range code {
		src = src[:s.pos] + "1" + src[s.end:]
	}
	return src
}

// upstreamMistakes are the expressions in the corpus that are wrong as written:
// API Management rejects them too. The file and a part of the error message
// identify each; anything else that fails to compile fails the test.
var upstreamMistakes = []struct{ file, msg, why string }{
	{"Loopback request for service at same API Management service.xml", `expected ")", found string literal`,
		`"Ocp-Apim-Subscription-Key="""`},
	{"Pre-authorize requests based on HTTP method with validate-jwt.policy.xml", `found string literal`,
		`"patch=""" and "post=""": stray quotes from a conversion tool`},
	{"DELETE a from to blobStorage account.xml", "MatchedParameters is a property of IRequest, not a method",
		`MatchedParameters("blobContainer") calls a dictionary`},
	{"GET a file from blobStorage account.xml", "MatchedParameters is a property of IRequest, not a method",
		`MatchedParameters("blobContainer") calls a dictionary`},
	{"PUT a file to blobStorage account.xml", "MatchedParameters is a property of IRequest, not a method",
		`MatchedParameters("blobContainer") calls a dictionary`},
	{"Return a blob URL signed with a user delegation SAS token.xml", "argument 1 of AddSeconds: cannot convert from string to double",
		`DateTime.AddSeconds((string)...): C# has no implicit string to double conversion`},
}

// brokenDocuments are the two documents that are not even XML after the
// expression pre-scan (see the corpus README).
var brokenDocuments = []string{
	"Call out to an HTTP endpoint and cache the response.policy.xml",
	"Filter response content based on product name.policy.xml",
}

func TestCorpusCoverage(t *testing.T) {
	exprs, broken, files := corpusExpressions(t)
	for file, msg := range broken {
		known := false
		for _, b := range brokenDocuments {
			if strings.HasSuffix(file, b) {
				known = true
			}
		}
		if !known {
			t.Errorf("document does not parse: %s", msg)
		}
		if !regexp.MustCompile(`:\d+:\d+: `).MatchString(msg) {
			t.Errorf("error for %s has no line:col position: %s", file, msg)
		}
	}
	if len(broken) != len(brokenDocuments) {
		t.Errorf("%d documents do not parse, want %d (the two broken upstream)", len(broken), len(brokenDocuments))
	}
	compiled := 0
	reasons := map[string]int{}
	var failures []string
	for _, e := range exprs {
		_, err := Compile(e.src)
		if err == nil {
			compiled++
			continue
		}
		var list ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("%s:%s: Compile returned %T, want ErrorList", e.file, e.pos, err)
		}
		msg := list[0].Msg
		known := false
		for _, m := range upstreamMistakes {
			if strings.HasSuffix(e.file, m.file) && strings.Contains(msg, m.msg) {
				known = true
				reasons["upstream mistake: "+m.why]++
			}
		}
		if strings.HasPrefix(msg, "internal compiler error") {
			known = false
		}
		line, col := lineCol(e.src, list[0].Pos.Offset)
		where := fmt.Sprintf("%s:%s (expression %d:%d)", e.file, e.pos, line, col)
		failures = append(failures, where+": "+msg)
		if !known {
			reasons["unexpected: "+msg]++
			t.Errorf("%s: %s\n%s", where, msg, list.Format("", e.src))
		}
	}
	t.Logf("corpus coverage: %d documents, %d do not parse (broken upstream)", files, len(broken))
	t.Logf("%-10s %6d", "found", len(exprs))
	t.Logf("%-10s %6d (%.1f%%)", "compiled", compiled, 100*float64(compiled)/float64(max(len(exprs), 1)))
	t.Logf("%-10s %6d", "failed", len(exprs)-compiled)
	var keys []string
	for k := range reasons {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		t.Logf("  %4d  %s", reasons[k], k)
	}
	for _, f := range failures {
		t.Logf("    %s", f)
	}
	if len(exprs) < 400 {
		t.Errorf("found only %d expressions; the corpus has more than 400", len(exprs))
	}
	if compiled < minCompiledExprs {
		t.Errorf("%d corpus expressions compile, fewer than the %d that did (minCompiledExprs): a change lost coverage; go test -v -run TestCorpusCoverage lists them", compiled, minCompiledExprs)
	}
}

// minCompiledExprs is how many corpus expressions compile today (481 of 489).
// TestCorpusCoverage fails when fewer do: raise it when the language covers
// more of them.
const minCompiledExprs = 481

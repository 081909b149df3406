package policyxml

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/corpustest"
)

// corpusFiles lists every *.xml under policies/ and every policy.xml under
// apiops/SampleArtifacts/, relative to the corpus directory.
func corpusFiles(tb testing.TB, corpus string) []string {
	tb.Helper()
	var files []string
	add := func(root string, match func(name string) bool) {
		err := filepath.WalkDir(filepath.Join(corpus, root), func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && match(d.Name()) {
				rel, err := filepath.Rel(corpus, path)
				if err != nil {
					return err
				}
				files = append(files, rel)
			}
			return nil
		})
		if err != nil {
			tb.Fatalf("listing the corpus: %v", err)
		}
	}
	add("policies", func(name string) bool { return strings.HasSuffix(name, ".xml") })
	add(filepath.Join("apiops", "SampleArtifacts"), func(name string) bool { return name == "policy.xml" })
	slices.Sort(files)
	return files
}

// brokenUpstream are the corpus files that are broken as published, with where
// and why they must fail.
var brokenUpstream = map[string]struct {
	pos     string
	msg     string
	srcLine string // the line the error points into
}{
	// Formatter damage: `["latlong=""` then a string that runs into the line break.
	"Call out to an HTTP endpoint and cache the response.policy.xml": {
		pos:     "41:73",
		msg:     `string literal in expression is not closed before the end of the line: C# "..." strings cannot span lines (the expression starts at 40:28)`,
		srcLine: `context.Variables["latlong=""`,
	},
	// The first comment is never closed before the second opens.
	"Filter response content based on product name.policy.xml": {
		pos:     "2:1",
		msg:     `"<!--" inside the comment opened at 1:1: comments cannot nest; close the first comment with "-->"`,
		srcLine: `<!-- The snippet assumes that response content`,
	},
}

// minParsed is how many corpus files parse today (140 of 142: all but the two
// broken upstream). TestCorpus fails when fewer do: raise it when the corpus
// grows.
const minParsed = 140

func TestCorpus(t *testing.T) {
	corpus := corpustest.Dir(t)
	files := corpusFiles(t, corpus)
	if len(files) < 100 {
		t.Fatalf("found only %d corpus files under %s", len(files), corpus)
	}
	var parsed, failed int
	var failedNames []string
	for _, rel := range files {
		src, err := os.ReadFile(filepath.Join(corpus, rel))
		if err != nil {
			t.Fatal(err)
		}
		base := filepath.Base(rel)
		doc, err := Parse(rel, src)
		if err != nil {
			failed++
			failedNames = append(failedNames, base)
			var e *Error
			if !errors.As(err, &e) {
				t.Errorf("%s: error %T is not an *Error: %v", rel, err, err)
				continue
			}
			t.Logf("FAIL %s\n%s", err, e.Snippet(src))
			want, ok := brokenUpstream[base]
			if !ok {
				t.Errorf("%s: unexpected error: %v", rel, err)
				continue
			}
			if e.Pos.String() != want.pos || e.Msg != want.msg {
				t.Errorf("%s: error\n got: %s: %s\nwant: %s: %s", rel, e.Pos, e.Msg, want.pos, want.msg)
			}
			if !strings.Contains(e.Snippet(src), want.srcLine) {
				t.Errorf("%s: the error does not point into the damaged line %q:\n%s", rel, want.srcLine, e.Snippet(src))
			}
			continue
		}
		parsed++
		stats := checkDocument(t, doc)
		t.Logf("ok   %-110s <%s> %3d elements %3d expressions", rel, doc.Root.Name, stats.elements, stats.expressions)
		if name := doc.Root.Name; name != "policies" && name != "fragment" {
			t.Errorf("%s: root element is <%s>, want <policies> or <fragment>", rel, name)
		}
	}
	t.Logf("%d files: %d parsed, %d failed", len(files), parsed, failed)
	if parsed < minParsed {
		t.Errorf("%d corpus files parse, fewer than the %d that did (minParsed): a change lost coverage; go test -v -run 'TestCorpus$' lists them", parsed, minParsed)
	}
	slices.Sort(failedNames)
	var wantFailed []string
	for name := range brokenUpstream {
		wantFailed = append(wantFailed, name)
	}
	slices.Sort(wantFailed)
	if !slices.Equal(failedNames, wantFailed) {
		t.Errorf("failed files = %q, want exactly %q", failedNames, wantFailed)
	}
}

type docStats struct{ elements, expressions int }

// checkDocument checks the positions of every element and value of a parsed
// document, and that every value that contains "@(" or "@{" is one whole
// expression, as all of them in the corpus are.
func checkDocument(t *testing.T, doc *Document) docStats {
	t.Helper()
	checkPositions(t, doc)
	var st docStats
	var walk func(*Element)
	walk = func(el *Element) {
		st.elements++
		check := func(what string, v Value) {
			checkValueMap(t, doc, what, v)
			if strings.Contains(v.Text, "@(") || strings.Contains(v.Text, "@{") {
				if !v.IsExpression() {
					t.Errorf("%s:%s: %s %q is not one whole expression", doc.File, v.Pos(), what, shorten(v.Text, 60))
				}
				st.expressions++
			}
		}
		for _, a := range el.Attrs {
			check(fmt.Sprintf("<%s %s>", el.Name, a.Name), a.Value)
		}
		if len(el.Elements()) == 0 {
			check(fmt.Sprintf("<%s> text", el.Name), el.Text())
		}
		for _, c := range el.Elements() {
			walk(c)
		}
	}
	walk(doc.Root)
	return st
}

// checkValueMap checks PosAt for every byte of a value: a byte taken from the file
// maps to the same byte, a decoded one to the '&' of its reference or the '\r' of a
// line ending, a substituted one to the "{{" of its name; and positions never go
// backwards.
func checkValueMap(t testing.TB, doc *Document, what string, v Value) {
	t.Helper()
	last := -1
	for i := 0; i < len(v.Text); i++ {
		p := v.PosAt(i)
		if p != doc.Position(p.Offset) {
			t.Errorf("%s: %s: PosAt(%d) = %+v is not Position(%d)", doc.File, what, i, p, p.Offset)
			return
		}
		if p.Offset < last {
			t.Errorf("%s: %s: PosAt(%d) = %v goes back from offset %d", doc.File, what, i, p, last)
			return
		}
		last = p.Offset
		got, want := doc.Src[p.Offset], v.Text[i]
		switch {
		case got == want:
		case got == '&':
		case got == '\r' && want == '\n':
		case got == '{' && v.inNamed(i):
		default:
			t.Errorf("%s: %s: byte %d of %q is %q, but PosAt(%d) = %v holds %q", doc.File, what, i, shorten(v.Text, 40), want, i, p, got)
			return
		}
	}
}

// TestCorpusExpressions checks that known expressions from known files come out of
// the tree exactly as C# source, whether the file writes them raw or escaped.
func TestCorpusExpressions(t *testing.T) {
	corpus := corpustest.Dir(t)
	tests := []struct {
		file  string
		path  []string // element names from the root, then "@attr" or "" for text
		index int      // which match, in document order
		want  string
	}{
		{
			file: "policies/api-management-policy-snippets/examples/Backend for Frontend or curated API policy.xml",
			path: []string{"inbound", "return-response", "set-status", "@code"},
			want: `@((int)((JObject)context.Variables["finalResponseData"]).SelectToken("status"))`,
		},
		{
			file: "policies/api-management-policy-snippets/examples/Backend for Frontend or curated API policy.xml",
			path: []string{"inbound", "return-response", "set-body", ""},
			want: `@(((JObject)context.Variables["finalResponseData"]).SelectToken("body").ToString(Newtonsoft.Json.Formatting.None))`,
		},
		{
			file: "policies/api-management-policy-snippets/examples/Pre-authorize requests based on HTTP method with validate-jwt.policy.xml",
			path: []string{"inbound", "choose", "when", "@condition"},
			want: `@(context.Request.Method.Equals("patch=""",StringComparison.OrdinalIgnoreCase))`,
		},
		{
			file: "policies/api-management-policy-snippets/examples/Random load balancer simpler.policy.xml",
			path: []string{"inbound", "choose", "when", "@condition"},
			want: `@(new System.Random().Next(1,100) <= {{MyTrafficSplitApp_TrafficSplitWeight}})`,
		},
		{
			file: "policies/azure-api-management-policy-toolkit/test/Test.Decompiling/TestData/invoke-darp-binding.xml",
			path: []string{"inbound", "invoke-darp-binding", "data", ""},
			want: `@(context.Request.Body.As<string>())`,
		},
	}
	for _, tt := range tests {
		t.Run(filepath.Base(tt.file), func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(corpus, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			doc, err := Parse(tt.file, src)
			if err != nil {
				t.Fatal(err)
			}
			v, ok := find(doc.Root, tt.path)
			if !ok {
				t.Fatalf("no %v in %s", tt.path, tt.file)
			}
			if v.Text != tt.want {
				t.Errorf("%v\n got: %s\nwant: %s", tt.path, v.Text, tt.want)
			}
			if !v.IsExpression() {
				t.Errorf("%q is not an expression", v.Text)
			}
		})
	}
}

// find follows element names from el to an attribute ("@name") or the text ("").
func find(el *Element, path []string) (Value, bool) {
	for _, name := range path[:len(path)-1] {
		var next *Element
		for _, c := range el.Elements() {
			if c.Name == name {
				next = c
				break
			}
		}
		if next == nil {
			return Value{}, false
		}
		el = next
	}
	last := path[len(path)-1]
	if last == "" {
		return el.Text(), true
	}
	a := el.Attr(strings.TrimPrefix(last, "@"))
	if a == nil {
		return Value{}, false
	}
	return a.Value, true
}

// TestCorpusNamedValues substitutes the APIOps sample's named values, read from
// its named values/<name>/namedValueInformation.json files, into its policies.
func TestCorpusNamedValues(t *testing.T) {
	corpus := corpustest.Dir(t)
	root := filepath.Join(corpus, "apiops", "SampleArtifacts")
	infos, err := filepath.Glob(filepath.Join(root, "named values", "*", "namedValueInformation.json"))
	if err != nil || len(infos) == 0 {
		t.Skipf("skipping: no named values in %s (%v)", root, err)
	}
	named := map[string]string{}
	for _, path := range infos {
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		var info struct {
			Properties struct {
				DisplayName string  `json:"displayName"`
				Value       *string `json:"value"`
			} `json:"properties"`
		}
		if err := json.Unmarshal(data, &info); err != nil {
			t.Fatalf("%s: %v", path, err)
		}
		if info.Properties.Value != nil {
			named[info.Properties.DisplayName] = *info.Properties.Value
		}
	}
	substituted := 0
	for _, rel := range corpusFiles(t, corpus) {
		if !strings.HasPrefix(rel, filepath.Join("apiops", "SampleArtifacts")) {
			continue
		}
		src, err := os.ReadFile(filepath.Join(corpus, rel))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := Parse(rel, src)
		if err != nil {
			t.Errorf("%v", err)
			continue
		}
		if err := doc.SubstituteNamedValues(lookupIn(named)); err != nil {
			t.Errorf("%s: %v", rel, err)
			continue
		}
		var walk func(*Element)
		walk = func(el *Element) {
			check := func(v Value) {
				checkValueMap(t, doc, el.Name, v)
				if strings.Contains(v.Text, "{{") {
					t.Errorf("%s:%s: %q still has a named value", rel, v.Pos(), v.Text)
				}
				if r := v.Redacted(); r != v.Text {
					substituted++
					for name, val := range named {
						if val != "" && strings.Contains(r, val) && !strings.Contains(string(src), val) {
							t.Errorf("%s:%s: Redacted() = %q shows the value of %s", rel, v.Pos(), r, name)
						}
					}
				}
			}
			for _, a := range el.Attrs {
				check(a.Value)
			}
			for _, c := range el.Children {
				switch c := c.(type) {
				case *Element:
					walk(c)
				case *Text:
					check(c.Value)
				}
			}
		}
		walk(doc.Root)
	}
	if substituted == 0 {
		t.Errorf("no named value was substituted in the APIOps sample")
	}
	t.Logf("%d values with named values substituted, from %d named values", substituted, len(named))
}

// TestCorpusUndefinedNamedValues checks that every error for an undefined named
// value points at its "{{".
func TestCorpusUndefinedNamedValues(t *testing.T) {
	corpus := corpustest.Dir(t)
	total := 0
	for _, rel := range corpusFiles(t, corpus) {
		src, err := os.ReadFile(filepath.Join(corpus, rel))
		if err != nil {
			t.Fatal(err)
		}
		doc, err := Parse(rel, src)
		if err != nil {
			continue // TestCorpus checks these
		}
		err = doc.SubstituteNamedValues(func(string) (string, bool) { return "", false })
		if err == nil {
			continue
		}
		var list ErrorList
		if !errors.As(err, &list) {
			t.Fatalf("%s: error %T is not an ErrorList", rel, err)
		}
		for _, e := range list {
			total++
			name := strings.TrimPrefix(e.Msg[:strings.Index(e.Msg, " is not defined")], "named value ")
			want := "{{" + strings.Trim(name, `"`) + "}}"
			if !bytes.HasPrefix(src[e.Pos.Offset:], []byte(want)) {
				t.Errorf("%s: error %v does not point at %s", rel, e, want)
			}
		}
	}
	if total == 0 {
		t.Errorf("no undefined named values reported in the whole corpus")
	}
	t.Logf("%d undefined named values reported", total)
}

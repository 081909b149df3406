package main

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestReport feeds a recorded `go test -json` stream with a pass, a failure in
// a subtest, a skip with a reason, a build failure and a line that is not
// JSON.
func TestReport(t *testing.T) {
	in := strings.Join([]string{
		`{"Action":"start","Package":"example/a"}`,
		`{"Action":"run","Package":"example/a","Test":"TestOK"}`,
		`{"Action":"output","Package":"example/a","Test":"TestOK","Output":"=== RUN   TestOK\n"}`,
		`{"Action":"output","Package":"example/a","Test":"TestOK","Output":"    a_test.go:9: passing chatter\n"}`,
		`{"Action":"pass","Package":"example/a","Test":"TestOK"}`,
		`{"Action":"run","Package":"example/a","Test":"TestCorpus"}`,
		`{"Action":"output","Package":"example/a","Test":"TestCorpus","Output":"=== RUN   TestCorpus\n"}`,
		`{"Action":"output","Package":"example/a","Test":"TestCorpus","Output":"    corpus_test.go:37: skipping: the shared corpus ../shared/corpus is not here\n"}`,
		`{"Action":"output","Package":"example/a","Test":"TestCorpus","Output":"--- SKIP: TestCorpus (0.00s)\n"}`,
		`{"Action":"skip","Package":"example/a","Test":"TestCorpus"}`,
		`{"Action":"run","Package":"example/a","Test":"TestBad/case"}`,
		`{"Action":"output","Package":"example/a","Test":"TestBad/case","Output":"    a_test.go:20: got 1, want 2\n"}`,
		`{"Action":"output","Package":"example/a","Test":"TestBad/case","Output":"    --- FAIL: TestBad/case (0.00s)\n"}`,
		`{"Action":"fail","Package":"example/a","Test":"TestBad/case"}`,
		`{"Action":"fail","Package":"example/a","Test":"TestBad"}`,
		`{"Action":"output","Package":"example/a","Output":"FAIL\n"}`,
		`{"Action":"output","Package":"example/a","Output":"FAIL\texample/a\t0.01s\n"}`,
		`{"Action":"fail","Package":"example/a"}`,
		`{"ImportPath":"example/b","Action":"build-output","Output":"b.go:3:1: syntax error\n"}`,
		`{"ImportPath":"example/b","Action":"build-fail"}`,
		`go: downloading something`,
		`{"Action":"output","Package":"example/c","Output":"ok  \texample/c\t0.02s\n"}`,
		`{"Action":"pass","Package":"example/c"}`,
	}, "\n") + "\n"
	var out strings.Builder
	failed := report(strings.NewReader(in), &out)
	want := `FAIL	example/a	0.01s
go: downloading something
ok  	example/c	0.02s

== build failures (1)
--- example/b
b.go:3:1: syntax error

== failed tests (2), with their full output
--- example/a TestBad/case
    a_test.go:20: got 1, want 2
    --- FAIL: TestBad/case (0.00s)
--- example/a TestBad

== summary: 1 packages ok, 1 failed; 1 tests passed, 2 failed, 1 skipped

== skipped tests (1)
example/a TestCorpus: corpus_test.go:37: skipping: the shared corpus ../shared/corpus is not here
`
	if diff := cmp.Diff(want, out.String()); diff != "" {
		t.Errorf("report (-want +got):\n%s", diff)
	}
	if !failed {
		t.Error("a stream with failures was reported as a success")
	}
}

func TestReportAllPassed(t *testing.T) {
	in := `{"Action":"run","Package":"p","Test":"TestA"}
{"Action":"pass","Package":"p","Test":"TestA"}
{"Action":"output","Package":"p","Output":"ok  \tp\t0.01s\n"}
{"Action":"pass","Package":"p"}
`
	var out strings.Builder
	if report(strings.NewReader(in), &out) {
		t.Errorf("a passing stream was reported as a failure:\n%s", out.String())
	}
	if !strings.Contains(out.String(), "1 packages ok, 0 failed; 1 tests passed, 0 failed, 0 skipped") {
		t.Errorf("summary:\n%s", out.String())
	}
}

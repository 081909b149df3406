// Command testreport reads `go test -json` on standard input and writes what a
// person wants from a test run: each package's result as it finishes, then the
// full output of every failed test, a summary, and every skipped test with the
// reason it gave. scripts/test.sh pipes the whole suite through it.
//
// It exits 1 if any test or build failed (and 0 otherwise), so a pipeline with
// `set -o pipefail` keeps go test's status even if go test's own is lost.
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

func main() {
	if report(os.Stdin, os.Stdout) {
		os.Exit(1)
	}
}

// event is one line of `go test -json` (a test2json TestEvent, or a build
// event, which has ImportPath instead of Package).
type event struct {
	Action     string
	Package    string
	ImportPath string
	Test       string
	Output     string
}

type key struct{ pkg, test string }

type run struct {
	output       map[key]*strings.Builder // of tests still running or failed
	failed       []key                    // tests, in the order they failed
	skipped      []skip
	builds       map[string]*strings.Builder // build output by import path
	failedBuilds []string

	passed, failedTests, packagesOK, packagesFailed int
}

type skip struct {
	key
	reason string
}

// report copies the stream to out as it goes and summarises it at the end. It
// reports whether anything failed.
func report(in io.Reader, out io.Writer) bool {
	r := &run{output: map[key]*strings.Builder{}, builds: map[string]*strings.Builder{}}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		line := sc.Bytes()
		var e event
		if len(line) == 0 || line[0] != '{' || json.Unmarshal(line, &e) != nil {
			fmt.Fprintf(out, "%s\n", line) // not an event: pass it on as it is
			continue
		}
		r.add(e, out)
	}
	if err := sc.Err(); err != nil {
		fmt.Fprintf(out, "testreport: reading the test output: %v\n", err)
		r.failedBuilds = append(r.failedBuilds, "(the test output could not be read)")
	}
	r.summary(out)
	return len(r.failed) > 0 || r.packagesFailed > 0 || len(r.failedBuilds) > 0
}

func (r *run) add(e event, out io.Writer) {
	switch e.Action {
	case "build-output":
		b := r.builds[e.ImportPath]
		if b == nil {
			b = &strings.Builder{}
			r.builds[e.ImportPath] = b
		}
		b.WriteString(e.Output)
		return
	case "build-fail":
		r.failedBuilds = append(r.failedBuilds, e.ImportPath)
		return
	}
	if e.Test == "" {
		switch e.Action {
		case "output":
			if e.Output != "PASS\n" && e.Output != "FAIL\n" {
				io.WriteString(out, e.Output) // ok/FAIL lines, [no test files], stray output
			}
		case "pass":
			r.packagesOK++
		case "fail":
			r.packagesFailed++
		}
		return
	}
	k := key{e.Package, e.Test}
	switch e.Action {
	case "output":
		b := r.output[k]
		if b == nil {
			b = &strings.Builder{}
			r.output[k] = b
		}
		b.WriteString(e.Output)
	case "pass":
		r.passed++
		delete(r.output, k)
	case "skip":
		r.skipped = append(r.skipped, skip{k, skipReason(r.output[k])})
		delete(r.output, k)
	case "fail":
		r.failedTests++
		r.failed = append(r.failed, k)
	}
}

// skipReason is what a skipped test printed, without the framing lines.
func skipReason(b *strings.Builder) string {
	if b == nil {
		return "(no reason given)"
	}
	var lines []string
	for _, l := range strings.Split(b.String(), "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "=== ") || strings.HasPrefix(t, "--- SKIP") {
			continue
		}
		lines = append(lines, t)
	}
	if len(lines) == 0 {
		return "(no reason given)"
	}
	return strings.Join(lines, " / ")
}

func (r *run) summary(out io.Writer) {
	if len(r.failedBuilds) > 0 {
		fmt.Fprintf(out, "\n== build failures (%d)\n", len(r.failedBuilds))
		for _, p := range r.failedBuilds {
			fmt.Fprintf(out, "--- %s\n", p)
			if b := r.builds[p]; b != nil {
				io.WriteString(out, b.String())
			}
		}
	}
	if len(r.failed) > 0 {
		fmt.Fprintf(out, "\n== failed tests (%d), with their full output\n", len(r.failed))
		for _, k := range r.failed {
			fmt.Fprintf(out, "--- %s %s\n", k.pkg, k.test)
			if b := r.output[k]; b != nil {
				io.WriteString(out, b.String())
			}
		}
	}
	fmt.Fprintf(out, "\n== summary: %d packages ok, %d failed; %d tests passed, %d failed, %d skipped\n",
		r.packagesOK, r.packagesFailed, r.passed, r.failedTests, len(r.skipped))
	if len(r.skipped) > 0 {
		slices.SortFunc(r.skipped, func(a, b skip) int {
			return strings.Compare(a.pkg+" "+a.test, b.pkg+" "+b.test)
		})
		fmt.Fprintf(out, "\n== skipped tests (%d)\n", len(r.skipped))
		for _, s := range r.skipped {
			fmt.Fprintf(out, "%s %s: %s\n", s.pkg, s.test, s.reason)
		}
	}
}

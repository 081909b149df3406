// Package corpustest finds the shared corpus of real-world documents (policy
// documents, the APIOps sample, Wycheproof vectors) for tests. The corpus lives
// beside the repository, at ../shared/corpus from the folder holding go.mod,
// and is never copied into it; tests that need it skip when it is absent.
package corpustest

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// Find returns the corpus folder joined with elem (slash-separated parts), or
// an error saying where it looked when that is not there.
func Find(elem ...string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory, so the shared corpus cannot be found")
		}
		dir = parent
	}
	p := filepath.Join(dir, "..", "shared", "corpus")
	for _, e := range elem {
		p = filepath.Join(p, filepath.FromSlash(e))
	}
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("%s is not here (it comes with the shared corpus, ../shared/corpus from the repository root)", p)
	}
	return p, nil
}

// Dir is Find for a test: it skips tb when the corpus, or elem in it, is absent.
func Dir(tb testing.TB, elem ...string) string {
	tb.Helper()
	p, err := Find(elem...)
	if err != nil {
		tb.Skipf("skipping: %v", err)
	}
	return p
}

package idp

import (
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// corpusDir finds ../shared/corpus from the repository root (the directory
// with go.mod).
func corpusDir(t *testing.T) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, "..", "shared", "corpus")
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("no go.mod above the test directory")
		}
		dir = parent
	}
}

type wycheproofFile struct {
	NumberOfTests int `json:"numberOfTests"`
	TestGroups    []struct {
		Comment string          `json:"comment"`
		Public  json.RawMessage `json:"public"`
		Private json.RawMessage `json:"private"`
		Tests   []struct {
			TcID    int    `json:"tcId"`
			Comment string `json:"comment"`
			JWS     string `json:"jws"`
			Result  string `json:"result"`
		} `json:"tests"`
	} `json:"testGroups"`
}

// publicJWK is the group's public key, or its private key without the private
// members (HMAC keys have nothing left, and are refused like any shared secret).
func publicJWK(public, private json.RawMessage) []byte {
	if len(public) > 0 {
		return public
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(private, &m) != nil {
		return private
	}
	for _, k := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		delete(m, k)
	}
	b, _ := json.Marshal(m)
	return b
}

// TestWycheproofJWS runs every Wycheproof JSON Web Signature vector through the
// client assertion validator's JWS layer, with the group's key registered as the
// client's key: every invalid vector must be rejected, and every valid vector
// whose algorithm and key lastmile supports must be accepted.
func TestWycheproofJWS(t *testing.T) {
	dir := filepath.Join(corpusDir(t), "jose")
	files, _ := filepath.Glob(filepath.Join(dir, "*json_web_signature*"))
	if len(files) == 0 {
		t.Skipf("no Wycheproof JWS vectors in %s (the shared corpus is absent); skipped the JWS validator corpus test", dir)
	}
	var total, invalidRejected, validAccepted, validRefused int
	refusedWhy := map[string]int{}
	for _, file := range files {
		data, err := os.ReadFile(file)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		var wf wycheproofFile
		if err := json.Unmarshal(data, &wf); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		n := 0
		for _, g := range wf.TestGroups {
			keys, keyErr := directory.ParseVerificationKeys(publicJWK(g.Public, g.Private))
			for _, tc := range g.Tests {
				n++
				total++
				var err error
				var j *parsedJWS
				if keyErr != nil {
					err = keyErr
				} else if j, err = parseJWS(tc.JWS); err == nil {
					_, err = j.verify(keys, time.Now())
				}
				switch {
				case tc.Result == "invalid" && err == nil:
					t.Errorf("tcId %d (%s, %s): an invalid JWS was accepted", tc.TcID, g.Comment, tc.Comment)
				case tc.Result == "invalid":
					invalidRejected++
				case err == nil:
					validAccepted++
				default:
					validRefused++
					refusedWhy[g.Comment+": "+err.Error()]++
					// A valid signature with an algorithm and key lastmile takes must verify.
					if keyErr == nil && j != nil {
						for i := range keys {
							if keys[i].Accepts(j.header.alg) {
								t.Errorf("tcId %d (%s, %s): a valid %s JWS was refused: %v", tc.TcID, g.Comment, tc.Comment, j.header.alg.Name(), err)
								break
							}
						}
					}
				}
			}
		}
		if n != wf.NumberOfTests {
			t.Errorf("%s: ran %d vectors, the file says %d", filepath.Base(file), n, wf.NumberOfTests)
		}
	}
	var reasons []string
	for why, n := range refusedWhy {
		reasons = append(reasons, strconv.Itoa(n)+"× "+why)
	}
	sort.Strings(reasons)
	t.Logf("Wycheproof JWS: %d vectors: %d invalid rejected, %d valid accepted, %d valid refused by policy:\n  %s",
		total, invalidRejected, validAccepted, validRefused, strings.Join(reasons, "\n  "))
}

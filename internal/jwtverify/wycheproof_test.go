package jwtverify_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/lastmile-gw/lastmile/internal/corpustest"
	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/jwtverify"
)

// TestWycheproofJWS runs every Wycheproof JSON Web Signature vector through
// the verifier with the group's key: every invalid vector must be refused, and
// every valid one accepted unless its key is one lastmile refuses (an RSA key
// under 2048 bits, a curve it does not take), which is counted.
func TestWycheproofJWS(t *testing.T) {
	dir := corpustest.Dir(t, "jose")
	data, err := os.ReadFile(filepath.Join(dir, "json_web_signature_test.json"))
	if err != nil {
		t.Skipf("skipping: no Wycheproof JWS vectors: %v", err)
	}
	var file struct {
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
	if err := json.Unmarshal(data, &file); err != nil {
		t.Fatal(err)
	}
	n, rejected, accepted, keyRefused, contradictory := 0, 0, 0, 0, 0
	policyRefused := map[string]int{}
	// Two "invalid" padding vectors (tcId 367, 370) are byte for byte the
	// valid tcId 357: the padding they test is not in the file. They are
	// counted, not checked.
	valid := map[string]bool{}
	for _, g := range file.TestGroups {
		for _, tc := range g.Tests {
			if tc.Result == "valid" {
				valid[g.Comment+" "+tc.JWS] = true
			}
		}
	}
	for _, g := range file.TestGroups {
		raw := g.Public
		if len(raw) == 0 {
			raw = g.Private
		}
		// Public keys are read as a JWKS from an issuer is (use, key_ops,
		// sizes); HMAC keys as policy text is, the k bytes alone.
		var keys []jwtverify.Key
		var jwk jose.JSONWebKey
		keyErr := jwk.UnmarshalJSON(raw)
		if b, ok := jwk.Key.([]byte); keyErr == nil && ok {
			keys = []jwtverify.Key{{ID: jwk.KeyID, Alg: jwk.Algorithm, Key: b}}
			if jwk.Use != "" && jwk.Use != "sig" {
				keyErr = errors.New("an encryption key")
			}
		} else {
			var pub []directory.VerificationKey
			pub, keyErr = directory.ParsePublishedKeys(publicOnly(raw))
			for _, k := range pub {
				keys = append(keys, jwtverify.Key{ID: k.KeyID, Alg: k.Algorithm, Key: k.Key})
			}
		}
		for _, tc := range g.Tests {
			n++
			err := keyErr
			if err == nil {
				var tok *jwtverify.Token
				if tok, err = jwtverify.Parse(tc.JWS, nil, true); err == nil {
					_, _, err = tok.Verify(keys)
				}
			}
			switch {
			case tc.Result == "invalid" && valid[g.Comment+" "+tc.JWS]:
				contradictory++
			case tc.Result == "invalid" && err == nil:
				t.Errorf("tcId %d (%s, %s): an invalid JWS was accepted", tc.TcID, g.Comment, tc.Comment)
			case tc.Result == "invalid":
				rejected++
			case err == nil:
				accepted++
			case keyErr != nil:
				keyRefused++
			case reason(err) == jwtverify.TokenSignatureInvalid:
				// go-jose and Wycheproof disagree about a signature.
				t.Errorf("tcId %d (%s, %s): a valid JWS was refused: %v", tc.TcID, g.Comment, tc.Comment, err)
			default:
				// Refused on purpose: a JWK alg other than the token's, a
				// non-canonical base64url.
				policyRefused[g.Comment+"/"+tc.Comment+": "+reason(err)]++
			}
		}
	}
	if n != file.NumberOfTests {
		t.Errorf("ran %d vectors, the file says %d", n, file.NumberOfTests)
	}
	t.Logf("Wycheproof JWS: %d vectors: %d invalid refused, %d valid accepted, %d valid with a key lastmile refuses, %d invalid ones identical to a valid one; valid ones refused on purpose: %v",
		n, rejected, accepted, keyRefused, contradictory, policyRefused)
}

// publicOnly drops the private members of a JWK.
func publicOnly(raw json.RawMessage) []byte {
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return raw
	}
	for _, k := range []string{"d", "p", "q", "dp", "dq", "qi", "oth"} {
		delete(m, k)
	}
	b, _ := json.Marshal(m)
	return b
}

package idp

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// The JWS layer of assertion validation: a strict reader of compact JWS (RFC
// 7515) and signature verification against configured keys. It is written
// against the attacks collected in RFC 8725 and the Wycheproof vectors: alg none
// and HMAC are refused outright (so no public key is ever used as an HMAC
// secret), the key comes only from configuration (never from jwk, jku, x5u or
// x5c in the header), the algorithm must fit the key (type, curve, and the JWK's
// alg, use and key_ops), base64url must be canonical, and duplicate header
// members, crit and b64 are refused.

// maxAssertionSize bounds a client assertion: MSAL's with an x5c chain is a few
// kilobytes; Kubernetes service account tokens are about one.
const maxAssertionSize = 32 << 10

// jwsHeader holds the protected header members lastmile looks at.
type jwsHeader struct {
	alg     *directory.Algorithm
	kid     string
	typ     string
	x5tS256 []byte // base64url or, as MSAL sends it, standard base64
	x5t     []byte
}

// parsedJWS is a compact JWS whose format has been checked, not its signature.
type parsedJWS struct {
	header       jwsHeader
	payload      []byte
	signingInput string // header.payload, as signed
	signature    []byte
}

// errJWS is a malformed or unacceptable JWS. The messages name what is wrong
// without repeating the token.
type errJWS struct {
	msg    string
	aadsts int // the Entra error number, when a more specific one than AADSTS700027 applies
}

func (e *errJWS) Error() string { return e.msg }

func jwsErrorf(format string, args ...any) error { return &errJWS{msg: fmt.Sprintf(format, args...)} }

// parseJWS checks the format of a compact JWS and reads its protected header.
func parseJWS(compact string) (*parsedJWS, error) {
	if len(compact) > maxAssertionSize {
		return nil, jwsErrorf("the JWT is longer than %d bytes", maxAssertionSize)
	}
	if strings.HasPrefix(strings.TrimSpace(compact), "{") {
		return nil, jwsErrorf("the JWT uses the JSON serialization; send the compact serialization (header.payload.signature)")
	}
	h64, rest, ok1 := strings.Cut(compact, ".")
	p64, s64, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s64, ".") {
		return nil, jwsErrorf("the JWT is not three base64url parts separated by dots (an encrypted JWT has five; lastmile accepts only signed ones)")
	}
	strict := base64.RawURLEncoding.Strict()
	headerJSON, err := strict.DecodeString(h64)
	if err != nil || len(headerJSON) == 0 {
		return nil, jwsErrorf("the JWT header is not canonical base64url")
	}
	payload, err := strict.DecodeString(p64)
	if err != nil {
		return nil, jwsErrorf("the JWT payload is not canonical base64url")
	}
	sig, err := strict.DecodeString(s64)
	if err != nil {
		return nil, jwsErrorf("the JWT signature is not canonical base64url")
	}
	if len(sig) == 0 {
		return nil, jwsErrorf("the JWT has no signature; unsigned JWTs are never accepted")
	}
	members, err := directory.DecodeObject(headerJSON)
	if err != nil {
		return nil, jwsErrorf("the JWT header: %v", err)
	}
	var h jwsHeader
	str := func(name string) (string, bool, error) {
		raw, ok := members[name]
		if !ok {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", true, jwsErrorf("the JWT header member %q is not a string", name)
		}
		return s, true, nil
	}
	alg, ok, err := str("alg")
	switch {
	case err != nil:
		return nil, err
	case !ok:
		return nil, jwsErrorf("the JWT header has no alg")
	case strings.EqualFold(alg, "none"):
		return nil, jwsErrorf("alg none: unsigned JWTs are never accepted")
	case strings.HasPrefix(alg, "HS"):
		return nil, jwsErrorf("alg %s: symmetric signatures are not accepted; sign with an RSA or EC key", clip(alg))
	}
	if h.alg = directory.LookupAlgorithm(alg); h.alg == nil {
		return nil, jwsErrorf("alg %q is not accepted: use RS256, PS256, ES256 (or their 384 and 512 variants)", clip(alg))
	}
	for _, name := range []string{"jwk", "jku", "x5u"} {
		if _, ok := members[name]; ok {
			return nil, jwsErrorf("the JWT header carries %q: keys are never taken from the token, only from lastmile's configuration", name)
		}
	}
	for _, name := range []string{"crit", "b64", "zip", "enc"} {
		if _, ok := members[name]; ok {
			return nil, jwsErrorf("the JWT header member %q is not supported", name)
		}
	}
	if h.kid, _, err = str("kid"); err != nil {
		return nil, err
	}
	if h.typ, _, err = str("typ"); err != nil {
		return nil, err
	}
	for _, tp := range []struct {
		name string
		dst  *[]byte
		size int
	}{{"x5t#S256", &h.x5tS256, 32}, {"x5t", &h.x5t, 20}} {
		s, ok, err := str(tp.name)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if *tp.dst = decodeThumbprint(s); len(*tp.dst) != tp.size {
			return nil, jwsErrorf("the JWT header member %q is not a %d-byte thumbprint in base64url or base64", tp.name, tp.size)
		}
	}
	return &parsedJWS{header: h, payload: payload, signingInput: compact[:len(h64)+1+len(p64)], signature: sig}, nil
}

// decodeThumbprint decodes a certificate thumbprint: base64url as RFC 7515
// §4.1.8 says, or standard base64 as MSAL sends it (with or without padding).
func decodeThumbprint(s string) []byte {
	for _, enc := range []*base64.Encoding{base64.RawURLEncoding, base64.URLEncoding, base64.RawStdEncoding, base64.StdEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return b
		}
	}
	return nil
}

// errNoKey means no configured key matches the JWT's header.
var errNoKey = errors.New("no matching key")

// verify checks the signature with the keys that fit the header: a key must
// accept the algorithm; a thumbprint in the header (x5t#S256, x5t) must name the
// key's certificate; a kid must be the key's kid when the key has one. It
// returns the key that verified.
func (j *parsedJWS) verify(keys []VerificationKey, now time.Time) (*VerificationKey, error) {
	var tried int
	var expired string
	for i := range keys {
		k := &keys[i]
		if !k.Accepts(j.header.alg) {
			continue
		}
		switch {
		case j.header.x5tS256 != nil:
			if !bytes.Equal(k.SHA256Thumbprint, j.header.x5tS256) {
				continue
			}
		case j.header.x5t != nil:
			if !bytes.Equal(k.SHA1Thumbprint, j.header.x5t) {
				continue
			}
		case j.header.kid != "" && k.KeyID != "" && k.KeyID != j.header.kid:
			continue
		}
		tried++
		if !j.header.alg.Verify(k.Key, []byte(j.signingInput), j.signature) {
			continue
		}
		if why := k.ValidAt(now); why != "" {
			expired = why
			continue
		}
		return k, nil
	}
	switch {
	case expired != "":
		return nil, jwsErrorf("the JWT is signed with a key whose %s", expired)
	case tried == 0 && (j.header.x5tS256 != nil || j.header.x5t != nil):
		return nil, fmt.Errorf("%w: no registered certificate has the thumbprint in the JWT header", errNoKey)
	case tried == 0:
		return nil, fmt.Errorf("%w: no registered key can verify %s with kid %q", errNoKey, j.header.alg.Name(), clip(j.header.kid))
	}
	return nil, jwsErrorf("the JWT signature does not verify with the registered keys")
}

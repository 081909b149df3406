// Package jwtverify verifies JSON Web Tokens the way API Management's
// validate-jwt does, with go-jose for the cryptography: a compact JWS signed
// with RS, PS, ES or HS 256/384/512, or a compact JWE (direct or RSA-OAEP key
// management, AES-CBC-HMAC or AES-GCM content encryption) that holds one; then
// its lifetime, audience and issuer.
//
// It is written against the attacks collected in RFC 8725: alg none is never
// accepted; a key verifies only the algorithms of its own type (an HMAC token
// is never checked with a public key's bytes as the secret); keys come only
// from the caller, never from jwk, jku, x5u or x5c headers; a kid no key has is
// an error, not a reason to try every key; crit, b64 and duplicate members are
// refused; a key fetched from an issuer vouches only for that issuer's tokens.
//
// Errors are *Error values with API Management's LastError reasons and messages
// written here, never the library's text or the token.
package jwtverify

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// API Management's LastError reasons for validate-jwt.
const (
	TokenNotPresent           = "TokenNotPresent"
	TokenSignatureInvalid     = "TokenSignatureInvalid"
	TokenAudienceNotAllowed   = "TokenAudienceNotAllowed"
	TokenIssuerNotAllowed     = "TokenIssuerNotAllowed"
	TokenExpired              = "TokenExpired"
	TokenSignatureKeyNotFound = "TokenSignatureKeyNotFound"
	TokenClaimNotFound        = "TokenClaimNotFound"
	TokenClaimValueNotAllowed = "TokenClaimValueNotAllowed"
	JwtInvalid                = "JwtInvalid"
)

// Error is a token that did not pass: Reason is API Management's LastError
// reason, Message its LastError message. Neither holds the token.
type Error struct {
	Reason  string
	Message string
}

// Error returns the message.
func (e *Error) Error() string { return e.Message }

func fail(reason, format string, args ...any) *Error {
	return &Error{Reason: reason, Message: fmt.Sprintf(format, args...) + " Access denied."}
}

// MaxTokenSize bounds a token. Entra tokens with many groups are a few
// kilobytes; a header can hold 32 KiB at most anyway.
const MaxTokenSize = 64 << 10

// Key is a key that may verify token signatures.
type Key struct {
	// ID is the key's kid. A key with an ID verifies only tokens that name it;
	// a key without one is tried for every token of its algorithms.
	ID string
	// Alg restricts the key to one algorithm (a JWK's alg); "" allows every
	// algorithm of the key's type.
	Alg string
	// Key is an *rsa.PublicKey, an *ecdsa.PublicKey (checked with
	// directory.CheckPublicKey), or []byte, an HMAC secret of at least 32 bytes.
	Key any
	// Issuers are the issuers whose tokens the key may verify; nil lets the
	// key verify tokens of any issuer.
	Issuers []string
}

// DecryptionKey is a key that may decrypt JWE tokens.
type DecryptionKey struct {
	// ID is the key's kid; "" tries the key for every token.
	ID string
	// Key is []byte (direct encryption, or AES key wrap) or an *rsa.PrivateKey
	// (RSA-OAEP, RSA-OAEP-256).
	Key any
}

var (
	signatureAlgs = []jose.SignatureAlgorithm{
		jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512,
		jose.ES256, jose.ES384, jose.ES512, jose.HS256, jose.HS384, jose.HS512,
	}
	keyAlgs = []jose.KeyAlgorithm{
		jose.DIRECT, jose.RSA_OAEP, jose.RSA_OAEP_256, jose.A128KW, jose.A192KW, jose.A256KW,
	}
	contentEncs = []jose.ContentEncryption{
		jose.A128CBC_HS256, jose.A192CBC_HS384, jose.A256CBC_HS512, jose.A128GCM, jose.A192GCM, jose.A256GCM,
	}
)

// Token is a parsed token whose signature is not verified yet.
type Token struct {
	// Compact is the compact JWS: the token itself, or the one a JWE held. It is
	// "" for an encrypted token that holds claims without a signature.
	Compact string
	// Alg and Kid are the JWS header's alg and kid.
	Alg, Kid string
	// Encrypted reports whether the token was a JWE.
	Encrypted bool

	jws          *jose.JSONWebSignature
	signingInput string // header.payload, as signed
	signature    []byte
	plaintext    []byte // the claims of an unsigned JWE
}

// Parse reads a compact JWS, or a compact JWE that it decrypts with one of dec.
// An encrypted token that holds claims rather than a JWS is accepted only when
// requireSigned is false.
func Parse(raw string, dec []DecryptionKey, requireSigned bool) (*Token, error) {
	if len(raw) > MaxTokenSize {
		return nil, fail(JwtInvalid, "The token is longer than %d bytes.", MaxTokenSize)
	}
	switch strings.Count(raw, ".") {
	case 2:
		return parseJWS(raw, false)
	case 4:
		return parseJWE(raw, dec, requireSigned)
	}
	return nil, fail(JwtInvalid, "The token is neither a JWS (three dot-separated parts) nor a JWE (five).")
}

// header decodes and checks a protected header: canonical base64url, a JSON
// object without duplicate members, no crit and no b64.
func header(seg string) (map[string]json.RawMessage, error) {
	data, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil {
		return nil, fail(JwtInvalid, "The token's header is not base64url.")
	}
	h, err := decodeObject(data)
	if err != nil {
		return nil, fail(JwtInvalid, "The token's header is not a JSON object: %s.", err)
	}
	if _, ok := h["crit"]; ok {
		return nil, fail(JwtInvalid, "The token's header has crit: it names extensions lastmile does not implement.")
	}
	if _, ok := h["b64"]; ok {
		return nil, fail(JwtInvalid, "The token's header has b64 (an unencoded payload), which tokens never use.")
	}
	return h, nil
}

func headerString(h map[string]json.RawMessage, name string) (string, error) {
	raw, ok := h[name]
	if !ok {
		return "", nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fail(JwtInvalid, "The token header's %s is not a string.", name)
	}
	return s, nil
}

func parseJWS(raw string, encrypted bool) (*Token, error) {
	seg, _, _ := strings.Cut(raw, ".")
	cut := strings.LastIndexByte(raw, '.')
	// Canonical base64url only: padding, stray characters or non-zero unused
	// bits would let two strings carry one token.
	for _, part := range strings.Split(raw, ".")[1:] {
		if _, err := base64.RawURLEncoding.Strict().DecodeString(part); err != nil {
			return nil, fail(JwtInvalid, "The token's payload or signature is not base64url.")
		}
	}
	sig, _ := base64.RawURLEncoding.Strict().DecodeString(raw[cut+1:])
	h, err := header(seg)
	if err != nil {
		return nil, err
	}
	alg, err := headerString(h, "alg")
	if err != nil {
		return nil, err
	}
	kid, err := headerString(h, "kid")
	if err != nil {
		return nil, err
	}
	if !slices.Contains(signatureAlgs, jose.SignatureAlgorithm(alg)) {
		if strings.EqualFold(alg, "none") || alg == "" {
			return nil, fail(TokenSignatureInvalid, "Signature validation failed: the token is not signed (alg %q).", clip(alg))
		}
		return nil, fail(TokenSignatureInvalid, "Signature validation failed: the token's algorithm %q is not accepted; use RS, PS, ES or HS 256, 384 or 512.", clip(alg))
	}
	jws, err := jose.ParseSignedCompact(raw, signatureAlgs)
	if err != nil {
		return nil, fail(JwtInvalid, "The token is not a well-formed JWS.")
	}
	return &Token{Compact: raw, Alg: alg, Kid: kid, Encrypted: encrypted, jws: jws, signingInput: raw[:cut], signature: sig}, nil
}

func parseJWE(raw string, dec []DecryptionKey, requireSigned bool) (*Token, error) {
	seg, _, _ := strings.Cut(raw, ".")
	h, err := header(seg)
	if err != nil {
		return nil, err
	}
	if len(dec) == 0 {
		return nil, fail(JwtInvalid, "The token is encrypted (a JWE) and the policy has no decryption-keys.")
	}
	kid, err := headerString(h, "kid")
	if err != nil {
		return nil, err
	}
	cty, err := headerString(h, "cty")
	if err != nil {
		return nil, err
	}
	jwe, err := jose.ParseEncryptedCompact(raw, keyAlgs, contentEncs)
	if err != nil {
		return nil, fail(JwtInvalid, "The token is not a well-formed JWE, or uses key management or content encryption lastmile does not accept.")
	}
	var plain []byte
	for _, k := range dec {
		if k.ID != "" && k.ID != kid {
			continue
		}
		if plain, err = jwe.Decrypt(k.Key); err == nil {
			break
		}
	}
	if plain == nil {
		return nil, fail(JwtInvalid, "Decryption failed: no decryption key decrypts the token.")
	}
	inner := string(bytes.TrimSpace(plain))
	if strings.EqualFold(cty, "JWT") || strings.Count(inner, ".") == 2 && !strings.HasPrefix(inner, "{") {
		if strings.Count(inner, ".") != 2 {
			return nil, fail(JwtInvalid, "The encrypted token does not hold a JWS.")
		}
		return parseJWS(inner, true)
	}
	if requireSigned {
		return nil, fail(TokenSignatureInvalid, "Signature validation failed: the encrypted token holds claims that are not signed, and require-signed-tokens is true.")
	}
	return &Token{Encrypted: true, plaintext: plain}, nil
}

// Signed reports whether the token carries a signature to verify.
func (t *Token) Signed() bool { return t.jws != nil }

// Verify checks the signature with the keys that fit the token: those whose ID
// is the token's kid, then those without an ID (all of them when the token
// names no kid), of a type and algorithm that fit the token's alg. Keys bound
// to issuers are tried only for tokens that claim one of them; a token that
// only another issuer's key verifies is refused with TokenIssuerNotAllowed. It
// returns the payload and the key that verified it (nil for an unsigned JWE
// that Parse accepted).
func (t *Token) Verify(keys ...[]Key) ([]byte, *Key, error) {
	if t.jws == nil {
		return t.plaintext, nil, nil
	}
	iss, bound := "", false
	for _, group := range keys {
		for i := range group {
			bound = bound || group[i].Issuers != nil
		}
	}
	if bound {
		iss = unverifiedIssuer(t.jws.UnsafePayloadWithoutVerification())
	}
	tried := false
	for _, ownIssuer := range []bool{true, false} {
		for pass := range 2 {
			for _, group := range keys {
				for i := range group {
					k := &group[i]
					// First the keys the token names, then those without an ID
					// (every key, for a token that names none).
					first := t.Kid != "" && k.ID == t.Kid
					later := k.ID == "" || t.Kid == ""
					if pass == 0 && !first || pass == 1 && (first || !later) || !fits(k, t.Alg) {
						continue
					}
					if (k.Issuers == nil || slices.Contains(k.Issuers, iss)) != ownIssuer {
						continue
					}
					tried = true
					if payload, err := t.jws.Verify(k.Key); err == nil && t.pssSalt(k) {
						if !ownIssuer {
							return nil, nil, fail(TokenIssuerNotAllowed, "Issuer validation failed: the token's issuer %q is not the issuer of the key that signed it.", clip(iss))
						}
						return payload, k, nil
					}
				}
			}
		}
	}
	if !tried {
		if t.Kid != "" {
			return nil, nil, fail(TokenSignatureKeyNotFound, "Signature validation failed: no %s key has the token's kid %q.", t.Alg, clip(t.Kid))
		}
		return nil, nil, fail(TokenSignatureKeyNotFound, "Signature validation failed: no key for the token's algorithm %s.", t.Alg)
	}
	return nil, nil, fail(TokenSignatureInvalid, "Signature validation failed: the signature does not verify with the %s key(s) that fit the token.", t.Alg)
}

// unverifiedIssuer reads iss from a payload whose signature is not checked
// yet, only to choose which keys to try.
func unverifiedIssuer(payload []byte) string {
	var c struct {
		Iss any `json:"iss"`
	}
	if json.Unmarshal(payload, &c) != nil {
		return ""
	}
	s, _ := c.Iss.(string)
	return s
}

// pssSalt checks what go-jose leaves open for PS256/384/512: the salt is as
// long as the hash (RFC 7518 §3.5).
func (t *Token) pssSalt(k *Key) bool {
	if !strings.HasPrefix(t.Alg, "PS") {
		return true
	}
	return directory.LookupAlgorithm(t.Alg).Verify(k.Key, []byte(t.signingInput), t.signature)
}

// fits reports whether k may check a signature made with alg: an HMAC secret
// only HS algorithms, a public key only the algorithms of its type and curve.
func fits(k *Key, alg string) bool {
	if k.Alg != "" && k.Alg != alg {
		return false
	}
	switch k.Key.(type) {
	case []byte:
		return strings.HasPrefix(alg, "HS")
	case *rsa.PublicKey, *ecdsa.PublicKey:
		a := directory.LookupAlgorithm(alg)
		vk := directory.VerificationKey{Key: k.Key}
		return a != nil && vk.Accepts(a)
	}
	return false
}

// Claims are the registered claims validation looks at.
type Claims struct {
	Issuer    string
	Audiences []string
	// Expires and NotBefore are exp and nbf in seconds since 1970; HasExpires
	// and HasNotBefore say whether the token has them.
	Expires, NotBefore       float64
	HasExpires, HasNotBefore bool
}

// ParseClaims reads the registered claims from a payload: a JSON object
// without duplicate members, iss a string, aud a string or an array of
// strings, exp and nbf numbers.
func ParseClaims(payload []byte) (*Claims, error) {
	obj, err := decodeObject(payload)
	if err != nil {
		return nil, fail(JwtInvalid, "The token's claims are not a JSON object: %s.", err)
	}
	c := &Claims{}
	if raw, ok := obj["iss"]; ok {
		if json.Unmarshal(raw, &c.Issuer) != nil {
			return nil, fail(JwtInvalid, "The token's iss is not a string.")
		}
	}
	if raw, ok := obj["aud"]; ok {
		var one string
		if json.Unmarshal(raw, &one) == nil {
			c.Audiences = []string{one}
		} else if json.Unmarshal(raw, &c.Audiences) != nil {
			return nil, fail(JwtInvalid, "The token's aud is neither a string nor an array of strings.")
		}
	}
	for _, tc := range []struct {
		name string
		dst  *float64
		has  *bool
	}{{"exp", &c.Expires, &c.HasExpires}, {"nbf", &c.NotBefore, &c.HasNotBefore}} {
		raw, ok := obj[tc.name]
		if !ok || string(raw) == "null" {
			continue
		}
		var n json.Number
		if json.Unmarshal(raw, &n) != nil {
			return nil, fail(JwtInvalid, "The token's %s is not a number.", tc.name)
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			return nil, fail(JwtInvalid, "The token's %s is not a number.", tc.name)
		}
		*tc.dst, *tc.has = f, true
	}
	return c, nil
}

// Rules are the checks after the signature.
type Rules struct {
	// Now is the time to check the lifetime against.
	Now time.Time
	// ClockSkew widens the lifetime on both ends.
	ClockSkew time.Duration
	// RequireExpiration refuses a token without exp.
	RequireExpiration bool
	// Audiences, when not empty, must hold one of the token's audiences.
	// Trailing slashes do not count, as in API Management (IdentityModel).
	Audiences []string
	// Issuers, when not nil, must hold the token's issuer.
	Issuers []string
}

// Check checks the token's lifetime, audience and issuer.
func (r *Rules) Check(c *Claims) error {
	skew := r.ClockSkew.Seconds()
	now := float64(r.Now.UnixNano()) / 1e9
	switch {
	case !c.HasExpires && r.RequireExpiration:
		return fail(JwtInvalid, "Lifetime validation failed: the token has no expiration time (exp), and require-expiration-time is true.")
	case c.HasExpires && now > c.Expires+skew:
		return fail(TokenExpired, "Lifetime validation failed: the token expired at %s; the time is %s.", unix(c.Expires), r.Now.UTC().Format(time.RFC3339))
	case c.HasNotBefore && now+skew < c.NotBefore:
		return fail(JwtInvalid, "Lifetime validation failed: the token is not valid before %s; the time is %s.", unix(c.NotBefore), r.Now.UTC().Format(time.RFC3339))
	}
	if len(r.Audiences) > 0 && !audienceAllowed(c.Audiences, r.Audiences) {
		return fail(TokenAudienceNotAllowed, "Audience validation failed: the token's audiences %s are not among the allowed ones.", quoteList(c.Audiences))
	}
	if r.Issuers != nil && !slices.Contains(r.Issuers, c.Issuer) {
		return fail(TokenIssuerNotAllowed, "Issuer validation failed: the token's issuer %q is not allowed for the key that signed it.", clip(c.Issuer))
	}
	return nil
}

func audienceAllowed(got, allowed []string) bool {
	for _, g := range got {
		for _, a := range allowed {
			if strings.TrimSuffix(g, "/") == strings.TrimSuffix(a, "/") {
				return true
			}
		}
	}
	return false
}

func unix(sec float64) string {
	if sec > 253402300799 || sec < -62135596800 {
		return fmt.Sprintf("%g", sec)
	}
	s, frac := math.Modf(sec)
	return time.Unix(int64(s), int64(frac*1e9)).UTC().Format(time.RFC3339)
}

func quoteList(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	q := make([]string, 0, min(len(s), 5))
	for i, v := range s {
		if i == 5 {
			q = append(q, "...")
			break
		}
		q = append(q, fmt.Sprintf("%q", clip(v)))
	}
	return strings.Join(q, ", ")
}

// clip shortens a value from the token for a message.
func clip(s string) string {
	if len(s) > 100 {
		s = s[:100] + "..."
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

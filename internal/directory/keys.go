package directory

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// VerificationKey is a public key that JWTs presented to the token endpoint may
// be signed with: an application's own key (private_key_jwt client assertions)
// or a trusted external issuer's key (workload identity federation).
type VerificationKey struct {
	// Key is an *rsa.PublicKey (2048 bits or more) or an *ecdsa.PublicKey on
	// P-256, P-384 or P-521.
	Key crypto.PublicKey
	// KeyID is the JWK kid, or "" for keys from PEM files.
	KeyID string
	// Algorithm restricts the key to one JWS algorithm (the JWK alg); "" allows
	// every algorithm of the key's type: RS256/384/512 and PS256/384/512 for RSA,
	// the ES algorithm of the curve for EC keys.
	Algorithm string
	// Certificate is the certificate the key came from, if any. Assertions may
	// name it by thumbprint (x5t#S256, x5t), and it is refused outside its
	// validity period, as Entra refuses an expired credential.
	Certificate *x509.Certificate

	// SHA256Thumbprint and SHA1Thumbprint are the certificate's thumbprints
	// (x5t#S256 and x5t), from the certificate or the JWK; nil when unknown.
	SHA256Thumbprint, SHA1Thumbprint []byte
}

// Algorithm is a JWS signature algorithm that lastmile verifies (RFC 7518 §3).
type Algorithm struct {
	name  string
	hash  crypto.Hash
	rsa   bool
	pss   bool
	curve elliptic.Curve // EC algorithms only
}

// algorithms are the JWS algorithms accepted in assertions. HMAC (a shared secret
// would be a client secret in disguise) and none are never accepted; EdDSA is not
// in JWT-SVID's list nor sent by any client lastmile targets.
var algorithms = map[string]*Algorithm{
	"RS256": {name: "RS256", hash: crypto.SHA256, rsa: true},
	"RS384": {name: "RS384", hash: crypto.SHA384, rsa: true},
	"RS512": {name: "RS512", hash: crypto.SHA512, rsa: true},
	"PS256": {name: "PS256", hash: crypto.SHA256, rsa: true, pss: true},
	"PS384": {name: "PS384", hash: crypto.SHA384, rsa: true, pss: true},
	"PS512": {name: "PS512", hash: crypto.SHA512, rsa: true, pss: true},
	"ES256": {name: "ES256", hash: crypto.SHA256, curve: elliptic.P256()},
	"ES384": {name: "ES384", hash: crypto.SHA384, curve: elliptic.P384()},
	"ES512": {name: "ES512", hash: crypto.SHA512, curve: elliptic.P521()},
}

// LookupAlgorithm returns the accepted JWS algorithm named name (RS256, PS384,
// ES512, ...), or nil when lastmile does not verify it.
func LookupAlgorithm(name string) *Algorithm { return algorithms[name] }

// Name is the algorithm's JWS name, such as ES256.
func (a *Algorithm) Name() string { return a.name }

// Verify reports whether sig is a valid signature of signingInput by key with
// this algorithm. EC signatures are R and S as fixed-length big-endian integers,
// concatenated (RFC 7518 §3.4), not DER.
func (a *Algorithm) Verify(key crypto.PublicKey, signingInput, sig []byte) bool {
	h := a.hash.New()
	h.Write(signingInput)
	digest := h.Sum(nil)
	switch pub := key.(type) {
	case *rsa.PublicKey:
		if !a.rsa || len(sig) != pub.Size() {
			return false
		}
		if a.pss {
			// RFC 7518 §3.5: the salt is as long as the hash, MGF1 with the same hash.
			return rsa.VerifyPSS(pub, a.hash, digest, sig, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash, Hash: a.hash}) == nil
		}
		return rsa.VerifyPKCS1v15(pub, a.hash, digest, sig) == nil
	case *ecdsa.PublicKey:
		// ecdsa.Verify refuses r or s of zero or not below the order.
		size := (pub.Curve.Params().BitSize + 7) / 8
		if a.curve != pub.Curve || len(sig) != 2*size {
			return false
		}
		r := new(big.Int).SetBytes(sig[:size])
		s := new(big.Int).SetBytes(sig[size:])
		return ecdsa.Verify(pub, digest, r, s)
	}
	return false
}

// Accepts reports whether k may verify a signature made with alg: the key's
// type and curve fit the algorithm, and so does the JWK's alg, if any.
func (k *VerificationKey) Accepts(alg *Algorithm) bool {
	if k.Algorithm != "" && k.Algorithm != alg.name {
		return false
	}
	switch pub := k.Key.(type) {
	case *rsa.PublicKey:
		return alg.rsa
	case *ecdsa.PublicKey:
		return alg.curve != nil && pub.Curve == alg.curve
	}
	return false
}

// ValidAt reports why k cannot be used at now ("" if it can): a key from a
// certificate is used only within the certificate's validity period.
func (k *VerificationKey) ValidAt(now time.Time) string {
	if c := k.Certificate; c != nil {
		switch {
		case now.Before(c.NotBefore):
			return "the certificate is not valid before " + c.NotBefore.UTC().Format(time.RFC3339)
		case now.After(c.NotAfter):
			return "the certificate expired at " + c.NotAfter.UTC().Format(time.RFC3339)
		}
	}
	return ""
}

// WithThumbprints returns k with the thumbprints of its certificate filled in,
// for keys built by hand rather than parsed.
func (k VerificationKey) WithThumbprints() VerificationKey {
	if k.Certificate != nil && k.SHA256Thumbprint == nil {
		s256, s1 := sha256.Sum256(k.Certificate.Raw), sha1.Sum(k.Certificate.Raw)
		k.SHA256Thumbprint, k.SHA1Thumbprint = s256[:], s1[:]
	}
	return k
}

// Limits on key material read from configuration or fetched from issuers.
const (
	minRSABits = 2048
	maxRSABits = 16384
	maxKeySet  = 100 // keys in one JWKS
)

// ParseVerificationKeys reads public keys from data: PEM (CERTIFICATE, PUBLIC KEY
// or RSA PUBLIC KEY blocks, as many as there are) or JSON (a JWK or a JWK set).
// Private keys are refused: the token service needs only public halves, and a
// private key in the configuration folder is a secret in the wrong place. This
// is the rule for identity.applications[].certificates and jwksFile.
func ParseVerificationKeys(data []byte) ([]VerificationKey, error) {
	return parseKeys(data, false)
}

// ParsePublishedKeys is ParseVerificationKeys for a key set an issuer publishes:
// JWKs that cannot verify signatures (other key types, encryption keys, small
// RSA keys) are skipped rather than refused, since such a set may hold them
// beside the keys the issuer signs with, as a SPIFFE bundle holds x509-svid keys.
func ParsePublishedKeys(data []byte) ([]VerificationKey, error) {
	return parseKeys(data, true)
}

// parseKeys parses PEM or JSON keys; lenient skips JWKs that cannot verify
// signatures (see ParsePublishedKeys).
func parseKeys(data []byte, lenient bool) ([]VerificationKey, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return nil, errors.New("no keys: the file is empty")
	}
	if trimmed[0] == '{' {
		return parseJWKJSON(trimmed, lenient)
	}
	return parsePEMKeys(trimmed)
}

func parsePEMKeys(data []byte) ([]VerificationKey, error) {
	var keys []VerificationKey
	rest := data
	for n := 1; ; n++ {
		var block *pem.Block
		block, rest = pem.Decode(rest)
		if block == nil {
			break
		}
		var k VerificationKey
		switch {
		case block.Type == "CERTIFICATE":
			cert, err := x509.ParseCertificate(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM block %d: %w", n, err)
			}
			k.Key, k.Certificate = cert.PublicKey, cert
			s256, s1 := sha256.Sum256(cert.Raw), sha1.Sum(cert.Raw)
			k.SHA256Thumbprint, k.SHA1Thumbprint = s256[:], s1[:]
		case block.Type == "PUBLIC KEY":
			pub, err := x509.ParsePKIXPublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM block %d: %w", n, err)
			}
			k.Key = pub
		case block.Type == "RSA PUBLIC KEY":
			pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
			if err != nil {
				return nil, fmt.Errorf("PEM block %d: %w", n, err)
			}
			k.Key = pub
		case strings.Contains(block.Type, "PRIVATE KEY"):
			return nil, fmt.Errorf("PEM block %d is a private key (%s): give lastmile only the certificate or public key, and keep the private key with the client", n, block.Type)
		default:
			return nil, fmt.Errorf("PEM block %d is a %s, not a CERTIFICATE or PUBLIC KEY", n, block.Type)
		}
		if err := CheckPublicKey(k.Key); err != nil {
			return nil, fmt.Errorf("PEM block %d: %w", n, err)
		}
		keys = append(keys, k)
	}
	if len(bytes.TrimSpace(rest)) > 0 && len(keys) == 0 {
		return nil, errors.New("neither PEM nor JSON: expected a PEM certificate or public key, or a JWK set")
	}
	if len(keys) == 0 {
		return nil, errors.New("no PEM blocks")
	}
	return keys, nil
}

// CheckPublicKey refuses key types and sizes lastmile does not verify with:
// RSA of 2048 to 16384 bits with an odd exponent of at least 3, EC on P-256,
// P-384 or P-521.
func CheckPublicKey(pub crypto.PublicKey) error {
	switch k := pub.(type) {
	case *rsa.PublicKey:
		if bits := k.N.BitLen(); bits < minRSABits || bits > maxRSABits {
			return fmt.Errorf("RSA key of %d bits: use %d to %d bits", bits, minRSABits, maxRSABits)
		}
		if k.E < 3 || k.E%2 == 0 {
			return fmt.Errorf("RSA public exponent %d is not an odd number of at least 3", k.E)
		}
	case *ecdsa.PublicKey:
		switch k.Curve {
		case elliptic.P256(), elliptic.P384(), elliptic.P521():
		default:
			return fmt.Errorf("EC key on curve %s: use P-256, P-384 or P-521", k.Curve.Params().Name)
		}
	default:
		return fmt.Errorf("a %T key: use RSA or EC (P-256, P-384, P-521)", pub)
	}
	return nil
}

func parseJWKJSON(data []byte, lenient bool) ([]VerificationKey, error) {
	obj, err := DecodeObject(data)
	if err != nil {
		return nil, fmt.Errorf("JWK JSON: %w", err)
	}
	raw, isSet := obj["keys"]
	if !isSet {
		k, err := parseJWK(obj)
		if err != nil {
			return nil, fmt.Errorf("JWK: %w", err)
		}
		return []VerificationKey{k}, nil
	}
	var members []json.RawMessage
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, errors.New(`JWK set: "keys" is not an array`)
	}
	if len(members) > maxKeySet {
		return nil, fmt.Errorf("JWK set of %d keys: at most %d are read", len(members), maxKeySet)
	}
	var keys []VerificationKey
	kids := map[string]int{}
	var skipped []string
	for i, m := range members {
		o, err := DecodeObject(m)
		if err == nil {
			var k VerificationKey
			if k, err = parseJWK(o); err == nil {
				if j, dup := kids[k.KeyID]; dup && k.KeyID != "" {
					return nil, fmt.Errorf("JWK set: keys %d and %d have the same kid %q", j, i, k.KeyID)
				}
				kids[k.KeyID] = i
				keys = append(keys, k)
				continue
			}
		}
		if !lenient {
			return nil, fmt.Errorf("JWK set key %d: %w", i, err)
		}
		skipped = append(skipped, fmt.Sprintf("key %d: %v", i, err))
	}
	if len(keys) == 0 {
		if len(skipped) > 0 {
			return nil, fmt.Errorf("JWK set has no usable signature verification key (%s)", strings.Join(skipped, "; "))
		}
		return nil, errors.New("JWK set has no keys")
	}
	return keys, nil
}

// parseJWK reads one public JWK (RFC 7517, RFC 7518 §6).
func parseJWK(o map[string]json.RawMessage) (VerificationKey, error) {
	var k VerificationKey
	str := func(name string) (string, bool, error) {
		raw, ok := o[name]
		if !ok {
			return "", false, nil
		}
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return "", true, fmt.Errorf("%q is not a string", name)
		}
		return s, true, nil
	}
	b64 := func(name string) ([]byte, error) {
		s, ok, err := str(name)
		if err != nil {
			return nil, err
		}
		if !ok || s == "" {
			return nil, fmt.Errorf("%q is missing", name)
		}
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("%q is not base64url", name)
		}
		return b, nil
	}
	for _, private := range []string{"d", "p", "q", "dp", "dq", "qi", "oth", "k"} {
		if _, ok := o[private]; ok {
			return k, fmt.Errorf("it holds private key material (%q): give only the public key", private)
		}
	}
	kty, _, err := str("kty")
	if err != nil {
		return k, err
	}
	switch kty {
	case "RSA":
		n, err := b64("n")
		if err != nil {
			return k, err
		}
		e, err := b64("e")
		if err != nil {
			return k, err
		}
		if len(e) > 4 {
			return k, errors.New(`"e" is too large`)
		}
		k.Key = &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	case "EC":
		crv, _, err := str("crv")
		if err != nil {
			return k, err
		}
		var curve elliptic.Curve
		switch crv {
		case "P-256":
			curve = elliptic.P256()
		case "P-384":
			curve = elliptic.P384()
		case "P-521":
			curve = elliptic.P521()
		default:
			return k, fmt.Errorf("EC curve %q is not supported: use P-256, P-384 or P-521", crv)
		}
		x, err := b64("x")
		if err != nil {
			return k, err
		}
		y, err := b64("y")
		if err != nil {
			return k, err
		}
		size := (curve.Params().BitSize + 7) / 8
		if len(x) != size || len(y) != size {
			return k, fmt.Errorf("EC coordinates must be %d bytes each", size)
		}
		pub, err := ecdsa.ParseUncompressedPublicKey(curve, append(append([]byte{4}, x...), y...))
		if err != nil {
			return k, errors.New("the EC point is not on the curve")
		}
		k.Key = pub
	case "":
		return k, errors.New(`"kty" is missing`)
	default:
		return k, fmt.Errorf("key type %q cannot verify signatures here: use RSA or EC", kty)
	}
	if err := CheckPublicKey(k.Key); err != nil {
		return k, err
	}

	if k.KeyID, _, err = str("kid"); err != nil {
		return k, err
	}
	alg, hasAlg, err := str("alg")
	if err != nil {
		return k, err
	}
	if hasAlg {
		a := algorithms[alg]
		k.Algorithm = alg
		if a == nil || !k.Accepts(a) {
			return k, fmt.Errorf("alg %q cannot be used with this %s key", alg, kty)
		}
	}
	// use: "sig", or "jwt-svid" in a SPIFFE bundle (SPIFFE Trust Domain and Bundle §4.2.1).
	if use, ok, err := str("use"); err != nil {
		return k, err
	} else if ok && use != "sig" && use != "jwt-svid" {
		return k, fmt.Errorf("use %q: the key is not for signatures", use)
	}
	if raw, ok := o["key_ops"]; ok {
		var ops []string
		if err := json.Unmarshal(raw, &ops); err != nil {
			return k, errors.New(`"key_ops" is not an array of strings`)
		}
		if !slices.Contains(ops, "verify") {
			return k, fmt.Errorf("key_ops %q does not allow verify", ops)
		}
	}
	if raw, ok := o["x5c"]; ok {
		var chain []string
		if err := json.Unmarshal(raw, &chain); err != nil || len(chain) == 0 {
			return k, errors.New(`"x5c" is not a non-empty array of strings`)
		}
		der, err := base64.StdEncoding.DecodeString(chain[0])
		if err != nil {
			return k, errors.New(`"x5c" holds a certificate that is not base64`)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			return k, fmt.Errorf("x5c: %w", err)
		}
		if !publicKeysEqual(cert.PublicKey, k.Key) {
			return k, errors.New("the x5c certificate's key is not the JWK's key")
		}
		k.Certificate = cert
		s256, s1 := sha256.Sum256(cert.Raw), sha1.Sum(cert.Raw)
		k.SHA256Thumbprint, k.SHA1Thumbprint = s256[:], s1[:]
	}
	for _, tp := range []struct {
		name string
		dst  *[]byte
		size int
	}{{"x5t#S256", &k.SHA256Thumbprint, sha256.Size}, {"x5t", &k.SHA1Thumbprint, sha1.Size}} {
		s, ok, err := str(tp.name)
		if err != nil {
			return k, err
		}
		if !ok {
			continue
		}
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil || len(b) != tp.size {
			return k, fmt.Errorf("%q is not a base64url thumbprint", tp.name)
		}
		if *tp.dst != nil && !bytes.Equal(*tp.dst, b) {
			return k, fmt.Errorf("%q does not match the x5c certificate", tp.name)
		}
		*tp.dst = b
	}
	return k, nil
}

func publicKeysEqual(a, b crypto.PublicKey) bool {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	e, ok := a.(equaler)
	return ok && e.Equal(b)
}

// DecodeObject decodes a JSON object into its members, refusing duplicate member
// names (RFC 7515 §5.2, RFC 8725 §3.2: a parser that keeps the last of two "alg"
// members disagrees with one that keeps the first), trailing data and invalid
// UTF-8.
func DecodeObject(data []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	tok, err := dec.Token()
	if err != nil {
		return nil, errors.New("not JSON")
	}
	if d, ok := tok.(json.Delim); !ok || d != '{' {
		return nil, errors.New("not a JSON object")
	}
	out := make(map[string]json.RawMessage, 8)
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, errors.New("not a valid JSON object")
		}
		name, _ := tok.(string)
		if _, dup := out[name]; dup {
			return nil, fmt.Errorf("member %q appears twice", clip(name))
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, errors.New("not a valid JSON object")
		}
		out[name] = v
	}
	if _, err := dec.Token(); err != nil {
		return nil, errors.New("not a valid JSON object")
	}
	if len(bytes.TrimLeft(data[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, errors.New("data after the JSON object")
	}
	if !utf8.Valid(data) {
		return nil, errors.New("the JSON is not valid UTF-8")
	}
	return out, nil
}

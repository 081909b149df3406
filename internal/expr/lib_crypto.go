package expr

import (
	"bytes"
	"crypto"
	"crypto/aes"
	"crypto/cipher"
	"crypto/des"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"encoding/pem"
	"hash"
	"strings"
	"time"

	"golang.org/x/crypto/pkcs12"
)

// HashAlgorithm is a hash or HMAC object (SHA256.Create(), new HMACSHA256(key)).
type HashAlgorithm struct {
	name  string // "SHA256", "HMACSHA256", ...
	newFn func() hash.Hash
	hmac  bool
	key   []byte
}

func (h *HashAlgorithm) compute(f *frame, data []byte) []byte {
	if data == nil {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'buffer')")
	}
	f.work(len(data) * hashWork)
	var hh hash.Hash
	if h.hmac {
		hh = hmac.New(h.newFn, h.key)
	} else {
		hh = h.newFn()
	}
	hh.Write(data)
	return hh.Sum(nil)
}

// Cryptography is charged by what it costs, in steps of a loop iteration's time
// (some 30 ns): hashing about 8 steps per 256 bytes, a symmetric cipher 4, an
// RSA operation a fixed amount that grows with the key.
const (
	hashWork   = 8
	cipherWork = 4
	// rsaSignSteps is an RSA-2048 signature (about a millisecond);
	// rsaVerifySteps a verification; rsaGenerateSteps making a key.
	rsaSignSteps     = 30_000
	rsaVerifySteps   = 1_500
	rsaGenerateSteps = 300_000
	// certVerifySteps is building and checking a certificate chain.
	certVerifySteps = 10_000
	// pkcs12IterationSteps is one iteration of PKCS#12's key derivation, for the
	// few keys a file needs.
	pkcs12IterationSteps = 50
)

// rsaSteps scales an RSA-2048 cost to the key's size: the private operation
// grows with the cube of the modulus length, the public one with its square.
func rsaSteps(base int, bits int, exp int) int {
	r := float64(max(bits, 1024)) / 2048
	n := float64(base)
	for range exp {
		n *= r
	}
	return int(n)
}

var hashFns = map[string]func() hash.Hash{
	"MD5":    md5.New,
	"SHA1":   sha1.New,
	"SHA256": sha256.New,
	"SHA384": sha512.New384,
	"SHA512": sha512.New,
}

var hashIDs = map[string]crypto.Hash{
	"MD5": crypto.MD5, "SHA1": crypto.SHA1, "SHA256": crypto.SHA256, "SHA384": crypto.SHA384, "SHA512": crypto.SHA512,
}

// HashAlgorithmName is System.Security.Cryptography.HashAlgorithmName.
type HashAlgorithmName struct{ Name string }

// RSAKey is an RSA key (RSA, RSACng): the private key, or only the public one.
type RSAKey struct {
	priv *rsa.PrivateKey
	pub  *rsa.PublicKey
}

// RSASignaturePadding is Pkcs1 or Pss.
type RSASignaturePadding struct{ pss bool }

func declCrypto(u *universe) {
	ns := "System.Security.Cryptography."
	ha := u.decl(ns+"HashAlgorithm", tkClass, "")
	ha.is = func(v any) bool { _, ok := v.(*HashAlgorithm); return ok }
	kha := u.decl(ns+"KeyedHashAlgorithm", tkClass, "HashAlgorithm")
	kha.is = func(v any) bool { h, ok := v.(*HashAlgorithm); return ok && h.hmac }
	hm := u.decl(ns+"HMAC", tkClass, "KeyedHashAlgorithm")
	hm.is = kha.is
	ha.method("ComputeHash(byte[] buffer) byte[]", x2(func(f *frame, h *HashAlgorithm, b []byte) []byte { return h.compute(f, b) }))
	ha.method("ComputeHash(byte[] buffer, int offset, int count) byte[]", x4(func(f *frame, h *HashAlgorithm, b []byte, off, n int32) []byte {
		if off < 0 || n < 0 || int(off+n) > len(b) {
			throw("ArgumentException", "Offset and length were out of bounds for the array or count is greater than the number of elements from index to the end of the source collection")
		}
		return h.compute(f, b[off:off+n])
	}))
	ha.prop("HashSize int", f1(func(h *HashAlgorithm) int32 { return int32(h.newFn().Size() * 8) }))
	ha.method("Dispose() void", v1(func(*HashAlgorithm) {}))
	ha.method("Clear() void", v1(func(*HashAlgorithm) {}))
	m := kha.prop("Key byte[]", f1(func(h *HashAlgorithm) []byte { return append([]byte(nil), h.key...) }))
	m.set = v2(func(h *HashAlgorithm, k []byte) {
		if k == nil {
			throw("ArgumentNullException", "Value cannot be null. (Parameter 'value')")
		}
		h.key = append([]byte(nil), k...)
	})
	for _, name := range []string{"MD5", "SHA1", "SHA256", "SHA384", "SHA512"} {
		name := name
		fn := hashFns[name]
		d := u.decl(ns+name, tkClass, "HashAlgorithm")
		d.is = func(v any) bool { h, ok := v.(*HashAlgorithm); return ok && h.name == name }
		d.smethod("Create() "+name, f0(func() *HashAlgorithm { return &HashAlgorithm{name: name, newFn: fn} }))
		d.smethod("HashData(byte[] source) byte[]", x1(func(f *frame, b []byte) []byte { return (&HashAlgorithm{newFn: fn}).compute(f, b) }))
		for _, alias := range []string{name + "Managed", name + "CryptoServiceProvider"} {
			if name == "MD5" && alias == "MD5Managed" {
				continue
			}
			a := u.decl(ns+alias, tkClass, name)
			a.is = d.is
			a.ctor("()", f0(func() *HashAlgorithm { return &HashAlgorithm{name: name, newFn: fn} }))
		}
		hname := "HMAC" + name
		hd := u.decl(ns+hname, tkClass, "HMAC")
		hd.is = func(v any) bool { h, ok := v.(*HashAlgorithm); return ok && h.name == hname }
		hd.ctor("()", f0(func() *HashAlgorithm {
			key := make([]byte, 64)
			rand.Read(key)
			return &HashAlgorithm{name: hname, newFn: fn, hmac: true, key: key}
		}))
		hd.ctor("(byte[] key)", f1(func(k []byte) *HashAlgorithm {
			if k == nil {
				throw("ArgumentNullException", "Value cannot be null. (Parameter 'key')")
			}
			return &HashAlgorithm{name: hname, newFn: fn, hmac: true, key: append([]byte(nil), k...)}
		}))
		hd.smethod("HashData(byte[] key, byte[] source) byte[]", x2(func(f *frame, k, b []byte) []byte {
			return (&HashAlgorithm{newFn: fn, hmac: true, key: k}).compute(f, b)
		}))
	}

	han := u.decl(ns+"HashAlgorithmName", tkStruct, "")
	han.is = func(v any) bool { _, ok := v.(HashAlgorithmName); return ok }
	han.zero = HashAlgorithmName{}
	for _, name := range []string{"MD5", "SHA1", "SHA256", "SHA384", "SHA512"} {
		n := name
		han.sprop(name+" HashAlgorithmName", f0(func() HashAlgorithmName { return HashAlgorithmName{n} }))
	}
	han.prop("Name string", f1(func(h HashAlgorithmName) string { return h.Name }))
	han.ctor("(string name)", f1(func(s string) HashAlgorithmName { return HashAlgorithmName{s} }))

	pad := u.decl(ns+"RSASignaturePadding", tkClass, "")
	pad.is = func(v any) bool { _, ok := v.(RSASignaturePadding); return ok }
	pad.sprop("Pkcs1 RSASignaturePadding", f0(func() RSASignaturePadding { return RSASignaturePadding{} }))
	pad.sprop("Pss RSASignaturePadding", f0(func() RSASignaturePadding { return RSASignaturePadding{pss: true} }))

	ra := u.decl(ns+"AsymmetricAlgorithm", tkClass, "")
	ra.is = func(v any) bool { _, ok := v.(*RSAKey); return ok }
	r := u.decl(ns+"RSA", tkClass, "AsymmetricAlgorithm")
	r.is = ra.is
	for _, alias := range []string{"RSACng", "RSACryptoServiceProvider", "RSAOpenSsl"} {
		u.decl(ns+alias, tkClass, "RSA").is = ra.is
	}
	r.smethod("Create() RSA", x0(func(f *frame) *RSAKey {
		f.stepN(rsaGenerateSteps)
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			throw("CryptographicException", "cannot generate an RSA key")
		}
		return &RSAKey{priv: k, pub: &k.PublicKey}
	}))
	r.prop("KeySize int", f1(func(k *RSAKey) int32 { return int32(k.pub.N.BitLen()) }))
	r.method("SignData(byte[] data, HashAlgorithmName hashAlgorithm, RSASignaturePadding padding) byte[]", x4(func(f *frame, k *RSAKey, data []byte, h HashAlgorithmName, p RSASignaturePadding) []byte {
		if k.priv == nil {
			throw("CryptographicException", "the key has no private part")
		}
		id, ok := hashIDs[h.Name]
		if !ok {
			throw("CryptographicException", "'%s' is not a known hash algorithm", h.Name)
		}
		f.work(len(data) * hashWork)
		f.stepN(rsaSteps(rsaSignSteps, k.priv.N.BitLen(), 3))
		hh := id.New()
		hh.Write(data)
		digest := hh.Sum(nil)
		var sig []byte
		var err error
		if p.pss {
			sig, err = rsa.SignPSS(rand.Reader, k.priv, id, digest, &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
		} else {
			sig, err = rsa.SignPKCS1v15(nil, k.priv, id, digest)
		}
		if err != nil {
			throw("CryptographicException", "signing failed")
		}
		return sig
	}))
	r.method("VerifyData(byte[] data, byte[] signature, HashAlgorithmName hashAlgorithm, RSASignaturePadding padding) bool", func(c *checker, cs *site, args []*operand) *operand {
		k, data, sig, h, p := getAs[*RSAKey](args[0]), getAs[[]byte](args[1]), getAs[[]byte](args[2]), getAs[HashAlgorithmName](args[3]), getAs[RSASignaturePadding](args[4])
		pos := cs.pos
		return &operand{t: tBool, n: cs.n, b: func(f *frame) bool {
			key, d, s, hn, pd := k(f), data(f), sig(f), h(f), p(f)
			f.pos = pos
			if key == nil {
				nre(pos, cs.desc)
			}
			f.work(len(d) * hashWork)
			f.stepN(rsaSteps(rsaVerifySteps, key.pub.N.BitLen(), 2))
			id, ok := hashIDs[hn.Name]
			if !ok {
				throw("CryptographicException", "'%s' is not a known hash algorithm", hn.Name)
			}
			hh := id.New()
			hh.Write(d)
			if pd.pss {
				return rsa.VerifyPSS(key.pub, id, hh.Sum(nil), s, nil) == nil
			}
			return rsa.VerifyPKCS1v15(key.pub, id, hh.Sum(nil), s) == nil
		}}
	})

	rng := u.decl(ns+"RandomNumberGenerator", tkClass, "")
	rng.is = func(v any) bool { _, ok := v.(rngT); return ok }
	rng.smethod("Create() RandomNumberGenerator", f0(func() rngT { return rngT{} }))
	rng.smethod("GetBytes(int count) byte[]", x1(func(f *frame, n int32) []byte {
		if n < 0 {
			throw("ArgumentOutOfRangeException", "Non-negative number required. (Parameter 'count')")
		}
		f.alloc(int(n))
		b := make([]byte, n)
		rand.Read(b)
		return b
	}))
	rng.smethod("GetInt32(int fromInclusive, int toExclusive) int", f2(func(lo, hi int32) int32 {
		if lo >= hi {
			throw("ArgumentException", "Range of random number does not contain at least one possibility")
		}
		var b [8]byte
		rand.Read(b[:])
		span := uint64(int64(hi) - int64(lo))
		v := uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 | uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
		return lo + int32(v%span)
	}))
	rng.method("GetBytes(byte[] data) void", v2(func(_ rngT, b []byte) { rand.Read(b) }))
	// (meterArgs charges for the bytes filled)
	rngp := u.decl(ns+"RNGCryptoServiceProvider", tkClass, "RandomNumberGenerator")
	rngp.is = rng.is
	rngp.ctor("()", f0(func() rngT { return rngT{} }))

	// X509Certificate2
	xns := ns + "X509Certificates."
	xc := u.decl(xns+"X509Certificate", tkClass, "")
	xc.is = func(v any) bool { _, ok := v.(*Certificate); return ok }
	x2d := u.decl(xns+"X509Certificate2", tkClass, "X509Certificate")
	x2d.is = xc.is
	xn := u.decl(xns+"X500DistinguishedName", tkClass, "")
	xn.is = func(v any) bool { _, ok := v.(distName); return ok }
	xn.prop("Name string", f1(func(d distName) string { return d.name }))
	flags := u.decl(xns+"X509KeyStorageFlags", tkEnum, "")
	flags.flagsV(map[string]int64{"DefaultKeySet": 0, "UserKeySet": 1, "MachineKeySet": 2, "Exportable": 4, "UserProtected": 8, "PersistKeySet": 16, "EphemeralKeySet": 32}, "DefaultKeySet", "UserKeySet", "MachineKeySet", "Exportable", "UserProtected", "PersistKeySet", "EphemeralKeySet")
	x2d.ctor("(byte[] rawData)", x1(func(f *frame, b []byte) *Certificate { return loadCertificate(f, b, "") }))
	x2d.ctor("(byte[] rawData, string password)", x2(func(f *frame, b []byte, pw string) *Certificate { return loadCertificate(f, b, pw) }))
	x2d.ctor("(byte[] rawData, string password, X509KeyStorageFlags keyStorageFlags)", x3(func(f *frame, b []byte, pw string, _ int64) *Certificate {
		return loadCertificate(f, b, pw)
	}))
	xc.prop("Thumbprint string", f1(func(c *Certificate) string {
		s := sha1.Sum(c.Cert.Raw)
		return strings.ToUpper(hex.EncodeToString(s[:]))
	}))
	xc.prop("Subject string", f1(func(c *Certificate) string { return dotnetDN(c.Cert.Subject) }))
	xc.prop("Issuer string", f1(func(c *Certificate) string { return dotnetDN(c.Cert.Issuer) }))
	xc.prop("SubjectName X500DistinguishedName", f1(func(c *Certificate) distName { return distName{dotnetDN(c.Cert.Subject)} }))
	xc.prop("IssuerName X500DistinguishedName", f1(func(c *Certificate) distName { return distName{dotnetDN(c.Cert.Issuer)} }))
	xc.prop("NotBefore DateTime", f1(func(c *Certificate) any { return withKind(c.Cert.NotBefore.UTC(), 2) }))
	xc.prop("NotAfter DateTime", f1(func(c *Certificate) any { return withKind(c.Cert.NotAfter.UTC(), 2) }))
	xc.prop("SerialNumber string", f1(func(c *Certificate) string { return strings.ToUpper(hex.EncodeToString(c.Cert.SerialNumber.Bytes())) }))
	xc.prop("RawData byte[]", f1(func(c *Certificate) []byte { return append([]byte(nil), c.Cert.Raw...) }))
	xc.prop("HasPrivateKey bool", f1(func(c *Certificate) bool { return c.Key != nil }))
	xc.prop("Version int", f1(func(c *Certificate) int32 { return int32(c.Cert.Version) }))
	xc.method("GetCertHash() byte[]", f1(func(c *Certificate) []byte { s := sha1.Sum(c.Cert.Raw); return s[:] }))
	xc.method("GetCertHashString() string", f1(func(c *Certificate) string {
		s := sha1.Sum(c.Cert.Raw)
		return strings.ToUpper(hex.EncodeToString(s[:]))
	}))
	xc.method("GetRSAPrivateKey() RSA", f1(func(c *Certificate) *RSAKey {
		k, ok := c.Key.(*rsa.PrivateKey)
		if !ok {
			return nil
		}
		return &RSAKey{priv: k, pub: &k.PublicKey}
	}))
	xc.method("GetRSAPublicKey() RSA", f1(func(c *Certificate) *RSAKey {
		k, ok := c.Cert.PublicKey.(*rsa.PublicKey)
		if !ok {
			return nil
		}
		return &RSAKey{pub: k}
	}))
	verify := func(f *frame, c *Certificate) bool {
		f.stepN(certVerifySteps)
		now := time.Now()
		if now.Before(c.Cert.NotBefore) || now.After(c.Cert.NotAfter) {
			return false
		}
		_, err := c.Cert.Verify(x509.VerifyOptions{CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny}})
		return err == nil
	}
	xc.method("Verify() bool", x1(verify))
	xc.method("VerifyNoRevocation() bool", x1(verify))
	u.extension("VerifyNoRevocation(this X509Certificate2 certificate) bool", x1(func(f *frame, c *Certificate) bool {
		if c == nil {
			throw("ArgumentNullException", "Value cannot be null. (Parameter 'certificate')")
		}
		return verify(f, c)
	}))
	xc.method("ToString() string", f1(func(c *Certificate) string { return "[Subject]\n  " + dotnetDN(c.Cert.Subject) }))

	// Encrypt/Decrypt extension methods on byte[] (API Management's own)
	u.extension("Encrypt(this byte[] input, string alg, byte[] key, byte[] iv) byte[]", x4(func(f *frame, in []byte, alg string, key, iv []byte) []byte {
		return symmetric(f, in, alg, key, iv, true)
	}))
	u.extension("Decrypt(this byte[] input, string alg, byte[] key, byte[] iv) byte[]", x4(func(f *frame, in []byte, alg string, key, iv []byte) []byte {
		return symmetric(f, in, alg, key, iv, false)
	}))
}

type rngT struct{}

type distName struct{ name string }

// dotnetDN formats a distinguished name as .NET does: the most specific RDN
// first, "CN=host, O=Org, C=US".
func dotnetDN(n pkix.Name) string {
	rdns := n.ToRDNSequence()
	var parts []string
	for i := len(rdns) - 1; i >= 0; i-- {
		for _, atv := range rdns[i] {
			key := oidShort(atv.Type.String())
			v, _ := atv.Value.(string)
			if strings.ContainsAny(v, ",+\"=<>#;") {
				v = `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
			}
			parts = append(parts, key+"="+v)
		}
	}
	return strings.Join(parts, ", ")
}

func oidShort(oid string) string {
	switch oid {
	case "2.5.4.3":
		return "CN"
	case "2.5.4.6":
		return "C"
	case "2.5.4.7":
		return "L"
	case "2.5.4.8":
		return "S"
	case "2.5.4.10":
		return "O"
	case "2.5.4.11":
		return "OU"
	case "2.5.4.9":
		return "STREET"
	case "1.2.840.113549.1.9.1":
		return "E"
	case "0.9.2342.19200300.100.1.25":
		return "DC"
	case "2.5.4.5":
		return "SERIALNUMBER"
	}
	return "OID." + oid
}

// loadCertificate reads DER, PEM or PKCS#12 (with password) data. PKCS#12's
// key derivation repeats a hash as many times as the file says (up to a
// million): it is charged by that count, read before the file is decoded.
func loadCertificate(f *frame, b []byte, pw string) *Certificate {
	if b == nil {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'rawData')")
	}
	f.work(len(b) * hashWork)
	if c, err := x509.ParseCertificate(b); err == nil {
		return &Certificate{Cert: c}
	}
	if blk, _ := pem.Decode(b); blk != nil && blk.Type == "CERTIFICATE" {
		if c, err := x509.ParseCertificate(blk.Bytes); err == nil {
			return &Certificate{Cert: c}
		}
	}
	if isNull(pw) {
		pw = ""
	}
	var pfx struct {
		Version  int
		AuthSafe asn1.RawValue
		MacData  struct {
			Mac        asn1.RawValue
			MacSalt    []byte
			Iterations int `asn1:"optional,default:1"`
		} `asn1:"optional"`
	}
	if _, err := asn1.Unmarshal(b, &pfx); err == nil {
		f.stepN(min(max(pfx.MacData.Iterations, 1), 1<<20) * pkcs12IterationSteps)
	}
	blocks, err := pkcs12.ToPEM(b, pw)
	if err != nil {
		throw("CryptographicException", "The certificate data cannot be read: %s", strings.TrimPrefix(err.Error(), "pkcs12: "))
	}
	var cert *x509.Certificate
	var key any
	var certs []*x509.Certificate
	for _, blk := range blocks {
		switch blk.Type {
		case "CERTIFICATE":
			c, err := x509.ParseCertificate(blk.Bytes)
			if err == nil {
				certs = append(certs, c)
			}
		case "PRIVATE KEY":
			if k, err := x509.ParsePKCS8PrivateKey(blk.Bytes); err == nil {
				key = k
			} else if k, err := x509.ParsePKCS1PrivateKey(blk.Bytes); err == nil {
				key = k
			}
		}
	}
	// the leaf is the certificate that matches the key
	for _, c := range certs {
		if rk, ok := key.(*rsa.PrivateKey); ok {
			if pk, ok := c.PublicKey.(*rsa.PublicKey); ok && pk.N.Cmp(rk.N) == 0 {
				cert = c
			}
		}
	}
	if cert == nil && len(certs) > 0 {
		cert = certs[0]
	}
	if cert == nil {
		throw("CryptographicException", "The certificate data contains no certificate")
	}
	return &Certificate{Cert: cert, Key: key}
}

// symmetric implements the Encrypt/Decrypt extensions: CBC mode with PKCS#7
// padding, .NET's defaults for Aes, Rijndael, TripleDES and DES.
func symmetric(f *frame, in []byte, alg string, key, iv []byte, enc bool) []byte {
	if in == nil || key == nil || iv == nil {
		throw("ArgumentNullException", "Value cannot be null")
	}
	var block cipher.Block
	var err error
	switch strings.ToLower(alg) {
	case "aes", "rijndael", "system.security.cryptography.aes", "aesmanaged", "aescryptoserviceprovider", "rijndaelmanaged":
		block, err = aes.NewCipher(key)
	case "tripledes", "3des", "system.security.cryptography.tripledes":
		block, err = des.NewTripleDESCipher(key)
	case "des", "system.security.cryptography.des":
		block, err = des.NewCipher(key)
	default:
		throw("CryptographicException", "'%s' is not a supported symmetric algorithm: use Aes, TripleDES or DES", alg)
	}
	if err != nil {
		throw("CryptographicException", "Specified key is not a valid size for this algorithm")
	}
	bs := block.BlockSize()
	if len(iv) != bs {
		throw("CryptographicException", "Specified initialization vector (IV) does not match the block size for this algorithm")
	}
	f.work(len(in) * cipherWork)
	f.allocN(2, len(in)+bs) // the padded copy, then the result
	if enc {
		n := bs - len(in)%bs
		buf := append(append([]byte(nil), in...), bytes.Repeat([]byte{byte(n)}, n)...)
		cipher.NewCBCEncrypter(block, iv).CryptBlocks(buf, buf)
		return buf
	}
	if len(in) == 0 || len(in)%bs != 0 {
		throw("CryptographicException", "The input data is not a complete block")
	}
	buf := append([]byte(nil), in...)
	cipher.NewCBCDecrypter(block, iv).CryptBlocks(buf, buf)
	n := int(buf[len(buf)-1])
	if n == 0 || n > bs || n > len(buf) {
		throw("CryptographicException", "Padding is invalid and cannot be removed")
	}
	for _, p := range buf[len(buf)-n:] {
		if int(p) != n {
			throw("CryptographicException", "Padding is invalid and cannot be removed")
		}
	}
	return buf[:len(buf)-n]
}

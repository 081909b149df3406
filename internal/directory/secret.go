package directory

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"golang.org/x/crypto/argon2"
)

// Client secrets are kept only as Argon2id hashes in the PHC string format
// ($argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash>), so lastmile.yaml
// can be committed without giving the secrets away. Secrets exist for the "old
// way" API Management policies that call a token endpoint with send-request;
// certificates and federation are better.

// Argon2id parameters for new hashes: OWASP's recommended minimum (19 MiB, two
// passes, one lane). Verification costs about as much, which is why the identity
// provider remembers verified secrets for a while.
const (
	secretMemoryKiB = 19 * 1024
	secretPasses    = 2
	secretLanes     = 1
	secretSaltLen   = 16
	secretHashLen   = 32
)

// Bounds on the parameters of configured hashes, so that a hash cannot make each
// verification take gigabytes or minutes.
const (
	maxSecretMemoryKiB = 256 * 1024
	maxSecretPasses    = 16
	maxSecretLanes     = 16
)

// NewClientSecret returns a new random client secret (256 bits, base64url) and
// its hash for lastmile.yaml.
func NewClientSecret() (secret, hash string) {
	var b [32]byte
	rand.Read(b[:])
	secret = base64.RawURLEncoding.EncodeToString(b[:])
	return secret, HashClientSecret(secret)
}

// HashClientSecret returns the Argon2id hash of secret, with a random salt, in
// the PHC string format that identity.applications[].secretHashes takes.
func HashClientSecret(secret string) string {
	salt := make([]byte, secretSaltLen)
	rand.Read(salt)
	h := SecretHash{memory: secretMemoryKiB, passes: secretPasses, lanes: secretLanes, salt: salt}
	h.hash = h.derive(secret)
	return h.String()
}

// CheckClientSecretHash reports what is wrong with a configured secret hash.
func CheckClientSecretHash(s string) error {
	_, err := ParseClientSecretHash(s)
	return err
}

// SecretHash is a parsed client secret hash.
type SecretHash struct {
	memory, passes uint32
	lanes          uint8
	salt, hash     []byte
}

func (h SecretHash) derive(secret string) []byte {
	return argon2.IDKey([]byte(secret), h.salt, h.passes, h.memory, h.lanes, uint32(max(len(h.hash), secretHashLen)))
}

// String is the hash in the PHC string format.
func (h SecretHash) String() string {
	enc := base64.RawStdEncoding
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.memory, h.passes, h.lanes,
		enc.EncodeToString(h.salt), enc.EncodeToString(h.hash))
}

// Matches reports whether secret is the one hashed, in constant time. It costs
// as much as hashing (Argon2id): callers bound how many run at once.
func (h SecretHash) Matches(secret string) bool {
	return subtle.ConstantTimeCompare(argon2.IDKey([]byte(secret), h.salt, h.passes, h.memory, h.lanes, uint32(len(h.hash))), h.hash) == 1
}

// ParseClientSecretHash reads a hash in the PHC string format, refusing
// parameters that would make one verification cost gigabytes or minutes.
func ParseClientSecretHash(s string) (SecretHash, error) {
	const format = "$argon2id$v=19$m=<KiB>,t=<passes>,p=<lanes>$<salt>$<hash> (make one with lastmile secret new or lastmile secret hash)"
	var h SecretHash
	parts := strings.Split(s, "$")
	if len(parts) != 6 || parts[0] != "" {
		return h, fmt.Errorf("not an Argon2id hash in the PHC format %s", format)
	}
	if parts[1] != "argon2id" {
		return h, fmt.Errorf("hash algorithm %q: only argon2id is accepted, in the format %s", clip(parts[1]), format)
	}
	if parts[2] != "v="+strconv.Itoa(argon2.Version) {
		return h, fmt.Errorf("Argon2 version %q: only v=%d is accepted", clip(parts[2]), argon2.Version)
	}
	var m, t, p uint64
	params := strings.Split(parts[3], ",")
	if len(params) != 3 {
		return h, fmt.Errorf("parameters %q: want m=<KiB>,t=<passes>,p=<lanes>", clip(parts[3]))
	}
	for i, want := range []struct {
		name string
		dst  *uint64
		max  uint64
	}{{"m", &m, maxSecretMemoryKiB}, {"t", &t, maxSecretPasses}, {"p", &p, maxSecretLanes}} {
		v, ok := strings.CutPrefix(params[i], want.name+"=")
		n, err := strconv.ParseUint(v, 10, 32)
		if !ok || err != nil || n == 0 || n > want.max {
			return h, fmt.Errorf("parameter %q: want %s=<1 to %d>", clip(params[i]), want.name, want.max)
		}
		*want.dst = n
	}
	if m < 8*p {
		return h, fmt.Errorf("memory m=%d is less than 8 KiB per lane", m)
	}
	salt, err1 := base64.RawStdEncoding.DecodeString(parts[4])
	hash, err2 := base64.RawStdEncoding.DecodeString(parts[5])
	switch {
	case err1 != nil || len(salt) < 8:
		return h, errors.New("the salt is not base64 (without padding) of at least 8 bytes")
	case err2 != nil || len(hash) < 16 || len(hash) > 64:
		return h, errors.New("the hash is not base64 (without padding) of 16 to 64 bytes")
	}
	return SecretHash{memory: uint32(m), passes: uint32(t), lanes: uint8(p), salt: salt, hash: hash}, nil
}

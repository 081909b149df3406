package statedir

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// KeySize is the size of a state encryption key: AES-256.
const KeySize = 32

// Keys are the keys that encrypt state kept outside the machine (Shared, in
// Redis) with AES-256-GCM. The first key encrypts; every key decrypts, so that
// the key can be rotated: add the new key after the old one everywhere, then
// put it first, re-encrypt, and remove the old one. Each record names the key
// that sealed it by its id, which is derived from the key (see KeyID), so a
// record sealed with a key an instance lacks is reported by that id.
type Keys struct {
	keys []sealKey
}

type sealKey struct {
	id   string
	aead cipher.AEAD
}

// ParseKeys reads keys from text: one or more base64 values of KeySize bytes
// (standard or URL alphabet, padded or not), separated by white space or
// commas, the encrypting key first. Errors name a key by its position, never
// by its value.
func ParseKeys(text string) (*Keys, error) {
	fields := strings.FieldsFunc(text, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' || r == '\n' || r == '\r' })
	if len(fields) == 0 {
		return nil, errors.New("no encryption key: give one or more keys of 32 random bytes in base64 (generate one with: openssl rand -base64 32)")
	}
	k := &Keys{}
	seen := map[string]int{}
	for i, f := range fields {
		raw, err := decodeKey(f)
		if err != nil {
			return nil, fmt.Errorf("encryption key %d of %d is not base64: give 32 random bytes in base64 (generate one with: openssl rand -base64 32)", i+1, len(fields))
		}
		if len(raw) != KeySize {
			return nil, fmt.Errorf("encryption key %d of %d is %d bytes, want %d: give 32 random bytes in base64 (generate one with: openssl rand -base64 32)", i+1, len(fields), len(raw), KeySize)
		}
		id := KeyID(raw)
		if prev, dup := seen[id]; dup {
			return nil, fmt.Errorf("encryption keys %d and %d are the same key (%s); list each key once", prev, i+1, id)
		}
		seen[id] = i + 1
		block, err := aes.NewCipher(raw)
		if err != nil {
			return nil, fmt.Errorf("encryption key %d: %w", i+1, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("encryption key %d: %w", i+1, err)
		}
		k.keys = append(k.keys, sealKey{id: id, aead: aead})
	}
	return k, nil
}

func decodeKey(s string) ([]byte, error) {
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.Strict().DecodeString(s); err == nil {
			return raw, nil
		}
	}
	return nil, errors.New("not base64")
}

// KeyID is the id of an encryption key as records and messages name it: the
// first 8 bytes, in hex, of the SHA-256 of a fixed label and the key. It tells
// keys apart without revealing anything usable about them.
func KeyID(key []byte) string {
	sum := sha256.Sum256(append([]byte("lastmile state encryption key\x00"), key...))
	return hex.EncodeToString(sum[:8])
}

// IDs returns the keys' ids, the encrypting key's first.
func (k *Keys) IDs() []string {
	ids := make([]string, len(k.keys))
	for i, s := range k.keys {
		ids[i] = s.id
	}
	return ids
}

// sealed is a record as stored: the key's id, the nonce and the ciphertext
// (with GCM's tag), in JSON so that a human looking at Redis sees what it is.
type sealed struct {
	Version int    `json:"v"`
	KeyID   string `json:"kid"`
	Nonce   []byte `json:"nonce"`
	Data    []byte `json:"data"`
}

const sealVersion = 1

// additional binds a record to its name and key id, so that a record copied to
// another name, or relabelled with another key's id, does not decrypt.
func additional(name, kid string) []byte {
	return []byte("lastmile state v1\x00" + name + "\x00" + kid)
}

// seal encrypts plaintext as the record name with the first key.
func (k *Keys) seal(name string, plaintext []byte) ([]byte, error) {
	key := k.keys[0]
	nonce := make([]byte, key.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("encrypting state %s: %w", name, err)
	}
	return json.Marshal(sealed{
		Version: sealVersion,
		KeyID:   key.id,
		Nonce:   nonce,
		Data:    key.aead.Seal(nil, nonce, plaintext, additional(name, key.id)),
	})
}

// KeyError is returned for a record that cannot be decrypted: sealed with a
// key this instance does not have, or changed since it was sealed.
type KeyError struct {
	Name  string   // the record, as Describe names it
	KeyID string   // the key id the record names; "" when it names none
	Have  []string // the ids of this instance's keys
	// Unknown is true when the record names a key this instance lacks; false
	// when it names one of them but does not decrypt with it.
	Unknown bool
}

func (e *KeyError) Error() string {
	switch {
	case e.KeyID == "":
		return fmt.Sprintf("%s is not an encrypted record; it was not written by lastmile, restore it from a backup", e.Name)
	case e.Unknown:
		return fmt.Sprintf("%s is encrypted with key %s, which is not among this instance's encryption keys (%s): give every instance the same keys (store.encryptionKeyEnv or store.encryptionKeyFile)",
			e.Name, e.KeyID, strings.Join(e.Have, ", "))
	default:
		return fmt.Sprintf("%s does not decrypt with key %s: the record was changed or damaged after it was written, or another key has the same id; restore it from a backup", e.Name, e.KeyID)
	}
}

// open decrypts the record name; what names it in errors.
func (k *Keys) open(name, what string, record []byte) ([]byte, error) {
	var s sealed
	if err := json.Unmarshal(record, &s); err != nil || s.Version != sealVersion || !validKeyID(s.KeyID) {
		return nil, &KeyError{Name: what, Have: k.IDs()}
	}
	for _, key := range k.keys {
		if key.id != s.KeyID {
			continue
		}
		if len(s.Nonce) != key.aead.NonceSize() {
			break
		}
		plain, err := key.aead.Open(nil, s.Nonce, s.Data, additional(name, s.KeyID))
		if err != nil {
			break
		}
		return plain, nil
	}
	unknown := true
	for _, key := range k.keys {
		if key.id == s.KeyID {
			unknown = false
		}
	}
	return nil, &KeyError{Name: what, KeyID: s.KeyID, Have: k.IDs(), Unknown: unknown}
}

// validKeyID reports whether id has the form of KeyID's ids (16 lower-case hex
// digits), so that an id read from a record is safe to repeat in a message.
func validKeyID(id string) bool {
	if len(id) != 16 {
		return false
	}
	for _, c := range id {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// sealedWith returns the id of the key a record names, "" if none.
func sealedWith(record []byte) string {
	var s sealed
	if json.Unmarshal(record, &s) != nil || !validKeyID(s.KeyID) {
		return ""
	}
	return s.KeyID
}

package statedir

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func newTestKey(t testing.TB) string {
	t.Helper()
	b := make([]byte, KeySize)
	rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}

func mustKeys(t testing.TB, text string) *Keys {
	t.Helper()
	k, err := ParseKeys(text)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestParseKeys(t *testing.T) {
	raw := bytes.Repeat([]byte{0xfb}, KeySize) // encodes with + and / in standard base64
	std := base64.StdEncoding.EncodeToString(raw)
	other := newTestKey(t)
	for _, tc := range []struct {
		name    string
		text    string
		wantIDs []string
		wantErr string
	}{
		{name: "standard, padded", text: std + "\n", wantIDs: []string{KeyID(raw)}},
		{name: "URL alphabet, unpadded", text: base64.RawURLEncoding.EncodeToString(raw), wantIDs: []string{KeyID(raw)}},
		{name: "two keys, first encrypts", text: std + " , " + other, wantIDs: []string{KeyID(raw), mustKeys(t, other).IDs()[0]}},
		{name: "empty", text: " \n", wantErr: "no encryption key: give one or more keys of 32 random bytes in base64 (generate one with: openssl rand -base64 32)"},
		{name: "a passphrase", text: "hunter2", wantErr: "encryption key 1 of 1 is not base64: give 32 random bytes in base64 (generate one with: openssl rand -base64 32)"},
		{name: "16 bytes", text: std + " " + base64.StdEncoding.EncodeToString(raw[:16]), wantErr: "encryption key 2 of 2 is 16 bytes, want 32: give 32 random bytes in base64 (generate one with: openssl rand -base64 32)"},
		{name: "twice", text: std + "\n" + base64.RawURLEncoding.EncodeToString(raw), wantErr: "encryption keys 1 and 2 are the same key (" + KeyID(raw) + "); list each key once"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := ParseKeys(tc.text)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %s", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), std) || strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error repeats the key: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.wantIDs, k.IDs()); diff != "" {
				t.Errorf("key ids (-want +got):\n%s", diff)
			}
		})
	}
}

// TestSealOpen: records open with the key that sealed them, under their own
// name only, and every failure is a KeyError that names the key id and says
// what to do, never the cryptography library's message.
func TestSealOpen(t *testing.T) {
	oldKey, newKey := newTestKey(t), newTestKey(t)
	old, rotated, stranger := mustKeys(t, oldKey), mustKeys(t, newKey+" "+oldKey), mustKeys(t, newTestKey(t))
	secret := []byte(`{"private":{"d":"c2VjcmV0"}}`)
	record, err := old.seal("idp/keys.json", secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(record, secret) || bytes.Contains(record, []byte("c2VjcmV0")) {
		t.Fatalf("the record holds the plaintext: %s", record)
	}
	var env map[string]any
	if err := json.Unmarshal(record, &env); err != nil || env["kid"] != old.IDs()[0] {
		t.Fatalf("record %s: want JSON naming key %s", record, old.IDs()[0])
	}
	// Both key sets that hold the old key open it; the rotated set seals with
	// the new key.
	for _, k := range []*Keys{old, rotated} {
		got, err := k.open("idp/keys.json", "state idp/keys.json", record)
		if err != nil || !bytes.Equal(got, secret) {
			t.Fatalf("open: %q, %v", got, err)
		}
	}
	if again, _ := rotated.seal("idp/keys.json", secret); sealedWith(again) != rotated.IDs()[0] {
		t.Errorf("the rotated key set seals with %s, want the first key %s", sealedWith(again), rotated.IDs()[0])
	}

	tampered := func(change func(*sealed)) []byte {
		var s sealed
		json.Unmarshal(record, &s)
		change(&s)
		b, _ := json.Marshal(s)
		return b
	}
	for _, tc := range []struct {
		name   string
		keys   *Keys
		as     string // the name the record is opened as
		record []byte
		want   string
	}{
		{"another key", stranger, "idp/keys.json", record,
			"state idp/keys.json is encrypted with key " + old.IDs()[0] + ", which is not among this instance's encryption keys (" + stranger.IDs()[0] + "): give every instance the same keys (store.encryptionKeyEnv or store.encryptionKeyFile)"},
		{"copied to another name", old, "idp/identities.json", record,
			"state idp/keys.json does not decrypt with key " + old.IDs()[0] + ": the record was changed or damaged after it was written, or another key has the same id; restore it from a backup"},
		{"ciphertext changed", old, "idp/keys.json", tampered(func(s *sealed) { s.Data[0] ^= 1 }),
			"state idp/keys.json does not decrypt with key " + old.IDs()[0] + ": the record was changed or damaged after it was written, or another key has the same id; restore it from a backup"},
		{"short nonce", old, "idp/keys.json", tampered(func(s *sealed) { s.Nonce = s.Nonce[:4] }),
			"state idp/keys.json does not decrypt with key " + old.IDs()[0] + ": the record was changed or damaged after it was written, or another key has the same id; restore it from a backup"},
		{"key id is not an id", old, "idp/keys.json", tampered(func(s *sealed) { s.KeyID = "<script>" }),
			"state idp/keys.json is not an encrypted record; it was not written by lastmile, restore it from a backup"},
		{"plain JSON", old, "idp/keys.json", secret,
			"state idp/keys.json is not an encrypted record; it was not written by lastmile, restore it from a backup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.keys.open(tc.as, "state idp/keys.json", tc.record)
			var ke *KeyError
			if !errors.As(err, &ke) {
				t.Fatalf("error %v, want a *KeyError", err)
			}
			if err.Error() != tc.want {
				t.Errorf("error\n%s\nwant\n%s", err, tc.want)
			}
			if strings.Contains(err.Error(), "cipher") || strings.Contains(err.Error(), "authentication failed") {
				t.Errorf("the error repeats the library's message: %v", err)
			}
		})
	}
}

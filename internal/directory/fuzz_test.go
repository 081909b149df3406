package directory_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// FuzzParseVerificationKeys feeds arbitrary PEM and JWK input to the key
// parser: no panic, and every key it returns is usable.
func FuzzParseVerificationKeys(f *testing.F) {
	ec, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwk, _ := json.Marshal(jose.JSONWebKey{Key: &ec.PublicKey, KeyID: "a", Use: "sig", Algorithm: "ES256"})
	f.Add(jwk)
	f.Add([]byte(`{"keys":[` + string(jwk) + `,{"kty":"oct","k":"AAAA"}]}`))
	f.Add([]byte("-----BEGIN PUBLIC KEY-----\nMFkw\n-----END PUBLIC KEY-----\n"))
	f.Add([]byte(`{"kty":"RSA","n":"AQAB","e":"AQAB","x5c":["AAAA"]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, parse := range []func([]byte) ([]directory.VerificationKey, error){directory.ParseVerificationKeys, directory.ParsePublishedKeys} {
			keys, err := parse(data)
			if err != nil {
				continue
			}
			for _, k := range keys {
				if err := directory.CheckPublicKey(k.Key); err != nil {
					t.Fatalf("returned an unusable key: %v", err)
				}
			}
		}
	})
}

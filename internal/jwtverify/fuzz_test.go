package jwtverify_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/lastmile-gw/lastmile/internal/jwtverify"
)

// FuzzToken feeds arbitrary tokens through parsing, decryption, signature
// verification and the claim checks: nothing panics, every failure is an
// *Error whose message never holds the token, and only tokens signed with the
// test key pass.
func FuzzToken(f *testing.F) {
	hs := sign(f, jwt.SigningMethodHS256, hmacKey, "k1", claims())
	f.Add(hs)
	f.Add(sign(f, jwt.SigningMethodRS256, rsaKey, "", claims()))
	f.Add(sign(f, jwt.SigningMethodES256, ecKey, "k2", claims()))
	f.Add("eyJhbGciOiJub25lIn0.e30.")
	f.Add("a.b.c.d.e")
	f.Add(handmade(`{"alg":"HS256","crit":["x"]}`, `{"exp":1}`, hmacKey))
	keys := []jwtverify.Key{{ID: "k1", Key: hmacKey}, {Key: &rsaKey.PublicKey}, {ID: "k2", Key: &ecKey.PublicKey}}
	dec := []jwtverify.DecryptionKey{{Key: hmacKey[:32]}, {Key: rsaKey2}}
	f.Fuzz(func(t *testing.T, raw string) {
		tok, err := jwtverify.Parse(raw, dec, false)
		if err == nil {
			var payload []byte
			if payload, _, err = tok.Verify(keys); err == nil {
				var c *jwtverify.Claims
				if c, err = jwtverify.ParseClaims(payload); err == nil {
					err = (&jwtverify.Rules{Now: time.Unix(1e9, 0), ClockSkew: time.Minute, Audiences: []string{"api://orders"}}).Check(c)
				}
			}
		}
		if err == nil {
			return
		}
		var ve *jwtverify.Error
		if !errors.As(err, &ve) || ve.Reason == "" {
			t.Fatalf("not an *Error with a reason: %v", err)
		}
		if len(raw) >= 16 && strings.Contains(ve.Message, raw) {
			t.Fatalf("the message holds the token: %q", ve.Message)
		}
	})
}

package console

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/jwks"
	"github.com/lastmile-gw/lastmile/internal/jwtverify"
)

// Trust is one issuer whose tokens open the console: signed by a key of
// Keys, issued by Issuer, for Audience, unexpired, with Role in the roles
// claim.
type Trust struct {
	// Keys are the issuer's signing keys: the embedded identity provider's
	// (jwks.StaticFetcher) or another issuer's, by OpenID discovery
	// (jwks.Cache).
	Keys *jwks.Source
	// Issuer is the iss the tokens must have; "" takes the issuer of the
	// key set (the discovery document's, or the provider's own).
	Issuer   string
	Audience string
	Role     string
}

// Tokens is the console's Authenticator: a bearer token that one of its
// trusts accepts. It verifies tokens as validate-jwt does (jwtverify: the
// signature with the issuer's keys, refusing none and unknown keys; the
// lifetime without clock skew; audience and issuer), then the role.
type Tokens []Trust

// errNoToken is what a call without a bearer token gets.
var errNoToken = errors.New("this console needs a bearer token: send Authorization: Bearer <token> (docs/console.md says how to get one)")

// Authenticate implements Authenticator.
func (ts Tokens) Authenticate(ctx context.Context, r *http.Request) error {
	raw, ok := bearer(r.Header.Get("Authorization"))
	if !ok {
		return errNoToken
	}
	tok, err := jwtverify.Parse(raw, nil, true)
	if err != nil {
		return errors.New("the bearer token is not a signed JWT")
	}
	var last error
	for _, t := range ts {
		if last = t.accept(ctx, tok); last == nil {
			return nil
		}
	}
	return last
}

func (t Trust) accept(ctx context.Context, tok *jwtverify.Token) error {
	set, err := t.Keys.Keys(ctx, tok.Kid)
	if err != nil {
		return errors.New("the issuer's signing keys are not available; see lastmile's log")
	}
	issuer := t.Issuer
	if issuer == "" {
		issuer = set.Issuer
	}
	keys := make([]jwtverify.Key, len(set.Keys))
	for i, k := range set.Keys {
		keys[i] = jwtverify.Key{ID: k.KeyID, Alg: k.Algorithm, Key: k.Key, Issuers: []string{issuer}}
	}
	payload, _, err := tok.Verify(keys)
	if err != nil {
		return err
	}
	claims, err := jwtverify.ParseClaims(payload)
	if err != nil {
		return err
	}
	rules := jwtverify.Rules{Now: time.Now(), RequireExpiration: true, Audiences: []string{t.Audience}, Issuers: []string{issuer}}
	if err := rules.Check(claims); err != nil {
		return err
	}
	var roles struct {
		Roles []string `json:"roles"`
	}
	if json.Unmarshal(payload, &roles) != nil || !slices.Contains(roles.Roles, t.Role) {
		return errors.New("the token does not have the role " + t.Role + " in its roles claim; assign it to the caller on " + t.Audience)
	}
	return nil
}

// bearer returns the token of an Authorization header "Bearer <token>".
func bearer(h string) (string, bool) {
	scheme, tok, ok := strings.Cut(strings.TrimSpace(h), " ")
	tok = strings.TrimSpace(tok)
	return tok, ok && strings.EqualFold(scheme, "bearer") && tok != "" && len(tok) <= jwtverify.MaxTokenSize
}

package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// Client assertions (RFC 7521, RFC 7523 §2.2 and §3): a JWT the client signs
// with its own key (private_key_jwt, iss = sub = client id), or a JWT a trusted
// external issuer signed for the workload (workload identity federation, as
// Entra's federated identity credentials).

// ClientAssertionType is the client_assertion_type of a JWT client assertion.
const ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// Assertion lifetimes and clock skew.
const (
	// maxClientAssertionLifetime bounds exp - now for private_key_jwt. MSAL,
	// azidentity and msal-node sign for 10 minutes; the jti replay cache keeps
	// each jti this long at most.
	maxClientAssertionLifetime = 15 * time.Minute
	// maxFederatedAssertionLifetime bounds exp - now for federated assertions:
	// Kubernetes projected service account tokens live up to 24 hours, and the
	// same token is presented many times (the kubelet refreshes it at 80% of its
	// life), so federated assertions are not single use.
	maxFederatedAssertionLifetime = 24 * time.Hour
	// assertionSkew is the clock difference tolerated between client and server.
	assertionSkew = time.Minute
)

// DefaultFederationAudience is the audience of federated credentials when none
// is configured, the one Entra uses.
const DefaultFederationAudience = "api://AzureADTokenExchange"

// assertionClaims are the registered claims of an assertion.
type assertionClaims struct {
	iss, sub, jti string
	aud           []string
	exp           time.Time // zero when absent
	nbf, iat      time.Time
}

// parseAssertionClaims reads the claims of a JWT payload: a JSON object without
// duplicate members, string iss/sub/jti, aud a string or an array of strings, and
// NumericDate exp/nbf/iat.
func parseAssertionClaims(payload []byte) (*assertionClaims, error) {
	members, err := directory.DecodeObject(payload)
	if err != nil {
		return nil, jwsErrorf("the JWT claims: %v", err)
	}
	var c assertionClaims
	for _, s := range []struct {
		name string
		dst  *string
	}{{"iss", &c.iss}, {"sub", &c.sub}, {"jti", &c.jti}} {
		raw, ok := members[s.name]
		if !ok {
			continue
		}
		if err := json.Unmarshal(raw, s.dst); err != nil {
			return nil, jwsErrorf("the JWT claim %q is not a string", s.name)
		}
	}
	if raw, ok := members["aud"]; ok {
		var one string
		if err := json.Unmarshal(raw, &one); err == nil {
			c.aud = []string{one}
		} else if err := json.Unmarshal(raw, &c.aud); err != nil {
			return nil, jwsErrorf(`the JWT claim "aud" is neither a string nor an array of strings`)
		}
	}
	for _, d := range []struct {
		name string
		dst  *time.Time
	}{{"exp", &c.exp}, {"nbf", &c.nbf}, {"iat", &c.iat}} {
		raw, ok := members[d.name]
		if !ok {
			continue
		}
		var n json.Number
		if err := json.Unmarshal(raw, &n); err != nil {
			return nil, jwsErrorf("the JWT claim %q is not a number of seconds", d.name)
		}
		f, err := n.Float64()
		if err != nil || math.IsNaN(f) || f < 0 || f > 1e11 {
			return nil, jwsErrorf("the JWT claim %q is not a valid time", d.name)
		}
		sec, frac := math.Modf(f)
		*d.dst = time.Unix(int64(sec), int64(frac*1e9))
	}
	return &c, nil
}

// checkTimes applies the time rules of RFC 7523 §3: exp is required and in the
// future, within maxLifetime of now; nbf and iat, if present, are not in the
// future. assertionSkew is allowed each way.
func (c *assertionClaims) checkTimes(now time.Time, maxLifetime time.Duration) error {
	switch {
	case c.exp.IsZero():
		return jwsErrorf(`the JWT has no "exp" claim; it is required (RFC 7523 §3)`)
	case !now.Before(c.exp.Add(assertionSkew)):
		return jwsErrorf("the JWT expired at %s", c.exp.UTC().Format(time.RFC3339))
	case c.exp.Sub(now) > maxLifetime+assertionSkew:
		return jwsErrorf("the JWT expires at %s, more than %s from now; sign assertions for a shorter time", c.exp.UTC().Format(time.RFC3339), maxLifetime)
	case !c.nbf.IsZero() && c.nbf.After(now.Add(assertionSkew)):
		return jwsErrorf("the JWT is not valid before %s", c.nbf.UTC().Format(time.RFC3339))
	case !c.iat.IsZero() && c.iat.After(now.Add(assertionSkew)):
		return jwsErrorf("the JWT was issued in the future (%s); check the client's clock", c.iat.UTC().Format(time.RFC3339))
	}
	return nil
}

// hasAudience reports whether one of the JWT's audiences is one of want.
func (c *assertionClaims) hasAudience(want ...string) bool {
	for _, a := range c.aud {
		for _, w := range want {
			if a == w {
				return true
			}
		}
	}
	return false
}

// typAllowed reports whether an assertion's typ header is one lastmile takes: a
// JWT (RFC 7519 §5.1), a client authentication JWT (draft-ietf-oauth-rfc7523bis),
// or, for federation, an access token (a lastmile or Entra token issued for
// api://AzureADTokenExchange). Absent is fine.
func typAllowed(typ string) bool {
	switch strings.ToLower(strings.TrimPrefix(strings.ToLower(typ), "application/")) {
	case "", "jwt", "jose", "at+jwt", "client-authentication+jwt":
		return true
	}
	return false
}

// ReplayStore remembers the jti of every accepted private_key_jwt assertion until
// it expires (RFC 7523 §3 item 7), so each assertion is accepted once.
// store.Memory (one instance, the default) and store.Redis (every instance that
// shares the Redis) implement it.
type ReplayStore interface {
	// SetNX records key for ttl unless it is recorded already, and reports
	// whether it recorded it.
	SetNX(ctx context.Context, key string, ttl time.Duration) (bool, error)
}

// defaultReplayCacheSize bounds the in-memory jti store: with entries kept up to
// 15 minutes, about 290 assertions a second, far more than clients that cache
// their tokens send; beyond it the token endpoint answers 503 until entries
// expire (store.ErrFull).
const defaultReplayCacheSize = 1 << 18

// errReplayStore is a replay check that could not be made: the store is full or
// unreachable. The assertion is refused (fail closed) with a 503.
var errReplayStore = errors.New("the client assertion replay check is unavailable; try again shortly")

// validateClientAssertion checks a private_key_jwt assertion of app: signature
// by one of the application's keys, iss = sub = the client id, aud one of
// audiences, the time rules, and a jti not seen before. It returns the key that
// verified, for the log.
func validateClientAssertion(ctx context.Context, j *parsedJWS, c *assertionClaims, app *application, audiences []string, replay ReplayStore, now time.Time) (*VerificationKey, error) {
	if !typAllowed(j.header.typ) {
		return nil, jwsErrorf("the JWT typ %q is not a JWT", clip(j.header.typ))
	}
	if c.iss != c.sub {
		return nil, jwsErrorf("the assertion's iss and sub differ; for a client assertion both are the client id")
	}
	if cid, ok := directory.CanonicalGUID(c.iss); !ok || cid != app.clientID {
		return nil, jwsErrorf("the assertion's iss and sub are not the client id %s", app.clientID)
	}
	if !c.hasAudience(audiences...) {
		return nil, jwsErrorf("the assertion's aud %q is not this token endpoint: use %s", clipList(c.aud), audiences[0])
	}
	if err := c.checkTimes(now, maxClientAssertionLifetime); err != nil {
		return nil, err
	}
	if c.jti == "" {
		return nil, jwsErrorf(`the assertion has no "jti" claim; lastmile requires one so that each assertion is used once`)
	}
	if len(c.jti) > 256 {
		return nil, jwsErrorf(`the assertion's "jti" is longer than 256 bytes`)
	}
	k, err := j.verify(app.keys, now)
	if err != nil {
		return nil, err
	}
	// Record the jti only once the signature verified, so forged assertions
	// cannot fill the cache or burn a legitimate client's jti.
	ttl := max(c.exp.Add(assertionSkew).Sub(now), time.Second)
	fresh, err := replay.SetNX(ctx, "jti:"+app.clientID+":"+c.jti, ttl)
	switch {
	case err != nil:
		return nil, fmt.Errorf("%w: %w", errReplayStore, err)
	case !fresh:
		return nil, errReplayed
	}
	return k, nil
}

// errReplayed is an assertion whose jti was already used.
var errReplayed = &errJWS{msg: "the assertion's jti was already used: sign a new assertion for every request"}

func clipList(ss []string) string {
	return clip(strings.Join(ss, " "))
}

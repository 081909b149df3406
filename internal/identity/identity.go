// Package identity gives the gateway access tokens for its managed identities:
// the TokenSource interface that token issuers implement, and Cache, the
// refresh-ahead token cache that the authentication-managed-identity policy calls
// on every request.
//
// An identity is named by its client id, with "" meaning the gateway's
// system-assigned identity, as in API Management's client-id attribute. A resource
// is the audience the backend expects (an App ID URI or an application id). Resource
// spellings that differ only by a trailing "/.default", a trailing "/" or ASCII case
// name the same resource (see NormalizeResource).
package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Token is an access token and the times a holder needs to manage it. Its String,
// GoString and LogValue methods never show Value, so a Token that reaches a log or
// an error message by accident does not leak the credential.
type Token struct {
	// Value is the serialized token, e.g. a JWT, sent as "Authorization: Bearer Value".
	Value string
	// IssuedAt is when the token was issued; zero when the source does not say.
	IssuedAt time.Time
	// ExpiresAt is when the token stops being valid. It is required.
	ExpiresAt time.Time
	// RefreshAt is when a holder should get a new token. A source may set it as a
	// hint (Azure's refresh_in); tokens returned by Cache always carry the time the
	// cache will refresh them.
	RefreshAt time.Time
}

// String describes the token without its value.
func (t Token) String() string {
	if t.Value == "" {
		return "identity.Token{}"
	}
	return fmt.Sprintf("identity.Token{Value:[redacted] ExpiresAt:%s}", t.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString is String, so %#v does not print the value either.
func (t Token) GoString() string { return t.String() }

// LogValue implements slog.LogValuer: the expiry, never the value.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.Bool("present", t.Value != ""),
		slog.Time("expires_at", t.ExpiresAt),
	)
}

// TokenSource gets an access token for an identity and a resource. clientID ""
// selects the system-assigned identity; otherwise it is the client id of a
// user-assigned identity. Implementations must be safe for concurrent use.
//
// A request that cannot succeed until the configuration changes (an unregistered
// resource, an unknown identity) must fail with an error that matches
// ErrConfiguration, so callers do not retry it.
type TokenSource interface {
	Token(ctx context.Context, clientID, resource string) (Token, error)
}

// TokenSourceFunc adapts a function to a TokenSource.
type TokenSourceFunc func(ctx context.Context, clientID, resource string) (Token, error)

// Token calls f.
func (f TokenSourceFunc) Token(ctx context.Context, clientID, resource string) (Token, error) {
	return f(ctx, clientID, resource)
}

// ErrConfiguration marks token requests that cannot succeed until the configuration
// changes: the resource is not registered, or no identity has the client id. Sources
// wrap it (errors.Is finds it); Cache remembers such failures briefly instead of
// asking the source again on every request, and a gateway answers them as a
// configuration problem rather than an outage.
var ErrConfiguration = errors.New("identity configuration error")

// UnavailableError is what Cache.Token returns when it has no usable token and the
// source failed recently: the cache does not ask the source again before the
// backoff ends, so a failing issuer is not flooded. A gateway can turn RetryAfter
// into a Retry-After header.
type UnavailableError struct {
	// Err is the source's last error.
	Err error
	// RetryAfter is how long until the cache asks the source again.
	RetryAfter time.Duration
}

// Error reports the source's last error and when the next attempt is due.
func (e *UnavailableError) Error() string {
	return fmt.Sprintf("no token available, next attempt in %s: %v", e.RetryAfter.Round(time.Millisecond), e.Err)
}

// Unwrap returns the source's error.
func (e *UnavailableError) Unwrap() error { return e.Err }

// NormalizeResource returns the key under which resource spellings compare equal:
// trailing "/.default" scope suffixes and trailing "/" removed (repeatedly), and ASCII
// letters lower-cased. "https://Storage.azure.com/.default", "https://storage.azure.com/"
// and "https://storage.azure.com" all give "https://storage.azure.com". When s is
// already normal it is returned as is, without allocating.
func NormalizeResource(s string) string {
	t := trimResourceSuffixes(s)
	return lowerASCII(t)
}

const defaultScope = "/.default"

// trimResourceSuffixes strips trailing "/.default" (any ASCII case) and "/" until
// neither is left, returning a substring of s.
func trimResourceSuffixes(s string) string {
	for {
		switch {
		case len(s) >= len(defaultScope) && equalFoldASCII(s[len(s)-len(defaultScope):], defaultScope):
			s = s[:len(s)-len(defaultScope)]
		case len(s) > 0 && s[len(s)-1] == '/':
			s = s[:len(s)-1]
		default:
			return s
		}
	}
}

// lowerASCII lower-cases ASCII letters, returning s itself when it has none.
func lowerASCII(s string) string {
	i := 0
	for i < len(s) && !('A' <= s[i] && s[i] <= 'Z') {
		i++
	}
	if i == len(s) {
		return s
	}
	b := []byte(s)
	for ; i < len(b); i++ {
		if 'A' <= b[i] && b[i] <= 'Z' {
			b[i] += 'a' - 'A'
		}
	}
	return string(b)
}

// equalFoldASCII reports whether a and b are equal ignoring ASCII case.
func equalFoldASCII(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		x, y := a[i], b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}

// Package directory holds the rules of lastmile's identity directory, the
// counterpart of an Entra tenant's directory: what names, client ids and
// resource ids of identities and applications look like, which application
// credentials (verification keys, client secret hashes) are accepted, which
// issuer and key URLs are trusted, and the bounds of token lifetimes and signing
// key rotation.
//
// The configuration loader checks lastmile.yaml against these rules, with file
// positions, and the identity provider enforces the same rules on what it is
// given, so the two cannot disagree. The package is a leaf: it imports neither
// of them.
package directory

import "time"

// SystemName is the name of the system-assigned identity, in role assignments
// and workload registrations. It is reserved: no user-assigned identity or
// application may take it, in any case.
const SystemName = "system"

// Token lifetime: how long issued access tokens live.
const (
	// DefaultTokenLifetime is one hour, like Entra's app-only access tokens.
	// With the gateway's cache refreshing at half-life and stopping 5 minutes
	// before expiry, an identity provider outage of 25 minutes goes unnoticed,
	// while a role change or a removed resource takes effect within the hour.
	DefaultTokenLifetime = time.Hour
	MinTokenLifetime     = time.Minute
	MaxTokenLifetime     = 24 * time.Hour
)

// Signing key rotation bounds.
const (
	DefaultRotationPeriod = 7 * 24 * time.Hour
	MinRotationPeriod     = time.Hour
	MaxRotationPeriod     = 365 * 24 * time.Hour
	// MinPrepublish is twice the JWKS max-age the identity provider serves.
	MinPrepublish = 10 * time.Minute
)

// DefaultPrepublish is how long the next key is published before it signs when
// nothing says otherwise: a third of the rotation period, as SPIRE (prepare at
// 1/2 of the life left, activate at 1/6), and at least MinPrepublish.
func DefaultPrepublish(rotationPeriod time.Duration) time.Duration {
	return max(rotationPeriod/3, MinPrepublish)
}

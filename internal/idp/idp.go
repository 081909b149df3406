// Package idp is lastmile's embedded identity provider. It gives the gateway its own
// managed identities (one system-assigned identity, and the user-assigned ones
// declared in lastmile.yaml), signs their short-lived access tokens for registered
// backends, and publishes the OIDC discovery document and JWKS that backends verify
// those tokens against.
//
// Tokens are RFC 9068 JWT access tokens (typ "at+jwt") signed with ES256, carrying
// Entra-style claims so backends written for Azure managed identities accept them:
// iss, sub and oid (the identity's object id), aud (the resource, exactly as
// registered), appid, azp and client_id (the identity's client id), tid, roles,
// iat, nbf, exp and jti.
//
// Everything generated (tenant id, identity ids, signing keys) is kept in the state
// directory, so a restart changes nothing that backends rely on.
//
// What is deliberately missing, for the token service built on top of this: there
// is no token endpoint (the discovery document lists none; tokens are issued
// in-process through Issue), no automatic key rotation schedule (Rotate,
// PrepareKey and RevokeKey are the manual steps it will drive), and no RS256 key
// for Entra workload identity federation.
package idp

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// Provider is the embedded identity provider. It is safe for concurrent use.
type Provider struct {
	cfg        *compiled
	tenantID   string
	identities []*principal          // system-assigned first
	byClientID map[string]*principal // canonical client id
	state      *statedir.Dir
	log        *slog.Logger

	discoveryPath, metadataPath, jwksPath string
	jwksURL                               string
	discovery                             []byte
	discoveryETag                         string

	keyMu sync.Mutex // serializes key changes
	keys  atomic.Pointer[keyring]
}

// Option configures a Provider.
type Option func(*options)

type options struct {
	log *slog.Logger
}

// WithLogger sets where the provider reports identities and keys it creates and
// key changes. It never logs tokens or private keys. Default: nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// New validates cfg and starts the identity provider on the state directory. On
// first start it creates the tenant id (unless configured), the system-assigned
// identity and a signing key; later starts read them back. Configuration problems
// are returned together, each a *ConfigError.
func New(ctx context.Context, cfg Config, state *statedir.Dir, opts ...Option) (*Provider, error) {
	o := options{log: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		opt(&o)
	}
	if state == nil {
		return nil, fmt.Errorf("identity provider: no state directory")
	}
	c, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	tenant, ids, err := loadIdentities(state, c, o.log)
	if err != nil {
		return nil, err
	}
	if c.tenantID != "" {
		tenant = c.tenantID
	}
	ring, err := loadKeys(state, o.log)
	if err != nil {
		return nil, err
	}

	p := &Provider{
		cfg:        c,
		tenantID:   tenant,
		identities: ids,
		byClientID: make(map[string]*principal, len(ids)),
		state:      state,
		log:        o.log,
	}
	for _, id := range ids {
		p.byClientID[id.clientID] = id
	}
	p.keys.Store(ring)

	// Requests are matched on the decoded path, as net/http gives it.
	base := c.issuerURL.Path
	p.discoveryPath = base + "/.well-known/openid-configuration"
	p.metadataPath = "/.well-known/oauth-authorization-server" + base // RFC 8414 §3.1
	p.jwksPath = base + "/.well-known/jwks.json"
	p.jwksURL = c.issuer + "/.well-known/jwks.json"
	if err := p.buildDiscovery(); err != nil {
		return nil, err
	}
	return p, nil
}

// Identity is a managed identity of the gateway.
type Identity struct {
	// Name is SystemName for the system-assigned identity, otherwise the
	// user-assigned identity's configured name.
	Name           string
	SystemAssigned bool
	// ClientID is the appid, azp and client_id claim; policies choose a
	// user-assigned identity by it.
	ClientID string
	// ObjectID is the oid and sub claim.
	ObjectID string
}

func (p *principal) public() Identity {
	return Identity{Name: p.name, SystemAssigned: p.system, ClientID: p.clientID, ObjectID: p.objectID}
}

// Issuer returns the issuer URL, the iss claim of every token.
func (p *Provider) Issuer() string { return p.cfg.issuer }

// DiscoveryURL returns the URL of the OpenID Connect discovery document.
func (p *Provider) DiscoveryURL() string { return p.cfg.issuer + "/.well-known/openid-configuration" }

// JWKSURL returns the URL of the published signing keys.
func (p *Provider) JWKSURL() string { return p.jwksURL }

// TenantID returns the tenant id, the tid claim.
func (p *Provider) TenantID() string { return p.tenantID }

// TokenLifetime returns the lifetime of issued tokens.
func (p *Provider) TokenLifetime() time.Duration { return p.cfg.lifetime }

// SystemIdentity returns the system-assigned identity.
func (p *Provider) SystemIdentity() Identity { return p.identities[0].public() }

// Identities returns every configured identity: the system-assigned one first,
// then the user-assigned ones in configuration order.
func (p *Provider) Identities() []Identity {
	out := make([]Identity, len(p.identities))
	for i, id := range p.identities {
		out[i] = id.public()
	}
	return out
}

// JWKS returns the published JSON Web Key Set (public keys only), as served at
// JWKSURL: for exporting to validators that cannot fetch it, such as GCP workload
// identity federation's --jwk-json-path.
func (p *Provider) JWKS() []byte {
	return append([]byte(nil), p.keys.Load().jwks...)
}

// Token issues a token like Issue, as an identity.TokenSource: put an
// identity.Cache in front of it.
func (p *Provider) Token(ctx context.Context, clientID, resource string) (identity.Token, error) {
	t, err := p.Issue(ctx, clientID, resource)
	if err != nil {
		return identity.Token{}, err
	}
	return identity.Token{Value: t.Value, IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt}, nil
}

var _ identity.TokenSource = (*Provider)(nil)

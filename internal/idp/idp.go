// Package idp is lastmile's embedded identity provider and token service. It
// gives the gateway its own managed identities (one system-assigned identity, and
// the user-assigned ones declared in lastmile.yaml), issues app-only tokens to
// registered applications at an OAuth 2.0 token endpoint shaped like Entra's,
// signs tokens for registered backends, and publishes the discovery documents
// and JWKS that backends verify them against.
//
// Tokens are signed per resource with ES256 (the default) or RS256, in the
// native RFC 9068 profile (typ at+jwt, with Entra's appid, azp, oid, tid and
// roles alongside) or an Entra-compatible v1 or v2 profile, so software built to
// accept Entra tokens accepts lastmile's unchanged.
//
// The token endpoint takes grant_type=client_credentials with the client
// authentication Entra takes: private_key_jwt (RFC 7523) with a registered
// certificate or key, each assertion used once; client secrets, kept as Argon2id
// hashes; and workload identity federation, where a token from a trusted
// external issuer (a Kubernetes service account issuer, a SPIFFE trust domain,
// another lastmile) stands in for the assertion. The audience comes as
// resource, audience, or scope=<resource>/.default.
//
// Everything generated (tenant id, identity and application object ids,
// signing keys) is kept in the State, so a restart changes nothing that
// backends rely on. Keys rotate on a SPIRE-style schedule (Run): the next key
// is published well before it signs, and a retired key stays published until
// the last token it signed has expired. Several instances may share the
// state, a state directory on one machine or Redis (encrypted) across
// machines: changes are made under the state's lock, and every instance
// re-reads the keys when they change, so all publish the same JWKS.
package idp

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/store"
)

// VerificationKey is a public key that client assertions and federated tokens
// are verified with (see directory.VerificationKey).
type VerificationKey = directory.VerificationKey

// Provider is the embedded identity provider. It is safe for concurrent use.
type Provider struct {
	cfg        *compiled
	tenantID   string
	identities []*principal          // system-assigned first
	byClientID map[string]*principal // canonical client id
	apps       map[string]*application
	state      State
	idDoc      []byte // the identity document as last read or stored, to write back if it is lost
	log        *slog.Logger
	observer   IssueObserver
	changed    func() // WithKeysChanged's; may be nil
	keys       *KeyStore
	replay     ReplayStore
	secrets    *secretCache
	fetch      *fetcher
	recent     issuanceLog // the last tokens issued, for a console (inspect.go)

	basePath                              string // the issuer URL's path
	discoveryPath, metadataPath, jwksPath string
	tokenPath                             string
	jwksURL, tokenURL                     string
	entraV2TokenURL, entraV1TokenURL      string
	audiences                             []string // of client assertions
	discovery, entraV2Doc, entraV1Doc     document
}

// Option configures a Provider.
type Option func(*options)

type options struct {
	log         *slog.Logger
	replay      ReplayStore
	observer    IssueObserver
	keysChanged func()
}

// IssueObserver is told of every token the provider issues, or fails to, for
// metrics. Its method must be safe for concurrent use.
type IssueObserver interface {
	// TokenIssued reports one token request: grant is "managed_identity"
	// (Issue: the gateway's and local workloads' managed identities) or
	// "application" (the token endpoint), err nil when a token was issued.
	TokenIssued(grant string, err error)
}

// WithObserver sets who is told of issued tokens. Default: nobody.
func WithObserver(obs IssueObserver) Option {
	return func(o *options) { o.observer = obs }
}

// WithReplayStore sets where client assertion ids are remembered. Several
// instances behind one token endpoint must share it (store.Redis) for each
// assertion to be accepted once across them. Default: in memory, per instance.
func WithReplayStore(s ReplayStore) Option {
	return func(o *options) {
		if s != nil {
			o.replay = s
		}
	}
}

// WithKeysChanged sets what to call when the provider picks up changed
// signing keys (lastmile keys revoke or rotate, another instance): tokens
// cached elsewhere may be signed with a key that is no longer published.
func WithKeysChanged(fn func()) Option {
	return func(o *options) { o.keysChanged = fn }
}

// WithLogger sets where the provider reports identities and keys it creates,
// key changes, and issued and refused tokens. It never logs tokens, assertions,
// secrets or private keys. Default: nothing is logged.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.log = l
		}
	}
}

// New validates cfg and starts the identity provider on state (a state
// directory, or statedir.Shared for a fleet). On first start it creates the
// tenant id (unless configured), the system-assigned identity, the
// applications' object ids and the signing keys; later starts read them back.
// Configuration problems are returned together, each a *ConfigError.
func New(ctx context.Context, cfg Config, state State, opts ...Option) (*Provider, error) {
	o := options{log: slog.New(slog.DiscardHandler), replay: store.NewMemory(defaultReplayCacheSize)}
	for _, opt := range opts {
		opt(&o)
	}
	if state == nil {
		return nil, fmt.Errorf("identity provider: no state")
	}
	c, err := compile(cfg)
	if err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := checkNotMigrated(ctx, state); err != nil {
		return nil, err
	}
	tenant, ids, idDoc, err := loadIdentities(ctx, state, c, o.log)
	if err != nil {
		return nil, err
	}
	if c.tenantID != "" {
		tenant = c.tenantID
	}
	keys, err := OpenKeyStore(ctx, state, KeyStoreOptions{TokenLifetime: c.lifetime, Algorithms: c.algorithms, Logger: o.log})
	if err != nil {
		return nil, err
	}

	p := &Provider{
		cfg:        c,
		tenantID:   tenant,
		identities: ids,
		byClientID: make(map[string]*principal, len(ids)),
		apps:       make(map[string]*application, len(c.apps)),
		state:      state,
		idDoc:      idDoc,
		log:        o.log,
		observer:   o.observer,
		changed:    o.keysChanged,
		keys:       keys,
		replay:     o.replay,
		secrets:    newSecretCache(2),
		fetch:      &fetcher{allowInsecure: c.allowInsecureIssuer},
	}
	for _, id := range ids {
		p.byClientID[id.clientID] = id
	}
	// Credentials that fetch the same issuer's keys share one cache.
	remotes := map[string]*remoteKeys{}
	for _, a := range c.apps {
		p.apps[a.clientID] = a
		for _, f := range a.federated {
			if r, ok := f.source.(*remoteKeys); ok {
				key := fmt.Sprintf("%s\x00%s\x00%p", r.issuer, r.jwksURI, r.rootCAs)
				if shared := remotes[key]; shared != nil {
					f.source = shared
				} else {
					remotes[key] = r
				}
			}
		}
	}

	// Requests are matched on the decoded path, as net/http gives it.
	p.basePath = c.issuerURL.Path
	p.discoveryPath = p.basePath + pathDiscovery
	p.metadataPath = "/.well-known/oauth-authorization-server" + p.basePath // RFC 8414 §3.1
	p.jwksPath = p.basePath + pathJWKS
	p.tokenPath = p.basePath + pathToken
	p.jwksURL = c.issuer + pathJWKS
	if err := p.buildDocuments(); err != nil {
		return nil, err
	}
	return p, nil
}

// KeyReloadInterval is how often Run looks for key changes made by other
// instances or by lastmile keys (it reads the key document, a few kilobytes,
// from the state directory or Redis, and publishes it only when it changed).
const KeyReloadInterval = 10 * time.Second

// Run keeps the signing keys current until ctx is done: every KeyReloadInterval
// (and when a scheduled change is due) it picks up changes made by other
// instances and by lastmile keys, applies the rotation schedule, and drops
// retired keys whose tokens have expired. Problems are logged, and retried at
// the next interval. It returns nil when ctx is done.
func (p *Provider) Run(ctx context.Context) error {
	t := time.NewTimer(0)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		p.maintain(ctx)
		wait := KeyReloadInterval
		if at := p.keys.nextEvent(p.cfg.schedule); !at.IsZero() {
			wait = min(wait, max(time.Until(at), time.Second))
		}
		t.Reset(wait)
	}
}

func (p *Provider) maintain(ctx context.Context) {
	p.restoreIdentities(ctx)
	if changed, err := p.keys.Reload(ctx); errors.Is(err, fs.ErrNotExist) {
		// Lost (deleted, or a Redis restarted without persistence): write back
		// the keys held here before a new instance would make new ones.
		if err := p.keys.update(ctx, func(*keyFile, time.Time) (bool, error) { return false, nil }); err != nil && ctx.Err() == nil {
			p.log.Error("writing back the signing keys failed", "error", err)
		}
	} else if err != nil {
		p.log.Error("reading the signing keys failed; still using the keys read before", "error", err)
	} else if changed {
		p.log.Info("picked up changed signing keys", "keys", len(p.keys.Keys()))
		if p.changed != nil {
			p.changed()
		}
	}
	if err := p.keys.Maintain(ctx, p.cfg.schedule); err != nil && ctx.Err() == nil {
		p.log.Error("applying the key rotation schedule failed", "error", err)
	}
}

// ReloadKeys reads the signing keys again and publishes them if they changed
// (lastmile keys, or another instance, changed them), and reports whether they
// did. The server calls it on SIGHUP; Run calls it every KeyReloadInterval.
func (p *Provider) ReloadKeys(ctx context.Context) (bool, error) {
	changed, err := p.keys.Reload(ctx)
	if changed && p.changed != nil {
		p.changed()
	}
	return changed, err
}

// restoreIdentities writes the identity document back if it is gone from the
// state (deleted, or lost by a Redis restarted without persistence), so that an
// instance starting next finds this fleet's tenant and identities instead of
// generating new ones.
func (p *Provider) restoreIdentities(ctx context.Context) {
	if _, err := p.state.Read(ctx, identitiesFile); !errors.Is(err, fs.ErrNotExist) || p.idDoc == nil {
		return
	}
	err := p.state.Update(ctx, identitiesFile, func(old []byte) ([]byte, error) {
		if old != nil {
			return nil, nil
		}
		return p.idDoc, nil
	})
	if err != nil {
		if ctx.Err() == nil {
			p.log.Error("writing back the managed identities failed", "error", err)
		}
		return
	}
	p.log.Warn("the managed identities were missing from the state; wrote back the ones this instance holds", "state", p.state.Describe(identitiesFile))
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

// Issuer returns the issuer URL, the iss claim of native-profile tokens.
func (p *Provider) Issuer() string { return p.cfg.issuer }

// DiscoveryURL returns the URL of the OpenID Connect discovery document.
func (p *Provider) DiscoveryURL() string { return p.cfg.issuer + pathDiscovery }

// JWKSURL returns the URL of the published signing keys.
func (p *Provider) JWKSURL() string { return p.jwksURL }

// TokenURL returns the URL of the token endpoint (RFC 6749).
func (p *Provider) TokenURL() string { return p.tokenURL }

// EntraTokenURL returns the Entra v2.0-shaped token endpoint,
// <issuer>/<tenant>/oauth2/v2.0/token.
func (p *Provider) EntraTokenURL() string { return p.entraV2TokenURL }

// Authority returns the authority URL for MSAL and azidentity:
// <issuer>/<tenant>. Their authority host is the issuer.
func (p *Provider) Authority() string { return p.cfg.issuer + "/" + p.tenantID }

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

// ApplicationInfo describes a registered application.
type ApplicationInfo struct {
	Name     string
	ClientID string
	// ObjectID is the oid and sub of its tokens.
	ObjectID string
}

// Applications returns the registered applications in configuration order.
func (p *Provider) Applications() []ApplicationInfo {
	out := make([]ApplicationInfo, len(p.cfg.apps))
	for i, a := range p.cfg.apps {
		out[i] = ApplicationInfo{Name: a.name, ClientID: a.clientID, ObjectID: a.objectID}
	}
	return out
}

// JWKS returns the published JSON Web Key Set (public keys only), as served at
// JWKSURL: for exporting to validators that cannot fetch it, such as GCP workload
// identity federation's --jwk-json-path.
func (p *Provider) JWKS() []byte { return p.keys.JWKS() }

// Keys lists the signing keys (without private parts), the current ones first.
func (p *Provider) Keys() []KeyInfo { return p.keys.Keys() }

// PrepareKey publishes the next key of the algorithm (AlgES256 or AlgRS256);
// see KeyStore.Prepare.
func (p *Provider) PrepareKey(ctx context.Context, alg string) (KeyInfo, error) {
	return p.keys.Prepare(ctx, alg)
}

// Rotate makes the next key of the algorithm current; see KeyStore.Rotate.
func (p *Provider) Rotate(ctx context.Context, alg string) (KeyInfo, error) {
	return p.keys.Rotate(ctx, alg)
}

// RevokeKey withdraws a key from the JWKS at once; see KeyStore.Revoke.
func (p *Provider) RevokeKey(ctx context.Context, kid string) (KeyInfo, error) {
	return p.keys.Revoke(ctx, kid)
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

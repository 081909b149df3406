package idp

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// keysFile keeps the signing keys. Private keys are kept only while a key can
// sign (next and current); retired and revoked keys keep their public half.
const keysFile = "idp/keys.json"

// KeyState is where a signing key is in its life. Keys move next → current →
// retired, or to revoked from next or retired.
type KeyState string

// Key states. The JWKS publishes next, current and retired keys.
const (
	// KeyNext is published but does not sign yet, so validators learn it before
	// the first token signed with it arrives (see Provider.PrepareKey).
	KeyNext KeyState = "next"
	// KeyCurrent signs every new token. There is exactly one.
	KeyCurrent KeyState = "current"
	// KeyRetired no longer signs but stays published until the tokens it signed
	// have expired (token lifetime plus 5 minutes of clock skew after retirement).
	KeyRetired KeyState = "retired"
	// KeyRevoked is no longer published: tokens it signed stop verifying once
	// validators refetch the JWKS.
	KeyRevoked KeyState = "revoked"
)

// retiredGrace is how long a retired key stays published after the last token it
// signed expires, for clock skew between lastmile and backends.
const retiredGrace = 5 * time.Minute

// KeyInfo describes a signing key, without its private part.
type KeyInfo struct {
	KeyID     string // the kid: RFC 7638 JWK thumbprint (SHA-256, base64url)
	Algorithm string // "ES256"
	State     KeyState
	Created   time.Time
	Activated time.Time // when it became current; zero before
	Retired   time.Time // when it stopped signing; zero before
	// PublishedUntil is when a retired key leaves the JWKS.
	PublishedUntil time.Time
}

type keyFile struct {
	Version int         `json:"version"`
	Keys    []storedKey `json:"keys"`
}

type storedKey struct {
	KeyID          string           `json:"kid"`
	State          KeyState         `json:"state"`
	Created        time.Time        `json:"created"`
	Activated      time.Time        `json:"activated,omitzero"`
	Retired        time.Time        `json:"retired,omitzero"`
	PublishedUntil time.Time        `json:"published_until,omitzero"`
	Public         *jose.JSONWebKey `json:"public"`
	Private        *jose.JSONWebKey `json:"private,omitempty"`
}

func (k *storedKey) info() KeyInfo {
	return KeyInfo{KeyID: k.KeyID, Algorithm: string(jose.ES256), State: k.State, Created: k.Created,
		Activated: k.Activated, Retired: k.Retired, PublishedUntil: k.PublishedUntil}
}

// keyring is an immutable view of the keys: the signer for new tokens and the
// published JWKS. Changes build a new keyring and swap it in.
type keyring struct {
	keys   []storedKey
	kid    string // of the current key
	signer jose.Signer
	jwks   []byte
	etag   string
}

// newKey generates a P-256 key in the given state.
func newKey(state KeyState, now time.Time) (storedKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return storedKey{}, fmt.Errorf("generating a signing key: %w", err)
	}
	pub := jose.JSONWebKey{Key: &priv.PublicKey, Algorithm: string(jose.ES256), Use: "sig"}
	kid, err := thumbprint(&pub)
	if err != nil {
		return storedKey{}, err
	}
	pub.KeyID = kid
	k := storedKey{
		KeyID:   kid,
		State:   state,
		Created: now,
		Public:  &pub,
		Private: &jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: string(jose.ES256), Use: "sig"},
	}
	if state == KeyCurrent {
		k.Activated = now
	}
	return k, nil
}

// thumbprint returns the RFC 7638 JWK thumbprint of k: SHA-256, base64url.
func thumbprint(k *jose.JSONWebKey) (string, error) {
	tp, err := k.Thumbprint(crypto.SHA256)
	if err != nil {
		return "", fmt.Errorf("computing a key thumbprint: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(tp), nil
}

// loadKeys reads the key file, or creates it with one current key. Retired keys
// past their publication window are dropped.
func loadKeys(state *statedir.Dir, log *slog.Logger) (*keyring, error) {
	var f keyFile
	now := time.Now().UTC().Truncate(time.Second)
	err := state.ReadJSON(keysFile, &f)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		k, err := newKey(KeyCurrent, now)
		if err != nil {
			return nil, err
		}
		f = keyFile{Version: 1, Keys: []storedKey{k}}
		if err := state.WriteJSON(keysFile, &f); err != nil {
			return nil, fmt.Errorf("saving signing keys: %w", err)
		}
		log.Info("generated a signing key", "kid", k.KeyID, "alg", jose.ES256, "state", k.State)
	case err != nil:
		return nil, fmt.Errorf("loading signing keys: %w", err)
	default:
		if f.Version != 1 {
			return nil, fmt.Errorf("state file %s: version %d is not supported (this lastmile reads version 1)", state.File(keysFile), f.Version)
		}
	}
	keys, pruned := prune(f.Keys, now)
	ring, err := buildKeyring(keys)
	if err != nil {
		return nil, fmt.Errorf("state file %s: %w; restore it from a backup, or delete it to generate a new key (tokens signed by the old keys stop verifying)", state.File(keysFile), err)
	}
	if pruned {
		if err := state.WriteJSON(keysFile, &keyFile{Version: 1, Keys: keys}); err != nil {
			return nil, fmt.Errorf("saving signing keys: %w", err)
		}
	}
	return ring, nil
}

// prune drops retired keys whose publication window has passed.
func prune(keys []storedKey, now time.Time) ([]storedKey, bool) {
	out := make([]storedKey, 0, len(keys))
	for _, k := range keys {
		if k.State == KeyRetired && !now.Before(k.PublishedUntil) {
			continue
		}
		out = append(out, k)
	}
	return out, len(out) != len(keys)
}

// buildKeyring checks keys and makes the signer and the JWKS.
func buildKeyring(keys []storedKey) (*keyring, error) {
	ring := &keyring{keys: keys}
	var published []jose.JSONWebKey
	var current *storedKey
	next := 0
	for i := range keys {
		k := &keys[i]
		if err := checkKey(k); err != nil {
			return nil, fmt.Errorf("key %d (%s): %w", i, k.KeyID, err)
		}
		switch k.State {
		case KeyCurrent:
			if current != nil {
				return nil, fmt.Errorf("two current keys, %s and %s", current.KeyID, k.KeyID)
			}
			current = k
		case KeyNext:
			if next++; next > 1 {
				return nil, errors.New("more than one next key")
			}
		}
		if k.State != KeyRevoked {
			pub := *k.Public
			pub.KeyID, pub.Algorithm, pub.Use = k.KeyID, string(jose.ES256), "sig"
			if k.State == KeyCurrent {
				published = append([]jose.JSONWebKey{pub}, published...)
			} else {
				published = append(published, pub)
			}
		}
	}
	if current == nil {
		return nil, errors.New("no current signing key")
	}
	signer, err := jose.NewSigner(
		jose.SigningKey{Algorithm: jose.ES256, Key: jose.JSONWebKey{Key: current.Private.Key, KeyID: current.KeyID}},
		(&jose.SignerOptions{}).WithType("at+jwt"),
	)
	if err != nil {
		return nil, fmt.Errorf("making a signer for key %s: %w", current.KeyID, err)
	}
	ring.kid, ring.signer = current.KeyID, signer
	ring.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: published})
	if err != nil {
		return nil, fmt.Errorf("encoding the JWKS: %w", err)
	}
	sum := sha256.Sum256(ring.jwks)
	ring.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return ring, nil
}

// checkKey verifies a stored key: a P-256 public key whose thumbprint is its kid,
// and for signing states a private key matching it.
func checkKey(k *storedKey) error {
	switch k.State {
	case KeyNext, KeyCurrent, KeyRetired, KeyRevoked:
	default:
		return fmt.Errorf("unknown state %q", k.State)
	}
	if k.Public == nil || !k.Public.Valid() || !k.Public.IsPublic() {
		return errors.New("no valid public key")
	}
	pub, ok := k.Public.Key.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P256() {
		return errors.New("the public key is not a P-256 key")
	}
	if kid, err := thumbprint(k.Public); err != nil || kid != k.KeyID {
		return errors.New("the kid is not the key's thumbprint")
	}
	if k.State == KeyNext || k.State == KeyCurrent {
		if k.Private == nil || !k.Private.Valid() {
			return fmt.Errorf("a %s key needs its private key", k.State)
		}
		priv, ok := k.Private.Key.(*ecdsa.PrivateKey)
		if !ok || !priv.PublicKey.Equal(pub) {
			return errors.New("the private key does not match the public key")
		}
	}
	return nil
}

// PrepareKey makes sure a next key exists and is published, and returns it. Call
// it at least the JWKS max-age (5 minutes) before Rotate, so validators that cache
// the JWKS already know the key when tokens signed with it arrive.
func (p *Provider) PrepareKey(ctx context.Context) (KeyInfo, error) {
	p.keyMu.Lock()
	defer p.keyMu.Unlock()
	if err := ctx.Err(); err != nil {
		return KeyInfo{}, err
	}
	old := p.keys.Load()
	for _, k := range old.keys {
		if k.State == KeyNext {
			return k.info(), nil
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	k, err := newKey(KeyNext, now)
	if err != nil {
		return KeyInfo{}, err
	}
	keys, _ := prune(append(cloneKeys(old.keys), k), now)
	if err := p.saveKeys(keys); err != nil {
		return KeyInfo{}, err
	}
	p.log.Info("prepared the next signing key", "kid", k.KeyID)
	return k.info(), nil
}

// Rotate makes the next key current (generating one if none was prepared) and
// retires the current key, which stays published until every token it signed has
// expired. It returns the new current key. Without a prepared key, validators
// meet the new kid in a token before they see it in the JWKS and must refetch
// (go-oidc and most JWKS clients do).
func (p *Provider) Rotate(ctx context.Context) (KeyInfo, error) {
	p.keyMu.Lock()
	defer p.keyMu.Unlock()
	if err := ctx.Err(); err != nil {
		return KeyInfo{}, err
	}
	now := time.Now().UTC().Truncate(time.Second)
	keys := cloneKeys(p.keys.Load().keys)
	next := -1
	for i := range keys {
		if keys[i].State == KeyNext {
			next = i
		}
	}
	if next < 0 {
		k, err := newKey(KeyNext, now)
		if err != nil {
			return KeyInfo{}, err
		}
		keys = append(keys, k)
		next = len(keys) - 1
	}
	for i := range keys {
		if keys[i].State == KeyCurrent {
			keys[i].State = KeyRetired
			keys[i].Retired = now
			keys[i].PublishedUntil = now.Add(p.cfg.lifetime + retiredGrace)
			keys[i].Private = nil
		}
	}
	keys[next].State = KeyCurrent
	keys[next].Activated = now
	info := keys[next].info()
	keys, _ = prune(keys, now)
	if err := p.saveKeys(keys); err != nil {
		return KeyInfo{}, err
	}
	p.log.Info("rotated the signing key", "kid", info.KeyID)
	return info, nil
}

// RevokeKey withdraws a next or retired key from the JWKS: tokens it signed stop
// verifying once validators refetch the JWKS (at most its max-age later). The
// current key cannot be revoked: Rotate first.
func (p *Provider) RevokeKey(ctx context.Context, kid string) error {
	p.keyMu.Lock()
	defer p.keyMu.Unlock()
	if err := ctx.Err(); err != nil {
		return err
	}
	keys := cloneKeys(p.keys.Load().keys)
	found := false
	for i := range keys {
		if keys[i].KeyID != kid {
			continue
		}
		found = true
		switch keys[i].State {
		case KeyCurrent:
			return fmt.Errorf("revoking key %s: it is the current signing key; rotate first", kid)
		case KeyRevoked:
			return nil
		}
		keys[i].State = KeyRevoked
		keys[i].Private = nil
		keys[i].PublishedUntil = time.Time{}
	}
	if !found {
		return fmt.Errorf("revoking key %s: no such key", kid)
	}
	if err := p.saveKeys(keys); err != nil {
		return err
	}
	p.log.Warn("revoked a signing key", "kid", kid)
	return nil
}

// Keys lists the signing keys (without private parts), the current one first.
func (p *Provider) Keys() []KeyInfo {
	ring := p.keys.Load()
	out := make([]KeyInfo, 0, len(ring.keys))
	for _, k := range ring.keys {
		if k.State == KeyCurrent {
			out = append([]KeyInfo{k.info()}, out...)
		} else {
			out = append(out, k.info())
		}
	}
	return out
}

// saveKeys persists keys, then publishes them. p.keyMu is held. Writing first
// means a key never signs a token before it is on disk.
func (p *Provider) saveKeys(keys []storedKey) error {
	ring, err := buildKeyring(keys)
	if err != nil {
		return err
	}
	if err := p.state.WriteJSON(keysFile, &keyFile{Version: 1, Keys: keys}); err != nil {
		return fmt.Errorf("saving signing keys: %w", err)
	}
	p.keys.Store(ring)
	return nil
}

func cloneKeys(keys []storedKey) []storedKey {
	return append([]storedKey(nil), keys...)
}

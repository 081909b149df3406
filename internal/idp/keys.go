package idp

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// keysFile keeps the signing keys. Private keys are kept only while a key can
// sign (next and current); retired and revoked keys keep their public half.
const keysFile = "idp/keys.json"

// keyFileVersion is the version written. Version 1 (the foundation's) has
// ES256 keys only and no alg member; it is still read.
const keyFileVersion = 2

// Signing algorithms of lastmile's own keys.
const (
	// AlgES256 (ECDSA P-256) is the default: fast to sign, small tokens.
	AlgES256 = "ES256"
	// AlgRS256 (RSA 2048, PKCS #1 v1.5) is for consumers that take only RSA, such
	// as Entra workload identity federation (AADSTS5002738 refuses ES256).
	AlgRS256 = "RS256"
)

// rsaKeyBits is the size of generated RSA keys, the size Entra's own keys have.
const rsaKeyBits = 2048

// KeyState is where a signing key is in its life. Keys move next → current →
// retired, or to revoked from any state.
type KeyState string

// Key states. The JWKS publishes next, current and retired keys.
const (
	// KeyNext is published but does not sign yet, so validators learn it before
	// the first token signed with it arrives.
	KeyNext KeyState = "next"
	// KeyCurrent signs every new token of its algorithm. There is one per
	// algorithm in use.
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
	Algorithm string // AlgES256 or AlgRS256
	State     KeyState
	Created   time.Time
	Activated time.Time // when it became current; zero before
	Retired   time.Time // when it stopped signing; zero before
	// PublishedUntil is when a retired key leaves the JWKS.
	PublishedUntil time.Time
}

type keyFile struct {
	Version int `json:"version"`
	// TokenLifetime is the longest token lifetime (seconds) of the gateways that
	// used these keys: a key retired by lastmile keys, which may not know the
	// configuration, stays published that long.
	TokenLifetime int64       `json:"token_lifetime_seconds,omitempty"`
	Keys          []storedKey `json:"keys"`
}

type storedKey struct {
	KeyID          string           `json:"kid"`
	Algorithm      string           `json:"alg,omitempty"` // "" in version 1: ES256
	State          KeyState         `json:"state"`
	Created        time.Time        `json:"created"`
	Activated      time.Time        `json:"activated,omitzero"`
	Retired        time.Time        `json:"retired,omitzero"`
	PublishedUntil time.Time        `json:"published_until,omitzero"`
	Public         *jose.JSONWebKey `json:"public"`
	Private        *jose.JSONWebKey `json:"private,omitempty"`
}

func (k *storedKey) alg() string {
	if k.Algorithm == "" {
		return AlgES256
	}
	return k.Algorithm
}

func (k *storedKey) info() KeyInfo {
	return KeyInfo{KeyID: k.KeyID, Algorithm: k.alg(), State: k.State, Created: k.Created,
		Activated: k.Activated, Retired: k.Retired, PublishedUntil: k.PublishedUntil}
}

// signingKey is the current key of one algorithm, ready to sign.
type signingKey struct {
	kid string
	alg string
	// at signs RFC 9068 access tokens (typ at+jwt); jwt signs Entra-profile
	// tokens (typ JWT).
	at, jwt jose.Signer
}

// keyring is an immutable view of the keys: the signers for new tokens and the
// published JWKS. Changes build a new keyring and swap it in.
type keyring struct {
	keys    []storedKey
	signers map[string]*signingKey // by algorithm
	jwks    []byte
	etag    string
}

func (r *keyring) signer(alg string) *signingKey { return r.signers[alg] }

// newKey generates a key of the algorithm in the given state.
func newKey(alg string, state KeyState, now time.Time) (storedKey, error) {
	var priv crypto.Signer
	var err error
	switch alg {
	case AlgES256:
		priv, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case AlgRS256:
		priv, err = rsa.GenerateKey(rand.Reader, rsaKeyBits)
	default:
		return storedKey{}, fmt.Errorf("signing algorithm %q is not supported: use %s or %s", alg, AlgES256, AlgRS256)
	}
	if err != nil {
		return storedKey{}, fmt.Errorf("generating a signing key: %w", err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), Algorithm: alg, Use: "sig"}
	kid, err := thumbprint(&pub)
	if err != nil {
		return storedKey{}, err
	}
	pub.KeyID = kid
	k := storedKey{
		KeyID:     kid,
		Algorithm: alg,
		State:     state,
		Created:   now,
		Public:    &pub,
		Private:   &jose.JSONWebKey{Key: priv, KeyID: kid, Algorithm: alg, Use: "sig"},
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

// buildKeyring checks keys and makes the signers and the JWKS. The JWKS lists
// the current keys first (ES256, then RS256), then the others in file order, so
// that every instance reading the same file publishes the same bytes.
func buildKeyring(keys []storedKey) (*keyring, error) {
	ring := &keyring{keys: keys, signers: map[string]*signingKey{}}
	var current, others []jose.JSONWebKey
	next := map[string]int{}
	for i := range keys {
		k := &keys[i]
		if err := checkKey(k); err != nil {
			return nil, fmt.Errorf("key %d (%s): %w", i, k.KeyID, err)
		}
		alg := k.alg()
		switch k.State {
		case KeyCurrent:
			if prev := ring.signers[alg]; prev != nil {
				return nil, fmt.Errorf("two current %s keys, %s and %s", alg, prev.kid, k.KeyID)
			}
			sk, err := newSigningKey(k)
			if err != nil {
				return nil, err
			}
			ring.signers[alg] = sk
		case KeyNext:
			if next[alg]++; next[alg] > 1 {
				return nil, fmt.Errorf("more than one next %s key", alg)
			}
		}
		if k.State == KeyRevoked {
			continue
		}
		pub := *k.Public
		pub.KeyID, pub.Algorithm, pub.Use = k.KeyID, alg, "sig"
		if k.State == KeyCurrent {
			current = append(current, pub)
		} else {
			others = append(others, pub)
		}
	}
	if ring.signers[AlgES256] == nil {
		return nil, errors.New("no current ES256 signing key")
	}
	for alg := range next {
		if ring.signers[alg] == nil {
			return nil, fmt.Errorf("a next %s key but no current one", alg)
		}
	}
	if len(current) == 2 && current[0].Algorithm != AlgES256 {
		current[0], current[1] = current[1], current[0]
	}
	var err error
	ring.jwks, err = json.Marshal(jose.JSONWebKeySet{Keys: append(current, others...)})
	if err != nil {
		return nil, fmt.Errorf("encoding the JWKS: %w", err)
	}
	sum := sha256.Sum256(ring.jwks)
	ring.etag = `"` + base64.RawURLEncoding.EncodeToString(sum[:16]) + `"`
	return ring, nil
}

func newSigningKey(k *storedKey) (*signingKey, error) {
	alg := jose.SignatureAlgorithm(k.alg())
	key := jose.JSONWebKey{Key: k.Private.Key, KeyID: k.KeyID}
	at, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("at+jwt"))
	if err != nil {
		return nil, fmt.Errorf("making a signer for key %s: %w", k.KeyID, err)
	}
	plain, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, (&jose.SignerOptions{}).WithType("JWT"))
	if err != nil {
		return nil, fmt.Errorf("making a signer for key %s: %w", k.KeyID, err)
	}
	return &signingKey{kid: k.KeyID, alg: k.alg(), at: at, jwt: plain}, nil
}

// checkKey verifies a stored key: a public key of its algorithm whose thumbprint
// is its kid, and for signing states a private key matching it.
func checkKey(k *storedKey) error {
	switch k.State {
	case KeyNext, KeyCurrent, KeyRetired, KeyRevoked:
	default:
		return fmt.Errorf("unknown state %q", k.State)
	}
	if k.Public == nil || !k.Public.Valid() || !k.Public.IsPublic() {
		return errors.New("no valid public key")
	}
	switch k.alg() {
	case AlgES256:
		pub, ok := k.Public.Key.(*ecdsa.PublicKey)
		if !ok || pub.Curve != elliptic.P256() {
			return errors.New("the public key is not a P-256 key")
		}
	case AlgRS256:
		pub, ok := k.Public.Key.(*rsa.PublicKey)
		if !ok || directory.CheckPublicKey(pub) != nil {
			return errors.New("the public key is not an RSA key of 2048 bits or more")
		}
	default:
		return fmt.Errorf("unknown algorithm %q", k.Algorithm)
	}
	if kid, err := thumbprint(k.Public); err != nil || kid != k.KeyID {
		return errors.New("the kid is not the key's thumbprint")
	}
	if k.State == KeyCurrent && k.Activated.IsZero() {
		return errors.New("a current key without an activation time")
	}
	if k.State == KeyNext || k.State == KeyCurrent {
		if k.Private == nil || !k.Private.Valid() {
			return fmt.Errorf("a %s key needs its private key", k.State)
		}
		priv, ok := k.Private.Key.(crypto.Signer)
		var pub interface{ Equal(crypto.PublicKey) bool }
		if ok {
			pub, ok = priv.Public().(interface{ Equal(crypto.PublicKey) bool })
		}
		if !ok || !pub.Equal(k.Public.Key) {
			return errors.New("the private key does not match the public key")
		}
	}
	return nil
}

// KeySchedule is the automatic rotation schedule, SPIRE-style: the next key is
// published Prepublish before it starts signing, a key signs for RotationPeriod,
// and a retired key stays published until the last token it signed expires.
type KeySchedule struct {
	// RotationPeriod is how long a key signs. Zero means directory.DefaultRotationPeriod.
	RotationPeriod time.Duration
	// Prepublish is how long the next key is published before it signs: at least
	// the longest time a validator caches the JWKS (lastmile's max-age is 5
	// minutes; Entra and cloud IdPs cache for up to a day). Zero means a third of
	// RotationPeriod, as SPIRE (prepare at 1/2 of the life left, activate at 1/6).
	Prepublish time.Duration
	// Manual turns automatic rotation off: keys change only with lastmile keys.
	Manual bool
}

func (s KeySchedule) withDefaults() KeySchedule {
	if s.RotationPeriod == 0 {
		s.RotationPeriod = directory.DefaultRotationPeriod
	}
	if s.Prepublish == 0 {
		s.Prepublish = directory.DefaultPrepublish(s.RotationPeriod)
	}
	return s
}

// KeyStoreOptions configure a KeyStore.
type KeyStoreOptions struct {
	// TokenLifetime is the lifetime of the tokens this process signs; a retired
	// key stays published this long (or the longest lifetime recorded in the
	// key file, if longer) plus 5 minutes. Zero means DefaultTokenLifetime.
	TokenLifetime time.Duration
	// Algorithms are the algorithms that must have a current key; one is
	// generated for each that has none. ES256 always has one.
	Algorithms []string
	// Logger reports key changes. Default: nothing is logged.
	Logger *slog.Logger
	// ReadOnly opens the store without creating or changing anything, for
	// listing keys.
	ReadOnly bool
}

// KeyStore is the set of signing keys in the identity provider's State: the
// current key of each algorithm, the next ones and the retired ones still
// published. Several processes may share the state (a state directory on one
// machine, Redis for a fleet): changes are made under the state's lock, and
// Reload picks up changes made by others. It is safe for concurrent use.
type KeyStore struct {
	state    State
	lifetime time.Duration
	algs     []string
	log      *slog.Logger

	mu   sync.Mutex // serializes changes and reloads in this process
	ring atomic.Pointer[keyring]
	seen []byte // the key document the ring was read from, for Reload
}

// OpenKeyStore opens the signing keys of a state, creating the key document
// and any missing current key, and dropping retired keys past their
// publication window.
func OpenKeyStore(ctx context.Context, state State, o KeyStoreOptions) (*KeyStore, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.TokenLifetime == 0 {
		o.TokenLifetime = DefaultTokenLifetime
	}
	s := &KeyStore{state: state, lifetime: o.TokenLifetime, log: o.Logger, algs: []string{AlgES256}}
	for _, a := range o.Algorithms {
		if a != AlgES256 && a != AlgRS256 {
			return nil, fmt.Errorf("signing algorithm %q is not supported: use %s or %s", a, AlgES256, AlgRS256)
		}
		if a != AlgES256 {
			s.algs = append(s.algs, a)
		}
	}
	if err := checkNotMigrated(ctx, state); err != nil {
		return nil, err
	}
	if o.ReadOnly {
		if _, err := s.Reload(ctx); errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no signing keys in %s yet: they are created when lastmile serve first starts", state.Describe(keysFile))
		} else if err != nil {
			return nil, err
		}
		return s, nil
	}
	if err := s.update(ctx, func(*keyFile, time.Time) (bool, error) { return false, nil }); err != nil {
		return nil, err
	}
	return s, nil
}

// parseKeyFile decodes a key document; nil is an empty one (none yet).
func (s *KeyStore) parseKeyFile(data []byte) (*keyFile, error) {
	if data == nil {
		return &keyFile{Version: keyFileVersion}, nil
	}
	var kf keyFile
	if err := json.Unmarshal(data, &kf); err != nil {
		return nil, s.corrupt(err)
	}
	if kf.Version != 1 && kf.Version != keyFileVersion {
		return nil, fmt.Errorf("%s: version %d is not supported (this lastmile reads versions 1 and 2)", s.state.Describe(keysFile), kf.Version)
	}
	return &kf, nil
}

func (s *KeyStore) corrupt(err error) error {
	return fmt.Errorf("%s: %w; restore it from a backup, or delete it to generate new keys (tokens signed by the old keys stop verifying)", s.state.Describe(keysFile), err)
}

// update applies change to the key document under the state's lock: it reads
// the document fresh, drops expired retired keys, makes sure every algorithm in
// use has a current key, applies change, writes the document if anything
// changed, and publishes the result. Writing before publishing means a key
// never signs a token before it is stored.
//
// A document that is gone although this store read one before (deleted, or
// lost by a Redis that was restarted without persistence) is written back from
// the keys this store holds, rather than replaced with new keys that would
// make every token issued so far fail to verify.
func (s *KeyStore) update(ctx context.Context, change func(f *keyFile, now time.Time) (bool, error)) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var ring *keyring
	var saved []byte
	err := s.state.Update(ctx, keysFile, func(old []byte) ([]byte, error) {
		f, err := s.parseKeyFile(old)
		if err != nil {
			return nil, err
		}
		exists := old != nil
		if held := s.ring.Load(); !exists && held != nil {
			f.Keys = slices.Clone(held.keys)
			s.log.Warn("the signing keys were missing from the state; wrote back the keys this instance holds", "state", s.state.Describe(keysFile), "keys", len(f.Keys))
		}
		now := time.Now().UTC().Truncate(time.Second)
		changed := !exists || f.Version != keyFileVersion
		f.Version = keyFileVersion
		if lt := int64(s.lifetime / time.Second); f.TokenLifetime < lt {
			f.TokenLifetime, changed = lt, true
		}
		if s.prune(f, now) {
			changed = true
		}
		if exists && currentKey(f.Keys, AlgES256) < 0 {
			return nil, s.corrupt(errors.New("no current ES256 signing key"))
		}
		for _, alg := range s.algs {
			if currentKey(f.Keys, alg) < 0 {
				k, err := newKey(alg, KeyCurrent, now)
				if err != nil {
					return nil, err
				}
				f.Keys = append(f.Keys, k)
				changed = true
				s.log.Info("generated a signing key", "kid", k.KeyID, "alg", alg, "state", k.State)
			}
		}
		c, err := change(f, now)
		if err != nil {
			return nil, err
		}
		changed = changed || c
		if ring, err = buildKeyring(f.Keys); err != nil {
			if !exists || c {
				return nil, err
			}
			return nil, s.corrupt(err)
		}
		if !changed {
			saved = old
			return nil, nil
		}
		data, err := json.MarshalIndent(f, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("saving signing keys: %w", err)
		}
		saved = append(data, '\n')
		return saved, nil
	})
	if err != nil {
		return err
	}
	s.ring.Store(ring)
	s.seen = saved
	return nil
}

// prune drops retired keys whose publication window has passed.
func (s *KeyStore) prune(f *keyFile, now time.Time) bool {
	out := f.Keys[:0:0]
	for _, k := range f.Keys {
		if k.State == KeyRetired && !now.Before(k.PublishedUntil) {
			s.log.Info("dropped a retired signing key: the tokens it signed have expired", "kid", k.KeyID, "alg", k.alg())
			continue
		}
		out = append(out, k)
	}
	pruned := len(out) != len(f.Keys)
	f.Keys = out
	return pruned
}

func currentKey(keys []storedKey, alg string) int {
	for i := range keys {
		if keys[i].State == KeyCurrent && keys[i].alg() == alg {
			return i
		}
	}
	return -1
}

func nextKey(keys []storedKey, alg string) int {
	for i := range keys {
		if keys[i].State == KeyNext && keys[i].alg() == alg {
			return i
		}
	}
	return -1
}

// Reload reads the key document again and, if it changed since it was last
// read (another instance or lastmile keys changed it), publishes it and
// reports that it did. Running gateways call it every KeyReloadInterval and on
// SIGHUP. A missing document gives an error that matches fs.ErrNotExist.
func (s *KeyStore) Reload(ctx context.Context) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	data, err := s.state.Read(ctx, keysFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, fmt.Errorf("the signing keys are missing (%w); this instance writes back the keys it holds", err)
	}
	if err != nil {
		return false, fmt.Errorf("loading signing keys: %w", err)
	}
	if s.seen != nil && bytes.Equal(data, s.seen) {
		return false, nil
	}
	f, err := s.parseKeyFile(data)
	if err != nil {
		return false, err
	}
	ring, err := buildKeyring(f.Keys)
	if err != nil {
		return false, s.corrupt(err)
	}
	for _, alg := range s.algs {
		if ring.signer(alg) == nil && s.ring.Load() != nil {
			return false, s.corrupt(fmt.Errorf("no current %s key", alg))
		}
	}
	s.ring.Store(ring)
	s.seen = data
	return true, nil
}

// Keys lists the signing keys (without private parts), current ones first.
func (s *KeyStore) Keys() []KeyInfo {
	ring := s.ring.Load()
	var cur, rest []KeyInfo
	for _, k := range ring.keys {
		if k.State == KeyCurrent {
			cur = append(cur, k.info())
		} else {
			rest = append(rest, k.info())
		}
	}
	if len(cur) == 2 && cur[0].Algorithm != AlgES256 {
		cur[0], cur[1] = cur[1], cur[0]
	}
	return append(cur, rest...)
}

// JWKS returns the published JSON Web Key Set (public keys only).
func (s *KeyStore) JWKS() []byte { return append([]byte(nil), s.ring.Load().jwks...) }

func (s *KeyStore) checkAlg(alg string) error {
	if alg != AlgES256 && alg != AlgRS256 {
		return fmt.Errorf("signing algorithm %q is not supported: use %s or %s", alg, AlgES256, AlgRS256)
	}
	return nil
}

// Prepare makes sure a next key of the algorithm exists and is published, and
// returns it. Run it at least the JWKS max-age (5 minutes), better the longest
// JWKS cache of any validator, before Rotate.
func (s *KeyStore) Prepare(ctx context.Context, alg string) (KeyInfo, error) {
	if err := s.checkAlg(alg); err != nil {
		return KeyInfo{}, err
	}
	var info KeyInfo
	err := s.update(ctx, func(f *keyFile, now time.Time) (bool, error) {
		if i := nextKey(f.Keys, alg); i >= 0 {
			info = f.Keys[i].info()
			return false, nil
		}
		if currentKey(f.Keys, alg) < 0 {
			return false, fmt.Errorf("no current %s key to prepare a successor for", alg)
		}
		k, err := newKey(alg, KeyNext, now)
		if err != nil {
			return false, err
		}
		f.Keys = append(f.Keys, k)
		info = k.info()
		s.log.Info("prepared the next signing key", "kid", k.KeyID, "alg", alg)
		return true, nil
	})
	return info, err
}

// Rotate makes the next key of the algorithm current (generating one if none
// was prepared) and retires the current one, which stays published until every
// token it signed has expired. It returns the new current key. Without a
// prepared key, validators meet the new kid in a token before they see it in
// the JWKS and must refetch (go-oidc and most JWKS clients do).
func (s *KeyStore) Rotate(ctx context.Context, alg string) (KeyInfo, error) {
	if err := s.checkAlg(alg); err != nil {
		return KeyInfo{}, err
	}
	var info KeyInfo
	err := s.update(ctx, func(f *keyFile, now time.Time) (bool, error) {
		if currentKey(f.Keys, alg) < 0 {
			return false, fmt.Errorf("no current %s key to rotate", alg)
		}
		var err error
		info, err = s.rotate(f, alg, now, false)
		return err == nil, err
	})
	return info, err
}

// rotate retires the current key of alg and makes the next one (or, if fresh
// or none was prepared, a new one) current.
func (s *KeyStore) rotate(f *keyFile, alg string, now time.Time, fresh bool) (KeyInfo, error) {
	next := nextKey(f.Keys, alg)
	if next < 0 || fresh {
		k, err := newKey(alg, KeyNext, now)
		if err != nil {
			return KeyInfo{}, err
		}
		f.Keys = append(f.Keys, k)
		if next >= 0 {
			f.Keys[next].State, f.Keys[next].Private = KeyRevoked, nil
		}
		next = len(f.Keys) - 1
	}
	lifetime := max(time.Duration(f.TokenLifetime)*time.Second, s.lifetime)
	cur := currentKey(f.Keys, alg)
	if cur >= 0 {
		k := &f.Keys[cur]
		k.State, k.Retired, k.Private = KeyRetired, now, nil
		k.PublishedUntil = now.Add(lifetime + retiredGrace)
	}
	f.Keys[next].State, f.Keys[next].Activated = KeyCurrent, now
	info := f.Keys[next].info()
	s.log.Info("rotated the signing key", "kid", info.KeyID, "alg", alg)
	return info, nil
}

// Revoke withdraws a key from the JWKS at once: tokens it signed stop verifying
// once validators refetch the JWKS (at most its max-age later). Revoking a
// current key is the emergency case (the key leaked): a fresh key, not the
// prepared one, which was kept beside it, becomes current immediately, and the
// prepared key is revoked too. It returns the revoked key.
func (s *KeyStore) Revoke(ctx context.Context, kid string) (KeyInfo, error) {
	var info KeyInfo
	err := s.update(ctx, func(f *keyFile, now time.Time) (bool, error) {
		i := -1
		for j := range f.Keys {
			if f.Keys[j].KeyID == kid {
				i = j
			}
		}
		if i < 0 {
			return false, fmt.Errorf("revoking key %s: no such key (lastmile keys list shows them)", clip(kid))
		}
		k := &f.Keys[i]
		switch k.State {
		case KeyRevoked:
			info = k.info()
			return false, nil
		case KeyCurrent:
			alg := k.alg()
			if _, err := s.rotate(f, alg, now, true); err != nil {
				return false, err
			}
			s.log.Warn("emergency revocation: a fresh signing key replaced the current one", "alg", alg)
		}
		k = &f.Keys[i]
		k.State, k.Private, k.PublishedUntil = KeyRevoked, nil, time.Time{}
		info = k.info()
		s.log.Warn("revoked a signing key", "kid", kid, "alg", k.alg())
		return true, nil
	})
	return info, err
}

// Maintain applies the rotation schedule at the current time: it prepares the
// next key of each algorithm Prepublish before the current one's period ends,
// rotates once the period has ended and the next key has been published for
// Prepublish, and drops retired keys whose tokens have expired. It takes the
// lock only when something is due, so instances sharing the state directory
// can all call it; the first one to get the lock does the work.
func (s *KeyStore) Maintain(ctx context.Context, sched KeySchedule) error {
	sched = sched.withDefaults()
	now := time.Now().UTC().Truncate(time.Second)
	if !s.due(s.ring.Load().keys, sched, now) {
		return nil
	}
	return s.update(ctx, func(f *keyFile, now time.Time) (bool, error) {
		changed := false
		for _, alg := range []string{AlgES256, AlgRS256} {
			cur := currentKey(f.Keys, alg)
			if cur < 0 || sched.Manual {
				continue
			}
			activated := f.Keys[cur].Activated
			next := nextKey(f.Keys, alg)
			if next < 0 && !now.Before(activated.Add(sched.RotationPeriod-sched.Prepublish)) {
				k, err := newKey(alg, KeyNext, now)
				if err != nil {
					return false, err
				}
				f.Keys = append(f.Keys, k)
				s.log.Info("prepared the next signing key on schedule", "kid", k.KeyID, "alg", alg, "signs_from", now.Add(sched.Prepublish))
				changed = true
				continue
			}
			if next >= 0 && !now.Before(activated.Add(sched.RotationPeriod)) && !now.Before(f.Keys[next].Created.Add(sched.Prepublish)) {
				if _, err := s.rotate(f, alg, now, false); err != nil {
					return false, err
				}
				changed = true
			}
		}
		return changed, nil
	})
}

// due reports whether Maintain has anything to do.
func (s *KeyStore) due(keys []storedKey, sched KeySchedule, now time.Time) bool {
	for i := range keys {
		k := &keys[i]
		switch {
		case k.State == KeyRetired && !now.Before(k.PublishedUntil):
			return true
		case k.State != KeyCurrent || sched.Manual:
			continue
		}
		next := nextKey(keys, k.alg())
		if next < 0 && !now.Before(k.Activated.Add(sched.RotationPeriod-sched.Prepublish)) {
			return true
		}
		if next >= 0 && !now.Before(k.Activated.Add(sched.RotationPeriod)) && !now.Before(keys[next].Created.Add(sched.Prepublish)) {
			return true
		}
	}
	return false
}

// nextEvent returns when Maintain next has something to do, for sleeping until
// then (zero if nothing is scheduled).
func (s *KeyStore) nextEvent(sched KeySchedule) time.Time {
	sched = sched.withDefaults()
	keys := s.ring.Load().keys
	var at time.Time
	earliest := func(t time.Time) {
		if at.IsZero() || t.Before(at) {
			at = t
		}
	}
	for i := range keys {
		k := &keys[i]
		if k.State == KeyRetired {
			earliest(k.PublishedUntil)
		}
		if k.State != KeyCurrent || sched.Manual {
			continue
		}
		if next := nextKey(keys, k.alg()); next < 0 {
			earliest(k.Activated.Add(sched.RotationPeriod - sched.Prepublish))
		} else {
			earliest(maxTime(k.Activated.Add(sched.RotationPeriod), keys[next].Created.Add(sched.Prepublish)))
		}
	}
	return at
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

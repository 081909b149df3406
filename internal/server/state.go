package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/statedir"
	"github.com/lastmile-gw/lastmile/internal/store"
)

// IdentityState is where the identity plane keeps what it generates (the
// tenant id, identities, signing keys and generated subscription keys), as
// lastmile.yaml's store says: the state directory with the memory store, so
// that instances on one machine share it; Redis, encrypted, with the Redis
// store, so that instances on different machines share it.
type IdentityState struct {
	idp.State
	// Dir is the state directory; it keeps what belongs to this machine
	// (identity.env, the managed identity endpoint's header) in every case.
	Dir *statedir.Dir
	// Shared is the state in Redis; nil with the memory store.
	Shared *statedir.Shared
	// Where names the state for people: the state directory's path, or the
	// Redis server.
	Where string

	closer func() error // the Redis connection OpenIdentityState opened
}

// Close closes the connection OpenIdentityState opened, if any.
func (s *IdentityState) Close() error {
	if s.closer == nil {
		return nil
	}
	return s.closer()
}

// OpenIdentityState opens the identity state cfg gives, for the commands that
// work on it beside the gateway (lastmile keys, lastmile subscriptions). dir is
// the state directory; getenv reads the Redis password and the encryption key.
func OpenIdentityState(ctx context.Context, cfg *config.Config, dir string, getenv func(string) string) (*IdentityState, error) {
	d, err := statedir.Open(dir)
	if err != nil {
		return nil, err
	}
	shared, err := openStore(ctx, cfg.Store, getenv, nil)
	if err != nil {
		return nil, err
	}
	st, err := identityState(cfg.Store, d, shared, getenv)
	if err != nil {
		shared.Close()
		return nil, err
	}
	st.closer = shared.Close
	return st, nil
}

// identityState is the identity state over the store the server opened.
func identityState(c config.Store, dir *statedir.Dir, shared sharedStore, getenv func(string) string) (*IdentityState, error) {
	r, ok := shared.(*store.Redis)
	if !ok {
		return &IdentityState{State: dir, Dir: dir, Where: "the state directory " + dir.Path()}, nil
	}
	keys, err := encryptionKeys(c, getenv)
	if err != nil {
		return nil, err
	}
	s := statedir.NewShared(r, keys, 0)
	return &IdentityState{State: s, Dir: dir, Shared: s, Where: "Redis at " + c.Redis.Address}, nil
}

// encryptionKeys reads the keys the identity state is encrypted with in
// Redis. Without them lastmile does not start: private keys are never stored
// in clear. Errors never contain a key.
func encryptionKeys(c config.Store, getenv func(string) string) (*statedir.Keys, error) {
	var text, from string
	switch {
	case c.EncryptionKeyEnv != "":
		from = "store.encryptionKeyEnv: environment variable " + c.EncryptionKeyEnv
		if text = getenv(c.EncryptionKeyEnv); text == "" {
			return nil, fmt.Errorf("%s is not set; set it to the state encryption key, the same on every instance (32 random bytes in base64: openssl rand -base64 32)", from)
		}
	case c.EncryptionKeyFile != "":
		from = "store.encryptionKeyFile: " + c.EncryptionKeyFile
		var err error
		if text, err = config.ReadKeyFile(c.EncryptionKeyFile); err != nil {
			return nil, fmt.Errorf("%s: %w", from, err)
		}
	default:
		return nil, errors.New("store.type is redis, which keeps the identity provider's signing keys and identities in Redis, encrypted: set store.encryptionKeyEnv or store.encryptionKeyFile to give every instance the encryption key (32 random bytes in base64: openssl rand -base64 32)")
	}
	keys, err := statedir.ParseKeys(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", from, err)
	}
	return keys, nil
}

// checkSwitch refuses to start a fleet on an empty Redis while this machine's
// state directory holds identities and keys from before store.type: redis:
// starting would give the gateway new identities and keys, breaking every
// backend that trusts the old ones. The operator migrates them explicitly
// (lastmile keys migrate), or moves the directory's idp folder away. When the
// fleet already has its state, the directory's is only reported as unused.
func (s *IdentityState) checkSwitch(ctx context.Context, log *slog.Logger) error {
	if s.Shared == nil {
		return nil
	}
	fleet, err := idp.HasState(ctx, s.Shared)
	if err != nil {
		return err
	}
	local, err := idp.HasState(ctx, s.Dir)
	if err != nil || !local {
		return err
	}
	if migrated, err := idp.Migrated(ctx, s.Dir); err != nil || migrated {
		return err
	}
	if fleet {
		log.Warn("the state directory holds identities and signing keys from before store.type: redis; they are not used: this instance uses the fleet's, in Redis",
			"state_dir", s.Dir.Path(), "redis", s.Where)
		return nil
	}
	return fmt.Errorf("store.type is redis and Redis holds no identities yet, but the state directory %s holds this gateway's identities and signing keys from before: run `lastmile keys migrate --config DIR --state %s` once, before the fleet starts, to copy them (and generated subscription keys) to Redis, so that backends keep trusting the tenant, identities and keys they know; or move %s away to start the fleet with new ones",
		s.Dir.Path(), s.Dir.Path(), s.Dir.File("idp"))
}

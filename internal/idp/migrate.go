package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"time"
)

// migratedFile marks a state whose identities and keys were copied to another
// one by Migrate: its documents are a backup from that moment, and a provider
// refuses to start on it, since the fleet may have rotated keys since.
const migratedFile = "idp/migrated.json"

type migratedMarker struct {
	Version int       `json:"version"`
	To      string    `json:"to"`
	At      time.Time `json:"at"`
}

// checkNotMigrated refuses a state that Migrate copied elsewhere.
func checkNotMigrated(ctx context.Context, state State) error {
	data, err := state.Read(ctx, migratedFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var m migratedMarker
	json.Unmarshal(data, &m)
	return fmt.Errorf("the identities and signing keys of this state were moved to %s by lastmile keys migrate at %s; what is left here is a backup from then, and keys rotated since are not in it. Use the shared store (store.type: redis), or, to go back to this state, delete %s",
		m.To, m.At.Format(time.RFC3339), state.Describe(migratedFile))
}

// HasState reports whether state holds identities, that is, whether a provider
// has started on it (or Migrate filled it).
func HasState(ctx context.Context, state State) (bool, error) {
	_, err := state.Read(ctx, identitiesFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Migrated reports whether Migrate copied state elsewhere.
func Migrated(ctx context.Context, state State) (bool, error) {
	_, err := state.Read(ctx, migratedFile)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Migrate copies the tenant id, the identities and the signing keys (private
// parts included) from one state to another, as they are: a state directory's
// to the Redis a fleet shares, so that the fleet keeps the identities and keys
// its backends know. It checks both documents first, refuses when to already
// holds identities (it never overwrites a fleet's), and marks from as migrated
// (a provider then refuses to start on it). to describes the destination in
// that mark.
func Migrate(ctx context.Context, from, to State, where string) error {
	if err := checkNotMigrated(ctx, from); err != nil {
		return err
	}
	ids, err := from.Read(ctx, identitiesFile)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("nothing to migrate: %s does not exist", from.Describe(identitiesFile))
	}
	if err != nil {
		return err
	}
	var f identityFile
	if err := json.Unmarshal(ids, &f); err != nil {
		return fmt.Errorf("%s: %w; restore it from a backup before migrating", from.Describe(identitiesFile), err)
	}
	if err := f.check(); err != nil {
		return fmt.Errorf("%s: %w; restore it from a backup before migrating", from.Describe(identitiesFile), err)
	}
	keys, err := from.Read(ctx, keysFile)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("nothing to migrate: %s does not exist", from.Describe(keysFile))
	}
	if err != nil {
		return err
	}
	ks := &KeyStore{state: from}
	kf, err := ks.parseKeyFile(keys)
	if err != nil {
		return err
	}
	if _, err := buildKeyring(kf.Keys); err != nil {
		return ks.corrupt(err)
	}
	if has, err := HasState(ctx, to); err != nil {
		return err
	} else if has {
		return fmt.Errorf("%s already exists: the fleet has identities of its own, and migrating would replace them; nothing was copied", to.Describe(identitiesFile))
	}

	// The keys first, then the identities: a fleet counts as started once it
	// has identities, so an interrupted migration can simply be run again.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := to.Update(ctx, keysFile, func([]byte) ([]byte, error) { return keys, nil }); err != nil {
		return err
	}
	err = to.Update(ctx, identitiesFile, func(old []byte) ([]byte, error) {
		if old != nil {
			return nil, fmt.Errorf("%s appeared while migrating: an instance started on the shared state meanwhile; stop it, delete the shared state and migrate again", to.Describe(identitiesFile))
		}
		return ids, nil
	})
	if err != nil {
		return err
	}
	return from.Update(ctx, migratedFile, func([]byte) ([]byte, error) {
		return json.MarshalIndent(migratedMarker{Version: 1, To: where, At: time.Now().UTC().Truncate(time.Second)}, "", "  ")
	})
}

package snapshot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/lastmile-gw/lastmile/internal/apiops"
)

// State is where generated subscription keys are kept: a state directory
// (statedir.Dir) on one machine, or statedir.Shared (Redis, encrypted) for a
// fleet, so that every instance accepts the same generated keys.
type State interface {
	// Read returns the document name; a missing one gives an error matching
	// fs.ErrNotExist.
	Read(ctx context.Context, name string) ([]byte, error)
	// Update changes the document name under the state's lock: it calls
	// change with the document (nil when there is none) and stores what change
	// returns, unless that is nil.
	Update(ctx context.Context, name string, change func(old []byte) ([]byte, error)) error
	// Describe names the document in messages.
	Describe(name string) string
}

// ListSubscriptions loads a configuration folder and returns its subscriptions
// with their keys, generating and persisting keys the extract does not have.
func ListSubscriptions(ctx context.Context, dir string, state State, log *slog.Logger) ([]apiops.Subscription, error) {
	svc, err := apiops.Load(ctx, dir, log)
	if err != nil {
		return nil, err
	}
	subs, _, err := subscriptionKeys(ctx, svc, state)
	return subs, err
}

// subscriptionKeys returns the subscriptions, sorted by name, with their keys:
// the keys in the extract, or generated ones persisted in the state; and the
// generated keys as the state holds them (nil when none was needed).
func subscriptionKeys(ctx context.Context, svc *apiops.Service, state State) ([]apiops.Subscription, map[string]keyPair, error) {
	var missing []string
	for _, name := range slices.Sorted(maps.Keys(svc.Subscriptions)) {
		s := svc.Subscriptions[name]
		if s.PrimaryKey == "" || s.SecondaryKey == "" {
			missing = append(missing, name)
		}
	}
	var gen map[string]keyPair
	if len(missing) > 0 {
		if state == nil {
			return nil, nil, errors.New("subscriptions without keys need a state directory to keep generated keys")
		}
		var err error
		if gen, err = generatedKeys(ctx, state, missing); err != nil {
			return nil, nil, err
		}
	}
	var out []apiops.Subscription
	for _, name := range slices.Sorted(maps.Keys(svc.Subscriptions)) {
		s := *svc.Subscriptions[name]
		if g, ok := gen[name]; ok {
			if s.PrimaryKey == "" {
				s.PrimaryKey = g.Primary
			}
			if s.SecondaryKey == "" {
				s.SecondaryKey = g.Secondary
			}
		}
		out = append(out, s)
	}
	return out, gen, nil
}

// RestoreKeys writes the generated subscription keys this build used back to
// the state when they are gone from it (deleted, or lost by a Redis restarted
// without persistence), so that the keys clients hold stay the fleet's: an
// instance that starts, or reloads, next would otherwise generate new ones.
// It reports whether it wrote them. The identity provider does the same for
// its signing keys and identities.
func (b *Builder) RestoreKeys(ctx context.Context) (bool, error) {
	if len(b.generated) == 0 || b.State == nil {
		return false, nil
	}
	if _, err := b.State.Read(ctx, keysFile); !errors.Is(err, fs.ErrNotExist) {
		return false, nil // there, or unreadable for now: nothing to restore
	}
	data, err := encodeKeys(b.generated)
	if err != nil {
		return false, err
	}
	wrote := false
	err = b.State.Update(ctx, keysFile, func(old []byte) ([]byte, error) {
		if old != nil {
			return nil, nil // another instance was first
		}
		wrote = true
		return data, nil
	})
	return wrote, err
}

// keysFile is where generated subscription keys persist, by subscription name.
const keysFile = "subscription-keys.json"

// keyPair is a subscription's primary and secondary key.
type keyPair struct {
	Primary   string `json:"primaryKey"`
	Secondary string `json:"secondaryKey"`
}

// generatedKeys returns the persisted generated keys for names, generating and
// persisting keys for names that have none yet, under the state's lock so that
// instances starting together agree on them. Keys of subscriptions that no
// longer exist are kept, so a subscription that comes back keeps its keys.
func generatedKeys(ctx context.Context, state State, names []string) (map[string]keyPair, error) {
	var keys map[string]keyPair
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err := state.Update(ctx, keysFile, func(old []byte) ([]byte, error) {
		var err error
		if keys, err = decodeKeys(state, old); err != nil {
			return nil, err
		}
		changed := false
		for _, n := range names {
			if _, ok := keys[n]; ok {
				continue
			}
			keys[n] = keyPair{Primary: newKey(), Secondary: newKey()}
			changed = true
		}
		if !changed {
			return nil, nil
		}
		return encodeKeys(keys)
	})
	return keys, err
}

func decodeKeys(state State, data []byte) (map[string]keyPair, error) {
	keys := map[string]keyPair{}
	if data == nil {
		return keys, nil
	}
	if err := json.Unmarshal(data, &keys); err != nil {
		return nil, fmt.Errorf("%s: %w; restore it from a backup, or delete it to generate new keys for subscriptions without keys", state.Describe(keysFile), err)
	}
	return keys, nil
}

func encodeKeys(keys map[string]keyPair) ([]byte, error) {
	data, err := json.MarshalIndent(keys, "", "  ")
	if err != nil {
		return nil, err
	}
	return append(data, '\n'), nil
}

// MigrateSubscriptionKeys copies the generated subscription keys from one
// state to another (a state directory's to a fleet's Redis), so that clients
// keep their keys. Keys already in to are kept for subscriptions from does not
// have; for the others, from's keys win, since they are what clients use. It
// returns how many keys it copied.
func MigrateSubscriptionKeys(ctx context.Context, from, to State) (int, error) {
	data, err := from.Read(ctx, keysFile)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	src, err := decodeKeys(from, data)
	if err != nil {
		return 0, err
	}
	err = to.Update(ctx, keysFile, func(old []byte) ([]byte, error) {
		dst, err := decodeKeys(to, old)
		if err != nil {
			return nil, err
		}
		maps.Copy(dst, src)
		return encodeKeys(dst)
	})
	return len(src), err
}

// newKey returns a random key in API Management's format: 32 lower-case hex digits.
func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

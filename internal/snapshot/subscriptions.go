package snapshot

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"log/slog"
	"maps"
	"slices"

	"github.com/lastmile-gw/lastmile/internal/apiops"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// ListSubscriptions loads a configuration folder and returns its subscriptions
// with their keys, generating and persisting keys the extract does not have.
func ListSubscriptions(ctx context.Context, dir, stateDir string, log *slog.Logger) ([]apiops.Subscription, error) {
	svc, err := apiops.Load(ctx, dir, log)
	if err != nil {
		return nil, err
	}
	state, err := statedir.Open(stateDir)
	if err != nil {
		return nil, err
	}
	return subscriptionKeys(svc, state)
}

// subscriptionKeys returns the subscriptions, sorted by name, with their keys:
// the keys in the extract, or generated ones persisted in the state directory.
func subscriptionKeys(svc *apiops.Service, state *statedir.Dir) ([]apiops.Subscription, error) {
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
			return nil, errors.New("subscriptions without keys need a state directory to keep generated keys")
		}
		var err error
		if gen, err = generatedKeys(state, missing); err != nil {
			return nil, err
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
	return out, nil
}

// keysFile is where generated subscription keys persist, by subscription name.
const keysFile = "subscription-keys.json"

// keyPair is a subscription's primary and secondary key.
type keyPair struct {
	Primary   string `json:"primaryKey"`
	Secondary string `json:"secondaryKey"`
}

// generatedKeys returns the persisted generated keys for names, generating and
// persisting keys for names that have none yet. Keys of subscriptions that no
// longer exist are kept, so a subscription that comes back keeps its keys.
func generatedKeys(state *statedir.Dir, names []string) (map[string]keyPair, error) {
	keys := map[string]keyPair{}
	if err := state.ReadJSON(keysFile, &keys); err != nil && !errors.Is(err, fs.ErrNotExist) {
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
	if changed {
		if err := state.WriteJSON(keysFile, keys); err != nil {
			return nil, err
		}
	}
	return keys, nil
}

// newKey returns a random key in API Management's format: 32 lower-case hex digits.
func newKey() string {
	var b [16]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

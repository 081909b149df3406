package gateway

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"io/fs"
	"sort"

	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// keysFile is where generated subscription keys persist, by subscription name.
const keysFile = "subscription-keys.json"

// KeyPair is a subscription's primary and secondary key.
type KeyPair struct {
	Primary   string `json:"primaryKey"`
	Secondary string `json:"secondaryKey"`
}

// generatedKeys returns the persisted generated keys for names, generating and
// persisting keys for names that have none yet. Keys of subscriptions that no
// longer exist are kept, so a subscription that comes back keeps its keys.
func generatedKeys(state *statedir.Dir, names []string) (map[string]KeyPair, error) {
	keys := map[string]KeyPair{}
	if err := state.ReadJSON(keysFile, &keys); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	changed := false
	sort.Strings(names)
	for _, n := range names {
		if _, ok := keys[n]; ok {
			continue
		}
		keys[n] = KeyPair{Primary: newKey(), Secondary: newKey()}
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

package idp

import (
	"crypto/sha256"
	"errors"
	"sync"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// Client secrets are kept only as Argon2id hashes (directory.SecretHash).
// Verifying one costs about as much as hashing, which is why verified secrets
// are remembered for a while.

// secretCache remembers secrets that verified, for secretCacheTTL, so a client
// that sends its secret with every request pays for Argon2 once, and limits how
// many Argon2 verifications run at once, so that a flood of wrong secrets costs
// a bounded amount of memory.
type secretCache struct {
	mu      sync.Mutex
	entries map[[32]byte]time.Time // sha256(client id, secret, hash) -> expiry
	sem     chan struct{}
}

const (
	secretCacheTTL  = 10 * time.Minute
	secretCacheSize = 4096
)

func newSecretCache(concurrency int) *secretCache {
	return &secretCache{entries: map[[32]byte]time.Time{}, sem: make(chan struct{}, max(1, concurrency))}
}

func secretKey(clientID, secret, hash string) [32]byte {
	h := sha256.New()
	h.Write([]byte(clientID))
	h.Write([]byte{0})
	h.Write([]byte(hash))
	h.Write([]byte{0})
	h.Write([]byte(secret))
	var k [32]byte
	h.Sum(k[:0])
	return k
}

// verify reports whether secret matches one of hashes. It fails with the
// context's error if it had to wait for a verification slot past ctx.
func (c *secretCache) verify(done <-chan struct{}, clientID, secret string, hashes []directory.SecretHash, hashStrings []string, now time.Time) (bool, error) {
	for i := range hashes {
		key := secretKey(clientID, secret, hashStrings[i])
		c.mu.Lock()
		exp, ok := c.entries[key]
		c.mu.Unlock()
		if ok && now.Before(exp) {
			return true, nil
		}
	}
	select {
	case c.sem <- struct{}{}:
	case <-done:
		return false, errors.New("too many client secret verifications at once")
	}
	defer func() { <-c.sem }()
	for i, h := range hashes {
		if !h.Matches(secret) {
			continue
		}
		key := secretKey(clientID, secret, hashStrings[i])
		c.mu.Lock()
		if len(c.entries) >= secretCacheSize {
			for k, exp := range c.entries {
				if !now.Before(exp) {
					delete(c.entries, k)
				}
			}
			if len(c.entries) >= secretCacheSize {
				clear(c.entries)
			}
		}
		c.entries[key] = now.Add(secretCacheTTL)
		c.mu.Unlock()
		return true, nil
	}
	return false, nil
}

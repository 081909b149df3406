package server_test

import (
	"os"
	"path/filepath"
	"testing"
)

// testStateKey is the state encryption key of the Redis tests: 32 bytes in
// base64.
const testStateKey = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="

// stateKeyFile writes key to a new file and returns its absolute path, for
// store.encryptionKeyFile.
func stateKeyFile(t testing.TB, key string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.key")
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// redisStore is the store section of lastmile.yaml for the Redis at addr,
// with testStateKey as the encryption key.
func redisStore(t testing.TB, addr string) string {
	return "store:\n  type: redis\n  encryptionKeyFile: " + stateKeyFile(t, testStateKey) + "\n  redis:\n    address: " + addr + "\n"
}

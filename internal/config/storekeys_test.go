package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// testStateKey is a valid state encryption key (32 bytes, base64).
const testStateKey = "q83vEjRWeJCrze8SNFZ4kKvN7xI0VniQq83vEjRWeJA="

func TestStoreEncryptionKey(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("state.key", testStateKey+"\n")
	write("short.key", "c2hvcnQ=\n")
	os.Mkdir(filepath.Join(dir, "adir"), 0o700)
	file := filepath.Join(dir, "lastmile.yaml")
	redis := "store:\n  type: redis\n"

	for _, tc := range []struct {
		name    string
		src     string
		env     map[string]string
		want    Store // when wantErr is ""
		wantErr string
	}{
		{
			name: "from the environment",
			src:  redis + "  encryptionKeyEnv: STATE_KEY\n",
			env:  map[string]string{"STATE_KEY": testStateKey},
			want: Store{Type: "redis", Redis: Default().Store.Redis, FailureMode: Default().Store.FailureMode, EncryptionKeyEnv: "STATE_KEY"},
		},
		{
			name: "two keys, the new one first",
			src:  redis + "  encryptionKeyEnv: STATE_KEY\n",
			env:  map[string]string{"STATE_KEY": "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8= " + testStateKey},
			want: Store{Type: "redis", Redis: Default().Store.Redis, FailureMode: Default().Store.FailureMode, EncryptionKeyEnv: "STATE_KEY"},
		},
		{
			name: "from a file relative to lastmile.yaml",
			src:  redis + "  encryptionKeyFile: state.key\n",
			want: Store{Type: "redis", Redis: Default().Store.Redis, FailureMode: Default().Store.FailureMode, EncryptionKeyFile: filepath.Join(dir, "state.key")},
		},
		{
			name: "ignored with the memory store",
			src:  "store:\n  encryptionKeyEnv: UNSET\n",
			want: Store{Type: "memory", Redis: Default().Store.Redis, FailureMode: Default().Store.FailureMode, EncryptionKeyEnv: "UNSET"},
		},
		{
			name:    "redis without a key",
			src:     redis,
			wantErr: "lastmile.yaml:2:9: store.type: redis keeps the identity provider's signing keys and identities, and generated subscription keys, in Redis, encrypted with a key that every instance has: set store.encryptionKeyEnv to the name of an environment variable that holds it, or store.encryptionKeyFile to a file that holds it (32 random bytes in base64: openssl rand -base64 32)",
		},
		{
			name:    "both",
			src:     redis + "  encryptionKeyEnv: STATE_KEY\n  encryptionKeyFile: state.key\n",
			env:     map[string]string{"STATE_KEY": testStateKey},
			wantErr: "lastmile.yaml:4:22: store.encryptionKeyFile: set store.encryptionKeyEnv or store.encryptionKeyFile, not both",
		},
		{
			name:    "a key instead of a variable name",
			src:     redis + "  encryptionKeyEnv: " + testStateKey + "\n",
			wantErr: "lastmile.yaml:3:21: store.encryptionKeyEnv is not an environment variable name; write the variable's name (such as LASTMILE_STATE_KEY), never the key itself",
		},
		{
			name:    "variable not set",
			src:     redis + "  encryptionKeyEnv: STATE_KEY\n",
			wantErr: "lastmile.yaml:3:21: store.encryptionKeyEnv: environment variable STATE_KEY is not set; set it to the state encryption key (32 random bytes in base64: openssl rand -base64 32), the same on every instance",
		},
		{
			name:    "variable holds a password",
			src:     redis + "  encryptionKeyEnv: STATE_KEY\n",
			env:     map[string]string{"STATE_KEY": "correct horse battery staple"},
			wantErr: "lastmile.yaml:3:21: store.encryptionKeyEnv: environment variable STATE_KEY: encryption key 1 of 4 is not base64: give 32 random bytes in base64 (generate one with: openssl rand -base64 32)",
		},
		{
			name:    "variable holds a short key",
			src:     redis + "  encryptionKeyEnv: STATE_KEY\n",
			env:     map[string]string{"STATE_KEY": testStateKey + "," + "c2hvcnQ="},
			wantErr: "lastmile.yaml:3:21: store.encryptionKeyEnv: environment variable STATE_KEY: encryption key 2 of 2 is 5 bytes, want 32: give 32 random bytes in base64 (generate one with: openssl rand -base64 32)",
		},
		{
			name:    "the same key twice",
			src:     redis + "  encryptionKeyEnv: STATE_KEY\n",
			env:     map[string]string{"STATE_KEY": testStateKey + "\n" + testStateKey},
			wantErr: "lastmile.yaml:3:21: store.encryptionKeyEnv: environment variable STATE_KEY: encryption keys 1 and 2 are the same key (d12a10205e0224ff); list each key once",
		},
		{
			name:    "file missing",
			src:     redis + "  encryptionKeyFile: missing.key\n",
			wantErr: "lastmile.yaml:3:22: store.encryptionKeyFile: " + filepath.Join(dir, "missing.key") + ": the file does not exist (relative paths start from the folder of lastmile.yaml)",
		},
		{
			name:    "file is a folder",
			src:     redis + "  encryptionKeyFile: adir\n",
			wantErr: "lastmile.yaml:3:22: store.encryptionKeyFile: " + filepath.Join(dir, "adir") + ": not a regular file (relative paths start from the folder of lastmile.yaml)",
		},
		{
			name:    "file with a short key",
			src:     redis + "  encryptionKeyFile: short.key\n",
			wantErr: "lastmile.yaml:3:22: store.encryptionKeyFile: " + filepath.Join(dir, "short.key") + ": encryption key 1 of 1 is 5 bytes, want 32: give 32 random bytes in base64 (generate one with: openssl rand -base64 32) (relative paths start from the folder of lastmile.yaml)",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := func(k string) (string, bool) { v, ok := tc.env[k]; return v, ok }
			c, err := parse(file, []byte(tc.src), env)
			if tc.wantErr != "" {
				if err == nil {
					t.Fatalf("parse succeeded, want %s", tc.wantErr)
				}
				got := strings.ReplaceAll(err.Error(), file, "lastmile.yaml")
				if diff := cmp.Diff(tc.wantErr, got); diff != "" {
					t.Errorf("error (-want +got):\n%s", diff)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, c.Store); diff != "" {
				t.Errorf("store (-want +got):\n%s", diff)
			}
		})
	}
}

// TestEncryptionKeyNeverPrinted: a key that is wrong in any way is named by
// its position, never repeated.
func TestEncryptionKeyNeverPrinted(t *testing.T) {
	for _, src := range []string{"  encryptionKeyEnv: K\n", "  encryptionKeyEnv: $VALUE\n"} {
		for _, value := range []string{
			testStateKey[:40],  // too short, still base64
			testStateKey + "x", // not base64
			"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8gIQ==", // 34 bytes
		} {
			if strings.Contains(src, "$VALUE") && envNamePattern.MatchString(value) {
				continue // indistinguishable from a variable's name, which is named
			}
			src := "store:\n  type: redis\n" + strings.ReplaceAll(src, "$VALUE", value)
			_, err := parse("lastmile.yaml", []byte(src), func(string) (string, bool) { return value, true })
			if err == nil {
				t.Fatalf("%d-character key accepted", len(value))
			}
			if strings.Contains(err.Error(), value) || strings.Contains(err.Error(), testStateKey[:16]) {
				t.Errorf("error repeats the key: %v", err)
			}
		}
	}
}

package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"go.yaml.in/yaml/v4"

	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// storeKeyRefs keeps the nodes of the store's encryption key settings, for the
// check that needs the whole store section.
type storeKeyRefs struct {
	env, file *yaml.Node
	invalid   bool // a key setting was given but is wrong (already reported)
}

// maxKeyFileSize bounds what is read of store.encryptionKeyFile: a few keys in
// base64 are a few hundred bytes.
const maxKeyFileSize = 64 << 10

// storeKeyFields are the store's encryption key settings: with store.type
// redis, the identity provider's state is kept in Redis encrypted with them.
func (d *decoder) storeKeyFields(s *Store) []field {
	return []field{
		{"encryptionKeyEnv", func(k, v *yaml.Node) {
			v = resolve(v)
			e, ok := d.scalar(v, "store.encryptionKeyEnv", "the name of an environment variable")
			if !ok || e == "" {
				return
			}
			if !envNamePattern.MatchString(e) {
				// Not repeated: it may be the key itself.
				d.errorf(v, "store.encryptionKeyEnv is not an environment variable name; write the variable's name (such as LASTMILE_STATE_KEY), never the key itself")
				d.storeKeys.invalid = true
				return
			}
			s.EncryptionKeyEnv, d.storeKeys.env = e, v
		}},
		{"encryptionKeyFile", func(k, v *yaml.Node) {
			v = resolve(v)
			p, ok := d.scalar(v, "store.encryptionKeyFile", "a file path")
			if !ok || p == "" {
				return
			}
			if !filepath.IsAbs(p) {
				p = filepath.Join(d.dir, p)
			}
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
			s.EncryptionKeyFile, d.storeKeys.file = p, v
		}},
	}
}

// checkStoreKeys requires an encryption key with store.type redis, and checks
// that the variable or file holds keys, without ever repeating them.
func (d *decoder) checkStoreKeys(c *Config) {
	if c.Store.Type != StoreRedis || d.storeKeys.invalid {
		return
	}
	env, file := d.storeKeys.env, d.storeKeys.file
	switch {
	case env != nil && file != nil:
		d.errorf(file, "store.encryptionKeyFile: set store.encryptionKeyEnv or store.encryptionKeyFile, not both")
	case env == nil && file == nil:
		d.errorf(d.refs.storeType, "store.type: redis keeps the identity provider's signing keys and identities, and generated subscription keys, in Redis, encrypted with a key that every instance has: set store.encryptionKeyEnv to the name of an environment variable that holds it, or store.encryptionKeyFile to a file that holds it (32 random bytes in base64: openssl rand -base64 32)")
	case env != nil:
		v, ok := d.lookupEnv(c.Store.EncryptionKeyEnv)
		if !ok || v == "" {
			d.unsetEnv(env, "store.encryptionKeyEnv: environment variable %s is not set; set it to the state encryption key (32 random bytes in base64: openssl rand -base64 32), the same on every instance", c.Store.EncryptionKeyEnv)
			return
		}
		if _, err := statedir.ParseKeys(v); err != nil {
			d.errorf(env, "store.encryptionKeyEnv: environment variable %s: %v", c.Store.EncryptionKeyEnv, err)
		}
	default:
		text, err := ReadKeyFile(c.Store.EncryptionKeyFile)
		if err == nil {
			_, err = statedir.ParseKeys(text)
		}
		if err != nil {
			d.errorf(file, "store.encryptionKeyFile: %s: %v (relative paths start from the folder of %s)", c.Store.EncryptionKeyFile, err, filepath.Base(d.file))
		}
	}
}

// ReadKeyFile reads a store encryption key file: a regular file of at most
// 64 KiB. Errors never contain the file's content.
func ReadKeyFile(path string) (string, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return "", errors.New("the file does not exist")
	}
	if err != nil {
		return "", fmt.Errorf("cannot read the file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", fmt.Errorf("cannot read the file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return "", errors.New("not a regular file")
	}
	data, err := io.ReadAll(io.LimitReader(f, maxKeyFileSize+1))
	if err != nil {
		return "", fmt.Errorf("cannot read the file: %w", err)
	}
	if len(data) > maxKeyFileSize {
		return "", fmt.Errorf("the file is larger than %d bytes; it should hold a few keys in base64", maxKeyFileSize)
	}
	return string(data), nil
}

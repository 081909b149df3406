// Package statedir keeps what lastmile generates and must survive a restart: signing
// keys, the system-assigned identity, generated client ids and subscription keys.
//
// A Dir is the state directory of one machine: it is created with mode 0700 and
// every file is written atomically with mode 0600, because its contents are private
// keys and credentials, and changes are made under a file lock. Shared keeps the
// same documents in Redis for instances on different machines, each encrypted with
// AES-256-GCM before it leaves the process, and changed under a lease that expires.
// Both offer Read, Update and Describe, which is all the identity provider and the
// subscription keys need.
package statedir

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sync"
)

// Dir is an opened state directory. It is safe for concurrent use.
type Dir struct {
	path string
	mu   sync.Mutex // serialises writes within this process
}

// Default returns the default state directory: $LASTMILE_STATE if set, otherwise
// $XDG_STATE_HOME/lastmile, otherwise ~/.local/state/lastmile.
func Default(getenv func(string) string) (string, error) {
	if p := getenv("LASTMILE_STATE"); p != "" {
		return p, nil
	}
	if p := getenv("XDG_STATE_HOME"); p != "" {
		return filepath.Join(p, "lastmile"), nil
	}
	home := getenv("HOME")
	if home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("finding the default state directory: %w (set --state or LASTMILE_STATE)", err)
		}
		home = h
	}
	return filepath.Join(home, ".local", "state", "lastmile"), nil
}

// Open creates path (mode 0700) if it does not exist and returns it as a Dir.
// An existing directory that other users can read is tightened to 0700.
func Open(path string) (*Dir, error) {
	if path == "" {
		return nil, errors.New("state directory: empty path")
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("state directory %s: %w", path, err)
	}
	if err := os.MkdirAll(abs, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("state directory %s: not a directory", abs)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(abs, 0o700); err != nil {
			return nil, fmt.Errorf("state directory: %w", err)
		}
	}
	return &Dir{path: abs}, nil
}

// Path returns the directory's absolute path.
func (d *Dir) Path() string { return d.path }

// File returns the absolute path of name inside the directory.
func (d *Dir) File(name string) string { return filepath.Join(d.path, filepath.FromSlash(name)) }

// ReadFile reads name. A missing file gives an error that matches fs.ErrNotExist.
func (d *Dir) ReadFile(name string) ([]byte, error) {
	return os.ReadFile(d.File(name))
}

// WriteFile writes data to name atomically (temporary file and rename) with mode 0600,
// creating parent directories with mode 0700.
func (d *Dir) WriteFile(name string, data []byte) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	dst := d.File(name)
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return fmt.Errorf("writing state %s: %w", name, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(dst), ".tmp-*")
	if err != nil {
		return fmt.Errorf("writing state %s: %w", name, err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return fmt.Errorf("writing state %s: %w", name, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("writing state %s: %w", name, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("writing state %s: %w", name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("writing state %s: %w", name, err)
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("writing state %s: %w", name, err)
	}
	return nil
}

// ReadJSON decodes the JSON file name into v. A missing file gives an error that
// matches fs.ErrNotExist.
func (d *Dir) ReadJSON(name string, v any) error {
	data, err := d.ReadFile(name)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, v); err != nil {
		return fmt.Errorf("reading state %s: %w", d.File(name), err)
	}
	return nil
}

// WriteJSON encodes v as indented JSON into name, atomically and with mode 0600.
func (d *Dir) WriteJSON(name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("writing state %s: %w", name, err)
	}
	return d.WriteFile(name, append(data, '\n'))
}

// LoadOrCreateJSON reads name into v. If the file does not exist it calls create to
// fill v, writes v and returns. It is how generated identities and keys persist:
// the first start creates them, every later start reads them back.
func (d *Dir) LoadOrCreateJSON(name string, v any, create func() error) error {
	err := d.ReadJSON(name, v)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if err := create(); err != nil {
		return err
	}
	return d.WriteJSON(name, v)
}

// Read returns the content of name, like ReadFile: a missing file gives an
// error that matches fs.ErrNotExist. With Update and Describe it makes a Dir a
// state store that Shared (in Redis) can stand in for.
func (d *Dir) Read(_ context.Context, name string) ([]byte, error) {
	return d.ReadFile(name)
}

// Update changes the file name under the lock of its folder (the file "lock"
// beside it, see Lock), so that processes sharing the directory never
// interleave a read-modify-write of it: it reads the file (nil when it does not
// exist), calls change with its content, and writes what change returns,
// atomically with mode 0600. When change returns nil nothing is written; an
// error from change is returned as it is.
func (d *Dir) Update(ctx context.Context, name string, change func(old []byte) ([]byte, error)) error {
	unlock, err := d.Lock(ctx, lockName(name))
	if err != nil {
		return err
	}
	defer unlock()
	old, err := d.ReadFile(name)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading state %s: %w", name, err)
	}
	data, err := change(old)
	if err != nil || data == nil {
		return err
	}
	return d.WriteFile(name, data)
}

// Describe names the file name in messages: "state file <absolute path>".
func (d *Dir) Describe(name string) string { return "state file " + d.File(name) }

// lockName is the lock that guards name: "lock" in its folder.
func lockName(name string) string { return path.Join(path.Dir(name), "lock") }

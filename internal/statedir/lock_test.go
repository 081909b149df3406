package statedir_test

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/statedir"
)

func TestLockExcludesOtherDirs(t *testing.T) {
	path := t.TempDir()
	a, err := statedir.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	b, err := statedir.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	unlock, err := a.Lock(ctx, "idp/lock")
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(filepath.Join(path, "idp", "lock")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("lock file: %v, mode %v", err, fi.Mode())
	}

	// While a holds the lock, b cannot take it.
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := b.Lock(short, "idp/lock"); err == nil || !strings.Contains(err.Error(), "another process holds the lock") {
		t.Fatalf("second Lock while held: %v, want a refusal", err)
	}

	// b waits and gets it once a releases it.
	var got atomic.Bool
	done := make(chan struct{})
	go func() {
		defer close(done)
		unlockB, err := b.Lock(ctx, "idp/lock")
		if err != nil {
			t.Error(err)
			return
		}
		got.Store(true)
		unlockB()
	}()
	time.Sleep(20 * time.Millisecond)
	if got.Load() {
		t.Fatal("second Lock succeeded while the first was held")
	}
	unlock()
	<-done
	if !got.Load() {
		t.Fatal("second Lock did not succeed after release")
	}
	// Another name is another lock.
	u1, err := a.Lock(ctx, "x.lock")
	if err != nil {
		t.Fatal(err)
	}
	u2, err := b.Lock(ctx, "y.lock")
	if err != nil {
		t.Fatal(err)
	}
	u1()
	u2()
}

// TestLockAcrossProcesses holds the lock in a child process (this test binary,
// re-run as a helper) and checks that this process cannot take it meanwhile.
func TestLockAcrossProcesses(t *testing.T) {
	if dir := os.Getenv("STATEDIR_LOCK_HELPER"); dir != "" {
		d, err := statedir.Open(dir)
		if err != nil {
			os.Exit(3)
		}
		if _, err := d.Lock(context.Background(), "lock"); err != nil {
			os.Exit(4)
		}
		os.Stdout.WriteString("locked\n")
		os.Stdin.Read(make([]byte, 1)) // hold until the parent closes stdin
		os.Exit(0)
	}
	path := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockAcrossProcesses$")
	cmd.Env = append(os.Environ(), "STATEDIR_LOCK_HELPER="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 7)
	if _, err := stdout.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("helper: %q %v", buf, err)
	}
	d, err := statedir.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	short, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := d.Lock(short, "lock"); err == nil {
		t.Fatal("took the lock while another process held it")
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		t.Fatalf("helper: %v", err)
	}
	unlock, err := d.Lock(context.Background(), "lock")
	if err != nil {
		t.Fatalf("after the helper exited: %v", err)
	}
	unlock()
}

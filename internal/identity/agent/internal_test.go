package agent

import (
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

func TestLimiter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(20, 5)
		// A burst of 20 is allowed, one at a time.
		for i := range 20 {
			release, _, ok := l.acquire("a")
			if !ok {
				t.Fatalf("request %d refused", i+1)
			}
			release()
		}
		_, retry, ok := l.acquire("a")
		if ok {
			t.Fatal("21st request in the same instant was allowed")
		}
		if retry != 50*time.Millisecond {
			t.Errorf("retry after %s, want 50ms (one token at 20/s)", retry)
		}
		// Another caller has its own bucket.
		if release, _, ok := l.acquire("b"); !ok {
			t.Error("another caller was refused")
		} else {
			release()
		}
		time.Sleep(50 * time.Millisecond)
		release, _, ok := l.acquire("a")
		if !ok {
			t.Fatal("refused after the bucket refilled by one")
		}
		release()

		// Five at once, not six.
		time.Sleep(time.Second)
		var held []func()
		for i := range 5 {
			r, _, ok := l.acquire("c")
			if !ok {
				t.Fatalf("concurrent request %d refused", i+1)
			}
			held = append(held, r)
		}
		if _, retry, ok := l.acquire("c"); ok || retry != time.Second {
			t.Errorf("sixth concurrent request: ok %v, retry %s; want refused, 1s", ok, retry)
		}
		held[0]()
		if r, _, ok := l.acquire("c"); !ok {
			t.Error("refused after one request ended")
		} else {
			r()
		}
		for _, r := range held[1:] {
			r()
		}
	})
}

func TestLimiterForgetsIdleCallers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := newLimiter(20, 5)
		for i := range maxCallers + 10 {
			r, _, ok := l.acquire(strings.Repeat("k", i%7) + string(rune('a'+i%26)) + time.Duration(i).String())
			if !ok {
				t.Fatal("refused")
			}
			r()
			if i%1000 == 0 {
				time.Sleep(time.Second)
			}
		}
		if n := len(l.callers); n > maxCallers {
			t.Errorf("%d callers remembered, want at most %d", n, maxCallers)
		}
	})
}

// TestPIDReuse: a process that has gone is refused, so its pid cannot lend its
// registration to whatever process gets the number next.
func TestPIDReuse(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	cmd := exec.Command("sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Skipf("cannot start sleep: %v", err)
	}
	pid := int32(cmd.Process.Pid)
	uid := uint32(os.Getuid())
	at := newAttestor()
	entries := []Workload{{Name: "w", UID: &uid, Identities: []string{"system"}}}
	c, err := at.identify(sockOwner{pid: pid, uid: uid}, entries)
	if err != nil || !c.allowed["system"] {
		t.Fatalf("live process: %v, allowed %v", err, c)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := at.identify(sockOwner{pid: pid, uid: uid}, entries); err == nil {
		t.Error("a process that exited was identified")
	}
}

func TestStartTimeParsing(t *testing.T) {
	dir := t.TempDir()
	at := &attestor{proc: dir, digests: map[fileKey]string{}}
	for _, tc := range []struct {
		name, stat string
		want       uint64
		ok         bool
	}{
		{"plain", "42 (sleep) S 1 42 42 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 123456 1000 10", 123456, true},
		{"a name with spaces and parentheses", "42 (a) b) (c) S 1 42 42 0 -1 4194304 100 0 0 0 0 0 0 0 20 0 1 0 777 1000 10", 777, true},
		{"truncated", "42 (x) S 1 2", 0, false},
		{"no name", "42 S 1 2 3", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			os.MkdirAll(dir+"/42", 0o700)
			os.WriteFile(dir+"/42/stat", []byte(tc.stat), 0o600)
			got, err := at.startTime(42)
			if (err == nil) != tc.ok || got != tc.want {
				t.Errorf("startTime = %d, %v; want %d, ok %v", got, err, tc.want, tc.ok)
			}
		})
	}
}

func TestProcAddr(t *testing.T) {
	a := &net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 8081}
	// Little-endian machines print 127.0.0.1 as 0100007F.
	got4, got6 := procAddr(a, false), procAddr(a, true)
	if got4 != "0100007F:1F91" && got4 != "7F000001:1F91" {
		t.Errorf("tcp: %s", got4)
	}
	if got6 != "0000000000000000FFFF00000100007F:1F91" && got6 != "0000000000000000FFFF00007F000001:1F91" {
		t.Errorf("tcp6: %s", got6)
	}
	if procAddr(&net.TCPAddr{IP: net.ParseIP("::1"), Port: 1}, false) != "" {
		t.Error("an IPv6 address was written for /proc/net/tcp")
	}
}

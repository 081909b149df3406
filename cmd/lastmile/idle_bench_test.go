package main

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkIdleConnections measures what 10,000 idle keep-alive client
// connections cost a running lastmile: the resident memory of the `lastmile
// serve` process after each connection made one request and then waited,
// minus what it had before, in MiB (the metric MiB/10k-idle). The client side
// runs in the test process, so each process holds 10,000 sockets.
func BenchmarkIdleConnections(b *testing.B) {
	const conns = 10000
	dir := b.TempDir()
	cfg := filepath.Join(dir, "cfg")
	writeConfig(b, cfg, "")
	for b.Loop() {
		p := startProcess(b, "serve", "--config", cfg, "--state", filepath.Join(dir, "state"),
			"--listen", "127.0.0.1:0", "--identity-listen", "127.0.0.1:0", "--log-level", "info")
		p.waitFor(b, "lastmile is serving")
		addr := strings.TrimPrefix(p.logged(b, "gateway_url"), "http://")
		request := func(c net.Conn, br *bufio.Reader) {
			fmt.Fprintf(c, "GET /status-0123456789abcdef HTTP/1.1\r\nHost: gw\r\n\r\n")
			for {
				line, err := br.ReadString('\n')
				if err != nil {
					b.Fatal(err)
				}
				if line == "\r\n" {
					return
				}
			}
		}
		// Warm up: a few connections, so the baseline includes the server's
		// own start-up allocations.
		for range 10 {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			request(c, bufio.NewReader(c))
			c.Close()
		}
		time.Sleep(2 * time.Second)
		before := rss(b, p.cmd.Process.Pid)
		open := make([]net.Conn, 0, conns)
		for range conns {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatalf("connection %d: %v", len(open), err)
			}
			request(c, bufio.NewReader(c))
			open = append(open, c)
		}
		// Idle connections give their buffers back after a second.
		time.Sleep(3 * time.Second)
		after := rss(b, p.cmd.Process.Pid)
		for _, c := range open {
			c.Close()
		}
		b.ReportMetric(float64(after-before)/(1<<20), "MiB/10k-idle")
	}
}

// rss returns a process's resident memory in bytes.
func rss(t testing.TB, pid int) int64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

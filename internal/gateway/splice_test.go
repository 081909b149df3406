package gateway

import (
	"bufio"
	"io"
	"net"
	"testing"
	"testing/synctest"
	"time"
)

// TestSpliceIdle checks a WebSocket tunnel's idle timeout: bytes either way
// keep it open, and it closes both sides once nothing moved for the timeout.
func TestSpliceIdle(t *testing.T) {
	tests := []struct {
		name string
		idle time.Duration
		// talk writes on the tunnel's ends (the client's and the backend's)
		// before it goes quiet.
		talk     func(client, backend net.Conn)
		wantOpen time.Duration // how long the tunnel stays open
	}{
		{"quiet from the start", 10 * time.Second, func(client, backend net.Conn) {}, 10 * time.Second},
		{"the backend pushes", 10 * time.Second, func(client, backend net.Conn) {
			for range 5 {
				time.Sleep(6 * time.Second)
				backend.Write([]byte("tick"))
			}
		}, 40 * time.Second},
		{"the client sends", 10 * time.Second, func(client, backend net.Conn) {
			for range 3 {
				time.Sleep(9 * time.Second)
				client.Write([]byte("ping"))
			}
		}, 37 * time.Second},
		{"no timeout", 0, func(client, backend net.Conn) {}, 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				client, gwClient := net.Pipe()
				gwBackend, backend := net.Pipe()
				start := time.Now()
				spliced := make(chan int64)
				go func() { spliced <- splice(gwClient, bufio.NewReader(gwClient), gwBackend, tt.idle) }()
				// Each end reads what comes to it, until its connection closes.
				closed := make(chan time.Duration, 2)
				for _, c := range []net.Conn{client, backend} {
					go func() {
						io.Copy(io.Discard, c)
						closed <- time.Since(start)
					}()
				}
				tt.talk(client, backend)
				if tt.idle == 0 {
					time.Sleep(tt.wantOpen)
					select {
					case <-closed:
						t.Fatal("the tunnel closed without a timeout")
					default:
					}
					client.Close()
				}
				for range 2 {
					if got := <-closed; tt.idle > 0 && got != tt.wantOpen {
						t.Errorf("a side closed after %v, want %v", got, tt.wantOpen)
					}
				}
				<-spliced
				backend.Close()
			})
		})
	}
}

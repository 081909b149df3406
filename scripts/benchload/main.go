// Command benchload sends requests at a fixed rate over a fixed set of
// keep-alive connections and prints the latency percentiles.
// scripts/bench-peers.sh uses it to measure the latency lastmile adds at half
// its saturation rate.
//
// It is open loop, as wrk2 is: request i is due at start+i/rate on connection
// i mod conns, and when that connection is still busy with an earlier answer
// the latency counts from when the request was due, so a slow answer cannot
// hide the ones queued behind it. It speaks HTTP/1.1 on raw sockets because a
// net/http client costs several times what it measures and shares a core with
// the backend.
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"
)

func main() {
	target := flag.String("url", "", "URL to request (http only)")
	rate := flag.Int("rate", 1000, "requests per second")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	conns := flag.Int("conns", 64, "keep-alive connections")
	header := flag.String("H", "", "a request header, as Name: value")
	slow := flag.Duration("slow", 0, "also print, for each 10 ms window of the run, how many requests due in it took longer than this (0: no)")
	flag.Parse()
	u, err := url.Parse(*target)
	if *target == "" || err != nil || u.Scheme != "http" {
		flag.Usage()
		os.Exit(2)
	}
	var req bytes.Buffer
	fmt.Fprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\n", u.RequestURI(), u.Host)
	if *header != "" {
		fmt.Fprintf(&req, "%s\r\n", *header)
	}
	req.WriteString("\r\n")

	total := *rate * int(duration.Seconds())
	interval := time.Second / time.Duration(*rate)
	latencies := make([]time.Duration, total)
	var failed int
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now().Add(100 * time.Millisecond)
	for c := range *conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bad := run(u.Host, req.Bytes(), start, interval, c, *conns, latencies)
			mu.Lock()
			failed += bad
			mu.Unlock()
		}()
	}
	wg.Wait()
	if *slow > 0 {
		printSlow(latencies, interval, *slow)
	}
	slices.Sort(latencies)
	p := func(q float64) time.Duration {
		return latencies[int(q*float64(len(latencies)-1))].Round(time.Microsecond)
	}
	// The share of requests over 1 ms says more than p99 alone whether a
	// proxy's slow answers are rare or common.
	over := len(latencies) - sort.Search(len(latencies), func(i int) bool { return latencies[i] > time.Millisecond })
	fmt.Printf("requests %d failed %d p50 %s p90 %s p99 %s max %s over-1ms %.2f%%\n", total, failed,
		p(0.50), p(0.90), p(0.99), p(1), 100*float64(over)/float64(len(latencies)))
	if failed > 0 {
		log.Printf("%d requests failed", failed)
	}
}

// run sends requests c, c+n, c+2n... on one connection, redialling after an
// error, and records each latency. It returns how many failed.
func run(addr string, req []byte, start time.Time, interval time.Duration, c, n int, latencies []time.Duration) (failed int) {
	var conn net.Conn
	var br *bufio.Reader
	for i := c; i < len(latencies); i += n {
		due := start.Add(time.Duration(i) * interval)
		from := due
		if wait := time.Until(due); wait > 0 {
			time.Sleep(wait)
			// The connection was free before the request was due: a late
			// wake-up is this process's delay, not the server's.
			from = time.Now()
		}
		if conn == nil {
			var err error
			if conn, err = net.Dial("tcp", addr); err != nil {
				failed++
				latencies[i] = time.Since(from)
				conn = nil
				continue
			}
			br = bufio.NewReaderSize(conn, 16<<10)
		}
		ok := roundTrip(conn, br, req)
		latencies[i] = time.Since(from)
		if !ok {
			failed++
			conn.Close()
			conn = nil
		}
	}
	if conn != nil {
		conn.Close()
	}
	return failed
}

// roundTrip writes one request and reads a response framed by Content-Length
// or chunked encoding; it reports whether the answer was a 200 on a
// connection that can be used again.
func roundTrip(conn net.Conn, br *bufio.Reader, req []byte) bool {
	if _, err := conn.Write(req); err != nil {
		return false
	}
	status, err := br.ReadSlice('\n')
	if err != nil || len(status) < 12 {
		return false
	}
	ok := string(status[9:12]) == "200"
	length, chunked := -1, false
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return false
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			length, _ = strconv.Atoi(string(value))
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(value, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			ok = false
		}
	}
	switch {
	case chunked:
		for {
			line, err := br.ReadSlice('\n')
			if err != nil {
				return false
			}
			size, err := strconv.ParseInt(string(bytes.TrimSpace(line)), 16, 64)
			if err != nil {
				return false
			}
			if _, err := br.Discard(int(size) + 2); err != nil {
				return false
			}
			if size == 0 {
				return ok
			}
		}
	case length >= 0:
		_, err := io.CopyN(io.Discard, br, int64(length))
		return ok && err == nil
	}
	return false
}

// printSlow prints "offset:count" for every 10 ms window of the run in which
// requests took longer than limit, by when they were due: whether slow
// answers come alone or in bursts, and when (to set beside a server's
// collector trace, GODEBUG=gctrace=1).
func printSlow(latencies []time.Duration, interval, limit time.Duration) {
	const window = 10 * time.Millisecond
	counts := map[time.Duration]int{}
	for i, l := range latencies {
		if l > limit {
			counts[time.Duration(i)*interval/window*window]++
		}
	}
	fmt.Printf("slower than %s, per %s window by due time:", limit, window)
	for _, at := range slices.Sorted(maps.Keys(counts)) {
		fmt.Printf(" %s:%d", at, counts[at])
	}
	fmt.Println()
}

// Command benchload sends requests at a fixed rate (open loop: a request's
// latency counts from when it was due, so a slow answer cannot hide the ones
// queued behind it) and prints the latency percentiles. scripts/bench-peers.sh
// uses it to measure the latency lastmile adds at half its saturation rate.
package main

import (
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"
)

func main() {
	url := flag.String("url", "", "URL to request")
	rate := flag.Int("rate", 1000, "requests per second")
	duration := flag.Duration("duration", 10*time.Second, "how long to send")
	conns := flag.Int("conns", 64, "keep-alive connections")
	header := flag.String("H", "", "a request header, as Name: value")
	flag.Parse()
	if *url == "" {
		flag.Usage()
		os.Exit(2)
	}
	tr := &http.Transport{MaxConnsPerHost: *conns, MaxIdleConnsPerHost: *conns, DisableCompression: true}
	client := &http.Client{Transport: tr}
	name, value, _ := strings.Cut(*header, ":")

	total := int(*rate * int(duration.Seconds()))
	interval := time.Second / time.Duration(*rate)
	latencies := make([]time.Duration, total)
	failed := 0
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range total {
		due := start.Add(time.Duration(i) * interval)
		time.Sleep(time.Until(due))
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequest("GET", *url, nil)
			if name != "" {
				req.Header.Set(strings.TrimSpace(name), strings.TrimSpace(value))
			}
			resp, err := client.Do(req)
			if err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			d := time.Since(due)
			mu.Lock()
			latencies[i] = d
			if err != nil || resp.StatusCode != 200 {
				failed++
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(latencies)
	p := func(q float64) time.Duration { return latencies[int(q*float64(len(latencies)-1))] }
	fmt.Printf("requests %d failed %d p50 %s p90 %s p99 %s max %s\n", total, failed,
		p(0.50).Round(time.Microsecond), p(0.90).Round(time.Microsecond), p(0.99).Round(time.Microsecond), latencies[len(latencies)-1].Round(time.Microsecond))
	if failed > 0 {
		log.Printf("%d requests failed", failed)
	}
}

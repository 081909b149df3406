// Command benchstall measures how often the machine itself stops a busy
// thread: it reads the clock in a loop for a while and counts the gaps between
// two reads. On a shared virtual machine a CPU can be taken away for
// milliseconds at a time; a proxy pinned to that CPU then answers late however
// little it does itself. scripts/bench-peers.sh runs it on each CPU before the
// latency rounds, so their figures can be read against the machine's own.
//
// It allocates nothing and makes no system calls in the loop (the clock is
// read through the vDSO), so every gap is time the thread did not run.
package main

import (
	"flag"
	"fmt"
	"time"
)

func main() {
	duration := flag.Duration("duration", 5*time.Second, "how long to measure")
	name := flag.String("name", "", "a label for the output line")
	flag.Parse()

	limits := []time.Duration{100 * time.Microsecond, 500 * time.Microsecond, time.Millisecond, 4 * time.Millisecond}
	counts := make([]int, len(limits))
	var lost, longest time.Duration
	start := time.Now()
	last := start
	for last.Sub(start) < *duration {
		now := time.Now()
		gap := now.Sub(last)
		last = now
		if gap < limits[0] {
			continue
		}
		lost += gap
		longest = max(longest, gap)
		for i, l := range limits {
			if gap >= l {
				counts[i]++
			}
		}
	}
	fmt.Printf("%s stalls in %s: %d over 100µs, %d over 0.5ms, %d over 1ms, %d over 4ms; longest %s, %s lost in all\n",
		*name, *duration, counts[0], counts[1], counts[2], counts[3], longest.Round(time.Microsecond), lost.Round(time.Microsecond))
}

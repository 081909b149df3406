package main

import (
	"strconv"
	"strings"
)

// awakeSchedtrace is the GODEBUG schedtrace period, in milliseconds, that
// lastmile serve runs with unless GODEBUG already says schedtrace: the
// largest the runtime accepts (24.8 days).
//
// The setting is for its side effect. While every P is idle the runtime's
// system monitor sleeps on a futex; the next system call wakes it, and it
// then polls every 20 µs for a millisecond before it backs off. A gateway
// under moderate load goes idle and busy thousands of times a second, so the
// monitor wakes as often, each time a futex call, a sleep and two context
// switches on the gateway's CPU. With schedtrace set the runtime never puts
// the monitor in that sleep: it backs off to one wake-up every 10 ms and stays
// there. ARCHITECTURE.md ("The runtime's system monitor") has the figures.
//
// What else it does: the runtime prints a scheduler summary to standard
// error every 24.8 days of the host's uptime (so once at start on a host up
// longer than that), and a detailed one when the process crashes.
const awakeSchedtrace = 1<<31 - 1

// sysmonEnv returns environ with schedtrace added to GODEBUG, and whether it
// added it: not when GODEBUG already sets schedtrace, to any value, so
// GODEBUG=schedtrace=0 keeps the runtime's default.
func sysmonEnv(environ []string) ([]string, bool) {
	setting := "schedtrace=" + strconv.Itoa(awakeSchedtrace)
	out := make([]string, 0, len(environ)+1)
	found := false
	for _, kv := range environ {
		v, ok := strings.CutPrefix(kv, "GODEBUG=")
		if !ok {
			out = append(out, kv)
			continue
		}
		for s := range strings.SplitSeq(v, ",") {
			if name, _, _ := strings.Cut(s, "="); strings.TrimSpace(name) == "schedtrace" {
				return environ, false
			}
		}
		if v != "" {
			setting = v + "," + setting
		}
		found = true
		out = append(out, "GODEBUG="+setting)
	}
	if !found {
		out = append(out, "GODEBUG="+setting)
	}
	return out, true
}

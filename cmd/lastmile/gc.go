package main

import (
	"log/slog"
	"os"
	"runtime/debug"
	"strconv"
	"strings"
)

// serverGCPercent is the collector's target for lastmile serve when GOGC is
// not set. The data plane allocates about half a kilobyte per request and
// keeps almost none of it, so with Go's default of 100 the collector runs
// a few times a second under load; at 400 it runs a quarter as often, for a
// heap up to five times what is live (a live heap is typically tens of
// megabytes).
const serverGCPercent = 400

// tuneGC sets the garbage collector for a long-running server, unless the
// environment already does: GOGC as above and, in a container with a memory
// limit, GOMEMLIMIT at 90% of that limit, so that the larger heap target
// never pushes the process into the kernel's OOM killer.
func tuneGC(getenv func(string) string, log *slog.Logger) {
	if getenv("GOGC") == "" {
		debug.SetGCPercent(serverGCPercent)
	}
	if getenv("GOMEMLIMIT") != "" {
		return
	}
	if limit, ok := cgroupMemoryLimit(os.ReadFile); ok {
		debug.SetMemoryLimit(limit / 10 * 9)
		log.Debug("memory limit from the container", "bytes", limit/10*9)
	}
}

// cgroupMemoryLimit reads the memory limit of the process's cgroup (v2, then
// v1), if it has one.
func cgroupMemoryLimit(readFile func(string) ([]byte, error)) (int64, bool) {
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := readFile(f)
		if err != nil {
			continue
		}
		return parseMemoryLimit(string(b))
	}
	return 0, false
}

// parseMemoryLimit reads a cgroup memory limit: "max" (v2) or a huge number
// (v1) mean none.
func parseMemoryLimit(s string) (int64, bool) {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil || n <= 0 || n >= 1<<60 {
		return 0, false
	}
	return n, true
}

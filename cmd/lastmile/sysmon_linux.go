package main

import (
	"os"
	"syscall"
)

// keepSysmonAwake starts this program again, in the same process, with
// GODEBUG's schedtrace set (see awakeSchedtrace), unless it is set already.
// It returns only when it did not: the setting was there, or exec failed, in
// which case lastmile runs with the runtime's default.
func keepSysmonAwake() {
	env, changed := sysmonEnv(os.Environ())
	if !changed {
		return
	}
	// /proc/self/exe is this very binary, even if its path has since been
	// replaced or removed.
	syscall.Exec("/proc/self/exe", os.Args, env)
}

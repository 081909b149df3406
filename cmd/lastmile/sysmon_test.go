package main

import (
	"bytes"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
)

func TestSysmonEnv(t *testing.T) {
	awake := "schedtrace=" + strconv.Itoa(awakeSchedtrace)
	for _, tt := range []struct {
		name    string
		in      []string
		want    []string
		changed bool
	}{
		{"no GODEBUG", []string{"A=1"}, []string{"A=1", "GODEBUG=" + awake}, true},
		{"empty GODEBUG", []string{"GODEBUG=", "A=1"}, []string{"GODEBUG=" + awake, "A=1"}, true},
		{"other settings kept", []string{"GODEBUG=madvdontneed=1,gctrace=1"}, []string{"GODEBUG=madvdontneed=1,gctrace=1," + awake}, true},
		{"opted out", []string{"GODEBUG=schedtrace=0"}, []string{"GODEBUG=schedtrace=0"}, false},
		{"own period", []string{"A=1", "GODEBUG=gctrace=1, schedtrace=1000"}, []string{"A=1", "GODEBUG=gctrace=1, schedtrace=1000"}, false},
		{"a name that only ends in schedtrace", []string{"GODEBUG=xschedtrace=1"}, []string{"GODEBUG=xschedtrace=1," + awake}, true},
		{"not GODEBUG", []string{"MY_GODEBUG=schedtrace=0"}, []string{"MY_GODEBUG=schedtrace=0", "GODEBUG=" + awake}, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got, changed := sysmonEnv(tt.in)
			if !slices.Equal(got, tt.want) || changed != tt.changed {
				t.Errorf("sysmonEnv(%q) = %q, %v; want %q, %v", tt.in, got, changed, tt.want, tt.changed)
			}
		})
	}
}

// TestServeKeepsSysmonAwake runs lastmile serve and reads the environment of
// the running process: serve has started itself again with schedtrace in
// GODEBUG, in the same process, and kept what GODEBUG already said.
func TestServeKeepsSysmonAwake(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("lastmile sets the system monitor only on Linux")
	}
	dir := t.TempDir()
	cfg := filepath.Join(dir, "cfg")
	writeConfig(t, cfg, ordersYAML)
	awake := "schedtrace=" + strconv.Itoa(awakeSchedtrace)
	for i, tt := range []struct{ godebug, want string }{
		{"", awake},
		{"madvdontneed=1", "madvdontneed=1," + awake},
		{"schedtrace=0", "schedtrace=0"},
	} {
		env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "GODEBUG=") })
		if tt.godebug != "" {
			env = append(env, "GODEBUG="+tt.godebug)
		}
		p := startProcessEnv(t, env, "serve", "--config", cfg, "--state", filepath.Join(dir, "state"+strconv.Itoa(i)),
			"--listen", "127.0.0.1:0", "--identity-listen", "127.0.0.1:0")
		p.waitFor(t, "lastmile is serving")
		environ, err := os.ReadFile("/proc/" + strconv.Itoa(p.cmd.Process.Pid) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for kv := range bytes.SplitSeq(environ, []byte{0}) {
			if v, ok := bytes.CutPrefix(kv, []byte("GODEBUG=")); ok {
				got = string(v)
			}
		}
		if got != tt.want {
			t.Errorf("GODEBUG %q: the serving process has GODEBUG %q, want %q", tt.godebug, got, tt.want)
		}
	}
}

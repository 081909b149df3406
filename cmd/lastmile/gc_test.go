package main

import (
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
)

func TestParseMemoryLimit(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want int64
		ok   bool
	}{
		{"max\n", 0, false},
		{"536870912\n", 536870912, true},
		{"9223372036854771712\n", 0, false}, // cgroup v1 without a limit
		{"0\n", 0, false},
		{"", 0, false},
		{"12k", 0, false},
	} {
		got, ok := parseMemoryLimit(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseMemoryLimit(%q) = %d, %v; want %d, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestTuneGCKeepsTheEnvironmentsChoice(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	env := map[string]string{"GOGC": "100", "GOMEMLIMIT": "1GiB"}
	tuneGC(func(k string) string { return env[k] }, log)
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("with GOGC set, the GC percent became %d", got)
	}

	tuneGC(func(string) string { return "" }, log)
	if got := debug.SetGCPercent(100); got != serverGCPercent {
		t.Errorf("without GOGC, the GC percent is %d, want %d", got, serverGCPercent)
	}
}

package identity_test

import (
	"bytes"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/identity"
)

func TestNormalizeResource(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"already normal", "https://storage.azure.com", "https://storage.azure.com"},
		{"trailing slash", "https://storage.azure.com/", "https://storage.azure.com"},
		{"default scope", "https://storage.azure.com/.default", "https://storage.azure.com"},
		{"default scope upper case", "https://storage.azure.com/.DEFAULT", "https://storage.azure.com"},
		{"resource ending in slash plus scope", "https://database.windows.net//.default", "https://database.windows.net"},
		{"scope then slash", "api://orders/.default/", "api://orders"},
		{"case", "API://Orders", "api://orders"},
		{"guid", "6B9C1A2E-1C8B-4C5E-9A3F-0D2E7F1B2C3D", "6b9c1a2e-1c8b-4c5e-9a3f-0d2e7f1b2c3d"},
		{"non-ASCII untouched", "api://Ünïcode", "api://Ünïcode"},
		{"only scope", "/.default", ""},
		{"empty", "", ""},
		{"default inside path kept", "api://x/.default/y", "api://x/.default/y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := identity.NormalizeResource(tt.in); got != tt.want {
				t.Errorf("NormalizeResource(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestNormalizeResourceDoesNotAllocateWhenNormal(t *testing.T) {
	for _, s := range []string{"https://cognitiveservices.azure.com", "api://orders", "6b9c1a2e-1c8b-4c5e-9a3f-0d2e7f1b2c3d"} {
		// Build the string at run time so it is not a constant in read-only memory.
		in := strings.Clone(s)
		allocs := testing.AllocsPerRun(100, func() {
			if identity.NormalizeResource(in) != in {
				t.Fatalf("NormalizeResource(%q) changed a normal resource", in)
			}
		})
		if allocs != 0 {
			t.Errorf("NormalizeResource(%q): %v allocations, want 0", in, allocs)
		}
	}
}

func FuzzNormalizeResource(f *testing.F) {
	for _, s := range []string{"https://storage.azure.com/", "API://x/.default", "api://x/.DEFAULT//", "/", "", "a/.default/.default", "Ünï/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := identity.NormalizeResource(s)
		if again := identity.NormalizeResource(n); again != n {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, n, again)
		}
		if strings.HasSuffix(n, "/") || strings.HasSuffix(strings.ToLower(n), "/.default") {
			t.Fatalf("NormalizeResource(%q) = %q keeps a suffix", s, n)
		}
		if strings.IndexFunc(n, func(r rune) bool { return 'A' <= r && r <= 'Z' }) >= 0 {
			t.Fatalf("NormalizeResource(%q) = %q has upper-case ASCII", s, n)
		}
		for _, v := range []string{s + "/", s + "/.default", upperASCII(s)} {
			if got := identity.NormalizeResource(v); got != n {
				t.Fatalf("NormalizeResource(%q) = %q, but NormalizeResource(%q) = %q", v, got, s, n)
			}
		}
	})
}

func upperASCII(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'a' <= c && c <= 'z' {
			b[i] = c - ('a' - 'A')
		}
	}
	return string(b)
}

func TestTokenNeverPrintsValue(t *testing.T) {
	const secret = "eyJhbGciOiJFUzI1NiJ9.c2VjcmV0.c2ln"
	tok := identity.Token{Value: secret, ExpiresAt: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	var logged bytes.Buffer
	slog.New(slog.NewJSONHandler(&logged, nil)).Info("got", "token", tok)
	outputs := map[string]string{
		"%v":   fmt.Sprintf("%v", tok),
		"%+v":  fmt.Sprintf("%+v", tok),
		"%#v":  fmt.Sprintf("%#v", tok),
		"ptr":  fmt.Sprintf("%v", &tok),
		"slog": logged.String(),
	}
	//lint:ignore S1025 the %s verb itself is under test
	outputs["%s"] = fmt.Sprintf("%s", tok)
	for name, out := range outputs {
		if strings.Contains(out, "eyJ") || strings.Contains(out, "c2VjcmV0") {
			t.Errorf("%s prints the token value: %s", name, out)
		}
		if name != "slog" && !strings.Contains(out, "2030-01-02T03:04:05Z") {
			t.Errorf("%s does not show the expiry: %s", name, out)
		}
	}
}

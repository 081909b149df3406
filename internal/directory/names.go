package directory

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// MaxNameLength is the longest name of an identity, application or workload.
const MaxNameLength = 128

// CheckName reports what is wrong with the name of a user-assigned identity, an
// application or a workload, or "": 1 to 128 letters, digits, '.', '_' or '-',
// starting with a letter or digit.
func CheckName(s string) string {
	if !IsIdentifier(s, MaxNameLength, "._-") {
		return fmt.Sprintf("%q is not a valid name; use 1 to %d letters, digits, '.', '-' and '_', starting with a letter or digit", clip(s), MaxNameLength)
	}
	return ""
}

// IsIdentifier reports whether s has 1 to max bytes, ASCII letters and
// digits and, after the first, the bytes of punct: the shape of names here,
// of tenant ids and of certificate ids. A loop rather than a regular
// expression: the compiled program of a long counted repetition stays on the
// heap for the process's life, for the collector to scan in every cycle.
func IsIdentifier(s string, max int, punct string) bool {
	if len(s) == 0 || len(s) > max {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if !alnum && (i == 0 || strings.IndexByte(punct, c) < 0) {
			return false
		}
	}
	return true
}

// IsSystemName reports whether s names the system-assigned identity. Names
// compare without regard to ASCII case, as in Entra.
func IsSystemName(s string) bool { return strings.EqualFold(s, SystemName) }

// NewGUID returns a random (version 4) GUID in canonical lower-case form, the
// shape of Entra object, client and tenant ids.
func NewGUID() string {
	var b [16]byte
	rand.Read(b[:]) // never fails (crypto/rand, Go 1.24+)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var s [36]byte
	hex.Encode(s[0:8], b[0:4])
	s[8] = '-'
	hex.Encode(s[9:13], b[4:6])
	s[13] = '-'
	hex.Encode(s[14:18], b[6:8])
	s[18] = '-'
	hex.Encode(s[19:23], b[8:10])
	s[23] = '-'
	hex.Encode(s[24:36], b[10:16])
	return string(s[:])
}

// CanonicalGUID returns s in canonical lower-case form and whether it is a GUID
// (8-4-4-4-12 hexadecimal digits, without braces or a urn: prefix).
func CanonicalGUID(s string) (string, bool) {
	if len(s) != 36 {
		return "", false
	}
	b := []byte(s)
	for i, c := range b {
		switch {
		case i == 8 || i == 13 || i == 18 || i == 23:
			if c != '-' {
				return "", false
			}
		case '0' <= c && c <= '9', 'a' <= c && c <= 'f':
		case 'A' <= c && c <= 'F':
			b[i] = c + ('a' - 'A')
		default:
			return "", false
		}
	}
	return string(b), true
}

// CheckResourceID reports what is wrong with a registered resource's id (its
// App ID URI or application id), or "". Requests name a resource with or
// without "/.default" and a trailing "/", but the registered id is the
// resource itself: the scope suffix is refused there.
func CheckResourceID(id string) string {
	trimmed := strings.TrimRight(id, "/")
	switch {
	case trimmed == "":
		return "is empty; write the resource's App ID URI, such as api://orders"
	case strings.IndexFunc(id, badIDRune) >= 0:
		return fmt.Sprintf("%q contains white space or control characters; write the resource's App ID URI, such as api://orders", clip(id))
	case len(trimmed) >= len("/.default") && strings.EqualFold(trimmed[len(trimmed)-len("/.default"):], "/.default"):
		return fmt.Sprintf("%q ends in /.default, a scope suffix that is not part of the resource id; remove it", clip(id))
	}
	return ""
}

// CheckRole reports what is wrong with an app role value, or "".
func CheckRole(role string) string {
	if role == "" || strings.IndexFunc(role, badIDRune) >= 0 {
		return fmt.Sprintf("%q is not a role value: it must be non-empty, without white space or control characters", clip(role))
	}
	return ""
}

// badIDRune reports runes that have no place in a resource id or role value.
func badIDRune(r rune) bool {
	return unicode.IsSpace(r) || unicode.IsControl(r) || r == utf8.RuneError
}

// clip shortens a caller-supplied string for an error message.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

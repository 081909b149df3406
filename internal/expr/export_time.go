package expr

import (
	"errors"
	"time"
)

// FormatDateTime formats t as .NET's DateTime.ToString(format) does in the
// invariant culture, custom and standard formats alike; the Liquid Date filter
// of set-body uses it, so that .NET formats have one implementation.
func FormatDateTime(t time.Time, format string) (string, error) {
	s, msg := formatDateTimeErr(t, format)
	if msg != "" {
		return "", errors.New(msg)
	}
	return s, nil
}

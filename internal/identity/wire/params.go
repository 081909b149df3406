package wire

import (
	"fmt"
	"net/url"
	"strings"
)

// ParamError is a request parameter that ParseParams refused.
type ParamError struct {
	// Name is the parameter as sent, decoded when it could be.
	Name string
	// Repeated is true when the parameter came more than once; otherwise it is
	// not form-encoded.
	Repeated bool
}

func (e *ParamError) Error() string {
	if e.Repeated {
		return fmt.Sprintf("the parameter %s is repeated; send it once (RFC 6749 §3.1)", quoteName(e.Name))
	}
	return fmt.Sprintf("the parameter %s is not form-encoded", quoteName(e.Name))
}

// ParseParams parses the parameters of a token request: a query string, or an
// application/x-www-form-urlencoded body. It is the one place the token
// endpoints and the managed identity endpoints read parameters, and it refuses
// what RFC 6749 §3.1 forbids, a parameter sent more than once, whatever
// its name, so that no endpoint quietly picks one of two values. A pair that
// is not form-encoded (a bad escape, a ';' separator) is refused too, where
// url.ParseQuery would drop it and let the rest of the request through.
func ParseParams(raw string) (url.Values, error) {
	v := url.Values{}
	for raw != "" {
		var pair string
		pair, raw, _ = strings.Cut(raw, "&")
		if pair == "" {
			continue
		}
		rawName, rawValue, _ := strings.Cut(pair, "=")
		name, err := url.QueryUnescape(rawName)
		if err != nil || strings.Contains(pair, ";") {
			if err != nil {
				name = rawName
			}
			return nil, &ParamError{Name: name}
		}
		value, err := url.QueryUnescape(rawValue)
		if err != nil {
			return nil, &ParamError{Name: name}
		}
		if v.Has(name) {
			return nil, &ParamError{Name: name, Repeated: true}
		}
		v[name] = []string{value}
	}
	return v, nil
}

// quoteName quotes a parameter name for a message (which the identity provider
// also logs) when it looks like one. Anything else may be a body that was not
// meant as a form at all, a JSON document with a secret in it, and is not
// repeated.
func quoteName(s string) string {
	if len(s) > 64 || strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.' || r == ':')
	}) >= 0 {
		return "(a name that is not a parameter name)"
	}
	return fmt.Sprintf("%q", s)
}

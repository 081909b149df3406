package jwtverify

import (
	"encoding/json"
	"errors"
	"unicode/utf8"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// decodeObject decodes a JSON object into its members, refusing duplicate
// names, as directory.DecodeObject does, on a faster path for the common case:
// a single Unmarshal, then a scan of the top-level names for duplicates. Names
// with escapes (which could spell another name) take directory's path.
func decodeObject(data []byte) (map[string]json.RawMessage, error) {
	if !utf8.Valid(data) {
		return nil, errors.New("the JSON is not valid UTF-8")
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil || m == nil {
		return directory.DecodeObject(data) // for its message
	}
	n, escaped := countNames(data)
	if escaped || n != len(m) {
		return directory.DecodeObject(data)
	}
	return m, nil
}

// countNames counts the names of a valid JSON object's top-level members, and
// reports whether any has an escape.
func countNames(data []byte) (n int, escaped bool) {
	depth := 0
	expectName := false
	for i := 0; i < len(data); i++ {
		switch c := data[i]; c {
		case '{':
			depth++
			expectName = depth == 1
		case '[':
			depth++
		case '}', ']':
			depth--
		case ',':
			expectName = depth == 1
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
					if expectName {
						escaped = true
					}
				}
			}
			if expectName && depth == 1 {
				n++
				expectName = false
			}
		}
	}
	return n, escaped
}

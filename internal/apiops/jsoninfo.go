package apiops

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
)

// infoFile is one *Information.json file: the ARM resource body
// {"properties": {...}}. It keeps the source so that later checks (a scope that
// names an unknown product, ...) can point at the offending value.
type infoFile struct {
	file string // as the operator can open it
	src  []byte // without a byte order mark
}

var bom = []byte{0xEF, 0xBB, 0xBF}

// decodeInfo decodes file's "properties" object into props, which must be a
// pointer to a struct. It reports a positioned error for bad JSON, a missing
// "properties" object and a value of the wrong type.
func decodeInfo(file string, src []byte, props any) (*infoFile, *Error) {
	f := &infoFile{file: file, src: bytes.TrimPrefix(src, bom)}
	if len(bytes.TrimSpace(f.src)) == 0 {
		return f, &Error{File: file, Msg: `the file is empty; it must hold the resource as {"properties": {...}}`}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(f.src, &top); err != nil {
		return f, f.jsonError(err, nil)
	}
	if top == nil {
		return f, f.errorAt(nil, `the file holds null; it must hold the resource as {"properties": {...}}`)
	}
	var raw json.RawMessage
	for k, v := range top {
		if strings.EqualFold(k, "properties") {
			raw = v
			break
		}
	}
	if raw == nil || string(raw) == "null" {
		return f, f.errorAt(nil, `there is no "properties" object; apiops files have the shape {"properties": {...}}: move the fields into it`)
	}
	if err := json.Unmarshal(raw, props); err != nil {
		return f, f.jsonError(err, []string{"properties"})
	}
	return f, nil
}

// jsonError turns an encoding/json error into a positioned one. prefix is the
// path of the value that was decoded, for type errors.
func (f *infoFile) jsonError(err error, prefix []string) *Error {
	var syn *json.SyntaxError
	if errors.As(err, &syn) {
		off := int(syn.Offset)
		if off > 0 && off <= len(f.src) && !strings.Contains(syn.Error(), "unexpected end") {
			off-- // Offset is just after the offending byte
		}
		return &Error{File: f.file, Pos: position(f.src, off), Msg: "invalid JSON: " + syn.Error()}
	}
	var typ *json.UnmarshalTypeError
	if errors.As(err, &typ) {
		path := append(append([]string(nil), prefix...), splitField(typ.Field)...)
		name := "the file"
		if len(path) > 0 {
			name = fmt.Sprintf("%q", path[len(path)-1])
		}
		if len(prefix) > 0 && len(path) == len(prefix) {
			name = fmt.Sprintf("%q", "properties")
		}
		return f.errorAt(path, fmt.Sprintf("%s must be %s, not %s", name, jsonKind(typ.Type), article(typ.Value)))
	}
	return &Error{File: f.file, Msg: "invalid JSON: " + err.Error(), Err: err}
}

func splitField(field string) []string {
	if field == "" {
		return nil
	}
	return strings.Split(field, ".")
}

func article(v string) string {
	switch v {
	case "object", "array":
		return "an " + v
	case "":
		return "this value"
	default:
		return "a " + v
	}
}

// jsonKind describes a Go type the way a JSON author thinks of it.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "a value"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.Bool:
		return "true or false"
	case reflect.String:
		return "a string"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Map, reflect.Struct:
		return "an object"
	default:
		return "a value"
	}
}

// errorAt returns an error at the value found at path (object keys from the
// top), or at the deepest part of it that exists.
func (f *infoFile) errorAt(path []string, msg string) *Error {
	return &Error{File: f.file, Pos: position(f.src, locate(f.src, path)), Msg: msg}
}

// locate returns the offset of the JSON value at path, a list of object keys
// (matched as encoding/json does, exactly or else without regard to case) and
// list indexes ("0" is a list's first element). When a key is missing it returns
// the offset of the innermost value that exists.
func locate(src []byte, path []string) int {
	best := skipSep(src, 0)
	dec := json.NewDecoder(bytes.NewReader(src))
	for _, key := range path {
		tok, err := dec.Token()
		if err != nil {
			return best
		}
		if tok == json.Delim('[') {
			i, err := strconv.Atoi(key)
			if err != nil || i < 0 {
				return best
			}
			for ; i > 0 && dec.More(); i-- {
				if skipValue(dec) != nil {
					return best
				}
			}
			if i > 0 || !dec.More() {
				return best
			}
			best = skipSep(src, int(dec.InputOffset()))
			continue
		}
		if tok != json.Delim('{') {
			return best
		}
		found := false
		for dec.More() {
			k, err := dec.Token()
			if err != nil {
				return best
			}
			if ks, _ := k.(string); ks == key || strings.EqualFold(ks, key) {
				found = true
				break
			}
			if skipValue(dec) != nil {
				return best
			}
		}
		if !found {
			return best
		}
		best = skipSep(src, int(dec.InputOffset()))
	}
	return best
}

// skipSep skips white space and the ':' or ',' between tokens.
func skipSep(src []byte, off int) int {
	for off < len(src) {
		switch src[off] {
		case ' ', '\t', '\r', '\n', ':', ',':
			off++
		default:
			return off
		}
	}
	return off
}

func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// The shapes of the "properties" objects. Fields that lastmile does not use are
// left out; encoding/json ignores them. Pointers tell "absent" from "false".

type apiProps struct {
	Path                          *string    `json:"path"`
	DisplayName                   string     `json:"displayName"`
	Description                   string     `json:"description"`
	ServiceURL                    string     `json:"serviceUrl"`
	Protocols                     []string   `json:"protocols"`
	SubscriptionRequired          *bool      `json:"subscriptionRequired"`
	SubscriptionKeyParameterNames *keyParams `json:"subscriptionKeyParameterNames"`
	IsCurrent                     *bool      `json:"isCurrent"`
	APIRevision                   string     `json:"apiRevision"`
	APIVersion                    string     `json:"apiVersion"`
	APIVersionSetID               string     `json:"apiVersionSetId"`
	Type                          string     `json:"type"`
	APIType                       string     `json:"apiType"`
	// TranslateRequiredQueryParameters is "template" (the default: required
	// query parameters of the specification become template parameters) or
	// "query".
	TranslateRequiredQueryParameters *string `json:"translateRequiredQueryParameters"`
}

type keyParams struct {
	Header string `json:"header"`
	Query  string `json:"query"`
}

type versionSetProps struct {
	DisplayName       string `json:"displayName"`
	VersioningScheme  string `json:"versioningScheme"`
	VersionQueryName  string `json:"versionQueryName"`
	VersionHeaderName string `json:"versionHeaderName"`
}

type productProps struct {
	DisplayName          string `json:"displayName"`
	Description          string `json:"description"`
	State                string `json:"state"`
	SubscriptionRequired *bool  `json:"subscriptionRequired"`
	ApprovalRequired     *bool  `json:"approvalRequired"`
	SubscriptionsLimit   *int   `json:"subscriptionsLimit"`
}

type subscriptionProps struct {
	DisplayName  string  `json:"displayName"`
	Scope        *string `json:"scope"`
	State        *string `json:"state"`
	AllowTracing *bool   `json:"allowTracing"`
	PrimaryKey   string  `json:"primaryKey"`
	SecondaryKey string  `json:"secondaryKey"`
}

type namedValueProps struct {
	DisplayName string  `json:"displayName"`
	Value       *string `json:"value"`
	Secret      *bool   `json:"secret"`
	KeyVault    *struct {
		SecretIdentifier string `json:"secretIdentifier"`
		IdentityClientID string `json:"identityClientId"`
	} `json:"keyVault"`
}

type fragmentProps struct {
	Description string `json:"description"`
}

type backendProps struct {
	Title       string `json:"title"`
	Description string `json:"description"`
	URL         string `json:"url"`
	Protocol    string `json:"protocol"`
	Type        string `json:"type"`
	ResourceID  string `json:"resourceId"`
	Credentials *struct {
		Header        map[string][]string `json:"header"`
		Query         map[string][]string `json:"query"`
		Authorization *struct {
			Scheme    string `json:"scheme"`
			Parameter string `json:"parameter"`
		} `json:"authorization"`
		CertificateIDs  []string `json:"certificateIds"`
		Certificate     []string `json:"certificate"`
		ManagedIdentity *struct {
			ClientID string `json:"clientId"`
			Resource string `json:"resource"`
		} `json:"managedIdentity"`
	} `json:"credentials"`
	TLS *struct {
		ValidateCertificateChain *bool `json:"validateCertificateChain"`
		ValidateCertificateName  *bool `json:"validateCertificateName"`
	} `json:"tls"`
	Pool           *poolProps           `json:"pool"`
	CircuitBreaker *circuitBreakerProps `json:"circuitBreaker"`
}

package apiops

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Example is a response an operation's specification documents, for
// mock-response: its status, a media type and the body for it.
type Example struct {
	Status      int
	ContentType string
	// Body is the media type's example (example, else the first of examples by
	// name), else a sample made from its schema; nil when there is neither.
	Body []byte
}

// examples lists the documented responses of o in order of status, and for
// each its media types, application/json first and the others by name (the
// specification's maps have no order once read).
func examples(o *openapi3.Operation) []Example {
	if o == nil || o.Responses == nil {
		return nil
	}
	var out []Example
	for code, ref := range o.Responses.Map() {
		status, err := strconv.Atoi(code)
		if err != nil || ref == nil || ref.Value == nil {
			continue // "default" and ranges such as 2XX name no one status
		}
		types := make([]string, 0, len(ref.Value.Content))
		for mt := range ref.Value.Content {
			types = append(types, mt)
		}
		slices.SortFunc(types, func(a, b string) int {
			switch {
			case a == b:
				return 0
			case a == "application/json":
				return -1
			case b == "application/json":
				return 1
			}
			return strings.Compare(a, b)
		})
		if len(types) == 0 {
			out = append(out, Example{Status: status})
		}
		for _, mt := range types {
			out = append(out, Example{Status: status, ContentType: mt, Body: exampleBody(mt, ref.Value.Content[mt])})
		}
	}
	slices.SortStableFunc(out, func(a, b Example) int { return a.Status - b.Status })
	return out
}

// exampleBody is a media type's example, as text for a string and as JSON
// otherwise, else a sample of its schema for JSON; nil when there is none.
func exampleBody(mt string, m *openapi3.MediaType) []byte {
	if m == nil {
		return nil
	}
	ex := m.Example
	if ex == nil && len(m.Examples) > 0 {
		names := make([]string, 0, len(m.Examples))
		for n := range m.Examples {
			names = append(names, n)
		}
		slices.Sort(names)
		for _, n := range names {
			if r := m.Examples[n]; r != nil && r.Value != nil && r.Value.Value != nil {
				ex = r.Value.Value
				break
			}
		}
	}
	if ex == nil && m.Schema != nil && isJSONType(mt) {
		ex = sample(m.Schema, 0)
	}
	if ex == nil {
		return nil
	}
	if s, ok := ex.(string); ok && !isJSONType(mt) {
		return []byte(s)
	}
	data, err := json.MarshalIndent(ex, "", "  ")
	if err != nil {
		return nil
	}
	return data
}

func isJSONType(mt string) bool {
	mt = strings.ToLower(strings.TrimSpace(strings.Split(mt, ";")[0]))
	return mt == "application/json" || mt == "text/json" || strings.HasSuffix(mt, "+json")
}

// sample makes a value that fits a schema, as API Management's mock does:
// the schema's example, default or first enum value when it has one, else
// "string", 0, true, one item of an array and every property of an object.
func sample(ref *openapi3.SchemaRef, depth int) any {
	if ref == nil || ref.Value == nil || depth > 16 {
		return nil
	}
	s := ref.Value
	switch {
	case s.Example != nil:
		return s.Example
	case s.Default != nil:
		return s.Default
	case len(s.Enum) > 0:
		return s.Enum[0]
	case len(s.AllOf) > 0:
		merged := map[string]any{}
		for _, part := range s.AllOf {
			if m, ok := sample(part, depth+1).(map[string]any); ok {
				for k, v := range m {
					merged[k] = v
				}
			}
		}
		return merged
	case len(s.OneOf) > 0:
		return sample(s.OneOf[0], depth+1)
	case len(s.AnyOf) > 0:
		return sample(s.AnyOf[0], depth+1)
	}
	switch {
	case s.Type.Is("object") || s.Type == nil && len(s.Properties) > 0:
		m := map[string]any{}
		for name, p := range s.Properties {
			m[name] = sample(p, depth+1)
		}
		return m
	case s.Type.Is("array"):
		return []any{sample(s.Items, depth+1)}
	case s.Type.Is("integer"), s.Type.Is("number"):
		return 0
	case s.Type.Is("boolean"):
		return true
	case s.Type.Is("string"):
		switch s.Format {
		case "date-time":
			return "2000-01-01T00:00:00Z"
		case "date":
			return "2000-01-01"
		case "uuid":
			return "00000000-0000-0000-0000-000000000000"
		}
		return "string"
	}
	return nil
}

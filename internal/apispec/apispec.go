// Package apispec is what an operation's OpenAPI specification says of its
// messages, for the validation policies: its parameters, its request body and
// its responses, each with a schema. It is read once, when the configuration is
// loaded (internal/apiops), and never changes after.
package apispec

import (
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
)

// Operation is an operation's specification.
type Operation struct {
	// Params are the operation's path, query and header parameters, with those
	// its path declares for every method.
	Params []Param
	// Request is the request body's media types; nil when the operation
	// documents no request body.
	Request Content
	// Responses are the documented responses: "200", "2XX" or "default".
	Responses map[string]*Response
}

// Param is a parameter: In is "path", "query" or "header"; a header's Name is
// canonical (Content-Type).
type Param struct {
	Name, In string
	Schema   *Schema // nil when the specification gives none
}

// Response is a documented response.
type Response struct {
	// Headers maps canonical header names to their schemas (nil: any value).
	Headers map[string]*Schema
	Content Content
}

// Content maps media types as the specification writes them, in lower case
// ("application/json", "application/*", "*/*"), to their schemas (nil: any
// body).
type Content map[string]*Schema

// Schema is a schema and the name it is defined under ("Pet" for
// #/components/schemas/Pet; "" for one written in place).
type Schema struct {
	Name  string
	Value *openapi3.Schema
}

// Response returns the documented response for status: its own, else its range
// ("4XX"), else "default"; nil when none is documented.
func (o *Operation) Response(status int) *Response {
	if o == nil {
		return nil
	}
	s := strconv.Itoa(status)
	if r, ok := o.Responses[s]; ok {
		return r
	}
	if len(s) == 3 {
		if r, ok := o.Responses[s[:1]+"XX"]; ok {
			return r
		}
	}
	return o.Responses["default"]
}

// Find returns the schema for a media type (parameters ignored, any case): the
// exact type, else its "type/*", else "*/*". ok is false when none matches.
func (c Content) Find(contentType string) (s *Schema, ok bool) {
	mt := MediaType(contentType)
	if mt == "" {
		return nil, false
	}
	if s, ok := c[mt]; ok {
		return s, true
	}
	if i := strings.IndexByte(mt, '/'); i > 0 {
		if s, ok := c[mt[:i]+"/*"]; ok {
			return s, true
		}
	}
	s, ok = c["*/*"]
	return s, ok
}

// MediaType is a content type's media type in lower case, without parameters;
// "" when there is none.
func MediaType(contentType string) string {
	if mt, _, err := mime.ParseMediaType(contentType); err == nil {
		return mt
	}
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.ToLower(strings.TrimSpace(mt))
}

// FromOpenAPI reads an operation of a parsed specification: pathParams are the
// parameters its path item declares for every method.
func FromOpenAPI(pathParams openapi3.Parameters, op *openapi3.Operation) *Operation {
	o := &Operation{Responses: map[string]*Response{}}
	seen := map[string]bool{}
	add := func(ps openapi3.Parameters) {
		for _, pr := range ps {
			if pr == nil || pr.Value == nil {
				continue
			}
			p := pr.Value
			name := p.Name
			if p.In == openapi3.ParameterInHeader {
				name = http.CanonicalHeaderKey(name)
			}
			key := p.In + " " + name
			if seen[key] || p.In == openapi3.ParameterInCookie {
				continue
			}
			seen[key] = true
			o.Params = append(o.Params, Param{Name: name, In: p.In, Schema: paramSchema(p)})
		}
	}
	add(op.Parameters) // the operation's own win over its path's
	add(pathParams)
	if op.RequestBody != nil && op.RequestBody.Value != nil {
		o.Request = content(op.RequestBody.Value.Content)
	}
	if op.Responses != nil {
		for status, rr := range op.Responses.Map() {
			if rr == nil || rr.Value == nil {
				continue
			}
			r := &Response{Content: content(rr.Value.Content), Headers: map[string]*Schema{}}
			for name, hr := range rr.Value.Headers {
				if hr == nil || hr.Value == nil {
					continue
				}
				r.Headers[http.CanonicalHeaderKey(name)] = paramSchema(&hr.Value.Parameter)
			}
			key := strings.ToUpper(status) // "4xx" is "4XX"
			if key == "DEFAULT" {
				key = "default"
			}
			o.Responses[key] = r
		}
	}
	return o
}

func paramSchema(p *openapi3.Parameter) *Schema {
	if p.Schema != nil {
		return schema(p.Schema)
	}
	for _, mt := range p.Content { // a parameter has at most one
		if mt != nil && mt.Schema != nil {
			return schema(mt.Schema)
		}
	}
	return nil
}

func content(c openapi3.Content) Content {
	out := Content{}
	for mt, m := range c {
		var s *Schema
		if m != nil && m.Schema != nil {
			s = schema(m.Schema)
		}
		out[strings.ToLower(strings.TrimSpace(mt))] = s
	}
	return out
}

func schema(r *openapi3.SchemaRef) *Schema {
	if r == nil || r.Value == nil {
		return nil
	}
	name := r.Ref
	if i := strings.LastIndexByte(name, '/'); i >= 0 {
		name = name[i+1:]
	}
	return &Schema{Name: name, Value: r.Value}
}

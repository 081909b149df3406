package policies

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/lastmile-gw/lastmile/internal/apispec"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// validate-content checks a body's size, its content type against those the
// specification lists, and a JSON body against the content type's schema.
type validateContentPolicy struct {
	validation
	unspecified, sizeExceeded *pipeline.Value
	maxSize                   int64
	anyType, missingType      string // from <content-type-map>
	typeMap                   []contentTypeMapping
	contents                  []contentRule
	additional                overridden
}

type contentTypeMapping struct {
	from string          // a media type, lower case; "" when when is set
	when *pipeline.Value // a condition
	to   string
}

type contentRule struct {
	typ    string // lower case; "" for every type the specification lists
	as     string // json, xml or soap
	action *pipeline.Value
	allow  *bool // allow-additional-properties; nil keeps the schema's
	// foldCase is case-insensitive-property-names: a JSON property matches
	// the schema's of the same name in any case.
	foldCase bool
}

func validateContent(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "unspecified-content-type-action", "max-size", "size-exceeded-action", "errors-variable-name")
	c.CheckChildren(el, "content-type-map", "content")
	p := &validateContentPolicy{validation: compileValidation(c, el)}
	p.unspecified, _ = actionAttr(c, el, "unspecified-content-type-action", true)
	p.sizeExceeded, _ = actionAttr(c, el, "size-exceeded-action", true)
	if size, ok := c.LiteralAttr(el, "max-size"); !ok || el.Attr("max-size") == nil {
		c.Report(c.Errorf(el.Pos, "<validate-content> needs a max-size attribute: the largest body in bytes, such as 102400"))
	} else if n, err := strconv.ParseInt(strings.TrimSpace(size), 10, 64); err != nil || n <= 0 {
		c.Report(c.Errorf(el.Attr("max-size").Value.Pos(), "max-size of <validate-content> must be a whole number of bytes above 0, such as 102400, not %q", size))
	} else {
		p.maxSize = n
	}
	c.CheckOnce(el, "content-type-map")
	for _, ch := range el.Elements() {
		switch ch.Name {
		case "content-type-map":
			c.CheckAttrs(ch, "any-content-type-value", "missing-content-type-value")
			c.CheckChildren(ch, "type")
			p.anyType = mediaAttr(c, ch, "any-content-type-value")
			p.missingType = mediaAttr(c, ch, "missing-content-type-value")
			for _, t := range ch.Elements() {
				if t.Name != "type" {
					continue
				}
				c.CheckAttrs(t, "from", "when", "to")
				c.CheckChildren(t)
				m := contentTypeMapping{from: mediaAttr(c, t, "from"), to: mediaAttr(c, t, "to")}
				if t.Attr("when") != nil {
					if w, ok := c.Condition(t, "when"); ok {
						m.when = &w
					}
				}
				if (m.from == "") == (m.when == nil) || m.to == "" {
					c.Report(c.Errorf(t.Pos, "<type> in <content-type-map> needs to and either from (a content type) or when (a condition)"))
					continue
				}
				p.typeMap = append(p.typeMap, m)
			}
		case "content":
			c.CheckAttrs(ch, "type", "validate-as", "schema-id", "schema-ref", "action", "allow-additional-properties", "case-insensitive-property-names")
			c.CheckChildren(ch)
			r := contentRule{typ: mediaAttr(c, ch, "type")}
			r.action, _ = actionAttr(c, ch, "action", true)
			as, _ := c.LiteralAttr(ch, "validate-as")
			r.as = strings.ToLower(strings.TrimSpace(as))
			switch {
			case ch.Attr("validate-as") == nil:
				c.Report(c.Errorf(ch.Pos, "<content> needs validate-as (json, xml or soap)"))
			case r.as != "json" && r.as != "xml" && r.as != "soap":
				c.Report(c.Errorf(ch.Attr("validate-as").Value.Pos(), "validate-as of <content> must be json, xml or soap, not %q", as))
			}
			if a := ch.Attr("schema-id"); a != nil {
				c.Report(c.Errorf(a.Value.Pos(), "schema-id is not supported by lastmile yet: it names a schema added to the API Management instance, which an APIOps extract does not carry; remove it to validate against the API's specification"))
			}
			if a := ch.Attr("schema-ref"); a != nil {
				c.Report(c.Errorf(a.Value.Pos(), "schema-ref applies only with schema-id, which lastmile does not support yet; remove it to validate against the API's specification"))
			}
			if ch.Attr("allow-additional-properties") != nil {
				b := c.BoolAttr(ch, "allow-additional-properties", false)
				r.allow = &b
			}
			r.foldCase = c.BoolAttr(ch, "case-insensitive-property-names", false)
			p.contents = append(p.contents, r)
		}
	}
	return p, nil
}

// mediaAttr reads a literal content type attribute, lower case without
// parameters; "" when absent.
func mediaAttr(c *pipeline.Compiler, el *policyxml.Element, name string) string {
	if el.Attr(name) == nil {
		return ""
	}
	s, ok := c.LiteralAttr(el, name)
	if !ok {
		c.Report(c.Errorf(el.Attr(name).Value.Pos(), "%s of <%s> must be a content type, not a policy expression", name, el.Name))
		return ""
	}
	return apispec.MediaType(s)
}

func (p *validateContentPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	msg, body, headers := "Request", x.Request.Body, x.Request.Headers
	if p.response {
		if x.Response == nil {
			return nil
		}
		msg, body, headers = "Response", x.Response.Body, x.Response.Headers
	}
	if empty, err := body.Empty(); err != nil {
		return pipeline.BodyFailure(p.name, err)
	} else if empty {
		return nil
	}
	typ := msg + "Body"
	public := func(s string) string {
		if p.response {
			return publicValidationInternal
		}
		return s
	}
	var fs []finding

	// A compressed body is validated as it reads decompressed, and its size
	// is the decompressed length, as API Management's max-size says.
	var plain []byte
	var unreadable error // a coding that cannot be read: nothing to validate
	n, err := bodySize(body, p.maxSize)
	if enc := contentCoding(headers); enc != "" && err == nil {
		plain, n, unreadable, err = decompressedBody(x, body, enc)
	}
	if err != nil {
		return pipeline.BodyFailure(p.name, err)
	}
	if n < 0 || n > p.maxSize {
		act, err := action(x, p.sizeExceeded)
		if err != nil {
			return err
		}
		f := sizeFinding(msg, sizeText(n, p.maxSize), p.maxSize)
		f.Public, f.Action = public(f.Public), act
		fs = append(fs, f)
		if act == actionPrevent {
			return p.finish(x, fs)
		}
	}

	ct, err := p.mapType(x, apispec.MediaType(headers.Get("Content-Type")))
	if err != nil {
		return err
	}
	spec := operationSpec(x)
	if spec == nil {
		return p.noSchema(x, p.unspecified, fs...)
	}
	content := spec.Request
	if p.response {
		content = nil
		if def := spec.Response(x.Response.StatusCode); def != nil {
			content = def.Content
		}
	}
	schema, listed := content.Find(ct)
	if !listed {
		act, err := action(x, p.unspecified)
		if err != nil {
			return err
		}
		d := "Unspecified content type " + ct + " is not allowed."
		return p.finish(x, append(fs, finding{Name: ct, Type: typ, Rule: validationRuleUnspecified, Details: d, Public: public(d), Action: act}))
	}
	rule := p.rule(ct)
	if rule == nil {
		return p.finish(x, fs)
	}
	act, err := action(x, rule.action)
	if err != nil {
		return err
	}
	if act == actionIgnore {
		return p.finish(x, fs)
	}
	data := plain
	if plain == nil && unreadable == nil {
		if data, err = body.Bytes(true); err != nil {
			return pipeline.BodyFailure(p.name, err)
		}
	}
	name := "" // " Pet": an inline schema has no name to give
	if schema != nil && schema.Name != "" {
		name = " " + schema.Name
	}
	problem := ""
	if unreadable != nil {
		problem = unreadable.Error()
	} else {
		problem = p.check(rule, schema, data)
	}
	if problem != "" {
		d := "Body of the " + strings.ToLower(msg) + " does not conform to the definition" + name +
			", which is associated with the content type " + ct + ".\n\n" + problem
		fs = append(fs, finding{Name: ct, Type: typ, Rule: validationRuleIncorrect, Details: d, Public: public(d), Action: act})
	}
	return p.finish(x, fs)
}

// decompressedBody is a compressed body decompressed, charged to the
// request's buffers, and its length: -1 when it is longer than the largest
// body the gateway buffers (limits.bufferedBody), which a decompression bomb
// is. unreadable says why a body cannot be decompressed (a coding the gateway
// does not know, or data that is not what its Content-Encoding says).
func decompressedBody(x *exchange.Exchange, body *exchange.Body, enc string) (plain []byte, n int64, unreadable, err error) {
	data, err := body.Bytes(true)
	if err != nil {
		return nil, 0, nil, err
	}
	plain, over, derr := decoded(enc, data, x.Buffers.Limit())
	switch {
	case derr != nil:
		return nil, int64(len(data)), derr, nil
	case over:
		return nil, -1, errors.New("the body is longer than the gateway buffers once decompressed"), nil
	}
	if err := x.Buffers.Take(int64(len(plain))); err != nil {
		return nil, 0, nil, err
	}
	return plain, int64(len(plain)), nil, nil
}

// bodySize is a body's length: its Content-Length, or for a chunked one the
// length of what arrives, or -1 when that is more than limit. A chunked body
// is read only up to limit+1 bytes to tell (Body.Exceeds), so a size check
// buffers no more than its limit; what it read is kept for whoever reads the
// body next.
func bodySize(b *exchange.Body, limit int64) (int64, error) {
	if n := b.Len(); n >= 0 {
		return n, nil
	}
	over, err := b.Exceeds(limit)
	if err != nil || over {
		return -1, err
	}
	return b.Len(), nil
}

// sizeText is how a size finding gives a length bodySize returned: the
// number, or "more than" the limit for a chunked body that went over it.
func sizeText(n, limit int64) string {
	if n < 0 {
		return "more than " + strconv.FormatInt(limit, 10)
	}
	return strconv.FormatInt(n, 10)
}

// sizeFinding is the SizeLimit finding of a message ("Request", "Response")
// whose body is size bytes ("2011", "more than 65536") over limit.
func sizeFinding(msg, size string, limit int64) finding {
	l := strconv.FormatInt(limit, 10)
	return finding{Type: msg + "Body", Rule: validationRuleSizeLimit,
		Details: msg + "'s body is " + size + " bytes long and it exceeds the configured limit of " + l + " bytes.",
		Public:  msg + "'s body is " + size + " bytes long and it exceeds the limit of " + l + " bytes."}
}

// mapType applies <content-type-map>: a <type> that matches, else
// any-content-type-value, else missing-content-type-value for a message
// without one.
func (p *validateContentPolicy) mapType(x *exchange.Exchange, ct string) (string, error) {
	for _, m := range p.typeMap {
		if m.when != nil {
			ok, err := m.when.Bool(x)
			if err != nil {
				return "", err
			}
			if ok {
				return m.to, nil
			}
		} else if m.from == ct {
			return m.to, nil
		}
	}
	switch {
	case p.anyType != "":
		return p.anyType, nil
	case ct == "" && p.missingType != "":
		return p.missingType, nil
	}
	return ct, nil
}

// rule is the <content> for ct: its own, else one without a type.
func (p *validateContentPolicy) rule(ct string) *contentRule {
	var any *contentRule
	for i := range p.contents {
		r := &p.contents[i]
		if r.typ == ct {
			return r
		}
		if r.typ == "" && any == nil {
			any = r
		}
	}
	return any
}

// check validates data as rule says and returns what is wrong, or "".
func (p *validateContentPolicy) check(rule *contentRule, schema *apispec.Schema, data []byte) string {
	switch rule.as {
	case "xml", "soap":
		// Well-formed XML (in a SOAP envelope with a Body for soap); XML
		// Schema is not checked (docs/policies.md).
		return checkXML(data, rule.as == "soap")
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return "The body is not JSON: " + err.Error()
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return "The body is not JSON: there is more after its value."
	}
	if schema == nil || schema.Value == nil {
		return ""
	}
	s := schema.Value
	if rule.allow != nil {
		s = p.additional.get(s, *rule.allow)
	}
	if rule.foldCase {
		v = foldPropertyNames(v, s, 0)
	}
	opt := openapi3.VisitAsRequest()
	if p.response {
		opt = openapi3.VisitAsResponse()
	}
	if err := s.VisitJSON(v, opt, openapi3.DisableSchemaErrorDetails()); err != nil {
		return schemaMessage(err)
	}
	return ""
}

// checkXML reports whether data is one well-formed XML document (for soap, a
// SOAP Envelope holding a Body).
func checkXML(data []byte, soap bool) string {
	dec := xml.NewDecoder(bytes.NewReader(data))
	depth, roots, body := 0, 0, false
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return "The body is not well-formed XML: " + err.Error()
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if depth == 0 {
				if roots++; roots > 1 {
					return "The body is not well-formed XML: it has more than one root element."
				}
				if soap && t.Name.Local != "Envelope" {
					return "The body is not a SOAP message: its root element is " + t.Name.Local + ", not Envelope."
				}
			}
			if depth == 1 && t.Name.Local == "Body" {
				body = true
			}
			depth++
		case xml.EndElement:
			depth--
		}
	}
	switch {
	case roots == 0:
		return "The body is not XML: it has no element."
	case soap && !body:
		return "The body is not a SOAP message: its Envelope has no Body."
	}
	return ""
}

// foldPropertyNames renames, in a copy of the JSON value v, the properties of
// objects that match one of schema s's in another case to the schema's
// spelling, for case-insensitive-property-names; depth bounds recursive
// schemas. A property the schema does not name keeps its name.
func foldPropertyNames(v any, s *openapi3.Schema, depth int) any {
	if s == nil || depth > 64 {
		return v
	}
	// The names and schemas v may be checked against: s's own and those of
	// its allOf, anyOf and oneOf.
	subs := []*openapi3.Schema{s}
	for _, group := range []openapi3.SchemaRefs{s.AllOf, s.AnyOf, s.OneOf} {
		for _, r := range group {
			if r != nil && r.Value != nil {
				subs = append(subs, r.Value)
			}
		}
	}
	switch v := v.(type) {
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, val := range v {
			name, prop := k, (*openapi3.Schema)(nil)
		find:
			for _, sub := range subs {
				for pn, pr := range sub.Properties {
					if pr != nil && (pn == k || prop == nil && strings.EqualFold(pn, k)) {
						name, prop = pn, pr.Value
						if pn == k {
							break find
						}
					}
				}
			}
			if prop == nil && s.AdditionalProperties.Schema != nil {
				prop = s.AdditionalProperties.Schema.Value
			}
			if _, taken := v[name]; taken && name != k {
				name = k // both spellings are there: keep each as sent
			}
			out[name] = foldPropertyNames(val, prop, depth+1)
		}
		return out
	case []any:
		if s.Items == nil {
			return v
		}
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = foldPropertyNames(e, s.Items.Value, depth+1)
		}
		return out
	}
	return v
}

package policies

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/jsonxml"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// Reasons of the errors json-to-xml and xml-to-json raise.
const (
	ReasonJSONToXMLFailure = "JsonToXmlConversionFailure"
	ReasonXMLToJSONFailure = "XmlToJsonConversionFailure"
)

// convertPolicy is what json-to-xml and xml-to-json share: when to convert,
// and which message.
type convertPolicy struct {
	apply          pipeline.Value // always, or content-type-json / content-type-xml
	applyIf        string         // the value of apply that converts only bodies of the source type
	considerAccept pipeline.Value
	response       bool
	from, to       func(string) bool // media types of the source and the target
}

func compileConvert(c *pipeline.Compiler, el *policyxml.Element, applyIf string) convertPolicy {
	p := convertPolicy{applyIf: applyIf, response: c.Section()&(pipeline.Outbound|pipeline.OnError) != 0}
	apply, ok := c.RequiredAttr(el, "apply")
	if ok {
		if lit, isLit := apply.Literal(); isLit && strings.TrimSpace(lit) != "always" && strings.TrimSpace(lit) != applyIf {
			c.Report(c.Errorf(el.Attr("apply").Value.Pos(), "apply must be always or %s, not %q", applyIf, lit))
		}
	}
	p.apply = apply
	p.considerAccept = c.BoolValue(el, "consider-accept-header", true)
	return p
}

// message returns the headers and body to convert, or nil when the policy
// does not apply to this request.
func (p *convertPolicy) message(x *exchange.Exchange, name string) (http.Header, *exchange.Body, error) {
	h, body := x.Request.Headers, x.Request.Body
	if p.response {
		if x.Response == nil {
			return nil, nil, nil
		}
		h, body = x.Response.Headers, x.Response.Body
	}
	if body == nil || body.Len() == 0 || body.Consumed() {
		return nil, nil, nil
	}
	apply, err := p.apply.String(x)
	if err != nil {
		return nil, nil, err
	}
	switch strings.TrimSpace(apply) {
	case "always":
	case p.applyIf:
		if !p.from(h.Get("Content-Type")) {
			return nil, nil, nil
		}
	default:
		return nil, nil, &pipeline.Error{Reason: "InvalidApply", Message: name + " apply must be always or " + p.applyIf + ", not " + strconv.Quote(apply)}
	}
	consider, err := p.considerAccept.Bool(x)
	if err != nil {
		return nil, nil, err
	}
	if consider && !accepts(x.Request.Headers, p.to) {
		return nil, nil, nil
	}
	if enc := strings.TrimSpace(h.Get("Content-Encoding")); enc != "" && !strings.EqualFold(enc, "identity") {
		return nil, nil, nil // compressed: nothing to read as text
	}
	return h, body, nil
}

// convert replaces the message's body with fn's conversion of it, typed as
// contentType.
func (p *convertPolicy) convert(x *exchange.Exchange, name, reason, contentType string, fn func([]byte, jsonxml.Limits) ([]byte, error)) error {
	h, body, err := p.message(x, name)
	if err != nil || body == nil {
		return err
	}
	data, err := body.Bytes(true)
	if err != nil {
		return pipeline.BodyFailure(name, err)
	}
	limit := x.Buffers.Limit()
	out, err := fn(data, jsonxml.Limits{Output: int(min(limit, int64(maxInt))), Charge: x.Buffers.Take})
	if errors.Is(err, exchange.ErrBuffersFull) {
		return pipeline.BodyFailure(name, err) // 503: the gateway is busy
	}
	if err != nil {
		// The client's body is the client's mistake (413 over a limit);
		// the backend's is the backend's.
		status := http.StatusInternalServerError
		if !p.response {
			status = http.StatusBadRequest
			if errors.Is(err, jsonxml.ErrLimit) {
				status = http.StatusRequestEntityTooLarge
			}
		}
		return &pipeline.Error{Reason: reason, Message: name + ": " + err.Error(), Status: status, Err: err}
	}
	if err := x.Buffers.Take(int64(len(out))); err != nil {
		return pipeline.BodyFailure(name, err)
	}
	body.Set(out)
	h.Set("Content-Type", contentType)
	h.Del("Content-Length")
	return nil
}

const maxInt = int(^uint(0) >> 1)

// accepts reports whether the request's Accept header asks for a media type
// is reports true for (with a quality above zero).
func accepts(h http.Header, is func(string) bool) bool {
	for _, v := range h.Values("Accept") {
		for _, part := range strings.Split(v, ",") {
			mt, params, err := mime.ParseMediaType(strings.TrimSpace(part))
			if err != nil || !is(mt) {
				continue
			}
			if q, ok := params["q"]; ok {
				if f, err := strconv.ParseFloat(q, 64); err == nil && f == 0 {
					continue
				}
			}
			return true
		}
	}
	return false
}

// isJSON reports whether a content type is JSON: application/json, text/json
// or any +json type.
func isJSON(ct string) bool { return mediaIs(ct, "json") }

// isXML reports whether a content type is XML: application/xml, text/xml or
// any +xml type.
func isXML(ct string) bool { return mediaIs(ct, "xml") }

func mediaIs(ct, sub string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil {
		return false
	}
	return mt == "application/"+sub || mt == "text/"+sub || strings.HasPrefix(mt, "application/") && strings.HasSuffix(mt, "+"+sub)
}

// json-to-xml converts a JSON body to XML.
type jsonToXMLPolicy struct {
	convertPolicy
	parseDate                 bool
	separator, prefix, attrBl pipeline.Value
	hasPrefix, hasAttrBlock   bool
}

func jsonToXML(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "apply", "consider-accept-header", "parse-date", "namespace-separator", "namespace-prefix", "attribute-block-name")
	c.CheckChildren(el)
	p := &jsonToXMLPolicy{convertPolicy: compileConvert(c, el, "content-type-json"), parseDate: c.BoolAttr(el, "parse-date", true)}
	p.from, p.to = isJSON, isXML
	p.separator = pipeline.Literal("_")
	if v, ok := c.Attr(el, "namespace-separator"); ok {
		p.separator = v
	}
	p.prefix, p.hasPrefix = c.Attr(el, "namespace-prefix")
	p.attrBl, p.hasAttrBlock = c.Attr(el, "attribute-block-name")
	return p, nil
}

func (p *jsonToXMLPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	o := jsonxml.ToXMLOptions{ParseDate: p.parseDate}
	var err error
	if o.NamespaceSeparator, err = p.separator.String(x); err != nil {
		return err
	}
	if p.hasPrefix {
		if o.NamespacePrefix, err = p.prefix.String(x); err != nil {
			return err
		}
	}
	if p.hasAttrBlock {
		if o.AttributeBlockName, err = p.attrBl.String(x); err != nil {
			return err
		}
	}
	return p.convert(x, "json-to-xml", ReasonJSONToXMLFailure, "application/xml", func(data []byte, l jsonxml.Limits) ([]byte, error) {
		o.Limits = l
		return jsonxml.ToXML(data, o)
	})
}

// xml-to-json converts an XML body to JSON.
type xmlToJSONPolicy struct {
	convertPolicy
	kind, alwaysArray pipeline.Value
}

func xmlToJSON(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "kind", "apply", "consider-accept-header", "always-array-child-elements")
	c.CheckChildren(el)
	p := &xmlToJSONPolicy{convertPolicy: compileConvert(c, el, "content-type-xml")}
	p.from, p.to = isXML, isJSON
	kind, ok := c.RequiredAttr(el, "kind")
	if ok {
		if lit, isLit := kind.Literal(); isLit {
			if _, err := parseKind(lit); err != nil {
				c.Report(c.Errorf(el.Attr("kind").Value.Pos(), "%s", err.Message))
			}
		}
	}
	p.kind = kind
	p.alwaysArray = c.BoolValue(el, "always-array-child-elements", false)
	return p, nil
}

func parseKind(s string) (jsonxml.JSONKind, *pipeline.Error) {
	switch strings.TrimSpace(s) {
	case "direct":
		return jsonxml.Direct, nil
	case "javascript-friendly":
		return jsonxml.JavaScriptFriendly, nil
	}
	return 0, &pipeline.Error{Reason: "InvalidKind", Message: "kind must be javascript-friendly or direct, not " + strconv.Quote(s)}
}

func (p *xmlToJSONPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	ks, err := p.kind.String(x)
	if err != nil {
		return err
	}
	kind, perr := parseKind(ks)
	if perr != nil {
		return perr
	}
	always, err := p.alwaysArray.Bool(x)
	if err != nil {
		return err
	}
	return p.convert(x, "xml-to-json", ReasonXMLToJSONFailure, "application/json", func(data []byte, l jsonxml.Limits) ([]byte, error) {
		return jsonxml.ToJSON(data, jsonxml.ToJSONOptions{Kind: kind, AlwaysArray: always, Limits: l})
	})
}

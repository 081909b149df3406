package policies

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/expr"
	"github.com/lastmile-gw/lastmile/internal/jsonxml"
	"github.com/lastmile-gw/lastmile/internal/liquid"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// ReasonLiquidFailure is the reason of a Liquid template that failed or went
// over its budget.
const ReasonLiquidFailure = "LiquidTemplateFailure"

// liquidBodyPolicy is set-body template="liquid": the template is rendered
// with API Management's documented context object and, when the message is
// JSON or XML, its body bound as body.
type liquidBodyPolicy struct {
	tpl      *liquid.Template
	response bool
	// noBody: inside return-response the template's input is empty, as API
	// Management documents.
	noBody  bool
	nilNull bool // xsi-nil="null": an xsi:nil element is null, not ""
}

func compileLiquidBody(c *pipeline.Compiler, el *policyxml.Element, response, inReturn bool) (pipeline.Policy, error) {
	p := &liquidBodyPolicy{response: response, noBody: inReturn}
	if v, ok := c.LiteralAttr(el, "xsi-nil"); ok {
		switch strings.TrimSpace(v) {
		case "blank":
		case "null":
			p.nilNull = true
		default:
			c.Report(c.Errorf(el.Attr("xsi-nil").Value.Pos(), "xsi-nil must be blank or null, not %q", v))
		}
	}
	src := el.Text().String()
	if len(el.Elements()) > 0 {
		// The source as written, with XML's end-of-line handling, as the
		// parser gives text.
		src = strings.ReplaceAll(strings.ReplaceAll(el.InnerXML(), "\r\n", "\n"), "\r", "\n")
	}
	tpl, err := liquid.Parse(src)
	if err != nil {
		return nil, c.Errorf(el.InnerPos(), "the Liquid template does not compile: %v", err)
	}
	p.tpl = tpl
	return p, nil
}

func (p *liquidBodyPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	out, err := p.render(x, "set-body")
	if err != nil {
		return err
	}
	if p.response {
		if x.Response == nil {
			x.Response = &exchange.Response{StatusCode: 200, StatusReason: "OK", Headers: make(http.Header)}
		}
		setBodyBytes(&x.Response.Body, out)
		return nil
	}
	setBodyBytes(&x.Request.Body, out)
	return nil
}

// render renders the template for the policy named policy, charging the
// output to the exchange's buffers.
func (p *liquidBodyPolicy) render(x *exchange.Exchange, policy string) ([]byte, error) {
	vars := map[string]any{"context": liquidContext(x)}
	limit := int(min(x.Buffers.Limit(), int64(maxInt)))
	if !p.noBody {
		h, body := x.Request.Headers, x.Request.Body
		if p.response && x.Response != nil {
			h, body = x.Response.Headers, x.Response.Body
		} else if p.response {
			body = nil
		}
		if v, err := liquidBody(h, body, p.nilNull, limit, x.Buffers.Take); err != nil {
			return nil, err
		} else if v != nil {
			vars["body"] = v
		}
	}
	out, err := p.tpl.Render(vars, liquid.Limits{Output: limit, Alloc: 4 * limit})
	if err != nil {
		return nil, &pipeline.Error{Reason: ReasonLiquidFailure, Message: policy + ": " + err.Error(), Err: err}
	}
	if err := x.Buffers.Take(int64(len(out))); err != nil {
		return nil, pipeline.BodyFailure(policy, err)
	}
	return out, nil
}

// liquidBody reads a JSON or XML body (by its Content-Type) for the template,
// keeping it for what comes after; any other body is not bound.
func liquidBody(h http.Header, body *exchange.Body, nilNull bool, limit int, charge func(int64) error) (any, error) {
	if body == nil || body.Len() == 0 || body.Consumed() {
		return nil, nil
	}
	ct := h.Get("Content-Type")
	json, xml := isJSON(ct), isXML(ct)
	if !json && !xml {
		return nil, nil
	}
	data, err := body.Bytes(true)
	if err != nil {
		return nil, pipeline.BodyFailure("set-body", err)
	}
	// A body that does not parse (or is over the converters' limits) is not
	// bound: the template may not need it, as when a policy has just set the
	// Content-Type of the body the template is about to write.
	lim := jsonxml.Limits{Output: limit, Charge: charge}
	if json {
		v, err := jsonxml.ParseJSON(data, lim)
		if errors.Is(err, exchange.ErrBuffersFull) {
			return nil, pipeline.BodyFailure("set-body", err)
		}
		if err != nil {
			return nil, nil
		}
		return liquidJSON(v), nil
	}
	doc, err := jsonxml.ParseXML(data, lim)
	if errors.Is(err, exchange.ErrBuffersFull) {
		return nil, pipeline.BodyFailure("set-body", err)
	}
	if err != nil {
		return nil, nil
	}
	d := liquid.NewDict(false)
	d.Set(doc.Root.Local, liquidXML(doc.Root, nilNull))
	return d, nil
}

func liquidJSON(v *jsonxml.Value) any {
	switch v.Kind {
	case jsonxml.Null:
		return nil
	case jsonxml.Bool:
		return v.Text == "true"
	case jsonxml.Number:
		if n, err := strconv.ParseInt(v.Text, 10, 64); err == nil {
			return int(n)
		}
		f, _ := strconv.ParseFloat(v.Text, 64)
		return f
	case jsonxml.String:
		return v.Text
	case jsonxml.Array:
		out := make([]any, len(v.Items))
		for i, it := range v.Items {
			out[i] = liquidJSON(it)
		}
		return out
	}
	d := liquid.NewDict(false)
	for _, p := range v.Props {
		d.Set(p.Name, liquidJSON(p.Value))
	}
	return d
}

// liquidXML binds an element as xml-to-json's javascript-friendly form has
// it: by local names, a text-only element as its text, an xsi:nil one as ""
// or null, repeated elements as a list, attributes by their names.
func liquidXML(e *jsonxml.Element, nilNull bool) any {
	if e.Nil() {
		if nilNull {
			return nil
		}
		return ""
	}
	var attrs []jsonxml.Attr
	for _, a := range e.Attrs {
		if a.Prefix != "xmlns" && !(a.Prefix == "" && a.Local == "xmlns") {
			attrs = append(attrs, a)
		}
	}
	if len(attrs) == 0 && len(e.Children) == 0 {
		return e.Text
	}
	d := liquid.NewDict(false)
	for _, a := range attrs {
		d.Set(a.Local, a.Value)
	}
	count := map[string]int{}
	for _, k := range e.Children {
		count[k.Local]++
	}
	for _, k := range e.Children {
		v := liquidXML(k, nilNull)
		if count[k.Local] == 1 {
			d.Set(k.Local, v)
			continue
		}
		list, _ := d.Get(k.Local)
		items, _ := list.([]any)
		d.Set(k.Local, append(items, v))
	}
	if strings.TrimSpace(e.Text) != "" {
		d.Set("#text", e.Text)
	}
	return d
}

// liquidContext is the documented context object of Liquid templates, with
// context.Variables, which real templates use too. Subscription keys are left
// out.
func liquidContext(x *exchange.Exchange) *liquid.Dict {
	c := liquid.NewDict(false)
	req := liquid.NewDict(false)
	req.Set("Url", liquidURL(x.Request.URL))
	req.Set("OriginalUrl", liquidURL(x.Request.OriginalURL))
	req.Set("Method", x.Request.Method)
	req.Set("OriginalMethod", x.Request.Method)
	req.Set("IpAddress", x.Request.IPAddress)
	params := liquid.NewDict(false)
	for k, v := range x.Request.MatchedParameters {
		params.Set(k, v)
	}
	req.Set("MatchedParameters", params)
	req.Set("HasBody", x.Request.Body != nil && x.Request.Body.Len() != 0)
	req.Set("ClientCertificates", []any{})
	req.Set("Headers", liquidHeaders(x.Request.Headers))
	c.Set("Request", req)
	if x.Response != nil {
		resp := liquid.NewDict(false)
		resp.Set("StatusCode", x.Response.StatusCode)
		resp.Set("StatusReason", x.Response.StatusReason)
		resp.Set("Method", x.Request.Method)
		resp.Set("Headers", liquidHeaders(x.Response.Headers))
		c.Set("Response", resp)
	}
	vars := liquid.NewDict(false)
	for k, v := range x.Variables {
		vars.Set(k, liquidVar(v, 0))
	}
	c.Set("Variables", vars)
	c.Set("RequestId", x.RequestID)
	if x.API != nil {
		c.Set("Api", dictOf("Id", x.API.ID, "Name", x.API.Name, "Path", x.API.Path))
	}
	if x.Operation != nil {
		c.Set("Operation", dictOf("Id", x.Operation.ID, "Name", x.Operation.Name, "Method", x.Operation.Method, "UrlTemplate", x.Operation.URLTemplate))
	}
	if x.Product != nil {
		c.Set("Product", dictOf("Id", x.Product.ID, "Name", x.Product.Name))
	}
	if x.Subscription != nil {
		c.Set("Subscription", dictOf("Id", x.Subscription.ID, "Name", x.Subscription.Name))
	}
	return c
}

func dictOf(kv ...any) *liquid.Dict {
	d := liquid.NewDict(false)
	for i := 0; i+1 < len(kv); i += 2 {
		d.Set(kv[i].(string), kv[i+1])
	}
	return d
}

// liquidHeaders binds headers by name, ignoring case, each with its values
// joined by commas.
func liquidHeaders(h http.Header) *liquid.Dict {
	d := liquid.NewDict(true)
	for _, k := range sortedKeys(h) {
		d.Set(k, strings.Join(h[k], ", "))
	}
	return d
}

func sortedKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// liquidURL binds a URL as the documented Url object; it prints as the URL.
func liquidURL(u *url.URL) *liquid.Dict {
	if u == nil {
		return liquid.NewDict(false)
	}
	d := liquid.NewDict(false)
	d.Set("Scheme", u.Scheme)
	d.Set("Host", u.Hostname())
	port := 80
	if u.Scheme == "https" {
		port = 443
	}
	if p, err := strconv.Atoi(u.Port()); err == nil {
		port = p
	}
	d.Set("Port", port)
	d.Set("Path", u.EscapedPath())
	q := liquid.NewDict(false)
	for k, v := range u.Query() {
		q.Set(k, strings.Join(v, ","))
	}
	d.Set("Query", q)
	qs := ""
	if u.RawQuery != "" {
		qs = "?" + u.RawQuery
	}
	d.Set("QueryString", qs)
	d.Set("ToUri", u.String())
	d.Set("ToString", u.String())
	d.SetText(u.String())
	return d
}

// liquidVar converts a value of context.Variables for templates: JSON tokens
// to objects and lists, numbers to Liquid's, anything else to its text.
func liquidVar(v any, depth int) any {
	if depth > 64 {
		return nil
	}
	switch v := v.(type) {
	case nil, string, bool, int, int64, float64:
		return v
	case int32:
		return int(v)
	case float32:
		return float64(v)
	case time.Time:
		return v
	case []string:
		out := make([]any, len(v))
		for i, s := range v {
			out[i] = s
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, it := range v {
			out[i] = liquidVar(it, depth+1)
		}
		return out
	case *expr.JObject:
		d := liquid.NewDict(false)
		for _, p := range v.Properties() {
			d.Set(p.Name, liquidVar(p.Value, depth+1))
		}
		return d
	case *expr.JArray:
		out := make([]any, len(v.Items))
		for i, it := range v.Items {
			out[i] = liquidVar(it, depth+1)
		}
		return out
	case *expr.JValue:
		return liquidVar(v.V, depth+1)
	case *expr.JProperty:
		return liquidVar(v.Value, depth+1)
	case *exchange.Response:
		return dictOf("StatusCode", v.StatusCode, "StatusReason", v.StatusReason, "Headers", liquidHeaders(v.Headers))
	}
	return fmt.Sprint(v)
}

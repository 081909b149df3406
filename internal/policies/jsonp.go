package policies

import (
	"context"
	"net/http"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/expr"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// ReasonCallbackParameterInvalid is context.LastError.Reason when the jsonp
// callback the client named is not a JavaScript identifier.
const ReasonCallbackParameterInvalid = "CallbackParameterInvalid"

// maxCallback bounds a callback name; real ones are a few dozen characters.
const maxCallback = 256

// jsonp wraps a JSON response in the JavaScript function call the client names
// in the query parameter callback-parameter-name: ?cb=render gives
// render(<json>);.
type jsonpPolicy struct {
	param pipeline.Value
}

func jsonp(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "callback-parameter-name")
	c.CheckChildren(el)
	param, ok := c.RequiredAttr(el, "callback-parameter-name")
	if !ok {
		return nil, nil
	}
	if lit, ok := param.Literal(); ok && strings.TrimSpace(lit) == "" {
		return nil, c.Errorf(el.Attr("callback-parameter-name").Value.Pos(), "callback-parameter-name of <jsonp> must not be empty; name the query parameter that carries the callback, such as cb")
	}
	return &jsonpPolicy{param: param}, nil
}

func (p *jsonpPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	r := x.Response
	if r == nil || r.Body == nil || x.Request.OriginalURL == nil || x.Request.OriginalURL.RawQuery == "" {
		return nil
	}
	name, err := p.param.String(x)
	if err != nil || name == "" {
		return err
	}
	// The client's own query, as context.Request.OriginalUrl.Query reads it: a
	// policy that rewrote the backend's URL must not turn JSONP off or on.
	cbs := expr.ParseQuery(x.Request.OriginalURL.RawQuery)[name]
	if len(cbs) == 0 || len(cbs) == 1 && cbs[0] == "" {
		return nil
	}
	if len(cbs) > 1 || !isCallback(cbs[0]) {
		return &pipeline.Error{Reason: ReasonCallbackParameterInvalid, Status: http.StatusBadRequest,
			Message: "Value of callback parameter " + name + " is not a valid JavaScript identifier."}
	}
	if !isJSON(r.Headers.Get("Content-Type")) {
		return nil // only JSON becomes a script
	}
	if enc := strings.TrimSpace(r.Headers.Get("Content-Encoding")); enc != "" && !strings.EqualFold(enc, "identity") {
		return nil // compressed: cannot be wrapped
	}
	data, err := r.Body.Bytes(true)
	if err != nil {
		return pipeline.BodyFailure("jsonp", err)
	}
	var b strings.Builder
	b.Grow(len(cbs[0]) + len(data) + 3)
	b.WriteString(cbs[0])
	b.WriteByte('(')
	// U+2028 and U+2029 are valid in JSON strings but ended a line in
	// JavaScript before ES2019; escaped, they mean the same in both.
	b.WriteString(lineSeparators.Replace(string(data)))
	b.WriteString(");")
	r.Body.Set([]byte(b.String()))
	r.Headers.Set("Content-Type", "application/javascript; charset=utf-8")
	r.Headers.Set("X-Content-Type-Options", "nosniff")
	return nil
}

// lineSeparators escapes U+2028 and U+2029 (see Apply).
var lineSeparators = strings.NewReplacer("\u2028", `\u2028`, "\u2029", `\u2029`)

// isCallback reports whether s is a JavaScript identifier or a dotted path of
// them (jQuery.cb_1), in ASCII: nothing that could end the call or start
// another statement.
func isCallback(s string) bool {
	if len(s) > maxCallback {
		return false
	}
	for seg := range strings.SplitSeq(s, ".") {
		if seg == "" || seg[0] >= '0' && seg[0] <= '9' {
			return false
		}
		for i := 0; i < len(seg); i++ {
			c := seg[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '$') {
				return false
			}
		}
	}
	return true
}

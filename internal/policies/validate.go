package policies

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/lastmile-gw/lastmile/internal/apispec"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/expr"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// The validation policies (validate-parameters, validate-headers,
// validate-status-code, validate-content) check messages against the
// operation's OpenAPI specification. Each finding has an action: ignore skips
// it, detect records it in errors-variable-name, prevent records it and stops
// the request with 400 (inbound) or 502 (outbound, on-error), as API
// Management's validation error reference says.

const (
	actionIgnore  = "ignore"
	actionDetect  = "detect"
	actionPrevent = "prevent"
)

// The reasons API Management gives context.LastError for a prevented message.
const (
	ReasonValidationBadRequest  = "Bad request"
	ReasonValidationNotAllowed  = "Response not allowed"
	publicValidationInternal    = "The request could not be processed due to an internal error. Contact the API owner."
	detailsSchemaNotFound       = "API's schema does not exist or it could not be resolved."
	validationTypeAPISchema     = "ApiSchema"
	validationRuleUnspecified   = "Unspecified"
	validationRuleIncorrect     = "IncorrectMessage"
	validationRuleSizeLimit     = "SizeLimit"
	validationRuleNoDefinition  = "MissingDefinition"
	validationRuleCannotBeValid = "ValidationException"
)

// finding is one validation error, in API Management's shape
// ({Name, Type, ValidationRule, Details, Action}); Public is what a prevented
// caller is told.
type finding struct {
	Name, Type, Rule, Details, Public string
	Action                            string
	// Reason and Status, when set, replace the policy's for a prevented
	// request: validate-odata-request says what was wrong, and answers 413 to
	// a body too large.
	Reason string
	Status int
}

// actionAttr compiles an action attribute: ignore, prevent or detect, or an
// expression giving one. ok is false when a required one is missing.
func actionAttr(c *pipeline.Compiler, el *policyxml.Element, name string, required bool) (*pipeline.Value, bool) {
	if el.Attr(name) == nil {
		if required {
			c.Report(c.Errorf(el.Pos, "<%s> needs %s: ignore, prevent or detect", el.Name, name))
		}
		return nil, !required
	}
	v, _ := c.Attr(el, name)
	if lit, ok := v.Literal(); ok && !isAction(lit) {
		c.Report(c.Errorf(el.Attr(name).Value.Pos(), "%s of <%s> must be ignore, prevent or detect, not %q", name, el.Name, lit))
		return nil, false
	}
	return &v, true
}

func isAction(s string) bool {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case actionIgnore, actionDetect, actionPrevent:
		return true
	}
	return false
}

// action evaluates the first of vs that is set.
func action(x *exchange.Exchange, vs ...*pipeline.Value) (string, error) {
	for _, v := range vs {
		if v == nil {
			continue
		}
		s, err := v.String(x)
		if err != nil {
			return "", err
		}
		if !isAction(s) {
			return "", &pipeline.Error{Reason: "InvalidAction", Message: fmt.Sprintf("a validation action must be ignore, prevent or detect, not %q", s)}
		}
		return strings.ToLower(strings.TrimSpace(s)), nil
	}
	return actionIgnore, nil
}

// validation is what the four policies share: where findings go and how a
// prevented message ends.
type validation struct {
	name      string // the policy's element name
	errorsVar string
	response  bool // outbound or on-error: the caller gets 502
}

func compileValidation(c *pipeline.Compiler, el *policyxml.Element) validation {
	return validation{name: el.Name, errorsVar: errorsVarAttr(c, el, "errors-variable-name"),
		response: c.Section()&(pipeline.Outbound|pipeline.OnError) != 0}
}

// errorsVarAttr reads the name of the variable that findings go to from
// attribute attr (validate-odata-request calls it error-variable-name); ""
// when absent.
func errorsVarAttr(c *pipeline.Compiler, el *policyxml.Element, attr string) string {
	if el.Attr(attr) == nil {
		return ""
	}
	name, ok := c.LiteralAttr(el, attr)
	switch {
	case !ok:
		c.Report(c.Errorf(el.Attr(attr).Value.Pos(), "%s of <%s> must be a name, not a policy expression", attr, el.Name))
	case strings.TrimSpace(name) == "":
		c.Report(c.Errorf(el.Attr(attr).Value.Pos(), "%s of <%s> must not be empty", attr, el.Name))
	}
	return name
}

// finish records the findings that are not ignored in the errors variable
// (appending to what an earlier validation left there) and fails with the
// first prevented one.
func (v *validation) finish(x *exchange.Exchange, fs []finding) error {
	var prevented *finding
	var list *expr.JArray
	for i := range fs {
		f := &fs[i]
		if f.Action == actionIgnore {
			continue
		}
		if prevented == nil && f.Action == actionPrevent {
			prevented = f
		}
		if v.errorsVar == "" {
			continue
		}
		if list == nil {
			list = errorsList(x, v.errorsVar)
		}
		o := expr.NewJObject()
		for _, kv := range [][2]string{{"Name", f.Name}, {"Type", f.Type}, {"ValidationRule", f.Rule}, {"Details", f.Details}, {"Action", f.Action}} {
			o.Set(kv[0], expr.NewJValue(kv[1]))
		}
		list.Append(o)
	}
	if prevented == nil {
		return nil
	}
	e := &pipeline.Error{Source: v.name, Reason: ReasonValidationBadRequest, Message: prevented.Details, Public: prevented.Public, Status: http.StatusBadRequest}
	if prevented.Reason != "" {
		e.Reason = prevented.Reason
	}
	if prevented.Status != 0 {
		e.Status = prevented.Status
	}
	if v.response {
		e.Reason, e.Status, e.Public = ReasonValidationNotAllowed, http.StatusBadGateway, publicValidationInternal
	}
	return e
}

// noSchema finishes a validation of an operation without a specification:
// one ApiSchema finding, under the action act gives, after the findings
// before it.
func (v *validation) noSchema(x *exchange.Exchange, act *pipeline.Value, before ...finding) error {
	a, err := action(x, act)
	if err != nil {
		return err
	}
	return v.finish(x, append(before, finding{Type: validationTypeAPISchema, Details: detailsSchemaNotFound, Public: publicValidationInternal, Action: a}))
}

// ---- validate-status-code ----

type validateStatusCodePolicy struct {
	validation
	unspecified *pipeline.Value
	codes       map[int]*pipeline.Value
}

func validateStatusCode(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "unspecified-status-code-action", "errors-variable-name")
	c.CheckChildren(el, "status-code")
	p := &validateStatusCodePolicy{validation: compileValidation(c, el), codes: map[int]*pipeline.Value{}}
	p.unspecified, _ = actionAttr(c, el, "unspecified-status-code-action", true)
	for _, ch := range el.Elements() {
		if ch.Name != "status-code" {
			continue
		}
		c.CheckAttrs(ch, "code", "action")
		c.CheckChildren(ch)
		code, ok := c.LiteralAttr(ch, "code")
		n, err := strconv.Atoi(strings.TrimSpace(code))
		if !ok || err != nil || n < 100 || n > 599 {
			c.Report(c.Errorf(ch.Pos, "<status-code> needs a code from 100 to 599, not %q", code))
			continue
		}
		if _, dup := p.codes[n]; dup {
			c.Report(c.Errorf(ch.Pos, "status code %d is listed twice in <%s>", n, el.Name))
		}
		p.codes[n], _ = actionAttr(c, ch, "action", true)
	}
	return p, nil
}

func (p *validateStatusCodePolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	if x.Response == nil {
		return nil
	}
	spec := operationSpec(x)
	if spec == nil {
		return p.noSchema(x, p.unspecified)
	}
	if spec.Response(x.Response.StatusCode) != nil {
		return nil // documented: the overrides are for the others
	}
	act, err := action(x, p.codes[x.Response.StatusCode], p.unspecified)
	if err != nil || act == actionIgnore {
		return err
	}
	code := strconv.Itoa(x.Response.StatusCode)
	return p.finish(x, []finding{{Name: code, Type: "StatusCode", Rule: validationRuleUnspecified,
		Details: "Response status code " + code + " is not allowed.", Public: publicValidationInternal, Action: act}})
}

func operationSpec(x *exchange.Exchange) *apispec.Operation {
	if x.Operation == nil {
		return nil
	}
	return x.Operation.Spec
}

// ---- validate-headers ----

// exemptResponseHeaders describe the message rather than the API: OpenAPI
// ignores a Content-Type response header, and every response has these (or,
// compressed, Content-Encoding). A <header> that names one checks it still.
var exemptResponseHeaders = []string{"Connection", "Content-Encoding", "Content-Length", "Content-Type", "Date", "Keep-Alive", "Trailer", "Transfer-Encoding"}

type validateHeadersPolicy struct {
	validation
	specified, unspecified *pipeline.Value
	overrides              map[string]*pipeline.Value // by canonical name
}

func validateHeaders(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "specified-header-action", "unspecified-header-action", "errors-variable-name")
	c.CheckChildren(el, "header")
	p := &validateHeadersPolicy{validation: compileValidation(c, el)}
	p.specified, _ = actionAttr(c, el, "specified-header-action", true)
	p.unspecified, _ = actionAttr(c, el, "unspecified-header-action", true)
	p.overrides = compileOverrides(c, el, "header", true)
	return p, nil
}

// compileOverrides reads the named children (<header name action>,
// <parameter name action>) of el; header names are canonical.
func compileOverrides(c *pipeline.Compiler, el *policyxml.Element, child string, header bool) map[string]*pipeline.Value {
	out := map[string]*pipeline.Value{}
	for _, ch := range el.Elements() {
		if ch.Name != child {
			continue
		}
		c.CheckAttrs(ch, "name", "action")
		c.CheckChildren(ch)
		name, ok := c.LiteralAttr(ch, "name")
		name = strings.TrimSpace(name)
		if !ok || name == "" {
			c.Report(c.Errorf(ch.Pos, "<%s> in <%s> needs a name", child, el.Name))
			continue
		}
		if header {
			if !literalHeaderName(c, ch.Attr("name").Value.Pos(), "name of <"+child+"> in <"+el.Name+">", name) {
				continue
			}
			name = http.CanonicalHeaderKey(name)
		}
		if _, dup := out[name]; dup {
			c.Report(c.Errorf(ch.Pos, "%q is listed twice in <%s>", name, el.Name))
		}
		out[name], _ = actionAttr(c, ch, "action", true)
	}
	return out
}

func (p *validateHeadersPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	r := x.Response
	if r == nil {
		return nil
	}
	spec := operationSpec(x)
	if spec == nil {
		return p.noSchema(x, p.specified)
	}
	def := spec.Response(r.StatusCode)
	var fs []finding
	for _, name := range slices.Sorted(maps.Keys(r.Headers)) {
		canon := http.CanonicalHeaderKey(name)
		var schema *apispec.Schema
		specified := false
		if def != nil {
			schema, specified = def.Headers[canon]
		}
		if !specified && p.overrides[canon] == nil && slices.Contains(exemptResponseHeaders, canon) {
			continue
		}
		base := p.unspecified
		if specified {
			base = p.specified
		}
		act, err := action(x, p.overrides[canon], base)
		if err != nil {
			return err
		}
		if act == actionIgnore {
			continue
		}
		if !specified {
			fs = append(fs, finding{Name: canon, Type: "ResponseHeader", Rule: validationRuleUnspecified,
				Details: "Unspecified header " + canon + " is not allowed.", Public: publicValidationInternal, Action: act})
			continue
		}
		if f, bad := checkValues(schema, r.Headers[name], "header "+canon, "Response"); bad {
			f.Name, f.Type, f.Public, f.Action = canon, "ResponseHeader", publicValidationInternal, act
			fs = append(fs, f)
		}
	}
	return p.finish(x, fs)
}

// ---- validate-parameters ----

// exemptRequestHeaders are described elsewhere than as parameters (OpenAPI
// ignores header parameters named Accept, Content-Type and Authorization) or
// frame the message. A <parameter> that names one in <headers> checks it
// still: API Management's own example refuses Authorization that way.
var exemptRequestHeaders = []string{"Accept", "Authorization", "Connection", "Content-Encoding", "Content-Length", "Content-Type", "Transfer-Encoding"}

type paramRules struct {
	specified, unspecified *pipeline.Value
	overrides              map[string]*pipeline.Value
}

type validateParametersPolicy struct {
	validation
	specified, unspecified *pipeline.Value
	headers, query, path   paramRules
}

func validateParameters(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "specified-parameter-action", "unspecified-parameter-action", "errors-variable-name")
	c.CheckChildren(el, "headers", "query", "path")
	p := &validateParametersPolicy{validation: compileValidation(c, el)}
	p.specified, _ = actionAttr(c, el, "specified-parameter-action", true)
	p.unspecified, _ = actionAttr(c, el, "unspecified-parameter-action", true)
	c.CheckOnce(el, "headers", "query", "path")
	for _, ch := range el.Elements() {
		var r paramRules
		r.specified, _ = actionAttr(c, ch, "specified-parameter-action", false)
		if ch.Name == "path" {
			c.CheckAttrs(ch, "specified-parameter-action")
		} else {
			c.CheckAttrs(ch, "specified-parameter-action", "unspecified-parameter-action")
			r.unspecified, _ = actionAttr(c, ch, "unspecified-parameter-action", false)
		}
		c.CheckChildren(ch, "parameter")
		r.overrides = compileOverrides(c, ch, "parameter", ch.Name == "headers")
		switch ch.Name {
		case "headers":
			p.headers = r
		case "query":
			p.query = r
		case "path":
			p.path = r
		}
	}
	return p, nil
}

func (p *validateParametersPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	spec := operationSpec(x)
	if spec == nil {
		return p.noSchema(x, p.specified)
	}
	var query map[string][]string
	if u := x.Request.OriginalURL; u != nil {
		query = expr.ParseQuery(u.RawQuery)
	}
	var fs []finding
	specified := map[string]bool{}
	for _, prm := range spec.Params {
		rules, kind, typ := p.rulesFor(prm.In)
		if rules == nil {
			continue
		}
		specified[prm.In+" "+prm.Name] = true
		act, err := action(x, rules.overrides[prm.Name], rules.specified, p.specified)
		if err != nil {
			return err
		}
		if act == actionIgnore {
			continue
		}
		var values []string
		switch prm.In {
		case "path":
			if v, ok := x.Request.MatchedParameters[prm.Name]; ok {
				values = []string{v}
			}
		case "query":
			values = query[prm.Name]
		case "header":
			values = x.Request.Headers.Values(prm.Name)
		}
		if len(values) == 0 {
			continue // API Management checks values, not presence
		}
		if f, bad := checkValues(prm.Schema, values, kind+" "+prm.Name, "Request"); bad {
			// The request's own mistake, told to its client.
			f.Name, f.Type, f.Action, f.Public = prm.Name, typ, act, f.Details
			fs = append(fs, f)
		}
	}
	unspecified := func(in, name string) error {
		rules, kind, typ := p.rulesFor(in)
		act, err := action(x, rules.overrides[name], rules.unspecified, p.unspecified)
		if err != nil || act == actionIgnore {
			return err
		}
		d := "Unspecified " + kind + " " + clientName(name) + " is not allowed."
		fs = append(fs, finding{Name: clientName(name), Type: typ, Rule: validationRuleUnspecified, Details: d, Public: d, Action: act})
		return nil
	}
	for _, name := range slices.Sorted(maps.Keys(query)) {
		if !specified["query "+name] && name != "" && (x.API == nil || name != x.API.SubscriptionKeyQuery) {
			if err := unspecified("query", name); err != nil {
				return err
			}
		}
	}
	for _, name := range slices.Sorted(maps.Keys(x.Request.Headers)) {
		canon := http.CanonicalHeaderKey(name)
		if specified["header "+canon] || p.headers.overrides[canon] == nil && slices.Contains(exemptRequestHeaders, canon) ||
			x.API != nil && strings.EqualFold(name, x.API.SubscriptionKeyHeader) {
			continue
		}
		if err := unspecified("header", canon); err != nil {
			return err
		}
	}
	return p.finish(x, fs)
}

// rulesFor returns the rules for parameters in in, and how errors name them.
func (p *validateParametersPolicy) rulesFor(in string) (*paramRules, string, string) {
	switch in {
	case "path":
		return &p.path, "path parameter", "PathParameter"
	case "query":
		return &p.query, "query parameter", "QueryParameter"
	case "header":
		return &p.headers, "header", "RequestHeader"
	}
	return nil, "", ""
}

// checkValues checks a parameter's or header's values against its schema:
// what names it ("query parameter q", "header X-Rate"), message "Request" or
// "Response". It returns the finding's Rule and Details.
func checkValues(s *apispec.Schema, values []string, what, message string) (finding, bool) {
	if s == nil || s.Value == nil {
		return finding{}, false
	}
	sch := s.Value
	var v any
	if sch.Type != nil && sch.Type.Is(openapi3.TypeArray) {
		var items []any
		var itemSchema *openapi3.Schema
		if sch.Items != nil {
			itemSchema = sch.Items.Value
		}
		for _, raw := range values {
			for part := range strings.SplitSeq(raw, ",") {
				iv, err := parseScalar(itemSchema, strings.TrimSpace(part))
				if err != nil {
					return cannotParse(what, message, err), true
				}
				items = append(items, iv)
			}
		}
		v = items
	} else {
		if len(values) > 1 {
			return finding{Rule: validationRuleIncorrect, Details: message + " cannot contain multiple values for the " + what + "."}, true
		}
		var err error
		if v, err = parseScalar(sch, values[0]); err != nil {
			return cannotParse(what, message, err), true
		}
	}
	opt := openapi3.VisitAsRequest()
	if message == "Response" {
		opt = openapi3.VisitAsResponse()
	}
	if err := sch.VisitJSON(v, opt, openapi3.DisableSchemaErrorDetails()); err != nil {
		return finding{Rule: validationRuleIncorrect, Details: "Value of the " + what + " does not conform to the definition.\n\n" + schemaMessage(err)}, true
	}
	return finding{}, false
}

func cannotParse(what, message string, err error) finding {
	d := "Value of the " + what + " cannot be parsed according to the definition."
	if message == "Request" {
		d += "\n\n" + err.Error()
	}
	return finding{Rule: validationRuleIncorrect, Details: d}
}

// parseScalar reads a parameter's text as its schema's type says.
func parseScalar(sch *openapi3.Schema, s string) (any, error) {
	if sch == nil || sch.Type == nil {
		return s, nil
	}
	switch {
	case sch.Type.Is(openapi3.TypeInteger):
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return nil, errors.New("the value is not an integer")
		}
		return float64(n), nil
	case sch.Type.Is(openapi3.TypeNumber):
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || strings.ContainsAny(s, "xXpP_") {
			// NaN passes every bound; hex and Go's digit separators are not
			// JSON numbers.
			return nil, errors.New("the value is not a number")
		}
		return f, nil
	case sch.Type.Is(openapi3.TypeBoolean):
		switch strings.ToLower(s) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
		return nil, errors.New("the value is not true or false")
	}
	return s, nil
}

// schemaMessage is a schema error without the schema itself.
func schemaMessage(err error) string {
	var me openapi3.MultiError
	if errors.As(err, &me) && len(me) > 0 {
		err = me[0]
	}
	return err.Error()
}

// ---- additionalProperties overrides, for validate-content ----

// overridden caches schema copies whose objects all allow (or all refuse)
// additional properties, as allow-additional-properties asks.
type overridden struct {
	m sync.Map // *openapi3.Schema → *openapi3.Schema
}

func (o *overridden) get(s *openapi3.Schema, allow bool) *openapi3.Schema {
	if v, ok := o.m.Load(s); ok {
		return v.(*openapi3.Schema)
	}
	c := withAdditional(s, allow, map[*openapi3.Schema]*openapi3.Schema{})
	v, _ := o.m.LoadOrStore(s, c)
	return v.(*openapi3.Schema)
}

// withAdditional copies s (and the schemas it holds; seen keeps cycles
// cycles) with every object's additionalProperties set to allow.
func withAdditional(s *openapi3.Schema, allow bool, seen map[*openapi3.Schema]*openapi3.Schema) *openapi3.Schema {
	if s == nil {
		return nil
	}
	if c, ok := seen[s]; ok {
		return c
	}
	c := new(openapi3.Schema)
	*c = *s
	seen[s] = c
	ref := func(r *openapi3.SchemaRef) *openapi3.SchemaRef {
		if r == nil {
			return nil
		}
		return &openapi3.SchemaRef{Ref: r.Ref, Value: withAdditional(r.Value, allow, seen)}
	}
	refs := func(rs openapi3.SchemaRefs) openapi3.SchemaRefs {
		if rs == nil {
			return nil
		}
		out := make(openapi3.SchemaRefs, len(rs))
		for i, r := range rs {
			out[i] = ref(r)
		}
		return out
	}
	if s.Properties != nil {
		c.Properties = make(openapi3.Schemas, len(s.Properties))
		for k, r := range s.Properties {
			c.Properties[k] = ref(r)
		}
	}
	c.Items = ref(s.Items)
	c.AllOf, c.AnyOf, c.OneOf = refs(s.AllOf), refs(s.AnyOf), refs(s.OneOf)
	c.Not = ref(s.Not)
	if s.Type != nil && s.Type.Is(openapi3.TypeObject) || s.Properties != nil {
		c.AdditionalProperties = openapi3.AdditionalProperties{Has: &allow}
	} else {
		c.AdditionalProperties = openapi3.AdditionalProperties{Has: s.AdditionalProperties.Has, Schema: ref(s.AdditionalProperties.Schema)}
	}
	return c
}

// errorsList is the JArray in variable name that validation policies append
// their errors to, made when the variable holds none.
func errorsList(x *exchange.Exchange, name string) *expr.JArray {
	list, _ := x.Variables[name].(*expr.JArray)
	if list == nil {
		list = expr.NewJArray()
		if x.Variables == nil {
			x.Variables = map[string]any{}
		}
		x.Variables[name] = list
	}
	return list
}

// clientName is a name the client chose (a query parameter's, a header's) as
// findings repeat it: cut as clipValue cuts, control characters shown as
// \uXXXX, so that a message never carries a client's long or invisible text.
func clientName(s string) string {
	s = clipValue(s)
	if !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unicode.IsControl(r) {
			fmt.Fprintf(&b, "\\u%04x", r)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

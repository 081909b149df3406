package policies

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/urlpath"
)

// The Dapr policies call the Dapr runtime next to the gateway through its
// sidecar HTTP API, as API Management's self-hosted gateway does:
// set-backend-service backend-id="dapr" forwards to a service's method,
// publish-to-dapr publishes to a topic, invoke-dapr-binding triggers an output
// binding.

// DefaultDaprURL is where API Management's gateway finds the Dapr sidecar.
const DefaultDaprURL = "http://localhost:3500"

// ReasonDaprFailure is context.LastError.Reason when the Dapr runtime cannot
// be reached, does not answer in time, or answers with an error.
const ReasonDaprFailure = "DaprRuntimeFailure"

const (
	defaultDaprTimeout = 5 * time.Second
	maxDaprTimeout     = 240 // seconds, API Management's bound
	maxDaprName        = 256
)

// daprCall is what publish-to-dapr and invoke-dapr-binding share: a POST to
// the sidecar, its timeout, and where its answer goes.
type daprCall struct {
	side        *sendRequestPolicy // its transport, logger and roundTrip
	base        *url.URL
	variable    string
	ignoreError bool
	timeout     pipeline.Value
	contentType string            // "" or application/json
	liquid      *liquidBodyPolicy // template="Liquid": the content is a Liquid template
}

func (d Deps) compileDaprCall(c *pipeline.Compiler, el *policyxml.Element) daprCall {
	call := daprCall{
		side:    &sendRequestPolicy{transport: d.SideRequests, logger: d.Logger, label: el.Name},
		base:    d.Dapr,
		timeout: pipeline.Literal(strconv.Itoa(int(defaultDaprTimeout / time.Second))),
	}
	call.ignoreError = c.BoolAttr(el, "ignore-error", false)
	if v, ok := c.LiteralAttr(el, "response-variable-name"); ok {
		if call.variable = strings.TrimSpace(v); call.variable == "" {
			c.Report(c.Errorf(el.Attr("response-variable-name").Value.Pos(), "response-variable-name of <%s> must not be empty", el.Name))
		}
	}
	if v, ok := c.Attr(el, "timeout"); ok {
		call.timeout = v
		if lit, isLit := v.Literal(); isLit {
			if _, err := parseTimeout(lit, maxDaprTimeout); err != nil {
				c.Report(c.Errorf(el.Attr("timeout").Value.Pos(), "timeout of <%s> %s", el.Name, err.Message))
			}
		}
	}
	if v, ok := c.LiteralAttr(el, "content-type"); ok {
		if call.contentType = strings.TrimSpace(v); !strings.EqualFold(call.contentType, "application/json") {
			c.Report(c.Errorf(el.Attr("content-type").Value.Pos(), "content-type of <%s> must be application/json (the only type API Management supports), not %q; leave it out for other content", el.Name, v))
		}
	}
	return call
}

// compileContent compiles the message content of el: a policy expression or
// text, or with template="Liquid" a Liquid template over the request.
func (call *daprCall) compileContent(c *pipeline.Compiler, owner, el *policyxml.Element) pipeline.Value {
	if v, ok := c.LiteralAttr(owner, "template"); ok {
		if !strings.EqualFold(strings.TrimSpace(v), "liquid") {
			c.Report(c.Errorf(owner.Attr("template").Value.Pos(), "template of <%s> must be Liquid (the only engine API Management supports), not %q", owner.Name, v))
			return pipeline.Value{}
		}
		pol, err := compileLiquidBody(c, el, false, false)
		if err != nil {
			c.Report(err)
		} else {
			call.liquid = pol.(*liquidBodyPolicy)
		}
		return pipeline.Value{}
	}
	return c.Value(el.Text())
}

// content evaluates the message content.
func (call *daprCall) content(x *exchange.Exchange, v pipeline.Value, policy string) ([]byte, error) {
	if call.liquid != nil {
		return call.liquid.render(x, policy)
	}
	s, err := v.String(x)
	return []byte(strings.TrimSpace(s)), err
}

// daprName checks a name that becomes one segment of a Dapr API path: an app
// id, a namespace, a pub/sub component, a topic, a binding.
func daprName(what, s string) *pipeline.Error {
	if s == "" || len(s) > maxDaprName || strings.ContainsAny(s, "/\\?#%") || s == "." || s == ".." || strings.ContainsFunc(s, isControl) {
		return &pipeline.Error{Reason: "InvalidDaprName", Message: "the Dapr " + what + " " + quoteShort(s) + " is not a name: it must be 1 to 256 characters without / \\ ? # % or control characters", Status: 500}
	}
	return nil
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

// send posts body to path below the sidecar's URL. The answer goes in the
// variable when one is named, whatever its status, so that on-error can
// return it (<return-response response-variable-name>); an error answer, or
// none, fails the policy unless ignore-error is set.
func (call *daprCall) send(ctx context.Context, x *exchange.Exchange, path string, body []byte, contentType string) error {
	ts, err := call.timeout.String(x)
	if err != nil {
		return err
	}
	timeout, perr := parseTimeout(ts, maxDaprTimeout)
	if perr != nil {
		perr.Message = call.side.name() + " timeout " + perr.Message
		return perr
	}
	target := *call.base
	urlpath.SetPath(&target, strings.TrimSuffix(call.base.EscapedPath(), "/")+escapedDaprPath(path))
	h := make(http.Header, 1)
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	resp, err := call.side.roundTrip(ctx, x, call.side.transport, http.MethodPost, &target, h, body, timeout)
	if err != nil {
		if pe := pipeline.AsError(err); pe.Status == 499 {
			return err // the client went away: nothing to ignore
		}
		if call.ignoreError {
			if call.variable != "" {
				x.SetVar(call.variable, nil)
			}
			return nil
		}
		pe := pipeline.AsError(err)
		pe.Reason = ReasonDaprFailure
		return pe
	}
	if call.variable != "" {
		x.SetVar(call.variable, resp)
	}
	if resp.StatusCode < 300 || call.ignoreError {
		if call.variable == "" {
			resp.Body.Close()
		}
		return nil
	}
	msg := call.side.name() + ": the Dapr runtime answered " + strconv.Itoa(resp.StatusCode)
	if code := daprErrorCode(resp); code != "" {
		msg += " " + code
	}
	if call.variable == "" {
		resp.Body.Close()
	}
	return &pipeline.Error{Reason: ReasonDaprFailure, Message: msg, Status: http.StatusInternalServerError}
}

// escapedDaprPath escapes each segment of path, whose segments were checked
// by daprName (or are a method's, checked by daprMethod).
func escapedDaprPath(path string) string {
	segs := strings.Split(path, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.Join(segs, "/")
}

// daprErrorCode returns the errorCode of a Dapr error answer
// ({"errorCode":"ERR_PUBSUB_NOT_FOUND","message":...}), for context.LastError,
// leaving the body readable for on-error.
func daprErrorCode(resp *exchange.Response) string {
	if resp.Body == nil {
		return ""
	}
	data, err := resp.Body.Bytes(true)
	if err != nil || len(data) > 64<<10 {
		return ""
	}
	var e struct {
		ErrorCode string `json:"errorCode"`
	}
	if json.Unmarshal(data, &e) != nil || len(e.ErrorCode) > 100 || strings.ContainsFunc(e.ErrorCode, isControl) {
		return ""
	}
	return e.ErrorCode
}

// publishToDaprPolicy is publish-to-dapr: POST /v1.0/publish/{pubsub}/{topic}
// with the content as the message.
type publishToDaprPolicy struct {
	call      daprCall
	pubsub    pipeline.Value
	hasPubsub bool
	topic     pipeline.Value
	content   pipeline.Value
}

func (d Deps) publishToDapr(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "pubsub-name", "topic", "ignore-error", "response-variable-name", "timeout", "template", "content-type")
	c.CheckChildren(el)
	p := &publishToDaprPolicy{call: d.compileDaprCall(c, el)}
	p.pubsub, p.hasPubsub = c.Attr(el, "pubsub-name")
	topic, ok := c.RequiredAttr(el, "topic")
	if !ok {
		return nil, nil
	}
	p.topic = topic
	if lit, isLit := topic.Literal(); isLit && !p.hasPubsub && !strings.Contains(lit, "/") {
		c.Report(c.Errorf(el.Attr("topic").Value.Pos(), "topic of <publish-to-dapr> must be pubsub-name/topic-name when there is no pubsub-name attribute, not %q", lit))
	}
	p.content = p.call.compileContent(c, el, el)
	return p, nil
}

func (p *publishToDaprPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	topic, err := p.topic.String(x)
	if err != nil {
		return err
	}
	topic = strings.TrimSpace(topic)
	var pubsub string
	if p.hasPubsub {
		if pubsub, err = p.pubsub.String(x); err != nil {
			return err
		}
		pubsub = strings.TrimSpace(pubsub)
	} else if i := strings.IndexByte(topic, '/'); i >= 0 {
		pubsub, topic = topic[:i], topic[i+1:]
	}
	if perr := daprName("pub/sub component", pubsub); perr != nil {
		return perr
	}
	if perr := daprName("topic", topic); perr != nil {
		return perr
	}
	body, err := p.call.content(x, p.content, "publish-to-dapr")
	if err != nil {
		return err
	}
	return p.call.send(ctx, x, "/v1.0/publish/"+pubsub+"/"+topic, body, p.call.contentType)
}

// daprBindingPolicy is invoke-dapr-binding: POST /v1.0/bindings/{name} with
// {"data": ..., "metadata": {...}, "operation": "..."}.
type daprBindingPolicy struct {
	call      daprCall
	name      pipeline.Value
	operation string
	metadata  []daprItem
	data      pipeline.Value
	hasData   bool
}

type daprItem struct {
	key   string
	value pipeline.Value
}

func (d Deps) invokeDaprBinding(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "name", "operation", "ignore-error", "response-variable-name", "timeout", "template", "content-type")
	c.CheckChildren(el, "metadata", "data")
	c.CheckOnce(el, "metadata", "data")
	p := &daprBindingPolicy{call: d.compileDaprCall(c, el)}
	name, ok := c.RequiredAttr(el, "name")
	if !ok {
		return nil, nil
	}
	p.name = name
	if v, ok := c.LiteralAttr(el, "operation"); ok {
		p.operation = strings.TrimSpace(v)
	}
	for _, ch := range el.Elements() {
		switch ch.Name {
		case "metadata":
			c.CheckAttrs(ch)
			c.CheckChildren(ch, "item")
			seen := map[string]bool{}
			for _, it := range ch.Elements() {
				c.CheckAttrs(it, "key")
				c.CheckChildren(it)
				key, ok := c.LiteralAttr(it, "key")
				if key = strings.TrimSpace(key); !ok || key == "" {
					c.Report(c.Errorf(it.Pos, "<item> needs a key attribute"))
					continue
				}
				if seen[key] {
					c.Report(c.Errorf(it.Attr("key").Value.Pos(), "metadata key %q appears twice", key))
				}
				seen[key] = true
				p.metadata = append(p.metadata, daprItem{key: key, value: c.Value(it.Text())})
			}
		case "data":
			c.CheckAttrs(ch)
			p.data, p.hasData = p.call.compileContent(c, el, ch), true
		}
	}
	return p, nil
}

func (p *daprBindingPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	name, err := p.name.String(x)
	if err != nil {
		return err
	}
	name = strings.TrimSpace(name)
	if perr := daprName("binding", name); perr != nil {
		return perr
	}
	req := struct {
		Data      any               `json:"data,omitempty"`
		Metadata  map[string]string `json:"metadata,omitempty"`
		Operation string            `json:"operation,omitempty"`
	}{Operation: p.operation}
	if p.hasData {
		data, err := p.call.content(x, p.data, "invoke-dapr-binding")
		if err != nil {
			return err
		}
		switch {
		case p.call.contentType == "":
			req.Data = string(data)
		case json.Valid(data):
			req.Data = json.RawMessage(data)
		default:
			return &pipeline.Error{Reason: ReasonDaprFailure, Message: "invoke-dapr-binding: the data is not JSON, and content-type says application/json", Status: http.StatusBadRequest}
		}
	}
	if len(p.metadata) > 0 {
		req.Metadata = make(map[string]string, len(p.metadata))
		for _, it := range p.metadata {
			v, err := it.value.String(x)
			if err != nil {
				return err
			}
			req.Metadata[it.key] = v
		}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return &pipeline.Error{Reason: ReasonDaprFailure, Message: "invoke-dapr-binding could not encode the request", Err: err}
	}
	return p.call.send(ctx, x, "/v1.0/bindings/"+name, body, "application/json")
}

// daprBackendPolicy is set-backend-service backend-id="dapr": the request goes
// to the sidecar's service invocation API,
// /v1.0/invoke/{app-id}[.{namespace}]/method/{method}, with the client's query.
type daprBackendPolicy struct {
	base         *url.URL
	app, method  pipeline.Value
	namespace    pipeline.Value
	hasNamespace bool
}

func (d Deps) daprBackend(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	if a := el.Attr("base-url"); a != nil {
		return nil, c.Errorf(a.NamePos, "base-url has no use with backend-id=\"dapr\": the request goes to the Dapr sidecar (dapr.url in lastmile.yaml)")
	}
	id, ok := c.LiteralAttr(el, "backend-id")
	if !ok || id != "dapr" {
		return nil, c.Errorf(el.Pos, `dapr-app-id, dapr-method and dapr-namespace need backend-id="dapr"`)
	}
	p := &daprBackendPolicy{base: d.Dapr}
	app, okApp := c.RequiredAttr(el, "dapr-app-id")
	method, okMethod := c.RequiredAttr(el, "dapr-method")
	if !okApp || !okMethod {
		return nil, nil
	}
	p.app, p.method = app, method
	p.namespace, p.hasNamespace = c.Attr(el, "dapr-namespace")
	for _, v := range []struct {
		what, attr string
		val        pipeline.Value
		has        bool
	}{{"app id", "dapr-app-id", app, true}, {"namespace", "dapr-namespace", p.namespace, p.hasNamespace}} {
		if lit, isLit := v.val.Literal(); v.has && isLit {
			if err := daprAppName(v.what, lit); err != nil {
				c.Report(c.Errorf(el.Attr(v.attr).Value.Pos(), "%s of <set-backend-service>: %s", v.attr, err.Message))
			}
		}
	}
	if lit, isLit := method.Literal(); isLit {
		if _, err := daprMethod(lit); err != nil {
			c.Report(c.Errorf(el.Attr("dapr-method").Value.Pos(), "dapr-method of <set-backend-service>: %s", err.Message))
		}
	}
	return p, nil
}

// daprAppName checks an app id or a namespace, which Dapr joins with a dot.
func daprAppName(what, s string) *pipeline.Error {
	if err := daprName(what, s); err != nil {
		return err
	}
	if strings.Contains(s, ".") {
		return &pipeline.Error{Reason: "InvalidDaprName", Message: "the Dapr " + what + " " + quoteShort(s) + " must not contain a dot, which separates the app id from its namespace", Status: 500}
	}
	return nil
}

// daprMethod checks a method, which may be a path (orders/42): segments
// without . or .., so that no value climbs out of the app's methods into the
// rest of Dapr's API, and no empty ones.
func daprMethod(s string) (string, *pipeline.Error) {
	s = strings.TrimPrefix(strings.TrimSpace(s), "/")
	bad := s == "" || len(s) > 2048 || strings.ContainsAny(s, "?#\\") || strings.ContainsFunc(s, isControl)
	for seg := range strings.SplitSeq(s, "/") {
		bad = bad || seg == "" || seg == "." || seg == ".."
	}
	if bad {
		return "", &pipeline.Error{Reason: "InvalidDaprName", Message: "the Dapr method " + quoteShort(s) + " is not a method name or path: it needs segments without . or .., ?, # or \\", Status: http.StatusBadRequest}
	}
	return s, nil
}

func (p *daprBackendPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	app, err := p.app.String(x)
	if err != nil {
		return err
	}
	app = strings.TrimSpace(app)
	if perr := daprAppName("app id", app); perr != nil {
		return perr
	}
	if p.hasNamespace {
		ns, err := p.namespace.String(x)
		if err != nil {
			return err
		}
		if ns = strings.TrimSpace(ns); ns != "" {
			if perr := daprAppName("namespace", ns); perr != nil {
				return perr
			}
			app += "." + ns
		}
	}
	m, err := p.method.String(x)
	if err != nil {
		return err
	}
	method, perr := daprMethod(m)
	if perr != nil {
		return perr
	}
	base := *p.base
	urlpath.SetPath(&base, strings.TrimSuffix(p.base.EscapedPath(), "/")+"/v1.0/invoke/"+url.PathEscape(app)+"/method")
	x.Backend.ID, x.Backend.Failed, x.Backend.Tried = "", 0, 0
	x.Backend.BaseURL = &base
	x.Request.URL = JoinURL(&base, "/"+escapedDaprPath(method), x.Request.URL.RawQuery)
	return nil
}

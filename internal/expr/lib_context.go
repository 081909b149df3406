package expr

import (
	"crypto/x509"
	"maps"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

// The context object: IProxyRequestContext and everything reachable from it.

func (c *checker) contextOperand(n Node) *operand {
	d := c.u.defs["_context"]
	return &operand{t: d.typ(), n: n, o: func(f *frame) any { return f.x }, ctxPath: "context"}
}

// ctxProp marks the result of a context property with its path.
func ctxProp(name string, impl implFn) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		op := impl(c, cs, args)
		if len(args) > 0 && args[0].ctxPath != "" {
			op.ctxPath = args[0].ctxPath + "." + name
		}
		return op
	}
}

// exchangeHeaders returns direct code for context.Request.Headers, or nil.
func exchangeHeaders(op *operand) func(*frame) http.Header {
	if op.ctxPath == "context.Request.Headers" {
		return func(f *frame) http.Header { return f.x.Request.Headers }
	}
	return nil
}

// internal declares a context type that policies cannot name.
func (u *universe) internal(key, display string) *typeDef {
	d := u.decl(key, tkClass, "")
	d.display = display
	return d
}

func declContext(u *universe) {
	ctx := u.internal("_context", "IProxyRequestContext")
	ctx.is = func(v any) bool { _, ok := v.(*exchange.Exchange); return ok }

	req := u.decl("IRequest", tkClass, "")
	req.is = func(v any) bool { _, ok := v.(*exchange.Request); return ok }
	resp := u.decl("IResponse", tkClass, "")
	resp.is = func(v any) bool { _, ok := v.(*exchange.Response); return ok }
	iurl := u.decl("IUrl", tkClass, "")
	iurl.is = func(v any) bool { _, ok := v.(*url.URL); return ok }
	body := u.decl("IMessageBody", tkClass, "")
	body.is = func(v any) bool { _, ok := v.(*exchange.Body); return ok }

	// context
	m := ctx.prop("Request IRequest", ctxProp("Request", f1(func(x *exchange.Exchange) *exchange.Request {
		if x == nil {
			return nil
		}
		return &x.Request
	})))
	m.nullRecv = true
	ctx.prop("Response IResponse", f1(func(x *exchange.Exchange) *exchange.Response { return x.Response }))
	m = ctx.prop("Variables _Variables", ctxProp("Variables", f1(func(x *exchange.Exchange) *exchange.Exchange { return x })))
	m.nullRecv = true
	ctx.prop("Api IApi", f1(func(x *exchange.Exchange) *exchange.API { return x.API }))
	ctx.prop("Operation IOperation", f1(func(x *exchange.Exchange) *exchange.Operation { return x.Operation }))
	ctx.prop("Product IProduct", f1(func(x *exchange.Exchange) *exchange.Product { return x.Product }))
	ctx.prop("Subscription ISubscription", f1(func(x *exchange.Exchange) *exchange.Subscription { return x.Subscription }))
	ctx.prop("User IUser", f1(func(x *exchange.Exchange) *exchange.User { return x.User }))
	ctx.prop("Deployment IDeployment", f1(func(x *exchange.Exchange) *exchange.Deployment { return x.Deployment }))
	ctx.prop("LastError ILastError", f1(func(x *exchange.Exchange) *exchange.LastError { return x.LastError }))
	ctx.prop("RequestId Guid", f1(func(x *exchange.Exchange) any {
		g, err := parseGuid(x.RequestID, "D")
		if err != "" {
			g, _ = parseGuid(x.RequestID, "")
		}
		return g
	}))
	ctx.prop("Timestamp DateTime", f1(func(x *exchange.Exchange) any { return x.Timestamp.UTC() }))
	ctx.prop("Elapsed TimeSpan", x1(func(f *frame, x *exchange.Exchange) any { return x.Elapsed() }))
	ctx.prop("Tracing bool", f1(func(x *exchange.Exchange) bool { return x.Tracing }))
	ctx.prop("Workspace IWorkspace", f1(func(x *exchange.Exchange) any { return nil }))
	ctx.prop("GraphQL IGraphQL", f1(func(x *exchange.Exchange) any { return nil }))
	ctx.method("Trace(string message) void", v2(func(x *exchange.Exchange, msg string) {
		if x.Trace != nil {
			x.Trace("context.Trace", "information", msg)
		}
	}))
	u.decl("IWorkspace", tkClass, "").is = func(any) bool { return false }
	u.decl("IGraphQL", tkClass, "").is = func(any) bool { return false }

	// Variables
	vars := u.internal("_Variables", "IReadOnlyDictionary<string, object>")
	vars.elem = func(*Type) *Type { return u.kvType(tString, tObject) }
	vars.index("this[string name] object", varIndexImpl(), nil)
	vars.method("ContainsKey(string name) bool", f2(func(x *exchange.Exchange, k string) bool {
		_, ok := x.Variables[k]
		return ok
	}))
	vars.method("TryGetValue(string name, out object value) bool", f3(func(x *exchange.Exchange, k string, out *outRef) bool {
		v, ok := x.Variables[k]
		out.set(v)
		return ok
	}))
	vars.method("GetValueOrDefault<T>(string name) T", varGetValueOrDefault(false))
	vars.method("GetValueOrDefault<T>(string name, T defaultValue) T", varGetValueOrDefault(true))
	vars.method("GetValueOrDefault(string name) object", varGetValueOrDefault(false))
	vars.method("GetValueOrDefault(string name, object defaultValue) object", varGetValueOrDefault(true))
	vars.prop("Count int", f1(func(x *exchange.Exchange) int32 { return int32(len(x.Variables)) }))
	vars.prop("Keys IEnumerable<string>", f1(func(x *exchange.Exchange) any {
		return stringsToAny(slices.Sorted(maps.Keys(x.Variables)))
	}))
	vars.prop("Values IEnumerable<object>", f1(func(x *exchange.Exchange) any {
		var vals []any
		for _, k := range slices.Sorted(maps.Keys(x.Variables)) {
			vals = append(vals, x.Variables[k])
		}
		return vals
	}))
	vars.is = func(v any) bool { _, ok := v.(*exchange.Exchange); return ok }

	// IRequest
	req.prop("Method string", f1(func(r *exchange.Request) string { return r.Method }))
	req.prop("Url IUrl", f1(func(r *exchange.Request) *url.URL { return r.URL }))
	req.prop("OriginalUrl IUrl", f1(func(r *exchange.Request) *url.URL { return r.OriginalURL }))
	req.prop("Headers _Headers", ctxProp("Headers", f1(func(r *exchange.Request) http.Header {
		if r == nil {
			return nil
		}
		if r.Headers == nil {
			return http.Header{}
		}
		return r.Headers
	})))
	req.prop("Body IMessageBody", f1(func(r *exchange.Request) *exchange.Body { return messageBody(r.Body) }))
	req.prop("IpAddress string", f1(func(r *exchange.Request) string { return r.IPAddress }))
	req.prop("MatchedParameters _Params", f1(func(r *exchange.Request) map[string]string {
		if r.MatchedParameters == nil {
			return map[string]string{}
		}
		return r.MatchedParameters
	}))
	req.prop("Certificate X509Certificate2", f1(func(r *exchange.Request) *Certificate {
		if r.Certificate == nil {
			return nil
		}
		return &Certificate{Cert: r.Certificate}
	}))
	req.prop("PrivateEndpointConnection IPrivateEndpointConnection", f1(func(r *exchange.Request) any { return nil }))
	u.decl("IPrivateEndpointConnection", tkClass, "").is = func(any) bool { return false }

	// IResponse
	resp.prop("StatusCode int", f1(func(r *exchange.Response) int32 { return int32(r.StatusCode) }))
	resp.prop("StatusReason string", f1(func(r *exchange.Response) string {
		if r.StatusReason == "" {
			return http.StatusText(r.StatusCode)
		}
		return r.StatusReason
	}))
	resp.prop("Headers _Headers", f1(func(r *exchange.Response) http.Header {
		if r.Headers == nil {
			return http.Header{}
		}
		return r.Headers
	}))
	resp.prop("Body IMessageBody", f1(func(r *exchange.Response) *exchange.Body { return messageBody(r.Body) }))

	declHeaders(u)

	// MatchedParameters
	params := u.internal("_Params", "IReadOnlyDictionary<string, string>")
	params.elem = func(*Type) *Type { return u.kvType(tString, tString) }
	params.is = func(v any) bool { _, ok := v.(map[string]string); return ok }
	params.index("this[string name] string", x2(func(f *frame, p map[string]string, k string) string {
		v, ok := p[k]
		if !ok {
			throw("KeyNotFoundException", "The given key '%s' was not present in the dictionary", k)
		}
		return v
	}), nil)
	params.method("ContainsKey(string name) bool", f2(func(p map[string]string, k string) bool { _, ok := p[k]; return ok }))
	params.method("TryGetValue(string name, out string value) bool", f3(func(p map[string]string, k string, out *outRef) bool {
		v, ok := p[k]
		if ok {
			out.set(v)
		} else {
			out.set(nil)
		}
		return ok
	}))
	params.method("GetValueOrDefault(string name) string", f2(func(p map[string]string, k string) string {
		if v, ok := p[k]; ok {
			return v
		}
		return nullStr
	}))
	params.method("GetValueOrDefault(string name, string defaultValue) string", f3(func(p map[string]string, k, d string) string {
		if v, ok := p[k]; ok {
			return v
		}
		return d
	}))
	params.prop("Count int", f1(func(p map[string]string) int32 { return int32(len(p)) }))
	params.prop("Keys IEnumerable<string>", f1(func(p map[string]string) any { return stringsToAny(slices.Sorted(maps.Keys(p))) }))
	params.prop("Values IEnumerable<string>", f1(func(p map[string]string) any {
		var vals []any
		for _, k := range slices.Sorted(maps.Keys(p)) {
			vals = append(vals, p[k])
		}
		return vals
	}))

	// IUrl
	iurl.prop("Scheme string", f1(func(u *url.URL) string { return u.Scheme }))
	iurl.prop("Host string", f1(func(u *url.URL) string { return u.Hostname() }))
	iurl.prop("Port int", f1(func(u *url.URL) int32 { return urlPort(u) }))
	// the parts that escape, parse or print the URL copy it: charged by its
	// length, which the client chooses
	urlCost := func(f *frame, u *url.URL) {
		n := len(u.Path) + len(u.RawPath) + len(u.RawQuery) + len(u.Host) + 32
		f.allocN(n, 4)
		f.work(n)
	}
	iurl.prop("Path string", x1(func(f *frame, u *url.URL) string {
		urlCost(f, u)
		p := u.EscapedPath()
		if p == "" {
			return "/"
		}
		return p
	}))
	iurl.prop("Query _Query", x1(func(f *frame, u *url.URL) url.Values { urlCost(f, u); return ParseQuery(u.RawQuery) }))
	iurl.prop("QueryString string", f1(func(u *url.URL) string {
		if u.RawQuery == "" {
			return ""
		}
		return "?" + u.RawQuery
	}))
	iurl.method("ToString() string", x1(func(f *frame, u *url.URL) string { urlCost(f, u); return urlString(u) }))

	query := u.internal("_Query", "IReadOnlyDictionary<string, string[]>")
	query.elem = func(*Type) *Type { return u.kvType(tString, arrayOf(tString)) }
	query.is = func(v any) bool { _, ok := v.(url.Values); return ok }
	query.index("this[string name] string[]", f2(func(q url.Values, k string) []string {
		v, ok := q[k]
		if !ok {
			throw("KeyNotFoundException", "The given key '%s' was not present in the dictionary", k)
		}
		return append([]string(nil), v...)
	}), nil)
	query.method("ContainsKey(string name) bool", f2(func(q url.Values, k string) bool { _, ok := q[k]; return ok }))
	query.method("TryGetValue(string name, out string[] value) bool", f3(func(q url.Values, k string, out *outRef) bool {
		v, ok := q[k]
		if ok {
			out.set(append([]string(nil), v...))
		} else {
			out.set(nil)
		}
		return ok
	}))
	query.method("GetValueOrDefault(string name) string", f2(func(q url.Values, k string) string {
		if v, ok := q[k]; ok {
			return strings.Join(v, ",")
		}
		return nullStr
	}))
	query.method("GetValueOrDefault(string name, string defaultValue) string", f3(func(q url.Values, k, d string) string {
		if v, ok := q[k]; ok {
			return strings.Join(v, ",")
		}
		return d
	}))
	query.prop("Count int", f1(func(q url.Values) int32 { return int32(len(q)) }))
	query.prop("Keys IEnumerable<string>", f1(func(q url.Values) any { return stringsToAny(slices.Sorted(maps.Keys(q))) }))

	// IApi
	api := u.decl("IApi", tkClass, "")
	api.is = func(v any) bool { _, ok := v.(*exchange.API); return ok }
	api.prop("Id string", f1(func(a *exchange.API) string { return a.ID }))
	api.prop("Name string", f1(func(a *exchange.API) string { return a.Name }))
	api.prop("Path string", f1(func(a *exchange.API) string { return a.Path }))
	api.prop("Revision string", f1(func(a *exchange.API) string { return a.Revision }))
	api.prop("Version string", f1(func(a *exchange.API) string { return a.Version }))
	api.prop("IsCurrentRevision bool", f1(func(a *exchange.API) bool { return a.IsCurrentRevision }))
	api.prop("ServiceUrl IUrl", f1(func(a *exchange.API) *url.URL { return a.ServiceURL }))
	api.prop("Protocols IEnumerable<string>", f1(func(a *exchange.API) []string { return append([]string{}, a.Protocols...) }))
	api.prop("SubscriptionKeyParameterNames ISubscriptionKeyParameterNames", f1(func(a *exchange.API) *exchange.API { return a }))
	skp := u.decl("ISubscriptionKeyParameterNames", tkClass, "")
	skp.is = func(any) bool { return false }
	skp.prop("Header string", f1(func(a *exchange.API) string { return a.SubscriptionKeyHeader }))
	skp.prop("Query string", f1(func(a *exchange.API) string { return a.SubscriptionKeyQuery }))

	// IOperation
	op := u.decl("IOperation", tkClass, "")
	op.is = func(v any) bool { _, ok := v.(*exchange.Operation); return ok }
	op.prop("Id string", f1(func(o *exchange.Operation) string { return o.ID }))
	op.prop("Method string", f1(func(o *exchange.Operation) string { return o.Method }))
	op.prop("Name string", f1(func(o *exchange.Operation) string { return o.Name }))
	op.prop("UrlTemplate string", f1(func(o *exchange.Operation) string { return o.URLTemplate }))

	// IGroup
	grp := u.decl("IGroup", tkClass, "")
	grp.is = func(v any) bool { _, ok := v.(exchange.Group); return ok }
	grp.prop("Id string", f1(func(g exchange.Group) string { return g.ID }))
	grp.prop("Name string", f1(func(g exchange.Group) string { return g.Name }))
	groups := func(gs []exchange.Group) []any {
		out := make([]any, len(gs))
		for i, g := range gs {
			out[i] = g
		}
		return out
	}

	// IProduct
	pst := u.decl("ProductState", tkEnum, "")
	pst.enum("NotPublished", "Published")
	prod := u.decl("IProduct", tkClass, "")
	prod.is = func(v any) bool { _, ok := v.(*exchange.Product); return ok }
	prod.prop("Id string", f1(func(p *exchange.Product) string { return p.ID }))
	prod.prop("Name string", f1(func(p *exchange.Product) string { return p.Name }))
	prod.prop("State ProductState", f1(func(p *exchange.Product) int64 {
		if p.State == "Published" {
			return 1
		}
		return 0
	}))
	prod.prop("ApprovalRequired bool", f1(func(p *exchange.Product) bool { return p.ApprovalRequired }))
	prod.prop("SubscriptionRequired bool", f1(func(p *exchange.Product) bool { return p.SubscriptionRequired }))
	limit := f1(func(p *exchange.Product) any {
		if p.SubscriptionsLimit == nil {
			return nil
		}
		return int32(*p.SubscriptionsLimit)
	})
	prod.prop("SubscriptionsLimit int?", limit)
	prod.prop("SubscriptionLimit int?", limit)
	prod.prop("Groups IEnumerable<IGroup>", f1(func(p *exchange.Product) []any { return groups(p.Groups) }))
	prod.prop("Apis IEnumerable<IApi>", f1(func(p *exchange.Product) []any { return []any{} }))

	// ISubscription
	sub := u.decl("ISubscription", tkClass, "")
	sub.is = func(v any) bool { _, ok := v.(*exchange.Subscription); return ok }
	sub.prop("Id string", f1(func(s *exchange.Subscription) string { return s.ID }))
	sub.prop("Name string", f1(func(s *exchange.Subscription) string { return s.Name }))
	sub.prop("Key string", f1(func(s *exchange.Subscription) string { return s.Key }))
	sub.prop("PrimaryKey string", f1(func(s *exchange.Subscription) string { return s.PrimaryKey }))
	sub.prop("SecondaryKey string", f1(func(s *exchange.Subscription) string { return s.SecondaryKey }))
	sub.prop("CreatedDate DateTime", f1(func(s *exchange.Subscription) any { return s.CreatedDate.UTC() }))
	optTime := func(t *time.Time) any {
		if t == nil {
			return nil
		}
		return t.UTC()
	}
	sub.prop("StartDate DateTime?", f1(func(s *exchange.Subscription) any { return optTime(s.StartDate) }))
	sub.prop("EndDate DateTime?", f1(func(s *exchange.Subscription) any { return optTime(s.EndDate) }))

	// IUser
	usr := u.decl("IUser", tkClass, "")
	usr.is = func(v any) bool { _, ok := v.(*exchange.User); return ok }
	usr.prop("Id string", f1(func(s *exchange.User) string { return s.ID }))
	usr.prop("Email string", f1(func(s *exchange.User) string { return s.Email }))
	usr.prop("FirstName string", f1(func(s *exchange.User) string { return s.FirstName }))
	usr.prop("LastName string", f1(func(s *exchange.User) string { return s.LastName }))
	usr.prop("Note string", f1(func(s *exchange.User) string { return s.Note }))
	usr.prop("RegistrationDate DateTime", f1(func(s *exchange.User) any { return s.RegistrationDate.UTC() }))
	usr.prop("Groups IEnumerable<IGroup>", f1(func(s *exchange.User) []any { return groups(s.Groups) }))
	usr.prop("Identities IEnumerable<IUserIdentity>", f1(func(s *exchange.User) []any { return []any{} }))
	uid := u.decl("IUserIdentity", tkClass, "")
	uid.is = func(any) bool { return false }
	uid.prop("Id string", f1(func(any) string { return nullStr }))
	uid.prop("Provider string", f1(func(any) string { return nullStr }))

	// IDeployment
	dep := u.decl("IDeployment", tkClass, "")
	dep.is = func(v any) bool { _, ok := v.(*exchange.Deployment); return ok }
	dep.prop("GatewayId string", f1(func(d *exchange.Deployment) string { return d.GatewayID }))
	dep.prop("Region string", f1(func(d *exchange.Deployment) string { return d.Region }))
	dep.prop("ServiceName string", f1(func(d *exchange.Deployment) string { return d.ServiceName }))
	dep.prop("ServiceId string", f1(func(d *exchange.Deployment) string { return d.ServiceID }))
	dep.prop("Certificates IReadOnlyDictionary<string, X509Certificate2>", f1(func(d *exchange.Deployment) *Dict { return newDict(false) }))
	dep.prop("Gateway IGateway", f1(func(d *exchange.Deployment) *exchange.Deployment { return d }))
	gw := u.decl("IGateway", tkClass, "")
	gw.is = func(any) bool { return false }
	gw.prop("Id string", f1(func(d *exchange.Deployment) string { return d.GatewayID }))
	gw.prop("InstanceId string", f1(func(d *exchange.Deployment) string { return d.GatewayID }))
	gw.prop("IsManaged bool", f1(func(d *exchange.Deployment) bool { return false }))

	// ILastError
	le := u.decl("ILastError", tkClass, "")
	le.is = func(v any) bool { _, ok := v.(*exchange.LastError); return ok }
	le.prop("Source string", f1(func(e *exchange.LastError) string { return e.Source }))
	le.prop("Reason string", f1(func(e *exchange.LastError) string { return e.Reason }))
	le.prop("Message string", f1(func(e *exchange.LastError) string { return e.Message }))
	le.prop("Scope string", f1(func(e *exchange.LastError) string { return e.Scope }))
	le.prop("Section string", f1(func(e *exchange.LastError) string { return e.Section }))
	le.prop("Path string", f1(func(e *exchange.LastError) string { return e.Path }))
	le.prop("PolicyId string", f1(func(e *exchange.LastError) string { return e.PolicyID }))

	declBody(u, body)
}

// ---- Variables ----

func varIndexImpl() implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		x, k := args[0].anyFn(), args[1].strFn()
		pos := cs.pos
		if args[0].ctxPath == "context.Variables" {
			x = func(f *frame) any { return f.x }
		}
		return &operand{t: cs.t, n: cs.n, o: func(f *frame) any {
			key := k(f)
			xv, _ := x(f).(*exchange.Exchange)
			if xv == nil {
				nre(pos, "context")
			}
			v, ok := xv.Variables[key]
			if !ok {
				throwAt(pos, "KeyNotFoundException", "The given key '%s' was not present in the dictionary: context.Variables has no variable %q", key, key)
			}
			return v
		}}
	}
}

// varGetValueOrDefault is Variables.GetValueOrDefault<T>(name[, default]).
func varGetValueOrDefault(withDefault bool) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		x, k := args[0].anyFn(), args[1].strFn()
		if args[0].ctxPath == "context.Variables" {
			x = func(f *frame) any { return f.x }
		}
		t := cs.t
		var def fnO
		if withDefault {
			def = args[2].anyFn()
		} else {
			z := c.zeroOf(t, cs.n)
			def = z.anyFn()
		}
		test := c.typeTest(t)
		pos := cs.pos
		name := t.Name
		// the hot case: a string variable read straight into string code
		if t == tString {
			var ds fnS
			if withDefault {
				ds = args[2].strFn()
			}
			return &operand{t: t, n: cs.n, s: func(f *frame) string {
				key := k(f)
				xv, _ := x(f).(*exchange.Exchange)
				if xv == nil {
					nre(pos, "context")
				}
				v, ok := xv.Variables[key]
				if !ok || v == nil {
					if ds != nil {
						return ds(f)
					}
					return nullStr
				}
				s, ok := v.(string)
				if !ok {
					throwAt(pos, "InvalidCastException", "context.Variables[%q] is a %s, not a string", key, dotnetTypeName(v))
				}
				return s
			}}
		}
		return fromAny(t, cs.n, func(f *frame) any {
			key := k(f)
			xv, _ := x(f).(*exchange.Exchange)
			if xv == nil {
				nre(pos, "context")
			}
			v, ok := xv.Variables[key]
			if !ok || v == nil {
				return def(f)
			}
			if test != nil && !test(v) {
				throwAt(pos, "InvalidCastException", "context.Variables[%q] is a %s, not a %s", key, dotnetTypeName(v), name)
			}
			return normalizeUnboxed(v, t)
		})
	}
}

// ---- headers ----

// declHeaders declares the header dictionary of requests and responses:
// case-insensitive, indexer returns string[], GetValueOrDefault joins with ",".
func declHeaders(u *universe) {
	h := u.internal("_Headers", "IReadOnlyDictionary<string, string[]>")
	h.elem = func(*Type) *Type { return u.kvType(tString, arrayOf(tString)) }
	h.is = func(v any) bool { _, ok := v.(http.Header); return ok }
	h.index("this[string name] string[]", f2(func(hd http.Header, k string) []string {
		v := headerValues(hd, k)
		if v == nil {
			throw("KeyNotFoundException", "The given key '%s' was not present in the dictionary", k)
		}
		return append([]string(nil), v...)
	}), nil)
	h.method("ContainsKey(string name) bool", f2(func(hd http.Header, k string) bool { return headerValues(hd, k) != nil }))
	h.method("TryGetValue(string name, out string[] value) bool", f3(func(hd http.Header, k string, out *outRef) bool {
		v := headerValues(hd, k)
		if v == nil {
			out.set(nil)
			return false
		}
		out.set(append([]string(nil), v...))
		return true
	}))
	h.method("GetValueOrDefault(string name) string", headerGet(false))
	h.method("GetValueOrDefault(string name, string defaultValue) string", headerGet(true))
	h.prop("Count int", f1(func(hd http.Header) int32 { return int32(len(hd)) }))
	h.prop("Keys IEnumerable<string>", f1(func(hd http.Header) any { return stringsToAny(sortedHeaderKeys(hd)) }))
	h.prop("Values IEnumerable<string[]>", f1(func(hd http.Header) any {
		var vals []any
		for _, k := range sortedHeaderKeys(hd) {
			vals = append(vals, append([]string(nil), hd[k]...))
		}
		return vals
	}))
}

// headerGet compiles Headers.GetValueOrDefault. A constant name is
// canonicalised once, at compile time.
func headerGet(withDefault bool) implFn {
	return func(c *checker, cs *site, args []*operand) *operand {
		h, k := args[0].anyFn(), args[1].strFn()
		var def fnS
		if withDefault {
			def = args[2].strFn()
		}
		if args[1].isConst() {
			name, _ := args[1].k.(string)
			canon := textproto.CanonicalMIMEHeaderKey(name)
			hh := exchangeHeaders(args[0])
			if hh == nil {
				hh = func(f *frame) http.Header { hd, _ := h(f).(http.Header); return hd }
			}
			return &operand{t: tString, n: cs.n, s: func(f *frame) string {
				hd := hh(f)
				vs, ok := hd[canon]
				if !ok {
					vs = headerScan(hd, name)
				}
				switch len(vs) {
				case 0:
					if def != nil {
						return def(f)
					}
					return nullStr
				case 1:
					return vs[0]
				}
				return strings.Join(vs, ",")
			}}
		}
		return &operand{t: tString, n: cs.n, s: func(f *frame) string {
			hd, _ := h(f).(http.Header)
			vs := headerValues(hd, k(f))
			switch len(vs) {
			case 0:
				if def != nil {
					return def(f)
				}
				return nullStr
			case 1:
				return vs[0]
			}
			return strings.Join(vs, ",")
		}}
	}
}

// headerValues looks a header up case-insensitively.
func headerValues(h http.Header, name string) []string {
	if v, ok := h[name]; ok {
		return v
	}
	if v, ok := h[textproto.CanonicalMIMEHeaderKey(name)]; ok {
		return v
	}
	return headerScan(h, name)
}

// headerScan finds a header stored under a non-canonical key.
func headerScan(h http.Header, name string) []string {
	for k, v := range h {
		if len(k) == len(name) && strings.EqualFold(k, name) {
			return v
		}
	}
	return nil
}

func sortedHeaderKeys(h http.Header) []string {
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func stringsToAny(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}

// ---- URLs ----

func urlPort(u *url.URL) int32 {
	if p := u.Port(); p != "" {
		n, _ := strconv.Atoi(p)
		return int32(n)
	}
	switch strings.ToLower(u.Scheme) {
	case "https", "wss":
		return 443
	case "http", "ws":
		return 80
	}
	return -1
}

func urlString(u *url.URL) string {
	if u == nil {
		return ""
	}
	return u.String()
}

// ParseQuery parses a query string as IUrl.Query does: only "&" separates
// parameters (";" is data, as in .NET), and a name or value that fails to decode
// is kept as written.
func ParseQuery(raw string) url.Values {
	q := url.Values{}
	for raw != "" {
		var part string
		part, raw, _ = strings.Cut(raw, "&")
		if part == "" {
			continue
		}
		k, v, _ := strings.Cut(part, "=")
		if dk, err := url.QueryUnescape(k); err == nil {
			k = dk
		}
		if dv, err := url.QueryUnescape(v); err == nil {
			v = dv
		}
		q[k] = append(q[k], v)
	}
	return q
}

// ---- certificates ----

// Certificate is an X509Certificate2: the certificate and, when it was loaded
// from PKCS#12 with its key, the private key.
type Certificate struct {
	Cert *x509.Certificate
	Key  any
}

// messageBody is IRequest.Body and IResponse.Body: null when the message has no
// body, as API Management documents (see exchange.Body.Empty for what that
// means), so that context.Request.Body?.As<JObject>() is null on a GET.
func messageBody(b *exchange.Body) *exchange.Body {
	empty, err := b.Empty()
	if err != nil {
		bodyException(err)
	}
	if empty {
		return nil
	}
	return b
}

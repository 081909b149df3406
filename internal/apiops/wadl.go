package apiops

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// The WADL namespaces: the 2009 submission and the earlier draft, which old
// tools still write.
const (
	wadlNS     = "http://wadl.dev.java.net/2009/02"
	wadlNS2006 = "http://research.sun.com/wadl/2006/10"
)

// Bounds on the expansion of resource types: types used inside types multiply,
// so a small file could describe millions of resources or endless nesting.
// maxWADLWork counts resources, methods and type references, each with the
// length of what it copies.
const (
	maxWADLWork        = 1_000_000
	maxWADLTypeNesting = 64
)

// wadlParam is a template parameter, to compare routes whatever their
// parameters are named.
var wadlParam = regexp.MustCompile(`\{[^{}]*\}`)

// parseWADL reads a WADL specification and returns its operations: one per
// method of a resource (or of its resource types), named by the method's id,
// matched by method and path only (query and header params are not part of the
// template).
func parseWADL(file string, src []byte) ([]specOp, []Warning, []*Error) {
	root, err := readXMLSpec(file, "WADL", src)
	if err != nil {
		return nil, nil, []*Error{err}
	}
	r := &wadlReader{file: file, types: map[string]*xmlElem{}, methods: map[string]*xmlElem{}, active: map[string]bool{}, reported: map[string]bool{}, budget: maxWADLWork}
	if !isWADL(root, "application") {
		in := ""
		if root.Name.Space != "" {
			in = fmt.Sprintf(" in namespace %q", root.Name.Space)
		}
		r.errorf(root, "the specification is not a WADL document: its root element is <%s>%s, not <application xmlns=%q>; export the API's WADL into it, or give the file the extension of what it is", root.Name.Local, in, wadlNS)
		return nil, nil, r.errs
	}
	// Resource types and methods may be defined after their first use.
	for _, c := range root.Children {
		id := c.attr("id")
		switch {
		case id == "":
		case isWADL(c, "resource_type") && r.types[id] == nil:
			r.types[id] = c
		case isWADL(c, "method") && r.methods[id] == nil:
			r.methods[id] = c
		}
	}
	for _, rs := range root.Children {
		if isWADL(rs, "resources") {
			for _, c := range rs.Children {
				if isWADL(c, "resource") {
					r.resource(c, nil)
				}
			}
		}
	}
	if len(r.ops) == 0 && len(r.errs) == 0 {
		return nil, []Warning{{Msg: "the WADL defines no operations (no <method> in its resources); the API is served as one operation that passes every request under its URL suffix to the backend"}}, r.errs
	}
	return r.finish()
}

// wadlReader collects the operations of a WADL document.
type wadlReader struct {
	file     string
	types    map[string]*xmlElem // <resource_type> by id
	methods  map[string]*xmlElem // application-level <method> by id, for href
	active   map[string]bool     // resource types being expanded, to find cycles
	budget   int                 // work still allowed, see maxWADLWork
	ops      []wadlOp
	errs     []*Error
	reported map[string]bool // errs, by text
}

// wadlOp is an operation with the <method> that defines it (the one an href
// refers to), to tell a method reached twice from two methods with one id.
type wadlOp struct {
	specOp
	def *xmlElem
}

func isWADL(e *xmlElem, local string) bool {
	return e.Name.Local == local && (e.Name.Space == wadlNS || e.Name.Space == wadlNS2006)
}

// errorf reports a mistake at an element once, though a resource type
// used by several resources is read as many times.
func (r *wadlReader) errorf(at *xmlElem, format string, args ...any) {
	e := &Error{File: r.file, Pos: at.Pos, Msg: fmt.Sprintf(format, args...)}
	if k := e.Error(); !r.reported[k] {
		r.reported[k] = true
		r.errs = append(r.errs, e)
	}
}

// spend takes cost from the budget, and reports once when it runs out.
func (r *wadlReader) spend(at *xmlElem, cost int) bool {
	if r.budget <= 0 {
		return false
	}
	if r.budget -= cost; r.budget <= 0 {
		r.errorf(at, "the WADL is too large once its resource types are expanded (more than %d resources, methods and path characters); lastmile does not build that many operations", maxWADLWork)
		return false
	}
	return true
}

// resource adds the operations of e, whose parents' path segments are parent.
func (r *wadlReader) resource(e *xmlElem, parent []string) {
	if !r.spend(e, 1+len(e.attr("path"))+len(parent)) {
		return
	}
	segs, err := wadlSegments(e.attr("path"))
	if err != "" {
		r.errorf(e, "resource path %q %s; fix the path", e.attr("path"), err)
		return
	}
	segs = append(slices.Clip(parent), segs...)
	r.contents(e, segs)
	for ref := range strings.FieldsSeq(e.attr("type")) {
		if !r.spend(e, 1+len(ref)) {
			return
		}
		id := ref[strings.LastIndex(ref, "#")+1:] // "#rt", "rt" or "other.wadl#rt"
		t := r.types[id]
		switch {
		case t == nil:
			r.errorf(e, "resource type %q is not defined: there is no <resource_type id=%q> in <application>; define it, or remove it from the resource's type attribute", ref, id)
		case r.active[id]:
			r.errorf(e, "resource type %q is used inside itself, which would make its paths endlessly deep; remove %q from this resource's type attribute", id, ref)
		case len(r.active) >= maxWADLTypeNesting:
			r.errorf(e, "resource types are used inside each other more than %d deep; flatten them", maxWADLTypeNesting)
		default:
			r.active[id] = true
			r.contents(t, segs)
			delete(r.active, id)
		}
	}
}

// contents adds the methods and child resources of a resource or resource type.
func (r *wadlReader) contents(e *xmlElem, segs []string) {
	for _, c := range e.Children {
		switch {
		case isWADL(c, "method"):
			r.method(c, segs)
		case isWADL(c, "resource"):
			r.resource(c, segs)
		}
	}
}

// method adds the operation of the <method> m of the resource at segs.
func (r *wadlReader) method(m *xmlElem, segs []string) {
	def := m
	if href := m.attr("href"); href != "" {
		id := href[strings.LastIndex(href, "#")+1:]
		if def = r.methods[id]; def == nil {
			r.errorf(m, "<method href=%q> refers to no <method id=%q> in <application>; define that method as a child of <application>, or write the method here with its name", href, id)
			return
		}
	}
	name := def.attr("name")
	switch {
	case name == "" && def == m:
		r.errorf(m, "<method> has neither a name (the HTTP method, such as GET) nor an href to a method of the application; add name=\"GET\" or the method's verb")
		return
	case name == "":
		r.errorf(def, "<method id=%q> has no name (the HTTP method, such as GET), and the <method href> at line %d refers to it; add name=\"GET\" or the method's verb", def.attr("id"), m.Pos.Line)
		return
	case !httpguts.ValidHeaderFieldName(name): // a method is a token, as a header name is
		r.errorf(def, "method name %q is not an HTTP method; write one such as GET or POST", name)
		return
	}
	tmpl := "/" + strings.Join(segs, "/")
	if !r.spend(m, len(tmpl)) {
		return
	}
	o := &Operation{Name: def.attr("id"), Method: strings.ToUpper(name), URLTemplate: tmpl}
	for _, d := range def.Children {
		if isWADL(d, "doc") && d.attr("title") != "" {
			o.DisplayName = d.attr("title")
			break
		}
	}
	r.ops = append(r.ops, wadlOp{specOp{op: o, line: m.Pos.Line, col: m.Pos.Col}, def})
}

// finish names the operations without an id, reports ids and routes defined
// twice, and sorts the operations as operations does an OpenAPI document's.
func (r *wadlReader) finish() ([]specOp, []Warning, []*Error) {
	byName := map[string]wadlOp{}
	byRoute := map[opKey]wadlOp{}
	var unnamed []string
	dup := func(o wadlOp, format string, args ...any) {
		r.errs = append(r.errs, &Error{File: r.file, Pos: srcpos.Pos{Line: o.line, Col: o.col}, Msg: fmt.Sprintf(format, args...)})
	}
	// Ids first, so that a name made from a path is not reported as a
	// method's id.
	for pass := range 2 {
		for _, o := range r.ops {
			if (o.op.Name == "") != (pass == 1) {
				continue
			}
			if pass == 1 {
				o.op.Name = syntheticName(o.op.Method, o.op.URLTemplate)
				unnamed = append(unnamed, fmt.Sprintf("%s %s as %s", o.op.Method, o.op.URLTemplate, o.op.Name))
			}
			// {id} and {key} match the same requests.
			route := opKey{wadlParam.ReplaceAllString(o.op.URLTemplate, "{}"), o.op.Method}
			prev, named := byName[o.op.Name]
			prevRoute, routed := byRoute[route]
			switch {
			case routed:
				as := ""
				if prevRoute.op.URLTemplate != o.op.URLTemplate {
					as = " as " + prevRoute.op.URLTemplate
				}
				dup(o, "%s %s is also defined at line %d%s; API Management matches WADL operations by method and path, so one of them would never be reached; remove one, or merge them",
					o.op.Method, o.op.URLTemplate, prevRoute.line, as)
			case named && pass == 1:
				dup(o, "%s %s has no id, and the name lastmile gives it, %q, is also the name of %s %s (line %d); give the method an id",
					o.op.Method, o.op.URLTemplate, o.op.Name, prev.op.Method, prev.op.URLTemplate, prev.line)
			case named && prev.def == o.def:
				dup(o, "method id %q is both %s %s and %s %s, as two resources share the method (through a resource_type or an href); operation ids must be unique within an API: give each resource its own method with its own id",
					o.op.Name, prev.op.Method, prev.op.URLTemplate, o.op.Method, o.op.URLTemplate)
			case named:
				dup(o, "method id %q of %s %s is also the id of %s %s (line %d); operation ids must be unique within an API",
					o.op.Name, o.op.Method, o.op.URLTemplate, prev.op.Method, prev.op.URLTemplate, prev.line)
			default:
				byName[o.op.Name], byRoute[route] = o, o
			}
		}
	}
	out := make([]specOp, len(r.ops))
	for i, o := range r.ops {
		out[i] = o.specOp
	}
	sortSpecOps(out)
	var warns []Warning
	if len(unnamed) > 0 {
		warns = append(warns, Warning{Msg: "methods without an id were named by method and path: " + strings.Join(unnamed, ", ") +
			"; add an id to them to name their policy folders"})
	}
	return out, warns, r.errs
}

// wadlSegments splits a resource path into its segments, dropping empty ones
// (leading, trailing and doubled slashes), with JAX-RS's {name: regex} written
// {name}. The regex may have braces of its own ({id: [0-9]{3}}) and slashes.
// It returns what is wrong with the path, or "".
func wadlSegments(p string) ([]string, string) {
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '}':
			return nil, "has a } without its {"
		case '?', '#':
			return nil, fmt.Sprintf(`has a %q, which a URL path cannot have; query parameters are <param style="query">`, p[i])
		case '{':
			end, depth := -1, 0
			for j := i + 1; j < len(p) && end < 0; j++ {
				switch p[j] {
				case '\\':
					j++ // an escaped brace in the regex does not count
				case '{':
					depth++
				case '}':
					if depth == 0 {
						end = j
					}
					depth--
				}
			}
			if end < 0 {
				return nil, "has a { without its }"
			}
			name, _, _ := strings.Cut(p[i+1:end], ":")
			name = strings.TrimSpace(name)
			if name == "" || strings.ContainsAny(name, "/{}?#* \t\r\n") {
				return nil, fmt.Sprintf("has a parameter named %q; name it with letters, digits, '-' or '_'", name)
			}
			b.WriteString("{" + name + "}")
			i = end
		default:
			b.WriteByte(p[i])
		}
	}
	return strings.FieldsFunc(b.String(), func(r rune) bool { return r == '/' }), ""
}

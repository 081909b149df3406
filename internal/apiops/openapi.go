package apiops

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v3"

	"github.com/lastmile-gw/lastmile/internal/apispec"
	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// specOp is an operation read from a specification, with the positions of its
// method key and operationId for errors.
type specOp struct {
	op        *Operation
	line, col int  // of the operationId value, or of the method key when it has none
	unnamed   bool // Name was made from the method and path (no operationId)
}

// opKey identifies an operation in a specification.
type opKey struct{ path, method string }

// parseSpec reads an OpenAPI 2 (Swagger) or 3 specification and returns its
// operations. file names it in errors. API Management accepts YAML and JSON, and
// so does this; $refs to other files are refused, since an extracted folder has
// none. queryTemplates makes required query parameters template parameters, as
// API Management's import does unless the API's translateRequiredQueryParameters
// is "query".
func parseSpec(ctx context.Context, file string, src []byte, queryTemplates bool) ([]specOp, []Warning, []*Error) {
	src = bytes.TrimPrefix(src, bom)
	errf := func(line, col int, format string, args ...any) []*Error {
		return []*Error{{File: file, Pos: srcpos.Pos{Line: line, Col: col}, Msg: fmt.Sprintf(format, args...)}}
	}
	if len(bytes.TrimSpace(src)) == 0 {
		return nil, nil, errf(0, 0, "the specification is empty; export the API's OpenAPI document into it or delete the file")
	}
	isJSON := bytes.TrimSpace(src)[0] == '{'
	if isJSON {
		var v any
		if err := json.Unmarshal(src, &v); err != nil {
			e := (&infoFile{file: file, src: src}).jsonError(err, nil)
			e.Msg = strings.Replace(e.Msg, "invalid JSON", "invalid JSON in the specification", 1)
			return nil, nil, []*Error{e}
		}
	}
	// The YAML tree gives positions (JSON is YAML), the version and, for Swagger 2,
	// the input to its JSON decoder.
	var root yaml.Node
	if err := yaml.Unmarshal(src, &root); err != nil {
		if isJSON {
			return nil, nil, errf(0, 0, "the specification is valid JSON that could not be read as YAML too (%v); please report this", err)
		}
		line, msg := 0, strings.TrimPrefix(err.Error(), "yaml: ")
		if m := yamlLineErr.FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
			msg = m[2]
		}
		return nil, nil, errf(line, 0, "invalid YAML in the specification: %s", msg)
	}
	doc := &root
	if doc.Kind == yaml.DocumentNode && len(doc.Content) > 0 {
		doc = doc.Content[0]
	}
	if doc.Kind != yaml.MappingNode {
		return nil, nil, errf(doc.Line, doc.Column, "the specification is not an OpenAPI document: its top level is not a mapping")
	}
	oa, sw := mapValue(doc, "openapi"), mapValue(doc, "swagger")
	var v3 *openapi3.T
	switch {
	case oa != nil && oa.Kind == yaml.ScalarNode && strings.HasPrefix(oa.Value, "3."):
		loader := openapi3.NewLoader()
		loader.Context = ctx
		loader.IsExternalRefsAllowed = false
		t, err := loader.LoadFromData(src)
		if err != nil {
			return nil, nil, kinError(file, "OpenAPI 3", err)
		}
		v3 = t
	case sw != nil && sw.Kind == yaml.ScalarNode && sw.Value == "2.0" || sw != nil && sw.Value == "2":
		j, err := nodeJSON(doc)
		if err != nil {
			return nil, nil, kinError(file, "Swagger 2.0", err)
		}
		var t2 openapi2.T
		if err := json.Unmarshal(j, &t2); err != nil {
			return nil, nil, kinError(file, "Swagger 2.0", err)
		}
		t, err := openapi2conv.ToV3(&t2)
		if err != nil {
			return nil, nil, kinError(file, "Swagger 2.0", err)
		}
		v3 = t
	case oa != nil:
		return nil, nil, errf(oa.Line, oa.Column, "OpenAPI version %q is not supported; lastmile reads OpenAPI 3.x and Swagger 2.0", oa.Value)
	case sw != nil:
		return nil, nil, errf(sw.Line, sw.Column, "Swagger version %q is not supported; lastmile reads OpenAPI 3.x and Swagger 2.0", sw.Value)
	default:
		return nil, nil, errf(doc.Line, doc.Column, `the specification is not an OpenAPI document: it has neither "openapi" nor "swagger" at the top level`)
	}
	return operations(file, doc, v3, queryTemplates)
}

// kinError reports a kin-openapi error, with the line it names if it names one.
func kinError(file, what string, err error) []*Error {
	msg := err.Error()
	hint := "fix the specification, or delete it to serve the API without operations (every path under its URL suffix)"
	if strings.Contains(msg, "external reference") {
		hint = "apiops extracts self-contained specifications: put the referenced definitions into this file"
	}
	e := &Error{File: file, Msg: fmt.Sprintf("not a valid %s document: %s; %s", what, msg, hint), Err: err}
	if m := lineInMsg.FindStringSubmatch(msg); m != nil {
		e.Pos.Line, _ = strconv.Atoi(m[1])
	}
	return []*Error{e}
}

var (
	yamlLineErr = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	lineInMsg   = regexp.MustCompile(`\bline (\d+)\b`)
)

// operations lists the operations of a loaded document: paths and API
// Management's x-ms-paths (paths with a query part). With queryTemplates, an
// operation's required query parameters are added to its URL template.
func operations(file string, doc *yaml.Node, t *openapi3.T, queryTemplates bool) ([]specOp, []Warning, []*Error) {
	pos := map[opKey][2]int{}
	idPos := map[opKey][2]int{}
	opParamPos := map[opKey]map[paramKey][2]int{}
	pathParamPos := map[string]map[paramKey][2]int{}
	for _, section := range []string{"paths", "x-ms-paths"} {
		paths := mapValue(doc, section)
		if paths == nil || paths.Kind != yaml.MappingNode {
			continue
		}
		for i := 0; i+1 < len(paths.Content); i += 2 {
			p, item := paths.Content[i], resolveAlias(paths.Content[i+1])
			if item == nil || item.Kind != yaml.MappingNode {
				continue
			}
			pathParamPos[normPath(p.Value)] = paramPositions(doc, mapValue(item, "parameters"))
			for j := 0; j+1 < len(item.Content); j += 2 {
				m, op := item.Content[j], resolveAlias(item.Content[j+1])
				k := opKey{normPath(p.Value), strings.ToUpper(m.Value)}
				pos[k] = [2]int{m.Line, m.Column}
				if op != nil && op.Kind == yaml.MappingNode {
					if id := mapValue(op, "operationId"); id != nil {
						idPos[k] = [2]int{id.Line, id.Column}
					}
					opParamPos[k] = paramPositions(doc, mapValue(op, "parameters"))
				}
			}
		}
	}

	type item struct {
		path   string
		ops    map[string]*openapi3.Operation
		params openapi3.Parameters
	}
	var items []item
	if t.Paths != nil {
		for p, pi := range t.Paths.Map() {
			if pi != nil {
				items = append(items, item{p, pi.Operations(), pi.Parameters})
			}
		}
	}
	if raw, ok := t.Extensions["x-ms-paths"]; ok {
		var extra openapi3.Paths
		if j, err := json.Marshal(raw); err == nil && json.Unmarshal(j, &extra) == nil {
			for p, pi := range extra.Map() {
				if pi != nil {
					items = append(items, item{p, pi.Operations(), pi.Parameters})
				}
			}
		}
	}

	var out []specOp
	var errs []*Error
	for _, it := range items {
		for method, o := range it.ops {
			if o == nil {
				continue
			}
			k := opKey{normPath(it.path), strings.ToUpper(method)}
			so := specOp{op: &Operation{
				Name:        o.OperationID,
				DisplayName: o.Summary,
				Method:      k.method,
				URLTemplate: k.path,
				Examples:    examples(o),
				Spec:        apispec.FromOpenAPI(it.params, o),
			}}
			if p, ok := idPos[k]; ok {
				so.line, so.col = p[0], p[1]
			} else if p, ok := pos[k]; ok {
				so.line, so.col = p[0], p[1]
			}
			if so.op.Name == "" {
				// Named by the path alone, so that a policy folder keeps its
				// name whatever the query part becomes.
				so.op.Name = syntheticName(so.op.Method, so.op.URLTemplate)
				so.unnamed = true
			}
			if queryTemplates {
				req := requiredQuery(t, it.params, o.Parameters)
				var probs []queryProblem
				so.op.URLTemplate, probs = addQueryTemplate(so.op.URLTemplate, req)
				for _, pr := range probs {
					at := [2]int{so.line, so.col}
					key := paramKey{pr.param.Name, strings.ToLower(pr.param.In)}
					if p, ok := opParamPos[k][key]; ok {
						at = p
					} else if p, ok := pathParamPos[k.path][key]; ok {
						at = p
					}
					errs = append(errs, &Error{File: file, Pos: srcpos.Pos{Line: at[0], Col: at[1]}, Msg: fmt.Sprintf(
						"required query parameter %q of %s %s %s, or set \"translateRequiredQueryParameters\": \"query\" in the API's apiInformation.json to keep required query parameters out of URL templates",
						pr.param.Name, k.method, k.path, pr.msg)})
				}
			}
			out = append(out, so)
		}
	}
	sortSpecOps(out)

	var warns []Warning
	var unnamed []string
	seen := map[string]specOp{}
	for i := range out {
		o := out[i].op
		if out[i].unnamed {
			unnamed = append(unnamed, fmt.Sprintf("%s %s as %s", o.Method, o.URLTemplate, o.Name))
		}
		if prev, ok := seen[o.Name]; ok {
			errs = append(errs, &Error{File: file, Pos: srcpos.Pos{Line: out[i].line, Col: out[i].col}, Msg: fmt.Sprintf(
				"operationId %q of %s %s is also the operationId of %s %s (line %d); operation ids must be unique within an API",
				o.Name, o.Method, o.URLTemplate, prev.op.Method, prev.op.URLTemplate, prev.line)})
			continue
		}
		seen[o.Name] = out[i]
	}
	if len(unnamed) > 0 {
		warns = append(warns, Warning{Msg: "operations without an operationId were named by method and path: " + strings.Join(unnamed, ", ") +
			"; add operationId to them to name their policy folders"})
	}
	return out, warns, errs
}

// paramKey identifies a parameter of an operation, as OpenAPI does: by name and
// location.
type paramKey struct{ name, in string }

// paramPositions returns where each parameter of a "parameters" list is given:
// the value of its name, or of its $ref when it is a reference (followed to
// learn the name and location).
func paramPositions(doc, list *yaml.Node) map[paramKey][2]int {
	if list == nil || list.Kind != yaml.SequenceNode {
		return nil
	}
	out := map[paramKey][2]int{}
	for _, entry := range list.Content {
		entry = resolveAlias(entry)
		target, at := entry, mapValue(entry, "name")
		if ref := mapValue(entry, "$ref"); ref != nil {
			at = ref
			for i := 0; i < 8 && target != nil; i++ {
				r := mapValue(target, "$ref")
				if r == nil {
					break
				}
				target = yamlPointer(doc, r.Value)
			}
		}
		name, in := mapValue(target, "name"), mapValue(target, "in")
		if name == nil || in == nil || at == nil {
			continue
		}
		k := paramKey{name.Value, strings.ToLower(in.Value)}
		if _, ok := out[k]; !ok {
			out[k] = [2]int{at.Line, at.Column}
		}
	}
	return out
}

// yamlPointer returns the node a local reference ("#/components/parameters/q")
// names in doc, or nil.
func yamlPointer(doc *yaml.Node, ref string) *yaml.Node {
	rest, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return nil
	}
	n := doc
	for part := range strings.SplitSeq(rest, "/") {
		if u, err := url.PathUnescape(part); err == nil {
			part = u
		}
		part = strings.ReplaceAll(strings.ReplaceAll(part, "~1", "/"), "~0", "~")
		switch n.Kind {
		case yaml.MappingNode:
			n = mapValue(n, part)
		case yaml.SequenceNode:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(n.Content) {
				return nil
			}
			n = resolveAlias(n.Content[i])
		default:
			return nil
		}
		if n == nil {
			return nil
		}
	}
	return n
}

// requiredQuery returns an operation's required query parameters: its own, then
// its path's that it does not override (a parameter is its name and location),
// each in the order the specification lists it.
func requiredQuery(t *openapi3.T, pathParams, opParams openapi3.Parameters) []*openapi3.Parameter {
	var out []*openapi3.Parameter
	seen := map[paramKey]bool{}
	for _, list := range []openapi3.Parameters{opParams, pathParams} {
		for _, r := range list {
			p := paramValue(t, r)
			if p == nil {
				continue
			}
			k := paramKey{p.Name, strings.ToLower(p.In)}
			if seen[k] {
				continue
			}
			seen[k] = true
			if k.in == openapi3.ParameterInQuery && p.Required {
				out = append(out, p)
			}
		}
	}
	return out
}

// paramValue returns the parameter r is or refers to. The loader resolves the
// references of paths; those of x-ms-paths, which it does not read, are
// looked up here among the components (where Swagger 2's parameters are too).
func paramValue(t *openapi3.T, r *openapi3.ParameterRef) *openapi3.Parameter {
	for i := 0; r != nil && i < 8; i++ {
		if r.Value != nil {
			return r.Value
		}
		name, ok := strings.CutPrefix(r.Ref, "#/components/parameters/")
		if !ok {
			name, ok = strings.CutPrefix(r.Ref, "#/parameters/")
		}
		if !ok || t.Components == nil {
			return nil
		}
		r = t.Components.Parameters[strings.ReplaceAll(strings.ReplaceAll(name, "~1", "/"), "~0", "~")]
	}
	return nil
}

// queryProblem is a required query parameter that cannot be added to an
// operation's URL template.
type queryProblem struct {
	param *openapi3.Parameter
	msg   string // completes "required query parameter "q" of GET /x ..."
}

// addQueryTemplate adds required query parameters to a URL template as
// API Management's import does: "/search" with q becomes "/search?q={q}". A
// parameter the template's query part already has (x-ms-paths'
// "/search?q={term}") is left as it is.
func addQueryTemplate(tmpl string, req []*openapi3.Parameter) (string, []queryProblem) {
	if len(req) == 0 {
		return tmpl, nil
	}
	_, query, _ := strings.Cut(tmpl, "?")
	inQuery := map[string]bool{}
	if query != "" {
		for kv := range strings.SplitSeq(query, "&") {
			k, _, _ := strings.Cut(kv, "=")
			inQuery[k] = true
		}
	}
	params := map[string]bool{}
	for _, m := range templateParam.FindAllStringSubmatch(tmpl, -1) {
		params[m[1]] = true
	}
	var probs []queryProblem
	var add []string
	for _, p := range req {
		if inQuery[p.Name] {
			continue
		}
		if why := templateNameProblem(p.Name); why != "" {
			probs = append(probs, queryProblem{p, fmt.Sprintf(
				"cannot be a URL template parameter, which API Management makes it: %s; rename it, make it optional", why)})
			continue
		}
		if params[p.Name] {
			probs = append(probs, queryProblem{p, fmt.Sprintf(
				"has the name of the template parameter {%s}; API Management makes required query parameters template parameters (?%s={%s}), whose names must differ, and refuses to import this: rename one of them, make the query parameter optional",
				p.Name, p.Name, p.Name)})
			continue
		}
		inQuery[p.Name], params[p.Name] = true, true
		add = append(add, p.Name+"={"+p.Name+"}")
	}
	if len(add) == 0 {
		return tmpl, probs
	}
	sep := "?"
	if strings.Contains(tmpl, "?") {
		sep = "&"
		if strings.HasSuffix(tmpl, "?") || strings.HasSuffix(tmpl, "&") {
			sep = ""
		}
	}
	return tmpl + sep + strings.Join(add, "&"), probs
}

// templateParam finds the parameters of a URL template, {name} and {*name}.
var templateParam = regexp.MustCompile(`\{\*?([^{}]*)\}`)

// templateNameProblem says why name cannot be a template parameter and a query
// parameter's name in a URL template, or returns "".
func templateNameProblem(name string) string {
	switch {
	case name == "":
		return "it has no name"
	case strings.HasPrefix(name, "*"):
		return "a name that starts with * is a wildcard's"
	}
	for _, r := range name {
		if r < 0x20 || r == 0x7f {
			return "its name has a control character"
		}
		if strings.ContainsRune("{}&=?#", r) {
			return fmt.Sprintf("its name has %q, which a template uses", r)
		}
	}
	return ""
}

// normPath returns an OpenAPI path key as a URL template with a leading slash.
func normPath(p string) string {
	if !strings.HasPrefix(p, "/") {
		return "/" + p
	}
	return p
}

// sortSpecOps orders a specification's operations by URL template, then method.
func sortSpecOps(ops []specOp) {
	slices.SortFunc(ops, func(a, b specOp) int {
		if c := strings.Compare(a.op.URLTemplate, b.op.URLTemplate); c != 0 {
			return c
		}
		return methodRank(a.op.Method) - methodRank(b.op.Method)
	})
}

func methodRank(m string) int {
	if i := slices.Index([]string{"GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"}, m); i >= 0 {
		return i
	}
	return 100
}

// syntheticName names an operation that has no operationId: "get-items-id" for
// GET /items/{id}.
func syntheticName(method, tmpl string) string {
	var b strings.Builder
	b.WriteString(strings.ToLower(method))
	dash := true
	for _, r := range strings.ToLower(tmpl) {
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if dash {
				b.WriteByte('-')
				dash = false
			}
			b.WriteRune(r)
		} else {
			dash = true
		}
	}
	return b.String()
}

func mapValue(m *yaml.Node, key string) *yaml.Node {
	if m == nil || m.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i].Value == key {
			return resolveAlias(m.Content[i+1])
		}
	}
	return nil
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 32; i++ {
		n = n.Alias
	}
	return n
}

// maxSpecNodes bounds the JSON built from a YAML specification, so that aliases
// cannot expand a small file into a huge one; maxSpecDepth bounds its nesting.
const (
	maxSpecNodes = 2_000_000
	maxSpecDepth = 500
)

// nodeJSON converts a YAML tree to JSON for decoders that only read JSON
// (kin-openapi's Swagger 2.0 types). Keys are their text; a timestamp-looking
// scalar stays a string; "swagger" and "info.version" stay strings even when
// written as numbers (swagger: 2.0, version: 1.0), as authors mean them. An alias
// that contains itself is an error, not an endless recursion.
func nodeJSON(n *yaml.Node) ([]byte, error) {
	c := converter{budget: maxSpecNodes, active: map[*yaml.Node]bool{}}
	v, err := c.value(n, 0, "", "")
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

type converter struct {
	budget int
	active map[*yaml.Node]bool // the nodes being converted, to find cycles
}

// value converts n, found at depth under the key key of a mapping under parent.
func (c *converter) value(n *yaml.Node, depth int, parent, key string) (any, error) {
	n = resolveAlias(n)
	if n == nil {
		return nil, nil
	}
	c.budget--
	switch {
	case c.budget < 0:
		return nil, errors.New("the specification is too large once its YAML aliases are expanded")
	case depth > maxSpecDepth:
		return nil, fmt.Errorf("the specification nests more than %d levels deep", maxSpecDepth)
	case c.active[n]:
		return nil, fmt.Errorf("line %d: a YAML alias refers to a node that contains it; a specification cannot be infinite", n.Line)
	}
	c.active[n] = true
	defer delete(c.active, n)
	switch n.Kind {
	case yaml.DocumentNode:
		if len(n.Content) == 0 {
			return nil, nil
		}
		return c.value(n.Content[0], depth, "", "")
	case yaml.MappingNode:
		m := make(map[string]any, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := resolveAlias(n.Content[i])
			if k == nil {
				continue
			}
			if k.ShortTag() == "!!merge" {
				merged, err := c.value(n.Content[i+1], depth+1, key, "")
				if err != nil {
					return nil, err
				}
				if mm, ok := merged.(map[string]any); ok {
					for mk, mv := range mm {
						if _, ok := m[mk]; !ok {
							m[mk] = mv
						}
					}
				}
				continue
			}
			ck := k.Value
			if depth == 0 {
				ck = "/" + ck // mark top-level keys
			}
			v, err := c.value(n.Content[i+1], depth+1, key, ck)
			if err != nil {
				return nil, err
			}
			m[k.Value] = v
		}
		return m, nil
	case yaml.SequenceNode:
		s := make([]any, 0, len(n.Content))
		for _, item := range n.Content {
			v, err := c.value(item, depth+1, key, "")
			if err != nil {
				return nil, err
			}
			s = append(s, v)
		}
		return s, nil
	case yaml.ScalarNode:
		if key == "/swagger" || parent == "/info" && key == "version" {
			return n.Value, nil
		}
		switch n.ShortTag() {
		case "!!null":
			return nil, nil
		case "!!bool":
			var b bool
			if n.Decode(&b) == nil {
				return b, nil
			}
		case "!!int":
			var i int64
			if n.Decode(&i) == nil {
				return i, nil
			}
			var f float64
			if n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return f, nil
			}
		case "!!float":
			var f float64
			if n.Decode(&f) == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
				return f, nil
			}
		}
		return n.Value, nil
	}
	return nil, nil
}

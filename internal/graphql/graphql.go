// Package graphql reads GraphQL APIs' schemas and checks GraphQL requests
// against them, for validate-graphql-request: syntax, validation, depth, and
// field-level authorization rules that remove or refuse fields. It parses
// with gqlparser and knows no gateway.
package graphql

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/url"
	"strings"

	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// MaxTokens bounds a query's tokens before it is validated: some validation
// rules (overlapping fields) cost the square of the fields, and the depth
// limit does not bound breadth. 15,000 is graphql-java's default.
const MaxTokens = 15000

// MaxFields bounds the fields a query selects, fragments expanded, for the
// same reason: 1,000 fields of one name cost the validation about 50 ms.
const MaxFields = 1000

// Schema is a GraphQL API's schema.
type Schema struct{ s *ast.Schema }

// ParseSchema reads a schema in the GraphQL schema definition language. Its
// error is a srcpos.Error at the problem's line and column in file.
func ParseSchema(file string, src []byte) (*Schema, error) {
	s, err := gqlparser.LoadSchema(&ast.Source{Name: file, Input: string(src)})
	if err != nil {
		e := &srcpos.Error{File: file, Pos: srcpos.Pos{Line: 1, Col: 1}, Msg: "the GraphQL schema does not load: " + err.Error()}
		var ge *gqlerror.Error
		if errors.As(err, &ge) {
			e.Msg = "the GraphQL schema does not load: " + ge.Message
			if len(ge.Locations) > 0 {
				e.Pos = srcpos.Pos{Line: ge.Locations[0].Line, Col: ge.Locations[0].Column}
			}
		}
		return nil, e
	}
	return &Schema{s: s}, nil
}

// Request is a GraphQL request as GraphQL over HTTP carries it.
type Request struct {
	Query         string         `json:"query"`
	OperationName string         `json:"operationName,omitempty"`
	Variables     map[string]any `json:"variables,omitempty"`
	Extensions    map[string]any `json:"extensions,omitempty"`
}

// DecodeRequest reads a request from its method, Content-Type, query string
// and body: GET with query, operationName and variables in the URL; POST with
// a JSON body, or the query alone as application/graphql.
func DecodeRequest(method, contentType string, query url.Values, body []byte) (Request, error) {
	var r Request
	if method == "GET" || method == "HEAD" {
		r.Query, r.OperationName = query.Get("query"), query.Get("operationName")
		if v := query.Get("variables"); v != "" {
			if err := json.Unmarshal([]byte(v), &r.Variables); err != nil {
				return r, errors.New("the variables parameter is not a JSON object")
			}
		}
	} else {
		mt, _, _ := mime.ParseMediaType(contentType)
		switch mt {
		case "application/graphql":
			r.Query = string(body)
		case "application/json", "":
			d := json.NewDecoder(bytes.NewReader(body))
			d.UseNumber()
			if err := d.Decode(&r); err != nil {
				return r, errors.New("the body is not a GraphQL request: a JSON object with a query")
			}
		default:
			return r, fmt.Errorf("a GraphQL request's Content-Type is application/json or application/graphql, not %.100q", contentType)
		}
	}
	if strings.TrimSpace(r.Query) == "" {
		return r, errors.New("the request has no query")
	}
	return r, nil
}

// Action is what an authorization rule does with a field.
type Action int

const (
	Allow  Action = iota // the field goes to the backend
	Remove               // the field is removed, with a field error
	Reject               // the request is refused
	Ignore               // the rule does not apply; the next one decides
)

// Decide returns the action for the field name of type typ ("Query",
// "Mission"), or an error that fails the check. Check calls it for each
// field of the operation, in document order.
type Decide func(typ, field string) (Action, error)

// Result is what Check found.
type Result struct {
	// Errors are request errors: the request must not be sent.
	Errors gqlerror.List
	// Removed are field errors, one per removed field; Query is then the
	// request's query without them.
	Removed gqlerror.List
	Query   string
}

// Check parses and validates req's query against the schema, then applies
// the depth limit (maxDepth > 0) and decide to every field of the operation
// that req selects. An error from decide is returned as it is.
func (s *Schema) Check(req Request, maxDepth int, decide Decide) (*Result, error) {
	res := &Result{}
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: req.Query}, MaxTokens)
	if err != nil {
		var ge *gqlerror.Error
		if !errors.As(err, &ge) {
			ge = gqlerror.Wrap(err)
		}
		res.Errors = coded(gqlerror.List{ge}, "GRAPHQL_PARSE_FAILED")
		return res, nil
	}
	// Size first: it bounds the validation's work.
	d, n := size(doc)
	if maxDepth > 0 && d > maxDepth {
		res.Errors = coded(gqlerror.List{gqlerror.Errorf("the query is %d levels deep; at most %d are allowed", d, maxDepth)}, "GRAPHQL_VALIDATION_FAILED")
		return res, nil
	}
	if n > MaxFields {
		res.Errors = coded(gqlerror.List{gqlerror.Errorf("the query selects more than %d fields, fragments expanded", MaxFields)}, "GRAPHQL_VALIDATION_FAILED")
		return res, nil
	}
	// Validate, deprecated for ValidateWithRules, keeps its rules sorted
	// once; ValidateWithRules builds and sorts them on every call, which
	// doubled this check's time.
	//lint:ignore SA1019 see above
	if errs := validator.Validate(s.s, doc); len(errs) > 0 {
		res.Errors = coded(errs, "GRAPHQL_VALIDATION_FAILED")
		return res, nil
	}
	op := doc.Operations.ForName(req.OperationName)
	if op == nil {
		if req.OperationName == "" {
			res.Errors = gqlerror.List{gqlerror.Errorf("the document has several operations; name one in operationName")}
		} else {
			res.Errors = gqlerror.List{gqlerror.Errorf("the document has no operation named %.100q", req.OperationName)}
		}
		return res, nil
	}
	if _, err := validator.VariableValues(s.s, op, req.Variables); err != nil {
		var ge *gqlerror.Error
		if !errors.As(err, &ge) {
			ge = gqlerror.Wrap(err)
		}
		res.Errors = gqlerror.List{ge}
		return res, nil
	}
	if decide == nil {
		return res, nil
	}
	a := authorizer{decide: decide, res: res, done: map[*ast.FragmentDefinition]bool{}}
	op.SelectionSet = a.selections(op.SelectionSet, ast.Path{})
	if a.err != nil || len(res.Errors) > 0 {
		return res, a.err
	}
	if len(res.Removed) > 0 {
		if len(op.SelectionSet) == 0 {
			res.Errors = gqlerror.List{gqlerror.Errorf("every field of the operation was removed by an authorization rule")}
			return res, nil
		}
		var b strings.Builder
		formatter.NewFormatter(&b, formatter.WithIndent(" ")).FormatQueryDocument(&ast.QueryDocument{Operations: ast.OperationList{op}, Fragments: a.used(doc, op)})
		res.Query = b.String()
	}
	return res, nil
}

// coded gives errs the extensions.code that GraphQL servers such as Apollo
// use for a request that never ran.
func coded(errs gqlerror.List, code string) gqlerror.List {
	for _, e := range errs {
		if e.Extensions == nil {
			e.Extensions = map[string]any{}
		}
		e.Extensions["code"] = code
	}
	return errs
}

// size measures a document's operations with fragments expanded: the
// deepest nesting of fields and the number of fields (up to MaxFields+1).
// Each fragment is measured once, so spreads that spread others cannot make
// it exponential; a cycle counts as nothing (validation refuses it later).
func size(doc *ast.QueryDocument) (deepest, fields int) {
	type measure struct{ depth, fields int }
	memo := map[string]*measure{}
	var walk func(ss ast.SelectionSet) measure
	walk = func(ss ast.SelectionSet) measure {
		var m measure
		for _, sel := range ss {
			var d, n int
			switch sel := sel.(type) {
			case *ast.Field:
				sub := walk(sel.SelectionSet)
				d, n = 1+sub.depth, 1+sub.fields
			case *ast.InlineFragment:
				sub := walk(sel.SelectionSet)
				d, n = sub.depth, sub.fields
			case *ast.FragmentSpread:
				fm, ok := memo[sel.Name]
				if !ok {
					memo[sel.Name] = &measure{} // a cycle back here counts nothing
					if f := doc.Fragments.ForName(sel.Name); f != nil {
						v := walk(f.SelectionSet)
						fm = &v
						memo[sel.Name] = fm
					} else {
						fm = memo[sel.Name]
					}
				}
				d, n = fm.depth, fm.fields
			}
			m.depth = max(m.depth, d)
			m.fields = min(m.fields+n, MaxFields+1)
		}
		return m
	}
	for _, op := range doc.Operations {
		m := walk(op.SelectionSet)
		deepest, fields = max(deepest, m.depth), min(fields+m.fields, MaxFields+1)
	}
	return deepest, fields
}

// authorizer applies the rules to an operation's fields, removing those the
// rules remove; the first rejection stops it.
type authorizer struct {
	decide Decide
	res    *Result
	err    error
	done   map[*ast.FragmentDefinition]bool // fragments already authorized, in place
}

func (a *authorizer) selections(ss ast.SelectionSet, path ast.Path) ast.SelectionSet {
	kept := ss[:0]
	for _, sel := range ss {
		if a.err != nil || len(a.res.Errors) > 0 {
			return ss
		}
		switch sel := sel.(type) {
		case *ast.Field:
			if !a.field(sel, path) {
				continue
			}
		case *ast.InlineFragment:
			if sel.SelectionSet = a.selections(sel.SelectionSet, path); len(sel.SelectionSet) == 0 {
				continue
			}
		case *ast.FragmentSpread:
			f := sel.Definition
			if !a.done[f] {
				a.done[f] = true
				f.SelectionSet = a.selections(f.SelectionSet, path)
			}
			if len(f.SelectionSet) == 0 {
				continue
			}
		}
		kept = append(kept, sel)
	}
	return kept
}

// field reports whether f stays.
func (a *authorizer) field(f *ast.Field, path ast.Path) bool {
	typ := ""
	if f.ObjectDefinition != nil {
		typ = f.ObjectDefinition.Name
	}
	name := f.Alias
	if name == "" {
		name = f.Name
	}
	here := append(path[:len(path):len(path)], ast.PathName(name))
	act, err := a.decide(typ, f.Name)
	if err != nil {
		a.err = err
		return false
	}
	switch act {
	case Reject:
		a.res.Errors = gqlerror.List{errorAt(f, here, "access to %s.%s is not allowed", typ, f.Name)}
		return false
	case Remove:
		a.res.Removed = append(a.res.Removed, errorAt(f, here, "%s.%s was removed from the request: access is not allowed", typ, f.Name))
		return false
	}
	if len(f.SelectionSet) > 0 {
		if f.SelectionSet = a.selections(f.SelectionSet, here); len(f.SelectionSet) == 0 {
			return false // an object with no field left is not a valid selection
		}
	}
	return true
}

func errorAt(f *ast.Field, path ast.Path, format string, args ...any) *gqlerror.Error {
	e := gqlerror.Errorf(format, args...)
	e.Path = path
	if f.Position != nil {
		e.Locations = []gqlerror.Location{{Line: f.Position.Line, Column: f.Position.Column}}
	}
	return e
}

// used returns the fragments the kept operation still spreads, in the
// document's order: one left unspread would make the document invalid.
func (a *authorizer) used(doc *ast.QueryDocument, op *ast.OperationDefinition) ast.FragmentDefinitionList {
	spread := map[string]bool{}
	var walk func(ss ast.SelectionSet)
	walk = func(ss ast.SelectionSet) {
		for _, sel := range ss {
			switch sel := sel.(type) {
			case *ast.Field:
				walk(sel.SelectionSet)
			case *ast.InlineFragment:
				walk(sel.SelectionSet)
			case *ast.FragmentSpread:
				if !spread[sel.Name] {
					spread[sel.Name] = true
					walk(sel.Definition.SelectionSet)
				}
			}
		}
	}
	walk(op.SelectionSet)
	var out ast.FragmentDefinitionList
	for _, f := range doc.Fragments {
		if spread[f.Name] {
			out = append(out, f)
		}
	}
	return out
}

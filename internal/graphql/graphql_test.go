package graphql

import (
	"errors"
	"fmt"
	"net/url"
	"path"
	"strings"
	"testing"
)

const testSchema = `
type Query {
  missions(first: Int): [Mission!]!
  mission(id: ID!): Mission
  user(id: ID!): User
}
type Mission { id: ID!, name: String, crew: [User!]! }
type User { id: ID!, name: String, email: String, friends: [User!]! }
type Mutation { deleteUser(id: ID!): Boolean }
`

func mustSchema(t testing.TB) *Schema {
	s, err := ParseSchema("specification.graphql", []byte(testSchema))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// rules decides like validate-graphql-request's <rule path action> list.
func rules(pairs ...string) Decide {
	return func(typ, field string) (Action, error) {
		for i := 0; i < len(pairs); i += 2 {
			p := strings.Split(strings.TrimPrefix(pairs[i], "/"), "/")
			if len(p) == 1 {
				p = []string{typ, p[0]}
			}
			t, _ := path.Match(p[0], typ)
			f, _ := path.Match(p[1], field)
			if !t || !f {
				continue
			}
			switch pairs[i+1] {
			case "reject":
				return Reject, nil
			case "remove":
				return Remove, nil
			case "allow":
				return Allow, nil
			}
		}
		return Allow, nil
	}
}

func TestCheck(t *testing.T) {
	s := mustSchema(t)
	tests := []struct {
		name     string
		req      Request
		maxDepth int
		decide   Decide
		errs     string // the request errors' messages, joined with "|"
		removed  string // the removed fields' paths, joined with "|"
		query    string // the query sent on when fields were removed
	}{
		{name: "valid", req: Request{Query: `{ missions { name } }`}, maxDepth: 6},
		{name: "syntax", req: Request{Query: `{ missions { name }`}, errs: "Expected Name, found <EOF>"},
		{name: "unknown field", req: Request{Query: `{ missions { title } }`}, errs: `Cannot query field "title" on type "Mission".`},
		{name: "too deep", req: Request{Query: `{ user(id: 1) { friends { friends { friends { name } } } } }`}, maxDepth: 3, errs: "the query is 5 levels deep; at most 3 are allowed"},
		{name: "deep through a fragment", req: Request{Query: `{ user(id: 1) { ...F } } fragment F on User { friends { friends { name } } }`}, maxDepth: 3, errs: "the query is 4 levels deep; at most 3 are allowed"},
		{name: "a fragment cycle is refused, not followed forever", req: Request{Query: `{ user(id: 1) { ...A } } fragment A on User { friends { ...B } } fragment B on User { friends { ...A } }`}, maxDepth: 10,
			errs: `Cannot spread fragment "A" within itself via "B".`},
		{name: "which operation", req: Request{Query: `query A { missions { id } } query B { missions { name } }`}, errs: "the document has several operations; name one in operationName"},
		{name: "no such operation", req: Request{Query: `query A { missions { id } }`, OperationName: "B"}, errs: `the document has no operation named "B"`},
		{name: "a variable of the wrong type", req: Request{Query: `query ($n: Int) { missions(first: $n) { id } }`, Variables: map[string]any{"n": "ten"}}, errs: "cannot use string as Int"},
		{name: "introspection rejected", req: Request{Query: `{ __schema { types { name } } }`}, decide: rules("/__*", "reject"), errs: "access to Query.__schema is not allowed"},
		{name: "a mutation rejected", req: Request{Query: `mutation { deleteUser(id: 1) }`}, decide: rules("/Mutation/deleteUser", "reject"), errs: "access to Mutation.deleteUser is not allowed"},
		{name: "a field removed", req: Request{Query: `query Q { missions { id name crew { email name } } }`, OperationName: "Q"}, decide: rules("/User/email", "remove"),
			removed: "missions.crew.email", query: "query Q {\n missions {\n  id\n  name\n  crew {\n   name\n  }\n }\n}\n"},
		{name: "an object left empty goes too", req: Request{Query: `{ a: user(id: 1) { email } missions { id } }`}, decide: rules("/User/email", "remove"),
			removed: "a.email", query: "query {\n missions {\n  id\n }\n}\n"},
		{name: "a fragment left unused goes too", req: Request{Query: `{ user(id: 1) { ...F } missions { id } } fragment F on User { email }`}, decide: rules("/User/email", "remove"),
			removed: "user.email", query: "query {\n missions {\n  id\n }\n}\n"},
		{name: "everything removed", req: Request{Query: `{ user(id: 1) { email } }`}, decide: rules("/User/email", "remove"), removed: "user.email", errs: "every field of the operation was removed by an authorization rule"},
		{name: "allow wins when first", req: Request{Query: `{ user(id: 1) { email } }`}, decide: rules("/User/email", "allow", "/User/*", "reject")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Check(tt.req, tt.maxDepth, tt.decide)
			if err != nil {
				t.Fatal(err)
			}
			var errs, removed []string
			for _, e := range res.Errors {
				errs = append(errs, e.Message)
			}
			for _, e := range res.Removed {
				removed = append(removed, e.Path.String())
			}
			if got := strings.Join(errs, "|"); !strings.Contains(got, tt.errs) || (tt.errs == "") != (got == "") {
				t.Errorf("errors %q, want %q", got, tt.errs)
			}
			if got := strings.Join(removed, "|"); got != tt.removed {
				t.Errorf("removed %q, want %q", got, tt.removed)
			}
			if res.Query != tt.query {
				t.Errorf("query %q, want %q", res.Query, tt.query)
			}
		})
	}

	t.Run("an error from decide stops the check", func(t *testing.T) {
		boom := errors.New("boom")
		_, err := s.Check(Request{Query: `{ missions { id } }`}, 0, func(string, string) (Action, error) { return Allow, boom })
		if !errors.Is(err, boom) {
			t.Errorf("error %v", err)
		}
	})
}

func TestDecodeRequest(t *testing.T) {
	tests := []struct {
		name, method, contentType, query, body string
		want                                   Request
		err                                    string
	}{
		{name: "JSON", method: "POST", contentType: "application/json; charset=utf-8", body: `{"query":"{ a }","operationName":"Q","variables":{"n":1}}`, want: Request{Query: "{ a }", OperationName: "Q"}},
		{name: "GraphQL", method: "POST", contentType: "application/graphql", body: `{ a }`, want: Request{Query: "{ a }"}},
		{name: "GET", method: "GET", query: "query=%7B+a+%7D&operationName=Q&variables=%7B%22n%22%3A1%7D", want: Request{Query: "{ a }", OperationName: "Q"}},
		{name: "GET with bad variables", method: "GET", query: "query=a&variables=x", err: "the variables parameter is not a JSON object"},
		{name: "not JSON", method: "POST", contentType: "application/json", body: `query`, err: "the body is not a GraphQL request"},
		{name: "no query", method: "POST", contentType: "application/json", body: `{}`, err: "the request has no query"},
		{name: "another type", method: "POST", contentType: "text/plain", body: `{ a }`, err: `Content-Type is application/json or application/graphql, not "text/plain"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, _ := url.ParseQuery(tt.query)
			got, err := DecodeRequest(tt.method, tt.contentType, q, []byte(tt.body))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Errorf("error %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil || got.Query != tt.want.Query || got.OperationName != tt.want.OperationName {
				t.Errorf("%+v %v, want %+v", got, err, tt.want)
			}
		})
	}
}

func TestParseSchemaError(t *testing.T) {
	_, err := ParseSchema("apis/g/specification.graphql", []byte("type Query {\n  a: Nope\n}\n"))
	if err == nil || !strings.HasPrefix(err.Error(), "apis/g/specification.graphql:2:6: the GraphQL schema does not load: Undefined type Nope.") {
		t.Errorf("error %v", err)
	}
}

// TestWideQuery sends queries whose validation would cost the square of
// their fields (overlapping fields), or whose fragments multiply: they are
// refused before validation, never left to hang.
func TestWideQuery(t *testing.T) {
	s := mustSchema(t)
	var spreads strings.Builder
	spreads.WriteString("{ missions { ...F0 } }")
	for i := range 40 {
		fmt.Fprintf(&spreads, " fragment F%d on Mission { ...F%d ...F%d }", i, i+1, i+1)
	}
	spreads.WriteString(" fragment F40 on Mission { name }")
	tests := []struct{ name, query, err string }{
		{"one field a thousand times", "{ missions { " + strings.Repeat("name ", MaxFields-1) + "} }", ""},
		{"one more", "{ missions { " + strings.Repeat("name ", MaxFields) + "} }", "the query selects more than 1000 fields"},
		{"over the token limit", "{ missions { " + strings.Repeat("name ", MaxTokens) + "} }", "token"},
		{"fragments that double 40 times", spreads.String(), "the query selects more than 1000 fields"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := s.Check(Request{Query: tt.query}, 100, nil)
			if err != nil {
				t.Fatal(err)
			}
			got := ""
			if len(res.Errors) > 0 {
				got = res.Errors[0].Message
			}
			if !strings.Contains(got, tt.err) || (tt.err == "") != (got == "") {
				t.Errorf("error %q, want %q", got, tt.err)
			}
		})
	}
}

func BenchmarkCheck(b *testing.B) {
	s := mustSchema(b)
	req := Request{Query: `query Q($n: Int) { missions(first: $n) { id name crew { name email } } }`, OperationName: "Q", Variables: map[string]any{"n": 5}}
	decide := rules("/__*", "reject", "/User/email", "remove")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := s.Check(req, 6, decide); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzCheck(f *testing.F) {
	s := mustSchema(f)
	for _, q := range []string{`{ missions { name } }`, `{ user(id: 1) { ...F } } fragment F on User { friends { ...F } }`, `{ __schema { types { name } } }`, `query($a: ID!) { user(id: $a) { email } }`} {
		f.Add(q)
	}
	decide := rules("/__*", "reject", "/User/email", "remove")
	f.Fuzz(func(t *testing.T, q string) {
		res, err := s.Check(Request{Query: q}, 6, decide)
		if err != nil {
			t.Fatal(err)
		}
		if res.Query != "" {
			// What is sent on must itself be a valid request.
			again, err := s.Check(Request{Query: res.Query}, 0, nil)
			if err != nil || len(again.Errors) > 0 {
				t.Errorf("the rewritten query %q is not valid: %v %v", res.Query, err, again.Errors)
			}
		}
	})
}

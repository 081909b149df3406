package server_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"
	gqlserver "github.com/graph-gophers/graphql-go"
)

const missionsSchema = `schema { query: Query mutation: Mutation }
type Query { missions: [Mission!]! user(id: ID!): User }
type Mutation { deleteUser(id: ID!): Boolean! }
type Mission { id: ID! name: String! crew: [User!]! }
type User { id: ID! name: String! email: String! friends: [User!]! }
`

// missions resolves missionsSchema for a real GraphQL server (graph-gophers).
type missions struct{}

type mission struct{ id, name string }
type user struct{ id string }

func (*missions) Missions() []*mission {
	return []*mission{{"1", "Apollo 11"}, {"2", "Gemini 4"}}
}
func (*missions) User(args struct{ ID gqlserver.ID }) *user      { return &user{string(args.ID)} }
func (*missions) DeleteUser(args struct{ ID gqlserver.ID }) bool { return true }
func (m *mission) ID() gqlserver.ID                              { return gqlserver.ID(m.id) }
func (m *mission) Name() string                                  { return m.name }
func (m *mission) Crew() []*user                                 { return []*user{{"neil"}, {"buzz"}} }
func (u *user) ID() gqlserver.ID                                 { return gqlserver.ID(u.id) }
func (u *user) Name() string                                     { return strings.ToUpper(u.id[:1]) + u.id[1:] }
func (u *user) Email() string                                    { return u.id + "@nasa.example" }
func (u *user) Friends() []*user                                 { return []*user{{"mike"}} }

// TestGraphQL serves a GraphQL pass-through API with validate-graphql-request
// through the real server, in front of a real GraphQL server: valid requests
// (JSON, GET, application/graphql) are answered by the backend; invalid, too
// deep, too big and rejected ones get a GraphQL errors block without reaching
// it; a removed field goes to the backend without the field and comes back as
// a field error next to the backend's data.
func TestGraphQL(t *testing.T) {
	schema := gqlserver.MustParseSchema(missionsSchema, &missions{})
	var mu sync.Mutex
	var seen []string
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Query         string         `json:"query"`
			OperationName string         `json:"operationName"`
			Variables     map[string]any `json:"variables"`
		}
		body, _ := io.ReadAll(r.Body)
		switch {
		case r.Method == http.MethodGet:
			req.Query, req.OperationName = r.URL.Query().Get("query"), r.URL.Query().Get("operationName")
		case r.Header.Get("Content-Type") == "application/graphql":
			req.Query = string(body)
		default:
			if err := json.Unmarshal(body, &req); err != nil {
				http.Error(w, "not JSON", http.StatusBadRequest)
				return
			}
		}
		mu.Lock()
		seen = append(seen, strings.Join(strings.Fields(req.Query), " "))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(schema.Exec(context.Background(), req.Query, req.OperationName, req.Variables))
	}))
	t.Cleanup(backend.Close)
	take := func() []string {
		mu.Lock()
		defer mu.Unlock()
		s := seen
		seen = nil
		return s
	}

	gql := func(path string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"type":"graphql","serviceUrl":%q,"subscriptionRequired":false}}`, path, backend.URL)
	}
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/gql/apiInformation.json":   gql("gql"),
		"apis/gql/specification.graphql": missionsSchema,
		"apis/gql/policy.xml": `<policies><inbound><base />
			<validate-graphql-request error-variable-name="gql-errors" max-size="1024" max-depth="3">
				<authorize>
					<rule path="/__*" action="reject" />
					<rule path="/User/email" action="remove" />
					<rule path="/Mutation/deleteUser" action="@(context.Request.Headers.GetValueOrDefault(&quot;X-Admin&quot;, &quot;&quot;) == &quot;yes&quot; ? &quot;allow&quot; : &quot;deny&quot;)" />
				</authorize>
			</validate-graphql-request></inbound><backend><base /></backend><outbound><base /></outbound>
			<on-error><base /><set-header name="X-Error" exists-action="override"><value>@(context.LastError.Source + " " + context.LastError.Reason + " " + ((JArray)context.Variables["GraphQLErrors"]).Count + "/" + ((JArray)context.Variables["gql-errors"]).Count)</value></set-header></on-error></policies>`,
		// Microsoft's sample: a pass-through API without policies is served.
		"apis/plain/apiInformation.json":   gql("plain"),
		"apis/plain/specification.graphql": missionsSchema,
		// validate-graphql-request on an API without a schema.
		"apis/rest/apiInformation.json": fmt.Sprintf(`{"properties":{"path":"rest","serviceUrl":%q,"subscriptionRequired":false}}`, backend.URL),
		"apis/rest/policy.xml":          `<policies><inbound><validate-graphql-request max-size="100" /></inbound><backend><forward-request /></backend><outbound /><on-error><set-header name="X-Error" exists-action="override"><value>@(context.LastError.Reason)</value></set-header></on-error></policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))

	post := func(q string) string {
		b, _ := json.Marshal(map[string]string{"query": q})
		return string(b)
	}
	tests := []struct {
		name, method, path, contentType, body string
		header                                map[string]string
		status                                int
		want                                  string // the response body, JSON compared
		xError                                string
		sent                                  []string // the queries the backend executed
	}{
		{name: "a valid query", method: "POST", path: "/gql", contentType: "application/json", body: post(`{ missions { name } }`), status: 200,
			want: `{"data":{"missions":[{"name":"Apollo 11"},{"name":"Gemini 4"}]}}`, sent: []string{"{ missions { name } }"}},
		{name: "GET", method: "GET", path: "/gql?query=" + url.QueryEscape(`{ user(id: "neil") { name } }`), status: 200,
			want: `{"data":{"user":{"name":"Neil"}}}`, sent: []string{`{ user(id: "neil") { name } }`}},
		{name: "application/graphql", method: "POST", path: "/gql", contentType: "application/graphql", body: `{ missions { id } }`, status: 200,
			want: `{"data":{"missions":[{"id":"1"},{"id":"2"}]}}`, sent: []string{"{ missions { id } }"}},
		{name: "a syntax error", method: "POST", path: "/gql", contentType: "application/json", body: post(`{ missions { name }`), status: 400,
			want:   `{"errors":[{"message":"Expected Name, found \u003cEOF\u003e","locations":[{"line":1,"column":20}],"extensions":{"code":"GRAPHQL_PARSE_FAILED"}}]}`,
			xError: "validate-graphql-request GraphQLRequestError 1/1"},
		{name: "an unknown field", method: "POST", path: "/gql", contentType: "application/json", body: post(`{ missions { title } }`), status: 400,
			want:   `{"errors":[{"message":"Cannot query field \"title\" on type \"Mission\".","locations":[{"line":1,"column":14}],"extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`,
			xError: "validate-graphql-request GraphQLRequestError 1/1"},
		{name: "too deep", method: "POST", path: "/gql", contentType: "application/json", body: post(`{ user(id: "a") { friends { friends { name } } } }`), status: 400,
			want:   `{"errors":[{"message":"the query is 4 levels deep; at most 3 are allowed","extensions":{"code":"GRAPHQL_VALIDATION_FAILED"}}]}`,
			xError: "validate-graphql-request GraphQLRequestError 1/1"},
		{name: "introspection rejected", method: "POST", path: "/gql", contentType: "application/json", body: post(`{ __schema { queryType { name } } }`), status: 400,
			want:   `{"errors":[{"message":"access to Query.__schema is not allowed","path":["__schema"],"locations":[{"line":1,"column":3}]}]}`,
			xError: "validate-graphql-request GraphQLRequestError 1/1"},
		{name: "a field removed, with a field error next to the data", method: "POST", path: "/gql", contentType: "application/json",
			body: post(`{ missions { name crew { name email } } }`), status: 200,
			want: `{"data":{"missions":[{"name":"Apollo 11","crew":[{"name":"Neil"},{"name":"Buzz"}]},{"name":"Gemini 4","crew":[{"name":"Neil"},{"name":"Buzz"}]}]},` +
				`"errors":[{"message":"User.email was removed from the request: access is not allowed","path":["missions","crew","email"],"locations":[{"line":1,"column":31}]}]}`,
			sent: []string{"query { missions { name crew { name } } }"}},
		{name: "a mutation denied by an expression", method: "POST", path: "/gql", contentType: "application/json", body: post(`mutation { deleteUser(id: "neil") }`), status: 400,
			want:   `{"errors":[{"message":"access to Mutation.deleteUser is not allowed","path":["deleteUser"],"locations":[{"line":1,"column":12}]}]}`,
			xError: "validate-graphql-request GraphQLRequestError 1/1"},
		{name: "the mutation allowed", method: "POST", path: "/gql", contentType: "application/json", body: post(`mutation { deleteUser(id: "neil") }`), header: map[string]string{"X-Admin": "yes"},
			status: 200, want: `{"data":{"deleteUser":true}}`, sent: []string{`mutation { deleteUser(id: "neil") }`}},
		{name: "a body over max-size", method: "POST", path: "/gql", contentType: "application/json", body: post(`{ missions { name } }` + strings.Repeat(" ", 1100)), status: 413,
			want:   `{"errors":[{"message":"the request body is over the limit of 1024 bytes"}]}`,
			xError: "validate-graphql-request GraphQLRequestError 1/1"},
		{name: "not a GraphQL request", method: "POST", path: "/gql", contentType: "text/plain", body: `{ missions { name } }`, status: 400,
			want:   `{"errors":[{"message":"a GraphQL request's Content-Type is application/json or application/graphql, not \"text/plain\""}]}`,
			xError: "validate-graphql-request GraphQLRequestError 1/1"},
		{name: "a pass-through API without policies", method: "POST", path: "/plain", contentType: "application/json", body: post(`{ missions { crew { email } } }`), status: 200,
			want: `{"data":{"missions":[{"crew":[{"email":"neil@nasa.example"},{"email":"buzz@nasa.example"}]},{"crew":[{"email":"neil@nasa.example"},{"email":"buzz@nasa.example"}]}]}}`,
			sent: []string{"{ missions { crew { email } } }"}},
		{name: "an API without a schema", method: "POST", path: "/rest", contentType: "application/json", body: post(`{ missions { name } }`), status: 500,
			want: `{"statusCode":500,"message":"Internal server error"}`, xError: "NoGraphQLSchema"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			take()
			req, _ := http.NewRequest(tt.method, e.srv.GatewayURL()+tt.path, strings.NewReader(tt.body))
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			var got, want any
			json.Unmarshal(body, &got)
			json.Unmarshal([]byte(tt.want), &want)
			if m, ok := got.(map[string]any); ok {
				delete(m, "activityId")
			}
			if resp.StatusCode != tt.status || fmt.Sprint(got) != fmt.Sprint(want) || resp.Header.Get("X-Error") != tt.xError {
				t.Errorf("%d %s (X-Error %q)\nwant %d %s (X-Error %q)", resp.StatusCode, body, resp.Header.Get("X-Error"), tt.status, tt.want, tt.xError)
			}
			if s := take(); strings.Join(s, "\n") != strings.Join(tt.sent, "\n") {
				t.Errorf("the backend executed %q, want %q", s, tt.sent)
			}
		})
	}
}

// TestGraphQLSubscriptions tunnels a GraphQL API's WebSocket handshake
// (graphql-ws, as subscriptions use) to its backend, and refuses it where
// validate-graphql-request applies: the gateway does not read the frames, so
// no rule could hold inside them.
func TestGraphQLSubscriptions(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := websocket.Accept(w, r, &websocket.AcceptOptions{Subprotocols: []string{"graphql-transport-ws"}})
		if err != nil {
			return
		}
		defer c.CloseNow()
		for {
			typ, msg, err := c.Read(r.Context())
			if err != nil || c.Write(r.Context(), typ, msg) != nil {
				return
			}
		}
	}))
	t.Cleanup(backend.Close)
	gql := func(path string) string {
		return fmt.Sprintf(`{"properties":{"path":%q,"type":"graphql","serviceUrl":%q,"subscriptionRequired":false}}`, path, backend.URL)
	}
	cfgDir := t.TempDir()
	writeFiles(t, cfgDir, map[string]string{
		"apis/sub/apiInformation.json":       gql("sub"),
		"apis/sub/specification.graphql":     missionsSchema,
		"apis/checked/apiInformation.json":   gql("checked"),
		"apis/checked/specification.graphql": missionsSchema,
		"apis/checked/policy.xml":            `<policies><inbound><validate-graphql-request max-size="1024" /></inbound><backend><forward-request /></backend><outbound /><on-error /></policies>`,
	})
	e := start(t, cfgDir, t.TempDir(), newVerifyingBackend(t, "api://unused"))
	ws := "ws" + strings.TrimPrefix(e.srv.GatewayURL(), "http")
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()

	c, _, err := websocket.Dial(ctx, ws+"/sub", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.CloseNow()
	if c.Subprotocol() != "graphql-transport-ws" {
		t.Errorf("subprotocol %q", c.Subprotocol())
	}
	const init = `{"type":"connection_init"}`
	if err := c.Write(ctx, websocket.MessageText, []byte(init)); err != nil {
		t.Fatal(err)
	}
	if _, msg, err := c.Read(ctx); err != nil || string(msg) != init {
		t.Errorf("%q %v", msg, err)
	}

	_, resp, err := websocket.Dial(ctx, ws+"/checked", &websocket.DialOptions{Subprotocols: []string{"graphql-transport-ws"}})
	if err == nil || resp == nil || resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("a handshake under validate-graphql-request: %v %v, want 400", resp, err)
	}
	body, _ := io.ReadAll(resp.Body)
	if !strings.Contains(string(body), "GraphQL over WebSocket is not validated") {
		t.Errorf("%s", body)
	}
}

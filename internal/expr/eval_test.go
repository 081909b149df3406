package expr

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/tools/txtar"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

var update = flag.Bool("update", false, "rewrite the value sections of testdata/eval/*.txtar from what the code returns (review the diff: expected values are worked out from .NET semantics)")

// The eval tests live in testdata/eval/*.txtar. Each case NAME has:
//
//	-- NAME.expr --     the expression, "@(...)" or "@{...}"
//	-- NAME.want --     what EvalString returns, exactly (one trailing newline is dropped)
//	-- NAME.error --    instead of want: the start of the RuntimeError message
//	-- NAME.compile --  instead of want: the compile errors, as ErrorList.Format prints them
//	-- NAME.type --     optional: ResultType()
//	-- NAME.value --    optional: Eval's Go value, as goValue renders it
//	-- NAME.why --      optional: how the expected value follows from C#/.NET semantics
//	-- NAME.context --  optional: the exchange, as JSON (see fixture); default: -- context --
//
// A file-wide "-- context --" section replaces the default exchange.

func TestEval(t *testing.T) {
	files, err := filepath.Glob("testdata/eval/*.txtar")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txtar"), func(t *testing.T) {
			runEvalFile(t, file)
		})
	}
}

func runEvalFile(t *testing.T, file string) {
	ar, err := txtar.ParseFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]string{}
	var order []string
	for _, f := range ar.Files {
		sections[f.Name] = strings.TrimSuffix(string(f.Data), "\n")
		if name, ok := strings.CutSuffix(f.Name, ".expr"); ok {
			order = append(order, name)
		}
	}
	fileCtx := sections["context"]
	changed := false
	for _, name := range order {
		t.Run(name, func(t *testing.T) {
			src := sections[name+".expr"]
			ctxJSON := fileCtx
			if c, ok := sections[name+".context"]; ok {
				ctxJSON = c
			}
			p, err := Compile(src)
			if want, ok := sections[name+".compile"]; ok {
				var got string
				if err == nil {
					got = "compiled without errors"
				} else {
					got = strings.TrimSuffix(err.(ErrorList).Format("", src), "\n")
				}
				if got != want {
					if *update {
						sections[name+".compile"] = got
						changed = true
						return
					}
					t.Errorf("compile errors of\n%s\ngot:\n%s\nwant:\n%s", src, got, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("compile %s:\n%s", src, err.(ErrorList).Format("", src))
			}
			if want, ok := sections[name+".type"]; ok && p.ResultType() != want {
				t.Errorf("ResultType() = %q, want %q", p.ResultType(), want)
			}
			got, err := p.EvalString(fixture(t, ctxJSON))
			if want, ok := sections[name+".error"]; ok {
				var re *RuntimeError
				if !errors.As(err, &re) {
					t.Fatalf("EvalString = %q, %v; want a RuntimeError starting %q", got, err, want)
				}
				if !strings.HasPrefix(re.Msg, want) {
					if *update {
						sections[name+".error"] = re.Msg
						changed = true
						return
					}
					t.Errorf("error:\n got %q\nwant %q...", re.Msg, want)
				}
				return
			}
			if err != nil {
				t.Fatalf("EvalString: %v", err)
			}
			if want := sections[name+".want"]; got != want {
				if *update {
					sections[name+".want"] = got
					changed = true
				} else {
					t.Errorf("EvalString:\n got %q\nwant %q", got, want)
				}
			}
			if want, ok := sections[name+".value"]; ok {
				v, err := p.Eval(fixture(t, ctxJSON))
				if err != nil {
					t.Fatalf("Eval: %v", err)
				}
				if g := goValue(v); g != want {
					if *update {
						sections[name+".value"] = g
						changed = true
					} else {
						t.Errorf("Eval value:\n got %s\nwant %s", g, want)
					}
				}
			}
		})
	}
	if changed {
		for i, f := range ar.Files {
			ar.Files[i].Data = []byte(sections[f.Name] + "\n")
		}
		if err := os.WriteFile(file, txtar.Format(ar), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// goValue renders a Go value with its type, for the .value sections.
func goValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "nil"
	case string:
		return fmt.Sprintf("string %q", x)
	case JToken:
		return fmt.Sprintf("%T %s", v, x.JSON(false))
	case []byte:
		return fmt.Sprintf("[]byte %x", x)
	case time.Time:
		return fmt.Sprintf("time.Time %s %s", x.Format(time.RFC3339Nano), x.Location())
	case time.Duration:
		return fmt.Sprintf("time.Duration %s", x)
	case *List:
		return fmt.Sprintf("*expr.List %#v", x.Items)
	case *Jwt:
		return fmt.Sprintf("*expr.Jwt sub=%s", x.Claims["sub"])
	case Enum:
		return fmt.Sprintf("expr.Enum %s %s (%d)", x.TypeName(), x, x.Value)
	}
	return fmt.Sprintf("%T %#v", v, v)
}

// ---- the exchange fixture ----

// fixtureJSON describes an exchange. Variables take JSON strings, numbers
// (double), booleans and null as they are, and typed values as one-key objects:
// {"int": 5}, {"long": 5}, {"json": ...}, {"jwt": "..."}, {"datetime": "..."},
// {"timespan": "00:01:00"}, {"bytes": "base64"}, {"strings": [...]},
// {"response": {...}}.
type fixtureJSON struct {
	Method       string                 `json:"method"`
	URL          string                 `json:"url"`
	OriginalURL  string                 `json:"originalUrl"`
	Headers      map[string][]string    `json:"headers"`
	Body         *string                `json:"body"`
	IP           string                 `json:"ip"`
	Params       map[string]string      `json:"params"`
	Variables    map[string]any         `json:"variables"`
	Response     *fixtureResponse       `json:"response"`
	RequestID    string                 `json:"requestId"`
	Timestamp    string                 `json:"timestamp"`
	API          *exchange.API          `json:"api"`
	ServiceURL   string                 `json:"serviceUrl"`
	Operation    *exchange.Operation    `json:"operation"`
	Product      *exchange.Product      `json:"product"`
	Subscription *exchange.Subscription `json:"subscription"`
	User         *exchange.User         `json:"user"`
	Deployment   *exchange.Deployment   `json:"deployment"`
	LastError    *exchange.LastError    `json:"lastError"`
}

type fixtureResponse struct {
	Status  int                 `json:"status"`
	Reason  string              `json:"reason"`
	Headers map[string][]string `json:"headers"`
	Body    *string             `json:"body"`
}

// defaultFixture is the exchange used when a file has no context section.
const defaultFixture = `{
  "method": "POST",
  "url": "https://backend.example.com/api/orders/42?expand=items&tag=a&tag=b",
  "originalUrl": "https://gateway.example.com/orders/42?expand=items&tag=a&tag=b",
  "headers": {
    "Authorization": ["Bearer eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJ1c2VyLTEiLCJhdWQiOlsiYXBpIiwid2ViIl0sImlzcyI6Imh0dHBzOi8vaWRwLmV4YW1wbGUuY29tLyIsImV4cCI6MTcxNDU2NDgwMCwibmFtZSI6IkFkYSBMb3ZlbGFjZSIsInJvbGVzIjpbInJlYWRlciIsIndyaXRlciJdfQ.c2ln"],
    "Content-Type": ["application/json"],
    "X-Multi": ["one", "two"],
    "Cookie": ["a=1; session=abc123; theme=dark"]
  },
  "body": "{\"order\":{\"id\":42,\"items\":[{\"sku\":\"A-1\",\"qty\":2,\"price\":9.5},{\"sku\":\"B-2\",\"qty\":1,\"price\":20}],\"note\":null,\"created\":\"2024-05-01T10:00:00Z\"}}",
  "ip": "203.0.113.7",
  "params": {"id": "42", "region": "west"},
  "variables": {
    "msi-access-token": "token-value",
    "count": {"int": 5},
    "big": {"long": 5000000000},
    "ratio": 0.25,
    "flag": true,
    "nothing": null,
    "doc": {"json": {"name": "Ada", "tags": ["x", "y"], "n": 3}}
  },
  "requestId": "0f8fad5b-d9cb-469f-a165-70867728950e",
  "timestamp": "2024-05-01T12:30:45.123Z",
  "api": {"ID": "orders-api", "Name": "Orders", "Path": "orders", "Version": "v1", "IsCurrentRevision": true},
  "serviceUrl": "https://backend.example.com/api",
  "operation": {"ID": "get-order", "Method": "POST", "Name": "GetOrder", "URLTemplate": "/orders/{id}"},
  "subscription": {"ID": "sub-1", "Name": "Starter sub", "Key": "k1", "PrimaryKey": "k1", "SecondaryKey": "k2"},
  "deployment": {"GatewayID": "lastmile", "Region": "West Europe", "ServiceName": "contoso-apim"}
}`

func fixture(t testing.TB, js string) *exchange.Exchange {
	if js == "" {
		js = defaultFixture
	}
	var fx fixtureJSON
	dec := json.NewDecoder(strings.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&fx); err != nil {
		t.Fatalf("context fixture: %v", err)
	}
	x := &exchange.Exchange{RequestID: fx.RequestID, API: fx.API, Operation: fx.Operation, Product: fx.Product,
		Subscription: fx.Subscription, User: fx.User, Deployment: fx.Deployment, LastError: fx.LastError}
	if fx.Timestamp != "" {
		ts, err := time.Parse(time.RFC3339Nano, fx.Timestamp)
		if err != nil {
			t.Fatal(err)
		}
		x.Timestamp = ts
	}
	parse := func(s string) *url.URL {
		if s == "" {
			return nil
		}
		u, err := url.Parse(s)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	x.Request = exchange.Request{Method: fx.Method, URL: parse(fx.URL), OriginalURL: parse(fx.OriginalURL), IPAddress: fx.IP, MatchedParameters: fx.Params}
	x.Request.Headers = http.Header{}
	for k, vs := range fx.Headers {
		x.Request.Headers[http.CanonicalHeaderKey(k)] = vs
	}
	if fx.Body != nil {
		x.Request.Body = exchange.NewBytesBody([]byte(*fx.Body))
	}
	if x.API != nil && fx.ServiceURL != "" {
		x.API.ServiceURL = parse(fx.ServiceURL)
	}
	if fx.Response != nil {
		x.Response = fixtureResp(fx.Response)
	}
	for k, v := range fx.Variables {
		x.SetVar(k, fixtureVar(t, v))
	}
	return x
}

func fixtureResp(r *fixtureResponse) *exchange.Response {
	resp := &exchange.Response{StatusCode: r.Status, StatusReason: r.Reason, Headers: http.Header{}}
	for k, vs := range r.Headers {
		resp.Headers[http.CanonicalHeaderKey(k)] = vs
	}
	if r.Body != nil {
		resp.Body = exchange.NewBytesBody([]byte(*r.Body))
	}
	return resp
}

func fixtureVar(t testing.TB, v any) any {
	m, ok := v.(map[string]any)
	if !ok {
		return v // string, float64 (double), bool, nil
	}
	if len(m) != 1 {
		t.Fatalf("typed variable %v must have one key", m)
	}
	for k, val := range m {
		switch k {
		case "int":
			return int32(val.(float64))
		case "long":
			return int64(val.(float64))
		case "json":
			b, _ := json.Marshal(val)
			tok, err := ParseJToken(string(b))
			if err != nil {
				t.Fatal(err)
			}
			return tok
		case "jwt":
			j, err := ParseJwt(val.(string))
			if err != nil {
				t.Fatal(err)
			}
			return j
		case "datetime":
			ts, err := time.Parse(time.RFC3339Nano, val.(string))
			if err != nil {
				t.Fatal(err)
			}
			return ts.UTC()
		case "timespan":
			d, ok := parseTimeSpan(val.(string))
			if !ok {
				t.Fatalf("bad timespan %v", val)
			}
			return d
		case "bytes":
			b, err := base64.StdEncoding.DecodeString(val.(string))
			if err != nil {
				t.Fatal(err)
			}
			return b
		case "strings":
			var out []string
			for _, s := range val.([]any) {
				out = append(out, s.(string))
			}
			return out
		case "response":
			b, _ := json.Marshal(val)
			var r fixtureResponse
			if err := json.NewDecoder(bytes.NewReader(b)).Decode(&r); err != nil {
				t.Fatal(err)
			}
			return fixtureResp(&r)
		}
		t.Fatalf("unknown typed variable %q", k)
	}
	return nil
}

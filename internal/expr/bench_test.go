package expr

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

func benchExchange() *exchange.Exchange {
	u, _ := url.Parse("https://backend.example.com/api/orders/42?expand=items")
	return &exchange.Exchange{
		RequestID: "0f8fad5b-d9cb-469f-a165-70867728950e",
		Timestamp: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC),
		Request: exchange.Request{
			Method: "GET", URL: u, OriginalURL: u,
			Headers: http.Header{"X": {"value"}, "Authorization": {"Bearer abc.def.ghi"}, "Accept": {"application/json"}},
		},
		Variables: map[string]any{"msi-access-token": "eyJ0eXAiOiJKV1QiLCJhbGciOiJSUzI1NiJ9.e30.c2ln"},
	}
}

var benchCases = []struct{ name, src string }{
	{"header", `@(context.Request.Headers.GetValueOrDefault("x",""))`},
	{"bearer", `@("Bearer " + (string)context.Variables["msi-access-token"])`},
	{"block-jobject", `@{
		var body = new JObject();
		body["id"] = context.RequestId.ToString();
		body["method"] = context.Request.Method;
		body["path"] = context.Request.Url.Path;
		var items = new JArray();
		items.Add("a");
		items.Add(2);
		body["items"] = items;
		var copy = JObject.Parse(body.ToString(Newtonsoft.Json.Formatting.None));
		return (string)copy["method"] + ":" + copy["items"].Count();
	}`},
}

func BenchmarkEval(b *testing.B) {
	x := benchExchange()
	for _, bc := range benchCases {
		p, err := Compile(bc.src)
		if err != nil {
			b.Fatalf("%s: %v", bc.name, err)
		}
		b.Run(bc.name+"/Eval", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.Eval(x); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(bc.name+"/EvalString", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := p.EvalString(x); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := Compile(bc.src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

var sinkString string

// BenchmarkBaseline is hand-written Go doing what the header and bearer cases do,
// to read the Eval figures against on a busy machine.
func BenchmarkBaseline(b *testing.B) {
	x := benchExchange()
	b.Run("header", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			vs := x.Request.Headers["X"]
			if len(vs) == 1 {
				sinkString = vs[0]
			}
		}
	})
	b.Run("bearer", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			s, _ := x.Variables["msi-access-token"].(string)
			sinkString = "Bearer " + s
		}
	})
}

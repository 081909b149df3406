package expr

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

// TestEvalGoValues checks the Go representation of values that set-variable
// stores: the mapping documented in docs/expressions.md.
func TestEvalGoValues(t *testing.T) {
	resp := &exchange.Response{StatusCode: 200}
	x := fixture(t, "")
	x.SetVar("resp", resp)
	tests := []struct {
		name, src string
		want      any
	}{
		{"string", `@("a" + "b")`, "ab"},
		{"null string", `@(context.Variables.GetValueOrDefault<string>("missing"))`, nil},
		{"null literal", `@(null)`, nil},
		{"bool", `@(1 < 2)`, true},
		{"int", `@(1 + 2)`, int32(3)},
		{"long", `@(5000000000)`, int64(5000000000)},
		{"uint", `@(2147483648)`, uint32(2147483648)},
		{"byte", `@((byte)7)`, uint8(7)},
		{"short", `@((short)-7)`, int16(-7)},
		{"char", `@('x')`, Char('x')},
		{"double", `@(1.5)`, 1.5},
		{"float", `@(1.5f)`, float32(1.5)},
		{"decimal", `@(2.5m)`, NewDecimal(25, 1)},
		{"decimal keeps its scale", `@(1.10m + 1)`, NewDecimal(210, 2)},
		{"datetime", `@(new DateTime(2024, 1, 2, 3, 4, 5, DateTimeKind.Utc))`, time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)},
		{"timespan", `@(TimeSpan.FromSeconds(90))`, 90 * time.Second},
		{"guid", `@(Guid.Parse("0f8fad5b-d9cb-469f-a165-70867728950e"))`, Guid{0x0f, 0x8f, 0xad, 0x5b, 0xd9, 0xcb, 0x46, 0x9f, 0xa1, 0x65, 0x70, 0x86, 0x77, 0x28, 0x95, 0x0e}},
		{"bytes", `@(Encoding.UTF8.GetBytes("hi"))`, []byte("hi")},
		{"strings", `@("a,b".Split(','))`, []string{"a", "b"}},
		{"ints", `@(new[] { 1, 2 })`, []int32{1, 2}},
		{"response passes through", `@(context.Variables["resp"])`, resp},
		{"nullable null", `@((int?)null)`, nil},
		{"nullable value", `@((int?)5)`, int32(5)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := mustCompile(t, tt.src)
			got, err := p.Eval(x)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, got, cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) && a.Location() == b.Location() }),
				cmp.Comparer(func(a, b *exchange.Response) bool { return a == b }), // the very response
				cmp.Comparer(func(a, b Decimal) bool { return a == b })); diff != "" {
				t.Errorf("Eval(%s) mismatch (-want +got):\n%s", tt.src, diff)
			}
		})
	}
	t.Run("jobject", func(t *testing.T) {
		v, err := mustCompile(t, `@(JObject.Parse("{\"a\":[1,2]}"))`).Eval(x)
		if err != nil {
			t.Fatal(err)
		}
		o, ok := v.(*JObject)
		if !ok || o.JSON(false) != `{"a":[1,2]}` {
			t.Errorf("got %#v, want *JObject {\"a\":[1,2]}", v)
		}
	})
	t.Run("jwt", func(t *testing.T) {
		v, err := mustCompile(t, `@(context.Request.Headers.GetValueOrDefault("Authorization").AsJwt())`).Eval(x)
		if err != nil {
			t.Fatal(err)
		}
		if j, ok := v.(*Jwt); !ok || j.Claims["sub"][0] != "user-1" {
			t.Errorf("got %#v, want *Jwt with sub user-1", v)
		}
	})
}

// TestVariablesRoundTrip stores Eval results the way set-variable does and reads
// them back with casts, as later policies do.
func TestVariablesRoundTrip(t *testing.T) {
	x := fixture(t, "")
	set := func(name, src string) {
		t.Helper()
		v, err := mustCompile(t, src).Eval(x)
		if err != nil {
			t.Fatal(err)
		}
		x.SetVar(name, v)
	}
	set("n", `@(21)`)
	set("when", `@(new DateTime(2024, 5, 1, 0, 0, 0, DateTimeKind.Utc))`)
	set("obj", `@(new JObject(new JProperty("k", "v")))`)
	set("list", `@("a b c".Split(' '))`)
	set("literal", "@(\"42\")")
	got, err := mustCompile(t, `@((int)context.Variables["n"] * 2 + "|" + ((DateTime)context.Variables["when"]).AddDays(1).ToString("yyyy-MM-dd") + "|" + (string)((JObject)context.Variables["obj"])["k"] + "|" + ((string[])context.Variables["list"]).Length + "|" + int.Parse((string)context.Variables["literal"]))`).EvalString(x)
	if err != nil {
		t.Fatal(err)
	}
	if want := "42|2024-05-02|v|3|42"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	// Go code may store a Go int: (int) accepts it.
	x.SetVar("goint", 7)
	if got, err := mustCompile(t, `@((int)context.Variables["goint"] + 1)`).EvalString(x); err != nil || got != "8" {
		t.Errorf("(int) of a Go int: got %q, %v; want 8", got, err)
	}
}

func TestEvalBool(t *testing.T) {
	x := fixture(t, "")
	for _, tt := range []struct {
		src  string
		want bool
		err  string
	}{
		{`@(context.Request.Method == "POST")`, true, ""},
		{`@(context.Variables.ContainsKey("nope"))`, false, ""},
		{`@(context.Variables["flag"])`, true, ""},
		{`@(context.Variables["count"])`, false, "InvalidCastException: a condition must be a bool; the expression returned a value of type System.Int32"},
		{`@{ return context.Variables.ContainsKey("count"); }`, true, ""},
	} {
		got, err := mustCompile(t, tt.src).EvalBool(x)
		if tt.err != "" {
			if err == nil || !strings.HasPrefix(err.Error(), tt.err) {
				t.Errorf("EvalBool(%s) error = %v, want %q", tt.src, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("EvalBool(%s) = %v, %v; want %v", tt.src, got, err, tt.want)
		}
	}
}

func TestExpect(t *testing.T) {
	for _, tt := range []struct {
		src, want, err string
	}{
		{`@(context.Request.Method == "GET")`, "bool", ""},
		{`@(context.Request.Method)`, "bool", "the expression is a string; a bool is needed here"},
		{`@(context.Variables["flag"])`, "bool", ""},
		{`@((short)200)`, "int", ""},
		{`@(200L)`, "int", "the expression is a long; an int is needed here"},
		{`@{ context.Trace("x"); return 1; }`, "int", ""},
	} {
		_, err := Compile(tt.src, Expect(tt.want))
		switch {
		case tt.err == "" && err != nil:
			t.Errorf("Compile(%s, Expect(%s)): %v", tt.src, tt.want, err)
		case tt.err != "" && (err == nil || !strings.Contains(err.Error(), tt.err)):
			t.Errorf("Compile(%s, Expect(%s)) = %v, want %q", tt.src, tt.want, err, tt.err)
		}
	}
}

func TestResultType(t *testing.T) {
	for src, want := range map[string]string{
		`@("x")`:                                "string",
		`@(1)`:                                  "int",
		`@(context.Request.Body.As<JObject>())`: "JObject",
		`@(context.Variables["x"])`:             "object",
		`@("a".Split(','))`:                     "string[]",
		`@{ return new List<int>(); }`:          "List<int>",
		`@(context.RequestId)`:                  "Guid",
	} {
		if got := mustCompile(t, src).ResultType(); got != want {
			t.Errorf("ResultType(%s) = %q, want %q", src, got, want)
		}
	}
}

func TestRuntimeError(t *testing.T) {
	x := fixture(t, "")
	p := mustCompile(t, "@{\n  var s = context.Variables.GetValueOrDefault<string>(\"missing\");\n  return s.Length;\n}")
	_, err := p.Eval(x)
	var re *RuntimeError
	if !errors.As(err, &re) {
		t.Fatalf("got %T %v, want *RuntimeError", err, err)
	}
	if re.Type != "NullReferenceException" || re.Offset != strings.Index(p.Source(), "Length") {
		t.Errorf("got type %q offset %d, want NullReferenceException at %d", re.Type, re.Offset, strings.Index(p.Source(), "Length"))
	}
	if want := "NullReferenceException: Object reference not set to an instance of an object: s is null at 3:12"; re.Msg != want {
		t.Errorf("message:\n got %q\nwant %q", re.Msg, want)
	}
	// body errors wrap the exchange's sentinel
	q := mustCompile(t, `@(context.Request.Body.As<string>() + context.Request.Body.As<string>())`)
	_, err = q.Eval(fixture(t, ""))
	if !errors.Is(err, exchange.ErrBodyConsumed) {
		t.Errorf("second read: got %v, want an error wrapping exchange.ErrBodyConsumed", err)
	}
}

// TestErrorsHideValues makes sure runtime error messages name things but never
// show the values of variables, headers or tokens.
func TestErrorsHideValues(t *testing.T) {
	const secret = "s3cr3t-T0KEN"
	x := fixture(t, "")
	x.SetVar("token", secret)
	x.Request.Headers.Set("X-Secret", secret)
	for _, src := range []string{
		`@((int)context.Variables["token"])`,
		`@(int.Parse((string)context.Variables["token"]))`,
		`@(long.Parse(context.Request.Headers.GetValueOrDefault("X-Secret")))`,
		`@(Convert.FromBase64String((string)context.Variables["token"]))`,
		`@(Guid.Parse((string)context.Variables["token"]))`,
		`@(JObject.Parse((string)context.Variables["token"]))`,
		`@(DateTime.Parse((string)context.Variables["token"]))`,
		`@(bool.Parse((string)context.Variables["token"]))`,
		`@(((string)context.Variables["token"]).Substring(100))`,
		`@(new Uri((string)context.Variables["token"]))`,
		`@(Regex.IsMatch("x", (string)context.Variables["token"] + "("))`,
		`@(TimeSpan.Parse((string)context.Variables["token"]))`,
		`@(((string)context.Variables["token"]).AsJwt().Subject)`,
		`@(XDocument.Parse((string)context.Variables["token"]))`,
		`@("s3cr3t-T0KEN".Foo)`,
	} {
		p, err := Compile(src)
		if err != nil {
			if strings.Contains(err.Error(), secret) {
				t.Errorf("compile error of %s shows the secret: %v", src, err)
			}
			continue
		}
		_, err = p.Eval(x)
		if err == nil {
			t.Errorf("%s: no error", src)
			continue
		}
		if strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error shows the secret: %v", src, err)
		}
	}
}

func TestLimits(t *testing.T) {
	x := fixture(t, "")
	loop := `@{ var n = 0; for (var i = 0; i < 1000; i++) { n++; } return n; }`
	if v, err := mustCompile(t, loop).EvalString(x); err != nil || v != "1000" {
		t.Fatalf("default limits: %q, %v", v, err)
	}
	p, err := Compile(loop, WithLimits(Limits{Steps: 100}))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Eval(x); err == nil || !strings.Contains(err.Error(), "budget of 100 steps") {
		t.Errorf("step budget: got %v", err)
	}
	p, _ = Compile(`@(new string('x', 5000).Length)`, WithLimits(Limits{Alloc: 1000}))
	if _, err := p.Eval(x); err == nil || !strings.Contains(err.Error(), "allocation budget of 1000 bytes") {
		t.Errorf("alloc budget: got %v", err)
	}
	p, _ = Compile(`@{ int F(int n) { return n == 0 ? 0 : 1 + F(n - 1); } return F(10); }`, WithLimits(Limits{Recursion: 5}))
	if _, err := p.Eval(x); err == nil || !strings.Contains(err.Error(), "recursion limit of 5") {
		t.Errorf("recursion limit: got %v", err)
	}
	wide := "@(new[] {" + strings.Repeat("1, ", 600) + "1})"
	if _, err := Compile(wide, WithLimits(Limits{Nodes: 500})); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("node limit: got %v", err)
	}
	deep := "@(" + strings.Repeat("(", 300) + "1" + strings.Repeat(")", 300) + ")"
	if _, err := Compile(deep); err == nil || !strings.Contains(err.Error(), "nested too deeply (more than 200 levels)") {
		t.Errorf("depth limit: got %v", err)
	}
	unary := "@(" + strings.Repeat("- ", 300) + "1)"
	if _, err := Compile(unary); err == nil || !strings.Contains(err.Error(), "nested too deeply (more than 200 levels)") {
		t.Errorf("depth limit of unary operators: got %v", err)
	}
	// the budget is per evaluation: a program that used most of it works again
	// (the loop takes about 2000 steps: an iteration and the statement of its
	// body are a step each)
	p, _ = Compile(loop, WithLimits(Limits{Steps: 2500}))
	for range 3 {
		if v, err := p.EvalString(x); err != nil || v != "1000" {
			t.Fatalf("second evaluation: %q, %v", v, err)
		}
	}
}

// TestLongChains: a flat chain of binary operators is not nesting, however
// long (C# compiles thousands of terms); the parser, the checker and the
// evaluator go through it without the depth limit.
func TestLongChains(t *testing.T) {
	const n = 5000
	chain := func(term, op string) string { return strings.Repeat(term+" "+op+" ", n-1) + term }
	for _, tc := range []struct{ name, src, want string }{
		{"string literals", `@((` + chain(`"a"`, "+") + `).Length)`, "5000"},
		{"string variables", `@{ var s = "a"; return (` + chain("s", "+") + `).Length; }`, "5000"},
		{"ints", `@{ var x = 1; return ` + chain("x", "+") + `; }`, "5000"},
		{"minus", `@{ var x = 1; return ` + chain("x", "-") + `; }`, "-4998"},
		{"times", `@{ var x = 1L; return ` + chain("x", "*") + `; }`, "1"},
		{"and", `@{ var b = true; return ` + chain("b", "&&") + `; }`, "True"},
		{"or", `@{ var b = false; return ` + chain("b", "||") + ` || true; }`, "True"},
		{"coalesce", `@{ string s = null; return ` + chain("s", "??") + ` ?? "end"; }`, "end"},
		{"coalesce nullable", `@{ int? x = null; return ` + chain("x", "??") + ` ?? 7; }`, "7"},
		{"mixed", `@{ var x = 2; return ` + strings.Repeat("x * x + ", 3000) + `0; }`, "12000"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := Compile(tc.src)
			if err != nil {
				t.Fatalf("compile: %v", err)
			}
			got, err := p.EvalString(nil)
			if err != nil || got != tc.want {
				t.Errorf("got %q, %v; want %s", got, err, tc.want)
			}
		})
	}
	// the size limit still applies
	if _, err := Compile(`@{ var x = 1; return `+chain("x", "+")+`; }`, WithLimits(Limits{Nodes: 2000})); err == nil || !strings.Contains(err.Error(), "too large") {
		t.Errorf("node limit on a chain: got %v", err)
	}
	// an operand of a chain that nests is still nested
	deep := "@(1 + " + strings.Repeat("(1 + ", 300) + "1" + strings.Repeat(")", 300) + ")"
	if _, err := Compile(deep); err == nil || !strings.Contains(err.Error(), "nested too deeply") {
		t.Errorf("nested operands: got %v", err)
	}
}

// TestConcurrentEval evaluates one program from many goroutines (run with -race).
func TestConcurrentEval(t *testing.T) {
	p := mustCompile(t, `@{
		var total = 0;
		foreach (var part in context.Request.Headers.GetValueOrDefault("X-Parts", "").Split(',')) { total += int.Parse(part); }
		var o = new JObject(new JProperty("sum", total));
		return (int)o["sum"] + (int)context.Variables["base"];
	}`)
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 200 {
				x := &exchange.Exchange{Request: exchange.Request{Headers: http.Header{"X-Parts": {fmt.Sprintf("%d,%d", g, i)}}}}
				x.SetVar("base", int32(1000))
				got, err := p.EvalString(x)
				if want := fmt.Sprint(1000 + g + i); err != nil || got != want {
					errs <- fmt.Errorf("goroutine %d iteration %d: got %q, %v; want %s", g, i, got, err, want)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestNilExchange(t *testing.T) {
	p := mustCompile(t, `@(context.Request.Method)`)
	if _, err := p.Eval(nil); err == nil {
		t.Error("Eval(nil) of a context access: no error")
	}
	q := mustCompile(t, `@(1 + 1)`)
	if v, err := q.EvalString(nil); err != nil || v != "2" {
		t.Errorf("Eval(nil) of a constant: %q, %v", v, err)
	}
}

func TestErrorListFormat(t *testing.T) {
	src := "@{\n\tvar x = contxt.Request;\n\treturn x;\n}"
	_, err := Compile(src)
	got := err.(ErrorList).Format("policy.xml", src)
	want := "policy.xml:2:10: unknown name \"contxt\"; did you mean \"context\"?\n    \tvar x = contxt.Request;\n    \t        ^\n"
	if got != want {
		t.Errorf("Format:\n got %q\nwant %q", got, want)
	}
}

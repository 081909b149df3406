package expr

import (
	"errors"
	"runtime"
	"strings"
	"testing"
)

// allocated returns the bytes the Go heap allocated while fn ran. It reads
// runtime.MemStats.TotalAlloc, a cumulative, process-wide count of allocated
// bytes: ReadMemStats stops the world and flushes every P's allocation cache
// first, so the difference is exact for fn as long as nothing else allocates
// meanwhile (callers do not run in parallel; the test framework's own
// goroutines allocate a few hundred bytes at most). It counts what fn
// allocated, not what it kept, which is what the allocation budget counts too.
// testing.AllocsPerRun counts allocations, not bytes, and a heap profile
// samples: neither can bound bytes.
func allocated(fn func()) uint64 {
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	fn()
	runtime.ReadMemStats(&after)
	return after.TotalAlloc - before.TotalAlloc
}

// The property the budgets promise, for the tests below and FuzzEvalBudget:
// whatever an expression does, one evaluation allocates at most allocFactor
// times its allocation budget, plus stepBytes for each step it took, plus
// fixedBytes. Library code charges what it allocates before it allocates it;
// slices and builders may allocate up to twice what they hold while they grow;
// and the fixed-size objects of one library call or statement (a Random, a
// hash, a decoder's buffers, boxed numbers) are covered by the step that call
// or statement is charged.
const (
	allocFactor = 4
	stepBytes   = 2 << 10
	fixedBytes  = 256 << 10
)

func budgetBound(l Limits, steps int64) uint64 {
	return uint64(allocFactor*l.Alloc + stepBytes*steps + fixedBytes)
}

// measured is one evaluation: its result, the steps it took and the bytes it
// allocated.
type measured struct {
	v     string
	err   error
	steps int64
	bytes uint64
}

// evalMeasured compiles src with limits and evaluates it once to warm the
// program's frame pool, then again while measuring its allocation.
func evalMeasured(t testing.TB, src string, l Limits) measured {
	t.Helper()
	p, err := Compile(src, WithLimits(l))
	if err != nil {
		t.Fatalf("%s:\n%s", src, err.(ErrorList).Format("", src))
	}
	p.evalString(fixture(t, ""))
	x := fixture(t, "")
	var m measured
	m.bytes = allocated(func() { m.v, m.steps, m.err = p.evalString(x) })
	return m
}

// TestBudgetsRefuseBeforeAllocating drives each library function whose work
// grows with its input or its arguments past a small budget: the evaluation
// fails with the budget error, and the memory it allocated before failing stays
// within the property's bound (a function that allocates first and charges
// afterwards, or not at all, allocates tens of megabytes here). The same
// function with normal sizes works under the default limits.
func TestBudgetsRefuseBeforeAllocating(t *testing.T) {
	small := Limits{Alloc: 1 << 20}
	for _, tc := range []struct {
		name   string
		huge   string // fails under small
		budget string // "allocation" or "steps"
		normal string // works under the default limits
		want   string
	}{
		{"new string", `@(new string('a', 20000000).Length)`, "allocation", `@(new string('a', 3))`, "aaa"},
		{"ToCharArray", `@(new string('a', 200000).ToCharArray().Length)`, "allocation", `@(new string("abc".ToCharArray()))`, "abc"},
		{"PadLeft", `@("a".PadLeft(20000000).Length)`, "allocation", `@("7".PadLeft(3, '0'))`, "007"},
		{"PadRight", `@("a".PadRight(20000000, 'é').Length)`, "allocation", `@("a".PadRight(3, '.'))`, "a.."},
		{"Replace", `@(new string('a', 100000).Replace("a", "bbbbbbbbbbbbbbbbbbbbbbbbbbb").Length)`, "allocation",
			`@("a-b".Replace("-", "--"))`, "a--b"},
		{"Replace ignoring case", `@(new string('a', 100000).Replace("A", "bbbbbbbbbbbbbbbbbbbb", StringComparison.OrdinalIgnoreCase).Length)`, "allocation",
			`@("aXa".Replace("x", "y", StringComparison.OrdinalIgnoreCase))`, "aya"},
		{"Split", `@(new string(',', 500000).Split(',').Length)`, "allocation", `@("a,b,,c".Split(',').Length)`, "4"},
		{"Join", `@(string.Join(",", Enumerable.Repeat("aaaaaaaaaa", 300000)).Length)`, "allocation",
			`@(string.Join("-", new[] {"a", "b"}))`, "a-b"},
		{"Concat", `@(string.Concat(Enumerable.Repeat("aaaaaaaaaa", 300000)).Length)`, "allocation", `@(string.Concat("a", "b", "c"))`, "abc"},
		{"concatenation in a loop", `@{ var s = "x"; for (var i = 0; i < 40; i++) { s = s + s; } return s.Length; }`, "allocation",
			`@{ var s = "x"; for (var i = 0; i < 3; i++) { s = s + s; } return s; }`, "xxxxxxxx"},
		{"interpolation alignment", `@($"{1,20000000}".Length)`, "allocation", `@($"[{1,3}]")`, "[  1]"},
		{"Format alignment", `@(string.Format("{0,20000000}", 1).Length)`, "allocation", `@(string.Format("{0,-3}|", 1))`, "1  |"},
		{"ToString precision", `@(5.ToString("D20000000").Length)`, "allocation", `@(5.ToString("D3"))`, "005"},
		{"double ToString precision", `@(1.5.ToString("F99999999").Length)`, "allocation", `@(1.5.ToString("F2"))`, "1.50"},
		{"StringBuilder Append repeat", `@(new StringBuilder().Append('x', 20000000).Length)`, "allocation",
			`@(new StringBuilder().Append('x', 3).ToString())`, "xxx"},
		{"StringBuilder Length", `@{ var b = new StringBuilder(); b.Length = 20000000; return b.Length; }`, "allocation",
			`@{ var b = new StringBuilder("abc"); b.Length = 1; return b.ToString(); }`, "a"},
		{"StringBuilder ToString in a loop", `@{ var b = new StringBuilder(new string('a', 100000)); var n = 0; for (var i = 0; i < 1000; i++) { n += b.ToString().Length; } return n; }`, "allocation",
			`@(new StringBuilder("a").Append(1).ToString())`, "a1"},
		{"Encoding GetBytes", `@(Encoding.Unicode.GetBytes(new string('a', 300000)).Length)`, "allocation", `@(Encoding.UTF8.GetBytes("é").Length)`, "2"},
		{"Encoding GetString", `@(Encoding.UTF8.GetString(new byte[300000]).Length)`, "allocation", `@(Encoding.UTF8.GetString(new byte[] {104, 105}))`, "hi"},
		{"ToBase64String", `@(Convert.ToBase64String(new byte[700000]).Length)`, "allocation", `@(Convert.ToBase64String(new byte[] {1, 2}))`, "AQI="},
		{"BitConverter.ToString", `@(BitConverter.ToString(new byte[400000]).Length)`, "allocation", `@(BitConverter.ToString(new byte[] {10, 255}))`, "0A-FF"},
		{"new array", `@(new int[100000000].Length)`, "allocation", `@(new int[3].Length)`, "3"},
		{"Enumerable.Range ToArray", `@(Enumerable.Range(0, int.MaxValue).ToArray().Length)`, "allocation", `@(Enumerable.Range(1, 5).Sum())`, "15"},
		{"Enumerable.Repeat ToList", `@(Enumerable.Repeat("a", int.MaxValue).ToList().Count)`, "allocation",
			`@(string.Join(",", Enumerable.Repeat("a", 3)))`, "a,a,a"},
		{"Select with index", `@(new string('a', 200000).Select((x, i) => i).Count())`, "allocation",
			`@(string.Join(",", new[] {"a", "b"}.Select((x, i) => x + i)))`, "a0,b1"},
		{"Where", `@(Enumerable.Range(0, 200000).Where(x => true).Count())`, "allocation", `@(new[] {1, 2, 3}.Where(x => x > 1).Count())`, "2"},
		{"OrderBy", `@(Enumerable.Range(0, 60000).OrderBy(x => -x).First())`, "allocation", `@(new[] {3, 1, 2}.OrderBy(x => x).First())`, "1"},
		{"Distinct", `@(Enumerable.Range(0, 60000).Distinct().Count())`, "allocation", `@(new[] {1, 1, 2}.Distinct().Count())`, "2"},
		{"ToDictionary", `@(Enumerable.Range(0, 60000).ToDictionary(x => x).Count)`, "allocation", `@(new[] {1, 2}.ToDictionary(x => x)[2])`, "2"},
		{"List.Add in a loop", `@{ var l = new List<int>(); for (var i = 0; i < 40000; i++) { l.Add(i); } return l.Count; }`, "allocation",
			`@{ var l = new List<int> { 1 }; l.Add(2); return l.Count; }`, "2"},
		{"HashSet.Add in a loop", `@{ var h = new HashSet<int>(); for (var i = 0; i < 40000; i++) { h.Add(i); } return h.Count; }`, "allocation",
			`@{ var h = new HashSet<int>(); h.Add(1); h.Add(1); return h.Count; }`, "1"},
		{"Dictionary indexer in a loop", `@{ var d = new Dictionary<int, int>(); for (var i = 0; i < 40000; i++) { d[i] = i; } return d.Count; }`, "allocation",
			`@{ var d = new Dictionary<string, int>(); d["a"] = 1; d["a"] = 2; return d["a"]; }`, "2"},
		{"JSON parse", `@(JArray.Parse("[" + string.Join(",", Enumerable.Repeat("1", 60000)) + "]").Count)`, "allocation",
			`@(JArray.Parse("[1,2]").Count)`, "2"},
		{"JSON clone doubling", `@{ var a = new JArray(1); for (var i = 0; i < 40; i++) { a = new JArray(a, a); } return a.Count; }`, "allocation",
			`@{ var a = new JArray(1); a = new JArray(a, a); return a.ToString(Newtonsoft.Json.Formatting.None); }`, "[[1],[1]]"},
		{"JSON indented nesting", `@{ JToken a = new JArray(); for (var i = 0; i < 3000; i++) { a = new JArray(a); } return a.ToString().Length; }`, "allocation",
			`@(new JArray(new JArray()).ToString(Newtonsoft.Json.Formatting.None))`, "[[]]"},
		{"JsonConvert.SerializeObject", `@(JsonConvert.SerializeObject(Enumerable.Repeat(new string('a', 1000), 2000)).Length)`, "allocation",
			`@(JsonConvert.SerializeObject(new[] {1, 2}))`, "[1,2]"},
		{"JSON added to itself", `@{ var a = new JArray(); for (var i = 0; i < 40; i++) { a.Add(a); } return a.Count; }`, "allocation",
			`@{ var a = new JArray(); a.Add(a); return a.ToString(Newtonsoft.Json.Formatting.None); }`, "[[]]"},
		{"XML parse", `@(XElement.Parse("<r>" + string.Concat(Enumerable.Repeat("<a/>", 60000)) + "</r>").Elements().Count())`, "allocation",
			`@(XElement.Parse("<r><a/><a/></r>").Elements().Count())`, "2"},
		{"XML clone doubling", `@{ var e = new XElement("a"); for (var i = 0; i < 40; i++) { e = new XElement("a", e, e); } return e.Elements().Count(); }`, "allocation",
			`@(new XElement("a", new XElement("b")).ToString())`, "<a>\n  <b />\n</a>"},
		{"XML added to itself", `@{ var e = new XElement("a"); for (var i = 0; i < 40; i++) { e.Add(e); } return e.Elements().Count(); }`, "allocation",
			`@{ var e = new XElement("a"); e.Add(e); return e.ToString(); }`, "<a>\n  <a />\n</a>"},
		{"Regex.Matches", `@(Regex.Matches(new string('a', 200000), "a").Count)`, "allocation", `@(Regex.Matches("abab", "a").Count)`, "2"},
		{"Regex.Replace with $_", `@(Regex.Replace(new string('a', 3000), "a", "$_").Length)`, "allocation", `@(Regex.Replace("ab", "b", "[$_]"))`, "a[ab]"},
		{"Regex.Split", `@(Regex.Split(new string(',', 200000), ",").Length)`, "allocation", `@(Regex.Split("a,b", ",").Length)`, "2"},
		{"Regex built at run time", `@(new Regex(string.Concat(Enumerable.Repeat("a{1000}", 20 * context.Request.Method.Length))).IsMatch("b"))`, "allocation",
			`@(new Regex("^" + context.Request.Method + "$").IsMatch("POST"))`, "True"},
		{"Uri", `@(new Uri("https://example.com/" + new string('a', 300000)).AbsoluteUri.Length)`, "allocation",
			`@(new Uri("https://example.com/a?b=c").PathAndQuery)`, "/a?b=c"},
		{"HtmlEncode", `@(WebUtility.HtmlEncode(new string('<', 200000)).Length)`, "allocation", `@(WebUtility.HtmlEncode("<a>"))`, "&lt;a&gt;"},
		{"AsJwt", `@(("e30." + Convert.ToBase64String(Encoding.UTF8.GetBytes("{\"a\":[" + string.Join(",", Enumerable.Repeat("1", 40000)) + "]}")).TrimEnd('=') + ".c2ln").AsJwt().Claims.Count)`, "allocation",
			`@(context.Request.Headers.GetValueOrDefault("Authorization").AsJwt().Subject)`, "user-1"},
		// work without allocation: the step budget
		{"IndexOf in a loop", `@{ var s = new string('a', 900000); var n = 0; for (var i = 0; i < 1000; i++) { n += s.IndexOf("b"); } return n; }`, "steps",
			`@("abc".IndexOf("c"))`, "2"},
		{"string equality in a loop", `@{ var s = new string('a', 900000); var t = new string('a', 900000); var n = 0; for (var i = 0; i < 1000; i++) { if (s == t) { n++; } } return n; }`, "steps",
			`@("ab" == "a" + "b")`, "True"},
		{"hashing in a loop", `@{ var b = new byte[100000]; var n = 0; for (var i = 0; i < 500; i++) { n += SHA256.Create().ComputeHash(b).Length; } return n; }`, "steps",
			`@(SHA256.Create().ComputeHash(new byte[0]).Length)`, "32"},
		{"Regex.IsMatch in a loop", `@{ var s = new string('a', 900000); var n = 0; for (var i = 0; i < 1000; i++) { if (Regex.IsMatch(s, "b")) { n++; } } return n; }`, "steps",
			`@(Regex.IsMatch("abc", "b"))`, "True"},
		{"Regex with a large pattern in a loop", `@{ var s = new string('a', 20000); var n = 0; for (var i = 0; i < 1000; i++) { if (Regex.IsMatch(s, "(a?){500}b")) { n++; } } return n; }`, "steps",
			`@(Regex.IsMatch("aab", "(a?){500}b"))`, "True"},
		{"Contains on a list in a loop", `@{ var l = Enumerable.Range(0, 60000).ToList(); var n = 0; for (var i = 0; i < 1000; i++) { if (l.Contains(-1)) { n++; } } return n; }`, "steps",
			`@(new List<int> { 1, 2 }.Contains(2))`, "True"},
		{"Enumerable.Range Count with a predicate", `@(Enumerable.Range(0, int.MaxValue).Count(x => x >= 0))`, "steps",
			`@(Enumerable.Range(0, 10).Count(x => x % 2 == 0))`, "5"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := small
			if tc.budget == "steps" {
				l = Limits{Steps: 20_000, Alloc: 64 << 20}
			}
			m := evalMeasured(t, tc.huge, l)
			var re *RuntimeError
			if !errors.As(m.err, &re) || re.Type != "BudgetExceeded" {
				t.Fatalf("%s: got %v, want the %s budget error", tc.huge, m.err, tc.budget)
			}
			if want := map[string]string{"allocation": "allocation budget", "steps": "steps"}[tc.budget]; !strings.Contains(re.Msg, want) {
				t.Errorf("%s: got %q, want the %s budget error", tc.huge, re.Msg, tc.budget)
			}
			if bound := budgetBound(l, m.steps); m.bytes > bound && !raceEnabled {
				t.Errorf("%s allocated %d bytes in %d steps before failing, more than the bound %d", tc.huge, m.bytes, m.steps, bound)
			}
			got, err := mustCompile(t, tc.normal).EvalString(fixture(t, ""))
			if err != nil || got != tc.want {
				t.Errorf("%s = %q, %v; want %q", tc.normal, got, err, tc.want)
			}
		})
	}
}

// FuzzEvalBudget checks the budgets' property on any expression: under small
// budgets, an evaluation allocates no more than budgetBound. The seeds are the
// eval tests, the corpus, and the expressions above that grow data quickly.
func FuzzEvalBudget(f *testing.F) {
	for _, s := range fuzzSeeds(f) {
		f.Add(s)
	}
	for _, s := range budgetSeeds {
		f.Add(s)
	}
	l := Limits{Steps: 20_000, Alloc: 1 << 20, Recursion: 16}
	f.Fuzz(func(t *testing.T, src string) {
		if len(src) > fuzzMaxLen {
			return
		}
		p, err := Compile(src, WithLimits(l))
		if err != nil {
			return
		}
		p.evalString(fixture(t, "")) // warm the frame pool
		x := fixture(t, "")
		var steps int64
		n := allocated(func() { _, steps, _ = p.evalString(x) })
		if bound := budgetBound(l, steps); n > bound && !raceEnabled {
			t.Fatalf("%q allocated %d bytes in %d steps, more than %d", src, n, steps, bound)
		}
	})
}

// budgetSeeds are FuzzEvalBudget's seeds that make data grow fast.
var budgetSeeds = []string{
	`@(new string('a', 20000000).ToCharArray().Length)`,
	`@(new string('a', 200000).Select((x, i) => x).Count())`,
	`@("a".PadLeft(20000000).Length)`,
	`@{ var s = "x"; for (var i = 0; i < 40; i++) { s = s + s; } return s.Length; }`,
	`@(Enumerable.Range(0, int.MaxValue).ToArray().Length)`,
	`@{ var a = new JArray(1); for (var i = 0; i < 40; i++) { a = new JArray(a, a); } return a.Count; }`,
	`@{ JToken a = new JArray(); for (var i = 0; i < 3000; i++) { a = new JArray(a); } return a.ToString().Length; }`,
	`@{ var e = new XElement("a"); for (var i = 0; i < 40; i++) { e = new XElement("a", e, e); } return e.ToString(); }`,
	`@(Regex.Replace(new string('a', 3000), "a", "$_").Length)`,
	`@(string.Format("{0,20000000}", 1).Length)`,
	`@(5.ToString("D20000000").Length)`,
	`@(new string(',', 500000).Split(',').Length)`,
	`@(JArray.Parse("[" + string.Join(",", Enumerable.Repeat("1", 60000)) + "]").Count)`,
	`@{ var b = new StringBuilder(); for (var i = 0; i < 100; i++) { b.Append(b.ToString()).Append('x'); } return b.Length; }`,
	`@{ var l = new List<string> { "a" }; for (var i = 0; i < 30; i++) { l.AddRange(l.ToArray()); } return l.Count; }`,
}

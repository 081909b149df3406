package expr

import "testing"

func TestParse(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"literal", `@(true)`, `true`},
		{"precedence", `@(1 + 2 * 3 - 4 / 2)`, `((1 + (2 * 3)) - (4 / 2))`},
		{"cast concat", `@("Bearer " + (string)context.Variables["msi-access-token"])`,
			`("Bearer " + ((string)context.Variables["msi-access-token"]))`},
		{"generic call named arg", `@(context.Request.Body.As<JObject>(preserveContent: true))`,
			`context.Request.Body.As<JObject>(preserveContent: true)`},
		{"generic method on variables", `@(context.Variables.GetValueOrDefault<string>("x", ""))`,
			`context.Variables.GetValueOrDefault<string>("x", "")`},
		{"less than is not generic", `@(a < b && c > d)`, `((a < b) && (c > d))`},
		{"shift vs generic close", `@(x >> 2 == y << 1)`, `((x >> 2) == (y << 1))`},
		{"null conditional", `@(context.Request.Headers.GetValueOrDefault("Authorization")?.Split(' ')?[1].AsJwt()?.Claims["c"].FirstOrDefault())`,
			`context.Request.Headers.GetValueOrDefault("Authorization")?.Split(' ')?[1].AsJwt()?.Claims["c"].FirstOrDefault()`},
		{"paren not cast", `@(((IResponse)context.Variables["r"]).Body.As<JObject>()["status"].ToString())`,
			`((IResponse)context.Variables["r"]).Body.As<JObject>()["status"].ToString()`},
		{"cast of cast", `@((int)((JObject)context.Variables["t"])["expires_in"])`,
			`((int)((JObject)context.Variables["t"])["expires_in"])`},
		{"paren minus is not cast", `@((a) - 1)`, `(a - 1)`},
		{"keyword cast minus", `@((int)-1)`, `((int)(-1))`},
		{"ternary and coalesce", `@(a ?? b ? c : d ?? e)`, `((a ?? b) ? c : (d ?? e))`},
		{"is pattern", `@(x is int n && n > 0)`, `((x is int n) && (n > 0))`},
		{"is not null", `@(x is not null)`, `(x is not null)`},
		{"as", `@(x as JObject)`, `(x as JObject)`},
		{"lambda", `@(xs.Where(h => h.StartsWith("a")).Select((a, i) => a + i))`,
			`xs.Where((h) => h.StartsWith("a")).Select((a, i) => (a + i))`},
		{"interpolated", `@($"Bearer {context.Variables["token"]}")`, `$"Bearer {context.Variables["token"]}"`},
		{"interpolated format", `@($"{x:yyyy-MM-dd} and {y,5} {{lit}}")`, `$"{x:yyyy-MM-dd} and {y,5} {{lit}}"`},
		{"nested interpolated", `@($"a{$"b{c}"}d")`, `$"a{$"b{c}"}d"`},
		{"interpolated format escapes", `@($"{t:hh\\:mm}{d:\"y\"\x2F}" + $@"{t:hh\:mm}")`, `($"{t:hh\\:mm}{d:\"y\"/}" + $"{t:hh\\:mm}")`},
		{"verbatim", `@(@"max-age=(?<maxAge>\d+)""")`, `"max-age=(?<maxAge>\\d+)\""`},
		{"new array", `@(new [] {"a", "b"}.Contains(x))`, `new [] { "a", "b" }.Contains(x)`},
		{"new sized", `@(new byte[16])`, `new byte[16]`},
		{"new object init", `@(new HMACSHA256 { Key = k })`, `new HMACSHA256 { Key = k }`},
		{"new dictionary init", `@(new Dictionary<string, string>() { { "a", b }, { "c", d } })`,
			`new Dictionary<string, string>() { { "a", b }, { "c", d } }`},
		{"anon", `@(new { typ = "JWT", exp })`, `new { typ = "JWT", exp = exp }`},
		{"qualified", `@(System.Text.Encoding.UTF8.GetBytes(s))`, `System.Text.Encoding.UTF8.GetBytes(s)`},
		{"predefined static", `@(string.IsNullOrEmpty(s) ? int.Parse("1") : 0)`, `(string.IsNullOrEmpty(s) ? int.Parse("1") : 0)`},
		{"char", `@(s.Split('\''))`, `s.Split('\'')`},
		{"unary not", `@(!context.Variables.ContainsKey("x"))`, `(!context.Variables.ContainsKey("x"))`},
		{"compare generic arg", `@(context.Variables.GetValueOrDefault<int>("urlId") == 1)`, `(context.Variables.GetValueOrDefault<int>("urlId") == 1)`},
		{"nullable cast", `@((int?)x ?? 0)`, `(((int?)x) ?? 0)`},
		{"block", `@{ var a = 1; int b = 2, c; if (a > b) { return a; } else return b; }`,
			`{ var a = 1; int b = 2, c; if ((a > b)) { return a; } else return b; }`},
		{"foreach", `@{ foreach (var k in new [] {"a"}) { r.Property(k).Remove(); } return r.ToString(); }`,
			`{ foreach (var k in new [] { "a" }) { r.Property(k).Remove(); } return r.ToString(); }`},
		{"for", `@{ for (int i = 0; i < 3; i++) { s += i; } return s; }`,
			`{ for (int i = 0; (i < 3); (i++)) { s += i; } return s; }`},
		{"out var", `@{ if (context.Request.Headers.TryGetValue("A", out var v)) return v[0]; return null; }`,
			`{ if (context.Request.Headers.TryGetValue("A", out var v)) return v[0]; return null; }`},
		{"typed decls", `@{ string[] value; List<string> l = new List<string>(){ "a" }; return l; }`,
			`{ string[] value; List<string> l = new List<string>() { "a" }; return l; }`},
		{"local function", `@{ int Twice(int x) { return x * 2; } short S(short h) => (short)(h >> 8); return Twice(2); }`,
			`{ int Twice(int x) { return (x * 2); } short S(short h) => ((short)(h >> 8)); return Twice(2); }`},
		{"try catch", `@{ try { return 1; } catch (Exception e) { return 2; } }`, `{ try { return 1; } catch (Exception e) { return 2; } }`},
		{"using", `@{ using (XmlReader r = XmlReader.Create(new StringReader(x))) { r.Read(); } return 1; }`,
			`{ using (XmlReader r = XmlReader.Create(new StringReader(x))) { r.Read(); } return 1; }`},
		{"unchecked", `@{ unchecked { b[0] = (byte)(t >> 8); } return b; }`, `{ unchecked { b[0] = ((byte)(t >> 8)); } return b; }`},
		{"const", `@{ const uint X = 60 * 20; return X; }`, `{ const uint X = (60 * 20); return X; }`},
		{"generic new in decl", `@{ var claims = new Dictionary<string, string>() { { "aud", aud } }; return claims; }`,
			`{ var claims = new Dictionary<string, string>() { { "aud", aud } }; return claims; }`},
		{"cast of paren expr", `@((int)(x * 0.1))`, `((int)(x * 0.1))`},
		{"compound assign", `@{ a += (int)(b * 0.1); a <<= 2; a >>= 1; return a; }`, `{ a += ((int)(b * 0.1)); a <<= 2; a >>= 1; return a; }`},
		{"switch", `@{ switch (x) { case "a": case "b": return 1; default: return 2; } }`, `{ switch (x) { case "a": case "b": return 1; default: return 2; } }`},
		{"generic in lambda", `@(JArray.FromObject(context.Response.Headers.Keys.Where(h => h.StartsWith("internal-", StringComparison.OrdinalIgnoreCase))))`,
			`JArray.FromObject(context.Response.Headers.Keys.Where((h) => h.StartsWith("internal-", StringComparison.OrdinalIgnoreCase)))`},
		{"element access on new", `@(new Random().Next(0, (int)context.Variables["x"] / 3))`, `new Random().Next(0, (((int)context.Variables["x"]) / 3))`},
		{"lambda with coalesce index", `@(a.SingleOrDefault(c => c[0] == "x")?[1] ?? string.Empty)`, `(a.SingleOrDefault((c) => (c[0] == "x"))?[1] ?? string.Empty)`},
		{"comments", "@{ // c\n /* d */ return 1; }", `{ return 1; }`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n, _, errs := parseSource(tt.src)
			if len(errs) > 0 {
				t.Fatalf("parse %s: %v", tt.src, errs)
			}
			if got := printNode(n); got != tt.want {
				t.Errorf("parse %s\n got: %s\nwant: %s", tt.src, got, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct {
		name, src string
		offset    int
		msg       string
	}{
		{"not an expression", `hello`, 0, `a policy expression starts with "@(" or "@{"`},
		{"unbalanced end", `@(a`, 3, `a policy expression that starts with "@(" must end with ")"`},
		{"empty", `@()`, 2, "empty expression"},
		{"missing operand", `@(1 + )`, 6, "unexpected end of expression"},
		{"semicolon in @()", `@(a; b)`, 3, `unexpected ";": "@(...)" holds one expression; use "@{ ...; return ...; }" for statements`},
		{"missing semicolon", `@{ return 1 }`, 11, `expected ";" at the end of the statement`},
		{"newline in string", "@(\"a\nb\")", 2, `newline in string literal (C# "..." strings cannot span lines; use @"...")`},
		{"bad escape", `@("\q")`, 3, `unrecognized escape sequence \q`},
		{"bad escape in a hole's format", `@($"{t:hh\:mm}")`, 9, `unrecognized escape sequence \:`},
		{"unterminated interp hole", `@($"a{b)`, 5, `interpolation hole is never closed with "}"`},
		{"goto", `@{ goto x; }`, 3, `"goto" statements are not supported in policy expressions`},
		{"bad number", `@(12abc)`, 2, `invalid number 12abc`},
		{"two statements", `@{ return 1 return 2; }`, 12, `expected ";" after the expression, found "return"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, errs := parseSource(tt.src)
			if len(errs) == 0 {
				t.Fatalf("parse %s: no error, want %q", tt.src, tt.msg)
			}
			if errs[0].Pos.Offset != tt.offset || errs[0].Msg != tt.msg {
				t.Errorf("parse %s: got error at %d %q, want at %d %q", tt.src, errs[0].Pos.Offset, errs[0].Msg, tt.offset, tt.msg)
			}
		})
	}
}

func TestParseReportsSeveralErrors(t *testing.T) {
	_, _, errs := parseSource(`@{ var a = ; var b = 1 +; return a; }`)
	if len(errs) != 2 {
		t.Fatalf("got %d errors %v, want 2", len(errs), errs)
	}
}

package policyxml

import (
	"strings"
	"testing"
)

func TestScanExpression(t *testing.T) {
	tests := []struct {
		name string
		s    string
		i    int
		want int // index just after the expression; -1 when an error is expected
	}{
		{"parentheses", `@(x)`, 0, 4},
		{"braces", `@{ return 1; }`, 0, 14},
		{"stops at the end of the expression", `@(a)b)`, 0, 4},
		{"starts in the middle", `x = @(y) + z`, 4, 8},
		{"nested brackets", `@(a[(b)].c({1}))`, 0, 16},
		{"string with a bracket", `@("a)b")`, 0, 8},
		{"string with an escaped quote", `@("a\")b")`, 0, 10},
		{"string ending in an escaped backslash", `@("a\\")`, 0, 8},
		{"char literal bracket", `@('(')`, 0, 6},
		{"char literal quote", `@('\'')`, 0, 7},
		{"char literal double quote", `@('"')`, 0, 6},
		{"verbatim string with doubled quote", `@(@"x""(")`, 0, 10},
		{"verbatim string with backslash at the end", `@(@"a\" + ")")`, 0, 14},
		{"verbatim string across lines", "@(@\"a\n)\")", 0, 9},
		{"interpolated string with quotes in a hole", `@($"{a("}")}")`, 0, 14},
		{"interpolated string with escaped braces", `@($"{{x}}" + ")")`, 0, 17},
		{"interpolated string with a lone closing brace", `@($"}" + ")")`, 0, 13},
		{"interpolated string with escaped quote", `@($"\"{x}\"")`, 0, 13},
		{"nested interpolated strings", `@($"a{ $"b{c("}")}" }d")`, 0, 24},
		{"interpolation format", `@($"{d:yyyy-MM-dd)}")`, 0, 21},
		{"interpolation alignment", `@($"{x,10}")`, 0, 12},
		{"ternary in parentheses inside a hole", `@($"{(a ? "(" : b)}")`, 0, 21},
		{"named argument in a hole", `@($"{f(x: 1)}")`, 0, 15},
		{"verbatim interpolated", `@($@"{x}""){{")`, 0, 15},
		{"interpolated verbatim", `@(@$"a{b}"")")`, 0, 14},
		{"verbatim interpolated with a format", `@($@"{d:)}")`, 0, 12},
		{"statement block with strings", `@{ if (x) { return "}"; } return "{"; }`, 0, 39},
		{"line comment with a bracket", "@(a // )\n)", 0, 10},
		{"line comment ended by CR", "@(a // )\r)", 0, 10},
		{"block comment with a bracket", `@(a /* ) */ + b)`, 0, 16},
		{"block comment with stars", `@(a /** ) **/)`, 0, 14},
		{"block comment in a block", `@{ /* } */ return 1; }`, 0, 22},
		{"division", `@(a / b /c)`, 0, 11},
		{"generics", `@(context.Request.Body.As<JObject>())`, 0, 37},
		{"lambda with a block", `@(l.Where(x => { return x > 0; }).Any())`, 0, 40},
		{"verbatim identifier", `@(@class + 1)`, 0, 13},
		{"dollar not starting a string", `@(a$b)`, 0, 6},
		{"URL in a string", `@{ var s = "http://x/*"; }`, 0, 26},
		{"real APIM condition", `@(context.Request.Headers.GetValueOrDefault("Authorization","").AsJwt()?.Subject == "x")`, 0, 88},
		{"formatter damage that is valid C#", `@(!context.Variables.ContainsKey("latlong="""))`, 0, 47},

		{"unclosed", `@(x`, 0, -1},
		{"unterminated string", `@("x`, 0, -1},
		{"newline in string", "@(\"a\nb\")", 0, -1},
		{"newline in char", "@('\n')", 0, -1},
		{"newline after escape", "@(\"a\\\n\")", 0, -1},
		{"newline after char escape", "@('\\\n')", 0, -1},
		{"newline in interpolated string", "@($\"a\nb\")", 0, -1},
		{"newline after interpolated escape", "@($\"a\\\nb\")", 0, -1},
		{"newline in format", "@($\"{x:\n}\")", 0, -1},
		{"mismatched bracket", `@(x])`, 0, -1},
		{"mismatched brace", `@{ ) }`, 0, -1},
		{"unterminated block comment", `@(/* )`, 0, -1},
		{"unterminated verbatim", `@(@"x`, 0, -1},
		{"unterminated char", `@('x`, 0, -1},
		{"unterminated interpolated", `@($"{x}`, 0, -1},
		{"unterminated hole", `@($"{x`, 0, -1},
		{"unterminated verbatim interpolated", `@($@"x""`, 0, -1},
		{"not an expression", `(x)`, 0, -1},
		{"at sign alone", `@`, 0, -1},
		{"at sign and letter", `@x`, 0, -1},
		{"index before the string", `@(x)`, -1, -1},
		{"index at the end", `@(x)`, 4, -1},
		{"empty", ``, 0, -1},
		{"too deep", "@" + strings.Repeat("(", maxExprDepth+1), 0, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ScanExpression(tt.s, tt.i)
			if tt.want < 0 {
				if err == nil {
					t.Fatalf("ScanExpression(%q, %d) = %d, want an error", tt.s, tt.i, got)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ScanExpression(%q, %d) = %d, %v, want %d", tt.s, tt.i, got, err, tt.want)
			}
		})
	}
}

func TestScanExpressionErrors(t *testing.T) {
	tests := []struct {
		s    string
		i    int
		want string
	}{
		{`@(x`, 0, `offset 1: unterminated expression: "(" is never closed (the expression starts at offset 0)`},
		{`a @{ if (x) { y; }`, 2, `offset 3: unterminated expression: "{" is never closed (the expression starts at offset 2)`},
		{`@("x`, 0, `offset 2: unterminated string literal in expression (the expression starts at offset 0)`},
		{`@(@"x`, 0, `offset 2: unterminated string literal in expression (the expression starts at offset 0)`},
		{"@(f(\"a\nb\"))", 0, `offset 4: string literal in expression is not closed before the end of the line: C# "..." strings cannot span lines (the expression starts at offset 0)`},
		{"@('\n')", 0, `offset 2: character literal in expression is not closed before the end of the line (the expression starts at offset 0)`},
		{`@('x`, 0, `offset 2: unterminated character literal in expression (the expression starts at offset 0)`},
		{`@(a + $"x{b}`, 0, `offset 6: unterminated interpolated string in expression (the expression starts at offset 0)`},
		{`@($"x{ $"y" `, 0, `offset 5: unterminated expression: "{" of an interpolation hole is never closed (the expression starts at offset 0)`},
		{"@($\"a\nb\")", 0, `offset 2: interpolated string in expression is not closed before the end of the line: C# $"..." strings cannot span lines (the expression starts at offset 0)`},
		{`@(a /* )`, 0, `offset 4: unterminated /* comment in expression (the expression starts at offset 0)`},
		{`@(x[1})`, 0, `offset 5: "}" in expression does not match "[" opened at offset 3 (the expression starts at offset 0)`},
		{`@{ ) }`, 0, `offset 3: ")" in expression does not match "{" opened at offset 1 (the expression starts at offset 0)`},
		{`@($"{a]}")`, 0, `offset 6: "]" in expression does not match "{" of an interpolation hole opened at offset 4 (the expression starts at offset 0)`},
		{"@" + strings.Repeat("(", maxExprDepth+1), 0, `offset 1001: expression nested deeper than 1000 brackets (the expression starts at offset 0)`},
		{`(x)`, 0, `offset 0: expected "@(" or "@{" at the start of an expression`},
		{`@(x)`, 9, `offset 4: expected "@(" or "@{" at the start of an expression`},
		{`@(x)`, -3, `offset 0: expected "@(" or "@{" at the start of an expression`},
	}
	for _, tt := range tests {
		_, err := ScanExpression(tt.s, tt.i)
		if err == nil {
			t.Errorf("ScanExpression(%q, %d) succeeded, want %s", tt.s, tt.i, tt.want)
			continue
		}
		if _, ok := err.(*ExprError); !ok {
			t.Errorf("ScanExpression(%q, %d) error is %T, want *ExprError", tt.s, tt.i, err)
		}
		if got := err.Error(); got != tt.want {
			t.Errorf("ScanExpression(%q, %d) error\n got: %s\nwant: %s", tt.s, tt.i, got, tt.want)
		}
	}
}

// TestSkipTable checks that every byte skip passes over leaves the scanner as it
// was, in every state, so skipping cannot change where an expression ends.
func TestSkipTable(t *testing.T) {
	for st := stCode; st <= stFormatVerb; st++ {
		for _, top := range []byte{'(', holeRegular, holeVerbatim} {
			for c := range 256 {
				if skipTable[st][c] {
					continue
				}
				x := exprScanner{st: st, stack: []exprFrame{{kind: '('}, {kind: top, off: 1}}, litOff: 7}
				done := x.step(byte(c), 10)
				if done || x.st != st || len(x.stack) != 2 || x.err.code != errNone || x.litOff != 7 {
					t.Errorf("state %d, top %q: skipped byte %q changes the scanner: done %v, state %d, stack %v, err %v",
						st, top, byte(c), done, x.st, x.stack, x.err)
				}
			}
		}
	}
}

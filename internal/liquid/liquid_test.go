package liquid_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/liquid"
)

func render(t *testing.T, src string, vars map[string]any, l liquid.Limits) (string, error) {
	t.Helper()
	tpl, err := liquid.Parse(src)
	if err != nil {
		return "", err
	}
	out, err := tpl.Render(vars, l)
	return string(out), err
}

func TestRender(t *testing.T) {
	headers := liquid.NewDict(true)
	headers.Set("Accept", "text/plain")
	headers.Set("X-Id", "7")
	body := liquid.NewDict(false)
	body.Set("name", "Ada Lovelace")
	body.Set("items", []any{3, 1, 2})
	body.Set("when", "2024-02-29T13:45:00Z")
	body.Set("lines", "a\nb")
	vars := map[string]any{"headers": headers, "body": body}
	tests := []struct{ name, src, want string }{
		{"object and index", `{{ body.name }}|{{ body["name"] }}|{{ headers["accept"] }}|{{ headers.X-Id }}`, "Ada Lovelace|Ada Lovelace|text/plain|7"},
		{"for over a Dict gives Key and Value", `{% for h in headers %}{{ h.Key }}={{ h.Value }};{% endfor %}`, "Accept=text/plain;X-Id=7;"},
		{"loop variables", `{% for i in body.items %}{{ forloop.index }}:{{ i }}{% unless forloop.last %},{% endunless %}{% endfor %}`, "1:3,2:1,3:2"},
		{"limit offset reversed", `{% for i in (1..10) limit:3 offset:2 %}{{ i }}{% endfor %}|{% for i in (1..3) reversed %}{{ i }}{% endfor %}`, "345|321"},
		{"else of an empty loop", `{% for i in body.none %}x{% else %}empty{% endfor %}`, "empty"},
		{"break and continue", `{% for i in (1..6) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 5 %}{% break %}{% endif %}{{ i }}{% endfor %}`, "134"},
		{"cycle", `{% for i in (1..4) %}{% cycle "a", "b" %}{% endfor %}`, "abab"},
		{"assign and capture", `{%- assign n = body.name | Upcase -%}{% capture c %}<{{ n }}>{% endcapture %}{{ c }}`, "<ADA LOVELACE>"},
		{"case", `{% case body.items.size %}{% when 2 %}two{% when 3 %}three{% else %}many{% endcase %}`, "three"},
		{"string filters", `{{ "  hi " | Strip | Append: "!" | Prepend: ">" }}|{{ "a b c" | Split: " " | Join: "-" }}|{{ "hello" | Capitalize }}|{{ "<b>x</b>" | StripHtml }}|{{ "a&b" | Escape }}|{{ '<"x">' | Escape }}|{{ "it's" | Escape }}`, ">hi!|a-b-c|Hello|x|a&amp;b|&lt;&quot;x&quot;&gt;|it&#39;s"},
		{"replace and remove", `{{ "aXbXc" | Replace: "X", "-" }}|{{ "aXbXc" | ReplaceFirst: "X", "-" }}|{{ "aXbXc" | Remove: "X" }}|{{ "aXbXc" | RemoveFirst: "X" }}`, "a-b-c|a-bXc|abc|abXc"},
		{"numbers", `{{ 7 | Plus: 3 }}|{{ 7 | Minus: 10 }}|{{ 7 | Times: 3 }}|{{ 7 | DividedBy: 2 }}|{{ 7.0 | DividedBy: 2 }}|{{ 7 | Modulo: 3 }}|{{ -4 | Abs }}|{{ 3 | AtLeast: 5 }}|{{ 3 | AtMost: 1 }}|{{ 2.5 | Round }}|{{ 3.14159 | Round: 2 }}`, "10|-3|21|3|3.5|1|4|5|1|2|3.14"},
		{"arrays", `{{ body.items | Sort | Join: "," }}|{{ body.items | First }}|{{ body.items | Last }}|{{ body.items | Size }}|{{ "a,b,a" | Split: "," | Uniq | Join: "" }}`, "1,2,3|3|2|3|ab"},
		{"truncate", `{{ "Ground control to Major Tom." | Truncate: 20 }}|{{ "Ground control to Major Tom." | TruncateWords: 3 }}`, "Ground control to...|Ground control to..."},
		{"date in .NET formats", `{{ body.when | Date: "yyyyMMddTHH:mm:ssZ" }}|{{ body.when | Date: "dd MMM yyyy" }}`, "20240229T13:45:00Z|29 Feb 2024"},
		{"default and url", `{{ body.none | Default: "x" }}|{{ "a b&c" | UrlEncode }}|{{ "a+b%26c" | UrlDecode }}|{{ 1234.5 | Currency }}`, "x|a+b%26c|a b&c|$1,234.50"},
		{"newlines", "{{ body.lines | NewlineToBr }}|{{ body.lines | StripNewlines }}", "a<br />\nb|ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := render(t, tt.src, vars, liquid.Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// TestBudget: templates whose work or output grows with what they are given
// stop with ErrBudget instead of running on.
func TestBudget(t *testing.T) {
	big := make([]any, 5000)
	for i := range big {
		big[i] = i
	}
	vars := map[string]any{"items": big, "n": 1_000_000_000, "s": strings.Repeat("x", 1000)}
	small := liquid.Limits{Steps: 10_000, Output: 100_000, Alloc: 1_000_000}
	tests := []struct{ name, src, want string }{
		{"a huge range", `{% for i in (1..n) %}{% endfor %}`, "loop iterations"},
		{"nested loops over the input", `{% for a in items %}{% for b in items %}{% endfor %}{% endfor %}`, "loop iterations"},
		{"output", `{% for a in items %}{{ s }}{% endfor %}`, "bytes of output"},
		{"a capture", `{% capture c %}{% for a in items %}{{ s }}{% endfor %}{% endcapture %}`, "bytes of output"},
		{"doubling a string", `{% assign x = s %}{% for i in (1..40) %}{% assign x = x | Append: x %}{% endfor %}{{ x | Size }}`, "filters built more than"},
		{"a huge range joined", `{{ (1..n) | Join: "," }}`, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := render(t, tt.src, vars, small)
			if !errors.Is(err, liquid.ErrBudget) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want ErrBudget saying %q", err, tt.want)
			}
		})
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ src, want string }{
		{`{{ "x" | upcase }}`, `unknown Liquid filter "upcase": API Management's Liquid names filters in PascalCase; write Upcase`},
		{`{{ x | at_least: 1 }}`, "write AtLeast"},
		{`{{ x | Frobnicate }}`, `unknown Liquid filter "Frobnicate"`},
		{`{% include "/etc/passwd" %}`, "the include tag is not supported"},
		{`{% for x in y %}`, `unterminated "for" block`},
		{`{% tablerow x in y %}{% endtablerow %}`, "tablerow"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			_, err := liquid.Parse(tt.src)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if _, err := liquid.Parse(`{{ "a | upcase" }}{% comment %} | upcase {% endcomment %}`); err != nil {
		t.Errorf("a filter name in a string or a comment: %v", err)
	}
}

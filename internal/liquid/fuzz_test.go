package liquid_test

import (
	"testing"

	"github.com/lastmile-gw/lastmile/internal/liquid"
)

// FuzzTemplate: any template either fails to parse or renders within its
// limits, with an error or not; nothing panics out of Render and no render
// writes more than its output limit.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{
		`{{ x | Upcase }}`, `{% for i in (1..n) %}{{ i }}{% endfor %}`, `{% capture c %}{{ s }}{% endcapture %}{{ c | Size }}`,
		`{% if a == 1 %}x{% elsif b %}y{% else %}z{% endif %}`, `{% case x %}{% when 1 %}a{% endcase %}`, `{{ s | Split: "," | Join: "-" | Truncate: 3 }}`,
		`{% for i in s %}{% cycle "a", "b" %}{% break %}{% endfor %}`, `{{ d.k | Date: "yyyy" }}`,
	} {
		f.Add(s)
	}
	dict := liquid.NewDict(true)
	dict.Set("k", "2024-01-01T00:00:00Z")
	vars := map[string]any{"x": "a", "n": 1 << 40, "s": "a,b,c", "a": 1, "b": true, "d": dict}
	limits := liquid.Limits{Steps: 10_000, Output: 1 << 16, Alloc: 1 << 18}
	f.Fuzz(func(t *testing.T, src string) {
		tpl, err := liquid.Parse(src)
		if err != nil {
			return
		}
		out, err := tpl.Render(vars, limits)
		if err == nil && len(out) > limits.Output {
			t.Fatalf("%q wrote %d bytes, over the limit", src, len(out))
		}
	})
}

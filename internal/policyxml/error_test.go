package policyxml

import (
	"strings"
	"testing"
)

func TestSnippet(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want string // Error() and Snippet
	}{
		{
			name: "attribute value",
			src:  "<policies>\n  <inbound>\n    <set-header name=\"x\n",
			want: "policy.xml:3:17: unexpected end of input in attribute value: the value of \"name\" opened at 3:22 has no closing \"\n" +
				"        <set-header name=\"x\n" +
				"                    ^\n",
		},
		{
			name: "tabs are kept so the caret lines up",
			src:  "<a>\n\t\t<b x=\"1\"y=\"2\"/></a>",
			want: "policy.xml:2:11: expected white space before attribute \"y\" in <b>\n" +
				"    \t\t<b x=\"1\"y=\"2\"/></a>\n" +
				"    \t\t        ^\n",
		},
		{
			name: "multi-byte characters count once",
			src:  "<é>ü & </é>",
			want: "policy.xml:1:8: \"&\" must start an entity reference such as &amp; or &lt; (write &amp; for a literal \"&\")\n" +
				"    <é>ü & </é>\n" +
				"         ^\n",
		},
		{
			name: "CRLF line",
			src:  "<a>\r\n</b>\r\n",
			want: "policy.xml:2:1: end tag </b> does not match <a> opened at 1:1 (expected </a>)\n" +
				"    </b>\n" +
				"    ^\n",
		},
		{
			name: "BOM is not shown",
			src:  "\ufeffhello",
			want: "policy.xml:1:1: unexpected text \"hello\" before the root element: a policy document starts with <policies> or <fragment>\n" +
				"    hello\n" +
				"    ^\n",
		},
		{
			name: "at the end of input",
			src:  "<a>",
			want: "policy.xml:1:1: element <a> is not closed: expected </a> before the end of input\n" +
				"    <a>\n" +
				"    ^\n",
		},
		{
			name: "control characters",
			src:  "<a>\x01</b>",
			want: "policy.xml:1:5: end tag </b> does not match <a> opened at 1:1 (expected </a>)\n" +
				"    <a>?</b>\n" +
				"        ^\n",
		},
		{
			name: "long line is cut around the column",
			src:  "<a>" + strings.Repeat("x", 200) + "&" + strings.Repeat("y", 200) + "</a>",
			want: "policy.xml:1:204: \"&\" must start an entity reference such as &amp; or &lt; (write &amp; for a literal \"&\")\n" +
				"    ..." + strings.Repeat("x", 50) + "&" + strings.Repeat("y", 49) + "...\n" +
				"       " + strings.Repeat(" ", 50) + "^\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("policy.xml", []byte(tt.src))
			e, ok := err.(*Error)
			if !ok {
				t.Fatalf("Parse error = %v, want *Error", err)
			}
			got := e.Error() + "\n" + e.Snippet([]byte(tt.src))
			if got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
}

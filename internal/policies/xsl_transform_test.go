package policies_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"runtime"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/xpath"
)

const xslNS = `xmlns:xsl="http://www.w3.org/1999/XSL/Transform"`

// TestXSLTransformErrors: a stylesheet's mistakes are load errors at their
// line and column in the policy file.
func TestXSLTransformErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      string // file:line:col: and the start of the message
	}{
		{"no stylesheet", `<policies><inbound><xsl-transform /></inbound></policies>`,
			`p.xml:1:20: <xsl-transform> needs an <xsl:stylesheet`},
		{"a parameter without a name", `<policies><inbound><xsl-transform><parameter>x</parameter><xsl:stylesheet version="1.0" ` + xslNS + `/></xsl-transform></inbound></policies>`,
			`p.xml:1:35: <parameter> needs a name`},
		{"an unknown child", `<policies><inbound><xsl-transform><value /></xsl-transform></inbound></policies>`,
			`p.xml:1:35: unexpected <value> in <xsl-transform>`},
		{"an attribute", `<policies><inbound><xsl-transform id="t" apply="always"><xsl:stylesheet version="1.0" ` + xslNS + `/></xsl-transform></inbound></policies>`,
			`p.xml:1:42: <xsl-transform> takes no attribute "apply"`},
		{"two stylesheets", `<policies><inbound><xsl-transform><xsl:stylesheet version="1.0" ` + xslNS + `/><xsl:stylesheet version="1.0" ` + xslNS + `/></xsl-transform></inbound></policies>`,
			`p.xml:1:115: <xsl-transform> takes one stylesheet; this is a second`},
		{"in the backend section", `<policies><backend><xsl-transform><xsl:stylesheet version="1.0" ` + xslNS + `/></xsl-transform></backend></policies>`,
			`p.xml:1:20: policy <xsl-transform> is not allowed in <backend>`},
		{"a bad XPath on a later line", "<policies><inbound><xsl-transform>\n<xsl:stylesheet version=\"1.0\" " + xslNS + ">\n  <xsl:template match=\"/\"><xsl:value-of select=\"1 +\" /></xsl:template>\n</xsl:stylesheet></xsl-transform></inbound></policies>",
			`p.xml:3:`},
		{"xsl:include", "<policies><inbound><xsl-transform>\n<xsl:stylesheet version=\"1.0\" " + xslNS + ">\n  <xsl:include href=\"other.xsl\" />\n</xsl:stylesheet></xsl-transform></inbound></policies>",
			`p.xml:3:3: xsl:include is not supported`},
		{"the XSLT namespace declared on xsl-transform", "<policies><inbound><xsl-transform " + xslNS + ">\n<xsl:stylesheet version=\"1.0\">\n  <xsl:import href=\"x.xsl\" />\n</xsl:stylesheet></xsl-transform></inbound></policies>",
			`p.xml:3:3: xsl:import is not supported`},
		{"an error in the start tag, after the namespace added to it", "<policies><inbound><xsl-transform " + xslNS + ">\n  <xsl:stylesheet version=\"1.0\"><xsl:template match=\"a[\" /></xsl:stylesheet></xsl-transform></inbound></policies>",
			`p.xml:2:`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := pipeline.NewRegistry()
			policies.Register(r, policies.Deps{})
			doc, err := policyxml.Parse("p.xml", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			_, err = pipeline.NewCompiler(r, policies.Expressions, nil).Compile(doc, "api")
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("got %v\nwant an error starting %q", err, tt.want)
			}
		})
	}
}

// TestXSLTransformBodies: hostile or broken bodies are the client's mistakes
// (400); what the stylesheet cannot do is the gateway's (500).
func TestXSLTransformBodies(t *testing.T) {
	copyAll := `<xsl-transform><xsl:stylesheet version="1.0" ` + xslNS + `><xsl:template match="@*|node()"><xsl:copy><xsl:apply-templates select="@*|node()" /></xsl:copy></xsl:template></xsl:stylesheet></xsl-transform>`
	quadratic := `<xsl-transform><xsl:stylesheet version="1.0" ` + xslNS + `><xsl:template match="/"><n><xsl:value-of select="count(//*[count(//*) &gt; 0])" /></n></xsl:template></xsl:stylesheet></xsl-transform>`
	forever := `<xsl-transform><xsl:stylesheet version="1.0" ` + xslNS + `><xsl:template name="f"><xsl:call-template name="f" /></xsl:template><xsl:template match="/"><xsl:call-template name="f" /></xsl:template></xsl:stylesheet></xsl-transform>`
	doubling := `<xsl-transform><xsl:stylesheet version="1.0" ` + xslNS + `><xsl:template match="/"><xsl:call-template name="d"><xsl:with-param name="n" select="30" /></xsl:call-template></xsl:template>` +
		`<xsl:template name="d"><xsl:param name="n" /><xsl:if test="$n &gt; 0"><x><xsl:call-template name="d"><xsl:with-param name="n" select="$n - 1" /></xsl:call-template><xsl:call-template name="d"><xsl:with-param name="n" select="$n - 1" /></xsl:call-template></x></xsl:if></xsl:template></xsl:stylesheet></xsl-transform>`
	big := "<r>" + strings.Repeat("<a>x</a>", 20000) + "</r>"
	tests := []struct {
		name, policy, body string
		limit              int64
		status             int
		message            string
	}{
		{"not XML", copyAll, `{"a":1}`, 1 << 20, 400, "the body is not XML"},
		{"billion laughs", copyAll, `<!DOCTYPE l [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;&a;&a;">]><l>&b;</l>`, 1 << 20, 400, "the body is not XML"},
		{"deep", copyAll, strings.Repeat("<a>", 5000) + strings.Repeat("</a>", 5000), 1 << 20, 400, "the body is not XML"},
		{"a body over the limit", copyAll, big, 4096, 413, "exceeds the buffering limit"},
		{"a quadratic expression", quadratic, big, 1 << 20, 500, "the stylesheet failed"},
		{"endless recursion", forever, `<r />`, 1 << 20, 500, "the stylesheet failed"},
		{"output over the limit", doubling, `<r />`, 1 << 20, 500, "the stylesheet failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			x := convertRun(t, tt.policy, "application/xml", "", tt.body, tt.limit)
			if x.LastError == nil {
				t.Fatal("the body was transformed")
			}
			if x.Response.StatusCode != tt.status || !strings.Contains(x.LastError.Message, tt.message) {
				t.Errorf("got %d %s: %s; want %d saying %q", x.Response.StatusCode, x.LastError.Reason, x.LastError.Message, tt.status, tt.message)
			}
		})
	}

	// A body within limits.bufferedBody whose tree would take more than all
	// buffered bodies together may (limits.bufferedBodies) can never be
	// transformed: 413, not the 503 that says to retry.
	t.Run("a tree larger than the whole budget", func(t *testing.T) {
		x := convertRunBudget(t, copyAll, "application/xml", "", big, 1<<20, int64(len(big))*10)
		if x.LastError == nil || x.Response.StatusCode != 413 || !strings.Contains(x.LastError.Message, "exceeds the buffering limit") {
			t.Errorf("got %+v %+v, want 413", x.LastError, x.Response)
		}
		x = convertRunBudget(t, copyAll, "application/xml", "", big, 1<<20, int64(len(big))*30)
		if x.LastError != nil {
			t.Errorf("a budget that holds the tree: %+v", x.LastError)
		}
	})
	t.Run("a parameter from an expression, and one the stylesheet ignores", func(t *testing.T) {
		policy := `<xsl-transform><parameter parameter-name="who">@(context.Request.Method)</parameter><parameter name="undeclared">x</parameter><xsl:stylesheet version="1.0" ` + xslNS + `><xsl:output omit-xml-declaration="yes" /><xsl:param name="who" select="'nobody'" /><xsl:template match="/"><by><xsl:value-of select="$who" />:<xsl:value-of select="count(//a)" /></by></xsl:template></xsl:stylesheet></xsl-transform>`
		x := convertRun(t, policy, "application/xml", "", big, 1<<20)
		if x.LastError != nil {
			t.Fatal(x.LastError.Message)
		}
		got, _ := x.Request.Body.Bytes(true)
		if string(got) != "<by>POST:20000</by>" || x.Request.Headers.Get("Content-Type") != "application/xml" {
			t.Errorf("got %q (%s)", got, x.Request.Headers.Get("Content-Type"))
		}
	})
}

// BenchmarkXSLTransform runs Microsoft's request example (a parameter from an
// expression, every node copied) on a 10 KB body, and reports what the parsed
// tree costs per byte of the body: treeCost charges that to the buffer budget.
func BenchmarkXSLTransform(b *testing.B) {
	policy := `<xsl-transform><parameter name="User-Agent">@(context.Request.Headers.GetValueOrDefault("User-Agent","non-specified"))</parameter>` +
		`<xsl:stylesheet version="1.0" ` + xslNS + `><xsl:output method="xml" indent="yes" /><xsl:param name="User-Agent" />` +
		`<xsl:template match="* | @* | node()"><xsl:copy><xsl:if test="self::* and not(parent::*)"><xsl:attribute name="User-Agent"><xsl:value-of select="$User-Agent" /></xsl:attribute></xsl:if>` +
		`<xsl:apply-templates select="* | @* | node()" /></xsl:copy></xsl:template></xsl:stylesheet></xsl-transform>`
	var body strings.Builder
	body.WriteString(`<orders>`)
	for i := 0; body.Len() < 10000; i++ {
		fmt.Fprintf(&body, `<order id="%d" status="open"><customer>Ann Example</customer><total currency="EUR">12.50</total></order>`, i)
	}
	body.WriteString(`</orders>`)
	src := []byte(body.String())

	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	const n = 20
	for range n {
		if _, err := xpath.Parse(src, xpath.Limits{}); err != nil {
			b.Fatal(err)
		}
	}
	runtime.ReadMemStats(&after)
	treeBytes := float64(after.TotalAlloc-before.TotalAlloc) / n / float64(len(src))

	p := compileInbound(b, policy)
	u, _ := url.Parse("https://backend.example/x")
	budget := exchange.NewBudget(1 << 30)
	b.SetBytes(int64(len(src)))
	for b.Loop() {
		x := &exchange.Exchange{Request: exchange.Request{Method: "POST", URL: u, OriginalURL: u, Headers: http.Header{"User-Agent": {"bench"}}}}
		x.Buffers.Init(budget, 1<<20)
		x.Request.Body = exchange.NewRequestBody(readCloser{strings.NewReader(body.String())}, int64(len(src)), &x.Buffers)
		if err := p.Run(context.Background(), x); err != nil || x.LastError != nil {
			b.Fatal(err, x.LastError)
		}
		x.Buffers.Release()
	}
	b.ReportMetric(treeBytes, "tree-B/body-B")
}

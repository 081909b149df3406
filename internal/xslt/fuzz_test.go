package xslt

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/xpath"
)

// FuzzTransform compiles arbitrary stylesheets and runs them on arbitrary
// documents: nothing may panic (Compile and Transform turn a panic into an
// "internal error", which fails here), and the limits must hold.
func FuzzTransform(f *testing.F) {
	seeds := [][2]string{
		{msUserAgent, `<a x="1"><b>t</b></a>`},
		{msIdentity, `<a xmlns:p="urn:p"><p:b/><!--c--><?p d?></a>`},
		{sheet(`<xsl:key name="k" match="*" use="name()"/><xsl:template match="/"><xsl:for-each select="key('k', 'b')"><xsl:sort select="."/><xsl:number level="any" format="i"/></xsl:for-each></xsl:template>`), `<a><b>2</b><b>1</b></a>`},
		{sheet(`<xsl:variable name="v"><x/></xsl:variable><xsl:template match="/"><xsl:copy-of select="msxsl:node-set($v)" xmlns:msxsl="urn:schemas-microsoft-com:xslt"/><xsl:value-of select="format-number(1.5, '#,##0.0')"/></xsl:template>`), `<a/>`},
		{sheet(`<xsl:output method="html"/><xsl:template match="/"><html><head/><xsl:element name="{name(*)}"><xsl:attribute name="a" namespace="urn:x">1</xsl:attribute></xsl:element></html></xsl:template>`), `<a/>`},
		{sheet(`<xsl:template match="/"><xsl:call-template name="t"/></xsl:template><xsl:template name="t"><xsl:call-template name="t"/></xsl:template>`), `<a/>`},
		{sheet(`<xsl:output indent="yes" cdata-section-elements="c"/><xsl:strip-space elements="*"/><xsl:template match="*"><xsl:copy><xsl:number level="multiple" count="*" format="1.a"/><c><xsl:value-of select="format-number(count(*), '#,##0.0;(0)')"/></c><xsl:apply-templates select="*"><xsl:sort select="name()" order="descending"/></xsl:apply-templates></xsl:copy></xsl:template>`), "<a>\n <b/> <c><d/></c></a>"},
		{reshape, string(benchDoc()[:600]) + "</order></orders>"},
		{`<out xsl:version="1.0" ` + xslNS + `><xsl:for-each select="//*"><xsl:element name="{name()}"><xsl:copy-of select="@*"/></xsl:element></xsl:for-each></out>`, `<a x="1"><b/></a>`},
	}
	for _, s := range seeds {
		f.Add(s[0], s[1])
	}
	lim := Limits{MaxOutput: 64 << 10, MaxDepth: 200, MaxSteps: 200_000}
	// Within these limits a run takes milliseconds; much longer means some
	// work escapes the step budget.
	const slow = 2 * time.Second
	f.Fuzz(func(t *testing.T, src, input string) {
		start := time.Now()
		defer func() {
			if d := time.Since(start); d > slow {
				t.Errorf("took %v", d)
			}
		}()
		s, err := Compile([]byte(src))
		if err != nil {
			if strings.Contains(err.Error(), "internal error") {
				t.Fatalf("Compile: %v", err)
			}
			return
		}
		doc, err := xpath.Parse([]byte(input), xpath.Limits{})
		if err != nil {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		res, err := s.Transform(ctx, doc, map[string]string{"p": input}, lim)
		if err != nil {
			if strings.Contains(err.Error(), "internal error") || ctx.Err() != nil {
				t.Fatalf("Transform: %v", err)
			}
			return
		}
		if int64(len(res.Body)) > lim.MaxOutput {
			t.Fatalf("output of %d bytes passes MaxOutput %d", len(res.Body), lim.MaxOutput)
		}
	})
}

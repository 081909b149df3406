package xslt

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/xpath"
)

// benchDoc is an order document of about 10 KB, like a typical API payload.
func benchDoc() []byte {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?>` + "\n" + `<orders xmlns:m="urn:meta" created="2026-12-07">` + "\n")
	for i := 0; b.Len() < 10_000; i++ {
		fmt.Fprintf(&b, `  <order id="o%d" status="%s"><customer><name>Customer %d</name><email>c%d@example.com</email></customer>`,
			i, []string{"open", "paid", "shipped"}[i%3], i, i)
		for j := range 3 {
			fmt.Fprintf(&b, `<item sku="s%d-%d" qty="%d"><price>%d.%02d</price></item>`, i, j, j+1, 10+i%7, i*j%100)
		}
		b.WriteString("<m:note>rush &amp; gift</m:note></order>\n")
	}
	b.WriteString("</orders>\n")
	return []byte(b.String())
}

const reshape = `<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform" xmlns:m="urn:meta" exclude-result-prefixes="m">
  <xsl:output method="xml" indent="yes"/>
  <xsl:strip-space elements="*"/>
  <xsl:template match="/orders">
    <summary date="{@created}" count="{count(order)}">
      <xsl:apply-templates select="order[@status != 'shipped']">
        <xsl:sort select="customer/name"/>
      </xsl:apply-templates>
    </summary>
  </xsl:template>
  <xsl:template match="order">
    <o ref="{@id}" lines="{count(item)}" total="{format-number(sum(item/price), '0.00')}">
      <who><xsl:value-of select="customer/name"/></who>
      <xsl:for-each select="item[@qty &gt; 1]"><line sku="{@sku}" qty="{@qty}"/></xsl:for-each>
      <xsl:if test="m:note"><note><xsl:value-of select="m:note"/></note></xsl:if>
    </o>
  </xsl:template>
</xsl:stylesheet>`

func BenchmarkTransform(b *testing.B) {
	src := benchDoc()
	doc, err := xpath.Parse(src, xpath.Limits{})
	if err != nil {
		b.Fatal(err)
	}
	for _, bc := range []struct{ name, sheet string }{
		{"identity", msIdentity},
		{"reshape", reshape},
	} {
		b.Run(bc.name, func(b *testing.B) {
			s, err := Compile([]byte(bc.sheet))
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(src)))
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Transform(context.Background(), doc, nil, Limits{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkCompile(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Compile([]byte(reshape)); err != nil {
			b.Fatal(err)
		}
	}
}

package xslt

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/lastmile-gw/lastmile/internal/xpath"
)

const xslNS = `xmlns:xsl="http://www.w3.org/1999/XSL/Transform"`

// sheet wraps templates in an xsl:stylesheet element.
func sheet(body string) string {
	return `<xsl:stylesheet version="1.0" ` + xslNS + `>` + body + `</xsl:stylesheet>`
}

// transform compiles and runs a stylesheet on input.
func transform(t testing.TB, src, input string, params map[string]string, lim Limits) (*Result, error) {
	t.Helper()
	s, err := Compile([]byte(src))
	if err != nil {
		return nil, err
	}
	doc, err := xpath.Parse([]byte(input), xpath.Limits{})
	if err != nil {
		t.Fatalf("input: %v", err)
	}
	return s.Transform(context.Background(), doc, params, lim)
}

// Microsoft's two documented xsl-transform examples.
const (
	msUserAgent = `<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
    <xsl:output method="xml" indent="yes" />
    <xsl:param name="User-Agent" />
    <xsl:template match="* | @* | node()">
        <xsl:copy>
            <xsl:if test="self::* and not(parent::*)">
                <xsl:attribute name="User-Agent">
                    <xsl:value-of select="$User-Agent" />
                </xsl:attribute>
            </xsl:if>
            <xsl:apply-templates select="* | @* | node()" />
        </xsl:copy>
    </xsl:template>
</xsl:stylesheet>`
	msIdentity = `<xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">
    <xsl:output omit-xml-declaration="yes" method="xml" indent="yes" />
    <xsl:template match="node()| @*|*">
        <xsl:copy>
            <xsl:apply-templates select="@* | node()|*" />
        </xsl:copy>
    </xsl:template>
</xsl:stylesheet>`
)

func TestTransform(t *testing.T) {
	tests := []struct {
		name      string
		sheet     string
		input     string
		params    map[string]string
		want      string
		mediaType string
	}{
		{
			name:   "microsoft user-agent",
			sheet:  msUserAgent,
			input:  `<order id="7"><item sku="a">2</item><item sku="b"/></order>`,
			params: map[string]string{"User-Agent": "curl/8.5 \"x\" & <y>"},
			want: `<?xml version="1.0" encoding="utf-8"?>
<order User-Agent="curl/8.5 &quot;x&quot; &amp; &lt;y&gt;" id="7">
  <item sku="a">2</item>
  <item sku="b" />
</order>`,
		},
		{
			name:  "microsoft identity",
			sheet: msIdentity,
			input: `<?xml version="1.0"?><!-- c --><a xmlns="urn:a" xmlns:p="urn:p"><p:b p:x="1">t</p:b><?pi data?><c/></a>`,
			want: `<!-- c -->
<a xmlns="urn:a" xmlns:p="urn:p">
  <p:b p:x="1">t</p:b>
  <?pi data?>
  <c />
</a>`,
		},
		{
			name:  "identity keeps mixed content and whitespace as they are",
			sheet: msIdentity,
			input: "<a>\n  <b>x <i>y</i> z</b>\n</a>",
			want:  "<a>\n  <b>x <i>y</i> z</b>\n</a>",
		},
		{
			name:  "indentation stops at an element's first text, as in .NET",
			sheet: sheet(`<xsl:output omit-xml-declaration="yes" indent="yes"/><xsl:template match="/"><r><a><b/>text<c><d/></c></a><e><f/></e></r></xsl:template>`),
			input: `<r/>`,
			want:  "<r>\n  <a>\n    <b />text<c><d /></c></a>\n  <e>\n    <f />\n  </e>\n</r>",
		},
		{
			name: "value-of, AVTs and escapes",
			sheet: sheet(`<xsl:template match="/order">
				<out id="{@id}" total="{sum(item/@price)}" braces="{{literal}}" mixed="n{@id}-{count(item)}">
					<xsl:value-of select="concat(customer, ' &lt;&amp;&gt;')"/>
				</out></xsl:template>`),
			input: `<order id="42"><customer>Ann</customer><item price="1.5"/><item price="2"/></order>`,
			want:  `<?xml version="1.0" encoding="utf-8"?><out id="42" total="3.5" braces="{literal}" mixed="n42-2">Ann &lt;&amp;&gt;</out>`,
		},
		{
			name: "for-each with sorts",
			sheet: sheet(`<xsl:output omit-xml-declaration="yes"/><xsl:template match="/">
				<xsl:for-each select="//p">
					<xsl:sort select="@age" data-type="number" order="descending"/>
					<xsl:sort select="@name"/>
					<xsl:value-of select="concat(@name, position(), ';')"/>
				</xsl:for-each></xsl:template>`),
			input: `<r><p name="c" age="9"/><p name="b" age="30"/><p name="a" age="9"/><p name="d" age="x"/></r>`,
			want:  `b1;a2;c3;d4;`,
		},
		{
			name: "text sort: case-insensitive, then lower-first",
			sheet: sheet(`<xsl:output method="text"/><xsl:template match="/">
				<xsl:for-each select="//w"><xsl:sort select="."/><xsl:value-of select="."/>,</xsl:for-each>|<xsl:for-each select="//w"><xsl:sort select="." case-order="upper-first"/><xsl:value-of select="."/>,</xsl:for-each></xsl:template>`),
			input: `<r><w>b</w><w>B</w><w>a</w><w>A</w><w>ab</w></r>`,
			want:  `a,A,ab,b,B,|A,a,ab,B,b,`,
		},
		{
			name: "modes and priorities",
			sheet: sheet(`<xsl:output omit-xml-declaration="yes"/>
				<xsl:template match="/"><r><xsl:apply-templates select="//x"/><xsl:apply-templates select="//x" mode="m"/></r></xsl:template>
				<xsl:template match="x">[x]</xsl:template>
				<xsl:template match="x[@k]">[x@k]</xsl:template>
				<xsl:template match="*" priority="5">[*5]</xsl:template>
				<xsl:template match="x" mode="m">(m)</xsl:template>
				<xsl:template match="x" mode="m">(m-last)</xsl:template>`),
			input: `<a><x/><x k="1"/></a>`,
			want:  `<r>[*5][*5](m-last)(m-last)</r>`,
		},
		{
			name: "default priorities",
			sheet: sheet(`<xsl:output omit-xml-declaration="yes"/>
				<xsl:template match="/"><r><xsl:apply-templates select="//x|//y"/></r></xsl:template>
				<xsl:template match="x[@k]">[x@k]</xsl:template>
				<xsl:template match="x">[x]</xsl:template>
				<xsl:template match="node()">[node]</xsl:template>
				<xsl:template match="a/y">[a/y]</xsl:template>
				<xsl:template match="y">[y]</xsl:template>`),
			input: `<a><x/><x k="1"/><y/></a>`,
			want:  `<r>[x][x@k][a/y]</r>`,
		},
		{
			name: "built-in rules, also in modes",
			sheet: sheet(`<xsl:output method="text"/>
				<xsl:template match="/"><xsl:apply-templates mode="m"/></xsl:template>
				<xsl:template match="b" mode="m">B</xsl:template>`),
			input: `<a>1<b>2</b>3<c>4<!-- no --><?no?></c></a>`,
			want:  `1B34`,
		},
		{
			name: "call-template with params and recursion",
			sheet: sheet(`<xsl:output method="text"/>
				<xsl:template match="/"><xsl:call-template name="count"><xsl:with-param name="n" select="3"/></xsl:call-template></xsl:template>
				<xsl:template name="count"><xsl:param name="n"/><xsl:param name="sep" select="','"/>
					<xsl:if test="$n > 0"><xsl:value-of select="$n"/><xsl:value-of select="$sep"/>
					<xsl:call-template name="count"><xsl:with-param name="n" select="$n - 1"/></xsl:call-template></xsl:if></xsl:template>`),
			input: `<a/>`,
			want:  `3,2,1,`,
		},
		{
			name: "apply-templates with-param",
			sheet: sheet(`<xsl:output method="text"/>
				<xsl:template match="/"><xsl:apply-templates select="a/b"><xsl:with-param name="p">P</xsl:with-param></xsl:apply-templates></xsl:template>
				<xsl:template match="b"><xsl:param name="p" select="'default'"/><xsl:value-of select="concat(., $p)"/></xsl:template>`),
			input: `<a><b>1</b><b>2</b></a>`,
			want:  `1P2P`,
		},
		{
			name: "choose",
			sheet: sheet(`<xsl:output method="text"/><xsl:template match="n">
				<xsl:choose><xsl:when test=". &lt; 0">neg</xsl:when><xsl:when test=". = 0">zero</xsl:when><xsl:otherwise>pos</xsl:otherwise></xsl:choose>
				<xsl:text> </xsl:text></xsl:template>`),
			input: `<r><n>-1</n><n>0</n><n>5</n></r>`,
			want:  `neg zero pos `,
		},
		{
			name: "global variables and params, in any order",
			sheet: sheet(`<xsl:output method="text"/>
				<xsl:variable name="b" select="concat($a, '+b')"/>
				<xsl:param name="a" select="'a'"/>
				<xsl:param name="c">default-c</xsl:param>
				<xsl:template match="/"><xsl:value-of select="concat($b, ' ', $c)"/></xsl:template>`),
			input:  `<r/>`,
			params: map[string]string{"c": "given-c", "unknown": "x"},
			want:   `a+b given-c`,
		},
		{
			name: "result tree fragments: string value, copy-of and node-set",
			sheet: `<xsl:stylesheet version="1.0" ` + xslNS + ` xmlns:msxsl="urn:schemas-microsoft-com:xslt" xmlns:exsl="http://exslt.org/common" exclude-result-prefixes="msxsl exsl">
				<xsl:output omit-xml-declaration="yes"/>
				<xsl:variable name="t"><i n="2">b</i><i n="1">a</i></xsl:variable>
				<xsl:template match="/"><r s="{$t}" c="{count(msxsl:node-set($t)/i)}">
					<xsl:copy-of select="$t"/>
					<xsl:for-each select="exsl:node-set($t)/i"><xsl:sort select="@n"/><xsl:value-of select="."/></xsl:for-each>
				</r></xsl:template></xsl:stylesheet>`,
			input: `<x/>`,
			want:  `<r s="ba" c="2"><i n="2">b</i><i n="1">a</i>ab</r>`,
		},
		{
			name: "namespaced attributes in a result tree fragment",
			sheet: sheet(`<xsl:output omit-xml-declaration="yes"/><xsl:variable name="v"><x><xsl:attribute name="a" namespace="urn:1">1</xsl:attribute><xsl:attribute name="b" namespace="urn:2">2</xsl:attribute></x></xsl:variable>
				<xsl:template match="/"><xsl:copy-of select="$v"/></xsl:template>`),
			input: `<r/>`,
			want:  `<x xmlns:ns0="urn:1" xmlns:ns1="urn:2" ns0:a="1" ns1:b="2" />`,
		},
		{
			name: "keys",
			sheet: sheet(`<xsl:output method="text"/>
				<xsl:key name="by-cat" match="item" use="@cat"/>
				<xsl:key name="by-cat" match="extra" use="@cat"/>
				<xsl:template match="/">
					<xsl:for-each select="//item[generate-id() = generate-id(key('by-cat', @cat)[1])]">
						<xsl:value-of select="@cat"/>:<xsl:value-of select="count(key('by-cat', @cat))"/>;</xsl:for-each>
					<xsl:value-of select="count(key('by-cat', //item/@cat))"/></xsl:template>`),
			input: `<r><item cat="x"/><item cat="y"/><item cat="x"/><extra cat="x"/></r>`,
			want:  `x:3;y:1;4`,
		},
		{
			name: "number",
			sheet: sheet(`<xsl:output method="text"/>
				<xsl:template match="i"><xsl:number/>|<xsl:number format="01"/>|<xsl:number format="a"/>|<xsl:number format="I"/>|<xsl:number level="multiple" count="s|i" format="1.a"/>|<xsl:number level="any" from="s" count="i"/>|<xsl:number level="any"/><xsl:text>&#10;</xsl:text></xsl:template>`),
			input: `<d><s><i/><i/></s><s><i/><x/><i/></s></d>`,
			want:  "1|01|a|I|1.a|1|1\n2|02|b|II|1.b|2|2\n1|01|a|I|2.a|1|3\n2|02|b|II|2.b|2|4\n",
		},
		{
			name: "number value and format tokens",
			sheet: sheet(`<xsl:output method="text"/>
				<xsl:template match="/"><xsl:number value="1234567" grouping-separator="," grouping-size="3"/>;<xsl:number value="28" format="A"/>;<xsl:number value="1999" format="i"/>;<xsl:number value="3.5" format="(1)"/>;<xsl:number value="7" format="001"/></xsl:template>`),
			input: `<r/>`,
			want:  `1,234,567;AB;mcmxcix;(4);007`,
		},
		{
			name: "format-number and decimal-format",
			sheet: sheet(`<xsl:output method="text"/>
				<xsl:decimal-format name="eu" decimal-separator="," grouping-separator="."/>
				<xsl:template match="/"><xsl:value-of select="concat(
					format-number(1234.5, '#,##0.00'), ' ',
					format-number(0.256, '0.0%'), ' ',
					format-number(-3, '0.00;(0.00)'), ' ',
					format-number(-3, '#'), ' ',
					format-number(1234567.891, '#.###,00', 'eu'), ' ',
					format-number(0.5, '#.##'), ' ',
					format-number('x', '0'), ' ',
					format-number(12, '000'), ' ',
					format-number(0.125, '0.00'), ' ',
					format-number(2.5, '0'), ' ',
					format-number(1.005, '0.00'), ' ',
					format-number(9.999, '0.00'), ' ',
					format-number(-0.001, '0.00'), ' ',
					format-number(1 div 0, '#'), ' ',
					format-number(1234567, '#,##,###'))"/></xsl:template>`),
			input: `<r/>`,
			want:  `1,234.50 25.6% (3.00) -3 1.234.567,89 .5 NaN 012 0.13 3 1.01 10.00 0.00 Infinity 1,234,567`,
		},
		{
			name: "xsl:element and xsl:attribute with namespaces",
			sheet: `<xsl:stylesheet version="1.0" ` + xslNS + ` xmlns:p="urn:p">
				<xsl:output omit-xml-declaration="yes"/>
				<xsl:template match="/*">
					<xsl:element name="{name()}-out" namespace="urn:out">
						<xsl:attribute name="p:a">1</xsl:attribute>
						<xsl:attribute name="b" namespace="urn:other">2</xsl:attribute>
						<xsl:attribute name="plain"><xsl:value-of select="@v"/><xsl:text>!</xsl:text></xsl:attribute>
						<xsl:attribute name="plain">replaced</xsl:attribute>
						<xsl:element name="p:child"/>
						<xsl:element name="nons" namespace=""/>
					</xsl:element></xsl:template></xsl:stylesheet>`,
			input: `<root v="x"/>`,
			want:  `<root-out xmlns="urn:out" xmlns:p="urn:p" xmlns:ns0="urn:other" p:a="1" ns0:b="2" plain="replaced"><p:child /><nons xmlns="" /></root-out>`,
		},
		{
			name: "literal result elements: namespaces declared once, excluded ones left out",
			sheet: `<xsl:stylesheet version="1.0" ` + xslNS + ` xmlns="urn:default" xmlns:a="urn:a" xmlns:unused="urn:unused" xmlns:x="urn:x" exclude-result-prefixes="x">
				<xsl:output omit-xml-declaration="yes"/>
				<xsl:template match="/"><root><a:child x:attr="1"><inner xsl:exclude-result-prefixes="unused"/></a:child></root></xsl:template></xsl:stylesheet>`,
			input: `<r/>`,
			want:  `<root xmlns="urn:default" xmlns:a="urn:a" xmlns:unused="urn:unused"><a:child xmlns:x="urn:x" x:attr="1"><inner /></a:child></root>`,
		},
		{
			name: "literal result elements copy namespaces declared on xsl: elements around them",
			sheet: sheet(`<xsl:output omit-xml-declaration="yes"/>
				<xsl:template match="/"><r><xsl:for-each select="*" xmlns:e="urn:e"><n/></xsl:for-each></r></xsl:template>`),
			input: `<a/>`,
			want:  `<r><n xmlns:e="urn:e" /></r>`,
		},
		{
			name: "namespace-alias",
			sheet: `<xsl:stylesheet version="1.0" ` + xslNS + ` xmlns:axsl="urn:alias">
				<xsl:namespace-alias stylesheet-prefix="axsl" result-prefix="xsl"/>
				<xsl:output omit-xml-declaration="yes"/>
				<xsl:template match="/"><axsl:stylesheet version="1.0"><axsl:template match="{name(*)}"/></axsl:stylesheet></xsl:template></xsl:stylesheet>`,
			input: `<doc/>`,
			want:  `<xsl:stylesheet xmlns:xsl="http://www.w3.org/1999/XSL/Transform" version="1.0"><xsl:template match="doc" /></xsl:stylesheet>`,
		},
		{
			name: "attribute sets",
			sheet: sheet(`<xsl:output omit-xml-declaration="yes"/>
				<xsl:attribute-set name="base"><xsl:attribute name="a">1</xsl:attribute><xsl:attribute name="b">1</xsl:attribute></xsl:attribute-set>
				<xsl:attribute-set name="more" use-attribute-sets="base"><xsl:attribute name="b">2</xsl:attribute></xsl:attribute-set>
				<xsl:template match="/"><r xsl:use-attribute-sets="more" c="3"><xsl:element name="e" use-attribute-sets="base"/><xsl:copy use-attribute-sets="base"/></r></xsl:template>`),
			input: `<r/>`,
			want:  `<r a="1" b="2" c="3"><e a="1" b="1" /></r>`,
		},
		{
			name: "copy-of copies nodes, attributes and namespaces",
			sheet: sheet(`<xsl:output omit-xml-declaration="yes"/>
				<xsl:template match="/"><out><xsl:copy-of select="//p:b | //@k" xmlns:p="urn:p"/><xsl:copy-of select="'text'"/></out></xsl:template>`),
			input: `<a xmlns:p="urn:p" k="v"><p:b><c p:d="1"/></p:b></a>`,
			want:  `<out k="v"><p:b xmlns:p="urn:p"><c p:d="1" /></p:b>text</out>`,
		},
		{
			name: "comments and processing instructions",
			sheet: sheet(`<xsl:output omit-xml-declaration="yes"/>
				<xsl:template match="/"><r><xsl:comment> a -- b -</xsl:comment><xsl:processing-instruction name="pi">  x ?> y</xsl:processing-instruction></r></xsl:template>`),
			input: `<r/>`,
			want:  `<r><!-- a - - b - --><?pi x ? > y?></r>`,
		},
		{
			name: "strip-space and preserve-space",
			sheet: sheet(`<xsl:output omit-xml-declaration="yes"/><xsl:strip-space elements="*"/><xsl:preserve-space elements="keep"/>
				<xsl:template match="/"><xsl:copy-of select="."/></xsl:template>`),
			input: "<a>\n <b> x </b>\n <keep> </keep> <c xml:space=\"preserve\"> <d> </d> </c></a>",
			want:  `<a><b> x </b><keep> </keep><c xml:space="preserve"> <d> </d> </c></a>`,
		},
		{
			name: "cdata-section-elements, doctype and standalone",
			sheet: sheet(`<xsl:output cdata-section-elements="script" doctype-system="r.dtd" standalone="yes"/>
				<xsl:template match="/"><r><script>a &lt; b ]]&gt; c</script><x>a &lt; b</x></r></xsl:template>`),
			input: `<r/>`,
			want:  "<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\"?>\n<!DOCTYPE r SYSTEM \"r.dtd\">\n<r><script><![CDATA[a < b ]]]]><![CDATA[> c]]></script><x>a &lt; b</x></r>",
		},
		{
			name: "text output method",
			sheet: sheet(`<xsl:output method="text" media-type="text/csv"/>
				<xsl:template match="row"><xsl:value-of select="@a"/>,<xsl:value-of select="@b"/><xsl:text>&#10;</xsl:text></xsl:template>`),
			input:     `<t><row a="1" b="&lt;x&gt;"/><row a="2" b="&amp;"/></t>`,
			want:      "1,<x>\n2,&\n",
			mediaType: "text/csv",
		},
		{
			name: "html output method",
			sheet: sheet(`<xsl:output method="html" indent="no"/>
				<xsl:template match="/"><html><head><title>T &amp; U</title><script>if (a &lt; b) {}</script></head><body><br/><p class="{r/@c}">x<input type="checkbox" checked="checked"/></p><a href="/ä?q=1&amp;r">l</a></body></html></xsl:template>`),
			input:     `<r c="q&quot;"/>`,
			want:      `<html><head><META http-equiv="Content-Type" content="text/html; charset=utf-8"><title>T &amp; U</title><script>if (a < b) {}</script></head><body><br><p class="q&quot;">x<input type="checkbox" checked></p><a href="/%C3%A4?q=1&amp;r">l</a></body></html>`,
			mediaType: "text/html",
		},
		{
			name:      "html chosen by the result's root element",
			sheet:     sheet(`<xsl:template match="/"><html><body><p>x</p></body></html></xsl:template>`),
			input:     `<r/>`,
			want:      "<html>\n  <body>\n    <p>x</p>\n  </body>\n</html>",
			mediaType: "text/html",
		},
		{
			name: "disable-output-escaping",
			sheet: sheet(`<xsl:output omit-xml-declaration="yes"/>
				<xsl:template match="/"><r><xsl:text disable-output-escaping="yes">&lt;b&gt;</xsl:text><xsl:value-of select="'&lt;i&gt;'" disable-output-escaping="yes"/><xsl:value-of select="'&lt;'"/></r></xsl:template>`),
			input: `<r/>`,
			want:  `<r><b><i>&lt;</r>`,
		},
		{
			name: "system-property, function-available, element-available",
			sheet: sheet(`<xsl:output method="text"/>
				<xsl:template match="/"><xsl:value-of select="concat(system-property('xsl:version'), ' ', system-property('xsl:vendor'), ' ',
					function-available('msxsl:node-set'), function-available('concat'), function-available('document'), ' ',
					element-available('xsl:for-each'), element-available('xsl:foo'), ' [', unparsed-entity-uri('x'), ']')" xmlns:msxsl="urn:schemas-microsoft-com:xslt"/></xsl:template>`),
			input: `<r/>`,
			want:  `1 lastmile truetruefalse truefalse []`,
		},
		{
			name: "current() in predicates",
			sheet: sheet(`<xsl:output method="text"/>
				<xsl:template match="ref"><xsl:value-of select="//def[@id = current()/@to]"/></xsl:template>`),
			input: `<r><def id="1">one</def><def id="2">two</def><ref to="2"/><ref to="1"/></r>`,
			want:  `onetwotwoone`,
		},
		{
			name:  "simplified stylesheet",
			sheet: `<out xsl:version="1.0" ` + xslNS + `><xsl:value-of select="/r/@v"/></out>`,
			input: `<r v="1"/>`,
			want:  `<?xml version="1.0" encoding="utf-8"?><out>1</out>`,
		},
		{
			name: "forwards-compatible mode runs xsl:fallback",
			sheet: `<xsl:stylesheet version="2.0" ` + xslNS + `><xsl:output method="text"/><xsl:future-top/>
				<xsl:template match="/"><xsl:sequence select="1"><xsl:fallback>fallback</xsl:fallback></xsl:sequence></xsl:template></xsl:stylesheet>`,
			input: `<r/>`,
			want:  `fallback`,
		},
		{
			name:  "exclude-result-prefixes=#all in a 2.0 stylesheet",
			sheet: `<xsl:stylesheet version="2.0" ` + xslNS + ` xmlns:a="urn:a" xmlns="urn:d" exclude-result-prefixes="#all"><xsl:output omit-xml-declaration="yes"/><xsl:template match="/"><r/></xsl:template></xsl:stylesheet>`,
			input: `<r/>`,
			want:  `<r xmlns="urn:d" />`,
		},
		{
			name: "xml:space in the stylesheet keeps whitespace",
			sheet: sheet(`<xsl:output omit-xml-declaration="yes"/>
				<xsl:template match="/"><r xml:space="preserve"> <x/> </r><s> <x/> </s></xsl:template>`),
			input: `<r/>`,
			want:  `<r xml:space="preserve"> <x /> </r><s><x /></s>`,
		},
		{
			name: "apply-imports falls back to the built-in rules",
			sheet: sheet(`<xsl:output method="text"/>
				<xsl:template match="b">[<xsl:apply-imports/>]</xsl:template>`),
			input: `<a><b>x<c>y</c></b></a>`,
			want:  `[xy]`,
		},
		{
			name: "variables shadow and scope",
			sheet: sheet(`<xsl:output method="text"/>
				<xsl:variable name="v" select="'global'"/>
				<xsl:template match="/"><xsl:value-of select="$v"/>,<xsl:for-each select="r/i"><xsl:variable name="v" select="."/><xsl:value-of select="$v"/>,</xsl:for-each><xsl:value-of select="$v"/></xsl:template>`),
			input: `<r><i>1</i><i>2</i></r>`,
			want:  `global,1,2,global`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := transform(t, tt.sheet, tt.input, tt.params, Limits{})
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(res.Body)); diff != "" {
				t.Errorf("output (-want +got):\n%s", diff)
			}
			want := tt.mediaType
			if want == "" {
				want = "application/xml"
				if strings.Contains(tt.sheet, `method="text"`) {
					want = "text/plain"
				}
			}
			if res.MediaType != want {
				t.Errorf("media type = %q, want %q", res.MediaType, want)
			}
		})
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name  string
		sheet string
		want  []string // "line:col: message" prefixes
	}{
		{
			name:  "not well-formed",
			sheet: "<xsl:stylesheet version=\"1.0\" " + xslNS + ">\n<xsl:template match=\"/\">\n</xsl:stylesheet>",
			want:  []string{"3:1: the end tag </xsl:stylesheet> does not match <xsl:template> at line 2"},
		},
		{
			name:  "not a stylesheet",
			sheet: `<root/>`,
			want:  []string{"1:1: the root element must be xsl:stylesheet or xsl:transform"},
		},
		{
			name:  "include and import",
			sheet: sheet("\n<xsl:import href=\"a.xsl\"/>\n<xsl:include href=\"b.xsl\"/>"),
			want: []string{
				"2:1: xsl:import is not supported (the gateway reads no files): put the imported stylesheet's templates in this one",
				"3:1: xsl:include is not supported",
			},
		},
		{
			name:  "document()",
			sheet: sheet("\n<xsl:template match=\"/\"><xsl:copy-of select=\"document('x.xml')\"/></xsl:template>"),
			want:  []string{"2:25: select: document() is not supported"},
		},
		{
			name: "msxsl:script",
			sheet: `<xsl:stylesheet version="1.0" ` + xslNS + ` xmlns:msxsl="urn:schemas-microsoft-com:xslt">
<msxsl:script language="C#">x</msxsl:script></xsl:stylesheet>`,
			want: []string{"2:1: msxsl:script is not supported"},
		},
		{
			name:  "unknown instruction and attribute",
			sheet: sheet("\n<xsl:template match=\"/\"><xsl:frobnicate/><xsl:value-of select=\".\" selekt=\"x\"/></xsl:template>"),
			want:  []string{"2:25: xsl:frobnicate is not an XSLT 1.0 instruction", "2:42: xsl:value-of has no attribute selekt"},
		},
		{
			name:  "bad XPath",
			sheet: sheet("\n<xsl:template match=\"/\"><xsl:value-of select=\"1 +\"/></xsl:template>"),
			want:  []string{`2:25: select="1 +": `},
		},
		{
			name:  "bad pattern",
			sheet: sheet("\n<xsl:template match=\"ancestor::a\"/>"),
			want:  []string{`2:1: match="ancestor::a": `},
		},
		{
			name:  "undefined template, attribute set and missing attributes",
			sheet: sheet("\n<xsl:template match=\"/\"><xsl:call-template name=\"nope\"/><r xsl:use-attribute-sets=\"none\"/><xsl:for-each/></xsl:template>"),
			want: []string{
				"2:25: xsl:call-template calls nope, which is not defined",
				"2:57: attribute set none is not defined",
				"2:91: xsl:for-each needs a select attribute",
			},
		},
		{
			name:  "unknown extension function",
			sheet: sheet("\n<xsl:template match=\"/\"><xsl:value-of select=\"ms:format-date('x')\" xmlns:ms=\"urn:schemas-microsoft-com:xslt\"/></xsl:template>"),
			want:  []string{"2:25: select: the extension function {urn:schemas-microsoft-com:xslt}format-date() is not supported"},
		},
		{
			name:  "simplified stylesheet calling an undefined template",
			sheet: `<out xsl:version="1.0" ` + xslNS + `>` + "\n" + `<xsl:call-template name="t"/><xsl:value-of select="$v"/></out>`,
			want:  []string{"2:1: xsl:call-template calls t, which is not defined", "2:30: select: the variable $v is not defined"},
		},
		{
			name:  "missing version",
			sheet: `<xsl:stylesheet ` + xslNS + `/>`,
			want:  []string{`1:1: the stylesheet needs version="1.0"`},
		},
		{
			name:  "param out of place",
			sheet: sheet("\n<xsl:template match=\"/\"><r/><xsl:param name=\"p\"/></xsl:template>"),
			want:  []string{"2:29: xsl:param is allowed only at the top level and first in xsl:template"},
		},
		{
			name:  "duplicate named template",
			sheet: sheet("\n<xsl:template name=\"t\"/>\n<xsl:template name=\"t\"/>"),
			want:  []string{"3:1: a template named t is already defined at line 2"},
		},
		{
			name:  "undefined variables",
			sheet: sheet("\n<xsl:template match=\"/\"><xsl:value-of select=\"$nope\"/><xsl:variable name=\"late\" select=\"$late\"/><xsl:value-of select=\"concat('$x', $late)\"/></xsl:template>"),
			want: []string{
				"2:25: select: the variable $nope is not defined",
				"2:55: select: the variable $late is not defined",
			},
		},
		{
			name: "paths into result tree fragments",
			sheet: sheet("\n<xsl:variable name=\"g\"><a/></xsl:variable><xsl:template match=\"/\"><xsl:variable name=\"l\"><a/></xsl:variable>" +
				"<xsl:value-of select=\"count($g/a)\"/><xsl:value-of select=\"$l [1]\"/><xsl:value-of select=\"string($l)\"/></xsl:template>"),
			want: []string{
				"2:109: select: $g is a result tree fragment, which a path cannot enter: write msxsl:node-set($g)",
				"2:145: select: $l is a result tree fragment",
			},
		},
		{
			name:  "bad AVT",
			sheet: sheet("\n<xsl:template match=\"/\"><r a=\"{x\"/></xsl:template>"),
			want:  []string{"2:25: the a attribute \"{x\" has a { without a }"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile([]byte(tt.sheet))
			if err == nil {
				t.Fatal("compiled; want an error")
			}
			var got []string
			var list ErrorList
			var one *Error
			switch {
			case errors.As(err, &list):
				for _, e := range list {
					got = append(got, e.Error())
				}
			case errors.As(err, &one):
				got = []string{one.Error()}
			default:
				t.Fatalf("error is a %T: %v", err, err)
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i := range got {
				if !strings.HasPrefix(got[i], tt.want[i]) {
					t.Errorf("error %d = %q, want it to start with %q", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestParams(t *testing.T) {
	s, err := Compile([]byte(sheet(`<xsl:param name="a"/><xsl:variable name="v"/><xsl:param name="p:b" xmlns:p="urn:p"/>`)))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, s.Params()); diff != "" {
		t.Errorf("Params (-want +got):\n%s", diff)
	}
}

func TestRuntimeErrors(t *testing.T) {
	tests := []struct {
		name  string
		sheet string
		input string
		lim   Limits
		want  string
	}{
		{
			name:  "endless recursion",
			sheet: sheet(`<xsl:template match="/"><xsl:call-template name="t"/></xsl:template><xsl:template name="t"><x><xsl:call-template name="t"/></x></xsl:template>`),
			want:  "templates nest more than 1000 deep (endless recursion?)",
		},
		{
			name:  "endless recursion, lower limit",
			sheet: sheet(`<xsl:template match="/"><xsl:apply-templates select="."/></xsl:template>`),
			lim:   Limits{MaxDepth: 10},
			want:  "templates nest more than 10 deep (endless recursion?)",
		},
		{
			name:  "MaxDepth is capped below Go's stack limit",
			sheet: sheet(`<xsl:template match="/"><xsl:apply-templates select="."/></xsl:template>`),
			lim:   Limits{MaxDepth: 1_000_000},
			want:  "templates nest more than 10000 deep (endless recursion?)",
		},
		{
			name:  "output too big",
			sheet: sheet(`<xsl:template match="/"><xsl:for-each select="//*"><xsl:copy-of select="/"/></xsl:for-each></xsl:template>`),
			input: `<a><b>` + strings.Repeat("<c>0123456789</c>", 100) + `</b></a>`,
			lim:   Limits{MaxOutput: 10000},
			want:  "the output exceeds 10000 bytes",
		},
		{
			name:  "string doubling is bounded",
			sheet: sheet(`<xsl:template match="/"><xsl:call-template name="d"><xsl:with-param name="s" select="'x'"/></xsl:call-template></xsl:template><xsl:template name="d"><xsl:param name="s"/><xsl:call-template name="d"><xsl:with-param name="s" select="concat($s, $s)"/></xsl:call-template></xsl:template>`),
			lim:   Limits{MaxDepth: 100},
			want:  "the output exceeds 4194304 bytes",
		},
		{
			name:  "too many steps",
			sheet: sheet(`<xsl:template match="/"><xsl:for-each select="//*"><xsl:for-each select="//*"><xsl:value-of select="count(//*)"/></xsl:for-each></xsl:for-each></xsl:template>`),
			input: `<a>` + strings.Repeat("<b/>", 200) + `</a>`,
			lim:   Limits{MaxSteps: 100000},
			want:  "the transform needs more than 100000 steps",
		},
		{
			name:  "message terminate",
			sheet: sheet("<xsl:template match=\"/\">\n<xsl:message terminate=\"yes\">stop: <xsl:value-of select=\"name(*)\"/></xsl:message></xsl:template>"),
			want:  "2:1: xsl:message terminated the transform: stop: a",
		},
		{
			name:  "message without terminate goes on",
			sheet: sheet("<xsl:output method=\"text\"/><xsl:template match=\"/\"><xsl:message>note</xsl:message>ok<xsl:message terminate=\"yes\"/></xsl:template>"),
			want:  "1:",
		},
		{
			name:  "attribute after children",
			sheet: sheet("<xsl:template match=\"/\"><r><x/>\n<xsl:attribute name=\"a\">1</xsl:attribute></r></xsl:template>"),
			want:  "2:1: xsl:attribute: an attribute can be added only to an element, before its children",
		},
		{
			name:  "copied attribute after children",
			sheet: sheet("<xsl:template match=\"/\"><r><x/>\n<xsl:copy-of select=\"*/@*\"/></r></xsl:template>"),
			input: `<a b="1"/>`,
			want:  "2:1: xsl:copy-of: an attribute can be added only to an element, before its children",
		},
		{
			name:  "select that is not a node-set",
			sheet: sheet("<xsl:template match=\"/\">\n<xsl:apply-templates select=\"'x'\"/></xsl:template>"),
			want:  `2:1: select="'x'" must select nodes, but gives a string`,
		},
		{
			name:  "computed element name is invalid; the document's text is not quoted",
			sheet: sheet("<xsl:template match=\"/\">\n<xsl:element name=\"{*}\"/></xsl:template>"),
			input: `<a>secret value</a>`,
			want:  `2:1: xsl:element: the name it computes is not a valid QName`,
		},
		{
			name:  "circular globals",
			sheet: sheet("<xsl:variable name=\"a\" select=\"$b\"/>\n<xsl:variable name=\"b\" select=\"$a\"/><xsl:template match=\"/\"><xsl:value-of select=\"$a\"/></xsl:template>"),
			want:  `1:`,
		},
		{
			name:  "extension element without fallback",
			sheet: `<xsl:stylesheet version="1.0" ` + xslNS + ` xmlns:e="urn:e" extension-element-prefixes="e"><xsl:template match="/"><e:do/></xsl:template></xsl:stylesheet>`,
			want:  `1:151: the extension element <e:do> is not supported by this processor and has no xsl:fallback`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			input := tt.input
			if input == "" {
				input = "<a/>"
			}
			_, err := transform(t, tt.sheet, input, nil, tt.lim)
			if err == nil {
				t.Fatal("no error")
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("error = %q, want it to start with %q", err, tt.want)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("the error quotes the document: %q", err)
			}
		})
	}
}

// TestConcurrent runs one stylesheet on one document from many goroutines:
// both are shared and must not change (go test -race).
func TestConcurrent(t *testing.T) {
	s, err := Compile([]byte(reshape))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := xpath.Parse(benchDoc(), xpath.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	want, err := s.Transform(context.Background(), doc, nil, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for range 8 {
		go func() {
			res, err := s.Transform(context.Background(), doc, nil, Limits{})
			if err == nil && string(res.Body) != string(want.Body) {
				err = errors.New("a different output")
			}
			errs <- err
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// TestHostileDocuments checks that what a document can make large costs
// in proportion: namespaces in scope are not copied (nor counted) again on
// every element, appended text is not counted as new nodes, and numbering
// every node is bounded by the steps.
func TestHostileDocuments(t *testing.T) {
	var decls strings.Builder
	for i := range 100 {
		fmt.Fprintf(&decls, ` xmlns:p%d="urn:%d"`, i, i)
	}
	tests := []struct {
		name    string
		sheet   string
		input   string
		lim     Limits
		wantLen int
		wantErr string
	}{
		{
			name:    "namespaces declared once, on the root",
			sheet:   msIdentity,
			input:   `<r` + decls.String() + `>` + strings.Repeat("<e/>", 2000) + `</r>`,
			lim:     Limits{MaxOutput: 64 << 10},
			wantLen: len(`<r`+decls.String()+`>`+"\n"+`</r>`) + 2000*len("  <e />\n"),
		},
		{
			name:    "appended text",
			sheet:   sheet(`<xsl:output omit-xml-declaration="yes"/><xsl:template match="/"><r><xsl:for-each select="//e"><xsl:value-of select="'abcdefghij'"/></xsl:for-each></r></xsl:template>`),
			input:   `<r>` + strings.Repeat("<e/>", 100_000) + `</r>`,
			lim:     Limits{MaxOutput: 1_100_000},
			wantLen: len("<r></r>") + 1_000_000,
		},
		{
			name: "variables count only while they live",
			sheet: sheet(`<xsl:output omit-xml-declaration="yes"/><xsl:template match="/"><r><xsl:for-each select="//e">
				<xsl:variable name="s" select="concat(name(), '0123456789')"/><xsl:variable name="t"><x><xsl:value-of select="$s"/></x></xsl:variable>
				<xsl:call-template name="c"><xsl:with-param name="p" select="$s"/></xsl:call-template><xsl:if test="string-length($t) = 0">never</xsl:if>
				</xsl:for-each></r></xsl:template><xsl:template name="c"><xsl:param name="p"/><xsl:param name="d" select="concat($p, $p)"/></xsl:template>`),
			input:   `<r>` + strings.Repeat("<e/>", 20_000) + `</r>`,
			lim:     Limits{MaxOutput: 64 << 10},
			wantLen: len("<r />"),
		},
		{
			name:    "numbering every node",
			sheet:   sheet(`<xsl:template match="/"><r><xsl:for-each select="//e"><xsl:number level="any"/></xsl:for-each></r></xsl:template>`),
			input:   `<r>` + strings.Repeat("<e/>", 20_000) + `</r>`,
			lim:     Limits{MaxSteps: 1_000_000},
			wantErr: "the transform needs more than 1000000 steps",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := transform(t, tt.sheet, tt.input, nil, tt.lim)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Body) != tt.wantLen {
				t.Errorf("output is %d bytes, want %d", len(res.Body), tt.wantLen)
			}
		})
	}
}

func TestCancel(t *testing.T) {
	s, err := Compile([]byte(sheet(`<xsl:template match="/"><xsl:for-each select="//*"><xsl:for-each select="//*"><x/></xsl:for-each></xsl:for-each></xsl:template>`)))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := xpath.Parse([]byte(`<a>`+strings.Repeat("<b/>", 100)+`</a>`), xpath.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err = s.Transform(ctx, doc, nil, Limits{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
}

package policies

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/xpath"
	"github.com/lastmile-gw/lastmile/internal/xslt"
)

// ReasonXSLTransformFailure is context.LastError.Reason when xsl-transform
// cannot read the body or its stylesheet fails.
const ReasonXSLTransformFailure = "XslTransformFailure"

// treeCost is what a parsed document costs in memory for each byte of its
// source (BenchmarkXSLTransform measures it), charged to the gateway's
// buffered-body budget with the body itself.
const treeCost = 24

// xslTransformPolicy is xsl-transform: the request's body (inbound) or the
// response's (outbound) is parsed and replaced by the stylesheet's output.
type xslTransformPolicy struct {
	sheet    *xslt.Stylesheet
	params   []xslParam
	response bool
	at       sheetSource // where the stylesheet is, for runtime errors' positions
}

type xslParam struct {
	name  string
	value pipeline.Value
}

func xslTransform(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	p := &xslTransformPolicy{response: c.Section() == pipeline.Outbound}
	c.CheckAttrs(el)
	var ns []*policyxml.Attr // declarations the stylesheet may rely on
	for _, a := range el.Attrs {
		if a.Name == "xmlns" || strings.HasPrefix(a.Name, "xmlns:") {
			ns = append(ns, a)
		}
	}
	var sheetEl *policyxml.Element
	for _, ch := range el.Elements() {
		switch local := ch.Name[strings.IndexByte(ch.Name, ':')+1:]; {
		case ch.Name == "parameter":
			p.params = append(p.params, compileXSLParam(c, ch))
		case local == "stylesheet" || local == "transform":
			if sheetEl != nil {
				c.Report(c.Errorf(ch.Pos, "<xsl-transform> takes one stylesheet; this is a second"))
			}
			sheetEl = ch
		default:
			c.Report(c.Errorf(ch.Pos, "unexpected <%s> in <xsl-transform>; expected <parameter> elements, then <xsl:stylesheet>", ch.Name))
		}
	}
	if sheetEl == nil {
		c.Report(c.Errorf(el.Pos, `<xsl-transform> needs an <xsl:stylesheet version="1.0" xmlns:xsl="http://www.w3.org/1999/XSL/Transform">`))
		return p, nil
	}
	src, added := withNamespaces(sheetEl.XML(), ns)
	p.at = sheetSource{start: sheetEl.Pos, added: added}
	sheet, err := xslt.Compile([]byte(src))
	if err != nil {
		p.at.report(c, err)
		return p, nil
	}
	p.sheet = sheet
	return p, nil
}

func compileXSLParam(c *pipeline.Compiler, el *policyxml.Element) xslParam {
	c.CheckAttrs(el, "name", "parameter-name")
	c.CheckChildren(el)
	var prm xslParam
	name, ok := c.LiteralAttr(el, "name")
	if alt, altOK := c.LiteralAttr(el, "parameter-name"); altOK {
		if ok {
			c.Report(c.Errorf(el.Pos, "<parameter> takes name or parameter-name, not both"))
		}
		name, ok = alt, true
	}
	if !ok || strings.TrimSpace(name) == "" {
		c.Report(c.Errorf(el.Pos, "<parameter> needs a name: the name of the stylesheet's <xsl:param>"))
	}
	prm.name = strings.TrimSpace(name)
	prm.value = c.Value(el.Text())
	return prm
}

// withNamespaces adds to the stylesheet's start tag the namespace declarations
// of <xsl-transform> that it does not make itself, so that it stands alone as
// a document. It returns the source and where the added text went, for error
// positions.
func withNamespaces(src string, ns []*policyxml.Attr) (string, insertion) {
	end := startTagEnd(src)
	if end < 0 || len(ns) == 0 {
		return src, insertion{}
	}
	var add strings.Builder
	for _, a := range ns {
		if !strings.Contains(src[:end], a.Name+"=") {
			fmt.Fprintf(&add, " %s=%q", a.Name, a.Value.Text)
		}
	}
	if add.Len() == 0 {
		return src, insertion{}
	}
	if src[end-1] == '/' {
		end--
	}
	line := 1 + strings.Count(src[:end], "\n")
	col := end - strings.LastIndexByte(src[:end], '\n') // 1-based column of the first added byte
	return src[:end] + add.String() + src[end:], insertion{line, col, add.Len()}
}

// insertion is text added to a stylesheet's source: n bytes at line:col.
type insertion struct{ line, col, n int }

// startTagEnd returns the offset of the '>' that ends src's first start tag.
func startTagEnd(src string) int {
	var quote byte
	for i := 0; i < len(src); i++ {
		switch c := src[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '>':
			return i
		}
	}
	return -1
}

// sheetSource is where a stylesheet's source came from: the position of its
// start tag in the policy file, and what withNamespaces added.
type sheetSource struct {
	start policyxml.Pos
	added insertion
}

// pos is the position in the policy file of line:col in the stylesheet.
func (s sheetSource) pos(line, col int) policyxml.Pos {
	if line == s.added.line && col >= s.added.col {
		col = max(s.added.col, col-s.added.n)
	}
	if line <= 1 {
		return policyxml.Pos{Line: s.start.Line, Col: s.start.Col + col - 1}
	}
	return policyxml.Pos{Line: s.start.Line + line - 1, Col: col}
}

// report reports the stylesheet's errors at their places in the policy file.
func (s sheetSource) report(c *pipeline.Compiler, err error) {
	var list xslt.ErrorList
	var one *xslt.Error
	switch {
	case errors.As(err, &list):
	case errors.As(err, &one):
		list = xslt.ErrorList{one}
	default:
		c.Report(c.Errorf(s.start, "xsl:stylesheet: %v", err))
		return
	}
	for _, e := range list {
		c.Report(c.Errorf(s.pos(e.Line, e.Col), "%s", e.Msg))
	}
}

// describe is a transform's error with its line and column in the policy
// file (not the file's path: on-error may show the message to a client).
func (s sheetSource) describe(err error) string {
	var e *xslt.Error
	if !errors.As(err, &e) || e.Line == 0 {
		return err.Error()
	}
	pos := s.pos(e.Line, e.Col)
	return fmt.Sprintf("line %d, column %d of the policy: %s", pos.Line, pos.Col, e.Msg)
}

func (p *xslTransformPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	if p.sheet == nil {
		return nil
	}
	h, body := x.Request.Headers, x.Request.Body
	if p.response {
		if x.Response == nil {
			return nil
		}
		h, body = x.Response.Headers, x.Response.Body
	}
	if body.Consumed() {
		return nil // no message to transform
	}
	if empty, err := body.Empty(); err != nil {
		return pipeline.BodyFailure("xsl-transform", err)
	} else if empty {
		return nil // no message to transform, chunked or not
	}
	if enc := strings.TrimSpace(h.Get("Content-Encoding")); enc != "" && !strings.EqualFold(enc, "identity") {
		return p.fail(fmt.Sprintf("the body is %s-compressed; xsl-transform reads XML as it is", enc), nil, false)
	}
	data, err := body.Bytes(true)
	if err != nil {
		return pipeline.BodyFailure("xsl-transform", err)
	}
	if err := x.Buffers.Take(int64(len(data)) * treeCost); err != nil {
		if errors.Is(err, exchange.ErrBodyTooLarge) {
			// Its tree would be larger than all buffered bodies may be.
			err = &exchange.BodyError{Request: !p.response, Err: err}
		}
		return pipeline.BodyFailure("xsl-transform", err)
	}
	doc, err := xpath.Parse(data, xpath.Limits{})
	if err != nil {
		return p.fail("the body is not XML: "+err.Error(), err, false)
	}
	var params map[string]string
	if len(p.params) > 0 {
		params = make(map[string]string, len(p.params))
		for _, prm := range p.params {
			v, err := prm.value.String(x)
			if err != nil {
				return err
			}
			params[prm.name] = v
		}
	}
	res, err := p.sheet.Transform(ctx, doc, params, xslt.Limits{MaxOutput: x.Buffers.Limit()})
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return p.fail("the stylesheet failed: "+p.at.describe(err), err, true)
	}
	if err := x.Buffers.Take(int64(len(res.Body))); err != nil {
		return pipeline.BodyFailure("xsl-transform", err)
	}
	body.Set(res.Body)
	h.Del("Content-Length")
	return nil
}

// fail is the policy's error. A request body that is not XML is the client's
// mistake (400); anything else, and a backend's body, is the gateway's or the
// backend's (500, its message not shown to the client).
func (p *xslTransformPolicy) fail(msg string, err error, stylesheet bool) error {
	status := http.StatusInternalServerError
	if !p.response && !stylesheet {
		status = http.StatusBadRequest
	}
	return &pipeline.Error{Reason: ReasonXSLTransformFailure, Message: "xsl-transform: " + msg, Status: status, Err: err}
}

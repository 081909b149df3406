// Package xslt is an XSLT 1.0 processor for the xsl-transform policy: it
// compiles a stylesheet once and applies it to documents parsed by
// internal/xpath, as .NET's XslCompiledTransform (which API Management runs)
// does for real stylesheets.
//
// The stylesheet is trusted (the operator's) but the document is not (a
// request or response body): every transform is bounded in template
// recursion, output size and evaluation steps, watches its context, and
// reports failures without quoting the document.
//
// Refused when compiling, with an error saying what to do: xsl:include and
// xsl:import (no file access), document(), msxsl:script and extension
// functions other than msxsl:node-set() and exsl:node-set() (and
// exsl:object-type()), and unknown XSLT elements outside forwards-compatible
// mode. A version other than 1.0 runs in forwards-compatible mode.
//
// Choices where XSLT leaves them open or where this processor approximates:
//   - Output is always UTF-8; xsl:output encoding is accepted and ignored, and
//     the XML declaration says encoding="utf-8" as XslCompiledTransform's does.
//   - disable-output-escaping is honoured in the output, ignored in result
//     tree fragments.
//   - A result tree fragment is a node-set of one document node to XPath.
//     A path into an xsl:variable that holds one ($v/a, $v[1]) is refused
//     when compiling, as XslCompiledTransform does; one passed to a parameter
//     by xsl:with-param is not checked and can be navigated (as in libxslt).
//   - xsl:sort compares text case-insensitively, then by case-order
//     (lower-first by default, as .NET's culture-aware comparison); lang is
//     ignored. xsl:number ignores lang and letter-value.
//   - Non-terminating xsl:message output is dropped.
//   - Indentation (indent="yes", the html default) is two spaces per level
//     with "\n". As in .NET, an element's children start lines of their own
//     until its first text child, and nothing after that in it is indented;
//     the html method indents no element with text children at all. Empty
//     elements are written <a /> as .NET does.
//   - The html method writes .NET's <META http-equiv="Content-Type"
//     content="text/html; charset=utf-8"> first in head; elements in a
//     namespace are written as XML.
//   - xsl:number's from: level single and multiple count only below the
//     nearest node matching from, level any from that node on (as libxslt).
//   - Runtime errors are *Error with the failing instruction's line and
//     column (Line 0 for the limits) and never quote the document.
package xslt

import (
	"fmt"
	"strings"
)

// Error is a problem in a stylesheet at a 1-based line and column of its
// source, or a failure of a transform: at the instruction that failed, or
// without a position (Line 0) for the limits.
type Error struct {
	Line, Col int
	Msg       string
}

func (e *Error) Error() string {
	if e.Line == 0 {
		return e.Msg
	}
	return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg)
}

// ErrorList is several problems in a stylesheet, in source order.
type ErrorList []*Error

func (l ErrorList) Error() string {
	msgs := make([]string, len(l))
	for i, e := range l {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Limits bound a transform. Zero fields take the defaults.
type Limits struct {
	MaxOutput int64 // bytes of output; also bounds the result tree, result tree fragments and variables' strings while they live; default 4 MiB
	MaxDepth  int   // nested template instantiations; default 1,000, at most 10,000 (Go's stack)
	MaxSteps  int64 // evaluation steps (instructions and XPath steps together); default 10,000,000
}

// The defaults of Limits.
const (
	DefaultMaxOutput = 4 << 20
	DefaultMaxDepth  = 1000
	DefaultMaxSteps  = 10_000_000
)

// maxDepth bounds MaxDepth, and maxNesting the instructions running inside
// each other (templates included), so that neither can reach Go's stack
// limit, which would end the process: a level costs a few KB of stack.
const (
	maxDepth   = 10_000
	maxNesting = 100_000
)

func (l Limits) withDefaults() Limits {
	if l.MaxOutput <= 0 {
		l.MaxOutput = DefaultMaxOutput
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	l.MaxDepth = min(l.MaxDepth, maxDepth)
	if l.MaxSteps <= 0 {
		l.MaxSteps = DefaultMaxSteps
	}
	return l
}

// Result is a transform's output.
type Result struct {
	Body      []byte
	MediaType string // xsl:output's media-type, else application/xml, text/html or text/plain by method
}

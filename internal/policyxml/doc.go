// Package policyxml reads API Management policy documents into a syntax tree with
// exact positions. It has no behaviour: the pipeline compiler decides what the
// elements mean.
//
// Real policy files are not well-formed XML. API Management accepts raw `"`, `<`,
// `>` and `&&` inside `@(...)` and `@{...}` C# expressions in attribute values and
// element text, so a plain XML parser rejects most of them. This package has a
// hand-written scanner (in the style of text/template/parse) that recognises an
// expression where it starts, finds its end with [ScanExpression], which knows C#
// string, character and comment syntax, and takes the expression verbatim before it
// goes on scanning XML.
//
// Every attribute value and text node is a [Value]: decoded text that remembers
// where each of its bytes came from, so that an error found later, for example by
// the expression compiler at byte 17 of a value, is reported at the right
// file:line:col even across entity references and named-value substitutions.
package policyxml

package jsonxml_test

import (
	"encoding/json"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/jsonxml"
)

var fuzzLimits = jsonxml.Limits{Depth: 64, Nodes: 10000, Output: 1 << 20}

// FuzzToXML: any input converts to well-formed XML or fails with an error;
// it never panics or runs past its limits.
func FuzzToXML(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,[2,{"b":null}]]`, `{"xmlns:p":"u","p:a":{"#attrs":{"p:x":"1"},"c":true}}`, `"2024-01-02T03:04:05.100Z"`, `{"":{"_x0041_":""}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		out, err := jsonxml.ToXML(data, jsonxml.ToXMLOptions{ParseDate: true, NamespaceSeparator: ":", NamespacePrefix: "xmlns", AttributeBlockName: "#attrs", Limits: fuzzLimits})
		if err != nil {
			return
		}
		if len(out) > fuzzLimits.Output {
			t.Fatalf("%d bytes out, over the limit", len(out))
		}
		if err := wellFormed(out); err != nil {
			t.Fatalf("%q converted to XML that is not well-formed: %v\n%s", data, err, out)
		}
	})
}

// FuzzToJSON: any input converts to valid JSON or fails with an error.
func FuzzToJSON(f *testing.F) {
	for _, s := range []string{`<a/>`, `<?xml version="1.0"?><p:a xmlns:p="u" p:x="1">t<b/><b>2</b></p:a>`, `<a><![CDATA[x]]>&amp;</a>`, `<!DOCTYPE a><a/>`} {
		f.Add([]byte(s), false)
	}
	f.Fuzz(func(t *testing.T, data []byte, friendly bool) {
		kind := jsonxml.Direct
		if friendly {
			kind = jsonxml.JavaScriptFriendly
		}
		out, err := jsonxml.ToJSON(data, jsonxml.ToJSONOptions{Kind: kind, Limits: fuzzLimits})
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("%q converted to invalid JSON:\n%s", data, out)
		}
	})
}

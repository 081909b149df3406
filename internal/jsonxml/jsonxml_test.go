package jsonxml_test

import (
	"encoding/json"
	"encoding/xml"
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/jsonxml"
)

// The expectations below are API Management's documented or published
// outputs: the json-to-xml policy reference's example, and the samples of
// FYIcenter's API Management tutorial (dev.fyicenter.com 1000733, 1000734),
// with their whitespace as .NET's XmlWriter and Newtonsoft's indented writer
// lay it out (two spaces).
func TestToXML(t *testing.T) {
	tests := []struct {
		name string
		opts jsonxml.ToXMLOptions
		in   string
		want string
	}{
		{
			// json-to-xml-policy.md. The reference shows <name> directly under
			// <v1:QueryList>, dropping the <v1:QueryItem> element the JSON
			// has; that element is kept here.
			name: "policy reference example",
			opts: jsonxml.ToXMLOptions{NamespaceSeparator: ":", NamespacePrefix: "xmlns", AttributeBlockName: "#attrs"},
			in: `{
  "soapenv:Envelope": {
    "xmlns:soapenv": "http://schemas.xmlsoap.org/soap/envelope/",
    "xmlns:v1": "http://localdomain.com/core/v1",
    "soapenv:Header": {},
    "soapenv:Body": {
      "v1:QueryList": {
        "#attrs": {
          "queryName": "test"
        },
        "v1:QueryItem": {
          "name": "dummy text"
        }
      }
    }
  }
}`,
			want: `<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:v1="http://localdomain.com/core/v1">
  <soapenv:Header />
  <soapenv:Body>
    <v1:QueryList queryName="test">
      <v1:QueryItem>
        <name>dummy text</name>
      </v1:QueryItem>
    </v1:QueryList>
  </soapenv:Body>
</soapenv:Envelope>`,
		},
		{
			name: "FYIcenter: a Document root, arrays, booleans and null",
			in: `{
  "firstName": "John",
  "lastName": "Smith",
  "isAlive": true,
  "age": 25,
  "address": {
    "streetAddress": "21 2nd Street",
    "city": "New York",
    "state": "NY",
    "postalCode": "10021-3100"
  },
  "phoneNumbers": [
    {
      "type": "home",
      "number": "212 555-1234"
    },
    {
      "type": "mobile",
      "number": "123 456-7890"
    }
  ],
  "children": [],
  "spouse": null
}`,
			want: `<Document>
  <firstName>John</firstName>
  <lastName>Smith</lastName>
  <isAlive>True</isAlive>
  <age>25</age>
  <address>
    <streetAddress>21 2nd Street</streetAddress>
    <city>New York</city>
    <state>NY</state>
    <postalCode>10021-3100</postalCode>
  </address>
  <phoneNumbers>
    <type>home</type>
    <number>212 555-1234</number>
  </phoneNumbers>
  <phoneNumbers>
    <type>mobile</type>
    <number>123 456-7890</number>
  </phoneNumbers>
  <children />
  <spouse xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" />
</Document>`,
		},
		{name: "a top-level array", in: `[1,{"a":false}]`, want: "<Document>\n  <Document>1</Document>\n  <Document>\n    <a>False</a>\n  </Document>\n</Document>"},
		{name: "a scalar", in: `"x"`, want: `<Document>x</Document>`},
		{name: "a single array property", in: `{"a":[1,2]}`, want: "<Document>\n  <a>1</a>\n  <a>2</a>\n</Document>"},
		{name: "arrays in an array", in: `{"r":{"a":[[1,2],[3]]}}`, want: "<r>\n  <a>\n    <a>1</a>\n    <a>2</a>\n  </a>\n  <a>\n    <a>3</a>\n  </a>\n</r>"},
		{name: "names XML cannot hold", in: `{"r":{"first name":1,"2nd":2,"@id":3,"a_x0041_":4,"":5}}`, want: "<r>\n  <first_x0020_name>1</first_x0020_name>\n  <_x0032_nd>2</_x0032_nd>\n  <_x0040_id>3</_x0040_id>\n  <a_x005F_x0041_>4</a_x005F_x0041_>\n  <_>5</_>\n</r>"},
		{name: "escaping", in: `{"r":{"#attrs":{"q":"a\"<&\n"},"t":"<b> & \"c\""}}`, opts: jsonxml.ToXMLOptions{AttributeBlockName: "#attrs"}, want: "<r q=\"a&quot;&lt;&amp;&#xA;\">\n  <t>&lt;b&gt; &amp; \"c\"</t>\n</r>"},
		{name: "an undeclared prefix stays in the name", in: `{"r":{"my_name":"x","soap:Body":1}}`, want: "<r>\n  <my_name>x</my_name>\n  <soap_x003A_Body>1</soap_x003A_Body>\n</r>"},
		{name: "the default separator", opts: jsonxml.ToXMLOptions{NamespacePrefix: "xmlns"}, in: `{"s_Envelope":{"xmlns_s":"urn:s","xmlns":"urn:d","s_Body":"b"}}`, want: "<s:Envelope xmlns:s=\"urn:s\" xmlns=\"urn:d\">\n  <s:Body>b</s:Body>\n</s:Envelope>"},
		{name: "parse-date", opts: jsonxml.ToXMLOptions{ParseDate: true}, in: `{"r":{"d":"2024-01-02T03:04:05.1200000Z","o":"2024-01-02T03:04:05+02:00","n":"2024-13-02T03:04:05","s":"not a date"}}`, want: "<r>\n  <d>2024-01-02T03:04:05.12Z</d>\n  <o>2024-01-02T03:04:05+02:00</o>\n  <n>2024-13-02T03:04:05</n>\n  <s>not a date</s>\n</r>"},
		{name: "parse-date off", in: `{"d":"2024-01-02T03:04:05.1200000Z"}`, want: "<d>2024-01-02T03:04:05.1200000Z</d>"},
		{name: "an empty string", in: `{"e":""}`, want: "<e></e>"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jsonxml.ToXML([]byte(tt.in), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("XML (-want +got):\n%s", diff)
			}
			if err := wellFormed(got); err != nil {
				t.Errorf("not well-formed XML: %v", err)
			}
		})
	}
}

func TestToJSON(t *testing.T) {
	tests := []struct {
		name string
		opts jsonxml.ToJSONOptions
		in   string
		want string
	}{
		{
			name: "FYIcenter: direct",
			in: `<?xml version="1.0"?>
<soap:Envelope xmlns="http://fyicenter.com/"
    xmlns:soap="http://schemas.xmlsoap.org/soap/envelope/">
    <soap:Body>
        <GetOrders>
            <Customer>1234567</Customer>
        </GetOrders>
    </soap:Body>
</soap:Envelope>`,
			want: `{
  "version": "1.0",
  "soap$Envelope": {
    "@xmlns": "http://fyicenter.com/",
    "@xmlns$soap": "http://schemas.xmlsoap.org/soap/envelope/",
    "soap$Body": {
      "GetOrders": {
        "Customer": "1234567"
      }
    }
  }
}`,
		},
		{
			name: "javascript-friendly",
			opts: jsonxml.ToJSONOptions{Kind: jsonxml.JavaScriptFriendly},
			in:   `<?xml version="1.0"?><soap:Envelope xmlns:soap="urn:s"><soap:Body xmlns="urn:d"><Order id="7" Item="x"><Item>a</Item><Item>b</Item><Note lang="en">hi</Note><Empty/></Order></soap:Body></soap:Envelope>`,
			want: `{
  "Envelope": {
    "Body": {
      "Order": {
        "id": "7",
        "@Item": "x",
        "Item": [
          "a",
          "b"
        ],
        "Note": {
          "lang": "en",
          "#text": "hi"
        },
        "Empty": null
      }
    }
  }
}`,
		},
		{name: "repeated and mixed", in: `<r a="1">x<b>1</b>y<b/><c><![CDATA[<raw>]]></c></r>`, want: "{\n  \"r\": {\n    \"@a\": \"1\",\n    \"b\": [\n      \"1\",\n      null\n    ],\n    \"c\": \"<raw>\",\n    \"#text\": \"xy\"\n  }\n}"},
		{name: "always-array-child-elements", opts: jsonxml.ToJSONOptions{AlwaysArray: true}, in: `<r><a>1</a><b><c>2</c></b></r>`, want: "{\n  \"r\": {\n    \"a\": [\n      \"1\"\n    ],\n    \"b\": [\n      {\n        \"c\": [\n          \"2\"\n        ]\n      }\n    ]\n  }\n}"},
		{name: "escaping", in: "<r>\"q\" \\ \t?</r>", want: "{\n  \"r\": \"\\\"q\\\" \\\\ \\t?\"\n}"},
		{name: "entities", in: `<r>&lt;&amp;&#x41;&#66;</r>`, want: "{\n  \"r\": \"<&AB\"\n}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := jsonxml.ToJSON([]byte(tt.in), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("JSON (-want +got):\n%s", diff)
			}
			if !json.Valid(got) {
				t.Error("not valid JSON")
			}
		})
	}
}

// TestHostileDocuments: documents built to exhaust a converter are refused
// with an error that says why, without expanding them.
func TestHostileDocuments(t *testing.T) {
	lol := `<?xml version="1.0"?>
<!DOCTYPE lolz [
 <!ENTITY lol "lol">
 <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
]>
<lolz>&lol3;</lolz>`
	small := jsonxml.Limits{Depth: 16, Nodes: 1000, Output: 1 << 16}
	tests := []struct {
		name, in string
		toJSON   bool
		want     string
		limit    bool
	}{
		{"billion laughs", lol, true, "document type declarations", false},
		{"an external entity", `<!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]><r>&x;</r>`, true, "document type declarations", false},
		{"an undeclared entity", `<r>&lol9;</r>`, true, "invalid XML", false},
		{"deep XML", strings.Repeat("<a>", 100) + strings.Repeat("</a>", 100), true, "nests more than 16 levels", true},
		{"wide XML", "<r>" + strings.Repeat("<a/>", 2000) + "</r>", true, "more than 1000 nodes", true},
		{"deep JSON", strings.Repeat("[", 100) + strings.Repeat("]", 100), false, "nests more than 16 levels", true},
		{"wide JSON", "[" + strings.Repeat("1,", 2000) + "1]", false, "more than 1000 nodes", true},
		{"a long name repeated", `{"r":{"` + strings.Repeat("n", 10000) + `":[1,1,1,1,1,1,1,1,1,1]}}`, false, "would take more than 65536 bytes", true},
		{"a control character", `{"r":"\u0001"}`, false, "XML cannot represent", false},
		{"not JSON", `{"r":`, false, "invalid JSON", false},
		{"two JSON values", `{} {}`, false, "more than one value", false},
		{"two roots", `<a/><b/>`, true, "more than one root", false},
		{"mismatched tags", `<a><b></a></b>`, true, "invalid XML", false},
		{"UTF-16", `<?xml version="1.0" encoding="UTF-16"?><r/>`, true, `encoding "UTF-16" is not supported`, false},
		{"no root", `<!-- nothing -->`, true, "no root element", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var err error
			if tt.toJSON {
				_, err = jsonxml.ToJSON([]byte(tt.in), jsonxml.ToJSONOptions{Limits: small})
			} else {
				_, err = jsonxml.ToXML([]byte(tt.in), jsonxml.ToXMLOptions{Limits: small})
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want one saying %q", err, tt.want)
			}
			if got := errors.Is(err, jsonxml.ErrLimit); got != tt.limit {
				t.Errorf("errors.Is(err, ErrLimit) = %v, want %v", got, tt.limit)
			}
		})
	}
}

func wellFormed(data []byte) error {
	d := xml.NewDecoder(strings.NewReader(string(data)))
	for {
		_, err := d.Token()
		if err != nil {
			if err.Error() == "EOF" {
				return nil
			}
			return err
		}
	}
}

func TestASCIIDeclared(t *testing.T) {
	got, err := jsonxml.ToJSON([]byte(`<?xml version="1.0" encoding="us-ascii"?><r>a</r>`), jsonxml.ToJSONOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := "{\n  \"version\": \"1.0\",\n  \"encoding\": \"us-ascii\",\n  \"r\": \"a\"\n}"; string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

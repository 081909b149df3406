package apiops

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// calculatorWSDL is a WCF-style description: a SOAP 1.1 and a SOAP 1.2
// binding of one port type, both used by the service.
const calculatorWSDL = `<?xml version="1.0" encoding="utf-8"?>
<wsdl:definitions xmlns:wsdl="http://schemas.xmlsoap.org/wsdl/"
    xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/"
    xmlns:soap12="http://schemas.xmlsoap.org/wsdl/soap12/"
    xmlns:tns="http://tempuri.org/" targetNamespace="http://tempuri.org/">
  <wsdl:portType name="ICalculator">
    <wsdl:operation name="Add"/>
    <wsdl:operation name="Divide"/>
  </wsdl:portType>
  <wsdl:binding name="Basic" type="tns:ICalculator">
    <soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Add">
      <soap:operation soapAction="http://tempuri.org/ICalculator/Add" style="document"/>
    </wsdl:operation>
    <wsdl:operation name="Divide">
      <soap:operation soapAction="&quot;http://tempuri.org/ICalculator/Divide&quot;"/>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:binding name="Soap12" type="tns:ICalculator">
    <soap12:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Add">
      <soap12:operation soapAction="urn:add12"/>
    </wsdl:operation>
    <wsdl:operation name="Divide">
      <soap12:operation soapAction="http://tempuri.org/ICalculator/Divide"/>
    </wsdl:operation>
  </wsdl:binding>
  <wsdl:binding name="Unused" type="tns:ICalculator">
    <soap:binding transport="http://schemas.xmlsoap.org/soap/http"/>
    <wsdl:operation name="Unused"><soap:operation soapAction="urn:unused"/></wsdl:operation>
  </wsdl:binding>
  <wsdl:service name="Calculator">
    <wsdl:port name="BasicPort" binding="tns:Basic"><soap:address location="http://backend.example/calc"/></wsdl:port>
    <wsdl:port name="Soap12Port" binding="tns:Soap12"><soap12:address location="http://backend.example/calc"/></wsdl:port>
  </wsdl:service>
</wsdl:definitions>
`

func TestParseWSDL(t *testing.T) {
	type op struct {
		Name, Method, Template string
		Actions                []string
	}
	tests := []struct {
		name      string
		src       string
		want      []op
		wantWarns []string
	}{
		{
			name: "the service's bindings, SOAP 1.1 and 1.2 actions merged",
			src:  calculatorWSDL,
			want: []op{
				{"Add", "POST", "/?soapAction=http://tempuri.org/ICalculator/Add", []string{"http://tempuri.org/ICalculator/Add", "urn:add12"}},
				// The quotes a WSDL may put around an action are not part of it.
				{"Divide", "POST", "/?soapAction=http://tempuri.org/ICalculator/Divide", []string{"http://tempuri.org/ICalculator/Divide"}},
			},
		},
		{
			name: "no service: every SOAP binding; an HTTP binding is not SOAP",
			src: `<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:http="http://schemas.xmlsoap.org/wsdl/http/">
  <binding name="a"><s:binding/><operation name="GetQuote"><s:operation soapAction="urn:quote"/></operation></binding>
  <binding name="h"><http:binding verb="GET"/><operation name="Web"/></binding>
</definitions>`,
			want: []op{{"GetQuote", "POST", "/?soapAction=urn:quote", []string{"urn:quote"}}},
		},
		{
			name: "an operation without an action answers requests without one",
			src: `<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap12/">
  <binding name="a"><s:binding/><operation name="Ping"/></binding>
</definitions>`,
			want: []op{{"Ping", "POST", "/?soapAction=", []string{""}}},
		},
		{
			name: "two operations with one action: the first has it",
			src: `<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/">
  <binding name="a"><s:binding/>
    <operation name="First"><s:operation soapAction=""/></operation>
    <operation name="Second"><s:operation soapAction=""/></operation>
  </binding>
</definitions>`,
			want: []op{
				{"First", "POST", "/?soapAction=", []string{""}},
				{"Second", "POST", "/?soapAction=", []string{}},
			},
			wantWarns: []string{`operations First and Second have the same SOAP action ""; requests with it reach First`},
		},
		{
			name:      "no operations",
			src:       `<definitions xmlns="http://schemas.xmlsoap.org/wsdl/"/>`,
			wantWarns: []string{"the WSDL defines no SOAP operations; the API is served as one operation that takes every request"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ops, warns, errs := parseWSDL("spec.wsdl", []byte(tt.src))
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			var got []op
			for _, o := range ops {
				got = append(got, op{o.op.Name, o.op.Method, o.op.URLTemplate, o.op.SOAPActions})
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("operations (-want +got):\n%s", diff)
			}
			var gotWarns []string
			for _, w := range warns {
				gotWarns = append(gotWarns, w.Msg)
			}
			if diff := cmp.Diff(tt.wantWarns, gotWarns); diff != "" {
				t.Errorf("warnings (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseWSDLErrors(t *testing.T) {
	const head = `<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/" xmlns:tns="urn:t" targetNamespace="urn:t">`
	tests := []struct {
		name, src, want string
	}{
		{"empty", "  \n", "spec.wsdl: the specification is empty; export the API's WSDL into it or delete the file"},
		{"not XML", "<definitions>\n<a></b>", "spec.wsdl:2: the WSDL is not well-formed XML: element <a> closed by </b>"},
		{"unclosed", head + "\n<binding>", "spec.wsdl:2: the WSDL is not well-formed XML: unexpected EOF"},
		{"DOCTYPE", "<!DOCTYPE d [<!ENTITY x \"y\">]>\n" + head + "</definitions>", "spec.wsdl:1:1: the WSDL has a DOCTYPE, which lastmile does not read (it could define entities); remove it"},
		{"not WSDL", "<?xml version=\"1.0\"?>\n<openapi/>", `spec.wsdl:2:1: the specification is not a WSDL 1.1 document: its root is <openapi> in namespace "", not <definitions> in "http://schemas.xmlsoap.org/wsdl/"`},
		{"WSDL 2.0", `<description xmlns="http://www.w3.org/ns/wsdl"/>`, "spec.wsdl:1:1: the specification is WSDL 2.0, which API Management does not import; export the API's WSDL 1.1 description into it"},
		{"import", head + "\n  <import namespace=\"urn:x\" location=\"x.wsdl\"/></definitions>", "spec.wsdl:2:3: wsdl:import is not supported (API Management does not import it either); merge the imported description into this file"},
		{"unknown binding", head + "\n<service name=\"s\">\n <port name=\"p\" binding=\"tns:nope\"/></service></definitions>", `spec.wsdl:3:2: port "p" names binding "tns:nope", which the WSDL does not define`},
		{"binding of another namespace", head + "<binding name=\"b\"><s:binding/></binding>\n<service name=\"s\"><port name=\"p\" binding=\"s:b\"/></service></definitions>", `spec.wsdl:2:19: port "p" names binding "s:b", which the WSDL does not define`},
		{"operation without a name", head + "<binding name=\"b\"><s:binding/>\n<operation/></binding></definitions>", `spec.wsdl:2:1: an operation of binding "b" has no name; give it the name of its portType operation`},
		{"second root", head + "</definitions>\n<definitions/>", "spec.wsdl:2:1: the WSDL has a second root element <definitions>"},
		{"too deep", strings.Repeat("<a>", maxXMLSpecDepth+1), "spec.wsdl:1:769: the WSDL nests elements more than 256 deep"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, errs := parseWSDL("spec.wsdl", []byte(tt.src))
			if len(errs) != 1 {
				t.Fatalf("got %d errors %v, want 1", len(errs), errs)
			}
			if got := errs[0].Error(); got != tt.want {
				t.Errorf("got  %s\nwant %s", got, tt.want)
			}
		})
	}
}

// FuzzParseWSDL feeds arbitrary documents to the WSDL reader: it must not
// panic, errors name the file, and operations are complete.
func FuzzParseWSDL(f *testing.F) {
	f.Add([]byte(calculatorWSDL))
	f.Add([]byte(`<definitions xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:s="http://schemas.xmlsoap.org/wsdl/soap/"><binding name="a"><s:binding/><operation name="x"/></binding></definitions>`))
	f.Add([]byte(`<d:definitions xmlns:d="http://schemas.xmlsoap.org/wsdl/"><d:service><d:port binding="q:x"/></d:service></d:definitions>`))
	f.Fuzz(func(t *testing.T, src []byte) {
		ops, _, errs := parseWSDL("spec.wsdl", src)
		for _, e := range errs {
			if e.File != "spec.wsdl" {
				t.Fatalf("error does not name the file: %q", e.Error())
			}
		}
		for _, o := range ops {
			if o.op.Name == "" || o.op.Method != "POST" || !strings.HasPrefix(o.op.URLTemplate, "/?soapAction=") || o.op.SOAPActions == nil {
				t.Fatalf("incomplete operation %+v", *o.op)
			}
		}
	})
}

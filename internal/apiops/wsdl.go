package apiops

import (
	"encoding/xml"
	"fmt"
	"slices"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// Namespaces of WSDL 1.1 and of its SOAP 1.1 and 1.2 bindings.
const (
	nsWSDL   = "http://schemas.xmlsoap.org/wsdl/"
	nsSOAP11 = "http://schemas.xmlsoap.org/wsdl/soap/"
	nsSOAP12 = "http://schemas.xmlsoap.org/wsdl/soap12/"
	nsWSDL20 = "http://www.w3.org/ns/wsdl"
)

// parseWSDL reads the WSDL 1.1 description of a SOAP pass-through API and
// returns its operations as API Management imports them: one per operation of
// the SOAP bindings, POST, matched by its SOAP action, with the URL template
// "/?soapAction=<action>" that API Management shows.
//
// The bindings are those the services' ports use, or every SOAP binding when
// the description has no service. An operation in a SOAP 1.1 and a SOAP 1.2
// binding is one operation that answers to both actions. Two operations with
// the same action cannot be told apart: the first is served and a warning
// names the others.
func parseWSDL(file string, src []byte) ([]specOp, []Warning, []*Error) {
	root, perr := readXMLSpec(file, "WSDL", src)
	if perr != nil {
		return nil, nil, []*Error{perr}
	}
	errAt := func(p srcpos.Pos, format string, args ...any) []*Error {
		return []*Error{{File: file, Pos: p, Msg: fmt.Sprintf(format, args...)}}
	}
	switch {
	case root.Name == xml.Name{Space: nsWSDL20, Local: "description"}:
		return nil, nil, errAt(root.Pos, "the specification is WSDL 2.0, which API Management does not import; export the API's WSDL 1.1 description into it")
	case root.Name != xml.Name{Space: nsWSDL, Local: "definitions"}:
		return nil, nil, errAt(root.Pos, "the specification is not a WSDL 1.1 document: its root is <%s> in namespace %q, not <definitions> in %q", root.Name.Local, root.Name.Space, nsWSDL)
	}
	tns := root.attr("targetNamespace")
	if imports := children(root, nsWSDL, "import"); len(imports) > 0 {
		return nil, nil, errAt(imports[0].Pos, "wsdl:import is not supported (API Management does not import it either); merge the imported description into this file")
	}

	// The bindings in use: the ports' bindings in document order, else all.
	bindings := children(root, nsWSDL, "binding")
	var used []*xmlElem
	for _, svc := range children(root, nsWSDL, "service") {
		for _, port := range children(svc, nsWSDL, "port") {
			ref := port.qname(port.attr("binding"))
			i := slices.IndexFunc(bindings, func(b *xmlElem) bool {
				return b.attr("name") == ref.Local && (ref.Space == tns || ref.Space == "")
			})
			if i < 0 {
				return nil, nil, errAt(port.Pos, "port %q names binding %q, which the WSDL does not define", port.attr("name"), port.attr("binding"))
			}
			if !slices.Contains(used, bindings[i]) {
				used = append(used, bindings[i])
			}
		}
	}
	if len(used) == 0 {
		used = bindings
	}

	var out []specOp
	var warns []Warning
	byName := map[string]int{}
	for _, b := range used {
		soapNS := ""
		for _, ns := range []string{nsSOAP11, nsSOAP12} {
			if len(children(b, ns, "binding")) > 0 {
				soapNS = ns
			}
		}
		if soapNS == "" {
			continue // an HTTP or MIME binding: not SOAP
		}
		for _, o := range children(b, nsWSDL, "operation") {
			name := o.attr("name")
			if name == "" {
				return nil, nil, errAt(o.Pos, "an operation of binding %q has no name; give it the name of its portType operation", b.attr("name"))
			}
			action := ""
			if so := children(o, soapNS, "operation"); len(so) > 0 {
				// Some descriptions quote the action as the header does.
				action = strings.Trim(strings.TrimSpace(so[0].attr("soapAction")), `"`)
			}
			if i, ok := byName[name]; ok {
				if op := out[i].op; !slices.Contains(op.SOAPActions, action) {
					op.SOAPActions = append(op.SOAPActions, action)
				}
				continue
			}
			byName[name] = len(out)
			out = append(out, specOp{op: &Operation{
				Name: name, DisplayName: name, Method: "POST",
				URLTemplate: "/?soapAction=" + action,
				SOAPActions: []string{action},
			}, line: o.Pos.Line, col: o.Pos.Col})
		}
	}
	if len(out) == 0 {
		warns = append(warns, Warning{Msg: "the WSDL defines no SOAP operations; the API is served as one operation that takes every request"})
		return nil, warns, nil
	}

	// An action answers to the first operation that has it.
	owner := map[string]string{}
	for _, so := range out {
		op := so.op
		kept := op.SOAPActions[:0]
		for _, a := range op.SOAPActions {
			if first, ok := owner[a]; ok {
				warns = append(warns, Warning{Msg: fmt.Sprintf("operations %s and %s have the same SOAP action %q; requests with it reach %s", first, op.Name, a, first)})
				continue
			}
			owner[a] = op.Name
			kept = append(kept, a)
		}
		op.SOAPActions = kept
	}
	return out, warns, nil
}

// children returns e's child elements named local in namespace space.
func children(e *xmlElem, space, local string) []*xmlElem {
	var out []*xmlElem
	for _, c := range e.Children {
		if c.Name.Space == space && c.Name.Local == local {
			out = append(out, c)
		}
	}
	return out
}

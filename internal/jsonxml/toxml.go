package jsonxml

import (
	"fmt"
	"regexp"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// ToXMLOptions are json-to-xml's attributes.
type ToXMLOptions struct {
	// ParseDate reads strings that are ISO 8601 date-times as dates and writes
	// them in their round-trip form (parse-date, true in API Management by
	// default); false copies them as they are.
	ParseDate bool
	// NamespaceSeparator separates a namespace prefix from a local name in a
	// property name ("_" when empty). A name is written with that prefix only
	// when the prefix is declared, by a NamespacePrefix property of the element
	// or of one around it.
	NamespaceSeparator string
	// NamespacePrefix makes properties named after it ("xmlns", "xmlns:p" or
	// "xmlns" + separator + "p") namespace declarations of their element.
	NamespacePrefix string
	// AttributeBlockName makes the properties of an object property of that
	// name attributes of the element.
	AttributeBlockName string
	Limits             Limits
}

const xsiNamespace = "http://www.w3.org/2001/XMLSchema-instance"

// documentRoot names the root element that holds a document that has no
// single root of its own, as API Management names it.
const documentRoot = "Document"

// ToXML converts a JSON document to XML as json-to-xml does: an object with a
// single property (not an array) becomes that element; anything else is put
// in a <Document> root. Arrays become repeated elements named after their
// property (an empty array, one empty element), null an element with
// xsi:nil="true", true and false True and False. The XML is indented with two
// spaces and has no declaration.
func ToXML(data []byte, o ToXMLOptions) ([]byte, error) {
	o.Limits = o.Limits.orDefault()
	if o.NamespaceSeparator == "" {
		o.NamespaceSeparator = "_"
	}
	v, err := ParseJSON(data, o.Limits)
	if err != nil {
		return nil, err
	}
	w := &xmlWriter{o: o, out: outBuf{limit: o.Limits.Output}}
	switch {
	case v.Kind == Object && len(v.Props) == 1 && v.Props[0].Value.Kind != Array && w.plainName(v.Props[0].Name):
		err = w.element(v.Props[0].Name, v.Props[0].Value, 0, nil)
	case v.Kind == Array:
		err = w.element(documentRoot, &Value{Kind: Object, Props: []Prop{{Name: documentRoot, Value: v}}}, 0, nil)
	default:
		err = w.element(documentRoot, v, 0, nil)
	}
	if err == nil {
		err = w.out.err
	}
	if err != nil {
		return nil, err
	}
	return w.out.b, nil
}

type xmlWriter struct {
	o     ToXMLOptions
	out   outBuf
	first bool // something was written: the next element starts a line
}

// scope is the namespace prefixes declared around an element.
type scope struct {
	prefixes map[string]bool
	parent   *scope
}

func (s *scope) declared(p string) bool {
	for ; s != nil; s = s.parent {
		if s.prefixes[p] {
			return true
		}
	}
	return false
}

// plainName reports whether a property becomes an element, not a namespace
// declaration or an attribute block.
func (w *xmlWriter) plainName(name string) bool {
	_, isNS := w.namespaceDecl(name)
	return !isNS && (w.o.AttributeBlockName == "" || name != w.o.AttributeBlockName)
}

// namespaceDecl returns the attribute a namespace-declaring property becomes.
func (w *xmlWriter) namespaceDecl(name string) (string, bool) {
	p := w.o.NamespacePrefix
	if p == "" || !strings.HasPrefix(name, p) {
		return "", false
	}
	rest := name[len(p):]
	if rest == "" {
		return "xmlns", true
	}
	for _, sep := range []string{w.o.NamespaceSeparator, ":"} {
		if local, ok := strings.CutPrefix(rest, sep); ok && local != "" {
			return "xmlns:" + encodeName(local), true
		}
	}
	return "", false
}

// qualified is the XML name of a property: prefix:local when the name holds a
// declared prefix before the separator (or a colon), else the name encoded as
// one local name.
func (w *xmlWriter) qualified(name string, s *scope) string {
	for _, sep := range []string{w.o.NamespaceSeparator, ":"} {
		if p, local, ok := strings.Cut(name, sep); ok && p != "" && local != "" && s.declared(p) {
			return encodeName(p) + ":" + encodeName(local)
		}
	}
	return encodeName(name)
}

func (w *xmlWriter) element(name string, v *Value, depth int, s *scope) error {
	if depth >= w.o.Limits.Depth {
		return depthError(w.o.Limits.Depth)
	}
	if v.Kind == Array {
		if len(v.Items) == 0 {
			w.open(w.qualified(name, s), nil, depth)
			w.out.str(" />")
			return nil
		}
		for _, it := range v.Items {
			if it.Kind == Array { // an array in an array: an element of the same name holds its items
				it = &Value{Kind: Object, Props: []Prop{{Name: name, Value: it}}}
			}
			if err := w.element(name, it, depth, s); err != nil {
				return err
			}
		}
		return nil
	}
	var attrs []string // name, value pairs
	var kids []Prop
	inner := s
	if v.Kind == Object {
		for _, p := range v.Props {
			if a, ok := w.namespaceDecl(p.Name); ok {
				if inner == s {
					inner = &scope{prefixes: map[string]bool{}, parent: s}
				}
				if pfx, ok := strings.CutPrefix(a, "xmlns:"); ok {
					inner.prefixes[pfx] = true
				}
				attrs = append(attrs, a, scalarText(p.Value))
			}
		}
		for _, p := range v.Props {
			switch {
			case !w.plainName(p.Name) && w.o.AttributeBlockName != "" && p.Name == w.o.AttributeBlockName:
				if p.Value.Kind == Object {
					for _, a := range p.Value.Props {
						if a.Value.Kind != Object && a.Value.Kind != Array {
							attrs = append(attrs, w.qualified(a.Name, inner), w.text(a.Value))
						}
					}
				}
			case w.plainName(p.Name):
				kids = append(kids, p)
			}
		}
	}
	qn := w.qualified(name, inner)
	switch v.Kind {
	case Null:
		attrs = append(attrs, "xsi:nil", "true", "xmlns:xsi", xsiNamespace)
		w.open(qn, attrs, depth)
		w.out.str(" />")
	case Object:
		w.open(qn, attrs, depth)
		if len(kids) == 0 {
			w.out.str(" />")
			return nil
		}
		w.out.byte('>')
		for _, k := range kids {
			if err := w.element(k.Name, k.Value, depth+1, inner); err != nil {
				return err
			}
		}
		w.out.indent(depth)
		w.out.str("</" + qn + ">")
	default:
		w.open(qn, attrs, depth)
		w.out.byte('>')
		if err := w.escape(w.text(v), false); err != nil {
			return err
		}
		w.out.str("</" + qn + ">")
	}
	return w.out.err
}

// open writes "<name attr="value" ..." on a line of its own.
func (w *xmlWriter) open(name string, attrs []string, depth int) {
	if w.first {
		w.out.indent(depth)
	}
	w.first = true
	w.out.str("<" + name)
	for i := 0; i+1 < len(attrs); i += 2 {
		w.out.str(" " + attrs[i] + `="`)
		w.escape(attrs[i+1], true)
		w.out.byte('"')
	}
}

// text is a scalar's text in XML: booleans as .NET writes them, dates in
// their round-trip form when ParseDate is set.
func (w *xmlWriter) text(v *Value) string {
	switch v.Kind {
	case Bool:
		if v.Text == "true" {
			return "True"
		}
		return "False"
	case String:
		if w.o.ParseDate {
			return normalizeDate(v.Text)
		}
	}
	return v.Text
}

func scalarText(v *Value) string {
	if v.Kind == Object || v.Kind == Array || v.Kind == Null {
		return ""
	}
	return v.Text
}

// escape writes s as XML text or an attribute value. A character that XML
// 1.0 cannot hold at all is an error, as in .NET's XmlWriter.
func (w *xmlWriter) escape(s string, attr bool) error {
	for _, r := range s {
		switch {
		case r == '&':
			w.out.str("&amp;")
		case r == '<':
			w.out.str("&lt;")
		case r == '>':
			w.out.str("&gt;")
		case r == '"' && attr:
			w.out.str("&quot;")
		case r == '\n' && attr:
			w.out.str("&#xA;")
		case r == '\r':
			w.out.str("&#xD;")
		case r == '\t' && attr:
			w.out.str("&#x9;")
		case !xmlChar(r):
			return fmt.Errorf("the JSON holds the character %U, which XML cannot represent", r)
		default:
			var buf [utf8.UTFMax]byte
			n := utf8.EncodeRune(buf[:], r)
			w.out.str(string(buf[:n]))
		}
	}
	return nil
}

// xmlChar reports whether r is a character XML 1.0 allows.
func xmlChar(r rune) bool {
	return r == 0x9 || r == 0xA || r == 0xD || r >= 0x20 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD || r >= 0x10000 && r <= 0x10FFFF
}

// encodeName makes s a valid XML local name as .NET's XmlConvert.EncodeLocalName
// does: a character a name cannot hold becomes _xHHHH_ (_xHHHHHHHH_ beyond the
// BMP), and an underscore that would read as such an escape becomes _x005F_.
func encodeName(s string) string {
	if s == "" {
		return "_"
	}
	var b strings.Builder
	for i, r := range s {
		ok := nameChar(r)
		if i == 0 {
			ok = nameStart(r)
		}
		switch {
		case r == '_' && escapeLike(s[i:]):
			b.WriteString("_x005F_")
		case ok:
			b.WriteRune(r)
		case r > 0xFFFF:
			fmt.Fprintf(&b, "_x%08X_", r)
		default:
			fmt.Fprintf(&b, "_x%04X_", r)
		}
	}
	return b.String()
}

var escapeLikeRE = regexp.MustCompile(`^_x[0-9A-Fa-f]{4}_`)

func escapeLike(s string) bool { return escapeLikeRE.MatchString(s) }

func nameStart(r rune) bool {
	return r == '_' || unicode.IsLetter(r)
}

func nameChar(r rune) bool {
	return nameStart(r) || r == '-' || r == '.' || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) || unicode.Is(unicode.Mc, r) || r == 0xB7
}

// isoDate matches the date-times JSON.NET reads as dates.
var isoDate = regexp.MustCompile(`^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(\.\d{1,7})?(Z|[+-]\d{2}:\d{2})?$`)

// normalizeDate writes a date-time string in its round-trip form: fractions
// of a second without trailing zeros, and the zone as it was. Other strings
// are returned as they are.
func normalizeDate(s string) string {
	m := isoDate.FindStringSubmatch(s)
	if m == nil {
		return s
	}
	if _, err := time.Parse("2006-01-02T15:04:05", m[1]); err != nil {
		return s
	}
	frac := strings.TrimRight(m[2], "0")
	if frac == "." {
		frac = ""
	}
	return m[1] + frac + m[3]
}

package jsonxml

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Kind is the kind of a JSON value.
type Kind uint8

// The kinds of JSON values.
const (
	Null Kind = iota
	Bool
	Number
	String
	Object
	Array
)

// Value is a JSON value that keeps the order of an object's properties and
// the text of numbers as written.
type Value struct {
	Kind Kind
	// Text is a string's value, a number as written, or "true" or "false".
	Text  string
	Props []Prop   // an object's properties, in order
	Items []*Value // an array's items
}

// Prop is a property of an object.
type Prop struct {
	Name  string
	Value *Value
}

// ParseJSON reads one JSON value within l's depth and node limits.
func ParseJSON(data []byte, l Limits) (*Value, error) {
	l = l.orDefault()
	d := json.NewDecoder(bytes.NewReader(data))
	d.UseNumber()
	p := jsonParser{d: d, l: l}
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errors.New("invalid JSON: more than one value")
	}
	return v, nil
}

type jsonParser struct {
	d     *json.Decoder
	l     Limits
	nodes int
}

func (p *jsonParser) value(depth int) (*Value, error) {
	tok, err := p.d.Token()
	if err != nil {
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return nil, fmt.Errorf("invalid JSON: %w", err)
	}
	return p.fromToken(tok, depth)
}

func (p *jsonParser) fromToken(tok json.Token, depth int) (*Value, error) {
	if p.nodes++; p.nodes > p.l.Nodes {
		return nil, nodesError(p.l.Nodes)
	}
	if err := p.l.charge(p.nodes); err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case nil:
		return &Value{Kind: Null}, nil
	case bool:
		if t {
			return &Value{Kind: Bool, Text: "true"}, nil
		}
		return &Value{Kind: Bool, Text: "false"}, nil
	case json.Number:
		return &Value{Kind: Number, Text: string(t)}, nil
	case string:
		return &Value{Kind: String, Text: t}, nil
	case json.Delim:
		if depth >= p.l.Depth {
			return nil, depthError(p.l.Depth)
		}
		switch t {
		case '{':
			v := &Value{Kind: Object}
			for p.d.More() {
				k, err := p.d.Token()
				if err != nil {
					return nil, fmt.Errorf("invalid JSON: %w", err)
				}
				name, _ := k.(string)
				item, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				v.Props = append(v.Props, Prop{Name: name, Value: item})
			}
			if _, err := p.d.Token(); err != nil { // the closing brace
				return nil, fmt.Errorf("invalid JSON: %w", err)
			}
			return v, nil
		case '[':
			v := &Value{Kind: Array}
			for p.d.More() {
				item, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				v.Items = append(v.Items, item)
			}
			if _, err := p.d.Token(); err != nil {
				return nil, fmt.Errorf("invalid JSON: %w", err)
			}
			return v, nil
		}
	}
	return nil, fmt.Errorf("invalid JSON: unexpected %v", tok)
}

// jsonWriter writes indented JSON in Newtonsoft's layout: two spaces,
// "name": value, and no escaping beyond what JSON needs.
type jsonWriter struct{ out outBuf }

func (w *jsonWriter) string(s string) {
	if !w.out.room(len(s) + 2) {
		return
	}
	b := append(w.out.b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"':
			b = append(b, '\\', '"')
		case c == '\\':
			b = append(b, '\\', '\\')
		case c == '\n':
			b = append(b, '\\', 'n')
		case c == '\r':
			b = append(b, '\\', 'r')
		case c == '\t':
			b = append(b, '\\', 't')
		case c < 0x20:
			b = append(b, fmt.Sprintf(`\u%04x`, c)...)
		default:
			b = append(b, c)
		}
	}
	w.out.b = append(b, '"')
	if len(w.out.b) > w.out.limit {
		w.out.err = outputError(w.out.limit)
	}
}

package liquid

import (
	"strings"

	"github.com/osteele/liquid/values"
)

// Dict is an object for templates that keeps its keys in order: a JSON
// object, the headers of a message, context.Variables. d.Name and d["Name"]
// look a key up (ignoring case when the Dict was made so, as headers are); a
// for loop visits its entries as {Key, Value} pairs, in order, as .NET's
// dictionaries do.
type Dict struct {
	keys     []string
	vals     map[string]any
	foldCase bool
	text     string // what {{ dict }} prints, when set
}

// SetText sets what the Dict prints as, such as a URL object's URL.
func (d *Dict) SetText(s string) { d.text = s }

// NewDict returns an empty Dict; foldCase makes lookups ignore case.
func NewDict(foldCase bool) *Dict { return &Dict{vals: map[string]any{}, foldCase: foldCase} }

// Set adds or replaces a key; a new key goes last.
func (d *Dict) Set(k string, v any) {
	kk := d.norm(k)
	if _, ok := d.vals[kk]; !ok {
		d.keys = append(d.keys, k)
	}
	d.vals[kk] = v
}

// Get returns the value under k.
func (d *Dict) Get(k string) (any, bool) {
	v, ok := d.vals[d.norm(k)]
	return v, ok
}

// Len is the number of keys.
func (d *Dict) Len() int { return len(d.keys) }

func (d *Dict) norm(k string) string {
	if d.foldCase {
		return strings.ToLower(k)
	}
	return k
}

func (d *Dict) value(k values.Value) values.Value {
	name, ok := k.Interface().(string)
	if !ok {
		return values.ValueOf(nil)
	}
	if v, ok := d.Get(name); ok {
		return values.ValueOf(v)
	}
	switch name {
	case "size":
		return values.ValueOf(len(d.keys))
	case "first", "last":
		if len(d.keys) == 0 {
			return values.ValueOf(nil)
		}
		k := d.keys[0]
		if name == "last" {
			k = d.keys[len(d.keys)-1]
		}
		return values.ValueOf(map[string]any{"Key": k, "Value": d.vals[d.norm(k)]})
	}
	return values.ValueOf(nil)
}

// The methods below make a Dict a Liquid value.

// Interface returns d.
func (d *Dict) Interface() any { return d }

// Int panics, as for any non-number.
func (d *Dict) Int() int { panic("a dictionary is not a number") }

// Equal reports identity.
func (d *Dict) Equal(o values.Value) bool { return o.Interface() == any(d) }

// Less is false: dictionaries have no order.
func (d *Dict) Less(values.Value) bool { return false }

// Contains reports whether k is a key.
func (d *Dict) Contains(k values.Value) bool {
	name, ok := k.Interface().(string)
	if !ok {
		return false
	}
	_, ok = d.Get(name)
	return ok
}

// IndexValue is d[k].
func (d *Dict) IndexValue(k values.Value) values.Value { return d.value(k) }

// PropertyValue is d.k.
func (d *Dict) PropertyValue(k values.Value) values.Value { return d.value(k) }

// Test is true: a dictionary is truthy.
func (d *Dict) Test() bool { return true }

// String renders d as its entries, key=value, as a fallback for {{ dict }}.
// It has a value receiver: Liquid prints a pointer's element.
func (d Dict) String() string {
	if d.text != "" {
		return d.text
	}
	var b strings.Builder
	for i, k := range d.keys {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(toString(d.vals[d.norm(k)]))
	}
	return b.String()
}

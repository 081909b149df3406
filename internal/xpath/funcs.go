package xpath

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// String converts a value to a string per XPath 1.0 §4.2: a node-set is the
// string-value of its first node, numbers have no exponent and integers no
// fraction.
func String(v Value) string {
	switch v := v.(type) {
	case string:
		return v
	case NodeSet:
		if len(v) == 0 {
			return ""
		}
		return StringValue(v[0])
	case float64:
		return formatNumber(v)
	case bool:
		if v {
			return "true"
		}
		return "false"
	}
	return ""
}

// Number converts a value to a number per XPath 1.0 §4.4.
func Number(v Value) float64 {
	switch v := v.(type) {
	case float64:
		return v
	case string:
		return parseNumber(v)
	case bool:
		if v {
			return 1
		}
		return 0
	case NodeSet:
		return parseNumber(String(v))
	}
	return math.NaN()
}

// Boolean converts a value to a boolean per XPath 1.0 §4.3.
func Boolean(v Value) bool {
	switch v := v.(type) {
	case bool:
		return v
	case float64:
		return v != 0 && !math.IsNaN(v)
	case string:
		return v != ""
	case NodeSet:
		return len(v) > 0
	}
	return false
}

func formatNumber(f float64) string {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	case f == 0:
		return "0" // negative zero too
	}
	return strconv.FormatFloat(f, 'f', -1, 64)
}

// parseNumber reads XPath's Number syntax (no sign but '-', no exponent),
// with surrounding whitespace; anything else is NaN.
func parseNumber(s string) float64 {
	s = strings.Trim(s, " \t\r\n")
	t := strings.TrimPrefix(s, "-")
	digits, dot := 0, false
	for i := 0; i < len(t); i++ {
		switch {
		case isDigit(t[i]):
			digits++
		case t[i] == '.' && !dot:
			dot = true
		default:
			return math.NaN()
		}
	}
	if digits == 0 {
		return math.NaN()
	}
	f, _ := strconv.ParseFloat(t, 64) // only range errors, which give ±Inf
	if len(t) < len(s) {
		f = -f
	}
	return f
}

// nodeString is a node's string-value, paid for by the nodes read.
func (c *Context) nodeString(n *Node) (string, error) {
	s, k := stringValue(n)
	return s, c.Spend(k)
}

func (c *Context) str(v Value) (string, error) {
	if ns, ok := v.(NodeSet); ok {
		if len(ns) == 0 {
			return "", nil
		}
		return c.nodeString(ns[0])
	}
	return String(v), nil
}

func (c *Context) num(v Value) (float64, error) {
	if ns, ok := v.(NodeSet); ok {
		s, err := c.str(ns)
		return parseNumber(s), err
	}
	return Number(v), nil
}

// compare applies a comparison operator per XPath 1.0 §3.4.
func (c *Context) compare(op string, a, b Value) (bool, error) {
	as, aSet := a.(NodeSet)
	bs, bSet := b.(NodeSet)
	switch {
	case aSet && bSet:
		return c.compareSets(op, as, bs)
	case aSet:
		return c.compareSet(op, as, b)
	case bSet:
		return c.compareSet(swap(op), bs, a)
	}
	if op == "=" || op == "!=" {
		var eq bool
		_, aBool := a.(bool)
		_, bBool := b.(bool)
		_, aNum := a.(float64)
		_, bNum := b.(float64)
		switch {
		case aBool || bBool:
			eq = Boolean(a) == Boolean(b)
		case aNum || bNum:
			eq = Number(a) == Number(b)
		default:
			eq = String(a) == String(b)
		}
		return eq == (op == "="), nil
	}
	return relational(op, Number(a), Number(b)), nil
}

// swap mirrors an operator, for a node-set on its right.
func swap(op string) string {
	switch op {
	case "<":
		return ">"
	case "<=":
		return ">="
	case ">":
		return "<"
	case ">=":
		return "<="
	}
	return op
}

func relational(op string, x, y float64) bool {
	switch op {
	case "=":
		return x == y
	case "!=":
		return x != y
	case "<":
		return x < y
	case "<=":
		return x <= y
	case ">":
		return x > y
	}
	return x >= y
}

// compareSet compares each node of ns with a value that is not a node-set:
// true if any comparison is.
func (c *Context) compareSet(op string, ns NodeSet, v Value) (bool, error) {
	if b, ok := v.(bool); ok {
		if op == "=" || op == "!=" {
			return (len(ns) > 0 == b) == (op == "="), nil
		}
		return relational(op, Number(len(ns) > 0), Number(b)), nil
	}
	s, isString := v.(string)
	x := Number(v)
	for _, n := range ns {
		sv, err := c.nodeString(n)
		if err != nil {
			return false, err
		}
		var ok bool
		if isString && (op == "=" || op == "!=") {
			ok = (sv == s) == (op == "=")
		} else {
			ok = relational(op, parseNumber(sv), x)
		}
		if ok {
			return true, nil
		}
	}
	return false, nil
}

// compareSets compares two node-sets: true if some pair of nodes compares
// true. It is linear, not quadratic: = looks strings up in a set, != needs
// only two distinct strings, the others the extreme numbers.
func (c *Context) compareSets(op string, a, b NodeSet) (bool, error) {
	strs := func(ns NodeSet) ([]string, error) {
		out := make([]string, len(ns))
		for i, n := range ns {
			s, err := c.nodeString(n)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	}
	sa, err := strs(a)
	if err != nil {
		return false, err
	}
	sb, err := strs(b)
	if err != nil {
		return false, err
	}
	switch op {
	case "=":
		seen := make(map[string]bool, len(sa))
		for _, s := range sa {
			seen[s] = true
		}
		for _, s := range sb {
			if seen[s] {
				return true, nil
			}
		}
		return false, nil
	case "!=":
		if len(sa) == 0 || len(sb) == 0 {
			return false, nil
		}
		for _, s := range sa {
			if s != sa[0] {
				return true, nil
			}
		}
		for _, s := range sb {
			if s != sa[0] {
				return true, nil
			}
		}
		return false, nil
	}
	minMax := func(ss []string) (lo, hi float64, ok bool) {
		lo, hi = math.Inf(1), math.Inf(-1)
		for _, s := range ss {
			if f := parseNumber(s); !math.IsNaN(f) {
				lo, hi, ok = math.Min(lo, f), math.Max(hi, f), true
			}
		}
		return lo, hi, ok
	}
	loA, hiA, okA := minMax(sa)
	loB, hiB, okB := minMax(sb)
	if !okA || !okB {
		return false, nil
	}
	if op == "<" || op == "<=" {
		return relational(op, loA, hiB), nil
	}
	return relational(op, hiA, loB), nil
}

// coreFn is a function of XPath's core library; it evaluates its arguments
// itself, to convert them as the function needs.
type coreFn func(c *Context, args []expr) (Value, error)

// core looks up a core library function and its arity (hi < 0: no limit).
func core(name string) (fn coreFn, lo, hi int, ok bool) {
	switch name {
	case "last":
		return fnLast, 0, 0, true
	case "position":
		return fnPosition, 0, 0, true
	case "count":
		return fnCount, 1, 1, true
	case "id":
		return fnID, 1, 1, true
	case "local-name", "namespace-uri", "name":
		return nameFn(name), 0, 1, true
	case "string":
		return fnString, 0, 1, true
	case "concat":
		return fnConcat, 2, -1, true
	case "starts-with", "contains", "substring-before", "substring-after":
		return stringPairFn(name), 2, 2, true
	case "substring":
		return fnSubstring, 2, 3, true
	case "string-length":
		return fnStringLength, 0, 1, true
	case "normalize-space":
		return fnNormalizeSpace, 0, 1, true
	case "translate":
		return fnTranslate, 3, 3, true
	case "boolean":
		return fnBoolean, 1, 1, true
	case "not":
		return fnNot, 1, 1, true
	case "true", "false":
		b := name == "true"
		return func(*Context, []expr) (Value, error) { return b, nil }, 0, 0, true
	case "lang":
		return fnLang, 1, 1, true
	case "number":
		return fnNumber, 0, 1, true
	case "sum":
		return fnSum, 1, 1, true
	case "floor", "ceiling", "round":
		return mathFn(name), 1, 1, true
	}
	return nil, 0, 0, false
}

// IsCoreFunction reports whether XPath's core library has a function of
// that (unprefixed) name, for XSLT's function-available().
func IsCoreFunction(name string) bool {
	_, _, _, ok := core(name)
	return ok
}

// coreType is the type a core library function returns.
func coreType(name string) valueType {
	switch name {
	case "id":
		return typeNodeSet
	case "local-name", "namespace-uri", "name", "string", "concat", "substring-before", "substring-after", "substring", "normalize-space", "translate":
		return typeString
	case "starts-with", "contains", "boolean", "not", "true", "false", "lang":
		return typeBool
	}
	return typeNumber
}

func (c *Context) evalString(e expr) (string, error) {
	v, err := e.eval(c)
	if err != nil {
		return "", err
	}
	return c.str(v)
}

func (c *Context) evalNumber(e expr) (float64, error) {
	v, err := e.eval(c)
	if err != nil {
		return 0, err
	}
	return c.num(v)
}

func (c *Context) evalNodeSet(e expr, fn string) (NodeSet, error) {
	v, err := e.eval(c)
	if err != nil {
		return nil, err
	}
	ns, ok := v.(NodeSet)
	if !ok {
		return nil, fmt.Errorf("xpath: %s() wants a node-set, not a %s", fn, TypeName(v))
	}
	return ns, nil
}

// stringArg is the string of the first argument, or the context node's
// string-value without one.
func (c *Context) stringArg(args []expr) (string, error) {
	if len(args) > 0 {
		return c.evalString(args[0])
	}
	n, err := c.node()
	if err != nil {
		return "", err
	}
	return c.nodeString(n)
}

func fnLast(c *Context, _ []expr) (Value, error) {
	return float64(max(c.Size, 1)), nil
}

func fnPosition(c *Context, _ []expr) (Value, error) {
	return float64(max(c.Position, 1)), nil
}

func fnCount(c *Context, args []expr) (Value, error) {
	ns, err := c.evalNodeSet(args[0], "count")
	return float64(len(ns)), err
}

// fnID finds elements by ID. Without a DTD no attribute is declared an ID,
// so the IDs are the xml:id attributes.
func fnID(c *Context, args []expr) (Value, error) {
	v, err := args[0].eval(c)
	if err != nil {
		return nil, err
	}
	ids := map[string]bool{}
	if ns, ok := v.(NodeSet); ok {
		for _, n := range ns {
			s, err := c.nodeString(n)
			if err != nil {
				return nil, err
			}
			for _, id := range fields(s) {
				ids[id] = true
			}
		}
	} else {
		for _, id := range fields(String(v)) {
			ids[id] = true
		}
	}
	n, err := c.node()
	if err != nil || len(ids) == 0 {
		return NodeSet(nil), err
	}
	var out NodeSet
	walk(n.Root(), func(d *Node) bool {
		if err = c.Spend(1); err != nil {
			return false
		}
		for _, a := range d.Attrs {
			if a.Local == "id" && a.Space == XMLNamespace && ids[strings.Trim(a.Data, " \t\r\n")] {
				out = append(out, d)
				break
			}
		}
		return true
	})
	return out, err
}

// fields splits on XML whitespace.
func fields(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool { return r == ' ' || r == '\t' || r == '\r' || r == '\n' })
}

func nameFn(which string) coreFn {
	return func(c *Context, args []expr) (Value, error) {
		var n *Node
		if len(args) == 0 {
			var err error
			if n, err = c.node(); err != nil {
				return nil, err
			}
		} else {
			ns, err := c.evalNodeSet(args[0], which)
			if err != nil || len(ns) == 0 {
				return "", err
			}
			n = ns[0]
		}
		switch n.Kind {
		case ElementNode, AttributeNode:
			switch {
			case which == "local-name":
				return n.Local, nil
			case which == "namespace-uri":
				return n.Space, nil
			case n.Prefix != "":
				return n.Prefix + ":" + n.Local, nil
			}
			return n.Local, nil
		case ProcessingInstructionNode:
			if which != "namespace-uri" {
				return n.Local, nil
			}
		case NamespaceNode:
			if which != "namespace-uri" {
				return n.Prefix, nil
			}
		}
		return "", nil
	}
}

func fnString(c *Context, args []expr) (Value, error) {
	return c.stringArg(args)
}

func fnConcat(c *Context, args []expr) (Value, error) {
	var b strings.Builder
	for _, a := range args {
		s, err := c.evalString(a)
		if err != nil {
			return nil, err
		}
		b.WriteString(s)
	}
	return b.String(), nil
}

func stringPairFn(which string) coreFn {
	return func(c *Context, args []expr) (Value, error) {
		s, err := c.evalString(args[0])
		if err != nil {
			return nil, err
		}
		t, err := c.evalString(args[1])
		if err != nil {
			return nil, err
		}
		switch which {
		case "starts-with":
			return strings.HasPrefix(s, t), nil
		case "contains":
			return strings.Contains(s, t), nil
		case "substring-before":
			before, _, found := strings.Cut(s, t)
			if !found {
				return "", nil
			}
			return before, nil
		}
		_, after, found := strings.Cut(s, t)
		if !found {
			return "", nil
		}
		return after, nil
	}
}

// fnSubstring counts characters from 1, and takes those whose position p
// has round(start) <= p < round(start)+round(length), so NaN takes none.
func fnSubstring(c *Context, args []expr) (Value, error) {
	s, err := c.evalString(args[0])
	if err != nil {
		return nil, err
	}
	start, err := c.evalNumber(args[1])
	if err != nil {
		return nil, err
	}
	first := round(start)
	end := math.Inf(1)
	if len(args) == 3 {
		length, err := c.evalNumber(args[2])
		if err != nil {
			return nil, err
		}
		end = first + round(length)
	}
	if math.IsNaN(first) || math.IsNaN(end) {
		return "", nil
	}
	var b strings.Builder
	p := 1.0
	for _, r := range s {
		if p >= first && p < end {
			b.WriteRune(r)
		}
		p++
	}
	return b.String(), nil
}

func fnStringLength(c *Context, args []expr) (Value, error) {
	s, err := c.stringArg(args)
	return float64(utf8.RuneCountInString(s)), err
}

func fnNormalizeSpace(c *Context, args []expr) (Value, error) {
	s, err := c.stringArg(args)
	return strings.Join(fields(s), " "), err
}

func fnTranslate(c *Context, args []expr) (Value, error) {
	var s [3]string
	for i, a := range args {
		var err error
		if s[i], err = c.evalString(a); err != nil {
			return nil, err
		}
	}
	from, to := []rune(s[1]), []rune(s[2])
	var b strings.Builder
	for _, r := range s[0] {
		i := -1
		for j, f := range from {
			if f == r {
				i = j
				break
			}
		}
		switch {
		case i < 0:
			b.WriteRune(r)
		case i < len(to):
			b.WriteRune(to[i])
		}
	}
	return b.String(), nil
}

func fnBoolean(c *Context, args []expr) (Value, error) {
	v, err := args[0].eval(c)
	return Boolean(v), err
}

func fnNot(c *Context, args []expr) (Value, error) {
	v, err := args[0].eval(c)
	return !Boolean(v), err
}

// fnLang compares with the nearest xml:lang, ignoring case and any suffix
// after a '-'.
func fnLang(c *Context, args []expr) (Value, error) {
	want, err := c.evalString(args[0])
	if err != nil {
		return nil, err
	}
	n, err := c.node()
	if err != nil {
		return nil, err
	}
	for ; n != nil; n = n.Parent {
		for _, a := range n.Attrs {
			if a.Local == "lang" && a.Space == XMLNamespace {
				l := a.Data
				return strings.EqualFold(l, want) || len(l) > len(want) && l[len(want)] == '-' && strings.EqualFold(l[:len(want)], want), nil
			}
		}
	}
	return false, nil
}

func fnNumber(c *Context, args []expr) (Value, error) {
	if len(args) > 0 {
		return c.evalNumber(args[0])
	}
	s, err := c.stringArg(nil)
	return parseNumber(s), err
}

func fnSum(c *Context, args []expr) (Value, error) {
	ns, err := c.evalNodeSet(args[0], "sum")
	if err != nil {
		return nil, err
	}
	sum := 0.0
	for _, n := range ns {
		s, err := c.nodeString(n)
		if err != nil {
			return nil, err
		}
		sum += parseNumber(s)
	}
	return sum, nil
}

func mathFn(which string) coreFn {
	return func(c *Context, args []expr) (Value, error) {
		f, err := c.evalNumber(args[0])
		switch which {
		case "floor":
			return math.Floor(f), err
		case "ceiling":
			return math.Ceil(f), err
		}
		return round(f), err
	}
}

// round is XPath's round(): halves go up (towards +Infinity), and negative
// numbers that round to zero give negative zero.
func round(f float64) float64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return f
	}
	r := math.Floor(f)
	if f-r >= 0.5 {
		r++
	}
	if r == 0 && (f < 0 || math.Signbit(f)) {
		return math.Copysign(0, -1)
	}
	return r
}

package xslt

import (
	"strings"
)

// instr is a compiled instruction: one of the types below.
type instr any

type textInstr struct {
	text string
	raw  bool // disable-output-escaping="yes"
}

type literalElement struct {
	name   qname
	prefix string
	ns     []nsBinding // namespace nodes copied from the stylesheet
	attrs  []*literalAttr
	sets   []qname
	body   []instr
}

type literalAttr struct {
	name   qname
	prefix string
	value  *avt
}

type applyTemplates struct {
	sel    *expr // nil: child::node()
	mode   qname
	sorts  []*sortKey
	params []*variable
}

type callTemplate struct {
	name   qname
	params []*variable
	line   int
	col    int
}

type applyImports struct{}

type forEach struct {
	sel   *expr
	sorts []*sortKey
	body  []instr
}

type valueOf struct {
	sel *expr
	raw bool
}

type copyOf struct{ sel *expr }

type choose struct {
	whens     []*when
	otherwise []instr
}

type when struct {
	test *expr
	body []instr
}

type ifInstr struct {
	test *expr
	body []instr
}

type copyInstr struct {
	sets      []qname
	body      []instr
	line, col int
}

type message struct {
	body      []instr
	terminate bool
	line      int
	col       int
}

type elementInstr struct {
	name  *avt
	ns    *avt // nil: from the name's prefix
	scope *scope
	sets  []qname
	body  []instr
	line  int
	col   int
}

type attributeInstr struct {
	name  *avt
	ns    *avt
	scope *scope
	body  []instr
	line  int
	col   int
}

type commentInstr struct{ body []instr }

type piInstr struct {
	name *avt
	body []instr
	line int
	col  int
}

type numberInstr struct {
	level     string // single, multiple or any
	count     *pattern
	from      *pattern
	value     *expr
	format    *avt
	groupSep  *avt
	groupSize *avt
	line, col int
}

// fallback stands for an instruction this processor does not have (an
// extension element, or an XSLT element from a later version): it runs the
// element's xsl:fallback children, or fails if it has none (XSLT 1.0 §15).
type fallback struct {
	what string
	body []instr // the fallbacks' content; nil when there is none
	has  bool
	line int
	col  int
}

type sortKey struct {
	sel       *expr // nil: "."
	dataType  *avt
	order     *avt
	caseOrder *avt
}

// body compiles a sequence of instructions.
func (c *compiler) body(nodes []*snode, ctx *bodyCtx) []instr {
	var out []instr
	mark := len(c.locals)
	defer func() { c.locals = c.locals[:mark] }()
	for _, n := range nodes {
		if n.isText() {
			out = append(out, &textInstr{text: n.text})
			continue
		}
		if n.is(nsXSL, "param") {
			c.errorf(n, "xsl:param is allowed only at the top level and first in xsl:template: use xsl:variable here")
			continue
		}
		if in := c.instruction(n, ctx); in != nil {
			out = append(out, in)
			if v, ok := in.(*variable); ok {
				c.locals = append(c.locals, v)
			}
		}
	}
	return out
}

// instruction compiles one element of a template body.
func (c *compiler) instruction(n *snode, ctx *bodyCtx) instr {
	if n.name.space != nsXSL {
		if ctx.extension[n.name.space] {
			return c.fallback(n, ctx, "the extension element <"+n.displayName()+">")
		}
		return c.literal(n, ctx)
	}
	switch n.name.local {
	case "apply-templates":
		c.checkAttrs(n, ctx.fc, "select", "mode")
		a := &applyTemplates{}
		if sel, ok := n.attr("select"); ok {
			a.sel = c.expr(n, "select", sel)
		}
		if mode, ok := n.attr("mode"); ok {
			a.mode, _ = c.qname(n, mode)
		}
		for _, k := range n.children {
			switch {
			case k.is(nsXSL, "sort"):
				a.sorts = append(a.sorts, c.sortKey(k, ctx))
			case k.is(nsXSL, "with-param"):
				a.params = c.withParam(k, ctx, a.params)
			default:
				c.errorf(k, "xsl:apply-templates may contain only xsl:sort and xsl:with-param")
			}
		}
		return a
	case "call-template":
		c.checkAttrs(n, ctx.fc, "name")
		name, ok := c.need(n, "name")
		if !ok {
			return nil
		}
		q, ok := c.qname(n, name)
		if !ok {
			return nil
		}
		ct := &callTemplate{name: q, line: n.line, col: n.col}
		for _, k := range n.children {
			if !k.is(nsXSL, "with-param") {
				c.errorf(k, "xsl:call-template may contain only xsl:with-param")
				continue
			}
			ct.params = c.withParam(k, ctx, ct.params)
		}
		c.calls = append(c.calls, ct)
		return ct
	case "apply-imports":
		c.checkAttrs(n, ctx.fc)
		return &applyImports{}
	case "for-each":
		c.checkAttrs(n, ctx.fc, "select")
		sel, ok := c.need(n, "select")
		if !ok {
			return nil
		}
		f := &forEach{sel: c.expr(n, "select", sel)}
		kids := n.children
		for len(kids) > 0 && kids[0].is(nsXSL, "sort") {
			f.sorts = append(f.sorts, c.sortKey(kids[0], ctx))
			kids = kids[1:]
		}
		f.body = c.body(kids, ctx)
		return f
	case "value-of":
		c.checkAttrs(n, ctx.fc, "select", "disable-output-escaping")
		sel, ok := c.need(n, "select")
		if !ok {
			return nil
		}
		c.empty(n)
		return &valueOf{sel: c.expr(n, "select", sel), raw: c.yes(n, "disable-output-escaping")}
	case "copy-of":
		c.checkAttrs(n, ctx.fc, "select")
		sel, ok := c.need(n, "select")
		if !ok {
			return nil
		}
		c.empty(n)
		return &copyOf{sel: c.expr(n, "select", sel)}
	case "number":
		return c.number(n, ctx)
	case "choose":
		c.checkAttrs(n, ctx.fc)
		ch := &choose{}
		for i, k := range n.children {
			switch {
			case k.is(nsXSL, "when"):
				c.checkAttrs(k, ctx.fc, "test")
				if ch.otherwise != nil {
					c.errorf(k, "xsl:when must come before xsl:otherwise")
				}
				test, ok := c.need(k, "test")
				if !ok {
					continue
				}
				ch.whens = append(ch.whens, &when{test: c.expr(k, "test", test), body: c.body(k.children, ctx)})
			case k.is(nsXSL, "otherwise"):
				c.checkAttrs(k, ctx.fc)
				if i != len(n.children)-1 {
					c.errorf(k, "xsl:otherwise must be the last child of xsl:choose")
				}
				ch.otherwise = c.body(k.children, ctx)
				if ch.otherwise == nil {
					ch.otherwise = []instr{}
				}
			default:
				c.errorf(k, "xsl:choose may contain only xsl:when and xsl:otherwise")
			}
		}
		if len(ch.whens) == 0 {
			c.errorf(n, "xsl:choose needs at least one xsl:when")
		}
		return ch
	case "if":
		c.checkAttrs(n, ctx.fc, "test")
		test, ok := c.need(n, "test")
		if !ok {
			return nil
		}
		return &ifInstr{test: c.expr(n, "test", test), body: c.body(n.children, ctx)}
	case "text":
		c.checkAttrs(n, ctx.fc, "disable-output-escaping")
		var b strings.Builder
		for _, k := range n.children {
			if !k.isText() {
				c.errorf(k, "xsl:text may contain only text")
				continue
			}
			b.WriteString(k.text)
		}
		return &textInstr{text: b.String(), raw: c.yes(n, "disable-output-escaping")}
	case "copy":
		c.checkAttrs(n, ctx.fc, "use-attribute-sets")
		return &copyInstr{sets: c.useSets(n, "use-attribute-sets"), body: c.body(n.children, ctx), line: n.line, col: n.col}
	case "variable":
		if v := c.variable(n, ctx, false); v != nil {
			return v
		}
		return nil
	case "message":
		c.checkAttrs(n, ctx.fc, "terminate")
		return &message{body: c.body(n.children, ctx), terminate: c.yes(n, "terminate"), line: n.line, col: n.col}
	case "fallback":
		c.checkAttrs(n, ctx.fc)
		return nil // runs only in place of an instruction this processor lacks
	case "element":
		c.checkAttrs(n, ctx.fc, "name", "namespace", "use-attribute-sets")
		name, ok := c.need(n, "name")
		if !ok {
			return nil
		}
		e := &elementInstr{name: c.avt(n, "name", name), scope: n.scope, sets: c.useSets(n, "use-attribute-sets"),
			body: c.body(n.children, ctx), line: n.line, col: n.col}
		if ns, ok := n.attr("namespace"); ok {
			e.ns = c.avt(n, "namespace", ns)
		}
		return e
	case "attribute":
		c.checkAttrs(n, ctx.fc, "name", "namespace")
		name, ok := c.need(n, "name")
		if !ok {
			return nil
		}
		a := &attributeInstr{name: c.avt(n, "name", name), scope: n.scope, body: c.body(n.children, ctx), line: n.line, col: n.col}
		if ns, ok := n.attr("namespace"); ok {
			a.ns = c.avt(n, "namespace", ns)
		}
		return a
	case "comment":
		c.checkAttrs(n, ctx.fc)
		return &commentInstr{body: c.body(n.children, ctx)}
	case "processing-instruction":
		c.checkAttrs(n, ctx.fc, "name")
		name, ok := c.need(n, "name")
		if !ok {
			return nil
		}
		return &piInstr{name: c.avt(n, "name", name), body: c.body(n.children, ctx), line: n.line, col: n.col}
	case "sort":
		c.errorf(n, "xsl:sort is allowed only first in xsl:for-each or in xsl:apply-templates")
	case "with-param":
		c.errorf(n, "xsl:with-param is allowed only in xsl:call-template and xsl:apply-templates")
	case "when", "otherwise":
		c.errorf(n, "xsl:%s is allowed only in xsl:choose", n.name.local)
	case "include", "import":
		c.errorf(n, "xsl:%s is not supported (the gateway reads no files), and belongs at the top level anyway", n.name.local)
	case "template", "output", "key", "strip-space", "preserve-space", "decimal-format",
		"namespace-alias", "attribute-set", "stylesheet", "transform":
		c.errorf(n, "xsl:%s is allowed only at the top level of the stylesheet", n.name.local)
	default:
		if ctx.fc {
			return c.fallback(n, ctx, "xsl:"+n.name.local)
		}
		c.errorf(n, "xsl:%s is not an XSLT 1.0 instruction", n.name.local)
	}
	return nil
}

func (c *compiler) fallback(n *snode, ctx *bodyCtx, what string) instr {
	f := &fallback{what: what, line: n.line, col: n.col}
	for _, k := range n.children {
		if k.is(nsXSL, "fallback") {
			f.has = true
			f.body = append(f.body, c.body(k.children, ctx)...)
		}
	}
	return f
}

// empty reports content in an element that must be empty.
func (c *compiler) empty(n *snode) {
	if len(n.children) > 0 {
		c.errorf(n, "xsl:%s must be empty", n.name.local)
	}
}

// yes reads a yes/no attribute that defaults to no.
func (c *compiler) yes(n *snode, attr string) bool {
	v, ok := n.attr(attr)
	if !ok {
		return false
	}
	switch strings.TrimSpace(v) {
	case "yes":
		return true
	case "no":
	default:
		c.errorf(n, "xsl:%s %s must be yes or no, not %q", n.name.local, attr, v)
	}
	return false
}

func (c *compiler) useSets(n *snode, attr string) []qname {
	v, ok := n.attr(attr)
	if !ok {
		return nil
	}
	sets := c.qnames(n, v)
	for _, q := range sets {
		c.setRefs = append(c.setRefs, setRef{q, n})
	}
	return sets
}

func (c *compiler) withParam(n *snode, ctx *bodyCtx, params []*variable) []*variable {
	v := c.variable(n, ctx, false)
	if v == nil {
		return params
	}
	for _, p := range params {
		if p.name == v.name {
			c.errorf(n, "parameter %s is passed twice", v.name)
			return params
		}
	}
	return append(params, v)
}

func (c *compiler) sortKey(n *snode, ctx *bodyCtx) *sortKey {
	c.checkAttrs(n, ctx.fc, "select", "lang", "data-type", "order", "case-order")
	c.empty(n)
	k := &sortKey{}
	if sel, ok := n.attr("select"); ok {
		k.sel = c.expr(n, "select", sel)
	}
	opt := func(attr string) *avt {
		if v, ok := n.attr(attr); ok {
			return c.avt(n, attr, v)
		}
		return nil
	}
	k.dataType, k.order, k.caseOrder = opt("data-type"), opt("order"), opt("case-order")
	return k
}

func (c *compiler) number(n *snode, ctx *bodyCtx) instr {
	c.checkAttrs(n, ctx.fc, "level", "count", "from", "value", "format", "lang", "letter-value",
		"grouping-separator", "grouping-size")
	c.empty(n)
	num := &numberInstr{level: "single", line: n.line, col: n.col}
	if v, ok := n.attr("level"); ok {
		switch v = strings.TrimSpace(v); v {
		case "single", "multiple", "any":
			num.level = v
		default:
			c.errorf(n, "xsl:number level must be single, multiple or any, not %q", v)
		}
	}
	if v, ok := n.attr("count"); ok {
		num.count = c.pattern(n, "count", v)
	}
	if v, ok := n.attr("from"); ok {
		num.from = c.pattern(n, "from", v)
	}
	if v, ok := n.attr("value"); ok {
		num.value = c.expr(n, "value", v)
	}
	format := "1"
	if v, ok := n.attr("format"); ok {
		format = v
	}
	num.format = c.avt(n, "format", format)
	if v, ok := n.attr("grouping-separator"); ok {
		num.groupSep = c.avt(n, "grouping-separator", v)
	}
	if v, ok := n.attr("grouping-size"); ok {
		num.groupSize = c.avt(n, "grouping-size", v)
	}
	return num
}

// literal compiles a literal result element (XSLT 1.0 §7.1.1).
func (c *compiler) literal(n *snode, ctx *bodyCtx) instr {
	ctx = ctx.with(n, c, true)
	e := &literalElement{name: n.name, prefix: n.prefix}
	if a, ok := c.aliases[n.name.space]; ok {
		e.name.space, e.prefix = a.uri, a.prefix
	}
	for _, b := range n.scope.bindings() {
		if b.uri == nsXSL || ctx.exclude[b.uri] {
			continue
		}
		if a, ok := c.aliases[b.uri]; ok {
			if a.uri == "" {
				continue
			}
			b = nsBinding{b.prefix, a.uri}
		}
		e.ns = append(e.ns, b)
	}
	for _, a := range n.attrs {
		switch {
		case a.name == (qname{nsXSL, "use-attribute-sets"}):
			e.sets = c.qnames(n, a.value)
			for _, q := range e.sets {
				c.setRefs = append(c.setRefs, setRef{q, n})
			}
			continue
		case a.name.space == nsXSL:
			continue // xsl:version, xsl:exclude-result-prefixes and the like
		}
		la := &literalAttr{name: a.name, prefix: a.prefix, value: c.avt(n, a.name.local, a.value)}
		if al, ok := c.aliases[a.name.space]; ok && a.name.space != "" {
			la.name.space, la.prefix = al.uri, al.prefix
		}
		e.attrs = append(e.attrs, la)
	}
	e.body = c.body(n.children, ctx)
	return e
}

// avt is an attribute value template: literal text and expressions.
type avt struct {
	parts []avtPart
}

type avtPart struct {
	text string
	e    *expr // nil for text
}

// constant returns the value of an AVT without expressions.
func (a *avt) constant() (string, bool) {
	switch len(a.parts) {
	case 0:
		return "", true
	case 1:
		return a.parts[0].text, a.parts[0].e == nil
	}
	return "", false
}

// avt compiles an attribute value template (XSLT 1.0 §7.6.2): {expr}
// evaluates, {{ and }} are braces.
func (c *compiler) avt(n *snode, attr, v string) *avt {
	a := &avt{}
	var text strings.Builder
	for i := 0; i < len(v); {
		ch := v[i]
		switch {
		case ch == '{' && i+1 < len(v) && v[i+1] == '{':
			text.WriteByte('{')
			i += 2
		case ch == '}' && i+1 < len(v) && v[i+1] == '}':
			text.WriteByte('}')
			i += 2
		case ch == '}':
			c.errorf(n, "the %s attribute %q has a } without a {: write }} for a brace", attr, v)
			return a
		case ch == '{':
			end := avtEnd(v, i+1)
			if end < 0 {
				c.errorf(n, "the %s attribute %q has a { without a }: write {{ for a brace", attr, v)
				return a
			}
			if text.Len() > 0 {
				a.parts = append(a.parts, avtPart{text: text.String()})
				text.Reset()
			}
			if e := c.expr(n, attr, v[i+1:end]); e != nil {
				a.parts = append(a.parts, avtPart{e: e})
			}
			i = end + 1
		default:
			text.WriteByte(ch)
			i++
		}
	}
	if text.Len() > 0 {
		a.parts = append(a.parts, avtPart{text: text.String()})
	}
	return a
}

// avtEnd finds the } closing an expression that starts at i, skipping string
// literals (a } in a literal does not close it).
func avtEnd(v string, i int) int {
	for ; i < len(v); i++ {
		switch v[i] {
		case '"', '\'':
			j := strings.IndexByte(v[i+1:], v[i])
			if j < 0 {
				return -1
			}
			i += j + 1
		case '}':
			return i
		}
	}
	return -1
}

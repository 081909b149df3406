package xslt

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/xpath"
)

// Stylesheet is a compiled stylesheet. It is immutable: any number of
// transforms may use it at once.
type Stylesheet struct {
	rules    map[qname][]*rule // template rules by mode, the one to prefer first
	named    map[qname]*template
	globals  []*variable // top-level xsl:variable and xsl:param, in document order
	global   map[qname]*variable
	params   []string
	keys     map[qname][]*keyDef
	attrSets map[qname]*attrSet
	formats  map[qname]*decimalFormat
	strip    []spaceRule
	out      output
}

// Params returns the local names of the stylesheet's top-level xsl:param
// elements, in document order.
func (s *Stylesheet) Params() []string { return slices.Clone(s.params) }

type template struct {
	match  *pattern // nil for a template that is only named
	name   qname
	mode   qname
	params []*variable
	body   []instr
	line   int
}

// rule is one alternative of a template's match pattern: XSLT 1.0 §5.5 treats
// "a | b" as two rules, each with its own default priority.
type rule struct {
	t        *template
	alt      *xpath.Pattern
	priority float64
	order    int // the template's position in the stylesheet
}

// variable is an xsl:variable, xsl:param or xsl:with-param.
type variable struct {
	name  qname
	sel   *expr   // nil: the content is a result tree fragment (or "" when empty)
	body  []instr // the content, when sel is nil
	param bool
	line  int
	col   int
	index int // position among the globals, for top-level ones
}

type keyDef struct {
	match *pattern
	use   *expr
}

type attrSet struct {
	name  qname
	uses  []qname
	attrs []*attributeInstr
	line  int
	col   int
}

// spaceRule is one name test of xsl:strip-space or xsl:preserve-space.
type spaceRule struct {
	space, local string // local "*" for any; space "*" for any namespace too
	strip        bool
	priority     float64
	order        int
}

// fragment reports whether an xsl:variable's value is a result tree
// fragment (content rather than select). Parameters are left out: a caller
// may pass them a node-set.
func (v *variable) fragment() bool { return !v.param && v.sel == nil && len(v.body) > 0 }

// fragmentPath reports a path into a result tree fragment, which XSLT 1.0
// (and XslCompiledTransform) refuse.
func (c *compiler) fragmentPath(r varRef) {
	c.errorf(r.n, "%s: $%s is a result tree fragment, which a path cannot enter: write msxsl:node-set($%s) (namespace %s) or exsl:node-set($%s) (namespace %s)",
		r.attr, r.name.local, r.name.local, nsMSXSL, r.name.local, nsEXSL)
}

// compiler holds what compiling a stylesheet needs beyond the result.
type compiler struct {
	s       *Stylesheet
	errs    ErrorList
	fc      bool // forwards-compatible processing (XSLT 1.0 §2.5)
	aliases map[string]nsBinding
	sets    []*attrSet
	calls   []*callTemplate // checked once every template is known
	setRefs []setRef        // likewise for attribute sets
	// locals are the local variables in scope where compiling is; references
	// to others wait in pendingVars for the globals to be known.
	locals      []*variable
	pendingVars []varRef
}

type setRef struct {
	name qname
	n    *snode
}

func (c *compiler) errorf(n *snode, format string, args ...any) {
	c.errs = append(c.errs, &Error{Line: n.line, Col: n.col, Msg: fmt.Sprintf(format, args...)})
}

// Compile compiles a stylesheet: a standalone XML document whose root is
// xsl:stylesheet or xsl:transform, or a literal result element with
// xsl:version (a simplified stylesheet). A version other than 1.0 runs in
// forwards-compatible mode (XSLT 1.0 §2.5): unknown top-level elements and
// attributes are ignored, and unknown instructions fail only when they run
// without an xsl:fallback. Errors are an *Error, or an ErrorList when there
// are several.
func Compile(src []byte) (s *Stylesheet, err error) {
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, &Error{Msg: fmt.Sprintf("xslt: internal error compiling the stylesheet: %v", r)}
		}
	}()
	root, err := parseStylesheet(src)
	if err != nil {
		return nil, err
	}
	c := &compiler{
		s: &Stylesheet{
			rules:    map[qname][]*rule{},
			named:    map[qname]*template{},
			global:   map[qname]*variable{},
			keys:     map[qname][]*keyDef{},
			attrSets: map[qname]*attrSet{},
			formats:  map[qname]*decimalFormat{{}: defaultDecimalFormat()},
		},
		aliases: map[string]nsBinding{},
	}
	if root.is(nsXSL, "stylesheet") || root.is(nsXSL, "transform") {
		c.stylesheet(root)
	} else {
		c.simplified(root)
	}
	switch len(c.errs) {
	case 0:
		return c.s, nil
	case 1:
		return nil, c.errs[0]
	}
	return nil, c.errs
}

func (c *compiler) version(n *snode, v string) {
	if v == "" {
		c.errorf(n, `the stylesheet needs version="1.0"`)
		return
	}
	f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
	if err != nil {
		c.errorf(n, "version %q is not a number: write version=\"1.0\"", v)
		return
	}
	c.fc = f != 1.0
}

// simplified compiles a literal result element as the stylesheet (XSLT 1.0
// §2.3): one template for the root.
func (c *compiler) simplified(root *snode) {
	v, ok := attrNS(root, nsXSL, "version")
	if !ok {
		c.errorf(root, "the root element must be xsl:stylesheet or xsl:transform (in namespace %s), not <%s>", nsXSL, root.displayName())
		return
	}
	c.version(root, v)
	ctx := &bodyCtx{}
	body := c.body([]*snode{root}, ctx)
	t := &template{match: rootPattern(), body: body, line: root.line}
	c.addRules(t, 0, false, 0)
	c.resolve()
}

func attrNS(n *snode, space, local string) (string, bool) {
	for _, a := range n.attrs {
		if a.name == (qname{space, local}) {
			return a.value, true
		}
	}
	return "", false
}

// bodyCtx is what instructions inherit from the elements around them.
type bodyCtx struct {
	exclude   map[string]bool // namespace URIs not copied from literal result elements
	extension map[string]bool // namespace URIs of extension elements
	fc        bool
	inTmpl    bool // xsl:param is allowed first in the body being compiled
}

func (b *bodyCtx) with(n *snode, c *compiler, xslAttrs bool) *bodyCtx {
	excl, ext := "exclude-result-prefixes", "extension-element-prefixes"
	var ev, xv, vv string
	var eok, xok, vok bool
	if xslAttrs {
		ev, eok = attrNS(n, nsXSL, excl)
		xv, xok = attrNS(n, nsXSL, ext)
		vv, vok = attrNS(n, nsXSL, "version")
	} else {
		ev, eok = n.attr(excl)
		xv, xok = n.attr(ext)
	}
	if !eok && !xok && !vok {
		return b
	}
	nb := *b
	if eok {
		nb.exclude = c.prefixSet(n, ev, b.exclude)
	}
	if xok {
		nb.extension = c.prefixSet(n, xv, b.extension)
		nb.exclude = c.prefixSet(n, xv, nb.exclude)
	}
	if vok {
		f, err := strconv.ParseFloat(strings.TrimSpace(vv), 64)
		nb.fc = err == nil && f != 1.0
	}
	return &nb
}

// prefixSet resolves a whitespace-separated list of prefixes (#default for
// the default namespace) to namespace URIs, added to a copy of base.
func (c *compiler) prefixSet(n *snode, list string, base map[string]bool) map[string]bool {
	out := map[string]bool{}
	for u := range base {
		out[u] = true
	}
	for _, p := range strings.Fields(list) {
		if p == "#all" && c.fc {
			// XSLT 2.0's every-namespace-in-scope, common in stylesheets
			// written for 2.0 that run here in forwards-compatible mode.
			for _, b := range n.scope.bindings() {
				out[b.uri] = true
			}
			continue
		}
		if p == "#default" {
			p = ""
		}
		uri, ok := n.scope.lookup(p)
		if !ok || uri == "" {
			c.errorf(n, "the prefix %q in %q is not declared: declare it or remove it from the list", p, list)
			continue
		}
		out[uri] = true
	}
	return out
}

func (c *compiler) stylesheet(root *snode) {
	v, _ := root.attr("version")
	c.version(root, v)
	c.checkAttrs(root, c.fc, "version", "id", "exclude-result-prefixes", "extension-element-prefixes")
	ctx := (&bodyCtx{fc: c.fc}).with(root, c, false)
	// Aliases and attribute sets apply wherever they are written, so they are
	// read before the templates that use them.
	for _, n := range root.children {
		if n.is(nsXSL, "namespace-alias") {
			c.namespaceAlias(n)
		}
	}
	order := 0
	for _, n := range root.children {
		if n.isText() {
			c.errorf(n, "text is not allowed between top-level elements: put it in a template, or in xsl:text")
			continue
		}
		if n.name.space != nsXSL {
			switch {
			case n.name.space == "":
				c.errorf(n, "the top-level element <%s> has no namespace: top-level elements other than xsl: ones must be in a namespace", n.displayName())
			case n.is(nsMSXSL, "script"):
				c.errorf(n, "msxsl:script is not supported (the gateway runs no C# or JScript): rewrite the function in XPath and XSLT templates")
			}
			continue // other namespaces: data for extensions, ignored (XSLT 1.0 §2.2)
		}
		switch n.name.local {
		case "template":
			c.template(n, ctx, order)
			order++
		case "variable", "param":
			v := c.variable(n, ctx, true)
			if v == nil {
				continue
			}
			if prev, dup := c.s.global[v.name]; dup {
				c.errorf(n, "the global %s %s is already defined at line %d: rename one", n.name.local, v.name, prev.line)
				continue
			}
			v.index = len(c.s.globals)
			c.s.globals = append(c.s.globals, v)
			c.s.global[v.name] = v
			if v.param {
				c.s.params = append(c.s.params, v.name.local)
			}
		case "output":
			c.output(n)
		case "key":
			c.key(n)
		case "strip-space", "preserve-space":
			c.space(n, len(c.s.strip))
		case "decimal-format":
			c.decimalFormat(n)
		case "attribute-set":
			c.attributeSet(n, ctx)
		case "namespace-alias":
			// read above
		case "include", "import":
			what := map[string]string{"include": "included", "import": "imported"}[n.name.local]
			c.errorf(n, "xsl:%s is not supported (the gateway reads no files): put the %s stylesheet's templates in this one", n.name.local, what)
		default:
			if !c.fc {
				c.errorf(n, "xsl:%s is not an XSLT 1.0 top-level element", n.name.local)
			}
		}
	}
	c.resolve()
}

// resolve checks what refers to names defined anywhere in the stylesheet.
func (c *compiler) resolve() {
	for _, set := range c.sets {
		if _, ok := c.s.attrSets[set.name]; !ok {
			c.s.attrSets[set.name] = set
		} else {
			c.s.attrSets[set.name].attrs = append(c.s.attrSets[set.name].attrs, set.attrs...)
			c.s.attrSets[set.name].uses = append(c.s.attrSets[set.name].uses, set.uses...)
		}
	}
	// Attribute sets must not use themselves, directly or not.
	state := map[qname]int{}
	var visit func(q qname, set *attrSet) bool
	visit = func(q qname, set *attrSet) bool {
		switch state[q] {
		case 1:
			c.errs = append(c.errs, &Error{Line: set.line, Col: set.col, Msg: "attribute set " + q.String() + " uses itself: break the cycle of use-attribute-sets"})
			return false
		case 2:
			return true
		}
		state[q] = 1
		for _, u := range set.uses {
			next, ok := c.s.attrSets[u]
			if !ok {
				c.errs = append(c.errs, &Error{Line: set.line, Col: set.col, Msg: "attribute set " + u.String() + " is not defined: add an xsl:attribute-set with that name"})
				continue
			}
			if !visit(u, next) {
				return false
			}
		}
		state[q] = 2
		return true
	}
	for q, set := range c.s.attrSets {
		visit(q, set)
	}
	for _, r := range c.setRefs {
		if _, ok := c.s.attrSets[r.name]; !ok {
			c.errorf(r.n, "attribute set %s is not defined: add an xsl:attribute-set with that name", r.name)
		}
	}
	for _, r := range c.pendingVars {
		g, ok := c.s.global[r.name]
		switch {
		case !ok:
			c.errorf(r.n, "%s: the variable $%s is not defined: declare it with xsl:variable or xsl:param before using it", r.attr, r.name.local)
		case r.path && g.fragment():
			c.fragmentPath(r)
		}
	}
	for _, ct := range c.calls {
		if _, ok := c.s.named[ct.name]; !ok {
			c.errs = append(c.errs, &Error{Line: ct.line, Col: ct.col, Msg: "xsl:call-template calls " + ct.name.String() + ", which is not defined: add <xsl:template name=\"" + ct.name.local + "\">"})
		}
	}
	for _, rs := range c.s.rules {
		slices.SortStableFunc(rs, func(a, b *rule) int {
			if a.priority != b.priority {
				return cmp.Compare(b.priority, a.priority)
			}
			return cmp.Compare(b.order, a.order)
		})
	}
	slices.SortStableFunc(c.s.strip, func(a, b spaceRule) int {
		if a.priority != b.priority {
			return cmp.Compare(b.priority, a.priority)
		}
		return cmp.Compare(b.order, a.order)
	})
	sortErrors(c.errs)
}

func sortErrors(errs ErrorList) {
	slices.SortStableFunc(errs, func(a, b *Error) int {
		if a.Line != b.Line {
			return cmp.Compare(a.Line, b.Line)
		}
		return cmp.Compare(a.Col, b.Col)
	})
}

// checkAttrs reports attributes in no namespace that the element does not
// take (ignored in forwards-compatible mode).
func (c *compiler) checkAttrs(n *snode, fc bool, allowed ...string) {
	if fc {
		return
	}
	for _, a := range n.attrs {
		if a.name.space == "" && !slices.Contains(allowed, a.name.local) {
			c.errorf(n, "xsl:%s has no attribute %s", n.name.local, a.name.local)
		}
	}
}

// need returns a required attribute, reporting it when missing.
func (c *compiler) need(n *snode, name string) (string, bool) {
	v, ok := n.attr(name)
	if !ok {
		c.errorf(n, "xsl:%s needs a %s attribute", n.name.local, name)
	}
	return v, ok
}

// qname resolves a QName-valued attribute; unprefixed names have no
// namespace (the default namespace does not apply, XSLT 1.0 §2.4).
func (c *compiler) qname(n *snode, v string) (qname, bool) {
	v = strings.TrimSpace(v)
	prefix, local, found := strings.Cut(v, ":")
	if !found {
		prefix, local = "", v
	}
	if !isNCName(local) || found && !isNCName(prefix) {
		c.errorf(n, "%q is not a valid name", v)
		return qname{}, false
	}
	if prefix == "" {
		return qname{"", local}, true
	}
	uri, ok := n.scope.lookup(prefix)
	if !ok {
		c.errorf(n, "the prefix %s in %q is not declared: add xmlns:%s=\"...\"", prefix, v, prefix)
		return qname{}, false
	}
	return qname{uri, local}, true
}

func (c *compiler) qnames(n *snode, v string) []qname {
	var out []qname
	for _, f := range strings.Fields(v) {
		if q, ok := c.qname(n, f); ok {
			out = append(out, q)
		}
	}
	return out
}

func isNCName(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= 0xC0 && r != 0xD7 && r != 0xF7:
		case i > 0 && (r == '-' || r == '.' || r >= '0' && r <= '9' || r == 0xB7):
		default:
			return false
		}
	}
	return true
}

func (c *compiler) template(n *snode, ctx *bodyCtx, order int) {
	c.checkAttrs(n, ctx.fc, "match", "name", "priority", "mode")
	t := &template{line: n.line}
	match, hasMatch := n.attr("match")
	name, hasName := n.attr("name")
	if !hasMatch && !hasName {
		c.errorf(n, "xsl:template needs a match or a name attribute")
		return
	}
	if hasName {
		q, ok := c.qname(n, name)
		if ok {
			if prev, dup := c.s.named[q]; dup {
				c.errorf(n, "a template named %s is already defined at line %d: rename one", q, prev.line)
			}
			t.name = q
			c.s.named[q] = t
		}
	}
	if mode, ok := n.attr("mode"); ok {
		if !hasMatch {
			c.errorf(n, "xsl:template with a mode needs a match attribute")
		}
		t.mode, _ = c.qname(n, mode)
	}
	prio, hasPrio := 0.0, false
	if p, ok := n.attr("priority"); ok {
		// An XPath number: digits with an optional point and minus sign.
		v := strings.TrimPrefix(strings.TrimSpace(p), "-")
		f, err := strconv.ParseFloat(v, 64)
		if err != nil || strings.Trim(v, "0123456789.") != "" {
			c.errorf(n, "priority %q is not a number", p)
		}
		if strings.HasPrefix(strings.TrimSpace(p), "-") {
			f = -f
		}
		prio, hasPrio = f, true
	}
	bctx := *ctx
	bctx.inTmpl = true
	t.params, t.body = c.templateBody(n, &bctx)
	if hasMatch {
		t.match = c.pattern(n, "match", match)
		if t.match != nil {
			c.addRules(t, prio, hasPrio, order)
		}
	}
}

func (c *compiler) addRules(t *template, prio float64, hasPrio bool, order int) {
	for _, alt := range t.match.alts {
		p := alt.DefaultPriority()
		if hasPrio {
			p = prio
		}
		c.s.rules[t.mode] = append(c.s.rules[t.mode], &rule{t: t, alt: alt, priority: p, order: order})
	}
}

// templateBody compiles a template's leading xsl:param elements and the rest.
func (c *compiler) templateBody(n *snode, ctx *bodyCtx) ([]*variable, []instr) {
	var params []*variable
	mark := len(c.locals)
	defer func() { c.locals = c.locals[:mark] }()
	kids := n.children
	for len(kids) > 0 && kids[0].is(nsXSL, "param") {
		if v := c.variable(kids[0], ctx, false); v != nil {
			for _, p := range params {
				if p.name == v.name {
					c.errorf(kids[0], "parameter %s is declared twice", v.name)
				}
			}
			params = append(params, v)
			c.locals = append(c.locals, v)
		}
		kids = kids[1:]
	}
	inner := *ctx
	inner.inTmpl = false
	return params, c.body(kids, &inner)
}

func (c *compiler) variable(n *snode, ctx *bodyCtx, global bool) *variable {
	c.checkAttrs(n, ctx.fc, "name", "select")
	name, ok := c.need(n, "name")
	if !ok {
		return nil
	}
	q, ok := c.qname(n, name)
	if !ok {
		return nil
	}
	v := &variable{name: q, param: n.name.local == "param", line: n.line, col: n.col}
	if sel, ok := n.attr("select"); ok {
		if len(n.children) > 0 {
			c.errorf(n, "xsl:%s %s has both a select attribute and content: keep one", n.name.local, name)
		}
		v.sel = c.expr(n, "select", sel)
		return v
	}
	inner := *ctx
	inner.inTmpl = false
	v.body = c.body(n.children, &inner)
	return v
}

func (c *compiler) output(n *snode) {
	c.checkAttrs(n, c.fc, "method", "version", "encoding", "omit-xml-declaration", "standalone",
		"doctype-public", "doctype-system", "cdata-section-elements", "indent", "media-type")
	o := &c.s.out
	yesNo := func(attr string) (string, bool) {
		v, ok := n.attr(attr)
		if !ok {
			return "", false
		}
		v = strings.TrimSpace(v)
		if v != "yes" && v != "no" {
			c.errorf(n, "xsl:output %s must be yes or no, not %q", attr, v)
			return "", false
		}
		return v, true
	}
	if m, ok := n.attr("method"); ok {
		switch m = strings.TrimSpace(m); m {
		case "xml", "html", "text":
			o.method = m
		default:
			if strings.Contains(m, ":") {
				c.errorf(n, "xsl:output method %q is an extension this processor does not have: use xml, html or text", m)
			} else {
				c.errorf(n, "xsl:output method must be xml, html or text, not %q", m)
			}
		}
	}
	if v, ok := yesNo("omit-xml-declaration"); ok {
		o.omitDecl = v == "yes"
	}
	if v, ok := yesNo("standalone"); ok {
		o.standalone = v
	}
	if v, ok := yesNo("indent"); ok {
		o.indent = v
	}
	if v, ok := n.attr("doctype-public"); ok {
		o.doctypePublic = v
	}
	if v, ok := n.attr("doctype-system"); ok {
		o.doctypeSystem = v
	}
	if v, ok := n.attr("media-type"); ok {
		o.mediaType = strings.TrimSpace(v)
	}
	// The output is always UTF-8 (the gateway's bodies are); other encodings
	// are accepted and ignored, and the declaration says utf-8.
	if v, ok := n.attr("cdata-section-elements"); ok {
		if o.cdata == nil {
			o.cdata = map[qname]bool{}
		}
		for _, f := range strings.Fields(v) {
			// Unlike other QNames, these take the default namespace (§16.1).
			if !strings.Contains(f, ":") {
				if uri, _ := n.scope.lookup(""); uri != "" {
					o.cdata[qname{uri, f}] = true
					continue
				}
			}
			if q, ok := c.qname(n, f); ok {
				o.cdata[q] = true
			}
		}
	}
}

func (c *compiler) key(n *snode) {
	c.checkAttrs(n, c.fc, "name", "match", "use")
	name, ok1 := c.need(n, "name")
	match, ok2 := c.need(n, "match")
	use, ok3 := c.need(n, "use")
	if !ok1 || !ok2 || !ok3 {
		return
	}
	q, ok := c.qname(n, name)
	if !ok {
		return
	}
	k := &keyDef{match: c.pattern(n, "match", match), use: c.expr(n, "use", use)}
	if k.match != nil && k.use != nil {
		c.s.keys[q] = append(c.s.keys[q], k)
	}
}

func (c *compiler) space(n *snode, order int) {
	c.checkAttrs(n, c.fc, "elements")
	list, ok := c.need(n, "elements")
	if !ok {
		return
	}
	strip := n.name.local == "strip-space"
	for i, f := range strings.Fields(list) {
		r := spaceRule{strip: strip, order: order + i}
		switch {
		case f == "*":
			r.space, r.local, r.priority = "*", "*", -0.5
		case strings.HasSuffix(f, ":*"):
			uri, ok := n.scope.lookup(strings.TrimSuffix(f, ":*"))
			if !ok {
				c.errorf(n, "the prefix in %q is not declared", f)
				continue
			}
			r.space, r.local, r.priority = uri, "*", -0.25
		default:
			q, ok := c.qname(n, f)
			if !ok {
				continue
			}
			r.space, r.local = q.space, q.local
		}
		c.s.strip = append(c.s.strip, r)
	}
}

func (c *compiler) decimalFormat(n *snode) {
	c.checkAttrs(n, c.fc, "name", "decimal-separator", "grouping-separator", "infinity", "minus-sign",
		"NaN", "percent", "per-mille", "zero-digit", "digit", "pattern-separator")
	var name qname
	if v, ok := n.attr("name"); ok {
		q, ok := c.qname(n, v)
		if !ok {
			return
		}
		name = q
	}
	df := defaultDecimalFormat()
	char := func(attr string, dst *rune) {
		v, ok := n.attr(attr)
		if !ok {
			return
		}
		rs := []rune(v)
		if len(rs) != 1 {
			c.errorf(n, "xsl:decimal-format %s must be one character, not %q", attr, v)
			return
		}
		*dst = rs[0]
	}
	char("decimal-separator", &df.decimalSep)
	char("grouping-separator", &df.groupSep)
	char("minus-sign", &df.minus)
	char("percent", &df.percent)
	char("per-mille", &df.perMille)
	char("zero-digit", &df.zero)
	char("digit", &df.digit)
	char("pattern-separator", &df.patternSep)
	if v, ok := n.attr("infinity"); ok {
		df.infinity = v
	}
	if v, ok := n.attr("NaN"); ok {
		df.nan = v
	}
	c.s.formats[name] = df
}

func (c *compiler) namespaceAlias(n *snode) {
	c.checkAttrs(n, c.fc, "stylesheet-prefix", "result-prefix")
	sp, ok1 := c.need(n, "stylesheet-prefix")
	rp, ok2 := c.need(n, "result-prefix")
	if !ok1 || !ok2 {
		return
	}
	resolve := func(p string) (string, string, bool) {
		if p == "#default" {
			p = ""
		}
		uri, ok := n.scope.lookup(p)
		if !ok {
			c.errorf(n, "the prefix %q of xsl:namespace-alias is not declared", p)
		}
		return p, uri, ok
	}
	_, suri, ok1 := resolve(sp)
	rpfx, ruri, ok2 := resolve(rp)
	if ok1 && ok2 {
		c.aliases[suri] = nsBinding{rpfx, ruri}
	}
}

func (c *compiler) attributeSet(n *snode, ctx *bodyCtx) {
	c.checkAttrs(n, ctx.fc, "name", "use-attribute-sets")
	name, ok := c.need(n, "name")
	if !ok {
		return
	}
	q, ok := c.qname(n, name)
	if !ok {
		return
	}
	set := &attrSet{name: q, line: n.line, col: n.col}
	if v, ok := n.attr("use-attribute-sets"); ok {
		set.uses = c.qnames(n, v)
	}
	for _, k := range n.children {
		if !k.is(nsXSL, "attribute") {
			c.errorf(k, "xsl:attribute-set may contain only xsl:attribute")
			continue
		}
		if a, ok := c.instruction(k, ctx).(*attributeInstr); ok {
			set.attrs = append(set.attrs, a)
		}
	}
	c.sets = append(c.sets, set)
}

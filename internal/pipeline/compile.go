package pipeline

import (
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/spelling"
)

// A Factory compiles one policy element into a Policy. It reports problems through
// the Compiler (Errorf, Report) or by returning an error; positions come from el.
type Factory func(c *Compiler, el *policyxml.Element) (Policy, error)

// Registry maps policy element names to factories. It is built by main; there is no
// package-level registry.
type Registry struct {
	entries map[string]entry
}

type entry struct {
	factory  Factory
	sections Section
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry { return &Registry{entries: make(map[string]entry)} }

// Register adds the factory for the policy element name, allowed in sections.
// Registering a name twice is a programming error and panics.
func (r *Registry) Register(name string, sections Section, f Factory) {
	if _, dup := r.entries[name]; dup {
		panic("pipeline: policy registered twice: " + name)
	}
	r.entries[name] = entry{factory: f, sections: sections}
}

// Names returns the registered policy names, sorted.
func (r *Registry) Names() []string {
	names := make([]string, 0, len(r.entries))
	for n := range r.entries {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Compiler compiles policy documents. Factories use its methods to read attributes
// and values and to report errors. A Compiler is not safe for concurrent use; the
// Documents it produces are.
type Compiler struct {
	// Root, when set, is the configuration folder: a failing expression's
	// message (context.LastError.Message, which policies often return to the
	// client) names its file relative to it, not where the gateway's disk has it.
	Root string

	registry  *Registry
	expr      ExprCompiler
	fragments map[string]*policyxml.Document

	doc       *policyxml.Document // the file being compiled (a fragment while inlining one)
	scope     string
	section   Section
	path      []string
	fragStack []string
	errs      policyxml.ErrorList
	marked    bool // MarkResumePoint was called inside the element being compiled
}

// NewCompiler returns a compiler for the policies in r. expr compiles policy
// expressions (NoExpressions when nil); fragments are the policy fragments by name,
// for include-fragment.
func NewCompiler(r *Registry, expr ExprCompiler, fragments map[string]*policyxml.Document) *Compiler {
	return &Compiler{registry: r, expr: expr, fragments: fragments}
}

// Document is one compiled policy document (one scope), ready to be composed.
type Document struct {
	File     string
	Scope    string
	sections [4]sectionDoc
}

type sectionDoc struct {
	present bool
	items   []item
}

type item struct {
	step Step
	base bool
}

// Compile compiles a <policies> document at scope ("global", "product", "api" or
// "operation"). It returns every problem it finds as a policyxml.ErrorList.
func (c *Compiler) Compile(doc *policyxml.Document, scope string) (*Document, error) {
	c.doc, c.scope, c.errs, c.path, c.fragStack = doc, scope, nil, nil, nil
	out := &Document{File: doc.File, Scope: scope}
	root := doc.Root
	if root == nil || root.Name != "policies" {
		name := "nothing"
		pos := policyxml.Pos{Line: 1, Col: 1}
		if root != nil {
			name, pos = "<"+root.Name+">", root.Pos
		}
		c.errs = append(c.errs, c.Errorf(pos, "a policy document must have a <policies> root element, found %s", name))
		return nil, c.errs
	}
	c.checkAttrs(root)
	for _, el := range root.Elements() {
		i := slices.Index(sectionNames[:], el.Name)
		if i < 0 {
			c.errs = append(c.errs, c.Errorf(el.Pos, "unexpected <%s> in <policies>; expected <inbound>, <backend>, <outbound> or <on-error>", el.Name))
			continue
		}
		if out.sections[i].present {
			c.errs = append(c.errs, c.Errorf(el.Pos, "section <%s> appears twice", el.Name))
			continue
		}
		c.checkAttrs(el)
		c.section = 1 << i
		out.sections[i] = sectionDoc{present: true, items: c.sectionItems(el)}
	}
	if len(c.errs) > 0 {
		return nil, c.errs
	}
	return out, nil
}

// sectionItems compiles a section's children, keeping <base/> as a splice point.
func (c *Compiler) sectionItems(sec *policyxml.Element) []item {
	var items []item
	seenBase := false
	counts := map[string]int{}
	for _, el := range sec.Elements() {
		if el.Name == "base" {
			c.checkAttrs(el)
			if seenBase {
				c.Report(c.Errorf(el.Pos, "<base /> appears twice in <%s>", sec.Name))
			}
			seenBase = true
			items = append(items, item{base: true})
			continue
		}
		for _, st := range c.element(el, counts) {
			items = append(items, item{step: st})
		}
	}
	return items
}

// Block compiles the child elements of el as a sequence of policies in the current
// section, as choose/when and retry need.
func (c *Compiler) Block(el *policyxml.Element) []Step {
	var steps []Step
	counts := map[string]int{}
	for _, child := range el.Elements() {
		steps = append(steps, c.element(child, counts)...)
	}
	return steps
}

// Nested runs fn with segment appended to the step path, for policies whose
// children are not policies but contain some (e.g. choose's <when>).
func (c *Compiler) Nested(segment string, fn func()) {
	c.path = append(c.path, segment)
	defer func() { c.path = c.path[:len(c.path)-1] }()
	fn()
}

// element compiles one policy element. include-fragment expands to the fragment's
// policies, so it can yield several steps.
func (c *Compiler) element(el *policyxml.Element, counts map[string]int) []Step {
	counts[el.Name]++
	seg := el.Name + "[" + strconv.Itoa(counts[el.Name]) + "]"
	if el.Name == "base" {
		c.Report(c.Errorf(el.Pos, "<base /> must be a direct child of a section, not inside another policy"))
		return nil
	}
	if el.Name == "include-fragment" {
		return c.includeFragment(el)
	}
	e, ok := c.registry.entries[el.Name]
	if !ok {
		switch {
		case knownPolicies[el.Name]:
			c.Report(c.Errorf(el.Pos, "policy <%s> is not supported by lastmile yet; see docs/policies.md for the supported policies", el.Name))
		case slices.Contains(sectionNames[:], el.Name):
			c.Report(c.Errorf(el.Pos, "section <%s> must be a direct child of <policies>", el.Name))
		default:
			hint := "check the spelling against docs/policies.md"
			if best, ok := spelling.Nearest(el.Name, c.registry.Names()); ok {
				hint = fmt.Sprintf("did you mean <%s>?", best)
			}
			c.Report(c.Errorf(el.Pos, "unknown policy <%s>; %s", el.Name, hint))
		}
		return nil
	}
	if e.sections&c.section == 0 {
		c.Report(c.Errorf(el.Pos, "policy <%s> is not allowed in <%s>; it can be used in %s", el.Name, c.section, e.sections))
		return nil
	}
	c.path = append(c.path, seg)
	defer func() { c.path = c.path[:len(c.path)-1] }()
	info := &StepInfo{
		Name:    el.Name,
		Scope:   c.scope,
		Section: c.section,
		Path:    strings.Join(c.path, `\`),
		File:    c.doc.File,
		Pos:     el.Pos,
		Source:  el.OuterXML(),
	}
	if a := el.Attr("id"); a != nil {
		info.ID = a.Value.String()
	}
	n := len(c.errs)
	outer := c.marked
	c.marked = false
	p, err := e.factory(c, el)
	info.ResumePoint = c.marked
	c.marked = outer || c.marked
	if err != nil {
		c.Report(err)
	}
	if err != nil || len(c.errs) > n || p == nil {
		return nil
	}
	return []Step{{Policy: p, Info: info}}
}

func (c *Compiler) includeFragment(el *policyxml.Element) []Step {
	c.checkAttrs(el, "fragment-id")
	a := el.Attr("fragment-id")
	if a == nil {
		c.Report(c.Errorf(el.Pos, "<include-fragment> needs a fragment-id attribute"))
		return nil
	}
	name := a.Value.String()
	if a.Value.IsExpression() {
		c.Report(c.Errorf(a.Value.Pos(), "fragment-id does not accept policy expressions"))
		return nil
	}
	frag, ok := c.fragments[name]
	if !ok {
		c.Report(c.Errorf(a.Value.Pos(), "policy fragment %q does not exist; add policy fragments/%s/policy.xml", name, name))
		return nil
	}
	if slices.Contains(c.fragStack, name) {
		c.Report(c.Errorf(el.Pos, "policy fragment %q includes itself (%s)", name, strings.Join(append(c.fragStack, name), " -> ")))
		return nil
	}
	if frag.Root == nil || frag.Root.Name != "fragment" {
		c.Report(&policyxml.Error{File: frag.File, Pos: policyxml.Pos{Offset: 0, Line: 1, Col: 1}, Msg: "a policy fragment must have a <fragment> root element"})
		return nil
	}
	saved := c.doc
	c.doc = frag
	c.fragStack = append(c.fragStack, name)
	defer func() {
		c.doc = saved
		c.fragStack = c.fragStack[:len(c.fragStack)-1]
	}()
	for _, child := range frag.Root.Elements() {
		if child.Name == "base" || slices.Contains(sectionNames[:], child.Name) {
			c.Report(c.Errorf(child.Pos, "a policy fragment cannot contain <%s>", child.Name))
			return nil
		}
	}
	return c.Block(frag.Root)
}

// MarkResumePoint marks the policy being compiled, and every policy that
// contains it, as a point after which outbound resumes when an inbound policy
// returns ErrSkipToOutbound; cache-store calls it.
func (c *Compiler) MarkResumePoint() { c.marked = true }

// Section returns the section being compiled.
func (c *Compiler) Section() Section { return c.section }

// TopLevel reports whether the policy being compiled is a direct child of its
// section (a fragment's top-level policies count as where it is included).
func (c *Compiler) TopLevel() bool { return len(c.path) == 1 }

// Scope returns the scope of the document being compiled: "global",
// "product", "api" or "operation".
func (c *Compiler) Scope() string { return c.scope }

// Fragment returns the id of the policy fragment being inlined, the innermost
// one when fragments include each other, or "" outside fragments.
func (c *Compiler) Fragment() string {
	if len(c.fragStack) == 0 {
		return ""
	}
	return c.fragStack[len(c.fragStack)-1]
}

// File returns the file being compiled.
func (c *Compiler) File() string { return c.doc.File }

// Errorf returns a positioned error in the file being compiled. It does not record
// it; return it from the factory or pass it to Report.
func (c *Compiler) Errorf(pos policyxml.Pos, format string, args ...any) *policyxml.Error {
	return &policyxml.Error{File: c.doc.File, Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// Report records a compile error. Errors without a position are recorded at the
// start of the current file.
func (c *Compiler) Report(err error) {
	var pe *policyxml.Error
	var pl policyxml.ErrorList
	switch {
	case errors.As(err, &pl):
		c.errs = append(c.errs, pl...)
	case errors.As(err, &pe):
		c.errs = append(c.errs, pe)
	default:
		c.errs = append(c.errs, c.Errorf(policyxml.Pos{Line: 1, Col: 1}, "%v", err))
	}
}

// Failed reports whether any error has been recorded.
func (c *Compiler) Failed() bool { return len(c.errs) > 0 }

// Value compiles an attribute value or text: a policy expression when the whole
// value is @(...) or @{...}, a literal otherwise.
func (c *Compiler) Value(v policyxml.Value) Value { return c.TypedValue(v, "") }

// TypedValue is Value for an expression whose result must convert to the C# type
// want, such as "bool" for a condition; the check happens at compile time where
// the type is known.
func (c *Compiler) TypedValue(v policyxml.Value, want string) Value {
	if !v.IsExpression() {
		return Value{lit: v.String(), src: v}
	}
	text := v.String()
	if c.expr == nil {
		msg := "policy expressions are not supported yet"
		if raw, ok := c.rawText(v); ok {
			msg += ": " + raw
		}
		c.errs = append(c.errs, c.Errorf(v.Pos(), "%s", msg))
		return Value{isExpr: true, src: v}
	}
	trimmed := strings.TrimLeft(text, " \t\r\n")
	lead := len(text) - len(trimmed)
	trimmed = strings.TrimRight(trimmed, " \t\r\n")
	e, errs := c.expr(trimmed, want)
	for _, ee := range errs {
		c.errs = append(c.errs, c.Errorf(v.PosAt(lead+ee.Pos.Offset), "%s", ee.Msg))
	}
	if len(errs) > 0 {
		// Still an expression, so that factories do not also report it as a bad
		// literal.
		return Value{isExpr: true, src: v}
	}
	file := c.doc.File
	if rel, err := filepath.Rel(c.Root, file); c.Root != "" && err == nil && filepath.IsLocal(rel) {
		file = filepath.ToSlash(rel)
	}
	return Value{expr: e, isExpr: true, src: v, file: file}
}

// rawText returns a value's text as written in the file, before named values
// were substituted (they may be secrets), when it can be recovered and is short.
func (c *Compiler) rawText(v policyxml.Value) (string, bool) {
	text := strings.TrimRight(v.String(), " \t\r\n")
	if text == "" {
		return "", false
	}
	start, end := v.Pos().Offset, v.PosAt(len(text)-1).Offset+1
	if start < 0 || end > len(c.doc.Src) || start >= end || end-start > 200 {
		return "", false
	}
	raw := strings.TrimSpace(string(c.doc.Src[start:end]))
	if last := raw[len(raw)-1]; last != ')' && last != '}' {
		return "", false
	}
	return raw, true
}

// Attr returns the compiled attribute and whether it is present.
func (c *Compiler) Attr(el *policyxml.Element, name string) (Value, bool) {
	a := el.Attr(name)
	if a == nil {
		return Value{}, false
	}
	return c.Value(a.Value), true
}

// Condition returns a required condition attribute: a bool expression, or the
// literal true or false.
func (c *Compiler) Condition(el *policyxml.Element, name string) (Value, bool) {
	a := el.Attr(name)
	if a == nil {
		c.Report(c.Errorf(el.Pos, "<%s> needs %s %s attribute", el.Name, article(name), name))
		return Value{}, false
	}
	v := c.TypedValue(a.Value, "bool")
	if lit, isLit := v.Literal(); isLit && lit != "true" && lit != "false" {
		c.Report(c.Errorf(a.Value.Pos(), "%s must be a policy expression or true or false, not %q", name, lit))
		return Value{}, false
	}
	return v, true
}

// RequiredAttr is Attr that reports a missing attribute.
func (c *Compiler) RequiredAttr(el *policyxml.Element, name string) (Value, bool) {
	v, ok := c.Attr(el, name)
	if !ok {
		c.Report(c.Errorf(el.Pos, "<%s> needs %s %s attribute", el.Name, article(name), name))
	}
	return v, ok
}

// LiteralAttr returns an attribute that does not accept policy expressions.
func (c *Compiler) LiteralAttr(el *policyxml.Element, name string) (string, bool) {
	a := el.Attr(name)
	if a == nil {
		return "", false
	}
	if a.Value.IsExpression() {
		c.Report(c.Errorf(a.Value.Pos(), "attribute %s of <%s> does not accept policy expressions", name, el.Name))
		return "", false
	}
	return a.Value.String(), true
}

// BoolAttr returns a literal boolean attribute ("true" or "false", any case), or def.
func (c *Compiler) BoolAttr(el *policyxml.Element, name string, def bool) bool {
	s, ok := c.LiteralAttr(el, name)
	if !ok {
		return def
	}
	b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(s)))
	if err != nil {
		c.Report(c.Errorf(el.Attr(name).Value.Pos(), "attribute %s of <%s> must be true or false, not %q", name, el.Name, s))
		return def
	}
	return b
}

// BoolValue returns a boolean attribute that may be an expression, or def.
func (c *Compiler) BoolValue(el *policyxml.Element, name string, def bool) Value {
	v, ok := c.Attr(el, name)
	if !ok {
		return Literal(strconv.FormatBool(def))
	}
	if lit, isLit := v.Literal(); isLit {
		if _, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(lit))); err != nil {
			c.Report(c.Errorf(el.Attr(name).Value.Pos(), "attribute %s of <%s> must be true, false or a policy expression, not %q", name, el.Name, lit))
		}
	}
	return v
}

// MaxSeconds bounds the timeouts policies take in seconds: a day, far longer
// than any request, and far short of overflowing a time.Duration.
const MaxSeconds = 24 * 60 * 60

// SecondsAttr returns a literal whole number of seconds from 1 to MaxSeconds,
// or def. A timeout of zero or less would fail every request, so it is refused
// here, at load.
func (c *Compiler) SecondsAttr(el *policyxml.Element, name string, def time.Duration) time.Duration {
	s, ok := c.LiteralAttr(el, name)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(strings.TrimSpace(s))
	if err != nil || n < 1 || n > MaxSeconds {
		c.Report(c.Errorf(el.Attr(name).Value.Pos(), "attribute %s of <%s> must be a whole number of seconds from 1 to %d, not %q", name, el.Name, MaxSeconds, s))
		return def
	}
	return time.Duration(n) * time.Second
}

// CheckAttrs reports attributes of el other than allowed (and the universal id).
func (c *Compiler) CheckAttrs(el *policyxml.Element, allowed ...string) { c.checkAttrs(el, allowed...) }

func (c *Compiler) checkAttrs(el *policyxml.Element, allowed ...string) {
	for _, a := range el.Attrs {
		if a.Name == "id" || slices.Contains(allowed, a.Name) || strings.HasPrefix(a.Name, "xmlns") {
			continue
		}
		if len(allowed) == 0 {
			c.Report(c.Errorf(a.NamePos, "<%s> takes no attribute %q", el.Name, a.Name))
			continue
		}
		c.Report(c.Errorf(a.NamePos, "unknown attribute %q on <%s>; expected %s", a.Name, el.Name, strings.Join(allowed, ", ")))
	}
}

// CheckChildren reports child elements of el other than allowed.
func (c *Compiler) CheckChildren(el *policyxml.Element, allowed ...string) {
	for _, ch := range el.Elements() {
		if !slices.Contains(allowed, ch.Name) {
			if len(allowed) == 0 {
				c.Report(c.Errorf(ch.Pos, "<%s> takes no child elements, found <%s>", el.Name, ch.Name))
				continue
			}
			c.Report(c.Errorf(ch.Pos, "unexpected <%s> in <%s>; expected <%s>", ch.Name, el.Name, strings.Join(allowed, ">, <")))
		}
	}
}

// CheckOnce reports each child of el named one of names that comes after one
// of the same name.
func (c *Compiler) CheckOnce(el *policyxml.Element, names ...string) {
	seen := map[string]bool{}
	for _, ch := range el.Elements() {
		if !slices.Contains(names, ch.Name) {
			continue
		}
		if seen[ch.Name] {
			c.Report(c.Errorf(ch.Pos, "<%s> appears twice in <%s>", ch.Name, el.Name))
		}
		seen[ch.Name] = true
	}
}

// Compose builds the effective pipeline from documents ordered from the broadest
// scope to the narrowest (global, product, API, operation); nil documents are
// skipped. In each section, a narrower document's <base/> is replaced by the
// composed section of the broader scopes. A document without a section inherits
// that section whole, as if it held only <base/>.
func Compose(docs ...*Document) *Pipeline {
	var cur [4][]Step
	for _, d := range docs {
		if d == nil {
			continue
		}
		for i, sec := range d.sections {
			if !sec.present {
				continue
			}
			var out []Step
			for _, it := range sec.items {
				if it.base {
					out = append(out, cur[i]...)
				} else {
					out = append(out, it.step)
				}
			}
			cur[i] = out
		}
	}
	p := &Pipeline{sections: cur}
	for i, st := range cur[2] {
		if st.Info != nil && st.Info.ResumePoint {
			p.resume = i + 1
			break
		}
	}
	return p
}

// DefaultGlobal is the global policy API Management applies when none is
// configured: forward every request to the backend.
const DefaultGlobal = `<policies>
	<inbound />
	<backend>
		<forward-request />
	</backend>
	<outbound />
	<on-error />
</policies>`

// knownPolicies are API Management's policy elements, so that an unsupported one
// gets a clearer message than an unknown one.
var knownPolicies = func() map[string]bool {
	m := map[string]bool{}
	for _, n := range strings.Fields(`authentication-basic authentication-certificate
		authentication-managed-identity azure-openai-emit-token-metric azure-openai-semantic-cache-lookup
		azure-openai-semantic-cache-store azure-openai-token-limit cache-lookup cache-lookup-value
		cache-remove-value cache-store cache-store-value check-header choose cors cosmosdb-data-source
		cross-domain emit-metric find-and-replace forward-request get-authorization-context
		http-data-source include-fragment invoke-dapr-binding ip-filter json-to-xml jsonp
		limit-concurrency llm-content-safety llm-emit-token-metric llm-semantic-cache-lookup
		llm-semantic-cache-store llm-token-limit log-to-eventhub mock-response proxy publish-event
		publish-to-dapr quota quota-by-key rate-limit rate-limit-by-key redirect-content-urls retry
		return-response rewrite-uri send-one-way-request send-request set-backend-service set-body
		set-header set-method set-query-parameter set-status set-variable sql-data-source trace
		validate-azure-ad-token validate-client-certificate validate-content validate-graphql-request
		send-service-bus-message validate-headers validate-jwt validate-odata-request validate-parameters validate-status-code
		wait xml-to-json xsl-transform`) {
		m[n] = true
	}
	return m
}()

// article is "an" before a vowel, else "a": "an interval attribute".
func article(word string) string {
	for _, you := range []string{"uri", "url", "use", "uni"} { // a url, a username
		if strings.HasPrefix(word, you) {
			return "a"
		}
	}
	if word != "" && strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

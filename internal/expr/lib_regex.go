package expr

import (
	"regexp"
	"regexp/syntax"
	"strconv"
	"strings"
)

// RegexOptions values.
const (
	reIgnoreCase              = 1
	reMultiline               = 2
	reExplicitCapture         = 4
	reCompiled                = 8
	reSingleline              = 16
	reIgnorePatternWhitespace = 32
	reRightToLeft             = 64
	reECMAScript              = 256
	reCultureInvariant        = 512
	reNonBacktracking         = 1024
)

// Regex is a compiled System.Text.RegularExpressions.Regex: a .NET pattern
// translated to RE2 syntax.
type Regex struct {
	pattern string
	re      *regexp.Regexp
	// size estimates the compiled program's instructions: matching may take
	// time proportional to it for each byte of input.
	size int
	// netIndex maps a .NET group number to the RE2 group index: .NET numbers
	// unnamed groups first, then named ones.
	netIndex []int
	netNames []string // .NET group names by .NET number ("0", "1", ..., names)
}

// translateRegex turns a .NET pattern into RE2 syntax. It reports constructs RE2
// cannot express: lookarounds, backreferences, atomic groups, conditionals.
func translateRegex(pat string, opts int64) (string, string) {
	if opts&reRightToLeft != 0 {
		return "", "RegexOptions.RightToLeft is not supported"
	}
	if opts&reExplicitCapture != 0 {
		return "", "RegexOptions.ExplicitCapture is not supported"
	}
	var b strings.Builder
	flags := ""
	if opts&reIgnoreCase != 0 {
		flags += "i"
	}
	if opts&reMultiline != 0 {
		flags += "m"
	}
	if opts&reSingleline != 0 {
		flags += "s"
	}
	if flags != "" {
		b.WriteString("(?" + flags + ")")
	}
	ws := opts&reIgnorePatternWhitespace != 0
	inClass := false
	for i := 0; i < len(pat); i++ {
		c := pat[i]
		switch {
		case c == '\\':
			if i+1 >= len(pat) {
				return "", "illegal \\ at end of pattern"
			}
			n := pat[i+1]
			switch {
			case n >= '1' && n <= '9' && !inClass:
				return "", "backreferences (\\" + string(n) + ") are not supported: the gateway's regular expressions are RE2, which has none"
			case n == 'k' && !inClass:
				return "", "named backreferences (\\k<name>) are not supported"
			case n == 'Z' && !inClass:
				b.WriteString(`\n?\z`)
				i++
				continue
			case n == 'G':
				return "", "\\G is not supported"
			case n == 'e':
				b.WriteString(`\x1b`)
				i++
				continue
			case n == 'u':
				if i+5 < len(pat) {
					b.WriteString(`\x{` + pat[i+2:i+6] + `}`)
					i += 5
					continue
				}
			case n == 'c':
				return "", "control character escapes (\\cX) are not supported"
			}
			b.WriteByte(c)
			b.WriteByte(n)
			i++
		case inClass:
			if c == ']' {
				inClass = false
			}
			if c == '-' && i+1 < len(pat) && pat[i+1] == '[' {
				return "", "character class subtraction ([a-z-[aeiou]]) is not supported"
			}
			b.WriteByte(c)
		case c == '[':
			inClass = true
			b.WriteByte(c)
			// a ']' right after '[' or '[^' is literal
			if i+1 < len(pat) && pat[i+1] == '^' {
				b.WriteByte('^')
				i++
			}
			if i+1 < len(pat) && pat[i+1] == ']' {
				b.WriteString(`\]`)
				i++
			}
		case c == '(' && i+1 < len(pat) && pat[i+1] == '?':
			rest := pat[i+2:]
			switch {
			case strings.HasPrefix(rest, "<=") || strings.HasPrefix(rest, "<!"):
				return "", "lookbehind assertions are not supported: the gateway's regular expressions are RE2"
			case strings.HasPrefix(rest, "=") || strings.HasPrefix(rest, "!"):
				return "", "lookahead assertions are not supported: the gateway's regular expressions are RE2"
			case strings.HasPrefix(rest, ">"):
				return "", "atomic groups (?>...) are not supported"
			case strings.HasPrefix(rest, "("):
				return "", "conditional groups (?(...)...) are not supported"
			case strings.HasPrefix(rest, "#"):
				end := strings.IndexByte(rest, ')')
				if end < 0 {
					return "", "unterminated (?#...) comment"
				}
				i += 2 + end
				continue
			case strings.HasPrefix(rest, "<") || strings.HasPrefix(rest, "'"):
				close := byte('>')
				if rest[0] == '\'' {
					close = '\''
				}
				end := strings.IndexByte(rest[1:], close)
				if end < 0 {
					return "", "unterminated group name"
				}
				name := rest[1 : 1+end]
				if strings.Contains(name, "-") {
					return "", "balancing groups are not supported"
				}
				b.WriteString("(?P<" + name + ">")
				i += 2 + 1 + end
				continue
			case strings.HasPrefix(rest, "P<"):
				b.WriteString("(?")
				i++
				continue
			}
			b.WriteByte(c)
		case ws && (c == ' ' || c == '\t' || c == '\n' || c == '\r'):
			continue
		case ws && c == '#':
			for i < len(pat) && pat[i] != '\n' {
				i++
			}
		case (c == '+' || c == '*' || c == '?' || c == '}') && i+1 < len(pat) && pat[i+1] == '+':
			return "", "possessive quantifiers are not supported"
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), ""
}

// compileRegex compiles a .NET pattern. With a frame (a pattern built while
// evaluating) the program's size is charged before it is built: a short
// pattern such as (a{1000}){1000} compiles to a million instructions.
func compileRegex(f *frame, pat string, opts int64) (*Regex, string) {
	tr, err := translateRegex(pat, opts)
	if err != "" {
		return nil, err
	}
	size := 1
	if tree, e := syntax.Parse(tr, syntax.Perl); e == nil {
		size = progSize(tree)
	}
	f.allocN(size, regexInstBytes)
	f.elems(size)
	re, e := regexp.Compile(tr)
	if e != nil {
		// Go's message quotes the pattern; it can hold a secret, so keep only the
		// reason
		msg := e.Error()
		if pe, ok := e.(*syntax.Error); ok {
			msg = string(pe.Code)
		}
		return nil, "invalid pattern: " + msg
	}
	r := &Regex{pattern: pat, re: re, size: size}
	names := re.SubexpNames()
	r.netIndex = []int{0}
	r.netNames = []string{"0"}
	for i := 1; i < len(names); i++ {
		if names[i] == "" {
			r.netIndex = append(r.netIndex, i)
			r.netNames = append(r.netNames, strconv.Itoa(len(r.netIndex)-1))
		}
	}
	for i := 1; i < len(names); i++ {
		if names[i] != "" {
			r.netIndex = append(r.netIndex, i)
			r.netNames = append(r.netNames, names[i])
		}
	}
	return r, ""
}

// regexInstBytes is what an instruction of a compiled pattern costs the
// allocation budget, with its share of the matcher's state.
const regexInstBytes = 64

// progSize estimates the number of instructions the parsed pattern compiles
// to, repetitions expanded (saturating at 1<<30).
func progSize(re *syntax.Regexp) int {
	const most = 1 << 30
	sum := func(subs []*syntax.Regexp) int {
		n := len(subs)
		for _, s := range subs {
			n = min(most, n+progSize(s))
		}
		return n
	}
	switch re.Op {
	case syntax.OpLiteral:
		return max(1, len(re.Rune))
	case syntax.OpCapture, syntax.OpStar, syntax.OpPlus, syntax.OpQuest, syntax.OpConcat, syntax.OpAlternate:
		return min(most, 2+sum(re.Sub))
	case syntax.OpRepeat:
		n := re.Max
		if n < 0 {
			n = re.Min + 1
		}
		return min(most, (max(n, 1))*(1+sum(re.Sub)))
	}
	return 1
}

// work charges a search of n bytes of input: its time grows with the input
// and, for a large pattern, with the pattern (RE2 may step through every
// instruction for every byte; usually far fewer).
func (r *Regex) work(f *frame, n int) {
	f.work(n + n*(r.size/16))
}

// maxMatches is how many matches of r the allocation budget left can hold,
// plus one: FindAll stops there, and charging for them refuses the search.
func (r *Regex) maxMatches(f *frame) int {
	if f == nil {
		return -1
	}
	per := int64(r.matchBytes())
	return int(min(f.root.allocLeft/per+1, 1<<30))
}

// matchBytes is what a match costs: its offsets and its Match.
func (r *Regex) matchBytes() int { return 128 + 16*r.re.NumSubexp() }

func mustRegex(f *frame, pat string, opts int64) *Regex {
	if isNull(pat) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'pattern')")
	}
	r, err := compileRegex(f, pat, opts)
	if err != "" {
		throw("ArgumentException", "%s", err)
	}
	return r
}

// Match is a regex match; Group and Capture are its parts.
type Match struct {
	r     *Regex
	input string
	loc   []int // RE2 submatch byte offsets, nil for a failed match
}

// Group is a captured group.
type Group struct {
	m    *Match
	idx  int // RE2 group index
	name string
}

// GroupCollection is Match.Groups.
type GroupCollection struct {
	m      *Match
	groups []any
}

// MatchCollection is Regex.Matches.
type MatchCollection struct{ matches []any }

func (m *Match) success() bool { return m.loc != nil }

func (g *Group) success() bool {
	return g.m.loc != nil && g.m.loc[2*g.idx] >= 0
}

func (g *Group) value() string {
	if !g.success() {
		return ""
	}
	return g.m.input[g.m.loc[2*g.idx]:g.m.loc[2*g.idx+1]]
}

func (g *Group) index(f *frame) int32 {
	if !g.success() {
		return 0
	}
	off := g.m.loc[2*g.idx]
	f.work(off)
	return int32(f.u16(g.m.input).byteToUnit(off))
}

func (g *Group) length(f *frame) int32 {
	v := g.value()
	f.work(len(v))
	return int32(utf16Len(v))
}

func (m *Match) groups() *GroupCollection {
	gc := &GroupCollection{m: m}
	for i, idx := range m.r.netIndex {
		gc.groups = append(gc.groups, &Group{m: m, idx: idx, name: m.r.netNames[i]})
	}
	return gc
}

func (gc *GroupCollection) byName(name string) *Group {
	for _, g := range gc.groups {
		if g.(*Group).name == name {
			return g.(*Group)
		}
	}
	// .NET returns an unsuccessful group for unknown names
	return &Group{m: &Match{r: gc.m.r, input: gc.m.input}, idx: 0, name: name}
}

func (r *Regex) match(f *frame, input string, start int) *Match {
	if isNull(input) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'input')")
	}
	if start < 0 || start > len(input) {
		throw("ArgumentOutOfRangeException", "Start index cannot be less than 0 or greater than input length. (Parameter 'startat')")
	}
	r.work(f, len(input)-start)
	loc := r.re.FindStringSubmatchIndex(input[start:])
	if loc != nil && start > 0 {
		for i := range loc {
			if loc[i] >= 0 {
				loc[i] += start
			}
		}
	}
	return &Match{r: r, input: input, loc: loc}
}

func (r *Regex) matches(f *frame, input string) *MatchCollection {
	if isNull(input) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'input')")
	}
	r.work(f, len(input))
	locs := r.re.FindAllStringSubmatchIndex(input, r.maxMatches(f))
	f.allocN(len(locs), r.matchBytes())
	mc := &MatchCollection{matches: make([]any, len(locs))}
	for i, loc := range locs {
		mc.matches[i] = &Match{r: r, input: input, loc: loc}
	}
	return mc
}

// expand applies a .NET replacement pattern to a match, writing to b.
func (r *Regex) expand(b *sink, m *Match, repl string) {
	group := func(netNum int) string {
		if netNum < 0 || netNum >= len(r.netIndex) {
			return ""
		}
		g := &Group{m: m, idx: r.netIndex[netNum]}
		return g.value()
	}
	for i := 0; i < len(repl); i++ {
		c := repl[i]
		if c != '$' || i+1 >= len(repl) {
			b.WriteByte(c)
			continue
		}
		n := repl[i+1]
		switch {
		case n == '$':
			b.WriteByte('$')
			i++
		case n == '&':
			b.WriteString(group(0))
			i++
		case n == '`':
			b.WriteString(m.input[:m.loc[0]])
			i++
		case n == '\'':
			b.WriteString(m.input[m.loc[1]:])
			i++
		case n == '_':
			b.WriteString(m.input)
			i++
		case n == '+':
			b.WriteString(group(len(r.netIndex) - 1))
			i++
		case n >= '0' && n <= '9':
			j := i + 1
			for j < len(repl) && repl[j] >= '0' && repl[j] <= '9' {
				j++
			}
			// the longest number that names a group
			num := -1
			end := j
			for k := j; k > i+1; k-- {
				v, _ := strconv.Atoi(repl[i+1 : k])
				if v < len(r.netIndex) {
					num, end = v, k
					break
				}
			}
			if num < 0 {
				b.WriteByte('$')
				continue
			}
			b.WriteString(group(num))
			i = end - 1
		case n == '{':
			end := strings.IndexByte(repl[i:], '}')
			if end < 0 {
				b.WriteByte('$')
				continue
			}
			name := repl[i+2 : i+end]
			found := false
			for k, nn := range r.netNames {
				if nn == name {
					b.WriteString(group(k))
					found = true
					break
				}
			}
			if !found {
				b.WriteString(repl[i : i+end+1])
			}
			i += end
		default:
			b.WriteByte('$')
		}
	}
}

func (r *Regex) replace(f *frame, input, repl string, eval *lambdaCode, count int) string {
	if isNull(input) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'input')")
	}
	if eval == nil && isNull(repl) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'replacement')")
	}
	r.work(f, len(input))
	n := r.maxMatches(f)
	if count >= 0 && (n < 0 || count < n) {
		n = count
	}
	if n == 0 {
		return input
	}
	locs := r.re.FindAllStringSubmatchIndex(input, n)
	f.allocN(len(locs), r.matchBytes())
	b := sink{f: f}
	last := 0
	for _, loc := range locs {
		m := &Match{r: r, input: input, loc: loc}
		b.WriteString(input[last:loc[0]])
		if eval != nil {
			s, _ := eval.call(f, m).(string)
			b.WriteString(s)
		} else {
			r.expand(&b, m, repl)
		}
		last = loc[1]
	}
	b.WriteString(input[last:])
	return b.String()
}

func (r *Regex) split(f *frame, input string) []string {
	if isNull(input) {
		throw("ArgumentNullException", "Value cannot be null. (Parameter 'input')")
	}
	r.work(f, len(input))
	locs := r.re.FindAllStringSubmatchIndex(input, r.maxMatches(f))
	f.allocN(len(locs), r.matchBytes())
	var out []string
	last := 0
	for _, loc := range locs {
		f.alloc(2 * slotBytes)
		out = append(out, input[last:loc[0]])
		// captured groups are included in the result, as .NET does
		for g := 1; g < len(loc)/2; g++ {
			if loc[2*g] >= 0 {
				f.alloc(2 * slotBytes)
				out = append(out, input[loc[2*g]:loc[2*g+1]])
			}
		}
		last = loc[1]
	}
	return append(out, input[last:])
}

// regexEscape is Regex.Escape.
func regexEscape(f *frame, s string) string {
	b := sink{f: f}
	for _, r := range s {
		switch r {
		case '\\', '*', '+', '?', '|', '{', '[', '(', ')', '^', '$', '.', '#', ' ':
			b.WriteByte('\\')
			b.WriteRune(r)
		case '\t':
			b.WriteString(`\t`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
			b.WriteString(`\r`)
		case '\f':
			b.WriteString(`\f`)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// regexArg compiles the pattern argument: a constant pattern is translated and
// compiled once, at compile time, and a bad one is a compile error.
func (c *checker) regexArg(pat, opts *operand) func(*frame) *Regex {
	if pat.isConst() && (opts == nil || opts.isConst()) {
		s, _ := pat.k.(string)
		var o int64
		if opts != nil {
			o, _ = opts.k.(int64)
		}
		r, err := compileRegex(nil, s, o)
		if err != "" {
			c.errorf(pat.n, "%s", err)
			return func(*frame) *Regex { return nil }
		}
		return func(*frame) *Regex { return r }
	}
	p := pat.strFn()
	var o fnL
	if opts != nil {
		o = opts.i64Fn()
	}
	return func(f *frame) *Regex {
		var ov int64
		if o != nil {
			ov = o(f)
		}
		return mustRegex(f, p(f), ov)
	}
}

func declRegex(u *universe) {
	ns := "System.Text.RegularExpressions."
	opts := u.decl(ns+"RegexOptions", tkEnum, "")
	opts.flagsV(map[string]int64{"None": 0, "IgnoreCase": reIgnoreCase, "Multiline": reMultiline, "ExplicitCapture": reExplicitCapture,
		"Compiled": reCompiled, "Singleline": reSingleline, "IgnorePatternWhitespace": reIgnorePatternWhitespace,
		"RightToLeft": reRightToLeft, "ECMAScript": reECMAScript, "CultureInvariant": reCultureInvariant, "NonBacktracking": reNonBacktracking},
		"None", "IgnoreCase", "Multiline", "ExplicitCapture", "Compiled", "Singleline", "IgnorePatternWhitespace", "RightToLeft", "ECMAScript", "CultureInvariant", "NonBacktracking")
	re := u.decl(ns+"Regex", tkClass, "")
	re.is = func(v any) bool { _, ok := v.(*Regex); return ok }
	mt := u.decl(ns+"Match", tkClass, "Group")
	mt.is = func(v any) bool { _, ok := v.(*Match); return ok }
	gr := u.decl(ns+"Group", tkClass, "Capture")
	gr.is = func(v any) bool { _, ok := v.(*Group); return ok }
	cp := u.decl(ns+"Capture", tkClass, "")
	cp.is = func(v any) bool {
		switch v.(type) {
		case *Group, *Match:
			return true
		}
		return false
	}
	gc := u.decl(ns+"GroupCollection", tkClass, "")
	gc.is = func(v any) bool { _, ok := v.(*GroupCollection); return ok }
	gc.elem = func(*Type) *Type { return gr.typ() }
	mc := u.decl(ns+"MatchCollection", tkClass, "")
	mc.is = func(v any) bool { _, ok := v.(*MatchCollection); return ok }
	mc.elem = func(*Type) *Type { return mt.typ() }
	cc := u.decl(ns+"CaptureCollection", tkClass, "")
	cc.is = func(v any) bool { _, ok := v.(*GroupCollection); return ok }
	cc.elem = func(*Type) *Type { return cp.typ() }

	withRegex := func(nArgs int, body func(f *frame, r *Regex, args []any) any) func(optIdx int) implFn {
		return func(optIdx int) implFn {
			return func(c *checker, cs *site, args []*operand) *operand {
				var opt *operand
				if optIdx > 0 {
					opt = args[optIdx]
				} else {
					optIdx = -1
				}
				rx := c.regexArg(args[1], opt)
				var rest []fnO
				for i := 0; i < len(args); i++ {
					if i == 1 || i == optIdx {
						continue
					}
					rest = append(rest, args[i].anyFn())
				}
				pos := cs.pos
				return fromAny(cs.t, cs.n, func(f *frame) any {
					vals := make([]any, len(rest))
					for i, g := range rest {
						vals[i] = g(f)
					}
					f.pos = pos
					return body(f, rx(f), vals)
				})
			}
		}
	}
	str := func(v any) string {
		s, ok := v.(string)
		if !ok {
			return nullStr
		}
		return s
	}
	isMatch := withRegex(1, func(f *frame, r *Regex, a []any) any { return r.match(f, str(a[0]), 0).success() })
	re.smethod("IsMatch(string input, string pattern) bool", isMatch(0))
	re.smethod("IsMatch(string input, string pattern, RegexOptions options) bool", isMatch(2))
	match := withRegex(1, func(f *frame, r *Regex, a []any) any { return r.match(f, str(a[0]), 0) })
	re.smethod("Match(string input, string pattern) Match", match(0))
	re.smethod("Match(string input, string pattern, RegexOptions options) Match", match(2))
	matches := withRegex(1, func(f *frame, r *Regex, a []any) any { return r.matches(f, str(a[0])) })
	re.smethod("Matches(string input, string pattern) MatchCollection", matches(0))
	re.smethod("Matches(string input, string pattern, RegexOptions options) MatchCollection", matches(2))
	repl := withRegex(2, func(f *frame, r *Regex, a []any) any { return r.replace(f, str(a[0]), str(a[1]), nil, -1) })
	re.smethod("Replace(string input, string pattern, string replacement) string", repl(0))
	re.smethod("Replace(string input, string pattern, string replacement, RegexOptions options) string", repl(3))
	replEval := withRegex(2, func(f *frame, r *Regex, a []any) any { return r.replace(f, str(a[0]), "", a[1].(*lambdaCode), -1) })
	re.smethod("Replace(string input, string pattern, Func<Match, string> evaluator) string", replEval(0))
	re.smethod("Replace(string input, string pattern, Func<Match, string> evaluator, RegexOptions options) string", replEval(3))
	split := withRegex(1, func(f *frame, r *Regex, a []any) any { return r.split(f, str(a[0])) })
	re.smethod("Split(string input, string pattern) string[]", split(0))
	re.smethod("Split(string input, string pattern, RegexOptions options) string[]", split(2))
	re.smethod("Escape(string str) string", x1(regexEscape))
	re.smethod("Unescape(string str) string", x1(func(f *frame, s string) string {
		f.alloc(len(s))
		p := newParser(`"`+strings.ReplaceAll(s, `"`, `\"`)+`"`, 0, len(s)+2+strings.Count(s, `"`))
		if t := p.tok(); t.kind == tokString {
			return t.val
		}
		throw("ArgumentException", "invalid escape sequence in Regex.Unescape")
		return ""
	}))
	ctor := func(c *checker, cs *site, args []*operand) *operand {
		var opt *operand
		if len(args) > 1 {
			opt = args[1]
		}
		// the receiver slot of regexArg is args[1]; shift
		rx := c.regexArg(args[0], opt)
		return &operand{t: cs.t, n: cs.n, o: func(f *frame) any { return rx(f) }}
	}
	re.ctor("(string pattern)", ctor)
	re.ctor("(string pattern, RegexOptions options)", ctor)
	re.method("IsMatch(string input) bool", x2(func(f *frame, r *Regex, s string) bool { return r.match(f, s, 0).success() }))
	re.method("Match(string input) Match", x2(func(f *frame, r *Regex, s string) *Match { return r.match(f, s, 0) }))
	re.method("Match(string input, int startat) Match", x3(func(f *frame, r *Regex, s string, i int32) *Match {
		u := f.u16(s)
		if i < 0 || int(i) > u.len() {
			throw("ArgumentOutOfRangeException", "Start index cannot be less than 0 or greater than input length. (Parameter 'startat')")
		}
		return r.match(f, s, u.unitToByte(int(i)))
	}))
	re.method("Matches(string input) MatchCollection", x2(func(f *frame, r *Regex, s string) *MatchCollection { return r.matches(f, s) }))
	re.method("Replace(string input, string replacement) string", x3(func(f *frame, r *Regex, s, rp string) string { return r.replace(f, s, rp, nil, -1) }))
	re.method("Replace(string input, string replacement, int count) string", x4(func(f *frame, r *Regex, s, rp string, n int32) string {
		return r.replace(f, s, rp, nil, int(n))
	}))
	re.method("Replace(string input, Func<Match, string> evaluator) string", x3(func(f *frame, r *Regex, s string, e *lambdaCode) string { return r.replace(f, s, "", e, -1) }))
	re.method("Split(string input) string[]", x2(func(f *frame, r *Regex, s string) []string { return r.split(f, s) }))
	re.method("ToString() string", f1(func(r *Regex) string { return r.pattern }))
	re.method("GetGroupNames() string[]", f1(func(r *Regex) []string { return append([]string(nil), r.netNames...) }))

	// Match, Group, Capture
	cp.prop("Value string", f1(func(v any) string { return asGroup(v).value() }))
	cp.prop("Index int", x1(func(f *frame, v any) int32 { return asGroup(v).index(f) }))
	cp.prop("Length int", x1(func(f *frame, v any) int32 { return asGroup(v).length(f) }))
	cp.method("ToString() string", f1(func(v any) string { return asGroup(v).value() }))
	gr.prop("Success bool", f1(func(v any) bool { return asGroup(v).success() }))
	gr.prop("Name string", f1(func(v any) string { return asGroup(v).name }))
	gr.prop("Captures CaptureCollection", f1(func(v any) *GroupCollection {
		g := asGroup(v)
		out := &GroupCollection{m: g.m}
		if g.success() {
			out.groups = []any{g}
		}
		return out
	}))
	mt.prop("Groups GroupCollection", f1(func(m *Match) *GroupCollection { return m.groups() }))
	mt.method("NextMatch() Match", x1(func(f *frame, m *Match) *Match {
		if !m.success() {
			return m
		}
		start := m.loc[1]
		if m.loc[1] == m.loc[0] {
			start++
		}
		if start > len(m.input) {
			return &Match{r: m.r, input: m.input}
		}
		return m.r.match(f, m.input, start)
	}))
	mt.method("Result(string replacement) string", x2(func(f *frame, m *Match, rp string) string {
		if !m.success() {
			throw("NotSupportedException", "Result cannot be called on a failed Match.")
		}
		b := sink{f: f}
		m.r.expand(&b, m, rp)
		return b.String()
	}))
	mt.sprop("Empty Match", f0(func() *Match { return &Match{r: &Regex{netIndex: []int{0}, netNames: []string{"0"}}} }))
	gc.prop("Count int", f1(func(g *GroupCollection) int32 { return int32(len(g.groups)) }))
	gc.index("this[int groupnum] Group", f2(func(g *GroupCollection, i int32) *Group {
		if i < 0 || int(i) >= len(g.groups) {
			return &Group{m: &Match{r: g.m.r, input: g.m.input}}
		}
		return g.groups[i].(*Group)
	}), nil)
	gc.index("this[string groupname] Group", f2(func(g *GroupCollection, n string) *Group { return g.byName(n) }), nil)
	gc.method("TryGetValue(string key, out Group value) bool", f3(func(g *GroupCollection, n string, out *outRef) bool {
		for _, x := range g.groups {
			if x.(*Group).name == n {
				out.set(x)
				return true
			}
		}
		out.set(nil)
		return false
	}))
	mc.prop("Count int", f1(func(m *MatchCollection) int32 { return int32(len(m.matches)) }))
	mc.index("this[int i] Match", f2(func(m *MatchCollection, i int32) *Match {
		if i < 0 || int(i) >= len(m.matches) {
			throw("ArgumentOutOfRangeException", "Specified argument was out of the range of valid values. (Parameter 'i')")
		}
		return m.matches[i].(*Match)
	}), nil)
	cc.prop("Count int", f1(func(g *GroupCollection) int32 { return int32(len(g.groups)) }))
	cc.index("this[int i] Capture", f2(func(g *GroupCollection, i int32) any {
		if i < 0 || int(i) >= len(g.groups) {
			throw("ArgumentOutOfRangeException", "Specified argument was out of the range of valid values. (Parameter 'i')")
		}
		return g.groups[i]
	}), nil)
}

func asGroup(v any) *Group {
	switch x := v.(type) {
	case *Group:
		return x
	case *Match:
		return &Group{m: x, idx: 0, name: "0"}
	}
	throw("InvalidCastException", "not a regex group")
	return nil
}

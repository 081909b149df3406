package expr

import "fmt"

// tokKind is the kind of a lexical token.
type tokKind uint8

const (
	tokEOF tokKind = iota
	tokIdent
	tokInt    // integer literal, with optional u/l suffix
	tokReal   // real literal, with optional f/d/m suffix
	tokString // "..." or @"..."
	tokChar   // 'x'
	tokInterp // $"..." or $@"..." or @$"..."
	tokPunct  // operator or punctuation; the text is in tok.text
	tokError
)

// token is one lexical token. pos and end are byte offsets in the source.
type token struct {
	kind tokKind
	pos  int
	end  int
	text string // the source text (for tokPunct: the operator)
	// val is the decoded value: string for tokString and tokChar (one rune), the
	// identifier without a leading @ for tokIdent.
	val string
	// verbatim is set for @"..." and $@"..." literals and for @identifiers.
	verbatim bool
	// nl is set when a newline or comment precedes the token (unused by the
	// grammar; kept for error messages).
	msg string // for tokError
}

func (t token) String() string {
	switch t.kind {
	case tokEOF:
		return "end of expression"
	case tokIdent:
		return fmt.Sprintf("%q", t.val)
	case tokString, tokInterp:
		return "string literal"
	case tokChar:
		return "character literal"
	case tokInt, tokReal:
		return "number " + t.text
	}
	return fmt.Sprintf("%q", t.text)
}

func (t token) is(p string) bool { return t.kind == tokPunct && t.text == p }

// keywords are C# reserved words. Contextual keywords (var, nameof, when, ...) are
// identifiers here and recognised by the parser where they matter.
var keywords = map[string]bool{
	"abstract": true, "as": true, "base": true, "bool": true, "break": true, "byte": true,
	"case": true, "catch": true, "char": true, "checked": true, "class": true, "const": true,
	"continue": true, "decimal": true, "default": true, "delegate": true, "do": true,
	"double": true, "else": true, "enum": true, "event": true, "explicit": true,
	"extern": true, "false": true, "finally": true, "fixed": true, "float": true, "for": true,
	"foreach": true, "goto": true, "if": true, "implicit": true, "in": true, "int": true,
	"interface": true, "internal": true, "is": true, "lock": true, "long": true,
	"namespace": true, "new": true, "null": true, "object": true, "operator": true,
	"out": true, "override": true, "params": true, "private": true, "protected": true,
	"public": true, "readonly": true, "ref": true, "return": true, "sbyte": true,
	"sealed": true, "short": true, "sizeof": true, "stackalloc": true, "static": true,
	"string": true, "struct": true, "switch": true, "this": true, "throw": true, "true": true,
	"try": true, "typeof": true, "uint": true, "ulong": true, "unchecked": true,
	"unsafe": true, "ushort": true, "using": true, "virtual": true, "void": true,
	"volatile": true, "while": true,
}

// predefinedTypes are the keyword type names.
var predefinedTypes = map[string]bool{
	"bool": true, "byte": true, "sbyte": true, "char": true, "decimal": true, "double": true,
	"float": true, "int": true, "uint": true, "long": true, "ulong": true, "short": true,
	"ushort": true, "object": true, "string": true, "void": true,
}

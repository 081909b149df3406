package expr

// Node is a node of the syntax tree. It is sealed: only this package implements it.
// Pos and End are byte offsets into the source passed to Compile.
type Node interface {
	Pos() int
	End() int
	node()
}

// span is embedded in every node.
type span struct{ pos, end int }

// Pos is the byte offset where the node starts.
func (s span) Pos() int { return s.pos }

// End is the byte offset just after the node.
func (s span) End() int { return s.end }
func (span) node()      {}

// ---- expressions ----

// LitKind is the kind of a literal.
type LitKind uint8

const (
	LitNull LitKind = iota
	LitBool
	LitInt    // int, uint, long or ulong by value and suffix
	LitReal   // double, float or decimal by suffix
	LitString // regular or verbatim
	LitChar
	LitDefault // the `default` literal
)

// Literal is a literal value. Raw is the source text; Str is the decoded text of a
// string or char literal.
type Literal struct {
	span
	Kind LitKind
	Raw  string
	Str  string
	Bool bool
}

// Ident is a simple name, with optional type arguments (Foo<int>).
type Ident struct {
	span
	Name     string
	TypeArgs []*TypeExpr
}

// InterpString is $"...". Parts alternate literal text and holes.
type InterpString struct {
	span
	Parts []InterpHole
}

// InterpHole is literal text (X == nil) or a hole {X,Align:Format}.
type InterpHole struct {
	Lit       string
	X         Node
	Align     Node
	Format    string
	FormatPos int
}

// Member is X.Name or X?.Name, with optional type arguments.
type Member struct {
	span
	X        Node
	Name     string
	NamePos  int
	TypeArgs []*TypeExpr
	NullCond bool
}

// Index is X[Args] or X?[Args].
type Index struct {
	span
	X        Node
	Args     []*Arg
	NullCond bool
}

// Arg is a call or indexer argument: [Name:] [out|ref|in] X. For `out var x` and
// `out T x`, X is a *DeclExpr.
type Arg struct {
	span
	Name     string
	Modifier string
	X        Node
}

// DeclExpr declares a variable inside an expression: `out var x`, `out string x`.
type DeclExpr struct {
	span
	Type *TypeExpr // nil for var
	Name string
}

// Call is Fun(Args).
type Call struct {
	span
	Fun  Node
	Args []*Arg
}

// Unary is a prefix or postfix operator: - + ! ~ ++ -- and ^ (index from end).
type Unary struct {
	span
	Op      string
	X       Node
	Postfix bool
}

// Binary is X Op Y for arithmetic, comparison, logical and ?? operators.
type Binary struct {
	span
	Op    string
	OpPos int
	X, Y  Node
}

// Assign is X Op Y where Op is "=" or a compound assignment such as "+=".
type Assign struct {
	span
	Op    string
	OpPos int
	X, Y  Node
}

// Cond is C ? X : Y.
type Cond struct {
	span
	C, X, Y Node
}

// Cast is (Type)X.
type Cast struct {
	span
	Type *TypeExpr
	X    Node
}

// Is is `X is Pattern`.
type Is struct {
	span
	X   Node
	Pat Pattern
}

// As is `X as Type`.
type As struct {
	span
	X    Node
	Type *TypeExpr
}

// Lambda is (params) => body. Body is an expression or a *Block.
type Lambda struct {
	span
	Params []*Param
	Body   Node
}

// Param is a lambda or local function parameter.
type Param struct {
	span
	Type     *TypeExpr // nil when implicit
	Name     string
	Modifier string // "", "out", "ref", "params"
	Default  Node
}

// New is `new T(args) { init }`. For `new[] { ... }` Type is nil and Array is set.
type New struct {
	span
	Type *TypeExpr
	Args []*Arg
	// HasArgs distinguishes new T() {..} from new T {..}.
	HasArgs bool
	Init    *Initializer
}

// NewArray is `new T[n]`, `new T[] { ... }` or `new[] { ... }`.
type NewArray struct {
	span
	Elem *TypeExpr // nil for new[]
	Size Node      // nil when given by the initializer
	Init *Initializer
}

// NewAnon is `new { a = 1, b }`.
type NewAnon struct {
	span
	Names []string
	Vals  []Node
}

// InitKind says what an Initializer holds.
type InitKind uint8

const (
	InitCollection InitKind = iota // { a, b } or { {k, v}, ... }
	InitObject                     // { Prop = value, [key] = value }
)

// Initializer is an object or collection initializer.
type Initializer struct {
	span
	Kind InitKind
	// Items for collection initializers: each is an element expression or, for
	// {k, v}, a *ElemList.
	Items []Node
	// Members for object initializers.
	Members []*MemberInit
}

// ElemList is the {a, b} element of a collection initializer (Add(a, b)) or a
// nested array initializer.
type ElemList struct {
	span
	Items []Node
}

// MemberInit is Name = value or [key] = value in an object initializer.
type MemberInit struct {
	span
	Name  string
	Index []*Arg
	Value Node // an expression or an *Initializer for nested initializers
}

// Paren is (X).
type Paren struct {
	span
	X Node
}

// TypeOf is typeof(T); Default is default(T).
type TypeOf struct {
	span
	Type *TypeExpr
}

// DefaultOf is default(T).
type DefaultOf struct {
	span
	Type *TypeExpr
}

// NameOf is nameof(x).
type NameOf struct {
	span
	Name string
}

// CheckedExpr is checked(X) or unchecked(X).
type CheckedExpr struct {
	span
	Checked bool
	X       Node
}

// Throw is a throw expression (x ?? throw new Exception()).
type ThrowExpr struct {
	span
	X Node
}

// This is `this` (not supported; kept for a clear error).
type This struct{ span }

// TypeExpr is a type as written: a possibly qualified name with type arguments,
// array ranks and nullable marks.
type TypeExpr struct {
	span
	// Name is the dotted name ("System.Text.Encoding", "int").
	Name string
	Args []*TypeExpr
	// Arrays lists the array ranks from left to right; Nullable marks T?.
	Arrays   []int
	Nullable bool
	// Tuple element types for (int, string).
	Tuple []*TypeExpr
}

// ---- patterns ----

// Pattern is the right side of `is` and a switch case label.
type Pattern interface {
	Node
	pattern()
}

// TypePattern is `T` or `T name` (`var name` has Type == nil).
type TypePattern struct {
	span
	Type *TypeExpr
	Name string
}

func (*TypePattern) pattern() {}

// ConstPattern is a constant: `null`, `"x"`, `1`.
type ConstPattern struct {
	span
	X Node
}

func (*ConstPattern) pattern() {}

// NotPattern is `not P`.
type NotPattern struct {
	span
	P Pattern
}

func (*NotPattern) pattern() {}

// RelPattern is `< 3`, `>= 10`.
type RelPattern struct {
	span
	Op string
	X  Node
}

func (*RelPattern) pattern() {}

// BinPattern is `P and Q`, `P or Q`.
type BinPattern struct {
	span
	Op   string
	X, Y Pattern
}

func (*BinPattern) pattern() {}

// ---- statements ----

// Block is { stmts }.
type Block struct {
	span
	Stmts []Node
}

// VarDecl declares local variables: `var x = 1;`, `int a = 1, b;`, `const int c = 2;`.
type VarDecl struct {
	span
	Type  *TypeExpr // nil for var
	Const bool
	Names []string
	Poss  []int
	Inits []Node // nil entries for no initializer
	Using bool   // `using var x = ...;`
}

// FuncDecl is a local function.
type FuncDecl struct {
	span
	Result *TypeExpr // Name "void" for void
	Name   string
	Params []*Param
	Body   Node // *Block or an expression (=> body)
}

// ExprStmt is an expression used as a statement.
type ExprStmt struct {
	span
	X Node
}

// If is if (C) Then else Else.
type If struct {
	span
	C    Node
	Then Node
	Else Node
}

// While is while (C) Body; DoWhile is do Body while (C);
type While struct {
	span
	C    Node
	Body Node
	Do   bool
}

// For is for (Init; C; Post) Body.
type For struct {
	span
	Init []Node
	C    Node
	Post []Node
	Body Node
}

// Foreach is foreach (T name in X) Body.
type Foreach struct {
	span
	Type    *TypeExpr // nil for var
	Name    string
	NamePos int
	X       Node
	Body    Node
}

// Return is return [X];
type Return struct {
	span
	X Node
}

// Break and Continue.
type Break struct{ span }

// Continue is continue;
type Continue struct{ span }

// Throw is throw [X];
type Throw struct {
	span
	X Node
}

// Try is try { } catch (T name) when (F) { } finally { }.
type Try struct {
	span
	Body    *Block
	Catches []*Catch
	Finally *Block
}

// Catch is one catch clause.
type Catch struct {
	span
	Type   *TypeExpr // nil for a bare catch
	Name   string
	Filter Node
	Body   *Block
}

// Using is using (decl or expr) body.
type Using struct {
	span
	Decl *VarDecl
	X    Node
	Body Node
}

// CheckedStmt is checked { } or unchecked { }.
type CheckedStmt struct {
	span
	Checked bool
	Body    *Block
}

// Switch is a switch statement.
type Switch struct {
	span
	X        Node
	Sections []*SwitchSection
}

// SwitchSection is one or more case labels and their statements.
type SwitchSection struct {
	span
	Labels []Pattern // nil entry for default
	Guards []Node    // `when` clauses, parallel to Labels
	Stmts  []Node
}

// SwitchExpr is X switch { pattern => value, ... }.
type SwitchExpr struct {
	span
	X     Node
	Arms  []Pattern
	Guard []Node
	Vals  []Node
}

// Empty is the empty statement `;`.
type Empty struct{ span }

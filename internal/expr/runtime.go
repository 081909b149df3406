package expr

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

// A C# string can be null. Compiled code holds strings as Go strings and marks
// null with nullStr, a zero-length string whose data pointer is the address of
// nullByte, which no other string has. A null that leaks into Go string operations
// therefore behaves as "", which is what C# concatenation does with null anyway;
// operations that must throw on null check isNull first.
var nullByte byte

var nullStr = unsafe.String(&nullByte, 0)

func isNull(s string) bool { return len(s) == 0 && unsafe.StringData(s) == &nullByte }

// boxStr turns a compiled string into the value stored in an `any`: nil for null.
func boxStr(s string) any {
	if isNull(s) {
		return nil
	}
	return s
}

// frame is the state of one evaluation (or of one call of a local function).
type frame struct {
	x      *exchange.Exchange
	prog   *Program
	parent *frame
	root   *frame
	pos    int // offset of the library call in progress, for its exceptions

	steps     int64 // steps left
	allocLeft int64 // bytes left
	ticks     int   // elements processed since the last step
	depth     int

	b []bool
	i []int32
	l []int64
	d []float64
	s []string
	o []any

	// liftA and liftB hold the unwrapped operands of a lifted nullable operator.
	liftA, liftB any

	// u16s caches the UTF-16 views of the two strings converted last (root
	// frame only), so that a loop over one string pays for its conversion once.
	u16s    [2]u16
	u16next int

	// the value of the last `return`
	rb bool
	ri int32
	rl int64
	rd float64
	rs string
	ro any
}

// ctl is what a statement does next.
type ctl uint8

const (
	ctlNext ctl = iota
	ctlBreak
	ctlContinue
	ctlReturn
)

type (
	fnB    func(*frame) bool
	fnI    func(*frame) int32
	fnL    func(*frame) int64
	fnD    func(*frame) float64
	fnS    func(*frame) string
	fnO    func(*frame) any
	fnV    func(*frame)
	stmtFn func(*frame) ctl
)

// exception is a thrown .NET exception. It is panicked and recovered by try/catch
// statements and at the Eval boundary.
type exception struct {
	typ string // "NullReferenceException", ...
	msg string
	pos int // -1 until known
	err error
	// inner is the value thrown by a `throw` statement (an Exception object)
}

func (e *exception) Error() string { return e.typ + ": " + e.msg }

// budgetError stops an evaluation that exceeded a limit. try/catch cannot catch it.
type budgetError struct {
	msg string
	pos int
}

// throw panics with a .NET exception at the current call position.
func throw(typ, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	panic(&exception{typ: typ, msg: msg, pos: -1})
}

// throwAt panics with a .NET exception at pos.
func throwAt(pos int, typ, format string, args ...any) {
	msg := format
	if len(args) > 0 {
		msg = fmt.Sprintf(format, args...)
	}
	panic(&exception{typ: typ, msg: msg, pos: pos})
}

const nreMsg = "Object reference not set to an instance of an object"

// nre throws a NullReferenceException for the expression described by what.
func nre(pos int, what string) {
	if what == "" {
		throwAt(pos, "NullReferenceException", nreMsg)
	}
	throwAt(pos, "NullReferenceException", "%s: %s is null", nreMsg, what)
}

// The budgets. A step is about the time of one loop iteration (some 30 ns);
// library code is charged in steps by the size of what it processes: a step per
// bytesPerStep bytes it scans, copies or converts and per elemsPerStep elements
// it enumerates, copies or compares. The allocation budget counts the bytes an
// evaluation allocates (not what it keeps), charged before the allocation: a
// string or byte costs its length, an element of an array, a list, a dictionary
// or a LINQ result slotBytes (2*slotBytes when it is appended to a growing
// slice, which copies as it grows).
const (
	bytesPerStep = 256
	elemsPerStep = 16
	slotBytes    = 16
	// dictEntryBytes is an entry of a dictionary or a set: its key and value
	// slots and its place in the index.
	dictEntryBytes = 96
)

// step counts one unit of work (a loop iteration, a call, a lambda invocation).
func (f *frame) step(pos int) {
	f.root.steps--
	if f.root.steps < 0 {
		panic(&budgetError{msg: fmt.Sprintf("the expression exceeded its budget of %d steps", f.prog.limits.Steps), pos: pos})
	}
}

// stepN counts n units of work, for library calls whose cost grows with input.
func (f *frame) stepN(n int) {
	if f == nil {
		return
	}
	f.root.steps -= int64(n)
	if f.root.steps < 0 {
		panic(&budgetError{msg: fmt.Sprintf("the expression exceeded its budget of %d steps", f.prog.limits.Steps), pos: f.pos})
	}
}

// work charges the steps for processing n bytes.
func (f *frame) work(n int) {
	if n >= bytesPerStep {
		f.stepN(n / bytesPerStep)
	}
}

// tick charges a step per elemsPerStep calls, for work done an element at a
// time.
func (f *frame) tick() {
	if f == nil {
		return
	}
	r := f.root
	if r.ticks++; r.ticks == elemsPerStep {
		r.ticks = 0
		f.stepN(1)
	}
}

// elems charges the steps for processing n elements.
func (f *frame) elems(n int) {
	if n >= elemsPerStep {
		f.stepN(n / elemsPerStep)
	}
}

// alloc charges n bytes against the allocation budget before they are
// allocated. A nil frame (library code called from Go) charges nothing.
func (f *frame) alloc(n int) {
	if f == nil {
		return
	}
	if n < 0 {
		n = 1 << 62
	}
	f.root.allocLeft -= int64(n)
	if f.root.allocLeft < 0 {
		panic(&budgetError{msg: fmt.Sprintf("the expression exceeded its allocation budget of %d bytes", f.prog.limits.Alloc), pos: f.pos})
	}
}

// allocN charges n items of size bytes each, refusing counts whose product
// overflows.
func (f *frame) allocN(n, size int) {
	if n < 0 || size > 0 && n > (1<<62)/size {
		f.alloc(-1)
	}
	f.alloc(n * size)
}

// push appends v to out after charging for the slot, amortising the copies of
// a growing slice.
func push(f *frame, out []any, v any) []any {
	f.alloc(2 * slotBytes)
	return append(out, v)
}

// u16 returns the UTF-16 view of s. The root frame keeps the last two views:
// indexing, measuring or cutting the same string in a loop converts it once. A
// conversion is charged: its steps, and for text that is not ASCII the UTF-16
// copy.
func (f *frame) u16(s string) u16 {
	if f == nil || len(s) < 64 {
		if f != nil && !isASCII(s) {
			f.alloc(2 * len(s))
		}
		return newU16(s)
	}
	r := f.root
	for i := range r.u16s {
		if c := r.u16s[i].s; len(c) == len(s) && unsafe.StringData(c) == unsafe.StringData(s) {
			return r.u16s[i]
		}
	}
	f.work(len(s))
	if !isASCII(s) {
		f.alloc(2 * len(s))
	}
	u := newU16(s)
	r.u16s[r.u16next] = u
	r.u16next = 1 - r.u16next
	return u
}

// sink is a strings.Builder that charges its frame's budgets for each piece
// before writing it, so that a serialiser writing a document too large for the
// budget stops when the budget runs out. A nil frame charges nothing.
type sink struct {
	strings.Builder
	f       *frame
	pending int // bytes written since the last step
}

func (s *sink) charge(n int) {
	if s.f == nil {
		return
	}
	s.f.alloc(n)
	if s.pending += n; s.pending >= bytesPerStep {
		s.f.stepN(s.pending / bytesPerStep)
		s.pending %= bytesPerStep
	}
}

// WriteString charges and writes p.
func (s *sink) WriteString(p string) (int, error) {
	s.charge(len(p))
	return s.Builder.WriteString(p)
}

// WriteByte charges and writes c.
func (s *sink) WriteByte(c byte) error {
	s.charge(1)
	return s.Builder.WriteByte(c)
}

// WriteRune charges and writes r.
func (s *sink) WriteRune(r rune) (int, error) {
	s.charge(utf8.RuneLen(r))
	return s.Builder.WriteRune(r)
}

// Write charges and writes p.
func (s *sink) Write(p []byte) (int, error) {
	s.charge(len(p))
	return s.Builder.Write(p)
}

// errorFromPanic converts what an evaluation panicked with into a RuntimeError.
func (p *Program) errorFromPanic(r any, f *frame) *RuntimeError {
	pos := 0
	if f != nil {
		pos = f.pos
	}
	switch e := r.(type) {
	case *exception:
		if e.pos >= 0 {
			pos = e.pos
		}
		return p.runtimeError(pos, e.typ, e.msg, e.err)
	case *budgetError:
		if e.pos >= 0 {
			pos = e.pos
		}
		return p.runtimeError(pos, "BudgetExceeded", e.msg, nil)
	case runtime.Error:
		ex := goRuntimeException(e)
		return p.runtimeError(pos, ex.typ, ex.msg, nil)
	case error:
		return p.runtimeError(pos, "Exception", "internal error: "+e.Error(), e)
	}
	return p.runtimeError(pos, "Exception", fmt.Sprintf("internal error: %v", r), nil)
}

// goRuntimeException maps a Go runtime panic inside library code to the .NET
// exception the same mistake raises in C#.
func goRuntimeException(e runtime.Error) *exception {
	s := e.Error()
	switch {
	case strings.Contains(s, "index out of range"), strings.Contains(s, "slice bounds out of range"):
		return &exception{typ: "IndexOutOfRangeException", msg: "Index was outside the bounds of the array", pos: -1}
	case strings.Contains(s, "nil pointer"), strings.Contains(s, "nil map"):
		return &exception{typ: "NullReferenceException", msg: nreMsg, pos: -1}
	case strings.Contains(s, "divide by zero"):
		return &exception{typ: "DivideByZeroException", msg: "Attempted to divide by zero", pos: -1}
	case strings.Contains(s, "interface conversion"):
		return &exception{typ: "InvalidCastException", msg: "Specified cast is not valid", pos: -1}
	}
	return &exception{typ: "Exception", msg: "internal error: " + s, pos: -1}
}

func (p *Program) runtimeError(pos int, typ, msg string, err error) *RuntimeError {
	line, col := lineCol(p.src, pos)
	full := fmt.Sprintf("%s at %d:%d", msg, line, col)
	if typ != "" && typ != "BudgetExceeded" && !strings.HasPrefix(msg, "internal error") {
		full = typ + ": " + full
	}
	return &RuntimeError{Offset: pos, Type: typ, Msg: full, Err: err}
}

// asException converts a recovered value into an exception that a catch clause can
// handle, or returns nil if it must propagate (budget errors).
func asException(r any) *exception {
	switch e := r.(type) {
	case *exception:
		return e
	case runtime.Error:
		return goRuntimeException(e)
	case *budgetError:
		return nil
	case error:
		return &exception{typ: "Exception", msg: e.Error(), pos: -1, err: e}
	}
	return nil
}

// errBodyRead wraps body errors as the exception APIM raises.
func bodyException(err error) {
	if errors.Is(err, exchange.ErrBodyConsumed) {
		panic(&exception{typ: "InvalidOperationException", msg: "the body was already read without preserveContent: true; read it with As<T>(preserveContent: true) the first time", pos: -1, err: err})
	}
	panic(&exception{typ: "InvalidOperationException", msg: "cannot read the body: " + err.Error(), pos: -1, err: err})
}

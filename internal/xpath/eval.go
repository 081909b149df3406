package xpath

import (
	"errors"
	"fmt"
	"math"
	"slices"
)

// Value is an expression's result: NodeSet, string, float64 or bool.
type Value any

// NodeSet is a set of nodes in document order without duplicates. Node-sets
// that evaluation returns may share memory with variables' values: do not
// change them.
type NodeSet []*Node

// Context is the dynamic context of an evaluation.
type Context struct {
	Node           *Node
	Position, Size int                            // 1-based; 0 means 1
	Variable       func(name QName) (Value, bool) // nil: none; an unbound variable is an error at evaluation
	// Budget is the steps left, shared by nested evaluations: each node an
	// axis visits, each predicate test and each node whose string-value is
	// read costs one. nil: unbounded. When it runs out, evaluation fails
	// with ErrBudget.
	Budget *int64
	Extra  any // left for the caller (the XSLT engine keeps its state here for its Functions)
}

// ErrBudget is the error of an evaluation that ran out of steps.
var ErrBudget = errors.New("xpath: the expression needs more steps than allowed")

// Spend takes k steps from the budget, for Functions that do work of their
// own (a key() lookup, say): ErrBudget if there are not that many left.
func (c *Context) Spend(k int) error {
	if c.Budget == nil {
		return nil
	}
	if *c.Budget < int64(k) {
		*c.Budget = 0
		return ErrBudget
	}
	*c.Budget -= int64(k)
	return nil
}

// Evaluate evaluates the expression in a context (nil: no context node).
func (e *Expr) Evaluate(c *Context) (Value, error) {
	if e == nil || e.root == nil {
		return nil, errors.New("xpath: evaluating an expression that was not compiled")
	}
	if c == nil {
		c = &Context{}
	}
	return e.root.eval(c)
}

func (c *Context) node() (*Node, error) {
	if c.Node == nil {
		return nil, errors.New("xpath: the expression needs a context node and has none")
	}
	return c.Node, nil
}

// check makes a value from outside (a variable, an extension function) an
// XPath value, with node-sets in document order.
func check(v Value, what string) (Value, error) {
	switch v := v.(type) {
	case NodeSet:
		return sortedCopy(v), nil
	case []*Node:
		return sortedCopy(v), nil
	case string, float64, bool:
		return v, nil
	case int:
		return float64(v), nil
	}
	return nil, fmt.Errorf("xpath: %s is a %T, which is not an XPath value", what, v)
}

func (e literal) eval(*Context) (Value, error) { return e.v, nil }

func (e varExpr) eval(c *Context) (Value, error) {
	name := "$" + e.Local
	if e.Space != "" {
		name = "$" + "{" + e.Space + "}" + e.Local
	}
	if c.Variable != nil {
		if v, ok := c.Variable(QName(e)); ok {
			return check(v, "variable "+name)
		}
	}
	return nil, fmt.Errorf("xpath: variable %s is not bound", name)
}

func (e *callExpr) eval(c *Context) (Value, error) {
	if e.core != nil {
		return e.core(c, e.args)
	}
	args := make([]Value, len(e.args))
	for i, a := range e.args {
		v, err := a.eval(c)
		if err != nil {
			return nil, err
		}
		args[i] = v
	}
	v, err := e.ext(c, args)
	if err != nil {
		return nil, err
	}
	return check(v, "the result of "+e.name+"()")
}

func (e *logicExpr) eval(c *Context) (Value, error) {
	for _, x := range e.list {
		v, err := x.eval(c)
		if err != nil {
			return nil, err
		}
		if Boolean(v) != e.and {
			return !e.and, nil
		}
	}
	return e.and, nil
}

func (e *chainExpr) eval(c *Context) (Value, error) {
	v, err := e.first.eval(c)
	if err != nil {
		return nil, err
	}
	for i, op := range e.ops {
		r, err := e.rest[i].eval(c)
		if err != nil {
			return nil, err
		}
		switch op {
		case "=", "!=", "<", "<=", ">", ">=":
			v, err = c.compare(op, v, r)
		default:
			v, err = c.arith(op, v, r)
		}
		if err != nil {
			return nil, err
		}
	}
	return v, nil
}

func (c *Context) arith(op string, a, b Value) (Value, error) {
	x, err := c.num(a)
	if err != nil {
		return nil, err
	}
	y, err := c.num(b)
	if err != nil {
		return nil, err
	}
	switch op {
	case "+":
		return x + y, nil
	case "-":
		return x - y, nil
	case "*":
		return x * y, nil
	case "div":
		return x / y, nil
	}
	return math.Mod(x, y), nil // truncating, like XPath's mod
}

func (e *negExpr) eval(c *Context) (Value, error) {
	v, err := e.e.eval(c)
	if err != nil {
		return nil, err
	}
	f, err := c.num(v)
	if e.odd {
		f = -f
	}
	return f, err
}

func (e *unionExpr) eval(c *Context) (Value, error) {
	var out NodeSet
	for i, x := range e.list {
		v, err := x.eval(c)
		if err != nil {
			return nil, err
		}
		ns, ok := v.(NodeSet)
		if !ok {
			return nil, fmt.Errorf("xpath: the operands of | must be node-sets, not a %s", TypeName(v))
		}
		if err := c.Spend(len(ns)); err != nil {
			return nil, err
		}
		if i == 0 {
			out = ns
		} else {
			out = Union(out, ns)
		}
	}
	return out, nil
}

// TypeName is the XPath name of a value's type, for error messages.
func TypeName(v Value) string {
	switch v.(type) {
	case NodeSet:
		return "node-set"
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	}
	return fmt.Sprintf("%T", v)
}

func (e *filterExpr) eval(c *Context) (Value, error) {
	v, err := e.e.eval(c)
	if err != nil {
		return nil, err
	}
	ns, ok := v.(NodeSet)
	if !ok {
		return nil, fmt.Errorf("xpath: a predicate applies to a node-set, not a %s", TypeName(v))
	}
	return c.filter(slices.Clone(ns), e.preds)
}

// filter keeps the nodes of ns (which it overwrites) that pass each
// predicate in turn, positions counting in the order of ns.
func (c *Context) filter(ns NodeSet, preds []expr) (NodeSet, error) {
	for _, pred := range preds {
		sub := *c
		sub.Size = len(ns)
		w := 0
		for i, n := range ns {
			if err := c.Spend(1); err != nil {
				return nil, err
			}
			sub.Node, sub.Position = n, i+1
			v, err := pred.eval(&sub)
			if err != nil {
				return nil, err
			}
			keep := false
			if f, ok := v.(float64); ok {
				keep = f == float64(i+1)
			} else {
				keep = Boolean(v)
			}
			if keep {
				ns[w] = n
				w++
			}
		}
		ns = ns[:w]
	}
	return ns, nil
}

func (e *pathExpr) eval(c *Context) (Value, error) {
	var set NodeSet
	steps := e.steps
	if e.filter != nil {
		v, err := e.filter.eval(c)
		if err != nil {
			return nil, err
		}
		ns, ok := v.(NodeSet)
		if !ok {
			return nil, fmt.Errorf("xpath: a path continues from a node-set, not a %s", TypeName(v))
		}
		set = ns
	} else {
		n, err := c.node()
		if err != nil {
			return nil, err
		}
		if e.abs {
			n = n.Root()
		}
		if len(steps) == 0 {
			return NodeSet{n}, nil
		}
		// The first step starts from one node: no set to allocate for it.
		one := [1]*Node{n}
		if set, err = c.step(steps[0], one[:]); err != nil {
			return nil, err
		}
		steps = steps[1:]
	}
	for _, s := range steps {
		var err error
		if set, err = c.step(s, set); err != nil {
			return nil, err
		}
	}
	return set, nil
}

// step applies one location step to every node of set.
func (c *Context) step(s *step, set NodeSet) (NodeSet, error) {
	w := walker{c: c, test: s.test, principal: s.axis.principal()}
	for _, n := range set {
		from := len(w.out)
		if !w.axis(s.axis, n) {
			return nil, w.err
		}
		if len(s.preds) > 0 {
			kept, err := c.filter(w.out[from:], s.preds)
			if err != nil {
				return nil, err
			}
			w.out = w.out[:from+len(kept)]
		}
		if s.axis.reverse() {
			slices.Reverse(w.out[from:])
		}
	}
	if len(set) > 1 {
		return Sort(w.out), nil
	}
	return w.out, nil
}

// nsNodeCost is the steps a namespace node costs to make: it takes about as
// much memory as 16 entries of a node-set.
const nsNodeCost = 16

// walker collects the nodes of an axis that pass a node test, in the axis's
// order, paying a step for each node it visits.
type walker struct {
	c         *Context
	test      nodeTest
	principal Kind
	out       NodeSet
	err       error
}

func (w *walker) visit(n *Node) bool {
	if w.err = w.c.Spend(1); w.err != nil {
		return false
	}
	if w.test.match(n, w.principal) {
		w.out = append(w.out, n)
	}
	return true
}

func (w *walker) all(list []*Node) bool {
	for _, n := range list {
		if !w.visit(n) {
			return false
		}
	}
	return true
}

// axis visits the nodes of axis a from n; false if it failed (w.err).
func (w *walker) axis(a axis, n *Node) bool {
	switch a {
	case axSelf:
		return w.visit(n)
	case axChild:
		return w.all(n.Children)
	case axAttribute:
		return w.all(n.Attrs)
	case axNamespace:
		if n.scope != nil && n.nsNodes.Load() == nil {
			// Making the nodes costs more than visiting them, and they stay
			// with the tree: the budget then bounds what thousands of
			// declarations over many elements can make.
			if w.err = w.c.Spend(nsNodeCost * n.scope.nodes); w.err != nil {
				return false
			}
		}
		return w.all(n.Namespaces())
	case axParent:
		return n.Parent == nil || w.visit(n.Parent)
	case axAncestor, axAncestorOrSelf:
		x := n
		if a == axAncestor {
			x = n.Parent
		}
		for ; x != nil; x = x.Parent {
			if !w.visit(x) {
				return false
			}
		}
	case axDescendantOrSelf:
		return walk(n, w.visit)
	case axDescendant:
		for _, k := range n.Children {
			if !walk(k, w.visit) {
				return false
			}
		}
	case axFollowingSibling, axPrecedingSibling:
		i := childIndex(n)
		if i < 0 {
			return true
		}
		sibs := n.Parent.Children
		if a == axFollowingSibling {
			return w.all(sibs[i+1:])
		}
		for j := i - 1; j >= 0; j-- {
			if !w.visit(sibs[j]) {
				return false
			}
		}
	case axFollowing:
		x := n
		if n.Kind == AttributeNode || n.Kind == NamespaceNode {
			// An attribute's following nodes start with its element's children.
			if x = n.Parent; x == nil {
				return true
			}
			for _, k := range x.Children {
				if !walk(k, w.visit) {
					return false
				}
			}
		}
		for ; x != nil; x = x.Parent {
			i := childIndex(x)
			if i < 0 {
				continue
			}
			for _, sib := range x.Parent.Children[i+1:] {
				if !walk(sib, w.visit) {
					return false
				}
			}
		}
	case axPreceding:
		x := n
		if n.Kind == AttributeNode || n.Kind == NamespaceNode {
			x = n.Parent // the element is an ancestor, so not preceding
		}
		if x == nil {
			return true
		}
		for ; x != nil; x = x.Parent {
			i := childIndex(x)
			for j := i - 1; j >= 0; j-- {
				from := len(w.out)
				if !walk(x.Parent.Children[j], w.visit) {
					return false
				}
				slices.Reverse(w.out[from:]) // reverse document order, nearest first
			}
		}
	}
	return true
}

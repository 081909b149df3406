package xpath

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
)

// manyNamespaces is k declarations on the root over n empty children.
func manyNamespaces(k, n int, child string) []byte {
	var b strings.Builder
	b.WriteString("<r")
	for i := range k {
		fmt.Fprintf(&b, ` xmlns:p%d="urn:x:%d"`, i, i)
	}
	b.WriteString(">")
	b.WriteString(strings.Repeat(child, n))
	b.WriteString("</r>")
	return []byte(b.String())
}

// countNodes counts what a tree holds without making namespace nodes.
func countNodes(doc *Node) (nodes, made int) {
	walk(doc, func(n *Node) bool {
		nodes += 1 + len(n.Attrs)
		if l := n.nsNodes.Load(); l != nil {
			made += len(*l)
		}
		return true
	})
	return nodes, made
}

// TestNamespaceAmplification: k declarations on the root and n elements used
// to make k×n namespace nodes in Parse (900k here, 160 MB).
func TestNamespaceAmplification(t *testing.T) {
	src := manyNamespaces(3000, 300, "<a/>")
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	doc, err := Parse(src, Limits{})
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatal(err)
	}
	// The source itself is 74 KB: allow a few hundred bytes of tree per byte
	// of declarations (the scope, its index and encoding/xml's attributes).
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8<<20 {
		t.Errorf("Parse allocated %d bytes", alloc)
	}
	if nodes, made := countNodes(doc); nodes != 302 || made != 0 {
		t.Errorf("%d nodes and %d namespace nodes, want 302 and none", nodes, made)
	}

	a := doc.Children[0].Children[7]
	e, err := Compile("namespace::*", Static{})
	if err != nil {
		t.Fatal(err)
	}
	budget := int64(1_000_000)
	v, err := e.Evaluate(&Context{Node: a, Budget: &budget})
	if err != nil {
		t.Fatal(err)
	}
	ns := v.(NodeSet)
	if len(ns) != 3001 {
		t.Fatalf("%d namespace nodes, want 3001", len(ns))
	}
	for i, x := range ns {
		if x.Parent != a || x.Root() != doc || x.Order <= a.Order || i > 0 && x.Order <= ns[i-1].Order {
			t.Fatalf("namespace node %d (%s) is misplaced", i, x.Prefix)
		}
	}
	if next := doc.Children[0].Children[8]; ns[3000].Order >= next.Order {
		t.Errorf("the last namespace node (order %d) comes after the next element (%d)", ns[3000].Order, next.Order)
	}
	for i, x := range a.Namespaces() {
		if x != ns[i] {
			t.Fatal("a second call made other nodes")
		}
	}
	if _, made := countNodes(doc); made != 3001 {
		t.Errorf("%d namespace nodes made, want only the 3,001 asked for", made)
	}
}

// TestNamespaceScopeLimit: an element that redeclares one prefix under
// thousands gets a scope of its own, and MaxNodes counts what it holds.
func TestNamespaceScopeLimit(t *testing.T) {
	_, err := Parse(manyNamespaces(3000, 400, `<a xmlns:p0="urn:y"/>`), Limits{})
	if err == nil || !strings.Contains(err.Error(), "more than 1000000 nodes") {
		t.Errorf("got %v, want too many nodes", err)
	}
	doc := mustParse(t, `<r xmlns="urn:d" xmlns:p="urn:p"><a xmlns=""/><b xmlns:p="urn:q"/></r>`)
	r := doc.Children[0]
	for _, tt := range []struct {
		n    *Node
		want string
	}{{r, "xml=" + XMLNamespace + " =urn:d p=urn:p"}, {r.Children[0], "xml=" + XMLNamespace + " p=urn:p"}, {r.Children[1], "xml=" + XMLNamespace + " =urn:d p=urn:q"}} {
		var got []string
		for _, x := range tt.n.Namespaces() {
			got = append(got, x.Prefix+"="+x.Data)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("<%s>: %q, want %q", tt.n.Local, strings.Join(got, " "), tt.want)
		}
	}
}

// TestNamespacesConcurrent: readers that race to make an element's namespace
// nodes all get the same ones (run with -race).
func TestNamespacesConcurrent(t *testing.T) {
	doc := mustParse(t, `<r xmlns:p="urn:p"><a/></r>`)
	a := doc.Children[0].Children[0]
	got := make([][]*Node, 8)
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = a.Namespaces() })
	}
	wg.Wait()
	for _, l := range got {
		if len(l) != 2 || l[0] != got[0][0] || l[1] != got[0][1] {
			t.Fatalf("got %v and %v", l, got[0])
		}
	}
}

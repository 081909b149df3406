// Package jsonxml converts bodies between JSON and XML in the shapes API
// Management's json-to-xml and xml-to-json policies produce, within limits on
// depth, size and the number of nodes, so that a hostile body (deeply nested,
// an entity bomb, or small input that would expand into a huge output) is
// refused with an error instead of exhausting the gateway.
package jsonxml

import (
	"errors"
	"fmt"
)

// Limits bound a conversion. Zero fields take DefaultLimits' values.
type Limits struct {
	// Depth is the deepest nesting of objects, arrays or elements.
	Depth int
	// Nodes is the most values or elements a document may hold.
	Nodes int
	// Output is the most bytes the converted document may take.
	Output int
	// Charge, when set, is told of the memory a parsed document takes as it
	// grows (an estimate per node), so that the caller can count it against a
	// budget; an error it returns stops the parse and is returned as it is.
	Charge func(bytes int64) error
}

// nodeCost estimates the memory a parsed node holds beyond its text.
const nodeCost = 128

// chargeEvery is how many nodes are charged at once.
const chargeEvery = 1024

// charge charges for another chargeEvery nodes when n reaches a multiple.
func (l Limits) charge(n int) error {
	if l.Charge == nil || n%chargeEvery != 0 {
		return nil
	}
	return l.Charge(chargeEvery * nodeCost)
}

// DefaultLimits are the limits of a conversion unless its options say
// otherwise: 128 levels, a million nodes, 16 MiB out.
var DefaultLimits = Limits{Depth: 128, Nodes: 1 << 20, Output: 16 << 20}

func (l Limits) orDefault() Limits {
	if l.Depth <= 0 {
		l.Depth = DefaultLimits.Depth
	}
	if l.Nodes <= 0 {
		l.Nodes = DefaultLimits.Nodes
	}
	if l.Output <= 0 {
		l.Output = DefaultLimits.Output
	}
	return l
}

// ErrLimit is wrapped by the errors of a document over a limit.
var ErrLimit = errors.New("over a limit")

func depthError(max int) error {
	return fmt.Errorf("the document nests more than %d levels deep: %w", max, ErrLimit)
}

func nodesError(max int) error {
	return fmt.Errorf("the document has more than %d nodes: %w", max, ErrLimit)
}

func outputError(max int) error {
	return fmt.Errorf("the converted document would take more than %d bytes: %w", max, ErrLimit)
}

// outBuf is the output of a conversion, refusing to grow past its limit.
type outBuf struct {
	b     []byte
	limit int
	err   error
}

func (o *outBuf) room(n int) bool {
	if o.err != nil {
		return false
	}
	if len(o.b)+n > o.limit {
		o.err = outputError(o.limit)
		return false
	}
	return true
}

func (o *outBuf) str(s string) {
	if o.room(len(s)) {
		o.b = append(o.b, s...)
	}
}

func (o *outBuf) byte(c byte) {
	if o.room(1) {
		o.b = append(o.b, c)
	}
}

func (o *outBuf) indent(depth int) {
	if o.room(1 + 2*depth) {
		o.b = append(o.b, '\n')
		for range depth {
			o.b = append(o.b, ' ', ' ')
		}
	}
}

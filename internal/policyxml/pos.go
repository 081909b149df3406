package policyxml

import (
	"bytes"
	"slices"
	"strconv"
)

// Pos is a position in a policy file.
type Pos struct {
	Offset int // byte offset in the file
	Line   int // 1-based line number
	Col    int // 1-based column, counted in bytes (a leading byte order mark is not counted)
}

// String returns "line:col".
func (p Pos) String() string {
	return strconv.Itoa(p.Line) + ":" + strconv.Itoa(p.Col)
}

// IsValid reports whether p is a real position (the zero Pos is not).
func (p Pos) IsValid() bool { return p.Line > 0 }

// lineTable maps byte offsets to lines and columns.
type lineTable struct {
	starts []int // offset of the first byte of each line; starts[0] == 0
	bom    int   // length of a leading byte order mark (0 or 3), not counted in columns
	size   int
}

func newLineTable(src []byte) lineTable {
	starts := make([]int, 1, bytes.Count(src, newline)+1)
	for i := 0; ; {
		k := bytes.IndexByte(src[i:], '\n')
		if k < 0 {
			break
		}
		i += k + 1
		starts = append(starts, i)
	}
	t := lineTable{starts: starts, size: len(src)}
	if hasBOM(src) {
		t.bom = 3
	}
	return t
}

var newline = []byte{'\n'}

func hasBOM(src []byte) bool {
	return len(src) >= 3 && src[0] == 0xEF && src[1] == 0xBB && src[2] == 0xBF
}

func (t *lineTable) position(offset int) Pos {
	if offset < 0 {
		offset = 0
	}
	if offset > t.size {
		offset = t.size
	}
	if len(t.starts) == 0 {
		return Pos{Offset: offset, Line: 1, Col: offset + 1}
	}
	i, found := slices.BinarySearch(t.starts, offset)
	if !found {
		i--
	}
	col := offset - t.starts[i] + 1
	if i == 0 && t.bom > 0 {
		col = max(1, col-t.bom)
	}
	return Pos{Offset: offset, Line: i + 1, Col: col}
}

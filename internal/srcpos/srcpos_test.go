package srcpos

import (
	"errors"
	"io/fs"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestErrorStrings(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want string
	}{
		{"file, line and column", &Error{File: "a.xml", Pos: Pos{Line: 3, Col: 4}, Msg: "bad"}, "a.xml:3:4: bad"},
		{"line only", &Error{File: "lastmile.yaml", Pos: Pos{Line: 3}, Msg: "bad"}, "lastmile.yaml:3: bad"},
		{"no position", &Error{File: "a.xml", Msg: "bad"}, "a.xml: bad"},
		{"an offset is not printed", &Error{File: "a.xml", Pos: Pos{Offset: 7}, Msg: "bad"}, "a.xml: bad"},
		{"no file", &Error{Pos: Pos{Line: 3, Col: 4}, Msg: "bad"}, "3:4: bad"},
		{"message only", &Error{Msg: "bad"}, "bad"},
		{"list", ErrorList{{File: "a", Pos: Pos{Line: 1, Col: 1}, Msg: "x"}, {File: "b", Pos: Pos{Line: 2, Col: 2}, Msg: "y"}}, "a:1:1: x\nb:2:2: y"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("Error() = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestUnwrap(t *testing.T) {
	inner := &Error{File: "b", Pos: Pos{Line: 2, Col: 1}, Msg: "y", Err: fs.ErrNotExist}
	var err error = ErrorList{{File: "a", Msg: "x"}, inner}
	var got *Error
	if !errors.As(err, &got) || got.File != "a" {
		t.Errorf("errors.As found %v, want the first error", got)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is does not reach the underlying error of %v", err)
	}
}

func TestSort(t *testing.T) {
	l := ErrorList{
		{File: "b", Pos: Pos{Line: 1, Col: 1}, Msg: "b1"},
		{File: "a", Pos: Pos{Line: 2, Col: 1}, Msg: "a2"},
		{File: "a", Msg: "a"},
		{File: "a", Pos: Pos{Line: 1, Col: 9}, Msg: "a1:9"},
		{File: "a", Pos: Pos{Line: 1, Col: 2}, Msg: "a1:2 first"},
		{File: "a", Pos: Pos{Line: 1, Col: 2}, Msg: "a1:2 second"},
	}
	l.Sort()
	var got []string
	for _, e := range l {
		got = append(got, e.Msg)
	}
	want := []string{"a", "a1:2 first", "a1:2 second", "a1:9", "a2", "b1"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("sorted (-want +got):\n%s", diff)
	}
}

// TestSnippet shows the line from Line and Col alone: errors from JSON and
// YAML files have no offset.
func TestSnippet(t *testing.T) {
	const src = "first\n\tsecond line\r\nthird"
	tests := []struct {
		name string
		src  string
		pos  Pos
		want string
	}{
		{"a column", src, Pos{Line: 2, Col: 3}, "    \tsecond line\n    \t ^\n"},
		{"no column: the line's start", src, Pos{Line: 2}, "    \tsecond line\n    ^\n"},
		{"just past the end of the line", src, Pos{Line: 1, Col: 6}, "    first\n         ^\n"},
		{"the last line", src, Pos{Line: 3, Col: 1}, "    third\n    ^\n"},
		{"past the end of the line", src, Pos{Line: 1, Col: 7}, ""},
		{"past the last line", src, Pos{Line: 4, Col: 1}, ""},
		{"past the end of the source", "short", Pos{Offset: 10, Line: 1, Col: 11}, ""},
		{"no position", src, Pos{}, ""},
		{"a byte order mark is not a column", "\ufeffhello", Pos{Line: 1, Col: 2}, "    hello\n     ^\n"},
		{"a multi-byte character is one column", "é=x", Pos{Line: 1, Col: 3}, "    é=x\n     ^\n"},
		{"control characters", "a\x01b", Pos{Line: 1, Col: 3}, "    a?b\n      ^\n"},
		{"a long line is cut around the column", strings.Repeat("x", 200) + "!" + strings.Repeat("y", 200), Pos{Line: 1, Col: 201},
			"    ..." + strings.Repeat("x", 50) + "!" + strings.Repeat("y", 49) + "...\n       " + strings.Repeat(" ", 50) + "^\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := &Error{File: "f", Pos: tt.pos, Msg: "m"}
			if got := e.Snippet([]byte(tt.src)); got != tt.want {
				t.Errorf("Snippet:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestLines(t *testing.T) {
	src := []byte("\ufeffab\ncd\n")
	lines := NewLines(src)
	tests := []struct {
		offset int
		want   Pos
	}{
		{0, Pos{Offset: 0, Line: 1, Col: 1}},
		{3, Pos{Offset: 3, Line: 1, Col: 1}},
		{4, Pos{Offset: 4, Line: 1, Col: 2}},
		{6, Pos{Offset: 6, Line: 2, Col: 1}},
		{9, Pos{Offset: 9, Line: 3, Col: 1}},
		{99, Pos{Offset: 9, Line: 3, Col: 1}},
		{-1, Pos{Offset: 0, Line: 1, Col: 1}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, lines.Pos(tt.offset)); diff != "" {
			t.Errorf("Pos(%d) (-want +got):\n%s", tt.offset, diff)
		}
	}
}

// FuzzSnippet checks that no source and position make Snippet panic, and that
// a snippet is two lines ending in the caret.
func FuzzSnippet(f *testing.F) {
	f.Add([]byte("a\nb\tc\r\n"), 2, 3)
	f.Add([]byte("\ufeff\xff\x00é"), 1, 2)
	f.Fuzz(func(t *testing.T, src []byte, line, col int) {
		s := (&Error{Pos: Pos{Line: line, Col: col}}).Snippet(src)
		if s != "" && (strings.Count(s, "\n") != 2 || !strings.HasSuffix(s, "^\n")) {
			t.Errorf("Snippet(%q, %d:%d) = %q", src, line, col, s)
		}
	})
}

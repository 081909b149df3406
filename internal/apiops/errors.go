package apiops

import (
	"errors"

	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// Error is one problem in the folder. File is the path as the operator can open it
// (the folder given to Load joined with the file's relative path). Pos is the zero
// Pos when the problem has no position (a missing file, a folder).
type Error = srcpos.Error

// ErrorList is every problem Load found, sorted by file and position.
type ErrorList = srcpos.ErrorList

// fromPolicy returns what policyxml returns as positioned errors in file: a
// policy document's errors keep their own file name and source offsets, so they
// can still be shown with their source line.
func fromPolicy(file string, err error) []*Error {
	var list srcpos.ErrorList
	if errors.As(err, &list) {
		out := make([]*Error, 0, len(list))
		for _, e := range list {
			out = append(out, inFile(file, e))
		}
		return out
	}
	var pe *Error
	if errors.As(err, &pe) {
		return []*Error{inFile(file, pe)}
	}
	return []*Error{{File: file, Msg: err.Error(), Err: err}}
}

// inFile returns e, naming file when e names none.
func inFile(file string, e *Error) *Error {
	if e.File != "" {
		return e
	}
	c := *e
	c.File = file
	return &c
}

// position returns the line and column of offset in src. src is a file without
// its byte order mark (jsoninfo removes it), so the offset is left out: it would
// not be the file's.
func position(src []byte, offset int) srcpos.Pos {
	p := srcpos.NewLines(src).Pos(offset)
	return srcpos.Pos{Line: p.Line, Col: p.Col}
}

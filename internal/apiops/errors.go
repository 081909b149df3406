package apiops

import (
	"errors"
	"strings"

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

// HideSecrets replaces, in the messages of err (an ErrorList or one *Error),
// every value of a secret named value with its {{name}}, as written in the
// policies: a policy's error may quote an attribute after its named values
// were put in, and load errors go to logs and CI output. Other errors are
// returned as they are.
func (s *Service) HideSecrets(err error) error {
	hideSecrets(err, s.NamedValues)
	return err
}

func hideSecrets(err error, nvs map[string]*NamedValue) {
	var r *strings.Replacer
	hide := func(e *Error) {
		if r == nil {
			var pairs []string
			for _, nv := range nvs {
				if nv.Secret && nv.HasValue && nv.Value != "" {
					pairs = append(pairs, nv.Value, "{{"+nv.DisplayName+"}}")
				}
			}
			if len(pairs) == 0 {
				return
			}
			r = strings.NewReplacer(pairs...)
		}
		e.Msg = r.Replace(e.Msg)
	}
	var list ErrorList
	var one *Error
	switch {
	case errors.As(err, &list):
		for _, e := range list {
			hide(e)
		}
	case errors.As(err, &one):
		hide(one)
	}
}

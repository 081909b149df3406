package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/apiops"
	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
)

// cmdValidate compiles configuration folders and single policy files and prints
// every error with its position, the source line and a caret.
func cmdValidate(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("validate", getenv, stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: lastmile validate PATH...\n\nPATH is a configuration folder (an APIOps extract) or a policy file.\n")
	}
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitError(2)
	}
	failed := 0
	for _, path := range fs.Args() {
		err := validatePath(ctx, path)
		if err == nil {
			fmt.Fprintf(stdout, "%s: ok\n", path)
			continue
		}
		n := printErrors(stdout, err)
		failed += n
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d error(s)\n", failed)
		return exitError(1)
	}
	return nil
}

func validatePath(ctx context.Context, path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		return err
	}
	if fi.IsDir() {
		cfg, err := config.Load(filepath.Join(path, config.FileName))
		if err != nil {
			return err
		}
		return snapshot.Validate(ctx, path, cfg, exprCompiler(), nil)
	}
	return snapshot.ValidateFile(path, exprCompiler())
}

// printErrors prints each error with its source line and a caret, and returns
// how many there were.
func printErrors(w io.Writer, err error) int {
	var items []error
	var multi interface{ Unwrap() []error }
	if errors.As(err, &multi) {
		items = multi.Unwrap()
	} else {
		items = []error{err}
	}
	sources := map[string][]byte{}
	for _, e := range items {
		fmt.Fprintln(w, e.Error())
		file, line, col := position(e)
		if file == "" || line == 0 {
			continue
		}
		src, ok := sources[file]
		if !ok {
			src, _ = os.ReadFile(file)
			sources[file] = src
		}
		if snip := snippet(src, line, col); snip != "" {
			fmt.Fprint(w, snip)
		}
	}
	return len(items)
}

func position(err error) (string, int, int) {
	var pe *policyxml.Error
	if errors.As(err, &pe) {
		return pe.File, pe.Pos.Line, pe.Pos.Col
	}
	var ae *apiops.Error
	if errors.As(err, &ae) {
		return ae.File, ae.Line, ae.Col
	}
	var ce *config.Error
	if errors.As(err, &ce) {
		return ce.File, ce.Line, ce.Col
	}
	return "", 0, 0
}

// snippet returns the line of src and a caret under col (1-based, bytes).
func snippet(src []byte, line, col int) string {
	lines := strings.Split(string(src), "\n")
	if line < 1 || line > len(lines) {
		return ""
	}
	text := strings.TrimRight(lines[line-1], "\r")
	if len(text) > 160 {
		start := max(0, col-80)
		end := min(len(text), start+160)
		text, col = text[start:end], col-start
	}
	pad := make([]byte, 0, col)
	for i := 0; i < col-1 && i < len(text); i++ {
		if text[i] == '\t' {
			pad = append(pad, '\t')
		} else {
			pad = append(pad, ' ')
		}
	}
	return "    " + text + "\n    " + string(pad) + "^\n"
}

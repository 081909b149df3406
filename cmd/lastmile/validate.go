package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// cmdValidate compiles configuration folders and single policy files and prints
// every error, and every warning about what it could not check, with its
// position, the source line and a caret. Only errors fail it.
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
	failed, warned := 0, 0
	for _, path := range fs.Args() {
		warnings, err := validatePath(ctx, path)
		if err != nil {
			failed += printErrors(stdout, flatten(err))
		}
		for _, w := range warnings {
			w.Msg = "warning: " + w.Msg
		}
		n := printErrors(stdout, warnings.Unwrap())
		warned += n
		if err == nil {
			fmt.Fprintf(stdout, "%s: ok%s\n", path, countWarnings(n))
		}
	}
	if failed > 0 {
		fmt.Fprintf(stdout, "%d error(s)%s\n", failed, countWarnings(warned))
		return exitError(1)
	}
	return nil
}

// countWarnings is ", N warning(s)", or "" for none.
func countWarnings(n int) string {
	if n == 0 {
		return ""
	}
	return fmt.Sprintf(", %d warning(s)", n)
}

// validatePath checks a configuration folder or a policy file. Warnings are
// what it could not check, and why.
func validatePath(ctx context.Context, path string) (warnings srcpos.ErrorList, err error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if fi.IsDir() {
		// A broken lastmile.yaml does not stop the folder's check: its
		// policies are checked with the defaults, and both lists printed.
		// The secrets it names need not be in the environment (CI).
		cfg, warnings, cfgErr := config.LoadForCheck(filepath.Join(path, config.FileName))
		if cfgErr != nil {
			cfg = nil
		}
		return warnings, errors.Join(cfgErr, snapshot.Check(ctx, path, cfg, exprCompiler(), nil))
	}
	return snapshot.ValidateFile(path, exprCompiler())
}

// printErrors prints each error with its source line and a caret, and returns
// how many there were.
func printErrors(w io.Writer, items []error) int {
	sources := map[string][]byte{}
	for _, e := range items {
		fmt.Fprintln(w, e.Error())
		var pe *srcpos.Error
		if !errors.As(e, &pe) || pe.File == "" || !pe.Pos.IsValid() {
			continue
		}
		src, ok := sources[pe.File]
		if !ok {
			src, _ = os.ReadFile(pe.File)
			sources[pe.File] = src
		}
		fmt.Fprint(w, pe.Snippet(src))
	}
	return len(items)
}

// flatten lists the errors in err, the lists within lists (errors.Join of
// error lists) included.
func flatten(err error) []error {
	var multi interface{ Unwrap() []error }
	if !errors.As(err, &multi) {
		return []error{err}
	}
	var out []error
	for _, e := range multi.Unwrap() {
		out = append(out, flatten(e)...)
	}
	return out
}

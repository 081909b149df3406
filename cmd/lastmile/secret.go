package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

const secretUsage = `usage: lastmile secret new | hash

  new    make a client secret (256 random bits) and print it and its hash
  hash   read a client secret from standard input and print its hash

Put the hash in identity.applications[].secretHashes in lastmile.yaml; give the
secret to the client. lastmile keeps only the hash (Argon2id).
`

// cmdSecret runs `lastmile secret`: client secrets for registered applications.
func cmdSecret(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) != 1 {
		fmt.Fprint(stderr, secretUsage)
		return exitError(2)
	}
	switch args[0] {
	case "new":
		secret, hash := directory.NewClientSecret()
		fmt.Fprintf(stdout, "secret: %s\nhash:   %s\n\nGive the secret to the client (it is not shown again) and add the hash to lastmile.yaml:\n  secretHashes: [%q]\n", secret, hash, hash)
		return nil
	case "hash":
		if f, ok := stdin.(*os.File); ok {
			if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
				fmt.Fprint(stderr, "client secret (input is not hidden; pipe it in to keep it off the screen): ")
			}
		}
		line, err := bufio.NewReader(io.LimitReader(stdin, 4096)).ReadString('\n')
		if err != nil && err != io.EOF {
			return err
		}
		secret := strings.TrimRight(line, "\r\n")
		if secret == "" {
			return fmt.Errorf("no secret on standard input")
		}
		fmt.Fprintln(stdout, directory.HashClientSecret(secret))
		return nil
	}
	fmt.Fprint(stderr, secretUsage)
	return exitError(2)
}

package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/idp"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

const keysUsage = `usage: lastmile keys COMMAND [--state DIR] [--config DIR]

Commands:
  list                  the signing keys: kid, algorithm, state, and dates
  jwks                  print the published JWKS (public keys), e.g. for GCP's --jwk-json-path
  prepare [--alg A]     publish the next key now; it signs from the next rotation
  rotate  [--alg A]     the next key (or a new one) signs from now; the current one retires
                        and stays published until its last token expires
  revoke  --kid KID     withdraw a key from the JWKS at once; revoking the current key is the
                        emergency case: a fresh key signs from now

--alg is ES256 or RS256; prepare and rotate default to every algorithm in use.
The commands work on the state folder of a running or stopped gateway: a running
gateway picks changes up within 10 seconds, or at once on SIGHUP. --config (the
folder with lastmile.yaml) gives the token lifetime, so a retired key stays published
long enough; without it, the longest lifetime the gateway recorded is used.
`

// cmdKeys runs `lastmile keys`: the operator's view of the signing keys.
func cmdKeys(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		fmt.Fprint(stderr, keysUsage)
		return exitError(2)
	}
	sub := args[0]
	var sf serveFlags
	var alg, kid string
	fs := newFlagSet("keys "+sub, getenv, stderr)
	fs.stringVar(&sf.state, "state", "LASTMILE_STATE", "", "state folder (default $XDG_STATE_HOME/lastmile or ~/.local/state/lastmile)")
	fs.stringVar(&sf.config, "config", "LASTMILE_CONFIG", "", "configuration folder with lastmile.yaml, for the token lifetime")
	switch sub {
	case "prepare", "rotate":
		fs.StringVar(&alg, "alg", "", "ES256 or RS256 (default: every algorithm that has a key)")
	case "revoke":
		fs.StringVar(&kid, "kid", "", "the kid of the key to revoke (lastmile keys list shows them)")
	case "list", "jwks":
	default:
		fmt.Fprintf(stderr, "lastmile keys: unknown command %q\n\n%s", sub, keysUsage)
		return exitError(2)
	}
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	if sub == "revoke" && kid == "" {
		fmt.Fprint(stderr, "lastmile keys revoke: --kid is required\n")
		return exitError(2)
	}
	dir, err := sf.stateDir(getenv)
	if err != nil {
		return err
	}
	if _, err := os.Stat(filepath.Join(dir, "idp", "keys.json")); err != nil {
		return fmt.Errorf("no signing keys in %s: start lastmile serve with this state folder first, or pass --state", dir)
	}
	state, err := statedir.Open(dir)
	if err != nil {
		return err
	}
	opts := idp.KeyStoreOptions{ReadOnly: sub == "list" || sub == "jwks"}
	if sf.config != "" {
		cfg, err := config.Load(filepath.Join(sf.config, config.FileName))
		if err != nil {
			return err
		}
		opts.TokenLifetime = cfg.Identity.TokenLifetime
	}
	ks, err := idp.OpenKeyStore(ctx, state, opts)
	if err != nil {
		return err
	}
	algs := []string{alg}
	if alg == "" {
		algs = nil
		for _, k := range ks.Keys() {
			if k.State == idp.KeyCurrent {
				algs = append(algs, k.Algorithm)
			}
		}
	}
	switch sub {
	case "list":
		return printKeys(stdout, ks.Keys())
	case "jwks":
		_, err := fmt.Fprintf(stdout, "%s\n", ks.JWKS())
		return err
	case "prepare":
		for _, a := range algs {
			k, err := ks.Prepare(ctx, a)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "next %s key %s is published; it signs from the next rotation\n", a, k.KeyID)
		}
	case "rotate":
		for _, a := range algs {
			k, err := ks.Rotate(ctx, a)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%s key %s signs from now; the previous key stays published until its tokens expire\n", a, k.KeyID)
		}
	case "revoke":
		k, err := ks.Revoke(ctx, kid)
		if err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%s key %s is revoked: it is no longer published; validators drop it when they refetch the JWKS (lastmile's max-age is 5 minutes)\n", k.Algorithm, k.KeyID)
	}
	fmt.Fprintln(stdout, "a running gateway picks this up within 10 seconds, or at once on SIGHUP")
	return printKeys(stdout, ks.Keys())
}

func printKeys(w io.Writer, keys []idp.KeyInfo) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "KID\tALG\tSTATE\tCREATED\tACTIVATED\tRETIRED\tPUBLISHED UNTIL")
	date := func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.UTC().Format(time.RFC3339)
	}
	for _, k := range keys {
		until := date(k.PublishedUntil)
		if k.State != idp.KeyRetired {
			until = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", k.KeyID, k.Algorithm, k.State, date(k.Created), date(k.Activated), date(k.Retired), until)
	}
	return tw.Flush()
}

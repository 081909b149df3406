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
	"github.com/lastmile-gw/lastmile/internal/server"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
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
  migrate               copy the state folder's identities, signing keys and generated
                        subscription keys to the fleet's Redis (store.type: redis), once,
                        before the fleet first starts; the folder is then marked as migrated
  reencrypt             store the identity state in Redis again with the first encryption
                        key, after a change of key (see docs/identity.md)

--alg is ES256 or RS256; prepare and rotate default to every algorithm in use.
The commands work on the state of a running or stopped gateway: the state folder,
or, when --config's lastmile.yaml has store.type: redis, the fleet's state in
Redis (with the same encryption key and Redis password as the gateways). A running
gateway picks changes up within 10 seconds, or at once on SIGHUP. --config (the
folder with lastmile.yaml) also gives the token lifetime, so a retired key stays
published long enough; without it, the longest lifetime the gateway recorded is used.
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
	fs.stringVar(&sf.config, "config", "LASTMILE_CONFIG", "", "configuration folder with lastmile.yaml: its store (the state folder, or Redis) and token lifetime")
	switch sub {
	case "prepare", "rotate":
		fs.StringVar(&alg, "alg", "", "ES256 or RS256 (default: every algorithm that has a key)")
	case "revoke":
		fs.StringVar(&kid, "kid", "", "the kid of the key to revoke (lastmile keys list shows them)")
	case "list", "jwks", "migrate", "reencrypt":
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
	var cfg *config.Config
	if sf.config != "" {
		if cfg, err = config.Load(filepath.Join(sf.config, config.FileName)); err != nil {
			return err
		}
	}
	var state idp.State
	if cfg != nil && cfg.Store.Type == config.StoreRedis {
		st, err := server.OpenIdentityState(ctx, cfg, dir, getenv)
		if err != nil {
			return err
		}
		defer st.Close()
		switch sub {
		case "migrate":
			return migrateState(ctx, st, stdout)
		case "reencrypt":
			total, changed, err := st.Shared.Reencrypt(ctx)
			if err != nil {
				return err
			}
			fmt.Fprintf(stdout, "%d of %d records in %s were encrypted with another key and are now encrypted with key %s; once this is done for every record, the other keys can be removed from every instance\n",
				changed, total, st.Where, st.Shared.KeyIDs()[0])
			return nil
		case "list":
			ids := st.Shared.KeyIDs()
			fmt.Fprintf(stdout, "state: %s, encrypted with key %s", st.Where, ids[0])
			if len(ids) > 1 {
				fmt.Fprintf(stdout, " (also decrypts with %s)", strings.Join(ids[1:], ", "))
			}
			fmt.Fprintln(stdout)
		}
		state = st.Shared
	} else {
		if sub == "migrate" || sub == "reencrypt" {
			return fmt.Errorf("lastmile keys %s works on a fleet's state in Redis: pass --config DIR, whose lastmile.yaml has store.type: redis", sub)
		}
		if _, err := os.Stat(filepath.Join(dir, "idp", "keys.json")); err != nil {
			return fmt.Errorf("no signing keys in %s: start lastmile serve with this state folder first, or pass --state; for a fleet that keeps its state in Redis (store.type: redis), pass --config DIR", dir)
		}
		if state, err = statedir.Open(dir); err != nil {
			return err
		}
	}
	opts := idp.KeyStoreOptions{ReadOnly: sub == "list" || sub == "jwks"}
	if cfg != nil {
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

// migrateState copies the state folder's identity state to the fleet's Redis:
// generated subscription keys, then signing keys and identities (idp.Migrate,
// which refuses to overwrite a fleet's identities and marks the folder).
func migrateState(ctx context.Context, st *server.IdentityState, stdout io.Writer) error {
	if has, err := idp.HasState(ctx, st.Shared); err != nil {
		return err
	} else if has {
		return fmt.Errorf("%s already holds identities: the fleet has started, and migrating would replace its identities and keys; nothing was copied", st.Where)
	}
	if has, err := idp.HasState(ctx, st.Dir); err != nil {
		return err
	} else if !has {
		return fmt.Errorf("nothing to migrate: the state folder %s holds no identities (pass --state)", st.Dir.Path())
	}
	subs, err := snapshot.MigrateSubscriptionKeys(ctx, st.Dir, st.Shared)
	if err != nil {
		return err
	}
	if err := idp.Migrate(ctx, st.Dir, st.Shared, st.Where); err != nil {
		return err
	}
	ks, err := idp.OpenKeyStore(ctx, st.Shared, idp.KeyStoreOptions{ReadOnly: true})
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "copied the tenant, the identities, %d signing keys and %d generated subscription keys from %s to %s, encrypted with key %s.\n",
		len(ks.Keys()), subs, st.Dir.Path(), st.Where, st.Shared.KeyIDs()[0])
	fmt.Fprintf(stdout, "%s now marks the folder as migrated: lastmile no longer starts on it with the memory store. Its files are a backup from now on, with private keys in clear: keep them safe, or delete them once the fleet runs.\n",
		st.Dir.File("idp/migrated.json"))
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

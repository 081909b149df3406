package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"text/tabwriter"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/server"
	"github.com/lastmile-gw/lastmile/internal/snapshot"
)

// cmdSubscriptions lists the subscriptions and their keys, including the keys
// lastmile generated for subscriptions whose extract has none.
func cmdSubscriptions(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var sf serveFlags
	fs := newFlagSet("subscriptions", getenv, stderr)
	sf.declare(fs, false)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if sf.config == "" {
		return errors.New("no configuration folder: pass --config DIR (an APIOps extract)")
	}
	log, err := newLogger(stderr, sf.logLevel)
	if err != nil {
		return err
	}
	dir, err := sf.stateDir(getenv)
	if err != nil {
		return err
	}
	// lastmile.yaml says where generated keys are kept: the state folder, or
	// the fleet's Redis.
	cfg, err := config.Load(filepath.Join(sf.config, config.FileName))
	if err != nil {
		return err
	}
	state, err := server.OpenIdentityState(ctx, cfg, dir, getenv)
	if err != nil {
		return err
	}
	defer state.Close()
	subs, err := snapshot.ListSubscriptions(ctx, sf.config, state.State, log)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tSCOPE\tSTATE\tPRIMARY KEY\tSECONDARY KEY")
	for _, s := range subs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Name, s.ScopePath(), s.State, s.PrimaryKey, s.SecondaryKey)
	}
	return tw.Flush()
}

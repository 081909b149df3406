package main

import (
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/lastmile-gw/lastmile/internal/server"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// serveFlags are the flags serve and the other commands that read a
// configuration share.
type serveFlags struct {
	config, listen, identityListen, state, logLevel string
}

func (sf *serveFlags) declare(fs *flagSet, withListeners bool) {
	fs.stringVar(&sf.config, "config", "LASTMILE_CONFIG", "", "configuration folder: an APIOps extract, with an optional lastmile.yaml")
	if withListeners {
		fs.stringVar(&sf.listen, "listen", "LASTMILE_LISTEN", "", "data-plane address (default from lastmile.yaml, else :8080)")
		fs.stringVar(&sf.identityListen, "identity-listen", "LASTMILE_IDENTITY_LISTEN", "", "identity provider address: discovery, JWKS and token endpoints (default from lastmile.yaml, else 127.0.0.1:8081)")
	}
	fs.stringVar(&sf.state, "state", "LASTMILE_STATE", "", "state folder for keys and generated identities (default $XDG_STATE_HOME/lastmile or ~/.local/state/lastmile)")
	fs.stringVar(&sf.logLevel, "log-level", "LASTMILE_LOG_LEVEL", "info", "log level: debug, info, warn or error")
}

func (sf *serveFlags) stateDir(getenv func(string) string) (string, error) {
	if sf.state != "" {
		return sf.state, nil
	}
	return statedir.Default(getenv)
}

// parseFlags parses a command's flags; -h ends the command successfully.
func parseFlags(fs *flagSet, args []string) error {
	if err := fs.parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitError(0)
		}
		return exitError(2)
	}
	if fs.NArg() > 0 && fs.Name() != "lastmile validate" {
		fs.Usage()
		return exitError(2)
	}
	return nil
}

func cmdServe(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var sf serveFlags
	fs := newFlagSet("serve", getenv, stderr)
	sf.declare(fs, true)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, sf.logLevel)
	if err != nil {
		return err
	}
	tuneGC(getenv, log)
	state, err := sf.stateDir(getenv)
	if err != nil {
		return err
	}
	s, err := server.New(ctx, server.Options{
		ConfigDir:      sf.config,
		Listen:         sf.listen,
		IdentityListen: sf.identityListen,
		StateDir:       state,
		Logger:         log,
		Expr:           exprCompiler(),
		Version:        buildVersion(),
	})
	if err != nil {
		return err
	}
	// SIGHUP reloads the configuration folder. Reload logs the outcome: what
	// failed (and that the running configuration stays), or the settings that
	// need a restart.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				s.Reload(ctx)
			}
		}
	}()
	return s.Serve(ctx)
}

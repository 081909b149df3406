// Command lastmile is a self-hosted API gateway that runs Azure API Management
// policies and gives backends short-lived managed-identity tokens instead of
// stored secrets.
//
//	lastmile serve --config DIR   run the gateway and its identity provider
//	lastmile demo                 run a self-contained demo
//	lastmile validate PATH...     check configuration folders and policy files
//	lastmile subscriptions        list subscription keys
//	lastmile identity env         print the managed identity variables for local workloads
//	lastmile token --resource R   get a token from the running lastmile and print its claims
//	lastmile keys list|rotate|... the identity provider's signing keys: list, rotate, revoke, migrate to Redis
//	lastmile secret new|hash      client secrets for registered applications
//	lastmile version              print the version
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/lastmile-gw/lastmile/internal/store"
)

// version is set at build time with -ldflags "-X main.version=v1.2.3".
var version = "dev"

func main() {
	if len(os.Args) > 1 && os.Args[1] == "serve" {
		keepSysmonAwake()
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

const usage = `lastmile: an API gateway for API Management policies, with managed identity for every backend

Usage:
  lastmile serve --config DIR [--listen ADDR] [--identity-listen ADDR] [--state DIR]
  lastmile demo
  lastmile validate PATH...
  lastmile subscriptions --config DIR [--state DIR]
  lastmile identity env [--state DIR]
  lastmile token --resource R [--client-id C] [--raw] [--state DIR]
  lastmile keys list|jwks|prepare|rotate|revoke|migrate|reencrypt [--state DIR] [--config DIR]
  lastmile secret new|hash
  lastmile version

Run "lastmile COMMAND -h" for a command's flags.
`

// run is main without the process: it returns the exit code.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, rest, getenv, stdout, stderr)
	case "demo":
		err = cmdDemo(ctx, rest, getenv, stdout, stderr)
	case "validate":
		err = cmdValidate(ctx, rest, getenv, stdout, stderr)
	case "subscriptions":
		err = cmdSubscriptions(ctx, rest, getenv, stdout, stderr)
	case "identity":
		err = cmdIdentity(ctx, rest, getenv, stdout, stderr)
	case "token":
		err = cmdToken(ctx, rest, getenv, stdout, stderr)
	case "keys":
		err = cmdKeys(ctx, rest, getenv, stdout, stderr)
	case "secret":
		err = cmdSecret(ctx, rest, getenv, os.Stdin, stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintf(stdout, "lastmile %s\n", buildVersion())
		return 0
	case "help", "-h", "--help", "-help":
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "lastmile: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	if err == nil {
		return 0
	}
	if ee, ok := err.(exitError); ok {
		return int(ee)
	}
	fmt.Fprintf(stderr, "lastmile %s: %v\n", cmd, err)
	return 1
}

// exitError ends a command with a status code after it printed its own message.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

func buildVersion() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok {
		if v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
			v = bi.Main.Version
		}
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
		v += " " + bi.GoVersion
	}
	return v
}

// newLogger returns the process logger: text on stderr at level (debug, info,
// warn, error). go-redis's own lines go to it too, at debug level.
func newLogger(w io.Writer, level string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToLower(strings.TrimSpace(level)))); err != nil {
		return nil, fmt.Errorf("log level %q: use debug, info, warn or error", level)
	}
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
	store.RouteClientLog(log)
	return log, nil
}

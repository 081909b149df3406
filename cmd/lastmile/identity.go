package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/identity/agent"
	"github.com/lastmile-gw/lastmile/internal/identity/remote"
	"github.com/lastmile-gw/lastmile/internal/server"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// cmdIdentity runs `lastmile identity env`: the variables a local workload
// needs to get tokens from the running lastmile's managed identity endpoints.
func cmdIdentity(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "env" {
		fmt.Fprint(stderr, "usage: lastmile identity env [--state DIR]\n\nPrints IDENTITY_ENDPOINT, IDENTITY_HEADER, AZURE_POD_IDENTITY_AUTHORITY_HOST and\nLASTMILE_IDENTITY_SOCKET as KEY=value lines, for `set -a; . <(lastmile identity env)`\nor a systemd EnvironmentFile. IDENTITY_HEADER is a secret.\n")
		return exitError(2)
	}
	var sf serveFlags
	fs := newFlagSet("identity env", getenv, stderr)
	fs.stringVar(&sf.state, "state", "LASTMILE_STATE", "", "state folder of the running lastmile (default $XDG_STATE_HOME/lastmile or ~/.local/state/lastmile)")
	if err := parseFlags(fs, args[1:]); err != nil {
		return err
	}
	env, err := readWorkloadEnv(&sf, getenv)
	if err != nil {
		return err
	}
	_, err = stdout.Write(env.Format())
	return err
}

func readWorkloadEnv(sf *serveFlags, getenv func(string) string) (agent.Environment, error) {
	dir, err := sf.stateDir(getenv)
	if err != nil {
		return agent.Environment{}, err
	}
	state, err := statedir.Open(dir)
	if err != nil {
		return agent.Environment{}, err
	}
	env, err := server.ReadWorkloadEnvironment(state)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return agent.Environment{}, fmt.Errorf("%s does not exist: no lastmile with managed identity endpoints runs on this state folder; start `lastmile serve` with it", state.File(agent.EnvFile))
	case errors.Is(err, server.ErrStaleEnvironment):
		return agent.Environment{}, fmt.Errorf("%w; start `lastmile serve` with this state folder", err)
	}
	return env, err
}

// cmdToken runs `lastmile token`: it gets a token from the running lastmile's
// managed identity endpoint, as a workload would, and prints its claims, like
// `az account get-access-token`. The token itself is printed only with --raw.
func cmdToken(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	var sf serveFlags
	var resource, clientID string
	raw := false
	fs := newFlagSet("token", getenv, stderr)
	fs.StringVar(&resource, "resource", "", "the resource (App ID URI) the token is for; required")
	fs.StringVar(&clientID, "client-id", "", "a user-assigned identity's client id (default: the system-assigned identity)")
	fs.BoolVar(&raw, "raw", false, "print only the token itself, for scripts (it is a credential)")
	fs.stringVar(&sf.state, "state", "LASTMILE_STATE", "", "state folder of the running lastmile")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if strings.TrimSpace(resource) == "" {
		fmt.Fprintln(stderr, "lastmile token: --resource is required, e.g. --resource api://orders")
		return exitError(2)
	}
	env, err := readWorkloadEnv(&sf, getenv)
	if err != nil {
		// Inside Azure App Service, or a workload given lastmile's variables.
		if e, h := getenv(agent.EnvIdentityEndpoint), getenv(agent.EnvIdentityHeader); e != "" && h != "" {
			env = agent.Environment{IdentityEndpoint: e, IdentityHeader: h}
		} else {
			return err
		}
	}
	var src *remote.Source
	switch {
	case env.IdentityEndpoint != "":
		src, err = remote.New(env.IdentityEndpoint, env.IdentityHeader)
	case env.Socket != "":
		src, err = remote.New(env.Socket, "")
	default:
		return errors.New("the running lastmile serves neither the App Service endpoint nor the socket; turn one on under identity.managedIdentityEndpoints")
	}
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	tok, err := src.Token(ctx, clientID, resource)
	if err != nil {
		return err
	}
	if raw {
		_, err := fmt.Fprintln(stdout, tok.Value)
		return err
	}
	header, claims, err := decodeJWT(tok.Value)
	if err != nil {
		fmt.Fprintf(stdout, "a token that is not a JWT (%v), expiring %s\n", err, tok.ExpiresAt.Local().Format(time.RFC3339))
		return nil
	}
	fmt.Fprintf(stdout, "# header\n%s\n# claims\n%s\n# expires %s (in %s); --raw prints the token\n",
		header, claims, tok.ExpiresAt.Local().Format(time.RFC3339), time.Until(tok.ExpiresAt).Round(time.Second))
	return nil
}

// decodeJWT returns a JWT's header and claims, indented. The signature is not
// checked: this is for reading, the backend verifies.
func decodeJWT(raw string) (header, claims []byte, err error) {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return nil, nil, errors.New("not three dot-separated parts")
	}
	indent := func(seg string) ([]byte, error) {
		b, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			return nil, err
		}
		var out bytes.Buffer
		if err := json.Indent(&out, b, "", "  "); err != nil {
			return nil, err
		}
		return out.Bytes(), nil
	}
	if header, err = indent(parts[0]); err != nil {
		return nil, nil, fmt.Errorf("header: %w", err)
	}
	if claims, err = indent(parts[1]); err != nil {
		return nil, nil, fmt.Errorf("claims: %w", err)
	}
	return header, claims, nil
}

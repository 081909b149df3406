package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/demo"
	"github.com/lastmile-gw/lastmile/internal/server"
)

func cmdDemo(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	fs := newFlagSet("demo", getenv, stderr)
	once := fs.Bool("once", false, "exit after the first request instead of serving")
	var logLevel string
	fs.stringVar(&logLevel, "log-level", "LASTMILE_LOG_LEVEL", "warn", "log level: debug, info, warn or error")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	log, err := newLogger(stderr, logLevel)
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "lastmile-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	cfgDir, stateDir := filepath.Join(tmp, "config"), filepath.Join(tmp, "state")

	// The sample backend: it accepts only requests with a token it can verify
	// against the gateway's issuer.
	bln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	backendURL := "http://" + bln.Addr().String()
	if err := demo.WriteConfig(cfgDir, backendURL); err != nil {
		return err
	}
	s, err := server.New(ctx, server.Options{
		ConfigDir: cfgDir, StateDir: stateDir, Logger: log, Expr: exprCompiler(),
		Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0",
	})
	if err != nil {
		bln.Close()
		return err
	}
	backend := &http.Server{Handler: demo.NewBackend(s.Issuer(), demo.Audience), ReadHeaderTimeout: 10 * time.Second}
	go backend.Serve(bln)
	defer backend.Close()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx) }()

	key := ""
	for _, sub := range s.Snapshot().Subscriptions() {
		if sub.Name == "demo" {
			key = sub.PrimaryKey
		}
	}
	gw := s.GatewayURL()
	fmt.Fprintf(stdout, "lastmile demo\n\n")
	fmt.Fprintf(stdout, "  gateway:          %s\n", gw)
	fmt.Fprintf(stdout, "  identity issuer:  %s (discovery: %s/.well-known/openid-configuration)\n", s.Issuer(), s.Issuer())
	fmt.Fprintf(stdout, "  sample backend:   %s (verifies every token against the issuer's JWKS)\n", backendURL)
	fmt.Fprintf(stdout, "  configuration:    %s\n", cfgDir)
	if u := s.ConsoleURL(); u != "" {
		fmt.Fprintf(stdout, "  web console:      %s/\n", u)
	}
	fmt.Fprintln(stdout)

	steps := []struct{ title, path string }{
		{"GET /orders/42: the gateway's system-assigned identity", "/orders/42"},
		{"GET /reports/: a user-assigned identity chosen by client-id", "/reports/"},
	}
	for _, st := range steps {
		fmt.Fprintf(stdout, "%s\n", st.title)
		rep, status, err := demoRequest(ctx, gw+st.path, key)
		if err != nil {
			return fmt.Errorf("demo request: %w", err)
		}
		if rep == nil {
			return fmt.Errorf("demo request: the gateway answered %d without reaching the backend", status)
		}
		fmt.Fprintf(stdout, "  gateway answered:  %d\n%s\n", status, demo.Describe(rep, time.Now()))
		if !rep.Verified {
			return fmt.Errorf("the backend did not verify the token: %s", rep.Error)
		}
	}
	if *once {
		// The server stops now: commands to try against it would fail.
		fmt.Fprintf(stdout, "Run lastmile demo without --once to keep the gateway serving and try it yourself.\n")
		cancel()
		return <-done
	}
	fmt.Fprintf(stdout, "Try it yourself:\n")
	fmt.Fprintf(stdout, "  curl -i -H 'Ocp-Apim-Subscription-Key: %s' %s/orders/42\n", key, gw)
	fmt.Fprintf(stdout, "  curl -i '%s/orders/?subscription-key=%s'\n", gw, key)
	fmt.Fprintf(stdout, "  curl -i %s/orders/42        # no key: 401, as API Management answers\n", gw)
	fmt.Fprintf(stdout, "  curl -s %s/.well-known/openid-configuration\n", s.Issuer())
	fmt.Fprintf(stdout, "  curl -s %s/.well-known/jwks.json\n", s.Issuer())
	fmt.Fprintf(stdout, "\nServing until Ctrl-C.\n")
	return <-done
}

// demoRequest calls the gateway and decodes the backend's report.
func demoRequest(ctx context.Context, url, key string) (*demo.Report, int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, 0, err
	}
	req.Header.Set("Ocp-Apim-Subscription-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, resp.StatusCode, err
	}
	var rep demo.Report
	if err := json.Unmarshal(body, &rep); err != nil || rep.Backend == "" {
		return nil, resp.StatusCode, fmt.Errorf("gateway answered %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	return &rep, resp.StatusCode, nil
}

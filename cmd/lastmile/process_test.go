package main

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// TestMain lets the tests run this test binary as the lastmile command, in its
// own process: with LASTMILE_TEST_MAIN=1 it is `lastmile` with the arguments
// given.
func TestMain(m *testing.M) {
	if os.Getenv("LASTMILE_TEST_MAIN") == "1" {
		main()
	}
	os.Exit(m.Run())
}

// process is a lastmile command running in its own process.
type process struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	err    error
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// startProcess runs lastmile with args in a new process.
func startProcess(t testing.TB, args ...string) *process {
	t.Helper()
	return startProcessEnv(t, os.Environ(), args...)
}

// startProcessEnv runs lastmile with args in a new process with environment env.
func startProcessEnv(t testing.TB, env []string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(os.Args[0], args...), stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd.Env = append(env, "LASTMILE_TEST_MAIN=1")
	p.cmd.Stdout = p.stderr
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { p.err = p.cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("output of lastmile %s:\n%s", strings.Join(args, " "), p.stderr.String())
		}
	})
	return p
}

// waitFor waits until the process has written text (or exited).
func (p *process) waitFor(t testing.TB, text string) {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for !strings.Contains(p.stderr.String(), text) {
		select {
		case <-p.done:
			t.Fatalf("lastmile exited (%v) before writing %q", p.err, text)
		case <-deadline:
			t.Fatalf("lastmile did not write %q in time", text)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// exit waits for the process to end and returns its exit code.
func (p *process) exit(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatal("lastmile did not exit")
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	if p.err != nil {
		t.Fatal(p.err)
	}
	return 0
}

// logged returns the value of a key=value attribute the process logged.
func (p *process) logged(t testing.TB, key string) string {
	t.Helper()
	m := regexp.MustCompile(`\b` + key + `=("[^"]*"|\S+)`).FindStringSubmatch(p.stderr.String())
	if m == nil {
		t.Fatalf("lastmile did not log %s", key)
	}
	return strings.Trim(m[1], `"`)
}

// writeConfig writes a configuration folder with one API and lastmile.yaml.
func writeConfig(t testing.TB, dir, yaml string) {
	t.Helper()
	files := map[string]string{
		"apis/echo/apiInformation.json": `{"properties":{"path":"echo","serviceUrl":"http://127.0.0.1:1","subscriptionRequired":false}}`,
		"lastmile.yaml":                 yaml,
	}
	for name, content := range files {
		p := filepath.Join(dir, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

const ordersYAML = "identity:\n  resources:\n    - id: api://orders\n"

// TestInstancesShareAStateDirectory runs several `lastmile serve` processes on
// one state directory. identity.env names the endpoints of the instance that
// owns it: a second instance leaves it alone, an instance that fails to start
// never touches it, the owner removes it when it stops, and a waiting instance
// then takes it over. A file left by a killed instance is recognised as stale.
func TestInstancesShareAStateDirectory(t *testing.T) {
	dir := t.TempDir()
	cfg, state := filepath.Join(dir, "cfg"), filepath.Join(dir, "state")
	writeConfig(t, cfg, ordersYAML)
	envFile := filepath.Join(state, "identity.env")
	serve := func(extra ...string) *process {
		return startProcess(t, append([]string{"serve", "--config", cfg, "--state", state, "--listen", "127.0.0.1:0", "--identity-listen", "127.0.0.1:0"}, extra...)...)
	}
	token := func(t *testing.T) (int, string) {
		t.Helper()
		code, out, errOut := runCmd(t, nil, "token", "--resource", "api://orders", "--state", state)
		return code, out + errOut
	}

	a := serve()
	a.waitFor(t, "lastmile is serving")
	endpointA := a.logged(t, "identity_url") + "/msi/token"
	envA, err := os.ReadFile(envFile)
	if err != nil || !strings.Contains(string(envA), "IDENTITY_ENDPOINT="+endpointA+"\n") {
		t.Fatalf("identity.env after the first instance started: %q, %v; want it to name %s", envA, err, endpointA)
	}

	b := serve()
	b.waitFor(t, "lastmile is serving")
	if env, _ := os.ReadFile(envFile); !bytes.Equal(env, envA) {
		t.Errorf("a second instance rewrote identity.env:\n%s\nwas:\n%s", env, envA)
	}
	b.waitFor(t, "another lastmile on this state directory publishes identity.env")
	if code, out := token(t); code != 0 {
		t.Errorf("lastmile token with two instances running: exit %d\n%s", code, out)
	}

	// Instances that cannot start leave the state directory alone.
	taken := strings.TrimPrefix(a.logged(t, "gateway_url"), "http://")
	c := startProcess(t, "serve", "--config", cfg, "--state", state, "--listen", taken, "--identity-listen", "127.0.0.1:0")
	if code := c.exit(t); code != 1 || !strings.Contains(c.stderr.String(), "gateway listener") {
		t.Errorf("an instance on a taken port: exit %d\n%s", code, c.stderr.String())
	}
	if env, _ := os.ReadFile(envFile); !bytes.Equal(env, envA) {
		t.Errorf("an instance that failed to start rewrote identity.env:\n%s", env)
	}
	fresh := filepath.Join(dir, "fresh-state")
	d := startProcess(t, "serve", "--config", filepath.Join(dir, "nonexistent"), "--state", fresh, "--listen", "127.0.0.1:0", "--identity-listen", "127.0.0.1:0")
	if code := d.exit(t); code != 1 {
		t.Errorf("serve --config nonexistent: exit %d", code)
	}
	if _, err := os.Stat(fresh); !os.IsNotExist(err) {
		t.Errorf("serve --config nonexistent created the state directory (%v)", err)
	}

	// The owner stops: the file goes with it, and the other instance takes over.
	a.cmd.Process.Signal(syscall.SIGTERM)
	if code := a.exit(t); code != 0 {
		t.Errorf("the first instance exited %d on SIGTERM", code)
	}
	b.waitFor(t, "it now names this instance's managed identity endpoints")
	endpointB := b.logged(t, "identity_url") + "/msi/token"
	if env, _ := os.ReadFile(envFile); !strings.Contains(string(env), "IDENTITY_ENDPOINT="+endpointB+"\n") {
		t.Errorf("identity.env after the owner stopped: %q, want it to name %s", env, endpointB)
	}
	if code, out := token(t); code != 0 {
		t.Errorf("lastmile token after the takeover: exit %d\n%s", code, out)
	}

	// A killed owner leaves the file, but readers see that it is stale.
	b.cmd.Process.Kill()
	b.exit(t)
	code, _, errOut := runCmd(t, nil, "identity", "env", "--state", state)
	if code != 1 || !strings.Contains(errOut, "written by a lastmile that is no longer running") {
		t.Errorf("identity env after the owner was killed: exit %d %q", code, errOut)
	}
	if code, out := token(t); code != 1 || !strings.Contains(out, "no longer running") {
		t.Errorf("lastmile token after the owner was killed: exit %d %q", code, out)
	}
}

// TestServeSignals drives `lastmile serve` with signals, as an operator does:
// SIGHUP with a broken lastmile.yaml is reported with its position and never
// as a success, SIGHUP with a new resource applies it, SIGHUP with a changed
// listener names the setting that needs a restart, and SIGTERM logs the
// shutdown. The start-up log gives the addresses listened on and the URLs
// clients use.
func TestServeSignals(t *testing.T) {
	dir := t.TempDir()
	cfg, state := filepath.Join(dir, "cfg"), filepath.Join(dir, "state")
	writeConfig(t, cfg, ordersYAML)
	yamlFile := filepath.Join(cfg, "lastmile.yaml")
	p := startProcess(t, "serve", "--config", cfg, "--state", state, "--listen", "127.0.0.1:0", "--identity-listen", "0.0.0.0:0")
	p.waitFor(t, "lastmile is serving")

	listen, url := p.logged(t, "identity_listen"), p.logged(t, "identity_url")
	port := listen[strings.LastIndex(listen, ":")+1:]
	if (!strings.HasPrefix(listen, "0.0.0.0:") && !strings.HasPrefix(listen, "[::]:")) || url != "http://127.0.0.1:"+port {
		t.Errorf("identity_listen=%s identity_url=%s: want the unspecified address listened on, and the loopback URL", listen, url)
	}

	os.WriteFile(yamlFile, []byte("identity: [\n"), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, "reload failed")
	if out := p.stderr.String(); !strings.Contains(out, yamlFile+":2:1: YAML syntax") || strings.Contains(out, "configuration reloaded") {
		t.Errorf("a broken lastmile.yaml on SIGHUP: want a failure at %s:2:1 and no claim of success", yamlFile)
	}

	os.WriteFile(yamlFile, []byte(ordersYAML+"    - id: api://new\n"), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, "configuration reloaded")
	if code, out, errOut := runCmd(t, nil, "token", "--resource", "api://new", "--state", state); code != 0 {
		t.Errorf("a token for the resource added by the reload: exit %d %s%s", code, out, errOut)
	}

	os.WriteFile(yamlFile, []byte(ordersYAML+"listeners:\n  metrics: 127.0.0.1:0\n"), 0o644)
	p.cmd.Process.Signal(syscall.SIGHUP)
	p.waitFor(t, `restart_needed=listeners.metrics`)

	p.cmd.Process.Signal(syscall.SIGTERM)
	if code := p.exit(t); code != 0 {
		t.Errorf("exit %d on SIGTERM", code)
	}
	out := p.stderr.String()
	started, finished := strings.Index(out, "shutdown started"), strings.Index(out, "shutdown finished")
	if started < 0 || finished < started {
		t.Errorf("SIGTERM: want \"shutdown started\" then \"shutdown finished\" in the log")
	}
}

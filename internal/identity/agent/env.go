package agent

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/statedir"
)

// Environment is what a local workload needs to reach the managed identity
// endpoints: the variables Azure's SDKs read.
type Environment struct {
	// IdentityEndpoint and IdentityHeader are IDENTITY_ENDPOINT and
	// IDENTITY_HEADER, the App Service protocol; empty when it is off.
	IdentityEndpoint string
	IdentityHeader   string
	// IMDSHost is AZURE_POD_IDENTITY_AUTHORITY_HOST, the IMDS protocol's base
	// URL; empty when it is off.
	IMDSHost string
	// Socket is LASTMILE_IDENTITY_SOCKET, unix:///path of the attested socket;
	// empty when it is off.
	Socket string
}

// Environment variable names.
const (
	EnvIdentityEndpoint = "IDENTITY_ENDPOINT"
	EnvIdentityHeader   = "IDENTITY_HEADER"
	EnvPodIdentityHost  = "AZURE_POD_IDENTITY_AUTHORITY_HOST"
	EnvSocket           = "LASTMILE_IDENTITY_SOCKET"
)

// EnvFile is the state file `lastmile serve` writes the environment to (mode
// 0600: it holds IDENTITY_HEADER).
const EnvFile = "identity.env"

// headerFile keeps IDENTITY_HEADER across restarts, so that workloads started
// with the old environment keep working when lastmile restarts.
const headerFile = "identity-header"

// Format writes the variables that are set as KEY=value lines, the format of
// systemd's EnvironmentFile and of `set -a; . file`.
func (e Environment) Format() []byte {
	var b bytes.Buffer
	for _, kv := range e.vars() {
		if kv[1] != "" {
			fmt.Fprintf(&b, "%s=%s\n", kv[0], kv[1])
		}
	}
	return b.Bytes()
}

func (e Environment) vars() [][2]string {
	return [][2]string{
		{EnvIdentityEndpoint, e.IdentityEndpoint},
		{EnvIdentityHeader, e.IdentityHeader},
		{EnvPodIdentityHost, e.IMDSHost},
		{EnvSocket, e.Socket},
	}
}

// ParseEnvironment reads what Format wrote. Unknown variables are ignored.
func ParseEnvironment(data []byte) (Environment, error) {
	var e Environment
	sc := bufio.NewScanner(bytes.NewReader(data))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			return Environment{}, fmt.Errorf("line %d: not KEY=value", n)
		}
		switch strings.TrimPrefix(k, "export ") {
		case EnvIdentityEndpoint:
			e.IdentityEndpoint = v
		case EnvIdentityHeader:
			e.IdentityHeader = v
		case EnvPodIdentityHost:
			e.IMDSHost = v
		case EnvSocket:
			e.Socket = v
		}
	}
	return e, sc.Err()
}

// WriteEnvironment writes e to the state directory's EnvFile, mode 0600.
func WriteEnvironment(state *statedir.Dir, e Environment) error {
	return state.WriteFile(EnvFile, e.Format())
}

// ReadEnvironment reads the state directory's EnvFile. A missing file gives an
// error matching fs.ErrNotExist.
func ReadEnvironment(state *statedir.Dir) (Environment, error) {
	data, err := state.ReadFile(EnvFile)
	if err != nil {
		return Environment{}, err
	}
	e, err := ParseEnvironment(data)
	if err != nil {
		return Environment{}, fmt.Errorf("%s: %w", state.File(EnvFile), err)
	}
	return e, nil
}

// LoadOrCreateHeader returns the IDENTITY_HEADER secret kept in the state
// directory, creating a random 256-bit one on first use.
func LoadOrCreateHeader(state *statedir.Dir) (string, error) {
	data, err := state.ReadFile(headerFile)
	if err == nil {
		h := strings.TrimSpace(string(data))
		if len(h) < 32 {
			return "", fmt.Errorf("%s is too short to be an identity header; delete it to have a new one generated", state.File(headerFile))
		}
		return h, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return "", fmt.Errorf("reading the identity header: %w", err)
	}
	var b [32]byte
	rand.Read(b[:])
	h := base64.RawURLEncoding.EncodeToString(b[:])
	if err := state.WriteFile(headerFile, []byte(h+"\n")); err != nil {
		return "", err
	}
	return h, nil
}

package agent_test

import (
	"errors"
	"io/fs"
	"os"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/identity/agent"
	"github.com/lastmile-gw/lastmile/internal/statedir"
)

func TestEnvironmentFile(t *testing.T) {
	state, err := statedir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := agent.ReadEnvironment(state); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("ReadEnvironment before any write: %v, want not exist", err)
	}
	h1, err := agent.LoadOrCreateHeader(state)
	if err != nil {
		t.Fatal(err)
	}
	h2, err := agent.LoadOrCreateHeader(state)
	if err != nil || h1 != h2 || len(h1) < 40 {
		t.Fatalf("the header changed or is short: %d bytes, %v", len(h1), err)
	}
	e := agent.Environment{IdentityEndpoint: "http://127.0.0.1:8081/msi/token", IdentityHeader: h1, IMDSHost: "http://127.0.0.1:8082", Socket: "unix:///run/x.sock"}
	if err := agent.WriteEnvironment(state, e); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(state.File(agent.EnvFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	got, err := agent.ReadEnvironment(state)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(e, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	want := "IDENTITY_ENDPOINT=http://127.0.0.1:8081/msi/token\nIDENTITY_HEADER=" + h1 + "\nAZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:8082\nLASTMILE_IDENTITY_SOCKET=unix:///run/x.sock\n"
	if diff := cmp.Diff(want, string(e.Format())); diff != "" {
		t.Errorf("Format (-want +got):\n%s", diff)
	}
	if string((agent.Environment{IMDSHost: "http://127.0.0.1:1"}).Format()) != "AZURE_POD_IDENTITY_AUTHORITY_HOST=http://127.0.0.1:1\n" {
		t.Error("unset variables were written")
	}
}

func TestParseEnvironment(t *testing.T) {
	got, err := agent.ParseEnvironment([]byte("# comment\n\nexport IDENTITY_ENDPOINT=http://x/msi/token\nOTHER=1\nIDENTITY_HEADER=a=b\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(agent.Environment{IdentityEndpoint: "http://x/msi/token", IdentityHeader: "a=b"}, got); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	if _, err := agent.ParseEnvironment([]byte("IDENTITY_ENDPOINT\n")); err == nil || err.Error() != "line 1: not KEY=value" {
		t.Errorf("error = %v", err)
	}
}

func FuzzParseEnvironment(f *testing.F) {
	f.Add([]byte("IDENTITY_ENDPOINT=http://127.0.0.1:1/msi/token\nIDENTITY_HEADER=x\n"))
	f.Add([]byte("export A=b\n#c\n=\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := agent.ParseEnvironment(data)
		if err != nil {
			return
		}
		// What Format writes of it parses back the same, unless a value has a newline.
		again, err := agent.ParseEnvironment(e.Format())
		if err == nil && again != e {
			for _, v := range []string{e.IdentityEndpoint, e.IdentityHeader, e.IMDSHost, e.Socket} {
				for _, c := range v {
					if c == '\n' || c == '\r' {
						return
					}
				}
			}
			t.Errorf("round trip: %+v became %+v", e, again)
		}
	})
}

package server_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/server"
)

// TestStartErrorsNameTheSetting starts lastmile with settings that the
// configuration loader once let through and the identity provider then refused
// in terms of its Go fields (Resources[0].ID, AllowInsecureIssuer): each is
// refused at its position in lastmile.yaml, named by its YAML path, and the
// state directory is not created.
func TestStartErrorsNameTheSetting(t *testing.T) {
	const fedApp = `  applications:
    - name: batch
      clientId: 3f5a1c2e-0b7d-4e8f-9a1b-2c3d4e5f6a70
      federatedCredentials:
        - issuer: https://issuer.example.com
          subject: s
        - issuer: https://issuer.example.com
          subject: s
`
	tests := []struct {
		name, yaml, want string
	}{
		{"a resource id with the scope suffix", "identity:\n  resources:\n    - id: api://orders/.default\n",
			`lastmile.yaml:3:11: identity.resources[0].id "api://orders/.default" ends in /.default`},
		{"resource ids that differ in case", "identity:\n  resources:\n    - id: api://orders\n    - id: API://Orders\n",
			`lastmile.yaml:4:11: identity.resources: "API://Orders" is the same resource as "api://orders"`},
		{"a role with a space", "identity:\n  resources:\n    - id: api://orders\n      roles: [\"Orders Read\"]\n",
			`lastmile.yaml:4:15: role of api://orders: "Orders Read" is not a role value`},
		{"an identity called System", "identity:\n  userAssignedIdentities:\n    - name: System\n",
			`lastmile.yaml:3:13: identity.userAssignedIdentities[0].name: "System" is reserved`},
		{"identity names that differ in case", "identity:\n  userAssignedIdentities:\n    - name: a\n    - name: A\n",
			`lastmile.yaml:4:13: identity.userAssignedIdentities: "A" is declared twice`},
		{"an http issuer off loopback", "listeners:\n  issuer: http://gateway.example:8081\n",
			`lastmile.yaml:2:11: listeners.issuer: "http://gateway.example:8081" uses http on a host other than loopback`},
		{"an issuer with a trailing slash", "listeners:\n  issuer: https://login.example.com/\n",
			`lastmile.yaml:2:11: listeners.issuer: "https://login.example.com/" ends with /`},
		{"a federated credential listed twice", "identity:\n" + fedApp,
			`lastmile.yaml:8:11: identity.applications[0].federatedCredentials[1]: issuer "https://issuer.example.com" and subject "s" are also those of the federated credential at line 6`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfgDir := t.TempDir()
			writeFiles(t, cfgDir, map[string]string{"lastmile.yaml": tt.yaml})
			stateDir := filepath.Join(t.TempDir(), "state")
			_, err := server.New(context.Background(), server.Options{ConfigDir: cfgDir, StateDir: stateDir,
				Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0", Expr: policies.Expressions})
			if err == nil {
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), cfgDir+string(filepath.Separator)+tt.want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, tt.want)
			}
			for _, goName := range []string{"identity provider config", "AllowInsecureIssuer", "Resources[", "UserAssigned[", "Applications["} {
				if strings.Contains(err.Error(), goName) {
					t.Errorf("the error names the Go field %s: %v", goName, err)
				}
			}
			if _, err := os.Stat(stateDir); !os.IsNotExist(err) {
				t.Errorf("the state directory was created: %v", err)
			}
		})
	}
}

// TestClientIDTakenInState declares a client id that the state directory has
// already given to another identity: the error names the identity as
// lastmile.yaml does, not by the identity provider's Go fields.
func TestClientIDTakenInState(t *testing.T) {
	cfgDir, stateDir := t.TempDir(), t.TempDir()
	writeFiles(t, cfgDir, map[string]string{"lastmile.yaml": "identity:\n  userAssignedIdentities:\n    - name: a\n"})
	opts := server.Options{ConfigDir: cfgDir, StateDir: stateDir, Listen: "127.0.0.1:0", IdentityListen: "127.0.0.1:0"}
	s, err := server.New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	generated := s.Provider().Identities()[1].ClientID
	s.Close()

	writeFiles(t, cfgDir, map[string]string{"lastmile.yaml": "identity:\n  userAssignedIdentities:\n    - name: a\n    - name: b\n      clientId: " + generated + "\n"})
	_, err = server.New(context.Background(), opts)
	want := `identity.userAssignedIdentities: the client id ` + generated + ` of "b" is already the client id of user-assigned identity "a"`
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "UserAssigned[") {
		t.Errorf("error %v, want one containing %s", err, want)
	}
}

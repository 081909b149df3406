package idp_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/lastmile-gw/lastmile/internal/idp"
)

func TestConfigErrors(t *testing.T) {
	type problem struct{ Field, Msg string } // Msg: a substring
	tests := []struct {
		name   string
		change func(*idp.Config)
		want   []problem
	}{
		{"missing issuer", func(c *idp.Config) { c.Issuer = "" },
			[]problem{{"Issuer", "is empty"}}},
		{"issuer with trailing slash", func(c *idp.Config) { c.Issuer = "https://id.example.com/" },
			[]problem{{"Issuer", "ends with /: remove it"}}},
		{"issuer with query", func(c *idp.Config) { c.Issuer = "https://id.example.com?x=1" },
			[]problem{{"Issuer", "has user info, a query or a fragment"}}},
		{"issuer not a URL", func(c *idp.Config) { c.Issuer = "http://[::1" },
			[]problem{{"Issuer", "is not a URL"}}},
		{"issuer without scheme", func(c *idp.Config) { c.Issuer = "id.example.com" },
			[]problem{{"Issuer", "scheme must be https"}}},
		{"plain http on a public host", func(c *idp.Config) { c.Issuer = "http://id.example.com" },
			[]problem{{"Issuer", "use https"}}},
		{"tenant not a GUID", func(c *idp.Config) { c.TenantID = "contoso.onmicrosoft.com" },
			[]problem{{"TenantID", "is not a GUID"}}},
		{"lifetime too short", func(c *idp.Config) { c.TokenLifetime = 30 * time.Second },
			[]problem{{"TokenLifetime", "outside 1m0s to 24h0m0s"}}},
		{"lifetime too long", func(c *idp.Config) { c.TokenLifetime = 48 * time.Hour },
			[]problem{{"TokenLifetime", "outside"}}},
		{"duplicate identity name", func(c *idp.Config) {
			c.UserAssigned = append(c.UserAssigned, idp.UserAssignedIdentity{Name: "Reports"})
		}, []problem{{"UserAssigned[2].Name", `"Reports" is also the name of UserAssigned[0]`}}},
		{"reserved identity name", func(c *idp.Config) { c.UserAssigned[0].Name = "System" },
			[]problem{{"UserAssigned[0].Name", "reserved for the system-assigned identity"},
				{`Resources[0].Assignments["reports"]`, `no identity or application is named "reports"`}}},
		{"invalid identity name", func(c *idp.Config) { c.UserAssigned[0].Name = "my identity" },
			[]problem{{"UserAssigned[0].Name", "not a valid name"},
				{`Resources[0].Assignments["reports"]`, "no identity or application is named"}}},
		{"empty identity name", func(c *idp.Config) { c.UserAssigned[0].Name = "" },
			[]problem{{"UserAssigned[0].Name", "not a valid name"},
				{`Resources[0].Assignments["reports"]`, "no identity or application is named"}}},
		{"client id not a GUID", func(c *idp.Config) { c.UserAssigned[1].ClientID = "{6b9c1a2e-1c8b-4c5e-9a3f-0d2e7f1b2c3d}" },
			[]problem{{"UserAssigned[1].ClientID", "is not a GUID"}}},
		{"duplicate client id", func(c *idp.Config) { c.UserAssigned[0].ClientID = "6b9c1a2e-1c8b-4c5e-9a3f-0d2e7f1b2c3d" },
			[]problem{{"UserAssigned[1].ClientID", "also the client id of UserAssigned[0]"}}},
		{"resource without id", func(c *idp.Config) { c.Resources[1].ID = "" },
			[]problem{{"Resources[1].ID", "is empty"}}},
		{"resource id with a space", func(c *idp.Config) { c.Resources[1].ID = "api://my api" },
			[]problem{{"Resources[1].ID", "white space"}}},
		{"resource id as a scope", func(c *idp.Config) { c.Resources[1].ID = "api://billing/.default" },
			[]problem{{"Resources[1].ID", "ends in /.default"}}},
		{"resource id only slashes", func(c *idp.Config) { c.Resources[1].ID = "//" },
			[]problem{{"Resources[1].ID", "is empty"}}},
		{"same resource twice", func(c *idp.Config) {
			c.Resources = append(c.Resources, idp.Resource{ID: "API://Orders/"})
		}, []problem{{"Resources[2].ID", `same resource as Resources[0] ("api://orders")`}}},
		{"assignment to an unknown identity", func(c *idp.Config) {
			c.Resources[0].Assignments["audit"] = []string{"Orders.Read"}
		}, []problem{{`Resources[0].Assignments["audit"]`, `no identity or application is named "audit"`}}},
		{"undeclared role", func(c *idp.Config) {
			c.Resources[0].Assignments["system"] = []string{"Orders.Reed"}
		}, []problem{{`Resources[0].Assignments["system"]`, `role "Orders.Reed" is not declared in Resources[0].Roles ("Orders.Read", "Orders.Write")`}}},
		{"role on a resource without roles", func(c *idp.Config) {
			c.Resources[1].Assignments = map[string][]string{"billing": {"Pay"}}
		}, []problem{{`Resources[1].Assignments["billing"]`, "none declared"}}},
		{"role declared twice", func(c *idp.Config) { c.Resources[0].Roles = append(c.Resources[0].Roles, "Orders.Read") },
			[]problem{{"Resources[0].Roles[2]", "declared twice"}}},
		{"empty role", func(c *idp.Config) { c.Resources[0].Roles = append(c.Resources[0].Roles, "") },
			[]problem{{"Resources[0].Roles[2]", "not a role value"}}},
		{"identity assigned twice by case", func(c *idp.Config) {
			c.Resources[0].Assignments["SYSTEM"] = []string{"Orders.Write"}
		}, []problem{{`Resources[0].Assignments["system"]`, "assigned twice"}}},
		{"several problems at once", func(c *idp.Config) {
			c.Issuer = ""
			c.TenantID = "x"
			c.Resources[0].Assignments["nobody"] = nil
		}, []problem{{"Issuer", "is empty"}, {"TenantID", "not a GUID"}, {`Resources[0].Assignments["nobody"]`, "no identity"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.1:8081")
			tt.change(&cfg)
			_, err := idp.New(context.Background(), cfg, openState(t, t.TempDir()))
			if err == nil {
				t.Fatal("New accepted the configuration")
			}
			var got []problem
			for _, ce := range configErrors(err) {
				got = append(got, problem{ce.Field, ce.Msg})
				if !strings.Contains(err.Error(), ce.Field+": "+ce.Msg) {
					t.Errorf("error text %q lacks %q", err, ce.Field+": "+ce.Msg)
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("problems:\n%v\nwant %d like\n%v", got, len(tt.want), tt.want)
			}
			for i := range got {
				if got[i].Field != tt.want[i].Field || !strings.Contains(got[i].Msg, tt.want[i].Msg) {
					t.Errorf("problem %d = %s: %s, want %s: ...%s...", i, got[i].Field, got[i].Msg, tt.want[i].Field, tt.want[i].Msg)
				}
			}
		})
	}
}

func TestConfigAccepted(t *testing.T) {
	tests := []struct {
		name   string
		change func(*idp.Config)
	}{
		{"https issuer with a path", func(c *idp.Config) { c.Issuer = "https://id.example.com/tenant-a" }},
		{"http on localhost", func(c *idp.Config) { c.Issuer = "http://localhost:8081" }},
		{"http on IPv6 loopback", func(c *idp.Config) { c.Issuer = "http://[::1]:8081" }},
		{"http on a test network when allowed", func(c *idp.Config) {
			c.Issuer, c.AllowInsecureIssuer = "http://lastmile:8081", true
		}},
		{"no identities or resources", func(c *idp.Config) { c.UserAssigned, c.Resources = nil, nil }},
		{"assignment with no roles", func(c *idp.Config) {
			c.Resources[1].Assignments = map[string][]string{"billing": nil}
		}},
		{"duplicate role in an assignment", func(c *idp.Config) {
			c.Resources[0].Assignments["system"] = []string{"Orders.Read", "Orders.Read"}
		}},
		{"lifetime at the bounds", func(c *idp.Config) { c.TokenLifetime = time.Minute }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig("http://127.0.0.1:8081")
			tt.change(&cfg)
			if _, err := idp.New(context.Background(), cfg, openState(t, t.TempDir())); err != nil {
				t.Fatalf("New: %v", err)
			}
		})
	}
}

func TestConfiguredClientIDCollidesWithGenerated(t *testing.T) {
	state := openState(t, t.TempDir())
	first := newProvider(t, testConfig("http://127.0.0.1:8081"), state)
	generated := first.Identities()[1].ClientID // "reports", generated
	cfg := testConfig("http://127.0.0.1:8081")
	cfg.UserAssigned = append(cfg.UserAssigned, idp.UserAssignedIdentity{Name: "audit", ClientID: generated})
	// A conflict with the state: named as lastmile.yaml names the identity.
	_, err := idp.New(context.Background(), cfg, state)
	want := `identity.userAssignedIdentities: the client id ` + generated + ` of "audit" is already the client id of user-assigned identity "reports"`
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Fatalf("New: %v, want %s", err, want)
	}
	cfg.UserAssigned[2].ClientID = first.SystemIdentity().ClientID
	_, err = idp.New(context.Background(), cfg, state)
	if err == nil || !strings.Contains(err.Error(), "is already the client id of the system-assigned identity") {
		t.Fatalf("New: %v, want a collision with the system-assigned identity", err)
	}
}

func TestRolesClaimDeduplicated(t *testing.T) {
	cfg := testConfig("http://127.0.0.1:8081")
	cfg.Resources[0].Assignments["system"] = []string{"Orders.Write", "Orders.Read", "Orders.Write"}
	p := newProvider(t, cfg, openState(t, t.TempDir()))
	tok, err := p.Issue(context.Background(), "", "api://orders")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"Orders.Write", "Orders.Read"}, tok.Roles); diff != "" {
		t.Errorf("roles (-want +got):\n%s", diff)
	}
}

package idp

import (
	"errors"
	"testing"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/identity"
)

// FuzzCompile feeds arbitrary configuration values to the validator: it must
// never panic, must report problems only as *ConfigError values, and an accepted
// configuration must find each resource under every spelling a request may use.
func FuzzCompile(f *testing.F) {
	f.Add("http://127.0.0.1:8081", "", "reports", "", "api://orders", "Orders.Read", "system", int64(0))
	f.Add("https://id.example.com/t", "72f988bf-86f1-41af-91ab-2d7cd011db47", "billing", "6B9C1A2E-1C8B-4C5E-9A3F-0D2E7F1B2C3D", "https://billing.example.com/", "Pay", "billing", int64(time.Hour))
	f.Add("http://[::1", "x", "system", "{}", "/.default", "", "nobody", int64(-1))
	f.Add("http://localhost:1/", "", "a b", "", "api://x y", "r r", "", int64(time.Minute))
	f.Fuzz(func(t *testing.T, issuer, tenant, name, clientID, resourceID, role, assignee string, lifetime int64) {
		cfg := Config{
			Issuer:        issuer,
			TenantID:      tenant,
			TokenLifetime: time.Duration(lifetime),
			UserAssigned:  []UserAssignedIdentity{{Name: name, ClientID: clientID}},
			Resources: []Resource{{
				ID:          resourceID,
				Roles:       []string{role},
				Assignments: map[string][]string{assignee: {role}},
			}},
		}
		c, err := compile(cfg)
		if err != nil {
			for _, e := range err.(interface{ Unwrap() []error }).Unwrap() {
				var ce *ConfigError
				if !errors.As(e, &ce) || ce.Field == "" || ce.Msg == "" {
					t.Fatalf("problem %v is not a complete *ConfigError", e)
				}
			}
			return
		}
		if c.lifetime < directory.MinTokenLifetime || c.lifetime > directory.MaxTokenLifetime {
			t.Fatalf("accepted lifetime %v", c.lifetime)
		}
		for _, spelling := range []string{resourceID, resourceID + "/", resourceID + "/.default"} {
			r := c.resources[identity.NormalizeResource(spelling)]
			if r == nil || r.id != resourceID {
				t.Fatalf("resource %q not found as %q", resourceID, spelling)
			}
		}
	})
}

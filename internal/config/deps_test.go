package config_test

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestDoesNotLinkIdentityProvider keeps the configuration loader a leaf: it
// checks lastmile.yaml with the rules of internal/directory, and must not pull
// in the identity provider, the token plumbing or the Redis client (`lastmile
// validate` and every tool that reads the file would carry them).
func TestDoesNotLinkIdentityProvider(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 10 || !slices.Contains(deps, "go.yaml.in/yaml/v4") {
		t.Fatalf("go list -deps gave an implausible list:\n%s", out)
	}
	for _, dep := range deps {
		for _, banned := range []string{
			"github.com/lastmile-gw/lastmile/internal/idp",
			"github.com/lastmile-gw/lastmile/internal/store",
			"github.com/lastmile-gw/lastmile/internal/server",
			"github.com/lastmile-gw/lastmile/internal/gateway",
			"github.com/redis/go-redis/v9",
		} {
			if dep == banned || strings.HasPrefix(dep, banned+"/") {
				t.Errorf("internal/config depends on %s", dep)
			}
		}
	}
}

package server

import (
	"strings"
	"testing"

	"github.com/lastmile-gw/lastmile/internal/config"
)

// TestDerivedIssuer: with listeners.issuer unset, the issuer is the identity
// listener's URL; on an address other than loopback that is plain http, which
// is refused in lastmile.yaml's terms unless identity.allowInsecureIssuer.
func TestDerivedIssuer(t *testing.T) {
	s := &Server{issuer: "http://10.1.2.3:8081"}
	cfg := config.Default()
	err := s.checkIssuer(cfg)
	want := `the issuer is http://<identity listener>, since listeners.issuer is unset: "http://10.1.2.3:8081" uses http on a host other than loopback: use https (set listeners.issuer to the https URL clients use)`
	if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "AllowInsecureIssuer") {
		t.Errorf("error %v, want %s", err, want)
	}
	cfg.Identity.AllowInsecureIssuer = true
	if err := s.checkIssuer(cfg); err != nil {
		t.Errorf("with identity.allowInsecureIssuer: %v", err)
	}
	cfg.Identity.AllowInsecureIssuer = false
	cfg.Listeners.Issuer = "https://login.example.com"
	if err := s.checkIssuer(cfg); err != nil {
		t.Errorf("with listeners.issuer set: %v", err)
	}
}

package config

import (
	"net"
	"slices"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// Console is the web console's settings (docs/console.md). The console is
// off unless listeners.console has an address; on a loopback address it needs
// no authentication, anywhere else it needs console.auth. In lastmile.yaml:
//
//	listeners:
//	  # The web console and its JSON API, host:port. Default "": no console.
//	  # It may serve TLS like every listener (listeners.tls, or its own).
//	  console: "127.0.0.1:9090"
//	console:
//	  # Who may call the console: a bearer token from one of these issuers,
//	  # for the audience, with the role in its roles claim. Required when
//	  # listeners.console is not a loopback address; when set, every call of
//	  # the JSON API needs such a token, on loopback too. Default: none.
//	  auth:
//	    # Tokens lastmile's own identity provider issues (to an application
//	    # of identity.applications, or a managed identity): the audience is a
//	    # resource of identity.resources that defines the role, and the
//	    # caller must be assigned it.
//	    lastmile:
//	      audience: api://lastmile-console
//	      role: Console.Admin
//	    # Tokens of another OpenID Connect issuer (Entra ID, Keycloak ...):
//	    # its keys come from <issuer>/.well-known/openid-configuration, as
//	    # validate-jwt's openid-config does. https, or http on loopback.
//	    oidc:
//	      issuer: https://login.microsoftonline.com/<tenant>/v2.0
//	      audience: api://lastmile-console
//	      role: Console.Admin
type Console struct {
	// Auth is nil when the console takes calls without authentication
	// (only on loopback).
	Auth *ConsoleAuth
}

// ConsoleAuth are the issuers whose tokens open the console; at least one is
// set.
type ConsoleAuth struct {
	// Lastmile trusts the embedded identity provider's tokens; its Issuer is
	// empty (the provider's own).
	Lastmile *ConsoleIssuer
	// OIDC trusts another issuer's tokens.
	OIDC *ConsoleIssuer
}

// ConsoleIssuer is one trusted issuer: tokens for Audience with Role in
// their roles claim.
type ConsoleIssuer struct {
	Issuer   string
	Audience string
	Role     string
}

// consoleRefs are positions for checks that need the whole file.
type consoleRefs struct {
	listener *yaml.Node
	audience *yaml.Node // console.auth.lastmile.audience
	role     *yaml.Node // console.auth.lastmile.role
}

func (d *decoder) decodeConsole(n *yaml.Node, c *Console) {
	d.mapping(n, "console", []field{
		{"auth", func(k, v *yaml.Node) {
			a := &ConsoleAuth{}
			count := len(d.errs)
			d.mapping(v, "console.auth", []field{
				{"lastmile", func(k, v *yaml.Node) {
					a.Lastmile = d.consoleIssuer(v, "console.auth.lastmile", false)
				}},
				{"oidc", func(k, v *yaml.Node) { a.OIDC = d.consoleIssuer(v, "console.auth.oidc", true) }},
			})
			if a.Lastmile == nil && a.OIDC == nil && len(d.errs) == count {
				d.errorf(resolve(v), "console.auth trusts no issuer; give it lastmile or oidc (or both), or remove it on a loopback console")
				return
			}
			c.Auth = a
		}},
	})
}

func (d *decoder) consoleIssuer(n *yaml.Node, path string, withIssuer bool) *ConsoleIssuer {
	ci := &ConsoleIssuer{}
	count := len(d.errs)
	fields := []field{
		{"audience", func(k, v *yaml.Node) {
			d.nonEmpty(path+".audience", &ci.Audience)(k, v)
			if !withIssuer {
				d.console.audience = resolve(v)
			}
		}},
		{"role", func(k, v *yaml.Node) {
			d.nonEmpty(path+".role", &ci.Role)(k, v)
			if !withIssuer {
				d.console.role = resolve(v)
			}
		}},
	}
	if withIssuer {
		fields = append(fields, field{"issuer", func(k, v *yaml.Node) {
			v = resolve(v)
			d.nonEmpty(path+".issuer", &ci.Issuer)(k, v)
			if ci.Issuer != "" {
				if msg := directory.CheckKeyURL(ci.Issuer, false); msg != "" {
					d.errorf(v, "%s: %s", path+".issuer", msg)
				}
			}
		}})
	}
	d.mapping(n, path, fields)
	if len(d.errs) > count {
		return nil
	}
	var missing []string
	for _, f := range []struct{ name, v string }{{"issuer", ci.Issuer}, {"audience", ci.Audience}, {"role", ci.Role}} {
		if f.v == "" && (withIssuer || f.name != "issuer") {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		d.errorf(resolve(n), "%s needs %s: tokens are accepted for an audience and a role", path, strings.Join(missing, " and "))
		return nil
	}
	return ci
}

// checkConsole reports a console reachable from other hosts without
// authentication, and a lastmile audience that is not a registered resource
// defining the role.
func (d *decoder) checkConsole(c *Config) {
	r := d.console
	if c.Listeners.Console != "" && c.Console.Auth == nil && !loopbackAddress(c.Listeners.Console) && r.listener != nil {
		d.errorf(r.listener, "listeners.console %q is not a loopback address, so the console needs authentication: add console.auth (docs/console.md), or listen on 127.0.0.1", c.Listeners.Console)
	}
	if c.Console.Auth == nil || c.Console.Auth.Lastmile == nil {
		return
	}
	lm := c.Console.Auth.Lastmile
	for _, res := range c.Identity.Resources {
		if strings.EqualFold(strings.TrimSuffix(res.ID, "/"), strings.TrimSuffix(lm.Audience, "/")) {
			if !slices.Contains(res.Roles, lm.Role) {
				d.errorf(r.role, "console.auth.lastmile.role %q is not a role of resource %s; add it to its roles, and assign it to who may open the console", lm.Role, res.ID)
			}
			return
		}
	}
	d.errorf(r.audience, "console.auth.lastmile.audience %q is not a resource of identity.resources; register it there with the role %s", lm.Audience, lm.Role)
}

// loopbackAddress reports whether a host:port listens on loopback only: an
// empty host or 0.0.0.0 listens everywhere.
func loopbackAddress(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	return err == nil && host != "" && directory.IsLoopbackHost(host)
}

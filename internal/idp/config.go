package idp

import (
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/identity"
)

// Config is the identity provider's part of lastmile.yaml, already parsed.
type Config struct {
	// Issuer is the iss claim of every token and the base URL of the discovery
	// document (Issuer + "/.well-known/openid-configuration"), e.g.
	// "http://127.0.0.1:8081". It has no trailing slash, query or fragment. Backends
	// compare it byte for byte, so it must not change once tokens exist.
	Issuer string
	// AllowInsecureIssuer permits an http:// issuer on a host other than loopback.
	// Without TLS, anyone on the path can replace the published keys, so this is
	// for closed test networks only.
	AllowInsecureIssuer bool
	// TenantID is the tid claim. Empty: a GUID generated on first start and kept
	// in the state directory.
	TenantID string
	// TokenLifetime is the lifetime of access tokens, from 1 minute to 24 hours.
	// Zero means DefaultTokenLifetime.
	TokenLifetime time.Duration
	// UserAssigned are the user-assigned identities, chosen by client id in
	// <authentication-managed-identity client-id="..."/>.
	UserAssigned []UserAssignedIdentity
	// Resources are the backends tokens can be issued for. Any other resource is
	// refused (deny by default).
	Resources []Resource
	// Applications are the registered applications (confidential clients) that
	// get tokens from the token endpoint with grant_type=client_credentials.
	Applications []Application
	// Keys is the signing key rotation schedule.
	Keys KeySchedule
}

// DefaultTokenLifetime is the token lifetime when Config.TokenLifetime is zero
// (see directory.DefaultTokenLifetime).
const DefaultTokenLifetime = directory.DefaultTokenLifetime

// UserAssignedIdentity declares a user-assigned managed identity.
type UserAssignedIdentity struct {
	// Name identifies the identity in Resource.Assignments and in state. 1 to 128
	// letters, digits, '.', '_' or '-', starting with a letter or digit; "system"
	// is reserved for the system-assigned identity.
	Name string
	// ClientID is the identity's client id, a GUID. Empty: generated on first
	// start and kept in the state directory.
	ClientID string
}

// Resource is a backend that accepts lastmile's tokens.
type Resource struct {
	// ID is the resource as policies name it and as tokens carry it in aud,
	// exactly as written here (e.g. "api://orders" or "https://orders.example.com/").
	// Requests match it ignoring a trailing "/.default", a trailing "/" and ASCII case.
	ID string
	// Roles are the app roles the resource defines.
	Roles []string
	// Assignments gives identities roles on this resource: the key is "system" for
	// the system-assigned identity or a user-assigned identity's Name; the roles
	// must be declared in Roles. Every identity can get a token for a registered
	// resource; only assigned roles appear in its roles claim. Applications are
	// assigned roles by their Name in the same way.
	Assignments map[string][]string
	// TokenProfile is the shape of the resource's tokens: ProfileNative (the
	// default) or an Entra-compatible profile, for software built to accept
	// Entra tokens.
	TokenProfile TokenProfile
	// SigningAlgorithm is AlgES256 (the default) or AlgRS256, for consumers that
	// take only RSA (Entra workload identity federation, older libraries).
	SigningAlgorithm string
}

// TokenProfile is the shape of a resource's access tokens.
type TokenProfile string

// Token profiles.
const (
	// ProfileNative is RFC 9068 (typ at+jwt, iss the issuer URL, client_id, jti)
	// with Entra's appid, azp, oid, tid and roles alongside.
	ProfileNative TokenProfile = "native"
	// ProfileEntraV1 is Entra's v1.0 access token: typ JWT, iss
	// https://sts.windows.net/{tid}/, ver 1.0, appid, appidacr, idtyp app, uti.
	ProfileEntraV1 TokenProfile = "entra-v1"
	// ProfileEntraV2 is Entra's v2.0 access token: typ JWT, iss
	// https://login.microsoftonline.com/{tid}/v2.0, ver 2.0, azp, azpacr, idtyp
	// app, uti.
	ProfileEntraV2 TokenProfile = "entra-v2"
)

// SystemName is the name of the system-assigned identity in Resource.Assignments
// and Identity.Name.
const SystemName = "system"

// ConfigError is one problem in a Config. New returns all of them joined (see
// errors.Join); the configuration loader can take them apart to add file positions.
type ConfigError struct {
	// Field is the path of the offending value in Config, e.g.
	// "UserAssigned[1].ClientID" or `Resources[0].Assignments["billing"]`.
	Field string
	// Msg says what is wrong and what to do.
	Msg string
}

// Error returns the field and the message.
func (e *ConfigError) Error() string { return "identity provider config: " + e.Field + ": " + e.Msg }

// compiled is a validated Config.
type compiled struct {
	issuer              string
	issuerURL           *url.URL
	allowInsecureIssuer bool
	tenantID            string // canonical, or "" to use the persisted one
	lifetime            time.Duration
	users               []UserAssignedIdentity // ClientID canonical or ""
	resources           map[string]*resource   // by identity.NormalizeResource(ID)
	apps                []*application         // ClientID canonical; object ids filled from state
	schedule            KeySchedule
	algorithms          []string   // signing algorithms resources use
	declared            []Resource // the resources as configured, for Provider.Resources
}

type resource struct {
	id      string
	roles   map[string][]string // identity or application name -> roles claim
	profile TokenProfile
	alg     string
}

func compile(cfg Config) (*compiled, error) {
	var errs []error
	bad := func(field, format string, args ...any) {
		errs = append(errs, &ConfigError{Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	c := &compiled{lifetime: cfg.TokenLifetime, resources: make(map[string]*resource), allowInsecureIssuer: cfg.AllowInsecureIssuer,
		declared: slices.Clone(cfg.Resources)}

	// Issuer.
	c.issuer = cfg.Issuer
	if msg := directory.CheckIssuer(cfg.Issuer, cfg.AllowInsecureIssuer); msg != "" {
		bad("Issuer", "%s", msg)
	} else {
		c.issuerURL, _ = url.Parse(cfg.Issuer)
	}

	if cfg.TenantID != "" {
		tid, ok := directory.CanonicalGUID(cfg.TenantID)
		if !ok {
			bad("TenantID", "%q is not a GUID (like 72f988bf-86f1-41af-91ab-2d7cd011db47); leave it empty to have one generated", cfg.TenantID)
		}
		c.tenantID = tid
	}

	switch {
	case c.lifetime == 0:
		c.lifetime = DefaultTokenLifetime
	case c.lifetime < directory.MinTokenLifetime || c.lifetime > directory.MaxTokenLifetime:
		bad("TokenLifetime", "%s is outside %s to %s", c.lifetime, directory.MinTokenLifetime, directory.MaxTokenLifetime)
	}

	// User-assigned identities.
	names := map[string]string{}   // lower-case name -> name, of identities and applications
	clients := map[string]string{} // canonical client id -> field that has it
	for i, u := range cfg.UserAssigned {
		field := fmt.Sprintf("UserAssigned[%d]", i)
		switch lower := strings.ToLower(u.Name); {
		case directory.CheckName(u.Name) != "":
			bad(field+".Name", "%s", directory.CheckName(u.Name))
		case lower == SystemName:
			bad(field+".Name", "%q is reserved for the system-assigned identity; choose another name", u.Name)
		default:
			if _, dup := names[lower]; dup {
				bad(field+".Name", "%q is also the name of %s; names must be unique", u.Name, nameOwner(cfg, lower))
			} else {
				names[lower] = u.Name
			}
		}
		if u.ClientID != "" {
			cid, ok := directory.CanonicalGUID(u.ClientID)
			if !ok {
				bad(field+".ClientID", "%q is not a GUID; leave it empty to have one generated", u.ClientID)
			} else if prev, dup := clients[cid]; dup {
				bad(field+".ClientID", "%s is also the client id of %s; client ids must be unique", cid, prev)
			} else {
				clients[cid] = field
			}
			u.ClientID = cid
		}
		c.users = append(c.users, u)
	}

	// Applications share the namespace of assignment names with identities.
	c.compileApplications(cfg, names, clients, bad)
	c.compileSchedule(cfg.Keys, bad)

	// Resources.
	algs := map[string]bool{AlgES256: true}
	ids := map[string]int{} // normalized id -> index
	for i, r := range cfg.Resources {
		field := fmt.Sprintf("Resources[%d]", i)
		key := identity.NormalizeResource(r.ID)
		if msg := directory.CheckResourceID(r.ID); msg != "" {
			bad(field+".ID", "%s", msg)
			continue
		}
		if j, dup := ids[key]; dup {
			bad(field+".ID", "%q names the same resource as Resources[%d] (%q): resources match ignoring case and a trailing /", r.ID, j, cfg.Resources[j].ID)
			continue
		}
		ids[key] = i

		declared := map[string]bool{}
		for j, role := range r.Roles {
			switch {
			case directory.CheckRole(role) != "":
				bad(fmt.Sprintf("%s.Roles[%d]", field, j), "%s", directory.CheckRole(role))
			case declared[role]:
				bad(fmt.Sprintf("%s.Roles[%d]", field, j), "role %q is declared twice", role)
			}
			declared[role] = true
		}

		res := &resource{id: r.ID, roles: map[string][]string{}, profile: r.TokenProfile, alg: r.SigningAlgorithm}
		switch res.profile {
		case "":
			res.profile = ProfileNative
		case ProfileNative, ProfileEntraV1, ProfileEntraV2:
		default:
			bad(field+".TokenProfile", "%q is not a token profile: use %q, %q or %q", r.TokenProfile, ProfileNative, ProfileEntraV1, ProfileEntraV2)
		}
		switch res.alg {
		case "":
			res.alg = AlgES256
		case AlgES256, AlgRS256:
		default:
			bad(field+".SigningAlgorithm", "%q is not a signing algorithm lastmile signs with: use %s (the default) or %s", r.SigningAlgorithm, AlgES256, AlgRS256)
		}
		algs[res.alg] = true
		for _, who := range slices.Sorted(maps.Keys(r.Assignments)) {
			afield := fmt.Sprintf("%s.Assignments[%q]", field, who)
			name := who
			if strings.EqualFold(who, SystemName) {
				name = SystemName
			} else if n, ok := names[strings.ToLower(who)]; ok {
				name = n
			} else {
				bad(afield, "no identity or application is named %q: use %q for the system-assigned identity, or the name of a user-assigned identity or an application", who, SystemName)
				continue
			}
			var roles []string
			for _, role := range r.Assignments[who] {
				if !declared[role] {
					bad(afield, "role %q is not declared in Resources[%d].Roles (%s); declare it or fix the spelling", role, i, quoteList(r.Roles))
					continue
				}
				if !slices.Contains(roles, role) {
					roles = append(roles, role)
				}
			}
			if prev, ok := res.roles[name]; ok {
				bad(afield, "identity %q is assigned twice (names are not case-sensitive)", name)
				roles = append(prev, roles...)
			}
			if len(roles) > 0 {
				res.roles[name] = roles
			}
		}
		c.resources[key] = res
	}
	for _, a := range []string{AlgES256, AlgRS256} {
		if algs[a] {
			c.algorithms = append(c.algorithms, a)
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	return c, nil
}

func quoteList(ss []string) string {
	if len(ss) == 0 {
		return "none declared"
	}
	q := make([]string, len(ss))
	for i, s := range ss {
		q[i] = fmt.Sprintf("%q", s)
	}
	return strings.Join(q, ", ")
}

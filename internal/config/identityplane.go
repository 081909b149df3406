package config

// The identity plane's settings for local workloads and for the gateway's own
// tokens: where tokens come from (identity.sources), the managed identity
// endpoints that local workloads call (identity.managedIdentityEndpoints), and the
// registration entries that give attested callers their identities
// (identity.workloads). Every key is optional:
//
//	identity:
//	  # The token sources the gateway gets its tokens from, tried in order. A
//	  # source that is not available here (azure outside Azure) passes to the next;
//	  # the first that answers is kept. Default: [{type: embedded}].
//	  sources:
//	    - type: embedded          # the embedded identity provider, in process
//	    - type: lastmile          # another lastmile's managed identity endpoint
//	      # unix:///path/to/socket (attested, no secret) or the App Service
//	      # endpoint http://127.0.0.1:PORT/msi/token (loopback only).
//	      endpoint: unix:///run/lastmile/identity.sock
//	      # For an http endpoint: the environment variable that holds its
//	      # IDENTITY_HEADER (never the value itself).
//	      headerEnv: LASTMILE_IDENTITY_HEADER
//	    - type: azure             # Azure managed identity through azidentity (IMDS,
//	                              # App Service, Arc, Cloud Shell, Service Fabric);
//	                              # authentication-provider="WorkloadIdentity" uses
//	                              # Entra workload identity (AZURE_FEDERATED_TOKEN_FILE)
//	    - type: workloadIdentity  # workload identity federation with any OIDC provider
//	      tokenEndpoint: https://login.example.com/tenant/oauth2/v2.0/token # https, or http on loopback
//	      clientId: 0b6f1c1e-2a7d-4c1e-9b1f-5d7f6c0e9a11 # the application the token file is federated to
//	      tokenFile: /var/run/secrets/tokens/identity-token # the federated token, re-read when it changes
//	      # How the resource is named in the token request: scope (scope=<resource>/.default,
//	      # Entra v2), resource (Entra v1) or audience. Default scope.
//	      audienceParameter: scope
//	  managedIdentityEndpoints:
//	    # The App Service protocol (IDENTITY_ENDPOINT, IDENTITY_HEADER) at /msi/token
//	    # on the identity listener, for loopback callers. Default true.
//	    appService: true
//	    # The IMDS protocol (/metadata/identity/oauth2/token) on its own loopback
//	    # address, for SDKs that honour AZURE_POD_IDENTITY_AUTHORITY_HOST. Default "": off.
//	    imds:
//	      listen: "127.0.0.1:8082"
//	    # The attested Unix socket: callers are identified by their peer credentials
//	    # and get only the identities their registration entries give them.
//	    # An absolute path. Default "": off.
//	    socket: /run/lastmile/identity.sock
//	    # Who may use the loopback TCP endpoints: any (every local process that
//	    # knows IDENTITY_HEADER or sends Metadata: true gets every identity, as on
//	    # an Azure VM) or attested (the caller is identified through /proc and
//	    # needs a registration entry, as on the socket). Default any.
//	    tcpCallers: any
//	    # Per-caller limits, as Azure's: requests per second and requests at once.
//	    rateLimit:
//	      requestsPerSecond: 20
//	      concurrent: 5
//	  # Registration entries for attested callers: a caller that matches every
//	  # selector of an entry may use the entry's identities. Callers that match no
//	  # entry are refused (deny by default). Default none.
//	  workloads:
//	    - name: billing-worker    # required, unique
//	      uid: 1000               # selectors: at least one of uid, gid, path, sha256
//	      gid: 1000
//	      path: /usr/local/bin/billing-worker   # the executable, /proc/<pid>/exe
//	      sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08
//	      identities: [system, reporting]       # "system" or user-assigned names

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v4"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// Token source types accepted in identity.sources[].type.
const (
	SourceEmbedded         = "embedded"
	SourceLastmile         = "lastmile"
	SourceAzure            = "azure"
	SourceWorkloadIdentity = "workloadIdentity"
)

// Values of identity.managedIdentityEndpoints.tcpCallers.
const (
	CallersAny      = "any"
	CallersAttested = "attested"
)

// Audience parameters of a workloadIdentity source.
const (
	AudienceScope    = "scope"
	AudienceResource = "resource"
	AudienceAudience = "audience"
)

// Defaults of the identity plane's optional settings. Zero values in the structs
// below mean these.
const (
	DefaultRateLimitPerSecond  = 20
	DefaultRateLimitConcurrent = 5
	DefaultAudienceParameter   = AudienceScope
)

// TokenSource is one entry of identity.sources: where the gateway gets tokens.
type TokenSource struct {
	// Type is SourceEmbedded, SourceLastmile, SourceAzure or SourceWorkloadIdentity.
	Type string
	// Endpoint (lastmile): "unix:///path" or an http://loopback URL.
	Endpoint string
	// HeaderEnv (lastmile, http endpoint): the variable holding IDENTITY_HEADER.
	HeaderEnv string
	// TokenEndpoint, ClientID, TokenFile and AudienceParameter (workloadIdentity).
	// TokenFile is absolute (relative paths start from the folder of lastmile.yaml);
	// ClientID is kept as written; AudienceParameter is AudienceScope,
	// AudienceResource or AudienceAudience.
	TokenEndpoint     string
	ClientID          string
	TokenFile         string
	AudienceParameter string
}

// ManagedIdentityEndpoints configures the endpoints local workloads get tokens from.
type ManagedIdentityEndpoints struct {
	// AppService serves the App Service protocol at AppServicePath on the identity
	// listener.
	AppService bool
	// IMDSListen is imds.listen, a loopback host:port; "" is off.
	IMDSListen string
	// Socket is the attested socket's absolute path; "" is off.
	Socket string
	// TCPCallers is CallersAny or CallersAttested.
	TCPCallers string
	RateLimit  RateLimit
}

// AppServicePath is where the App Service protocol is served on the identity
// listener, as IDENTITY_ENDPOINT names it.
const AppServicePath = "/msi/token"

// RateLimit bounds each caller of the managed identity endpoints.
type RateLimit struct {
	RequestsPerSecond int
	Concurrent        int
}

// Workload is a registration entry: the selectors an attested caller must match,
// and the identities it may then use.
type Workload struct {
	Name string
	// UID and GID are nil when the entry does not select on them.
	UID, GID *uint32
	// Path is the executable's absolute path; "" when not selected on.
	Path string
	// SHA256 is the executable's digest in lower-case hex; "" when not selected on.
	SHA256 string
	// Identities are SystemIdentity or user-assigned identity names.
	Identities []string
}

// defaultIdentityPlane fills the identity plane's defaults into id.
func defaultIdentityPlane(id *Identity) {
	id.Sources = []TokenSource{{Type: SourceEmbedded}}
	id.Endpoints = ManagedIdentityEndpoints{
		AppService: true,
		TCPCallers: CallersAny,
		RateLimit:  RateLimit{RequestsPerSecond: DefaultRateLimitPerSecond, Concurrent: DefaultRateLimitConcurrent},
	}
}

// identityPlaneRefs keeps nodes for the checks that need the whole file.
type identityPlaneRefs struct {
	workloadNames      []*yaml.Node
	workloadIdentities []strList
}

// maxSocketPath is the longest Unix socket path Linux accepts (sun_path less the NUL).
const maxSocketPath = 107

// validSHA256 reports whether s is a SHA-256 digest in hex: 64 hex digits.
func validSHA256(s string) bool {
	if len(s) != 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

func (d *decoder) decodeSources(n *yaml.Node, id *Identity) {
	seen := map[string]*yaml.Node{}
	if n = resolve(n); isNull(n) {
		return // sources: with no value keeps the default chain
	}
	id.Sources = nil // a listed chain replaces the default
	if n.Kind == yaml.SequenceNode && len(n.Content) == 0 {
		d.errorf(n, "identity.sources lists no source; remove the key to use the default chain [embedded]")
	}
	d.sequence(n, "identity.sources", func(i int, item *yaml.Node) {
		path := fmt.Sprintf("identity.sources[%d]", i)
		if isNull(item) {
			d.errorf(item, "%s is empty; write type: embedded, lastmile, azure or workloadIdentity", path)
			return
		}
		if item.Kind == yaml.ScalarNode {
			// A bare type name, as in sources: [embedded, azure].
			item = &yaml.Node{Kind: yaml.MappingNode, Line: item.Line, Column: item.Column, Content: []*yaml.Node{
				{Kind: yaml.ScalarNode, Tag: "!!str", Value: "type", Line: item.Line, Column: item.Column}, item,
			}}
		}
		s := TokenSource{}
		var typeNode *yaml.Node
		var fields []field
		typ := ""
		if item.Kind == yaml.MappingNode {
			for j := 0; j+1 < len(item.Content); j += 2 {
				if k := resolve(item.Content[j]); k.Kind == yaml.ScalarNode && k.Value == "type" {
					typeNode = resolve(item.Content[j+1])
					typ = typeNode.Value
				}
			}
		}
		fields = append(fields, field{"type", func(k, v *yaml.Node) {}})
		switch typ {
		case SourceEmbedded, SourceAzure:
		case SourceLastmile:
			fields = append(fields,
				field{"endpoint", func(k, v *yaml.Node) { d.lastmileEndpoint(resolve(v), path, &s) }},
				field{"headerEnv", d.envName(path+".headerEnv", &s.HeaderEnv)},
			)
		case SourceWorkloadIdentity:
			s.AudienceParameter = DefaultAudienceParameter
			fields = append(fields,
				field{"tokenEndpoint", func(k, v *yaml.Node) { d.tokenEndpoint(resolve(v), path, &s) }},
				field{"clientId", d.nonEmpty(path+".clientId", &s.ClientID)},
				field{"tokenFile", func(k, v *yaml.Node) {
					v = resolve(v)
					if p, ok := d.scalar(v, path+".tokenFile", "a file path"); ok && strings.TrimSpace(p) != "" {
						if !filepath.IsAbs(p) {
							p = filepath.Join(d.dir, p)
						}
						if abs, err := filepath.Abs(p); err == nil {
							p = abs
						}
						s.TokenFile = p
					}
				}},
				field{"audienceParameter", func(k, v *yaml.Node) {
					v = resolve(v)
					a, ok := d.scalar(v, path+".audienceParameter", "scope, resource or audience")
					if !ok {
						return
					}
					if a != AudienceScope && a != AudienceResource && a != AudienceAudience {
						d.errorf(v, "%s.audienceParameter: %q is not scope, resource or audience", path, a)
						return
					}
					s.AudienceParameter = a
				}},
			)
		}
		if typeNode == nil || isNull(typeNode) {
			if item.Kind == yaml.MappingNode {
				d.errorf(item, "%s has no type; add type: embedded, lastmile, azure or workloadIdentity", path)
			} else {
				d.errorf(item, "%s must be a mapping with a type, or a type name, not %s", path, kindName(item))
			}
			return
		}
		switch typ {
		case SourceEmbedded, SourceLastmile, SourceAzure, SourceWorkloadIdentity:
		default:
			hint := ""
			if best, ok := nearest(typ, []string{SourceEmbedded, SourceLastmile, SourceAzure, SourceWorkloadIdentity}); ok {
				hint = fmt.Sprintf("did you mean %q? ", best)
			}
			d.errorf(typeNode, "%s.type: unknown token source %q; %suse embedded, lastmile, azure or workloadIdentity", path, typ, hint)
			return
		}
		s.Type = typ
		before := len(d.errs)
		d.mapping(item, path, fields)
		if len(d.errs) > before {
			return
		}
		if prev, ok := seen[typ]; ok {
			d.errorf(typeNode, "%s: a %s source is already listed at line %d; each type appears once in the chain", path, typ, prev.Line)
			return
		}
		seen[typ] = typeNode
		switch typ {
		case SourceLastmile:
			if s.Endpoint == "" {
				d.errorf(item, "%s: a lastmile source needs endpoint: unix:///path/to/socket or http://127.0.0.1:PORT/msi/token", path)
				return
			}
			if strings.HasPrefix(s.Endpoint, "http") && s.HeaderEnv == "" {
				d.errorf(item, "%s: an http endpoint needs headerEnv, the environment variable that holds the other lastmile's IDENTITY_HEADER (lastmile identity env prints it)", path)
				return
			}
		case SourceWorkloadIdentity:
			var missing []string
			if s.TokenEndpoint == "" {
				missing = append(missing, "tokenEndpoint")
			}
			if s.ClientID == "" {
				missing = append(missing, "clientId")
			}
			if s.TokenFile == "" {
				missing = append(missing, "tokenFile")
			}
			if len(missing) > 0 {
				d.errorf(item, "%s: a workloadIdentity source needs %s", path, strings.Join(missing, ", "))
				return
			}
		}
		id.Sources = append(id.Sources, s)
	})
}

func (d *decoder) envName(path string, dst *string) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		v = resolve(v)
		e, ok := d.scalar(v, path, "the name of an environment variable")
		if !ok || e == "" {
			return
		}
		if !envNamePattern.MatchString(e) {
			d.errorf(v, "%s: %q is not an environment variable name; write the variable's name, never the secret itself", path, e)
			return
		}
		*dst = e
	}
}

func (d *decoder) lastmileEndpoint(v *yaml.Node, path string, s *TokenSource) {
	e, ok := d.scalar(v, path+".endpoint", "a URL")
	if !ok || e == "" {
		return
	}
	u, err := url.Parse(e)
	switch {
	case err != nil:
		d.errorf(v, "%s.endpoint: %q is not a URL; write unix:///path/to/socket or http://127.0.0.1:PORT/msi/token", path, e)
	case u.Scheme == "unix":
		p := u.Path
		if u.Host != "" || !filepath.IsAbs(p) {
			d.errorf(v, "%s.endpoint: %q: write a socket as unix:///absolute/path (three slashes)", path, e)
			return
		}
		if len(p) > maxSocketPath {
			d.errorf(v, "%s.endpoint: the socket path is %d bytes, more than the %d Linux allows", path, len(p), maxSocketPath)
			return
		}
		s.Endpoint = e
	case u.Scheme == "http":
		if !directory.IsLoopbackHost(u.Hostname()) {
			d.errorf(v, "%s.endpoint: %q is not on loopback; the App Service protocol sends its secret in clear text, so it is only served on loopback: use the other lastmile's socket for anything else", path, e)
			return
		}
		if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			d.errorf(v, "%s.endpoint: %q has a query, fragment or user info; write the endpoint's URL only", path, e)
			return
		}
		s.Endpoint = e
	default:
		d.errorf(v, "%s.endpoint: %q: use unix:///path/to/socket or http://127.0.0.1:PORT/msi/token", path, e)
	}
}

func (d *decoder) tokenEndpoint(v *yaml.Node, path string, s *TokenSource) {
	e, ok := d.scalar(v, path+".tokenEndpoint", "a URL")
	if !ok || e == "" {
		return
	}
	u, err := url.Parse(e)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		d.errorf(v, "%s.tokenEndpoint: %q is not an https URL; write the identity provider's token endpoint, such as https://login.microsoftonline.com/<tenant>/oauth2/v2.0/token", path, e)
	case u.Scheme == "http" && !directory.IsLoopbackHost(u.Hostname()):
		d.errorf(v, "%s.tokenEndpoint: %q uses http on a host other than loopback; use https, since the request carries a client assertion", path, e)
	case u.Fragment != "" || u.User != nil:
		d.errorf(v, "%s.tokenEndpoint: %q has a fragment or user info; remove it", path, e)
	default:
		s.TokenEndpoint = e
	}
}

func (d *decoder) decodeEndpoints(n *yaml.Node, e *ManagedIdentityEndpoints) {
	const p = "identity.managedIdentityEndpoints"
	d.mapping(n, p, []field{
		{"appService", d.boolean(p+".appService", &e.AppService)},
		{"imds", func(k, v *yaml.Node) {
			d.mapping(v, p+".imds", []field{
				{"listen", func(k, v *yaml.Node) {
					v = resolve(v)
					s, ok := d.scalar(v, p+".imds.listen", "a loopback host:port address")
					if !ok || s == "" {
						return
					}
					host, _, err := net.SplitHostPort(s)
					if cerr := checkHostPort(s); err != nil || cerr != nil {
						d.errorf(v, "%s.imds.listen: %q is not host:port; write a loopback address such as \"127.0.0.1:8082\" (quoted)", p, s)
						return
					}
					if !directory.IsLoopbackHost(host) {
						d.errorf(v, "%s.imds.listen: %q is not a loopback address; the IMDS protocol has no secret, so it is only served on loopback (such as 127.0.0.1:8082)", p, s)
						return
					}
					e.IMDSListen = s
				}},
			})
		}},
		{"socket", func(k, v *yaml.Node) {
			v = resolve(v)
			s, ok := d.scalar(v, p+".socket", "an absolute path")
			if !ok || s == "" {
				return
			}
			switch {
			case !filepath.IsAbs(s):
				d.errorf(v, "%s.socket: %q is not an absolute path; write one such as /run/lastmile/identity.sock", p, s)
			case len(s) > maxSocketPath:
				d.errorf(v, "%s.socket: the path is %d bytes, more than the %d Linux allows for a socket; choose a shorter one", p, len(s), maxSocketPath)
			default:
				e.Socket = filepath.Clean(s)
			}
		}},
		{"tcpCallers", func(k, v *yaml.Node) {
			v = resolve(v)
			s, ok := d.scalar(v, p+".tcpCallers", "any or attested")
			if !ok {
				return
			}
			if s != CallersAny && s != CallersAttested {
				d.errorf(v, "%s.tcpCallers: %q is not any or attested", p, s)
				return
			}
			e.TCPCallers = s
		}},
		{"rateLimit", func(k, v *yaml.Node) {
			d.mapping(v, p+".rateLimit", []field{
				{"requestsPerSecond", d.integer(p+".rateLimit.requestsPerSecond", &e.RateLimit.RequestsPerSecond, 1, 100000)},
				{"concurrent", d.integer(p+".rateLimit.concurrent", &e.RateLimit.Concurrent, 1, 10000)},
			})
		}},
	})
}

func (d *decoder) decodeWorkloads(n *yaml.Node, id *Identity) {
	d.sequence(n, "identity.workloads", func(i int, item *yaml.Node) {
		path := fmt.Sprintf("identity.workloads[%d]", i)
		if isNull(item) {
			d.errorf(item, "%s is empty; give it a name, selectors and identities", path)
			return
		}
		var w Workload
		var nameNode *yaml.Node
		var ids strList
		idNode := (*yaml.Node)(nil)
		id32 := func(field string, dst **uint32) func(k, v *yaml.Node) {
			return func(k, v *yaml.Node) {
				n := -1
				d.integer(path+"."+field, &n, 0, 1<<32-1)(k, v)
				if n >= 0 {
					u := uint32(n)
					*dst = &u
				}
			}
		}
		before := len(d.errs)
		d.mapping(item, path, []field{
			{"name", func(k, v *yaml.Node) {
				v = resolve(v)
				if s, ok := d.scalar(v, path+".name", "a string"); ok {
					if msg := directory.CheckName(s); msg != "" {
						d.errorf(v, "%s.name: %s", path, msg)
						return
					}
					w.Name, nameNode = s, v
				}
			}},
			{"uid", id32("uid", &w.UID)},
			{"gid", id32("gid", &w.GID)},
			{"path", func(k, v *yaml.Node) {
				v = resolve(v)
				s, ok := d.scalar(v, path+".path", "an absolute path")
				if !ok || s == "" {
					return
				}
				if !filepath.IsAbs(s) || filepath.Clean(s) != s {
					d.errorf(v, "%s.path: %q is not a clean absolute path; write the executable's path as /proc/<pid>/exe shows it, such as /usr/local/bin/worker", path, s)
					return
				}
				w.Path = s
			}},
			{"sha256", func(k, v *yaml.Node) {
				v = resolve(v)
				s, ok := d.scalar(v, path+".sha256", "a hex SHA-256 digest")
				if !ok || s == "" {
					return
				}
				if !validSHA256(s) {
					d.errorf(v, "%s.sha256: %q is not a SHA-256 digest; write 64 hex digits, as sha256sum prints them", path, s)
					return
				}
				w.SHA256 = strings.ToLower(s)
			}},
			{"identities", func(k, v *yaml.Node) {
				idNode = resolve(v)
				ids = d.strings(v, path+".identities")
				w.Identities = ids.vals
			}},
		})
		if item.Kind != yaml.MappingNode || len(d.errs) > before {
			return
		}
		switch {
		case nameNode == nil:
			d.errorf(item, "%s has no name; add name: <workload name>", path)
		case w.UID == nil && w.GID == nil && w.Path == "" && w.SHA256 == "":
			d.errorf(nameNode, "%s (%s) has no selector, so it would match every caller; add uid, gid, path or sha256", path, w.Name)
		case len(w.Identities) == 0:
			at := item
			if idNode != nil {
				at = idNode
			}
			d.errorf(at, "%s (%s) gives no identities; add identities: [system] or user-assigned identity names", path, w.Name)
		default:
			id.Workloads = append(id.Workloads, w)
			d.plane.workloadNames = append(d.plane.workloadNames, nameNode)
			d.plane.workloadIdentities = append(d.plane.workloadIdentities, ids)
		}
	})
}

// checkIdentityPlane reports what needs the whole file: duplicate workload names,
// identities that do not exist, and settings that need one another.
func (d *decoder) checkIdentityPlane(c *Config) {
	known := []string{SystemIdentity}
	for _, u := range c.Identity.UserAssignedIdentities {
		known = append(known, u.Name)
	}
	names := map[string]*yaml.Node{}
	for i, w := range c.Identity.Workloads {
		n := d.plane.workloadNames[i]
		if prev, ok := names[strings.ToLower(w.Name)]; ok {
			d.errorf(n, "identity.workloads: %q is declared twice (first at line %d; names are not case-sensitive); workload names must be unique", w.Name, prev.Line)
		} else {
			names[strings.ToLower(w.Name)] = n
		}
		ids := d.plane.workloadIdentities[i]
		for j, name := range ids.vals {
			if slices.ContainsFunc(known, func(k string) bool { return strings.EqualFold(k, name) }) {
				continue
			}
			hint := ""
			if best, ok := nearest(name, known); ok {
				hint = fmt.Sprintf("did you mean %q? ", best)
			}
			d.errorf(ids.nodes[j], "identities of workload %s: unknown identity %q; %suse %q or a name declared under identity.userAssignedIdentities", w.Name, name, hint, SystemIdentity)
		}
	}
}

// marshalIdentityPlane returns the identity plane's keys for Marshal, defaults
// written out.
func marshalIdentityPlane(id *Identity) []any {
	sources := seqOf(len(id.Sources), func(i int) *yaml.Node {
		s := id.Sources[i]
		switch s.Type {
		case SourceLastmile:
			return mapNode("type", str(s.Type), "endpoint", str(s.Endpoint), "headerEnv", str(s.HeaderEnv))
		case SourceWorkloadIdentity:
			return mapNode("type", str(s.Type), "tokenEndpoint", str(s.TokenEndpoint), "clientId", str(s.ClientID),
				"tokenFile", str(s.TokenFile), "audienceParameter", str(s.AudienceParameter))
		default:
			return mapNode("type", str(s.Type))
		}
	})
	e := id.Endpoints
	lim := e.RateLimit
	intNode := func(n int) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(n)} }
	endpoints := mapNode(
		"appService", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(e.AppService)},
		"imds", mapNode("listen", str(e.IMDSListen)),
		"socket", str(e.Socket),
		"tcpCallers", str(e.TCPCallers),
		"rateLimit", mapNode("requestsPerSecond", intNode(lim.RequestsPerSecond), "concurrent", intNode(lim.Concurrent)),
	)
	workloads := seqOf(len(id.Workloads), func(i int) *yaml.Node {
		w := id.Workloads[i]
		n := mapNode("name", str(w.Name))
		if w.UID != nil {
			n.Content = append(n.Content, str("uid"), intNode(int(*w.UID)))
		}
		if w.GID != nil {
			n.Content = append(n.Content, str("gid"), intNode(int(*w.GID)))
		}
		if w.Path != "" {
			n.Content = append(n.Content, str("path"), str(w.Path))
		}
		if w.SHA256 != "" {
			n.Content = append(n.Content, str("sha256"), str(w.SHA256))
		}
		n.Content = append(n.Content, str("identities"), flowStrings(w.Identities))
		return n
	})
	return []any{"sources", sources, "managedIdentityEndpoints", endpoints, "workloads", workloads}
}

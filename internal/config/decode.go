package config

import (
	"bytes"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/identity"
	"github.com/lastmile-gw/lastmile/internal/spelling"
	"github.com/lastmile-gw/lastmile/internal/srcpos"
)

// decoder walks the yaml.Node tree of lastmile.yaml by hand, so that every problem
// carries the position of the node it is about, and collects all of them.
type decoder struct {
	file      string
	dir       string
	lookupEnv func(string) (string, bool)
	errs      ErrorList
	// check: the file is checked without the environment's secrets
	// (LoadForCheck), so an unset variable is one of warns, not an error.
	check     bool
	warns     ErrorList
	refs      refs
	plane     identityPlaneRefs
	tokens    tokenServiceRefs
	storeKeys storeKeyRefs
	console   consoleRefs
}

func (d *decoder) errorf(n *yaml.Node, format string, args ...any) {
	d.errs = append(d.errs, d.problem(n, format, args...))
}

// problem is an error at n.
func (d *decoder) problem(n *yaml.Node, format string, args ...any) *Error {
	e := &Error{File: d.file, Msg: fmt.Sprintf(format, args...)}
	if n != nil {
		e.Pos = srcpos.Pos{Line: n.Line, Col: n.Column}
	}
	return e
}

// unsetEnv reports an environment variable that the file names and the
// environment does not set. It is an error, except for a check without the
// secrets, where it is a warning and the check goes on without the value: it
// reports whether it does.
func (d *decoder) unsetEnv(n *yaml.Node, format string, args ...any) bool {
	e := d.problem(n, format, args...)
	if !d.check {
		d.errs = append(d.errs, e)
		return false
	}
	e.Msg += " (serve needs it; what needs its value is not checked)"
	d.warns = append(d.warns, e)
	return true
}

func (d *decoder) decodeFile(src []byte, c *Config) {
	dec := yaml.NewDecoder(bytes.NewReader(src))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return // empty file: all defaults
		}
		d.syntaxError(err, src)
		return
	}
	var extra yaml.Node
	switch err := dec.Decode(&extra); {
	case err == nil:
		if !isEmptyDoc(&extra) {
			d.errorf(&extra, "a second YAML document; lastmile.yaml holds one document, remove the '---' separator")
		}
	case !errors.Is(err, io.EOF):
		d.syntaxError(err, src)
	}
	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return
		}
		root = root.Content[0]
	}
	d.decodeConfig(root, c)
	d.crossCheck(c)
	d.checkIdentityPlane(c)
	d.checkTokenService(c)
	d.checkStoreKeys(c)
	d.checkConsole(c)
	d.errs.Sort()
}

func isEmptyDoc(n *yaml.Node) bool {
	return n.Kind == yaml.DocumentNode && (len(n.Content) == 0 || isNull(n.Content[0]) && n.Content[0].Value == "")
}

// syntaxError reports a YAML syntax error at the line and column where the
// parser found it, naming the construct it was reading and where that began.
func (d *decoder) syntaxError(err error, src []byte) {
	var le *yaml.LoadError
	if !errors.As(err, &le) {
		d.errs = append(d.errs, &Error{File: d.file, Msg: "YAML syntax: " + strings.TrimPrefix(err.Error(), "yaml: ")})
		return
	}
	e := &Error{File: d.file, Pos: srcpos.Pos{Line: le.Mark.Line, Col: le.Mark.Column}, Msg: "YAML syntax: " + le.Message}
	if e.Pos.Line == 0 {
		e.Pos = srcpos.Pos{Line: le.ContextMark.Line, Col: le.ContextMark.Column}
	}
	if c := le.ContextMark; le.ContextMsg != "" && c.Line > 0 && c != le.Mark {
		e.Msg += fmt.Sprintf(" (%s that starts at line %d, column %d)", le.ContextMsg, c.Line, c.Column)
	}
	if charAt(src, le.Mark.Line, le.Mark.Column) == '\t' {
		e.Msg += "; YAML indents with spaces, not tabs"
	}
	d.errs = append(d.errs, e)
}

// charAt returns the character at a 1-based line and column (columns count
// characters, as the YAML parser's do), or 0.
func charAt(src []byte, line, col int) rune {
	lines := bytes.Split(src, []byte("\n"))
	if line < 1 || line > len(lines) || col < 1 {
		return 0
	}
	if r := []rune(string(lines[line-1])); col <= len(r) {
		return r[col-1]
	}
	return 0
}

// resolve follows aliases, so that anchors work anywhere. The schema has a fixed
// depth, so following them cannot recurse without bound.
func resolve(n *yaml.Node) *yaml.Node {
	for i := 0; n != nil && n.Kind == yaml.AliasNode && i < 16; i++ {
		n = n.Alias
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n == nil || (n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null")
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		default:
			return strconv.Quote(n.Value)
		}
	case yaml.AliasNode:
		return "an alias"
	default:
		return "a document"
	}
}

// field is one key of a mapping and what to do with its value.
type field struct {
	key    string
	decode func(key, val *yaml.Node)
}

// mapping decodes a mapping node whose keys must be among fields. path names the
// mapping in messages ("" for the top level). A null node is an empty mapping.
func (d *decoder) mapping(n *yaml.Node, path string, fields []field) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, "%s must be a mapping of keys to values, not %s", describe(path), kindName(n))
		return
	}
	seen := map[string]*yaml.Node{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := resolve(n.Content[i]), n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			d.errorf(k, "%s has a key that is %s; keys must be plain names", describe(path), kindName(k))
			continue
		}
		if k.ShortTag() == "!!merge" {
			d.errorf(k, "merge keys (<<) are not supported in lastmile.yaml; write the keys out")
			continue
		}
		if prev, ok := seen[k.Value]; ok {
			d.errorf(k, "%s is set twice (first at line %d); remove one", join(path, k.Value), prev.Line)
			continue
		}
		seen[k.Value] = k
		i := slices.IndexFunc(fields, func(f field) bool { return f.key == k.Value })
		if i < 0 {
			d.unknownKey(k, path, fields)
			continue
		}
		fields[i].decode(k, v)
	}
}

func (d *decoder) unknownKey(k *yaml.Node, path string, fields []field) {
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.key
	}
	where := "at the top level"
	if path != "" {
		where = "in " + path
	}
	if best, ok := nearest(k.Value, names); ok {
		d.errorf(k, "unknown key %q %s; did you mean %q?", k.Value, where, best)
		return
	}
	d.errorf(k, "unknown key %q %s; valid keys are %s", k.Value, where, strings.Join(names, ", "))
}

func describe(path string) string {
	if path == "" {
		return "the file"
	}
	return path
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// scalar returns the text of a scalar node; ok is false (and an error recorded) for
// anything else. A null node gives ok false and no error: the caller keeps its default.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	n = resolve(n)
	if isNull(n) {
		return "", false
	}
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, "%s must be %s, not %s", path, want, kindName(n))
		return "", false
	}
	return n.Value, true
}

func (d *decoder) str(path string, dst *string) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		if s, ok := d.scalar(v, path, "a string"); ok {
			*dst = s
		}
	}
}

func (d *decoder) duration(path string, dst *time.Duration, min, max time.Duration) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		v = resolve(v)
		s, ok := d.scalar(v, path, "a duration such as 30s, 5m or 1h")
		if !ok {
			return
		}
		if tag := v.ShortTag(); tag == "!!int" || tag == "!!float" {
			d.errorf(v, "%s: %s has no unit; write a duration such as %ss", path, s, s)
			return
		}
		dur, err := time.ParseDuration(s)
		if err != nil {
			d.errorf(v, "%s: %q is not a duration; write a number with a unit, such as 30s, 5m or 1h", path, s)
			return
		}
		if dur < min || dur > max {
			d.errorf(v, "%s: %s is out of range; use a duration from %s to %s", path, s, formatDuration(min), formatDuration(max))
			return
		}
		*dst = dur
	}
}

func (d *decoder) boolean(path string, dst *bool) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		v = resolve(v)
		s, ok := d.scalar(v, path, "true or false")
		if !ok {
			return
		}
		if v.ShortTag() != "!!bool" {
			d.errorf(v, "%s must be true or false, not %q", path, s)
			return
		}
		*dst = s == "true" || s == "True" || s == "TRUE"
	}
}

func (d *decoder) integer(path string, dst *int, min, max int) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		v = resolve(v)
		s, ok := d.scalar(v, path, "a whole number")
		if !ok {
			return
		}
		n, err := strconv.Atoi(s)
		if v.ShortTag() != "!!int" || err != nil {
			d.errorf(v, "%s must be a whole number, not %q", path, s)
			return
		}
		if n < min || n > max {
			d.errorf(v, "%s: %d is out of range; use %d to %d", path, n, min, max)
			return
		}
		*dst = n
	}
}

// sequence calls each for every item of a list node. A null node is an empty list.
func (d *decoder) sequence(n *yaml.Node, path string, each func(i int, item *yaml.Node)) {
	n = resolve(n)
	if isNull(n) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, "%s must be a list, not %s", path, kindName(n))
		return
	}
	for i, item := range n.Content {
		each(i, resolve(item))
	}
}

// strList is a list of non-empty strings with their nodes, for positioned checks later.
type strList struct {
	vals  []string
	nodes []*yaml.Node
}

func (d *decoder) strings(n *yaml.Node, path string) strList {
	var out strList
	d.sequence(n, path, func(i int, item *yaml.Node) {
		p := fmt.Sprintf("%s[%d]", path, i)
		s, ok := d.scalar(item, p, "a string")
		if !ok {
			if isNull(item) {
				d.errorf(item, "%s is empty; remove it or write a name", p)
			}
			return
		}
		if strings.TrimSpace(s) == "" {
			d.errorf(item, "%s is empty; remove it or write a name", p)
			return
		}
		out.vals = append(out.vals, s)
		out.nodes = append(out.nodes, item)
	})
	return out
}

// The rest of the file is the schema: what each key means and how it is checked.

// refs keeps the nodes that cross-checks (duplicates, references) report against.
type refs struct {
	identityNames []*yaml.Node
	clientIDs     []*yaml.Node
	resources     []resourceRefs
	passwordEnv   *yaml.Node
	storeType     *yaml.Node
}

type resourceRefs struct {
	idNode      *yaml.Node
	roles       strList
	assignments []assignmentRefs
}

type assignmentRefs struct {
	key   *yaml.Node
	roles strList
}

func (d *decoder) decodeConfig(root *yaml.Node, c *Config) {
	var r refs
	d.mapping(root, "", []field{
		{"identity", func(k, v *yaml.Node) { d.decodeIdentity(v, &c.Identity, &r) }},
		{"listeners", func(k, v *yaml.Node) { d.decodeListeners(v, &c.Listeners) }},
		{"backend", func(k, v *yaml.Node) { d.decodeBackend(v, &c.Backend) }},
		{"gateway", func(k, v *yaml.Node) {
			d.mapping(v, "gateway", []field{
				{"region", d.nonEmpty("gateway.region", &c.Gateway.Region)},
				{"serviceName", d.nonEmpty("gateway.serviceName", &c.Gateway.ServiceName)},
			})
		}},
		{"store", func(k, v *yaml.Node) { d.decodeStore(v, &c.Store, &r) }},
		{"limits", func(k, v *yaml.Node) { d.decodeLimits(v, &c.Limits) }},
		{"shutdown", func(k, v *yaml.Node) {
			d.mapping(v, "shutdown", []field{
				{"gracePeriod", d.duration("shutdown.gracePeriod", &c.Shutdown.GracePeriod, 0, time.Hour)},
			})
		}},
		{"certificates", func(k, v *yaml.Node) { d.decodeCertificates(v, c) }},
		{"telemetry", func(k, v *yaml.Node) { d.decodeTelemetry(v, &c.Telemetry) }},
		{"console", func(k, v *yaml.Node) { d.decodeConsole(v, &c.Console) }},
		{"dapr", func(k, v *yaml.Node) {
			d.mapping(v, "dapr", []field{{"url", d.daprURL(&c.Dapr.URL)}})
		}},
	})
	d.refs = r
}

// daprURL decodes the Dapr sidecar's base URL: http or https, a host, and
// nothing after it, since the policies add Dapr's API paths.
func (d *decoder) daprURL(dst *string) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		v = resolve(v)
		s, ok := d.scalar(v, "dapr.url", "a URL")
		if !ok {
			return
		}
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || strings.Trim(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
			d.errorf(v, "dapr.url: %q is not the Dapr sidecar's address; write its scheme, host and port, such as http://localhost:3500", s)
			return
		}
		*dst = strings.TrimSuffix(s, "/")
	}
}

func (d *decoder) nonEmpty(path string, dst *string) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		s, ok := d.scalar(v, path, "a string")
		if !ok {
			return
		}
		if strings.TrimSpace(s) == "" {
			d.errorf(resolve(v), "%s is empty; remove the key to use the default %q", path, *dst)
			return
		}
		*dst = s
	}
}

func (d *decoder) guid(path string, dst *string, node **yaml.Node) func(k, v *yaml.Node) {
	return func(k, v *yaml.Node) {
		v = resolve(v)
		s, ok := d.scalar(v, path, "a GUID")
		if !ok || s == "" {
			return // absent: generated and persisted by the identity plane
		}
		guid, ok := directory.CanonicalGUID(s)
		if !ok {
			d.errorf(v, "%s: %q is not a GUID; write it as xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx (hex digits) or remove the key to have one generated", path, s)
			return
		}
		*dst = guid
		if node != nil {
			*node = v
		}
	}
}

func (d *decoder) decodeIdentity(n *yaml.Node, id *Identity, r *refs) {
	d.mapping(n, "identity", []field{
		{"tenantId", d.guid("identity.tenantId", &id.TenantID, nil)},
		{"tokenLifetime", d.duration("identity.tokenLifetime", &id.TokenLifetime, directory.MinTokenLifetime, directory.MaxTokenLifetime)},
		{"userAssignedIdentities", func(k, v *yaml.Node) {
			d.sequence(v, "identity.userAssignedIdentities", func(i int, item *yaml.Node) {
				path := fmt.Sprintf("identity.userAssignedIdentities[%d]", i)
				var u UserAssignedIdentity
				var nameNode, clientNode *yaml.Node
				if isNull(item) {
					d.errorf(item, "%s is empty; give it a name", path)
					return
				}
				d.mapping(item, path, []field{
					{"name", func(k, v *yaml.Node) {
						v = resolve(v)
						if s, ok := d.scalar(v, path+".name", "a string"); ok {
							u.Name, nameNode = s, v
						}
					}},
					{"clientId", d.guid(path+".clientId", &u.ClientID, &clientNode)},
				})
				if item.Kind != yaml.MappingNode {
					return
				}
				switch {
				case nameNode == nil:
					d.errorf(item, "%s has no name; add name: <identity name>", path)
					return
				case directory.IsSystemName(u.Name):
					d.errorf(nameNode, "%s.name: %q is reserved for the system-assigned identity; choose another name", path, u.Name)
					return
				case directory.CheckName(u.Name) != "":
					d.errorf(nameNode, "%s.name: %s", path, directory.CheckName(u.Name))
					return
				}
				id.UserAssignedIdentities = append(id.UserAssignedIdentities, u)
				r.identityNames = append(r.identityNames, nameNode)
				r.clientIDs = append(r.clientIDs, clientNode)
			})
		}},
		{"resources", func(k, v *yaml.Node) {
			d.sequence(v, "identity.resources", func(i int, item *yaml.Node) {
				d.decodeResource(item, fmt.Sprintf("identity.resources[%d]", i), id, r)
			})
		}},
		{"sources", func(k, v *yaml.Node) { d.decodeSources(v, id) }},
		{"managedIdentityEndpoints", func(k, v *yaml.Node) { d.decodeEndpoints(v, &id.Endpoints) }},
		{"workloads", func(k, v *yaml.Node) { d.decodeWorkloads(v, id) }},
		{"applications", func(k, v *yaml.Node) { d.decodeApplications(v, id) }},
		{"keys", func(k, v *yaml.Node) { d.decodeKeyRotation(v, &id.Keys) }},
		{"allowInsecureIssuer", d.boolean("identity.allowInsecureIssuer", &id.AllowInsecureIssuer)},
	})
}

func (d *decoder) decodeResource(item *yaml.Node, path string, id *Identity, r *refs) {
	if isNull(item) {
		d.errorf(item, "%s is empty; give it an id", path)
		return
	}
	var res Resource
	defaultResourceToken(&res)
	var rr resourceRefs
	d.mapping(item, path, []field{
		{"id", func(k, v *yaml.Node) {
			v = resolve(v)
			s, ok := d.scalar(v, path+".id", "a string")
			if !ok {
				return
			}
			if msg := directory.CheckResourceID(s); msg != "" {
				d.errorf(v, "%s.id %s", path, msg)
				return
			}
			res.ID, rr.idNode = s, v
		}},
		{"roles", func(k, v *yaml.Node) {
			rr.roles = d.strings(v, path+".roles")
			res.Roles = rr.roles.vals
		}},
		{"assignments", func(k, v *yaml.Node) {
			// A mapping from identity to roles, kept in file order.
			v = resolve(v)
			if isNull(v) {
				return
			}
			if v.Kind != yaml.MappingNode {
				d.errorf(v, "%s.assignments must be a mapping of identity name to roles, such as system: [Orders.Read], not %s", path, kindName(v))
				return
			}
			seen := map[string]*yaml.Node{}
			for i := 0; i+1 < len(v.Content); i += 2 {
				key, val := resolve(v.Content[i]), v.Content[i+1]
				if key.Kind != yaml.ScalarNode {
					d.errorf(key, "%s.assignments has a key that is %s; keys are identity names", path, kindName(key))
					continue
				}
				if prev, ok := seen[key.Value]; ok {
					d.errorf(key, "%s.assignments.%s is set twice (first at line %d); merge the roles into one list", path, key.Value, prev.Line)
					continue
				}
				seen[key.Value] = key
				roles := d.strings(val, path+".assignments."+key.Value)
				res.Assignments = append(res.Assignments, Assignment{Identity: key.Value, Roles: roles.vals})
				rr.assignments = append(rr.assignments, assignmentRefs{key: key, roles: roles})
			}
		}},
		{"tokenProfile", d.oneOf(path+".tokenProfile", &res.TokenProfile, TokenProfileNative, TokenProfileEntraV1, TokenProfileEntraV2)},
		{"signingAlgorithm", d.oneOf(path+".signingAlgorithm", &res.SigningAlgorithm, SigningES256, SigningRS256)},
	})
	if item.Kind != yaml.MappingNode {
		return
	}
	if rr.idNode == nil {
		if !d.hasKey(item, "id") {
			d.errorf(item, "%s has no id; add id: <App ID URI>, such as id: api://orders", path)
		}
		return
	}
	id.Resources = append(id.Resources, res)
	r.resources = append(r.resources, rr)
}

func (d *decoder) hasKey(n *yaml.Node, key string) bool {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return true
		}
	}
	return false
}

func (d *decoder) decodeListeners(n *yaml.Node, l *Listeners) {
	// Each listener's own tls (tls.go), and the one shared by the others.
	own := map[string]*listenerTLS{"gateway": {}, "identity": {}, "metrics": {}, "console": {}}
	var shared *TLS
	var metricsNode, consoleNode, acmeHTTPNode *yaml.Node
	d.mapping(n, "listeners", []field{
		{"gateway", d.listener("listeners.gateway", &l.Gateway, own["gateway"], false)},
		{"identity", d.listener("listeners.identity", &l.Identity, own["identity"], false)},
		{"metrics", func(k, v *yaml.Node) {
			metricsNode = k
			d.listener("listeners.metrics", &l.Metrics, own["metrics"], true)(k, v) // "": no metrics listener
		}},
		{"console", func(k, v *yaml.Node) {
			consoleNode = k
			d.console.listener = resolve(v)
			d.listener("listeners.console", &l.Console, own["console"], true)(k, v) // "": no console
		}},
		{"acmeHTTP", func(k, v *yaml.Node) {
			if d.address("listeners.acmeHTTP", &l.ACMEHTTP, true)(k, v); l.ACMEHTTP != "" {
				acmeHTTPNode = k
			}
		}},
		{"tls", func(k, v *yaml.Node) { shared = d.decodeTLS(v, "listeners.tls") }},
		{"issuer", func(k, v *yaml.Node) {
			v = resolve(v)
			// Checked once identity.allowInsecureIssuer is known (checkTokenService).
			if s, ok := d.scalar(v, "listeners.issuer", "a URL"); ok && s != "" {
				l.Issuer, d.tokens.issuer = s, v
			}
		}},
	})
	d.applyTLS(l, shared, own, metricsNode, consoleNode, acmeHTTPNode)
}

func checkHostPort(s string) error {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("is not host:port")
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return errors.New("has no valid port number")
	}
	return nil
}

func (d *decoder) decodeBackend(n *yaml.Node, b *Backend) {
	d.mapping(n, "backend", []field{
		{"caFile", func(k, v *yaml.Node) {
			v = resolve(v)
			s, ok := d.scalar(v, "backend.caFile", "a file path")
			if !ok || s == "" {
				return
			}
			p := s
			if !filepath.IsAbs(p) {
				p = filepath.Join(d.dir, p)
			}
			if err := checkCAFile(p); err != nil {
				d.errorf(v, "backend.caFile: %s; point it at a PEM file of CA certificates (relative paths start from the folder of %s)", err, filepath.Base(d.file))
				return
			}
			if abs, err := filepath.Abs(p); err == nil {
				p = abs
			}
			b.CAFile = p
		}},
		{"timeout", d.duration("backend.timeout", &b.Timeout, time.Second, 24*time.Hour)},
	})
}

// checkCAFile reads a CA bundle the way the proxy will, so that a wrong path fails at
// load rather than at the first TLS handshake. Only regular files are read, so a path
// such as /dev/zero cannot hang the load.
func checkCAFile(path string) error {
	fi, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s does not exist", path)
		}
		return fmt.Errorf("cannot read %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("%s is not a regular file", path)
	}
	if fi.Size() > maxFileSize {
		return fmt.Errorf("%s is larger than %d bytes", path, maxFileSize)
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("cannot read %s: %w", path, err)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no PEM certificates", path)
	}
	return nil
}

var envNamePattern = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (d *decoder) decodeStore(n *yaml.Node, s *Store, r *refs) {
	d.mapping(n, "store", append([]field{
		{"type", func(k, v *yaml.Node) {
			v = resolve(v)
			t, ok := d.scalar(v, "store.type", "memory or redis")
			if !ok {
				return
			}
			if t != StoreMemory && t != StoreRedis {
				d.errorf(v, "store.type: unknown store type %q; use memory or redis", t)
				return
			}
			s.Type, r.storeType = t, v
		}},
		{"redis", func(k, v *yaml.Node) {
			d.mapping(v, "store.redis", []field{
				{"address", func(k, v *yaml.Node) {
					v = resolve(v)
					a, ok := d.scalar(v, "store.redis.address", "a host:port address")
					if !ok {
						return
					}
					if err := checkHostPort(a); err != nil {
						d.errorf(v, "store.redis.address: %q %v; write host:port, such as 127.0.0.1:6379", a, err)
						return
					}
					s.Redis.Address = a
				}},
				{"username", d.str("store.redis.username", &s.Redis.Username)},
				{"passwordEnv", func(k, v *yaml.Node) {
					v = resolve(v)
					e, ok := d.scalar(v, "store.redis.passwordEnv", "the name of an environment variable")
					if !ok || e == "" {
						return
					}
					if !envNamePattern.MatchString(e) {
						d.errorf(v, "store.redis.passwordEnv: %q is not an environment variable name; write the variable's name (such as REDIS_PASSWORD), never the password itself", e)
						return
					}
					s.Redis.PasswordEnv, r.passwordEnv = e, v
				}},
				{"db", d.integer("store.redis.db", &s.Redis.DB, 0, 1<<20)},
				{"tls", d.boolean("store.redis.tls", &s.Redis.TLS)},
				{"timeout", d.duration("store.redis.timeout", &s.Redis.Timeout, 10*time.Millisecond, 10*time.Second)},
				{"leaseTTL", d.duration("store.redis.leaseTTL", &s.Redis.LeaseTTL, 3*time.Second, 10*time.Minute)},
			})
		}},
		{"failureMode", func(k, v *yaml.Node) { d.decodeFailureMode(v, &s.FailureMode) }},
	}, d.storeKeyFields(s)...))
}

// crossCheck reports what needs the whole file: duplicates and references.
func (d *decoder) crossCheck(c *Config) {
	r := d.refs
	names := map[string]*yaml.Node{} // lower case: names compare without regard to case
	for i, u := range c.Identity.UserAssignedIdentities {
		n := r.identityNames[i]
		lower := strings.ToLower(u.Name)
		if prev, ok := names[lower]; ok {
			d.errorf(n, "identity.userAssignedIdentities: %q is declared twice (first at line %d; names are not case-sensitive); identity names must be unique", u.Name, prev.Line)
			continue
		}
		names[lower] = n
	}
	clients := map[string]*yaml.Node{}
	for i, u := range c.Identity.UserAssignedIdentities {
		n := r.clientIDs[i]
		if n == nil {
			continue
		}
		if prev, ok := clients[u.ClientID]; ok {
			d.errorf(n, "identity.userAssignedIdentities: client id %s is used twice (first at line %d); each identity needs its own, or remove clientId to have one generated", u.ClientID, prev.Line)
			continue
		}
		clients[u.ClientID] = n
	}
	known := []string{SystemIdentity}
	for _, u := range c.Identity.UserAssignedIdentities {
		known = append(known, u.Name)
	}
	for _, a := range c.Identity.Applications {
		known = append(known, a.Name)
	}

	ids := map[string]*yaml.Node{}
	for i, res := range c.Identity.Resources {
		rr := r.resources[i]
		norm := identity.NormalizeResource(res.ID)
		if prev, ok := ids[norm]; ok {
			d.errorf(rr.idNode, "identity.resources: %q is the same resource as %q at line %d (resource ids match ignoring ASCII case and a trailing /); merge them", res.ID, prev.Value, prev.Line)
		} else {
			ids[norm] = rr.idNode
		}
		declared := map[string]*yaml.Node{}
		for j, role := range rr.roles.vals {
			if msg := directory.CheckRole(role); msg != "" {
				d.errorf(rr.roles.nodes[j], "role of %s: %s", res.ID, msg)
				continue
			}
			if prev, ok := declared[role]; ok {
				d.errorf(rr.roles.nodes[j], "role %q of %s is listed twice (first at line %d); remove one", role, res.ID, prev.Line)
				continue
			}
			declared[role] = rr.roles.nodes[j]
		}
		assigned := map[string]*yaml.Node{}
		for _, a := range rr.assignments {
			lower := strings.ToLower(a.key.Value)
			if prev, ok := assigned[lower]; ok {
				d.errorf(a.key, "assignments of %s: %q is assigned roles twice (first at line %d; names are not case-sensitive); merge the roles into one list", res.ID, a.key.Value, prev.Line)
				continue
			}
			assigned[lower] = a.key
			if !slices.ContainsFunc(known, func(k string) bool { return strings.EqualFold(k, a.key.Value) }) {
				hint := ""
				if best, ok := nearest(a.key.Value, known); ok {
					hint = fmt.Sprintf("did you mean %q? ", best)
				}
				d.errorf(a.key, "assignments of %s: unknown identity %q; %sassign roles to %q or to a name declared under identity.userAssignedIdentities", res.ID, a.key.Value, hint, SystemIdentity)
			}
			for j, role := range a.roles.vals {
				if _, ok := declared[role]; ok {
					continue
				}
				if len(rr.roles.vals) == 0 {
					d.errorf(a.roles.nodes[j], "role %q assigned on %s is not declared: the resource declares no roles; add roles: [%s] to it", role, res.ID, role)
					continue
				}
				hint := ""
				if best, ok := nearest(role, rr.roles.vals); ok {
					hint = fmt.Sprintf("did you mean %q? ", best)
				}
				d.errorf(a.roles.nodes[j], "role %q assigned on %s is not declared in its roles; %sdeclared roles are %s", role, res.ID, hint, strings.Join(rr.roles.vals, ", "))
			}
		}
	}

	if c.Store.Type == StoreRedis && r.passwordEnv != nil {
		if v, ok := d.lookupEnv(c.Store.Redis.PasswordEnv); !ok || v == "" {
			d.unsetEnv(r.passwordEnv, "store.redis.passwordEnv: environment variable %s is not set; set it to the Redis password, or remove passwordEnv if Redis has none", c.Store.Redis.PasswordEnv)
		}
	}
}

// nearest returns the candidate closest to s, if it is close enough to be a
// plausible typo.
func nearest(s string, candidates []string) (string, bool) { return spelling.Nearest(s, candidates) }

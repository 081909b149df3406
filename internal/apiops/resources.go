package apiops

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// NamedValueEnvVar returns the environment variable that supplies the value of
// the named value with the given display name: LASTMILE_NAMED_VALUE_ followed by
// the name upper-cased, with each character other than A-Z and 0-9 as '_'.
func NamedValueEnvVar(displayName string) string {
	var b strings.Builder
	b.WriteString("LASTMILE_NAMED_VALUE_")
	for _, r := range strings.ToUpper(displayName) {
		if r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

func (l *loader) loadNamedValues() {
	for _, name := range l.subdirs(dirNamedValues) {
		dir := path.Join(dirNamedValues, name)
		rel := path.Join(dir, "namedValueInformation.json")
		l.children(dir, "namedValueInformation.json")
		var p namedValueProps
		info, ok := l.readInfo(rel, &p, "named value")
		if !ok {
			continue
		}
		nv := &NamedValue{
			Name:        name,
			DisplayName: cmp.Or(p.DisplayName, name),
			Secret:      p.Secret != nil && *p.Secret,
		}
		if kv := p.KeyVault; kv != nil && (kv.SecretIdentifier != "" || kv.IdentityClientID != "") {
			nv.KeyVault = &KeyVault{SecretIdentifier: kv.SecretIdentifier, IdentityClientID: kv.IdentityClientID}
		}
		if p.Value != nil {
			nv.Value, nv.HasValue = *p.Value, true
		}
		nv.EnvVar = NamedValueEnvVar(nv.DisplayName)
		if v, ok := l.lookupEnv(nv.EnvVar); ok {
			nv.Value, nv.HasValue, nv.FromEnv = v, true, true
			l.log.Debug("named value from the environment", "name", nv.DisplayName, "variable", nv.EnvVar)
		}
		if !validNamedValueName(nv.DisplayName) {
			l.add(info.errorAt([]string{"properties", "displayName"}, fmt.Sprintf(
				"display name %q can hold only letters, digits, '.', '-' and '_', or policies cannot refer to it as {{...}}; rename it", nv.DisplayName)))
			continue
		}
		if prev, ok := l.byDisplay[nv.DisplayName]; ok {
			l.add(info.errorAt([]string{"properties", "displayName"}, fmt.Sprintf(
				"display name %q is also the display name of %s/%s, so {{%s}} would be ambiguous; rename one", nv.DisplayName, dirNamedValues, prev.Name, nv.DisplayName)))
			continue
		}
		l.byDisplay[nv.DisplayName] = nv
		l.svc.NamedValues[name] = nv
	}
}

func validNamedValueName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isNamedValueChar(s[i]) {
			return false
		}
	}
	return true
}

func isNamedValueChar(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '-' || c == '_'
}

// substitute puts named values into doc. It reports every reference that has no
// value, with a message that says how to give it one, and never the values.
func (l *loader) substitute(file string, doc *policyxml.Document) bool {
	var misses []string
	err := doc.SubstituteNamedValues(func(name string) (string, bool) {
		if nv := l.byDisplay[name]; nv != nil && nv.HasValue {
			return nv.Value, true
		}
		misses = append(misses, name)
		return "", false
	})
	if err == nil {
		return true
	}
	errs := fromPolicy(file, err)
	// policyxml reports one error per reference that lookup refused, in order.
	if len(errs) == len(misses) {
		for i, e := range errs {
			if msg := l.missing(misses[i]); msg != "" {
				e.Msg = msg
			}
		}
	}
	l.add(errs...)
	return false
}

// missing explains why the named value name has no value, or returns "" to keep
// policyxml's message for a name that is not defined at all.
func (l *loader) missing(name string) string {
	nv := l.byDisplay[name]
	if nv == nil {
		for _, v := range l.sortedNamedValues() {
			if v.Name == name || strings.EqualFold(v.DisplayName, name) {
				return fmt.Sprintf("named value %q is not defined; %s/%s has the display name %q: write {{%s}}", name, dirNamedValues, v.Name, v.DisplayName, v.DisplayName)
			}
		}
		return ""
	}
	switch {
	case nv.KeyVault != nil:
		return fmt.Sprintf("named value %q is a Key Vault reference, which lastmile does not read; set the environment variable %s to its value", name, nv.EnvVar)
	case nv.Secret:
		return fmt.Sprintf("named value %q is secret and apiops extracts secrets without their value; set the environment variable %s to its value", name, nv.EnvVar)
	default:
		return fmt.Sprintf("named value %q has no value in %s/%s/namedValueInformation.json; add \"value\" there or set the environment variable %s", name, dirNamedValues, nv.Name, nv.EnvVar)
	}
}

func (l *loader) sortedNamedValues() []*NamedValue {
	out := make([]*NamedValue, 0, len(l.svc.NamedValues))
	for _, v := range l.svc.NamedValues {
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b *NamedValue) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// substituteString puts named values into a string from an info file (backend
// credentials); it returns the names that have no value.
func (l *loader) substituteString(s string) (string, []string) {
	if !strings.Contains(s, "{{") {
		return s, nil
	}
	var b strings.Builder
	var misses []string
	for {
		k := strings.Index(s, "{{")
		if k < 0 {
			b.WriteString(s)
			return b.String(), misses
		}
		j := k + 2
		for j < len(s) && isNamedValueChar(s[j]) {
			j++
		}
		if j == k+2 || j+1 >= len(s) || s[j] != '}' || s[j+1] != '}' {
			b.WriteString(s[:k+2])
			s = s[k+2:]
			continue
		}
		name := s[k+2 : j]
		b.WriteString(s[:k])
		if nv := l.byDisplay[name]; nv != nil && nv.HasValue {
			b.WriteString(nv.Value)
		} else {
			misses = append(misses, name)
			b.WriteString(s[k : j+2])
		}
		s = s[j+2:]
	}
}

func (l *loader) loadVersionSets() {
	for _, name := range l.subdirs(dirVersionSets) {
		dir := path.Join(dirVersionSets, name)
		l.children(dir, "versionSetInformation.json")
		var p versionSetProps
		info, ok := l.readInfo(path.Join(dir, "versionSetInformation.json"), &p, "version set")
		if !ok {
			continue
		}
		vs := &VersionSet{Name: name, DisplayName: cmp.Or(p.DisplayName, name), QueryName: p.VersionQueryName, HeaderName: p.VersionHeaderName}
		for _, s := range []string{SchemeSegment, SchemeQuery, SchemeHeader} {
			if strings.EqualFold(p.VersioningScheme, s) {
				vs.Scheme = s
			}
		}
		switch {
		case p.VersioningScheme == "":
			l.add(info.errorAt([]string{"properties"}, `"versioningScheme" is missing; set it to Segment, Query or Header`))
			continue
		case vs.Scheme == "":
			l.add(info.errorAt([]string{"properties", "versioningScheme"}, fmt.Sprintf("versioningScheme %q is not Segment, Query or Header", p.VersioningScheme)))
			continue
		case vs.Scheme == SchemeQuery && vs.QueryName == "":
			l.add(info.errorAt([]string{"properties", "versioningScheme"}, `versioningScheme is Query but "versionQueryName" is missing; set it to the query parameter that carries the version, such as "api-version"`))
			continue
		case vs.Scheme == SchemeHeader && vs.HeaderName == "":
			l.add(info.errorAt([]string{"properties", "versioningScheme"}, `versioningScheme is Header but "versionHeaderName" is missing; set it to the header that carries the version, such as "Api-Version"`))
			continue
		}
		l.svc.VersionSets[name] = vs
	}
}

func (l *loader) loadBackends() {
	names := l.subdirs(dirBackends)
	for _, name := range names {
		dir := path.Join(dirBackends, name)
		l.children(dir, "backendInformation.json")
		var p backendProps
		info, ok := l.readInfo(path.Join(dir, "backendInformation.json"), &p, "backend")
		if !ok {
			continue
		}
		b := &Backend{
			Name: name, Title: p.Title, Description: p.Description, URL: p.URL,
			Protocol: p.Protocol, Type: p.Type, ResourceID: p.ResourceID,
		}
		if c := p.Credentials; c != nil {
			bc := &BackendCredentials{CertificateIDs: c.CertificateIDs, Certificate: c.Certificate}
			sub := func(where []string, s string) string {
				out, misses := l.substituteString(s)
				for _, m := range misses {
					l.add(info.errorAt(where, l.missingInCredentials(m)))
				}
				return out
			}
			subMap := func(section string, m map[string][]string) map[string][]string {
				if m == nil {
					return nil
				}
				out := make(map[string][]string, len(m))
				for k, vals := range m {
					for _, v := range vals {
						out[k] = append(out[k], sub([]string{"properties", "credentials", section, k}, v))
					}
					if vals != nil && out[k] == nil {
						out[k] = []string{}
					}
				}
				return out
			}
			bc.Header = subMap("header", c.Header)
			bc.Query = subMap("query", c.Query)
			if a := c.Authorization; a != nil {
				bc.Authorization = &BackendAuthorization{
					Scheme:    a.Scheme,
					Parameter: sub([]string{"properties", "credentials", "authorization", "parameter"}, a.Parameter),
				}
			}
			if mi := c.ManagedIdentity; mi != nil {
				bc.ManagedIdentity = &BackendManagedIdentity{ClientID: mi.ClientID, Resource: mi.Resource}
				if mi.Resource == "" {
					l.add(info.errorAt([]string{"properties", "credentials", "managedIdentity"}, `managedIdentity has no "resource"; set it to the resource (App ID URI) to request tokens for`))
				}
			}
			b.Credentials = bc
		}
		if t := p.TLS; t != nil {
			b.TLS = &BackendTLS{ValidateCertificateChain: t.ValidateCertificateChain, ValidateCertificateName: t.ValidateCertificateName}
		}
		rel := path.Join(dir, "backendInformation.json")
		isPool := strings.EqualFold(p.Type, "Pool")
		switch {
		case isPool && p.Pool == nil:
			l.add(info.errorAt([]string{"properties", "type"}, `the backend's type is Pool but it has no "pool"; list its members as "pool": {"services": [{"id": "/backends/<name>"}]}`))
			continue
		case p.Pool != nil && p.Type != "" && !isPool:
			l.add(info.errorAt([]string{"properties", "type"}, fmt.Sprintf(`the backend has a "pool", so its type must be Pool, not %q`, p.Type)))
			continue
		case p.Pool != nil:
			if b.Pool = l.pool(info, p.Pool); b.Pool == nil {
				continue
			}
			b.Type = "Pool"
		}
		if cb := p.CircuitBreaker; cb != nil {
			if b.Pool != nil {
				l.add(info.errorAt([]string{"properties", "circuitBreaker"}, "a pool has no circuit breaker of its own: give each member backend its circuit breaker"))
				continue
			}
			if b.CircuitBreaker = l.circuitBreaker(rel, info, cb); b.CircuitBreaker == nil {
				continue
			}
		}
		if b.URL == "" && b.Pool == nil {
			l.add(info.errorAt([]string{"properties"}, `the backend has neither "url" nor "pool"; set "url" to the backend's base URL`))
			continue
		}
		l.svc.Backends[name] = b
	}
	for _, name := range names {
		l.refsBroken = l.refsBroken || l.svc.Backends[name] == nil
	}
	for _, name := range slices.Sorted(maps.Keys(l.svc.Backends)) {
		b := l.svc.Backends[name]
		if b.Pool == nil {
			continue
		}
		rel := path.Join(dirBackends, name, "backendInformation.json")
		info := l.infos[rel]
		var members []PoolService
		for i, s := range b.Pool.Services {
			m, ok := l.svc.Backends[s.Backend]
			switch {
			case !ok:
				l.warnf(rel, "pool member %q is not a backend in %s/; requests will not be sent to it", s.Backend, dirBackends)
				continue
			case m.Pool != nil:
				l.add(info.errorAt([]string{"properties", "pool", "services", strconv.Itoa(i), "id"}, fmt.Sprintf("pool member %q is a pool itself; pools cannot be nested: list its members instead", s.Backend)))
				continue
			}
			members = append(members, s)
		}
		if len(members) == 0 && len(b.Pool.Services) > 0 {
			l.add(info.errorAt([]string{"properties", "pool", "services"}, fmt.Sprintf("none of the pool's members is a backend in %s/; add them, or remove the pool", dirBackends)))
		}
		b.Pool.Services = members
	}
}

func (l *loader) missingInCredentials(name string) string {
	if msg := l.missing(name); msg != "" {
		return msg
	}
	return fmt.Sprintf("named value %q is not defined: add %s/%s/namedValueInformation.json", name, dirNamedValues, name)
}

func (l *loader) loadFragments() {
	for _, name := range l.subdirs(dirFragments) {
		dir := path.Join(dirFragments, name)
		l.children(dir, "policy.xml", "policyFragmentInformation.json")
		var p fragmentProps
		if info := path.Join(dir, "policyFragmentInformation.json"); l.exists(info) {
			l.readInfo(info, &p, "policy fragment")
		}
		rel := path.Join(dir, "policy.xml")
		if !l.exists(rel) {
			l.errorf(rel, "missing; a policy fragment folder holds its <fragment> in policy.xml")
			l.refsBroken = true
			continue
		}
		if pol := l.loadPolicy(rel, "fragment"); pol != nil {
			l.svc.Fragments[name] = pol
		} else {
			l.refsBroken = true
		}
	}
}

// exists reports whether rel exists.
func (l *loader) exists(rel string) bool {
	_, err := os.Stat(l.display(rel))
	return err == nil
}

func (l *loader) loadProducts() {
	apiNames := map[string]bool{}
	for _, a := range l.svc.APIs {
		apiNames[a.Name] = true
	}
	for _, name := range l.subdirs(dirProducts) {
		dir := path.Join(dirProducts, name)
		var p productProps
		_, ok := l.readInfo(path.Join(dir, "productInformation.json"), &p, "product")
		var members []string
		add := func(rel, api string) {
			base, _, _ := strings.Cut(api, revSeparator)
			if !apiNames[base] {
				l.warnf(rel, "product %s lists API %q, which is not in %s/; it is left out of the product", name, base, dirAPIs)
				return
			}
			if !slices.Contains(members, base) {
				members = append(members, base)
			}
		}
		for _, e := range l.readDir(dir) {
			rel := path.Join(dir, e.name)
			switch {
			case e.name == "productInformation.json" || e.name == "policy.xml":
			case e.name == "apis" && e.isDir:
				for _, api := range l.subdirs(rel) {
					l.children(path.Join(rel, api), "productApiInformation.json")
					add(path.Join(rel, api), api)
				}
			case e.name == "apis.json" && !e.isDir:
				// Older apiops versions list a product's APIs in one file:
				// [{"name": "<api>"}, ...].
				for _, api := range l.readNameList(rel) {
					add(rel, api)
				}
			default:
				l.ignore(rel)
			}
		}
		pol := l.loadPolicy(path.Join(dir, "policy.xml"), "policies")
		if !ok {
			continue
		}
		slices.Sort(members)
		pr := &Product{
			Name:                 name,
			DisplayName:          cmp.Or(p.DisplayName, name),
			Description:          p.Description,
			State:                cmp.Or(p.State, "notPublished"),
			SubscriptionRequired: p.SubscriptionRequired == nil || *p.SubscriptionRequired,
			ApprovalRequired:     p.ApprovalRequired != nil && *p.ApprovalRequired,
			SubscriptionsLimit:   p.SubscriptionsLimit,
			Policy:               pol,
			APIs:                 members,
		}
		l.svc.Products[name] = pr
		for _, a := range l.svc.APIs {
			if slices.Contains(members, a.Name) {
				a.Products = append(a.Products, name)
			}
		}
	}
	// API Management lets an API be in at most one product that needs no
	// subscription, since keyless calls run in that product's context.
	for _, a := range l.svc.APIs {
		slices.Sort(a.Products)
		if !a.IsCurrent {
			continue
		}
		var open []string
		for _, p := range a.Products {
			if !l.svc.Products[p].SubscriptionRequired {
				open = append(open, p)
			}
		}
		if len(open) > 1 {
			l.errorf(path.Join(dirProducts, open[1], "apis", a.Name), "API %s is in two products that need no subscription (%s); keyless calls would be ambiguous: remove it from all but one, or set subscriptionRequired on the others", a.Name, strings.Join(open, ", "))
		}
	}
}

// readNameList reads a JSON list of {"name": "..."} objects, the format older
// apiops versions used for membership files such as products/<p>/apis.json.
func (l *loader) readNameList(rel string) []string {
	src, ok := l.readFile(rel)
	if !ok {
		return nil
	}
	f := &infoFile{file: l.display(rel), src: bytes.TrimPrefix(src, bom)}
	var items []struct {
		Name string `json:"name"`
	}
	var top any
	if err := json.Unmarshal(f.src, &top); err != nil {
		l.add(f.jsonError(err, nil))
		return nil
	}
	if _, ok := top.([]any); !ok {
		l.add(f.errorAt(nil, `the file must be a list such as [{"name": "my-api"}]`))
		return nil
	}
	if err := json.Unmarshal(f.src, &items); err != nil {
		l.add(f.jsonError(err, nil))
		return nil
	}
	var names []string
	for _, it := range items {
		if it.Name != "" {
			names = append(names, it.Name)
		}
	}
	return names
}

var subscriptionStates = []string{StateActive, StateSuspended, StateCancelled, StateExpired, StateSubmitted, StateRejected}

func (l *loader) loadSubscriptions() {
	type keyUse struct{ sub, field string }
	keys := map[string]keyUse{}
	for _, name := range l.subdirs(dirSubscriptions) {
		dir := path.Join(dirSubscriptions, name)
		l.children(dir, "subscriptionInformation.json")
		var p subscriptionProps
		info, ok := l.readInfo(path.Join(dir, "subscriptionInformation.json"), &p, "subscription")
		if !ok {
			continue
		}
		s := &Subscription{
			Name:         name,
			DisplayName:  cmp.Or(p.DisplayName, name),
			State:        StateActive,
			AllowTracing: p.AllowTracing != nil && *p.AllowTracing,
			PrimaryKey:   p.PrimaryKey,
			SecondaryKey: p.SecondaryKey,
		}
		bad := false
		if p.State == nil {
			// API Management creates a subscription without a state as
			// submitted: awaiting approval, it cannot call APIs.
			s.State = StateSubmitted
			l.warnf(path.Join(dir, "subscriptionInformation.json"), `subscription %s has no state: as in API Management it is submitted, and its keys are refused; add "state": "active" to let it call APIs`, name)
		} else {
			i := slices.IndexFunc(subscriptionStates, func(st string) bool { return strings.EqualFold(st, *p.State) })
			if i < 0 {
				l.add(info.errorAt([]string{"properties", "state"}, fmt.Sprintf("state %q is not one of %s", *p.State, strings.Join(subscriptionStates, ", "))))
				bad = true
			} else {
				s.State = subscriptionStates[i]
			}
		}
		scope := ""
		if p.Scope != nil {
			scope = *p.Scope
		}
		kind, target, ok := parseScope(scope)
		switch {
		case !ok:
			l.add(info.errorAt([]string{"properties", "scope"}, fmt.Sprintf(
				`scope %q is not a scope lastmile knows; use "/products/<product>", "/apis/<api>" or "/apis" (all APIs)`, scope)))
			bad = true
		case kind == ScopeProduct && l.svc.Products[target] == nil:
			l.add(info.errorAt([]string{"properties", "scope"}, fmt.Sprintf(
				"scope names product %q, which does not exist; %s", target, known("products", slices.Sorted(maps.Keys(l.svc.Products))))))
			bad = true
		case kind == ScopeAPI && !slices.ContainsFunc(l.svc.APIs, func(a *API) bool { return a.Name == target }):
			names := []string{}
			for _, a := range l.svc.APIs {
				if !slices.Contains(names, a.Name) {
					names = append(names, a.Name)
				}
			}
			l.add(info.errorAt([]string{"properties", "scope"}, fmt.Sprintf(
				"scope names API %q, which does not exist; %s", target, known("APIs", names))))
			bad = true
		}
		s.Scope, s.Target = kind, target
		for _, k := range []struct{ field, val string }{{"primaryKey", s.PrimaryKey}, {"secondaryKey", s.SecondaryKey}} {
			if k.val == "" {
				continue
			}
			if prev, dup := keys[k.val]; dup {
				l.add(info.errorAt([]string{"properties", k.field}, fmt.Sprintf(
					"%s is the same key as the %s of subscriptions/%s; every key must be unique, or a call could not tell them apart", k.field, prev.field, prev.sub)))
				bad = true
				continue
			}
			keys[k.val] = keyUse{name, k.field}
		}
		if !bad {
			l.svc.Subscriptions[name] = s
		}
	}
}

func known(what string, names []string) string {
	if len(names) == 0 {
		return "there are no " + what
	}
	return "known " + what + ": " + strings.Join(names, ", ")
}

// parseScope reads a subscription scope: relative ("/products/p", "/apis/a",
// "/apis", "" or "/") or a full ARM id ending in one of those, or in the service
// itself (all APIs).
func parseScope(s string) (ScopeKind, string, bool) {
	parts := strings.Split(strings.Trim(strings.TrimSpace(s), "/"), "/")
	if len(parts) == 1 && parts[0] == "" {
		return ScopeAllAPIs, "", true
	}
	if strings.EqualFold(parts[0], "subscriptions") {
		i := slices.IndexFunc(parts, func(p string) bool { return strings.EqualFold(p, "service") })
		if i < 0 || i+1 >= len(parts) {
			return 0, "", false
		}
		parts = parts[i+2:]
	}
	switch {
	case len(parts) == 0:
		return ScopeAllAPIs, "", true
	case len(parts) == 1 && strings.EqualFold(parts[0], "apis"):
		return ScopeAllAPIs, "", true
	case len(parts) == 2 && strings.EqualFold(parts[0], "apis") && parts[1] != "":
		name, _, _ := strings.Cut(parts[1], revSeparator)
		return ScopeAPI, name, true
	case len(parts) == 2 && strings.EqualFold(parts[0], "products") && parts[1] != "":
		return ScopeProduct, parts[1], true
	}
	return 0, "", false
}

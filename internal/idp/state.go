package idp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
)

// State is where the identity provider keeps what it generates and must
// survive a restart: the tenant id, the identities' ids and the signing keys,
// each a JSON document with a slash-separated name. A state directory
// (statedir.Dir) keeps them in files for the instances of one machine;
// statedir.Shared keeps them in Redis, encrypted, for a fleet.
type State interface {
	// Read returns the document name; a missing one gives an error matching
	// fs.ErrNotExist.
	Read(ctx context.Context, name string) ([]byte, error)
	// Update changes the document name under a lock that every process
	// sharing the state respects: it calls change with the document (nil when
	// there is none) and stores what change returns, unless that is nil.
	Update(ctx context.Context, name string, change func(old []byte) ([]byte, error)) error
	// Describe names the document in messages (a path, or a Redis key).
	Describe(name string) string
}

// identitiesFile keeps the generated ids, so a restart keeps every identity's
// client and object id, and the tenant id.
const identitiesFile = "idp/identities.json"

type identityFile struct {
	Version  int            `json:"version"`
	TenantID string         `json:"tenant_id"`
	System   storedIdentity `json:"system_assigned"`
	// UserAssigned is keyed by name. Identities removed from the configuration stay
	// here, so adding one back restores its ids.
	UserAssigned map[string]storedIdentity `json:"user_assigned,omitempty"`
	// Applications keeps the object id (the service principal's, the oid and sub
	// of its tokens) of each registered application, by name.
	Applications map[string]storedIdentity `json:"applications,omitempty"`
}

type storedIdentity struct {
	ClientID string    `json:"client_id"`
	ObjectID string    `json:"object_id"`
	Created  time.Time `json:"created"`
}

// principalKind says what a principal is.
type principalKind uint8

const (
	kindManagedIdentity principalKind = iota
	kindApplication
)

// principal is an identity or application tokens can be issued to.
type principal struct {
	name     string // SystemName, the user-assigned identity's or the application's Name
	system   bool
	kind     principalKind
	clientID string
	objectID string
}

// loadIdentities reads the persisted identities, creates the system-assigned
// identity and any new user-assigned ones, and stores the document back if
// anything was created, all under the state's lock. It returns the persisted
// tenant id, the active identities (system-assigned first, then in
// configuration order) and the document as stored.
func loadIdentities(ctx context.Context, state State, c *compiled, log *slog.Logger) (tenant string, ids []*principal, doc []byte, err error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	err = state.Update(ctx, identitiesFile, func(old []byte) ([]byte, error) {
		var changed bool
		var f identityFile
		tenant, ids, f, changed, err = mergeIdentities(state, old, c, log)
		if err != nil {
			return nil, err
		}
		if !changed {
			doc = old
			return nil, nil
		}
		data, err := json.MarshalIndent(&f, "", "  ")
		if err != nil {
			return nil, fmt.Errorf("saving managed identities: %w", err)
		}
		doc = append(data, '\n')
		return doc, nil
	})
	return tenant, ids, doc, err
}

// mergeIdentities decodes the identity document old (nil when there is none)
// and adds what the configuration declares that it lacks.
func mergeIdentities(state State, old []byte, c *compiled, log *slog.Logger) (string, []*principal, identityFile, bool, error) {
	var f identityFile
	now := time.Now().UTC().Truncate(time.Second)
	changed := false
	switch {
	case old == nil:
		f = identityFile{
			Version:  1,
			TenantID: directory.NewGUID(),
			System:   storedIdentity{ClientID: directory.NewGUID(), ObjectID: directory.NewGUID(), Created: now},
		}
		changed = true
		log.Info("created the system-assigned managed identity",
			"client_id", f.System.ClientID, "object_id", f.System.ObjectID, "tenant_id", f.TenantID)
	default:
		err := json.Unmarshal(old, &f)
		if err == nil {
			err = f.check()
		}
		if err != nil {
			return "", nil, f, false, fmt.Errorf("%s: %w; restore it from a backup, or delete it to create new identities (backends that check oid or appid must then be updated)", state.Describe(identitiesFile), err)
		}
	}
	if f.UserAssigned == nil {
		f.UserAssigned = make(map[string]storedIdentity)
	}

	ids := []*principal{{name: SystemName, system: true, clientID: f.System.ClientID, objectID: f.System.ObjectID}}
	for _, u := range c.users {
		s, ok := f.UserAssigned[u.Name]
		switch {
		case !ok:
			s = storedIdentity{ClientID: u.ClientID, ObjectID: directory.NewGUID(), Created: now}
			if s.ClientID == "" {
				s.ClientID = directory.NewGUID()
			}
			f.UserAssigned[u.Name] = s
			changed = true
			log.Info("created a user-assigned managed identity", "name", u.Name, "client_id", s.ClientID, "object_id", s.ObjectID)
		case u.ClientID != "" && u.ClientID != s.ClientID:
			s.ClientID = u.ClientID
			f.UserAssigned[u.Name] = s
			changed = true
			log.Info("changed a user-assigned identity's client id", "name", u.Name, "client_id", s.ClientID)
		}
		ids = append(ids, &principal{name: u.Name, clientID: s.ClientID, objectID: s.ObjectID})
	}

	if f.Applications == nil {
		f.Applications = make(map[string]storedIdentity)
	}
	for _, a := range c.apps {
		s, ok := f.Applications[a.name]
		switch {
		case !ok:
			s = storedIdentity{ClientID: a.clientID, ObjectID: directory.NewGUID(), Created: now}
			f.Applications[a.name] = s
			changed = true
			log.Info("registered an application", "name", a.name, "client_id", s.ClientID, "object_id", s.ObjectID)
		case s.ClientID != a.clientID:
			s.ClientID = a.clientID
			f.Applications[a.name] = s
			changed = true
			log.Info("changed an application's client id", "name", a.name, "client_id", s.ClientID)
		}
		a.objectID = s.ObjectID
	}

	// A configured client id may collide with one generated earlier.
	var errs []error
	owner := map[string]string{}
	for _, p := range ids {
		who := "the system-assigned identity"
		if !p.system {
			who = fmt.Sprintf("user-assigned identity %q", p.name)
		}
		if prev, dup := owner[p.clientID]; dup {
			// A conflict with the state, not within the configuration: it is
			// named as lastmile.yaml names the identity.
			errs = append(errs, fmt.Errorf("identity.userAssignedIdentities: the client id %s of %q is already the client id of %s (kept in %s); choose another, or remove clientId to have one generated",
				p.clientID, p.name, prev, state.Describe(identitiesFile)))
			continue
		}
		owner[p.clientID] = who
	}
	for _, a := range c.apps {
		if prev, dup := owner[a.clientID]; dup {
			errs = append(errs, fmt.Errorf("identity.applications: the client id %s of %q is already the client id of %s (kept in %s); choose another",
				a.clientID, a.name, prev, state.Describe(identitiesFile)))
		}
	}
	if len(errs) > 0 {
		return "", nil, f, false, errors.Join(errs...)
	}
	return f.TenantID, ids, f, changed, nil
}

func (f *identityFile) check() error {
	if f.Version != 1 {
		return fmt.Errorf("version %d is not supported (this lastmile reads version 1)", f.Version)
	}
	if c, ok := directory.CanonicalGUID(f.TenantID); !ok || c != f.TenantID {
		return fmt.Errorf("tenant_id %q is not a lower-case GUID", f.TenantID)
	}
	check := func(what string, s storedIdentity) error {
		for _, v := range [...]struct{ field, id string }{{"client_id", s.ClientID}, {"object_id", s.ObjectID}} {
			if c, ok := directory.CanonicalGUID(v.id); !ok || c != v.id {
				return fmt.Errorf("%s.%s %q is not a lower-case GUID", what, v.field, v.id)
			}
		}
		return nil
	}
	if err := check("system_assigned", f.System); err != nil {
		return err
	}
	objects := map[string]string{f.System.ObjectID: "system_assigned"}
	all := map[string]storedIdentity{}
	var names []string
	for _, name := range slices.Sorted(maps.Keys(f.UserAssigned)) {
		what := fmt.Sprintf("user_assigned[%q]", name)
		all[what] = f.UserAssigned[name]
		names = append(names, what)
	}
	for _, name := range slices.Sorted(maps.Keys(f.Applications)) {
		what := fmt.Sprintf("applications[%q]", name)
		all[what] = f.Applications[name]
		names = append(names, what)
	}
	for _, what := range names {
		s := all[what]
		if err := check(what, s); err != nil {
			return err
		}
		if prev, dup := objects[s.ObjectID]; dup {
			return fmt.Errorf("%s.object_id is also the object id of %s", what, prev)
		}
		objects[s.ObjectID] = what
	}
	return nil
}

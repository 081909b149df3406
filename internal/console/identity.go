package console

import (
	"net/http"
	"slices"
	"time"

	"github.com/lastmile-gw/lastmile/internal/reqtrace"
)

type identityJSON struct {
	Name           string `json:"name"`
	SystemAssigned bool   `json:"systemAssigned"`
	ClientID       string `json:"clientId"`
	ObjectID       string `json:"objectId"`
}

type resourceJSON struct {
	ID        string   `json:"id"`
	Roles     []string `json:"roles"`
	Profile   string   `json:"tokenProfile,omitempty"`
	Algorithm string   `json:"signingAlgorithm,omitempty"`
	// Assignments are the roles granted, by identity or application name.
	Assignments []assignmentJSON `json:"assignments"`
}

type assignmentJSON struct {
	Identity string   `json:"identity"`
	Roles    []string `json:"roles"`
}

type cacheEntryJSON struct {
	ClientID    string     `json:"clientId"`
	Resource    string     `json:"resource"`
	HasToken    bool       `json:"hasToken"`
	Obtained    *time.Time `json:"obtained,omitempty"`
	ExpiresAt   *time.Time `json:"expiresAt,omitempty"`
	UsableUntil *time.Time `json:"usableUntil,omitempty"`
	NextRefresh *time.Time `json:"nextRefresh,omitempty"`
	// State is fresh, refreshing, refresh-due, outage, failing or empty.
	State     string     `json:"state"`
	Failures  int        `json:"failures"`
	RetryAt   *time.Time `json:"retryAt,omitempty"`
	LastError string     `json:"lastError,omitempty"`
}

type keyJSON struct {
	KeyID          string     `json:"kid"`
	Algorithm      string     `json:"alg"`
	State          string     `json:"state"`
	Created        time.Time  `json:"created"`
	Activated      *time.Time `json:"activated,omitempty"`
	Retired        *time.Time `json:"retired,omitempty"`
	PublishedUntil *time.Time `json:"publishedUntil,omitempty"`
}

type issuanceJSON struct {
	Time      time.Time  `json:"time"`
	Grant     string     `json:"grant"`
	ClientID  string     `json:"clientId"`
	Resource  string     `json:"resource"`
	KeyID     string     `json:"kid,omitempty"`
	TokenID   string     `json:"jti,omitempty"`
	ExpiresAt *time.Time `json:"expiresAt,omitempty"`
	Error     string     `json:"error,omitempty"`
}

func timePtr(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

func (h *Handler) identity(w http.ResponseWriter, r *http.Request) (any, error) {
	now := time.Now()
	out := map[string]any{}
	// Errors come from token sources and the identity provider, which keep
	// tokens out of them; what looks like one is cut out all the same.
	redact := func(s string) string { return reqtrace.Redact(s, nil) }
	if snap := h.o.Source.Snapshot(); snap != nil {
		redact = snap.Redact
	}
	cache := []cacheEntryJSON{}
	if tc := h.o.Source.TokenCache(); tc != nil {
		for _, e := range tc.Entries() {
			cj := cacheEntryJSON{ClientID: e.ClientID, Resource: e.Resource, HasToken: e.HasToken, Failures: e.Failures,
				RetryAt: timePtr(e.RetryAt), LastError: redact(e.LastError)}
			if e.HasToken {
				cj.Obtained, cj.ExpiresAt, cj.UsableUntil, cj.NextRefresh = timePtr(e.Obtained), timePtr(e.ExpiresAt), timePtr(e.UsableUntil), timePtr(e.RefreshAt)
			}
			switch {
			case !e.HasToken && e.Failures > 0:
				cj.State = "failing"
			case !e.HasToken:
				cj.State = "empty"
			case e.Outage():
				cj.State = "outage"
			case e.Refreshing:
				cj.State = "refreshing"
			case !now.Before(e.RefreshAt):
				cj.State = "refresh-due"
			default:
				cj.State = "fresh"
			}
			cache = append(cache, cj)
		}
	}
	out["tokenCache"] = cache
	d := h.o.Source.Directory()
	if d == nil {
		return out, nil
	}
	out["issuer"], out["tenantId"] = d.Issuer(), d.TenantID()
	ids := []identityJSON{}
	for _, id := range d.Identities() {
		ids = append(ids, identityJSON{Name: id.Name, SystemAssigned: id.SystemAssigned, ClientID: id.ClientID, ObjectID: id.ObjectID})
	}
	out["identities"] = ids
	apps := []identityJSON{}
	for _, a := range d.Applications() {
		apps = append(apps, identityJSON{Name: a.Name, ClientID: a.ClientID, ObjectID: a.ObjectID})
	}
	out["applications"] = apps
	res := []resourceJSON{}
	for _, r := range d.Resources() {
		rj := resourceJSON{ID: r.ID, Roles: append([]string{}, r.Roles...), Profile: string(r.TokenProfile), Algorithm: r.SigningAlgorithm, Assignments: []assignmentJSON{}}
		for _, who := range sortedKeys(r.Assignments) {
			rj.Assignments = append(rj.Assignments, assignmentJSON{Identity: who, Roles: slices.Clone(r.Assignments[who])})
		}
		res = append(res, rj)
	}
	out["resources"] = res
	keys := []keyJSON{}
	for _, k := range d.Keys() {
		keys = append(keys, keyJSON{KeyID: k.KeyID, Algorithm: k.Algorithm, State: string(k.State), Created: k.Created.UTC(),
			Activated: timePtr(k.Activated), Retired: timePtr(k.Retired), PublishedUntil: timePtr(k.PublishedUntil)})
	}
	out["signingKeys"] = keys
	s := d.KeySchedule()
	sched := map[string]any{"rotationPeriod": s.RotationPeriod.String(), "prepublish": s.Prepublish.String(), "automatic": !s.Manual}
	if next := timePtr(d.NextKeyEvent()); next != nil {
		sched["nextChange"] = next
	}
	out["keySchedule"] = sched
	recent := []issuanceJSON{}
	for _, is := range d.RecentIssuance() {
		recent = append(recent, issuanceJSON{Time: is.Time.UTC(), Grant: is.Grant, ClientID: is.ClientID, Resource: is.Resource,
			KeyID: is.KeyID, TokenID: is.TokenID, ExpiresAt: timePtr(is.ExpiresAt), Error: redact(is.Error)})
	}
	out["recentIssuance"] = recent
	return out, nil
}

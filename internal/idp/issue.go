package idp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/identity"
)

// Token is an issued access token and what it says. Its String, GoString and
// LogValue methods never show Value.
type Token struct {
	Value     string // the signed JWT
	IssuedAt  time.Time
	ExpiresAt time.Time
	Audience  string   // the resource id as registered
	ClientID  string   // the identity's client id
	ObjectID  string   // the identity's object id
	Roles     []string // the identity's app roles on the resource
	KeyID     string   // the kid of the signing key
	ID        string   // the jti claim (uti in the Entra profiles)
	Profile   TokenProfile
	Algorithm string // AlgES256 or AlgRS256
}

// String describes the token without its value.
func (t Token) String() string {
	return fmt.Sprintf("idp.Token{Value:[redacted] Audience:%q ClientID:%s ExpiresAt:%s}",
		t.Audience, t.ClientID, t.ExpiresAt.UTC().Format(time.RFC3339))
}

// GoString is String, so %#v does not print the value either.
func (t Token) GoString() string { return t.String() }

// LogValue implements slog.LogValuer: the claims that identify the token, never
// the token.
func (t Token) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("aud", t.Audience),
		slog.String("client_id", t.ClientID),
		slog.String("jti", t.ID),
		slog.Time("expires_at", t.ExpiresAt),
	)
}

// Sentinel errors for token requests the configuration refuses. The *Error that
// Issue returns matches one of them and identity.ErrConfiguration.
var (
	// ErrUnknownResource: the resource is not registered.
	ErrUnknownResource = errors.New("resource not registered")
	// ErrUnknownIdentity: no identity has the client id.
	ErrUnknownIdentity = errors.New("managed identity not found")
)

// Error is a token request refused by the configuration, shaped like Entra's
// errors so the messages people search for still lead somewhere. It matches
// identity.ErrConfiguration and ErrUnknownResource or ErrUnknownIdentity.
type Error struct {
	// Code is the Entra error code: AADSTS500011 (resource principal not found)
	// or AADSTS700016 (application not found).
	Code string
	// Description says what was not found and what to do.
	Description string

	kind error
}

// Error returns the code and the description, as Entra writes them.
func (e *Error) Error() string { return e.Code + ": " + e.Description }

// Unwrap returns the sentinel for the kind of error and identity.ErrConfiguration.
func (e *Error) Unwrap() []error { return []error{e.kind, identity.ErrConfiguration} }

// accessClaims are the claims of a native-profile access token: RFC 9068's
// with Entra's names for the same things alongside.
type accessClaims struct {
	Issuer    string   `json:"iss"`
	Subject   string   `json:"sub"`
	Audience  string   `json:"aud"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expiry    int64    `json:"exp"`
	ID        string   `json:"jti"`
	ClientID  string   `json:"client_id"`
	AppID     string   `json:"appid"`
	AZP       string   `json:"azp"`
	ObjectID  string   `json:"oid"`
	TenantID  string   `json:"tid"`
	Roles     []string `json:"roles,omitempty"`
}

// entraV1Claims are the claims of an Entra v1.0 app-only access token.
type entraV1Claims struct {
	Audience  string   `json:"aud"`
	Issuer    string   `json:"iss"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expiry    int64    `json:"exp"`
	AppID     string   `json:"appid"`
	AppIDACR  string   `json:"appidacr"`
	IDP       string   `json:"idp"`
	IDType    string   `json:"idtyp"`
	ObjectID  string   `json:"oid"`
	Roles     []string `json:"roles,omitempty"`
	Subject   string   `json:"sub"`
	TenantID  string   `json:"tid"`
	UTI       string   `json:"uti"`
	Version   string   `json:"ver"`
}

// entraV2Claims are the claims of an Entra v2.0 app-only access token.
type entraV2Claims struct {
	Audience  string   `json:"aud"`
	Issuer    string   `json:"iss"`
	IssuedAt  int64    `json:"iat"`
	NotBefore int64    `json:"nbf"`
	Expiry    int64    `json:"exp"`
	AZP       string   `json:"azp"`
	AZPACR    string   `json:"azpacr"`
	IDType    string   `json:"idtyp"`
	ObjectID  string   `json:"oid"`
	Roles     []string `json:"roles,omitempty"`
	Subject   string   `json:"sub"`
	TenantID  string   `json:"tid"`
	UTI       string   `json:"uti"`
	Version   string   `json:"ver"`
}

// How the client authenticated, as Entra's appidacr/azpacr: "1" a client
// secret, "2" a certificate or assertion (managed identities too).
const (
	acrSecret      = "1"
	acrCertificate = "2"
)

// EntraV1Issuer and EntraV2Issuer return the iss of Entra-profile tokens for a
// tenant, exactly as Entra writes them.
func EntraV1Issuer(tenantID string) string { return "https://sts.windows.net/" + tenantID + "/" }

// EntraV2Issuer: see EntraV1Issuer.
func EntraV2Issuer(tenantID string) string {
	return "https://login.microsoftonline.com/" + tenantID + "/v2.0"
}

// Issue signs an access token for an identity and a resource. clientID "" is the
// system-assigned identity; otherwise it is a user-assigned identity's client id
// (any case). The resource must be registered; it matches ignoring a trailing
// "/.default", a trailing "/" and ASCII case, and the token's aud is the resource
// as registered. The resource's profile and signing algorithm apply. Refusals
// are *Error values matching identity.ErrConfiguration.
func (p *Provider) Issue(ctx context.Context, clientID, resource string) (Token, error) {
	tok, err := p.issueFor(ctx, clientID, resource)
	p.recent.add(GrantManagedIdentity, clientID, resource, tok, err)
	if p.observer != nil {
		p.observer.TokenIssued("managed_identity", err)
	}
	return tok, err
}

func (p *Provider) issueFor(ctx context.Context, clientID, resource string) (Token, error) {
	if err := ctx.Err(); err != nil {
		return Token{}, err
	}
	who := p.identities[0]
	if clientID != "" {
		cid, _ := directory.CanonicalGUID(clientID)
		if who = p.byClientID[cid]; who == nil {
			return Token{}, &Error{
				Code: "AADSTS700016",
				Description: fmt.Sprintf("no managed identity with client id %q in tenant %s; declare it under identity.userAssignedIdentities in lastmile.yaml, or omit client-id to use the system-assigned identity",
					clip(clientID), p.tenantID),
				kind: ErrUnknownIdentity,
			}
		}
	}
	res := p.cfg.resources[identity.NormalizeResource(resource)]
	if res == nil {
		return Token{}, p.unknownResource(resource)
	}
	return p.issue(who, res, acrCertificate)
}

func (p *Provider) unknownResource(resource string) *Error {
	return &Error{
		Code: "AADSTS500011",
		Description: fmt.Sprintf("the resource principal named %q was not found in tenant %s; register it under identity.resources in lastmile.yaml",
			clip(resource), p.tenantID),
		kind: ErrUnknownResource,
	}
}

// issue signs a token for a principal and a registered resource.
func (p *Provider) issue(who *principal, res *resource, acr string) (Token, error) {
	now := time.Now()
	iat := now.Unix()
	exp := now.Add(p.cfg.lifetime).Unix()
	var b [16]byte
	rand.Read(b[:])
	id := base64.RawURLEncoding.EncodeToString(b[:])
	roles := res.roles[who.name]
	ring := p.keys.ring.Load()
	key := ring.signer(res.alg)
	if key == nil {
		return Token{}, fmt.Errorf("no current %s signing key", res.alg)
	}
	var claims any
	signer := key.jwt
	switch res.profile {
	case ProfileEntraV1:
		iss := EntraV1Issuer(p.tenantID)
		claims = &entraV1Claims{
			Audience: res.id, Issuer: iss, IssuedAt: iat, NotBefore: iat, Expiry: exp,
			AppID: who.clientID, AppIDACR: acr, IDP: iss, IDType: "app", ObjectID: who.objectID,
			Roles: roles, Subject: who.objectID, TenantID: p.tenantID, UTI: id, Version: "1.0",
		}
	case ProfileEntraV2:
		claims = &entraV2Claims{
			Audience: res.id, Issuer: EntraV2Issuer(p.tenantID), IssuedAt: iat, NotBefore: iat, Expiry: exp,
			AZP: who.clientID, AZPACR: acr, IDType: "app", ObjectID: who.objectID,
			Roles: roles, Subject: who.objectID, TenantID: p.tenantID, UTI: id, Version: "2.0",
		}
	default:
		signer = key.at
		claims = &accessClaims{
			Issuer: p.cfg.issuer, Subject: who.objectID, Audience: res.id,
			IssuedAt: iat, NotBefore: iat, Expiry: exp, ID: id,
			ClientID: who.clientID, AppID: who.clientID, AZP: who.clientID,
			ObjectID: who.objectID, TenantID: p.tenantID, Roles: roles,
		}
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return Token{}, fmt.Errorf("encoding token claims: %w", err)
	}
	// Sign the encoded claims with the go-jose signer directly: jwt.Signed(...).Claims
	// round-trips them through a map, which doubles the allocations per token.
	jws, err := signer.Sign(payload)
	if err != nil {
		return Token{}, fmt.Errorf("signing a token with key %s: %w", key.kid, err)
	}
	raw, err := jws.CompactSerialize()
	if err != nil {
		return Token{}, fmt.Errorf("serializing a token: %w", err)
	}
	return Token{
		Value:     raw,
		IssuedAt:  time.Unix(iat, 0),
		ExpiresAt: time.Unix(exp, 0),
		Audience:  res.id,
		ClientID:  who.clientID,
		ObjectID:  who.objectID,
		Roles:     append([]string(nil), roles...),
		KeyID:     key.kid,
		ID:        id,
		Profile:   res.profile,
		Algorithm: key.alg,
	}, nil
}

// clip shortens a caller-supplied string for an error message.
func clip(s string) string {
	const max = 200
	if len(s) <= max {
		return s
	}
	return s[:max] + "..."
}

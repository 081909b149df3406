package policies

import (
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/lastmile-gw/lastmile/internal/directory"
	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/expr"
	"github.com/lastmile-gw/lastmile/internal/jwks"
	"github.com/lastmile-gw/lastmile/internal/jwtverify"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// Tenant is lastmile's own identity provider as validate-azure-ad-token sees
// it: its tenant id and the keys of its Entra-profile issuers.
type Tenant struct {
	// ID is the tenant id, lower case; "" when there is no identity provider.
	ID string
	// V1 and V2 are the keys of https://sts.windows.net/{ID}/ and
	// https://login.microsoftonline.com/{ID}/v2.0.
	V1, V2 *jwks.Source
}

// DefaultAuthenticationEndpoint is Entra ID's, in Azure's public cloud.
const DefaultAuthenticationEndpoint = "https://login.microsoftonline.com"

// validTenant reports whether s is a tenant id as it may appear in a URL
// path: a GUID or a domain name such as contoso.onmicrosoft.com (a letter or
// digit, then up to 252 letters, digits, dots and hyphens).
func validTenant(s string) bool { return directory.IsIdentifier(s, 253, ".-") }

// maxTenants bounds the tenants a tenant-id expression may name, since each
// has its own key sources.
const maxTenants = 16

// validate-azure-ad-token is validate-jwt for Entra ID: the keys and issuers
// of the tenant's v1 and v2 OpenID configurations, the token's client
// application (appid or azp) among client-application-ids, its audience among
// audiences and backend-application-ids. When tenant-id is lastmile's own
// tenant, the keys are those of lastmile's identity provider (its entra-v1 and
// entra-v2 token profiles), unless authentication-endpoint says otherwise.
func (d Deps) validateAzureADToken(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "tenant-id", "header-name", "query-parameter-name", "token-value", "failed-validation-httpcode",
		"failed-validation-error-message", "output-token-variable-name", "authentication-endpoint")
	c.CheckChildren(el, "client-application-ids", "backend-application-ids", "audiences", "required-claims")
	p := &jwtPolicy{requireExp: pipeline.Literal("true"), requireSigned: pipeline.Literal("true")}
	p.where = compileTokenLocation(c, el, "Authorization")
	p.where.scheme, p.where.hasScheme = pipeline.Literal("Bearer"), p.where.kind == "header"
	p.compileCommon(c, el)
	tenant, hasTenant := c.RequiredAttr(el, "tenant-id")
	endpoint, explicitEndpoint := c.LiteralAttr(el, "authentication-endpoint")
	endpoint = strings.TrimRight(strings.TrimSpace(endpoint), "/")
	if !explicitEndpoint {
		endpoint = DefaultAuthenticationEndpoint
	} else if msg := jwks.CheckURL(endpoint, d.AllowInsecureIssuer); msg != "" {
		c.Report(c.Errorf(el.Attr("authentication-endpoint").Value.Pos(), "authentication-endpoint: %s", msg))
	}
	p.clientApps = []string{}
	hasClients := false
	for _, ch := range el.Elements() {
		switch ch.Name {
		case "client-application-ids", "backend-application-ids":
			c.CheckAttrs(ch)
			c.CheckChildren(ch, "application-id")
			for _, a := range ch.Elements() {
				c.CheckAttrs(a)
				c.CheckChildren(a)
				if a.Text().IsExpression() {
					c.Report(c.Errorf(a.Text().Pos(), "<application-id> does not accept policy expressions; use a named value"))
					continue
				}
				id := strings.TrimSpace(a.Text().String())
				if ch.Name == "client-application-ids" {
					p.clientApps = append(p.clientApps, id)
					hasClients = true
				} else {
					// A v2 token's aud is the backend's application id; a v1
					// token's is whatever the client asked for, often api://id.
					p.audiences = append(p.audiences, pipeline.Literal(id), pipeline.Literal("api://"+id))
				}
			}
		}
	}
	if !hasClients {
		c.Report(c.Errorf(el.Pos, "<validate-azure-ad-token> needs <client-application-ids> with at least one <application-id>: the applications whose tokens are accepted"))
	}
	if !hasTenant {
		return nil, nil
	}
	if lit, isLit := tenant.Literal(); isLit {
		lit = strings.ToLower(strings.TrimSpace(lit))
		if !validTenant(lit) {
			c.Report(c.Errorf(el.Attr("tenant-id").Value.Pos(), "tenant-id must be a GUID or a domain name such as contoso.onmicrosoft.com, not %q", lit))
			return nil, nil
		}
		p.sources = d.tenantSources(lit, endpoint, explicitEndpoint)
	} else {
		var mu sync.Mutex
		byTenant := map[string][]*keySource{}
		p.tenant = func(x *exchange.Exchange) ([]*keySource, error) {
			t, err := tenant.String(x)
			if err != nil {
				return nil, err
			}
			t = strings.ToLower(strings.TrimSpace(t))
			if !validTenant(t) {
				return nil, &pipeline.Error{Reason: "InvalidTenantId", Message: "tenant-id is not a GUID or a domain name", Status: http.StatusInternalServerError}
			}
			mu.Lock()
			defer mu.Unlock()
			if s, ok := byTenant[t]; ok {
				return s, nil
			}
			if len(byTenant) >= maxTenants {
				return nil, &pipeline.Error{Reason: "InvalidTenantId", Message: "tenant-id named more than 16 different tenants", Status: http.StatusInternalServerError}
			}
			s := d.tenantSources(t, endpoint, explicitEndpoint)
			byTenant[t] = s
			return s, nil
		}
	}
	if c.Failed() {
		return nil, nil
	}
	return p, nil
}

// tenantSources are the key sources of a tenant's v2 and v1 issuers: lastmile's
// own identity provider for its own tenant (unless authentication-endpoint is
// given), else the endpoint's discovery documents.
func (d Deps) tenantSources(tenant, endpoint string, explicitEndpoint bool) []*keySource {
	if !explicitEndpoint && d.OwnTenant.ID != "" && tenant == d.OwnTenant.ID {
		return []*keySource{{src: d.OwnTenant.V2}, {src: d.OwnTenant.V1}}
	}
	return []*keySource{
		d.keySource(endpoint + "/" + tenant + "/v2.0/.well-known/openid-configuration"),
		d.keySource(endpoint + "/" + tenant + "/.well-known/openid-configuration"),
	}
}

// checkClientApp requires the token's client application, appid (v1) or azp
// (v2), to be one of allowed.
func checkClientApp(jwt *expr.Jwt, allowed []string) error {
	var app string
	for _, name := range []string{"azp", "appid"} {
		if v := jwt.Claims[name]; len(v) == 1 {
			app = v[0]
			break
		}
	}
	if app == "" {
		return &jwtverify.Error{Reason: jwtverify.TokenClaimNotFound, Message: "JWT token is missing the following claims: appid, azp. Access denied."}
	}
	if !slices.ContainsFunc(allowed, func(a string) bool { return strings.EqualFold(a, app) }) {
		return &jwtverify.Error{Reason: jwtverify.TokenClaimValueNotAllowed,
			Message: "The token's client application (appid or azp) " + clipValue(app) + " is not among client-application-ids. Access denied."}
	}
	return nil
}

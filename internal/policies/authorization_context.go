package policies

import (
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// get-authorization-context reads a connection of API Management's
// credential manager: OAuth 2.0 tokens that a user consented to in the Azure
// portal (authorization code, with the service's redirect URI), or that the
// service obtained with client credentials, kept and refreshed by the
// service, and shared through access policies with identities. lastmile has
// no credential manager: no consent flow, no token store, no connections to
// name with provider-id and authorization-id. The public samples that use the
// policy (GitHub, ServiceNow, Spotify, Microsoft Graph in the AI-Gateway MCP
// labs) all name authorization-code connections, which a configuration file
// cannot stand in for, so lastmile refuses the policy at load, saying what
// to use instead, rather than run it with a different meaning.
func getAuthorizationContext(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	return nil, c.Errorf(el.Pos, "get-authorization-context is not supported by lastmile: it reads a connection of API Management's "+
		"credential manager (OAuth tokens that a user consented to in the Azure portal, kept and refreshed by the service), and lastmile has none. "+
		"For a backend that trusts lastmile's identity provider use authentication-managed-identity; for another OAuth 2.0 server with client "+
		"credentials, send-request to its token endpoint and cache the token with cache-store-value (docs/policies.md, get-authorization-context)")
}

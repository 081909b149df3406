package config

import (
	"bytes"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v4"
)

// Marshal returns c as lastmile.yaml with every field written out, defaults
// included, in the documented order. Parsing the result gives c back. It is what
// an operator sees as the effective configuration; it holds no secrets (the Redis
// password and the state encryption key are only ever named, by passwordEnv,
// encryptionKeyEnv or encryptionKeyFile).
func (c *Config) Marshal() ([]byte, error) {
	id := mapNode(
		"tenantId", str(c.Identity.TenantID),
		"tokenLifetime", str(formatDuration(c.Identity.TokenLifetime)),
		"userAssignedIdentities", seqOf(len(c.Identity.UserAssignedIdentities), func(i int) *yaml.Node {
			u := c.Identity.UserAssignedIdentities[i]
			return mapNode("name", str(u.Name), "clientId", str(u.ClientID))
		}),
		"resources", seqOf(len(c.Identity.Resources), func(i int) *yaml.Node {
			r := c.Identity.Resources[i]
			asg := mapNode()
			for _, a := range r.Assignments {
				asg.Content = append(asg.Content, str(a.Identity), flowStrings(a.Roles))
			}
			return mapNode("id", str(r.ID), "roles", flowStrings(r.Roles), "assignments", asg,
				"tokenProfile", str(r.TokenProfile), "signingAlgorithm", str(r.SigningAlgorithm))
		}),
	)
	id.Content = append(id.Content, mapNode(marshalIdentityPlane(&c.Identity)...).Content...)
	id.Content = append(id.Content, mapNode(marshalTokenService(&c.Identity)...).Content...)
	root := mapNode(
		"identity", id,
		"listeners", mapNode(
			"gateway", marshalListener(c.Listeners.Gateway, c.Listeners.TLS.Gateway),
			"identity", marshalListener(c.Listeners.Identity, c.Listeners.TLS.Identity),
			"issuer", str(c.Listeners.Issuer),
			"metrics", marshalListener(c.Listeners.Metrics, c.Listeners.TLS.Metrics),
			"console", marshalListener(c.Listeners.Console, c.Listeners.TLS.Console),
			"acmeHTTP", str(c.Listeners.ACMEHTTP),
		),
		"backend", mapNode(
			"caFile", str(c.Backend.CAFile),
			"timeout", str(formatDuration(c.Backend.Timeout)),
		),
		"gateway", mapNode(
			"region", str(c.Gateway.Region),
			"serviceName", str(c.Gateway.ServiceName),
		),
		"store", mapNode(
			"type", str(c.Store.Type),
			"redis", mapNode(
				"address", str(c.Store.Redis.Address),
				"username", str(c.Store.Redis.Username),
				"passwordEnv", str(c.Store.Redis.PasswordEnv),
				"db", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: strconv.Itoa(c.Store.Redis.DB)},
				"tls", &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: strconv.FormatBool(c.Store.Redis.TLS)},
				"timeout", str(formatDuration(c.Store.Redis.Timeout)),
				"leaseTTL", str(formatDuration(c.Store.Redis.LeaseTTL)),
			),
			"failureMode", mapNode(
				"rateLimit", str(c.Store.FailureMode.RateLimit),
				"quota", str(c.Store.FailureMode.Quota),
				"concurrency", str(c.Store.FailureMode.Concurrency),
			),
			"encryptionKeyEnv", str(c.Store.EncryptionKeyEnv),
			"encryptionKeyFile", str(c.Store.EncryptionKeyFile),
		),
		"limits", marshalLimits(c.Limits),
		"shutdown", mapNode("gracePeriod", str(formatDuration(c.Shutdown.GracePeriod))),
		"certificates", seqOf(len(c.Certificates), func(i int) *yaml.Node {
			cert := c.Certificates[i]
			return mapNode("id", str(cert.ID), "file", str(cert.File), "passwordEnv", str(cert.PasswordEnv))
		}),
		"telemetry", marshalTelemetry(c.Telemetry),
		"console", marshalConsole(c.Console),
		"dapr", mapNode("url", str(c.Dapr.URL)),
	)
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&yaml.Node{Kind: yaml.DocumentNode, Content: []*yaml.Node{root}}); err != nil {
		return nil, err
	}
	if err := enc.Close(); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func str(s string) *yaml.Node {
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s}
}

func mapNode(kv ...any) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode, Tag: "!!map"}
	for i := 0; i+1 < len(kv); i += 2 {
		n.Content = append(n.Content, str(kv[i].(string)), kv[i+1].(*yaml.Node))
	}
	return n
}

func seqOf(n int, item func(i int) *yaml.Node) *yaml.Node {
	s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq"}
	for i := range n {
		s.Content = append(s.Content, item(i))
	}
	return s
}

func flowStrings(vals []string) *yaml.Node {
	s := &yaml.Node{Kind: yaml.SequenceNode, Tag: "!!seq", Style: yaml.FlowStyle}
	for _, v := range vals {
		s.Content = append(s.Content, str(v))
	}
	return s
}

// formatDuration writes d the way people write it: 1h rather than 1h0m0s.
func formatDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func marshalConsole(c Console) *yaml.Node {
	if c.Auth == nil {
		return mapNode()
	}
	issuer := func(ci *ConsoleIssuer, withIssuer bool) *yaml.Node {
		n := mapNode("audience", str(ci.Audience), "role", str(ci.Role))
		if withIssuer {
			n = mapNode("issuer", str(ci.Issuer), "audience", str(ci.Audience), "role", str(ci.Role))
		}
		return n
	}
	auth := mapNode()
	if c.Auth.Lastmile != nil {
		auth.Content = append(auth.Content, str("lastmile"), issuer(c.Auth.Lastmile, false))
	}
	if c.Auth.OIDC != nil {
		auth.Content = append(auth.Content, str("oidc"), issuer(c.Auth.OIDC, true))
	}
	return mapNode("auth", auth)
}

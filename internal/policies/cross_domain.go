package policies

import (
	"context"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// crossDomainPolicy is the cross-domain policy: the Adobe cross-domain policy
// file that Flash and Silverlight clients fetch from /crossdomain.xml before
// they call an API. It does nothing in the pipeline; the gateway serves the
// file (CrossDomainPolicy), as API Management does.
type crossDomainPolicy struct {
	children string // the <cross-domain-policy> element's children, as written
}

// crossDomainChildren are the elements and attributes of Adobe's cross-domain
// policy file specification.
var crossDomainChildren = map[string][]string{
	"site-control":                    {"permitted-cross-domain-policies"},
	"allow-access-from":               {"domain", "to-ports", "secure"},
	"allow-access-from-identity":      nil,
	"allow-http-request-headers-from": {"domain", "headers", "secure"},
}

func crossDomain(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el)
	if c.Scope() != "global" || !c.TopLevel() {
		return nil, c.Errorf(el.Pos, "<cross-domain> belongs directly in the inbound section of the global policy (policy.xml at the top of the configuration folder): it answers /crossdomain.xml for the whole gateway")
	}
	c.CheckChildren(el, "cross-domain-policy")
	kids := el.Elements()
	if len(kids) != 1 {
		return nil, c.Errorf(el.Pos, "<cross-domain> needs exactly one <cross-domain-policy> element, the content of the crossdomain.xml file")
	}
	doc := kids[0]
	c.CheckAttrs(doc)
	for _, ch := range doc.Elements() {
		attrs, ok := crossDomainChildren[ch.Name]
		if !ok {
			c.Report(c.Errorf(ch.Pos, "<%s> is not part of Adobe's cross-domain policy file; use site-control, allow-access-from, allow-access-from-identity or allow-http-request-headers-from", ch.Name))
			continue
		}
		if attrs != nil {
			c.CheckAttrs(ch, attrs...)
		}
		for _, a := range ch.Attrs {
			if a.Value.IsExpression() {
				c.Report(c.Errorf(a.Value.Pos(), "%s of <%s> does not accept policy expressions: the file is the same for every client", a.Name, ch.Name))
			}
		}
	}
	return &crossDomainPolicy{children: strings.TrimSpace(doc.InnerXML())}, nil
}

func (*crossDomainPolicy) Apply(context.Context, *exchange.Exchange) error { return nil }

// CrossDomainPolicy returns the children of the policy file's root element.
func (p *crossDomainPolicy) CrossDomainPolicy() string { return p.children }

package policies

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// ServiceBusResource is the resource of Service Bus's data plane tokens.
const ServiceBusResource = "https://servicebus.azure.net"

// serviceBusTimeout bounds one send.
const serviceBusTimeout = 60 * time.Second

// send-service-bus-message sends a message to a Service Bus queue or topic
// with Service Bus's REST API (POST https://{namespace}/{entity}/messages),
// authenticated with the gateway's managed identity. Like
// send-one-way-request, it is sent in the background: the request never
// waits for it, and a failure is logged.
type serviceBusPolicy struct {
	side   *sendRequestPolicy // its transport and log line
	sender *OneWay
	tokens TokenSource

	namespace, entity, clientID *pipeline.Value
	payload                     pipeline.Value
	props                       []serviceBusProperty
}

type serviceBusProperty struct {
	name  string
	value pipeline.Value
}

func (d Deps) sendServiceBusMessage(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "queue-name", "topic-name", "namespace", "client-id")
	c.CheckChildren(el, "payload", "message-properties")
	p := &serviceBusPolicy{side: &sendRequestPolicy{transport: d.SideRequests, logger: d.Logger}, sender: d.OneWay, tokens: d.Tokens}
	q, hasQ := c.Attr(el, "queue-name")
	t, hasT := c.Attr(el, "topic-name")
	switch {
	case hasQ == hasT:
		c.Report(c.Errorf(el.Pos, "<send-service-bus-message> needs queue-name or topic-name, not both"))
	case hasQ:
		p.entity = &q
	default:
		p.entity = &t
	}
	if ns, ok := c.RequiredAttr(el, "namespace"); ok {
		p.namespace = &ns
		if lit, isLit := ns.Literal(); isLit {
			if _, err := serviceBusURL(lit, "q"); err != nil {
				c.Report(c.Errorf(el.Attr("namespace").Value.Pos(), "namespace of <send-service-bus-message>: %s", err.Message))
			}
		}
	}
	if v, ok := c.Attr(el, "client-id"); ok {
		p.clientID = &v
	}
	c.CheckOnce(el, "payload", "message-properties")
	payloads := 0
	for _, ch := range el.Elements() {
		switch ch.Name {
		case "payload":
			payloads++
			c.CheckAttrs(ch)
			c.CheckChildren(ch)
			p.payload = c.Value(ch.Text())
		case "message-properties":
			c.CheckAttrs(ch)
			c.CheckChildren(ch, "message-property")
			for _, mp := range ch.Elements() {
				if mp.Name != "message-property" {
					continue
				}
				c.CheckAttrs(mp, "name")
				c.CheckChildren(mp)
				name, ok := c.LiteralAttr(mp, "name")
				name = strings.TrimSpace(name)
				if !ok || !validHeaderName(name) {
					c.Report(c.Errorf(mp.Pos, "<message-property> needs a name made of letters, digits and -._~ (it travels as an HTTP header), not %q", name))
					continue
				}
				p.props = append(p.props, serviceBusProperty{name: name, value: c.Value(mp.Text())})
			}
		}
	}
	if payloads == 0 {
		c.Report(c.Errorf(el.Pos, "<send-service-bus-message> needs a <payload>"))
	}
	if d.Tokens == nil && !c.Failed() {
		return nil, c.Errorf(el.Pos, "<send-service-bus-message> needs the gateway's managed identity, and this gateway has none")
	}
	return p, nil
}

// serviceBusURL is the send URL of entity in namespace (a host name, with a
// port for tests).
func serviceBusURL(namespace, entity string) (*url.URL, *pipeline.Error) {
	ns := strings.TrimSuffix(strings.TrimPrefix(strings.TrimSpace(namespace), "https://"), "/")
	u, err := url.Parse("https://" + ns)
	if ns == "" || err != nil || u.Host != ns || u.Hostname() == "" {
		return nil, &pipeline.Error{Reason: "InvalidNamespace", Message: "must be the namespace's host name, such as my-bus.servicebus.windows.net"}
	}
	entity = strings.TrimSpace(entity)
	if entity == "" {
		return nil, &pipeline.Error{Reason: "InvalidEntity", Message: "the queue or topic name is empty"}
	}
	u.Path = "/" + entity + "/messages"
	u.RawPath = "/" + url.PathEscape(entity) + "/messages"
	return u, nil
}

func (p *serviceBusPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	ns, err := p.namespace.String(x)
	if err != nil {
		return err
	}
	entity, err := p.entity.String(x)
	if err != nil {
		return err
	}
	target, perr := serviceBusURL(ns, entity)
	if perr != nil {
		return perr
	}
	clientID := ""
	if p.clientID != nil {
		if clientID, err = p.clientID.String(x); err != nil {
			return err
		}
	}
	payload, err := p.payload.String(x)
	if err != nil {
		return err
	}
	h := http.Header{"Content-Type": {"application/atom+xml;type=entry;charset=utf-8"}, "User-Agent": {""}}
	for _, prop := range p.props {
		v, err := prop.value.String(x)
		if err != nil {
			return err
		}
		// Service Bus reads a custom property's header as JSON: a string is
		// quoted.
		q, _ := json.Marshal(strings.TrimSpace(v))
		h.Set(prop.name, string(q))
	}
	requestID, body := x.RequestID, []byte(payload)
	p.sender.send(ctx, "send-service-bus-message", requestID, redactURL(target.String()), int64(len(body)), serviceBusTimeout, func(ctx context.Context) error {
		return p.send(ctx, requestID, clientID, target, h, body)
	})
	return nil
}

// send gets the token and posts the message; Service Bus answers 201.
func (p *serviceBusPolicy) send(ctx context.Context, requestID, clientID string, target *url.URL, h http.Header, body []byte) error {
	tok, err := accessToken(ctx, p.tokens, nil, clientID, ServiceBusResource)
	if err != nil {
		return err // names the resource, never a token
	}
	h.Set("Authorization", "Bearer "+tok)
	x := &exchange.Exchange{RequestID: requestID}
	resp, err := p.side.roundTrip(ctx, x, p.side.transport, http.MethodPost, target, h, body, serviceBusTimeout)
	if err != nil {
		return err
	}
	discard(resp)
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return &pipeline.Error{Reason: "ServiceBusRefused", Message: "Service Bus answered " + http.StatusText(resp.StatusCode)}
	}
	return nil
}

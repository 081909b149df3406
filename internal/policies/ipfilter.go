package policies

import (
	"context"
	"net/netip"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
	"github.com/lastmile-gw/lastmile/internal/pipeline"
	"github.com/lastmile-gw/lastmile/internal/policyxml"
)

// ip-filter allows or forbids callers by address. With action="allow" only the
// listed callers get through; with action="forbid" the listed callers are refused.
type ipFilterPolicy struct {
	allow  bool
	ranges []ipRange
}

type ipRange struct{ from, to netip.Addr }

func (r ipRange) contains(a netip.Addr) bool {
	return a.BitLen() == r.from.BitLen() && r.from.Compare(a) <= 0 && a.Compare(r.to) <= 0
}

func ipFilter(c *pipeline.Compiler, el *policyxml.Element) (pipeline.Policy, error) {
	c.CheckAttrs(el, "action")
	c.CheckChildren(el, "address", "address-range")
	action, ok := c.LiteralAttr(el, "action")
	if !ok {
		if el.Attr("action") == nil {
			return nil, c.Errorf(el.Pos, "<ip-filter> needs an action attribute: allow or forbid")
		}
		return nil, nil
	}
	p := &ipFilterPolicy{}
	switch strings.ToLower(strings.TrimSpace(action)) {
	case "allow":
		p.allow = true
	case "forbid":
	default:
		return nil, c.Errorf(el.Attr("action").Value.Pos(), "ip-filter action must be allow or forbid, not %q", action)
	}
	for _, ch := range el.Elements() {
		switch ch.Name {
		case "address":
			c.CheckAttrs(ch)
			v := ch.Text()
			if v.IsExpression() {
				c.Report(c.Errorf(v.Pos(), "lastmile does not support policy expressions in <address> yet; write the address"))
				continue
			}
			a, err := netip.ParseAddr(strings.TrimSpace(v.String()))
			if err != nil {
				c.Report(c.Errorf(v.Pos(), "<address> must be an IPv4 or IPv6 address, not %q", v.String()))
				continue
			}
			a = a.Unmap()
			p.ranges = append(p.ranges, ipRange{a, a})
		case "address-range":
			c.CheckAttrs(ch, "from", "to")
			c.CheckChildren(ch)
			from, ok1 := parseAddrAttr(c, ch, "from")
			to, ok2 := parseAddrAttr(c, ch, "to")
			if !ok1 || !ok2 {
				continue
			}
			if from.BitLen() != to.BitLen() || to.Less(from) {
				c.Report(c.Errorf(ch.Pos, "address-range from %s to %s is empty: both must be the same family and from <= to", from, to))
				continue
			}
			p.ranges = append(p.ranges, ipRange{from, to})
		}
	}
	if len(p.ranges) == 0 && !c.Failed() {
		return nil, c.Errorf(el.Pos, "<ip-filter> needs at least one <address> or <address-range>")
	}
	return p, nil
}

func parseAddrAttr(c *pipeline.Compiler, el *policyxml.Element, name string) (netip.Addr, bool) {
	s, ok := c.LiteralAttr(el, name)
	if !ok {
		if el.Attr(name) == nil {
			c.Report(c.Errorf(el.Pos, "<address-range> needs a %s attribute", name))
		}
		return netip.Addr{}, false
	}
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		c.Report(c.Errorf(el.Attr(name).Value.Pos(), "%s must be an IPv4 or IPv6 address, not %q", name, s))
		return netip.Addr{}, false
	}
	return a.Unmap(), true
}

func (p *ipFilterPolicy) Apply(ctx context.Context, x *exchange.Exchange) error {
	addr, err := netip.ParseAddr(x.Request.IPAddress)
	if err != nil {
		return &pipeline.Error{Reason: "FailedToParseCallerIP", Message: "Failed to establish IP address for the caller. Access denied.", Status: 403}
	}
	addr = addr.Unmap()
	matched := false
	for _, r := range p.ranges {
		if r.contains(addr) {
			matched = true
			break
		}
	}
	switch {
	case p.allow && !matched:
		return &pipeline.Error{Reason: "CallerIpNotAllowed", Message: "Caller IP address " + addr.String() + " is not allowed. Access denied.", Status: 403}
	case !p.allow && matched:
		return &pipeline.Error{Reason: "CallerIpBlocked", Message: "Caller IP address is blocked. Access denied.", Status: 403}
	}
	return nil
}

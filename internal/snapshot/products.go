package snapshot

import (
	"cmp"
	"maps"
	"slices"
	"strings"

	"github.com/lastmile-gw/lastmile/internal/exchange"
)

// products compiles the product policies and returns context.Product of each
// product, sorted by name.
func (c *compilation) products() []*exchange.Product {
	var out []*exchange.Product
	for _, name := range slices.Sorted(maps.Keys(c.svc.Products)) {
		p := c.svc.Products[name]
		state := "NotPublished"
		if strings.EqualFold(p.State, "published") {
			state = "Published"
		}
		out = append(out, &exchange.Product{
			ID: name, Name: cmp.Or(p.DisplayName, name), State: state,
			ApprovalRequired: p.ApprovalRequired, SubscriptionRequired: p.SubscriptionRequired,
			SubscriptionsLimit: p.SubscriptionsLimit,
		})
		c.productDocs[name] = c.compile(p.Policy, "product")
	}
	return out
}

// openProduct is the one of an API's products that needs no subscription:
// keyless calls run in its context. It is "" when there is none; apiops refuses
// an API in two.
func (c *compilation) openProduct(productNames []string) string {
	for _, name := range productNames {
		if !c.svc.Products[name].SubscriptionRequired {
			return name
		}
	}
	return ""
}

package identity_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/lastmile-gw/lastmile/internal/identity"
)

// A Cache in front of a token source: however many requests ask, the source is
// called once per identity and resource until the token is half-way through its life.
func ExampleCache() {
	calls := 0
	issuer := identity.TokenSourceFunc(func(ctx context.Context, clientID, resource string) (identity.Token, error) {
		calls++ // Cache never calls the source twice at once for the same key
		now := time.Now()
		return identity.Token{Value: "eyJ...", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}, nil
	})
	cache := identity.NewCache(issuer)

	ctx := context.Background()
	for _, resource := range []string{
		"https://storage.azure.com/",
		"https://storage.azure.com/.default", // the same resource, written as a scope
		"https://storage.azure.com",
	} {
		tok, err := cache.Token(ctx, "", resource) // "" is the system-assigned identity
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Println("token valid for about", time.Until(tok.ExpiresAt).Round(time.Hour))
	}
	fmt.Println("issuer calls:", calls)
	// Output:
	// token valid for about 1h0m0s
	// token valid for about 1h0m0s
	// token valid for about 1h0m0s
	// issuer calls: 1
}

// Configuration errors are remembered: a policy naming an unregistered resource
// does not call the issuer on every request.
func ExampleCache_configurationError() {
	calls := 0
	issuer := identity.TokenSourceFunc(func(ctx context.Context, clientID, resource string) (identity.Token, error) {
		calls++
		return identity.Token{}, fmt.Errorf("resource %q is not registered: %w", resource, identity.ErrConfiguration)
	})
	cache := identity.NewCache(issuer, identity.WithConfigErrorTTL(time.Minute))

	for range 3 {
		_, err := cache.Token(context.Background(), "", "api://unregistered")
		fmt.Println(errors.Is(err, identity.ErrConfiguration), err)
	}
	fmt.Println("issuer calls:", calls)
	// Output:
	// true resource "api://unregistered" is not registered: identity configuration error
	// true resource "api://unregistered" is not registered: identity configuration error
	// true resource "api://unregistered" is not registered: identity configuration error
	// issuer calls: 1
}

func ExampleNormalizeResource() {
	fmt.Println(identity.NormalizeResource("https://Storage.Azure.com/.default"))
	fmt.Println(identity.NormalizeResource("https://database.windows.net//.default"))
	fmt.Println(identity.NormalizeResource("api://orders/"))
	// Output:
	// https://storage.azure.com
	// https://database.windows.net
	// api://orders
}

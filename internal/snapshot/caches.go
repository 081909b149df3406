package snapshot

import (
	"context"
	"errors"
	"time"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/store"
)

// valueCaches returns the caches of the cache-*-value policies for one build.
// The internal cache is made once and kept, so that a reload does not empty it;
// keys are namespaced by the gateway's service name.
func (b *Builder) valueCaches(cfg *config.Config, validateOnly bool) policies.Caches {
	b.cacheOnce.Do(func() {
		if b.Cache.Internal == nil {
			b.Cache.Internal = store.NewMemory(0) // values only: no SetNX keys
		}
	})
	c := b.Cache
	if c.Namespace == "" {
		c.Namespace = cfg.Gateway.ServiceName
	}
	if c.External == nil && validateOnly && cfg.Store.Type == config.StoreRedis {
		// Validation contacts nothing, but caching-type="external" is valid with
		// the Redis that lastmile.yaml names.
		c.External = validationOnlyCache{}
	}
	return c
}

// validationOnlyCache stands in for Redis when only compiling.
type validationOnlyCache struct{}

var errValidationOnly = errors.New("validation only: no external cache")

func (validationOnlyCache) Get(context.Context, string) ([]byte, bool, error) {
	return nil, false, errValidationOnly
}

func (validationOnlyCache) Set(context.Context, string, []byte, time.Duration) error {
	return errValidationOnly
}

func (validationOnlyCache) Delete(context.Context, string) error { return errValidationOnly }

package server

import (
	"log/slog"

	"github.com/lastmile-gw/lastmile/internal/config"
	"github.com/lastmile-gw/lastmile/internal/policies"
	"github.com/lastmile-gw/lastmile/internal/store"
)

// limitStore is where rate-limit, quota and limit-concurrency count. It lives
// as long as the server, so that a reload keeps the counters.
type limitStore interface {
	policies.LimitStore
	Close() error
}

// openLimits returns the traffic limits' store: in Redis when the shared
// store is Redis, so that every instance counts together, else in memory.
// With Redis, the log says when Redis stops answering and when it answers
// again; in between, the limits follow store.failureMode.
func openLimits(shared sharedStore, c config.Store, log *slog.Logger) limitStore {
	r, ok := shared.(*store.Redis)
	if !ok {
		return store.NewMemoryLimits(0)
	}
	return r.Limits(store.LimitOptions{
		Timeout:  c.Redis.Timeout,
		LeaseTTL: c.Redis.LeaseTTL,
		OnChange: func(up bool, err error) {
			if up {
				log.Info("redis answers again; the traffic limits count in it again")
				return
			}
			f := c.FailureMode
			log.Warn("redis is not answering; until it does, the traffic limits follow store.failureMode",
				"error", err, "rateLimit", f.RateLimit, "quota", f.Quota, "concurrency", f.Concurrency)
		},
	})
}

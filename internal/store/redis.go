package store

import (
	"context"
	"crypto/tls"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// RedisOptions say how to reach Redis.
type RedisOptions struct {
	Address  string // host:port
	Username string
	Password string
	DB       int
	TLS      bool
	// Prefix is put before every key, so that several deployments can share a
	// Redis; "lastmile:" when empty.
	Prefix string
}

// Redis is a Store shared by every gateway instance that uses the same Redis.
type Redis struct {
	c      *redis.Client
	prefix string
}

// NewRedis connects to Redis and checks the connection with PING, so that a
// wrong address or password is an error at start, not at the first request.
func NewRedis(ctx context.Context, o RedisOptions) (*Redis, error) {
	opts := &redis.Options{
		Addr:         o.Address,
		Username:     o.Username,
		Password:     o.Password,
		DB:           o.DB,
		DialTimeout:  5 * time.Second,
		ReadTimeout:  2 * time.Second,
		WriteTimeout: 2 * time.Second,
	}
	if o.TLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	c := redis.NewClient(opts)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(pctx).Err(); err != nil {
		c.Close()
		// go-redis errors do not contain the password.
		return nil, fmt.Errorf("redis at %s: %w", o.Address, err)
	}
	prefix := o.Prefix
	if prefix == "" {
		prefix = "lastmile:"
	}
	return &Redis{c: c, prefix: prefix}, nil
}

// SetNX records key for ttl unless it exists (SET key 1 NX PX ttl), atomically
// across every instance.
func (r *Redis) SetNX(ctx context.Context, key string, ttl time.Duration) (bool, error) {
	ok, err := r.c.SetNX(ctx, r.prefix+key, "1", ttl).Result()
	if err != nil {
		return false, fmt.Errorf("redis: %w", err)
	}
	return ok, nil
}

// Close closes the connections.
func (r *Redis) Close() error { return r.c.Close() }

package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
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
	// ValueBytes is the largest value Set accepts (ErrTooLarge beyond it);
	// DefaultValueLimits.ValueBytes when zero.
	ValueBytes int
	// Observer, when not nil, is told how each command went (for metrics).
	// Commands of traced requests get spans whether or not it is set.
	Observer RedisObserver
}

// Redis is a Store shared by every gateway instance that uses the same Redis.
type Redis struct {
	c          *redis.Client
	prefix     string
	valueBytes int
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
		// No CLIENT SETINFO nor CLIENT MAINT_NOTIFICATIONS on connect: older
		// Redis versions refuse them, which would count as failed commands
		// for every new connection; lastmile uses neither.
		DisableIdentity:          true,
		MaintNotificationsConfig: &maintnotifications.Config{Mode: maintnotifications.ModeDisabled},
	}
	if o.TLS {
		opts.TLSConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	c := redis.NewClient(opts)
	c.AddHook(redisHook{obs: o.Observer})
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
	vb := o.ValueBytes
	if vb <= 0 {
		vb = DefaultValueLimits.ValueBytes
	}
	return &Redis{c: c, prefix: prefix, valueBytes: vb}, nil
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

// Get returns the value stored under key (GET) and whether there is one.
func (r *Redis) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := r.c.Get(ctx, r.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("redis: %w", err)
	}
	return v, true, nil
}

// Set stores value under key for ttl (SET key value PX ttl), replacing any
// value there; every instance sees it. A ttl of zero or less removes the key,
// as a value that expires at once would. Expiry has millisecond precision; a
// ttl under a millisecond is rounded up to one.
func (r *Redis) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return r.Delete(ctx, key)
	}
	if len(value) > r.valueBytes {
		return ErrTooLarge
	}
	// Redis counts in milliseconds; go-redis rounds a shorter ttl up itself but
	// logs a warning each time.
	ttl = max(ttl, time.Millisecond)
	if err := r.c.Set(ctx, r.prefix+key, value, ttl).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Delete removes the value stored under key (DEL), if any.
func (r *Redis) Delete(ctx context.Context, key string) error {
	if err := r.c.Del(ctx, r.prefix+key).Err(); err != nil {
		return fmt.Errorf("redis: %w", err)
	}
	return nil
}

// Close closes the connections.
func (r *Redis) Close() error { return r.c.Close() }

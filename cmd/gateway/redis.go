package main

import (
	"errors"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crm-gateway/crm-gateway/internal/config"
)

// redisTimeouts are a client's dial, read and write timeouts.
type redisTimeouts struct {
	dial, read, write time.Duration
	pool              int // 0: go-redis' default
}

// newRedisClient connects to the configured Redis: one endpoint, or a
// Redis Cluster (redis.cluster: true; seed nodes as
// redis://[:password@]host:port?addr=host2:port&addr=...). Every key the
// gateway writes from several keys in one script shares a hash tag, so the
// whole product works on a cluster.
func newRedisClient(cfg config.Redis, t redisTimeouts) (redis.UniversalClient, error) {
	// The URL may hold a password: errors never echo it.
	if cfg.Cluster {
		opts, err := redis.ParseClusterURL(cfg.URL.Reveal())
		if err != nil {
			return nil, errors.New("redis.url: not a valid redis:// cluster URL")
		}
		opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = t.dial, t.read, t.write
		opts.DialerRetries = 1
		if t.pool > 0 {
			opts.PoolSize = t.pool
		}
		return redis.NewClusterClient(opts), nil
	}
	opts, err := redis.ParseURL(cfg.URL.Reveal())
	if err != nil {
		return nil, errors.New("redis.url: not a valid redis:// URL")
	}
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = t.dial, t.read, t.write
	opts.DialerRetries = 1
	if t.pool > 0 {
		opts.PoolSize = t.pool
	}
	return redis.NewClient(opts), nil
}

package main

import (
	"context"
	"time"

	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
	"github.com/crm-gateway/crm-gateway/internal/jobs"
)

// startJobs opens the bulk job store, in Redis when redis.url is configured
// (durable, shared by every replica) and in memory otherwise (one replica,
// lost on restart), and starts this replica's workers. stop lets the chunks
// in progress finish until ctx ends, then hands them back to the queue.
func startJobs(cfg *config.Config, gw *gateway.Gateway, log *zap.Logger) (*jobs.Service, func(context.Context), error) {
	var store jobs.Store
	closeStore := func() {}
	if cfg.Redis.URL == "" {
		store = jobs.NewMemory(cfg.Jobs.Retention)
		log.Info("bulk jobs kept in memory: they do not survive a restart (configure redis.url for durable jobs)")
	} else {
		// Its own client: unlike the rate limiter's, which must fail fast,
		// job bookkeeping may wait for a slow Redis, and each worker holds a
		// connection while it blocks on its connection's queue.
		rdb, err := newRedisClient(cfg.Redis, redisTimeouts{dial: 2 * time.Second, read: 5 * time.Second, write: 5 * time.Second,
			pool: cfg.Jobs.Workers*len(gw.Connections()) + 16})
		if err != nil {
			return nil, nil, err
		}
		store = jobs.NewRedis(rdb, cfg.Redis.Prefix+cfg.Jobs.KeyPrefix, cfg.Jobs.Retention)
		closeStore = func() { _ = rdb.Close() }
	}
	svc := jobs.New(store, gw, jobs.Options{Workers: cfg.Jobs.Workers, Visibility: cfg.Jobs.VisibilityTimeout, Logger: log})
	svc.Start()
	stop := func(ctx context.Context) {
		if err := svc.Stop(ctx); err != nil {
			log.Warn("job workers stopped before their chunks finished; the chunks are taken over by other replicas", zap.Error(err))
		}
		closeStore()
	}
	return svc, stop, nil
}

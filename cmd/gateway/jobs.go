package main

import (
	"cmp"
	"context"
	"encoding/json"
	"time"

	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/events"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
	"github.com/crm-gateway/crm-gateway/internal/interactions"
	"github.com/crm-gateway/crm-gateway/internal/jobs"
	"github.com/crm-gateway/crm-gateway/internal/metrics"
)

// startJobs opens the bulk job store, in Redis when redis.url is configured
// (durable, shared by every replica) and in memory otherwise (one replica,
// lost on restart), and starts this replica's workers. stop lets the chunks
// in progress finish until ctx ends, then hands them back to the queue.
func startJobs(cfg *config.Config, gw *gateway.Gateway, log *zap.Logger, onComplete jobs.CompletionHook) (*jobs.Service, func(context.Context), error) {
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
	svc := jobs.New(store, gw, jobs.Options{Workers: cfg.Jobs.Workers, Visibility: cfg.Jobs.VisibilityTimeout, Logger: log,
		OnComplete: onComplete})
	svc.Start()
	stop := func(ctx context.Context) {
		if err := svc.Stop(ctx); err != nil {
			log.Warn("job workers stopped before their chunks finished; the chunks are taken over by other replicas", zap.Error(err))
		}
		closeStore()
	}
	return svc, stop, nil
}

// jobEvents announces finished jobs as job.completed events.
type jobEvents struct {
	bus interactions.Publisher
	log *zap.Logger
}

// JobCompleted implements jobs.CompletionHook. The event id derives from the
// job's, so an announcement repeated by another replica is dropped.
func (h jobEvents) JobCompleted(ctx context.Context, j *jobs.Job) {
	data, _ := json.Marshal(map[string]any{
		"job_id": j.ID, "state": j.State(), "mode": j.Mode, "total": j.Total, "created": j.Created,
		"updated": j.Updated, "accepted": j.Accepted, "failed": j.Failed, "uncertain": j.Uncertain,
	})
	e := events.Event{ID: "evt_job_" + j.ID, Type: "job.completed", OccurredAt: cmp.Or(j.FinishedAt, time.Now()).UTC(),
		Connection: j.Connection, Vendor: j.Vendor, Data: data}
	if _, err := h.bus.Publish(ctx, e); err != nil {
		h.log.Warn("job.completed event not published", zap.String("job", j.ID), zap.Error(err))
	}
}

// jobQueueLevels adapts the job service's queue figures for the metrics.
func jobQueueLevels(svc *jobs.Service) func(context.Context) (map[string]metrics.QueueLevel, error) {
	return func(ctx context.Context) (map[string]metrics.QueueLevel, error) {
		stats, err := svc.QueueStats(ctx)
		if err != nil {
			return nil, err
		}
		out := make(map[string]metrics.QueueLevel, len(stats))
		for conn, s := range stats {
			out[conn] = metrics.QueueLevel{Depth: s.Depth, Oldest: s.Oldest}
		}
		return out, nil
	}
}

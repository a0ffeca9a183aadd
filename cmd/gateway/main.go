// Command gateway runs CRM Gateway. With no configuration it starts in
// sandbox mode: built-in vendor simulators, one connection per vendor and an
// in-memory rate limiter.
//
//	gateway [-config FILE] [-listen ADDR]   serve (GATEWAY_CONFIG, GATEWAY_LISTEN)
//	gateway version                         print the version
//	gateway healthcheck [-url URL]          probe /readyz on the local listener (container health check)
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/crm-gateway/crm-gateway/internal/adapters"
	"github.com/crm-gateway/crm-gateway/internal/auth"
	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/events"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
	"github.com/crm-gateway/crm-gateway/internal/idempotency"
	"github.com/crm-gateway/crm-gateway/internal/interactions"
	"github.com/crm-gateway/crm-gateway/internal/metrics"
	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
	"github.com/crm-gateway/crm-gateway/internal/sandbox"
	"github.com/crm-gateway/crm-gateway/internal/server"
	"github.com/crm-gateway/crm-gateway/internal/telemetry"
)

// version is stamped at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "gateway:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) > 0 && args[0] == "healthcheck" {
		return healthcheck(ctx, args[1:], getenv, stdout)
	}
	if len(args) > 0 && args[0] == "version" {
		fmt.Fprintln(stdout, "crm-gateway", buildVersion())
		return nil
	}
	fs := flag.NewFlagSet("gateway", flag.ContinueOnError)
	configPath := fs.String("config", getenv("GATEWAY_CONFIG"), "YAML config file (GATEWAY_CONFIG); none = sandbox mode")
	listen := fs.String("listen", getenv("GATEWAY_LISTEN"), "listen address (GATEWAY_LISTEN; default :8080)")
	if err := fs.Parse(args); err != nil {
		return err
	}

	var cfg *config.Config
	var sbx *sandbox.Sandbox
	var ln net.Listener
	if *configPath == "" {
		// The sandbox's Zenvia simulator calls the gateway back (webhooks,
		// hosted history), so the gateway's address must be known first.
		var err error
		if ln, err = net.Listen("tcp", cmp.Or(*listen, ":8080")); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
		defer ln.Close()
		if sbx, err = sandbox.Start(getenv("GATEWAY_SANDBOX_KEY"), "http://"+displayAddr(ln.Addr())); err != nil {
			return err
		}
		defer sbx.Close(context.Background())
		cfg = sbx.Config
	} else {
		var err error
		if cfg, err = config.Load(*configPath, getenv); err != nil {
			return err
		}
	}
	if *listen != "" {
		cfg.Listen = *listen
	}
	log, err := newLogger(cfg.Log.Level)
	if err != nil {
		return err
	}
	defer log.Sync()

	rdb, limiter, degraded, ready, err := newLimiter(cfg, log)
	if err != nil {
		return err
	}
	if rdb != nil {
		defer rdb.Close()
	}

	// Metrics are always collected (served at /metrics); tracing only when an
	// OTLP endpoint is configured (tracing is nil otherwise).
	metr := metrics.New()
	if degraded != nil {
		metr.WatchDegraded(degraded)
	}
	tracing, stopTracing, err := telemetry.Setup(ctx, cfg.Telemetry, getenv, buildVersion(), log)
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := stopTracing(flushCtx); err != nil {
			log.Warn("telemetry: flushing spans failed", zap.Error(err))
		}
	}()

	httpClient := adapters.NewHTTPClient()
	var conns []*gateway.Connection
	for _, name := range cfg.ConnectionNames() {
		conn, err := adapters.Open(name, cfg.Connections[name], adapters.Deps{HTTP: httpClient, Limiter: limiter, Logger: log,
			Observer: metr, Tracing: tracing})
		if err != nil {
			return err
		}
		conns = append(conns, conn)
	}
	if err := checkMappings(ctx, conns, log); err != nil {
		return err
	}
	specs := make([]auth.Spec, len(cfg.APIKeys))
	for i, k := range cfg.APIKeys {
		specs[i] = auth.Spec{Name: k.Name, Key: k.Key.Reveal(), SHA256: k.SHA256, Connections: k.Connections}
	}
	keys, err := auth.NewKeys(specs)
	if err != nil {
		return err
	}
	bus, ixStore, err := newEventBus(cfg, rdb, log, metr)
	if err != nil {
		return err
	}
	busCtx, stopBus := context.WithCancel(context.Background())
	busDone := make(chan struct{})
	go func() {
		defer close(busDone)
		if err := bus.Run(busCtx); err != nil && !errors.Is(err, context.Canceled) {
			log.Error("event delivery stopped", zap.Error(err))
		}
	}()
	defer func() { stopBus(); <-busDone }()

	gw := gateway.New(conns...)
	jobSvc, stopJobs, err := startJobs(cfg, gw, log, jobEvents{bus: bus, log: log}) // bulk jobs (jobs.go)
	if err != nil {
		return err
	}
	metr.WatchJobQueues(jobQueueLevels(jobSvc))
	defer func() { // after the HTTP server stopped: chunks in progress finish
		ctx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
		defer cancel()
		stopJobs(ctx)
	}()
	handler, err := server.New(server.Options{
		Gateway: gw, Jobs: jobSvc, JobBodyBytes: cfg.Jobs.MaxBodyBytes, Keys: keys, Logger: log,
		MaxBodyBytes: cfg.Server.MaxBodyBytes, ValidateResponses: cfg.Server.ValidateResponses, Ready: ready,
		Metrics: metr, Tracing: tracing, Events: bus, PublicURL: cfg.PublicURL, Idempotency: idempotencyOptions(cfg, rdb),
		Interactions: &interactions.Service{Store: ixStore, Events: bus, HistoryTTL: cfg.Interactions.HistoryTTL, Logger: log},
	})
	if err != nil {
		return err
	}

	if ln == nil {
		if ln, err = net.Listen("tcp", cfg.Listen); err != nil {
			return fmt.Errorf("listen: %w", err)
		}
	}
	srv := &http.Server{
		Handler: handler, ReadHeaderTimeout: cfg.Server.ReadHeaderTimeout, ReadTimeout: cfg.Server.ReadTimeout,
		WriteTimeout: cfg.Server.WriteTimeout, IdleTimeout: cfg.Server.IdleTimeout, MaxHeaderBytes: 64 << 10,
	}
	url := "http://" + displayAddr(ln.Addr())
	log.Info("gateway listening", zap.String("addr", ln.Addr().String()), zap.Bool("sandbox", cfg.Sandbox),
		zap.Strings("connections", cfg.ConnectionNames()), zap.String("version", buildVersion()), zap.Bool("tracing", tracing != nil))
	if sbx != nil {
		fmt.Fprintf(stdout, "CRM Gateway %s in sandbox mode (simulated HelpCrunch, Zenvia and NXCloud)\n", buildVersion())
		fmt.Fprintf(stdout, "  listening on  %s\n  API docs      %s/docs/\n  API key       %s\n", url, url, sbx.APIKey)
		fmt.Fprintf(stdout, "  try: curl -H 'Authorization: Bearer %s' %s/v1/connections\n", sbx.APIKey, url)
	}

	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing in-flight requests", zap.Duration("timeout", cfg.Server.ShutdownTimeout))
	shutdownCtx, cancel := context.WithTimeout(context.Background(), cfg.Server.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// newEventBus keeps events, deliveries and interaction documents in Redis
// when it is configured (durable, shared by replicas), else in memory.
func newEventBus(cfg *config.Config, rdb redis.UniversalClient, log *zap.Logger, obs events.Observer) (*events.Bus, interactions.Store, error) {
	ec := events.Config{Schedule: cfg.Events.Schedule, Retention: cfg.Events.Retention, Logger: log, Observer: obs,
		// A redirect is the receiver's answer, not a success to chase.
		HTTPClient: &http.Client{Transport: adapters.NewTransport(),
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
	for _, sub := range cfg.Events.Subscriptions {
		ec.Subscriptions = append(ec.Subscriptions, events.Subscription{Name: sub.Name, URL: sub.URL, Types: sub.Types, Secret: sub.Secret.Reveal()})
	}
	if err := ec.Validate(); err != nil {
		return nil, nil, fmt.Errorf("events: %w", err)
	}
	if rdb == nil {
		return events.NewMemory(ec), interactions.NewMemoryStore(), nil
	}
	return events.NewRedis(rdb, ec, events.WithKeyPrefix(cfg.Redis.Prefix+"events")), interactions.NewRedisStore(rdb, cfg.Redis.Prefix+"ix:"), nil
}

// newLimiter picks the rate limiter: Redis shared by all replicas (with a
// conservative local fallback while Redis is down) when configured, else in
// memory. It also returns whether the limiter is degraded (nil: it cannot
// be) and the readiness check that goes with it.
func newLimiter(cfg *config.Config, log *zap.Logger) (redis.UniversalClient, ratelimit.Limiter, func() bool, func(context.Context) server.Readiness, error) {
	if cfg.Redis.URL == "" {
		ready := func(context.Context) server.Readiness {
			return server.Readiness{Status: "ready", Checks: map[string]string{"config": "ok", "redis": "disabled"}}
		}
		return nil, ratelimit.NewLocal(), nil, ready, nil
	}
	// Fail fast: while Redis is down the fallback bucket decides, and a
	// slow failure would add its latency to every vendor call.
	rdb, err := newRedisClient(cfg.Redis, redisTimeouts{dial: time.Second, read: 500 * time.Millisecond, write: 500 * time.Millisecond})
	if err != nil {
		return nil, nil, nil, nil, err
	}
	fb := ratelimit.NewFallback(ratelimit.NewRedis(rdb, ratelimit.WithKeyPrefix(cfg.Redis.Prefix+"rl:")), cfg.Redis.Replicas, log)
	ready := func(ctx context.Context) server.Readiness {
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		r := server.Readiness{Status: "ready", Checks: map[string]string{"config": "ok", "redis": "ok"}}
		if err := rdb.Ping(ctx).Err(); err != nil || fb.Degraded() {
			// Still serving, with each replica's share of every limit.
			r.Status, r.Checks["redis"] = "degraded", "down"
		}
		return r
	}
	// Leases spare the round trip to Redis on most calls of fast buckets;
	// slow ones (HelpCrunch's 120/min) still decide every call in Redis.
	return rdb, ratelimit.NewLeases(fb), fb.Degraded, ready, nil
}

func newLogger(level string) (*zap.Logger, error) {
	lvl, err := zapcore.ParseLevel(level)
	if err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	cfg := zap.NewProductionConfig()
	cfg.Level = zap.NewAtomicLevelAt(lvl)
	cfg.Sampling = nil // one line per request means every request
	return cfg.Build()
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

// displayAddr turns ":8080" into "localhost:8080" for printed URLs.
func displayAddr(a net.Addr) string {
	host, port, err := net.SplitHostPort(a.String())
	if err != nil || host == "::" || host == "0.0.0.0" || host == "" {
		return "localhost:" + port
	}
	return net.JoinHostPort(host, port)
}

// checkMappings compares each connection's custom-field mappings with the
// vendor's field catalogue: a mapping to a field the vendor does not have
// stops the start, naming connection and field. A vendor that cannot be
// reached now is not a reason to refuse to start; that is logged instead.
func checkMappings(ctx context.Context, conns []*gateway.Connection, log *zap.Logger) error {
	for _, c := range conns {
		if c.Custom == nil || len(c.Custom.Mapped()) == 0 {
			continue
		}
		cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		checked, err := c.CheckMappings(cctx)
		cancel()
		if err != nil {
			return err
		}
		if !checked {
			log.Warn("custom field mappings not checked against the vendor's catalogue", zap.String("connection", c.Name))
		}
	}
	return nil
}

// idempotencyOptions keep Idempotency-Key answers in Redis when it is
// configured (every replica sees them), else in this process's memory.
func idempotencyOptions(cfg *config.Config, rdb redis.UniversalClient) server.IdempotencyOptions {
	if rdb == nil {
		return server.IdempotencyOptions{}
	}
	return server.IdempotencyOptions{Store: idempotency.NewRedis(rdb, cfg.Redis.Prefix+"idem:")}
}

package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/adapters"
	"github.com/crm-gateway/crm-gateway/internal/auth"
	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
	"github.com/crm-gateway/crm-gateway/internal/metrics"
	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
	"github.com/crm-gateway/crm-gateway/internal/server"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
)

// profileLabel is the pprof label key naming which part of the run a CPU
// sample belongs to: "loadgen", "vendor", "proxy" or "gateway". Every server
// goroutine inherits it from the goroutine serving its listener, so
// `go tool pprof -tagfocus=part=gateway` shows the gateway alone.
const profileLabel = "part"

// connection is the gateway connection name the bench configures.
const connection = "hc"

// simFront serves the current HelpCrunch simulator. Each measured slice gets
// a fresh one (Reset), so the customers created by earlier slices neither
// grow the heap that every part's garbage collection scans nor slow the
// simulator down as the run goes on. Tap, when set, sees each request first.
type simFront struct {
	sim atomic.Pointer[helpcrunch.Sim]
	tap atomic.Pointer[func(*http.Request)]
}

func newSimFront() *simFront {
	f := &simFront{}
	f.Reset()
	return f
}

// Reset replaces the simulator by an empty one, its rate limit off.
func (f *simFront) Reset() { f.sim.Store(helpcrunch.New(helpcrunch.Config{Limit: -1})) }

func (f *simFront) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if tap := f.tap.Load(); tap != nil {
		(*tap)(r)
	}
	f.sim.Load().ServeHTTP(w, r)
}

// capture records the body of the next request the simulator receives and
// leaves it readable for the simulator.
func (f *simFront) capture() (body func() []byte) {
	var mu sync.Mutex
	var got []byte
	tap := func(r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(bytes.NewReader(b))
		mu.Lock()
		if got == nil {
			got = b
		}
		mu.Unlock()
	}
	f.tap.Store(&tap)
	return func() []byte {
		f.tap.Store(nil)
		mu.Lock()
		defer mu.Unlock()
		return got
	}
}

// serve serves h on a new loopback port under the pprof label part and
// returns its base URL and a function that stops it.
func serve(part string, h http.Handler, configure func(*http.Server)) (string, func(), error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	if configure != nil {
		configure(srv)
	}
	go pprof.Do(context.Background(), pprof.Labels(profileLabel, part), func(context.Context) {
		_ = srv.Serve(ln)
	})
	stop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
	}
	return "http://" + ln.Addr().String(), stop, nil
}

// newProxy is a plain pooled reverse proxy to base, tuned as the engineering
// notes describe: enough idle connections per host for the load, and a
// BufferPool so that copying bodies allocates nothing.
func newProxy(base string) (*httputil.ReverseProxy, error) {
	u, err := url.Parse(base)
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns = 512
	tr.MaxIdleConnsPerHost = 256
	return &httputil.ReverseProxy{
		Rewrite:    func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport:  tr,
		BufferPool: newBufferPool(32 << 10),
	}, nil
}

// newFloor is the least any gateway built on Echo and the gateway's vendor
// HTTP client can cost: one route that forwards the body and the two headers
// it was sent to the simulator and relays the answer, with no key check,
// validation, limiter, mapping, log or metric. It is not a product path; it
// shows how much of the gap between (c) and (b) is the gateway's own work.
func newFloor(simBase string) http.Handler {
	client := &http.Client{Transport: adapters.NewTransport()}
	e := echo.New()
	e.POST("/v1/customers", func(c echo.Context) error {
		in := c.Request()
		out, err := http.NewRequestWithContext(in.Context(), http.MethodPost, simBase+"/v1/customers", in.Body)
		if err != nil {
			return err
		}
		out.ContentLength = in.ContentLength
		out.Header.Set("Authorization", in.Header.Get("Authorization"))
		out.Header.Set("Content-Type", in.Header.Get("Content-Type"))
		resp, err := client.Do(out)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		if err != nil {
			return err
		}
		return c.Blob(resp.StatusCode, resp.Header.Get("Content-Type"), body)
	})
	return e
}

// bufferPool implements httputil.BufferPool with a sync.Pool.
type bufferPool struct{ p sync.Pool }

func newBufferPool(size int) *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, size); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufferPool) Put(p []byte) { b.p.Put(&p) }

// gatewayStack is the gateway wired as cmd/gateway wires it for a config
// file with Redis: API keys, the Redis GCRA limiter behind its fallback and leases,
// Prometheus metrics, JSON access logs at level info (written to
// os.DevNull, so their encoding and write are paid), tracing and response
// validation off as in production.
type gatewayStack struct {
	Handler http.Handler
	Key     string
	Server  config.Server
	close   func()
}

// gatewayYAML is the bench's gateway config: one HelpCrunch connection on the
// simulator, with limits that never throttle at loopback speeds (about
// 166k/s steady, a burst of 10,000) so the bucket never makes a call wait: it
// costs what cmd/gateway's limiter costs, Redis round trips for leases of
// tokens.
const gatewayYAML = `
log: {level: info}
redis:
  url: "${REDIS_URL}"
  prefix: "${PREFIX}"
api_keys:
  - {name: loadbench, key: "${KEY}", connections: ["*"]}
connections:
  ` + connection + `:
    vendor: helpcrunch
    base_url: ${SIM}/v1
    credentials: {api_key: "${HC_KEY}"}
    limits: {requests: 10000000, period: 1m, burst: 10000, max_wait: 10s}
`

func newGateway(simBase, redisURL string) (*gatewayStack, error) {
	key, prefix := randomHex(16), "loadbench:"+randomHex(8)+":"
	env := map[string]string{"REDIS_URL": redisURL, "PREFIX": prefix, "KEY": key, "SIM": simBase, "HC_KEY": helpcrunch.DefaultAPIKey}
	cfg, err := config.Parse([]byte(gatewayYAML), func(k string) string { return env[k] })
	if err != nil {
		return nil, fmt.Errorf("gateway config: %w", err)
	}
	logCfg := zap.NewProductionConfig()
	logCfg.Sampling = nil // as cmd/gateway: one line per request
	logCfg.OutputPaths = []string{os.DevNull}
	log, err := logCfg.Build()
	if err != nil {
		return nil, err
	}

	opts, err := redis.ParseURL(cfg.Redis.URL.Reveal())
	if err != nil {
		return nil, errors.New("-redis: not a valid redis:// URL")
	}
	// The same timeouts as cmd/gateway's.
	opts.DialTimeout, opts.ReadTimeout, opts.WriteTimeout = time.Second, 500*time.Millisecond, 500*time.Millisecond
	opts.DialerRetries = 1
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis: %w (the gateway's limiter needs a real Redis: -redis or REDIS_URL)", err)
	}
	fb := ratelimit.NewFallback(ratelimit.NewRedis(rdb, ratelimit.WithKeyPrefix(cfg.Redis.Prefix+"rl:")), cfg.Redis.Replicas, log)
	limiter := ratelimit.NewLeases(fb)
	metr := metrics.New()
	metr.WatchDegraded(fb.Degraded)

	httpClient := &http.Client{Transport: adapters.NewTransport()}
	conn, err := adapters.Open(connection, cfg.Connections[connection], adapters.Deps{HTTP: httpClient, Limiter: limiter, Logger: log, Observer: metr})
	if err != nil {
		rdb.Close()
		return nil, err
	}
	specs := make([]auth.Spec, len(cfg.APIKeys))
	for i, k := range cfg.APIKeys {
		specs[i] = auth.Spec{Name: k.Name, Key: k.Key.Reveal(), SHA256: k.SHA256, Connections: k.Connections}
	}
	keys, err := auth.NewKeys(specs)
	if err != nil {
		rdb.Close()
		return nil, err
	}
	h, err := server.New(server.Options{
		Gateway: gateway.New(conn), Keys: keys, Logger: log, MaxBodyBytes: cfg.Server.MaxBodyBytes,
		ValidateResponses: cfg.Server.ValidateResponses, Metrics: metr,
	})
	if err != nil {
		rdb.Close()
		return nil, err
	}
	return &gatewayStack{Handler: h, Key: key, Server: cfg.Server, close: func() {
		httpClient.CloseIdleConnections()
		_ = log.Sync()
		rdb.Close()
	}}, nil
}

// configureServer applies the gateway's server settings as cmd/gateway does.
func (g *gatewayStack) configureServer(srv *http.Server) {
	s := g.Server
	srv.ReadHeaderTimeout, srv.ReadTimeout, srv.WriteTimeout, srv.IdleTimeout = s.ReadHeaderTimeout, s.ReadTimeout, s.WriteTimeout, s.IdleTimeout
	srv.MaxHeaderBytes = 64 << 10
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

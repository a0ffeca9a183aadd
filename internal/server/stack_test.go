package server_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crm-gateway/crm-gateway/internal/adapters"
	"github.com/crm-gateway/crm-gateway/internal/auth"
	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
	"github.com/crm-gateway/crm-gateway/internal/jobs"
	"github.com/crm-gateway/crm-gateway/internal/metrics"
	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
	"github.com/crm-gateway/crm-gateway/internal/server"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim"
)

// Keys the test stack accepts.
const (
	adminKey  = "test-admin-key"
	scopedKey = "test-zenvia-only-key"
)

// stack is a whole gateway in process: the three simulators on a loopback
// port (real HTTP), adapters, and the Echo server with strict response
// validation, logging into an observer.
type stack struct {
	e    *echo.Echo
	sims *vendorsim.Set
	logs *observer.ObservedLogs
	cfg  *config.Config
}

// stackOptions are the optional parts of a stack.
type stackOptions struct {
	sims    *vendorsim.Set                  // default: vendorsim.NewSet()
	simWrap func(http.Handler) http.Handler // sees every vendor request
	metrics *metrics.Metrics                // nil: no metrics, no /metrics
	tracing trace.TracerProvider            // nil: tracing off
	server  func(*server.Options)           // last changes to the server options
	jobs    bool                            // bulk jobs in memory, their workers running
}

type stackOption func(*stackOptions)

func withSims(s *vendorsim.Set) stackOption { return func(o *stackOptions) { o.sims = s } }

func withSimWrap(w func(http.Handler) http.Handler) stackOption {
	return func(o *stackOptions) { o.simWrap = w }
}

func withMetrics(m *metrics.Metrics) stackOption { return func(o *stackOptions) { o.metrics = m } }

func withServerOptions(f func(*server.Options)) stackOption {
	return func(o *stackOptions) { o.server = f }
}

// withJobs adds bulk jobs kept in memory, with their workers running until
// the test ends.
func withJobs() stackOption { return func(o *stackOptions) { o.jobs = true } }

func withTracing(tp trace.TracerProvider) stackOption {
	return func(o *stackOptions) { o.tracing = tp }
}

// newStack builds the stack; tweak may change the config before wiring
// (e.g. tighter limits); opts add metrics, tracing or other simulators.
func newStack(t *testing.T, tweak func(*config.Config), opts ...stackOption) *stack {
	t.Helper()
	var o stackOptions
	for _, opt := range opts {
		opt(&o)
	}
	sims := o.sims
	if sims == nil {
		sims = vendorsim.NewSet()
	}
	var simHandler http.Handler = sims.Handler()
	if o.simWrap != nil {
		simHandler = o.simWrap(simHandler)
	}
	simSrv := httptest.NewServer(simHandler)
	t.Cleanup(func() { simSrv.Close(); sims.Close() })

	yaml := `
api_keys:
  - {name: admin, key: "${ADMIN_KEY}", connections: ["*"]}
  - {name: zenvia-only, key: "${SCOPED_KEY}", connections: [zenvia]}
connections:
  helpcrunch:
    vendor: helpcrunch
    base_url: ${SIM}/helpcrunch/v1
    credentials: {api_key: sandbox-helpcrunch-key}
  zenvia:
    vendor: zenvia
    base_url: ${SIM}/zenvia
    credentials: {token: sandbox-zenvia-token}
  nxcloud:
    vendor: nxcloud
    base_url: ${SIM}/nxcloud
    credentials: {access_key: sandbox-nx-ak, access_secret: sandbox-nx-secret, tenant_id: 144, app_key: sandbox-app}
`
	env := map[string]string{"ADMIN_KEY": adminKey, "SCOPED_KEY": scopedKey, "SIM": simSrv.URL}
	cfg, err := config.Parse([]byte(yaml), func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(cfg)
		if err := cfg.Validate(); err != nil {
			t.Fatal(err)
		}
	}
	core, logs := observer.New(zap.DebugLevel)
	log := zap.New(core)
	deps := adapters.Deps{HTTP: &http.Client{Transport: adapters.NewTransport()}, Limiter: ratelimit.NewLocal(), Logger: log,
		Tracing: o.tracing}
	if o.metrics != nil {
		deps.Observer = o.metrics
	}
	var conns []*gateway.Connection
	for _, name := range cfg.ConnectionNames() {
		c, err := adapters.Open(name, cfg.Connections[name], deps)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	keys, err := auth.NewKeys([]auth.Spec{
		{Name: "admin", Key: adminKey, Connections: []string{"*"}},
		{Name: "zenvia-only", Key: scopedKey, Connections: []string{"zenvia"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	gw := gateway.New(conns...)
	sopts := server.Options{Gateway: gw, Keys: keys, Logger: log,
		MaxBodyBytes: 64 << 10, ValidateResponses: true, Tracing: o.tracing}
	if o.jobs {
		svc := jobs.New(jobs.NewMemory(time.Hour), gw, jobs.Options{Workers: 4, Visibility: time.Second, Logger: log})
		svc.Start()
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			_ = svc.Stop(ctx)
		})
		sopts.Jobs = svc
	}
	if o.metrics != nil {
		sopts.Metrics = o.metrics
	}
	if o.server != nil {
		o.server(&sopts)
	}
	e, err := server.New(sopts)
	if err != nil {
		t.Fatal(err)
	}
	return &stack{e: e, sims: sims, logs: logs, cfg: cfg}
}

// response is a recorded answer with its decoded JSON body.
type response struct {
	Status int
	Header http.Header
	Raw    []byte
	Body   map[string]any
}

// do sends a request through the server. body may be a string (sent as is)
// or a value (encoded as JSON). headers are "Name: value" strings.
func (s *stack) do(t *testing.T, method, path string, body any, headers ...string) response {
	t.Helper()
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		r = strings.NewReader(b)
	default:
		buf, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		r = bytes.NewReader(buf)
	}
	req := httptest.NewRequest(method, path, r)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		if v = strings.TrimSpace(v); v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
	res := response{Status: rec.Code, Header: rec.Header(), Raw: rec.Body.Bytes()}
	if strings.Contains(rec.Header().Get("Content-Type"), "json") {
		if err := json.Unmarshal(res.Raw, &res.Body); err != nil {
			t.Fatalf("%s %s: answer is not JSON: %v\n%s", method, path, err, res.Raw)
		}
	}
	if res.Status == http.StatusInternalServerError {
		t.Fatalf("%s %s: 500: %s", method, path, res.Raw)
	}
	return res
}

// wantProblem asserts a problem+json answer with the status and code.
func wantProblem(t *testing.T, r response, status int, code string) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status %d, want %d: %s", r.Status, status, r.Raw)
	}
	if ct := r.Header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("content type %q, want application/problem+json", ct)
	}
	if r.Body["code"] != code || r.Body["status"] != float64(status) || r.Body["title"] == "" || r.Body["type"] == "" {
		t.Fatalf("problem %v, want code %s status %d", r.Body, code, status)
	}
}

// fieldReasons returns the problem's field errors as field → reason.
func fieldReasons(r response) map[string]string {
	out := map[string]string{}
	list, _ := r.Body["errors"].([]any)
	for _, e := range list {
		m := e.(map[string]any)
		out[m["field"].(string)] = m["reason"].(string)
	}
	return out
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatal("condition not met in 5s")
}

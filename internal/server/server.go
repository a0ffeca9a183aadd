// Package server is the gateway's HTTP API: Echo routes generated from
// api/openapi.yaml (package oapi), authentication, request validation
// against the same spec, problem+json errors, request ids and access logs.
// New returns an *echo.Echo that tests drive with httptest without a port.
package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/api"
	"github.com/crm-gateway/crm-gateway/internal/auth"
	"github.com/crm-gateway/crm-gateway/internal/docsui"
	"github.com/crm-gateway/crm-gateway/internal/events"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
	"github.com/crm-gateway/crm-gateway/internal/interactions"
	"github.com/crm-gateway/crm-gateway/internal/jobs"
	"github.com/crm-gateway/crm-gateway/internal/oapi"
)

// Readiness reports whether the gateway can take traffic.
type Readiness struct {
	Status string            `json:"status"` // ready, degraded, not_ready
	Checks map[string]string `json:"checks"`
}

// Options configure the server.
type Options struct {
	Gateway *gateway.Gateway
	Keys    *auth.Keys
	Logger  *zap.Logger
	// MaxBodyBytes caps request bodies (default 10 MiB).
	MaxBodyBytes int64
	// ValidateResponses checks every response against the spec (tests).
	ValidateResponses bool
	// Ready reports readiness; nil means always ready.
	Ready func(context.Context) Readiness
	// Metrics records every request and is served at /metrics; nil
	// records nothing and serves no /metrics.
	Metrics Metrics
	// Tracing makes a server span per request, continuing the caller's W3C
	// trace context; nil (tracing off) makes none and costs nothing.
	Tracing trace.TracerProvider
	// Jobs runs batches as bulk jobs; nil keeps every batch synchronous
	// (and at most 1,000 items).
	Jobs *jobs.Service
	// JobBodyBytes caps a batch body streamed into a job (default 256 MiB).
	JobBodyBytes int64
	// StreamThreshold is the body size above which a batch is streamed into
	// a job rather than read whole (default 1 MiB, at most MaxBodyBytes).
	StreamThreshold int64
	// Interactions runs conversations and reads vendor webhooks; nil uses an
	// in-memory store publishing to Events.
	Interactions *interactions.Service
	// Events is the event log; nil keeps events in memory.
	Events EventBus
	// PublicURL is how vendors reach the gateway (hosted history links); ""
	// uses the scheme and host of each request.
	PublicURL string
	// Idempotency configures Idempotency-Key on POST and PATCH; the zero
	// value keeps answers 24 h in this process's memory.
	Idempotency IdempotencyOptions
}

// Server implements the generated oapi.ServerInterface.
type Server struct {
	gw      *gateway.Gateway
	keys    *auth.Keys
	log     *zap.Logger
	maxBody int64
	ready   func(context.Context) Readiness
	routes  map[routeKey]*route
	metrics Metrics      // nil: none
	tracer  trace.Tracer // nil: tracing off
	// bulk jobs (jobs.go)
	jobs     *jobs.Service // nil: none
	jobBody  int64
	streamAt int64

	interactions *interactions.Service
	events       EventBus
	publicURL    string

	idem idempotencyConfig // idempotency.go
}

var _ oapi.ServerInterface = (*Server)(nil)

// New builds the gateway's HTTP handler.
func New(opts Options) (*echo.Echo, error) {
	spec, specJSON, err := loadSpec()
	if err != nil {
		return nil, err
	}
	s := &Server{
		gw: opts.Gateway, keys: opts.Keys, log: opts.Logger, maxBody: opts.MaxBodyBytes,
		ready: opts.Ready, routes: routeTable(spec), metrics: opts.Metrics,
	}
	if opts.Tracing != nil {
		s.tracer = opts.Tracing.Tracer(TracerName)
	}
	s.events, s.interactions, s.publicURL = opts.Events, opts.Interactions, strings.TrimRight(opts.PublicURL, "/")
	if s.events == nil {
		bus := events.NewMemory(events.Config{Logger: opts.Logger})
		s.events = bus
		if s.interactions == nil {
			s.interactions = &interactions.Service{Store: interactions.NewMemoryStore(), Events: bus, HistoryTTL: 24 * time.Hour, Logger: s.log}
		}
	}
	if s.interactions == nil {
		return nil, fmt.Errorf("server: Options.Interactions is required with Options.Events")
	}
	if s.log == nil {
		s.log = zap.NewNop()
	}
	if s.maxBody <= 0 {
		s.maxBody = 10 << 20
	}
	s.initJobs(opts)
	s.idem = newIdempotencyConfig(opts.Idempotency)
	if s.ready == nil {
		s.ready = func(context.Context) Readiness {
			return Readiness{Status: "ready", Checks: map[string]string{"config": "ok"}}
		}
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.Use(s.requestID)
	if s.tracer != nil {
		e.Use(s.traceRequest)
	}
	// recover sits inside accessLog so a panic is logged as the 500 it becomes.
	e.Use(s.accessLog, s.recover)
	if opts.ValidateResponses {
		e.Use(s.validateResponses)
	}
	// idempotency needs the API key validate authenticated; it answers
	// replays before preferences, which would describe this request instead.
	e.Use(s.validate, s.idempotency, s.preferences)
	oapi.RegisterHandlers(e, s)

	e.GET("/openapi.yaml", func(c echo.Context) error { return c.Blob(http.StatusOK, "application/yaml", api.Spec) })
	e.GET("/openapi.json", func(c echo.Context) error { return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, specJSON) })
	docs := echo.WrapHandler(docsui.Handler())
	e.GET(docsui.MountPath, docs)
	e.GET(docsui.MountPath+"/*", docs)
	e.GET("/", func(c echo.Context) error { return c.Redirect(http.StatusFound, docsui.MountPath+"/") })
	if s.metrics != nil {
		e.GET(MetricsPath, echo.WrapHandler(s.metrics.Handler()))
	}
	return e, nil
}

// loadSpec parses the embedded spec for validation and renders it as JSON
// for /openapi.json. Servers are then dropped so requests validate whatever
// host and port the gateway is reached on.
func loadSpec() (*openapi3.T, []byte, error) {
	loader := openapi3.NewLoader()
	spec, err := loader.LoadFromData(api.Spec)
	if err != nil {
		return nil, nil, fmt.Errorf("load openapi spec: %w", err)
	}
	if err := spec.Validate(loader.Context); err != nil {
		return nil, nil, fmt.Errorf("openapi spec is invalid: %w", err)
	}
	specJSON, err := json.Marshal(spec)
	if err != nil {
		return nil, nil, fmt.Errorf("render openapi spec as json: %w", err)
	}
	spec.Servers = nil
	return spec, specJSON, nil
}

func jsonEncode(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// Package telemetry sets up OpenTelemetry tracing: spans exported over
// OTLP/HTTP when an endpoint is configured (telemetry.otlp_endpoint, or the
// standard OTEL_EXPORTER_OTLP_ENDPOINT / OTEL_EXPORTER_OTLP_TRACES_ENDPOINT),
// and nothing at all otherwise: no provider, no exporter, no goroutine, and
// the server and vendor client skip tracing entirely.
package telemetry

import (
	"context"
	"fmt"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/config"
)

// DefaultServiceName names the gateway in traces unless configured.
const DefaultServiceName = "crm-gateway"

// tracesPath is where an OTLP/HTTP collector takes spans, below its base URL.
const tracesPath = "/v1/traces"

// Settings are the resolved tracing settings.
type Settings struct {
	Endpoint    string  // full OTLP/HTTP traces URL; "" means tracing is off
	ServiceName string  // service.name
	SampleRatio float64 // share of new (root) traces sampled
}

// Resolve applies the defaults and the standard environment variables to
// cfg, and checks the values. The config file wins over the environment.
func Resolve(cfg config.Telemetry, getenv func(string) string) (Settings, error) {
	s := Settings{ServiceName: cfg.ServiceName, SampleRatio: 1}
	if s.ServiceName == "" {
		s.ServiceName = getenv("OTEL_SERVICE_NAME")
	}
	if s.ServiceName == "" {
		s.ServiceName = DefaultServiceName
	}
	if cfg.SampleRatio != nil {
		s.SampleRatio = *cfg.SampleRatio
		if !(s.SampleRatio >= 0 && s.SampleRatio <= 1) {
			return Settings{}, fmt.Errorf("telemetry.sample_ratio: must be between 0 and 1")
		}
	}
	// Endpoints are never echoed in errors: a URL may hold credentials.
	var err error
	switch {
	case cfg.OTLPEndpoint != "":
		if s.Endpoint, err = tracesURL(cfg.OTLPEndpoint, true); err != nil {
			return Settings{}, fmt.Errorf("telemetry.otlp_endpoint: %w", err)
		}
	case strings.EqualFold(strings.TrimSpace(getenv("OTEL_SDK_DISABLED")), "true"):
	case getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") != "":
		if s.Endpoint, err = tracesURL(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"), false); err != nil {
			return Settings{}, fmt.Errorf("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: %w", err)
		}
	case getenv("OTEL_EXPORTER_OTLP_ENDPOINT") != "":
		if s.Endpoint, err = tracesURL(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"), true); err != nil {
			return Settings{}, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
		}
	}
	return s, nil
}

// tracesURL checks an http(s) URL; a base URL (as in
// OTEL_EXPORTER_OTLP_ENDPOINT) gets the traces path appended.
func tracesURL(raw string, base bool) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", fmt.Errorf("must be an http(s) URL such as http://collector:4318")
	}
	if base {
		u.Path = strings.TrimRight(u.Path, "/") + tracesPath
	}
	return u.String(), nil
}

// Setup starts tracing as cfg and the environment say. When tracing is off it
// returns a nil provider, which the server and the adapters take as "no
// tracing", and a shutdown that does nothing. Otherwise shutdown flushes the
// spans still queued; call it on exit.
func Setup(ctx context.Context, cfg config.Telemetry, getenv func(string) string, version string, log *zap.Logger) (trace.TracerProvider, func(context.Context) error, error) {
	noop := func(context.Context) error { return nil }
	s, err := Resolve(cfg, getenv)
	if err != nil || s.Endpoint == "" {
		return nil, noop, err
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(s.Endpoint))
	if err != nil {
		return nil, noop, fmt.Errorf("telemetry: OTLP exporter: %w", err)
	}
	if log != nil {
		// Export failures are reported here instead of the SDK's stderr logger.
		otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
			log.Warn("telemetry: exporting spans failed", zap.Error(err))
		}))
	}
	tp := NewProvider(s, sdktrace.WithBatcher(exp), sdktrace.WithResource(Resource(s.ServiceName, version)))
	return tp, tp.Shutdown, nil
}

// NewProvider returns a tracer provider sampling as s says, with opts (an
// exporter; tests pass a tracetest recorder).
func NewProvider(s Settings, opts ...sdktrace.TracerProviderOption) *sdktrace.TracerProvider {
	sampler := sdktrace.ParentBased(sdktrace.TraceIDRatioBased(s.SampleRatio))
	return sdktrace.NewTracerProvider(append([]sdktrace.TracerProviderOption{sdktrace.WithSampler(sampler)}, opts...)...)
}

// Resource describes the gateway process in its spans.
func Resource(serviceName, version string) *resource.Resource {
	own := resource.NewSchemaless(attribute.String("service.name", serviceName), attribute.String("service.version", version))
	r, err := resource.Merge(resource.Default(), own)
	if err != nil {
		return own
	}
	return r
}

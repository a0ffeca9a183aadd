package server

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
)

// Metrics is what the server needs of package metrics.
type Metrics interface {
	// HTTPRequest records one served request under its route template.
	HTTPRequest(route, method string, status int, d time.Duration)
	// Handler serves the metrics (mounted at /metrics).
	Handler() http.Handler
}

// MetricsPath is where the metrics are served, without authentication like
// /healthz: keep it off the public network.
const MetricsPath = "/metrics"

// TracerName is the instrumentation name of the server's spans.
const TracerName = "github.com/crm-gateway/crm-gateway/internal/server"

// unmatchedRoute labels requests no route matched, so that raw paths (ids,
// probes for secrets) never become a label or a span name.
const unmatchedRoute = "unmatched"

// routeOf is the request's route template, or unmatchedRoute.
func routeOf(c echo.Context) string {
	if r := c.Path(); r != "" {
		return r
	}
	return unmatchedRoute
}

// methodOf bounds the method label to the standard methods.
func methodOf(r *http.Request) string {
	switch r.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions, http.MethodConnect, http.MethodTrace:
		return r.Method
	}
	return "other"
}

// untraced are the probe and scrape routes, which would otherwise make a
// trace every few seconds; they are still counted and logged.
var untraced = map[string]bool{MetricsPath: true, "/healthz": true, "/readyz": true}

// traceRequest opens the server span of a request, continuing the caller's
// trace when it sent a W3C traceparent, and makes it the parent of the
// vendor calls made for the request. It runs inside accessLog's caller so
// that the access log line carries the trace id, and sees the final status
// because accessLog renders errors.
func (s *Server) traceRequest(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if untraced[c.Path()] {
			return next(c)
		}
		req := c.Request()
		route, method := routeOf(c), methodOf(req)
		name := method
		if route != unmatchedRoute {
			name += " " + route
		}
		ctx := propagation.TraceContext{}.Extract(req.Context(), propagation.HeaderCarrier(req.Header))
		ctx, span := s.tracer.Start(ctx, name, trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(
			attribute.String("http.request.method", method),
			attribute.String("http.route", route),
			attribute.String("crm.request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
		))
		defer span.End()
		if conn := c.Param("connection"); conn != "" {
			span.SetAttributes(attribute.String("crm.connection", conn))
		}
		c.SetRequest(req.WithContext(ctx))
		err := next(c)
		status := c.Response().Status
		span.SetAttributes(attribute.Int("http.response.status_code", status))
		if v, ok := c.Get(vendorKey).(string); ok {
			span.SetAttributes(attribute.String("crm.vendor", v))
		}
		if status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(status))
		}
		return err
	}
}

// traceFields is the trace id of the request's span, for log lines.
func traceFields(c echo.Context) []zap.Field {
	if sc := trace.SpanContextFromContext(c.Request().Context()); sc.HasTraceID() {
		return []zap.Field{zap.String("trace_id", sc.TraceID().String())}
	}
	return nil
}

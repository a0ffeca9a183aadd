package vendorhttp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
)

// Observer receives the client's measurements; package metrics implements
// it. connection is the client's Bucket, op the Request's Op template.
type Observer interface {
	// VendorCall is one attempt; status is the HTTP status, or "error"
	// when no answer came.
	VendorCall(connection, vendor, op, status string, d time.Duration)
	// VendorRateLimited is a 429 received from the vendor.
	VendorRateLimited(connection, vendor string)
	// LimiterWait is the time an attempt waited for its token.
	LimiterWait(connection string, d time.Duration)
	// LimiterRefused is an attempt refused within its wait bound.
	LimiterRefused(connection string)
	// BucketRemaining is the tokens left after a reservation.
	BucketRemaining(connection string, remaining int)
}

// TracerName is the instrumentation name of the client's spans.
const TracerName = "github.com/crm-gateway/crm-gateway/internal/vendorhttp"

// traceContext is the W3C Trace Context propagator (traceparent, tracestate).
var traceContext = propagation.TraceContext{}

// wait takes a rate token for one attempt, under a "ratelimit.wait" span,
// and reports the wait or the refusal to the Observer.
func (c *Client) wait(ctx context.Context, maxWait time.Duration) (ratelimit.Reservation, error) {
	var span trace.Span
	if c.Tracer != nil {
		ctx, span = c.Tracer.Start(ctx, "ratelimit.wait", trace.WithSpanKind(trace.SpanKindInternal),
			trace.WithAttributes(attribute.String("crm.connection", c.Bucket), attribute.String("crm.vendor", c.Vendor),
				attribute.Float64("ratelimit.max_wait_seconds", maxWait.Seconds())))
	}
	start := time.Now()
	res, err := ratelimit.Wait(ctx, c.Limiter, c.Bucket, c.Limit, maxWait)
	took := time.Since(start)
	limited := errors.Is(err, ratelimit.ErrLimited)
	if o := c.Observer; o != nil {
		switch {
		case err == nil:
			o.LimiterWait(c.Bucket, took)
			o.BucketRemaining(c.Bucket, res.Remaining)
		case limited:
			o.LimiterRefused(c.Bucket)
			o.BucketRemaining(c.Bucket, res.Remaining)
		}
	}
	if span != nil {
		span.SetAttributes(attribute.Int("ratelimit.remaining", res.Remaining))
		switch {
		case err == nil:
			span.SetAttributes(attribute.String("ratelimit.outcome", "granted"), attribute.Float64("ratelimit.delay_seconds", res.Delay.Seconds()))
		case limited:
			span.SetAttributes(attribute.String("ratelimit.outcome", "refused"), attribute.Float64("ratelimit.retry_after_seconds", res.RetryAfter.Seconds()))
			span.SetStatus(codes.Error, "rate budget exhausted")
		default:
			span.SetAttributes(attribute.String("ratelimit.outcome", "error"))
			span.SetStatus(codes.Error, err.Error())
		}
		span.End()
	}
	return res, err
}

// attempt sends one attempt under a client span, then logs it and reports
// it to the Observer.
func (c *Client) attempt(ctx context.Context, req Request, n int) (*Response, error) {
	var span trace.Span
	if c.Tracer != nil {
		// The span names the operation template, never the raw path (ids,
		// search terms), so that no customer data reaches the traces.
		attrs := []attribute.KeyValue{
			attribute.String("crm.connection", c.Bucket), attribute.String("crm.vendor", c.Vendor),
			attribute.String("crm.operation", req.Op), attribute.String("http.request.method", req.Method),
		}
		if u, err := url.Parse(c.BaseURL); err == nil && u.Host != "" {
			attrs = append(attrs, attribute.String("server.address", u.Hostname()))
		}
		if n > 1 {
			attrs = append(attrs, attribute.Int("http.request.resend_count", n-1))
		}
		ctx, span = c.Tracer.Start(ctx, c.Vendor+" "+req.Op, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(attrs...))
	}
	start := time.Now()
	resp, err := c.send(ctx, req)
	took := time.Since(start)
	c.log(ctx, req, n, resp, err, took)
	status := "error"
	if err == nil {
		status = strconv.Itoa(resp.Status)
	}
	if o := c.Observer; o != nil {
		o.VendorCall(c.Bucket, c.Vendor, req.Op, status, took)
		if err == nil && resp.Status == http.StatusTooManyRequests {
			o.VendorRateLimited(c.Bucket, c.Vendor)
		}
	}
	if span != nil {
		switch {
		case err != nil:
			span.SetAttributes(attribute.String("error.type", errorType(err)))
			span.SetStatus(codes.Error, c.Vendor+" could not be reached or did not answer in time")
		case resp.Status >= 400:
			span.SetAttributes(attribute.Int("http.response.status_code", resp.Status), attribute.String("error.type", status))
			span.SetStatus(codes.Error, "")
		default:
			span.SetAttributes(attribute.Int("http.response.status_code", resp.Status))
		}
		span.End()
	}
	return resp, err
}

// injectTraceContext adds traceparent (and tracestate) to a vendor request
// when tracing is on.
func (c *Client) injectTraceContext(ctx context.Context, h http.Header) {
	if c.Tracer != nil {
		traceContext.Inject(ctx, propagation.HeaderCarrier(h))
	}
}

// errorType names a transport failure without its message, which can hold
// the URL and so customer data.
func errorType(err error) string {
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case neverSent(err):
		return "connect"
	}
	return "transport"
}

// logFields are the ids that tie a log line to its inbound request and
// trace.
func logFields(ctx context.Context) []zap.Field {
	var fields []zap.Field
	if id := RequestID(ctx); id != "" {
		fields = append(fields, zap.String("request_id", id))
	}
	if sc := trace.SpanContextFromContext(ctx); sc.HasTraceID() {
		fields = append(fields, zap.String("trace_id", sc.TraceID().String()))
	}
	return fields
}

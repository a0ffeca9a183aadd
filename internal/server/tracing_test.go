package server_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crm-gateway/crm-gateway/internal/telemetry"
)

// headerLog records the headers of every request the simulators receive.
type headerLog struct {
	mu      sync.Mutex
	headers []http.Header
}

func (l *headerLog) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		l.mu.Lock()
		l.headers = append(l.headers, r.Header.Clone())
		l.mu.Unlock()
		next.ServeHTTP(w, r)
	})
}

func (l *headerLog) all() []http.Header {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]http.Header(nil), l.headers...)
}

const (
	callerTraceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	callerSpanID  = "00f067aa0ba902b7"
)

func TestTracingSpanTreeAndPropagation(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := telemetry.NewProvider(telemetry.Settings{SampleRatio: 1}, sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	vendor := &headerLog{}
	s := newStack(t, nil, withTracing(tp), withSimWrap(vendor.wrap))

	r := s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "Ana", "email": "ana@example.com"},
		"traceparent: 00-"+callerTraceID+"-"+callerSpanID+"-01", "X-Request-ID: req-trace-1")
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}

	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans exported, want 3 (server, rate wait, vendor call): %v", len(spans), spanNames(spans))
	}
	server := findSpan(t, spans, "POST /v1/connections/:connection/customers")
	wait := findSpan(t, spans, "ratelimit.wait")
	call := findSpan(t, spans, "helpcrunch POST /customers")

	// The server span continues the caller's trace.
	if server.SpanKind != trace.SpanKindServer || server.SpanContext.TraceID().String() != callerTraceID ||
		server.Parent.SpanID().String() != callerSpanID || !server.Parent.IsRemote() {
		t.Fatalf("server span %s kind %v parent %s: not a child of the caller's span", server.SpanContext.TraceID(), server.SpanKind, server.Parent.SpanID())
	}
	wantAttr(t, server, "http.route", "/v1/connections/:connection/customers")
	wantAttr(t, server, "http.response.status_code", "201")
	wantAttr(t, server, "crm.request_id", "req-trace-1")
	wantAttr(t, server, "crm.connection", "helpcrunch")
	// The rate wait, then the vendor call, both under the server span.
	for _, sp := range []tracetest.SpanStub{wait, call} {
		if sp.Parent.SpanID() != server.SpanContext.SpanID() || sp.SpanContext.TraceID() != server.SpanContext.TraceID() {
			t.Errorf("span %q is not a child of the server span", sp.Name)
		}
	}
	if wait.EndTime.After(call.StartTime) {
		t.Error("the vendor call started before its rate wait ended")
	}
	wantAttr(t, wait, "ratelimit.outcome", "granted")
	wantAttr(t, wait, "crm.connection", "helpcrunch")
	if call.SpanKind != trace.SpanKindClient {
		t.Errorf("vendor call span kind %v", call.SpanKind)
	}
	wantAttr(t, call, "crm.operation", "POST /customers")
	wantAttr(t, call, "http.response.status_code", "201")
	for _, sp := range spans {
		for _, a := range sp.Attributes {
			if strings.Contains(a.Value.Emit(), "ana@example.com") {
				t.Errorf("span %q attribute %s holds customer data", sp.Name, a.Key)
			}
		}
	}

	// The vendor got W3C trace context naming the vendor call span.
	hs := vendor.all()
	if len(hs) != 1 {
		t.Fatalf("vendor saw %d requests", len(hs))
	}
	want := "00-" + callerTraceID + "-" + call.SpanContext.SpanID().String() + "-01"
	if got := hs[0].Get("traceparent"); got != want {
		t.Errorf("traceparent sent to the vendor %q, want %q", got, want)
	}

	// Every log line of the request carries its request id and trace id.
	access := logLines(s.logs, "request")
	vendorLines := logLines(s.logs, "vendor call")
	if len(access) != 1 || len(vendorLines) != 1 {
		t.Fatalf("%d access log lines, %d vendor log lines", len(access), len(vendorLines))
	}
	for _, l := range append(access, vendorLines...) {
		fields := l.ContextMap()
		if fields["trace_id"] != callerTraceID || fields["request_id"] != "req-trace-1" {
			t.Errorf("log line %q has trace_id %v request_id %v", l.Message, fields["trace_id"], fields["request_id"])
		}
	}

	// Probes make no traces (they are still counted and logged).
	s.do(t, "GET", "/healthz", nil)
	s.do(t, "GET", "/readyz", nil)
	if n := len(exp.GetSpans()); n != 3 {
		t.Errorf("probes made %d spans", n-3)
	}
}

func TestTracingStartsATraceWithoutTraceparent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := telemetry.NewProvider(telemetry.Settings{SampleRatio: 1}, sdktrace.WithSyncer(exp))
	vendor := &headerLog{}
	s := newStack(t, nil, withTracing(tp), withSimWrap(vendor.wrap))
	if r := s.do(t, "POST", "/v1/connections/zenvia/customers", map[string]any{"name": "Ana", "phone": "5511991417777"}); r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	server := findSpan(t, exp.GetSpans(), "POST /v1/connections/:connection/customers")
	if server.Parent.IsValid() {
		t.Errorf("server span has parent %s without a traceparent", server.Parent.SpanID())
	}
	tid := server.SpanContext.TraceID().String()
	for _, h := range vendor.all() {
		if got := h.Get("traceparent"); !strings.HasPrefix(got, "00-"+tid+"-") {
			t.Errorf("traceparent sent %q, want trace %s", got, tid)
		}
	}
	if f := logLines(s.logs, "request")[0].ContextMap(); f["trace_id"] != tid {
		t.Errorf("access log trace_id %v, want %s", f["trace_id"], tid)
	}
}

// A caller that did not sample its trace is followed: nothing is recorded,
// but the vendor still gets the trace context.
func TestTracingFollowsCallerNotSampled(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := telemetry.NewProvider(telemetry.Settings{SampleRatio: 1}, sdktrace.WithSyncer(exp))
	vendor := &headerLog{}
	s := newStack(t, nil, withTracing(tp), withSimWrap(vendor.wrap))
	s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "Ana"},
		"traceparent: 00-"+callerTraceID+"-"+callerSpanID+"-00")
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans exported for an unsampled trace", n)
	}
	if got := vendor.all()[0].Get("traceparent"); !strings.HasPrefix(got, "00-"+callerTraceID+"-") || !strings.HasSuffix(got, "-00") {
		t.Errorf("traceparent sent %q", got)
	}
}

func TestTracingOff(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := telemetry.NewProvider(telemetry.Settings{SampleRatio: 1}, sdktrace.WithSyncer(exp))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	vendor := &headerLog{}
	s := newStack(t, nil, withSimWrap(vendor.wrap)) // tp exists but is not given: tracing off
	r := s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "Ana"},
		"traceparent: 00-"+callerTraceID+"-"+callerSpanID+"-01", "X-Request-ID: req-off")
	if r.Status != http.StatusCreated {
		t.Fatalf("create: %d %s", r.Status, r.Raw)
	}
	if h := vendor.all()[0]; h.Get("traceparent") != "" || h.Get("tracestate") != "" {
		t.Errorf("trace context sent to the vendor with tracing off: %v", h)
	}
	if n := len(exp.GetSpans()); n != 0 {
		t.Errorf("%d spans exported with tracing off", n)
	}
	for _, l := range append(logLines(s.logs, "request"), logLines(s.logs, "vendor call")...) {
		f := l.ContextMap()
		if _, has := f["trace_id"]; has || f["request_id"] != "req-off" {
			t.Errorf("log line %q: trace_id %v request_id %v", l.Message, f["trace_id"], f["request_id"])
		}
	}
}

func findSpan(t *testing.T, spans tracetest.SpanStubs, name string) tracetest.SpanStub {
	t.Helper()
	for _, s := range spans {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no span %q among %v", name, spanNames(spans))
	return tracetest.SpanStub{}
}

func spanNames(spans tracetest.SpanStubs) []string {
	var names []string
	for _, s := range spans {
		names = append(names, s.Name)
	}
	return names
}

func wantAttr(t *testing.T, s tracetest.SpanStub, key, want string) {
	t.Helper()
	for _, a := range s.Attributes {
		if string(a.Key) == key {
			if got := a.Value.Emit(); got != want {
				t.Errorf("span %q: %s = %q, want %q", s.Name, key, got, want)
			}
			return
		}
	}
	t.Errorf("span %q has no attribute %s", s.Name, key)
}

func logLines(logs *observer.ObservedLogs, msg string) []observer.LoggedEntry {
	return logs.FilterMessage(msg).All()
}

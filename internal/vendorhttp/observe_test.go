package vendorhttp

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
)

// recObserver records the Observer calls as strings.
type recObserver struct {
	mu    sync.Mutex
	calls []string
}

func (o *recObserver) add(format string, args ...any) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, fmt.Sprintf(format, args...))
}

func (o *recObserver) VendorCall(conn, vendor, op, status string, _ time.Duration) {
	o.add("call %s %s %s %s", conn, vendor, op, status)
}
func (o *recObserver) VendorRateLimited(conn, vendor string) { o.add("429 %s %s", conn, vendor) }
func (o *recObserver) LimiterWait(conn string, _ time.Duration) {
	o.add("wait %s", conn)
}
func (o *recObserver) LimiterRefused(conn string) { o.add("refused %s", conn) }
func (o *recObserver) BucketRemaining(conn string, n int) {
	o.add("remaining %s %d", conn, n)
}

func (o *recObserver) get() []string {
	o.mu.Lock()
	defer o.mu.Unlock()
	return append([]string(nil), o.calls...)
}

func observedClient(url string, obs Observer, l ratelimit.Limit) *Client {
	return &Client{Vendor: "acme", Bucket: "acme-main", BaseURL: url, HTTP: http.DefaultClient, Limiter: ratelimit.NewLocal(),
		Limit: l, MaxWait: time.Second, Observer: obs,
		Retry: Retry{Attempts: 3, BaseDelay: time.Millisecond, MaxDelay: time.Millisecond, MaxRetryAfter: time.Millisecond}}
}

func TestObserverSeesEveryAttempt(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.WriteHeader(http.StatusCreated)
	}))
	defer srv.Close()
	obs := &recObserver{}
	c := observedClient(srv.URL, obs, ratelimit.Limit{Rate: 1000, Period: time.Second, Burst: 10})
	if _, err := c.Do(context.Background(), Request{Op: "POST /things", Method: "POST", Path: "/things"}); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"wait acme-main", "remaining acme-main 9", "call acme-main acme POST /things 429", "429 acme-main acme",
		"wait acme-main", "remaining acme-main 0", "call acme-main acme POST /things 201",
	}
	if got := obs.get(); !reflect.DeepEqual(got, want) {
		t.Fatalf("observed\n %q\nwant\n %q", got, want)
	}
}

func TestObserverSeesRefusalsAndErrors(t *testing.T) {
	obs := &recObserver{}
	// Nothing listens here: every attempt fails to connect.
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close()
	c := observedClient(url, obs, ratelimit.Limit{Rate: 1, Period: time.Hour, Burst: 2})
	c.Retry.Attempts = 2
	if _, err := c.Do(context.Background(), Request{Op: "GET /things/{id}", Method: "GET", Path: "/things/7"}); err == nil {
		t.Fatal("no error from a closed server")
	}
	// The bucket (burst 2) is empty now; the next call is refused.
	if _, err := c.Do(context.Background(), Request{Op: "GET /things/{id}", Method: "GET", Path: "/things/8"}); err == nil {
		t.Fatal("not refused")
	}
	want := []string{
		"wait acme-main", "remaining acme-main 1", "call acme-main acme GET /things/{id} error",
		"wait acme-main", "remaining acme-main 0", "call acme-main acme GET /things/{id} error",
		"refused acme-main", "remaining acme-main 0",
	}
	if got := obs.get(); !reflect.DeepEqual(got, want) {
		t.Fatalf("observed\n %q\nwant\n %q", got, want)
	}
}

func TestLogsAndSpansCarryTheRequest(t *testing.T) {
	var gotParent string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotParent = r.Header.Get("traceparent")
		w.WriteHeader(http.StatusTooManyRequests)
	}))
	defer srv.Close()
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	core, logs := observer.New(zap.DebugLevel)
	c := observedClient(srv.URL, nil, ratelimit.Limit{Rate: 1000, Period: time.Second, Burst: 10})
	c.Retry.Attempts, c.Logger, c.Tracer = 1, zap.New(core), tp.Tracer(TracerName)
	c.Limiter = failingBlock{c.Limiter}

	ctx, parent := tp.Tracer("test").Start(WithRequestID(context.Background(), "req-7"), "inbound")
	_, _ = c.Do(ctx, Request{Op: "PUT /things/{id}", Method: "PUT", Path: "/things/secret-id"})
	parent.End()

	tid := parent.SpanContext().TraceID().String()
	if l := logs.All(); len(l) != 2 { // the 429, and the Block failure
		t.Fatalf("%d log lines", len(l))
	}
	for _, l := range logs.All() {
		if f := l.ContextMap(); f["request_id"] != "req-7" || f["trace_id"] != tid {
			t.Errorf("log %q: request_id %v trace_id %v", l.Message, f["request_id"], f["trace_id"])
		}
	}
	spans := exp.GetSpans()
	if len(spans) != 3 {
		t.Fatalf("%d spans", len(spans))
	}
	call := spans[1]
	if call.Name != "acme PUT /things/{id}" || call.SpanKind != trace.SpanKindClient || call.Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Fatalf("vendor span %q kind %v", call.Name, call.SpanKind)
	}
	if want := "00-" + tid + "-" + call.SpanContext.SpanID().String() + "-01"; gotParent != want {
		t.Errorf("traceparent %q, want %q", gotParent, want)
	}
	if spans[0].Name != "ratelimit.wait" || spans[0].Parent.SpanID() != parent.SpanContext().SpanID() {
		t.Errorf("first span %q", spans[0].Name)
	}
}

// failingBlock is a limiter whose Block fails, to get its log line.
type failingBlock struct{ Limiter }

func (failingBlock) Block(context.Context, string, ratelimit.Limit, time.Duration) error {
	return fmt.Errorf("redis down")
}

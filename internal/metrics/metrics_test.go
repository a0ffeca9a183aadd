package metrics

import (
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestDegradedGaugeFollowsTheLimiter(t *testing.T) {
	m := New()
	var degraded atomic.Bool
	m.WatchDegraded(degraded.Load)
	read := func() string {
		rec := httptest.NewRecorder()
		m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
		for _, line := range strings.Split(rec.Body.String(), "\n") {
			if strings.HasPrefix(line, "crm_gateway_limiter_degraded ") {
				return line
			}
		}
		return ""
	}
	if got := read(); got != "crm_gateway_limiter_degraded 0" {
		t.Fatalf("healthy: %q", got)
	}
	degraded.Store(true)
	if got := read(); got != "crm_gateway_limiter_degraded 1" {
		t.Fatalf("degraded: %q", got)
	}
}

func TestRecording(t *testing.T) {
	m := New()
	m.HTTPRequest("/healthz", "GET", 200, time.Millisecond)
	m.VendorCall("hc", "helpcrunch", "POST /customers", "error", time.Second)
	m.VendorRateLimited("hc", "helpcrunch")
	m.LimiterWait("hc", 0)
	m.LimiterRefused("hc")
	m.BucketRemaining("hc", 4)
	checks := map[string]float64{
		"http":     testutil.ToFloat64(m.httpRequests.WithLabelValues("/healthz", "GET", "200")),
		"vendor":   testutil.ToFloat64(m.vendorRequests.WithLabelValues("hc", "helpcrunch", "POST /customers", "error")),
		"429":      testutil.ToFloat64(m.vendorLimited.WithLabelValues("hc", "helpcrunch")),
		"refusals": testutil.ToFloat64(m.limiterRefusals.WithLabelValues("hc")),
		"bucket":   testutil.ToFloat64(m.bucketRemaining.WithLabelValues("hc")),
	}
	want := map[string]float64{"http": 1, "vendor": 1, "429": 1, "refusals": 1, "bucket": 4}
	for k, v := range want {
		if checks[k] != v {
			t.Errorf("%s = %v, want %v", k, checks[k], v)
		}
	}
	if n := testutil.CollectAndCount(m.limiterWait); n != 1 {
		t.Errorf("limiter wait series %d", n)
	}
}

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.HTTPRequest("/", "GET", 200, 0)
	m.VendorCall("a", "b", "c", "200", 0)
	m.VendorRateLimited("a", "b")
	m.LimiterWait("a", 0)
	m.LimiterRefused("a")
	m.BucketRemaining("a", 1)
	m.WatchDegraded(func() bool { return true })
}

// The gateway's collectors live on their own registry, never the global one.
func TestOwnRegistry(t *testing.T) {
	a, b := New(), New() // would panic on duplicate registration if global
	if a.Registry() == b.Registry() {
		t.Fatal("shared registry")
	}
}

package server_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/metrics"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

const customersRoute = "/v1/connections/:connection/customers"

// TestMetricsCountTraffic drives traffic through the whole stack to the
// simulators and checks the series /metrics then exposes, by exact count.
func TestMetricsCountTraffic(t *testing.T) {
	// HelpCrunch's simulator admits 3 requests a minute, so the fourth
	// create meets vendor 429s; NXCloud's bucket holds one token, so a
	// second call with Prefer: wait=0 is refused by the gateway itself.
	sims := vendorsim.NewSetWith(helpcrunch.Config{Limit: 3, Window: time.Minute}, zenvia.Config{}, nxcloud.Config{})
	m := metrics.New()
	s := newStack(t, func(c *config.Config) {
		c.Connections["helpcrunch"].Limits = config.Limits{Requests: 600, Period: time.Minute, Burst: 5, MaxWait: 10 * time.Second, BatchSize: 10}
		c.Connections["nxcloud"].Limits = config.Limits{Requests: 2, Period: time.Minute, Burst: 1, MaxWait: time.Second, BatchSize: 100}
	}, withSims(sims), withMetrics(m))

	for i := range 3 {
		r := s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "c", "external_id": "secret-customer-" + string(rune('a'+i))})
		if r.Status != http.StatusCreated {
			t.Fatalf("create %d: %d %s", i, r.Status, r.Raw)
		}
	}
	// The simulator answers 429 to every attempt (3 by default).
	wantProblem(t, s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "d"}), http.StatusTooManyRequests, "rate_limited")
	if n := sims.HelpCrunch.Stats().RateLimited; n != 3 {
		t.Fatalf("simulator answered %d 429s, want 3", n)
	}

	if r := s.do(t, "POST", "/v1/connections/nxcloud/customers", map[string]any{"name": "Ana Souza", "phone": "5511991417777"}); r.Status != http.StatusCreated {
		t.Fatalf("nxcloud create: %d %s", r.Status, r.Raw)
	}
	wantProblem(t, s.do(t, "POST", "/v1/connections/nxcloud/customers", map[string]any{"name": "Bia Lima", "phone": "5511988887777"}, "Prefer: wait=0"),
		http.StatusTooManyRequests, "rate_limited")

	for range 2 {
		if r := s.do(t, "GET", "/healthz", nil); r.Status != http.StatusOK {
			t.Fatalf("healthz %d", r.Status)
		}
	}
	s.do(t, "GET", "/v1/no-such-route/secret-path-segment", nil, "X-Request-ID: req-metrics-secret")

	// Scraped without credentials, like /healthz.
	req := httptest.NewRequest("GET", "/metrics", nil)
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
	if rec.Code != http.StatusOK || !strings.HasPrefix(rec.Header().Get("Content-Type"), "text/plain") {
		t.Fatalf("GET /metrics: %d %q", rec.Code, rec.Header().Get("Content-Type"))
	}
	text := rec.Body.String()
	for _, leak := range []string{"secret-path-segment", "secret-customer", "req-metrics-secret", adminKey, "sandbox-helpcrunch-key", "no-such-route"} {
		if strings.Contains(text, leak) {
			t.Errorf("/metrics exposes %q", leak)
		}
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(text))
	if err != nil {
		t.Fatal(err)
	}
	ls := func(kv ...string) map[string]string {
		m := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			m[kv[i]] = kv[i+1]
		}
		return m
	}
	tests := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"crm_gateway_http_requests_total", ls("route", customersRoute, "method", "POST", "status", "201"), 4},
		{"crm_gateway_http_requests_total", ls("route", customersRoute, "method", "POST", "status", "429"), 2},
		{"crm_gateway_http_requests_total", ls("route", "/healthz", "method", "GET", "status", "200"), 2},
		{"crm_gateway_http_requests_total", ls("route", "unmatched", "method", "GET", "status", "404"), 1},
		{"crm_gateway_http_request_duration_seconds", ls("route", customersRoute, "method", "POST"), 6},
		{"crm_gateway_vendor_requests_total", ls("connection", "helpcrunch", "vendor", "helpcrunch", "operation", "POST /customers", "status", "201"), 3},
		{"crm_gateway_vendor_requests_total", ls("connection", "helpcrunch", "vendor", "helpcrunch", "operation", "POST /customers", "status", "429"), 3},
		{"crm_gateway_vendor_request_duration_seconds", ls("connection", "helpcrunch", "vendor", "helpcrunch", "operation", "POST /customers"), 6},
		{"crm_gateway_vendor_rate_limited_total", ls("connection", "helpcrunch", "vendor", "helpcrunch"), 3},
		{"crm_gateway_limiter_wait_seconds", ls("connection", "helpcrunch"), 6},
		{"crm_gateway_limiter_wait_seconds", ls("connection", "nxcloud"), 1},
		{"crm_gateway_limiter_refusals_total", ls("connection", "nxcloud"), 1},
		{"crm_gateway_limiter_bucket_remaining", ls("connection", "nxcloud"), 0},
	}
	for _, tt := range tests {
		got, ok := sample(fams, tt.name, tt.labels)
		if !ok {
			t.Errorf("%s%v: no such series", tt.name, tt.labels)
			continue
		}
		if got != tt.want {
			t.Errorf("%s%v = %v, want %v", tt.name, tt.labels, got, tt.want)
		}
	}
	if _, ok := sample(fams, "crm_gateway_limiter_refusals_total", ls("connection", "helpcrunch")); ok {
		t.Error("a refusal was counted for helpcrunch, whose bucket never refused")
	}
	if _, ok := fams["crm_gateway_limiter_degraded"]; ok {
		t.Error("limiter_degraded is exported without a Redis limiter")
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("%s missing: no Go/process collectors", name)
		}
	}
}

func TestNoMetricsEndpointWithoutMetrics(t *testing.T) {
	s := newStack(t, nil)
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("GET /metrics without metrics: %d", rec.Code)
	}
}

// sample returns the value of the series of family name whose labels are
// exactly labels: a counter's or gauge's value, a histogram's count.
func sample(fams map[string]*dto.MetricFamily, name string, labels map[string]string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		if len(m.GetLabel()) != len(labels) {
			continue
		}
		for _, lp := range m.GetLabel() {
			if v, ok := labels[lp.GetName()]; !ok || v != lp.GetValue() {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.GetCounter().GetValue(), true
		case m.Gauge != nil:
			return m.GetGauge().GetValue(), true
		case m.Histogram != nil:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

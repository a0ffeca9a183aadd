package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim"
)

// TestObservabilityWiring runs the gateway with tracing configured and a
// Redis that does not answer: /metrics is served without a key and shows
// the vendor call and the degraded limiter, the vendor receives a
// traceparent, and the spans reach the OTLP collector by shutdown.
func TestObservabilityWiring(t *testing.T) {
	var mu sync.Mutex
	var exported []string
	var traceparents []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		exported = append(exported, r.Method+" "+r.URL.Path)
		mu.Unlock()
	}))
	defer collector.Close()
	sims := vendorsim.NewSet()
	simSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		traceparents = append(traceparents, r.Header.Get("traceparent"))
		mu.Unlock()
		sims.Handler().ServeHTTP(w, r)
	}))
	defer simSrv.Close()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close()

	path := t.TempDir() + "/gateway.yaml"
	cfg := fmt.Sprintf(`
redis: {url: "redis://%s/0"}
telemetry: {otlp_endpoint: "%s", service_name: gw-test, sample_ratio: 1.0}
api_keys: [{name: a, key: k, connections: ["*"]}]
connections:
  hc:
    vendor: helpcrunch
    base_url: %s/helpcrunch/v1
    credentials: {api_key: sandbox-helpcrunch-key}
`, deadAddr, collector.URL, simSrv.URL)
	if err := writeFile(path, cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	port := freePort(t)
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-config", path, "-listen", "127.0.0.1:" + port}, func(string) string { return "" }, io.Discard)
	}()
	base := "http://127.0.0.1:" + port
	waitUp(t, base+"/healthz")

	req, _ := http.NewRequest("POST", base+"/v1/connections/hc/customers", strings.NewReader(`{"name":"c"}`))
	req.Header.Set("Authorization", "Bearer k")
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusCreated {
		t.Fatalf("create: %d", resp.StatusCode)
	}

	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/metrics: %d", resp.StatusCode)
	}
	for _, want := range []string{
		"crm_gateway_limiter_degraded 1",
		`crm_gateway_vendor_requests_total{connection="hc",operation="POST /customers",status="201",vendor="helpcrunch"} 1`,
		`crm_gateway_http_requests_total{method="POST",route="/v1/connections/:connection/customers",status="201"} 1`,
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(traceparents) != 1 || !strings.HasPrefix(traceparents[0], "00-") {
		t.Errorf("vendor got traceparent %q", traceparents)
	}
	if len(exported) == 0 || exported[0] != "POST /v1/traces" {
		t.Errorf("collector received %v, want the spans flushed at shutdown", exported)
	}
}

package telemetry

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/config"
)

func env(kv ...string) func(string) string {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) string { return m[k] }
}

func ratio(f float64) *float64 { return &f }

func TestResolve(t *testing.T) {
	tests := []struct {
		name    string
		cfg     config.Telemetry
		env     func(string) string
		want    Settings
		wantErr string
	}{
		{"off by default", config.Telemetry{}, env(), Settings{ServiceName: "crm-gateway", SampleRatio: 1}, ""},
		{"config endpoint is a base URL", config.Telemetry{OTLPEndpoint: "http://collector:4318", ServiceName: "gw", SampleRatio: ratio(0.25)}, env(),
			Settings{Endpoint: "http://collector:4318/v1/traces", ServiceName: "gw", SampleRatio: 0.25}, ""},
		{"base URL with a path", config.Telemetry{OTLPEndpoint: "https://otel.example.com/otlp/"}, env(),
			Settings{Endpoint: "https://otel.example.com/otlp/v1/traces", ServiceName: "crm-gateway", SampleRatio: 1}, ""},
		{"sample ratio 0 is kept", config.Telemetry{OTLPEndpoint: "http://c:4318", SampleRatio: ratio(0)}, env(),
			Settings{Endpoint: "http://c:4318/v1/traces", ServiceName: "crm-gateway", SampleRatio: 0}, ""},
		{"standard env var", config.Telemetry{}, env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://agent:4318", "OTEL_SERVICE_NAME", "from-env"),
			Settings{Endpoint: "http://agent:4318/v1/traces", ServiceName: "from-env", SampleRatio: 1}, ""},
		{"traces env var is used as is", config.Telemetry{}, env("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://agent:4318/custom", "OTEL_EXPORTER_OTLP_ENDPOINT", "http://other:4318"),
			Settings{Endpoint: "http://agent:4318/custom", ServiceName: "crm-gateway", SampleRatio: 1}, ""},
		{"config wins over env", config.Telemetry{OTLPEndpoint: "http://collector:4318"}, env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://agent:4318"),
			Settings{Endpoint: "http://collector:4318/v1/traces", ServiceName: "crm-gateway", SampleRatio: 1}, ""},
		{"SDK disabled", config.Telemetry{}, env("OTEL_EXPORTER_OTLP_ENDPOINT", "http://agent:4318", "OTEL_SDK_DISABLED", "true"),
			Settings{ServiceName: "crm-gateway", SampleRatio: 1}, ""},
		{"bad ratio", config.Telemetry{OTLPEndpoint: "http://c:4318", SampleRatio: ratio(1.5)}, env(), Settings{}, "telemetry.sample_ratio"},
		{"bad endpoint, not echoed", config.Telemetry{OTLPEndpoint: "collector:4318?token=hunter2"}, env(), Settings{}, "telemetry.otlp_endpoint"},
		{"bad env endpoint", config.Telemetry{}, env("OTEL_EXPORTER_OTLP_ENDPOINT", "ftp://x"), Settings{}, "OTEL_EXPORTER_OTLP_ENDPOINT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := Resolve(tt.cfg, tt.env)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || strings.Contains(err.Error(), "hunter2") {
					t.Fatalf("error %v, want one naming %s without the URL", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Resolve = %+v, %v; want %+v", got, err, tt.want)
			}
		})
	}
}

func TestSetupOffReturnsNoProvider(t *testing.T) {
	tp, shutdown, err := Setup(context.Background(), config.Telemetry{}, env(), "test", nil)
	if err != nil || tp != nil {
		t.Fatalf("Setup off = %v, %v; want a nil provider", tp, err)
	}
	if err := shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// With an endpoint, spans reach an OTLP/HTTP collector at /v1/traces.
func TestSetupExportsOverOTLPHTTP(t *testing.T) {
	var mu sync.Mutex
	var got []string
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		got = append(got, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()

	tp, shutdown, err := Setup(context.Background(), config.Telemetry{OTLPEndpoint: collector.URL}, env(), "test", nil)
	if err != nil || tp == nil {
		t.Fatalf("Setup = %v, %v", tp, err)
	}
	_, span := tp.Tracer("test").Start(context.Background(), "op")
	span.End()
	if err := shutdown(context.Background()); err != nil { // flushes the batch
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 1 || got[0] != "POST /v1/traces application/x-protobuf" {
		t.Fatalf("collector received %v", got)
	}
}

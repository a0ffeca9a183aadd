package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim"
)

// syncBuffer is a bytes.Buffer safe for the server goroutine to write to
// while the test reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestSandboxServesDocsAndAllVendors runs the gateway as `go run
// ./cmd/gateway` would (no config), then follows the README's walk-through.
func TestSandboxServesDocsAndAllVendors(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	env := map[string]string{"GATEWAY_SANDBOX_KEY": "readme-key", "GATEWAY_LISTEN": "127.0.0.1:0"}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, &out) }()

	var base string
	listening := regexp.MustCompile(`listening on\s+(http://\S+)`)
	for deadline := time.Now().Add(10 * time.Second); base == ""; time.Sleep(20 * time.Millisecond) {
		if m := listening.FindStringSubmatch(out.String()); m != nil {
			base = m[1]
		}
		if time.Now().After(deadline) {
			t.Fatalf("gateway did not start: %s", out.String())
		}
	}
	if !strings.Contains(out.String(), "API key       readme-key") || !strings.Contains(out.String(), base+"/docs/") {
		t.Fatalf("banner does not show the key and docs URL:\n%s", out.String())
	}

	call := func(method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer readme-key")
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return resp.StatusCode, m
	}
	if code, _ := call("GET", "/docs/", ""); code != 200 {
		t.Fatalf("/docs/: %d", code)
	}
	if code, m := call("GET", "/v1/connections", ""); code != 200 || len(m["data"].([]any)) != 3 {
		t.Fatalf("/v1/connections: %d %v", code, m)
	}
	for _, conn := range []string{"helpcrunch", "zenvia", "nxcloud"} {
		code, m := call("POST", "/v1/connections/"+conn+"/customers/batch",
			`{"mode":"upsert","customers":[{"first_name":"Ana","last_name":"Souza","email":"ana@example.com","phone":"5511991417777"}]}`)
		if code != 200 || m["summary"].(map[string]any)["failed"] != float64(0) {
			t.Fatalf("%s batch upsert: %d %v", conn, code, m)
		}
	}

	// The simulated Zenvia agent closes the conversation loop through the
	// gateway's own webhook: queued, accepted, then an answer to a message.
	code, ix := call("POST", "/v1/connections/zenvia/interactions",
		`{"department_id":1,"customer":{"name":"Ana"},"extra":{"ticket":"T-9"},"history":[{"time":"2026-11-23T10:00:00Z","direction":"CLIENT","content":"hi"}]}`)
	if code != 201 {
		t.Fatalf("start interaction: %d %v", code, ix)
	}
	if code, m := call("POST", "/v1/connections/zenvia/interactions/"+ix["id"].(string)+"/messages", `{"content":"hello?"}`); code != 200 {
		t.Fatalf("message: %d %v", code, m)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, m := call("GET", "/v1/events?connection=zenvia", "")
		seen := map[string]bool{}
		for _, e := range m["data"].([]any) {
			seen[e.(map[string]any)["type"].(string)] = true
		}
		if seen["interaction.accepted"] && seen["interaction.message.created"] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sandbox events so far: %v", seen)
		}
	}

	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after SIGTERM-like cancel", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("gateway did not shut down")
	}
}

func TestVersion(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"version"}, func(string) string { return "" }, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.String(), "crm-gateway ") {
		t.Fatalf("version printed %q", out.String())
	}
}

func TestBadConfigNamesTheField(t *testing.T) {
	path := t.TempDir() + "/gateway.yaml"
	cfg := "api_keys: [{name: a, key: k, connections: ['*']}]\nconnections:\n  hc:\n    vendor: helpcrunch\n"
	if err := writeFile(path, cfg); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-config", path}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "connections.hc.credentials.api_key") {
		t.Fatalf("error %v does not name the missing field", err)
	}
}

func writeFile(path, content string) error { return os.WriteFile(path, []byte(content), 0o600) }

// TestRedisDownServesDegraded points the gateway at a Redis that does not
// answer: it must keep serving vendor calls with the local fallback bucket,
// report degraded on /readyz, and never answer 500.
func TestRedisDownServesDegraded(t *testing.T) {
	sims := vendorsim.NewSet()
	simSrv := httptest.NewServer(sims.Handler())
	defer simSrv.Close()
	dead, _ := net.Listen("tcp", "127.0.0.1:0")
	deadAddr := dead.Addr().String()
	dead.Close() // nothing listens there now

	path := t.TempDir() + "/gateway.yaml"
	cfg := fmt.Sprintf(`
redis: {url: "redis://%s/0", replicas: 2}
api_keys: [{name: a, key: k, connections: ["*"]}]
connections:
  hc:
    vendor: helpcrunch
    base_url: %s/helpcrunch/v1
    credentials: {api_key: sandbox-helpcrunch-key}
`, deadAddr, simSrv.URL)
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

	for i := range 3 {
		req, _ := http.NewRequest("POST", base+"/v1/connections/hc/customers", strings.NewReader(fmt.Sprintf(`{"name":"c%d"}`, i)))
		req.Header.Set("Authorization", "Bearer k")
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			t.Fatalf("create with Redis down: %d", resp.StatusCode)
		}
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	var r struct {
		Status string
		Checks map[string]string
	}
	_ = json.NewDecoder(resp.Body).Decode(&r)
	resp.Body.Close()
	if resp.StatusCode != 200 || r.Status != "degraded" || r.Checks["redis"] != "down" {
		t.Fatalf("/readyz with Redis down: %d %+v", resp.StatusCode, r)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func waitUp(t *testing.T, url string) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(url); err == nil {
			resp.Body.Close()
			return
		}
	}
	t.Fatalf("%s did not come up", url)
}

// TestMappingToAMissingVendorFieldStopsTheStart: custom-field mappings are
// checked against the vendor's catalogue when it answers.
func TestMappingToAMissingVendorFieldStopsTheStart(t *testing.T) {
	sims := vendorsim.NewSet()
	simSrv := httptest.NewServer(sims.Handler())
	defer simSrv.Close()
	path := t.TempDir() + "/gateway.yaml"
	cfg := fmt.Sprintf(`
api_keys: [{name: a, key: k, connections: ["*"]}]
connections:
  nx:
    vendor: nxcloud
    base_url: %s/nxcloud
    credentials: {access_key: sandbox-nx-ak, access_secret: sandbox-nx-secret, tenant_id: 144, app_key: sandbox-app}
    custom_fields:
      map:
        plan: {key: customize_4_17, type: enum, values: [free, pro, enterprise]}
        shoe_size: {key: customize_9_99, type: number}
`, simSrv.URL)
	if err := writeFile(path, cfg); err != nil {
		t.Fatal(err)
	}
	err := run(context.Background(), []string{"-config", path, "-listen", "127.0.0.1:0"}, func(string) string { return "" }, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "connections.nx.custom_fields.map.shoe_size") || !strings.Contains(err.Error(), "customize_9_99") ||
		strings.Contains(err.Error(), "map.plan") {
		t.Fatalf("start error %v does not name exactly the missing field", err)
	}
}

// TestJobsAnnounceCompletionAndExportQueues: a bulk job in the sandbox ends
// with a job.completed event, and /metrics shows every connection's queue.
func TestJobsAnnounceCompletionAndExportQueues(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	port := freePort(t)
	env := map[string]string{"GATEWAY_SANDBOX_KEY": "k", "GATEWAY_LISTEN": "127.0.0.1:" + port}
	done := make(chan error, 1)
	go func() { done <- run(ctx, nil, func(k string) string { return env[k] }, io.Discard) }()
	base := "http://127.0.0.1:" + port
	waitUp(t, base+"/healthz")

	do := func(method, path, body string, header ...string) (*http.Response, map[string]any) {
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer k")
		req.Header.Set("Content-Type", "application/json")
		for i := 0; i+1 < len(header); i += 2 {
			req.Header.Set(header[i], header[i+1])
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		_ = json.NewDecoder(resp.Body).Decode(&m)
		return resp, m
	}
	resp, job := do("POST", "/v1/connections/helpcrunch/customers/batch",
		`{"mode":"create","customers":[{"name":"a"},{"name":"b"},{"name":"c"}]}`, "Prefer", "respond-async")
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("async batch: %d %v", resp.StatusCode, job)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, m := do("GET", "/v1/events?type=job.completed", "")
		if data, _ := m["data"].([]any); len(data) == 1 {
			e := data[0].(map[string]any)
			d := e["data"].(map[string]any)
			if e["connection"] != "helpcrunch" || d["job_id"] != job["id"] || d["state"] != "succeeded" || d["created"] != float64(3) {
				t.Fatalf("job.completed event %v", e)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no job.completed event")
		}
	}
	mresp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(mresp.Body)
	mresp.Body.Close()
	for _, series := range []string{`crm_gateway_job_queue_depth{connection="helpcrunch"} 0`, `crm_gateway_job_queue_oldest_seconds{connection="nxcloud"} 0`} {
		if !strings.Contains(string(body), series) {
			t.Errorf("/metrics lacks %s", series)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

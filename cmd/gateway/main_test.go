package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
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

package server_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/crm-gateway/crm-gateway/api"
	"github.com/crm-gateway/crm-gateway/internal/config"
)

func TestBadRequestsGetProblems(t *testing.T) {
	s := newStack(t, nil)
	customers := "/v1/connections/helpcrunch/customers"
	tests := []struct {
		name         string
		method, path string
		body         any
		headers      []string
		status       int
		code         string
		fields       []string // fields the problem must name
	}{
		{"wrong type", "POST", customers, `{"email": 5}`, nil, 400, "invalid", []string{"email"}},
		{"bad email format", "POST", customers, `{"email": "not-an-email"}`, nil, 400, "invalid", []string{"email"}},
		{"bad date", "POST", customers, `{"birthday": "1990-13-01"}`, nil, 400, "invalid", []string{"birthday"}},
		{"unknown field", "POST", customers, `{"nmae": "Ana"}`, nil, 400, "invalid", []string{"nmae"}},
		{"case-twisted field", "POST", customers, `{"EMAIL": "a@b.co"}`, nil, 400, "invalid", []string{"EMAIL"}},
		{"nested error in batch", "POST", customers + "/batch", `{"mode":"create","customers":[{"name":"a"},{"tags":[{"color":"red"}]}]}`, nil, 400, "invalid", []string{"customers[1].tags[0].name"}},
		{"missing required field", "POST", customers + "/batch", `{"customers":[{"name":"a"}]}`, nil, 400, "invalid", []string{"mode"}},
		{"several errors at once", "POST", customers + "/batch", `{"mode":"merge","customers":[]}`, nil, 400, "invalid", []string{"mode", "customers"}},
		{"malformed JSON", "POST", customers, `{"name": "Ana"`, nil, 400, "invalid", []string{"body"}},
		{"empty body", "POST", customers, ``, nil, 400, "invalid", nil},
		{"not JSON", "POST", customers, `name=Ana`, []string{"Content-Type: application/x-www-form-urlencoded"}, 415, "invalid", nil},
		{"oversized body", "POST", customers, `{"notes": "` + strings.Repeat("x", 70<<10) + `"}`, nil, 413, "invalid", nil},
		{"bad connection name", "GET", "/v1/connections/NOT_VALID", nil, nil, 400, "invalid", []string{"connection"}},
		{"unknown connection", "GET", "/v1/connections/crm-main", nil, nil, 404, "not_found", nil},
		{"unknown connection write", "POST", "/v1/connections/crm-main/customers", `{"name":"a"}`, nil, 404, "not_found", nil},
		{"no key", "GET", "/v1/connections", nil, []string{"Authorization:"}, 401, "unauthorized", nil},
		{"bad key", "GET", "/v1/connections", nil, []string{"Authorization: Bearer nope"}, 401, "unauthorized", nil},
		{"wrong scheme", "GET", "/v1/connections", nil, []string{"Authorization: Basic " + adminKey}, 401, "unauthorized", nil},
		{"key scoped elsewhere", "POST", customers, `{"name":"a"}`, []string{"Authorization: Bearer " + scopedKey}, 403, "forbidden", nil},
		{"unknown route", "GET", "/v1/nothing", nil, nil, 404, "not_found", nil},
		{"wrong method", "DELETE", "/v1/connections", nil, nil, 405, "not_found", nil},
		{"create with id", "POST", customers, `{"id":"1","name":"a"}`, nil, 400, "invalid", []string{"id"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, tt.method, tt.path, tt.body, tt.headers...)
			wantProblem(t, r, tt.status, tt.code)
			got := fieldReasons(r)
			for _, f := range tt.fields {
				if got[f] == "" {
					t.Errorf("problem does not name %q: %v", f, got)
				}
			}
			if r.Body["request_id"] == nil || r.Body["instance"] == nil {
				t.Errorf("problem without request_id/instance: %v", r.Body)
			}
		})
	}
	if n := s.sims.HelpCrunch.Stats().Requests; n != 0 {
		t.Errorf("bad requests reached the vendor %d times", n)
	}
}

func TestScopedKeySeesOnlyItsConnections(t *testing.T) {
	s := newStack(t, nil)
	r := s.do(t, "GET", "/v1/connections", nil, "Authorization: Bearer "+scopedKey)
	data := r.Body["data"].([]any)
	if len(data) != 1 || data[0].(map[string]any)["name"] != "zenvia" {
		t.Fatalf("scoped key sees %v", data)
	}
	r = s.do(t, "GET", "/v1/connections", nil)
	if n := len(r.Body["data"].([]any)); n != 3 {
		t.Fatalf("admin key sees %d connections", n)
	}
}

func TestConnectionsShowCapabilitiesAndNoSecrets(t *testing.T) {
	s := newStack(t, nil)
	r := s.do(t, "GET", "/v1/connections/helpcrunch", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("status %d", r.Status)
	}
	caps := fmt.Sprint(r.Body["capabilities"])
	for _, want := range []string{"customers.update", "customers.list", "interactions.start", "interactions.message"} {
		if !strings.Contains(caps, want) {
			t.Errorf("capabilities %s lack %s", caps, want)
		}
	}
	// No signing key configured: HelpCrunch webhooks cannot be verified, so none are taken.
	if strings.Contains(caps, "webhooks") || strings.Contains(caps, "interactions.finish") {
		t.Errorf("capabilities %s claim what this connection cannot do", caps)
	}
	if r.Body["limits"].(map[string]any)["requests"] != float64(120) {
		t.Fatalf("connection %v", r.Body)
	}
	all := s.do(t, "GET", "/v1/connections", nil)
	for _, secret := range secrets() {
		if strings.Contains(string(all.Raw), secret) {
			t.Errorf("/v1/connections shows secret %q", secret)
		}
	}
}

func secrets() []string {
	return []string{adminKey, scopedKey, "sandbox-helpcrunch-key", "sandbox-zenvia-token", "sandbox-nx-secret"}
}

func TestNoSecretInAnyLogLine(t *testing.T) {
	s := newStack(t, func(c *config.Config) {
		c.Connections["zenvia"].Credentials.Token = "wrong-token-that-must-not-leak"
	})
	s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "a"})
	s.do(t, "POST", "/v1/connections/zenvia/customers", map[string]any{"name": "a", "phone": "1"})
	s.do(t, "POST", "/v1/connections/nxcloud/customers", map[string]any{"name": "a b"})
	s.do(t, "GET", "/v1/connections", nil, "Authorization: Bearer wrong-client-key-must-not-leak")
	s.do(t, "PATCH", "/v1/connections/helpcrunch/customers/1", map[string]any{"notes": "x"})
	entries := s.logs.All()
	if len(entries) < 5 {
		t.Fatalf("only %d log lines", len(entries))
	}
	for _, e := range entries {
		line, _ := json.Marshal(map[string]any{"msg": e.Message, "fields": e.ContextMap()})
		for _, secret := range append(secrets(), "wrong-token-that-must-not-leak", "wrong-client-key-must-not-leak") {
			if strings.Contains(string(line), secret) {
				t.Errorf("log line leaks %q: %s", secret, line)
			}
		}
	}
}

func TestAccessLogOneLinePerRequest(t *testing.T) {
	s := newStack(t, nil)
	r := s.do(t, "POST", "/v1/connections/zenvia/customers", map[string]any{"name": "a", "phone": "1"}, "X-Request-ID: req-123")
	if r.Header.Get("X-Request-ID") != "req-123" {
		t.Fatalf("request id not echoed: %v", r.Header)
	}
	lines := s.logs.FilterMessage("request").All()
	if len(lines) != 1 {
		t.Fatalf("%d access-log lines", len(lines))
	}
	f := lines[0].ContextMap()
	if f["route"] != "/v1/connections/:connection/customers" || f["status"] != int64(201) || f["connection"] != "zenvia" ||
		f["vendor"] != "zenvia" || f["request_id"] != "req-123" || f["latency"] == nil {
		t.Fatalf("access log fields %v", f)
	}
	gen := s.do(t, "GET", "/healthz", nil)
	if id := gen.Header.Get("X-Request-ID"); len(id) != 32 {
		t.Fatalf("generated request id %q", id)
	}
}

func TestSpecAndDocsAreServed(t *testing.T) {
	s := newStack(t, nil)
	r := s.do(t, "GET", "/openapi.yaml", nil)
	if r.Status != 200 || string(r.Raw) != string(api.Spec) {
		t.Fatal("/openapi.yaml does not serve the embedded spec")
	}
	r = s.do(t, "GET", "/openapi.json", nil)
	if r.Status != 200 || r.Body["openapi"] != "3.0.3" || r.Body["paths"] == nil {
		t.Fatalf("/openapi.json: %d %.200s", r.Status, r.Raw)
	}
	r = s.do(t, "GET", "/docs/", nil)
	if r.Status != 200 || !strings.Contains(string(r.Raw), "swagger-ui") {
		t.Fatalf("/docs/: %d", r.Status)
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if r := s.do(t, "GET", p, nil, "Authorization:"); r.Status != 200 {
			t.Errorf("%s: %d", p, r.Status)
		}
	}
}

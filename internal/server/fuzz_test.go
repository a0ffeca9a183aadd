package server_test

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crm-gateway/crm-gateway/internal/adapters"
	"github.com/crm-gateway/crm-gateway/internal/auth"
	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
	"github.com/crm-gateway/crm-gateway/internal/server"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

// Fuzz targets for the request path: decoding, validation, routing and the
// handlers, over the real Echo server and the three simulators. `go test`
// runs them over their seeds (f.Add plus testdata/fuzz/<Name>/);
// scripts/fuzz.sh fuzzes them. Every answer must hold these properties:
//   - never a 500 (a panic becomes one) and never the code "internal";
//   - every error is application/problem+json with matching status and code;
//   - a 5xx is vendor-originated (vendor_error, unavailable) or a missing
//     capability (501); an input that never reached a vendor is below 500
//     unless it is a 501;
//   - every answer matches the API contract (response validation is on:
//     a breach would be a 500).

// Webhook secrets of the fuzz stack.
const (
	fzZenviaSecret = "fz-zenvia-webhook-secret"
	fzHCSecret     = "fz-helpcrunch-webhook-secret"
	fzHCSigningKey = "fz-helpcrunch-signing-key"
)

// fzStack is a gateway for fuzzing: the simulators are called in process
// through an http.RoundTripper (no sockets, no rate limits anywhere), so
// thousands of inputs a second reach the real adapters and simulators.
type fzStack struct {
	e           *echo.Echo
	vendorCalls atomic.Int64 // requests that reached a simulator
	logs        *observer.ObservedLogs
}

type fzRoundTrip func(*http.Request) (*http.Response, error)

func (f fzRoundTrip) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// newFuzzStack builds the stack; it is built once per fuzz target (and
// fuzzing worker) and shared by its inputs.
func newFuzzStack(tb testing.TB) *fzStack {
	tb.Helper()
	offline := &http.Client{Transport: fzRoundTrip(func(*http.Request) (*http.Response, error) {
		return nil, errors.New("no network while fuzzing")
	})}
	sims := vendorsim.NewSetWith(helpcrunch.Config{Limit: -1}, zenvia.Config{HTTPClient: offline}, nxcloud.Config{})
	tb.Cleanup(sims.Close)
	s := &fzStack{}
	simHandler := sims.Handler()
	vendors := fzRoundTrip(func(r *http.Request) (*http.Response, error) {
		s.vendorCalls.Add(1)
		in := r.Clone(r.Context())
		in.RequestURI = r.URL.RequestURI()
		if in.Body == nil {
			in.Body = http.NoBody
		}
		rec := httptest.NewRecorder()
		simHandler.ServeHTTP(rec, in)
		res := rec.Result()
		res.Request = r
		return res, nil
	})
	doc := `
api_keys:
  - {name: admin, key: "${ADMIN_KEY}", connections: ["*"]}
connections:
  helpcrunch:
    vendor: helpcrunch
    base_url: http://vendors.fuzz/helpcrunch/v1
    credentials: {api_key: sandbox-helpcrunch-key, webhook_secret: "${HC_SECRET}", webhook_signing_key: "${HC_SIGNING}"}
    limits: {requests: 100000, period: 1s, burst: 100000}
  zenvia:
    vendor: zenvia
    base_url: http://vendors.fuzz/zenvia
    credentials: {token: sandbox-zenvia-token, webhook_secret: "${ZV_SECRET}"}
    limits: {requests: 100000, period: 1s, burst: 100000}
  nxcloud:
    vendor: nxcloud
    base_url: http://vendors.fuzz/nxcloud
    credentials: {access_key: sandbox-nx-ak, access_secret: sandbox-nx-secret, tenant_id: 144, app_key: sandbox-app}
    limits: {requests: 100000, period: 1s, burst: 100000}
`
	env := map[string]string{"ADMIN_KEY": adminKey, "HC_SECRET": fzHCSecret, "HC_SIGNING": fzHCSigningKey, "ZV_SECRET": fzZenviaSecret}
	cfg, err := config.Parse([]byte(doc), func(k string) string { return env[k] })
	if err != nil {
		tb.Fatal(err)
	}
	// Only errors are kept: an access log line per input would grow without bound.
	core, logs := observer.New(zap.ErrorLevel)
	s.logs = logs
	log := zap.New(core)
	deps := adapters.Deps{HTTP: &http.Client{Transport: vendors}, Limiter: ratelimit.NewLocal(), Logger: log}
	var conns []*gateway.Connection
	for _, name := range cfg.ConnectionNames() {
		c, err := adapters.Open(name, cfg.Connections[name], deps)
		if err != nil {
			tb.Fatal(err)
		}
		conns = append(conns, c)
	}
	keys, err := auth.NewKeys([]auth.Spec{{Name: "admin", Key: adminKey, Connections: []string{"*"}}})
	if err != nil {
		tb.Fatal(err)
	}
	s.e, err = server.New(server.Options{Gateway: gateway.New(conns...), Keys: keys, Logger: log,
		MaxBodyBytes: 64 << 10, ValidateResponses: true, PublicURL: "http://gateway.fuzz"})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// fzRequest builds a request as net/http's server would hand it over, or
// returns nil for what a server never hands over (an unparsable request
// target, header values with control characters).
func fzRequest(method, target string, body []byte, headers ...string) *http.Request {
	if !fzHeaderSafe(target) || strings.ContainsAny(target, " ") {
		return nil
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil
	}
	req := httptest.NewRequest(method, "/", bytes.NewReader(body))
	req.URL, req.RequestURI = u, target
	req.Header.Set("Authorization", "Bearer "+adminKey)
	for i := 0; i+1 < len(headers); i += 2 {
		if !fzHeaderSafe(headers[i+1]) {
			return nil
		}
		if headers[i+1] == "" {
			req.Header.Del(headers[i])
		} else {
			req.Header.Set(headers[i], headers[i+1])
		}
	}
	return req
}

// fzHeaderSafe reports whether net/http would accept s in a request line or
// header value: no control characters other than tab.
func fzHeaderSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

// fzAnswer is a checked answer.
type fzAnswer struct {
	status  int
	code    string // the problem's code, for errors
	body    []byte
	reached bool // a vendor was called
}

// serve sends req and checks the properties every answer must hold.
func (s *fzStack) serve(t testing.TB, req *http.Request) fzAnswer {
	t.Helper()
	s.logs.TakeAll()
	before := s.vendorCalls.Load()
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
	a := fzAnswer{status: rec.Code, body: rec.Body.Bytes(), reached: s.vendorCalls.Load() > before}
	what := req.Method + " " + req.RequestURI
	fail := func(format string, args ...any) {
		t.Helper()
		var logged []string
		for _, e := range s.logs.TakeAll() {
			logged = append(logged, e.Message+" "+fzFields(e.ContextMap()))
		}
		t.Fatalf("%s: "+format+"\nanswer %d %s\nerror logs:\n%s", append(append([]any{what}, args...), a.status, a.body, strings.Join(logged, "\n"))...)
	}
	ct := rec.Header().Get("Content-Type")
	if a.status >= 400 {
		if ct != "application/problem+json" {
			fail("error with content type %q", ct)
		}
		var p struct {
			Type, Title, Code string
			Status            int
		}
		if err := json.Unmarshal(a.body, &p); err != nil {
			fail("problem is not JSON: %v", err)
		}
		a.code = p.Code
		if p.Status != a.status || p.Code == "" || p.Type == "" || p.Title == "" {
			fail("malformed problem")
		}
	} else if !strings.HasPrefix(ct, "application/json") || !json.Valid(a.body) {
		fail("success that is not JSON (content type %q)", ct)
	}
	switch {
	case a.status == http.StatusInternalServerError || a.code == "internal":
		fail("internal error")
	case a.status >= 500 && a.code != "vendor_error" && a.code != "unavailable" && a.code != "not_implemented":
		fail("a 5xx that no vendor caused")
	case a.status >= 500 && !a.reached && a.code != "not_implemented":
		fail("a 5xx although no vendor was called")
	}
	return a
}

func fzFields(m map[string]any) string {
	b, _ := json.Marshal(m)
	return string(b)
}

// FuzzCustomerWrites sends fuzzed bodies, connection names, ids and headers
// to create, update and batch.
func FuzzCustomerWrites(f *testing.F) {
	type seed struct {
		op                      uint8
		conn, id, body, ct, pre string
	}
	for _, s := range []seed{
		{0, "helpcrunch", "", `{"name":"Ana Souza","email":"ana@example.com","external_id":"u-1","tags":[{"name":"vip"}],"custom_fields":{"plan":"gold"}}`, "application/json", ""},
		{0, "nxcloud", "", `{"first_name":"Ana","last_name":"Souza","email":"ana@example.com","gender":"female","birthday":"1990-02-01"}`, "application/json; charset=utf-8", "wait=0"},
		{0, "zenvia", "", `{"name":"Ana","phone":"5511991417777","custom_fields":{"plano":"gold"}}`, "application/json", ""},
		{0, "helpcrunch", "", `{"email":"not-an-email","birthday":"1990-13-01"}`, "application/json", ""},
		{0, "helpcrunch", "", `{"name":"x","NAME":"y","vendor_fields":{"userId":1}}`, "application/json", ""},
		{0, "helpcrunch", "", `{"name":`, "application/json", ""},
		{0, "helpcrunch", "", `{"name":"a"}`, "text/plain", ""},
		{0, "nope", "", `{"name":"a"}`, "application/json", ""},
		{1, "helpcrunch", "1", `{"company":"ACME","email":null}`, "application/json", "wait=1.5"},
		{1, "helpcrunch", "x", `{"name":"a"}`, "application/json", ""},
		{1, "helpcrunch", "99999999999999999999", `{"name":"a"}`, "application/json", ""},
		{1, "zenvia", "x", `{"name":"x"}`, "application/json", ""},
		{1, "nxcloud", "%2F..%2F", `{}`, "application/json", ""},
		{2, "helpcrunch", "", `{"mode":"upsert","customers":[{"name":"Ana","email":"ana@example.com"},{"email":"bad"}]}`, "application/json", ""},
		{2, "zenvia", "", `{"mode":"create","customers":[{"first_name":"Ana","last_name":"Souza","phone":"5511991417777"}]}`, "application/json", ""},
		{2, "nxcloud", "", `{"mode":"upsert","on_conflict":"keep","customers":[{"first_name":"A","last_name":"B"},{"name":"one"}]}`, "application/json", ""},
		{2, "helpcrunch", "", `{"mode":"update","customers":[{"id":"1","notes":"n"},{"id":"-1"},{"name":"no id"}]}`, "application/json", ""},
		{2, "nxcloud", "", `{"mode":"update","customers":[]}`, "application/json", ""},
		{2, "helpcrunch", "", `{"mode":"delete","customers":[{}]}`, "application/json", ""},
	} {
		f.Add(s.op, s.conn, s.id, []byte(s.body), s.ct, s.pre)
	}
	s := newFuzzStack(f)
	f.Fuzz(func(t *testing.T, op uint8, conn, id string, body []byte, contentType, prefer string) {
		var method, path string
		switch op % 3 {
		case 0:
			method, path = http.MethodPost, "/v1/connections/"+conn+"/customers"
		case 1:
			method, path = http.MethodPatch, "/v1/connections/"+conn+"/customers/"+id
		default:
			method, path = http.MethodPost, "/v1/connections/"+conn+"/customers/batch"
		}
		req := fzRequest(method, path, body, "Content-Type", contentType, "Prefer", prefer)
		if req == nil {
			return
		}
		s.serve(t, req)
	})
}

// FuzzCustomerFieldValues builds well-formed bodies around fuzzed values,
// so that inputs get past JSON decoding into validation, the mappings and
// the vendors: a customer with field set to value (raw JSON when value is
// JSON, else a string), a custom field and a vendor field holding it too;
// written by create, patch or a batch.
func FuzzCustomerFieldValues(f *testing.F) {
	for _, s := range []struct {
		op                                    uint8
		conn, field, value, custom, vendorKey string
	}{
		{0, "helpcrunch", "email", "ana@example.com", "plan", "unsubscribed"},
		{0, "helpcrunch", "tags", `[{"name":"vip","color":"#ff0000"},{"name":""}]`, "since", "userId"},
		{0, "nxcloud", "birthday", "2024-02-30", "customize_1_1", "source"},
		{0, "nxcloud", "address", strings.Repeat("á", 101), "", "address"},
		{0, "nxcloud", "gender", "other", "x", "tagStr"},
		{0, "nxcloud", "phone", "null", "k", "remark"},
		{0, "zenvia", "phone", "+55 11 99141-7777", "plano", "agent_id"},
		{0, "zenvia", "name", `""`, "main_identifier", "fields"},
		{1, "helpcrunch", "company", "null", "plan", "customData"},
		{1, "helpcrunch", "locale", "pt-BR", "k", "name"},
		{2, "helpcrunch", "external_id", "u-1", "a", "b"},
		{2, "nxcloud", "timezone", "America/Sao_Paulo", "customize_2_1", "on_conflict"},
		{3, "zenvia", "email", "ana@example.com", "plano", "id"},
		{3, "nxcloud", "notes", "1e999", "c", "id"},
		{0, "helpcrunch", "custom_fields", `{"a":{"b":[1,{"c":null}]}}`, "d", "e"},
		{0, "helpcrunch", "name", `"\u0000\ud800"`, "\x00", "\xff"},
	} {
		f.Add(s.op, s.conn, s.field, s.value, s.custom, s.vendorKey)
	}
	s := newFuzzStack(f)
	f.Fuzz(func(t *testing.T, op uint8, conn, field, value, custom, vendorKey string) {
		var v any = value
		if json.Valid([]byte(value)) {
			v = json.RawMessage(value)
		}
		customer := map[string]any{"first_name": "Ana", "last_name": "Souza", field: v,
			"custom_fields": map[string]any{custom: v}, "vendor_fields": map[string]any{vendorKey: v}}
		method, path := http.MethodPost, "/v1/connections/"+conn+"/customers"
		var body any = customer
		switch op % 4 {
		case 1:
			method, path = http.MethodPatch, path+"/1"
		case 2:
			path, body = path+"/batch", map[string]any{"mode": "upsert", "customers": []any{customer, map[string]any{field: v}}}
		case 3:
			path, body = path+"/batch", map[string]any{"mode": "create", "on_conflict": "merge", "customers": []any{customer}}
		}
		raw, err := json.Marshal(body)
		if err != nil {
			return // a value Go cannot re-encode (e.g. 1e999) was sent raw elsewhere
		}
		req := fzRequest(method, path, raw, "Content-Type", "application/json")
		if req == nil {
			return
		}
		s.serve(t, req)
	})
}

// FuzzCustomerReads sends fuzzed query strings, ids and request headers to
// list, get and the field catalogue.
func FuzzCustomerReads(f *testing.F) {
	type seed struct {
		op                           uint8
		conn, id, query, auth, reqID string
	}
	for _, s := range []seed{
		{0, "helpcrunch", "", "email=ana%40example.com&limit=5", "", ""},
		{0, "nxcloud", "", "name=Souza&tag=vip&updated_since=2026-11-01T00:00:00Z&limit=100", "", "req-1"},
		{0, "helpcrunch", "", "updated_since=2026-11-01T00:00:00Z", "", ""},
		{0, "nxcloud", "", "external_id=u-1", "", ""},
		{0, "nxcloud", "", "updated_since=9999-12-31T23:59:59-23:59&limit=1", "", ""},
		{0, "nxcloud", "", "updated_since=0000-01-01T00:00:00%2B23:59", "", ""},
		{0, "zenvia", "", "", "", ""},
		{0, "helpcrunch", "", "limit=0&limit=1000&cursor=eyJzIjoiMjAiLCJmIjoiYWJjIn0", "", ""},
		{0, "helpcrunch", "", "cursor=%ZZ&limit=abc", "", ""},
		{0, "nxcloud", "", "cursor=" + strings.Repeat("A", 300), "", ""},
		{0, "helpcrunch", "", "limit=5", "Bearer wrong", ""},
		{0, "helpcrunch", "", "limit=5", "Basic Zm9vOmJhcg==", strings.Repeat("x", 200)},
		{1, "helpcrunch", "1", "", "", ""},
		{1, "helpcrunch", "0", "", "", ""},
		{1, "nxcloud", "abc", "", "", ""},
		{2, "zenvia", "", "", "", ""},
		{2, "nxcloud", "", "x=1", "", ""},
		{3, "helpcrunch", "1", "limit=1", "", ""},
		{3, "helpcrunch", "-1", "", "", ""},
		{3, "helpcrunch", "9223372036854775807", "limit=100", "", ""},
		{3, "helpcrunch", "1", "email=a%40b.c", "", ""},
		{3, "nxcloud", "1", "limit=1", "", ""},
		{3, "nxcloud", "x&y=%", "", "", ""},
		{3, "zenvia", "1", "", "", ""},
	} {
		f.Add(s.op, s.conn, s.id, s.query, s.auth, s.reqID)
	}
	s := newFuzzStack(f)
	// A few customers, so that listings have pages and cursors.
	for _, w := range []struct{ path, body string }{
		{"/v1/connections/helpcrunch/customers", `{"name":"Ana Souza","email":"ana@example.com","tags":[{"name":"vip"}]}`},
		{"/v1/connections/helpcrunch/customers", `{"name":"Bruno Lima","email":"bruno@example.com","external_id":"u-2"}`},
		{"/v1/connections/helpcrunch/customers", `{"name":"Carla Dias","phone":"5511988887777"}`},
		{"/v1/connections/nxcloud/customers/batch", `{"mode":"upsert","customers":[{"name":"Ana Souza","email":"ana@example.com","tags":[{"name":"vip"}]},` +
			`{"name":"Bruno Lima","phone":"5511988887777"},{"name":"Carla Dias","email":"carla@example.com"}]}`},
	} {
		if a := s.serve(f, fzRequest(http.MethodPost, w.path, []byte(w.body), "Content-Type", "application/json")); a.status >= 300 {
			f.Fatalf("POST %s: %d %s", w.path, a.status, a.body)
		}
	}
	var page struct {
		Next string `json:"next_cursor"`
	}
	a := s.serve(f, fzRequest(http.MethodGet, "/v1/connections/helpcrunch/customers?limit=1", nil))
	if err := json.Unmarshal(a.body, &page); err != nil || page.Next != fzCursor("helpcrunch", "1") {
		f.Fatalf("next_cursor %q, want %q: the cursor format changed, update fzCursor", page.Next, fzCursor("helpcrunch", "1"))
	}
	f.Fuzz(func(t *testing.T, op uint8, conn, id, query, authz, reqID string) {
		var path string
		switch op % 4 {
		case 0:
			path = "/v1/connections/" + conn + "/customers"
		case 1:
			path = "/v1/connections/" + conn + "/customers/" + id
		case 2:
			path = "/v1/connections/" + conn + "/customer-fields"
		default: // a listing continued from a cursor holding a fuzzed vendor state
			path = "/v1/connections/" + conn + "/customers?cursor=" + fzCursor(conn, id)
		}
		if query != "" {
			path += map[bool]string{true: "&", false: "?"}[strings.Contains(path, "?")] + query
		}
		req := fzRequest(http.MethodGet, path, nil, "Authorization", authz, "X-Request-Id", reqID)
		if req == nil {
			return
		}
		if authz == "" {
			req.Header.Set("Authorization", "Bearer "+adminKey)
		}
		a := s.serve(t, req)
		if authz != "" && authz != "Bearer "+adminKey && a.status != http.StatusUnauthorized && a.status != http.StatusNotFound {
			t.Fatalf("GET %s with Authorization %q: %d, want 401", path, authz, a.status)
		}
	})
}

// fzCursor seals a vendor paging state as the gateway's cursors do
// (gateway/cursor.go) for a listing of conn without filters.
func fzCursor(conn, state string) string {
	h := sha256.Sum256([]byte(conn + strings.Repeat("\x00", 6)))
	b, _ := json.Marshal(struct {
		S string `json:"s"`
		F string `json:"f"`
	}{state, hex.EncodeToString(h[:8])})
	return base64.RawURLEncoding.EncodeToString(b)
}

// FuzzInteractions sends fuzzed bodies and ids to start an interaction and
// to the operations on one.
func FuzzInteractions(f *testing.F) {
	for _, s := range []struct {
		op             uint8
		conn, id, body string
	}{
		{0, "zenvia", "", `{"department_id":1,"media_type":"WHATSAPP","customer":{"name":"Ana","phone":"5511991417777"},"extra":{"ticket":"T-1"},"history":[{"time":"2026-11-23T10:00:01Z","direction":"CLIENT","content":"I need help"}]}`},
		{0, "zenvia", "", `{"department_id":99,"customer":{"name":"Ana"},"external_history":"http://127.0.0.1:1/h"}`},
		{0, "helpcrunch", "", `{"customer":{"id":"1"},"extra":{"k":"v"}}`},
		{0, "helpcrunch", "", `{"customer":{"id":"not-a-number"},"history":[{"time":"0001-01-01T00:00:00Z","direction":"AGENT","content":""}]}`},
		{0, "nxcloud", "", `{"customer":{"name":"a"}}`},
		{0, "zenvia", "", `{"department_id":1,"customer":{"name":"Ana"},"history":[{"time":"9999-12-31T23:59:59-23:59","direction":"CLIENT","content":"late"},{"time":"0000-01-01T00:00:00+01:00","direction":"AGENT","content":"early"}]}`},
		{0, "zenvia", "", `{"customer":{},"extra":"x","history":[{"time":"bad"}]}`},
		{1, "zenvia", "abc", `{"mood":"POSITIVE","tag_ids":["1"],"note":"n"}`},
		{2, "zenvia", "abc", `{"type":"image","content":"","url":"http://x/y.png"}`},
		{2, "helpcrunch", "1", `{"content":"hello"}`},
		{3, "zenvia", "abc", ``},
		{4, "helpcrunch", "1", ``},
		{5, "zenvia", "abc", `{}`},
	} {
		f.Add(s.op, s.conn, s.id, []byte(s.body))
	}
	s := newFuzzStack(f)
	f.Fuzz(func(t *testing.T, op uint8, conn, id string, body []byte) {
		base := "/v1/connections/" + conn + "/interactions"
		method, path := http.MethodPost, base
		switch op % 6 {
		case 1:
			method, path = http.MethodPatch, base+"/"+id
		case 2:
			path = base + "/" + id + "/messages"
		case 3:
			method, path = http.MethodPut, base+"/"+id+"/typing"
		case 4:
			method, path = http.MethodDelete, base+"/"+id+"/typing"
		case 5:
			path = base + "/" + id + "/finish"
		}
		req := fzRequest(method, path, body, "Content-Type", "application/json")
		if req == nil {
			return
		}
		s.serve(t, req)
	})
}

// fzSign is HelpCrunch's X-HelpCrunch-Signature of body.
func fzSign(body []byte) string {
	mac := hmac.New(sha1.New, []byte(fzHCSigningKey))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// FuzzWebhooks posts fuzzed bodies to /v1/webhooks/{connection}/{secret},
// with the right secret or a fuzzed one, signed or not. A wrong secret is
// always 404 whatever the body (400 for an empty connection or secret,
// refused before the handler); the right one answers 200, 400, 401,
// 413 or 415, never 5xx; and every event a webhook published can be listed.
func FuzzWebhooks(f *testing.F) {
	for _, s := range []struct {
		conn      string
		right     bool
		secret    string
		body      string
		signing   uint8 // 0 signed, 1 the fuzzed signature, 2 none
		signature string
	}{
		{"zenvia", true, "", `{"interaction_hash":"h1","state":"queued","position":2,"extra":{}}`, 2, ""},
		{"zenvia", true, "", `{"interaction_hash":"h1","message":{"hash":"m1","content":"hi","type":"text"},"agent":{"id":1,"name":"A"}}`, 2, ""},
		{"zenvia", true, "", `{"interaction_hash":"h1","state":"new_kind"}`, 2, ""},
		{"zenvia", true, "", `{"state":"queued"}`, 2, ""},
		{"zenvia", true, "", `{{{`, 2, ""},
		{"zenvia", false, "nope", `{"interaction_hash":"x","state":"accepted"}`, 2, ""},
		{"zenvia", false, fzHCSecret, `{}`, 2, ""},
		{"helpcrunch", true, "", `{"event":"chat.new","eventData":{"id":42},"id":"w1","createdAt":1700000000}`, 0, ""},
		{"helpcrunch", true, "", `{"event":"message.chat.customer","eventData":{"chat":{"id":42}},"createdAt":"1700000000123"}`, 0, ""},
		{"helpcrunch", true, "", `{"event":"chat.new","createdAt":1e300}`, 0, ""},
		{"helpcrunch", true, "", `{"event":"chat.new"}`, 1, "deadbeef"},
		{"helpcrunch", true, "", `{"event":"chat.new"}`, 2, ""},
		{"helpcrunch", true, "", `not json`, 0, ""},
		{"nxcloud", true, "", `{}`, 2, ""},
		{"unknown", false, "x", `{}`, 2, ""},
	} {
		f.Add(s.conn, s.right, s.secret, []byte(s.body), s.signing, s.signature)
	}
	s := newFuzzStack(f)
	secrets := map[string]string{"zenvia": fzZenviaSecret, "helpcrunch": fzHCSecret}
	f.Fuzz(func(t *testing.T, conn string, right bool, secret string, body []byte, signing uint8, signature string) {
		if right {
			secret = secrets[conn]
		}
		switch signing % 3 {
		case 0:
			signature = fzSign(body)
		case 2:
			signature = ""
		}
		path := "/v1/webhooks/" + conn + "/" + secret
		req := fzRequest(http.MethodPost, path, body, "Content-Type", "application/json", "X-HelpCrunch-Signature", signature)
		if req == nil {
			return
		}
		req.Header.Del("Authorization") // vendors send no API key
		a := s.serve(t, req)
		known := secrets[conn] != "" && secret == secrets[conn]
		switch {
		case !known && a.status != http.StatusNotFound && !strings.ContainsAny(conn+secret, "/?#%") &&
			!(a.status == http.StatusBadRequest && (conn == "" || secret == "")): // an empty path parameter is refused by binding
			t.Fatalf("POST %s with a wrong secret: %d, want 404: %s", path, a.status, a.body)
		case a.status >= 500:
			t.Fatalf("POST %s: a webhook answered %d: %s", path, a.status, a.body)
		case a.status == http.StatusOK:
			// What was published must be listable.
			s.serve(t, fzRequest(http.MethodGet, "/v1/events?limit=5&connection="+conn, nil))
		}
	})
}

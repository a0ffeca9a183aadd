package zenvia_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

// token is the API token the harness configures unless a test overrides it.
const token = "test-token"

// t0 is the fake clock's start; its milliseconds make timestamp formatting
// observable.
var t0 = time.Date(2024, 5, 6, 7, 8, 9, 123_000_000, time.UTC)

// fakeClock is a hand-written injectable clock.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newClock() *fakeClock { return &fakeClock{t: t0} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness runs a simulator behind a real HTTP server.
type harness struct {
	t     *testing.T
	sim   *zenvia.Sim
	srv   *httptest.Server
	clock *fakeClock
}

// newHarness starts a simulator with cfg; an empty Token becomes token and a
// nil Now becomes a fake clock.
func newHarness(t *testing.T, cfg zenvia.Config) *harness {
	t.Helper()
	h := &harness{t: t, clock: newClock()}
	if cfg.Token == "" {
		cfg.Token = token
	}
	if cfg.Now == nil {
		cfg.Now = h.clock.Now
	}
	h.sim = zenvia.New(cfg)
	h.srv = httptest.NewServer(h.sim)
	t.Cleanup(func() {
		h.srv.Close()
		h.sim.Close()
	})
	return h
}

// raw sends a request with a raw body and returns status, body and headers.
func (h *harness) raw(method, path string, body []byte) (int, []byte, http.Header) {
	h.t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, h.srv.URL+path, rd)
	if err != nil {
		h.t.Fatalf("build request: %v", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("read body: %v", err)
	}
	return resp.StatusCode, data, resp.Header
}

// call sends body (a string is sent as is, anything else as JSON) and decodes
// the JSON object answered.
func (h *harness) call(method, path string, body any) (int, map[string]any) {
	h.t.Helper()
	var data []byte
	switch b := body.(type) {
	case nil:
	case string:
		data = []byte(b)
	default:
		var err error
		if data, err = json.Marshal(b); err != nil {
			h.t.Fatalf("marshal body: %v", err)
		}
	}
	status, out, hdr := h.raw(method, path, data)
	if ct := hdr.Get("Content-Type"); ct != "application/json" {
		h.t.Fatalf("%s %s: Content-Type %q, want application/json (body %s)", method, path, ct, out)
	}
	return status, decodeObject(h.t, out)
}

// start starts an interaction on department 1 and returns its hash.
func (h *harness) start(extra map[string]any) string {
	h.t.Helper()
	body := map[string]any{"token": token, "department_id": 1}
	if extra != nil {
		body["extra"] = extra
	}
	status, out := h.call(http.MethodPost, "/core/api/v1/interactions", body)
	if status != http.StatusOK {
		h.t.Fatalf("start: status %d body %v", status, out)
	}
	return out["data"].(map[string]any)["interaction_hash"].(string)
}

// upsert posts customers and fails the test on a non-200 answer.
func (h *harness) upsert(items ...any) map[string]any {
	h.t.Helper()
	status, out := h.call(http.MethodPost, "/api/external/customers", map[string]any{"token": token, "customers": items})
	if status != http.StatusOK {
		h.t.Fatalf("customers: status %d body %v", status, out)
	}
	return out
}

// decodeObject decodes a JSON object, failing the test otherwise.
func decodeObject(t *testing.T, data []byte) map[string]any {
	t.Helper()
	var out map[string]any
	if err := json.Unmarshal(data, &out); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
	return out
}

// wantError checks the vendor's {"message","status"} error shape.
func wantError(t *testing.T, gotStatus int, body map[string]any, wantStatus int, wantMessage string) {
	t.Helper()
	if gotStatus != wantStatus {
		t.Fatalf("status %d, want %d (body %v)", gotStatus, wantStatus, body)
	}
	if len(body) != 2 {
		t.Fatalf("error body %v: want exactly message and status", body)
	}
	if body["status"] != float64(wantStatus) {
		t.Fatalf("body status %v, want %d", body["status"], wantStatus)
	}
	msg, ok := body["message"].(string)
	if !ok || msg == "" {
		t.Fatalf("body message %v: want a non-empty string", body["message"])
	}
	if wantMessage != "" && msg != wantMessage {
		t.Fatalf("message %q, want %q", msg, wantMessage)
	}
}

// keys returns the member names of a JSON object, as a set.
func keys(m map[string]any) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}

// wantKeys checks that m has exactly the given members.
func wantKeys(t *testing.T, m map[string]any, want ...string) {
	t.Helper()
	w := make(map[string]bool, len(want))
	for _, k := range want {
		w[k] = true
	}
	if !reflect.DeepEqual(keys(m), w) {
		t.Fatalf("members %v, want %v", keys(m), w)
	}
}

// hookRecorder is a fake webhook receiver that records every payload.
type hookRecorder struct {
	mu       sync.Mutex
	status   int
	payloads []map[string]any
	raws     [][]byte
	arrived  chan struct{}
}

func newHookRecorder(status int) *hookRecorder {
	return &hookRecorder{status: status, arrived: make(chan struct{}, 1000)}
}

func (r *hookRecorder) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	data, _ := io.ReadAll(req.Body)
	var p map[string]any
	_ = json.Unmarshal(data, &p)
	if req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json" {
		p = map[string]any{"bad_request": req.Method + " " + req.Header.Get("Content-Type")}
	}
	r.mu.Lock()
	r.payloads = append(r.payloads, p)
	r.raws = append(r.raws, data)
	r.mu.Unlock()
	w.WriteHeader(r.status)
	r.arrived <- struct{}{}
}

// waitFor blocks until n payloads have arrived in total and returns them.
func (r *hookRecorder) waitFor(t *testing.T, n int) []map[string]any {
	t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		r.mu.Lock()
		got := len(r.payloads)
		if got >= n {
			out := append([]map[string]any(nil), r.payloads...)
			r.mu.Unlock()
			return out
		}
		r.mu.Unlock()
		select {
		case <-r.arrived:
		case <-deadline:
			t.Fatalf("got %d webhook payloads, want %d", got, n)
		}
	}
}

// count returns the number of payloads received so far.
func (r *hookRecorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.payloads)
}

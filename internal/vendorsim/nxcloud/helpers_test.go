package nxcloud_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
)

// fakeClock is a settable clock shared by the simulator and the test's request signer.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// harness runs a simulator behind a real HTTP server.
type harness struct {
	t     *testing.T
	sim   *nxcloud.Sim
	srv   *httptest.Server
	clock *fakeClock
	cfg   nxcloud.Config // effective configuration
	// prefix is prepended to vendor paths when the simulator is mounted under one.
	prefix string
}

// newHarness starts a simulator; cfg.Now is set to a fake clock unless the test set one.
func newHarness(t *testing.T, cfg nxcloud.Config) *harness {
	t.Helper()
	clock := newFakeClock()
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	sim := nxcloud.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &harness{t: t, sim: sim, srv: srv, clock: clock, cfg: sim.Config()}
}

// call describes one request; zero values mean "correct".
type call struct {
	method string // default POST
	path   string
	query  string
	body   []byte
	// Signed header values; "" means the configured or fixed value.
	ak, ts, bizType, action, secret string
	// sign overrides the computed signature.
	sign string
	// signBody, when not nil, is what the signature is computed over instead of body.
	signBody []byte
	// drop names a public header to leave out; blank sends it with an empty value.
	drop, blank string
	// contentType overrides the POST Content-Type; "-" sends none.
	contentType string
}

// answer is a decoded vendor envelope plus the HTTP status and the raw members.
type answer struct {
	Status  int
	Header  http.Header
	Code    int             `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	TraceID string          `json:"traceId"`
	Members map[string]json.RawMessage
}

func (h *harness) do(c call) answer {
	h.t.Helper()
	if c.method == "" {
		c.method = http.MethodPost
	}
	ak := or(c.ak, h.cfg.AccessKey)
	ts := or(c.ts, strconv.FormatInt(h.clock.Now().UnixMilli(), 10))
	biz := or(c.bizType, nxcloud.BizType)
	action := or(c.action, nxcloud.Action)
	signBody := c.body
	if c.signBody != nil {
		signBody = c.signBody
	}
	sign := or(c.sign, nxcloud.Sign(ak, action, biz, ts, signBody, or(c.secret, h.cfg.AccessSecret)))

	url := h.srv.URL + h.prefix + c.path
	if c.query != "" {
		url += "?" + c.query
	}
	var body io.Reader
	if c.body != nil {
		body = bytes.NewReader(c.body)
	}
	req, err := http.NewRequest(c.method, url, body)
	if err != nil {
		h.t.Fatalf("building request: %v", err)
	}
	// Set the exact documented header spellings; Go canonicalises them, which HTTP allows.
	for name, v := range map[string]string{
		nxcloud.HeaderAccessKey: ak, nxcloud.HeaderTS: ts, nxcloud.HeaderBizType: biz,
		nxcloud.HeaderAction: action, nxcloud.HeaderSign: sign,
	} {
		switch name {
		case c.drop:
		case c.blank:
			req.Header.Set(name, "")
		default:
			req.Header.Set(name, v)
		}
	}
	if c.method == http.MethodPost {
		switch c.contentType {
		case "":
			req.Header.Set("Content-Type", "application/json")
		case "-":
		default:
			req.Header.Set("Content-Type", c.contentType)
		}
	}
	return h.send(req)
}

func (h *harness) send(req *http.Request) answer {
	h.t.Helper()
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		h.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		h.t.Fatalf("reading answer: %v", err)
	}
	a := answer{Status: resp.StatusCode, Header: resp.Header}
	if err := json.Unmarshal(raw, &a); err != nil {
		h.t.Fatalf("answer is not the vendor envelope: %v: %s", err, raw)
	}
	if err := json.Unmarshal(raw, &a.Members); err != nil {
		h.t.Fatalf("answer is not a JSON object: %v", err)
	}
	return a
}

func or(v, def string) string {
	if v == "" {
		return def
	}
	return v
}

// mustJSON marshals v or fails the test.
func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	return b
}

// obj is a JSON object literal for request bodies.
type obj = map[string]any

// batchBody builds a batch_create body for the harness's account.
func (h *harness) batchBody(typ int, customers ...obj) obj {
	list := make([]any, len(customers))
	for i, c := range customers {
		list[i] = c
	}
	return obj{"type": typ, "tenant_id": h.cfg.TenantID, "app_key": h.cfg.AppKey, "customers": list}
}

// batch sends batch_create and fails the test unless it succeeds.
func (h *harness) batch(typ int, customers ...obj) {
	h.t.Helper()
	a := h.do(call{path: nxcloud.PathBatchCreate, body: mustJSON(h.t, h.batchBody(typ, customers...))})
	if a.Status != http.StatusOK || a.Code != 0 {
		h.t.Fatalf("batch_create: status %d code %d: %s", a.Status, a.Code, a.Message)
	}
}

// person returns a valid customer with the given e-mail.
func person(first, last, email string) obj {
	return obj{"first_name": first, "last_name": last, "email": email}
}

// with returns a copy of o with the given members set (nil deletes).
func with(o obj, kv ...any) obj {
	out := obj{}
	for k, v := range o {
		out[k] = v
	}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(out, kv[i].(string))
			continue
		}
		out[kv[i].(string)] = kv[i+1]
	}
	return out
}

// assertEnvelope checks the members every vendor answer carries.
func assertEnvelope(t *testing.T, a answer) {
	t.Helper()
	if len(a.Members) != 4 {
		t.Errorf("answer members = %v, want exactly code, message, data, traceId", keys(a.Members))
	}
	for _, k := range []string{"code", "message", "data", "traceId"} {
		if _, ok := a.Members[k]; !ok {
			t.Errorf("answer lacks %q", k)
		}
	}
	if !isTraceID(a.TraceID) {
		t.Errorf("traceId %q is not 32 lowercase hex characters", a.TraceID)
	}
	if ct := a.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
}

func isTraceID(s string) bool {
	if len(s) != 32 {
		return false
	}
	for _, r := range s {
		if !('0' <= r && r <= '9' || 'a' <= r && r <= 'f') {
			return false
		}
	}
	return true
}

func keys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

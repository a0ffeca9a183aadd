package helpcrunch_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
)

// startTime has a fractional second so that tests see both the truncated and
// the fractional timestamp forms.
var startTime = time.Unix(1700000000, 250_000_000).UTC()

// fakeClock is a manually advanced clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: startTime} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// harness runs a simulator behind a real HTTP server.
type harness struct {
	t     *testing.T
	sim   *helpcrunch.Sim
	srv   *httptest.Server
	clock *fakeClock
	key   string
}

// newHarness starts a simulator with cfg; a nil cfg.Now gets a fake clock.
func newHarness(t *testing.T, cfg helpcrunch.Config) *harness {
	t.Helper()
	clock := newFakeClock()
	if cfg.Now == nil {
		cfg.Now = clock.Now
	}
	key := cfg.APIKey
	if key == "" {
		key = helpcrunch.DefaultAPIKey
	}
	sim := helpcrunch.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	return &harness{t: t, sim: sim, srv: srv, clock: clock, key: key}
}

type response struct {
	status int
	header http.Header
	body   []byte
}

// raw is a request body sent verbatim.
type raw string

// do sends an authorised request to the /v1 path; body is nil, raw or a
// value to marshal.
func (h *harness) do(method, path string, body any) response {
	h.t.Helper()
	return h.doWith(method, path, body, map[string]string{
		"Authorization": "Bearer " + h.key,
		"Content-Type":  "application/json",
	})
}

// doWith sends a request with exactly the given headers.
func (h *harness) doWith(method, path string, body any, headers map[string]string) response {
	h.t.Helper()
	return doRequest(h.t, method, h.srv.URL+"/v1"+path, body, headers)
}

func doRequest(t *testing.T, method, url string, body any, headers map[string]string) response {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case raw:
		rd = strings.NewReader(string(b))
	default:
		data, err := json.Marshal(b)
		if err != nil {
			t.Fatalf("marshal body: %v", err)
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatalf("new request: %v", err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	return response{status: res.StatusCode, header: res.Header, body: data}
}

// decode parses JSON keeping numbers as json.Number, so that integers and
// decimals are compared exactly as sent.
func decode(t *testing.T, data []byte) any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("decode %q: %v", data, err)
	}
	return v
}

// wantJSON asserts the status, a JSON content type and a body equal (as JSON)
// to want.
func wantJSON(t *testing.T, res response, status int, want string) {
	t.Helper()
	if res.status != status {
		t.Fatalf("status = %d, want %d; body %s", res.status, status, res.body)
	}
	if ct := res.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	got, exp := decode(t, res.body), decode(t, []byte(want))
	if !reflect.DeepEqual(got, exp) {
		t.Fatalf("body mismatch\n got: %s\nwant: %s", res.body, want)
	}
}

// wantErrors asserts an error answer: the status and the entries after the
// leading invalid_request one.
func wantErrors(t *testing.T, res response, status int, errs ...[2]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"errors":[{"code":"invalid_request","message":"Invalid request"}`)
	for _, e := range errs {
		code, _ := json.Marshal(e[0])
		msg, _ := json.Marshal(e[1])
		fmt.Fprintf(&b, `,{"code":%s,"message":%s}`, code, msg)
	}
	b.WriteString("]}")
	wantJSON(t, res, status, b.String())
}

// object decodes a JSON object answer.
func object(t *testing.T, res response) map[string]any {
	t.Helper()
	m, ok := decode(t, res.body).(map[string]any)
	if !ok {
		t.Fatalf("body is not an object: %s", res.body)
	}
	return m
}

// create creates a customer and returns its id.
func (h *harness) create(body any) int {
	h.t.Helper()
	res := h.do(http.MethodPost, "/customers", body)
	if res.status != http.StatusCreated {
		h.t.Fatalf("create: status %d: %s", res.status, res.body)
	}
	id, err := object(h.t, res)["id"].(json.Number).Int64()
	if err != nil {
		h.t.Fatalf("create: id: %v", err)
	}
	return int(id)
}

// ids extracts the ids of a {"data":[...],"total":N} answer and its total.
func ids(t *testing.T, res response) ([]int, int) {
	t.Helper()
	if res.status != http.StatusOK {
		t.Fatalf("status = %d: %s", res.status, res.body)
	}
	m := object(t, res)
	data, ok := m["data"].([]any)
	if !ok {
		t.Fatalf("data is not a list: %s", res.body)
	}
	out := []int{}
	for _, item := range data {
		n, _ := item.(map[string]any)["id"].(json.Number).Int64()
		out = append(out, int(n))
	}
	total, _ := m["total"].(json.Number).Int64()
	return out, int(total)
}

// nullCustomer is the answer for a customer created from {} at startTime.
func nullCustomer(id int) string {
	return fmt.Sprintf(`{
		"id": %d, "name": null, "email": null, "userId": null, "company": null, "phone": null,
		"firstSeen": "1700000000", "lastSeen": "1700000000", "location": null, "device": null,
		"unsubscribed": false, "blocked": false, "source": null, "referer": null, "lastPage": null,
		"locale": null, "createdFrom": null, "integrationId": null, "notes": null,
		"tags": [], "customData": {}
	}`, id)
}

// jsonInt is how decode represents an integer.
func jsonInt(n int) json.Number { return json.Number(fmt.Sprint(n)) }

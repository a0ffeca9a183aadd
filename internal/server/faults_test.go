package server_test

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/config"
)

// fault is what faultInjector does to one vendor request.
type fault int

const (
	pass    fault = iota // hand the request to the simulator untouched
	fail500              // answer 500 without involving the simulator
	hang                 // wait past the gateway's timeout, then let the simulator apply it
	reset                // read the request, then drop the connection with a TCP reset
	garbage              // let the simulator apply it, then answer 200 with malformed JSON
)

// faultTimeout is the per-call vendor timeout of the fault tests; hang
// waits faultHang, well past it.
const (
	faultTimeout = 300 * time.Millisecond
	faultHang    = 700 * time.Millisecond
)

// faultInjector wraps the simulators: requests matching method and path
// (the full path the simulators are served on, e.g. /helpcrunch/v1/customers)
// get plan(n) for the n-th matching request, counting from 1. The simulators
// themselves are not changed: what they document still holds for every
// request that gets through.
type faultInjector struct {
	mu     sync.Mutex
	method string
	match  func(path string) bool
	plan   func(n int) fault
	hits   int
}

// inject arms the injector and resets its count.
func (f *faultInjector) inject(method string, match func(path string) bool, plan func(n int) fault) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.method, f.match, f.plan, f.hits = method, match, plan, 0
}

// seen is how many requests matched since the last inject.
func (f *faultInjector) seen() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.hits
}

func (f *faultInjector) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		what := pass
		if f.plan != nil && r.Method == f.method && f.match(r.URL.Path) {
			f.hits++
			what = f.plan(f.hits)
		}
		f.mu.Unlock()
		body, _ := io.ReadAll(r.Body) // the whole request has arrived
		r.Body = io.NopCloser(bytes.NewReader(body))
		switch what {
		case pass:
			next.ServeHTTP(w, r)
		case fail500:
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, `{"errors":[{"code":"internal","message":"simulated outage"}]}`)
		case hang:
			time.Sleep(faultHang)
			// The gateway gave up long ago; the vendor applies the write anyway.
			next.ServeHTTP(httptest.NewRecorder(), r.WithContext(context.WithoutCancel(r.Context())))
		case reset:
			conn, _, err := http.NewResponseController(w).Hijack()
			if err != nil {
				panic(err)
			}
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0) // RST, not FIN
			}
			_ = conn.Close()
		case garbage:
			next.ServeHTTP(httptest.NewRecorder(), r)
			w.Header().Set("Content-Type", "application/json")
			_, _ = io.WriteString(w, `{"id": 7, "name": "Ana`)
		}
	})
}

// pathIs and pathPrefix match request paths.
func pathIs(want string) func(string) bool { return func(p string) bool { return p == want } }
func pathPrefix(prefix string) func(string) bool {
	return func(p string) bool { return strings.HasPrefix(p, prefix) }
}

// always and first are fault plans.
func always(f fault) func(int) fault { return func(int) fault { return f } }
func first(k int, f fault) func(int) fault {
	return func(n int) fault {
		if n <= k {
			return f
		}
		return pass
	}
}

// faultStack is the test stack behind a fault injector, with short vendor
// timeouts and generous limits.
func faultStack(t *testing.T, tweak func(*config.Config)) (*stack, *faultInjector) {
	t.Helper()
	inj := &faultInjector{}
	s := newStack(t, func(c *config.Config) {
		for _, conn := range c.Connections {
			conn.Timeout = faultTimeout
			conn.Limits.Requests, conn.Limits.Burst = 6000, 50
		}
		if tweak != nil {
			tweak(c)
		}
	}, withSimWrap(inj.wrap))
	return s, inj
}

// wantVendorFailure asserts a clear problem naming the vendor: status,
// code and outcome, and the vendor's status when it answered at all.
func wantVendorFailure(t *testing.T, r response, status int, code, outcome string, vendorStatus int) {
	t.Helper()
	wantProblem(t, r, status, code)
	if r.Body["vendor_name"] != "helpcrunch" && r.Body["vendor_name"] != "zenvia" && r.Body["vendor_name"] != "nxcloud" {
		t.Errorf("problem does not name the vendor: %s", r.Raw)
	}
	if r.Body["outcome"] != outcome {
		t.Errorf("outcome %v, want %s: %s", r.Body["outcome"], outcome, r.Raw)
	}
	if vendorStatus != 0 {
		v, _ := r.Body["vendor"].(map[string]any)
		if v == nil || v["status"] != float64(vendorStatus) {
			t.Errorf("problem does not carry the vendor's status %d: %s", vendorStatus, r.Raw)
		}
	}
	if d, _ := r.Body["detail"].(string); d == "" || d == "internal error" {
		t.Errorf("unclear detail %q", d)
	}
}

// A create is not idempotent: whatever goes wrong after it was sent, the
// gateway sends it exactly once and says the outcome is uncertain.
func TestVendorFaultsOnCreate(t *testing.T) {
	s, inj := faultStack(t, nil)
	tests := []struct {
		name         string
		fault        fault
		status       int
		code         string
		vendorStatus int
		applied      bool // the simulator created the customer anyway
	}{
		{"vendor 500", fail500, 502, "vendor_error", 500, false},
		{"timeout", hang, 503, "unavailable", 0, true},
		{"connection reset", reset, 503, "unavailable", 0, false},
		{"malformed JSON", garbage, 502, "vendor_error", 200, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			inj.inject("POST", pathIs("/helpcrunch/v1/customers"), always(tt.fault))
			before := len(s.sims.HelpCrunch.Customers())
			start := time.Now()
			r := s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "Ana " + tt.name})
			took := time.Since(start)
			wantVendorFailure(t, r, tt.status, tt.code, "uncertain", tt.vendorStatus)
			if n := inj.seen(); n != 1 {
				t.Errorf("the vendor saw the create %d times, want exactly 1 (never retried)", n)
			}
			if tt.fault == hang {
				if took > faultHang {
					t.Errorf("the gateway waited %s, past its %s timeout", took, faultTimeout)
				}
				time.Sleep(faultHang - took + 100*time.Millisecond) // the vendor applies it late
			}
			if got := len(s.sims.HelpCrunch.Customers()) - before; got != map[bool]int{true: 1, false: 0}[tt.applied] {
				t.Errorf("the vendor holds %d new customers (applied %v)", got, tt.applied)
			}
		})
	}
}

// Nothing sent, nothing applied: a vendor that cannot be connected to is a
// 503 with outcome not_applied (after safe retries of the dial).
func TestVendorUnreachableIsNotApplied(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := dead.Addr().String()
	dead.Close()
	s, _ := faultStack(t, func(c *config.Config) { c.Connections["helpcrunch"].BaseURL = "http://" + addr + "/v1" })
	r := s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "Ana"})
	wantVendorFailure(t, r, 503, "unavailable", "not_applied", 0)
}

// Reads and PATCH are idempotent: a failed attempt is retried, and the
// caller sees the answer of the attempt that worked.
func TestIdempotentCallsAreRetried(t *testing.T) {
	s, inj := faultStack(t, nil)
	created := s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "Ana"})
	id := created.Body["id"].(string)
	get := "/v1/connections/helpcrunch/customers/" + id
	for _, f := range []struct {
		name  string
		fault fault
	}{{"vendor 500", fail500}, {"timeout", hang}, {"connection reset", reset}} {
		t.Run("read after "+f.name, func(t *testing.T) {
			inj.inject("GET", pathIs("/helpcrunch/v1/customers/"+id), first(2, f.fault))
			r := s.do(t, "GET", get, nil)
			if r.Status != http.StatusOK || r.Body["name"] != "Ana" {
				t.Fatalf("read with 2 faults then success: %d %s", r.Status, r.Raw)
			}
			if n := inj.seen(); n < 3 {
				t.Errorf("vendor saw %d reads, want the 2 failures retried", n)
			}
		})
	}
	t.Run("read failing every time", func(t *testing.T) {
		inj.inject("GET", pathIs("/helpcrunch/v1/customers/"+id), always(fail500))
		wantVendorFailure(t, s.do(t, "GET", get, nil), 502, "vendor_error", "uncertain", 500)
		if n := inj.seen(); n != 3 {
			t.Errorf("vendor saw %d reads, want 3 attempts", n)
		}
	})
	t.Run("patch after a 500", func(t *testing.T) {
		inj.inject("PATCH", pathIs("/helpcrunch/v1/customers/"+id), first(1, fail500))
		r := s.do(t, "PATCH", get, map[string]any{"company": "ACME"})
		if r.Status != http.StatusOK || r.Body["company"] != "ACME" || inj.seen() != 2 {
			t.Fatalf("patch: %d after %d attempts: %s", r.Status, inj.seen(), r.Raw)
		}
	})
}

// Zenvia: a message (POST) is never repeated, typing (PUT) is.
func TestVendorFaultsOnInteractions(t *testing.T) {
	s, inj := faultStack(t, nil)
	r := s.do(t, "POST", "/v1/connections/zenvia/interactions", map[string]any{"department_id": 1, "customer": map[string]any{"name": "Ana"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("start: %d %s", r.Status, r.Raw)
	}
	ix := "/v1/connections/zenvia/interactions/" + r.Body["id"].(string)
	hash := "/zenvia/core/api/v1/interactions/" + r.Body["id"].(string)

	inj.inject("POST", pathIs(hash+"/messages"), always(hang))
	wantVendorFailure(t, s.do(t, "POST", ix+"/messages", map[string]any{"content": "where is my order?"}), 503, "unavailable", "uncertain", 0)
	if n := inj.seen(); n != 1 {
		t.Errorf("zenvia saw the message %d times, want exactly 1", n)
	}
	inj.inject("POST", pathIs("/zenvia/core/api/v1/interactions"), always(reset))
	wantVendorFailure(t, s.do(t, "POST", "/v1/connections/zenvia/interactions", map[string]any{"department_id": 1, "customer": map[string]any{"name": "Bia"}}),
		503, "unavailable", "uncertain", 0)
	if n := inj.seen(); n != 1 {
		t.Errorf("zenvia saw the start %d times, want exactly 1", n)
	}
	inj.inject("PUT", pathIs(hash+"/typing"), first(2, fail500))
	if r := s.do(t, "PUT", ix+"/typing", nil); r.Status != http.StatusOK || inj.seen() != 3 {
		t.Fatalf("typing: %d after %d attempts: %s", r.Status, inj.seen(), r.Raw)
	}
}

// A batch reports every item: which were written, which failed for sure
// (not_applied) and which may have been applied (uncertain). None is lost.
func TestBatchReportsUncertainAndFailedItems(t *testing.T) {
	s, inj := faultStack(t, func(c *config.Config) { c.Connections["nxcloud"].Limits.BatchSize = 2 })

	t.Run("helpcrunch creates", func(t *testing.T) {
		// HelpCrunch creates one customer per request: item 1 times out,
		// item 2 is refused before sending, item 3 is answered unreadably.
		inj.inject("POST", pathIs("/helpcrunch/v1/customers"), func(n int) fault {
			return map[int]fault{2: hang, 3: garbage}[n]
		})
		items := []any{
			map[string]any{"name": "c0"}, map[string]any{"name": "c1"},
			map[string]any{"name": "c2", "gender": "male"}, // HelpCrunch cannot store it
			map[string]any{"name": "c3"}, map[string]any{"name": "c4"},
		}
		r := s.do(t, "POST", "/v1/connections/helpcrunch/customers/batch", map[string]any{"mode": "create", "customers": items})
		wantItems(t, r, []string{"created", "uncertain", "not_applied", "uncertain", "created"})
		if n := inj.seen(); n != 4 {
			t.Errorf("vendor saw %d creates, want 4 (each sent once, the invalid one never)", n)
		}
	})
	t.Run("nxcloud chunks", func(t *testing.T) {
		// Chunks of 2: the second chunk's request fails with a 500.
		inj.inject("POST", pathPrefix("/nxcloud/saas/cdp/openapi/customers/batch_create"), func(n int) fault {
			return map[int]fault{2: fail500}[n]
		})
		var items []any
		for i := range 5 {
			items = append(items, map[string]any{"first_name": "F", "last_name": "L", "email": "nx" + string(rune('a'+i)) + "@example.com"})
		}
		r := s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", map[string]any{"mode": "upsert", "customers": items})
		wantItems(t, r, []string{"accepted", "accepted", "uncertain", "uncertain", "accepted"})
		if n := inj.seen(); n != 3 {
			t.Errorf("vendor saw %d chunks, want 3 (the failed one not retried)", n)
		}
	})
	t.Run("helpcrunch update retried", func(t *testing.T) {
		// PUT /customers/batch is idempotent: a reset is retried.
		inj.inject("PUT", pathIs("/helpcrunch/v1/customers/batch"), first(1, reset))
		r := s.do(t, "POST", "/v1/connections/helpcrunch/customers/batch", map[string]any{"mode": "update",
			"customers": []any{map[string]any{"id": "1", "notes": "x"}, map[string]any{"id": "2", "notes": "y"}}})
		wantItems(t, r, []string{"updated", "updated"})
		if n := inj.seen(); n < 2 {
			t.Errorf("vendor saw %d batch updates, want the reset retried", n)
		}
	})
}

// wantItems checks a 200 batch answer item by item: a status, or for a
// failed item its outcome ("uncertain" or "not_applied").
func wantItems(t *testing.T, r response, want []string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("batch: %d %s", r.Status, r.Raw)
	}
	results := r.Body["results"].([]any)
	if len(results) != len(want) {
		t.Fatalf("%d results for %d items: %s", len(results), len(want), r.Raw)
	}
	failed := 0
	for i, res := range results {
		m := res.(map[string]any)
		got := m["status"].(string)
		if got == "failed" {
			failed++
			e := m["error"].(map[string]any)
			got, _ = e["outcome"].(string)
			if e["code"] == nil || e["message"] == "" {
				t.Errorf("item %d fails without a reason: %v", i, e)
			}
		}
		if m["index"] != float64(i) || got != want[i] {
			t.Errorf("item %d: %v, want %s", i, m, want[i])
		}
	}
	if sum := r.Body["summary"].(map[string]any); sum["failed"] != float64(failed) || sum["total"] != float64(len(want)) {
		t.Errorf("summary %v", sum)
	}
}

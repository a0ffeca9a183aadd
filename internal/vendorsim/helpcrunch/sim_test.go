package helpcrunch_test

import (
	"context"
	"maps"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
)

const (
	unauthorizedBody = `{"errors":[{"code":"invalid_request","message":"Invalid request"},` +
		`{"code":"unauthorized","message":"Unauthorized"}]}`
	tooManyBody = `{"errors":[{"code":"invalid_request","message":"Invalid request"},` +
		`{"code":"too_many_requests","message":"Too many requests"}]}`
)

func TestAuth(t *testing.T) {
	tests := []struct {
		name   string
		apiKey string // Config.APIKey
		auth   string // Authorization header; "" sends none
		want   int
	}{
		{name: "default key accepted", auth: "Bearer " + helpcrunch.DefaultAPIKey, want: http.StatusOK},
		{name: "scheme is case-insensitive", auth: "bearer " + helpcrunch.DefaultAPIKey, want: http.StatusOK},
		{name: "configured key accepted", apiKey: "k-123", auth: "Bearer k-123", want: http.StatusOK},
		{name: "default key refused when another is configured", apiKey: "k-123",
			auth: "Bearer " + helpcrunch.DefaultAPIKey, want: http.StatusUnauthorized},
		{name: "no header", want: http.StatusUnauthorized},
		{name: "wrong key", auth: "Bearer nope", want: http.StatusUnauthorized},
		{name: "key without scheme", auth: helpcrunch.DefaultAPIKey, want: http.StatusUnauthorized},
		{name: "basic scheme", auth: "Basic " + helpcrunch.DefaultAPIKey, want: http.StatusUnauthorized},
		{name: "empty token", auth: "Bearer ", want: http.StatusUnauthorized},
		{name: "angle brackets copied from the docs", auth: "Bearer <" + helpcrunch.DefaultAPIKey + ">",
			want: http.StatusUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, helpcrunch.Config{APIKey: tt.apiKey})
			headers := map[string]string{}
			if tt.auth != "" {
				headers["Authorization"] = tt.auth
			}
			res := h.doWith(http.MethodGet, "/customers", nil, headers)
			if tt.want == http.StatusUnauthorized {
				wantJSON(t, res, http.StatusUnauthorized, unauthorizedBody)
				if st := h.sim.Stats(); st.Rejected != 1 || st.RateLimited != 0 {
					t.Errorf("stats = %+v, want one rejection", st)
				}
				return
			}
			wantJSON(t, res, http.StatusOK, `{"data":[],"total":0}`)
		})
	}
}

func TestRateLimitSlidingWindow(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{Limit: 3, Window: 10 * time.Second})
	// Each step advances the clock, then sends one request.
	steps := []struct {
		advance time.Duration
		want    int
	}{
		{0, 200},                       // t=0
		{time.Second, 200},             // t=1
		{time.Second, 200},             // t=2
		{0, 429},                       // t=2: three in (−8, 2]
		{7999 * time.Millisecond, 429}, // t=9.999: t=0 still inside
		{time.Millisecond, 200},        // t=10: t=0 left exactly one window later
		{0, 429},                       // t=10: 1, 2, 10 inside
		{999 * time.Millisecond, 429},  // t=10.999
		{time.Millisecond, 200},        // t=11: t=1 left
		{time.Second, 200},             // t=12: t=2 left
		{0, 429},                       // t=12: 10, 11, 12 inside
		{30 * time.Second, 200},        // t=42: all left
		{0, 200},                       // t=42
		{0, 200},                       // t=42
		{0, 429},                       // t=42
		{9 * time.Second, 429},         // t=51: the three admitted at t=42 still count
		{time.Second, 200},             // t=52: the refusal at t=51 does not count
		{0, 200},                       // t=52
		{0, 200},                       // t=52
		{0, 429},                       // t=52
		{10 * time.Second, 200},        // t=62
		{0, 200},                       // t=62
		{0, 200},                       // t=62
		{0, 429},                       // t=62
		{10*time.Second - 1, 429},      // just before the window ends
		{1, 200},                       // exactly at its end
	}
	limited := 0
	for i, st := range steps {
		h.clock.Advance(st.advance)
		res := h.do(http.MethodGet, "/customers", nil)
		if res.status != st.want {
			t.Fatalf("step %d (t=%v): status %d, want %d", i, h.clock.Now().Sub(startTime), res.status, st.want)
		}
		if res.status == http.StatusTooManyRequests {
			limited++
			wantJSON(t, res, http.StatusTooManyRequests, tooManyBody)
			for _, hdr := range []string{"Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset"} {
				if v := res.header.Get(hdr); v != "" {
					t.Errorf("step %d: undocumented header %s: %q", i, hdr, v)
				}
			}
		}
	}
	st := h.sim.Stats()
	if st.RateLimited != limited || st.Requests != len(steps) || st.Rejected != 0 {
		t.Errorf("stats = %+v, want RateLimited %d, Requests %d, Rejected 0", st, limited, len(steps))
	}
}

func TestRateLimitCountsEveryAuthorisedRequest(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{Limit: 2, Window: time.Minute})
	// Unauthorised requests belong to no account and do not count.
	for range 5 {
		if res := h.doWith(http.MethodGet, "/customers", nil, nil); res.status != http.StatusUnauthorized {
			t.Fatalf("unauthorised: status %d", res.status)
		}
	}
	// Authorised requests count whatever their outcome, 404 included.
	if res := h.do(http.MethodGet, "/customers/999", nil); res.status != http.StatusNotFound {
		t.Fatalf("unknown customer: status %d", res.status)
	}
	if res := h.do(http.MethodPost, "/customers", raw(`{`)); res.status != http.StatusBadRequest {
		t.Fatalf("bad JSON: status %d", res.status)
	}
	wantJSON(t, h.do(http.MethodPost, "/customers", map[string]any{}), http.StatusTooManyRequests, tooManyBody)
	if n := h.sim.CustomerCount(); n != 0 {
		t.Errorf("a refused create stored a customer: count %d", n)
	}
}

func TestRateLimitDefaultsAndDisabled(t *testing.T) {
	tests := []struct {
		name     string
		cfg      helpcrunch.Config
		admitted int // requests admitted out of 300 sent at one instant
	}{
		{name: "default 120 per minute", admitted: helpcrunch.DefaultLimit},
		{name: "negative limit disables", cfg: helpcrunch.Config{Limit: -1}, admitted: 300},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.cfg)
			ok := 0
			for range 300 {
				if h.do(http.MethodGet, "/customers", nil).status == http.StatusOK {
					ok++
				}
			}
			if ok != tt.admitted {
				t.Fatalf("admitted %d, want %d", ok, tt.admitted)
			}
			h.clock.Advance(helpcrunch.DefaultWindow)
			if res := h.do(http.MethodGet, "/customers", nil); res.status != http.StatusOK {
				t.Fatalf("after a window: status %d", res.status)
			}
		})
	}
}

func TestRateLimitConcurrent(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{Limit: 50, Window: time.Minute})
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[int]int{}
	for range 16 {
		wg.Go(func() {
			for range 10 {
				res := doRequest(t, http.MethodPost, h.srv.URL+"/v1/customers", map[string]any{},
					map[string]string{"Authorization": "Bearer " + h.key, "Content-Type": "application/json"})
				mu.Lock()
				codes[res.status]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if codes[http.StatusCreated] != 50 || codes[http.StatusTooManyRequests] != 110 {
		t.Fatalf("status counts = %v, want 50 created and 110 limited", codes)
	}
	// Ids are assigned sequentially without gaps or duplicates.
	for i, c := range h.sim.Customers() {
		if c.ID != i+1 {
			t.Fatalf("customer %d has id %d", i, c.ID)
		}
	}
	if n := h.sim.CustomerCount(); n != 50 {
		t.Fatalf("count = %d, want 50", n)
	}
}

func TestRouting(t *testing.T) {
	tests := []struct {
		name      string
		method    string
		path      string // below the server root
		status    int
		err       [2]string
		wantAllow string
	}{
		{name: "unknown resource", method: http.MethodGet, path: "/v1/agents", status: 404,
			err: [2]string{"not_found", "Not found"}},
		{name: "missing version prefix", method: http.MethodGet, path: "/customers", status: 404,
			err: [2]string{"not_found", "Not found"}},
		{name: "trailing slash", method: http.MethodGet, path: "/v1/customers/", status: 404,
			err: [2]string{"not_found", "Not found"}},
		{name: "undocumented chat status", method: http.MethodPut, path: "/v1/chats/1/status", status: 404,
			err: [2]string{"not_found", "Not found"}},
		{name: "method not allowed", method: http.MethodDelete, path: "/v1/customers", status: 405,
			err: [2]string{"method_not_allowed", "Method not allowed"}, wantAllow: "GET, POST"},
		{name: "batch is PUT only", method: http.MethodPost, path: "/v1/customers/batch", status: 405,
			err: [2]string{"method_not_allowed", "Method not allowed"}, wantAllow: "PUT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, helpcrunch.Config{})
			res := doRequest(t, tt.method, h.srv.URL+tt.path, nil, map[string]string{"Authorization": "Bearer " + h.key})
			wantErrors(t, res, tt.status, tt.err)
			if got := res.header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
		})
	}
}

func TestStripPrefix(t *testing.T) {
	sim := helpcrunch.New(helpcrunch.Config{})
	mux := http.NewServeMux()
	mux.Handle("/sandbox/helpcrunch/", http.StripPrefix("/sandbox/helpcrunch", sim))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	headers := map[string]string{"Authorization": "Bearer " + helpcrunch.DefaultAPIKey, "Content-Type": "application/json"}
	base := srv.URL + "/sandbox/helpcrunch/v1"

	res := doRequest(t, http.MethodPost, base+"/customers", map[string]any{"name": "Ann"}, headers)
	if res.status != http.StatusCreated {
		t.Fatalf("create: %d %s", res.status, res.body)
	}
	res = doRequest(t, http.MethodGet, base+"/customers/1", nil, headers)
	if res.status != http.StatusOK || object(t, res)["name"] != "Ann" {
		t.Fatalf("get: %d %s", res.status, res.body)
	}
	want := map[string]int{"POST /customers": 1, "GET /customers/{id}": 1}
	if got := sim.Stats().Operations; !maps.Equal(got, want) {
		t.Errorf("operations = %v, want %v", got, want)
	}
}

func TestStats(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{Limit: 8, Window: time.Minute})
	id := h.create(map[string]any{"name": "A"})
	h.do(http.MethodGet, "/customers/1", nil)
	h.do(http.MethodGet, "/customers/2", nil) // 404
	h.do(http.MethodPut, "/customers/batch", []map[string]any{{"customer": id}, {"customer": id, "name": "B"}})
	h.do(http.MethodPut, "/customers/batch", []map[string]any{{"customer": "x"}})                  // 400, 1 item
	h.do(http.MethodPut, "/customers/batch", make([]map[string]any, helpcrunch.DefaultMaxBatch+1)) // 400, 11 items
	h.do(http.MethodPut, "/customers/batch", raw(`{`))                                             // 400, no items
	h.doWith(http.MethodGet, "/customers", nil, nil)                                               // 401
	h.do(http.MethodGet, "/nowhere", nil)                                                          // 404 unmatched
	h.do(http.MethodDelete, "/customers/1", nil)                                                   // 429
	h.do(http.MethodDelete, "/customers/1", nil)                                                   // 429

	got := h.sim.Stats()
	want := helpcrunch.Stats{
		Requests:      11,
		RateLimited:   2,
		Rejected:      6,
		ItemsReceived: 2 + 1 + 11,
		Operations: map[string]int{
			"POST /customers":        1,
			"GET /customers/{id}":    2,
			"PUT /customers/batch":   4,
			"GET /customers":         1,
			"unmatched":              1,
			"DELETE /customers/{id}": 2,
		},
	}
	if got.Requests != want.Requests || got.RateLimited != want.RateLimited || got.Rejected != want.Rejected ||
		got.ItemsReceived != want.ItemsReceived || !maps.Equal(got.Operations, want.Operations) {
		t.Fatalf("stats =\n%+v\nwant\n%+v", got, want)
	}
	// The returned map is a copy.
	got.Operations["POST /customers"] = 99
	if h.sim.Stats().Operations["POST /customers"] != 1 {
		t.Error("Stats exposes the live operations map")
	}
	h.sim.ResetStats()
	if st := h.sim.Stats(); st.Requests != 0 || len(st.Operations) != 0 || st.ItemsReceived != 0 {
		t.Errorf("after reset: %+v", st)
	}
}

func TestLatency(t *testing.T) {
	const latency = 40 * time.Millisecond
	h := newHarness(t, helpcrunch.Config{Latency: latency})
	start := time.Now()
	res := h.do(http.MethodGet, "/customers", nil)
	elapsed := time.Since(start)
	if res.status != http.StatusOK {
		t.Fatalf("status %d", res.status)
	}
	if elapsed < latency {
		t.Fatalf("answered after %v, want at least %v", elapsed, latency)
	}
}

func TestLatencyAbandonedByClient(t *testing.T) {
	sim := helpcrunch.New(helpcrunch.Config{Latency: time.Hour})
	req := httptest.NewRequest(http.MethodGet, "/v1/customers", nil)
	req.Header.Set("Authorization", "Bearer "+helpcrunch.DefaultAPIKey)
	ctx, cancel := context.WithCancel(req.Context())
	cancel()
	rec := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		sim.ServeHTTP(rec, req.WithContext(ctx))
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("handler kept sleeping after the client left")
	}
	if rec.Body.Len() != 0 {
		t.Errorf("wrote %q to a client that left", rec.Body.String())
	}
	if st := sim.Stats(); st.Requests != 1 || st.Rejected != 0 || st.RateLimited != 0 {
		t.Errorf("stats = %+v", st)
	}
}

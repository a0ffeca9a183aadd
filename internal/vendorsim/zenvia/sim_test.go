package zenvia_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

// hashPath is a syntactically valid interaction path; auth is checked before
// the hash is looked up, so it needs no real interaction.
const hashPath = "/core/api/v1/interactions/6f1c1b8e-8d0c-4d53-9d0b-0b6a4f3a0d11"

func TestRouting(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	tests := []struct {
		name, method, path string
		status             int
		allow              string
	}{
		{"unknown root", http.MethodGet, "/", http.StatusNotFound, ""},
		{"unknown api path", http.MethodPost, "/api/external/contacts", http.StatusNotFound, ""},
		{"unknown interaction action", http.MethodPut, hashPath + "/transfer", http.StatusNotFound, ""},
		{"empty hash", http.MethodPut, "/core/api/v1/interactions//finish", http.StatusNotFound, ""},
		{"customers by GET", http.MethodGet, "/api/external/customers", http.StatusMethodNotAllowed, "POST"},
		{"form_fields by POST", http.MethodPost, "/api/external/form_fields", http.StatusMethodNotAllowed, "GET"},
		{"start by GET", http.MethodGet, "/core/api/v1/interactions", http.StatusMethodNotAllowed, "POST"},
		{"update by POST", http.MethodPost, hashPath, http.StatusMethodNotAllowed, "PUT"},
		{"messages by PUT", http.MethodPut, hashPath + "/messages", http.StatusMethodNotAllowed, "POST"},
		{"finish by POST", http.MethodPost, hashPath + "/finish", http.StatusMethodNotAllowed, "PUT"},
		{"typing by DELETE", http.MethodDelete, hashPath + "/typing", http.StatusMethodNotAllowed, "PUT"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body, hdr := h.raw(tc.method, tc.path, []byte(`{"token":"`+token+`"}`))
			wantError(t, status, decodeObject(t, body), tc.status, "")
			if got := hdr.Get("Allow"); got != tc.allow {
				t.Fatalf("Allow %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestAuth(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	writes := []struct{ method, path string }{
		{http.MethodPost, "/api/external/customers"},
		{http.MethodPost, "/core/api/v1/interactions"},
		{http.MethodPut, hashPath},
		{http.MethodPost, hashPath + "/messages"},
		{http.MethodPut, hashPath + "/typing"},
		{http.MethodPut, hashPath + "/cleared"},
		{http.MethodPut, hashPath + "/finish"},
	}
	bodies := []struct{ name, body string }{
		{"missing token", `{"customers":[{"fields":{"main_identifier":"A"}}],"department_id":1}`},
		{"empty token", `{"token":""}`},
		{"null token", `{"token":null}`},
		{"numeric token", `{"token":12345}`},
		{"wrong token", `{"token":"nope","customers":[{"fields":{"main_identifier":"A"}}],"department_id":1}`},
		{"token with different case", `{"token":"TEST-TOKEN"}`},
		{"no body", ``},
		// The token travels in the body on writes: a query token is not
		// enough.
	}
	for _, w := range writes {
		for _, b := range bodies {
			t.Run(w.method+" "+w.path+" "+b.name, func(t *testing.T) {
				status, out := h.call(w.method, w.path, b.body)
				wantError(t, status, out, http.StatusUnauthorized, "")
			})
		}
		t.Run(w.method+" "+w.path+" query token only", func(t *testing.T) {
			status, out := h.call(w.method, w.path+"?token="+token, `{}`)
			wantError(t, status, out, http.StatusUnauthorized, "")
		})
	}
	gets := []struct{ name, query string }{
		{"missing token", ""},
		{"empty token", "?token="},
		{"wrong token", "?token=nope"},
	}
	for _, g := range gets {
		t.Run("form_fields "+g.name, func(t *testing.T) {
			status, out := h.call(http.MethodGet, "/api/external/form_fields"+g.query, nil)
			wantError(t, status, out, http.StatusUnauthorized, "")
		})
	}
	if got := h.sim.CustomerCount(); got != 0 {
		t.Fatalf("unauthenticated calls stored %d customers", got)
	}
	if got := h.sim.InteractionCount(); got != 0 {
		t.Fatalf("unauthenticated calls started %d interactions", got)
	}
}

func TestDefaultToken(t *testing.T) {
	sim := zenvia.New(zenvia.Config{})
	defer sim.Close()
	srv := httptest.NewServer(sim)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/api/external/form_fields?token=" + zenvia.DefaultToken)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("default token: status %d, want 200", resp.StatusCode)
	}
	if zenvia.DefaultToken != "sandbox-zenvia-token" {
		t.Fatalf("DefaultToken %q", zenvia.DefaultToken)
	}
}

func TestMalformedBody(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	tests := []struct {
		name, body string
		status     int
	}{
		{"not JSON", `{"token":`, http.StatusBadRequest},
		{"array", `[{"token":"test-token"}]`, http.StatusBadRequest},
		{"null", `null`, http.StatusBadRequest},
		{"string", `"test-token"`, http.StatusBadRequest},
		{"trailing data", `{"token":"test-token"} {}`, http.StatusBadRequest},
		{"whitespace only is an empty object", "  \n", http.StatusUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, out := h.call(http.MethodPost, "/api/external/customers", tc.body)
			wantError(t, status, out, tc.status, "")
		})
	}
}

func TestBodyTooLarge(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	// 9 MiB of valid JSON: the limit is on size, not syntax.
	big := `{"token":"` + token + `","note":"` + strings.Repeat("x", 9<<20) + `"}`
	status, out := h.call(http.MethodPut, hashPath, big)
	wantError(t, status, out, http.StatusRequestEntityTooLarge, "")
}

func TestStripPrefix(t *testing.T) {
	sim := zenvia.New(zenvia.Config{Token: token})
	defer sim.Close()
	mux := http.NewServeMux()
	mux.Handle("/sandbox/zenvia/", http.StripPrefix("/sandbox/zenvia", sim))
	srv := httptest.NewServer(mux)
	defer srv.Close()
	h := &harness{t: t, sim: sim, srv: srv, clock: newClock()}

	status, out := h.call(http.MethodGet, "/sandbox/zenvia/api/external/form_fields?token="+token, nil)
	if status != http.StatusOK || out["status"] != float64(200) {
		t.Fatalf("form_fields under prefix: %d %v", status, out)
	}
	status, out = h.call(http.MethodPost, "/sandbox/zenvia/core/api/v1/interactions", map[string]any{"token": token, "department_id": 1})
	if status != http.StatusOK {
		t.Fatalf("start under prefix: %d %v", status, out)
	}
	hash := out["data"].(map[string]any)["interaction_hash"].(string)
	status, out = h.call(http.MethodPut, "/sandbox/zenvia/core/api/v1/interactions/"+hash+"/finish", map[string]any{"token": token})
	if status != http.StatusOK {
		t.Fatalf("finish under prefix: %d %v", status, out)
	}
	if got := sim.Stats().Operations["PUT /core/api/v1/interactions/{hash}/finish"]; got != 1 {
		t.Fatalf("finish counted %d times under prefix, want 1", got)
	}
}

func TestRateLimitSlidingWindow(t *testing.T) {
	h := newHarness(t, zenvia.Config{Limit: 3, Window: 10 * time.Second})
	formFields := func() (int, map[string]any) {
		return h.call(http.MethodGet, "/api/external/form_fields?token="+token, nil)
	}
	upsert := func() (int, map[string]any) {
		return h.call(http.MethodPost, "/api/external/customers",
			map[string]any{"token": token, "customers": []any{map[string]any{"fields": map[string]any{"main_identifier": "A"}}}})
	}
	steps := []struct {
		at     time.Duration
		call   func() (int, map[string]any)
		status int
	}{
		{0, formFields, 200},
		{0, upsert, 200}, // the limit is per account, across operations
		{4 * time.Second, formFields, 200},
		{6 * time.Second, formFields, 429},
		{9*time.Second + 999*time.Millisecond, upsert, 429},
		// At exactly 10 s the two requests of t=0 leave the window
		// (t-W, t]; refused requests never counted.
		{10 * time.Second, formFields, 200},
		{10 * time.Second, formFields, 200},
		{10 * time.Second, formFields, 429},
		{14*time.Second - time.Millisecond, formFields, 429},
		{14 * time.Second, formFields, 200},
		{14 * time.Second, formFields, 429},
		{24 * time.Second, formFields, 200},
		{24 * time.Second, formFields, 200},
		{24 * time.Second, formFields, 200},
	}
	limited := 0
	for i, st := range steps {
		h.clock.Set(t0.Add(st.at))
		status, out := st.call()
		if st.status == 429 {
			limited++
			wantError(t, status, out, http.StatusTooManyRequests, "Too many requests")
			continue
		}
		if status != st.status {
			t.Fatalf("step %d at %v: status %d, want %d (%v)", i, st.at, status, st.status, out)
		}
	}
	stats := h.sim.Stats()
	if stats.RateLimited != limited {
		t.Fatalf("RateLimited %d, want %d", stats.RateLimited, limited)
	}
	if stats.Rejected != 0 {
		t.Fatalf("Rejected %d, want 0: 429s are counted apart", stats.Rejected)
	}
	if stats.Requests != len(steps) {
		t.Fatalf("Requests %d, want %d", stats.Requests, len(steps))
	}
}

func TestRateLimitDefaultWindowAndUnlimited(t *testing.T) {
	tests := []struct {
		name     string
		cfg      zenvia.Config
		advance  time.Duration
		requests int
		want429  int
	}{
		{"unlimited by default", zenvia.Config{}, 0, 200, 0},
		{"limit without window uses one minute", zenvia.Config{Limit: 2}, 59 * time.Second, 3, 1},
		{"limit without window frees after one minute", zenvia.Config{Limit: 2}, time.Minute, 3, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			got := 0
			for i := 0; i < tc.requests; i++ {
				if i == tc.requests-1 {
					h.clock.Advance(tc.advance)
				}
				status, _ := h.call(http.MethodGet, "/api/external/form_fields?token="+token, nil)
				if status == http.StatusTooManyRequests {
					got++
				}
			}
			if got != tc.want429 {
				t.Fatalf("%d answers were 429, want %d", got, tc.want429)
			}
		})
	}
}

func TestLatency(t *testing.T) {
	const latency = 60 * time.Millisecond
	h := newHarness(t, zenvia.Config{Latency: latency})
	begin := time.Now()
	status, _ := h.call(http.MethodGet, "/api/external/form_fields?token="+token, nil)
	if elapsed := time.Since(begin); elapsed < latency {
		t.Fatalf("answered after %v, want at least %v", elapsed, latency)
	}
	if status != http.StatusOK {
		t.Fatalf("status %d", status)
	}
}

func TestStats(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	h.call(http.MethodGet, "/api/external/form_fields?token="+token, nil)
	h.call(http.MethodGet, "/api/external/form_fields?token=bad", nil)
	h.upsert(
		map[string]any{"fields": map[string]any{"main_identifier": "A", "channel_phone": "1"}},
		map[string]any{"fields": map[string]any{"main_identifier": "B"}, "agent_id": 9999},
		map[string]any{"fields": map[string]any{"main_identifier": "A2", "channel_phone": "1"}},
	)
	// An unauthenticated batch carries no counted items.
	h.call(http.MethodPost, "/api/external/customers", map[string]any{"token": "bad", "customers": []any{map[string]any{}}})
	hash := h.start(nil)
	h.call(http.MethodPost, "/core/api/v1/interactions/"+hash+"/messages", map[string]any{"token": token, "content": "hi"})
	h.call(http.MethodPut, "/core/api/v1/interactions/"+hash+"/finish", map[string]any{"token": token})
	h.call(http.MethodPut, "/core/api/v1/interactions/"+hash+"/finish", map[string]any{"token": token})
	h.call(http.MethodGet, "/nowhere", nil)

	got := h.sim.Stats()
	want := zenvia.Stats{
		Requests:         9,
		Rejected:         4, // bad GET token, bad POST token, finish after finish, unknown route
		ItemsReceived:    3,
		CustomersCreated: 1,
		CustomersUpdated: 1,
		CustomerErrors:   1,
		Operations: map[string]int{
			"GET /api/external/form_fields":                  2,
			"POST /api/external/customers":                   2,
			"POST /core/api/v1/interactions":                 1,
			"POST /core/api/v1/interactions/{hash}/messages": 1,
			"PUT /core/api/v1/interactions/{hash}/finish":    2,
		},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("stats\n got %+v\nwant %+v", got, want)
	}
	// Stats is a snapshot: changing it must not change the simulator.
	got.Operations["POST /api/external/customers"] = 100
	if h.sim.Stats().Operations["POST /api/external/customers"] != 2 {
		t.Fatal("Stats shares its Operations map with the simulator")
	}
}

func TestConcurrentUse(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	const workers, perWorker = 8, 10
	var wg sync.WaitGroup
	errs := make(chan string, workers*perWorker)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				status, _ := h.call(http.MethodPost, "/api/external/customers", map[string]any{
					"token": token,
					"customers": []any{map[string]any{"fields": map[string]any{
						"main_identifier": "C", "channel_phone": fmt.Sprintf("%d-%d", w, i),
					}}},
				})
				if status != http.StatusOK {
					errs <- fmt.Sprintf("status %d", status)
				}
				hash := h.start(nil)
				status, _ = h.call(http.MethodPost, "/core/api/v1/interactions/"+hash+"/messages", map[string]any{"token": token, "content": "x"})
				if status != http.StatusOK {
					errs <- fmt.Sprintf("message status %d", status)
				}
			}
		}(w)
	}
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
	customers := h.sim.Customers()
	if len(customers) != workers*perWorker {
		t.Fatalf("%d customers, want %d", len(customers), workers*perWorker)
	}
	for i, c := range customers {
		if c.ID != i+1 {
			t.Fatalf("customer %d has id %d: ids must be sequential without gaps", i, c.ID)
		}
	}
	if got := h.sim.InteractionCount(); got != workers*perWorker {
		t.Fatalf("%d interactions, want %d", got, workers*perWorker)
	}
}

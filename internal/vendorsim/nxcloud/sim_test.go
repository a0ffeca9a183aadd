package nxcloud_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
)

// TestMountedUnderPrefix checks the handler behind http.StripPrefix, as a gateway base_url with a
// path (http://127.0.0.1:PORT/nxcloud) would reach it.
func TestMountedUnderPrefix(t *testing.T) {
	clock := newFakeClock()
	sim := nxcloud.New(nxcloud.Config{Now: clock.Now})
	mux := http.NewServeMux()
	mux.Handle("/nxcloud/", http.StripPrefix("/nxcloud", sim))
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	h := &harness{t: t, sim: sim, srv: srv, clock: clock, cfg: sim.Config(), prefix: "/nxcloud"}

	h.batch(0, person("A", "B", "a@b.c"))
	if got := ids(h.query(obj{"limit": 5})); !reflect.DeepEqual(got, []string{"1"}) {
		t.Errorf("query under the prefix = %v, want [1]", got)
	}
	if a, list := h.fields("tenant_id=144&app_key=sandbox-app&is_preset=1"); a.Code != 0 || len(list) == 0 {
		t.Errorf("fields under the prefix: code %d, %d fields", a.Code, len(list))
	}
	// Without the prefix the mux answers, not the simulator.
	resp, err := srv.Client().Get(srv.URL + nxcloud.PathFields)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("status without the prefix = %d, want 404", resp.StatusCode)
	}
}

// TestUnknownRoutes checks paths and methods the vendor does not serve.
func TestUnknownRoutes(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	tests := []struct {
		method, path string
		wantStatus   int
		wantAllow    string
	}{
		{http.MethodPost, "/saas/cdp/openapi/customers/batch_update", http.StatusNotFound, ""},
		{http.MethodGet, "/", http.StatusNotFound, ""},
		{http.MethodGet, nxcloud.PathBatchCreate, http.StatusMethodNotAllowed, http.MethodPost},
		{http.MethodPut, nxcloud.PathQuery, http.StatusMethodNotAllowed, http.MethodPost},
		{http.MethodPost, nxcloud.PathFields, http.StatusMethodNotAllowed, http.MethodGet},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			a := h.do(call{method: tt.method, path: tt.path, body: []byte(`{}`)})
			assertEnvelope(t, a)
			if a.Status != tt.wantStatus || a.Code != -1 {
				t.Errorf("status %d code %d, want %d -1", a.Status, a.Code, tt.wantStatus)
			}
			if got := a.Header.Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow = %q, want %q", got, tt.wantAllow)
			}
		})
	}
	st := h.sim.Stats()
	if st.Rejected != len(tests) || len(st.Operations) != 0 {
		t.Errorf("Rejected %d Operations %v, want %d and none", st.Rejected, st.Operations, len(tests))
	}
}

// TestStats checks the counters after a known mix of requests.
func TestStats(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	h.batch(0, many(3)...)
	h.batch(1, many(2)...)
	h.query(obj{"limit": 5})
	h.fieldsCall()
	h.do(call{path: nxcloud.PathQuery, body: []byte(`{}`), secret: "wrong"})
	h.do(call{path: nxcloud.PathQuery, body: []byte(`{}`), drop: "sign"})
	h.do(call{method: http.MethodGet, path: "/nope"})

	got := h.sim.Stats()
	want := nxcloud.Stats{
		Requests:    7,
		RateLimited: 0,
		Rejected:    3,
		Operations: map[string]int{
			"POST " + nxcloud.PathBatchCreate: 2,
			"POST " + nxcloud.PathQuery:       3,
			"GET " + nxcloud.PathFields:       1,
		},
		Codes:            map[int]int{0: 4, 1003: 1, 1001: 1, -1: 1},
		ItemsReceived:    5,
		CustomersCreated: 3,
		CustomersUpdated: 2,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("stats:\n got %+v\nwant %+v", got, want)
	}
	// The snapshot is a copy: changing it does not change the simulator.
	got.Operations["x"] = 1
	if _, ok := h.sim.Stats().Operations["x"]; ok {
		t.Error("Stats returned the live map")
	}
}

// TestInspectionHelpers checks lookups and that they return copies.
func TestInspectionHelpers(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	h.batch(0, obj{"first_name": "A", "last_name": "B", "sms_phone": "1", "whats_app_phone": "2",
		"email": "Mixed@Case.com", "tagStr": "x", "gender": 1, "customize_field": `{"customize_1_14":"n"}`})
	tests := []struct {
		name string
		get  func() (nxcloud.Customer, bool)
		want bool
	}{
		{"by id", func() (nxcloud.Customer, bool) { return h.sim.CustomerByID("1") }, true},
		{"by unknown id", func() (nxcloud.Customer, bool) { return h.sim.CustomerByID("2") }, false},
		{"by malformed id", func() (nxcloud.Customer, bool) { return h.sim.CustomerByID("x") }, false},
		{"by email", func() (nxcloud.Customer, bool) { return h.sim.CustomerByEmail("mixed@case.com") }, true},
		{"by sms_phone", func() (nxcloud.Customer, bool) { return h.sim.CustomerBySMSPhone("1") }, true},
		{"by whats_app_phone", func() (nxcloud.Customer, bool) { return h.sim.CustomerByWhatsAppPhone("2") }, true},
		{"by whats_app_phone, given the sms one", func() (nxcloud.Customer, bool) { return h.sim.CustomerByWhatsAppPhone("1") }, false},
		{"find by any key", func() (nxcloud.Customer, bool) { return h.sim.FindCustomer("9", "9", "MIXED@case.com") }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, ok := tt.get()
			if ok != tt.want {
				t.Fatalf("found = %v, want %v", ok, tt.want)
			}
			if ok && c.ID != "1" {
				t.Errorf("ID = %q, want 1", c.ID)
			}
		})
	}

	c, _ := h.sim.CustomerByID("1")
	c.Tags[0], c.CustomFields["customize_1_14"], *c.Gender = "changed", "changed", 0
	again, _ := h.sim.CustomerByID("1")
	if again.Tags[0] != "x" || again.CustomFields["customize_1_14"] != "n" || *again.Gender != 1 {
		t.Errorf("mutating a returned customer changed the store: %+v", again)
	}
}

// TestLatency checks the artificial delay and that a client giving up is not kept waiting.
func TestLatency(t *testing.T) {
	t.Run("delays answers", func(t *testing.T) {
		h := newHarness(t, nxcloud.Config{Latency: 40 * time.Millisecond})
		start := time.Now()
		h.fieldsCall()
		if d := time.Since(start); d < 40*time.Millisecond {
			t.Errorf("answered after %v, want at least 40ms", d)
		}
	})
	t.Run("stops when the client leaves", func(t *testing.T) {
		sim := nxcloud.New(nxcloud.Config{Latency: time.Minute})
		ctx, cancel := context.WithCancel(context.Background())
		req := httptest.NewRequest(http.MethodGet, nxcloud.PathFields, nil).WithContext(ctx)
		rec := httptest.NewRecorder()
		done := make(chan struct{})
		go func() {
			sim.ServeHTTP(rec, req)
			close(done)
		}()
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatal("ServeHTTP still waiting after the client left")
		}
		if rec.Body.Len() != 0 {
			t.Errorf("wrote %q to a client that left", rec.Body.String())
		}
	})
}

// TestConcurrentBatchCreate hammers the store from several goroutines; run with -race.
func TestConcurrentBatchCreate(t *testing.T) {
	h := newHarness(t, nxcloud.Config{Limit: 1000, Window: time.Hour})
	const workers, perWorker, batch = 8, 5, 10
	var wg sync.WaitGroup
	errs := make(chan error, workers*perWorker)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := 0; r < perWorker; r++ {
				items := make([]obj, batch)
				for i := range items {
					items[i] = person("W", "R", fmt.Sprintf("w%d-r%d-i%d@example.com", w, r, i))
				}
				// Everyone also merges into one shared customer.
				items[0] = obj{"first_name": "Shared", "last_name": "One", "email": "shared@example.com",
					"tagStr": fmt.Sprintf("w%d", w)}
				body := mustJSON(t, h.batchBody(1, items...))
				if a := doConcurrent(h, body); a != nil {
					errs <- a
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	wantCount := 1 + workers*perWorker*(batch-1)
	if n := h.sim.CustomerCount(); n != wantCount {
		t.Errorf("stored %d customers, want %d", n, wantCount)
	}
	shared, ok := h.sim.CustomerByEmail("shared@example.com")
	if !ok || len(shared.Tags) != workers {
		t.Errorf("shared customer tags = %v, want one per worker", shared.Tags)
	}
	st := h.sim.Stats()
	if st.ItemsReceived != workers*perWorker*batch || st.CustomersCreated != wantCount ||
		st.CustomersCreated+st.CustomersUpdated != st.ItemsReceived {
		t.Errorf("stats %+v inconsistent with %d items", st, workers*perWorker*batch)
	}
}

// doConcurrent sends a signed batch_create and reports failure as an error, because t.Fatal
// must not be called from goroutines other than the test's.
func doConcurrent(h *harness, body []byte) error {
	ts := strconv.FormatInt(h.clock.Now().UnixMilli(), 10)
	req, err := http.NewRequest(http.MethodPost, h.srv.URL+nxcloud.PathBatchCreate, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("building request: %w", err)
	}
	req.Header.Set("accessKey", h.cfg.AccessKey)
	req.Header.Set("ts", ts)
	req.Header.Set("bizType", nxcloud.BizType)
	req.Header.Set("action", nxcloud.Action)
	req.Header.Set("sign", nxcloud.Sign(h.cfg.AccessKey, nxcloud.Action, nxcloud.BizType, ts, body, h.cfg.AccessSecret))
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.srv.Client().Do(req)
	if err != nil {
		return fmt.Errorf("sending batch_create: %w", err)
	}
	defer resp.Body.Close()
	var env struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&env); err != nil {
		return fmt.Errorf("decoding answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK || env.Code != 0 {
		return fmt.Errorf("batch_create: status %d code %d: %s", resp.StatusCode, env.Code, env.Message)
	}
	return nil
}

package server_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/server"
)

// newJobStack is the test stack with bulk jobs in memory and their workers
// running; maxBody is the server's body limit (and so the stream threshold).
func newJobStack(t *testing.T, maxBody int64, tweak func(*config.Config)) *stack {
	t.Helper()
	return newStack(t, func(cfg *config.Config) {
		// Jobs write thousands of items: budgets that never make these tests wait.
		for _, name := range []string{"helpcrunch", "nxcloud"} {
			cfg.Connections[name].Limits.Requests = 6000
		}
		if tweak != nil {
			tweak(cfg)
		}
	}, withJobs(), withServerOptions(func(o *server.Options) { o.MaxBodyBytes = maxBody }))
}

func nxBatch(n int, tag string) map[string]any {
	items := make([]any, n)
	for i := range items {
		items[i] = map[string]any{"first_name": fmt.Sprint("F", i), "last_name": "L", "email": fmt.Sprintf("%s-%d@example.com", tag, i)}
	}
	return map[string]any{"mode": "upsert", "customers": items}
}

// waitJobDone polls the job until it has finished.
func (s *stack) waitJobDone(t *testing.T, location string) map[string]any {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := s.do(t, "GET", location, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", location, r.Status, r.Raw)
		}
		if r.Body["finished_at"] != nil && r.Body["counts"].(map[string]any)["pending"] == float64(0) {
			return r.Body
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not finished: %s", r.Raw)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// jobResults pages through a job's results with the given page size and
// checks they come in input order.
func (s *stack) jobResults(t *testing.T, location string, limit int) []map[string]any {
	t.Helper()
	var out []map[string]any
	url := fmt.Sprintf("%s/results?limit=%d", location, limit)
	for {
		r := s.do(t, "GET", url, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("GET %s: %d %s", url, r.Status, r.Raw)
		}
		for _, d := range r.Body["data"].([]any) {
			m := d.(map[string]any)
			if m["index"] != float64(len(out)) {
				t.Fatalf("result %d has index %v", len(out), m["index"])
			}
			out = append(out, m)
		}
		next, _ := r.Body["next_cursor"].(string)
		if next == "" {
			return out
		}
		url = fmt.Sprintf("%s/results?limit=%d&cursor=%s", location, limit, next)
	}
}

func TestBatchRespondAsync(t *testing.T) {
	s := newJobStack(t, 64<<10, nil)
	r := s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", nxBatch(5, "async"), "Prefer: respond-async, wait=3")
	if r.Status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.Status, r.Raw)
	}
	loc := r.Header.Get("Location")
	if loc != "/v1/jobs/"+r.Body["id"].(string) || r.Header.Get("Preference-Applied") != "wait=3, respond-async" {
		t.Fatalf("headers %v", r.Header)
	}
	if r.Body["connection"] != "nxcloud" || r.Body["mode"] != "upsert" || r.Body["counts"].(map[string]any)["total"] != float64(5) {
		t.Fatalf("job %s", r.Raw)
	}
	job := s.waitJobDone(t, loc)
	if job["state"] != "succeeded" || job["counts"].(map[string]any)["accepted"] != float64(5) || job["eta_seconds"] != nil ||
		job["started_at"] == nil {
		t.Fatalf("finished job %v", job)
	}
	results := s.jobResults(t, loc, 2)
	if len(results) != 5 || results[4]["status"] != "accepted" {
		t.Fatalf("results %v", results)
	}
	// The same batch without the preference is answered synchronously.
	r = s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", nxBatch(5, "sync"))
	if r.Status != http.StatusOK || r.Body["summary"].(map[string]any)["accepted"] != float64(5) {
		t.Fatalf("synchronous batch: %d %s", r.Status, r.Raw)
	}
}

// TestBatchBecomesAJob: a batch that would outlast the wait bound, or holds
// more than 1,000 items, is a job.
func TestBatchBecomesAJob(t *testing.T) {
	s := newJobStack(t, 1<<20, nil)
	items := make([]any, 20)
	for i := range items {
		items[i] = map[string]any{"name": fmt.Sprint("c", i)}
	}
	create := map[string]any{"mode": "create", "customers": items}
	// 20 HelpCrunch creates at 100/s fit the 10 s max_wait...
	if r := s.do(t, "POST", "/v1/connections/helpcrunch/customers/batch", create); r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Raw)
	}
	// ...but not "answer at once".
	r := s.do(t, "POST", "/v1/connections/helpcrunch/customers/batch", create, "Prefer: wait=0")
	if r.Status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.Status, r.Raw)
	}
	if job := s.waitJobDone(t, r.Header.Get("Location")); job["counts"].(map[string]any)["created"] != float64(20) {
		t.Fatalf("job %v", job)
	}
	// 1,500 items in a small body.
	r = s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", nxBatch(1500, "big"))
	if r.Status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.Status, r.Raw)
	}
	s.waitJobDone(t, r.Header.Get("Location"))
	if got := len(s.jobResults(t, r.Header.Get("Location"), 1000)); got != 1500 {
		t.Fatalf("%d results", got)
	}
	// A mode the vendor lacks is refused before anything is stored.
	r = s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", map[string]any{"mode": "update", "customers": []any{map[string]any{"id": "1"}}},
		"Prefer: respond-async")
	wantProblem(t, r, http.StatusNotImplemented, "not_implemented")
}

// TestStreamedBatch: a body over the threshold is read item by item into
// the job store.
func TestStreamedBatch(t *testing.T) {
	s := newJobStack(t, 16<<10, nil)
	body, _ := json.Marshal(nxBatch(2000, "stream")) // ≈ 140 KB, far over the 16 KiB limit of read bodies
	r := s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", string(body))
	if r.Status != http.StatusAccepted {
		t.Fatalf("status %d: %s", r.Status, r.Raw)
	}
	loc := r.Header.Get("Location")
	job := s.waitJobDone(t, loc)
	if job["state"] != "succeeded" {
		t.Fatalf("job %v", job)
	}
	results := s.jobResults(t, loc, 777)
	for i, res := range results {
		if res["customer"].(map[string]any)["email"] != fmt.Sprintf("stream-%d@example.com", i) {
			t.Fatalf("result %d: %v", i, res)
		}
	}
	if got := s.sims.NXCloud.Stats().ItemsReceived; got != 2000 {
		t.Fatalf("vendor received %d items", got)
	}

	// Chunked (unknown length): small bodies stay ordinary, large ones stream.
	for _, tc := range []struct {
		n      int
		status int
	}{{3, http.StatusOK}, {2000, http.StatusAccepted}} {
		b, _ := json.Marshal(nxBatch(tc.n, "chunked"))
		req := httptest.NewRequest("POST", "/v1/connections/nxcloud/customers/batch", io.MultiReader(strings.NewReader(string(b))))
		req.ContentLength = -1
		req.Header.Set("Authorization", "Bearer "+adminKey)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		s.e.ServeHTTP(rec, req)
		if rec.Code != tc.status {
			t.Fatalf("%d items chunked: status %d, want %d: %s", tc.n, rec.Code, tc.status, rec.Body)
		}
	}
}

// TestStreamedBatchValidatesEveryItem: bad items fail the whole request with
// the fields named as in a synchronous batch, and nothing is stored.
func TestStreamedBatchValidatesEveryItem(t *testing.T) {
	s := newJobStack(t, 16<<10, nil)
	batch := nxBatch(1000, "bad")
	items := batch["customers"].([]any)
	items[5] = map[string]any{"first_name": "A", "last_name": "B", "email": "not-an-email", "tags": []any{map[string]any{"color": "red"}}}
	items[900] = map[string]any{"first_name": "A", "last_name": "B", "favourite": "x", "gender": "other"}
	body, _ := json.Marshal(batch)
	r := s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", string(body))
	wantProblem(t, r, http.StatusBadRequest, "invalid")
	got := fieldReasons(r)
	want := []string{"customers[5].email", "customers[5].tags[0].name", "customers[900].favourite", "customers[900].gender"}
	if len(got) != len(want) {
		t.Fatalf("fields %v, want %v", got, want)
	}
	// The same items in a small (validated whole) body give the same reasons.
	small := map[string]any{"mode": "upsert", "customers": items[:6]}
	sync := fieldReasons(s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", small))
	for _, f := range want[:2] {
		if got[f] == "" || got[f] != sync[f] {
			t.Errorf("%s: streamed %q, synchronous %q", f, got[f], sync[f])
		}
	}
	if got["customers[900].favourite"] != "is not a known field" {
		t.Errorf("unknown field reason %q", got["customers[900].favourite"])
	}
	// Top-level problems.
	for _, tc := range []struct {
		body   string
		fields []string
	}{
		{`{"customers":[` + strings.Repeat(`{"first_name":"a","last_name":"b"},`, 600) + `{"first_name":"a","last_name":"b"}],"extra":1}`, []string{"extra", "mode"}},
		{`{"mode":"merge","customers":[` + strings.Repeat(`{"first_name":"a","last_name":"b"},`, 600) + `{"first_name":"a","last_name":"b"}]}`, []string{"mode"}},
		{`{"mode":"upsert","customers":{"a":1},"pad":"` + strings.Repeat("x", 20000) + `"}`, []string{"customers", "pad"}},
	} {
		r := s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", tc.body)
		wantProblem(t, r, http.StatusBadRequest, "invalid")
		got := fieldReasons(r)
		for _, f := range tc.fields {
			if got[f] == "" {
				t.Errorf("%.40s...: no error for %s in %v", tc.body, f, got)
			}
		}
	}
	r = s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", `{"mode":"upsert","customers":[`+strings.Repeat(`{"first_name":"a","last_name":"b"},`, 600))
	wantProblem(t, r, http.StatusBadRequest, "invalid")
	// Nothing was stored or sent.
	if list := s.do(t, "GET", "/v1/jobs", nil); len(list.Body["data"].([]any)) != 0 {
		t.Fatalf("jobs %s", list.Raw)
	}
	time.Sleep(50 * time.Millisecond)
	if n := s.sims.NXCloud.Stats().ItemsReceived; n != 0 {
		t.Fatalf("vendor received %d items", n)
	}
}

func TestJobsAreScopedToKeys(t *testing.T) {
	s := newJobStack(t, 64<<10, nil)
	var locs []string
	for range 3 {
		r := s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", nxBatch(2, "scoped"), "Prefer: respond-async")
		if r.Status != http.StatusAccepted {
			t.Fatalf("status %d: %s", r.Status, r.Raw)
		}
		locs = append(locs, r.Header.Get("Location"))
		time.Sleep(2 * time.Millisecond)
	}
	scoped := "Authorization: Bearer " + scopedKey
	for _, path := range []string{locs[0], locs[0] + "/results"} {
		wantProblem(t, s.do(t, "GET", path, nil, scoped), http.StatusNotFound, "not_found")
	}
	wantProblem(t, s.do(t, "DELETE", locs[0], nil, scoped), http.StatusNotFound, "not_found")
	if r := s.do(t, "GET", "/v1/jobs", nil, scoped); r.Status != http.StatusOK || len(r.Body["data"].([]any)) != 0 {
		t.Fatalf("scoped list %d %s", r.Status, r.Raw)
	}
	wantProblem(t, s.do(t, "GET", "/v1/jobs?connection=nxcloud", nil, scoped), http.StatusForbidden, "forbidden")

	// The admin pages through them, newest first.
	r := s.do(t, "GET", "/v1/jobs?limit=2&connection=nxcloud", nil)
	data := r.Body["data"].([]any)
	if len(data) != 2 || data[0].(map[string]any)["links"].(map[string]any)["self"] != locs[2] || r.Body["next_cursor"] == nil {
		t.Fatalf("first page %s", r.Raw)
	}
	r = s.do(t, "GET", "/v1/jobs?limit=2&cursor="+r.Body["next_cursor"].(string), nil)
	if data := r.Body["data"].([]any); len(data) != 1 || data[0].(map[string]any)["links"].(map[string]any)["self"] != locs[0] || r.Body["next_cursor"] != nil {
		t.Fatalf("second page %s", r.Raw)
	}
	wantProblem(t, s.do(t, "GET", "/v1/jobs?cursor=bm9wZQ", nil), http.StatusBadRequest, "invalid")
	wantProblem(t, s.do(t, "GET", locs[1]+"/results?cursor="+strings.TrimPrefix(locs[0], "/v1/jobs/"), nil), http.StatusBadRequest, "invalid")
	wantProblem(t, s.do(t, "GET", "/v1/jobs/0123456789abcdef01234567", nil), http.StatusNotFound, "not_found")
	wantProblem(t, s.do(t, "GET", "/v1/jobs/nope", nil), http.StatusNotFound, "not_found")
}

func TestCancelJobAPI(t *testing.T) {
	s := newJobStack(t, 64<<10, func(c *config.Config) {
		c.Connections["nxcloud"].Limits.Requests = 600 // 100 ms apart
		c.Connections["nxcloud"].Limits.BatchSize = 10
	})
	r := s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", nxBatch(300, "cancel"), "Prefer: respond-async")
	loc := r.Header.Get("Location")
	time.Sleep(300 * time.Millisecond)
	r = s.do(t, "DELETE", loc, nil)
	if r.Status != http.StatusOK || r.Body["state"] != "cancelled" || r.Body["finished_at"] == nil {
		t.Fatalf("cancel: %d %s", r.Status, r.Raw)
	}
	if r := s.do(t, "DELETE", loc, nil); r.Status != http.StatusOK || r.Body["state"] != "cancelled" {
		t.Fatalf("second cancel: %d %s", r.Status, r.Raw)
	}
	job := s.waitJobDone(t, loc)
	counts := job["counts"].(map[string]any)
	if counts["failed"].(float64) < 200 || counts["accepted"].(float64)+counts["failed"].(float64) != 300 {
		t.Fatalf("counts %v", counts)
	}
	last := s.jobResults(t, loc, 1000)[299]
	if e := last["error"].(map[string]any); e["code"] != "cancelled" || e["outcome"] != "not_applied" {
		t.Fatalf("last result %v", last)
	}
	// A finished job cannot be cancelled.
	r = s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", nxBatch(2, "done"), "Prefer: respond-async")
	loc = r.Header.Get("Location")
	s.waitJobDone(t, loc)
	wantProblem(t, s.do(t, "DELETE", loc, nil), http.StatusConflict, "conflict")
}

// TestBatchWithoutJobs: without a job service batches stay synchronous and
// at most 1,000 items.
func TestBatchWithoutJobs(t *testing.T) {
	s := newStack(t, nil)
	items := make([]any, 1001)
	for i := range items {
		items[i] = map[string]any{"name": "a"}
	}
	r := s.do(t, "POST", "/v1/connections/helpcrunch/customers/batch", map[string]any{"mode": "create", "customers": items})
	wantProblem(t, r, http.StatusBadRequest, "invalid")
	if fieldReasons(r)["customers"] == "" {
		t.Fatalf("problem %s", r.Raw)
	}
	if r := s.do(t, "GET", "/v1/jobs", nil); r.Status != http.StatusOK || len(r.Body["data"].([]any)) != 0 {
		t.Fatalf("jobs %d %s", r.Status, r.Raw)
	}
	wantProblem(t, s.do(t, "GET", "/v1/jobs/0123456789abcdef01234567", nil), http.StatusNotFound, "not_found")
}

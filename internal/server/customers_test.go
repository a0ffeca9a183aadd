package server_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/config"
)

func TestCreateCustomerOnEveryVendor(t *testing.T) {
	s := newStack(t, nil)
	tests := []struct {
		conn   string
		body   map[string]any
		wantID bool
		check  func(t *testing.T, s *stack)
	}{
		{"helpcrunch", map[string]any{"name": "Ana Souza", "email": "ana@example.com", "external_id": "u-1",
			"tags": []any{map[string]any{"name": "vip"}}, "custom_fields": map[string]any{"plan": "gold"}}, true,
			func(t *testing.T, s *stack) {
				c, ok := s.sims.HelpCrunch.Customer(1)
				if !ok || c.Fields["userId"] != "u-1" || c.CustomData["plan"] != "gold" {
					t.Fatalf("helpcrunch holds %+v", c)
				}
			}},
		{"zenvia", map[string]any{"name": "Ana Souza", "phone": "5511991417777", "custom_fields": map[string]any{"plano": "gold"}}, true,
			func(t *testing.T, s *stack) {
				c, ok := s.sims.Zenvia.FindCustomer("channel_phone", "5511991417777")
				if !ok || c.Fields["main_identifier"] != "Ana Souza" || c.Fields["plano"] != "gold" {
					t.Fatalf("zenvia holds %+v", c)
				}
			}},
		{"nxcloud", map[string]any{"name": "Ana Maria Souza", "phone": "5511991417777", "gender": "female", "birthday": "1990-04-12"}, false,
			func(t *testing.T, s *stack) {
				c, ok := s.sims.NXCloud.CustomerBySMSPhone("5511991417777")
				if !ok || c.FirstName != "Ana Maria" || c.LastName != "Souza" {
					t.Fatalf("nxcloud holds %+v", c)
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.conn, func(t *testing.T) {
			r := s.do(t, "POST", "/v1/connections/"+tt.conn+"/customers", tt.body)
			if r.Status != http.StatusCreated {
				t.Fatalf("status %d: %s", r.Status, r.Raw)
			}
			if r.Body["vendor"] != tt.conn || r.Body["connection"] != tt.conn || r.Body["remote"] == nil {
				t.Fatalf("customer %v", r.Body)
			}
			if _, has := r.Body["id"]; has != tt.wantID {
				t.Fatalf("id present %v, want %v: %v", has, tt.wantID, r.Body)
			}
			if r.Header.Get("RateLimit-Policy") == "" || r.Header.Get("RateLimit") == "" {
				t.Fatalf("no RateLimit headers: %v", r.Header)
			}
			tt.check(t, s)
		})
	}
}

func TestPatchHelpCrunchMergesAndClears(t *testing.T) {
	s := newStack(t, nil)
	r := s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{
		"name": "Ana", "email": "ana@example.com", "company": "ACME", "custom_fields": map[string]any{"plan": "gold", "seats": 3}})
	id := r.Body["id"].(string)
	r = s.do(t, "PATCH", "/v1/connections/helpcrunch/customers/"+id, map[string]any{
		"company": nil, "notes": "called back", "custom_fields": map[string]any{"plan": "platinum"}})
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Raw)
	}
	c, _ := s.sims.HelpCrunch.Customer(1)
	if _, has := c.Fields["company"]; has {
		t.Errorf("company not cleared: %v", c.Fields)
	}
	if c.Fields["email"] != "ana@example.com" || c.Fields["notes"] != "called back" || c.Fields["name"] != "Ana" {
		t.Errorf("absent fields changed or sent ones lost: %v", c.Fields)
	}
	if c.CustomData["plan"] != "platinum" || c.CustomData["seats"] == nil {
		t.Errorf("custom data %v", c.CustomData)
	}
	if r.Body["company"] != nil || r.Body["notes"] != "called back" {
		t.Errorf("answer %v", r.Body)
	}

	r = s.do(t, "PATCH", "/v1/connections/helpcrunch/customers/999", map[string]any{"notes": "x"})
	wantProblem(t, r, http.StatusNotFound, "not_found")
	if v, _ := r.Body["vendor"].(map[string]any); v["status"] != float64(404) {
		t.Errorf("vendor details missing: %v", r.Body)
	}
}

func TestBatchChunksAndKeepsOrder(t *testing.T) {
	s := newStack(t, func(c *config.Config) { c.Connections["helpcrunch"].Limits.Requests = 6000 })
	// 25 HelpCrunch customers to update: 3 batch requests of at most 10.
	for i := range 25 {
		s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": fmt.Sprint("c", i)})
	}
	var items []any
	for i := range 25 {
		item := map[string]any{"id": fmt.Sprint(i + 1), "notes": fmt.Sprint("n", i)}
		if i == 7 {
			item["gender"] = "male" // HelpCrunch cannot store it: fails alone
		}
		items = append(items, item)
	}
	before := s.sims.HelpCrunch.Stats().Operations["PUT /customers/batch"]
	r := s.do(t, "POST", "/v1/connections/helpcrunch/customers/batch", map[string]any{"mode": "update", "customers": items})
	if r.Status != http.StatusOK {
		t.Fatalf("status %d: %s", r.Status, r.Raw)
	}
	if n := s.sims.HelpCrunch.Stats().Operations["PUT /customers/batch"] - before; n != 3 {
		t.Errorf("%d batch requests, want 3", n)
	}
	results := r.Body["results"].([]any)
	for i, res := range results {
		m := res.(map[string]any)
		want := "updated"
		if i == 7 {
			want = "failed"
		}
		if m["index"] != float64(i) || m["status"] != want {
			t.Fatalf("result %d: %v", i, m)
		}
	}
	sum := r.Body["summary"].(map[string]any)
	if sum["updated"] != float64(24) || sum["failed"] != float64(1) || sum["total"] != float64(25) {
		t.Errorf("summary %v", sum)
	}
	if c, _ := s.sims.HelpCrunch.Customer(9); c.Fields["notes"] != "n8" {
		t.Errorf("customer 9 notes %q", c.Fields["notes"])
	}
}

func TestBatchUpsertOnEveryVendor(t *testing.T) {
	s := newStack(t, nil)
	items := []any{
		map[string]any{"first_name": "Ana", "last_name": "Souza", "email": "ana@example.com", "phone": "5511900000001"},
		map[string]any{"first_name": "Bruno", "last_name": "Lima", "email": "bruno@example.com", "phone": "5511900000002"},
	}
	for _, conn := range []string{"helpcrunch", "zenvia", "nxcloud"} {
		t.Run(conn, func(t *testing.T) {
			var first, second []string
			for round, into := range []*[]string{&first, &second} {
				r := s.do(t, "POST", "/v1/connections/"+conn+"/customers/batch", map[string]any{"mode": "upsert", "customers": items})
				if r.Status != http.StatusOK {
					t.Fatalf("round %d status %d: %s", round, r.Status, r.Raw)
				}
				for _, res := range r.Body["results"].([]any) {
					*into = append(*into, res.(map[string]any)["status"].(string))
				}
				// Zenvia tells created from updated only by its millisecond
				// timestamps (change_date moves on update).
				time.Sleep(5 * time.Millisecond)
			}
			want := map[string][2]string{"helpcrunch": {"created", "updated"}, "zenvia": {"created", "updated"}, "nxcloud": {"accepted", "accepted"}}[conn]
			for i := range items {
				if first[i] != want[0] || second[i] != want[1] {
					t.Fatalf("statuses %v then %v, want %s then %s", first, second, want[0], want[1])
				}
			}
		})
	}
	if n := s.sims.HelpCrunch.CustomerCount(); n != 2 {
		t.Errorf("helpcrunch holds %d customers after two upserts, want 2", n)
	}
	if n := s.sims.Zenvia.CustomerCount(); n != 2 {
		t.Errorf("zenvia holds %d customers, want 2", n)
	}
	if n := s.sims.NXCloud.CustomerCount(); n != 2 {
		t.Errorf("nxcloud holds %d customers, want 2", n)
	}
}

func TestUnsupportedOperationsAnswer501(t *testing.T) {
	s := newStack(t, nil)
	tests := []struct {
		method, path string
		body         any
		capability   string
	}{
		{"PATCH", "/v1/connections/zenvia/customers/abc", map[string]any{"name": "x"}, "customers.update"},
		{"PATCH", "/v1/connections/nxcloud/customers/abc", map[string]any{"name": "x"}, "customers.update"},
		{"POST", "/v1/connections/nxcloud/customers/batch", map[string]any{"mode": "update", "customers": []any{map[string]any{"id": "1"}}}, "customers.batch.update"},
		{"POST", "/v1/connections/zenvia/customers/batch", map[string]any{"mode": "update", "customers": []any{map[string]any{"id": "1"}}}, "customers.batch.update"},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			r := s.do(t, tt.method, tt.path, tt.body)
			wantProblem(t, r, http.StatusNotImplemented, "not_implemented")
			if r.Body["capability"] != tt.capability || r.Body["vendor_name"] == nil {
				t.Fatalf("problem %v", r.Body)
			}
		})
	}
	if s.sims.Zenvia.Stats().Requests+s.sims.NXCloud.Stats().Requests != 0 {
		t.Error("a vendor was called for an operation it does not support")
	}
}

func TestUnsupportedFieldIsRefusedNamingIt(t *testing.T) {
	s := newStack(t, nil)
	r := s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "Ana", "birthday": "1990-01-01", "gender": "female"})
	wantProblem(t, r, http.StatusUnprocessableEntity, "unprocessable")
	fields := fieldReasons(r)
	if !strings.Contains(fields["birthday"], "helpcrunch") || fields["gender"] == "" {
		t.Fatalf("field errors %v", fields)
	}
	if s.sims.HelpCrunch.Stats().Requests != 0 {
		t.Error("the vendor was called for a refused write")
	}
}

func TestRateBudgetExhaustedAnswers429BeforeSending(t *testing.T) {
	s := newStack(t, func(c *config.Config) {
		c.Connections["helpcrunch"].Limits = config.Limits{Requests: 2, Period: time.Minute, Burst: 1, MaxWait: time.Second, BatchSize: 10}
	})
	first := s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "a"})
	if first.Status != http.StatusCreated {
		t.Fatalf("first call %d: %s", first.Status, first.Raw)
	}
	r := s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "b"}, "Prefer: wait=0")
	wantProblem(t, r, http.StatusTooManyRequests, "rate_limited")
	if r.Header.Get("Retry-After") == "" || r.Body["retry_after"] == nil || r.Body["outcome"] != "not_applied" {
		t.Fatalf("429 without retry information: %v %v", r.Header, r.Body)
	}
	if r.Header.Get("RateLimit-Policy") != `"helpcrunch";q=2;w=60` {
		t.Errorf("RateLimit-Policy %q", r.Header.Get("RateLimit-Policy"))
	}
	if n := s.sims.HelpCrunch.Stats().Requests; n != 1 {
		t.Errorf("vendor saw %d requests, want 1", n)
	}
}

package server_test

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/config"
)

// mappedStack is a stack whose HelpCrunch and NXCloud connections map
// custom fields, with limits high enough for listing tests.
func mappedStack(t *testing.T) *stack {
	return newStack(t, func(c *config.Config) {
		for _, conn := range c.Connections {
			conn.Limits.Requests = 6000
		}
		c.Connections["helpcrunch"].CustomFields = config.CustomFields{Mode: "passthrough", CacheTTL: time.Minute,
			Map: map[string]config.CustomFieldMapping{
				"plan":      {Key: "subscription_status", Type: "enum", Values: []string{"free", "pro"}},
				"payments":  {Key: "number_of_payments", Type: "number"},
				"last_paid": {Key: "last_payment_date", Type: "date"},
			},
			Declared: []config.DeclaredField{
				{Key: "subscription_status", Label: "Subscription status"},
				{Key: "number_of_payments", Type: "number"}, {Key: "last_payment_date", Type: "date"},
			}}
		c.Connections["nxcloud"].CustomFields = config.CustomFields{Mode: "strict", CacheTTL: time.Minute,
			Map: map[string]config.CustomFieldMapping{
				"plan":   {Key: "customize_4_17", Type: "enum", Values: []string{"free", "pro", "enterprise"}},
				"points": {Key: "customize_2_15", Type: "number"},
				"since":  {Key: "customize_3_16", Type: "date"},
			}}
	})
}

func TestListingPagesEveryCustomerExactlyOnce(t *testing.T) {
	s := mappedStack(t)
	const n = 23
	for _, conn := range []string{"helpcrunch", "nxcloud"} {
		t.Run(conn, func(t *testing.T) {
			var items []any
			for i := range n {
				items = append(items, map[string]any{"first_name": "Customer", "last_name": fmt.Sprint("N", i),
					"email": fmt.Sprintf("c%d@example.com", i), "phone": fmt.Sprintf("55119%08d", i)})
			}
			r := s.do(t, "POST", "/v1/connections/"+conn+"/customers/batch", map[string]any{"mode": "create", "customers": items})
			if r.Body["summary"].(map[string]any)["failed"] != float64(0) {
				t.Fatalf("seeding failed: %s", r.Raw)
			}
			seen := map[string]int{}
			pages := 0
			cursor := ""
			for {
				path := "/v1/connections/" + conn + "/customers?limit=10"
				if cursor != "" {
					path += "&cursor=" + url.QueryEscape(cursor)
				}
				r := s.do(t, "GET", path, nil)
				if r.Status != http.StatusOK {
					t.Fatalf("page %d: %d %s", pages, r.Status, r.Raw)
				}
				pages++
				for _, c := range r.Body["data"].([]any) {
					seen[c.(map[string]any)["email"].(string)]++
				}
				next, _ := r.Body["next_cursor"].(string)
				if next == "" {
					break
				}
				cursor = next
			}
			if pages < 3 || len(seen) != n {
				t.Fatalf("%d pages, %d distinct customers, want ≥3 pages and %d", pages, len(seen), n)
			}
			for email, k := range seen {
				if k != 1 {
					t.Errorf("%s listed %d times", email, k)
				}
			}
		})
	}
}

func TestListingFiltersAndCursors(t *testing.T) {
	s := mappedStack(t)
	for i := range 3 {
		s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": fmt.Sprint("Ana ", i),
			"email": fmt.Sprintf("ana%d@example.com", i), "tags": []any{map[string]any{"name": "vip"}}})
		s.do(t, "POST", "/v1/connections/nxcloud/customers", map[string]any{"name": fmt.Sprint("Ana N", i), "phone": fmt.Sprint("5511900", i)})
	}
	tests := []struct {
		path   string
		status int
		count  int
		field  string
	}{
		{"/v1/connections/helpcrunch/customers?email=ana1@example.com", 200, 1, ""},
		{"/v1/connections/helpcrunch/customers?name=Ana&tag=vip", 200, 3, ""},
		{"/v1/connections/helpcrunch/customers?updated_since=2026-01-01T00:00:00Z", 400, 0, "updated_since"},
		{"/v1/connections/nxcloud/customers?phone=55119001", 200, 1, ""},
		{"/v1/connections/nxcloud/customers?updated_since=2020-01-01T00:00:00Z", 200, 3, ""},
		{"/v1/connections/nxcloud/customers?external_id=x", 400, 0, "external_id"},
		{"/v1/connections/helpcrunch/customers?cursor=not-a-cursor", 400, 0, "cursor"},
		{"/v1/connections/helpcrunch/customers?limit=0", 400, 0, "limit"},
		{"/v1/connections/helpcrunch/customers?updated_since=yesterday", 400, 0, "updated_since"},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			r := s.do(t, "GET", tt.path, nil)
			if r.Status != tt.status {
				t.Fatalf("status %d: %s", r.Status, r.Raw)
			}
			if tt.status == 200 {
				if got := len(r.Body["data"].([]any)); got != tt.count {
					t.Fatalf("%d customers, want %d", got, tt.count)
				}
				return
			}
			if fieldReasons(r)[tt.field] == "" {
				t.Fatalf("problem does not name %s: %s", tt.field, r.Raw)
			}
		})
	}
	// A cursor is bound to its filters.
	r := s.do(t, "GET", "/v1/connections/helpcrunch/customers?name=Ana&limit=1", nil)
	cursor := r.Body["next_cursor"].(string)
	r = s.do(t, "GET", "/v1/connections/helpcrunch/customers?name=Bruno&limit=1&cursor="+url.QueryEscape(cursor), nil)
	wantProblem(t, r, http.StatusBadRequest, "invalid")
	r = s.do(t, "GET", "/v1/connections/nxcloud/customers?name=Ana&limit=1&cursor="+url.QueryEscape(cursor), nil)
	wantProblem(t, r, http.StatusBadRequest, "invalid")
}

func TestReadsAVendorCannotDoAnswer501(t *testing.T) {
	s := mappedStack(t)
	for _, p := range []string{"/v1/connections/zenvia/customers", "/v1/connections/zenvia/customers/abc", "/v1/connections/nxcloud/customers/1"} {
		r := s.do(t, "GET", p, nil)
		wantProblem(t, r, http.StatusNotImplemented, "not_implemented")
	}
}

func TestGetCustomer(t *testing.T) {
	s := mappedStack(t)
	created := s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "Ana", "email": "ana@example.com"})
	r := s.do(t, "GET", "/v1/connections/helpcrunch/customers/"+created.Body["id"].(string), nil)
	if r.Status != 200 || r.Body["email"] != "ana@example.com" || r.Body["remote"] == nil {
		t.Fatalf("get: %d %s", r.Status, r.Raw)
	}
	wantProblem(t, s.do(t, "GET", "/v1/connections/helpcrunch/customers/999", nil), http.StatusNotFound, "not_found")
	wantProblem(t, s.do(t, "GET", "/v1/connections/helpcrunch/customers/abc", nil), http.StatusBadRequest, "invalid")
}

func TestMappedCustomFieldsRoundTrip(t *testing.T) {
	s := mappedStack(t)
	t.Run("helpcrunch", func(t *testing.T) {
		in := map[string]any{"plan": "pro", "payments": float64(15), "last_paid": "2026-11-01"}
		r := s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "Ana", "custom_fields": in})
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Raw)
		}
		c, _ := s.sims.HelpCrunch.Customer(1)
		if c.CustomData["subscription_status"] != "pro" || c.CustomData["last_payment_date"] == nil {
			t.Fatalf("helpcrunch stores %v", c.CustomData)
		}
		got := s.do(t, "GET", "/v1/connections/helpcrunch/customers/1", nil)
		if fmt.Sprint(got.Body["custom_fields"]) != fmt.Sprint(in) {
			t.Fatalf("read back %v, want %v", got.Body["custom_fields"], in)
		}
	})
	t.Run("nxcloud", func(t *testing.T) {
		in := map[string]any{"plan": "enterprise", "points": float64(120), "since": "2026-01-31"}
		r := s.do(t, "POST", "/v1/connections/nxcloud/customers", map[string]any{"name": "Ana Souza", "phone": "5511977", "custom_fields": in})
		if r.Status != http.StatusCreated {
			t.Fatalf("create: %d %s", r.Status, r.Raw)
		}
		c, ok := s.sims.NXCloud.CustomerBySMSPhone("5511977")
		if !ok || c.CustomFields["customize_4_17"] != "enterprise" || c.CustomFields["customize_2_15"] != "120" {
			t.Fatalf("nxcloud stores %+v", c.CustomFields)
		}
		got := s.do(t, "GET", "/v1/connections/nxcloud/customers?phone=5511977", nil)
		list := got.Body["data"].([]any)
		if len(list) != 1 || fmt.Sprint(list[0].(map[string]any)["custom_fields"]) != fmt.Sprint(in) {
			t.Fatalf("read back %v, want %v", list, in)
		}
	})
}

func TestBadCustomFieldValuesNeverReachTheVendor(t *testing.T) {
	s := mappedStack(t)
	tests := []struct {
		conn   string
		fields map[string]any
		field  string
	}{
		{"helpcrunch", map[string]any{"payments": "fifteen"}, "custom_fields.payments"},
		{"helpcrunch", map[string]any{"plan": "gold"}, "custom_fields.plan"},
		{"helpcrunch", map[string]any{"last_paid": "01/11/2026"}, "custom_fields.last_paid"},
		{"nxcloud", map[string]any{"points": true}, "custom_fields.points"},
		{"nxcloud", map[string]any{"nickname": "x"}, "custom_fields.nickname"}, // strict: not mapped
	}
	for _, tt := range tests {
		t.Run(tt.conn+" "+tt.field, func(t *testing.T) {
			before := s.sims.Stats()
			r := s.do(t, "POST", "/v1/connections/"+tt.conn+"/customers", map[string]any{"name": "Ana Souza", "custom_fields": tt.fields})
			wantProblem(t, r, http.StatusBadRequest, "invalid")
			if fieldReasons(r)[tt.field] == "" {
				t.Fatalf("problem does not name %s: %s", tt.field, r.Raw)
			}
			after := s.sims.Stats()
			if after.HelpCrunch.Requests != before.HelpCrunch.Requests || after.NXCloud.Requests != before.NXCloud.Requests {
				t.Fatal("a refused custom field reached the vendor")
			}
		})
	}
	// In a batch the bad item fails alone.
	r := s.do(t, "POST", "/v1/connections/helpcrunch/customers/batch", map[string]any{"mode": "create", "customers": []any{
		map[string]any{"name": "a", "custom_fields": map[string]any{"payments": 2}},
		map[string]any{"name": "b", "custom_fields": map[string]any{"payments": "two"}},
	}})
	res := r.Body["results"].([]any)
	if res[0].(map[string]any)["status"] != "created" || res[1].(map[string]any)["status"] != "failed" {
		t.Fatalf("batch results %s", r.Raw)
	}
}

func TestCustomerFieldCatalogue(t *testing.T) {
	s := mappedStack(t)
	tests := []struct {
		conn string
		want map[string]string // key → type
	}{
		{"helpcrunch", map[string]string{"email": "string", "external_id": "string", "custom_fields.plan": "enum", "custom_fields.payments": "number", "custom_fields.last_paid": "date"}},
		{"zenvia", map[string]string{"name": "string", "phone": "string", "email": "string", "custom_fields.plano": "string"}},
		{"nxcloud", map[string]string{"first_name": "string", "phone": "string", "custom_fields.plan": "enum", "custom_fields.points": "number", "custom_fields.customize_1_14": "string"}},
	}
	for _, tt := range tests {
		t.Run(tt.conn, func(t *testing.T) {
			r := s.do(t, "GET", "/v1/connections/"+tt.conn+"/customer-fields", nil)
			if r.Status != 200 {
				t.Fatalf("%d %s", r.Status, r.Raw)
			}
			got := map[string]string{}
			for _, f := range r.Body["data"].([]any) {
				m := f.(map[string]any)
				got[m["key"].(string)] = m["type"].(string)
			}
			for k, typ := range tt.want {
				if got[k] != typ {
					t.Errorf("%s: type %q, want %q (catalogue %v)", k, got[k], typ, got)
				}
			}
		})
	}
	// Cached: a second read does not call the vendor again.
	before := s.sims.Zenvia.Stats().Requests
	s.do(t, "GET", "/v1/connections/zenvia/customer-fields", nil)
	if s.sims.Zenvia.Stats().Requests != before {
		t.Error("the catalogue was fetched again within its TTL")
	}
}

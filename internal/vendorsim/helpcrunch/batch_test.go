package helpcrunch_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
)

func TestBatchDocumentedExample(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	h.create(map[string]any{"name": "Old"})
	// The request of the vendor's "Batch update customers" page.
	res := h.do(http.MethodPut, "/customers/batch", raw(`[{
		"customer": 1,
		"name": "John Doe", "email": "john@example.com", "userId": "user_1234567890",
		"company": "Example Inc.", "phone": "+10233456781",
		"firstSeen": "1603885746", "lastSeen": "1603885746",
		"unsubscribed": false, "blocked": false,
		"source": "https://example.com", "referer": "https://example.com", "lastPage": "https://example.com",
		"locale": "uk", "createdFrom": "telegram", "integrationId": "465847687", "notes": "Lorem ipsum",
		"tags": [{"name": "vip", "color": "#ff0000"}],
		"customData": [
			{"property": "subscription_status", "value": "active"},
			{"property": "number_of_payments", "value": 15},
			{"property": "last_paid_amount", "value": 15.99},
			{"property": "last_payment_date", "value": "1603885746"},
			{"property": "last_invoice_url", "value": "https://example.com/invoice.html"},
			{"property": "last_payment_was_successful", "value": true}
		]
	}]`))
	wantJSON(t, res, http.StatusOK, `[{
		"id": 1, "name": "John Doe", "email": "john@example.com", "userId": "user_1234567890",
		"company": "Example Inc.", "phone": "+10233456781",
		"firstSeen": "1603885746", "lastSeen": "1603885746", "location": null, "device": null,
		"unsubscribed": false, "blocked": false,
		"source": "https://example.com", "referer": "https://example.com", "lastPage": "https://example.com",
		"locale": "uk", "createdFrom": "telegram", "integrationId": "465847687", "notes": "Lorem ipsum",
		"tags": [{"name": "vip", "color": "#ff0000"}],
		"customData": `+docCustomerData+`
	}]`)
	if st := h.sim.Stats(); st.ItemsReceived != 1 {
		t.Errorf("ItemsReceived = %d, want 1", st.ItemsReceived)
	}
}

func TestBatchOmittedStayNullClears(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	h.create(raw(fullCustomer))
	h.create(raw(`{"name": "Second", "email": "second@example.com"}`))
	before1 := object(t, h.do(http.MethodGet, "/customers/1", nil))
	before2 := object(t, h.do(http.MethodGet, "/customers/2", nil))

	res := h.do(http.MethodPut, "/customers/batch", raw(`[
		{"customer": 1, "name": "Jim", "email": null, "customData": [{"property": "number_of_payments", "value": null}]},
		{"customer": "2", "company": "Beta", "tags": [{"name": "lead"}]}
	]`))
	if res.status != http.StatusOK {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	list, ok := decode(t, res.body).([]any)
	if !ok || len(list) != 2 {
		t.Fatalf("answer is not a list of two: %s", res.body)
	}
	want1, want2 := before1, before2
	want1["name"], want1["email"] = "Jim", nil
	want1["customData"] = map[string]any{"subscription_status": "active"}
	want2["company"] = "Beta"
	want2["tags"] = decode(t, []byte(`[{"name":"lead","color":"#c377e0"}]`))
	for i, want := range []map[string]any{want1, want2} {
		if !reflect.DeepEqual(list[i], want) {
			t.Errorf("item %d =\n%v\nwant\n%v", i, list[i], want)
		}
		stored := object(t, h.do(http.MethodGet, fmt.Sprintf("/customers/%d", i+1), nil))
		if !reflect.DeepEqual(stored, want) {
			t.Errorf("customer %d stored as\n%v\nwant\n%v", i+1, stored, want)
		}
	}
}

func TestBatchDuplicateCustomerAppliesInOrder(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	h.create(map[string]any{})
	res := h.do(http.MethodPut, "/customers/batch", raw(`[{"customer": 1, "name": "A"}, {"customer": 1, "company": "C"}]`))
	list, _ := decode(t, res.body).([]any)
	if res.status != http.StatusOK || len(list) != 2 {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	second := list[1].(map[string]any)
	if second["name"] != "A" || second["company"] != "C" {
		t.Fatalf("second item = %v", second)
	}
}

func batchOf(n int, id int) string {
	items := make([]string, n)
	for i := range items {
		items[i] = fmt.Sprintf(`{"customer": %d, "notes": "n%d"}`, id, i)
	}
	return "[" + strings.Join(items, ",") + "]"
}

func TestBatchSizeLimits(t *testing.T) {
	tests := []struct {
		name     string
		maxBatch int
		items    int
		status   int
		err      string
	}{
		{name: "empty", items: 0, status: 400, err: "This collection should contain 1 element or more."},
		{name: "one", items: 1, status: 200},
		{name: "documented maximum", items: 10, status: 200},
		{name: "one over the documented maximum", items: 11, status: 400, err: "This collection should contain 10 elements or less."},
		{name: "configured maximum", maxBatch: 3, items: 3, status: 200},
		{name: "over the configured maximum", maxBatch: 3, items: 4, status: 400, err: "This collection should contain 3 elements or less."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, helpcrunch.Config{MaxBatch: tt.maxBatch})
			h.create(map[string]any{})
			res := h.do(http.MethodPut, "/customers/batch", raw(batchOf(tt.items, 1)))
			if tt.status == http.StatusOK {
				list, _ := decode(t, res.body).([]any)
				if res.status != http.StatusOK || len(list) != tt.items {
					t.Fatalf("status %d, %d items: %s", res.status, len(list), res.body)
				}
				c, _ := h.sim.Customer(1)
				if want := fmt.Sprintf("n%d", tt.items-1); c.Fields["notes"] != want {
					t.Errorf("notes = %q, want %q", c.Fields["notes"], want)
				}
			} else {
				wantErrors(t, res, tt.status, [2]string{"body", tt.err})
				if c, _ := h.sim.Customer(1); c.Fields["notes"] != "" {
					t.Errorf("refused batch changed the customer")
				}
			}
			if st := h.sim.Stats(); st.ItemsReceived != tt.items {
				t.Errorf("ItemsReceived = %d, want %d", st.ItemsReceived, tt.items)
			}
		})
	}
}

func TestBatchErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		errs   [][2]string
	}{
		{name: "customer not numeric", body: `[{"customer": "abc", "name": "X"}]`, status: 400,
			errs: [][2]string{{"customer", "This value should be of type numeric."}}},
		{name: "customer decimal", body: `[{"customer": 1.5}]`, status: 400,
			errs: [][2]string{{"customer", "This value should be of type numeric."}}},
		{name: "customer object", body: `[{"customer": {"id": 1}}]`, status: 400,
			errs: [][2]string{{"customer", "This value should be of type numeric."}}},
		{name: "customer missing", body: `[{"name": "X"}]`, status: 400,
			errs: [][2]string{{"customer", "This value should not be blank."}}},
		{name: "id instead of customer", body: `[{"id": 1, "name": "X"}]`, status: 400,
			errs: [][2]string{{"customer", "This value should not be blank."}}},
		{name: "customer null", body: `[{"customer": null}]`, status: 400,
			errs: [][2]string{{"customer", "This value should not be blank."}}},
		{name: "field error in a later item", body: `[{"customer": 1, "name": "X"}, {"customer": 2, "email": "bad"}]`, status: 400,
			errs: [][2]string{{"email", "This value is not a valid email address."}}},
		{name: "errors of several items", body: `[{"customer": "a"}, {"customer": 2, "tags": "vip"}]`, status: 400,
			errs: [][2]string{{"customer", "This value should be of type numeric."}, {"tags", "This value should be of type array."}}},
		{name: "item not an object", body: `[{"customer": 1}, 5]`, status: 400,
			errs: [][2]string{{"body", "This value should be of type object."}}},
		{name: "object instead of array", body: `{"customer": 1}`, status: 400,
			errs: [][2]string{{"body", "This value should be of type array."}}},
		{name: "invalid JSON", body: `[{"customer": 1},]`, status: 400,
			errs: [][2]string{{"body", "This value should be valid JSON."}}},
		{name: "unknown customer", body: `[{"customer": 999, "name": "X"}]`, status: 404,
			errs: [][2]string{{"not_found", "Customer not found"}}},
		{name: "one unknown customer refuses the whole batch", body: `[{"customer": 1, "name": "X"}, {"customer": "3"}]`, status: 404,
			errs: [][2]string{{"not_found", "Customer not found"}}},
		{name: "huge id", body: `[{"customer": 99999999999999999999999}]`, status: 404,
			errs: [][2]string{{"not_found", "Customer not found"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, helpcrunch.Config{})
			h.create(raw(`{"name": "One"}`))
			h.create(raw(`{"name": "Two"}`))
			wantErrors(t, h.do(http.MethodPut, "/customers/batch", raw(tt.body)), tt.status, tt.errs...)
			// Nothing is applied when any item fails.
			for id, name := range map[int]string{1: "One", 2: "Two"} {
				if c, _ := h.sim.Customer(id); c.Fields["name"] != name || !c.UpdatedAt.Equal(startTime) {
					t.Errorf("customer %d changed: %+v", id, c)
				}
			}
		})
	}
}

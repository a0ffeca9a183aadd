package zenvia_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

const customersPath = "/api/external/customers"

func TestFormFields(t *testing.T) {
	standard := []string{"main_identifier", "channel_phone", "channel_email", "main_photo"}
	tests := []struct {
		name      string
		extra     []zenvia.FormField
		wantNames []string
		check     func(t *testing.T, byName map[string]map[string]any)
	}{
		{
			name:      "default catalogue adds plano",
			extra:     nil,
			wantNames: append(append([]string(nil), standard...), "plano"),
			check: func(t *testing.T, byName map[string]map[string]any) {
				plano := byName["plano"]
				if plano["type"] != "string" || plano["is_required"] != false || plano["belongs_to_customer"] != true {
					t.Fatalf("plano %v: want an optional customer string field", plano)
				}
			},
		},
		{
			name:      "empty extra means standard only",
			extra:     []zenvia.FormField{},
			wantNames: standard,
		},
		{
			name: "custom fields get ids, labels and types",
			extra: []zenvia.FormField{
				{Name: "cpf", IsUnique: true},
				{ID: 77, Name: "segment", Label: "Segmento", Type: "select", IsRequired: true},
				{Name: "order_ref", BelongsToCollection: true},
			},
			wantNames: append(append([]string(nil), standard...), "cpf", "segment", "order_ref"),
			check: func(t *testing.T, byName map[string]map[string]any) {
				cpf := byName["cpf"]
				if cpf["label"] != "cpf" || cpf["type"] != "string" || cpf["is_unique"] != true || cpf["belongs_to_customer"] != true {
					t.Fatalf("cpf %v: want defaults filled in", cpf)
				}
				if s := byName["segment"]; s["id"] != float64(77) || s["label"] != "Segmento" || s["is_required"] != true {
					t.Fatalf("segment %v: explicit values must be kept", s)
				}
				if o := byName["order_ref"]; o["belongs_to_customer"] != false || o["belongs_to_collection"] != true {
					t.Fatalf("order_ref %v: a collection field is not a customer field", o)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, zenvia.Config{ExtraFormFields: tc.extra})
			status, out := h.call(http.MethodGet, "/api/external/form_fields?token="+token, nil)
			if status != http.StatusOK {
				t.Fatalf("status %d: %v", status, out)
			}
			wantKeys(t, out, "status", "form_fields")
			if out["status"] != float64(200) {
				t.Fatalf("status member %v", out["status"])
			}
			list := out["form_fields"].([]any)
			var names []string
			byName := map[string]map[string]any{}
			ids := map[float64]bool{}
			for _, raw := range list {
				f := raw.(map[string]any)
				wantKeys(t, f, "id", "name", "label", "is_required", "is_unique", "type", "is_multiple",
					"belongs_to_customer", "belongs_to_collection", "label_updatable", "value_updatable", "showable")
				id := f["id"].(float64)
				if ids[id] {
					t.Fatalf("duplicate field id %v", id)
				}
				ids[id] = true
				names = append(names, f["name"].(string))
				byName[f["name"].(string)] = f
			}
			if !reflect.DeepEqual(names, tc.wantNames) {
				t.Fatalf("names %v, want %v", names, tc.wantNames)
			}
			mi := byName["main_identifier"]
			if mi["is_required"] != true || mi["type"] != "string" || mi["is_unique"] != false {
				t.Fatalf("main_identifier %v: want a required, non-unique string", mi)
			}
			for _, n := range []string{"channel_phone", "channel_email"} {
				if byName[n]["is_unique"] != true || byName[n]["is_required"] != false {
					t.Fatalf("%s %v: want unique and optional", n, byName[n])
				}
			}
			if tc.check != nil {
				tc.check(t, byName)
			}
			if got := len(h.sim.FormFields()); got != len(tc.wantNames) {
				t.Fatalf("FormFields() has %d fields, want %d", got, len(tc.wantNames))
			}
		})
	}
}

func TestNewPanicsOnBadCatalogue(t *testing.T) {
	tests := []struct {
		name  string
		extra []zenvia.FormField
	}{
		{"redefines a standard field", []zenvia.FormField{{Name: "channel_phone"}}},
		{"repeats a custom field", []zenvia.FormField{{Name: "a"}, {Name: "a"}}},
		{"field without name", []zenvia.FormField{{Label: "x"}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Fatal("New did not panic")
				}
			}()
			zenvia.New(zenvia.Config{ExtraFormFields: tc.extra})
		})
	}
}

func TestCreateCustomerAnswer(t *testing.T) {
	h := newHarness(t, zenvia.Config{AccountID: 9999})
	out := h.upsert(
		map[string]any{"fields": map[string]any{"main_identifier": "Customer 1 Name", "channel_phone": "1122334455"}, "agent_id": 1},
		map[string]any{"fields": map[string]any{"main_identifier": "Customer 2", "plano": "gold"}},
	)
	wantKeys(t, out, "status", "customers", "errors")
	if out["status"] != float64(200) {
		t.Fatalf("status member %v", out["status"])
	}
	if errs, ok := out["errors"].([]any); !ok || len(errs) != 0 {
		t.Fatalf("errors %v: want an empty array, not null", out["errors"])
	}
	list := out["customers"].([]any)
	if len(list) != 2 {
		t.Fatalf("%d customers, want 2", len(list))
	}
	wantTime := "2024-05-06T07:08:09.123Z"
	for i, raw := range list {
		c := raw.(map[string]any)
		wantKeys(t, c, "account_id", "fields", "id", "date_creation", "change_date", "customer_key", "active", "agent_id")
		if c["id"] != float64(i+1) {
			t.Fatalf("customer %d id %v: want sequential ids from 1", i, c["id"])
		}
		if c["account_id"] != float64(9999) || c["active"] != true {
			t.Fatalf("customer %d: %v", i, c)
		}
		if c["date_creation"] != wantTime || c["change_date"] != wantTime {
			t.Fatalf("dates %v / %v, want %s", c["date_creation"], c["change_date"], wantTime)
		}
		key := c["customer_key"].(string)
		if _, err := uuid.Parse(key); err != nil {
			t.Fatalf("customer_key %q is not a UUID: %v", key, err)
		}
		fields := c["fields"].(map[string]any)
		wantKeys(t, fields, "main_identifier", "channel_phone", "channel_email", "main_photo", "plano")
	}
	first := list[0].(map[string]any)
	if !reflect.DeepEqual(first["fields"], map[string]any{
		"main_identifier": "Customer 1 Name", "channel_phone": "1122334455",
		"channel_email": "", "main_photo": "", "plano": "",
	}) {
		t.Fatalf("fields %v: unset fields must be empty strings", first["fields"])
	}
	if first["agent_id"] != float64(1) {
		t.Fatalf("agent_id %v, want 1", first["agent_id"])
	}
	second := list[1].(map[string]any)
	if second["agent_id"] != nil {
		t.Fatalf("agent_id %v, want null when none was given", second["agent_id"])
	}
	if second["fields"].(map[string]any)["plano"] != "gold" {
		t.Fatalf("custom field not stored: %v", second["fields"])
	}

	stored, ok := h.sim.CustomerByKey(first["customer_key"].(string))
	if !ok || stored.ID != 1 || stored.Fields["channel_phone"] != "1122334455" || stored.AgentID != 1 ||
		!stored.Created.Equal(t0) || stored.AccountID != 9999 || !stored.Active {
		t.Fatalf("CustomerByKey: %+v %v", stored, ok)
	}
	if c, ok := h.sim.Customer(2); !ok || c.Fields["main_identifier"] != "Customer 2" {
		t.Fatalf("Customer(2): %+v %v", c, ok)
	}
	if _, ok := h.sim.Customer(3); ok {
		t.Fatal("Customer(3) found, want none")
	}
	if c, ok := h.sim.FindCustomer("channel_phone", "1122334455"); !ok || c.ID != 1 {
		t.Fatalf("FindCustomer by phone: %+v %v", c, ok)
	}
}

func TestCreateOrUpdate(t *testing.T) {
	type item = map[string]any
	tests := []struct {
		name string
		// first is sent at t0, second one minute later.
		first, second []any
		wantCount     int
		// wantFields are the fields of customer 1 after both calls.
		wantFields map[string]string
		wantAgent  int
	}{
		{
			name:       "phone identifies and updates",
			first:      []any{item{"fields": item{"main_identifier": "Old", "channel_phone": "11", "channel_email": "a@x"}, "agent_id": 1}},
			second:     []any{item{"fields": item{"main_identifier": "New", "channel_phone": "11"}}},
			wantCount:  1,
			wantFields: map[string]string{"main_identifier": "New", "channel_phone": "11", "channel_email": "a@x", "main_photo": "", "plano": ""},
			wantAgent:  1,
		},
		{
			name:       "email identifies and adds a phone",
			first:      []any{item{"fields": item{"main_identifier": "Old", "channel_email": "a@x"}}},
			second:     []any{item{"fields": item{"main_identifier": "Old", "channel_email": "a@x", "channel_phone": "22"}, "agent_id": 1}},
			wantCount:  1,
			wantFields: map[string]string{"main_identifier": "Old", "channel_phone": "22", "channel_email": "a@x", "main_photo": "", "plano": ""},
			wantAgent:  1,
		},
		{
			name:       "null clears a field",
			first:      []any{item{"fields": item{"main_identifier": "A", "channel_phone": "11", "plano": "gold"}}},
			second:     []any{item{"fields": item{"main_identifier": "A", "channel_phone": "11", "plano": nil}}},
			wantCount:  1,
			wantFields: map[string]string{"main_identifier": "A", "channel_phone": "11", "channel_email": "", "main_photo": "", "plano": ""},
		},
		{
			name:       "no unique field always creates",
			first:      []any{item{"fields": item{"main_identifier": "Same"}}},
			second:     []any{item{"fields": item{"main_identifier": "Same"}}},
			wantCount:  2,
			wantFields: map[string]string{"main_identifier": "Same", "channel_phone": "", "channel_email": "", "main_photo": "", "plano": ""},
		},
		{
			name:       "different phone creates",
			first:      []any{item{"fields": item{"main_identifier": "A", "channel_phone": "11"}}},
			second:     []any{item{"fields": item{"main_identifier": "B", "channel_phone": "12"}}},
			wantCount:  2,
			wantFields: map[string]string{"main_identifier": "A", "channel_phone": "11", "channel_email": "", "main_photo": "", "plano": ""},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, zenvia.Config{})
			first := h.upsert(tc.first...)["customers"].([]any)[0].(map[string]any)
			h.clock.Advance(time.Minute)
			second := h.upsert(tc.second...)["customers"].([]any)[0].(map[string]any)
			if got := h.sim.CustomerCount(); got != tc.wantCount {
				t.Fatalf("%d customers, want %d", got, tc.wantCount)
			}
			c, _ := h.sim.Customer(1)
			if !reflect.DeepEqual(c.Fields, tc.wantFields) {
				t.Fatalf("fields %v, want %v", c.Fields, tc.wantFields)
			}
			if c.AgentID != tc.wantAgent {
				t.Fatalf("agent %d, want %d", c.AgentID, tc.wantAgent)
			}
			if tc.wantCount == 1 {
				if second["id"] != first["id"] || second["customer_key"] != first["customer_key"] {
					t.Fatalf("update changed identity: %v -> %v", first, second)
				}
				if second["date_creation"] != "2024-05-06T07:08:09.123Z" || second["change_date"] != "2024-05-06T07:09:09.123Z" {
					t.Fatalf("dates %v / %v: creation must stay, change must move", second["date_creation"], second["change_date"])
				}
			} else if second["id"] != float64(2) || second["customer_key"] == first["customer_key"] {
				t.Fatalf("second customer %v: want a new id and key", second)
			}
		})
	}
}

func TestSameBatchUpdatesEarlierItem(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	out := h.upsert(
		map[string]any{"fields": map[string]any{"main_identifier": "First", "channel_phone": "55"}},
		map[string]any{"fields": map[string]any{"main_identifier": "Second", "channel_phone": "55"}},
	)
	list := out["customers"].([]any)
	if len(list) != 2 || list[0].(map[string]any)["id"] != float64(1) || list[1].(map[string]any)["id"] != float64(1) {
		t.Fatalf("customers %v: both items must resolve to customer 1", list)
	}
	if list[0].(map[string]any)["fields"].(map[string]any)["main_identifier"] != "First" {
		t.Fatal("first answer must show the state after the first item")
	}
	if c, _ := h.sim.Customer(1); c.Fields["main_identifier"] != "Second" || h.sim.CustomerCount() != 1 {
		t.Fatalf("stored %+v, count %d", c, h.sim.CustomerCount())
	}
}

func TestCustomerItemErrors(t *testing.T) {
	tests := []struct {
		name string
		item string
		want []string
	}{
		{"missing fields", `{"agent_id":1}`, []string{"fields: is required"}},
		{"null fields", `{"fields":null}`, []string{"fields: is required"}},
		{"fields not an object", `{"fields":["a"]}`, []string{"fields: must be an object"}},
		{"missing main_identifier", `{"fields":{"channel_phone":"1122334455"}}`, []string{"field: main_identifier is required"}},
		{"blank main_identifier", `{"fields":{"main_identifier":"  "}}`, []string{"field: main_identifier is required"}},
		{"null main_identifier", `{"fields":{"main_identifier":null}}`, []string{"field: main_identifier is required"}},
		{"numeric main_identifier", `{"fields":{"main_identifier":7}}`, []string{"field: main_identifier must be a string"}},
		{"unknown field", `{"fields":{"main_identifier":"A","nickname":"Al"}}`, []string{"field: nickname not found"}},
		{"numeric phone", `{"fields":{"main_identifier":"A","channel_phone":1122334455}}`, []string{"field: channel_phone must be a string"}},
		{"unknown agent", `{"fields":{"main_identifier":"A"},"agent_id":9999}`, []string{"agent_id: 9999 not found"}},
		{"quoted agent", `{"fields":{"main_identifier":"A"},"agent_id":"1"}`, []string{"agent_id: must be an integer"}},
		{"fractional agent", `{"fields":{"main_identifier":"A"},"agent_id":1.5}`, []string{"agent_id: must be an integer"}},
		{"unknown item parameter", `{"fields":{"main_identifier":"A"},"tags":["x"]}`, []string{"tags: unknown parameter"}},
		{
			"the vendor's own example",
			`{"fields":{"email":"another@customer.com"},"agent_id":9999}`,
			[]string{"field: email not found", "field: main_identifier is required", "agent_id: 9999 not found"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, zenvia.Config{})
			body := `{"token":"` + token + `","customers":[` + tc.item + `]}`
			status, data, _ := h.raw(http.MethodPost, customersPath, []byte(body))
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, data)
			}
			out := decodeObject(t, data)
			if got := out["customers"].([]any); len(got) != 0 {
				t.Fatalf("customers %v, want none", got)
			}
			errs := out["errors"].([]any)
			if len(errs) != 1 {
				t.Fatalf("errors %v, want one", errs)
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(tc.item), &want); err != nil {
				t.Fatal(err)
			}
			wantErrs := make([]any, len(tc.want))
			for i, w := range tc.want {
				wantErrs[i] = w
			}
			want["errors"] = wantErrs
			if !reflect.DeepEqual(errs[0], want) {
				t.Fatalf("error item\n got %v\nwant %v", errs[0], want)
			}
			if h.sim.CustomerCount() != 0 {
				t.Fatal("a rejected item was stored")
			}
		})
	}
}

func TestCustomerErrorEchoIsExact(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	// Key order, nesting and characters that encoding/json would escape by
	// default must come back as sent; a caller's own "errors" member is
	// replaced rather than duplicated.
	item := `{"agent_id":9999,"fields":{"plano":"<b>&co</b>","main_identifier":"Zé"},"errors":["mine"]}`
	body := `{"token":"` + token + `","customers":[` + item + `]}`
	status, data, _ := h.raw(http.MethodPost, customersPath, []byte(body))
	if status != http.StatusOK {
		t.Fatalf("status %d: %s", status, data)
	}
	want := `{"agent_id":9999,"fields":{"plano":"<b>&co</b>","main_identifier":"Zé"},"errors":["errors: unknown parameter","agent_id: 9999 not found"]}`
	if !bytes.Contains(data, []byte(want)) {
		t.Fatalf("answer %s\ndoes not contain %s", data, want)
	}
	if bytes.Count(data, []byte(`"errors":`)) != 2 {
		t.Fatalf("answer %s: want the top-level errors and one per item", data)
	}
}

func TestMixedBatchKeepsOrder(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	items := []any{
		map[string]any{"fields": map[string]any{"main_identifier": "A"}},
		map[string]any{"fields": map[string]any{"channel_phone": "B"}},
		map[string]any{"fields": map[string]any{"main_identifier": "C"}},
		map[string]any{"fields": map[string]any{"main_identifier": "D"}, "agent_id": 5},
		map[string]any{"fields": map[string]any{"main_identifier": "E"}},
	}
	out := h.upsert(items...)
	var okNames []string
	for _, c := range out["customers"].([]any) {
		okNames = append(okNames, c.(map[string]any)["fields"].(map[string]any)["main_identifier"].(string))
	}
	if !reflect.DeepEqual(okNames, []string{"A", "C", "E"}) {
		t.Fatalf("successes %v, want A, C, E in input order", okNames)
	}
	errs := out["errors"].([]any)
	if len(errs) != 2 {
		t.Fatalf("errors %v", errs)
	}
	if errs[0].(map[string]any)["fields"].(map[string]any)["channel_phone"] != "B" ||
		errs[1].(map[string]any)["fields"].(map[string]any)["main_identifier"] != "D" {
		t.Fatalf("errors %v, want B then D in input order", errs)
	}
	ids := []float64{}
	for _, c := range out["customers"].([]any) {
		ids = append(ids, c.(map[string]any)["id"].(float64))
	}
	if !reflect.DeepEqual(ids, []float64{1, 2, 3}) {
		t.Fatalf("ids %v: failed items must not consume ids", ids)
	}
}

func TestUniqueConflict(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	h.upsert(
		map[string]any{"fields": map[string]any{"main_identifier": "X", "channel_phone": "111"}},
		map[string]any{"fields": map[string]any{"main_identifier": "Y", "channel_email": "y@x"}},
	)
	h.clock.Advance(time.Hour)
	out := h.upsert(map[string]any{"fields": map[string]any{"main_identifier": "Z", "channel_phone": "111", "channel_email": "y@x"}})
	errs := out["errors"].([]any)
	if len(errs) != 1 {
		t.Fatalf("errors %v, want one conflict", errs)
	}
	got := errs[0].(map[string]any)["errors"].([]any)
	if !reflect.DeepEqual(got, []any{"field: channel_email y@x belongs to another customer"}) {
		t.Fatalf("errors %v", got)
	}
	x, _ := h.sim.Customer(1)
	y, _ := h.sim.Customer(2)
	if x.Fields["main_identifier"] != "X" || y.Fields["main_identifier"] != "Y" || !x.Changed.Equal(t0) {
		t.Fatalf("a conflicting item changed stored customers: %+v %+v", x, y)
	}
	// Moving a unique value frees it: the old phone no longer finds X.
	h.upsert(map[string]any{"fields": map[string]any{"main_identifier": "X", "channel_phone": "111", "channel_email": "x@x"}})
	h.upsert(map[string]any{"fields": map[string]any{"main_identifier": "X", "channel_email": "x@x", "channel_phone": "222"}})
	if _, ok := h.sim.FindCustomer("channel_phone", "111"); ok {
		t.Fatal("old phone still indexed after change")
	}
	if c, ok := h.sim.FindCustomer("channel_phone", "222"); !ok || c.ID != 1 {
		t.Fatalf("new phone: %+v %v", c, ok)
	}
}

func TestCustomUniqueFieldIdentifies(t *testing.T) {
	h := newHarness(t, zenvia.Config{ExtraFormFields: []zenvia.FormField{{Name: "cpf", IsUnique: true}}})
	h.upsert(map[string]any{"fields": map[string]any{"main_identifier": "A", "cpf": "123"}})
	out := h.upsert(map[string]any{"fields": map[string]any{"main_identifier": "A2", "cpf": "123"}})
	if out["customers"].([]any)[0].(map[string]any)["id"] != float64(1) || h.sim.CustomerCount() != 1 {
		t.Fatalf("cpf did not identify the customer: %v", out)
	}
	// plano is not part of a custom catalogue.
	out = h.upsert(map[string]any{"fields": map[string]any{"main_identifier": "B", "plano": "x"}})
	if len(out["errors"].([]any)) != 1 {
		t.Fatalf("plano accepted with a custom catalogue: %v", out)
	}
}

func TestCollectionFieldRefused(t *testing.T) {
	h := newHarness(t, zenvia.Config{ExtraFormFields: []zenvia.FormField{{Name: "order_ref", BelongsToCollection: true}}})
	out := h.upsert(map[string]any{"fields": map[string]any{"main_identifier": "A", "order_ref": "9"}})
	errs := out["errors"].([]any)
	if len(errs) != 1 || !reflect.DeepEqual(errs[0].(map[string]any)["errors"], []any{"field: order_ref not found"}) {
		t.Fatalf("errors %v", errs)
	}
}

func TestCustomersBatchShape(t *testing.T) {
	one := `{"fields":{"main_identifier":"A"}}`
	many := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = fmt.Sprintf(`{"fields":{"main_identifier":"C%d"}}`, i)
		}
		return "[" + strings.Join(parts, ",") + "]"
	}
	tests := []struct {
		name    string
		cfg     zenvia.Config
		payload string // the rest of the body after the token
		status  int
		message string
		stored  int
	}{
		{"missing customers", zenvia.Config{}, ``, 422, "customers: is required", 0},
		{"null customers", zenvia.Config{}, `,"customers":null`, 422, "customers: is required", 0},
		{"customers not an array", zenvia.Config{}, `,"customers":` + one, 422, "customers: must be an array", 0},
		{"empty array", zenvia.Config{}, `,"customers":[]`, 422, "customers: must not be empty", 0},
		{"item not an object", zenvia.Config{}, `,"customers":[` + one + `,"x"]`, 422, "customers[1]: must be an object", 0},
		{"unknown top-level parameter", zenvia.Config{}, `,"customers":[` + one + `],"upsert":true`, 422, "upsert: unknown parameter", 0},
		{"default maximum accepted", zenvia.Config{}, `,"customers":` + many(50), 200, "", 50},
		{"default maximum exceeded", zenvia.Config{}, `,"customers":` + many(51), 422, "customers: at most 50 customers per request, got 51", 0},
		{"configured maximum accepted", zenvia.Config{MaxCustomersPerRequest: 2}, `,"customers":` + many(2), 200, "", 2},
		{"configured maximum exceeded", zenvia.Config{MaxCustomersPerRequest: 2}, `,"customers":` + many(3), 422, "customers: at most 2 customers per request, got 3", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, tc.cfg)
			status, out := h.call(http.MethodPost, customersPath, `{"token":"`+token+`"`+tc.payload+`}`)
			if tc.status == 200 {
				if status != 200 || len(out["customers"].([]any)) != tc.stored {
					t.Fatalf("status %d, body %v", status, out)
				}
			} else {
				wantError(t, status, out, tc.status, tc.message)
			}
			if got := h.sim.CustomerCount(); got != tc.stored {
				t.Fatalf("%d customers stored, want %d", got, tc.stored)
			}
			if got := h.sim.Stats().ItemsReceived; got != tc.stored {
				t.Fatalf("ItemsReceived %d, want %d", got, tc.stored)
			}
		})
	}
}

package nxcloud_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
)

// docExample is the vendor's published batch_create request example, verbatim. It has no
// app_key although the parameter table marks app_key as required.
const docExample = `{
    "type": 0,
    "tenant_id": 144,
    "customers": [
        {
            "first_name": "张",
            "last_name": "三",
            "sms_phone": "18163725558",
            "whats_app_phone": "18667728886",
            "country": "中国",
            "email": "n.yxceiqtqc@qq.com",
            "address": "贵州省威海市东坡区",
            "birthday": "1976-04-12",
            "source": "voluptate Excepteur",
            "remark": "nisi amet",
            "tagStr": "test,99",
            "time_zone": "GMT+8",
            "gender": 0,
            "customize_field": "{\"customize_1_14\": \"aa\"}"
        },
        {
            "first_name": "李",
            "last_name": "四",
            "sms_phone": "18135539411",
            "whats_app_phone": "18178516529",
            "country": "中国",
            "email": "o.kleejvdy@qq.com",
            "address": "福建省泰安市武进区",
            "birthday": "2015-08-19",
            "source": "aliquip laboris dolore",
            "remark": "ut",
            "time_zone": "GMT+8",
            "tagStr": "88,99",
            "gender": 1
        }
    ]
}`

func intp(v int) *int { return &v }

func TestBatchCreateDocExample(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})

	a := h.do(call{path: nxcloud.PathBatchCreate, body: []byte(docExample)})
	if a.Code != 1002 || !strings.Contains(a.Message, "app_key") {
		t.Fatalf("example without app_key: code %d (%s), want 1002 naming app_key", a.Code, a.Message)
	}

	withKey := strings.Replace(docExample, `"tenant_id": 144,`, `"tenant_id": 144, "app_key": "sandbox-app",`, 1)
	a = h.do(call{path: nxcloud.PathBatchCreate, body: []byte(withKey)})
	assertEnvelope(t, a)
	if a.Code != 0 || a.Message != "" || string(a.Data) != `""` {
		t.Fatalf("example with app_key: code %d message %q data %s, want 0 \"\" \"\"", a.Code, a.Message, a.Data)
	}

	now := h.clock.Now()
	want := []nxcloud.Customer{{
		ID: "1", FirstName: "张", LastName: "三", SMSPhone: "18163725558", WhatsAppPhone: "18667728886",
		Country: "中国", Email: "n.yxceiqtqc@qq.com", Address: "贵州省威海市东坡区", Birthday: "1976-04-12",
		Source: "voluptate Excepteur", Remark: "nisi amet", TimeZone: "GMT+8", Gender: intp(0),
		Tags: []string{"test", "99"}, CustomFields: map[string]string{"customize_1_14": "aa"},
		CreatedAt: now, UpdatedAt: now,
	}, {
		ID: "2", FirstName: "李", LastName: "四", SMSPhone: "18135539411", WhatsAppPhone: "18178516529",
		Country: "中国", Email: "o.kleejvdy@qq.com", Address: "福建省泰安市武进区", Birthday: "2015-08-19",
		Source: "aliquip laboris dolore", Remark: "ut", TimeZone: "GMT+8", Gender: intp(1),
		Tags: []string{"88", "99"}, CreatedAt: now, UpdatedAt: now,
	}}
	if got := h.sim.Customers(); !reflect.DeepEqual(got, want) {
		t.Errorf("stored customers:\n got %+v\nwant %+v", got, want)
	}
}

// TestBatchCreateValidation checks every documented rule; each case puts the faulty customer at
// index 1 after a valid one to prove that one bad item fails the whole request.
func TestBatchCreateValidation(t *testing.T) {
	valid := person("Ada", "Lovelace", "ada@example.com")
	item := func(kv ...any) obj { return with(person("Bad", "Item", "bad@example.com"), kv...) }
	tests := []struct {
		name     string
		body     func(h *harness) any // a raw string is sent as is
		wantCode int
		wantMsg  string
	}{
		{"body not JSON", func(*harness) any { return `{"type":` }, 1002, "request body"},
		{"body an array", func(*harness) any { return `[]` }, 1002, "request body"},
		{"tenant_id missing", func(h *harness) any { return with(h.batchBody(0, valid), "tenant_id", nil) }, 1002, "tenant_id"},
		{"tenant_id a string", func(h *harness) any { return with(h.batchBody(0, valid), "tenant_id", "144") }, 1002, "tenant_id"},
		{"tenant_id of another tenant", func(h *harness) any { return with(h.batchBody(0, valid), "tenant_id", 145) }, 1005, ""},
		{"app_key missing", func(h *harness) any { return with(h.batchBody(0, valid), "app_key", nil) }, 1002, "app_key"},
		{"app_key empty", func(h *harness) any { return with(h.batchBody(0, valid), "app_key", "") }, 1002, "app_key"},
		{"app_key of another app", func(h *harness) any { return with(h.batchBody(0, valid), "app_key", "other") }, 1005, ""},
		{"type missing", func(h *harness) any { return with(h.batchBody(0, valid), "type", nil) }, 1002, "type"},
		{"type 3", func(h *harness) any { return with(h.batchBody(0, valid), "type", 3) }, 1002, "type"},
		{"type -1", func(h *harness) any { return with(h.batchBody(0, valid), "type", -1) }, 1002, "type"},
		{"type fractional", func(h *harness) any { return with(h.batchBody(0, valid), "type", 1.5) }, 1002, "type"},
		{"type a string", func(h *harness) any { return with(h.batchBody(0, valid), "type", "1") }, 1002, "type"},
		{"customers missing", func(h *harness) any { return with(h.batchBody(0, valid), "customers", nil) }, 1002, "customers"},
		{"customers an object", func(h *harness) any { return with(h.batchBody(0, valid), "customers", obj{}) }, 1002, "customers"},
		{"customers empty", func(h *harness) any { return h.batchBody(0) }, 1002, "customers"},
		{"customers over 100", func(h *harness) any { return h.batchBody(0, many(101)...) }, 1002, "101"},
		{"item not an object", func(h *harness) any { return with(h.batchBody(0, valid), "customers", []any{valid, "x"}) }, 1002, "customers[1]"},
		{"first_name missing", func(h *harness) any { return h.batchBody(0, valid, item("first_name", nil)) }, 1002, "customers[1].first_name"},
		{"first_name blank", func(h *harness) any { return h.batchBody(0, valid, item("first_name", "  ")) }, 1002, "customers[1].first_name"},
		{"last_name missing", func(h *harness) any { return h.batchBody(0, valid, item("last_name", nil)) }, 1002, "customers[1].last_name"},
		{"first_name 129 characters", func(h *harness) any { return h.batchBody(0, valid, item("first_name", strings.Repeat("张", 129))) }, 1002, "customers[1].first_name"},
		{"last_name 129 characters", func(h *harness) any { return h.batchBody(0, valid, item("last_name", strings.Repeat("x", 129))) }, 1002, "customers[1].last_name"},
		{"first_name a number", func(h *harness) any { return h.batchBody(0, valid, item("first_name", 7)) }, 1002, "customers[1].first_name"},
		{"sms_phone 31", func(h *harness) any { return h.batchBody(0, valid, item("sms_phone", strings.Repeat("1", 31))) }, 1002, "customers[1].sms_phone"},
		{"sms_phone a number", func(h *harness) any { return h.batchBody(0, valid, item("sms_phone", 18163725558)) }, 1002, "customers[1].sms_phone"},
		{"whats_app_phone 31", func(h *harness) any { return h.batchBody(0, valid, item("whats_app_phone", strings.Repeat("1", 31))) }, 1002, "customers[1].whats_app_phone"},
		{"country 51", func(h *harness) any { return h.batchBody(0, valid, item("country", strings.Repeat("中", 51))) }, 1002, "customers[1].country"},
		{"email 51", func(h *harness) any {
			return h.batchBody(0, valid, item("email", strings.Repeat("a", 39)+"@example.com"))
		}, 1002, "customers[1].email"},
		{"address 101", func(h *harness) any { return h.batchBody(0, valid, item("address", strings.Repeat("a", 101))) }, 1002, "customers[1].address"},
		{"remark 101", func(h *harness) any { return h.batchBody(0, valid, item("remark", strings.Repeat("a", 101))) }, 1002, "customers[1].remark"},
		{"birthday without zero padding", func(h *harness) any { return h.batchBody(0, valid, item("birthday", "1976-4-12")) }, 1002, "customers[1].birthday"},
		{"birthday not a real date", func(h *harness) any { return h.batchBody(0, valid, item("birthday", "1976-02-30")) }, 1002, "customers[1].birthday"},
		{"birthday other format", func(h *harness) any { return h.batchBody(0, valid, item("birthday", "12/04/1976")) }, 1002, "customers[1].birthday"},
		{"gender 2", func(h *harness) any { return h.batchBody(0, valid, item("gender", 2)) }, 1002, "customers[1].gender"},
		{"gender a string", func(h *harness) any { return h.batchBody(0, valid, item("gender", "1")) }, 1002, "customers[1].gender"},
		{"gender fractional", func(h *harness) any { return h.batchBody(0, valid, item("gender", 0.5)) }, 1002, "customers[1].gender"},
		{"tagStr an array", func(h *harness) any { return h.batchBody(0, valid, item("tagStr", []string{"a"})) }, 1002, "customers[1].tagStr"},
		{"customize_field an object", func(h *harness) any {
			return h.batchBody(0, valid, item("customize_field", obj{"customize_1_14": "aa"}))
		}, 1002, "customers[1].customize_field"},
		{"customize_field not JSON", func(h *harness) any { return h.batchBody(0, valid, item("customize_field", "aa")) }, 1002, "customers[1].customize_field"},
		{"customize_field an array", func(h *harness) any { return h.batchBody(0, valid, item("customize_field", `["aa"]`)) }, 1002, "customers[1].customize_field"},
		{"customize_field unknown key", func(h *harness) any {
			return h.batchBody(0, valid, item("customize_field", `{"customize_1_99":"aa"}`))
		}, 1002, "customize_1_99"},
		{"customize_field preset key", func(h *harness) any { return h.batchBody(0, valid, item("customize_field", `{"email":"aa"}`)) }, 1002, `"email"`},
		{"custom text given a number", func(h *harness) any {
			return h.batchBody(0, valid, item("customize_field", `{"customize_1_14":5}`))
		}, 1002, "customers[1].customize_field.customize_1_14"},
		{"custom number given a string", func(h *harness) any {
			return h.batchBody(0, valid, item("customize_field", `{"customize_2_15":"5"}`))
		}, 1002, "customers[1].customize_field.customize_2_15"},
		{"custom date malformed", func(h *harness) any {
			return h.batchBody(0, valid, item("customize_field", `{"customize_3_16":"2024/01/02"}`))
		}, 1002, "customers[1].customize_field.customize_3_16"},
		{"custom select outside options", func(h *harness) any {
			return h.batchBody(0, valid, item("customize_field", `{"customize_4_17":"gold"}`))
		}, 1002, "customers[1].customize_field.customize_4_17"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nxcloud.Config{})
			var body []byte
			switch b := tt.body(h).(type) {
			case string:
				body = []byte(b)
			default:
				body = mustJSON(t, b)
			}
			a := h.do(call{path: nxcloud.PathBatchCreate, body: body})
			assertEnvelope(t, a)
			if a.Code != tt.wantCode {
				t.Fatalf("code = %d (%s), want %d", a.Code, a.Message, tt.wantCode)
			}
			if !strings.Contains(a.Message, tt.wantMsg) {
				t.Errorf("message %q does not name %q", a.Message, tt.wantMsg)
			}
			if n := h.sim.CustomerCount(); n != 0 {
				t.Errorf("%d customers stored after a failed request, want 0", n)
			}
		})
	}
}

// many returns n valid customers with distinct e-mails.
func many(n int) []obj {
	out := make([]obj, n)
	for i := range out {
		out[i] = person("First", "Last", fmt.Sprintf("c%d@example.com", i))
	}
	return out
}

// TestBatchCreateBoundaries checks that values exactly at the documented limits are accepted.
func TestBatchCreateBoundaries(t *testing.T) {
	tests := []struct {
		name     string
		maxBatch int
		items    []obj
		wantCode int
	}{
		{"100 customers by default", 0, many(100), 0},
		{"configured batch of 5", 5, many(5), 0},
		{"configured batch of 5, sent 6", 5, many(6), 1002},
		{"every field at its maximum", 0, []obj{{
			"first_name": strings.Repeat("张", 128), "last_name": strings.Repeat("x", 128),
			"sms_phone": strings.Repeat("1", 30), "whats_app_phone": strings.Repeat("2", 30),
			"country": strings.Repeat("中", 50), "email": strings.Repeat("a", 38) + "@example.com",
			"address": strings.Repeat("路", 100), "remark": strings.Repeat("r", 100),
			"birthday": "2000-02-29", "gender": 1, "tagStr": "", "time_zone": "GMT+8",
			"customize_field": `{"customize_1_14":"x","customize_2_15":-1.5e3,"customize_3_16":"2024-12-31","customize_4_17":"pro"}`,
		}}, 0},
		{"nulls count as absent", 0, []obj{{
			"first_name": "A", "last_name": "B", "email": nil, "gender": nil, "customize_field": nil, "tagStr": nil,
		}}, 0},
		{"unknown members are ignored", 0, []obj{{"first_name": "A", "last_name": "B", "vip": true}}, 0},
		{"empty customize_field string", 0, []obj{{"first_name": "A", "last_name": "B", "customize_field": ""}}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nxcloud.Config{MaxBatch: tt.maxBatch})
			a := h.do(call{path: nxcloud.PathBatchCreate, body: mustJSON(t, h.batchBody(1, tt.items...))})
			if a.Code != tt.wantCode {
				t.Fatalf("code = %d (%s), want %d", a.Code, a.Message, tt.wantCode)
			}
			wantStored := len(tt.items)
			if tt.wantCode != 0 {
				wantStored = 0
			}
			if n := h.sim.CustomerCount(); n != wantStored {
				t.Errorf("stored %d customers, want %d", n, wantStored)
			}
		})
	}
}

// TestBatchCreateWriteModes checks what each type does to an existing customer.
func TestBatchCreateWriteModes(t *testing.T) {
	original := obj{
		"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "sms_phone": "+441234",
		"country": "UK", "remark": "first", "gender": 0, "tagStr": "vip, london",
		"customize_field": `{"customize_1_14":"countess","customize_2_15":10}`,
	}
	update := obj{
		"first_name": "Augusta", "last_name": "King", "email": "ADA@example.com", "remark": "",
		"address": "St James's Square", "tagStr": "london,math",
		"customize_field": `{"customize_2_15":null,"customize_3_16":"1843-07-01"}`,
	}
	t0 := time.Date(2025, 3, 14, 9, 26, 53, 0, time.UTC)
	t1 := t0.Add(time.Hour)
	tests := []struct {
		name string
		typ  int
		want nxcloud.Customer
	}{
		{"0 replaces the whole record", 0, nxcloud.Customer{
			ID: "1", FirstName: "Augusta", LastName: "King", Email: "ADA@example.com",
			Address: "St James's Square", Tags: []string{"london", "math"},
			CustomFields: map[string]string{"customize_3_16": "1843-07-01"}, CreatedAt: t0, UpdatedAt: t1,
		}},
		{"1 merges into the old record", 1, nxcloud.Customer{
			ID: "1", FirstName: "Augusta", LastName: "King", Email: "ADA@example.com", SMSPhone: "+441234",
			Country: "UK", Remark: "", Address: "St James's Square", Gender: intp(0),
			Tags:         []string{"vip", "london", "math"},
			CustomFields: map[string]string{"customize_1_14": "countess", "customize_3_16": "1843-07-01"},
			CreatedAt:    t0, UpdatedAt: t1,
		}},
		{"2 keeps the old record", 2, nxcloud.Customer{
			ID: "1", FirstName: "Ada", LastName: "Lovelace", Email: "ada@example.com", SMSPhone: "+441234",
			Country: "UK", Remark: "first", Gender: intp(0), Tags: []string{"vip", "london"},
			CustomFields: map[string]string{"customize_1_14": "countess", "customize_2_15": "10"},
			CreatedAt:    t0, UpdatedAt: t0,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nxcloud.Config{})
			h.batch(0, original)
			h.clock.Advance(time.Hour)
			h.batch(tt.typ, update)
			got := h.sim.Customers()
			if len(got) != 1 {
				t.Fatalf("stored %d customers, want the one updated in place", len(got))
			}
			if !reflect.DeepEqual(got[0], tt.want) {
				t.Errorf("stored:\n got %+v\nwant %+v", got[0], tt.want)
			}
		})
	}
}

// TestBatchCreateKeepCreatesNew checks that type 2 drops data only for existing customers.
func TestBatchCreateKeepCreatesNew(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	h.batch(0, person("Ada", "Lovelace", "ada@example.com"))
	h.batch(2, person("Ada", "Changed", "ada@example.com"), person("Grace", "Hopper", "grace@example.com"))
	if n := h.sim.CustomerCount(); n != 2 {
		t.Fatalf("stored %d customers, want 2", n)
	}
	if c, _ := h.sim.CustomerByEmail("ada@example.com"); c.LastName != "Lovelace" {
		t.Errorf("existing customer's last_name = %q, want it kept", c.LastName)
	}
	if c, ok := h.sim.CustomerByEmail("grace@example.com"); !ok || c.LastName != "Hopper" {
		t.Errorf("new customer = %+v, %v; want it created", c, ok)
	}
	st := h.sim.Stats()
	if st.CustomersCreated != 2 || st.CustomersKept != 1 || st.CustomersUpdated != 0 {
		t.Errorf("created/updated/kept = %d/%d/%d, want 2/0/1", st.CustomersCreated, st.CustomersUpdated, st.CustomersKept)
	}
}

// TestBatchCreateIdentity checks which stored customer an item updates.
func TestBatchCreateIdentity(t *testing.T) {
	tests := []struct {
		name   string
		keys   obj
		wantID string // "" means a new customer
	}{
		{"sms_phone", obj{"sms_phone": "111"}, "1"},
		{"whats_app_phone", obj{"whats_app_phone": "222"}, "2"},
		{"email ignoring case and spaces", obj{"email": " A@X.COM "}, "1"},
		{"sms_phone with surrounding spaces", obj{"sms_phone": " 111 "}, "1"},
		{"unknown sms_phone, known email", obj{"sms_phone": "999", "email": "c@x.com"}, "3"},
		{"sms_phone wins over email", obj{"sms_phone": "111", "email": "c@x.com"}, "1"},
		{"whats_app_phone wins over email", obj{"whats_app_phone": "222", "email": "c@x.com"}, "2"},
		{"phones are not compared across fields", obj{"whats_app_phone": "111"}, ""},
		{"phones are not normalised", obj{"sms_phone": "+111"}, ""},
		{"no identity", obj{}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nxcloud.Config{})
			h.batch(0,
				obj{"first_name": "A", "last_name": "A", "sms_phone": "111", "email": "a@x.com"},
				obj{"first_name": "B", "last_name": "B", "whats_app_phone": "222"},
				obj{"first_name": "C", "last_name": "C", "email": "c@x.com"},
			)
			h.batch(1, with(tt.keys, "first_name", "Updated", "last_name", "Item"))
			var got []string
			for _, c := range h.sim.Customers() {
				if c.FirstName == "Updated" {
					got = append(got, c.ID)
				}
			}
			want := tt.wantID
			if want == "" {
				want = "4"
			}
			if len(got) != 1 || got[0] != want {
				t.Errorf("updated customers %v, want [%s]", got, want)
			}
		})
	}
}

// TestBatchCreateDuplicatesInOneBatch checks that items are applied in order, so a later item
// sees a customer created by an earlier one in the same request.
func TestBatchCreateDuplicatesInOneBatch(t *testing.T) {
	tests := []struct {
		typ      int
		wantLast string
		wantTags []string
	}{
		{0, "Second", []string{"b"}},
		{1, "Second", []string{"a", "b"}},
		{2, "First", []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("type %d", tt.typ), func(t *testing.T) {
			h := newHarness(t, nxcloud.Config{})
			h.batch(tt.typ,
				obj{"first_name": "Dup", "last_name": "First", "email": "dup@x.com", "tagStr": "a"},
				obj{"first_name": "Dup", "last_name": "Second", "email": "DUP@x.com", "tagStr": "b"},
			)
			all := h.sim.Customers()
			if len(all) != 1 {
				t.Fatalf("stored %d customers, want 1", len(all))
			}
			if all[0].LastName != tt.wantLast || !reflect.DeepEqual(all[0].Tags, tt.wantTags) {
				t.Errorf("stored last_name %q tags %v, want %q %v", all[0].LastName, all[0].Tags, tt.wantLast, tt.wantTags)
			}
		})
	}
}

// TestBatchCreateIdentityFollowsUpdates checks that changing a customer's e-mail moves its
// identity: the old address no longer finds it, the new one does.
func TestBatchCreateIdentityFollowsUpdates(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	h.batch(0, obj{"first_name": "A", "last_name": "A", "sms_phone": "111", "email": "old@x.com"})
	h.batch(1, obj{"first_name": "A", "last_name": "A", "sms_phone": "111", "email": "new@x.com"})
	if _, ok := h.sim.CustomerByEmail("old@x.com"); ok {
		t.Error("old e-mail still finds the customer")
	}
	if c, ok := h.sim.CustomerByEmail("new@x.com"); !ok || c.ID != "1" {
		t.Errorf("new e-mail finds %+v, %v; want customer 1", c, ok)
	}
	h.batch(1, person("Other", "Person", "old@x.com"))
	if n := h.sim.CustomerCount(); n != 2 {
		t.Errorf("stored %d customers, want the released e-mail to create a second one", n)
	}
}

// TestRequiredCustomField checks that a catalogue field marked required is enforced per item.
func TestRequiredCustomField(t *testing.T) {
	cfg := nxcloud.Config{CustomFields: []nxcloud.CustomField{
		{Key: "customize_1_3", Name: "Member no.", Type: nxcloud.FieldText, Required: true},
	}}
	tests := []struct {
		name     string
		custom   any
		wantCode int
	}{
		{"present", `{"customize_1_3":"M-1"}`, 0},
		{"customize_field absent", nil, 1002},
		{"key absent", `{}`, 1002},
		{"key null", `{"customize_1_3":null}`, 1002},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, cfg)
			c := obj{"first_name": "A", "last_name": "B"}
			if tt.custom != nil {
				c["customize_field"] = tt.custom
			}
			a := h.do(call{path: nxcloud.PathBatchCreate, body: mustJSON(t, h.batchBody(1, c))})
			if a.Code != tt.wantCode {
				t.Fatalf("code = %d (%s), want %d", a.Code, a.Message, tt.wantCode)
			}
			if tt.wantCode != 0 && !strings.Contains(a.Message, "customers[0].customize_field.customize_1_3") {
				t.Errorf("message %q does not name the field", a.Message)
			}
		})
	}
}

// TestNoCustomFields checks that an empty catalogue refuses the doc's customize_1_14.
func TestNoCustomFields(t *testing.T) {
	h := newHarness(t, nxcloud.Config{CustomFields: []nxcloud.CustomField{}})
	c := obj{"first_name": "A", "last_name": "B", "customize_field": `{"customize_1_14":"aa"}`}
	if a := h.do(call{path: nxcloud.PathBatchCreate, body: mustJSON(t, h.batchBody(1, c))}); a.Code != 1002 {
		t.Errorf("code = %d (%s), want 1002", a.Code, a.Message)
	}
}

// TestItemsReceived checks that received customer objects are counted even when refused.
func TestItemsReceived(t *testing.T) {
	h := newHarness(t, nxcloud.Config{MaxBatch: 3})
	h.batch(0, many(2)...)
	h.do(call{path: nxcloud.PathBatchCreate, body: mustJSON(t, h.batchBody(0, many(4)...))})                           // too many
	h.do(call{path: nxcloud.PathBatchCreate, body: mustJSON(t, h.batchBody(0, person("A", "", "x@x.com")))})           // invalid item
	h.do(call{path: nxcloud.PathBatchCreate, body: mustJSON(t, with(h.batchBody(0, many(3)...), "app_key", "other"))}) // no permission
	st := h.sim.Stats()
	if st.ItemsReceived != 2+4+1+3 {
		t.Errorf("ItemsReceived = %d, want 10", st.ItemsReceived)
	}
	if st.CustomersCreated != 2 {
		t.Errorf("CustomersCreated = %d, want 2", st.CustomersCreated)
	}
}

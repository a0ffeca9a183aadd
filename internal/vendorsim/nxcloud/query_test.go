package nxcloud_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
)

// queryCustomer is the test's own reading of a query list entry.
type queryCustomer struct {
	ID             string `json:"id"`
	FirstName      string `json:"first_name"`
	LastName       string `json:"last_name"`
	SMSPhone       string `json:"sms_phone"`
	WhatsAppPhone  string `json:"whats_app_phone"`
	Country        string `json:"country"`
	Email          string `json:"email"`
	Address        string `json:"address"`
	Birthday       string `json:"birthday"`
	Source         string `json:"source"`
	Remark         string `json:"remark"`
	TimeZone       string `json:"time_zone"`
	Gender         *int   `json:"gender"`
	TagStr         string `json:"tagStr"`
	CustomizeField string `json:"customize_field"`
	CreateTime     int64  `json:"create_time"`
	UpdateTime     int64  `json:"update_time"`
}

type queryPage struct {
	List    []queryCustomer `json:"list"`
	After   string          `json:"after"`
	Before  string          `json:"before"`
	HasMore bool            `json:"has_more"`
}

// query sends a query with the harness's account merged into body and fails unless it succeeds.
func (h *harness) query(body obj) queryPage {
	h.t.Helper()
	full := with(body, "tenant_id", h.cfg.TenantID, "app_key", h.cfg.AppKey)
	a := h.do(call{path: nxcloud.PathQuery, body: mustJSON(h.t, full)})
	if a.Code != 0 {
		h.t.Fatalf("query %v: code %d (%s)", body, a.Code, a.Message)
	}
	var p queryPage
	if err := json.Unmarshal(a.Data, &p); err != nil {
		h.t.Fatalf("query data: %v: %s", err, a.Data)
	}
	if p.List == nil {
		h.t.Fatalf("query data %s: list must be an array, even when empty", a.Data)
	}
	return p
}

func ids(p queryPage) []string {
	out := []string{}
	for _, c := range p.List {
		out = append(out, c.ID)
	}
	return out
}

// seedDirectory stores six customers, one minute apart, then updates customer 2 a minute later.
// Customer i is created at t0 + (i-1) minutes.
func seedDirectory(h *harness) (t0 time.Time) {
	t0 = h.clock.Now()
	people := []obj{
		{"first_name": "Ada", "last_name": "Lovelace", "email": "ada@example.com", "sms_phone": "111", "tagStr": "vip,math"},
		{"first_name": "Grace", "last_name": "Hopper", "email": "grace@example.com", "whats_app_phone": "222", "tagStr": "navy"},
		{"first_name": "Alan", "last_name": "Turing", "email": "alan@example.com", "tagStr": "math"},
		{"first_name": "张", "last_name": "三", "sms_phone": "18163725558", "tagStr": "vip"},
		{"first_name": "Katherine", "last_name": "Johnson", "email": "KJ@Example.com", "tagStr": "vip,math,nasa"},
		{"first_name": "Edsger", "last_name": "Dijkstra", "email": "ewd@example.com"},
	}
	for _, p := range people {
		h.batch(0, p)
		h.clock.Advance(time.Minute)
	}
	h.batch(1, obj{"first_name": "Grace", "last_name": "Hopper", "whats_app_phone": "222", "remark": "rear admiral"})
	return t0
}

func TestQueryFilters(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	t0 := seedDirectory(h)
	ms := func(d time.Duration) int64 { return t0.Add(d).UnixMilli() }
	tests := []struct {
		name   string
		filter obj
		want   []string
	}{
		{"no filter", obj{}, []string{"1", "2", "3", "4", "5", "6"}},
		{"name, first name part", obj{"name": "ada"}, []string{"1"}},
		{"name, full name", obj{"name": "Grace Hopper"}, []string{"2"}},
		{"name, last name first", obj{"name": "turing alan"}, []string{"3"}},
		{"name, Chinese without a space", obj{"name": "张三"}, []string{"4"}},
		{"name, substring of several", obj{"name": "a"}, []string{"1", "2", "3", "5", "6"}},
		{"sms_phone", obj{"sms_phone": "18163725558"}, []string{"4"}},
		{"whats_app_phone", obj{"whats_app_phone": "222"}, []string{"2"}},
		{"phone is exact", obj{"sms_phone": "11"}, []string{}},
		{"email ignoring case", obj{"email": "kj@example.COM"}, []string{"5"}},
		{"one tag", obj{"tags": []string{"vip"}}, []string{"1", "4", "5"}},
		{"all tags", obj{"tags": []string{"vip", "math"}}, []string{"1", "5"}},
		{"unknown tag", obj{"tags": []string{"none"}}, []string{}},
		{"created from", obj{"create_time_start": ms(2 * time.Minute)}, []string{"3", "4", "5", "6"}},
		{"created before (end exclusive)", obj{"create_time_end": ms(2 * time.Minute)}, []string{"1", "2"}},
		{"created in range", obj{"create_time_start": ms(time.Minute), "create_time_end": ms(3 * time.Minute)}, []string{"2", "3"}},
		{"updated since the seeding ended", obj{"update_time_start": ms(6 * time.Minute)}, []string{"2"}},
		{"filters combine", obj{"tags": []string{"math"}, "name": "a", "create_time_start": ms(time.Minute)}, []string{"3", "5"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := h.query(with(tt.filter, "limit", 50))
			if got := ids(p); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("ids = %v, want %v", got, tt.want)
			}
			if p.HasMore {
				t.Error("has_more = true on a page holding every match")
			}
		})
	}
}

func TestQueryPaging(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	for i := 0; i < 7; i++ {
		h.batch(0, many(7)[i])
	}

	type page struct {
		ids     []string
		hasMore bool
	}
	check := func(step string, p queryPage, want page) {
		t.Helper()
		if got := ids(p); !reflect.DeepEqual(got, want.ids) || p.HasMore != want.hasMore {
			t.Fatalf("%s: ids %v has_more %v, want %v %v", step, got, p.HasMore, want.ids, want.hasMore)
		}
	}

	p1 := h.query(obj{"limit": 3})
	check("first page", p1, page{[]string{"1", "2", "3"}, true})
	p2 := h.query(obj{"limit": 3, "after": p1.After})
	check("second page", p2, page{[]string{"4", "5", "6"}, true})
	p3 := h.query(obj{"limit": 3, "after": p2.After})
	check("last page", p3, page{[]string{"7"}, false})
	end := h.query(obj{"limit": 3, "after": p3.After})
	check("past the end", end, page{[]string{}, false})
	if end.After != "" || end.Before != "" {
		t.Errorf("empty page cursors = %q / %q, want empty", end.After, end.Before)
	}

	back := h.query(obj{"limit": 3, "before": p3.Before})
	check("back from the last page", back, page{[]string{"4", "5", "6"}, true})
	back = h.query(obj{"limit": 3, "before": back.Before})
	check("back to the start", back, page{[]string{"1", "2", "3"}, false})
	back = h.query(obj{"limit": 2, "before": p2.After})
	check("before an arbitrary cursor", back, page{[]string{"4", "5"}, true})

	// A client that kept the last page's after cursor sees customers created since.
	h.batch(0, person("New", "Comer", "new@example.com"))
	check("polling with the last after", h.query(obj{"limit": 3, "after": p3.After}), page{[]string{"8"}, false})

	// Empty cursors mean "none", as a client echoing an empty field would send.
	check("empty cursors", h.query(obj{"limit": 2, "after": "", "before": ""}), page{[]string{"1", "2"}, true})
}

func TestQueryPagingWithFilter(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	for i := 0; i < 10; i++ {
		tag := "odd"
		if i%2 == 1 {
			tag = "even"
		}
		h.batch(0, with(many(10)[i], "tagStr", tag))
	}
	var got []string
	p := h.query(obj{"limit": 2, "tags": []string{"even"}})
	for {
		got = append(got, ids(p)...)
		if !p.HasMore {
			break
		}
		p = h.query(obj{"limit": 2, "tags": []string{"even"}, "after": p.After})
	}
	if want := []string{"2", "4", "6", "8", "10"}; !reflect.DeepEqual(got, want) {
		t.Errorf("paged ids = %v, want %v", got, want)
	}
}

func TestQueryValidation(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	h.batch(0, person("A", "B", "a@b.c"))
	cursor := h.query(obj{"limit": 1}).After
	tests := []struct {
		name     string
		body     obj
		wantCode int
		wantMsg  string
	}{
		{"limit missing", obj{}, 1002, "limit"},
		{"limit 0", obj{"limit": 0}, 1002, "limit"},
		{"limit 51", obj{"limit": 51}, 1002, "limit"},
		{"limit a string", obj{"limit": "10"}, 1002, "limit"},
		{"limit 50", obj{"limit": 50}, 0, ""},
		{"limit 1", obj{"limit": 1}, 0, ""},
		{"after and before", obj{"limit": 1, "after": cursor, "before": cursor}, 1002, "after"},
		{"after garbage", obj{"limit": 1, "after": "not-a-cursor"}, 1002, "after"},
		{"before garbage", obj{"limit": 1, "before": "bnhjMTp4"}, 1002, "before"},
		{"after a number", obj{"limit": 1, "after": 3}, 1002, "after"},
		{"name a number", obj{"limit": 1, "name": 3}, 1002, "name"},
		{"tags a string", obj{"limit": 1, "tags": "vip"}, 1002, "tags"},
		{"tags holding a number", obj{"limit": 1, "tags": []any{"vip", 3}}, 1002, "tags[1]"},
		{"time a string", obj{"limit": 1, "create_time_start": "2025-01-01"}, 1002, "create_time_start"},
		{"range reversed", obj{"limit": 1, "update_time_start": 2, "update_time_end": 1}, 1002, "update_time_start"},
		{"tenant of another", obj{"limit": 1, "tenant_id": 1}, 1005, ""},
		{"app of another", obj{"limit": 1, "app_key": "x"}, 1005, ""},
		{"tenant missing", obj{"limit": 1, "tenant_id": nil}, 1002, "tenant_id"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := with(obj{"tenant_id": h.cfg.TenantID, "app_key": h.cfg.AppKey}, flatten(tt.body)...)
			a := h.do(call{path: nxcloud.PathQuery, body: mustJSON(t, body)})
			assertEnvelope(t, a)
			if a.Code != tt.wantCode {
				t.Fatalf("code = %d (%s), want %d", a.Code, a.Message, tt.wantCode)
			}
			if !strings.Contains(a.Message, tt.wantMsg) {
				t.Errorf("message %q does not name %q", a.Message, tt.wantMsg)
			}
		})
	}
}

// flatten turns an object into with's key/value list.
func flatten(o obj) []any {
	var kv []any
	for k, v := range o {
		kv = append(kv, k, v)
	}
	return kv
}

// TestQueryReadsBackWhatWasWritten checks the list entry shape against a stored customer.
func TestQueryReadsBackWhatWasWritten(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	created := h.clock.Now()
	h.batch(0, obj{
		"first_name": "张", "last_name": "三", "sms_phone": "18163725558", "whats_app_phone": "18667728886",
		"country": "中国", "email": "n.yxceiqtqc@qq.com", "address": "贵州省威海市东坡区", "birthday": "1976-04-12",
		"source": "import", "remark": "nisi amet", "tagStr": "test, 99,test", "time_zone": "GMT+8", "gender": 0,
		"customize_field": `{"customize_1_14":"aa","customize_2_15":12.50}`,
	}, person("No", "Extras", "plain@example.com"))
	h.clock.Advance(time.Second)
	h.batch(1, obj{"first_name": "No", "last_name": "Extras", "email": "plain@example.com", "remark": "later"})

	p := h.query(obj{"limit": 10})
	want := []queryCustomer{{
		ID: "1", FirstName: "张", LastName: "三", SMSPhone: "18163725558", WhatsAppPhone: "18667728886",
		Country: "中国", Email: "n.yxceiqtqc@qq.com", Address: "贵州省威海市东坡区", Birthday: "1976-04-12",
		Source: "import", Remark: "nisi amet", TimeZone: "GMT+8", Gender: intp(0), TagStr: "test,99",
		CreateTime: created.UnixMilli(), UpdateTime: created.UnixMilli(),
	}, {
		ID: "2", FirstName: "No", LastName: "Extras", Email: "plain@example.com", Remark: "later",
		CustomizeField: "{}", CreateTime: created.UnixMilli(), UpdateTime: created.Add(time.Second).UnixMilli(),
	}}
	// customize_field is a JSON string holding an object; numbers stay numbers inside it.
	var custom map[string]any
	if err := json.Unmarshal([]byte(p.List[0].CustomizeField), &custom); err != nil {
		t.Fatalf("customize_field %q is not a JSON object: %v", p.List[0].CustomizeField, err)
	}
	if wantCustom := map[string]any{"customize_1_14": "aa", "customize_2_15": 12.5}; !reflect.DeepEqual(custom, wantCustom) {
		t.Errorf("customize_field = %v, want %v", custom, wantCustom)
	}
	p.List[0].CustomizeField = ""
	if !reflect.DeepEqual(p.List, want) {
		t.Errorf("list:\n got %+v\nwant %+v", p.List, want)
	}

	// An unset gender reads back as null, not as 0 (which would mean female).
	a := h.do(call{path: nxcloud.PathQuery, body: mustJSON(t, obj{"tenant_id": 144, "app_key": "sandbox-app", "limit": 1, "email": "plain@example.com"})})
	var raw struct {
		List []map[string]json.RawMessage `json:"list"`
	}
	if err := json.Unmarshal(a.Data, &raw); err != nil || len(raw.List) != 1 {
		t.Fatalf("decoding %s: %v", a.Data, err)
	}
	if g := string(raw.List[0]["gender"]); g != "null" {
		t.Errorf("unset gender = %s, want null", g)
	}
}

package helpcrunch_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/adapters"
	"github.com/crm-gateway/crm-gateway/internal/adapters/helpcrunch"
	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
	hcsim "github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
)

// env is one adapter talking over real HTTP to its own simulator.
type env struct {
	sim *hcsim.Sim
	srv *httptest.Server
	a   *helpcrunch.Adapter
}

// newEnv starts cfg's simulator (behind wrap, if any) and an adapter using
// apiKey ("" = the simulator's key) with a generous local rate bucket and
// fast retries.
func newEnv(t *testing.T, cfg hcsim.Config, apiKey string, wrap func(http.Handler) http.Handler) *env {
	t.Helper()
	sim := hcsim.New(cfg)
	var h http.Handler = sim
	if wrap != nil {
		h = wrap(sim)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	if apiKey == "" {
		apiKey = hcsim.DefaultAPIKey
		if cfg.APIKey != "" {
			apiKey = cfg.APIKey
		}
	}
	client := &vendorhttp.Client{
		Vendor: crm.VendorHelpCrunch, Bucket: "hc-test", BaseURL: srv.URL + "/v1", HTTP: srv.Client(),
		Limiter: ratelimit.NewLocal(), Limit: ratelimit.Limit{Rate: 10000, Period: time.Second, Burst: 1000},
		MaxWait: 2 * time.Second, Timeout: 5 * time.Second,
		Retry: vendorhttp.Retry{Attempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, MaxRetryAfter: 50 * time.Millisecond},
	}
	return &env{sim: sim, srv: srv, a: helpcrunch.New(client, apiKey, 0, "")}
}

// seed creates n customers through the adapter and returns their ids, then
// zeroes the simulator's counters.
func (e *env) seed(t *testing.T, n int) []string {
	t.Helper()
	ids := make([]string, n)
	for i := range n {
		c, err := e.a.CreateCustomer(context.Background(), crm.CustomerWrite{Fields: crm.Fields{
			Name:       crm.Some("Customer " + strconv.Itoa(i)),
			Email:      crm.Some("c" + strconv.Itoa(i) + "@example.com"),
			ExternalID: crm.Some("ext-" + strconv.Itoa(i)),
			Company:    crm.Some("Old Co"),
		}})
		if err != nil {
			t.Fatalf("seed customer %d: %v", i, err)
		}
		ids[i] = c.ID
	}
	e.sim.ResetStats()
	return ids
}

func simCustomer(t *testing.T, sim *hcsim.Sim, id string) hcsim.Customer {
	t.Helper()
	n, err := strconv.Atoi(id)
	if err != nil {
		t.Fatalf("customer id %q is not numeric", id)
	}
	c, ok := sim.Customer(n)
	if !ok {
		t.Fatalf("simulator has no customer %s", id)
	}
	return c
}

func crmErr(t *testing.T, err error) *crm.Error {
	t.Helper()
	var ce *crm.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v (%T) is not a *crm.Error", err, err)
	}
	return ce
}

func TestCreateCustomer(t *testing.T) {
	e := newEnv(t, hcsim.Config{}, "", nil)
	c, err := e.a.CreateCustomer(context.Background(), crm.CustomerWrite{Fields: crm.Fields{
		FirstName:  crm.Some("Ana"),
		LastName:   crm.Some("Souza"),
		Email:      crm.Some("ana@example.com"),
		Phone:      crm.Some("+5511999990000"),
		ExternalID: crm.Some("user-42"),
		Company:    crm.Some("Example Inc."),
		Locale:     crm.Some("pt"),
		Notes:      crm.Some("likes <b>bold</b> & co"),
		Tags:       crm.Some([]crm.Tag{{Name: "vip", Color: "#ff0000"}, {Name: "newsletter"}}),
		CustomFields: map[string]any{
			"subscription_status": "active",
			"number_of_payments":  15,
			"last_payment_date":   "1603885746",
			"plan_tier":           "gold", // not in the account's catalogue: stored as sent
		},
	}})
	if err != nil {
		t.Fatalf("CreateCustomer: %v", err)
	}
	st := e.sim.Stats()
	if st.Operations["POST /customers"] != 1 || st.Requests != 1 {
		t.Errorf("simulator saw %+v, want exactly one POST /customers", st)
	}

	// The normalized read-back.
	if c.ID != "1" || c.Vendor != crm.VendorHelpCrunch {
		t.Errorf("id/vendor = %q/%q, want 1/helpcrunch", c.ID, c.Vendor)
	}
	for _, f := range []struct{ name, got, want string }{
		{"name", c.Name, "Ana Souza"},
		{"email", c.Email, "ana@example.com"},
		{"phone", c.Phone, "+5511999990000"},
		{"external_id", c.ExternalID, "user-42"},
		{"company", c.Company, "Example Inc."},
		{"locale", c.Locale, "pt"},
		{"notes", c.Notes, "likes <b>bold</b> & co"},
	} {
		if f.got != f.want {
			t.Errorf("read-back %s = %q, want %q", f.name, f.got, f.want)
		}
	}
	wantTags := []crm.Tag{{Name: "vip", Color: "#ff0000"}, {Name: "newsletter", Color: hcsim.DefaultTagColor}}
	if len(c.Tags) != len(wantTags) || c.Tags[0] != wantTags[0] || c.Tags[1] != wantTags[1] {
		t.Errorf("read-back tags = %+v, want %+v", c.Tags, wantTags)
	}
	// customData was written as [{property,value}] and comes back as an object.
	wantCF := map[string]any{
		"subscription_status": "active",
		"number_of_payments":  float64(15),
		"last_payment_date":   float64(1603885746),
		"plan_tier":           "gold",
	}
	if len(c.CustomFields) != len(wantCF) {
		t.Errorf("read-back custom fields = %v, want %v", c.CustomFields, wantCF)
	}
	for k, v := range wantCF {
		if c.CustomFields[k] != v {
			t.Errorf("read-back custom_fields.%s = %#v, want %#v", k, c.CustomFields[k], v)
		}
	}
	if c.Remote == nil {
		t.Error("read-back carries no remote object")
	}

	// What the simulator stored.
	got := simCustomer(t, e.sim, c.ID)
	wantFields := map[string]string{
		"name": "Ana Souza", "email": "ana@example.com", "phone": "+5511999990000", "userId": "user-42",
		"company": "Example Inc.", "locale": "pt", "notes": "likes <b>bold</b> & co",
	}
	if len(got.Fields) != len(wantFields) {
		t.Errorf("simulator fields = %v, want %v", got.Fields, wantFields)
	}
	for k, v := range wantFields {
		if got.Fields[k] != v {
			t.Errorf("simulator %s = %q, want %q", k, got.Fields[k], v)
		}
	}
	if len(got.Tags) != 2 || got.Tags[0] != (hcsim.Tag{Name: "vip", Color: "#ff0000"}) ||
		got.Tags[1] != (hcsim.Tag{Name: "newsletter", Color: hcsim.DefaultTagColor}) {
		t.Errorf("simulator tags = %+v", got.Tags)
	}
	if got.CustomData["subscription_status"] != "active" || got.CustomData["plan_tier"] != "gold" ||
		len(got.CustomData) != 4 {
		t.Errorf("simulator customData = %v", got.CustomData)
	}
}

func TestCreateCustomerRefusedLocally(t *testing.T) {
	e := newEnv(t, hcsim.Config{}, "", nil)
	_, err := e.a.CreateCustomer(context.Background(), crm.CustomerWrite{Fields: crm.Fields{
		Name:   crm.Some("Ana"),
		Gender: crm.Some("female"), // HelpCrunch has no gender
	}})
	ce := crmErr(t, err)
	if ce.Code != crm.EUnprocessable || len(ce.Fields) != 1 || ce.Fields[0].Field != "gender" {
		t.Errorf("error = %+v, want unprocessable naming gender", ce)
	}
	if n := e.sim.Stats().Requests; n != 0 {
		t.Errorf("simulator got %d requests, want none", n)
	}
}

func TestUpdateCustomerMergesAndClears(t *testing.T) {
	e := newEnv(t, hcsim.Config{}, "", nil)
	created, err := e.a.CreateCustomer(context.Background(), crm.CustomerWrite{Fields: crm.Fields{
		Name:    crm.Some("Ana Souza"),
		Email:   crm.Some("ana@example.com"),
		Company: crm.Some("Old Co"),
		Phone:   crm.Some("+5511999990000"),
		Notes:   crm.Some("old notes"),
		Tags:    crm.Some([]crm.Tag{{Name: "vip"}}),
		CustomFields: map[string]any{
			"subscription_status": "active",
			"number_of_payments":  3,
		},
	}})
	if err != nil {
		t.Fatalf("CreateCustomer: %v", err)
	}
	e.sim.ResetStats()

	c, err := e.a.UpdateCustomer(context.Background(), created.ID, crm.Fields{
		Company:      crm.Null[string](),    // clear
		Tags:         crm.Null[[]crm.Tag](), // clear
		Notes:        crm.Some("new notes"), // change
		CustomFields: map[string]any{"subscription_status": nil, "number_of_payments": 4},
	})
	if err != nil {
		t.Fatalf("UpdateCustomer: %v", err)
	}
	if st := e.sim.Stats(); st.Operations["PATCH /customers/{id}"] != 1 || st.Requests != 1 {
		t.Errorf("simulator saw %+v, want exactly one PATCH", st)
	}
	if c.ID != created.ID || c.Company != "" || c.Notes != "new notes" || c.Email != "ana@example.com" || len(c.Tags) != 0 {
		t.Errorf("read-back = %+v", c)
	}

	got := simCustomer(t, e.sim, created.ID)
	if _, ok := got.Fields["company"]; ok {
		t.Errorf("company = %q, want cleared (null)", got.Fields["company"])
	}
	for k, v := range map[string]string{"name": "Ana Souza", "email": "ana@example.com", "phone": "+5511999990000", "notes": "new notes"} {
		if got.Fields[k] != v {
			t.Errorf("simulator %s = %q, want %q (untouched fields must stay)", k, got.Fields[k], v)
		}
	}
	if len(got.Tags) != 0 {
		t.Errorf("tags = %+v, want cleared", got.Tags)
	}
	if _, ok := got.CustomData["subscription_status"]; ok || len(got.CustomData) != 1 || got.CustomData["number_of_payments"] == nil {
		t.Errorf("customData = %v, want only number_of_payments left", got.CustomData)
	}
}

func TestUpdateCustomerErrors(t *testing.T) {
	e := newEnv(t, hcsim.Config{}, "", nil)
	tests := []struct {
		name     string
		id       string
		code     string
		vcode    string // vendor code surfaced, "" when the vendor is not called
		requests int
	}{
		{"non-numeric id", "abc", crm.EInvalid, "", 0},
		{"unknown id", "999", crm.ENotFound, "entity_not_found", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e.sim.ResetStats()
			_, err := e.a.UpdateCustomer(context.Background(), tt.id, crm.Fields{Notes: crm.Some("x")})
			ce := crmErr(t, err)
			if ce.Code != tt.code {
				t.Errorf("code = %q, want %q (%v)", ce.Code, tt.code, err)
			}
			if tt.vcode != "" && (ce.Remote == nil || ce.Remote.Code != tt.vcode || ce.Remote.Status != http.StatusNotFound) {
				t.Errorf("remote = %+v, want %s with 404", ce.Remote, tt.vcode)
			}
			if n := e.sim.Stats().Requests; n != tt.requests {
				t.Errorf("simulator got %d requests, want %d", n, tt.requests)
			}
		})
	}
}

func TestBatchUpdateOfTenIsOneRequest(t *testing.T) {
	e := newEnv(t, hcsim.Config{}, "", nil)
	ids := e.seed(t, helpcrunch.MaxBatch)
	items := make([]crm.CustomerWrite, len(ids))
	for i, id := range ids {
		items[i] = crm.CustomerWrite{ID: id, Fields: crm.Fields{Company: crm.Some("New Co " + strconv.Itoa(i))}}
	}
	results := e.a.WriteBatch(context.Background(), crm.Batch{Mode: crm.ModeUpdate, Customers: items})

	st := e.sim.Stats()
	if st.Requests != 1 || st.Operations["PUT /customers/batch"] != 1 || st.ItemsReceived != 10 {
		t.Errorf("simulator saw %+v, want one PUT /customers/batch with 10 items", st)
	}
	if len(results) != len(items) {
		t.Fatalf("%d results for %d items", len(results), len(items))
	}
	for i, r := range results {
		want := "New Co " + strconv.Itoa(i)
		if r.Index != i || r.Status != crm.StatusUpdated || r.Customer == nil || r.Customer.ID != ids[i] || r.Customer.Company != want {
			t.Errorf("result %d = %+v (customer %+v), want updated %s with company %q", i, r, r.Customer, ids[i], want)
			continue
		}
		got := simCustomer(t, e.sim, ids[i])
		if got.Fields["company"] != want || got.Fields["email"] != "c"+strconv.Itoa(i)+"@example.com" {
			t.Errorf("simulator customer %s = %v", ids[i], got.Fields)
		}
	}
}

func TestBatchInvalidItemFailsAlone(t *testing.T) {
	e := newEnv(t, hcsim.Config{}, "", nil)
	ids := e.seed(t, 3)
	items := []crm.CustomerWrite{
		{ID: ids[0], Fields: crm.Fields{Notes: crm.Some("n0")}},
		{ID: ids[1], Fields: crm.Fields{Notes: crm.Some("n1"), Gender: crm.Some("male")}}, // unsupported field
		{ID: "not-a-number", Fields: crm.Fields{Notes: crm.Some("bad id")}},
		{Fields: crm.Fields{Notes: crm.Some("no id")}}, // update needs an id
		{ID: ids[2], Fields: crm.Fields{Notes: crm.Some("n2")}},
	}
	results := e.a.WriteBatch(context.Background(), crm.Batch{Mode: crm.ModeUpdate, Customers: items})

	want := []struct {
		status crm.ItemStatus
		code   string
		field  string
	}{
		{crm.StatusUpdated, "", ""},
		{crm.StatusFailed, crm.EUnprocessable, "gender"},
		{crm.StatusFailed, crm.EInvalid, "id"},
		{crm.StatusFailed, crm.EInvalid, "id"},
		{crm.StatusUpdated, "", ""},
	}
	for i, w := range want {
		r := results[i]
		if r.Index != i || r.Status != w.status {
			t.Errorf("result %d = %+v, want %s", i, r, w.status)
			continue
		}
		if w.code == "" {
			continue
		}
		if r.Error == nil || r.Error.Code != w.code || len(r.Error.Fields) == 0 || r.Error.Fields[0].Field != w.field {
			t.Errorf("result %d error = %+v, want %s naming %s", i, r.Error, w.code, w.field)
		}
		if r.Error != nil && r.Error.Vendor != nil {
			t.Errorf("result %d: a local refusal carries vendor details %+v", i, r.Error.Vendor)
		}
	}
	st := e.sim.Stats()
	if st.Requests != 1 || st.ItemsReceived != 2 {
		t.Errorf("simulator saw %+v, want one batch with the 2 valid items", st)
	}
	if got := simCustomer(t, e.sim, ids[1]); got.Fields["notes"] != "" {
		t.Errorf("refused item was applied: notes = %q", got.Fields["notes"])
	}
	if got := simCustomer(t, e.sim, ids[2]); got.Fields["notes"] != "n2" {
		t.Errorf("valid item not applied: notes = %q", got.Fields["notes"])
	}
}

func TestBatchChunkLevelVendorFailure(t *testing.T) {
	tests := []struct {
		name    string
		bad     crm.CustomerWrite // placed in the middle of two valid items
		code    string
		status  int
		vcode   string
		message string
	}{
		{
			name: "unknown customer", bad: crm.CustomerWrite{ID: "999", Fields: crm.Fields{Notes: crm.Some("x")}},
			code: crm.ENotFound, status: http.StatusNotFound, vcode: "not_found", message: "Customer not found",
		},
		{
			name: "vendor-invalid email", bad: crm.CustomerWrite{ID: "2", Fields: crm.Fields{Email: crm.Some("not-an-email")}},
			code: crm.EUnprocessable, status: http.StatusBadRequest, vcode: "email", message: "This value is not a valid email address.",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, hcsim.Config{}, "", nil)
			ids := e.seed(t, 3)
			items := []crm.CustomerWrite{
				{ID: ids[0], Fields: crm.Fields{Notes: crm.Some("a")}},
				tt.bad,
				{ID: ids[2], Fields: crm.Fields{Notes: crm.Some("c")}},
			}
			results := e.a.WriteBatch(context.Background(), crm.Batch{Mode: crm.ModeUpdate, Customers: items})
			if st := e.sim.Stats(); st.Requests != 1 || st.ItemsReceived != 3 {
				t.Errorf("simulator saw %+v, want one batch of 3", st)
			}
			for i, r := range results {
				if r.Index != i || r.Status != crm.StatusFailed || r.Error == nil {
					t.Errorf("result %d = %+v, want failed", i, r)
					continue
				}
				if r.Error.Code != tt.code || r.Error.Outcome != crm.OutcomeNotApplied {
					t.Errorf("result %d error = %+v, want %s, not applied", i, r.Error, tt.code)
				}
				v := r.Error.Vendor
				if v == nil || v.Status != tt.status || v.Code != tt.vcode || v.Message != tt.message {
					t.Errorf("result %d vendor = %+v, want %d %s %q", i, v, tt.status, tt.vcode, tt.message)
				}
				if v != nil && (len(v.Errors) < 2 || v.Errors[0].Code != "invalid_request") {
					t.Errorf("result %d vendor errors = %+v, want the full list led by invalid_request", i, v.Errors)
				}
			}
			// HelpCrunch applies a batch all or nothing.
			for _, id := range ids {
				if got := simCustomer(t, e.sim, id); got.Fields["notes"] != "" || got.Fields["email"] == "not-an-email" {
					t.Errorf("customer %s changed by a refused batch: %v", id, got.Fields)
				}
			}
		})
	}
}

func TestBatchCreate(t *testing.T) {
	e := newEnv(t, hcsim.Config{}, "", nil)
	results := e.a.WriteBatch(context.Background(), crm.Batch{Mode: crm.ModeCreate, Customers: []crm.CustomerWrite{
		{Fields: crm.Fields{Name: crm.Some("One"), Email: crm.Some("one@example.com")}},
		{ID: "5", Fields: crm.Fields{Name: crm.Some("Has id")}},
		{Fields: crm.Fields{Name: crm.Some("Two"), Email: crm.Some("bad-email")}},
		{Fields: crm.Fields{Name: crm.Some("Three")}},
	}})
	want := []crm.ItemStatus{crm.StatusCreated, crm.StatusFailed, crm.StatusFailed, crm.StatusCreated}
	for i, w := range want {
		if results[i].Index != i || results[i].Status != w {
			t.Errorf("result %d = %+v, want %s", i, results[i], w)
		}
	}
	if e := results[1].Error; e == nil || e.Code != crm.EInvalid {
		t.Errorf("item with id: error %+v, want invalid", e)
	}
	if e := results[2].Error; e == nil || e.Code != crm.EUnprocessable || e.Vendor == nil || e.Vendor.Code != "email" {
		t.Errorf("vendor-refused item: error %+v, want unprocessable with vendor code email", e)
	}
	if n := e.sim.CustomerCount(); n != 2 {
		t.Errorf("simulator holds %d customers, want 2", n)
	}
	if n := e.sim.Stats().Operations["POST /customers"]; n != 3 {
		t.Errorf("%d POST /customers, want 3 (the item with an id is refused locally)", n)
	}
}

func TestUpsertCreatesThenUpdates(t *testing.T) {
	e := newEnv(t, hcsim.Config{}, "", nil)
	ctx := context.Background()
	steps := []struct {
		name   string
		item   crm.Fields
		status crm.ItemStatus
		check  func(t *testing.T, c hcsim.Customer)
	}{
		{
			name:   "no match: created",
			item:   crm.Fields{ExternalID: crm.Some("u-1"), Email: crm.Some("ana@example.com"), Name: crm.Some("Ana"), Company: crm.Some("A Co")},
			status: crm.StatusCreated,
			check: func(t *testing.T, c hcsim.Customer) {
				if c.Fields["userId"] != "u-1" || c.Fields["company"] != "A Co" {
					t.Errorf("created customer = %v", c.Fields)
				}
			},
		},
		{
			name:   "found by external_id: updated",
			item:   crm.Fields{ExternalID: crm.Some("u-1"), Company: crm.Some("B Co")},
			status: crm.StatusUpdated,
			check: func(t *testing.T, c hcsim.Customer) {
				if c.Fields["company"] != "B Co" || c.Fields["email"] != "ana@example.com" || c.Fields["name"] != "Ana" {
					t.Errorf("updated customer = %v", c.Fields)
				}
			},
		},
		{
			name:   "found by email: updated",
			item:   crm.Fields{Email: crm.Some("ana@example.com"), Notes: crm.Some("via email")},
			status: crm.StatusUpdated,
			check: func(t *testing.T, c hcsim.Customer) {
				if c.Fields["notes"] != "via email" || c.Fields["company"] != "B Co" || c.Fields["userId"] != "u-1" {
					t.Errorf("updated customer = %v", c.Fields)
				}
			},
		},
		{
			name:   "external_id misses, email matches: updated",
			item:   crm.Fields{ExternalID: crm.Some("u-unknown"), Email: crm.Some("ana@example.com"), Locale: crm.Some("pt")},
			status: crm.StatusUpdated,
			check: func(t *testing.T, c hcsim.Customer) {
				if c.Fields["locale"] != "pt" {
					t.Errorf("updated customer = %v", c.Fields)
				}
			},
		},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			results := e.a.WriteBatch(ctx, crm.Batch{Mode: crm.ModeUpsert, Customers: []crm.CustomerWrite{{Fields: s.item}}})
			r := results[0]
			if r.Status != s.status || r.Customer == nil || r.Customer.ID != "1" {
				t.Fatalf("result = %+v (error %+v), want %s of customer 1", r, r.Error, s.status)
			}
			if n := e.sim.CustomerCount(); n != 1 {
				t.Errorf("simulator holds %d customers, want 1", n)
			}
			s.check(t, simCustomer(t, e.sim, "1"))
		})
	}
	st := e.sim.Stats()
	if st.Operations["POST /customers"] != 1 || st.Operations["PUT /customers/batch"] != 3 {
		t.Errorf("operations = %v, want 1 create and 3 batch updates", st.Operations)
	}
}

func TestUpsertErrors(t *testing.T) {
	e := newEnv(t, hcsim.Config{}, "", nil)
	ctx := context.Background()
	for _, email := range []string{"twin@example.com", "twin@example.com"} {
		if _, err := e.a.CreateCustomer(ctx, crm.CustomerWrite{Fields: crm.Fields{Email: crm.Some(email)}}); err != nil {
			t.Fatal(err)
		}
	}
	e.sim.ResetStats()
	results := e.a.WriteBatch(ctx, crm.Batch{Mode: crm.ModeUpsert, Customers: []crm.CustomerWrite{
		{Fields: crm.Fields{Name: crm.Some("no key")}},
		{Fields: crm.Fields{Email: crm.Some("twin@example.com"), Notes: crm.Some("which one?")}},
	}})
	if r := results[0]; r.Status != crm.StatusFailed || r.Error.Code != crm.EInvalid {
		t.Errorf("upsert without a key = %+v, want invalid", r)
	}
	if r := results[1]; r.Status != crm.StatusFailed || r.Error.Code != crm.EConflict {
		t.Errorf("upsert matching two customers = %+v, want conflict", r)
	}
	if st := e.sim.Stats(); st.Operations["POST /customers/search"] != 1 || st.Requests != 1 {
		t.Errorf("simulator saw %+v, want a single search", st)
	}
}

func TestWrongAPIKey(t *testing.T) {
	const badKey = "wrong-key-s3cr3t"
	e := newEnv(t, hcsim.Config{}, badKey, nil)
	_, err := e.a.CreateCustomer(context.Background(), crm.CustomerWrite{Fields: crm.Fields{Name: crm.Some("Ana")}})
	ce := crmErr(t, err)
	if ce.Code != crm.EVendor || ce.Vendor != crm.VendorHelpCrunch {
		t.Errorf("error = %+v, want vendor_error from helpcrunch", ce)
	}
	if ce.Remote == nil || ce.Remote.Status != http.StatusUnauthorized || ce.Remote.Code != "unauthorized" || ce.Remote.Message != "Unauthorized" {
		t.Errorf("remote = %+v, want 401 unauthorized", ce.Remote)
	}
	if strings.Contains(err.Error(), badKey) || strings.Contains(ce.Message, badKey) {
		t.Errorf("error %q leaks the API key", err)
	}
	if st := e.sim.Stats(); st.Requests != 1 || st.Rejected != 1 || e.sim.CustomerCount() != 0 {
		t.Errorf("simulator saw %+v; a 401 must not be retried", st)
	}

	results := e.a.WriteBatch(context.Background(), crm.Batch{Mode: crm.ModeUpdate, Customers: []crm.CustomerWrite{
		{ID: "1", Fields: crm.Fields{Notes: crm.Some("x")}}, {ID: "2", Fields: crm.Fields{Notes: crm.Some("y")}},
	}})
	for i, r := range results {
		if r.Status != crm.StatusFailed || r.Error.Code != crm.EVendor || r.Error.Vendor == nil || r.Error.Vendor.Status != http.StatusUnauthorized {
			t.Errorf("batch result %d = %+v, want vendor_error with 401", i, r)
		}
	}
}

// fakeClock is a settable clock for the simulator's rate window.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// statusHook calls after with the status of every answer.
type statusHook struct {
	next  http.Handler
	after func(status int)
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (r *statusRecorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (h statusHook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	h.next.ServeHTTP(rec, r)
	h.after(rec.status)
}

func TestVendor429(t *testing.T) {
	tests := []struct {
		name string
		// windowPasses: the simulator's window moves on after its first 429,
		// as it would while the client backs off.
		windowPasses bool
		requests     int // simulator requests for the third create
		rateLimited  int
		wantErr      string
		customers    int
	}{
		{name: "retried after the window moves on", windowPasses: true, requests: 2, rateLimited: 1, customers: 3},
		{name: "still limited after every attempt", windowPasses: false, requests: 3, rateLimited: 3, wantErr: crm.ERateLimited, customers: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			wrap := func(h http.Handler) http.Handler {
				return statusHook{next: h, after: func(status int) {
					if status == http.StatusTooManyRequests && tt.windowPasses {
						clock.Add(time.Minute)
					}
				}}
			}
			e := newEnv(t, hcsim.Config{Limit: 2, Window: time.Minute, Now: clock.Now}, "", wrap)
			ctx := context.Background()
			for i := range 2 {
				if _, err := e.a.CreateCustomer(ctx, crm.CustomerWrite{Fields: crm.Fields{Name: crm.Some("n" + strconv.Itoa(i))}}); err != nil {
					t.Fatalf("create %d within the limit: %v", i, err)
				}
			}
			e.sim.ResetStats()

			c, err := e.a.CreateCustomer(ctx, crm.CustomerWrite{Fields: crm.Fields{Name: crm.Some("third")}})
			st := e.sim.Stats()
			if st.Requests != tt.requests || st.RateLimited != tt.rateLimited {
				t.Errorf("simulator saw %d requests, %d rate limited; want %d, %d", st.Requests, st.RateLimited, tt.requests, tt.rateLimited)
			}
			if n := e.sim.CustomerCount(); n != tt.customers {
				t.Errorf("simulator holds %d customers, want %d", n, tt.customers)
			}
			if tt.wantErr == "" {
				if err != nil || c == nil || c.Name != "third" {
					t.Fatalf("create after a 429 = %+v, %v; want the customer", c, err)
				}
				return
			}
			ce := crmErr(t, err)
			if ce.Code != tt.wantErr || ce.Outcome != crm.OutcomeNotApplied {
				t.Errorf("error = %+v, want %s, not applied", ce, tt.wantErr)
			}
			if ce.Remote == nil || ce.Remote.Status != http.StatusTooManyRequests || ce.Remote.Code != "too_many_requests" {
				t.Errorf("remote = %+v, want the vendor's 429 too_many_requests", ce.Remote)
			}
		})
	}
}

func TestOpenFromConfig(t *testing.T) {
	sim := hcsim.New(hcsim.Config{APIKey: "cfg-key"})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	conn, err := adapters.Open("hc", &config.Connection{
		Vendor: crm.VendorHelpCrunch, BaseURL: srv.URL + "/v1", Timeout: 5 * time.Second,
		Credentials: config.Credentials{APIKey: "cfg-key"},
		Limits:      config.Limits{Requests: 1000, Period: time.Second, Burst: 100, MaxWait: time.Second, BatchSize: 50},
	}, adapters.Deps{HTTP: srv.Client(), Limiter: ratelimit.NewLocal()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if conn.BatchSize() != helpcrunch.MaxBatch {
		t.Errorf("batch size = %d, want capped at %d", conn.BatchSize(), helpcrunch.MaxBatch)
	}
	c, err := conn.CreateCustomer(context.Background(), crm.CustomerWrite{Fields: crm.Fields{Name: crm.Some("Via config")}})
	if err != nil || c.Name != "Via config" || sim.CustomerCount() != 1 {
		t.Fatalf("create through an opened connection = %+v, %v", c, err)
	}
}

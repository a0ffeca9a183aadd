package zenvia_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/adapters"
	"github.com/crm-gateway/crm-gateway/internal/adapters/zenvia"
	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
	zsim "github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

// tickClock moves one second on every reading, so that every simulator
// request happens at its own time and Zenvia's date_creation/change_date
// tell creates from updates deterministically.
type tickClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *tickClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(time.Second)
	return c.t
}

type env struct {
	sim *zsim.Sim
	a   *zenvia.Adapter
}

// newEnv starts a simulator for cfg and an adapter using token ("" = the
// simulator's token) over real HTTP.
func newEnv(t *testing.T, cfg zsim.Config, token string) *env {
	t.Helper()
	if cfg.Now == nil {
		cfg.Now = (&tickClock{t: time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)}).Now
	}
	sim := zsim.New(cfg)
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	if token == "" {
		token = zsim.DefaultToken
		if cfg.Token != "" {
			token = cfg.Token
		}
	}
	client := &vendorhttp.Client{
		Vendor: crm.VendorZenvia, Bucket: "zenvia-test", BaseURL: srv.URL, HTTP: srv.Client(),
		Limiter: ratelimit.NewLocal(), Limit: ratelimit.Limit{Rate: 10000, Period: time.Second, Burst: 1000},
		MaxWait: 2 * time.Second, Timeout: 5 * time.Second,
		Retry: vendorhttp.Retry{Attempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, MaxRetryAfter: 50 * time.Millisecond},
	}
	return &env{sim: sim, a: zenvia.New(client, token, 0)}
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
	e := newEnv(t, zsim.Config{}, "")
	c, err := e.a.CreateCustomer(context.Background(), crm.CustomerWrite{Fields: crm.Fields{
		FirstName:    crm.Some("Maria"),
		LastName:     crm.Some("Silva"),
		Phone:        crm.Some("5511999990000"),
		Email:        crm.Some("maria@example.com"),
		CustomFields: map[string]any{"plano": "gold"},
	}})
	if err != nil {
		t.Fatalf("CreateCustomer: %v", err)
	}
	stored, ok := e.sim.FindCustomer("channel_phone", "5511999990000")
	if !ok {
		t.Fatal("simulator has no customer with that phone")
	}
	if c.ID == "" || c.ID != stored.Key {
		t.Errorf("id = %q, want the customer_key %q", c.ID, stored.Key)
	}
	if c.Vendor != crm.VendorZenvia || c.Name != "Maria Silva" || c.Phone != "5511999990000" || c.Email != "maria@example.com" {
		t.Errorf("read-back = %+v", c)
	}
	if len(c.CustomFields) != 1 || c.CustomFields["plano"] != "gold" {
		t.Errorf("read-back custom fields = %v, want only plano (unset fields are dropped)", c.CustomFields)
	}
	want := map[string]string{"main_identifier": "Maria Silva", "channel_phone": "5511999990000",
		"channel_email": "maria@example.com", "plano": "gold", "main_photo": ""}
	for k, v := range want {
		if stored.Fields[k] != v {
			t.Errorf("simulator %s = %q, want %q", k, stored.Fields[k], v)
		}
	}
	st := e.sim.Stats()
	if st.Requests != 1 || st.CustomersCreated != 1 || st.Operations["POST /api/external/customers"] != 1 {
		t.Errorf("simulator saw %+v, want one created customer", st)
	}
}

func TestCreateOrUpdateStatus(t *testing.T) {
	e := newEnv(t, zsim.Config{}, "")
	steps := []struct {
		name   string
		f      crm.Fields
		status crm.ItemStatus
		fields map[string]string // what the simulator then holds
	}{
		{
			name:   "new phone: created",
			f:      crm.Fields{Name: crm.Some("Maria"), Phone: crm.Some("5511999990000"), Email: crm.Some("maria@example.com")},
			status: crm.StatusCreated,
			fields: map[string]string{"main_identifier": "Maria", "channel_phone": "5511999990000", "channel_email": "maria@example.com"},
		},
		{
			name:   "same phone: updated",
			f:      crm.Fields{Name: crm.Some("Maria Silva"), Phone: crm.Some("5511999990000"), CustomFields: map[string]any{"plano": "pro"}},
			status: crm.StatusUpdated,
			fields: map[string]string{"main_identifier": "Maria Silva", "channel_email": "maria@example.com", "plano": "pro"},
		},
		{
			name:   "same email, null clears the phone: updated",
			f:      crm.Fields{Name: crm.Some("Maria S."), Email: crm.Some("maria@example.com"), Phone: crm.Null[string]()},
			status: crm.StatusUpdated,
			fields: map[string]string{"main_identifier": "Maria S.", "channel_phone": "", "channel_email": "maria@example.com", "plano": "pro"},
		},
	}
	var key string
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			r := e.a.WriteBatch(context.Background(), crm.Batch{Mode: crm.ModeUpsert, Customers: []crm.CustomerWrite{{Fields: s.f}}})[0]
			if r.Status != s.status || r.Customer == nil {
				t.Fatalf("result = %+v (error %+v), want %s", r, r.Error, s.status)
			}
			if key == "" {
				key = r.Customer.ID
			}
			if r.Customer.ID != key {
				t.Errorf("id = %q, want the same customer %q", r.Customer.ID, key)
			}
			if n := e.sim.CustomerCount(); n != 1 {
				t.Errorf("simulator holds %d customers, want 1", n)
			}
			stored, _ := e.sim.CustomerByKey(key)
			for k, v := range s.fields {
				if stored.Fields[k] != v {
					t.Errorf("simulator %s = %q, want %q", k, stored.Fields[k], v)
				}
			}
		})
	}
}

func TestSameCustomerTwiceInOneBatch(t *testing.T) {
	e := newEnv(t, zsim.Config{}, "")
	results := e.a.WriteBatch(context.Background(), crm.Batch{Mode: crm.ModeUpsert, Customers: []crm.CustomerWrite{
		{Fields: crm.Fields{Name: crm.Some("First"), Phone: crm.Some("5511000000001")}},
		{Fields: crm.Fields{Name: crm.Some("Second"), Phone: crm.Some("5511000000001")}},
	}})
	if n := e.sim.CustomerCount(); n != 1 {
		t.Fatalf("simulator holds %d customers, want 1", n)
	}
	if st := e.sim.Stats(); st.CustomersCreated != 1 || st.CustomersUpdated != 1 {
		t.Fatalf("simulator stats %+v, want 1 created and 1 updated", st)
	}
	if results[0].Status != crm.StatusCreated || results[1].Status != crm.StatusUpdated {
		t.Errorf("statuses = %s, %s; want created, updated", results[0].Status, results[1].Status)
	}
	if results[0].Customer.ID != results[1].Customer.ID || results[1].Customer.Name != "Second" {
		t.Errorf("customers = %+v, %+v", results[0].Customer, results[1].Customer)
	}
}

func TestMixedBatch(t *testing.T) {
	e := newEnv(t, zsim.Config{}, "")
	ctx := context.Background()
	// An existing customer, so the batch holds an update too.
	if _, err := e.a.CreateCustomer(ctx, crm.CustomerWrite{Fields: crm.Fields{Name: crm.Some("Old"), Phone: crm.Some("5511000000009")}}); err != nil {
		t.Fatal(err)
	}
	before := e.sim.Stats()

	items := []crm.CustomerWrite{
		0: {Fields: crm.Fields{Name: crm.Some("New One"), Phone: crm.Some("5511000000001")}},
		1: {Fields: crm.Fields{Phone: crm.Some("5511000000002")}}, // no main_identifier: refused locally
		2: {Fields: crm.Fields{Name: crm.Some("Unknown Field"), Phone: crm.Some("5511000000003"),
			CustomFields: map[string]any{"nope": "x"}}}, // refused by the vendor
		3: {Fields: crm.Fields{Name: crm.Some("Old Renamed"), Phone: crm.Some("5511000000009")}},
		4: {Fields: crm.Fields{Name: crm.Some("Bad Agent"), Email: crm.Some("agent@example.com"),
			VendorFields: map[string]any{"agent_id": 9999}}}, // refused by the vendor
		5: {Fields: crm.Fields{Name: crm.Some("Has Gender"), Gender: crm.Some("male")}}, // unsupported: refused locally
		6: {ID: "some-key", Fields: crm.Fields{Name: crm.Some("By Id")}},                // no lookup by id
		7: {Fields: crm.Fields{Name: crm.Some("Good Agent"), Email: crm.Some("good@example.com"),
			VendorFields: map[string]any{"agent_id": 1}}},
	}
	results := e.a.WriteBatch(ctx, crm.Batch{Mode: crm.ModeUpsert, Customers: items})

	want := []struct {
		status crm.ItemStatus
		code   string
		vendor []string // the vendor's error strings, when the vendor refused the item
		field  string   // the field named, when refused locally
	}{
		0: {status: crm.StatusCreated},
		1: {status: crm.StatusFailed, code: crm.EUnprocessable, field: "name"},
		2: {status: crm.StatusFailed, code: crm.EUnprocessable, vendor: []string{"field: nope not found"}},
		3: {status: crm.StatusUpdated},
		4: {status: crm.StatusFailed, code: crm.EUnprocessable, vendor: []string{"agent_id: 9999 not found"}},
		5: {status: crm.StatusFailed, code: crm.EUnprocessable, field: "gender"},
		6: {status: crm.StatusFailed, code: crm.EInvalid, field: "id"},
		7: {status: crm.StatusCreated},
	}
	if len(results) != len(want) {
		t.Fatalf("%d results, want %d", len(results), len(want))
	}
	for i, w := range want {
		r := results[i]
		if r.Index != i || r.Status != w.status {
			t.Errorf("result %d = %+v (error %+v), want %s", i, r, r.Error, w.status)
			continue
		}
		if w.code == "" {
			if r.Customer == nil || r.Customer.Name != items[i].Name.Value() {
				t.Errorf("result %d customer = %+v, want %q", i, r.Customer, items[i].Name.Value())
			}
			continue
		}
		if r.Error == nil || r.Error.Code != w.code {
			t.Errorf("result %d error = %+v, want %s", i, r.Error, w.code)
			continue
		}
		if w.field != "" && (len(r.Error.Fields) == 0 || r.Error.Fields[0].Field != w.field || r.Error.Vendor != nil) {
			t.Errorf("result %d error = %+v, want a local refusal naming %s", i, r.Error, w.field)
		}
		if w.vendor != nil {
			v := r.Error.Vendor
			if v == nil || len(v.Errors) != len(w.vendor) {
				t.Errorf("result %d vendor = %+v, want errors %q", i, v, w.vendor)
				continue
			}
			for k, msg := range w.vendor {
				if v.Errors[k].Message != msg {
					t.Errorf("result %d vendor error %d = %q, want %q", i, k, v.Errors[k].Message, msg)
				}
			}
		}
	}

	st := e.sim.Stats()
	if st.Requests-before.Requests != 1 || st.ItemsReceived-before.ItemsReceived != 5 || st.CustomerErrors != 2 ||
		st.CustomersCreated-before.CustomersCreated != 2 || st.CustomersUpdated != 1 {
		t.Errorf("simulator saw %+v (before the batch %+v), want one request with 5 items: 2 created, 1 updated, 2 refused", st, before)
	}
	if c, ok := e.sim.FindCustomer("channel_phone", "5511000000009"); !ok || c.Fields["main_identifier"] != "Old Renamed" {
		t.Errorf("existing customer = %+v, want renamed", c)
	}
	if c, ok := e.sim.FindCustomer("channel_email", "good@example.com"); !ok || c.AgentID != 1 {
		t.Errorf("vendor_fields agent_id not stored: %+v", c)
	}
	if e.sim.CustomerCount() != 3 {
		t.Errorf("simulator holds %d customers, want 3", e.sim.CustomerCount())
	}
}

// TestPairingWithIdenticalFields checks that results are paired with the
// items sent even when a rejected item has the same fields as an accepted
// one, since Zenvia's errors[] carries no index.
func TestPairingWithIdenticalFields(t *testing.T) {
	same := crm.Fields{Name: crm.Some("Twin"), Phone: crm.Some("5511000000077")}
	bad := same
	bad.VendorFields = map[string]any{"agent_id": 4242}
	for _, tt := range []struct {
		name  string
		items []crm.Fields
		bad   int // index of the item the vendor rejects
	}{
		{"accepted first", []crm.Fields{same, bad}, 1},
		{"rejected first", []crm.Fields{bad, same}, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, zsim.Config{}, "")
			batch := crm.Batch{Mode: crm.ModeUpsert}
			for _, f := range tt.items {
				batch.Customers = append(batch.Customers, crm.CustomerWrite{Fields: f})
			}
			results := e.a.WriteBatch(context.Background(), batch)
			for i, r := range results {
				if i != tt.bad {
					if r.Status != crm.StatusCreated || r.Customer == nil || r.Customer.Phone != "5511000000077" {
						t.Errorf("result %d = %+v (error %+v), want created", i, r, r.Error)
					}
					continue
				}
				if r.Status != crm.StatusFailed || r.Error.Vendor == nil ||
					len(r.Error.Vendor.Errors) != 1 || r.Error.Vendor.Errors[0].Message != "agent_id: 4242 not found" {
					t.Errorf("result %d = %+v (error %+v), want failed with agent_id not found", i, r, r.Error)
				}
			}
			if st := e.sim.Stats(); st.CustomersCreated != 1 || st.CustomerErrors != 1 {
				t.Errorf("simulator stats %+v, want 1 created, 1 refused", st)
			}
		})
	}
}

func TestVendorRefusesWholeRequest(t *testing.T) {
	e := newEnv(t, zsim.Config{MaxCustomersPerRequest: 2}, "")
	results := e.a.WriteBatch(context.Background(), crm.Batch{Mode: crm.ModeCreate, Customers: []crm.CustomerWrite{
		{Fields: crm.Fields{Name: crm.Some("A")}}, {Fields: crm.Fields{Name: crm.Some("B")}}, {Fields: crm.Fields{Name: crm.Some("C")}},
	}})
	for i, r := range results {
		if r.Status != crm.StatusFailed || r.Error.Code != crm.EUnprocessable {
			t.Errorf("result %d = %+v, want unprocessable", i, r)
			continue
		}
		v := r.Error.Vendor
		if v == nil || v.Status != http.StatusUnprocessableEntity || v.Code != "422" || !strings.Contains(v.Message, "at most 2 customers") {
			t.Errorf("result %d vendor = %+v, want the vendor's 422 message", i, v)
		}
	}
	if e.sim.CustomerCount() != 0 {
		t.Error("a refused request stored customers")
	}
}

func TestWrongToken(t *testing.T) {
	const badToken = "wrong-token-s3cr3t"
	e := newEnv(t, zsim.Config{}, badToken)
	_, err := e.a.CreateCustomer(context.Background(), crm.CustomerWrite{Fields: crm.Fields{Name: crm.Some("Maria")}})
	ce := crmErr(t, err)
	if ce.Code != crm.EVendor || ce.Vendor != crm.VendorZenvia {
		t.Errorf("error = %+v, want vendor_error from zenvia", ce)
	}
	if ce.Remote == nil || ce.Remote.Status != http.StatusUnauthorized || ce.Remote.Code != "401" || ce.Remote.Message != "Unauthenticated: invalid token" {
		t.Errorf("remote = %+v, want the vendor's 401", ce.Remote)
	}
	if strings.Contains(err.Error(), badToken) {
		t.Errorf("error %q leaks the token", err)
	}
	if st := e.sim.Stats(); st.Requests != 1 || st.Rejected != 1 || e.sim.CustomerCount() != 0 {
		t.Errorf("simulator saw %+v; a 401 must not be retried", st)
	}
}

func TestUnsupported(t *testing.T) {
	e := newEnv(t, zsim.Config{}, "")
	_, err := e.a.UpdateCustomer(context.Background(), "any-key", crm.Fields{Name: crm.Some("x")})
	if ce := crmErr(t, err); ce.Code != crm.ENotImplemented || ce.Capability != crm.CapCustomerUpdate {
		t.Errorf("UpdateCustomer error = %+v, want not_implemented customers.update", ce)
	}
	results := e.a.WriteBatch(context.Background(), crm.Batch{Mode: crm.ModeUpdate, Customers: []crm.CustomerWrite{
		{ID: "k1", Fields: crm.Fields{Name: crm.Some("x")}}, {Fields: crm.Fields{Name: crm.Some("y")}},
	}})
	for i, r := range results {
		if r.Status != crm.StatusFailed || r.Error.Code != crm.ENotImplemented {
			t.Errorf("batch update result %d = %+v, want not_implemented", i, r)
		}
	}
	if n := e.sim.Stats().Requests; n != 0 {
		t.Errorf("simulator got %d requests, want none", n)
	}
}

func TestOpenFromConfig(t *testing.T) {
	sim := zsim.New(zsim.Config{Token: "cfg-token"})
	t.Cleanup(sim.Close)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	conn, err := adapters.Open("zenvia", &config.Connection{
		Vendor: crm.VendorZenvia, BaseURL: srv.URL, Timeout: 5 * time.Second,
		Credentials: config.Credentials{Token: "cfg-token"},
		Limits:      config.Limits{Requests: 1000, Period: time.Second, Burst: 100, MaxWait: time.Second, BatchSize: 20},
	}, adapters.Deps{HTTP: srv.Client(), Limiter: ratelimit.NewLocal()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if conn.BatchSize() != 20 {
		t.Errorf("batch size = %d, want 20", conn.BatchSize())
	}
	c, err := conn.CreateCustomer(context.Background(), crm.CustomerWrite{Fields: crm.Fields{Name: crm.Some("Via config")}})
	if err != nil || c.Name != "Via config" || sim.CustomerCount() != 1 {
		t.Fatalf("create through an opened connection = %+v, %v", c, err)
	}
}

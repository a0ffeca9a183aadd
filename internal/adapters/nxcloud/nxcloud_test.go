package nxcloud_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/adapters"
	"github.com/crm-gateway/crm-gateway/internal/adapters/nxcloud"
	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
	nxsim "github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
)

type env struct {
	sim *nxsim.Sim
	a   *nxcloud.Adapter
}

// defaultAccount is the account the simulator accepts by default.
func defaultAccount() nxcloud.Account {
	return nxcloud.Account{AccessKey: nxsim.DefaultAccessKey, AccessSecret: nxsim.DefaultAccessSecret,
		TenantID: nxsim.DefaultTenantID, AppKey: nxsim.DefaultAppKey}
}

// newEnv starts a simulator for cfg and an adapter for acct over real
// HTTP. Unless badSignOK, the test fails if the simulator ever answered
// 1003 (bad signature): every request the adapter signs must verify.
func newEnv(t *testing.T, cfg nxsim.Config, acct nxcloud.Account, badSignOK bool) *env {
	t.Helper()
	sim := nxsim.New(cfg)
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	if !badSignOK {
		t.Cleanup(func() {
			if n := sim.Stats().Codes[nxsim.CodeBadSignature]; n > 0 {
				t.Errorf("the simulator refused %d signatures (code 1003)", n)
			}
		})
	}
	client := &vendorhttp.Client{
		Vendor: crm.VendorNXCloud, Bucket: "nx-test", BaseURL: srv.URL, HTTP: srv.Client(),
		Limiter: ratelimit.NewLocal(), Limit: ratelimit.Limit{Rate: 10000, Period: time.Second, Burst: 1000},
		MaxWait: 2 * time.Second, Timeout: 5 * time.Second,
		Retry: vendorhttp.Retry{Attempts: 3, BaseDelay: time.Millisecond, MaxDelay: 2 * time.Millisecond, MaxRetryAfter: 50 * time.Millisecond},
	}
	return &env{sim: sim, a: nxcloud.New(client, acct, 0)}
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
	e := newEnv(t, nxsim.Config{}, defaultAccount(), false)
	f := crm.Fields{
		Name:          crm.Some("张 三"),
		Phone:         crm.Some("18163725558"),
		WhatsAppPhone: crm.Some("18667728886"),
		Email:         crm.Some("n.yxceiqtqc@qq.com"),
		Country:       crm.Some("中国"),
		Address:       crm.Some("贵州省 <b> & \"quoted\""),
		Birthday:      crm.Some("1976-04-12"),
		Gender:        crm.Some("female"),
		Timezone:      crm.Some("GMT+8"),
		Notes:         crm.Some("nisi amet"),
		Tags:          crm.Some([]crm.Tag{{Name: "test", Color: "#ff0000"}, {Name: "99"}}),
		CustomFields:  map[string]any{"customize_1_14": "aa", "customize_2_15": 42},
	}
	r := e.a.WriteBatch(context.Background(), crm.Batch{Mode: crm.ModeCreate, Customers: []crm.CustomerWrite{{Fields: f}}})[0]
	if r.Status != crm.StatusAccepted || r.Customer == nil {
		t.Fatalf("result = %+v (error %+v), want accepted", r, r.Error)
	}

	// The customer is normalized from what was sent: NXCloud answers no record.
	c := r.Customer
	for _, f := range []struct{ name, got, want string }{
		{"id", c.ID, ""},
		{"vendor", c.Vendor, crm.VendorNXCloud},
		{"name", c.Name, "张 三"},
		{"first_name", c.FirstName, "张"},
		{"last_name", c.LastName, "三"},
		{"phone", c.Phone, "18163725558"},
		{"whatsapp_phone", c.WhatsAppPhone, "18667728886"},
		{"email", c.Email, "n.yxceiqtqc@qq.com"},
		{"country", c.Country, "中国"},
		{"address", c.Address, "贵州省 <b> & \"quoted\""},
		{"birthday", c.Birthday, "1976-04-12"},
		{"gender", c.Gender, "female"},
		{"timezone", c.Timezone, "GMT+8"},
		{"notes", c.Notes, "nisi amet"},
	} {
		if f.got != f.want {
			t.Errorf("customer %s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if len(c.Tags) != 2 || c.Tags[0] != (crm.Tag{Name: "test"}) || c.Tags[1] != (crm.Tag{Name: "99"}) {
		t.Errorf("customer tags = %+v, want test, 99 without colours", c.Tags)
	}
	if c.CustomFields["customize_1_14"] != "aa" || c.CustomFields["customize_2_15"] != float64(42) {
		t.Errorf("customer custom fields = %v", c.CustomFields)
	}

	// What the simulator holds.
	if n := e.sim.CustomerCount(); n != 1 {
		t.Fatalf("simulator holds %d customers, want 1", n)
	}
	got := e.sim.Customers()[0]
	want := nxsim.Customer{
		FirstName: "张", LastName: "三", SMSPhone: "18163725558", WhatsAppPhone: "18667728886",
		Country: "中国", Email: "n.yxceiqtqc@qq.com", Address: "贵州省 <b> & \"quoted\"",
		Birthday: "1976-04-12", Remark: "nisi amet", TimeZone: "GMT+8",
	}
	for _, f := range []struct{ name, got, want string }{
		{"first_name", got.FirstName, want.FirstName}, {"last_name", got.LastName, want.LastName},
		{"sms_phone", got.SMSPhone, want.SMSPhone}, {"whats_app_phone", got.WhatsAppPhone, want.WhatsAppPhone},
		{"country", got.Country, want.Country}, {"email", got.Email, want.Email},
		{"address", got.Address, want.Address}, {"birthday", got.Birthday, want.Birthday},
		{"remark", got.Remark, want.Remark}, {"time_zone", got.TimeZone, want.TimeZone},
	} {
		if f.got != f.want {
			t.Errorf("simulator %s = %q, want %q", f.name, f.got, f.want)
		}
	}
	if got.Gender == nil || *got.Gender != 0 {
		t.Errorf("simulator gender = %v, want 0 (female)", got.Gender)
	}
	if !slices.Equal(got.Tags, []string{"test", "99"}) {
		t.Errorf("simulator tags = %q, want [test 99]", got.Tags)
	}
	if len(got.CustomFields) != 2 || got.CustomFields["customize_1_14"] != "aa" || got.CustomFields["customize_2_15"] != "42" {
		t.Errorf("simulator custom fields = %v", got.CustomFields)
	}
	st := e.sim.Stats()
	if st.Requests != 1 || st.Codes[nxsim.CodeOK] != 1 || st.CustomersCreated != 1 || st.Operations["POST "+nxsim.PathBatchCreate] != 1 {
		t.Errorf("simulator saw %+v, want one accepted batch_create", st)
	}

	// CreateCustomer answers the same normalized customer.
	c2, err := e.a.CreateCustomer(context.Background(), crm.CustomerWrite{Fields: crm.Fields{
		FirstName: crm.Some("李"), LastName: crm.Some("四"), Gender: crm.Some("male"), Email: crm.Some("li@example.com"),
	}})
	if err != nil || c2.Name != "李 四" || c2.Gender != "male" {
		t.Fatalf("CreateCustomer = %+v, %v", c2, err)
	}
	if s, ok := e.sim.CustomerByEmail("li@example.com"); !ok || s.Gender == nil || *s.Gender != 1 {
		t.Errorf("simulator customer = %+v, want gender 1 (male)", s)
	}
}

// TestSignatureAccepted sends bodies whose encoding is easy to get wrong
// between signing and sending: escapes, multibyte text, a full batch.
func TestSignatureAccepted(t *testing.T) {
	full := make([]crm.CustomerWrite, nxcloud.MaxBatch)
	for i := range full {
		full[i] = crm.CustomerWrite{Fields: crm.Fields{
			Name: crm.Some("Cliente Número " + strconv.Itoa(i)), Email: crm.Some("c" + strconv.Itoa(i) + "@example.com"),
		}}
	}
	for _, tt := range []struct {
		name  string
		items []crm.CustomerWrite
	}{
		{"html characters", []crm.CustomerWrite{{Fields: crm.Fields{Name: crm.Some("A <script>&amp; B"), Notes: crm.Some("a&body=b&accessSecret=c")}}}},
		{"quotes and backslashes", []crm.CustomerWrite{{Fields: crm.Fields{Name: crm.Some(`Q "uote" \back\slash`)}}}},
		{"emoji and CJK", []crm.CustomerWrite{{Fields: crm.Fields{Name: crm.Some("牛小信 🐮"), CustomFields: map[string]any{"customize_1_14": "昵称 ✓"}}}}},
		{"line breaks", []crm.CustomerWrite{{Fields: crm.Fields{Name: crm.Some("Line\nBreak\t Tab"), Address: crm.Some("\u2028\u2029")}}}},
		{"full batch of 100", full},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nxsim.Config{}, defaultAccount(), false)
			results := e.a.WriteBatch(context.Background(), crm.Batch{Mode: crm.ModeCreate, Customers: tt.items})
			for i, r := range results {
				if r.Status != crm.StatusAccepted {
					t.Errorf("result %d = %+v (error %+v), want accepted", i, r, r.Error)
				}
			}
			st := e.sim.Stats()
			if st.Requests != 1 || st.Codes[nxsim.CodeOK] != 1 || st.ItemsReceived != len(tt.items) {
				t.Errorf("simulator saw %+v, want one accepted request of %d items", st, len(tt.items))
			}
			if n := e.sim.CustomerCount(); n != len(tt.items) {
				t.Errorf("simulator holds %d customers, want %d", n, len(tt.items))
			}
		})
	}
}

func TestUpsertOnConflict(t *testing.T) {
	seed := crm.Fields{
		Name:         crm.Some("Li Si"),
		Email:        crm.Some("li@example.com"),
		Country:      crm.Some("CN"),
		Gender:       crm.Some("male"),
		Notes:        crm.Some("old remark"),
		Tags:         crm.Some([]crm.Tag{{Name: "a"}}),
		CustomFields: map[string]any{"customize_1_14": "nick"},
	}
	upsert := crm.Fields{
		FirstName:    crm.Some("Li"),
		LastName:     crm.Some("Si-Updated"),
		Email:        crm.Some("li@example.com"),
		Notes:        crm.Some("new remark"),
		Tags:         crm.Some([]crm.Tag{{Name: "b"}}),
		CustomFields: map[string]any{"customize_2_15": 7},
	}
	male := 1
	tests := []struct {
		name       string
		mode       crm.Mode
		onConflict crm.OnConflict
		want       nxsim.Customer
		updated    int
		kept       int
	}{
		{
			name: "merge", mode: crm.ModeUpsert, onConflict: crm.OnConflictMerge, updated: 1,
			want: nxsim.Customer{FirstName: "Li", LastName: "Si-Updated", Email: "li@example.com", Country: "CN", Gender: &male,
				Remark: "new remark", Tags: []string{"a", "b"}, CustomFields: map[string]string{"customize_1_14": "nick", "customize_2_15": "7"}},
		},
		{
			name: "default is merge", mode: crm.ModeUpsert, updated: 1,
			want: nxsim.Customer{FirstName: "Li", LastName: "Si-Updated", Email: "li@example.com", Country: "CN", Gender: &male,
				Remark: "new remark", Tags: []string{"a", "b"}, CustomFields: map[string]string{"customize_1_14": "nick", "customize_2_15": "7"}},
		},
		{
			name: "replace", mode: crm.ModeUpsert, onConflict: crm.OnConflictReplace, updated: 1,
			want: nxsim.Customer{FirstName: "Li", LastName: "Si-Updated", Email: "li@example.com",
				Remark: "new remark", Tags: []string{"b"}, CustomFields: map[string]string{"customize_2_15": "7"}},
		},
		{
			name: "keep", mode: crm.ModeUpsert, onConflict: crm.OnConflictKeep, kept: 1,
			want: nxsim.Customer{FirstName: "Li", LastName: "Si", Email: "li@example.com", Country: "CN", Gender: &male,
				Remark: "old remark", Tags: []string{"a"}, CustomFields: map[string]string{"customize_1_14": "nick"}},
		},
		{
			name: "create never touches an existing customer", mode: crm.ModeCreate, kept: 1,
			want: nxsim.Customer{FirstName: "Li", LastName: "Si", Email: "li@example.com", Country: "CN", Gender: &male,
				Remark: "old remark", Tags: []string{"a"}, CustomFields: map[string]string{"customize_1_14": "nick"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nxsim.Config{}, defaultAccount(), false)
			ctx := context.Background()
			if _, err := e.a.CreateCustomer(ctx, crm.CustomerWrite{Fields: seed}); err != nil {
				t.Fatalf("seed: %v", err)
			}
			r := e.a.WriteBatch(ctx, crm.Batch{Mode: tt.mode, OnConflict: tt.onConflict, Customers: []crm.CustomerWrite{{Fields: upsert}}})[0]
			if r.Status != crm.StatusAccepted {
				t.Fatalf("result = %+v (error %+v), want accepted", r, r.Error)
			}
			if n := e.sim.CustomerCount(); n != 1 {
				t.Fatalf("simulator holds %d customers, want 1", n)
			}
			st := e.sim.Stats()
			if st.CustomersCreated != 1 || st.CustomersUpdated != tt.updated || st.CustomersKept != tt.kept {
				t.Errorf("simulator counted %d created, %d updated, %d kept; want 1, %d, %d",
					st.CustomersCreated, st.CustomersUpdated, st.CustomersKept, tt.updated, tt.kept)
			}
			got, _ := e.sim.CustomerByEmail("li@example.com")
			w := tt.want
			if got.FirstName != w.FirstName || got.LastName != w.LastName || got.Country != w.Country || got.Remark != w.Remark {
				t.Errorf("simulator customer = %+v, want %+v", got, w)
			}
			if (got.Gender == nil) != (w.Gender == nil) || (got.Gender != nil && *got.Gender != *w.Gender) {
				t.Errorf("simulator gender = %v, want %v", got.Gender, w.Gender)
			}
			if !slices.Equal(got.Tags, w.Tags) {
				t.Errorf("simulator tags = %q, want %q", got.Tags, w.Tags)
			}
			if len(got.CustomFields) != len(w.CustomFields) {
				t.Errorf("simulator custom fields = %v, want %v", got.CustomFields, w.CustomFields)
			}
			for k, v := range w.CustomFields {
				if got.CustomFields[k] != v {
					t.Errorf("simulator custom field %s = %q, want %q", k, got.CustomFields[k], v)
				}
			}
		})
	}
}

func TestRefusedLocally(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	valid := crm.Fields{FirstName: crm.Some("Ana"), LastName: crm.Some("Souza")}
	with := func(mod func(f *crm.Fields)) crm.Fields {
		f := valid
		mod(&f)
		return f
	}
	tests := []struct {
		name  string
		f     crm.Fields
		field string
	}{
		{"first_name over 128", with(func(f *crm.Fields) { f.FirstName = crm.Some(long(129)) }), "first_name"},
		{"last_name over 128", with(func(f *crm.Fields) { f.LastName = crm.Some(long(129)) }), "last_name"},
		{"email over 50", with(func(f *crm.Fields) { f.Email = crm.Some(long(41) + "@x.example") }), "email"},
		{"phone over 30", with(func(f *crm.Fields) { f.Phone = crm.Some(long(31)) }), "phone"},
		{"whatsapp over 30", with(func(f *crm.Fields) { f.WhatsAppPhone = crm.Some(long(31)) }), "whatsapp_phone"},
		{"country over 50", with(func(f *crm.Fields) { f.Country = crm.Some(long(51)) }), "country"},
		{"address over 100", with(func(f *crm.Fields) { f.Address = crm.Some(long(101)) }), "address"},
		{"notes over 100", with(func(f *crm.Fields) { f.Notes = crm.Some(long(101)) }), "notes"},
		{"multibyte notes over 100", with(func(f *crm.Fields) { f.Notes = crm.Some(strings.Repeat("牛", 101)) }), "notes"},
		{"no last name", crm.Fields{Name: crm.Some("Mononym")}, "last_name"},
		{"birthday format", with(func(f *crm.Fields) { f.Birthday = crm.Some("12/04/1976") }), "birthday"},
		{"unknown gender", with(func(f *crm.Fields) { f.Gender = crm.Some("other") }), "gender"},
		{"tag with a comma", with(func(f *crm.Fields) { f.Tags = crm.Some([]crm.Tag{{Name: "a,b"}}) }), "tags[0].name"},
		{"null clears nothing", with(func(f *crm.Fields) { f.Email = crm.Null[string]() }), "email"},
		{"unsupported field", with(func(f *crm.Fields) { f.Company = crm.Some("Co") }), "company"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newEnv(t, nxsim.Config{}, defaultAccount(), false)
			_, err := e.a.CreateCustomer(context.Background(), crm.CustomerWrite{Fields: tt.f})
			ce := crmErr(t, err)
			if ce.Code != crm.EUnprocessable || ce.Outcome != crm.OutcomeNotApplied {
				t.Errorf("error = %+v, want unprocessable, not applied", ce)
			}
			if !slices.ContainsFunc(ce.Fields, func(fe crm.FieldError) bool { return fe.Field == tt.field }) {
				t.Errorf("field errors = %+v, want one naming %s", ce.Fields, tt.field)
			}
			if n := e.sim.Stats().Requests; n != 0 {
				t.Errorf("simulator got %d requests, want none", n)
			}
		})
	}

	t.Run("only the valid items of a batch are sent", func(t *testing.T) {
		e := newEnv(t, nxsim.Config{}, defaultAccount(), false)
		results := e.a.WriteBatch(context.Background(), crm.Batch{Mode: crm.ModeUpsert, Customers: []crm.CustomerWrite{
			{Fields: with(func(f *crm.Fields) { f.Email = crm.Some("ok1@example.com") })},
			{Fields: with(func(f *crm.Fields) { f.Notes = crm.Some(long(101)) })},
			{ID: "7", Fields: valid},
			{Fields: with(func(f *crm.Fields) { f.Email = crm.Some("ok2@example.com") })},
		}})
		want := []struct {
			status crm.ItemStatus
			code   string
		}{{crm.StatusAccepted, ""}, {crm.StatusFailed, crm.EUnprocessable}, {crm.StatusFailed, crm.EInvalid}, {crm.StatusAccepted, ""}}
		for i, w := range want {
			if r := results[i]; r.Index != i || r.Status != w.status || (w.code != "" && r.Error.Code != w.code) {
				t.Errorf("result %d = %+v (error %+v), want %s %s", i, r, r.Error, w.status, w.code)
			}
		}
		if st := e.sim.Stats(); st.Requests != 1 || st.ItemsReceived != 2 || e.sim.CustomerCount() != 2 {
			t.Errorf("simulator saw %+v, want one request with the 2 valid items", st)
		}
	})
}

func TestVendorErrors(t *testing.T) {
	const badSecret = "wrong-secret-s3cr3t"
	badSecretAcct := defaultAccount()
	badSecretAcct.AccessSecret = badSecret
	otherTenant := defaultAccount()
	otherTenant.TenantID = 999
	valid := crm.Fields{FirstName: crm.Some("Ana"), LastName: crm.Some("Souza"), Email: crm.Some("ana@example.com")}
	// The simulator refuses a value outside a select field's options; the
	// adapter cannot know the account's catalogue, so only the vendor can.
	badOption := valid
	badOption.Email = crm.Some("other@example.com")
	badOption.CustomFields = map[string]any{"customize_4_17": "gold"}

	tests := []struct {
		name    string
		acct    nxcloud.Account
		cfg     nxsim.Config
		items   []crm.Fields
		code    string
		vcode   string
		message string // part of the vendor's message
	}{
		{name: "wrong secret", acct: badSecretAcct, items: []crm.Fields{valid},
			code: crm.EVendor, vcode: "1003", message: "signature"},
		{name: "other tenant", acct: otherTenant, items: []crm.Fields{valid},
			code: crm.EVendor, vcode: "1005", message: "permission"},
		{name: "clock skew", acct: defaultAccount(), cfg: nxsim.Config{Now: func() time.Time { return time.Now().Add(5 * time.Minute) }},
			items: []crm.Fields{valid}, code: crm.EVendor, vcode: "1004", message: "timestamp"},
		{name: "one bad item fails the request", acct: defaultAccount(), items: []crm.Fields{valid, badOption},
			code: crm.EUnprocessable, vcode: "1002", message: "customize_4_17"},
	}
	for _, tt := range tests {
		for _, status := range []int{http.StatusOK, http.StatusBadRequest} {
			t.Run(tt.name+"/HTTP "+strconv.Itoa(status), func(t *testing.T) {
				cfg := tt.cfg
				cfg.ErrorHTTPStatus = status
				e := newEnv(t, cfg, tt.acct, tt.vcode == "1003")
				batch := crm.Batch{Mode: crm.ModeUpsert}
				for _, f := range tt.items {
					batch.Customers = append(batch.Customers, crm.CustomerWrite{Fields: f})
				}
				results := e.a.WriteBatch(context.Background(), batch)
				for i, r := range results {
					if r.Status != crm.StatusFailed || r.Error == nil {
						t.Errorf("result %d = %+v, want failed", i, r)
						continue
					}
					ce := crmErr(t, r.Err())
					if ce.Code != tt.code || ce.Vendor != crm.VendorNXCloud || ce.Outcome != crm.OutcomeNotApplied {
						t.Errorf("result %d error = %+v, want %s from nxcloud, not applied", i, ce, tt.code)
					}
					v := ce.Remote
					if v == nil || v.Status != status || v.Code != tt.vcode || !strings.Contains(v.Message, tt.message) {
						t.Errorf("result %d vendor = %+v, want HTTP %d, code %s, message about %s", i, v, status, tt.vcode, tt.message)
					}
					if strings.Contains(r.Err().Error(), badSecret) {
						t.Errorf("error %q leaks the secret", r.Err())
					}
				}
				st := e.sim.Stats()
				if st.Requests != 1 || e.sim.CustomerCount() != 0 {
					t.Errorf("simulator saw %+v and holds %d customers; want one refused request, nothing stored", st, e.sim.CustomerCount())
				}
			})
		}
	}
}

func TestUnsupported(t *testing.T) {
	e := newEnv(t, nxsim.Config{}, defaultAccount(), false)
	_, err := e.a.UpdateCustomer(context.Background(), "1", crm.Fields{Notes: crm.Some("x")})
	if ce := crmErr(t, err); ce.Code != crm.ENotImplemented || ce.Capability != crm.CapCustomerUpdate {
		t.Errorf("UpdateCustomer error = %+v, want not_implemented customers.update", ce)
	}
	results := e.a.WriteBatch(context.Background(), crm.Batch{Mode: crm.ModeUpdate, Customers: []crm.CustomerWrite{
		{ID: "1", Fields: crm.Fields{Name: crm.Some("Ana Souza")}}, {Fields: crm.Fields{Name: crm.Some("Li Si")}},
	}})
	for i, r := range results {
		if ce := crmErr(t, r.Err()); r.Status != crm.StatusFailed || ce.Code != crm.ENotImplemented || ce.Capability != crm.CapCustomerBatchUpdate {
			t.Errorf("batch update result %d = %+v, want not_implemented customers.batch.update", i, r)
		}
	}
	if n := e.sim.Stats().Requests; n != 0 {
		t.Errorf("simulator got %d requests, want none", n)
	}
}

func TestOpenFromConfig(t *testing.T) {
	sim := nxsim.New(nxsim.Config{AccessKey: "cfg-ak", AccessSecret: "cfg-sk", TenantID: 7, AppKey: "cfg-app"})
	srv := httptest.NewServer(sim)
	t.Cleanup(srv.Close)
	conn, err := adapters.Open("nx", &config.Connection{
		Vendor: crm.VendorNXCloud, BaseURL: srv.URL, Timeout: 5 * time.Second,
		Credentials: config.Credentials{AccessKey: "cfg-ak", AccessSecret: "cfg-sk", TenantID: 7, AppKey: "cfg-app"},
		Limits:      config.Limits{Requests: 1000, Period: time.Second, Burst: 100, MaxWait: time.Second, BatchSize: 500},
	}, adapters.Deps{HTTP: srv.Client(), Limiter: ratelimit.NewLocal()})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	if conn.BatchSize() != nxcloud.MaxBatch {
		t.Errorf("batch size = %d, want capped at %d", conn.BatchSize(), nxcloud.MaxBatch)
	}
	c, err := conn.CreateCustomer(context.Background(), crm.CustomerWrite{Fields: crm.Fields{Name: crm.Some("Via Config")}})
	if err != nil || c.LastName != "Config" || sim.CustomerCount() != 1 {
		t.Fatalf("create through an opened connection = %+v, %v", c, err)
	}
	if st := sim.Stats(); st.Codes[nxsim.CodeOK] != 1 || len(st.Codes) != 1 {
		t.Errorf("simulator answered codes %v, want a single 0", st.Codes)
	}
}

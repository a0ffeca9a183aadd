package mapping_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/mapping"
)

// writeFunc is the common shape of HelpCrunchWrite, ZenviaWrite and NXCloudWrite.
type writeFunc func(crm.Fields) (map[string]any, error)

var writers = []struct {
	vendor string
	write  writeFunc
}{
	{crm.VendorHelpCrunch, mapping.HelpCrunchWrite},
	{crm.VendorZenvia, mapping.ZenviaWrite},
	{crm.VendorNXCloud, mapping.NXCloudWrite},
}

// writeCase is one row of a write table: the normalized input as JSON, and
// either the vendor object expected (as JSON) or the fields the 422 names.
type writeCase struct {
	name string
	in   string   // crm.Fields as JSON
	want string   // the vendor object as JSON, compared semantically
	fail []string // when set: the write is refused naming exactly these fields
}

// mustFields decodes a JSON literal into crm.Fields, as the HTTP layer does,
// so that null becomes the "clear" state of crm.Opt. Unknown keys are a typo
// in the table and fail the test.
func mustFields(t *testing.T, js string) crm.Fields {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(js))
	dec.DisallowUnknownFields()
	var f crm.Fields
	if err := dec.Decode(&f); err != nil {
		t.Fatalf("bad test input %s: %v", js, err)
	}
	return f
}

// mustJSON marshals v, for building inputs programmatically.
func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatalf("marshal %v: %v", v, err)
	}
	return string(b)
}

// assertJSON checks that got, once marshalled, is the same JSON value as want
// (key order and whitespace aside; absent and null keys differ).
func assertJSON(t *testing.T, got any, want string) {
	t.Helper()
	gb, err := json.Marshal(got)
	if err != nil {
		t.Fatalf("marshal result: %v", err)
	}
	var g, w any
	if err := json.Unmarshal(gb, &g); err != nil {
		t.Fatalf("unmarshal result: %v", err)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("bad want JSON %s: %v", want, err)
	}
	if !reflect.DeepEqual(g, w) {
		t.Errorf("vendor object mismatch\n got: %s\nwant: %s", gb, compact(t, want))
	}
}

func compact(t *testing.T, js string) string {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(js), &v); err != nil {
		t.Fatalf("bad JSON %s: %v", js, err)
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// assertUnprocessable checks err is the 422 a write returns for vendor and
// that its field errors name exactly fields (as a set), each with a reason.
func assertUnprocessable(t *testing.T, err error, vendor string, fields ...string) *crm.Error {
	t.Helper()
	if err == nil {
		t.Fatalf("want a 422 naming %v, got no error", fields)
	}
	var e *crm.Error
	if !errors.As(err, &e) {
		t.Fatalf("want *crm.Error, got %T: %v", err, err)
	}
	if e.Code != crm.EUnprocessable {
		t.Errorf("code = %q, want %q", e.Code, crm.EUnprocessable)
	}
	if e.Vendor != vendor {
		t.Errorf("vendor = %q, want %q", e.Vendor, vendor)
	}
	if e.Outcome != crm.OutcomeNotApplied {
		t.Errorf("outcome = %q, want %q", e.Outcome, crm.OutcomeNotApplied)
	}
	var got []string
	for _, fe := range e.Fields {
		if fe.Reason == "" {
			t.Errorf("field error %q has no reason", fe.Field)
		}
		got = append(got, fe.Field)
	}
	got = uniqueSorted(got)
	want := uniqueSorted(fields)
	if !slices.Equal(got, want) {
		t.Errorf("error fields = %v, want %v (errors: %+v)", got, want, e.Fields)
	}
	return e
}

// reasonOf returns the reasons given for field, joined.
func reasonOf(e *crm.Error, field string) string {
	var rs []string
	for _, fe := range e.Fields {
		if fe.Field == field {
			rs = append(rs, fe.Reason)
		}
	}
	return strings.Join(rs, "; ")
}

func uniqueSorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return slices.Compact(s)
}

// runWriteCases runs a write table against one vendor's write function.
func runWriteCases(t *testing.T, vendor string, write writeFunc, cases []writeCase) {
	t.Helper()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := write(mustFields(t, tc.in))
			if len(tc.fail) > 0 {
				assertUnprocessable(t, err, vendor, tc.fail...)
				if obj != nil {
					t.Errorf("refused write also returned an object: %v", obj)
				}
				return
			}
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			assertJSON(t, obj, tc.want)
		})
	}
}

// supported lists, per vendor, the normalized fields its docs let us store.
var supported = map[string][]string{
	// HelpCrunch customer object: name, email, userId, company, phone, locale,
	// notes, tags, customData (country/timezone are read-only location/device).
	crm.VendorHelpCrunch: {"name", "first_name", "last_name", "email", "phone", "external_id",
		"company", "locale", "notes", "tags", "custom_fields"},
	// Zenvia: main_identifier, channel_phone, channel_email + account form fields.
	crm.VendorZenvia: {"name", "first_name", "last_name", "email", "phone", "custom_fields"},
	// NXCloud batch_create customer parameters.
	crm.VendorNXCloud: {"name", "first_name", "last_name", "email", "phone", "whatsapp_phone",
		"country", "address", "birthday", "gender", "timezone", "notes", "tags", "custom_fields"},
}

// samples gives each normalized field a value every vendor able to store it
// accepts. Each is added to {"name":"Ana Souza"}.
var samples = []struct{ field, js string }{
	{"name", `"name":"Ana Souza"`},
	{"first_name", `"first_name":"Ana","last_name":"Souza"`},
	{"last_name", `"last_name":"Souza","first_name":"Ana"`},
	{"email", `"email":"ana@example.com"`},
	{"phone", `"phone":"+5511999990000"`},
	{"whatsapp_phone", `"whatsapp_phone":"+5511999990001"`},
	{"external_id", `"external_id":"u-1"`},
	{"company", `"company":"Example Inc."`},
	{"country", `"country":"BR"`},
	{"address", `"address":"Rua A, 1"`},
	{"birthday", `"birthday":"1990-05-17"`},
	{"gender", `"gender":"female"`},
	{"locale", `"locale":"pt"`},
	{"timezone", `"timezone":"America/Sao_Paulo"`},
	{"notes", `"notes":"likes tea"`},
	{"tags", `"tags":[{"name":"vip"}]`},
	{"custom_fields", `"custom_fields":{"customize_1_14":"aa"}`},
}

func TestExportedFieldLists(t *testing.T) {
	for _, tc := range []struct {
		vendor string
		got    []string
	}{
		{crm.VendorHelpCrunch, mapping.HelpCrunchFields},
		{crm.VendorZenvia, mapping.ZenviaFields},
		{crm.VendorNXCloud, mapping.NXCloudFields},
	} {
		t.Run(tc.vendor, func(t *testing.T) {
			if got, want := uniqueSorted(tc.got), uniqueSorted(supported[tc.vendor]); !slices.Equal(got, want) {
				t.Errorf("fields = %v, want %v", got, want)
			}
			if len(uniqueSorted(tc.got)) != len(tc.got) {
				t.Errorf("duplicate entries in %v", tc.got)
			}
		})
	}
}

// TestUnsupportedFieldsRefused: a field the vendor cannot store is refused
// with a 422 naming it, never dropped; a storable one is accepted.
func TestUnsupportedFieldsRefused(t *testing.T) {
	for _, w := range writers {
		for _, s := range samples {
			ok := slices.Contains(supported[w.vendor], s.field)
			t.Run(w.vendor+"/"+s.field, func(t *testing.T) {
				obj, err := w.write(mustFields(t, `{"name":"Ana Souza",`+s.js+`}`))
				if ok {
					if err != nil {
						t.Fatalf("supported field refused: %v", err)
					}
					if len(obj) == 0 {
						t.Fatal("empty vendor object")
					}
					return
				}
				e := assertUnprocessable(t, err, w.vendor, s.field)
				if r := reasonOf(e, s.field); !strings.Contains(r, "not supported by "+w.vendor) {
					t.Errorf("reason = %q", r)
				}
			})
		}
	}
}

// TestUnsupportedFieldsAllNamed: one 422 names every unsupported field sent,
// including those sent as null.
func TestUnsupportedFieldsAllNamed(t *testing.T) {
	for _, tc := range []struct {
		vendor string
		in     string
		fail   []string
	}{
		{crm.VendorHelpCrunch,
			`{"name":"A B","whatsapp_phone":"1","country":"BR","address":"x","birthday":"1990-01-01","gender":"male","timezone":"UTC"}`,
			[]string{"whatsapp_phone", "country", "address", "birthday", "gender", "timezone"}},
		{crm.VendorHelpCrunch,
			`{"name":"A B","whatsapp_phone":null,"country":null,"address":null,"birthday":null,"gender":null,"timezone":null}`,
			[]string{"whatsapp_phone", "country", "address", "birthday", "gender", "timezone"}},
		{crm.VendorZenvia,
			`{"name":"A B","whatsapp_phone":"1","external_id":"u","company":"c","country":"BR","address":"x","birthday":"1990-01-01","gender":"male","locale":"pt","timezone":"UTC","notes":"n","tags":[{"name":"t"}]}`,
			[]string{"whatsapp_phone", "external_id", "company", "country", "address", "birthday", "gender", "locale", "timezone", "notes", "tags"}},
		{crm.VendorZenvia,
			`{"name":"A B","notes":null,"tags":null,"locale":null}`,
			[]string{"notes", "tags", "locale"}},
		{crm.VendorNXCloud,
			`{"name":"A B","external_id":"u","company":"c","locale":"pt"}`,
			[]string{"external_id", "company", "locale"}},
		{crm.VendorNXCloud,
			`{"name":"A B","external_id":null,"company":null,"locale":null}`,
			[]string{"external_id", "company", "locale"}},
	} {
		t.Run(tc.vendor, func(t *testing.T) {
			for _, w := range writers {
				if w.vendor != tc.vendor {
					continue
				}
				obj, err := w.write(mustFields(t, tc.in))
				assertUnprocessable(t, err, tc.vendor, tc.fail...)
				if obj != nil {
					t.Errorf("refused write returned an object")
				}
			}
		})
	}
}

// TestNullMatrix: a supported field sent as null clears it on HelpCrunch
// (null on the wire), becomes "" on Zenvia, and is refused by NXCloud, which
// cannot clear a field. Unsupported fields are refused everywhere.
func TestNullMatrix(t *testing.T) {
	wireKey := map[string]map[string]string{
		crm.VendorHelpCrunch: {"email": "email", "phone": "phone", "external_id": "userId",
			"company": "company", "locale": "locale", "notes": "notes", "tags": "tags"},
		crm.VendorZenvia: {"email": "channel_email", "phone": "channel_phone"},
	}
	fields := []string{"email", "phone", "whatsapp_phone", "external_id", "company", "country",
		"address", "birthday", "gender", "locale", "timezone", "notes", "tags"}
	for _, w := range writers {
		for _, field := range fields {
			t.Run(w.vendor+"/"+field, func(t *testing.T) {
				obj, err := w.write(mustFields(t, `{"name":"Ana Souza","`+field+`":null}`))
				if !slices.Contains(supported[w.vendor], field) {
					e := assertUnprocessable(t, err, w.vendor, field)
					if r := reasonOf(e, field); !strings.Contains(r, "not supported") {
						t.Errorf("reason = %q", r)
					}
					return
				}
				switch w.vendor {
				case crm.VendorHelpCrunch:
					if err != nil {
						t.Fatal(err)
					}
					v, ok := obj[wireKey[w.vendor][field]]
					if !ok || !isNil(v) {
						t.Errorf("%s: want explicit null, got %#v (present %v)", wireKey[w.vendor][field], v, ok)
					}
				case crm.VendorZenvia:
					if err != nil {
						t.Fatal(err)
					}
					fs, _ := obj["fields"].(map[string]any)
					if v, ok := fs[wireKey[w.vendor][field]]; !ok || v != "" {
						t.Errorf("%s: want \"\", got %#v (present %v)", wireKey[w.vendor][field], v, ok)
					}
				case crm.VendorNXCloud:
					e := assertUnprocessable(t, err, w.vendor, field)
					if r := reasonOf(e, field); !strings.Contains(r, "cannot clear") {
						t.Errorf("reason = %q", r)
					}
				}
			})
		}
	}
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Map, reflect.Slice, reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	return false
}

// TestNameRules: single-name vendors (HelpCrunch name, Zenvia
// main_identifier) get name, or first and last name joined; NXCloud gets
// first/last name, or name split at its last space.
func TestNameRules(t *testing.T) {
	const absent = "<absent>"
	for _, tc := range []struct {
		name    string
		in      string
		hc      string // HelpCrunch "name"; absent = key left out
		zenvia  string // main_identifier; "" = refused naming "name"
		nxFirst string
		nxLast  string
		nxFail  []string
		hcNull  bool // HelpCrunch sends "name": null
	}{
		{name: "name only", in: `{"name":"Ana Maria Souza"}`,
			hc: "Ana Maria Souza", zenvia: "Ana Maria Souza", nxFirst: "Ana Maria", nxLast: "Souza"},
		{name: "first and last", in: `{"first_name":"Ana Maria","last_name":"Souza"}`,
			hc: "Ana Maria Souza", zenvia: "Ana Maria Souza", nxFirst: "Ana Maria", nxLast: "Souza"},
		{name: "name wins on single-name vendors, split names win on nxcloud",
			in: `{"name":"Ana Souza","first_name":"Bia","last_name":"Lima"}`,
			hc: "Ana Souza", zenvia: "Ana Souza", nxFirst: "Bia", nxLast: "Lima"},
		{name: "cjk name", in: `{"name":"张 三"}`,
			hc: "张 三", zenvia: "张 三", nxFirst: "张", nxLast: "三"},
		{name: "cjk split names", in: `{"first_name":"张","last_name":"三"}`,
			hc: "张 三", zenvia: "张 三", nxFirst: "张", nxLast: "三"},
		{name: "single word", in: `{"name":"Cher"}`,
			hc: "Cher", zenvia: "Cher", nxFail: []string{"last_name"}},
		{name: "first only", in: `{"first_name":"Ana"}`,
			hc: "Ana", zenvia: "Ana", nxFail: []string{"last_name"}},
		{name: "last only", in: `{"last_name":"Souza"}`,
			hc: "Souza", zenvia: "Souza", nxFail: []string{"first_name"}},
		{name: "no name at all", in: `{"email":"a@b.c"}`,
			hc: absent, zenvia: "", nxFail: []string{"first_name", "last_name"}},
		{name: "name null", in: `{"name":null}`,
			hcNull: true, zenvia: "", nxFail: []string{"name", "first_name", "last_name"}},
		{name: "first and last null", in: `{"first_name":null,"last_name":null}`,
			hcNull: true, zenvia: "", nxFail: []string{"first_name", "last_name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := mustFields(t, tc.in)

			t.Run("helpcrunch", func(t *testing.T) {
				obj, err := mapping.HelpCrunchWrite(f)
				if err != nil {
					t.Fatal(err)
				}
				v, ok := obj["name"]
				switch {
				case tc.hcNull:
					if !ok || v != nil {
						t.Errorf("name = %#v (present %v), want null", v, ok)
					}
				case tc.hc == absent:
					if ok {
						t.Errorf("name = %#v, want it left out", v)
					}
				case v != tc.hc:
					t.Errorf("name = %#v, want %q", v, tc.hc)
				}
			})

			t.Run("zenvia", func(t *testing.T) {
				obj, err := mapping.ZenviaWrite(f)
				if tc.zenvia == "" {
					e := assertUnprocessable(t, err, crm.VendorZenvia, "name")
					if r := reasonOf(e, "name"); !strings.Contains(r, "main_identifier") {
						t.Errorf("reason = %q", r)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if got := obj["fields"].(map[string]any)["main_identifier"]; got != tc.zenvia {
					t.Errorf("main_identifier = %#v, want %q", got, tc.zenvia)
				}
			})

			t.Run("nxcloud", func(t *testing.T) {
				obj, err := mapping.NXCloudWrite(f)
				if tc.nxFail != nil {
					assertUnprocessable(t, err, crm.VendorNXCloud, tc.nxFail...)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if obj["first_name"] != tc.nxFirst || obj["last_name"] != tc.nxLast {
					t.Errorf("first/last = %#v/%#v, want %q/%q", obj["first_name"], obj["last_name"], tc.nxFirst, tc.nxLast)
				}
				if _, ok := obj["name"]; ok {
					t.Errorf("nxcloud object has a name key: %v", obj)
				}
			})
		})
	}
}

// TestVendorFieldsShared: vendor_fields are copied verbatim (nested values
// included) and may not overwrite a key the mapping set; each conflict is
// named as vendor_fields.<key>.
func TestVendorFieldsShared(t *testing.T) {
	nested := `{"a":[1,"two",{"three":3}],"b":null}`
	for _, w := range writers {
		t.Run(w.vendor+"/copied verbatim", func(t *testing.T) {
			obj, err := w.write(mustFields(t, `{"name":"Ana Souza","vendor_fields":{"x_nested":`+nested+`,"x_num":1.5,"x_null":null}}`))
			if err != nil {
				t.Fatal(err)
			}
			assertJSON(t, obj["x_nested"], nested)
			if v, ok := obj["x_null"]; !ok || v != nil {
				t.Errorf("x_null = %#v (present %v), want null", v, ok)
			}
			if obj["x_num"] != 1.5 {
				t.Errorf("x_num = %#v", obj["x_num"])
			}
		})
	}
	for _, tc := range []struct {
		vendor string
		in     string
		fail   []string
	}{
		{crm.VendorHelpCrunch, `{"name":"A B","email":"a@b.c","vendor_fields":{"name":"X","email":"x","keep":1}}`,
			[]string{"vendor_fields.name", "vendor_fields.email"}},
		{crm.VendorZenvia, `{"name":"A B","vendor_fields":{"fields":{"main_identifier":"X"}}}`,
			[]string{"vendor_fields.fields"}},
		{crm.VendorNXCloud, `{"name":"A B","vendor_fields":{"first_name":"X","last_name":"Y"}}`,
			[]string{"vendor_fields.first_name", "vendor_fields.last_name"}},
	} {
		t.Run(tc.vendor+"/conflict", func(t *testing.T) {
			for _, w := range writers {
				if w.vendor == tc.vendor {
					_, err := w.write(mustFields(t, tc.in))
					assertUnprocessable(t, err, tc.vendor, tc.fail...)
				}
			}
		})
	}
}

// TestWriteDoesNotMutateInput: writes must not change the caller's maps
// (the same Fields may be retried or written to another connection).
func TestWriteDoesNotMutateInput(t *testing.T) {
	in := `{"name":"Ana Souza","tags":[{"name":"vip","color":"#ff0000"}],"custom_fields":{"customize_1_14":"aa","n":2},"vendor_fields":{"x":{"y":1}}}`
	for _, w := range writers {
		t.Run(w.vendor, func(t *testing.T) {
			f := mustFields(t, in)
			// Zenvia takes no tags; keep the rest identical.
			if w.vendor == crm.VendorZenvia {
				f.Tags = crm.Opt[[]crm.Tag]{}
			}
			before := mustJSON(t, f)
			if _, err := w.write(f); err != nil {
				t.Fatal(err)
			}
			if after := mustJSON(t, f); after != before {
				t.Errorf("input changed\nbefore: %s\n after: %s", before, after)
			}
		})
	}
}

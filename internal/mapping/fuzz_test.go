package mapping_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/mapping"
)

// Fuzz targets for the mapping functions. `go test` runs them over their
// seeds (f.Add plus testdata/fuzz/<Name>/); scripts/fuzz.sh fuzzes them.

// fzWriteSeeds are crm.Fields documents: valid customers, nulls, every
// field, odd types and the edges the vendors document.
var fzWriteSeeds = []string{
	`{}`,
	`null`,
	`{"name":"Ana Souza","email":"ana@example.com","phone":"5511991417777"}`,
	`{"first_name":"Ana","last_name":"Souza","tags":[{"name":"vip","color":"#f00"}],"custom_fields":{"plan":"gold","n":1}}`,
	`{"name":null,"first_name":null,"last_name":null,"email":null,"tags":null,"custom_fields":{"plan":null}}`,
	`{"name":"A B","whatsapp_phone":"1","country":"BR","address":"x","birthday":"1990-02-29","gender":"other","timezone":"UTC","notes":"n"}`,
	`{"name":"Ana Souza","birthday":"1990-13-01","gender":"male","tags":[{"name":"a,b"},{"name":""}]}`,
	`{"name":"Ana Souza","vendor_fields":{"first_name":"x","email":"` + strings.Repeat("e", 60) + `","unsubscribed":true}}`,
	`{"name":"Ana Souza","custom_fields":{"main_identifier":"x","channel_phone":"1"},"vendor_fields":{"fields":{},"agent_id":7}}`,
	`{"name":"` + strings.Repeat("é", 129) + `","email":"` + strings.Repeat("a", 51) + `","notes":"` + strings.Repeat("n", 101) + `"}`,
	`{"external_id":"u-1","company":"ACME","locale":"pt","custom_fields":{"d":{"deep":[1,2,{"x":null}]}}}`,
	`{"name":" ","first_name":"  ","last_name":""}`,
}

// nxLimits are the NXCloud keys with a documented maximum length in
// characters (vendor doc "Batch Create Customers").
var nxLimits = map[string]int{
	"first_name": 128, "last_name": 128, "email": 50, "sms_phone": 30, "whats_app_phone": 30,
	"country": 50, "address": 100, "remark": 100,
}

// FuzzVendorWrite decodes fuzzed JSON into crm.Fields, as the HTTP layer
// does, and writes it for each vendor. A write either succeeds with an
// object that marshals to JSON (and, for NXCloud, respects every documented
// length) or fails with a 422 *crm.Error naming each bad field; reading what
// a write produced, as the vendor would echo it, never panics.
func FuzzVendorWrite(f *testing.F) {
	for _, s := range fzWriteSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fields crm.Fields
		if json.Unmarshal(data, &fields) != nil {
			return
		}
		for _, w := range []struct {
			vendor string
			write  func(crm.Fields) (map[string]any, error)
		}{
			{crm.VendorHelpCrunch, mapping.HelpCrunchWrite},
			{crm.VendorZenvia, mapping.ZenviaWrite},
			{crm.VendorNXCloud, mapping.NXCloudWrite},
		} {
			obj, err := w.write(fields)
			if err != nil {
				fzCheckFieldError(t, w.vendor, err, crm.EUnprocessable)
				continue
			}
			raw, merr := json.Marshal(obj)
			if merr != nil {
				t.Fatalf("%s: write succeeded but the object does not marshal: %v\n%#v", w.vendor, merr, obj)
			}
			switch w.vendor {
			case crm.VendorHelpCrunch:
				_, _ = mapping.HelpCrunchRead(raw)
			case crm.VendorZenvia:
				_, _, _ = mapping.ZenviaRead(raw)
				// Zenvia echoes a rejected item: pairing it must not panic either.
				var echo mapping.ZenviaEcho
				if json.Unmarshal(raw, &echo) == nil && !mapping.ZenviaSameItem(obj, echo) {
					t.Fatalf("zenvia: an item echoed unchanged is not recognised as the same item: %s", raw)
				}
			case crm.VendorNXCloud:
				for key, max := range nxLimits {
					if s, ok := obj[key].(string); ok && utf8.RuneCountInString(s) > max {
						t.Fatalf("nxcloud: %s has %d characters, documented maximum %d", key, utf8.RuneCountInString(s), max)
					}
				}
				var echoed map[string]any
				if err := json.Unmarshal(raw, &echoed); err != nil {
					t.Fatal(err)
				}
				c := mapping.NXCloudRead(echoed)
				if _, err := json.Marshal(c); err != nil {
					t.Fatalf("nxcloud: the customer read back does not marshal: %v", err)
				}
			}
		}
	})
}

// fzCheckFieldError asserts err is a *crm.Error with code and a non-empty
// list of named field errors, each with a reason.
func fzCheckFieldError(t *testing.T, vendor string, err error, code string) {
	t.Helper()
	var e *crm.Error
	if !errors.As(err, &e) {
		t.Fatalf("%s: error is %T, not *crm.Error: %v", vendor, err, err)
	}
	if e.Code != code {
		t.Fatalf("%s: error code %q, want %q: %v", vendor, e.Code, code, err)
	}
	if len(e.Fields) == 0 {
		t.Fatalf("%s: %s error names no field: %v", vendor, code, err)
	}
	for _, fe := range e.Fields {
		if fe.Field == "" || fe.Reason == "" {
			t.Fatalf("%s: field error without a field or a reason: %+v", vendor, e.Fields)
		}
	}
}

// FuzzVendorRead feeds fuzzed vendor answers to the read functions: they
// may refuse JSON of another shape but never panic, and what they return
// marshals.
func FuzzVendorRead(f *testing.F) {
	for _, s := range []string{
		`{"id":1,"name":"Ana","email":"a@b.c","tags":[{"name":"vip"}],"customData":{"plan":"gold"},"location":{"countryCode":"BR"},"device":{"timezone":"UTC"}}`,
		`{"id":"x"}`,
		`{"customer_key":"k","fields":{"main_identifier":"Ana","channel_phone":"1","plano":"","x":null},"date_creation":"d","change_date":"d"}`,
		`{"first_name":"A","last_name":"B","id":12345678901,"gender":1,"tagStr":"a,,b","customize_field":"{\"k\":1}"}`,
		`{"gender":0.5,"customize_field":"[]","tagStr":","}`,
		`[]`, `null`, `"x"`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if c, err := mapping.HelpCrunchRead(data); err == nil {
			fzMarshal(t, "helpcrunch", c)
		}
		if c, _, err := mapping.ZenviaRead(data); err == nil {
			fzMarshal(t, "zenvia", c)
		}
		var obj map[string]any
		if json.Unmarshal(data, &obj) == nil {
			fzMarshal(t, "nxcloud", mapping.NXCloudRead(obj))
		}
	})
}

func fzMarshal(t *testing.T, vendor string, c crm.Customer) {
	t.Helper()
	if _, err := json.Marshal(c); err != nil {
		t.Fatalf("%s: the customer read does not marshal: %v\n%#v", vendor, err, c)
	}
}

// fzMappings are a few custom-field mappings, one of each type, with vendor
// keys in each vendor's style.
var fzMappings = map[string][]mapping.CustomField{
	crm.VendorHelpCrunch: {
		{Name: "nick", Key: "nick_name", Type: crm.TypeString}, {Name: "seats", Key: "number_of_seats", Type: crm.TypeNumber},
		{Name: "vip", Key: "is_vip", Type: crm.TypeBoolean}, {Name: "since", Key: "since_date", Type: crm.TypeDate},
		{Name: "plan", Key: "subscription_plan", Type: crm.TypeEnum, Values: []string{"free", "pro"}},
	},
	crm.VendorZenvia: {
		{Name: "nick", Key: "apelido", Type: crm.TypeString}, {Name: "seats", Key: "assentos", Type: crm.TypeNumber},
		{Name: "vip", Key: "cliente_vip", Type: crm.TypeBoolean}, {Name: "since", Key: "desde", Type: crm.TypeDate},
		{Name: "plan", Key: "plano", Type: crm.TypeEnum, Values: []string{"free", "pro"}},
	},
	crm.VendorNXCloud: {
		{Name: "nick", Key: "customize_1_1", Type: crm.TypeString}, {Name: "seats", Key: "customize_2_1", Type: crm.TypeNumber},
		{Name: "vip", Key: "customize_3_1", Type: crm.TypeBoolean}, {Name: "since", Key: "customize_4_1", Type: crm.TypeDate},
		{Name: "plan", Key: "customize_5_1", Type: crm.TypeEnum, Values: []string{"free", "pro"}},
	},
}

// FuzzCustomFields writes fuzzed custom_fields through each vendor's
// mapping, strict and passthrough. Errors name custom_fields.<name>; what
// is written marshals; and the vendor representation is stable: reading
// back what the vendor stored (a trip through JSON) and writing it again
// gives the same vendor values.
func FuzzCustomFields(f *testing.F) {
	for _, s := range []string{
		`{"nick":"Ana","seats":15.5,"vip":true,"since":"2024-05-01","plan":"pro"}`,
		`{"seats":"12","vip":"t","since":"2024-05-01T23:30:00-05:00","plan":"gold"}`,
		`{"seats":1e308,"since":"0001-01-01","vip":"maybe"}`,
		`{"seats":null,"nick":null,"other":{"x":[1]}}`,
		`{"nick_name":"x","customize_1_1":"y","plano":"z","free":1}`,
		`{"since":"9999-12-31","seats":-0.000001}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var in map[string]any
		if json.Unmarshal(data, &in) != nil {
			return
		}
		for vendor, fields := range fzMappings {
			for _, strict := range []bool{false, true} {
				m, err := mapping.NewCustomFields(vendor, strict, fields)
				if err != nil {
					t.Fatal(err)
				}
				out, errs := m.Write(in)
				bad := map[string]bool{}
				for _, fe := range errs {
					name, ok := strings.CutPrefix(fe.Field, "custom_fields.")
					if !ok || fe.Reason == "" {
						t.Fatalf("%s: field error %+v does not name a custom field", vendor, fe)
					}
					if _, sent := in[name]; !sent {
						t.Fatalf("%s: error names %q, which was not sent", vendor, fe.Field)
					}
					bad[name] = true
				}
				if len(errs) > 0 && out == nil {
					continue
				}
				raw, err := json.Marshal(out)
				if err != nil {
					t.Fatalf("%s: written custom fields do not marshal: %v", vendor, err)
				}
				var stored map[string]any
				if err := json.Unmarshal(raw, &stored); err != nil {
					t.Fatal(err)
				}
				back := m.Read(stored)
				again, errs2 := m.Write(back)
				if len(errs2) > 0 {
					t.Fatalf("%s strict=%v: what was read back cannot be written again: %v\nin: %s\nstored: %s", vendor, strict, errs2, data, raw)
				}
				raw2, err := json.Marshal(again)
				if err != nil {
					t.Fatal(err)
				}
				var stored2 map[string]any
				if err := json.Unmarshal(raw2, &stored2); err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(stored, stored2) && !(len(stored) == 0 && len(stored2) == 0) {
					t.Fatalf("%s strict=%v: write→read→write changed the vendor values\nin: %s\n1st: %s\n2nd: %s", vendor, strict, data, raw, raw2)
				}
			}
		}
	})
}

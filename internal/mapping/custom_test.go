package mapping_test

import (
	"encoding/json"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/mapping"
)

// customVendors are the vendors a custom-field mapping is tested against.
var customVendors = []string{crm.VendorHelpCrunch, crm.VendorZenvia, crm.VendorNXCloud}

// customKeys gives, per vendor, the vendor key of each normalized custom
// field of customMapping: HelpCrunch customData properties, Zenvia form
// field names, NXCloud customize_<type>_<n> keys.
var customKeys = map[string]map[string]string{
	crm.VendorHelpCrunch: {"nickname": "nick_name", "seats": "number_of_seats", "vip": "is_vip", "renewal": "renewal_date", "plan": "subscription_plan"},
	crm.VendorZenvia:     {"nickname": "apelido", "seats": "assentos", "vip": "cliente_vip", "renewal": "data_renovacao", "plan": "plano"},
	crm.VendorNXCloud:    {"nickname": "customize_1_1", "seats": "customize_2_1", "vip": "customize_3_1", "renewal": "customize_4_1", "plan": "customize_5_1"},
}

// customTypes is the type of each normalized custom field of customMapping.
var customTypes = map[string]string{
	"nickname": crm.TypeString, "seats": crm.TypeNumber, "vip": crm.TypeBoolean,
	"renewal": crm.TypeDate, "plan": crm.TypeEnum,
}

// customMapping maps one field of each type to vendor's keys.
func customMapping(vendor string) []mapping.CustomField {
	var fields []mapping.CustomField
	for _, name := range []string{"nickname", "seats", "vip", "renewal", "plan"} {
		f := mapping.CustomField{Name: name, Key: customKeys[vendor][name], Type: customTypes[name]}
		if f.Type == crm.TypeEnum {
			f.Values = []string{"basic", "pro"}
		}
		fields = append(fields, f)
	}
	return fields
}

func newCustom(t *testing.T, vendor string, strict bool) *mapping.CustomFields {
	t.Helper()
	m, err := mapping.NewCustomFields(vendor, strict, customMapping(vendor))
	if err != nil {
		t.Fatalf("NewCustomFields(%s): %v", vendor, err)
	}
	return m
}

// sameValue compares two values including their Go types, so that a number
// written as "15" does not pass for 15.
func sameValue(a, b any) bool { return reflect.DeepEqual(a, b) }

func TestCustomFieldsWrite(t *testing.T) {
	// Each row writes one value to one field; hc, zv and nx are what
	// HelpCrunch, Zenvia and NXCloud must receive under the field's key.
	tests := []struct {
		name       string
		field      string
		in         any
		hc, zv, nx any
	}{
		// string and enum go unchanged to every vendor
		{"string", "nickname", "Ana", "Ana", "Ana", "Ana"},
		{"string empty", "nickname", "", "", "", ""},
		{"string numeric-looking stays a string", "nickname", "15", "15", "15", "15"},
		{"enum value", "plan", "pro", "pro", "pro", "pro"},
		{"enum other value", "plan", "basic", "basic", "basic", "basic"},

		// numbers: HelpCrunch and NXCloud keep numbers, Zenvia form fields hold strings
		{"number integer", "seats", float64(15), float64(15), "15", float64(15)},
		{"number fraction", "seats", 15.5, 15.5, "15.5", 15.5},
		{"number zero", "seats", float64(0), float64(0), "0", float64(0)},
		{"number negative", "seats", -2.25, -2.25, "-2.25", -2.25},
		{"number large has no exponent", "seats", 1e21, 1e21, "1000000000000000000000", 1e21},
		{"number int", "seats", 15, float64(15), "15", float64(15)},
		{"number int64", "seats", int64(15), float64(15), "15", float64(15)},
		{"number json.Number", "seats", json.Number("15.5"), 15.5, "15.5", 15.5},
		{"number from numeric string", "seats", "15", float64(15), "15", float64(15)},
		{"number from fractional string", "seats", "15.5", 15.5, "15.5", 15.5},
		{"number from string with spaces", "seats", " 15 ", float64(15), "15", float64(15)},
		{"number from exponent string", "seats", "1.5e1", float64(15), "15", float64(15)},

		// booleans: HelpCrunch keeps a bool, Zenvia and NXCloud take "true"/"false"
		{"boolean true", "vip", true, true, "true", "true"},
		{"boolean false", "vip", false, false, "false", "false"},
		{"boolean from string true", "vip", "true", true, "true", "true"},
		{"boolean from string false", "vip", "false", false, "false", "false"},

		// dates: HelpCrunch takes UNIX seconds of midnight UTC as a string,
		// Zenvia and NXCloud YYYY-MM-DD
		{"date", "renewal", "2024-05-01", "1714521600", "2024-05-01", "2024-05-01"},
		{"date leap day", "renewal", "2024-02-29", "1709164800", "2024-02-29", "2024-02-29"},
		{"date before 1970", "renewal", "1969-12-31", "-86400", "1969-12-31", "1969-12-31"},
		{"date from RFC 3339 UTC", "renewal", "2024-05-01T12:24:05Z", "1714521600", "2024-05-01", "2024-05-01"},
		{"date from RFC 3339 fraction", "renewal", "2024-05-01T12:24:05.123Z", "1714521600", "2024-05-01", "2024-05-01"},
		// the calendar date as the client wrote it, not its UTC date (2024-05-02)
		{"date from RFC 3339 with offset", "renewal", "2024-05-01T23:30:00-03:00", "1714521600", "2024-05-01", "2024-05-01"},

		// nil clears the field: it reaches the vendor as nil under its key
		{"nil string", "nickname", nil, nil, nil, nil},
		{"nil number", "seats", nil, nil, nil, nil},
		{"nil boolean", "vip", nil, nil, nil, nil},
		{"nil date", "renewal", nil, nil, nil, nil},
		{"nil enum", "plan", nil, nil, nil, nil},
	}
	for _, vendor := range customVendors {
		for _, strict := range []bool{false, true} {
			m := newCustom(t, vendor, strict)
			for _, tt := range tests {
				t.Run(fmt.Sprintf("%s/strict=%v/%s", vendor, strict, tt.name), func(t *testing.T) {
					want := map[string]any{crm.VendorHelpCrunch: tt.hc, crm.VendorZenvia: tt.zv, crm.VendorNXCloud: tt.nx}[vendor]
					got, errs := m.Write(map[string]any{tt.field: tt.in})
					if len(errs) > 0 {
						t.Fatalf("Write(%s=%#v) errors: %v", tt.field, tt.in, errs)
					}
					key := customKeys[vendor][tt.field]
					wantOut := map[string]any{key: want}
					if !reflect.DeepEqual(got, wantOut) {
						t.Errorf("Write(%s=%#v) = %#v, want %#v", tt.field, tt.in, got, wantOut)
					}
				})
			}
		}
	}
}

func TestCustomFieldsWriteSeveral(t *testing.T) {
	m := newCustom(t, crm.VendorNXCloud, true)
	got, errs := m.Write(map[string]any{
		"nickname": "Ana", "seats": "3", "vip": false, "renewal": "2025-01-31", "plan": "basic",
	})
	if len(errs) > 0 {
		t.Fatalf("errors: %v", errs)
	}
	want := map[string]any{
		"customize_1_1": "Ana", "customize_2_1": float64(3), "customize_3_1": "false",
		"customize_4_1": "2025-01-31", "customize_5_1": "basic",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}
	// empty input: nothing to do, no error
	for _, in := range []map[string]any{nil, {}} {
		got, errs := m.Write(in)
		if len(got) != 0 || len(errs) != 0 {
			t.Errorf("Write(%#v) = %#v, %v; want empty, no errors", in, got, errs)
		}
	}
}

func TestCustomFieldsWriteRejects(t *testing.T) {
	tests := []struct {
		name   string
		field  string
		in     any
		reason string // the FieldError's reason must contain it
	}{
		{"number where a string is mapped", "nickname", float64(15), "must be a string"},
		{"bool where a string is mapped", "nickname", true, "must be a string"},
		{"object where a string is mapped", "nickname", map[string]any{"a": "b"}, "must be a string"},

		{"word where a number is mapped", "seats", "fifteen", "must be a number"},
		{"empty string where a number is mapped", "seats", "", "must be a number"},
		{"number with unit", "seats", "15 seats", "must be a number"},
		{"decimal comma", "seats", "15,5", "must be a number"},
		{"bool where a number is mapped", "seats", true, "must be a number"},
		{"array where a number is mapped", "seats", []any{float64(1)}, "must be a number"},
		{"NaN string", "seats", "NaN", "must be a number"},
		{"nan string", "seats", "nan", "must be a number"},
		{"NaN string with spaces", "seats", " NaN ", "must be a number"},
		{"Inf string", "seats", "Inf", "must be a number"},
		{"+Inf string", "seats", "+Inf", "must be a number"},
		{"-Infinity string", "seats", "-Infinity", "must be a number"},
		{"infinity string", "seats", "infinity", "must be a number"},
		{"overflowing string", "seats", "1e400", "must be a number"},

		{"word where a boolean is mapped", "vip", "yes", "must be true or false"},
		{"empty string where a boolean is mapped", "vip", "", "must be true or false"},
		{"number where a boolean is mapped", "vip", float64(1), "must be true or false"},

		{"month 13", "renewal", "2024-13-01", "must be a date as YYYY-MM-DD"},
		{"February 30", "renewal", "2024-02-30", "must be a date as YYYY-MM-DD"},
		{"29 February of a common year", "renewal", "2023-02-29", "must be a date as YYYY-MM-DD"},
		{"day first", "renewal", "01/05/2024", "must be a date as YYYY-MM-DD"},
		{"no zero padding", "renewal", "2024-5-1", "must be a date as YYYY-MM-DD"},
		{"trailing text", "renewal", "2024-05-01 tomorrow", "must be a date as YYYY-MM-DD"},
		{"timestamp without zone", "renewal", "2024-05-01T12:00:00", "must be a date as YYYY-MM-DD"},
		{"empty date", "renewal", "", "must be a date as YYYY-MM-DD"},
		{"UNIX seconds as a number", "renewal", float64(1714521600), "must be a date as YYYY-MM-DD"},
		{"UNIX seconds as a string", "renewal", "1714521600", "must be a date as YYYY-MM-DD"},

		{"enum value not in the list", "plan", "enterprise", "must be one of basic, pro"},
		{"enum value in another case", "plan", "Pro", "must be one of basic, pro"},
		{"empty enum value", "plan", "", "must be one of basic, pro"},
		{"number where an enum is mapped", "plan", float64(1), "must be one of basic, pro"},
	}
	for _, vendor := range customVendors {
		m := newCustom(t, vendor, false)
		for _, tt := range tests {
			t.Run(vendor+"/"+tt.name, func(t *testing.T) {
				got, errs := m.Write(map[string]any{tt.field: tt.in})
				want := []crm.FieldError{{Field: "custom_fields." + tt.field}}
				if len(errs) != 1 || errs[0].Field != want[0].Field || !strings.Contains(errs[0].Reason, tt.reason) {
					t.Fatalf("Write(%s=%#v) errors = %v, want one on %s containing %q", tt.field, tt.in, errs, want[0].Field, tt.reason)
				}
				if len(got) != 0 {
					t.Errorf("Write(%s=%#v) still gave the vendor %#v", tt.field, tt.in, got)
				}
			})
		}
	}
}

func TestCustomFieldsWriteReportsEveryBadField(t *testing.T) {
	for _, vendor := range customVendors {
		t.Run(vendor, func(t *testing.T) {
			m := newCustom(t, vendor, false)
			got, errs := m.Write(map[string]any{
				"seats": "many", "vip": "yes", "renewal": "2024-02-30", "plan": "gold", "nickname": 7.0,
			})
			want := []crm.FieldError{
				{Field: "custom_fields.nickname", Reason: "must be a string"},
				{Field: "custom_fields.plan", Reason: "must be one of basic, pro"},
				{Field: "custom_fields.renewal", Reason: "must be a date as YYYY-MM-DD"},
				{Field: "custom_fields.seats", Reason: "must be a number"},
				{Field: "custom_fields.vip", Reason: "must be true or false"},
			}
			if !reflect.DeepEqual(errs, want) {
				t.Errorf("errors = %v, want %v", errs, want)
			}
			if len(got) != 0 {
				t.Errorf("out = %#v, want nothing", got)
			}
		})
	}
}

func TestCustomFieldsUnmapped(t *testing.T) {
	for _, vendor := range customVendors {
		seatsKey := customKeys[vendor]["seats"]
		seatsOut := map[string]any{crm.VendorHelpCrunch: float64(2), crm.VendorZenvia: "2", crm.VendorNXCloud: float64(2)}[vendor]

		t.Run(vendor+"/strict refuses each unmapped name", func(t *testing.T) {
			m := newCustom(t, vendor, true)
			got, errs := m.Write(map[string]any{"seats": float64(2), "color": "red", "age": float64(3), "gone": nil})
			var fields []string
			for _, e := range errs {
				fields = append(fields, e.Field)
				if !strings.Contains(e.Reason, "not a mapped custom field") {
					t.Errorf("%s: reason %q does not say it is not mapped", e.Field, e.Reason)
				}
			}
			if want := []string{"custom_fields.age", "custom_fields.color", "custom_fields.gone"}; !slices.Equal(fields, want) {
				t.Errorf("refused %v, want %v", fields, want)
			}
			if want := map[string]any{seatsKey: seatsOut}; !reflect.DeepEqual(got, want) {
				t.Errorf("out = %#v, want %#v", got, want)
			}
		})

		t.Run(vendor+"/passthrough keeps unmapped names unchanged", func(t *testing.T) {
			m := newCustom(t, vendor, false)
			in := map[string]any{
				"seats": float64(2), "color": "red", "age": float64(3), "flag": true,
				"gone": nil, "nested": map[string]any{"a": []any{"b"}}, "when": "2024-05-01",
			}
			got, errs := m.Write(in)
			if len(errs) > 0 {
				t.Fatalf("errors: %v", errs)
			}
			want := map[string]any{
				seatsKey: seatsOut, "color": "red", "age": float64(3), "flag": true,
				"gone": nil, "nested": map[string]any{"a": []any{"b"}}, "when": "2024-05-01",
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("out = %#v, want %#v", got, want)
			}
		})

		// Writing under a mapped field's vendor key would bypass its type
		// check (and collide with custom_fields.seats): the client must use
		// the normalized name.
		for _, strict := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/strict=%v/vendor key of a mapping refused", vendor, strict), func(t *testing.T) {
				m := newCustom(t, vendor, strict)
				got, errs := m.Write(map[string]any{seatsKey: "not a number"})
				if len(errs) != 1 || errs[0].Field != "custom_fields."+seatsKey {
					t.Fatalf("errors = %v, want one on custom_fields.%s", errs, seatsKey)
				}
				if !strict && !strings.Contains(errs[0].Reason, "custom_fields.seats") {
					t.Errorf("reason %q does not name custom_fields.seats", errs[0].Reason)
				}
				if len(got) != 0 {
					t.Errorf("out = %#v, want nothing", got)
				}
			})
		}
	}
}

// customReadCase is one row of TestCustomFieldsRead.
type customReadCase struct {
	vendor string
	name   string
	in     map[string]any // as the vendor answers, under vendor keys
	want   map[string]any // normalized
}

func TestCustomFieldsRead(t *testing.T) {
	tests := []customReadCase{
		// HelpCrunch answers typed values; dates as UNIX seconds, integer or string.
		{crm.VendorHelpCrunch, "typed values",
			map[string]any{"nick_name": "Ana", "number_of_seats": float64(15), "is_vip": true, "subscription_plan": "pro"},
			map[string]any{"nickname": "Ana", "seats": float64(15), "vip": true, "plan": "pro"}},
		{crm.VendorHelpCrunch, "fractional number", map[string]any{"number_of_seats": 15.99}, map[string]any{"seats": 15.99}},
		{crm.VendorHelpCrunch, "json.Number", map[string]any{"number_of_seats": json.Number("15")}, map[string]any{"seats": float64(15)}},
		{crm.VendorHelpCrunch, "date as integer", map[string]any{"renewal_date": float64(1714521600)}, map[string]any{"renewal": "2024-05-01"}},
		{crm.VendorHelpCrunch, "date as Go int", map[string]any{"renewal_date": 1714521600}, map[string]any{"renewal": "2024-05-01"}},
		{crm.VendorHelpCrunch, "date as json.Number", map[string]any{"renewal_date": json.Number("1714521600")}, map[string]any{"renewal": "2024-05-01"}},
		{crm.VendorHelpCrunch, "date as string", map[string]any{"renewal_date": "1714521600"}, map[string]any{"renewal": "2024-05-01"}},
		{crm.VendorHelpCrunch, "date as fractional string", map[string]any{"renewal_date": "1714521600.75"}, map[string]any{"renewal": "2024-05-01"}},
		{crm.VendorHelpCrunch, "date not at midnight", map[string]any{"renewal_date": float64(1714566245)}, map[string]any{"renewal": "2024-05-01"}},
		{crm.VendorHelpCrunch, "date from the docs", map[string]any{"renewal_date": float64(1603885746)}, map[string]any{"renewal": "2020-10-28"}},
		{crm.VendorHelpCrunch, "date before 1970", map[string]any{"renewal_date": float64(-86400)}, map[string]any{"renewal": "1969-12-31"}},
		{crm.VendorHelpCrunch, "boolean as string", map[string]any{"is_vip": "false"}, map[string]any{"vip": false}},

		// Zenvia form fields are strings.
		{crm.VendorZenvia, "strings back to types",
			map[string]any{"apelido": "Ana", "assentos": "15", "cliente_vip": "true", "data_renovacao": "2024-05-01", "plano": "basic"},
			map[string]any{"nickname": "Ana", "seats": float64(15), "vip": true, "renewal": "2024-05-01", "plan": "basic"}},
		{crm.VendorZenvia, "fractional number", map[string]any{"assentos": "15.5"}, map[string]any{"seats": 15.5}},
		{crm.VendorZenvia, "false", map[string]any{"cliente_vip": "false"}, map[string]any{"vip": false}},
		{crm.VendorZenvia, "numeric string stays a string", map[string]any{"apelido": "15"}, map[string]any{"nickname": "15"}},

		// NXCloud holds numbers as numbers, booleans as "true"/"false".
		{crm.VendorNXCloud, "typed values",
			map[string]any{"customize_1_1": "Ana", "customize_2_1": float64(15), "customize_3_1": "true", "customize_4_1": "2024-05-01", "customize_5_1": "pro"},
			map[string]any{"nickname": "Ana", "seats": float64(15), "vip": true, "renewal": "2024-05-01", "plan": "pro"}},
		{crm.VendorNXCloud, "false", map[string]any{"customize_3_1": "false"}, map[string]any{"vip": false}},
		{crm.VendorNXCloud, "number as string", map[string]any{"customize_2_1": "15.5"}, map[string]any{"seats": 15.5}},
	}
	// Every vendor: unmapped keys kept as they are, a value in an unexpected
	// shape returned unchanged, nil kept.
	for _, vendor := range customVendors {
		k := customKeys[vendor]
		tests = append(tests,
			customReadCase{vendor, "unmapped keys kept",
				map[string]any{"other": "x", "customize_9_9": float64(3), "flag": true, "when": float64(1714521600), "gone": nil},
				map[string]any{"other": "x", "customize_9_9": float64(3), "flag": true, "when": float64(1714521600), "gone": nil}},
			customReadCase{vendor, "unexpected shapes unchanged",
				map[string]any{k["nickname"]: float64(42), k["seats"]: "lots", k["vip"]: "maybe", k["renewal"]: "next week", k["plan"]: "legacy"},
				map[string]any{"nickname": float64(42), "seats": "lots", "vip": "maybe", "renewal": "next week", "plan": "legacy"}},
			customReadCase{vendor, "NaN-looking number unchanged", map[string]any{k["seats"]: "NaN"}, map[string]any{"seats": "NaN"}},
			customReadCase{vendor, "empty strings unchanged",
				map[string]any{k["seats"]: "", k["vip"]: "", k["renewal"]: ""},
				map[string]any{"seats": "", "vip": "", "renewal": ""}},
			customReadCase{vendor, "nil kept",
				map[string]any{k["seats"]: nil, k["renewal"]: nil},
				map[string]any{"seats": nil, "renewal": nil}},
		)
	}
	// Only HelpCrunch holds dates as UNIX seconds: a number in a Zenvia or
	// NXCloud date field is an unexpected shape, not a 1970 date.
	tests = append(tests,
		customReadCase{crm.VendorZenvia, "number in a date field unchanged", map[string]any{"data_renovacao": "20240501"}, map[string]any{"renewal": "20240501"}},
		customReadCase{crm.VendorNXCloud, "number in a date field unchanged", map[string]any{"customize_4_1": float64(20240501)}, map[string]any{"renewal": float64(20240501)}},
	)
	for _, tt := range tests {
		t.Run(tt.vendor+"/"+tt.name, func(t *testing.T) {
			m := newCustom(t, tt.vendor, true) // strict only concerns writes
			if got := m.Read(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("Read(%#v) = %#v, want %#v", tt.in, got, tt.want)
			}
		})
	}
	for _, vendor := range customVendors {
		m := newCustom(t, vendor, false)
		if got := m.Read(nil); len(got) != 0 {
			t.Errorf("%s: Read(nil) = %#v", vendor, got)
		}
	}
}

// An unmapped vendor key equal to a mapped name must not compete with the
// mapped field for custom_fields.<name>: the mapped field wins, every time.
func TestCustomFieldsReadShadowedName(t *testing.T) {
	m, err := mapping.NewCustomFields(crm.VendorHelpCrunch, false, []mapping.CustomField{
		{Name: "plan", Key: "subscription_plan", Type: crm.TypeEnum, Values: []string{"basic", "pro"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]any{"subscription_plan": "pro", "plan": "legacy attribute", "other": "x"}
	want := map[string]any{"plan": "pro", "other": "x"}
	for range 50 { // map iteration order varies from one call to the next
		if got := m.Read(in); !reflect.DeepEqual(got, want) {
			t.Fatalf("Read(%#v) = %#v, want %#v", in, got, want)
		}
	}
	// Alone, it is not shown as custom_fields.plan either: that name is the
	// mapped field's (the vendor's raw answer still carries it).
	in = map[string]any{"plan": "legacy attribute", "other": "x"}
	if got, want := m.Read(in), map[string]any{"other": "x"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Read(%#v) = %#v, want %#v", in, got, want)
	}
}

// vendorEcho simulates the vendor storing what was written and answering it:
// a trip through JSON (NXCloud's customize_field is a JSON string, Zenvia and
// HelpCrunch speak JSON), and HelpCrunch's habit of answering dates written
// as UNIX-second strings as integers.
func vendorEcho(t *testing.T, vendor string, written map[string]any, hcDatesAsIntegers bool) map[string]any {
	t.Helper()
	b, err := json.Marshal(written)
	if err != nil {
		t.Fatalf("marshal %#v: %v", written, err)
	}
	var stored map[string]any
	if err := json.Unmarshal(b, &stored); err != nil {
		t.Fatal(err)
	}
	if vendor == crm.VendorHelpCrunch && hcDatesAsIntegers {
		if s, ok := stored[customKeys[vendor]["renewal"]].(string); ok {
			var n float64
			if _, err := fmt.Sscan(s, &n); err != nil {
				t.Fatalf("helpcrunch date %q is not UNIX seconds", s)
			}
			stored[customKeys[vendor]["renewal"]] = n
		}
	}
	return stored
}

func TestCustomFieldsRoundTrip(t *testing.T) {
	values := []struct {
		field string
		in    any
	}{
		{"nickname", "Ana Souza"},
		{"nickname", ""},
		{"seats", float64(15)},
		{"seats", 15.5},
		{"seats", float64(0)},
		{"seats", -3.25},
		{"vip", true},
		{"vip", false},
		{"renewal", "2024-05-01"},
		{"renewal", "2024-02-29"},
		{"renewal", "1969-12-31"},
		{"plan", "basic"},
		{"plan", "pro"},
		{"seats", nil},
	}
	for _, vendor := range customVendors {
		m := newCustom(t, vendor, true)
		for _, hcInts := range []bool{false, true} {
			if hcInts && vendor != crm.VendorHelpCrunch {
				continue
			}
			for _, v := range values {
				t.Run(fmt.Sprintf("%s/%s=%v/hc-int-dates=%v", vendor, v.field, v.in, hcInts), func(t *testing.T) {
					in := map[string]any{v.field: v.in}
					written, errs := m.Write(in)
					if len(errs) > 0 {
						t.Fatalf("Write(%#v): %v", in, errs)
					}
					got := m.Read(vendorEcho(t, vendor, written, hcInts))
					if !reflect.DeepEqual(got, in) {
						t.Errorf("Write→Read(%#v) = %#v (vendor held %#v)", in, got, written)
					}
				})
			}
		}
		// all types at once
		t.Run(vendor+"/all", func(t *testing.T) {
			in := map[string]any{"nickname": "Ana", "seats": 15.5, "vip": true, "renewal": "2024-05-01", "plan": "pro"}
			written, errs := m.Write(in)
			if len(errs) > 0 {
				t.Fatal(errs)
			}
			if got := m.Read(vendorEcho(t, vendor, written, true)); !reflect.DeepEqual(got, in) {
				t.Errorf("Write→Read = %#v, want %#v", got, in)
			}
		})
	}
}

func TestNewCustomFields(t *testing.T) {
	t.Run("valid", func(t *testing.T) {
		for _, vendor := range customVendors {
			m := newCustom(t, vendor, false)
			var names []string
			for _, f := range m.Mapped() {
				names = append(names, f.Name)
			}
			if want := []string{"nickname", "plan", "renewal", "seats", "vip"}; !slices.Equal(names, want) {
				t.Errorf("%s: Mapped() names = %v, want %v", vendor, names, want)
			}
			f, ok := m.ByKey(customKeys[vendor]["renewal"])
			if !ok || f.Name != "renewal" || f.Type != crm.TypeDate {
				t.Errorf("%s: ByKey(renewal key) = %+v, %v", vendor, f, ok)
			}
			if _, ok := m.ByKey("renewal"); ok {
				t.Errorf("%s: ByKey found a normalized name", vendor)
			}
		}
		if m, err := mapping.NewCustomFields(crm.VendorNXCloud, true, nil); err != nil || len(m.Mapped()) != 0 {
			t.Errorf("no mappings: %v, %v", m, err)
		}
	})

	tests := []struct {
		name   string
		fields []mapping.CustomField
		want   []string // each must appear in the error
	}{
		{"unknown type",
			[]mapping.CustomField{{Name: "seats", Key: "customize_2_1", Type: "integer"}},
			[]string{`custom_fields.map.seats.type: must be string, number, boolean, date or enum (got "integer")`}},
		{"missing type",
			[]mapping.CustomField{{Name: "seats", Key: "customize_2_1"}},
			[]string{`custom_fields.map.seats.type:`}},
		{"empty key",
			[]mapping.CustomField{{Name: "seats", Type: crm.TypeNumber}},
			[]string{"custom_fields.map.seats.key: required"}},
		{"enum without values",
			[]mapping.CustomField{{Name: "plan", Key: "customize_5_1", Type: crm.TypeEnum}},
			[]string{"custom_fields.map.plan.values: an enum needs its values"}},
		{"values on a non-enum",
			[]mapping.CustomField{{Name: "nickname", Key: "customize_1_1", Type: crm.TypeString, Values: []string{"a"}}},
			[]string{"custom_fields.map.nickname.values: only an enum has values"}},
		{"two names mapped to one vendor key",
			[]mapping.CustomField{
				{Name: "seats", Key: "customize_2_1", Type: crm.TypeNumber},
				{Name: "licenses", Key: "customize_2_1", Type: crm.TypeNumber},
			},
			[]string{`custom_fields.map.seats.key: "customize_2_1" is already mapped by licenses`}},
		{"no name",
			[]mapping.CustomField{{Key: "customize_2_1", Type: crm.TypeNumber}},
			[]string{"custom_fields.map: a mapping has no name"}},
		{"several at once",
			[]mapping.CustomField{
				{Name: "ok", Key: "customize_1_1", Type: crm.TypeString},
				{Name: "seats", Key: "customize_2_1", Type: "integer"},
				{Name: "vip", Type: crm.TypeBoolean},
				{Name: "plan", Key: "customize_5_1", Type: crm.TypeEnum},
				{Name: "renewal", Key: "customize_4_1", Type: crm.TypeDate, Values: []string{"x"}},
				{Name: "again", Key: "customize_1_1", Type: crm.TypeString},
			},
			[]string{
				`custom_fields.map.ok.key: "customize_1_1" is already mapped by again`,
				"custom_fields.map.plan.values: an enum needs its values",
				"custom_fields.map.renewal.values: only an enum has values",
				`custom_fields.map.seats.type: must be string, number, boolean, date or enum (got "integer")`,
				"custom_fields.map.vip.key: required",
			}},
	}
	for _, tt := range tests {
		for _, vendor := range customVendors {
			t.Run(vendor+"/"+tt.name, func(t *testing.T) {
				m, err := mapping.NewCustomFields(vendor, false, tt.fields)
				if err == nil {
					t.Fatalf("no error (got %v)", m)
				}
				for _, w := range tt.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q\nlacks %q", err, w)
					}
				}
				if n := strings.Count(err.Error(), "custom_fields.map"); n != len(tt.want) {
					t.Errorf("error %q reports %d problems, want %d", err, n, len(tt.want))
				}
				// The configuration is a map, so mappings arrive in any
				// order: the report must not depend on it.
				rev := slices.Clone(tt.fields)
				slices.Reverse(rev)
				if _, err2 := mapping.NewCustomFields(vendor, false, rev); err2 == nil || err2.Error() != err.Error() {
					t.Errorf("reversed mappings give %v, want %v", err2, err)
				}
			})
		}
	}
}

// A connection to NXCloud maps the account's customize_<type>_<n> fields to
// names of its own; values are checked and converted both ways.
func ExampleCustomFields() {
	m, err := mapping.NewCustomFields(crm.VendorNXCloud, true, []mapping.CustomField{
		{Name: "plan", Key: "customize_5_1", Type: crm.TypeEnum, Values: []string{"basic", "pro"}},
		{Name: "renewal", Key: "customize_4_1", Type: crm.TypeDate},
		{Name: "seats", Key: "customize_2_1", Type: crm.TypeNumber},
		{Name: "vip", Key: "customize_3_1", Type: crm.TypeBoolean},
	})
	if err != nil {
		fmt.Println(err)
		return
	}

	// A request's custom_fields, on their way to NXCloud's customize_field.
	out, errs := m.Write(map[string]any{
		"plan": "pro", "renewal": "2025-03-01T10:00:00Z", "seats": "12", "vip": true,
	})
	fmt.Println(out, errs)

	// Bad values and unmapped names are the caller's errors.
	_, errs = m.Write(map[string]any{"plan": "gold", "seats": "NaN", "color": "red"})
	for _, e := range errs {
		fmt.Printf("%s: %s\n", e.Field, e.Reason)
	}

	// What NXCloud answers, back to normalized names and types; keys that
	// are not mapped stay as they are.
	fmt.Println(m.Read(map[string]any{
		"customize_2_1": float64(12), "customize_3_1": "false", "customize_4_1": "2025-03-01", "customize_9_9": "x",
	}))
	// Output:
	// map[customize_2_1:12 customize_3_1:true customize_4_1:2025-03-01 customize_5_1:pro] []
	// custom_fields.color: is not a mapped custom field of this connection
	// custom_fields.plan: must be one of basic, pro
	// custom_fields.seats: must be a number
	// map[customize_9_9:x renewal:2025-03-01 seats:12 vip:false]
}

package mapping_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/mapping"
)

// Vendor doc "Create customer", request body. Built from normalized fields,
// with firstSeen and source (not in the normalized model) as vendor_fields.
const hcDocCreateIn = `{
	"name": "John Doe",
	"email": "[email protected]",
	"external_id": "user_1234567890",
	"company": "Example Inc.",
	"phone": "+10233456781",
	"locale": "uk",
	"notes": "Lorem ipsum",
	"tags": [{"name": "vip", "color": "#ff0000"}],
	"custom_fields": {
		"subscription_status": "active",
		"number_of_payments": 15,
		"last_paid_amount": 15.99,
		"last_payment_date": "1603885746",
		"last_invoice_url": "https://example.com/invoice.html",
		"last_payment_was_successful": true
	},
	"vendor_fields": {"firstSeen": "1603885746", "source": "https://example.com"}
}`

// The doc's request body; customData entries are in property order, the
// order the mapping writes them in (HelpCrunch keys them by property).
const hcDocCreateWant = `{
	"name": "John Doe",
	"email": "[email protected]",
	"userId": "user_1234567890",
	"company": "Example Inc.",
	"phone": "+10233456781",
	"firstSeen": "1603885746",
	"source": "https://example.com",
	"locale": "uk",
	"notes": "Lorem ipsum",
	"tags": [{"name": "vip", "color": "#ff0000"}],
	"customData": [
		{"property": "last_invoice_url", "value": "https://example.com/invoice.html"},
		{"property": "last_paid_amount", "value": 15.99},
		{"property": "last_payment_date", "value": "1603885746"},
		{"property": "last_payment_was_successful", "value": true},
		{"property": "number_of_payments", "value": 15},
		{"property": "subscription_status", "value": "active"}
	]
}`

// Vendor doc "Batch update customers", one request item; the id ("customer")
// and the fields the normalized model lacks go through vendor_fields.
const hcDocBatchIn = `{
	"name": "John Doe",
	"email": "[email` + "\u00a0" + `protected]",
	"external_id": "user_1234567890",
	"company": "Example Inc.",
	"phone": "+10233456781",
	"locale": "uk",
	"notes": "Lorem ipsum",
	"tags": [{"name": "vip", "color": "#ff0000"}],
	"custom_fields": {
		"subscription_status": "active",
		"number_of_payments": 15,
		"last_paid_amount": 15.99,
		"last_payment_date": "1603885746",
		"last_invoice_url": "https://example.com/invoice.html",
		"last_payment_was_successful": true
	},
	"vendor_fields": {
		"customer": 542335,
		"firstSeen": "1603885746",
		"lastSeen": "1603885746",
		"unsubscribed": false,
		"blocked": false,
		"source": "https://example.com",
		"referer": "https://example.com",
		"lastPage": "https://example.com",
		"createdFrom": "telegram",
		"integrationId": "465847687"
	}
}`

const hcDocBatchWant = `{
	"customer": 542335,
	"name": "John Doe",
	"email": "[email` + "\u00a0" + `protected]",
	"userId": "user_1234567890",
	"company": "Example Inc.",
	"phone": "+10233456781",
	"firstSeen": "1603885746",
	"lastSeen": "1603885746",
	"unsubscribed": false,
	"blocked": false,
	"source": "https://example.com",
	"referer": "https://example.com",
	"lastPage": "https://example.com",
	"locale": "uk",
	"createdFrom": "telegram",
	"integrationId": "465847687",
	"notes": "Lorem ipsum",
	"tags": [{"name": "vip", "color": "#ff0000"}],
	"customData": [
		{"property": "last_invoice_url", "value": "https://example.com/invoice.html"},
		{"property": "last_paid_amount", "value": 15.99},
		{"property": "last_payment_date", "value": "1603885746"},
		{"property": "last_payment_was_successful", "value": true},
		{"property": "number_of_payments", "value": 15},
		{"property": "subscription_status", "value": "active"}
	]
}`

func TestHelpCrunchWrite(t *testing.T) {
	runWriteCases(t, crm.VendorHelpCrunch, mapping.HelpCrunchWrite, []writeCase{
		// Documented bodies.
		{name: "doc create request", in: hcDocCreateIn, want: hcDocCreateWant},
		{name: "doc batch update item", in: hcDocBatchIn, want: hcDocBatchWant},

		// Absent fields are left out.
		{name: "empty", in: `{}`, want: `{}`},

		// name, and first_name/last_name joined into it.
		{name: "name", in: `{"name":"John Doe"}`, want: `{"name":"John Doe"}`},
		{name: "name null clears", in: `{"name":null}`, want: `{"name":null}`},
		{name: "name empty string", in: `{"name":""}`, want: `{"name":""}`},
		{name: "first and last joined", in: `{"first_name":"John","last_name":"Doe"}`, want: `{"name":"John Doe"}`},
		{name: "first and last trimmed", in: `{"first_name":"  John ","last_name":" Doe  "}`, want: `{"name":"John Doe"}`},
		{name: "first only", in: `{"first_name":"John"}`, want: `{"name":"John"}`},
		{name: "last only", in: `{"last_name":"Doe"}`, want: `{"name":"Doe"}`},
		{name: "blank last ignored", in: `{"first_name":"John","last_name":"  "}`, want: `{"name":"John"}`},
		{name: "first null, last set", in: `{"first_name":null,"last_name":"Doe"}`, want: `{"name":"Doe"}`},
		{name: "first and last null clear name", in: `{"first_name":null,"last_name":null}`, want: `{"name":null}`},
		{name: "name wins over first and last", in: `{"name":"John Doe","first_name":"J","last_name":"D"}`, want: `{"name":"John Doe"}`},
		{name: "multibyte names joined", in: `{"first_name":"牛","last_name":"小信"}`, want: `{"name":"牛 小信"}`},

		// Plain string fields, set and null (null = clear, per batch doc).
		{name: "email", in: `{"email":"john@example.com"}`, want: `{"email":"john@example.com"}`},
		{name: "email null", in: `{"email":null}`, want: `{"email":null}`},
		{name: "email empty string kept", in: `{"email":""}`, want: `{"email":""}`},
		{name: "phone", in: `{"phone":"+10233456781"}`, want: `{"phone":"+10233456781"}`},
		{name: "phone null", in: `{"phone":null}`, want: `{"phone":null}`},
		{name: "external_id is userId", in: `{"external_id":"user_1234567890"}`, want: `{"userId":"user_1234567890"}`},
		{name: "external_id null", in: `{"external_id":null}`, want: `{"userId":null}`},
		{name: "company", in: `{"company":"Example Inc."}`, want: `{"company":"Example Inc."}`},
		{name: "company null", in: `{"company":null}`, want: `{"company":null}`},
		{name: "locale", in: `{"locale":"uk"}`, want: `{"locale":"uk"}`},
		{name: "locale null", in: `{"locale":null}`, want: `{"locale":null}`},
		{name: "notes", in: `{"notes":"Lorem ipsum"}`, want: `{"notes":"Lorem ipsum"}`},
		{name: "notes null", in: `{"notes":null}`, want: `{"notes":null}`},
		{name: "all nulls together", in: `{"name":null,"email":null,"phone":null,"external_id":null,"company":null,"locale":null,"notes":null,"tags":null}`,
			want: `{"name":null,"email":null,"phone":null,"userId":null,"company":null,"locale":null,"notes":null,"tags":null}`},

		// Tags: objects with an optional colour (HelpCrunch applies #c377e0).
		{name: "tag with colour", in: `{"tags":[{"name":"vip","color":"#ff0000"}]}`, want: `{"tags":[{"name":"vip","color":"#ff0000"}]}`},
		{name: "tag without colour leaves it out", in: `{"tags":[{"name":"new"}]}`, want: `{"tags":[{"name":"new"}]}`},
		{name: "tag empty colour leaves it out", in: `{"tags":[{"name":"new","color":""}]}`, want: `{"tags":[{"name":"new"}]}`},
		{name: "tags keep order", in: `{"tags":[{"name":"b"},{"name":"a","color":"red"},{"name":"牛"}]}`,
			want: `{"tags":[{"name":"b"},{"name":"a","color":"red"},{"name":"牛"}]}`},
		{name: "tags empty list", in: `{"tags":[]}`, want: `{"tags":[]}`},
		{name: "tags null clears", in: `{"tags":null}`, want: `{"tags":null}`},
		{name: "tag name empty", in: `{"tags":[{"name":""}]}`, fail: []string{"tags[0].name"}},
		{name: "second tag name empty", in: `{"tags":[{"name":"vip"},{"name":"","color":"#fff"}]}`, fail: []string{"tags[1].name"}},

		// custom_fields: written as the customData list of {property, value}.
		{name: "custom field string", in: `{"custom_fields":{"plan":"gold"}}`,
			want: `{"customData":[{"property":"plan","value":"gold"}]}`},
		{name: "custom fields keep value types, sorted by property", in: `{"custom_fields":{"z":15,"a":15.99,"m":true,"b":"1603885746","n":{"x":[1]}}}`,
			want: `{"customData":[{"property":"a","value":15.99},{"property":"b","value":"1603885746"},{"property":"m","value":true},{"property":"n","value":{"x":[1]}},{"property":"z","value":15}]}`},
		{name: "custom field null clears it", in: `{"custom_fields":{"plan":null}}`,
			want: `{"customData":[{"property":"plan","value":null}]}`},
		{name: "custom fields empty object sends nothing", in: `{"custom_fields":{}}`, want: `{}`},

		// vendor_fields: pass-through, no overriding of mapped keys.
		{name: "vendor fields pass through", in: `{"vendor_fields":{"unsubscribed":true,"firstSeen":"1603885746"}}`,
			want: `{"unsubscribed":true,"firstSeen":"1603885746"}`},
		{name: "vendor field for a key the mapping left unset", in: `{"vendor_fields":{"email":"x@y.z"}}`, want: `{"email":"x@y.z"}`},
		{name: "vendor field name conflicts with joined name", in: `{"first_name":"A","vendor_fields":{"name":"X"}}`, fail: []string{"vendor_fields.name"}},
		{name: "vendor field conflicts with a null mapped field", in: `{"email":null,"vendor_fields":{"email":"x"}}`, fail: []string{"vendor_fields.email"}},
		{name: "vendor field userId conflicts with external_id", in: `{"external_id":"u","vendor_fields":{"userId":"v"}}`, fail: []string{"vendor_fields.userId"}},
		{name: "vendor field tags conflicts", in: `{"tags":[{"name":"a"}],"vendor_fields":{"tags":[]}}`, fail: []string{"vendor_fields.tags"}},
		{name: "vendor field customData conflicts", in: `{"custom_fields":{"a":1},"vendor_fields":{"customData":[]}}`, fail: []string{"vendor_fields.customData"}},

		// Unsupported fields, each named.
		{name: "whatsapp_phone refused", in: `{"whatsapp_phone":"+1"}`, fail: []string{"whatsapp_phone"}},
		{name: "country refused", in: `{"country":"UA"}`, fail: []string{"country"}},
		{name: "address refused", in: `{"address":"Main st"}`, fail: []string{"address"}},
		{name: "birthday refused", in: `{"birthday":"1990-01-01"}`, fail: []string{"birthday"}},
		{name: "gender refused", in: `{"gender":"male"}`, fail: []string{"gender"}},
		{name: "timezone refused", in: `{"timezone":"Europe/Kiev"}`, fail: []string{"timezone"}},
		{name: "every error at once", in: `{"country":"UA","tags":[{"name":""}],"email":"a","vendor_fields":{"email":"b"}}`,
			fail: []string{"country", "tags[0].name", "vendor_fields.email"}},
	})
}

// Vendor doc "Create customer", successful response, verbatim.
const hcDocCreateResponse = `{
"id": 542335,
"name": "John Doe",
"email": "[email protected]",
"userId": "user_1234567890",
"company": "Example Inc.",
"phone": "+10233456781",
"firstSeen": "1603885746",
"lastSeen": "1603885746",
"location": {
"regionCode": "Kyyivs'ka Oblast",
"countryCode": "UA",
"city": "Kyiv"
},
"device": {
"id": 542335,
"ip": "192.168.1.1",
"timezone": "Europe/Kiev",
"platform": "desktop",
"userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.111 Safari/537.36"
},
"unsubscribed": false,
"blocked": false,
"source": "https://example.com",
"referer": "https://example.com",
"lastPage": "https://example.com",
"locale": "uk",
"createdFrom": "telegram",
"integrationId": "465847687",
"notes": "Lorem ipsum",
"tags": [
{
"name": "vip",
"color": "#ff0000"
}
],
"customData": {
"subscription_status": "active",
"number_of_payments": 15,
"last_paid_amount": 15.99,
"last_payment_date": 1603885746,
"last_invoice_url": "https://example.com/invoice.html",
"last_payment_was_successful": true
}
}`

// Vendor doc "Batch update customers", successful response, verbatim (the
// doc's obfuscated e-mail holds a no-break space, U+00A0).
const hcDocBatchResponse = `[
  {
    "id": 542335,
    "name": "John Doe",
    "email": "[email` + "\u00a0" + `protected]",
    "userId": "user_1234567890",
    "company": "Example Inc.",
    "phone": "+10233456781",
    "firstSeen": "1603885746",
    "lastSeen": "1603885746",
    "location": {
      "regionCode": "Kyyivs'ka Oblast",
      "countryCode": "UA",
      "city": "Kyiv"
    },
    "device": {
      "id": 542335,
      "ip": "192.168.1.1",
      "timezone": "Europe/Kiev",
      "platform": "desktop",
      "userAgent": "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/86.0.4240.111 Safari/537.36"
    },
    "unsubscribed": false,
    "blocked": false,
    "source": "https://example.com",
    "referer": "https://example.com",
    "lastPage": "https://example.com",
    "locale": "uk",
    "createdFrom": "telegram",
    "integrationId": "465847687",
    "notes": "Lorem ipsum",
    "tags": [
      {
        "name": "vip",
        "color": "#ff0000"
      }
    ],
    "customData": {
      "subscription_status": "active",
      "number_of_payments": 15,
      "last_paid_amount": 15.99,
      "last_payment_date": 1603885746,
      "last_invoice_url": "https://example.com/invoice.html",
      "last_payment_was_successful": true
    }
  }
]`

// hcDocCustomer is the normalized form of the doc's customer.
var hcDocCustomer = crm.Customer{
	ID:         "542335",
	Vendor:     crm.VendorHelpCrunch,
	Name:       "John Doe",
	Email:      "[email protected]",
	ExternalID: "user_1234567890",
	Company:    "Example Inc.",
	Phone:      "+10233456781",
	Country:    "UA",          // location.countryCode
	Timezone:   "Europe/Kiev", // device.timezone
	Locale:     "uk",
	Notes:      "Lorem ipsum",
	Tags:       []crm.Tag{{Name: "vip", Color: "#ff0000"}},
	CustomFields: map[string]any{ // customData comes back as an object
		"subscription_status":         "active",
		"number_of_payments":          float64(15),
		"last_paid_amount":            15.99,
		"last_payment_date":           float64(1603885746),
		"last_invoice_url":            "https://example.com/invoice.html",
		"last_payment_was_successful": true,
	},
}

// hcDocBatchCustomer is the batch doc's customer: the same but for the no-break
// space in its e-mail.
var hcDocBatchCustomer = func() crm.Customer {
	c := hcDocCustomer
	c.Email = "[email\u00a0protected]"
	return c
}()

func TestHelpCrunchRead(t *testing.T) {
	var batch []json.RawMessage
	if err := json.Unmarshal([]byte(hcDocBatchResponse), &batch); err != nil || len(batch) != 1 {
		t.Fatalf("doc batch response: %v (%d items)", err, len(batch))
	}
	for _, tc := range []struct {
		name string
		raw  string
		want crm.Customer
	}{
		{"doc create response", hcDocCreateResponse, hcDocCustomer},
		{"doc batch response item", string(batch[0]), hcDocBatchCustomer},
		{"minimal", `{"id":7}`, crm.Customer{ID: "7", Vendor: crm.VendorHelpCrunch}},
		{"id as a numeric string", `{"id":"542335"}`, crm.Customer{ID: "542335", Vendor: crm.VendorHelpCrunch}},
		{"nulls read as empty", `{"id":1,"name":null,"email":null,"userId":null,"company":null,"phone":null,"locale":null,"notes":null,"tags":null,"customData":null,"location":null,"device":null}`,
			crm.Customer{ID: "1", Vendor: crm.VendorHelpCrunch}},
		{"empty tags and customData", `{"id":1,"tags":[],"customData":{}}`,
			crm.Customer{ID: "1", Vendor: crm.VendorHelpCrunch, Tags: []crm.Tag{}, CustomFields: map[string]any{}}},
		{"tag without colour", `{"id":1,"tags":[{"name":"new"}]}`,
			crm.Customer{ID: "1", Vendor: crm.VendorHelpCrunch, Tags: []crm.Tag{{Name: "new"}}}},
		{"location and device without the read keys", `{"id":1,"location":{"city":"Kyiv"},"device":{"ip":"1.2.3.4"}}`,
			crm.Customer{ID: "1", Vendor: crm.VendorHelpCrunch}},
		{"custom data null value kept", `{"id":1,"customData":{"plan":null}}`,
			crm.Customer{ID: "1", Vendor: crm.VendorHelpCrunch, CustomFields: map[string]any{"plan": nil}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := json.RawMessage(tc.raw)
			got, err := mapping.HelpCrunchRead(raw)
			if err != nil {
				t.Fatal(err)
			}
			remote, ok := got.Remote.(json.RawMessage)
			if !ok || !bytes.Equal(remote, raw) {
				t.Errorf("Remote = %T %s, want the raw answer", got.Remote, got.Remote)
			}
			got.Remote = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestHelpCrunchReadErrors(t *testing.T) {
	for _, raw := range []string{
		``,
		`not json`,
		`[]`,
		`{"id":true}`,
		`{"id":1,"name":5}`,
		`{"id":1,"tags":"vip"}`,
	} {
		t.Run(raw, func(t *testing.T) {
			if _, err := mapping.HelpCrunchRead(json.RawMessage(raw)); err == nil {
				t.Error("want a decode error")
			}
		})
	}
}

// TestHelpCrunchRoundTrip writes the doc's fields, lets HelpCrunch answer
// (the doc's response), and reads back what was written.
func TestHelpCrunchRoundTrip(t *testing.T) {
	f := mustFields(t, hcDocCreateIn)
	if _, err := mapping.HelpCrunchWrite(f); err != nil {
		t.Fatal(err)
	}
	c, err := mapping.HelpCrunchRead(json.RawMessage(hcDocCreateResponse))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []struct{ field, got, want string }{
		{"name", c.Name, f.Name.Value()},
		{"email", c.Email, f.Email.Value()},
		{"external_id", c.ExternalID, f.ExternalID.Value()},
		{"company", c.Company, f.Company.Value()},
		{"phone", c.Phone, f.Phone.Value()},
		{"locale", c.Locale, f.Locale.Value()},
		{"notes", c.Notes, f.Notes.Value()},
	} {
		if p.got != p.want {
			t.Errorf("%s: read %q, wrote %q", p.field, p.got, p.want)
		}
	}
	if !reflect.DeepEqual(c.Tags, f.Tags.Value()) {
		t.Errorf("tags: read %v, wrote %v", c.Tags, f.Tags.Value())
	}
	for k := range f.CustomFields {
		if _, ok := c.CustomFields[k]; !ok {
			t.Errorf("custom field %q not read back", k)
		}
	}
}

func TestHelpCrunchID(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64 // 0 = invalid
	}{
		{"542335", 542335},
		{"1", 1},
		{"9223372036854775807", 9223372036854775807},
		{"0", 0},
		{"-1", 0},
		{"", 0},
		{"abc", 0},
		{"12.5", 0},
		{"1e3", 0},
		{" 1", 0},
		{"1 ", 0},
		{"0x1F", 0},
		{"9223372036854775808", 0}, // overflows int64
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := mapping.HelpCrunchID(tc.in)
			if tc.want != 0 {
				if err != nil || got != tc.want {
					t.Errorf("HelpCrunchID(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
				}
				return
			}
			if got != 0 {
				t.Errorf("HelpCrunchID(%q) = %d, want 0 with an error", tc.in, got)
			}
			var e *crm.Error
			if !errors.As(err, &e) {
				t.Fatalf("want *crm.Error, got %T %v", err, err)
			}
			if e.Code != crm.EInvalid || len(e.Fields) != 1 || e.Fields[0].Field != "id" {
				t.Errorf("error = %+v, want %s naming id", e, crm.EInvalid)
			}
		})
	}
}

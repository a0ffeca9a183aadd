package mapping_test

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/mapping"
)

func TestZenviaWrite(t *testing.T) {
	runWriteCases(t, crm.VendorZenvia, mapping.ZenviaWrite, []writeCase{
		// The two items of the doc's request body (agent_id sits beside
		// "fields", so it travels as a vendor field).
		{name: "doc item 1",
			in:   `{"name":"Customer 1 Name","phone":"1122334455","vendor_fields":{"agent_id":1}}`,
			want: `{"fields":{"main_identifier":"Customer 1 Name","channel_phone":"1122334455"},"agent_id":1}`},
		{name: "doc item 2",
			in:   `{"name":"Customer 2 Name","email":"customer@email.com","vendor_fields":{"agent_id":9999}}`,
			want: `{"fields":{"main_identifier":"Customer 2 Name","channel_email":"customer@email.com"},"agent_id":9999}`},

		// main_identifier: required; name, or first/last joined.
		{name: "name only", in: `{"name":"Ana"}`, want: `{"fields":{"main_identifier":"Ana"}}`},
		{name: "first and last joined", in: `{"first_name":"Ana","last_name":"Souza"}`, want: `{"fields":{"main_identifier":"Ana Souza"}}`},
		{name: "first and last trimmed", in: `{"first_name":" Ana ","last_name":"  Souza"}`, want: `{"fields":{"main_identifier":"Ana Souza"}}`},
		{name: "first only", in: `{"first_name":"Ana"}`, want: `{"fields":{"main_identifier":"Ana"}}`},
		{name: "last only", in: `{"last_name":"Souza"}`, want: `{"fields":{"main_identifier":"Souza"}}`},
		{name: "name wins", in: `{"name":"Ana Souza","first_name":"X","last_name":"Y"}`, want: `{"fields":{"main_identifier":"Ana Souza"}}`},
		{name: "name null falls back to first and last", in: `{"name":null,"first_name":"Ana","last_name":"Souza"}`, want: `{"fields":{"main_identifier":"Ana Souza"}}`},
		{name: "multibyte name", in: `{"name":"牛小信"}`, want: `{"fields":{"main_identifier":"牛小信"}}`},
		{name: "no name", in: `{}`, fail: []string{"name"}},
		{name: "no name with other fields", in: `{"phone":"1122334455","email":"a@b.c"}`, fail: []string{"name"}},
		{name: "name null", in: `{"name":null}`, fail: []string{"name"}},
		{name: "name empty", in: `{"name":""}`, fail: []string{"name"}},
		{name: "first and last null", in: `{"first_name":null,"last_name":null}`, fail: []string{"name"}},
		{name: "first and last blank", in: `{"first_name":" ","last_name":""}`, fail: []string{"name"}},

		// channel_phone / channel_email; null is sent as "" (Zenvia's unset).
		{name: "phone", in: `{"name":"A","phone":"1122334455"}`, want: `{"fields":{"main_identifier":"A","channel_phone":"1122334455"}}`},
		{name: "phone null", in: `{"name":"A","phone":null}`, want: `{"fields":{"main_identifier":"A","channel_phone":""}}`},
		{name: "phone empty", in: `{"name":"A","phone":""}`, want: `{"fields":{"main_identifier":"A","channel_phone":""}}`},
		{name: "email", in: `{"name":"A","email":"customer@email.com"}`, want: `{"fields":{"main_identifier":"A","channel_email":"customer@email.com"}}`},
		{name: "email null", in: `{"name":"A","email":null}`, want: `{"fields":{"main_identifier":"A","channel_email":""}}`},
		{name: "phone and email", in: `{"name":"A","phone":"1","email":"e@x.y"}`,
			want: `{"fields":{"main_identifier":"A","channel_phone":"1","channel_email":"e@x.y"}}`},

		// custom_fields: account form fields inside "fields"; null as "".
		{name: "custom form fields", in: `{"name":"A","custom_fields":{"cpf":"12345678900","score":5,"vip":true}}`,
			want: `{"fields":{"main_identifier":"A","cpf":"12345678900","score":5,"vip":true}}`},
		{name: "custom field null sent as empty string", in: `{"name":"A","custom_fields":{"cpf":null}}`,
			want: `{"fields":{"main_identifier":"A","cpf":""}}`},
		{name: "custom main_photo allowed", in: `{"name":"A","custom_fields":{"main_photo":"https://x/y.png"}}`,
			want: `{"fields":{"main_identifier":"A","main_photo":"https://x/y.png"}}`},
		{name: "custom fields empty", in: `{"name":"A","custom_fields":{}}`, want: `{"fields":{"main_identifier":"A"}}`},
		{name: "custom main_identifier refused", in: `{"name":"A","custom_fields":{"main_identifier":"B"}}`,
			fail: []string{"custom_fields.main_identifier"}},
		{name: "custom standard fields all refused", in: `{"name":"A","custom_fields":{"main_identifier":"B","channel_phone":"1","channel_email":"e","ok":"x"}}`,
			fail: []string{"custom_fields.main_identifier", "custom_fields.channel_phone", "custom_fields.channel_email"}},
		{name: "custom standard field refused even without the normalized one", in: `{"name":"A","custom_fields":{"channel_phone":"1"}}`,
			fail: []string{"custom_fields.channel_phone"}},

		// vendor_fields go beside "fields".
		{name: "vendor agent_id", in: `{"name":"A","vendor_fields":{"agent_id":1}}`, want: `{"fields":{"main_identifier":"A"},"agent_id":1}`},
		{name: "vendor fields conflict", in: `{"name":"A","vendor_fields":{"fields":{}}}`, fail: []string{"vendor_fields.fields"}},

		// Unsupported fields.
		{name: "whatsapp_phone refused", in: `{"name":"A","whatsapp_phone":"1"}`, fail: []string{"whatsapp_phone"}},
		{name: "external_id refused", in: `{"name":"A","external_id":"u"}`, fail: []string{"external_id"}},
		{name: "company refused", in: `{"name":"A","company":"c"}`, fail: []string{"company"}},
		{name: "country refused", in: `{"name":"A","country":"BR"}`, fail: []string{"country"}},
		{name: "address refused", in: `{"name":"A","address":"x"}`, fail: []string{"address"}},
		{name: "birthday refused", in: `{"name":"A","birthday":"1990-01-01"}`, fail: []string{"birthday"}},
		{name: "gender refused", in: `{"name":"A","gender":"male"}`, fail: []string{"gender"}},
		{name: "locale refused", in: `{"name":"A","locale":"pt"}`, fail: []string{"locale"}},
		{name: "timezone refused", in: `{"name":"A","timezone":"UTC"}`, fail: []string{"timezone"}},
		{name: "notes refused", in: `{"name":"A","notes":"n"}`, fail: []string{"notes"}},
		{name: "tags refused", in: `{"name":"A","tags":[{"name":"vip"}]}`, fail: []string{"tags"}},
		{name: "tags empty list refused", in: `{"name":"A","tags":[]}`, fail: []string{"tags"}},
		{name: "every error at once", in: `{"notes":"n","custom_fields":{"channel_email":"e"},"vendor_fields":{"fields":1}}`,
			fail: []string{"notes", "name", "custom_fields.channel_email", "vendor_fields.fields"}},
	})
}

// The customer of the doc's success response, verbatim.
const zenviaDocCustomer = `{
      "account_id": 9999,
      "fields": {
        "main_photo": "",
        "channel_email": "",
        "channel_phone": "1122334455",
        "main_identifier": "Customer"
      },
      "id": 1,
      "date_creation": "2020-01-07T00:00:00.000Z",
      "change_date": "2020-01-07T00:00:00.000Z",
      "customer_key": "0000-abcd-efgh-ijkl-1c422e49fdff",
      "active": true,
      "agent_id": 9999
    }`

func TestZenviaRead(t *testing.T) {
	for _, tc := range []struct {
		name    string
		raw     string
		want    crm.Customer
		created bool
	}{
		{name: "doc success customer", raw: zenviaDocCustomer, created: true, want: crm.Customer{
			ID: "0000-abcd-efgh-ijkl-1c422e49fdff", Vendor: crm.VendorZenvia,
			Name: "Customer", Phone: "1122334455"}},
		{name: "updated: change_date after date_creation",
			raw: `{"id":1,"customer_key":"k-1","date_creation":"2020-01-07T00:00:00.000Z","change_date":"2020-03-01T10:00:00.000Z",
				"fields":{"main_identifier":"Ana","channel_email":"ana@x.y","channel_phone":"","main_photo":""}}`,
			want: crm.Customer{ID: "k-1", Vendor: crm.VendorZenvia, Name: "Ana", Email: "ana@x.y"}},
		{name: "no dates: not known to be created", raw: `{"customer_key":"k-2","fields":{"main_identifier":"A"}}`,
			want: crm.Customer{ID: "k-2", Vendor: crm.VendorZenvia, Name: "A"}},
		{name: "only change_date", raw: `{"customer_key":"k-3","change_date":"2020-01-07T00:00:00.000Z","fields":{}}`,
			want: crm.Customer{ID: "k-3", Vendor: crm.VendorZenvia}},
		{name: "only date_creation", raw: `{"customer_key":"k-4","date_creation":"2020-01-07T00:00:00.000Z","fields":{}}`,
			want: crm.Customer{ID: "k-4", Vendor: crm.VendorZenvia}},
		{name: "custom form fields: set ones read, unset ones skipped",
			raw: `{"customer_key":"k-5","date_creation":"d","change_date":"d","fields":{"main_identifier":"A","main_photo":"https://x/p.png",
				"cpf":"12345678900","score":30,"vip":false,"plan":"","nick":null}}`,
			created: true,
			want: crm.Customer{ID: "k-5", Vendor: crm.VendorZenvia, Name: "A",
				CustomFields: map[string]any{"cpf": "12345678900", "score": float64(30), "vip": false}}},
		{name: "no fields", raw: `{"customer_key":"k-6"}`, want: crm.Customer{ID: "k-6", Vendor: crm.VendorZenvia}},
		{name: "non-string standard fields read as empty", raw: `{"customer_key":"k-7","fields":{"main_identifier":5,"channel_phone":null}}`,
			want: crm.Customer{ID: "k-7", Vendor: crm.VendorZenvia}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			raw := json.RawMessage(tc.raw)
			got, created, err := mapping.ZenviaRead(raw)
			if err != nil {
				t.Fatal(err)
			}
			if created != tc.created {
				t.Errorf("created = %v, want %v", created, tc.created)
			}
			remote, ok := got.Remote.(json.RawMessage)
			if !ok || !bytes.Equal(remote, raw) {
				t.Errorf("Remote = %T, want the raw answer", got.Remote)
			}
			got.Remote = nil
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestZenviaReadErrors(t *testing.T) {
	for _, raw := range []string{``, `nope`, `[]`, `{"fields":[]}`, `{"customer_key":5}`} {
		t.Run(raw, func(t *testing.T) {
			if _, created, err := mapping.ZenviaRead(json.RawMessage(raw)); err == nil || created {
				t.Errorf("want a decode error, got created=%v err=%v", created, err)
			}
		})
	}
}

// TestZenviaRoundTrip: what ZenviaWrite sends comes back normalized as sent.
func TestZenviaRoundTrip(t *testing.T) {
	item, err := mapping.ZenviaWrite(mustFields(t,
		`{"first_name":"Ana","last_name":"Souza","email":"ana@x.y","phone":"1122334455","custom_fields":{"cpf":"123","score":7}}`))
	if err != nil {
		t.Fatal(err)
	}
	// Zenvia answers every form field, unset ones as "".
	fields := item["fields"].(map[string]any)
	fields["main_photo"] = ""
	fields["other_form_field"] = ""
	answer := map[string]any{"customer_key": "k", "fields": fields,
		"date_creation": "2020-01-07T00:00:00.000Z", "change_date": "2020-01-07T00:00:00.000Z"}
	got, created, err := mapping.ZenviaRead(json.RawMessage(mustJSON(t, answer)))
	if err != nil {
		t.Fatal(err)
	}
	got.Remote = nil
	want := crm.Customer{ID: "k", Vendor: crm.VendorZenvia, Name: "Ana Souza", Email: "ana@x.y", Phone: "1122334455",
		CustomFields: map[string]any{"cpf": "123", "score": float64(7)}}
	if !created || !reflect.DeepEqual(got, want) {
		t.Errorf("created=%v\ngot  %+v\nwant %+v", created, got, want)
	}
}

// The rejected item of the doc's success response, verbatim.
const zenviaDocEcho = `{
      "fields": {
        "main_identifier": "Another Customer",
        "channel_email": "another@customer.com"
      },
      "agent_id": 9999,
      "errors": [
        "field: channel_phone is required",
        "agent_id: 9999 not found"
      ]
    }`

func TestZenviaSameItem(t *testing.T) {
	var docEcho mapping.ZenviaEcho
	if err := json.Unmarshal([]byte(zenviaDocEcho), &docEcho); err != nil {
		t.Fatal(err)
	}
	if len(docEcho.Errors) != 2 || docEcho.Errors[0] != "field: channel_phone is required" {
		t.Fatalf("echo errors = %q", docEcho.Errors)
	}
	echo := func(js string) mapping.ZenviaEcho {
		var e mapping.ZenviaEcho
		if err := json.Unmarshal([]byte(js), &e); err != nil {
			t.Fatalf("bad echo %s: %v", js, err)
		}
		return e
	}
	for _, tc := range []struct {
		name string
		sent string // crm.Fields, written with ZenviaWrite
		echo mapping.ZenviaEcho
		same bool
	}{
		{"doc echo, same item", `{"name":"Another Customer","email":"another@customer.com","vendor_fields":{"agent_id":9999}}`, docEcho, true},
		{"doc echo, agent_id not compared", `{"name":"Another Customer","email":"another@customer.com"}`, docEcho, true},
		{"doc echo, other item", `{"name":"Customer 2 Name","email":"customer@email.com","vendor_fields":{"agent_id":9999}}`, docEcho, false},
		{"key order does not matter", `{"name":"A","phone":"1","email":"e@x.y"}`,
			echo(`{"fields":{"channel_email":"e@x.y","channel_phone":"1","main_identifier":"A"}}`), true},
		{"joined name", `{"first_name":"Ana","last_name":"Souza"}`, echo(`{"fields":{"main_identifier":"Ana Souza"}}`), true},
		{"value differs", `{"name":"A","phone":"1"}`, echo(`{"fields":{"main_identifier":"A","channel_phone":"2"}}`), false},
		{"echo has an extra field", `{"name":"A"}`, echo(`{"fields":{"main_identifier":"A","channel_phone":""}}`), false},
		{"echo lacks a field", `{"name":"A","phone":"1"}`, echo(`{"fields":{"main_identifier":"A"}}`), false},
		{"null sent as empty string", `{"name":"A","phone":null}`, echo(`{"fields":{"main_identifier":"A","channel_phone":""}}`), true},
		{"numbers and booleans", `{"name":"A","custom_fields":{"score":5,"vip":true,"ratio":0.5}}`,
			echo(`{"fields":{"main_identifier":"A","score":5,"vip":true,"ratio":0.5}}`), true},
		{"number vs string", `{"name":"A","custom_fields":{"score":5}}`,
			echo(`{"fields":{"main_identifier":"A","score":"5"}}`), false},
		{"multibyte and html characters", `{"name":"牛 <&>"}`, echo(`{"fields":{"main_identifier":"牛 <&>"}}`), true},
		{"case matters", `{"name":"ana"}`, echo(`{"fields":{"main_identifier":"Ana"}}`), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sent, err := mapping.ZenviaWrite(mustFields(t, tc.sent))
			if err != nil {
				t.Fatal(err)
			}
			if got := mapping.ZenviaSameItem(sent, tc.echo); got != tc.same {
				t.Errorf("ZenviaSameItem = %v, want %v", got, tc.same)
			}
		})
	}

	// Items built in Go (ints rather than float64) pair with decoded echoes.
	sent := map[string]any{"fields": map[string]any{"main_identifier": "A", "score": 5}, "agent_id": 1}
	if !mapping.ZenviaSameItem(sent, echo(`{"fields":{"main_identifier":"A","score":5}}`)) {
		t.Error("int 5 and JSON 5 should pair")
	}
}

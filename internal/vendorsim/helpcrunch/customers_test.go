package helpcrunch_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
)

// docCreateBody is the request of the vendor's "Create customer" page.
const docCreateBody = `{
	"name": "John Doe",
	"email": "john@example.com",
	"userId": "user_1234567890",
	"company": "Example Inc.",
	"phone": "+10233456781",
	"firstSeen": "1603885746",
	"source": "https://example.com",
	"locale": "uk",
	"notes": "Lorem ipsum",
	"tags": [{"name": "vip", "color": "#ff0000"}],
	"customData": [
		{"property": "subscription_status", "value": "active"},
		{"property": "number_of_payments", "value": 15},
		{"property": "last_paid_amount", "value": 15.99},
		{"property": "last_payment_date", "value": "1603885746"},
		{"property": "last_invoice_url", "value": "https://example.com/invoice.html"},
		{"property": "last_payment_was_successful", "value": true}
	]
}`

// docCustomerData is the documented read form of docCreateBody's customData.
const docCustomerData = `{
	"subscription_status": "active",
	"number_of_payments": 15,
	"last_paid_amount": 15.99,
	"last_payment_date": 1603885746,
	"last_invoice_url": "https://example.com/invoice.html",
	"last_payment_was_successful": true
}`

func TestCreateCustomerDocumentedExample(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	res := h.do(http.MethodPost, "/customers", raw(docCreateBody))
	wantJSON(t, res, http.StatusCreated, `{
		"id": 1, "name": "John Doe", "email": "john@example.com", "userId": "user_1234567890",
		"company": "Example Inc.", "phone": "+10233456781",
		"firstSeen": "1603885746", "lastSeen": "1603885746",
		"location": null, "device": null, "unsubscribed": false, "blocked": false,
		"source": "https://example.com", "referer": null, "lastPage": null, "locale": "uk",
		"createdFrom": null, "integrationId": null, "notes": "Lorem ipsum",
		"tags": [{"name": "vip", "color": "#ff0000"}],
		"customData": `+docCustomerData+`
	}`)

	// The stored customer reads back identically.
	get := h.do(http.MethodGet, "/customers/1", nil)
	if get.status != http.StatusOK || !reflect.DeepEqual(decode(t, get.body), decode(t, res.body)) {
		t.Fatalf("read back %d %s\nwant %s", get.status, get.body, res.body)
	}
	c, ok := h.sim.Customer(1)
	if !ok || c.Fields["email"] != "john@example.com" || c.FirstSeen.Unix() != 1603885746 ||
		c.CustomData["last_payment_date"] != json.Number("1603885746") {
		t.Fatalf("inspected customer = %+v", c)
	}
	if !c.CreatedAt.Equal(startTime) || !c.UpdatedAt.Equal(startTime) {
		t.Errorf("bookkeeping times = %v, %v; want %v", c.CreatedAt, c.UpdatedAt, startTime)
	}
}

func TestCreateCustomerAllFields(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	res := h.do(http.MethodPost, "/customers", raw(`{
		"id": 777,
		"name": "A", "email": "a@b.co", "userId": "u", "company": "C", "phone": "1",
		"firstSeen": 1603885700, "lastSeen": "1603885746.5",
		"location": {"regionCode": "Kyyivs'ka Oblast", "countryCode": "UA", "city": "Kyiv"},
		"device": {"id": 5, "ip": "192.168.1.1", "timezone": "Europe/Kiev", "platform": "desktop", "userAgent": "Mozilla/5.0"},
		"unsubscribed": true, "blocked": true,
		"source": "s", "referer": "r", "lastPage": "<p>&amp;", "locale": "UK",
		"createdFrom": "telegram", "integrationId": "465847687", "notes": "n",
		"unknownField": "ignored"
	}`))
	// The id is assigned by the simulator; the device id is read-only.
	wantJSON(t, res, http.StatusCreated, `{
		"id": 1, "name": "A", "email": "a@b.co", "userId": "u", "company": "C", "phone": "1",
		"firstSeen": "1603885700", "lastSeen": "1603885746.5",
		"location": {"regionCode": "Kyyivs'ka Oblast", "countryCode": "UA", "city": "Kyiv"},
		"device": {"id": 1, "ip": "192.168.1.1", "timezone": "Europe/Kiev", "platform": "desktop", "userAgent": "Mozilla/5.0"},
		"unsubscribed": true, "blocked": true,
		"source": "s", "referer": "r", "lastPage": "<p>&amp;", "locale": "UK",
		"createdFrom": "telegram", "integrationId": "465847687", "notes": "n",
		"tags": [], "customData": {}
	}`)
	if !strings.Contains(string(res.body), `"lastPage":"<p>&amp;"`) {
		t.Errorf("HTML-escaped output: %s", res.body)
	}
}

func TestCreateCustomerDefaults(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	wantJSON(t, h.do(http.MethodPost, "/customers", raw(`{}`)), http.StatusCreated, nullCustomer(1))
	// Ids are sequential; firstSeen is the current whole second.
	h.clock.Advance(90 * time.Second)
	res := h.do(http.MethodPost, "/customers", raw(`{"firstSeen": null, "lastSeen": "1600000000"}`))
	m := object(t, res)
	if m["id"] != json.Number("2") || m["firstSeen"] != nil || m["lastSeen"] != "1600000000" {
		t.Fatalf("second customer = %s", res.body)
	}
	res = h.do(http.MethodPost, "/customers", raw(`{"firstSeen": "1600000000"}`))
	m = object(t, res)
	if m["id"] != json.Number("3") || m["lastSeen"] != "1600000000" {
		t.Fatalf("lastSeen should default to firstSeen: %s", res.body)
	}
	res = h.do(http.MethodPost, "/customers", raw(`{}`))
	if m = object(t, res); m["firstSeen"] != "1700000090" {
		t.Fatalf("firstSeen = %v, want the clock's second", m["firstSeen"])
	}
	if n := h.sim.CustomerCount(); n != 4 {
		t.Fatalf("count = %d", n)
	}
}

func TestTimestampForms(t *testing.T) {
	tests := []struct {
		name string
		in   string // JSON value of firstSeen
		want string
	}{
		{name: "seconds string", in: `"1603885746"`, want: "1603885746"},
		{name: "integer", in: `1603885746`, want: "1603885746"},
		{name: "fractional string", in: `"1603885746.25"`, want: "1603885746.25"},
		{name: "fractional number", in: `1603885746.125`, want: "1603885746.125"},
		{name: "trailing zeros dropped", in: `"1603885746.500"`, want: "1603885746.5"},
		{name: "whole fraction", in: `"1603885746.000"`, want: "1603885746"},
		{name: "nanoseconds kept exactly", in: `"1603885746.123456789"`, want: "1603885746.123456789"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, helpcrunch.Config{})
			m := object(t, h.do(http.MethodPost, "/customers", raw(`{"firstSeen": `+tt.in+`}`)))
			if m["firstSeen"] != tt.want || m["lastSeen"] != tt.want {
				t.Fatalf("firstSeen/lastSeen = %v/%v, want %q", m["firstSeen"], m["lastSeen"], tt.want)
			}
		})
	}
}

func TestTagsCreatedOnTheFly(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	res := h.do(http.MethodPost, "/customers", raw(`{"tags": [{"name": "lead"}, {"name": "vip", "color": "red"}, {"name": "lead"}]}`))
	m := object(t, res)
	wantTags := decode(t, []byte(`[{"name":"lead","color":"#c377e0"},{"name":"vip","color":"red"}]`))
	if !reflect.DeepEqual(m["tags"], wantTags) {
		t.Fatalf("tags = %v, want %v", m["tags"], wantTags)
	}
	// An existing tag keeps its account colour.
	m = object(t, h.do(http.MethodPost, "/customers", raw(`{"tags": [{"name": "vip", "color": "#000"}, {"name": "new", "color": null}]}`)))
	wantTags = decode(t, []byte(`[{"name":"vip","color":"red"},{"name":"new","color":"#c377e0"}]`))
	if !reflect.DeepEqual(m["tags"], wantTags) {
		t.Fatalf("tags = %v, want %v", m["tags"], wantTags)
	}
	want := []helpcrunch.Tag{{Name: "lead", Color: "#c377e0"}, {Name: "vip", Color: "red"}, {Name: "new", Color: "#c377e0"}}
	if got := h.sim.Tags(); !reflect.DeepEqual(got, want) {
		t.Fatalf("account tags = %v, want %v", got, want)
	}
}

func TestCustomData(t *testing.T) {
	tests := []struct {
		name  string
		attrs map[string]helpcrunch.AttributeType
		in    string // customData write form
		want  string // read form
	}{
		{name: "number written as numeric string",
			in:   `[{"property":"number_of_payments","value":"15"},{"property":"last_paid_amount","value":"15.99"}]`,
			want: `{"number_of_payments":15,"last_paid_amount":15.99}`},
		{name: "date as integer",
			in:   `[{"property":"last_payment_date","value":1603885746}]`,
			want: `{"last_payment_date":1603885746}`},
		{name: "fractional date truncated to seconds",
			in:   `[{"property":"last_payment_date","value":"1603885746.9"}]`,
			want: `{"last_payment_date":1603885746}`},
		{name: "null value is not stored",
			in:   `[{"property":"subscription_status","value":null},{"property":"last_payment_was_successful","value":false}]`,
			want: `{"last_payment_was_successful":false}`},
		{name: "properties outside the catalogue are kept as sent",
			in:   `[{"property":"plan","value":"pro"},{"property":"seats","value":3},{"property":"trial","value":true},{"property":"when","value":"1603885746"}]`,
			want: `{"plan":"pro","seats":3,"trial":true,"when":"1603885746"}`},
		{name: "configured catalogue",
			attrs: map[string]helpcrunch.AttributeType{"signup": helpcrunch.AttributeDate, "score": helpcrunch.AttributeNumber},
			in:    `[{"property":"signup","value":"1603885746"},{"property":"score","value":"7"},{"property":"last_payment_date","value":"1603885746"}]`,
			want:  `{"signup":1603885746,"score":7,"last_payment_date":"1603885746"}`},
		{name: "empty list", in: `[]`, want: `{}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, helpcrunch.Config{CustomAttributes: tt.attrs})
			m := object(t, h.do(http.MethodPost, "/customers", raw(`{"customData": `+tt.in+`}`)))
			if want := decode(t, []byte(tt.want)); !reflect.DeepEqual(m["customData"], want) {
				t.Fatalf("customData = %v, want %v", m["customData"], want)
			}
		})
	}
}

func TestCustomerValidation(t *testing.T) {
	long := strings.Repeat("x", helpcrunch.MaxFieldLength+1)
	tests := []struct {
		name        string
		contentType string // "" means application/json
		body        string
		status      int
		errs        [][2]string
	}{
		{name: "invalid JSON", body: `{"name":`, status: 400, errs: [][2]string{{"body", "This value should be valid JSON."}}},
		{name: "empty body", body: ``, status: 400, errs: [][2]string{{"body", "This value should be valid JSON."}}},
		{name: "two documents", body: `{}{}`, status: 400, errs: [][2]string{{"body", "This value should be valid JSON."}}},
		{name: "array body", body: `[]`, status: 400, errs: [][2]string{{"body", "This value should be of type object."}}},
		{name: "form content type", contentType: "application/x-www-form-urlencoded", body: `name=A`, status: 415,
			errs: [][2]string{{"unsupported_media_type", "Content-Type must be application/json"}}},
		{name: "missing content type", contentType: "-", body: `{}`, status: 415,
			errs: [][2]string{{"unsupported_media_type", "Content-Type must be application/json"}}},
		{name: "bad email", body: `{"email":"john.example.com"}`, status: 400,
			errs: [][2]string{{"email", "This value is not a valid email address."}}},
		{name: "name not a string", body: `{"name":123}`, status: 400,
			errs: [][2]string{{"name", "This value should be of type string."}}},
		{name: "name too long", body: `{"name":"` + long + `"}`, status: 400,
			errs: [][2]string{{"name", "This value is too long. It should have 255 characters or less."}}},
		{name: "notes too long", body: `{"notes":"` + strings.Repeat("é", helpcrunch.MaxNotesLength+1) + `"}`, status: 400,
			errs: [][2]string{{"notes", fmt.Sprintf("This value is too long. It should have %d characters or less.", helpcrunch.MaxNotesLength)}}},
		{name: "locale not ISO 639-1", body: `{"locale":"english"}`, status: 400,
			errs: [][2]string{{"locale", "This value is not a valid language."}}},
		{name: "boolean as string", body: `{"unsubscribed":"yes"}`, status: 400,
			errs: [][2]string{{"unsubscribed", "This value should be of type bool."}}},
		{name: "date as words", body: `{"firstSeen":"yesterday","lastSeen":-5}`, status: 400,
			errs: [][2]string{{"firstSeen", "This value is not a valid UNIX timestamp."}, {"lastSeen", "This value is not a valid UNIX timestamp."}}},
		{name: "location not an object", body: `{"location":"Kyiv"}`, status: 400,
			errs: [][2]string{{"location", "This value should be of type object."}}},
		{name: "location member type", body: `{"location":{"city":5}}`, status: 400,
			errs: [][2]string{{"location.city", "This value should be of type string."}}},
		{name: "tags not a list", body: `{"tags":"vip"}`, status: 400,
			errs: [][2]string{{"tags", "This value should be of type array."}}},
		{name: "tag without name", body: `{"tags":[{"name":"ok"},{"color":"#fff"},{"name":""}]}`, status: 400,
			errs: [][2]string{{"tags[1].name", "This value should not be blank."}, {"tags[2].name", "This value should not be blank."}}},
		{name: "tag colour type", body: `{"tags":[{"name":"a","color":1}]}`, status: 400,
			errs: [][2]string{{"tags[0].color", "This value should be of type string."}}},
		{name: "customData in read form", body: `{"customData":{"plan":"pro"}}`, status: 400,
			errs: [][2]string{{"customData", "This value should be of type array."}}},
		{name: "customData without property", body: `{"customData":[{"value":1},{"property":2,"value":1}]}`, status: 400,
			errs: [][2]string{{"customData[0].property", "This value should not be blank."}, {"customData[1].property", "This value should be of type string."}}},
		{name: "customData typed values", body: `{"customData":[
			{"property":"number_of_payments","value":"many"},
			{"property":"last_payment_date","value":"tomorrow"},
			{"property":"last_payment_was_successful","value":"yes"},
			{"property":"subscription_status","value":1},
			{"property":"free_form","value":[1]}]}`, status: 400,
			errs: [][2]string{
				{"customData[0].value", "This value should be of type numeric."},
				{"customData[1].value", "This value is not a valid UNIX timestamp."},
				{"customData[2].value", "This value should be of type bool."},
				{"customData[3].value", "This value should be of type string."},
				{"customData[4].value", "This value should be of type scalar."},
			}},
		{name: "all violations reported in field order", body: `{"email":"x","name":[],"blocked":1}`, status: 400,
			errs: [][2]string{
				{"name", "This value should be of type string."},
				{"email", "This value is not a valid email address."},
				{"blocked", "This value should be of type bool."},
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, helpcrunch.Config{})
			headers := map[string]string{"Authorization": "Bearer " + h.key, "Content-Type": "application/json"}
			switch tt.contentType {
			case "":
			case "-":
				delete(headers, "Content-Type")
			default:
				headers["Content-Type"] = tt.contentType
			}
			res := h.doWith(http.MethodPost, "/customers", raw(tt.body), headers)
			wantErrors(t, res, tt.status, tt.errs...)
			if n := h.sim.CustomerCount(); n != 0 {
				t.Errorf("a refused create stored %d customers", n)
			}
			if st := h.sim.Stats(); st.Rejected != 1 {
				t.Errorf("rejected = %d, want 1", st.Rejected)
			}
		})
	}
}

func TestCustomerValidationAcceptsEdgeValues(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	res := h.do(http.MethodPost, "/customers", map[string]any{
		"name":    strings.Repeat("я", helpcrunch.MaxFieldLength), // characters, not bytes
		"email":   "",
		"locale":  "",
		"phone":   nil,
		"notes":   strings.Repeat("n", helpcrunch.MaxNotesLength),
		"company": "",
	})
	if res.status != http.StatusCreated {
		t.Fatalf("status %d: %s", res.status, res.body)
	}
	m := object(t, res)
	if m["email"] != "" || m["phone"] != nil || m["company"] != "" {
		t.Fatalf("empty strings must stay empty strings and null null: %s", res.body)
	}
	res = h.doWith(http.MethodPost, "/customers", raw(`{}`), map[string]string{
		"Authorization": "Bearer " + h.key, "Content-Type": "application/json; charset=utf-8"})
	if res.status != http.StatusCreated {
		t.Fatalf("JSON with charset refused: %d", res.status)
	}
}

func TestGetCustomer(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	h.create(map[string]any{})
	tests := []struct {
		path   string
		status int
	}{
		{"/customers/1", 200},
		{"/customers/2", 404},
		{"/customers/0", 404},
		{"/customers/abc", 404},
		{"/customers/-1", 404},
		{"/customers/99999999999999999999999", 404},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			res := h.do(http.MethodGet, tt.path, nil)
			if tt.status == http.StatusOK {
				wantJSON(t, res, http.StatusOK, nullCustomer(1))
				return
			}
			wantErrors(t, res, http.StatusNotFound, [2]string{"entity_not_found", "Entity not found"})
		})
	}
}

// fullCustomer is a create body with every writable field set.
const fullCustomer = `{
	"name": "John", "email": "john@example.com", "userId": "u1", "company": "Acme", "phone": "+1",
	"firstSeen": "1600000000", "lastSeen": "1600000100",
	"location": {"regionCode": "R", "countryCode": "UA", "city": "Kyiv"},
	"device": {"ip": "10.0.0.1", "timezone": "UTC", "platform": "desktop", "userAgent": "UA"},
	"unsubscribed": true, "blocked": true, "source": "s", "referer": "r", "lastPage": "p",
	"locale": "en", "createdFrom": "api", "integrationId": "i", "notes": "n",
	"tags": [{"name": "vip"}],
	"customData": [{"property": "subscription_status", "value": "active"}, {"property": "number_of_payments", "value": 3}]
}`

func TestReplaceCustomer(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	h.create(raw(fullCustomer))
	h.clock.Advance(time.Minute)
	res := h.do(http.MethodPut, "/customers/1", raw(`{"name": "Jim", "customData": [{"property": "plan", "value": "pro"}]}`))
	// Everything not sent becomes null (false for booleans, empty for lists).
	wantJSON(t, res, http.StatusOK, `{
		"id": 1, "name": "Jim", "email": null, "userId": null, "company": null, "phone": null,
		"firstSeen": null, "lastSeen": null, "location": null, "device": null,
		"unsubscribed": false, "blocked": false, "source": null, "referer": null, "lastPage": null,
		"locale": null, "createdFrom": null, "integrationId": null, "notes": null,
		"tags": [], "customData": {"plan": "pro"}
	}`)
	c, _ := h.sim.Customer(1)
	if !c.CreatedAt.Equal(startTime) || !c.UpdatedAt.Equal(startTime.Add(time.Minute)) {
		t.Errorf("created/updated = %v/%v", c.CreatedAt, c.UpdatedAt)
	}
	// The vip tag still exists on the account even though nobody carries it.
	if tags := h.sim.Tags(); len(tags) != 1 || tags[0].Name != "vip" {
		t.Errorf("account tags = %v", tags)
	}
}

func TestUpdateErrors(t *testing.T) {
	for _, method := range []string{http.MethodPut, http.MethodPatch} {
		t.Run(method, func(t *testing.T) {
			h := newHarness(t, helpcrunch.Config{})
			h.create(raw(`{"name": "Ann", "email": "ann@example.com"}`))
			before := h.do(http.MethodGet, "/customers/1", nil).body

			wantErrors(t, h.do(method, "/customers/1", raw(`{"email": "nope", "name": "Bob"}`)), http.StatusBadRequest,
				[2]string{"email", "This value is not a valid email address."})
			wantErrors(t, h.do(method, "/customers/1", raw(`[`)), http.StatusBadRequest,
				[2]string{"body", "This value should be valid JSON."})
			// An unknown id is a 404 even when the body is bad too.
			wantErrors(t, h.do(method, "/customers/2", raw(`{"email": "nope"}`)), http.StatusNotFound,
				[2]string{"entity_not_found", "Entity not found"})
			wantErrors(t, h.do(method, "/customers/x", raw(`{}`)), http.StatusNotFound,
				[2]string{"entity_not_found", "Entity not found"})

			if after := h.do(http.MethodGet, "/customers/1", nil).body; string(after) != string(before) {
				t.Fatalf("refused updates changed the customer:\n%s\n%s", before, after)
			}
		})
	}
}

func TestPatchCustomer(t *testing.T) {
	tests := []struct {
		name  string
		patch string
		want  map[string]string // changed top-level members, as JSON
	}{
		{name: "one field", patch: `{"name": "Jim"}`, want: map[string]string{"name": `"Jim"`}},
		{name: "null clears", patch: `{"email": null, "location": null, "firstSeen": null, "unsubscribed": null}`,
			want: map[string]string{"email": `null`, "location": `null`, "firstSeen": `null`, "unsubscribed": `false`}},
		{name: "empty object changes nothing", patch: `{}`, want: map[string]string{}},
		{name: "tags replace the list", patch: `{"tags": [{"name": "lead"}]}`,
			want: map[string]string{"tags": `[{"name":"lead","color":"#c377e0"}]`}},
		{name: "tags null clears", patch: `{"tags": null}`, want: map[string]string{"tags": `[]`}},
		{name: "customData merges per property",
			patch: `{"customData": [{"property": "number_of_payments", "value": 4}, {"property": "subscription_status", "value": null}, {"property": "last_payment_date", "value": 1603885746}]}`,
			want:  map[string]string{"customData": `{"number_of_payments":4,"last_payment_date":1603885746}`}},
		{name: "customData null clears", patch: `{"customData": null}`, want: map[string]string{"customData": `{}`}},
		{name: "timestamps and booleans", patch: `{"lastSeen": 1700000000, "blocked": false}`,
			want: map[string]string{"lastSeen": `"1700000000"`, "blocked": `false`}},
		{name: "device replaced as a whole", patch: `{"device": {"ip": "10.0.0.2"}}`,
			want: map[string]string{"device": `{"id":1,"ip":"10.0.0.2","timezone":"","platform":"","userAgent":""}`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, helpcrunch.Config{})
			h.create(raw(fullCustomer))
			before := object(t, h.do(http.MethodGet, "/customers/1", nil))
			res := h.do(http.MethodPatch, "/customers/1", raw(tt.patch))
			if res.status != http.StatusOK {
				t.Fatalf("status %d: %s", res.status, res.body)
			}
			got := object(t, res)
			for k, v := range before {
				want := v
				if w, ok := tt.want[k]; ok {
					want = decode(t, []byte(w))
				}
				if !reflect.DeepEqual(got[k], want) {
					t.Errorf("%s = %v, want %v", k, got[k], want)
				}
			}
			if readBack := object(t, h.do(http.MethodGet, "/customers/1", nil)); !reflect.DeepEqual(readBack, got) {
				t.Errorf("read back differs from the PATCH answer")
			}
		})
	}
}

func TestDeleteCustomer(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	h.create(map[string]any{})
	h.create(map[string]any{})
	res := h.do(http.MethodDelete, "/customers/1", nil)
	if res.status != http.StatusOK || string(res.body) != "Ok" {
		t.Fatalf("delete = %d %q, want 200 \"Ok\"", res.status, res.body)
	}
	if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type = %q, want text/plain", ct)
	}
	wantErrors(t, h.do(http.MethodGet, "/customers/1", nil), http.StatusNotFound, [2]string{"entity_not_found", "Entity not found"})
	wantErrors(t, h.do(http.MethodDelete, "/customers/1", nil), http.StatusNotFound, [2]string{"entity_not_found", "Entity not found"})
	if _, ok := h.sim.Customer(1); ok || h.sim.CustomerCount() != 1 {
		t.Fatalf("customer 1 still stored")
	}
	// Ids are never reused.
	if id := h.create(map[string]any{}); id != 3 {
		t.Fatalf("next id = %d, want 3", id)
	}
}

func TestListCustomers(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	// id: firstSeen, lastSeen
	for _, body := range []string{
		`{"firstSeen": "300", "lastSeen": "900"}`, // 1
		`{"firstSeen": "100", "lastSeen": "700"}`, // 2
		`{"firstSeen": "200", "lastSeen": null}`,  // 3
		`{"firstSeen": "100", "lastSeen": "800"}`, // 4
		`{"firstSeen": null, "lastSeen": "600"}`,  // 5
	} {
		h.create(raw(body))
	}
	tests := []struct {
		query string
		want  []int
	}{
		{"", []int{1, 2, 3, 4, 5}},
		{"?order=desc", []int{5, 4, 3, 2, 1}},
		{"?sort=customers.firstSeen", []int{5, 2, 4, 3, 1}},
		{"?sort=customers.firstSeen&order=asc", []int{5, 2, 4, 3, 1}},
		{"?sort=customers.firstSeen&order=DESC", []int{1, 3, 2, 4, 5}},
		{"?sort=customers.lastSeen&order=desc", []int{1, 4, 2, 5, 3}},
		{"?sort=customers.lastSeen&offset=1&limit=2", []int{5, 2}},
		{"?offset=4", []int{5}},
		{"?offset=5", []int{}},
		{"?offset=50&limit=100", []int{}},
		{"?limit=1", []int{1}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, total := ids(t, h.do(http.MethodGet, "/customers"+tt.query, nil))
			if !reflect.DeepEqual(got, tt.want) || total != 5 {
				t.Fatalf("ids = %v total %d, want %v total 5", got, total, tt.want)
			}
		})
	}
}

func TestListCustomersValidation(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	rangeMsg := fmt.Sprintf("This value should be between 1 and %d.", helpcrunch.MaxPageLimit)
	tests := []struct {
		query string
		errs  [][2]string
	}{
		{"?limit=0", [][2]string{{"limit", rangeMsg}}},
		{"?limit=101", [][2]string{{"limit", rangeMsg}}},
		{"?limit=ten", [][2]string{{"limit", "This value should be of type numeric."}}},
		{"?limit=", [][2]string{{"limit", "This value should be of type numeric."}}},
		{"?offset=-1", [][2]string{{"offset", "This value should be either positive or zero."}}},
		{"?sort=customers.name", [][2]string{{"sort", "The value you selected is not a valid choice."}}},
		{"?sort=firstSeen", [][2]string{{"sort", "The value you selected is not a valid choice."}}},
		{"?order=up&offset=x", [][2]string{{"offset", "This value should be of type numeric."}, {"order", "The value you selected is not a valid choice."}}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			wantErrors(t, h.do(http.MethodGet, "/customers"+tt.query, nil), http.StatusBadRequest, tt.errs...)
		})
	}
}

func TestTagAndUntag(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	h.create(raw(`{"tags": [{"name": "vip", "color": "#ff0000"}]}`))
	steps := []struct {
		method string
		body   string
		tags   string // expected tags of the answer
	}{
		{http.MethodPut, `{"tags": [{"name": "lead"}, {"name": "vip", "color": "#000"}]}`,
			`[{"name":"vip","color":"#ff0000"},{"name":"lead","color":"#c377e0"}]`},
		{http.MethodPut, `{"tags": [{"name": "paid", "color": "green"}]}`,
			`[{"name":"vip","color":"#ff0000"},{"name":"lead","color":"#c377e0"},{"name":"paid","color":"green"}]`},
		{http.MethodDelete, `{"tags": [{"name": "vip"}, {"name": "unknown"}]}`,
			`[{"name":"lead","color":"#c377e0"},{"name":"paid","color":"green"}]`},
		{http.MethodDelete, `{"tags": [{"name": "lead", "color": "ignored"}, {"name": "paid"}]}`, `[]`},
	}
	for i, st := range steps {
		res := h.do(st.method, "/customers/1/tags", raw(st.body))
		if res.status != http.StatusOK {
			t.Fatalf("step %d: status %d: %s", i, res.status, res.body)
		}
		if got, want := object(t, res)["tags"], decode(t, []byte(st.tags)); !reflect.DeepEqual(got, want) {
			t.Fatalf("step %d: tags = %v, want %v", i, got, want)
		}
	}
	if n := len(h.sim.Tags()); n != 3 {
		t.Errorf("account has %d tags, want 3 (untagging keeps tags)", n)
	}

	errTests := []struct {
		name   string
		method string
		path   string
		body   string
		status int
		err    [2]string
	}{
		{"no tags", http.MethodPut, "/customers/1/tags", `{}`, 400, [2]string{"tags", "This value should not be blank."}},
		{"empty tags", http.MethodDelete, "/customers/1/tags", `{"tags": []}`, 400, [2]string{"tags", "This value should not be blank."}},
		{"null tags", http.MethodPut, "/customers/1/tags", `{"tags": null}`, 400, [2]string{"tags", "This value should not be blank."}},
		{"nameless tag", http.MethodPut, "/customers/1/tags", `{"tags": [{"color": "red"}]}`, 400, [2]string{"tags[0].name", "This value should not be blank."}},
		{"unknown customer", http.MethodPut, "/customers/9/tags", `{"tags": [{"name": "a"}]}`, 404, [2]string{"entity_not_found", "Entity not found"}},
		{"bad id", http.MethodDelete, "/customers/x/tags", `{"tags": [{"name": "a"}]}`, 404, [2]string{"entity_not_found", "Entity not found"}},
	}
	for _, tt := range errTests {
		t.Run(tt.name, func(t *testing.T) {
			wantErrors(t, h.do(tt.method, tt.path, raw(tt.body)), tt.status, tt.err)
		})
	}
}

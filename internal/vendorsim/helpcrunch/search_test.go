package helpcrunch_test

import (
	"fmt"
	"net/http"
	"reflect"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
)

// seedSearch stores three customers with distinct fields.
func seedSearch(t *testing.T) *harness {
	t.Helper()
	h := newHarness(t, helpcrunch.Config{})
	h.create(raw(`{"name": "John Doe", "email": "john@example.com", "company": "Acme", "phone": "+100200",
		"userId": "u1", "firstSeen": "1000", "lastSeen": "2000",
		"location": {"countryCode": "UA", "city": "Kyiv", "regionCode": "Kyiv Oblast"},
		"tags": [{"name": "vip"}, {"name": "lead"}]}`))
	h.create(raw(`{"name": "Jane Roe", "email": "jane@sample.org", "company": "Beta", "phone": "+300",
		"userId": "u2", "firstSeen": "1500", "lastSeen": "2500.5", "tags": [{"name": "Lead"}]}`))
	h.create(raw(`{"name": "Bob", "company": "acme", "firstSeen": "3000", "lastSeen": "3000"}`))
	return h
}

func TestSearchFilters(t *testing.T) {
	h := seedSearch(t)
	tests := []struct {
		name string
		body string
		want []int
	}{
		{"id equals", `{"filter":[{"field":"customers.id","operator":"=","value":2}]}`, []int{2}},
		{"id as string", `{"filter":[{"field":"customers.id","operator":"=","value":"2"}]}`, []int{2}},
		{"id not equals", `{"filter":[{"field":"customers.id","operator":"!=","value":2}]}`, []int{1, 3}},
		{"id greater", `{"filter":[{"field":"customers.id","operator":">","value":1}]}`, []int{2, 3}},
		{"id less", `{"filter":[{"field":"customers.id","operator":"<","value":2}]}`, []int{1}},
		{"id greater or equal", `{"filter":[{"field":"customers.id","operator":">=","value":2}]}`, []int{2, 3}},
		{"id less or equal", `{"filter":[{"field":"customers.id","operator":"<=","value":2}]}`, []int{1, 2}},
		{"name contains", `{"filter":[{"field":"customers.name","operator":"~","value":"doe"}]}`, []int{1}},
		{"name contains any case", `{"filter":[{"field":"customers.name","operator":"~","value":"O"}]}`, []int{1, 2, 3}},
		{"name does not contain", `{"filter":[{"field":"customers.name","operator":"!~","value":"doe"}]}`, []int{2, 3}},
		{"email equals ignoring case", `{"filter":[{"field":"customers.email","operator":"=","value":"JOHN@example.com"}]}`, []int{1}},
		{"null email matches no operator", `{"filter":[{"field":"customers.email","operator":"!=","value":"john@example.com"}]}`, []int{2}},
		{"null email and not contains", `{"filter":[{"field":"customers.email","operator":"!~","value":"zzz"}]}`, []int{1, 2}},
		{"bare field name", `{"filter":[{"field":"email","operator":"~","value":"sample"}]}`, []int{2}},
		{"company equals", `{"filter":[{"field":"customers.company","operator":"=","value":"acme"}]}`, []int{1, 3}},
		{"phone contains", `{"filter":[{"field":"customers.phone","operator":"~","value":"200"}]}`, []int{1}},
		{"phone as number", `{"filter":[{"field":"customers.phone","operator":"~","value":300}]}`, []int{2}},
		{"userId equals", `{"filter":[{"field":"customers.userId","operator":"=","value":"u2"}]}`, []int{2}},
		{"city", `{"filter":[{"field":"customers.city","operator":"=","value":"kyiv"}]}`, []int{1}},
		{"country code", `{"filter":[{"field":"customers.countryCode","operator":"!=","value":"US"}]}`, []int{1}},
		{"region code", `{"filter":[{"field":"customers.regionCode","operator":"~","value":"oblast"}]}`, []int{1}},
		{"has tag", `{"filter":[{"field":"customers.tagsData","operator":"=","value":[{"name":"lead"}]}]}`, []int{1, 2}},
		{"has every tag", `{"filter":[{"field":"customers.tagsData","operator":"=","value":[{"name":"vip"},{"name":"lead"}]}]}`, []int{1}},
		{"lacks tag", `{"filter":[{"field":"customers.tagsData","operator":"!=","value":[{"name":"vip"}]}]}`, []int{2, 3}},
		{"tag names as strings", `{"filter":[{"field":"customers.tagsData","operator":"=","value":["vip"]}]}`, []int{1}},
		{"tag contains", `{"filter":[{"field":"customers.tagsData","operator":"~","value":"ea"}]}`, []int{1, 2}},
		{"tag does not contain", `{"filter":[{"field":"customers.tagsData","operator":"!~","value":"vi"}]}`, []int{2, 3}},
		{"lastSeen from", `{"filter":[{"field":"customers.lastSeen","operator":">=","value":2500}]}`, []int{2, 3}},
		{"lastSeen fraction", `{"filter":[{"field":"customers.lastSeen","operator":">","value":"2500.25"}]}`, []int{2, 3}},
		{"lastSeen fraction exact", `{"filter":[{"field":"customers.lastSeen","operator":"=","value":"2500.5"}]}`, []int{2}},
		{"firstSeen equals", `{"filter":[{"field":"customers.firstSeen","operator":"=","value":"1500"}]}`, []int{2}},
		{"date range with AND", `{"comparison":"AND","filter":[
			{"field":"customers.lastSeen","operator":">=","value":2000},
			{"field":"customers.lastSeen","operator":"<","value":3000}]}`, []int{1, 2}},
		{"AND is the default", `{"filter":[
			{"field":"customers.company","operator":"=","value":"acme"},
			{"field":"customers.name","operator":"~","value":"john"}]}`, []int{1}},
		{"OR", `{"comparison":"OR","filter":[
			{"field":"customers.name","operator":"=","value":"bob"},
			{"field":"customers.email","operator":"~","value":"sample"}]}`, []int{2, 3}},
		{"comparison is case-insensitive", `{"comparison":"or","filter":[
			{"field":"customers.id","operator":"=","value":1},
			{"field":"customers.id","operator":"=","value":3}]}`, []int{1, 3}},
		{"no match", `{"filter":[{"field":"customers.name","operator":"=","value":"nobody"}]}`, []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total := ids(t, h.do(http.MethodPost, "/customers/search", raw(tt.body)))
			if !reflect.DeepEqual(got, tt.want) || total != len(tt.want) {
				t.Fatalf("ids = %v total %d, want %v", got, total, tt.want)
			}
		})
	}
}

func TestSearchPagingAndSort(t *testing.T) {
	h := seedSearch(t)
	const all = `"filter":[{"field":"customers.id","operator":">","value":0}]`
	tests := []struct {
		name string
		body string
		want []int
	}{
		{"limit and offset", `{` + all + `,"limit":1,"offset":1}`, []int{2}},
		{"limit as string", `{` + all + `,"limit":"2"}`, []int{1, 2}},
		{"offset past the end", `{` + all + `,"offset":3}`, []int{}},
		{"sort by lastSeen desc", `{` + all + `,"sort":"customers.lastSeen","order":"desc"}`, []int{3, 2, 1}},
		{"sort by firstSeen asc", `{` + all + `,"sort":"customers.firstSeen","order":"asc","limit":2}`, []int{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, total := ids(t, h.do(http.MethodPost, "/customers/search", raw(tt.body)))
			if !reflect.DeepEqual(got, tt.want) || total != 3 {
				t.Fatalf("ids = %v total %d, want %v total 3", got, total, tt.want)
			}
		})
	}
	// Each item is the full customer object.
	res := h.do(http.MethodPost, "/customers/search", raw(`{"filter":[{"field":"customers.id","operator":"=","value":3}]}`))
	item := object(t, res)["data"].([]any)[0]
	if want := object(t, h.do(http.MethodGet, "/customers/3", nil)); !reflect.DeepEqual(item, want) {
		t.Fatalf("search item = %v, want %v", item, want)
	}
}

func TestSearchValidation(t *testing.T) {
	h := seedSearch(t)
	choice := "The value you selected is not a valid choice."
	blank := "This value should not be blank."
	tests := []struct {
		name string
		body string
		errs [][2]string
	}{
		{"no filter", `{}`, [][2]string{{"filter", blank}}},
		{"empty filter", `{"filter":[]}`, [][2]string{{"filter", blank}}},
		{"filter not a list", `{"filter":{"field":"customers.id"}}`, [][2]string{{"filter", "This value should be of type array."}}},
		{"filter item not an object", `{"filter":["customers.id"]}`, [][2]string{{"filter[0]", "This value should be of type object."}}},
		{"field missing (documented)", `{"filter":[{"operator":"=","value":"x"}]}`, [][2]string{{"filter[0].field", blank}}},
		{"field unknown", `{"filter":[{"field":"customers.shoeSize","operator":"=","value":"x"}]}`, [][2]string{{"filter[0].field", choice}}},
		{"operator missing", `{"filter":[{"field":"customers.name","value":"x"}]}`, [][2]string{{"filter[0].operator", blank}}},
		{"operator unknown", `{"filter":[{"field":"customers.name","operator":"like","value":"x"}]}`, [][2]string{{"filter[0].operator", choice}}},
		{"ordering a string field", `{"filter":[{"field":"customers.name","operator":">","value":"x"}]}`, [][2]string{{"filter[0].operator", choice}}},
		{"contains on the id", `{"filter":[{"field":"customers.id","operator":"~","value":1}]}`, [][2]string{{"filter[0].operator", choice}}},
		{"value missing", `{"filter":[{"field":"customers.name","operator":"="}]}`, [][2]string{{"filter[0].value", blank}}},
		{"id not numeric", `{"filter":[{"field":"customers.id","operator":"=","value":"one"}]}`, [][2]string{{"filter[0].value", "This value should be of type numeric."}}},
		{"string value of wrong type", `{"filter":[{"field":"customers.email","operator":"=","value":true}]}`, [][2]string{{"filter[0].value", "This value should be of type string."}}},
		{"date not a timestamp", `{"filter":[{"field":"customers.lastSeen","operator":">","value":"2020-01-01"}]}`, [][2]string{{"filter[0].value", "This value is not a valid UNIX timestamp."}}},
		{"tags empty", `{"filter":[{"field":"customers.tagsData","operator":"=","value":[]}]}`, [][2]string{{"filter[0].value", blank}}},
		{"tags wrong shape", `{"filter":[{"field":"customers.tagsData","operator":"=","value":[{"title":"vip"}]}]}`, [][2]string{{"filter[0].value", blank}}},
		{"second filter", `{"filter":[{"field":"customers.id","operator":"=","value":1},{"operator":"=","value":1}]}`, [][2]string{{"filter[1].field", blank}}},
		{"comparison unknown", `{"comparison":"XOR","filter":[{"field":"customers.id","operator":"=","value":1}]}`, [][2]string{{"comparison", choice}}},
		{"paging", `{"limit":0,"offset":-2,"sort":"customers.id","filter":[{"field":"customers.id","operator":"=","value":1}]}`,
			[][2]string{{"offset", "This value should be either positive or zero."}, {"limit", fmt.Sprintf("This value should be between 1 and %d.", helpcrunch.MaxPageLimit)}, {"sort", choice}}},
		{"several violations", `{"filter":[{"field":"","operator":"","value":null}]}`,
			[][2]string{{"filter[0].field", blank}, {"filter[0].operator", blank}, {"filter[0].value", blank}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			wantErrors(t, h.do(http.MethodPost, "/customers/search", raw(tt.body)), http.StatusBadRequest, tt.errs...)
		})
	}
}

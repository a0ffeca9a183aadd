package helpcrunch

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// fieldKind decides which operators and values a search field takes.
type fieldKind int

const (
	kindString fieldKind = iota
	kindID
	kindDate
	kindTags
)

// searchFields maps the searchable fields (without the "customers." prefix)
// to their kind.
var searchFields = map[string]fieldKind{
	"id":          kindID,
	"name":        kindString,
	"email":       kindString,
	"company":     kindString,
	"phone":       kindString,
	"userId":      kindString,
	"countryCode": kindString,
	"regionCode":  kindString,
	"city":        kindString,
	"firstSeen":   kindDate,
	"lastSeen":    kindDate,
	"tagsData":    kindTags,
}

// operatorsByKind lists the operators each kind accepts: ordering only for
// numbers and dates, "contains" only for text, as the vendor documents.
var operatorsByKind = map[fieldKind][]string{
	kindString: {"=", "!=", "~", "!~"},
	kindID:     {"=", "!=", ">", "<", ">=", "<="},
	kindDate:   {"=", "!=", ">", "<", ">=", "<="},
	kindTags:   {"=", "!=", "~", "!~"},
}

// searchFilter is one validated {field, operator, value}.
type searchFilter struct {
	field string
	kind  fieldKind
	op    string
	text  string    // kindString
	id    int       // kindID
	when  time.Time // kindDate
	tags  []string  // kindTags
}

// searchCustomers serves POST /customers/search.
func (s *Sim) searchCustomers(w http.ResponseWriter, r *http.Request, _ string) {
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	get := func(name string) (any, bool) {
		v, ok := obj[name]
		return v, ok
	}
	var errs violations
	filters := parseFilters(obj["filter"], &errs)
	matchAll := true
	if v, ok := obj["comparison"]; ok && v != nil {
		str, _ := v.(string)
		switch strings.ToUpper(str) {
		case "AND":
		case "OR":
			matchAll = false
		default:
			errs.add("comparison", msgInvalidChoice)
		}
	}
	pg := parsePage(get, &errs)
	order := parseOrder(get, &errs)
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	s.writeCustomerPage(w, func(rec *record) bool {
		for _, f := range filters {
			m := f.matches(rec)
			if m != matchAll {
				// A miss under AND or a hit under OR decides.
				return m
			}
		}
		return matchAll
	}, order, pg)
}

func parseFilters(raw any, errs *violations) []searchFilter {
	if raw == nil {
		errs.add("filter", msgNotBlank)
		return nil
	}
	list, ok := raw.([]any)
	if !ok {
		errs.add("filter", msgTypeArray)
		return nil
	}
	if len(list) == 0 {
		errs.add("filter", msgNotBlank)
		return nil
	}
	out := make([]searchFilter, 0, len(list))
	for i, item := range list {
		code := fmt.Sprintf("filter[%d]", i)
		obj, ok := item.(map[string]any)
		if !ok {
			errs.add(code, msgTypeObject)
			continue
		}
		if f, ok := parseFilter(code, obj, errs); ok {
			out = append(out, f)
		}
	}
	return out
}

func parseFilter(code string, obj map[string]any, errs *violations) (searchFilter, bool) {
	var f searchFilter
	before := len(*errs)
	field, _ := obj["field"].(string)
	kind, known := searchFields[strings.TrimPrefix(field, "customers.")]
	switch {
	case field == "":
		errs.add(code+".field", msgNotBlank)
	case !known:
		errs.add(code+".field", msgInvalidChoice)
	default:
		f.field, f.kind = strings.TrimPrefix(field, "customers."), kind
	}
	op, _ := obj["operator"].(string)
	switch {
	case op == "":
		errs.add(code+".operator", msgNotBlank)
	case known && !containsString(operatorsByKind[kind], op):
		errs.add(code+".operator", msgInvalidChoice)
	case !known && !isOperator(op):
		errs.add(code+".operator", msgInvalidChoice)
	default:
		f.op = op
	}
	v := obj["value"]
	switch {
	case v == nil:
		errs.add(code+".value", msgNotBlank)
	case !known:
		// The value cannot be checked without a known field.
	case kind == kindString:
		switch x := v.(type) {
		case string:
			f.text = x
		case json.Number:
			// Phones and ids are often sent as numbers.
			f.text = x.String()
		default:
			errs.add(code+".value", msgTypeString)
		}
	case kind == kindID:
		id, ok := parseID(v)
		if !ok {
			errs.add(code+".value", msgTypeNumeric)
		}
		f.id = id
	case kind == kindDate:
		t, ok := parseTimestamp(v)
		if !ok {
			errs.add(code+".value", msgInvalidTime)
		}
		f.when = t
	case kind == kindTags:
		names, msg := parseTagNames(v)
		if msg != "" {
			errs.add(code+".value", msg)
		}
		f.tags = names
	}
	return f, len(*errs) == before
}

func isOperator(op string) bool {
	return containsString(operatorsByKind[kindID], op) || containsString(operatorsByKind[kindString], op)
}

// parseTagNames accepts the documented [{"name": "vip"}, ...], a list of
// names, or a single name.
func parseTagNames(v any) ([]string, string) {
	if str, ok := v.(string); ok {
		if str == "" {
			return nil, msgNotBlank
		}
		return []string{str}, ""
	}
	list, ok := v.([]any)
	if !ok {
		return nil, msgTypeArray
	}
	if len(list) == 0 {
		return nil, msgNotBlank
	}
	names := make([]string, 0, len(list))
	for _, item := range list {
		switch x := item.(type) {
		case string:
			names = append(names, x)
		case map[string]any:
			name, ok := x["name"].(string)
			if !ok || name == "" {
				return nil, msgNotBlank
			}
			names = append(names, name)
		default:
			return nil, msgTypeArray
		}
	}
	return names, ""
}

// matches evaluates the filter on rec. A null field matches nothing, as a
// SQL comparison with NULL does.
func (f searchFilter) matches(rec *record) bool {
	switch f.kind {
	case kindString:
		var got string
		var ok bool
		switch f.field {
		case "countryCode", "regionCode", "city":
			ok = rec.location != nil
			if ok {
				got = map[string]string{
					"countryCode": rec.location.CountryCode,
					"regionCode":  rec.location.RegionCode,
					"city":        rec.location.City,
				}[f.field]
			}
		default:
			got, ok = rec.fields[f.field]
		}
		if !ok {
			return false
		}
		return matchText(f.op, got, f.text)
	case kindID:
		return matchOrder(f.op, compareInts(rec.id, f.id))
	case kindDate:
		t := rec.firstSeen
		if f.field == "lastSeen" {
			t = rec.lastSeen
		}
		if t == nil {
			return false
		}
		return matchOrder(f.op, t.Compare(f.when))
	case kindTags:
		return matchTags(f.op, rec.tags, f.tags)
	}
	return false
}

// matchText compares case-insensitively, like a MySQL _ci collation.
func matchText(op, got, want string) bool {
	g, w := strings.ToLower(got), strings.ToLower(want)
	switch op {
	case "=":
		return g == w
	case "!=":
		return g != w
	case "~":
		return strings.Contains(g, w)
	case "!~":
		return !strings.Contains(g, w)
	}
	return false
}

func matchOrder(op string, c int) bool {
	switch op {
	case "=":
		return c == 0
	case "!=":
		return c != 0
	case ">":
		return c > 0
	case "<":
		return c < 0
	case ">=":
		return c >= 0
	case "<=":
		return c <= 0
	}
	return false
}

func compareInts(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// matchTags: "=" the customer has every listed tag, "~" some tag name
// contains some listed text; "!=" and "!~" negate them.
func matchTags(op string, have, want []string) bool {
	all := true
	for _, w := range want {
		if !containsFold(have, w) {
			all = false
			break
		}
	}
	some := false
	for _, h := range have {
		for _, w := range want {
			if strings.Contains(strings.ToLower(h), strings.ToLower(w)) {
				some = true
			}
		}
	}
	switch op {
	case "=":
		return all
	case "!=":
		return !all
	case "~":
		return some
	case "!~":
		return !some
	}
	return false
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

package nxcloud

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
)

// item is one validated batch_create customer. Only members that were sent (and not null) are
// recorded, because merge mode must tell "absent" from "set to empty".
type item struct {
	strs   map[string]string
	gender *int
	tags   []string
	// custom holds customize_field members; a nil value asks merge mode to remove the key.
	custom map[string]*string
}

func (it *item) identity() [idKinds]string {
	return identityKeys(it.strs["sms_phone"], it.strs["whats_app_phone"], it.strs["email"])
}

// customer builds a fresh record from the item alone (create and replace modes).
func (it *item) customer() Customer {
	var c Customer
	it.mergeInto(&c)
	return c
}

// mergeInto applies the item onto c with merge-mode semantics: sent members overwrite, tags are
// added, custom fields merge key by key.
func (it *item) mergeInto(c *Customer) {
	for _, f := range stringFields {
		if v, ok := it.strs[f.key]; ok {
			*f.ptr(c) = v
		}
	}
	if it.gender != nil {
		g := *it.gender
		c.Gender = &g
	}
	for _, t := range it.tags {
		if !slices.Contains(c.Tags, t) {
			c.Tags = append(c.Tags, t)
		}
	}
	for k, v := range it.custom {
		if v == nil {
			delete(c.CustomFields, k)
			continue
		}
		if c.CustomFields == nil {
			c.CustomFields = map[string]string{}
		}
		c.CustomFields[k] = *v
	}
}

// batchCreate answers POST /customers/batch_create.
func (s *Sim) batchCreate(_ *http.Request, body []byte) (any, *apiError) {
	o, e := decodeObject(body, "request body")
	if e != nil {
		return nil, e
	}
	raws, hasCustomers, arrErr := o.array("", "customers")
	if arrErr == nil && hasCustomers {
		// Counted before any other check: load tests compare what was sent with what arrived.
		s.count(func(st *Stats) { st.ItemsReceived += len(raws) })
	}
	if e := s.account(o); e != nil {
		return nil, e
	}
	mode, ok, e := o.int("", "type")
	if e != nil {
		return nil, e
	}
	if !ok {
		return nil, errParam("type is required")
	}
	if mode != modeReplace && mode != modeMerge && mode != modeKeep {
		return nil, errParam("type must be 0, 1 or 2, got %d", mode)
	}
	if arrErr != nil {
		return nil, arrErr
	}
	if !hasCustomers {
		return nil, errParam("customers is required")
	}
	if len(raws) == 0 {
		return nil, errParam("customers must hold at least one customer")
	}
	if len(raws) > s.cfg.MaxBatch {
		return nil, errParam("customers holds %d customers, at most %d are allowed", len(raws), s.cfg.MaxBatch)
	}

	// All-or-nothing: validate every item before storing any.
	items := make([]item, len(raws))
	for i, raw := range raws {
		it, e := s.parseItem(fmt.Sprintf("customers[%d]", i), raw)
		if e != nil {
			return nil, e
		}
		items[i] = it
	}

	var n [3]int
	s.mu.Lock()
	now := s.cfg.Now()
	for i := range items {
		n[s.store.apply(&items[i], int(mode), now)]++
	}
	s.mu.Unlock()
	s.count(func(st *Stats) {
		st.CustomersCreated += n[created]
		st.CustomersUpdated += n[updated]
		st.CustomersKept += n[kept]
	})
	return "", nil
}

// parseItem validates one customer against the documented rules.
func (s *Sim) parseItem(path string, raw json.RawMessage) (item, *apiError) {
	o, e := decodeObject(raw, path)
	if e != nil {
		return item{}, e
	}
	it := item{strs: map[string]string{}}
	for _, f := range stringFields {
		v, ok, e := o.str(path, f.key)
		if e != nil {
			return item{}, e
		}
		if !ok {
			continue
		}
		if n := utf8.RuneCountInString(v); f.max > 0 && n > f.max {
			return item{}, errParam("%s: length %d exceeds %d", field(path, f.key), n, f.max)
		}
		it.strs[f.key] = v
	}
	for _, key := range []string{"first_name", "last_name"} {
		if strings.TrimSpace(it.strs[key]) == "" {
			return item{}, errParam("%s: is required", field(path, key))
		}
	}
	if b := it.strs["birthday"]; b != "" {
		if _, err := time.Parse(time.DateOnly, b); err != nil {
			return item{}, errParam("%s: must be a date in yyyy-MM-dd, got %q", field(path, "birthday"), b)
		}
	}

	g, ok, e := o.int(path, "gender")
	if e != nil {
		return item{}, e
	}
	if ok {
		if g != 0 && g != 1 {
			return item{}, errParam("%s: must be 1 (male) or 0 (female), got %d", field(path, "gender"), g)
		}
		gi := int(g)
		it.gender = &gi
	}

	tagStr, ok, e := o.str(path, "tagStr")
	if e != nil {
		return item{}, e
	}
	if ok {
		it.tags = splitTags(tagStr)
	}

	cf, ok, e := o.str(path, "customize_field")
	if e != nil {
		return item{}, e
	}
	if ok {
		if it.custom, e = s.parseCustom(field(path, "customize_field"), cf); e != nil {
			return item{}, e
		}
	}
	for key, rule := range s.custom {
		if rule.required && it.custom[key] == nil {
			return item{}, errParam("%s: is required", field(field(path, "customize_field"), key))
		}
	}
	return it, nil
}

// splitTags parses tagStr: comma-separated, blanks dropped, duplicates removed, order kept.
func splitTags(s string) []string {
	var tags []string
	for _, t := range strings.Split(s, ",") {
		t = strings.TrimSpace(t)
		if t != "" && !slices.Contains(tags, t) {
			tags = append(tags, t)
		}
	}
	return tags
}

// parseCustom decodes customize_field, a string holding a JSON object, against the catalogue.
func (s *Sim) parseCustom(path, cf string) (map[string]*string, *apiError) {
	if strings.TrimSpace(cf) == "" {
		return map[string]*string{}, nil
	}
	o, e := decodeObject([]byte(cf), path)
	if e != nil {
		return nil, errParam("%s: must be a string holding a JSON object", path)
	}
	out := make(map[string]*string, len(o))
	for key, raw := range o {
		rule, known := s.custom[key]
		if !known {
			return nil, errParam("%s: unknown custom field %q", path, key)
		}
		if isNull(raw) {
			out[key] = nil
			continue
		}
		v, e := customValue(field(path, key), rule, raw)
		if e != nil {
			return nil, e
		}
		out[key] = &v
	}
	return out, nil
}

// customValue checks one custom value against its field type and returns its stored form.
func customValue(path string, rule fieldRule, raw json.RawMessage) (string, *apiError) {
	if rule.typ == FieldNumber {
		var n json.Number
		if raw[0] == '"' || json.Unmarshal(raw, &n) != nil {
			return "", errParam("%s: must be a number", path)
		}
		return n.String(), nil
	}
	var v string
	if err := json.Unmarshal(raw, &v); err != nil {
		return "", errParam("%s: must be a string", path)
	}
	switch rule.typ {
	case FieldDate:
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return "", errParam("%s: must be a date in yyyy-MM-dd, got %q", path, v)
		}
	case FieldSelect:
		if !rule.options[v] {
			return "", errParam("%s: %q is not one of the field's options", path, v)
		}
	}
	return v, nil
}

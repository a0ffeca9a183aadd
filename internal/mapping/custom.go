package mapping

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// CustomField maps one normalized custom field, custom_fields.<Name>, to a
// vendor field key, with a type the gateway checks and converts both ways.
type CustomField struct {
	Name   string
	Key    string
	Type   string   // crm.TypeString, TypeNumber, TypeBoolean, TypeDate, TypeEnum
	Values []string // the choices of an enum
}

// CustomFields converts custom_fields between the API's names and types and
// one vendor's keys and representation (HelpCrunch keeps typed values and
// dates as UNIX-second strings; Zenvia form fields hold strings; NXCloud
// holds numbers as numbers and dates as yyyy-MM-dd).
type CustomFields struct {
	vendor string
	strict bool
	byName map[string]CustomField
	byKey  map[string]CustomField
}

// NewCustomFields validates a connection's mappings. With strict, a custom
// field that is not mapped is refused; otherwise it passes through to the
// vendor under its own name.
func NewCustomFields(vendor string, strict bool, fields []CustomField) (*CustomFields, error) {
	m := &CustomFields{vendor: vendor, strict: strict, byName: map[string]CustomField{}, byKey: map[string]CustomField{}}
	var problems []string
	// Mappings come from a config map, in any order: sort them so that the
	// report on two names for one key does not depend on it.
	fields = slices.Clone(fields)
	slices.SortStableFunc(fields, func(a, b CustomField) int { return strings.Compare(a.Name, b.Name) })
	for _, f := range fields {
		at := "custom_fields.map." + f.Name
		switch {
		case f.Name == "":
			problems = append(problems, "custom_fields.map: a mapping has no name")
		case f.Key == "":
			problems = append(problems, at+".key: required")
		case !slices.Contains([]string{crm.TypeString, crm.TypeNumber, crm.TypeBoolean, crm.TypeDate, crm.TypeEnum}, f.Type):
			problems = append(problems, fmt.Sprintf("%s.type: must be string, number, boolean, date or enum (got %q)", at, f.Type))
		case f.Type == crm.TypeEnum && len(f.Values) == 0:
			problems = append(problems, at+".values: an enum needs its values")
		case f.Type != crm.TypeEnum && len(f.Values) > 0:
			problems = append(problems, at+".values: only an enum has values")
		}
		if prev, dup := m.byKey[f.Key]; dup && f.Key != "" {
			problems = append(problems, fmt.Sprintf("%s.key: %q is already mapped by %s", at, f.Key, prev.Name))
		}
		m.byName[f.Name], m.byKey[f.Key] = f, f
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		return nil, fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return m, nil
}

// Mapped returns the mappings, sorted by name.
func (m *CustomFields) Mapped() []CustomField {
	out := make([]CustomField, 0, len(m.byName))
	for _, k := range sortedKeys(m.byName) {
		out = append(out, m.byName[k])
	}
	return out
}

// ByKey returns the mapping of a vendor key.
func (m *CustomFields) ByKey(key string) (CustomField, bool) {
	f, ok := m.byKey[key]
	return f, ok
}

// Write converts custom_fields from a request into the vendor's keys and
// representation. A value of the wrong type is the caller's error, named by
// field, before anything reaches the vendor. nil (clear) passes as nil.
func (m *CustomFields) Write(in map[string]any) (map[string]any, []crm.FieldError) {
	if len(in) == 0 {
		return in, nil
	}
	out := make(map[string]any, len(in))
	var errs []crm.FieldError
	for _, name := range sortedKeys(in) {
		v := in[name]
		f, mapped := m.byName[name]
		switch {
		case !mapped && m.strict:
			errs = append(errs, crm.FieldError{Field: "custom_fields." + name, Reason: "is not a mapped custom field of this connection"})
			continue
		case !mapped:
			if other, taken := m.byKey[name]; taken {
				errs = append(errs, crm.FieldError{Field: "custom_fields." + name, Reason: "is the vendor key of custom_fields." + other.Name + ": use that name"})
				continue
			}
			out[name] = v
			continue
		}
		if v == nil {
			out[f.Key] = nil
			continue
		}
		vv, err := m.toVendor(f, v)
		if err != nil {
			errs = append(errs, crm.FieldError{Field: "custom_fields." + name, Reason: err.Error()})
			continue
		}
		out[f.Key] = vv
	}
	return out, errs
}

// Read converts a vendor's custom data into custom_fields: mapped keys get
// their normalized name and type; others keep the vendor's key and value,
// except a key that is also a mapped name: custom_fields.<name> is always
// the mapped field (the vendor's raw answer still has the other).
func (m *CustomFields) Read(in map[string]any) map[string]any {
	if len(in) == 0 {
		return in
	}
	out := make(map[string]any, len(in))
	for k, v := range in {
		f, mapped := m.byKey[k]
		if !mapped {
			if _, shadowed := m.byName[k]; !shadowed {
				out[k] = v
			}
			continue
		}
		out[f.Name] = m.fromVendor(f, v)
	}
	return out
}

// toVendor checks v against the field's type and renders it as the vendor
// stores that type.
func (m *CustomFields) toVendor(f CustomField, v any) (any, error) {
	switch f.Type {
	case crm.TypeString:
		s, ok := v.(string)
		if !ok {
			return nil, fmt.Errorf("must be a string")
		}
		return s, nil
	case crm.TypeEnum:
		s, ok := v.(string)
		if !ok || !slices.Contains(f.Values, s) {
			return nil, fmt.Errorf("must be one of %s", strings.Join(f.Values, ", "))
		}
		return s, nil
	case crm.TypeNumber:
		n, ok := number(v)
		if !ok {
			return nil, fmt.Errorf("must be a number")
		}
		if m.vendor == crm.VendorZenvia {
			return strconv.FormatFloat(n, 'f', -1, 64), nil
		}
		return n, nil
	case crm.TypeBoolean:
		b, ok := boolean(v)
		if !ok {
			return nil, fmt.Errorf("must be true or false")
		}
		if m.vendor == crm.VendorHelpCrunch {
			return b, nil
		}
		return strconv.FormatBool(b), nil
	case crm.TypeDate:
		d, ok := date(v)
		if !ok {
			return nil, fmt.Errorf("must be a date as YYYY-MM-DD")
		}
		if m.vendor == crm.VendorHelpCrunch {
			// HelpCrunch takes dates as UNIX-timestamp strings.
			return strconv.FormatInt(d.Unix(), 10), nil
		}
		return d.Format(time.DateOnly), nil
	}
	return nil, fmt.Errorf("has an unknown type %q", f.Type)
}

// fromVendor converts a stored value back to the field's type; a value the
// vendor holds in another shape is returned as the vendor holds it.
func (m *CustomFields) fromVendor(f CustomField, v any) any {
	switch f.Type {
	case crm.TypeNumber:
		if n, ok := number(v); ok {
			return n
		}
	case crm.TypeBoolean:
		if b, ok := boolean(v); ok {
			return b
		}
	case crm.TypeDate:
		if d, ok := date(v); ok {
			return d.Format(time.DateOnly)
		}
		// HelpCrunch reads dates back as UNIX seconds; elsewhere a number is
		// not a date.
		if n, ok := number(v); ok && m.vendor == crm.VendorHelpCrunch {
			return time.Unix(int64(n), 0).UTC().Format(time.DateOnly)
		}
	}
	return v
}

func number(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n) && !math.IsInf(n, 0)
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case json.Number:
		f, err := n.Float64()
		return f, err == nil
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(n), 64)
		return f, err == nil && !math.IsNaN(f) && !math.IsInf(f, 0)
	}
	return 0, false
}

func boolean(v any) (bool, bool) {
	switch b := v.(type) {
	case bool:
		return b, true
	case string:
		p, err := strconv.ParseBool(b)
		return p, err == nil
	}
	return false, false
}

func date(v any) (time.Time, bool) {
	s, ok := v.(string)
	if !ok {
		return time.Time{}, false
	}
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		return d, true
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC), true
	}
	return time.Time{}, false
}

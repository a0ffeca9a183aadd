// Package mapping converts customers between the gateway's normalized model
// (package crm) and each vendor's wire format, field by field, as the
// vendors document them. It does no I/O: adapters send what it builds and
// hand it back what vendors answer.
//
// Rules shared by every vendor:
//   - A normalized field the vendor cannot store is refused (422 naming the
//     field), never dropped in silence.
//   - custom_fields go into the vendor's own container for account-defined
//     fields; vendor_fields are copied verbatim into the vendor's object and
//     may not overwrite a key the mapping itself set.
//   - A vendor with one name field gets `name`, or first_name and last_name
//     joined; a vendor with split names gets first_name/last_name, or `name`
//     split at its last space.
package mapping

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// stringField is one of the normalized string fields with its JSON name.
type stringField struct {
	name string
	opt  crm.Opt[string]
}

// stringFields lists the string fields of f in the API's order. An array,
// not a slice, so that it stays on the caller's stack: every write maps
// through it, once per customer.
func stringFields(f crm.Fields) [15]stringField {
	return [...]stringField{
		{"name", f.Name}, {"first_name", f.FirstName}, {"last_name", f.LastName},
		{"email", f.Email}, {"phone", f.Phone}, {"whatsapp_phone", f.WhatsAppPhone},
		{"external_id", f.ExternalID}, {"company", f.Company}, {"country", f.Country},
		{"address", f.Address}, {"birthday", f.Birthday}, {"gender", f.Gender},
		{"locale", f.Locale}, {"timezone", f.Timezone}, {"notes", f.Notes},
	}
}

// present lists the JSON names of the fields set (or nulled) in f.
func present(f crm.Fields) []string {
	names := make([]string, 0, 17) // every field: grown once, not five times
	for _, sf := range stringFields(f) {
		if sf.opt.Present() {
			names = append(names, sf.name)
		}
	}
	if f.Tags.Present() {
		names = append(names, "tags")
	}
	if len(f.CustomFields) > 0 {
		names = append(names, "custom_fields")
	}
	return names
}

// refuseUnsupported reports every field present in f that vendor cannot store.
func refuseUnsupported(vendor string, f crm.Fields, supported []string) []crm.FieldError {
	var errs []crm.FieldError
	for _, name := range present(f) {
		// A scan of the vendor's few field names, not a set built on
		// every call: this runs once per customer written.
		if !slices.Contains(supported, name) {
			errs = append(errs, crm.FieldError{Field: name, Reason: "not supported by " + vendor})
		}
	}
	return errs
}

// unprocessable wraps field errors into the error a write returns.
func unprocessable(vendor string, errs []crm.FieldError) error {
	if len(errs) == 0 {
		return nil
	}
	return &crm.Error{
		Code:    crm.EUnprocessable,
		Message: fmt.Sprintf("the customer cannot be written to %s as sent", vendor),
		Fields:  errs,
		Vendor:  vendor,
		Outcome: crm.OutcomeNotApplied,
	}
}

// fullName returns the single name a vendor stores: name, or first and last
// name joined. ok is false when none of them holds a value.
func fullName(f crm.Fields) (name string, ok bool) {
	if v, set := f.Name.Get(); set {
		return v, true
	}
	parts := []string{}
	for _, o := range []crm.Opt[string]{f.FirstName, f.LastName} {
		if v, set := o.Get(); set && strings.TrimSpace(v) != "" {
			parts = append(parts, strings.TrimSpace(v))
		}
	}
	return strings.Join(parts, " "), len(parts) > 0
}

// splitName splits a full name at its last space: "Ana Maria Souza" gives
// "Ana Maria" and "Souza". A single word yields an empty last name.
func splitName(name string) (first, last string) {
	name = strings.TrimSpace(name)
	i := strings.LastIndexByte(name, ' ')
	if i < 0 {
		return name, ""
	}
	return strings.TrimSpace(name[:i]), strings.TrimSpace(name[i+1:])
}

// mergeVendorFields copies vendor_fields into obj, refusing keys the mapping
// already set so a pass-through can never silently override a mapped field.
func mergeVendorFields(obj map[string]any, vf map[string]any) []crm.FieldError {
	var errs []crm.FieldError
	for _, k := range sortedKeys(vf) {
		if _, taken := obj[k]; taken {
			errs = append(errs, crm.FieldError{
				Field:  "vendor_fields." + k,
				Reason: "conflicts with a normalized field mapped to the same vendor key",
			})
			continue
		}
		obj[k] = vf[k]
	}
	return errs
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// str returns v as a string if it is one.
func str(v any) string {
	s, _ := v.(string)
	return s
}

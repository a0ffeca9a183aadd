package mapping

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// HelpCrunchFields are the normalized fields HelpCrunch stores. It keeps a
// single name, so first_name/last_name are joined into it.
var HelpCrunchFields = []string{
	"name", "first_name", "last_name", "email", "phone", "external_id", "company",
	"locale", "notes", "tags", "custom_fields",
}

// helpCrunchKeys maps normalized string fields to HelpCrunch keys.
var helpCrunchKeys = map[string]string{
	"email": "email", "phone": "phone", "external_id": "userId", "company": "company",
	"locale": "locale", "notes": "notes",
}

// HelpCrunchWrite builds the HelpCrunch customer object for a create, a
// PATCH or a batch-update item. Absent fields are left out; null fields are
// sent as null, which HelpCrunch documents as "clear the value".
func HelpCrunchWrite(f crm.Fields) (map[string]any, error) {
	errs := refuseUnsupported(crm.VendorHelpCrunch, f, HelpCrunchFields)
	obj := make(map[string]any, len(helpCrunchKeys)+4) // sized once for every field it can hold
	switch {
	case f.Name.Present() && f.Name.IsNull():
		obj["name"] = nil
	case f.Name.Present() || f.FirstName.Present() || f.LastName.Present():
		if n, ok := fullName(f); ok {
			obj["name"] = n
		} else {
			obj["name"] = nil // first and last name both cleared
		}
	}
	for _, sf := range stringFields(f) {
		key, mapped := helpCrunchKeys[sf.name]
		if !mapped || !sf.opt.Present() {
			continue
		}
		if v, ok := sf.opt.Get(); ok {
			obj[key] = v
		} else {
			obj[key] = nil
		}
	}
	if f.Tags.IsNull() {
		obj["tags"] = nil // null clears, as for every other field
	} else if f.Tags.Present() {
		tags := []map[string]any{}
		for i, t := range f.Tags.Value() {
			if t.Name == "" {
				errs = append(errs, crm.FieldError{Field: fmt.Sprintf("tags[%d].name", i), Reason: "must not be empty"})
			}
			tag := map[string]any{"name": t.Name}
			if t.Color != "" {
				tag["color"] = t.Color
			}
			tags = append(tags, tag)
		}
		obj["tags"] = tags
	}
	if len(f.CustomFields) > 0 {
		// Written as a list of {property, value}; HelpCrunch reads it back as an object.
		data := make([]map[string]any, 0, len(f.CustomFields))
		for _, k := range sortedKeys(f.CustomFields) {
			data = append(data, map[string]any{"property": k, "value": f.CustomFields[k]})
		}
		obj["customData"] = data
	}
	errs = append(errs, mergeVendorFields(obj, f.VendorFields)...)
	if err := unprocessable(crm.VendorHelpCrunch, errs); err != nil {
		return nil, err
	}
	return obj, nil
}

// helpCrunchCustomer is the part of HelpCrunch's customer object the
// normalized model reads.
type helpCrunchCustomer struct {
	ID         json.Number    `json:"id"`
	Name       *string        `json:"name"`
	Email      *string        `json:"email"`
	UserID     *string        `json:"userId"`
	Company    *string        `json:"company"`
	Phone      *string        `json:"phone"`
	Locale     *string        `json:"locale"`
	Notes      *string        `json:"notes"`
	Tags       []crm.Tag      `json:"tags"`
	CustomData map[string]any `json:"customData"`
	Location   *struct {
		CountryCode string `json:"countryCode"`
	} `json:"location"`
	Device *struct {
		Timezone string `json:"timezone"`
	} `json:"device"`
}

// HelpCrunchRead normalizes a customer object HelpCrunch answered.
func HelpCrunchRead(raw json.RawMessage) (crm.Customer, error) {
	var hc helpCrunchCustomer
	if err := json.Unmarshal(raw, &hc); err != nil {
		return crm.Customer{}, fmt.Errorf("decode helpcrunch customer: %w", err)
	}
	c := crm.Customer{
		ID:           hc.ID.String(),
		Vendor:       crm.VendorHelpCrunch,
		Name:         deref(hc.Name),
		Email:        deref(hc.Email),
		ExternalID:   deref(hc.UserID),
		Company:      deref(hc.Company),
		Phone:        deref(hc.Phone),
		Locale:       deref(hc.Locale),
		Notes:        deref(hc.Notes),
		Tags:         hc.Tags,
		CustomFields: hc.CustomData,
		Remote:       raw,
	}
	if hc.Location != nil {
		c.Country = hc.Location.CountryCode
	}
	if hc.Device != nil {
		c.Timezone = hc.Device.Timezone
	}
	return c, nil
}

// HelpCrunchID parses a gateway customer id into HelpCrunch's numeric id.
func HelpCrunchID(id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return 0, crm.Invalid("helpcrunch customer ids are positive integers",
			crm.FieldError{Field: "id", Reason: "must be a positive integer"})
	}
	return n, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

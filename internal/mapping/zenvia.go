package mapping

import (
	"encoding/json"
	"fmt"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// ZenviaFields are the normalized fields Zenvia zChat stores: its standard
// form fields main_identifier, channel_phone and channel_email, plus the
// account's own form fields through custom_fields.
var ZenviaFields = []string{"name", "first_name", "last_name", "email", "phone", "custom_fields"}

// Zenvia's standard form fields.
const (
	zenviaName  = "main_identifier"
	zenviaPhone = "channel_phone"
	zenviaEmail = "channel_email"
	zenviaPhoto = "main_photo"
)

// ZenviaWrite builds one item of Zenvia's POST /api/external/customers:
// {"fields": {...}} plus any vendor_fields (such as agent_id) beside it.
// Zenvia stores unset fields as empty strings, so null is sent as "".
func ZenviaWrite(f crm.Fields) (map[string]any, error) {
	errs := refuseUnsupported(crm.VendorZenvia, f, ZenviaFields)
	fields := map[string]any{}
	if n, ok := fullName(f); ok && n != "" {
		fields[zenviaName] = n
	} else {
		errs = append(errs, crm.FieldError{Field: "name", Reason: "required by zenvia (main_identifier)"})
	}
	for _, p := range []struct {
		opt crm.Opt[string]
		key string
	}{{f.Phone, zenviaPhone}, {f.Email, zenviaEmail}} {
		if p.opt.Present() {
			fields[p.key] = p.opt.Value()
		}
	}
	for _, k := range sortedKeys(f.CustomFields) {
		if k == zenviaName || k == zenviaPhone || k == zenviaEmail {
			errs = append(errs, crm.FieldError{Field: "custom_fields." + k, Reason: "is a standard field: use the normalized field"})
			continue
		}
		v := f.CustomFields[k]
		if v == nil {
			v = ""
		}
		fields[k] = v
	}
	item := map[string]any{"fields": fields}
	errs = append(errs, mergeVendorFields(item, f.VendorFields)...)
	if err := unprocessable(crm.VendorZenvia, errs); err != nil {
		return nil, err
	}
	return item, nil
}

// zenviaCustomer is Zenvia's customer object as answered by
// POST /api/external/customers.
type zenviaCustomer struct {
	ID           json.Number    `json:"id"`
	CustomerKey  string         `json:"customer_key"`
	Fields       map[string]any `json:"fields"`
	DateCreation string         `json:"date_creation"`
	ChangeDate   string         `json:"change_date"`
}

// ZenviaRead normalizes a customer Zenvia answered. The gateway id is
// customer_key, the UUID the rest of Zenvia's API (interactions) refers to.
// created tells whether Zenvia created the record in this call rather than
// updating an existing one: Zenvia answers both the same way, but a new
// record's change_date equals its date_creation.
func ZenviaRead(raw json.RawMessage) (c crm.Customer, created bool, err error) {
	var zc zenviaCustomer
	if err := json.Unmarshal(raw, &zc); err != nil {
		return crm.Customer{}, false, fmt.Errorf("decode zenvia customer: %w", err)
	}
	c = crm.Customer{
		ID:     zc.CustomerKey,
		Vendor: crm.VendorZenvia,
		Name:   str(zc.Fields[zenviaName]),
		Phone:  str(zc.Fields[zenviaPhone]),
		Email:  str(zc.Fields[zenviaEmail]),
		Remote: raw,
	}
	for k, v := range zc.Fields {
		switch k {
		case zenviaName, zenviaPhone, zenviaEmail, zenviaPhoto:
			continue
		}
		if v == nil || v == "" {
			continue // Zenvia lists every form field, unset ones as ""
		}
		if c.CustomFields == nil {
			c.CustomFields = map[string]any{}
		}
		c.CustomFields[k] = v
	}
	return c, zc.DateCreation != "" && zc.DateCreation == zc.ChangeDate, nil
}

// ZenviaEcho is a rejected item as Zenvia echoes it in errors[]: the input
// and the reasons.
type ZenviaEcho struct {
	Fields map[string]any `json:"fields"`
	Errors []string       `json:"errors"`
}

// ZenviaSameItem reports whether an echoed rejected item is the item sent.
// Zenvia's errors[] carries no index, so the adapter pairs results with
// inputs by comparing what was sent with what was echoed.
func ZenviaSameItem(sent map[string]any, echo ZenviaEcho) bool {
	a, err1 := json.Marshal(sent["fields"])
	b, err2 := json.Marshal(echo.Fields)
	return err1 == nil && err2 == nil && string(a) == string(b)
}

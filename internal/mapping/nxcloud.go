package mapping

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// NXCloudFields are the normalized fields NXCloud CDP stores. It keeps split
// names, so `name` is split when first_name/last_name are absent.
var NXCloudFields = []string{
	"name", "first_name", "last_name", "email", "phone", "whatsapp_phone", "country",
	"address", "birthday", "gender", "timezone", "notes", "tags", "custom_fields",
}

// nxField is one NXCloud customer key with its documented maximum length
// in characters (0 = no documented limit).
type nxField struct {
	key    string
	maxLen int
}

// nxCloudKeys maps normalized string fields to NXCloud keys and limits
// (vendor doc "Batch Create Customers"). Names, birthday and gender are
// handled apart because they need conversion.
var nxCloudKeys = map[string]nxField{
	"email":          {"email", 50},
	"phone":          {"sms_phone", 30},
	"whatsapp_phone": {"whats_app_phone", 30},
	"country":        {"country", 50},
	"address":        {"address", 100},
	"notes":          {"remark", 100},
	"timezone":       {"time_zone", 0},
}

const nxNameMax = 128

// NXCloudWrite builds one customer of NXCloud's batch_create. NXCloud has no
// way to clear a field, so null is refused rather than ignored.
func NXCloudWrite(f crm.Fields) (map[string]any, error) {
	errs := refuseUnsupported(crm.VendorNXCloud, f, NXCloudFields)
	for _, sf := range stringFields(f) {
		if sf.opt.IsNull() {
			errs = append(errs, crm.FieldError{Field: sf.name, Reason: "nxcloud cannot clear a field: omit it instead of sending null"})
		}
	}
	if f.Tags.IsNull() {
		errs = append(errs, crm.FieldError{Field: "tags", Reason: "nxcloud cannot clear a field: omit it instead of sending null"})
	}
	obj := map[string]any{}

	first, last := f.FirstName.Value(), f.LastName.Value()
	if !f.FirstName.Present() && !f.LastName.Present() {
		first, last = splitName(f.Name.Value())
	}
	for _, n := range []struct{ field, key, v string }{{"first_name", "first_name", first}, {"last_name", "last_name", last}} {
		switch {
		case strings.TrimSpace(n.v) == "":
			errs = append(errs, crm.FieldError{Field: n.field, Reason: "required by nxcloud (send first_name and last_name, or a name of two words or more)"})
		case utf8.RuneCountInString(n.v) > nxNameMax:
			errs = append(errs, tooLong(n.field, nxNameMax))
		default:
			obj[n.key] = n.v
		}
	}
	for _, sf := range stringFields(f) {
		nf, mapped := nxCloudKeys[sf.name]
		v, ok := sf.opt.Get()
		if !mapped || !ok {
			continue
		}
		if nf.maxLen > 0 && utf8.RuneCountInString(v) > nf.maxLen {
			errs = append(errs, tooLong(sf.name, nf.maxLen))
			continue
		}
		obj[nf.key] = v
	}
	if v, ok := f.Birthday.Get(); ok {
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			errs = append(errs, crm.FieldError{Field: "birthday", Reason: "must be a date as YYYY-MM-DD"})
		} else {
			obj["birthday"] = v
		}
	}
	if v, ok := f.Gender.Get(); ok {
		switch v {
		case "male":
			obj["gender"] = 1
		case "female":
			obj["gender"] = 0
		default:
			errs = append(errs, crm.FieldError{Field: "gender", Reason: "nxcloud stores only male or female"})
		}
	}
	if tags, ok := f.Tags.Get(); ok && len(tags) > 0 {
		names := make([]string, 0, len(tags))
		for i, t := range tags {
			if t.Name == "" || strings.Contains(t.Name, ",") {
				errs = append(errs, crm.FieldError{Field: fmt.Sprintf("tags[%d].name", i), Reason: "must be non-empty and contain no comma (nxcloud tags are a comma list)"})
			}
			names = append(names, t.Name) // colours: NXCloud stores none
		}
		obj["tagStr"] = strings.Join(names, ",")
	}
	if len(f.CustomFields) > 0 {
		for k, v := range f.CustomFields {
			if v == nil {
				errs = append(errs, crm.FieldError{Field: "custom_fields." + k, Reason: "nxcloud cannot clear a field: omit it instead of sending null"})
			}
		}
		// NXCloud takes custom fields as a JSON object encoded in a string.
		b, err := json.Marshal(f.CustomFields)
		if err != nil {
			errs = append(errs, crm.FieldError{Field: "custom_fields", Reason: "cannot be encoded as JSON"})
		}
		obj["customize_field"] = string(b)
	}
	// A vendor_fields entry can fill a documented key the normalized fields
	// left empty: it gets the same documented length limit.
	for _, k := range sortedKeys(f.VendorFields) {
		for _, nf := range nxCloudKeys {
			v, isString := f.VendorFields[k].(string)
			if _, taken := obj[k]; nf.key == k && !taken && isString && nf.maxLen > 0 && utf8.RuneCountInString(v) > nf.maxLen {
				errs = append(errs, tooLong("vendor_fields."+k, nf.maxLen))
			}
		}
	}
	errs = append(errs, mergeVendorFields(obj, f.VendorFields)...)
	if err := unprocessable(crm.VendorNXCloud, errs); err != nil {
		return nil, err
	}
	return obj, nil
}

// NXCloudRead normalizes an NXCloud customer object (as sent in
// batch_create, or as listed by customers/query).
func NXCloudRead(obj map[string]any) crm.Customer {
	c := crm.Customer{
		Vendor:    crm.VendorNXCloud,
		FirstName: str(obj["first_name"]),
		LastName:  str(obj["last_name"]),
		Birthday:  str(obj["birthday"]),
		Remote:    obj,
	}
	c.Name = strings.TrimSpace(c.FirstName + " " + c.LastName)
	switch id := obj["id"].(type) {
	case nil:
	case float64: // fmt would print large ids as 1.234567e+06
		c.ID = strconv.FormatFloat(id, 'f', -1, 64)
	default:
		c.ID = fmt.Sprint(id)
	}
	targets := map[string]*string{
		"email": &c.Email, "phone": &c.Phone, "whatsapp_phone": &c.WhatsAppPhone,
		"country": &c.Country, "address": &c.Address, "notes": &c.Notes, "timezone": &c.Timezone,
	}
	for name, nf := range nxCloudKeys {
		*targets[name] = str(obj[nf.key])
	}
	switch g := obj["gender"].(type) {
	case int:
		c.Gender = nxGender(float64(g))
	case float64:
		c.Gender = nxGender(g)
	case json.Number:
		if f, err := g.Float64(); err == nil {
			c.Gender = nxGender(f)
		}
	}
	if s := str(obj["tagStr"]); s != "" {
		for _, name := range strings.Split(s, ",") {
			c.Tags = append(c.Tags, crm.Tag{Name: name})
		}
	}
	if s := str(obj["customize_field"]); s != "" {
		var cf map[string]any
		if json.Unmarshal([]byte(s), &cf) == nil && len(cf) > 0 {
			c.CustomFields = cf
		}
	}
	return c
}

func nxGender(g float64) string {
	switch g {
	case 1:
		return "male"
	case 0:
		return "female"
	}
	return ""
}

func tooLong(field string, max int) crm.FieldError {
	return crm.FieldError{Field: field, Reason: fmt.Sprintf("longer than %d characters (nxcloud limit)", max)}
}

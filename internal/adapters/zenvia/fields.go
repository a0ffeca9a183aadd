package zenvia

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
)

// zenviaStandard names the normalized field of Zenvia's standard form fields.
var zenviaStandard = map[string]string{"main_identifier": "name", "channel_phone": "phone", "channel_email": "email"}

// CustomerFields implements crm.FieldLister with GET /api/external/form_fields.
func (a *Adapter) CustomerFields(ctx context.Context) ([]crm.FieldInfo, error) {
	// The token travels in the query string here; vendorhttp keeps URLs out of errors and logs.
	resp, err := a.client.Do(ctx, vendorhttp.Request{Op: "GET /api/external/form_fields", Method: http.MethodGet,
		Path: "/api/external/form_fields?" + url.Values{"token": {a.token}}.Encode(), Idempotent: true})
	if err != nil {
		addRemote(err, resp)
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, vendorhttp.Refused(crm.VendorZenvia, remoteError(resp))
	}
	var ans struct {
		FormFields []struct {
			Name       string `json:"name"`
			Label      string `json:"label"`
			Type       string `json:"type"`
			IsRequired bool   `json:"is_required"`
			IsUnique   bool   `json:"is_unique"`
			IsMultiple bool   `json:"is_multiple"`
		} `json:"form_fields"`
	}
	if err := json.Unmarshal(resp.Body, &ans); err != nil {
		return nil, vendorhttp.Unreadable(crm.VendorZenvia, resp.Status, err)
	}
	out := make([]crm.FieldInfo, 0, len(ans.FormFields))
	for _, f := range ans.FormFields {
		key, standard := zenviaStandard[f.Name]
		if !standard {
			key = "custom_fields." + f.Name
		}
		out = append(out, crm.FieldInfo{Key: key, VendorKey: f.Name, Label: f.Label, Type: zenviaType(f.Type), VendorType: f.Type,
			Required: f.IsRequired, Unique: f.IsUnique, Multiple: f.IsMultiple, Standard: standard || f.Name == "main_photo"})
	}
	return out, nil
}

func zenviaType(t string) string {
	switch t {
	case "number", "integer", "decimal":
		return crm.TypeNumber
	case "date":
		return crm.TypeDate
	case "boolean", "checkbox":
		return crm.TypeBoolean
	case "select", "list":
		return crm.TypeEnum
	}
	return crm.TypeString // string, text, phone, email, url, ...
}

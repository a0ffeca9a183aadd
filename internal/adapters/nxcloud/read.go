package nxcloud

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/mapping"
	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
)

// maxQuery is the largest page customers/query returns (vendor-notes: 1–50).
const maxQuery = 50

// The request and answer shapes of customers/query and customers/fields are
// not in NXCloud's published docs (vendor-notes lists only the filters and
// the after/before cursors). The shapes used here follow the simulator's
// documented reading; verify them against a real account before relying on
// listing in production.

// ListCustomers implements crm.CustomerLister with POST customers/query and
// its `after` cursor.
func (a *Adapter) ListCustomers(ctx context.Context, q crm.Query) (*crm.Page, error) {
	if q.ExternalID != "" {
		return nil, crm.Invalid("nxcloud cannot filter customers by external id",
			crm.FieldError{Field: "external_id", Reason: "not supported by nxcloud"})
	}
	body := map[string]any{
		"tenant_id": a.account.TenantID, "app_key": a.account.AppKey,
		"limit": min(max(q.Limit, 1), maxQuery),
	}
	for key, v := range map[string]string{"after": q.Cursor, "name": q.Name, "sms_phone": q.Phone, "email": q.Email} {
		if v != "" {
			body[key] = v
		}
	}
	if q.Tag != "" {
		body["tags"] = []string{q.Tag}
	}
	if !q.UpdatedSince.IsZero() {
		body["update_time_start"] = q.UpdatedSince.UnixMilli()
	}
	var page struct {
		List    []map[string]any `json:"list"`
		After   string           `json:"after"`
		HasMore bool             `json:"has_more"`
	}
	if err := a.call(ctx, "POST customers/query", http.MethodPost, "/saas/cdp/openapi/customers/query", body, true, &page); err != nil {
		return nil, err
	}
	out := &crm.Page{Customers: make([]crm.Customer, 0, len(page.List))}
	for _, obj := range page.List {
		out.Customers = append(out.Customers, mapping.NXCloudRead(obj))
	}
	if page.HasMore && page.After != "" {
		out.Next = page.After
	}
	return out, nil
}

// nxStandard names the normalized field of each preset NXCloud key.
var nxStandard = map[string]string{
	"first_name": "first_name", "last_name": "last_name", "email": "email", "sms_phone": "phone",
	"whats_app_phone": "whatsapp_phone", "country": "country", "address": "address", "birthday": "birthday",
	"gender": "gender", "tagStr": "tags", "remark": "notes", "time_zone": "timezone",
}

// CustomerFields implements crm.FieldLister with GET customers/fields.
func (a *Adapter) CustomerFields(ctx context.Context) ([]crm.FieldInfo, error) {
	query := url.Values{"tenant_id": {strconv.FormatInt(a.account.TenantID, 10)}, "app_key": {a.account.AppKey}}
	var data struct {
		List []struct {
			Key      string `json:"key"`
			Name     string `json:"name"`
			Type     string `json:"type"`
			IsPreset bool   `json:"is_preset"`
			Required bool   `json:"required"`
			Multiple bool   `json:"multiple"`
			Options  []struct {
				Value string `json:"value"`
			} `json:"options"`
		} `json:"list"`
	}
	if err := a.call(ctx, "GET customers/fields", http.MethodGet, "/saas/cdp/openapi/customers/fields?"+query.Encode(), nil, true, &data); err != nil {
		return nil, err
	}
	out := make([]crm.FieldInfo, 0, len(data.List))
	for _, f := range data.List {
		fi := crm.FieldInfo{Key: "custom_fields." + f.Key, VendorKey: f.Key, Label: f.Name, VendorType: f.Type,
			Type: nxType(f.Type), Required: f.Required, Multiple: f.Multiple, Standard: f.IsPreset}
		if name, ok := nxStandard[f.Key]; ok && f.IsPreset {
			fi.Key = name
		}
		if f.Key == "tagStr" {
			fi.Multiple = true
		}
		for _, o := range f.Options {
			fi.Values = append(fi.Values, o.Value)
		}
		if len(fi.Values) > 0 && fi.Type == crm.TypeString {
			fi.Type = crm.TypeEnum
		}
		out = append(out, fi)
	}
	return out, nil
}

func nxType(t string) string {
	switch t {
	case "number", "integer", "decimal":
		return crm.TypeNumber
	case "date", "datetime":
		return crm.TypeDate
	case "select", "enum":
		return crm.TypeEnum
	case "boolean", "bool":
		return crm.TypeBoolean
	}
	return crm.TypeString
}

// call sends one signed request and decodes the envelope's data into out
// (unless out is nil).
func (a *Adapter) call(ctx context.Context, op, method, path string, in any, idempotent bool, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode nxcloud request: %w", err)
		}
	}
	resp, err := a.client.Do(ctx, vendorhttp.Request{Op: op, Method: method, Path: path, Body: body, Idempotent: idempotent})
	if err != nil {
		var ce *crm.Error
		if resp != nil && errors.As(err, &ce) {
			ce.Remote = remoteError(resp, nil)
		}
		return err
	}
	ans, err := decodeAnswer(resp)
	if err != nil {
		return err
	}
	if out == nil {
		return nil
	}
	if err := json.Unmarshal(ans.Data, out); err != nil {
		return vendorhttp.Unreadable(crm.VendorNXCloud, resp.Status, err)
	}
	return nil
}

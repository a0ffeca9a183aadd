package helpcrunch

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/mapping"
)

// maxPage is HelpCrunch's largest page for list and search.
const maxPage = 100

// GetCustomer implements crm.CustomerGetter with GET /customers/{id}.
func (a *Adapter) GetCustomer(ctx context.Context, id string) (*crm.Customer, error) {
	n, err := mapping.HelpCrunchID(id)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	if err := a.call(ctx, "GET /customers/{id}", http.MethodGet, "/customers/"+strconv.FormatInt(n, 10), nil, true, &raw); err != nil {
		return nil, err
	}
	return a.read(raw)
}

// ListCustomers implements crm.CustomerLister. Without filters it pages GET
// /customers; with filters POST /customers/search (all filters must match).
// The paging state is HelpCrunch's offset.
func (a *Adapter) ListCustomers(ctx context.Context, q crm.Query) (*crm.Page, error) {
	if !q.UpdatedSince.IsZero() {
		return nil, crm.Invalid("helpcrunch cannot filter customers by update time",
			crm.FieldError{Field: "updated_since", Reason: "not supported by helpcrunch"})
	}
	offset := 0
	if q.Cursor != "" {
		n, err := strconv.Atoi(q.Cursor)
		if err != nil || n < 0 {
			return nil, crm.Invalid("the cursor is not valid", crm.FieldError{Field: "cursor", Reason: "is not valid"})
		}
		offset = n
	}
	limit := min(max(q.Limit, 1), maxPage)
	var filters []map[string]any
	for _, f := range []struct{ field, op, value string }{
		{"customers.email", "=", q.Email}, {"customers.phone", "=", q.Phone},
		{"customers.userId", "=", q.ExternalID}, {"customers.name", "~", q.Name},
	} {
		if f.value != "" {
			filters = append(filters, map[string]any{"field": f.field, "operator": f.op, "value": f.value})
		}
	}
	if q.Tag != "" {
		filters = append(filters, map[string]any{"field": "customers.tagsData", "operator": "=", "value": []map[string]string{{"name": q.Tag}}})
	}
	var page struct {
		Data  []json.RawMessage `json:"data"`
		Total int               `json:"total"`
	}
	var err error
	if len(filters) == 0 {
		path := "/customers?" + url.Values{"offset": {strconv.Itoa(offset)}, "limit": {strconv.Itoa(limit)}}.Encode()
		err = a.call(ctx, "GET /customers", http.MethodGet, path, nil, true, &page)
	} else {
		body := map[string]any{"filter": filters, "comparison": "AND", "offset": offset, "limit": limit}
		err = a.call(ctx, "POST /customers/search", http.MethodPost, "/customers/search", body, true, &page)
	}
	if err != nil {
		return nil, err
	}
	out := &crm.Page{Customers: make([]crm.Customer, 0, len(page.Data))}
	for _, raw := range page.Data {
		c, err := a.read(raw)
		if err != nil {
			return nil, err
		}
		out.Customers = append(out.Customers, *c)
	}
	if next := offset + len(page.Data); len(page.Data) > 0 && next < page.Total {
		out.Next = strconv.Itoa(next)
	}
	return out, nil
}

// CustomerFields implements crm.FieldLister with HelpCrunch's standard
// customer model. HelpCrunch has no API listing custom attributes; those
// come from the connection's configuration.
func (a *Adapter) CustomerFields(context.Context) ([]crm.FieldInfo, error) {
	std := func(key, vendorKey, label, typ string) crm.FieldInfo {
		return crm.FieldInfo{Key: key, VendorKey: vendorKey, Label: label, Type: typ, Standard: true}
	}
	return []crm.FieldInfo{
		std("name", "name", "Name", crm.TypeString),
		std("email", "email", "Email", crm.TypeString),
		std("phone", "phone", "Phone", crm.TypeString),
		std("external_id", "userId", "User ID", crm.TypeString),
		std("company", "company", "Company", crm.TypeString),
		std("locale", "locale", "Locale", crm.TypeString),
		std("notes", "notes", "Notes", crm.TypeString),
		{Key: "tags", VendorKey: "tags", Label: "Tags", Type: crm.TypeString, Multiple: true, Standard: true},
	}, nil
}

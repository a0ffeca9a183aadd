// Package helpcrunch adapts HelpCrunch REST v1 (https://api.helpcrunch.com/v1)
// to the gateway's Connector: Bearer auth, POST /customers, PATCH
// /customers/{id}, PUT /customers/batch (at most 10 per request) and
// POST /customers/search for upserts, since HelpCrunch has no native upsert.
package helpcrunch

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/mapping"
	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
)

// MaxBatch is HelpCrunch's documented limit of customers per batch request.
const MaxBatch = 10

// Adapter is a HelpCrunch account.
type Adapter struct {
	client     *vendorhttp.Client
	batchSize  int
	webhookKey string
}

// New returns an adapter sending through client with the account's API key.
// batchSize is capped at MaxBatch. webhookKey is the account's webhook
// signing key; without one, no webhook is accepted.
func New(client *vendorhttp.Client, apiKey string, batchSize int, webhookKey string) *Adapter {
	client.Authorize = func(r *http.Request, _ []byte) { r.Header.Set("Authorization", "Bearer "+apiKey) }
	if batchSize <= 0 || batchSize > MaxBatch {
		batchSize = MaxBatch
	}
	return &Adapter{client: client, batchSize: batchSize, webhookKey: webhookKey}
}

// Vendor implements crm.Connector.
func (a *Adapter) Vendor() string { return crm.VendorHelpCrunch }

// Capabilities implements crm.Connector.
func (a *Adapter) Capabilities() []crm.Capability {
	caps := []crm.Capability{crm.CapCustomerCreate, crm.CapCustomerUpdate,
		crm.CapCustomerBatchCreate, crm.CapCustomerBatchUpdate, crm.CapCustomerBatchUpsert,
		crm.CapCustomerGet, crm.CapCustomerList, crm.CapCustomerFields,
		crm.CapInteractionStart, crm.CapInteractionMessage}
	if a.webhookKey != "" {
		caps = append(caps, crm.CapWebhooks)
	}
	return caps
}

// Fields implements crm.Connector.
func (a *Adapter) Fields() []string { return mapping.HelpCrunchFields }

// BatchSize implements crm.Connector.
func (a *Adapter) BatchSize() int { return a.batchSize }

// CreateCustomer implements crm.Connector.
func (a *Adapter) CreateCustomer(ctx context.Context, w crm.CustomerWrite) (*crm.Customer, error) {
	obj, err := mapping.HelpCrunchWrite(w.Fields)
	if err != nil {
		return nil, err
	}
	return a.create(ctx, obj)
}

func (a *Adapter) create(ctx context.Context, obj map[string]any) (*crm.Customer, error) {
	var raw json.RawMessage
	if err := a.call(ctx, "POST /customers", http.MethodPost, "/customers", obj, false, &raw); err != nil {
		return nil, err
	}
	return a.read(raw)
}

// UpdateCustomer implements crm.Connector with PATCH, which merges: only the
// fields sent change.
func (a *Adapter) UpdateCustomer(ctx context.Context, id string, f crm.Fields) (*crm.Customer, error) {
	n, err := mapping.HelpCrunchID(id)
	if err != nil {
		return nil, err
	}
	obj, err := mapping.HelpCrunchWrite(f)
	if err != nil {
		return nil, err
	}
	var raw json.RawMessage
	path := "/customers/" + strconv.FormatInt(n, 10)
	if err := a.call(ctx, "PATCH /customers/{id}", http.MethodPatch, path, obj, true, &raw); err != nil {
		return nil, err
	}
	return a.read(raw)
}

// WriteBatch implements crm.Connector.
func (a *Adapter) WriteBatch(ctx context.Context, b crm.Batch) []crm.ItemResult {
	results := make([]crm.ItemResult, len(b.Customers))
	var updates []pending // items to send in one PUT /customers/batch
	for i, item := range b.Customers {
		obj, err := mapping.HelpCrunchWrite(item.Fields)
		if err != nil {
			results[i] = crm.Failed(i, err)
			continue
		}
		switch {
		case b.Mode == crm.ModeCreate && item.ID != "":
			results[i] = crm.Failed(i, crm.Invalid("create takes no id", crm.FieldError{Field: "id", Reason: "must be absent in mode create"}))
		case b.Mode == crm.ModeCreate:
			results[i] = a.createItem(ctx, i, obj)
		case item.ID != "":
			updates = a.queueUpdate(updates, results, i, item.ID, obj)
		case b.Mode == crm.ModeUpdate:
			results[i] = crm.Failed(i, crm.Invalid("update needs the customer's id", crm.FieldError{Field: "id", Reason: "required in mode update"}))
		default: // upsert without id: find the customer first
			id, err := a.lookup(ctx, item.Fields)
			switch {
			case err != nil:
				results[i] = crm.Failed(i, err)
			case id == "":
				results[i] = a.createItem(ctx, i, obj)
			default:
				updates = a.queueUpdate(updates, results, i, id, obj)
			}
		}
	}
	if len(updates) > 0 {
		a.sendUpdates(ctx, updates, results)
	}
	return results
}

// pending is a batch item waiting to go out in one PUT /customers/batch.
type pending struct {
	index int
	id    int64
	obj   map[string]any
}

func (a *Adapter) queueUpdate(updates []pending, results []crm.ItemResult, i int, id string, obj map[string]any) []pending {
	n, err := mapping.HelpCrunchID(id)
	if err != nil {
		results[i] = crm.Failed(i, err)
		return updates
	}
	obj["customer"] = n // the batch names the customer "customer", not "id"
	return append(updates, pending{index: i, id: n, obj: obj})
}

func (a *Adapter) createItem(ctx context.Context, i int, obj map[string]any) crm.ItemResult {
	c, err := a.create(ctx, obj)
	if err != nil {
		return crm.Failed(i, err)
	}
	return crm.ItemResult{Index: i, Status: crm.StatusCreated, Customer: c}
}

// sendUpdates sends the queued updates in one request. HelpCrunch answers
// the updated customers; each is matched to its item by id.
func (a *Adapter) sendUpdates(ctx context.Context, updates []pending, results []crm.ItemResult) {
	body := make([]map[string]any, len(updates))
	for k, u := range updates {
		body[k] = u.obj
	}
	var answered []json.RawMessage
	err := a.call(ctx, "PUT /customers/batch", http.MethodPut, "/customers/batch", body, true, &answered)
	byID := map[string]*crm.Customer{}
	if err == nil {
		for _, raw := range answered {
			c, rerr := a.read(raw)
			if rerr != nil {
				err = rerr
				break
			}
			byID[c.ID] = c
		}
	}
	for _, u := range updates {
		c, ok := byID[strconv.FormatInt(u.id, 10)]
		switch {
		case err != nil:
			results[u.index] = crm.Failed(u.index, err)
		case !ok:
			results[u.index] = crm.Failed(u.index, &crm.Error{Code: crm.EVendor, Vendor: crm.VendorHelpCrunch,
				Message: "helpcrunch did not return this customer in its batch answer", Outcome: crm.OutcomeUncertain})
		default:
			results[u.index] = crm.ItemResult{Index: u.index, Status: crm.StatusUpdated, Customer: c}
		}
	}
}

// lookupKeys are tried in order to find an existing customer for an upsert:
// the caller's own id first, as the most specific.
var lookupKeys = []struct {
	field  string
	search string
	value  func(crm.Fields) (string, bool)
}{
	{"external_id", "customers.userId", func(f crm.Fields) (string, bool) { return f.ExternalID.Get() }},
	{"email", "customers.email", func(f crm.Fields) (string, bool) { return f.Email.Get() }},
	{"phone", "customers.phone", func(f crm.Fields) (string, bool) { return f.Phone.Get() }},
}

// lookup returns the id of the customer matching f by external_id, email or
// phone, or "" when there is none.
func (a *Adapter) lookup(ctx context.Context, f crm.Fields) (string, error) {
	tried := false
	for _, k := range lookupKeys {
		v, ok := k.value(f)
		if !ok || v == "" {
			continue
		}
		tried = true
		query := map[string]any{
			"filter": []map[string]any{{"field": k.search, "operator": "=", "value": v}},
			"limit":  2,
		}
		var found struct {
			Data []struct {
				ID json.Number `json:"id"`
			} `json:"data"`
		}
		if err := a.call(ctx, "POST /customers/search", http.MethodPost, "/customers/search", query, true, &found); err != nil {
			return "", err
		}
		switch len(found.Data) {
		case 0:
			continue
		case 1:
			return found.Data[0].ID.String(), nil
		default:
			return "", &crm.Error{Code: crm.EConflict, Vendor: crm.VendorHelpCrunch, Outcome: crm.OutcomeNotApplied,
				Message: fmt.Sprintf("several helpcrunch customers have this %s: send the id to choose one", k.field),
				Fields:  []crm.FieldError{{Field: k.field, Reason: "matches more than one customer"}}}
		}
	}
	if !tried {
		return "", crm.Invalid("upsert needs id, external_id, email or phone to find the customer",
			crm.FieldError{Field: "external_id", Reason: "one of id, external_id, email, phone is required in mode upsert"})
	}
	return "", nil
}

func (a *Adapter) read(raw json.RawMessage) (*crm.Customer, error) {
	c, err := mapping.HelpCrunchRead(raw)
	if err != nil {
		return nil, vendorhttp.Unreadable(crm.VendorHelpCrunch, http.StatusOK, err)
	}
	return &c, nil
}

// call sends one request and decodes a 2xx answer into out.
func (a *Adapter) call(ctx context.Context, op, method, path string, in any, idempotent bool, out any) error {
	var body []byte
	if in != nil {
		var err error
		if body, err = json.Marshal(in); err != nil {
			return fmt.Errorf("encode helpcrunch request: %w", err)
		}
	}
	resp, err := a.client.Do(ctx, vendorhttp.Request{Op: op, Method: method, Path: path, Body: body, Idempotent: idempotent})
	if err != nil {
		if resp != nil {
			var ce *crm.Error
			if errors.As(err, &ce) {
				ce.Remote = remoteError(resp)
			}
		}
		return err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return vendorhttp.Refused(crm.VendorHelpCrunch, remoteError(resp))
	}
	if err := json.Unmarshal(resp.Body, out); err != nil {
		return vendorhttp.Unreadable(crm.VendorHelpCrunch, resp.Status, err)
	}
	return nil
}

// remoteError reads HelpCrunch's error body: {"errors":[{"code","message"}]},
// usually led by a generic "invalid_request" that the first specific entry
// explains.
func remoteError(resp *vendorhttp.Response) *crm.VendorError {
	ve := &crm.VendorError{Status: resp.Status}
	var body struct {
		Errors []crm.VendorIssue `json:"errors"`
	}
	if json.Unmarshal(resp.Body, &body) != nil {
		return ve
	}
	ve.Errors = body.Errors
	for _, e := range body.Errors {
		ve.Code, ve.Message = e.Code, e.Message
		if e.Code != "invalid_request" {
			break
		}
	}
	return ve
}

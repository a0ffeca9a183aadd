// Package zenvia adapts Zenvia zChat's customers API
// (POST https://zchat.zenvia.io/api/external/customers) to the gateway's
// Connector. Zenvia creates or updates in one call (a customer with the same
// channel phone or email is updated), answers HTTP 200 with partial success
// (customers[] and errors[]), takes its token in the JSON body, and has no
// update by id.
package zenvia

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/mapping"
	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
)

// DefaultBatch is the customers per request when none is configured: Zenvia
// documents no maximum, so this stays conservative (vendor-notes).
const DefaultBatch = 50

// Adapter is a Zenvia zChat account.
type Adapter struct {
	client    *vendorhttp.Client
	token     string
	batchSize int
}

// New returns an adapter sending through client with the account's token.
func New(client *vendorhttp.Client, token string, batchSize int) *Adapter {
	if batchSize <= 0 {
		batchSize = DefaultBatch
	}
	return &Adapter{client: client, token: token, batchSize: batchSize}
}

// Vendor implements crm.Connector.
func (a *Adapter) Vendor() string { return crm.VendorZenvia }

// Capabilities implements crm.Connector. Zenvia's only customer write is
// create-or-update, so there is no update by id and no update-only batch.
func (a *Adapter) Capabilities() []crm.Capability {
	return []crm.Capability{crm.CapCustomerCreate, crm.CapCustomerBatchCreate, crm.CapCustomerBatchUpsert, crm.CapCustomerFields,
		crm.CapInteractionStart, crm.CapInteractionUpdate, crm.CapInteractionMessage, crm.CapInteractionTyping,
		crm.CapInteractionFinish, crm.CapWebhooks}
}

// Fields implements crm.Connector.
func (a *Adapter) Fields() []string { return mapping.ZenviaFields }

// BatchSize implements crm.Connector.
func (a *Adapter) BatchSize() int { return a.batchSize }

// CreateCustomer implements crm.Connector. Zenvia may update an existing
// customer with the same phone or email instead of creating one.
func (a *Adapter) CreateCustomer(ctx context.Context, w crm.CustomerWrite) (*crm.Customer, error) {
	return crm.CreateOne(ctx, a, w)
}

// UpdateCustomer implements crm.Connector: Zenvia has no update by id.
func (a *Adapter) UpdateCustomer(context.Context, string, crm.Fields) (*crm.Customer, error) {
	return nil, crm.Unsupported(crm.VendorZenvia, crm.CapCustomerUpdate)
}

// errByID refuses a batch item naming an id: Zenvia matches customers by
// phone or email only.
var errByID = crm.Invalid("zenvia finds customers by phone or email, not by id",
	crm.FieldError{Field: "id", Reason: "not supported by zenvia: send phone or email"})

// WriteBatch implements crm.Connector.
func (a *Adapter) WriteBatch(ctx context.Context, b crm.Batch) []crm.ItemResult {
	results, sent, index := crm.MapCreates(b, crm.VendorZenvia, errByID, mapping.ZenviaWrite)
	if len(sent) == 0 {
		return results
	}
	answer, err := a.post(ctx, sent)
	if err != nil {
		for _, i := range index {
			results[i] = crm.Failed(i, err)
		}
		return results
	}
	a.pair(sent, index, answer, results)
	return results
}

// answer is Zenvia's reply to POST /api/external/customers.
type answer struct {
	Status    int               `json:"status"`
	Customers []json.RawMessage `json:"customers"`
	Errors    []echo            `json:"errors"`
}

// echo is a rejected item as Zenvia echoes it: the mapping's view (fields
// and errors) plus every member as it came back (agent_id, ...).
type echo struct {
	mapping.ZenviaEcho
	members map[string]json.RawMessage
}

func (e *echo) UnmarshalJSON(b []byte) error {
	if err := json.Unmarshal(b, &e.ZenviaEcho); err != nil {
		return err
	}
	return json.Unmarshal(b, &e.members)
}

// echoes reports whether e is the echo of the item sent: the same fields,
// and every other member the echo carries (such as agent_id) equal to the
// one sent. Comparing fields alone would pair an accepted item with the
// rejection of a later item that differs only by, say, an unknown agent_id.
func echoes(sent map[string]any, e echo) bool {
	if !mapping.ZenviaSameItem(sent, e.ZenviaEcho) {
		return false
	}
	for k, raw := range e.members {
		if k == "fields" || k == "errors" {
			continue
		}
		v, ok := sent[k]
		if !ok {
			return false
		}
		b, err := json.Marshal(v)
		if err != nil || !sameJSON(b, raw) {
			return false
		}
	}
	return true
}

// sameJSON reports whether a and b encode the same JSON value (numbers are
// compared by their literal text).
func sameJSON(a, b []byte) bool {
	ca, okA := canonical(a)
	cb, okB := canonical(b)
	return okA && okB && ca == cb
}

func canonical(b []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return "", false
	}
	out, err := json.Marshal(v)
	return string(out), err == nil
}

// pair gives each sent item its result. Zenvia lists successes and
// rejections apart, without indexes, each in input order; an item is the
// next rejection if that echoes it, else the next success. A success whose
// customer_key an earlier item of the same answer already had is an update,
// whatever its dates say (both items carry the same request time).
func (a *Adapter) pair(sent []map[string]any, index []int, ans *answer, results []crm.ItemResult) {
	ci, ei := 0, 0
	seen := map[string]bool{}
	for k, i := range index {
		switch {
		case ei < len(ans.Errors) && echoes(sent[k], ans.Errors[ei]):
			e := ans.Errors[ei]
			ei++
			remote := &crm.VendorError{Status: http.StatusOK, Message: "zenvia rejected the customer"}
			for _, m := range e.Errors {
				remote.Errors = append(remote.Errors, crm.VendorIssue{Message: m})
			}
			results[i] = crm.Failed(i, &crm.Error{Code: crm.EUnprocessable, Message: "zenvia rejected the customer",
				Vendor: crm.VendorZenvia, Remote: remote, Outcome: crm.OutcomeNotApplied})
		case ci < len(ans.Customers):
			c, created, err := mapping.ZenviaRead(ans.Customers[ci])
			ci++
			if err != nil {
				results[i] = crm.Failed(i, vendorhttp.Unreadable(crm.VendorZenvia, http.StatusOK, err))
				continue
			}
			status := crm.StatusUpdated
			if created && !seen[c.ID] {
				status = crm.StatusCreated
			}
			if c.ID != "" {
				seen[c.ID] = true
			}
			results[i] = crm.ItemResult{Index: i, Status: status, Customer: &c}
		default:
			results[i] = crm.Failed(i, &crm.Error{Code: crm.EVendor, Vendor: crm.VendorZenvia, Outcome: crm.OutcomeUncertain,
				Message: fmt.Sprintf("zenvia answered %d results for %d customers; this one is unaccounted for", len(ans.Customers)+len(ans.Errors), len(sent))})
		}
	}
}

func (a *Adapter) post(ctx context.Context, customers []map[string]any) (*answer, error) {
	body, err := json.Marshal(map[string]any{"token": a.token, "customers": customers})
	if err != nil {
		return nil, fmt.Errorf("encode zenvia request: %w", err)
	}
	resp, err := a.client.Do(ctx, vendorhttp.Request{Op: "POST /api/external/customers", Method: http.MethodPost,
		Path: "/api/external/customers", Body: body})
	if err != nil {
		addRemote(err, resp)
		return nil, err
	}
	if resp.Status != http.StatusOK {
		return nil, vendorhttp.Refused(crm.VendorZenvia, remoteError(resp))
	}
	var ans answer
	if err := json.Unmarshal(resp.Body, &ans); err != nil {
		return nil, vendorhttp.Unreadable(crm.VendorZenvia, resp.Status, err)
	}
	return &ans, nil
}

// remoteError reads Zenvia's error body {"message": "...", "status": N}.
func remoteError(resp *vendorhttp.Response) *crm.VendorError {
	ve := &crm.VendorError{Status: resp.Status}
	var body struct {
		Message string `json:"message"`
		Status  int    `json:"status"`
	}
	if json.Unmarshal(resp.Body, &body) == nil {
		ve.Message = body.Message
		if body.Status != 0 {
			ve.Code = fmt.Sprint(body.Status)
		}
	}
	return ve
}

func addRemote(err error, resp *vendorhttp.Response) {
	var ce *crm.Error
	if resp != nil && errors.As(err, &ce) {
		ce.Remote = remoteError(resp)
	}
}

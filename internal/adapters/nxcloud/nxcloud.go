// Package nxcloud adapts NXCloud CDP's openapi (https://api.nxcloud.com) to
// the gateway's Connector. Its only customer write is
// POST /saas/cdp/openapi/customers/batch_create (at most 100 per request)
// with a merge `type`; it answers {"code":0} without ids or per-item
// results, signs every request with MD5 headers, and reports errors through
// a non-zero `code` whatever the HTTP status.
package nxcloud

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/mapping"
	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
)

// MaxBatch is NXCloud's documented limit of customers per batch_create.
const MaxBatch = 100

// Account holds an NXCloud account's credentials.
type Account struct {
	AccessKey    string
	AccessSecret string
	TenantID     int64
	AppKey       string
}

// Adapter is an NXCloud CDP account.
type Adapter struct {
	client    *vendorhttp.Client
	account   Account
	batchSize int
}

// New returns an adapter sending through client, signing with the account's
// key and secret.
func New(client *vendorhttp.Client, acct Account, batchSize int) *Adapter {
	client.Authorize = authorizer(acct.AccessKey, acct.AccessSecret, time.Now)
	if batchSize <= 0 || batchSize > MaxBatch {
		batchSize = MaxBatch
	}
	return &Adapter{client: client, account: acct, batchSize: batchSize}
}

// Vendor implements crm.Connector.
func (a *Adapter) Vendor() string { return crm.VendorNXCloud }

// Capabilities implements crm.Connector. NXCloud documents no update by id,
// so updates only happen as upserts through batch_create.
func (a *Adapter) Capabilities() []crm.Capability {
	return []crm.Capability{crm.CapCustomerCreate, crm.CapCustomerBatchCreate, crm.CapCustomerBatchUpsert,
		crm.CapCustomerList, crm.CapCustomerFields}
}

// Fields implements crm.Connector.
func (a *Adapter) Fields() []string { return mapping.NXCloudFields }

// BatchSize implements crm.Connector.
func (a *Adapter) BatchSize() int { return a.batchSize }

// CreateCustomer implements crm.Connector as a batch of one that keeps an
// existing customer unchanged (type 2). NXCloud returns no id.
func (a *Adapter) CreateCustomer(ctx context.Context, w crm.CustomerWrite) (*crm.Customer, error) {
	return crm.CreateOne(ctx, a, w)
}

// UpdateCustomer implements crm.Connector: NXCloud has no update by id.
func (a *Adapter) UpdateCustomer(context.Context, string, crm.Fields) (*crm.Customer, error) {
	return nil, crm.Unsupported(crm.VendorNXCloud, crm.CapCustomerUpdate)
}

// mergeType is NXCloud's batch `type` for a mode: create never touches an
// existing customer (2, keep old data); upsert follows on_conflict.
func mergeType(b crm.Batch) int {
	if b.Mode == crm.ModeCreate {
		return 2
	}
	switch b.OnConflict {
	case crm.OnConflictReplace:
		return 0
	case crm.OnConflictKeep:
		return 2
	default:
		return 1
	}
}

// errByID refuses a batch item naming an id: NXCloud matches customers by
// phone or email only.
var errByID = crm.Invalid("nxcloud matches customers by phone or email, not by id",
	crm.FieldError{Field: "id", Reason: "not supported by nxcloud"})

// WriteBatch implements crm.Connector. NXCloud rejects a whole request for
// one bad customer, so every item is validated before sending and invalid
// ones fail alone.
func (a *Adapter) WriteBatch(ctx context.Context, b crm.Batch) []crm.ItemResult {
	results, sent, index := crm.MapCreates(b, crm.VendorNXCloud, errByID, mapping.NXCloudWrite)
	if len(sent) == 0 {
		return results
	}
	err := a.batchCreate(ctx, mergeType(b), sent)
	for k, i := range index {
		if err != nil {
			results[i] = crm.Failed(i, err)
			continue
		}
		c := mapping.NXCloudRead(sent[k])
		results[i] = crm.ItemResult{Index: i, Status: crm.StatusAccepted, Customer: &c}
	}
	return results
}

// answer is NXCloud's reply envelope.
type answer struct {
	Code    *int            `json:"code"`
	Message string          `json:"message"`
	Data    json.RawMessage `json:"data"`
	TraceID string          `json:"traceId"`
}

func (a *Adapter) batchCreate(ctx context.Context, typ int, customers []map[string]any) error {
	body := map[string]any{"type": typ, "tenant_id": a.account.TenantID, "app_key": a.account.AppKey, "customers": customers}
	return a.call(ctx, "POST customers/batch_create", http.MethodPost, "/saas/cdp/openapi/customers/batch_create", body, false, nil)
}

// decodeAnswer reads NXCloud's envelope and turns a non-zero code (or an
// error status) into the gateway's error.
func decodeAnswer(resp *vendorhttp.Response) (*answer, error) {
	var ans answer
	if err := json.Unmarshal(resp.Body, &ans); err != nil || ans.Code == nil {
		if resp.Status >= 300 {
			return nil, vendorhttp.Refused(crm.VendorNXCloud, &crm.VendorError{Status: resp.Status})
		}
		return nil, vendorhttp.Unreadable(crm.VendorNXCloud, resp.Status, err)
	}
	if *ans.Code != 0 || resp.Status >= 300 {
		return nil, refused(resp, &ans)
	}
	return &ans, nil
}

// refused maps NXCloud's error codes: 1002 (parameter error) is the data's
// fault; the others (1001 missing parameter, 1003 signature, 1004 clock
// skew, 1005 permission, -1) are the gateway's or the account's.
func refused(resp *vendorhttp.Response, ans *answer) *crm.Error {
	remote := remoteError(resp, ans)
	e := vendorhttp.Refused(crm.VendorNXCloud, remote)
	if *ans.Code >= 1001 && *ans.Code <= 1005 {
		e.Outcome = crm.OutcomeNotApplied // a refusal code: nothing was written, whatever the HTTP status
	}
	switch *ans.Code {
	case 1002:
		e.Code, e.Message = crm.EUnprocessable, "nxcloud refused the data"
	case 1003, 1005:
		e.Code, e.Message = crm.EVendor, "nxcloud refused the connection's credentials: check access_key, access_secret, tenant_id and app_key"
	case 1004:
		e.Code, e.Message = crm.EVendor, "nxcloud refused the request timestamp: check the gateway host's clock"
	default:
		if resp.Status < 300 {
			e.Code, e.Message = crm.EVendor, "nxcloud refused the request"
		}
	}
	return e
}

func remoteError(resp *vendorhttp.Response, ans *answer) *crm.VendorError {
	ve := &crm.VendorError{Status: resp.Status}
	if ans == nil {
		var a answer
		if json.Unmarshal(resp.Body, &a) != nil || a.Code == nil {
			return ve
		}
		ans = &a
	}
	ve.Code, ve.Message = strconv.Itoa(*ans.Code), ans.Message
	return ve
}

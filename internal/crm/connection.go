package crm

import (
	"context"
	"time"
)

// Capability names one operation a connection may offer.
type Capability string

// Capabilities. GET /v1/connections lists, per connection, exactly those its
// vendor supports; everything else answers 501.
const (
	CapCustomerCreate      Capability = "customers.create"
	CapCustomerUpdate      Capability = "customers.update"
	CapCustomerBatchCreate Capability = "customers.batch.create"
	CapCustomerBatchUpdate Capability = "customers.batch.update"
	CapCustomerBatchUpsert Capability = "customers.batch.upsert"
	CapCustomerGet         Capability = "customers.get"
	CapCustomerList        Capability = "customers.list"
	CapCustomerFields      Capability = "customers.fields"
)

// BatchCapability returns the capability a batch in mode m needs.
func BatchCapability(m Mode) Capability {
	switch m {
	case ModeUpdate:
		return CapCustomerBatchUpdate
	case ModeUpsert:
		return CapCustomerBatchUpsert
	default:
		return CapCustomerBatchCreate
	}
}

// Limits are a connection's outbound budget, as shown to clients.
type Limits struct {
	Requests  int           // requests allowed per Period
	Period    time.Duration // length of the rate window
	Burst     int           // requests allowed at once
	MaxWait   time.Duration // longest a synchronous call waits for budget
	BatchSize int           // customers per vendor batch request
}

// Connector is what an adapter offers for one configured vendor account.
// Methods a vendor cannot serve return Unsupported.
type Connector interface {
	// Vendor returns the vendor's name (VendorZenvia, ...).
	Vendor() string
	// Capabilities lists the operations this connection supports.
	Capabilities() []Capability
	// Fields lists the normalized customer fields the vendor can store.
	Fields() []string
	// BatchSize is the most customers the vendor takes in one request.
	BatchSize() int
	// CreateCustomer creates one customer.
	CreateCustomer(ctx context.Context, c CustomerWrite) (*Customer, error)
	// UpdateCustomer changes the fields present in f of customer id.
	UpdateCustomer(ctx context.Context, id string, f Fields) (*Customer, error)
	// WriteBatch writes at most BatchSize items and returns one result per
	// item, in order, with Index counted from 0 within items. An invalid item
	// fails alone; a vendor-level failure fails the items it concerned.
	WriteBatch(ctx context.Context, b Batch) []ItemResult
}

// CustomerGetter is implemented by adapters whose vendor can read one
// customer by id (capability customers.get).
type CustomerGetter interface {
	// GetCustomer returns the customer with the vendor's id.
	GetCustomer(ctx context.Context, id string) (*Customer, error)
}

// CustomerLister is implemented by adapters whose vendor can list and
// search customers (capability customers.list).
type CustomerLister interface {
	// ListCustomers returns one page of customers matching q. q.Cursor and
	// Page.Next are the vendor's own paging state; the gateway makes them
	// opaque to clients.
	ListCustomers(ctx context.Context, q Query) (*Page, error)
}

// FieldLister is implemented by adapters that can describe the vendor's
// customer fields (capability customers.fields).
type FieldLister interface {
	// CustomerFields returns the vendor's catalogue of customer fields.
	CustomerFields(ctx context.Context) ([]FieldInfo, error)
}

// Query filters and pages a customer listing. Empty filters are unused.
type Query struct {
	Email        string
	Phone        string
	ExternalID   string
	Name         string // a part of the name
	Tag          string
	UpdatedSince time.Time
	Limit        int
	Cursor       string // vendor paging state from a previous Page.Next
}

// Filters lists the names of the filters q uses, for refusing the ones a
// vendor cannot apply.
func (q Query) Filters() []string {
	var used []string
	for _, f := range []struct {
		name string
		set  bool
	}{{"email", q.Email != ""}, {"phone", q.Phone != ""}, {"external_id", q.ExternalID != ""},
		{"name", q.Name != ""}, {"tag", q.Tag != ""}, {"updated_since", !q.UpdatedSince.IsZero()}} {
		if f.set {
			used = append(used, f.name)
		}
	}
	return used
}

// Page is one page of a customer listing.
type Page struct {
	Customers []Customer
	Next      string // vendor paging state for the next page; "" on the last
}

// Field types of the normalized catalogue and of custom field mappings.
const (
	TypeString  = "string"
	TypeNumber  = "number"
	TypeBoolean = "boolean"
	TypeDate    = "date" // YYYY-MM-DD
	TypeEnum    = "enum"
)

// FieldInfo describes one customer field a vendor holds.
type FieldInfo struct {
	// Key is how the gateway's API names the field: the normalized field
	// for standard ones, custom_fields.<name> for mapped custom ones, else
	// custom_fields.<vendor key>.
	Key        string   `json:"key"`
	VendorKey  string   `json:"vendor_key"`
	Label      string   `json:"label,omitempty"`
	Type       string   `json:"type"`
	VendorType string   `json:"vendor_type,omitempty"`
	Required   bool     `json:"required"`
	Unique     bool     `json:"unique"`
	Multiple   bool     `json:"multiple"`
	Standard   bool     `json:"standard"`
	Values     []string `json:"values,omitempty"` // enum choices
}

// CreateOne creates one customer through a vendor's batch write, for
// vendors whose only customer write is a batch (Zenvia, NXCloud).
func CreateOne(ctx context.Context, c Connector, w CustomerWrite) (*Customer, error) {
	r := c.WriteBatch(ctx, Batch{Mode: ModeCreate, Customers: []CustomerWrite{w}})[0]
	if r.Status == StatusFailed {
		return nil, r.Err()
	}
	return r.Customer, nil
}

// MapCreates prepares a batch for a vendor whose only customer write is a
// create-or-merge matched by phone or email (Zenvia, NXCloud): an update
// batch fails every item as unsupported, an item naming an id fails with
// byID, and write maps the others. It returns the results with those
// failures filled in, the mapped items to send, and index[k], the batch
// position of sent[k].
func MapCreates(b Batch, vendor string, byID error, write func(Fields) (map[string]any, error)) (results []ItemResult, sent []map[string]any, index []int) {
	results = make([]ItemResult, len(b.Customers))
	for i, item := range b.Customers {
		var obj map[string]any
		var err error
		switch {
		case b.Mode == ModeUpdate:
			err = Unsupported(vendor, CapCustomerBatchUpdate)
		case item.ID != "":
			err = byID
		default:
			obj, err = write(item.Fields)
		}
		if err != nil {
			results[i] = Failed(i, err)
			continue
		}
		sent = append(sent, obj)
		index = append(index, i)
	}
	return results, sent, index
}

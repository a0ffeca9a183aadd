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

// Package gateway is the application layer between the HTTP API and the
// vendor adapters: it finds connections, refuses what a vendor cannot do,
// applies each connection's custom-field mapping, splits batches into
// vendor-sized chunks whose per-item results come back in input order, and
// makes paging cursors opaque.
package gateway

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/mapping"
	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
)

// Connection is a configured vendor account and its adapter.
type Connection struct {
	Name    string
	Sandbox bool
	Limits  crm.Limits
	crm.Connector
	// Custom maps custom_fields to vendor fields; nil passes them through.
	Custom *mapping.CustomFields
	// Declared are custom fields the vendor cannot list itself (HelpCrunch),
	// from the configuration.
	Declared []crm.FieldInfo
	// FieldsTTL is how long the vendor's field catalogue is cached.
	FieldsTTL time.Duration
	// Breaker is the connection's circuit breaker (nil: none).
	Breaker *vendorhttp.Breaker
	// WebhookSecret is the secret part of the connection's inbound webhook
	// URL; empty means the connection takes no webhooks.
	WebhookSecret string

	mu       sync.Mutex
	fields   []crm.FieldInfo
	fieldsAt time.Time
}

// Available reports whether the vendor may be called now; when its circuit
// is open, for how long not. Job runners pause on it instead of failing items.
func (c *Connection) Available() (bool, time.Duration) {
	blocked, after := c.Breaker.Blocked()
	return !blocked, after
}

// Supports reports whether the connection's vendor offers c.
func (c *Connection) Supports(capability crm.Capability) bool {
	return slices.Contains(c.Capabilities(), capability)
}

// Require returns the 501 error when the connection's vendor lacks c.
func (c *Connection) Require(capability crm.Capability) error {
	return c.require(capability)
}

func (c *Connection) require(capability crm.Capability) error {
	if !c.Supports(capability) {
		return crm.Unsupported(c.Vendor(), capability)
	}
	return nil
}

// prepare applies the custom-field mapping to a write; a value that does
// not fit its mapping is the caller's error, found before any vendor call.
func (c *Connection) prepare(f crm.Fields) (crm.Fields, error) {
	if c.Custom == nil || len(f.CustomFields) == 0 {
		return f, nil
	}
	out, errs := c.Custom.Write(f.CustomFields)
	if len(errs) > 0 {
		return f, crm.Invalid(fmt.Sprintf("custom fields do not match the mapping of connection %q", c.Name), errs...)
	}
	f.CustomFields = out
	return f, nil
}

// finish labels a customer the vendor answered with its connection and
// gives its custom fields their normalized names and types.
func (c *Connection) finish(cust *crm.Customer) {
	if cust == nil {
		return
	}
	cust.Connection = c.Name
	if c.Custom != nil {
		cust.CustomFields = c.Custom.Read(cust.CustomFields)
	}
}

// CreateCustomer creates one customer.
func (c *Connection) CreateCustomer(ctx context.Context, w crm.CustomerWrite) (*crm.Customer, error) {
	if err := c.require(crm.CapCustomerCreate); err != nil {
		return nil, err
	}
	f, err := c.prepare(w.Fields)
	if err != nil {
		return nil, err
	}
	w.Fields = f
	cust, err := c.Connector.CreateCustomer(ctx, w)
	if err != nil {
		return nil, err
	}
	c.finish(cust)
	return cust, nil
}

// UpdateCustomer changes the fields present in f.
func (c *Connection) UpdateCustomer(ctx context.Context, id string, f crm.Fields) (*crm.Customer, error) {
	if err := c.require(crm.CapCustomerUpdate); err != nil {
		return nil, err
	}
	f, err := c.prepare(f)
	if err != nil {
		return nil, err
	}
	cust, err := c.Connector.UpdateCustomer(ctx, id, f)
	if err != nil {
		return nil, err
	}
	c.finish(cust)
	return cust, nil
}

// WriteBatch writes b in chunks of the vendor's batch size, one after the
// other, all within one wait bound (the connection's max wait unless ctx
// carries a shorter one): a chunk that cannot get rate budget in time
// fails with rate_limited and was not sent. Items refused by the mapping
// fail alone and are not sent. Results are in input order.
func (c *Connection) WriteBatch(ctx context.Context, b crm.Batch) (*crm.BatchResult, error) {
	if err := c.require(crm.BatchCapability(b.Mode)); err != nil {
		return nil, err
	}
	if !vendorhttp.HasWaitBound(ctx) {
		ctx = vendorhttp.WithWaitBound(ctx, c.Limits.MaxWait)
	}
	results := make([]crm.ItemResult, len(b.Customers))
	items := make([]crm.CustomerWrite, 0, len(b.Customers))
	index := make([]int, 0, len(b.Customers)) // index[k]: input position of items[k]
	for i, item := range b.Customers {
		f, err := c.prepare(item.Fields)
		if err != nil {
			results[i] = crm.Failed(i, err)
			continue
		}
		item.Fields = f
		items = append(items, item)
		index = append(index, i)
	}
	size := max(c.BatchSize(), 1)
	for start := 0; start < len(items); start += size {
		end := min(start+size, len(items))
		chunk := b
		chunk.Customers = items[start:end]
		got := c.Connector.WriteBatch(ctx, chunk)
		if len(got) != len(chunk.Customers) {
			return nil, fmt.Errorf("%s adapter answered %d results for %d items", c.Vendor(), len(got), len(chunk.Customers))
		}
		for k, r := range got {
			r.Index = index[start+k]
			c.finish(r.Customer)
			results[r.Index] = r
		}
	}
	res := &crm.BatchResult{Connection: c.Name, Vendor: c.Vendor(), Mode: b.Mode, Results: results}
	for _, r := range results {
		res.Summary.Add(r)
	}
	return res, nil
}

// GetCustomer reads one customer by the vendor's id.
func (c *Connection) GetCustomer(ctx context.Context, id string) (*crm.Customer, error) {
	getter, ok := c.Connector.(crm.CustomerGetter)
	if !ok || !c.Supports(crm.CapCustomerGet) {
		return nil, crm.Unsupported(c.Vendor(), crm.CapCustomerGet)
	}
	cust, err := getter.GetCustomer(ctx, id)
	if err != nil {
		return nil, err
	}
	c.finish(cust)
	return cust, nil
}

// ListCustomers returns a page of customers matching q, where q.Cursor is
// the opaque cursor a previous page gave the client, and the cursor of the
// next page ("" on the last).
func (c *Connection) ListCustomers(ctx context.Context, q crm.Query) (*crm.Page, string, error) {
	lister, ok := c.Connector.(crm.CustomerLister)
	if !ok || !c.Supports(crm.CapCustomerList) {
		return nil, "", crm.Unsupported(c.Vendor(), crm.CapCustomerList)
	}
	fp := c.fingerprint(q)
	if q.Cursor != "" {
		state, err := openCursor(q.Cursor, fp)
		if err != nil {
			return nil, "", err
		}
		q.Cursor = state
	}
	page, err := lister.ListCustomers(ctx, q)
	if err != nil {
		return nil, "", readRefusal(err)
	}
	for i := range page.Customers {
		c.finish(&page.Customers[i])
	}
	next := ""
	if page.Next != "" {
		next = sealCursor(page.Next, fp)
	}
	return page, next, nil
}

// readRefusal answers a vendor's refusal of a listing's parameters (the 422
// writes answer) with the 400 the API documents for reads: on a listing,
// what the vendor can refuse is the caller's filters or cursor (a cursor
// is unsigned, so a caller can forge the vendor state inside it).
func readRefusal(err error) error {
	var ce *crm.Error
	if !errors.As(err, &ce) || ce.Code != crm.EUnprocessable {
		return err
	}
	out := *ce
	out.Code, out.Outcome = crm.EInvalid, ""
	return &out
}

// CustomerFields returns the vendor's field catalogue, cached for
// FieldsTTL, with mapped custom fields under their normalized names and the
// declared ones added.
func (c *Connection) CustomerFields(ctx context.Context) ([]crm.FieldInfo, error) {
	lister, ok := c.Connector.(crm.FieldLister)
	if !ok || !c.Supports(crm.CapCustomerFields) {
		return nil, crm.Unsupported(c.Vendor(), crm.CapCustomerFields)
	}
	c.mu.Lock()
	if c.fields != nil && time.Since(c.fieldsAt) < c.FieldsTTL {
		defer c.mu.Unlock()
		return c.fields, nil
	}
	c.mu.Unlock()
	fields, err := lister.CustomerFields(ctx)
	if err != nil {
		return nil, err
	}
	fields = append(fields, c.Declared...)
	for i, f := range fields {
		if c.Custom == nil || f.Standard {
			continue
		}
		if m, ok := c.Custom.ByKey(f.VendorKey); ok {
			fields[i].Key, fields[i].Type, fields[i].Values = "custom_fields."+m.Name, m.Type, m.Values
		}
	}
	c.mu.Lock()
	c.fields, c.fieldsAt = fields, time.Now()
	c.mu.Unlock()
	return fields, nil
}

// CheckMappings compares the custom-field mappings with the vendor's
// catalogue and names every mapping to a field the vendor does not have.
// ok is false when the catalogue could not be read (vendor unreachable, or
// a vendor that cannot list its custom fields and has none declared).
func (c *Connection) CheckMappings(ctx context.Context) (ok bool, err error) {
	if c.Custom == nil || len(c.Custom.Mapped()) == 0 {
		return false, nil
	}
	fields, ferr := c.CustomerFields(ctx)
	if ferr != nil {
		return false, nil
	}
	have := map[string]bool{}
	custom := 0
	for _, f := range fields {
		have[f.VendorKey] = true
		if !f.Standard {
			custom++
		}
	}
	if custom == 0 {
		return false, nil // nothing to compare with (e.g. HelpCrunch with no declared attributes)
	}
	var missing []string
	for _, m := range c.Custom.Mapped() {
		if !have[m.Key] {
			missing = append(missing, fmt.Sprintf("connections.%s.custom_fields.map.%s: %s has no field %q", c.Name, m.Name, c.Vendor(), m.Key))
		}
	}
	if len(missing) > 0 {
		return true, fmt.Errorf("custom field mappings name fields the vendor does not have:\n  %s", joinLines(missing))
	}
	return true, nil
}

// Gateway holds the configured connections.
type Gateway struct {
	conns map[string]*Connection
	names []string
}

// New returns a gateway over conns.
func New(conns ...*Connection) *Gateway {
	g := &Gateway{conns: map[string]*Connection{}}
	for _, c := range conns {
		g.conns[c.Name] = c
		g.names = append(g.names, c.Name)
	}
	slices.Sort(g.names)
	return g
}

// Connections returns every connection, sorted by name.
func (g *Gateway) Connections() []*Connection {
	out := make([]*Connection, len(g.names))
	for i, n := range g.names {
		out[i] = g.conns[n]
	}
	return out
}

// Connection returns the connection called name.
func (g *Gateway) Connection(name string) (*Connection, error) {
	c, ok := g.conns[name]
	if !ok {
		return nil, crm.Errorf(crm.ENotFound, "no connection named %q", name)
	}
	return c, nil
}

// Package gateway is the application layer between the HTTP API and the
// vendor adapters: it finds connections, refuses what a vendor cannot do,
// and splits batches into vendor-sized chunks whose per-item results come
// back in input order.
package gateway

import (
	"context"
	"fmt"
	"slices"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
)

// Connection is a configured vendor account and its adapter.
type Connection struct {
	Name    string
	Sandbox bool
	Limits  crm.Limits
	crm.Connector
}

// Supports reports whether the connection's vendor offers c.
func (c *Connection) Supports(capability crm.Capability) bool {
	return slices.Contains(c.Capabilities(), capability)
}

func (c *Connection) require(capability crm.Capability) error {
	if !c.Supports(capability) {
		return crm.Unsupported(c.Vendor(), capability)
	}
	return nil
}

// CreateCustomer creates one customer.
func (c *Connection) CreateCustomer(ctx context.Context, w crm.CustomerWrite) (*crm.Customer, error) {
	if err := c.require(crm.CapCustomerCreate); err != nil {
		return nil, err
	}
	cust, err := c.Connector.CreateCustomer(ctx, w)
	if err != nil {
		return nil, err
	}
	cust.Connection = c.Name
	return cust, nil
}

// UpdateCustomer changes the fields present in f.
func (c *Connection) UpdateCustomer(ctx context.Context, id string, f crm.Fields) (*crm.Customer, error) {
	if err := c.require(crm.CapCustomerUpdate); err != nil {
		return nil, err
	}
	cust, err := c.Connector.UpdateCustomer(ctx, id, f)
	if err != nil {
		return nil, err
	}
	cust.Connection = c.Name
	return cust, nil
}

// WriteBatch writes b in chunks of the vendor's batch size, one after the
// other, all within one wait bound (the connection's max wait unless ctx
// carries a shorter one): a chunk that cannot get rate budget in time
// fails with rate_limited and was not sent. Results are in input order.
func (c *Connection) WriteBatch(ctx context.Context, b crm.Batch) (*crm.BatchResult, error) {
	if err := c.require(crm.BatchCapability(b.Mode)); err != nil {
		return nil, err
	}
	if !vendorhttp.HasWaitBound(ctx) {
		ctx = vendorhttp.WithWaitBound(ctx, c.Limits.MaxWait)
	}
	res := &crm.BatchResult{Connection: c.Name, Vendor: c.Vendor(), Mode: b.Mode,
		Results: make([]crm.ItemResult, 0, len(b.Customers))}
	size := max(c.BatchSize(), 1)
	for start := 0; start < len(b.Customers); start += size {
		chunk := b
		chunk.Customers = b.Customers[start:min(start+size, len(b.Customers))]
		results := c.Connector.WriteBatch(ctx, chunk)
		if len(results) != len(chunk.Customers) {
			return nil, fmt.Errorf("%s adapter answered %d results for %d items", c.Vendor(), len(results), len(chunk.Customers))
		}
		for _, r := range results {
			r.Index += start
			if r.Customer != nil {
				r.Customer.Connection = c.Name
			}
			res.Summary.Add(r)
			res.Results = append(res.Results, r)
		}
	}
	return res, nil
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

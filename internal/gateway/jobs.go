package gateway

import (
	"time"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// writeProfiler is implemented by adapters whose vendor does not write a
// batch as one request per chunk (HelpCrunch creates one customer per
// request). Adapters without it write each chunk in one request.
type writeProfiler interface {
	// PerItemWrites reports whether a batch in mode m writes each item with
	// a vendor request of its own.
	PerItemWrites(m crm.Mode) bool
	// EstimateRequests estimates the vendor requests a batch of n items in
	// mode m takes (lookups included).
	EstimateRequests(m crm.Mode, n int) int
}

// EstimateRequests estimates how many vendor requests, hence rate tokens, a
// batch of n items in mode m takes.
func (c *Connection) EstimateRequests(m crm.Mode, n int) int {
	if p, ok := c.Connector.(writeProfiler); ok {
		return p.EstimateRequests(m, n)
	}
	size := max(c.BatchSize(), 1)
	return (n + size - 1) / size
}

// WriteUnit is how many items the job runner writes, and records, at once
// in mode m: one when the vendor writes each item with its own request (so
// a worker dying mid-chunk leaves at most one item uncertain), else the
// vendor's batch size.
func (c *Connection) WriteUnit(m crm.Mode) int {
	if p, ok := c.Connector.(writeProfiler); ok && p.PerItemWrites(m) {
		return 1
	}
	return max(c.BatchSize(), 1)
}

// Interval is the steady spacing of the connection's vendor calls: its
// bucket admits Requests-Burst+1 calls per Period (see
// adapters.BucketLimit, which also stretches the period by 2%).
func (c *Connection) Interval() time.Duration {
	l := c.Limits
	rate := max(l.Requests-l.Burst+1, 1)
	if l.Period <= 0 {
		return 0
	}
	return time.Duration(float64(l.Period) * 1.02 / float64(rate))
}

// EstimateDuration estimates how long a batch of n items in mode m takes at
// the connection's rate when its bucket is full: the burst goes at once,
// each further request one Interval later. Used to decide whether a batch
// fits a synchronous call's wait bound.
func (c *Connection) EstimateDuration(m crm.Mode, n int) time.Duration {
	requests := c.EstimateRequests(m, n)
	return time.Duration(max(requests-max(c.Limits.Burst, 1), 0)) * c.Interval()
}

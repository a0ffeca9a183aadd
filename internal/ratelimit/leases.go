package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// maxLeaseHold is the longest a replica keeps tokens it took ahead of use.
const maxLeaseHold = 10 * time.Millisecond

// LeaseHold is how long [Leases] may keep tokens of a bucket whose limit has this period before
// handing them out: 10 ms, or 1/200 of a shorter period. A token is spent at most this long after
// the shared bucket granted it, so a vendor window of one period can see at most Rate·hold/Period
// (≤ 0.5% of the rate) more calls than the bucket admits; callers converting a vendor quota into
// a [Limit] add it to the period (adapters.BucketLimit does).
func LeaseHold(period time.Duration) time.Duration {
	return min(maxLeaseHold, period/200)
}

// leaseCap is the most tokens a lease of l may hold: what the bucket refills during the hold,
// and never more than half the burst, so one replica cannot drain a bucket others share.
func leaseCap(l Limit) int {
	if l.Period <= 0 {
		return 0
	}
	refill := int(int64(l.Rate) * int64(LeaseHold(l.Period)) / int64(l.Period))
	return min(refill, l.Burst/2)
}

// Leases is a [Limiter] that takes tokens from a shared [Batcher] (normally a [Fallback] over
// [Redis]) several at a time and hands them out in process, so that a replica sending hundreds of
// calls a second pays one Redis round trip per lease rather than one per call.
//
// A lease is bounded three ways, which keeps the vendor's quota intact:
//   - it is taken only from tokens free at that instant (Batcher.ReserveN never grants several
//     future tokens), so leasing never queues ahead of other replicas;
//   - it holds at most what the bucket refills in [LeaseHold] and half the burst, and buckets
//     that refill less than two tokens in that time (HelpCrunch's 120/min, say) are not leased at
//     all: every call goes to the shared bucket as before;
//   - tokens not handed out within LeaseHold of the grant are dropped, never kept for later, and
//     a [Leases.Block] (a vendor 429) drops them at once.
//
// Lease sizes adapt to demand: a lease used up within its hold makes the next one twice as large,
// one that expires with tokens left makes the next one as large as what was used, and callers that
// find a refill already under way wait for it instead of each asking the shared bucket.
type Leases struct {
	inner Batcher
	now   func() time.Time

	mu     sync.Mutex
	leases map[string]*lease // by bucket key; keys are connection names, so the map stays small
}

// lease is one bucket's tokens held by this replica.
type lease struct {
	tokens  int           // granted and not yet handed out
	expires time.Time     // tokens left at this instant are dropped
	size    int           // how many to ask for next time
	usedUp  bool          // the last lease ran out before it expired
	waiting int           // callers waiting for refill
	refill  chan struct{} // non-nil while one caller asks the shared bucket; closed when it returns

	remaining int       // the shared bucket's free tokens at the grant, for the RateLimit headers
	full      time.Time // when the shared bucket is full again, as of the grant
}

var _ Limiter = (*Leases)(nil)

// NewLeases returns a limiter leasing tokens from inner. Options: [WithClock].
func NewLeases(inner Batcher, opts ...Option) *Leases {
	return &Leases{inner: inner, now: newConfig(opts).now, leases: make(map[string]*lease)}
}

// Reserve implements [Limiter]. A token from a lease comes with no delay; when the lease is empty
// the shared bucket decides exactly as [Batcher.Reserve] would, including waits and refusals.
func (m *Leases) Reserve(ctx context.Context, key string, l Limit, maxWait time.Duration) (Reservation, error) {
	most := leaseCap(l)
	if most < 2 {
		return m.inner.Reserve(ctx, key, l, maxWait)
	}
	for {
		m.mu.Lock()
		b := m.leases[key]
		if b == nil {
			b = &lease{size: 1}
			m.leases[key] = b
		}
		now := m.now()
		if b.tokens > 0 {
			if now.Before(b.expires) {
				b.tokens--
				b.usedUp = b.tokens == 0
				r := Reservation{OK: true, Tokens: 1, Remaining: b.remaining + b.tokens, Reset: max(b.full.Sub(now), 0)}
				m.mu.Unlock()
				return r, nil
			}
			b.size = max(1, b.size-b.tokens) // what the expired lease was used for
			b.tokens = 0
		}
		if ch := b.refill; ch != nil {
			b.waiting++
			m.mu.Unlock()
			select {
			case <-ch:
				continue
			case <-ctx.Done():
				m.mu.Lock()
				b.waiting = max(b.waiting-1, 0)
				m.mu.Unlock()
				return Reservation{}, fmt.Errorf("ratelimit: reserve %q: %w", key, ctx.Err())
			}
		}
		if b.usedUp {
			b.size = min(2*b.size, most)
			b.usedUp = false
		}
		want := b.size
		ch := make(chan struct{})
		b.refill = ch
		m.mu.Unlock()

		r, err := m.inner.ReserveN(ctx, key, l, maxWait, want)

		m.mu.Lock()
		b.usedUp = err == nil && r.OK && r.Tokens == want && want == 1 // the caller takes the only token
		if b.waiting+1 > b.size {
			// Callers that queued behind this request are demand the next lease should cover.
			b.size, b.usedUp = min(b.waiting+1, most), false
		}
		b.refill, b.waiting = nil, 0
		close(ch)
		if err == nil && r.OK && r.Tokens > 1 {
			// Counted from before the request, so a slow answer shortens the hold, never lengthens it.
			b.tokens, b.expires = r.Tokens-1, now.Add(LeaseHold(l.Period))
			b.remaining, b.full = r.Remaining, now.Add(r.Reset)
			r.Remaining += b.tokens
		}
		m.mu.Unlock()
		if r.OK {
			r.Tokens = 1
		}
		return r, err
	}
}

// Block implements [Limiter]: the vendor said it is saturated, so this replica's leased tokens
// are dropped before the shared bucket is pushed forward.
func (m *Leases) Block(ctx context.Context, key string, l Limit, d time.Duration) error {
	m.mu.Lock()
	if b := m.leases[key]; b != nil {
		b.tokens, b.size, b.usedUp = 0, 1, false
	}
	m.mu.Unlock()
	return m.inner.Block(ctx, key, l, d)
}

package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Local is an in-memory [Limiter] with the same GCRA arithmetic as [Redis]. It is safe for
// concurrent use. Buckets that have filled up again are evicted on a schedule, so keys that are
// no longer used cost nothing.
type Local struct {
	now        func() time.Time
	sweepEvery int64 // µs

	mu        sync.Mutex
	tats      map[string]int64 // bucket key → TAT in Unix µs; absent means full
	nextSweep int64
}

var _ Limiter = (*Local)(nil)

// NewLocal returns an empty in-memory limiter. Options: [WithClock], [WithSweepInterval].
func NewLocal(opts ...Option) *Local {
	c := newConfig(opts)
	return &Local{
		now:        c.now,
		sweepEvery: c.sweepEvery.Microseconds(),
		tats:       make(map[string]int64),
	}
}

var _ Batcher = (*Local)(nil)

// Reserve implements [Limiter]. It fails only for an invalid limit or a context already done.
func (m *Local) Reserve(ctx context.Context, key string, l Limit, maxWait time.Duration) (Reservation, error) {
	return m.ReserveN(ctx, key, l, maxWait, 1)
}

// ReserveN implements [Batcher].
func (m *Local) ReserveN(ctx context.Context, key string, l Limit, maxWait time.Duration, n int) (Reservation, error) {
	if err := l.Valid(); err != nil {
		return Reservation{}, fmt.Errorf("ratelimit: reserve %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return Reservation{}, fmt.Errorf("ratelimit: reserve %q: %w", key, err)
	}
	g := newGCRA(l)
	wait := toMicros(maxWait, false)

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	tat, store, r := g.reserve(now, m.tats[key], wait, int64(max(n, 1)))
	if store {
		m.tats[key] = tat
	}
	return r, nil
}

// Block implements [Limiter].
func (m *Local) Block(ctx context.Context, key string, l Limit, d time.Duration) error {
	if err := l.Valid(); err != nil {
		return fmt.Errorf("ratelimit: block %q: %w", key, err)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("ratelimit: block %q: %w", key, err)
	}
	g := newGCRA(l)
	blockFor := toMicros(d, true)

	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	if tat := g.block(now, m.tats[key], blockFor); tat > now {
		m.tats[key] = tat
	}
	return nil
}

// Len returns the number of buckets held, i.e. those not yet known to be full; for metrics.
func (m *Local) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.tats)
}

// clock reads the time in Unix µs and, when the sweep is due, evicts every bucket that is full
// again (TAT ≤ now), which is exactly when Redis would have expired its key. Sweeping on the
// caller's path rather than in a goroutine keeps Local free of lifecycle management; the scan is
// amortised over a whole sweep interval of calls. The caller holds m.mu.
func (m *Local) clock() int64 {
	now := m.now().UnixMicro()
	if now >= m.nextSweep {
		for k, tat := range m.tats {
			if tat <= now {
				delete(m.tats, k)
			}
		}
		m.nextSweep = now + m.sweepEvery
	}
	return now
}

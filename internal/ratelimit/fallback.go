package ratelimit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Fallback is a [Batcher] that asks a primary (normally [Redis]) and, while the primary fails,
// decides with a local bucket holding this replica's share of the limit ([Limit.Share]), so a
// Redis outage slows vendor traffic down instead of failing it or overspending the vendor's
// quota. It never returns the primary's errors; only an invalid limit or the caller's own
// context ending are reported.
//
// While degraded it retries the primary once per probe interval, with one caller at a time,
// rather than on every call: a down Redis would otherwise add a dial timeout to every request.
type Fallback struct {
	primary    Batcher
	local      *Local
	replicas   int
	logger     *zap.Logger
	now        func() time.Time
	probeEvery time.Duration
	timeout    time.Duration

	// degraded is read on every call; the mutex is only taken while degraded or on a transition.
	degraded  atomic.Bool
	mu        sync.Mutex
	nextProbe time.Time // when degraded: earliest time to try the primary again
	probing   bool      // when degraded: a caller is trying the primary right now
}

var _ Batcher = (*Fallback)(nil)

// NewFallback returns a limiter that uses primary and falls back to local buckets running at
// 1/replicas of each limit (replicas is the number of gateway replicas sharing the primary; values
// below 1 mean 1). A nil logger logs nothing. Options: [WithProbeInterval], [WithPrimaryTimeout],
// [WithClock], [WithSweepInterval].
func NewFallback(primary Batcher, replicas int, logger *zap.Logger, opts ...Option) *Fallback {
	if logger == nil {
		logger = zap.NewNop()
	}
	c := newConfig(opts)
	return &Fallback{
		primary:    primary,
		local:      NewLocal(opts...),
		replicas:   max(replicas, 1),
		logger:     logger,
		now:        c.now,
		probeEvery: c.probeEvery,
		timeout:    c.timeout,
	}
}

// Degraded reports whether decisions are currently made locally because the primary failed; for
// the readiness endpoint and metrics.
func (f *Fallback) Degraded() bool { return f.degraded.Load() }

// Reserve implements [Limiter].
func (f *Fallback) Reserve(ctx context.Context, key string, l Limit, maxWait time.Duration) (Reservation, error) {
	return f.ReserveN(ctx, key, l, maxWait, 1)
}

// ReserveN implements [Batcher].
func (f *Fallback) ReserveN(ctx context.Context, key string, l Limit, maxWait time.Duration, n int) (Reservation, error) {
	// Validate here so a bad limit is reported as such instead of being mistaken for an outage.
	if err := l.Valid(); err != nil {
		return Reservation{}, fmt.Errorf("ratelimit: reserve %q: %w", key, err)
	}
	var r Reservation
	answered, err := f.tryPrimary(ctx, func(pctx context.Context) (err error) {
		r, err = f.primary.ReserveN(pctx, key, l, maxWait, n)
		return err
	})
	switch {
	case err != nil:
		return Reservation{}, fmt.Errorf("ratelimit: reserve %q: %w", key, err)
	case answered:
		return r, nil
	}
	return f.local.ReserveN(ctx, key, l.Share(f.replicas), maxWait, n)
}

// Block implements [Limiter]. The local bucket is blocked too, even while the primary works, so
// that a vendor's Retry-After is still honoured if Redis fails during the block.
func (f *Fallback) Block(ctx context.Context, key string, l Limit, d time.Duration) error {
	if err := l.Valid(); err != nil {
		return fmt.Errorf("ratelimit: block %q: %w", key, err)
	}
	_, err := f.tryPrimary(ctx, func(pctx context.Context) error {
		return f.primary.Block(pctx, key, l, d)
	})
	if err != nil {
		return fmt.Errorf("ratelimit: block %q: %w", key, err)
	}
	return f.local.Block(ctx, key, l.Share(f.replicas), d)
}

// tryPrimary runs call against the primary, bounded by the primary timeout, unless the primary is
// degraded and not due for a probe. It reports whether the primary answered; the error is only
// ever the caller's own context ending, never the primary's failure.
func (f *Fallback) tryPrimary(ctx context.Context, call func(context.Context) error) (bool, error) {
	use, probe := f.usePrimary()
	if !use {
		return false, nil
	}
	pctx, cancel := context.WithTimeout(ctx, f.timeout)
	err := call(pctx)
	cancel()
	if f.settle(ctx, probe, err) {
		return true, nil
	}
	return false, ctx.Err()
}

// usePrimary reports whether this call should go to the primary, and whether it is the probe
// that decides if a degraded primary has recovered.
func (f *Fallback) usePrimary() (use, probe bool) {
	if !f.degraded.Load() {
		return true, false
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.degraded.Load() {
		return true, false
	}
	if f.probing || f.now().Before(f.nextProbe) {
		return false, false
	}
	f.probing = true
	return true, true
}

// settle records the outcome of a primary call and reports whether it succeeded. Only the probe
// may declare recovery: a call started before an outage may still succeed after others failed,
// and letting it flip the state back would log spurious transitions. A call abandoned by the
// caller's own context says nothing about the primary; one cut short by the primary timeout does.
func (f *Fallback) settle(ctx context.Context, probe bool, err error) bool {
	if err == nil && !probe {
		return true
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if probe {
		f.probing = false
	}
	switch {
	case err == nil:
		f.degraded.Store(false)
		f.logger.Info("ratelimit: primary limiter recovered, deciding with shared buckets again")
		return true
	case ctx.Err() != nil:
		return false
	}
	f.nextProbe = f.now().Add(f.probeEvery)
	if !f.degraded.Load() {
		f.degraded.Store(true)
		f.logger.Warn("ratelimit: primary limiter failed, falling back to local buckets",
			zap.Error(err), zap.Int("replicas", f.replicas), zap.Duration("probe_interval", f.probeEvery))
	}
	return false
}

package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrLimited is wrapped by [Wait] when the bucket cannot give a token within the caller's maximum
// wait; the Reservation returned with it says when to retry.
var ErrLimited = errors.New("rate limited")

// Reservation is a limiter's decision for one request.
type Reservation struct {
	// OK reports that a token is reserved for the caller, usable after Delay.
	OK bool
	// Tokens is how many tokens were reserved when OK: 1, or up to the n asked of
	// [Batcher.ReserveN] when the bucket could give several at once (Delay is then 0).
	Tokens int
	// Delay is how long to wait before sending (0 = now); only set when OK.
	Delay time.Duration
	// RetryAfter, when !OK, is the earliest time from now at which a request asking with the
	// same maxWait would be admitted; the bucket frees its next token maxWait later than that.
	RetryAfter time.Duration
	// Remaining is how many tokens are left in the bucket after this decision, for the
	// RateLimit response header.
	Remaining int
	// Reset is the time until the bucket is full again.
	Reset time.Duration
}

// Limiter decides; implementations: [Redis], [Local] and [Fallback] (Redis with local fallback).
type Limiter interface {
	// Reserve takes one token from the bucket key if the caller would have to wait at most
	// maxWait for it; otherwise it takes nothing and says when to retry.
	Reserve(ctx context.Context, key string, l Limit, maxWait time.Duration) (Reservation, error)
	// Block pushes the bucket forward so no token is granted for d from now (vendor 429 /
	// Retry-After feedback shared by every replica). Tokens already reserved stay reserved.
	// At now+d the bucket starts empty and refills at the limit's rate rather than offering a
	// full burst, because the vendor has just said it is saturated.
	Block(ctx context.Context, key string, l Limit, d time.Duration) error
}

// Batcher is a [Limiter] that can reserve several tokens in one decision, which is what [Leases]
// needs from the limiter it wraps.
type Batcher interface {
	Limiter
	// ReserveN is Reserve asking for up to n tokens (n ≥ 1): when the bucket can admit at once
	// it grants as many as are free, up to n, without delay; otherwise it behaves exactly as
	// Reserve, reserving at most one token. Reservation.Tokens says how many were granted.
	ReserveN(ctx context.Context, key string, l Limit, maxWait time.Duration, n int) (Reservation, error)
}

// Wait reserves a token and then sleeps for its Delay, honouring ctx; it returns the reservation.
// If the token cannot be had within maxWait it returns the reservation and an error wrapping
// [ErrLimited] without sleeping. When ctx has a deadline, maxWait is shortened to it, because a
// token reserved past the deadline would be wasted. A token is not given back when ctx ends during
// the sleep: other replicas may already have queued behind it, and spending a token without
// sending is harmless, while handing it back could overspend.
func Wait(ctx context.Context, lim Limiter, key string, l Limit, maxWait time.Duration) (Reservation, error) {
	if deadline, ok := ctx.Deadline(); ok {
		maxWait = min(maxWait, time.Until(deadline))
	}
	r, err := lim.Reserve(ctx, key, l, maxWait)
	if err != nil {
		return r, err
	}
	if !r.OK {
		return r, fmt.Errorf("ratelimit: bucket %q: retry after %s: %w", key, r.RetryAfter, ErrLimited)
	}
	if r.Delay <= 0 {
		return r, nil
	}
	timer := time.NewTimer(r.Delay)
	defer timer.Stop()
	select {
	case <-timer.C:
		return r, nil
	case <-ctx.Done():
		return r, fmt.Errorf("ratelimit: bucket %q: waiting %s for a token: %w", key, r.Delay, ctx.Err())
	}
}

// Option configures a limiter. Each option says which constructors use it; the others ignore it,
// so one option list can configure a [Fallback] and the [Redis] limiter inside it.
type Option func(*config)

// config collects the options of all constructors.
type config struct {
	prefix     string
	now        func() time.Time
	sweepEvery time.Duration
	probeEvery time.Duration
	timeout    time.Duration
}

// newConfig applies opts over the defaults.
func newConfig(opts []Option) config {
	c := config{
		prefix:     "rl:",
		now:        time.Now,
		sweepEvery: time.Minute,
		probeEvery: time.Second,
		timeout:    500 * time.Millisecond,
	}
	for _, o := range opts {
		o(&c)
	}
	return c
}

// WithKeyPrefix sets the prefix of Redis bucket keys (default "rl:"), so several deployments or
// test runs can share one Redis. Used by [NewRedis].
func WithKeyPrefix(prefix string) Option {
	return func(c *config) { c.prefix = prefix }
}

// WithClock replaces time.Now, for tests with a fake clock. Used by [NewLocal] and
// [NewFallback] (its probe schedule and local buckets); the Redis limiter always uses the Redis
// server's clock.
func WithClock(now func() time.Time) Option {
	return func(c *config) { c.now = now }
}

// WithSweepInterval sets how often idle in-memory buckets are evicted (default 1 minute). Used by
// [NewLocal] and [NewFallback].
func WithSweepInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.sweepEvery = d
		}
	}
}

// WithProbeInterval sets how long a [Fallback] decides locally after a primary failure before it
// tries the primary again (default 1 s). Used by [NewFallback].
func WithProbeInterval(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.probeEvery = d
		}
	}
}

// WithPrimaryTimeout bounds each call a [Fallback] makes to its primary (default 500 ms; a
// decision normally takes about a millisecond). Without it a Redis that hangs rather than
// refusing connections would hold every request until the caller's own deadline, which Fallback
// must report as the caller's error instead of falling back. Used by [NewFallback].
func WithPrimaryTimeout(d time.Duration) Option {
	return func(c *config) {
		if d > 0 {
			c.timeout = d
		}
	}
}

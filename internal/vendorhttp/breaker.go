package vendorhttp

import (
	"sync"
	"time"
)

// Breaker is a circuit breaker for one connection. After Threshold
// consecutive failures (no answer, a timeout, or a 5xx; a 4xx or 429 means
// the vendor is up) it opens: calls fail at once, nothing is sent, and
// callers are told when to retry. After Cooldown it lets one probe through
// (half-open): success closes it, failure opens it again. It is per
// replica: each gateway learns the vendor's health from its own calls.
type Breaker struct {
	Threshold int           // consecutive failures that open it (default 5)
	Cooldown  time.Duration // how long it stays open before a probe (default 30s)
	Now       func() time.Time

	mu        sync.Mutex
	failures  int
	openUntil time.Time // zero: closed
	probing   bool
}

func (b *Breaker) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

func (b *Breaker) cooldown() time.Duration {
	if b.Cooldown > 0 {
		return b.Cooldown
	}
	return 30 * time.Second
}

// Blocked reports, without claiming a probe, whether calls would be refused
// now and for how long: a job runner checks it to pause instead of failing
// items while the vendor is down.
func (b *Breaker) Blocked() (bool, time.Duration) {
	if b == nil {
		return false, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch now := b.now(); {
	case b.openUntil.IsZero():
		return false, 0
	case now.Before(b.openUntil):
		return true, b.openUntil.Sub(now)
	case b.probing:
		return true, time.Second // a probe is deciding
	}
	return false, 0
}

// allow reports whether a call may be sent now. In the half-open state it
// lets exactly one probe through; the caller must then call record.
func (b *Breaker) allow() (bool, time.Duration) {
	if b == nil {
		return true, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	switch {
	case b.openUntil.IsZero():
		return true, 0
	case now.Before(b.openUntil):
		return false, b.openUntil.Sub(now)
	case b.probing:
		return false, time.Second
	}
	b.probing = true
	return true, 0
}

// record reports the outcome of a call that allow let through.
func (b *Breaker) record(ok bool) {
	if b == nil {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if ok {
		b.failures, b.openUntil, b.probing = 0, time.Time{}, false
		return
	}
	b.failures++
	threshold := b.Threshold
	if threshold <= 0 {
		threshold = 5
	}
	if b.probing || b.failures >= threshold {
		b.openUntil, b.probing = b.now().Add(b.cooldown()), false
	}
}

// release frees a probe without a verdict (the caller gave up).
func (b *Breaker) release() {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// State is "closed", "open" or "half_open", for readiness and logs.
func (b *Breaker) State() string {
	if b == nil {
		return "closed"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case b.openUntil.IsZero():
		return "closed"
	case b.now().Before(b.openUntil):
		return "open"
	}
	return "half_open"
}

package idempotency

import (
	"context"
	"sync"
	"time"
)

// sweepEvery is how often Memory drops expired entries (they are also
// ignored as soon as they expire).
const sweepEvery = time.Minute

// Memory keeps entries in this process: right for one replica (the sandbox)
// and for tests. It behaves like Redis, expiries included.
type Memory struct {
	mu        sync.Mutex
	entries   map[string]memEntry
	now       func() time.Time
	lastSweep time.Time
}

type memEntry struct {
	value   []byte // encoded as in Redis
	expires time.Time
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory {
	return &Memory{entries: map[string]memEntry{}, now: time.Now}
}

// get returns the live entry under key; the caller holds mu.
func (m *Memory) get(key string, now time.Time) ([]byte, bool) {
	e, ok := m.entries[key]
	if !ok || !now.Before(e.expires) {
		return nil, false
	}
	return e.value, true
}

// Begin takes the lease on key for a new request, or reports what holds the
// key: ErrInFlight while another request runs, or the stored response.
// token is the lease's (empty unless it was taken).
func (m *Memory) Begin(_ context.Context, key string, lease time.Duration) (*Response, string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	m.sweep(now)
	if v, ok := m.get(key, now); ok {
		_, resp, err := decode(v)
		switch {
		case err != nil:
			return nil, "", err
		case resp == nil:
			return nil, "", ErrInFlight
		}
		return resp, "", nil
	}
	token := newToken()
	m.entries[key] = memEntry{value: []byte(encodeLock(token)), expires: now.Add(lease)}
	return nil, token, nil
}

// holds reports whether the lease token still holds key; the caller holds mu.
func (m *Memory) holds(key, token string, now time.Time) bool {
	v, ok := m.get(key, now)
	return ok && string(v) == encodeLock(token)
}

// Renew extends the lease to lease from now; false means it was lost.
func (m *Memory) Renew(_ context.Context, key, token string, lease time.Duration) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if !m.holds(key, token, now) {
		return false, nil
	}
	e := m.entries[key]
	e.expires = now.Add(lease)
	m.entries[key] = e
	return true, nil
}

// Complete replaces the lease by the response, kept for ttl; false means
// the lease was lost and nothing was stored.
func (m *Memory) Complete(_ context.Context, key, token string, resp *Response, ttl time.Duration) (bool, error) {
	v, err := encodeResponse(resp)
	if err != nil {
		return false, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	if !m.holds(key, token, now) {
		return false, nil
	}
	m.entries[key] = memEntry{value: v, expires: now.Add(ttl)}
	return true, nil
}

// Release drops the lease, if token still holds it, so the key can be used
// again.
func (m *Memory) Release(_ context.Context, key, token string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.holds(key, token, m.now()) {
		delete(m.entries, key)
	}
	return nil
}

// sweep drops expired entries at most every sweepEvery; the caller holds mu.
func (m *Memory) sweep(now time.Time) {
	if now.Sub(m.lastSweep) < sweepEvery {
		return
	}
	m.lastSweep = now
	for k, e := range m.entries {
		if !now.Before(e.expires) {
			delete(m.entries, k)
		}
	}
}

// Len is the number of entries held, expired ones not yet swept included.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.entries)
}

package events

import (
	"cmp"
	"context"
	"slices"
	"strconv"
	"sync"
	"time"
)

// NewMemory returns a Bus kept in process memory: one replica, the same behaviour as [NewRedis],
// nothing survives a restart. For sandbox mode and tests.
func NewMemory(cfg Config) *Bus {
	c := cfg.withDefaults()
	return newBus(cfg, newMemStore(c.Now, c.Retention, c.MaxEvents))
}

// memStore mirrors redisStore's scripts step by step, under one mutex, on the Config clock.
type memStore struct {
	now       func() time.Time
	retention int64 // ms
	maxEvents int

	mu       sync.Mutex
	events   map[string]*memEvent // by id, until expiry
	log      []logEntry           // oldest first, at most maxEvents
	seq      uint64
	due      map[string]int64 // member → due time, ms
	deadSet  map[string]int64 // member → dead time, ms
	appended chan struct{}    // closed and replaced on every append, to wake readers
	swept    int64
}

type memEvent struct {
	raw     []byte
	expires int64
	states  map[string]*state
}

func newMemStore(now func() time.Time, retention time.Duration, maxEvents int) *memStore {
	return &memStore{
		now: now, retention: retention.Milliseconds(), maxEvents: maxEvents,
		events: map[string]*memEvent{}, due: map[string]int64{}, deadSet: map[string]int64{},
		appended: make(chan struct{}),
	}
}

// clock returns now in ms and, once a minute, forgets expired events and dead letters (Redis
// expires them by TTL). The caller holds m.mu.
func (m *memStore) clock() int64 {
	now := m.now().UnixMilli()
	if now-m.swept >= time.Minute.Milliseconds() {
		m.swept = now
		for id, e := range m.events {
			if e.expires <= now {
				delete(m.events, id)
			}
		}
		for mb, at := range m.deadSet {
			if at <= now-m.retention {
				delete(m.deadSet, mb)
			}
		}
	}
	return now
}

// event returns a stored, unexpired event. The caller holds m.mu.
func (m *memStore) event(id string, now int64) *memEvent {
	e := m.events[id]
	if e == nil || e.expires <= now {
		return nil
	}
	return e
}

func (m *memStore) publish(_ context.Context, id string, raw []byte, subs []string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	if m.event(id, now) != nil {
		return false, nil
	}
	e := &memEvent{raw: raw, expires: now + m.retention, states: map[string]*state{}}
	m.events[id] = e
	// Positions look like Redis stream ids so cursors and tail positions work the same.
	m.seq++
	m.log = append(m.log, logEntry{pos: "0-" + strconv.FormatUint(m.seq, 10), at: time.UnixMilli(now), raw: raw})
	if over := len(m.log) - m.maxEvents; over > 0 {
		m.log = slices.Delete(m.log, 0, over)
	}
	close(m.appended)
	m.appended = make(chan struct{})
	for _, sub := range subs {
		e.states[sub] = &state{next: now}
		m.due[member(id, sub)] = now
	}
	return true, nil
}

func (m *memStore) get(_ context.Context, id string) ([]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.event(id, m.clock())
	if e == nil {
		return nil, errNotFound
	}
	return e.raw, nil
}

// logIndex returns the index of the first entry after position p. The caller holds m.mu.
func (m *memStore) logIndex(p pos) int {
	i, _ := slices.BinarySearchFunc(m.log, p, func(en logEntry, p pos) int {
		q, _ := parsePos(en.pos)
		switch {
		case q.less(p):
			return -1
		case p.less(q):
			return 1
		}
		return 0
	})
	if i < len(m.log) && m.log[i].pos == posText(p) {
		i++
	}
	return i
}

func posText(p pos) string {
	return strconv.FormatUint(p.ms, 10) + "-" + strconv.FormatUint(p.seq, 10)
}

func (m *memStore) scan(_ context.Context, before string, n int) ([]logEntry, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	end := len(m.log) // entries [0, end) are older than before
	if before != "" {
		p, err := parsePos(before)
		if err != nil {
			return nil, err
		}
		end = m.logIndex(p)
		if end > 0 && m.log[end-1].pos == before {
			end--
		}
	}
	out := make([]logEntry, 0, min(n, end))
	for i := end - 1; i >= 0 && len(out) < n; i-- {
		out = append(out, m.log[i])
	}
	return out, nil
}

func (m *memStore) last(context.Context) (string, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.log) == 0 {
		return "0-" + strconv.FormatUint(m.seq, 10), nil
	}
	return m.log[len(m.log)-1].pos, nil
}

func (m *memStore) read(ctx context.Context, after string, block time.Duration) ([]logEntry, error) {
	p, err := parsePos(after)
	if err != nil {
		return nil, err
	}
	timer := time.NewTimer(block)
	defer timer.Stop()
	for {
		m.mu.Lock()
		i := m.logIndex(p)
		out := slices.Clone(m.log[i:min(i+100, len(m.log))])
		wake := m.appended
		m.mu.Unlock()
		if len(out) > 0 {
			return out, nil
		}
		select {
		case <-wake:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

func (m *memStore) claim(_ context.Context, n int, lease time.Duration) ([]claim, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	type dueOne struct {
		mb string
		at int64
	}
	var ready []dueOne
	for mb, at := range m.due {
		if at <= now {
			ready = append(ready, dueOne{mb, at})
		}
	}
	slices.SortFunc(ready, func(a, b dueOne) int { return cmp.Or(cmp.Compare(a.at, b.at), cmp.Compare(a.mb, b.mb)) })
	var out []claim
	for _, d := range ready {
		if len(out) == n {
			break
		}
		id, sub := splitMember(d.mb)
		e := m.event(id, now)
		if e == nil { // expired before it could be delivered
			delete(m.due, d.mb)
			continue
		}
		s := e.states[sub]
		if s == nil {
			s = &state{}
			e.states[sub] = s
		}
		m.due[d.mb] = now + lease.Milliseconds()
		s.attempts++
		s.round++
		s.token++
		s.lastAttempt = now
		out = append(out, claim{id: id, sub: sub, attempts: s.attempts, round: s.round, token: s.token, body: e.raw})
	}
	next := time.Duration(-1)
	for _, at := range m.due {
		if d := time.Duration(max(at-now, 0)) * time.Millisecond; next < 0 || d < next {
			next = d
		}
	}
	return out, next, nil
}

// owned returns the state of c's delivery if c still owns it. The caller holds m.mu.
func (m *memStore) owned(c claim, now int64) *state {
	e := m.event(c.id, now)
	if e == nil {
		return nil
	}
	s := e.states[c.sub]
	if s == nil || s.token != c.token {
		return nil
	}
	return s
}

func (m *memStore) succeed(_ context.Context, c claim, status int) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	s := m.owned(c, now)
	if s == nil {
		return false, nil
	}
	delete(m.due, member(c.id, c.sub))
	s.status, s.err, s.delivered, s.next = status, "", now, 0
	return true, nil
}

func (m *memStore) fail(_ context.Context, c claim, status int, msg string, retryIn time.Duration, dead bool) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	s := m.owned(c, now)
	if s == nil {
		return false, nil
	}
	mb := member(c.id, c.sub)
	s.status, s.err = status, msg
	if dead {
		delete(m.due, mb)
		m.deadSet[mb] = now
		s.dead, s.next = now, 0
		return true, nil
	}
	s.next = now + retryIn.Milliseconds()
	m.due[mb] = s.next
	return true, nil
}

func (m *memStore) redeliver(_ context.Context, id string, subs []string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	e := m.event(id, now)
	if e == nil {
		return errNotFound
	}
	for _, sub := range subs {
		s := e.states[sub]
		if s == nil {
			s = &state{}
			e.states[sub] = s
		}
		s.token++
		s.round, s.next, s.dead = 0, now, 0
		mb := member(id, sub)
		m.due[mb] = now
		delete(m.deadSet, mb)
	}
	return nil
}

func (m *memStore) states(_ context.Context, id string) (map[string]state, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.event(id, m.clock())
	if e == nil {
		return nil, errNotFound
	}
	out := make(map[string]state, len(e.states))
	for sub, s := range e.states {
		out[sub] = *s
	}
	return out, nil
}

func (m *memStore) dead(_ context.Context, n int) ([]deadRef, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.clock()
	var out []deadRef
	for mb, at := range m.deadSet {
		id, sub := splitMember(mb)
		e := m.event(id, now)
		if e == nil || at <= now-m.retention || e.states[sub] == nil {
			continue
		}
		out = append(out, deadRef{id: id, sub: sub, st: *e.states[sub]})
	}
	slices.SortFunc(out, func(a, b deadRef) int {
		return cmp.Or(cmp.Compare(b.st.dead, a.st.dead), cmp.Compare(a.id, b.id), cmp.Compare(a.sub, b.sub))
	})
	return out[:min(n, len(out))], nil
}

package events

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// store is what a Bus needs from its storage; [redisStore] and [memStore] implement it with the
// same semantics, and everything else (validation, matching, signing, the retry schedule, paging,
// the tail fan-out) lives in Bus once.
type store interface {
	// publish stores the event (raw is its JSON) unless its id was published within the
	// retention, appends it to the log and enqueues one delivery per subscription name, all at
	// once. It reports whether the event was new.
	publish(ctx context.Context, id string, raw []byte, subs []string) (bool, error)
	// get returns the stored JSON of event id, or errNotFound.
	get(ctx context.Context, id string) ([]byte, error)
	// scan returns up to n log entries older than position before ("" = the newest), newest
	// first.
	scan(ctx context.Context, before string, n int) ([]logEntry, error)
	// last returns the position of the newest log entry ("0-0" when the log is empty).
	last(ctx context.Context) (string, error)
	// read returns log entries newer than position after, oldest first, waiting up to block
	// for one to arrive; none when the wait ends.
	read(ctx context.Context, after string, block time.Duration) ([]logEntry, error)
	// claim takes up to n due deliveries: each one's due time moves to now+lease and its
	// attempt counters and fencing token are incremented. It also returns how long until the
	// next delivery is due (or -1 when none is scheduled).
	claim(ctx context.Context, n int, lease time.Duration) ([]claim, time.Duration, error)
	// succeed records a successful attempt and removes the delivery from the schedule. It
	// reports false, changing nothing, when the claim's token is stale (another worker
	// reclaimed the delivery after the lease, or it was redelivered meanwhile).
	succeed(ctx context.Context, c claim, status int) (bool, error)
	// fail records a failed attempt and reschedules the delivery retryIn from now or, when dead,
	// moves it to the dead letters; false, changing nothing, when the token is stale.
	fail(ctx context.Context, c claim, status int, msg string, retryIn time.Duration, dead bool) (bool, error)
	// redeliver enqueues event id to subs now, whatever their state; errNotFound when the event
	// is not stored.
	redeliver(ctx context.Context, id string, subs []string) error
	// states returns the delivery state of event id per subscription; errNotFound when the
	// event is not stored.
	states(ctx context.Context, id string) (map[string]state, error)
	// dead returns up to n dead letters, newest first.
	dead(ctx context.Context, n int) ([]deadRef, error)
}

// errNotFound is a store's answer for an unknown event.
var errNotFound = errors.New("not found")

// logEntry is one event of the log.
type logEntry struct {
	pos string    // position in the log: "<ms>-<seq>", ordered as Redis stream ids are
	at  time.Time // when it was appended
	raw []byte    // the event's JSON
}

// claim is one delivery a worker owns until its lease ends.
type claim struct {
	id, sub  string
	attempts int64  // attempts so far, this one included
	round    int64  // attempts since the delivery was last (re)enqueued, this one included
	token    int64  // fencing token: bumped by every claim and redelivery
	body     []byte // the event's JSON
}

// state is the stored delivery state of one event for one subscription; times in Unix ms, 0 when
// unset.
type state struct {
	attempts, round, token int64
	lastAttempt            int64
	status                 int
	err                    string
	next                   int64
	delivered              int64
	dead                   int64
}

// deadRef names one dead letter.
type deadRef struct {
	id, sub string
	st      state
}

// member is the name of one delivery in the schedule and the dead letters. Neither part can hold
// a newline: ids and names with control characters are refused.
func member(id, sub string) string { return id + "\n" + sub }

// splitMember is the inverse of member.
func splitMember(m string) (id, sub string) {
	i := strings.LastIndexByte(m, '\n')
	if i < 0 {
		return m, ""
	}
	return m[:i], m[i+1:]
}

// Bus is the gateway's event log and webhook delivery; see the package documentation. It is safe
// for concurrent use.
type Bus struct {
	cfg   Config
	subs  map[string]subscriber
	order []string // subscription names in configuration order
	st    store
	log   *zap.Logger
	tail  *hub
	kick  chan struct{} // wakes Run when this Bus enqueued something or an attempt finished
}

// subscriber is a subscription with its parsed key.
type subscriber struct {
	Subscription
	key    []byte
	keyErr error
}

// newBus builds the parts shared by both implementations.
func newBus(cfg Config, st store) *Bus {
	cfg = cfg.withDefaults()
	b := &Bus{cfg: cfg, subs: map[string]subscriber{}, st: st, log: cfg.Logger, kick: make(chan struct{}, 1)}
	if err := cfg.Validate(); err != nil {
		b.log.Error("events: invalid configuration; affected subscriptions fail every attempt", zap.Error(err))
	}
	var total time.Duration
	for _, d := range cfg.Schedule {
		total += d
	}
	if total >= cfg.Retention {
		b.log.Warn("events: the retry schedule outlasts the retention; deliveries still failing when their event expires are dropped",
			zap.Duration("schedule_total", total), zap.Duration("retention", cfg.Retention))
	}
	for _, s := range cfg.Subscriptions {
		if _, dup := b.subs[s.Name]; dup || !nameRE.MatchString(s.Name) {
			continue // reported above; such a name cannot be stored safely
		}
		key, err := parseSecret(s.Secret)
		s.Types = slices.Clone(s.Types)
		b.subs[s.Name] = subscriber{Subscription: s, key: key, keyErr: err}
		b.order = append(b.order, s.Name)
	}
	b.tail = newHub(st, b.log)
	return b
}

// matching returns the names of the subscriptions that receive events of type typ.
func (b *Bus) matching(typ string) []string {
	var names []string
	for _, n := range b.order {
		if matches(b.subs[n].Types, typ) {
			names = append(names, n)
		}
	}
	return names
}

// wake tells Run there may be work, without blocking.
func (b *Bus) wake() {
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// Publish validates e, stores it and enqueues one delivery per matching subscription, atomically.
// It reports false, storing and enqueuing nothing, when an event with this ID was already
// published within the retention. A zero OccurredAt becomes now, nil Data becomes {}. An invalid
// event is a *crm.Error with code crm.EInvalid.
func (b *Bus) Publish(ctx context.Context, e Event) (bool, error) {
	raw, err := prepare(&e, b.cfg.Now())
	if err != nil {
		return false, err
	}
	fresh, err := b.st.publish(ctx, e.ID, raw, b.matching(e.Type))
	if err != nil {
		return false, fmt.Errorf("events: publish %q: %w", e.ID, err)
	}
	if fresh {
		b.wake()
	}
	return fresh, nil
}

// Get returns the event with this id, or an error wrapping [ErrNotFound].
func (b *Bus) Get(ctx context.Context, id string) (Event, error) {
	raw, err := b.st.get(ctx, id)
	if err != nil {
		return Event{}, b.storeErr("get", id, err)
	}
	var e Event
	if err := json.Unmarshal(raw, &e); err != nil {
		return Event{}, fmt.Errorf("events: get %q: stored event is not valid: %w", id, err)
	}
	return e, nil
}

// storeErr wraps a store error, turning errNotFound into ErrNotFound.
func (b *Bus) storeErr(op, id string, err error) error {
	if errors.Is(err, errNotFound) {
		return fmt.Errorf("events: %s %q: %w", op, id, ErrNotFound)
	}
	return fmt.Errorf("events: %s %q: %w", op, id, err)
}

// ListQuery selects a page of [Bus.List]. Empty filters are unused.
type ListQuery struct {
	Limit      int    // events per page: default 50, at most 1000
	Cursor     string // from a previous page; "" for the newest events
	Type       string // exact event type
	Connection string
}

// Listing bounds.
const (
	DefaultListLimit = 50
	MaxListLimit     = 1000
	// maxScan bounds how many log entries one List call reads when filters are sparse; the
	// page then holds fewer events than asked, with a cursor to continue.
	maxScan = 5000
)

// List returns events newest first and the cursor of the next page ("" when there is none). The
// cursor is opaque, valid on any replica, and only with the same filters (otherwise a
// *crm.Error with code crm.EInvalid). With sparse filters a page may hold fewer events than
// Limit while a cursor is still returned, and the last page may be empty.
func (b *Bus) List(ctx context.Context, q ListQuery) ([]Event, string, error) {
	limit := q.Limit
	switch {
	case limit <= 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	fp := listFingerprint(q)
	before := ""
	if q.Cursor != "" {
		var err error
		if before, err = openCursor(q.Cursor, fp); err != nil {
			return nil, "", err
		}
	}
	oldest := b.cfg.Now().Add(-b.cfg.Retention)
	filtered := q.Type != "" || q.Connection != ""
	out := make([]Event, 0, limit)
	for scanned := 0; scanned < maxScan; {
		// One more than needed tells whether a next page exists without a round trip for it.
		n := limit - len(out) + 1
		if filtered {
			n = min(max(n, 500), maxScan-scanned)
		}
		entries, err := b.st.scan(ctx, before, n)
		if err != nil {
			return nil, "", fmt.Errorf("events: list: %w", err)
		}
		for i, en := range entries {
			scanned++
			before = en.pos
			if en.at.Before(oldest) {
				return out, "", nil // the rest is past the retention
			}
			var e Event
			if err := json.Unmarshal(en.raw, &e); err != nil {
				b.log.Warn("events: skipping an unreadable log entry", zap.String("position", en.pos), zap.Error(err))
				continue
			}
			if (q.Type != "" && e.Type != q.Type) || (q.Connection != "" && e.Connection != q.Connection) {
				continue
			}
			out = append(out, e)
			if len(out) == limit {
				if i == len(entries)-1 && len(entries) < n {
					return out, "", nil
				}
				return out, sealCursor(before, fp), nil
			}
		}
		if len(entries) < n {
			return out, "", nil // the log is exhausted
		}
	}
	return out, sealCursor(before, fp), nil
}

// cursor is a log position with a fingerprint of the filters it belongs to, base64url-encoded,
// as the gateway's customer listings do.
type cursor struct {
	Pos         string `json:"p"`
	Fingerprint string `json:"f"`
}

func listFingerprint(q ListQuery) string {
	h := sha256.Sum256([]byte("events\x00" + q.Type + "\x00" + q.Connection))
	return hex.EncodeToString(h[:8])
}

func sealCursor(pos, fp string) string {
	b, _ := json.Marshal(cursor{Pos: pos, Fingerprint: fp})
	return base64.RawURLEncoding.EncodeToString(b)
}

func openCursor(s, fp string) (string, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	if err == nil {
		_, err = parsePos(c.Pos)
	}
	switch {
	case err != nil:
		return "", crm.Invalid("the cursor is not valid", crm.FieldError{Field: "cursor", Reason: "is not a cursor this API gave"})
	case c.Fingerprint != fp:
		return "", crm.Invalid("the cursor belongs to another listing",
			crm.FieldError{Field: "cursor", Reason: "was issued for other filters"})
	}
	return c.Pos, nil
}

// Redeliver enqueues event id again, due now, to every subscription its type matches — pending,
// delivered and dead-lettered ones alike — with a fresh retry schedule; an attempt in flight
// meanwhile still completes but no longer counts. It returns how many deliveries were enqueued,
// or an error wrapping [ErrNotFound].
func (b *Bus) Redeliver(ctx context.Context, id string) (int, error) {
	e, err := b.Get(ctx, id)
	if err != nil {
		return 0, err
	}
	subs := b.matching(e.Type)
	if len(subs) == 0 {
		return 0, nil
	}
	if err := b.st.redeliver(ctx, id, subs); err != nil {
		return 0, b.storeErr("redeliver", id, err)
	}
	b.wake()
	return len(subs), nil
}

// Delivery states of [DeliveryStatus].
const (
	StatePending   = "pending"   // scheduled, or being attempted
	StateDelivered = "delivered" // the last attempt succeeded
	StateDead      = "dead"      // every attempt of the schedule failed
)

// DeliveryStatus is the state of one event's delivery to one subscription. It holds no secret and
// no URL.
type DeliveryStatus struct {
	Subscription  string    `json:"subscription"`
	State         string    `json:"state"`                    // pending, delivered or dead
	Attempts      int       `json:"attempts"`                 // attempts made, redeliveries included
	LastStatus    int       `json:"last_status,omitempty"`    // HTTP status of the last answer; 0 when none came
	LastError     string    `json:"last_error,omitempty"`     // why the last attempt failed
	LastAttemptAt time.Time `json:"last_attempt_at,omitzero"` // when the last attempt started
	NextAttemptAt time.Time `json:"next_attempt_at,omitzero"` // when pending: when it is (or was) due
	DeliveredAt   time.Time `json:"delivered_at,omitzero"`    // the last successful attempt
	DeadAt        time.Time `json:"dead_at,omitzero"`         // when dead: when it was dead-lettered
}

// status converts a stored state.
func (s state) toStatus(sub string) DeliveryStatus {
	d := DeliveryStatus{
		Subscription:  sub,
		Attempts:      int(s.attempts),
		LastStatus:    s.status,
		LastError:     s.err,
		LastAttemptAt: msTime(s.lastAttempt),
		NextAttemptAt: msTime(s.next),
		DeliveredAt:   msTime(s.delivered),
		DeadAt:        msTime(s.dead),
	}
	switch {
	case s.dead != 0:
		d.State = StateDead
	case s.next != 0:
		d.State = StatePending
	case s.delivered != 0:
		d.State = StateDelivered
	default:
		d.State = StatePending
	}
	return d
}

// msTime converts Unix ms to a time; 0 is the zero time.
func msTime(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}

// Deliveries returns the delivery status of event id per subscription, ordered by subscription
// name (empty when no subscription matched it), or an error wrapping [ErrNotFound].
func (b *Bus) Deliveries(ctx context.Context, id string) ([]DeliveryStatus, error) {
	states, err := b.st.states(ctx, id)
	if err != nil {
		return nil, b.storeErr("deliveries", id, err)
	}
	out := make([]DeliveryStatus, 0, len(states))
	for sub, s := range states {
		out = append(out, s.toStatus(sub))
	}
	slices.SortFunc(out, func(a, b DeliveryStatus) int { return strings.Compare(a.Subscription, b.Subscription) })
	return out, nil
}

// DeadLetter is a delivery whose whole schedule failed; [Bus.Redeliver] brings it back.
type DeadLetter struct {
	EventID string `json:"event_id"`
	DeliveryStatus
}

// DeadLetters returns up to limit dead letters (default 50, at most 1000), newest first. Dead
// letters are kept for the retention, like their events.
func (b *Bus) DeadLetters(ctx context.Context, limit int) ([]DeadLetter, error) {
	switch {
	case limit <= 0:
		limit = DefaultListLimit
	case limit > MaxListLimit:
		limit = MaxListLimit
	}
	refs, err := b.st.dead(ctx, limit)
	if err != nil {
		return nil, fmt.Errorf("events: dead letters: %w", err)
	}
	out := make([]DeadLetter, 0, len(refs))
	for _, r := range refs {
		out = append(out, DeadLetter{EventID: r.id, DeliveryStatus: r.st.toStatus(r.sub)})
	}
	return out, nil
}

// Tail returns the events published after the call, on any replica sharing the store, in log
// order. The channel is closed when ctx ends, or if the reader falls more than [TailBuffer]
// events behind (it should then Tail again, and may List what it missed).
func (b *Bus) Tail(ctx context.Context) (<-chan Event, error) {
	ch, err := b.tail.subscribe(ctx)
	if err != nil {
		return nil, fmt.Errorf("events: tail: %w", err)
	}
	return ch, nil
}

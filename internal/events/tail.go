package events

import (
	"context"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// TailBuffer is how many events a [Bus.Tail] reader may fall behind before its channel is closed.
const TailBuffer = 256

// tailBlock is how long one read of the log waits for new events; it bounds how long the reader
// goroutine outlives its last subscriber.
const tailBlock = time.Second

// hub follows the log with one reader per Bus, however many Tail callers there are (on Redis, one
// blocking XREAD rather than a pooled connection held per SSE client), and fans events out.
type hub struct {
	st  store
	log *zap.Logger

	mu      sync.Mutex
	subs    map[*tailSub]struct{}
	running bool
	last    string // position of the last entry fanned out
}

type tailSub struct {
	ch   chan Event
	from pos // only entries after this position are sent
}

func newHub(st store, log *zap.Logger) *hub {
	return &hub{st: st, log: log, subs: map[*tailSub]struct{}{}}
}

// subscribe registers a reader of the entries appended after now. Reading the log's end under
// the lock makes this exact: every entry fanned out so far is at or before it (the reader only
// fans out entries that exist), and every later one is fanned out after the registration.
func (h *hub) subscribe(ctx context.Context) (<-chan Event, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	lastText, err := h.st.last(ctx)
	if err != nil {
		return nil, err
	}
	from, err := parsePos(lastText)
	if err != nil {
		return nil, err
	}
	s := &tailSub{ch: make(chan Event, TailBuffer), from: from}
	h.subs[s] = struct{}{}
	if !h.running {
		h.running = true
		h.last = lastText
		go h.follow()
	}
	context.AfterFunc(ctx, func() { h.drop(s) })
	return s.ch, nil
}

// drop removes s and closes its channel, once.
func (h *hub) drop(s *tailSub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if _, ok := h.subs[s]; ok {
		delete(h.subs, s)
		close(s.ch)
	}
}

// follow reads the log until no subscriber is left.
func (h *hub) follow() {
	ctx := context.Background()
	for {
		h.mu.Lock()
		if len(h.subs) == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		after := h.last
		h.mu.Unlock()

		rctx, cancel := context.WithTimeout(ctx, tailBlock+5*time.Second)
		entries, err := h.st.read(rctx, after, tailBlock)
		cancel()
		if err != nil {
			h.log.Warn("events: reading the event log for tail failed; retrying", zap.Error(err))
			time.Sleep(tailBlock)
			continue
		}
		h.fanOut(entries)
	}
}

// fanOut sends entries to every subscriber registered before they were appended, dropping
// subscribers whose buffer is full.
func (h *hub) fanOut(entries []logEntry) {
	if len(entries) == 0 {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, en := range entries {
		h.last = en.pos
		p, err := parsePos(en.pos)
		if err != nil {
			continue
		}
		var e Event
		if err := json.Unmarshal(en.raw, &e); err != nil {
			h.log.Warn("events: skipping an unreadable log entry", zap.String("position", en.pos), zap.Error(err))
			continue
		}
		for s := range h.subs {
			if !s.from.less(p) {
				continue
			}
			select {
			case s.ch <- e:
			default:
				h.log.Warn("events: a tail reader fell too far behind; closing it", zap.Int("buffer", TailBuffer))
				delete(h.subs, s)
				close(s.ch)
			}
		}
	}
}

// pos is a log position: a Redis stream id "<ms>-<seq>".
type pos struct{ ms, seq uint64 }

func parsePos(s string) (pos, error) {
	a, b, ok := strings.Cut(s, "-")
	ms, err1 := strconv.ParseUint(a, 10, 64)
	seq, err2 := strconv.ParseUint(b, 10, 64)
	if !ok || err1 != nil || err2 != nil {
		return pos{}, errors.New("invalid log position " + strconv.Quote(s))
	}
	return pos{ms, seq}, nil
}

func (p pos) less(q pos) bool { return p.ms < q.ms || (p.ms == q.ms && p.seq < q.seq) }

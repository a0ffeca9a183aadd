package ratelimit

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"
)

// fakePrimary is a hand-written Batcher whose failures the test switches on and off. When gate is
// set, calls wait on it, so a test can hold a call in flight.
type fakePrimary struct {
	mu       sync.Mutex
	err      error
	calls    int
	blocks   int
	gate     chan struct{}
	entered  chan struct{}
	decision Reservation
}

func (p *fakePrimary) enter(ctx context.Context) error {
	p.mu.Lock()
	p.calls++
	gate, entered, err := p.gate, p.entered, p.err
	p.mu.Unlock()
	if gate != nil {
		entered <- struct{}{}
		select {
		case <-gate:
		case <-ctx.Done():
		}
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

func (p *fakePrimary) Reserve(ctx context.Context, key string, l Limit, maxWait time.Duration) (Reservation, error) {
	return p.ReserveN(ctx, key, l, maxWait, 1)
}

func (p *fakePrimary) ReserveN(ctx context.Context, _ string, _ Limit, _ time.Duration, _ int) (Reservation, error) {
	if err := p.enter(ctx); err != nil {
		return Reservation{}, err
	}
	return p.decision, nil
}

func (p *fakePrimary) Block(ctx context.Context, _ string, _ Limit, _ time.Duration) error {
	p.mu.Lock()
	p.blocks++
	p.mu.Unlock()
	return p.enter(ctx)
}

func (p *fakePrimary) set(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err = err
}

func (p *fakePrimary) count() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.calls
}

// observed returns a logger recording entries for assertions.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

func logCounts(logs *observer.ObservedLogs) (fellBack, recovered int) {
	return logs.FilterMessageSnippet("falling back").Len(), logs.FilterMessageSnippet("recovered").Len()
}

// primaryDecision marks reservations that came from the primary: the local bucket would never
// report 42 remaining tokens for the test's limit.
var primaryDecision = Reservation{OK: true, Remaining: 42, Reset: time.Second}

func TestFallbackTransitions(t *testing.T) {
	down := errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")
	type step struct {
		name          string
		advance       time.Duration
		primaryErr    error
		block         bool // call Block instead of Reserve
		wantPrimary   bool // the call reached the primary
		wantFromLocal bool // Reserve answered from the local bucket
		wantDegraded  bool
		wantFellBack  int // cumulative log counts
		wantRecovered int
	}
	steps := []step{
		{name: "healthy", wantPrimary: true},
		{name: "primary fails: fall back, log once", primaryErr: down, wantPrimary: true, wantFromLocal: true, wantDegraded: true, wantFellBack: 1},
		{name: "within probe interval: local only", primaryErr: down, advance: 500 * time.Millisecond, wantFromLocal: true, wantDegraded: true, wantFellBack: 1},
		{name: "still within interval", primaryErr: down, advance: 499 * time.Millisecond, wantFromLocal: true, wantDegraded: true, wantFellBack: 1},
		{name: "probe due, still down: no new log", primaryErr: down, advance: time.Millisecond, wantPrimary: true, wantFromLocal: true, wantDegraded: true, wantFellBack: 1},
		{name: "failed probe re-arms the interval", primaryErr: down, advance: 999 * time.Millisecond, wantFromLocal: true, wantDegraded: true, wantFellBack: 1},
		{name: "block while degraded stays local", primaryErr: down, block: true, wantDegraded: true, wantFellBack: 1},
		{name: "primary back, probe due: recover, log once", advance: time.Millisecond, wantPrimary: true, wantFellBack: 1, wantRecovered: 1},
		{name: "healthy again", wantPrimary: true, wantFellBack: 1, wantRecovered: 1},
		{name: "block goes to primary", block: true, wantPrimary: true, wantFellBack: 1, wantRecovered: 1},
		{name: "second outage logs again", primaryErr: down, wantPrimary: true, wantFromLocal: true, wantDegraded: true, wantFellBack: 2, wantRecovered: 1},
		{name: "block failing while degraded", primaryErr: down, block: true, advance: time.Second, wantPrimary: true, wantDegraded: true, wantFellBack: 2, wantRecovered: 1},
		{name: "block probe recovers too", block: true, advance: time.Second, wantPrimary: true, wantFellBack: 2, wantRecovered: 2},
	}

	clock := newFakeClock()
	primary := &fakePrimary{decision: primaryDecision}
	logger, logs := observed()
	f := NewFallback(primary, 3, logger, WithClock(clock.Now), WithProbeInterval(time.Second))
	l := Limit{Rate: 3000, Period: time.Second, Burst: 30}
	ctx := context.Background()
	for _, s := range steps {
		clock.Add(s.advance)
		primary.set(s.primaryErr)
		before := primary.count()
		var r Reservation
		var err error
		if s.block {
			err = f.Block(ctx, "k", l, time.Millisecond)
		} else {
			r, err = f.Reserve(ctx, "k", l, time.Second)
		}
		if err != nil {
			t.Fatalf("%s: error %v; Fallback must hide primary failures", s.name, err)
		}
		if got := primary.count() > before; got != s.wantPrimary {
			t.Fatalf("%s: primary called = %v, want %v", s.name, got, s.wantPrimary)
		}
		if !s.block {
			if fromLocal := r != primaryDecision; fromLocal != s.wantFromLocal || !r.OK {
				t.Fatalf("%s: reservation %+v from local = %v, want %v (and OK)", s.name, r, fromLocal, s.wantFromLocal)
			}
		}
		if f.Degraded() != s.wantDegraded {
			t.Fatalf("%s: Degraded() = %v, want %v", s.name, f.Degraded(), s.wantDegraded)
		}
		if fb, rec := logCounts(logs); fb != s.wantFellBack || rec != s.wantRecovered {
			t.Fatalf("%s: logged %d fall-backs and %d recoveries, want %d and %d", s.name, fb, rec, s.wantFellBack, s.wantRecovered)
		}
	}
	if fb := logs.FilterMessageSnippet("falling back").All()[0]; fb.Level != zapcore.WarnLevel || fb.ContextMap()["error"] != down.Error() {
		t.Fatalf("fall-back entry = %v %v, want a warning carrying the primary's error", fb.Level, fb.ContextMap())
	}
}

// TestFallbackOneProbeAtATime holds a probe in flight and checks that other callers meanwhile
// decide locally instead of piling onto a primary that may be hanging.
func TestFallbackOneProbeAtATime(t *testing.T) {
	clock := newFakeClock()
	primary := &fakePrimary{decision: primaryDecision, err: errors.New("down")}
	f := NewFallback(primary, 2, nil, WithClock(clock.Now))
	l := PerMinute(600, 10)
	ctx := context.Background()
	if _, err := f.Reserve(ctx, "k", l, 0); err != nil || !f.Degraded() {
		t.Fatalf("Reserve = %v, Degraded = %v; want nil, true", err, f.Degraded())
	}
	clock.Add(time.Second)
	primary.set(nil)
	primary.mu.Lock()
	primary.gate, primary.entered = make(chan struct{}), make(chan struct{})
	primary.mu.Unlock()

	done := make(chan Reservation)
	go func() {
		r, _ := f.Reserve(ctx, "k", l, 0)
		done <- r
	}()
	<-primary.entered // the probe is in flight
	for range 5 {
		r, err := f.Reserve(ctx, "k", l, 0)
		if err != nil || r == primaryDecision {
			t.Fatalf("Reserve during probe = %+v, %v; want a local decision", r, err)
		}
	}
	if n := primary.count(); n != 2 {
		t.Fatalf("primary called %d times, want 2 (the failure and one probe)", n)
	}
	close(primary.gate)
	if r := <-done; r != primaryDecision {
		t.Fatalf("probe's reservation = %+v, want the primary's", r)
	}
	if f.Degraded() {
		t.Fatal("still degraded after a successful probe")
	}
}

func TestFallbackReportsOnlyCallerErrors(t *testing.T) {
	tests := []struct {
		name         string
		call         func(f *Fallback, ctx context.Context) error
		cancel       bool
		wantIs       error
		wantPrimary  int
		wantDegraded bool
	}{
		{"invalid limit reserve", func(f *Fallback, ctx context.Context) error {
			_, err := f.Reserve(ctx, "k", Limit{Rate: 1, Period: time.Second}, 0)
			return err
		}, false, ErrInvalidLimit, 0, false},
		{"invalid limit block", func(f *Fallback, ctx context.Context) error {
			return f.Block(ctx, "k", Limit{Rate: 1, Burst: 1}, time.Second)
		}, false, ErrInvalidLimit, 0, false},
		{"cancelled reserve is not an outage", func(f *Fallback, ctx context.Context) error {
			_, err := f.Reserve(ctx, "k", PerMinute(1, 1), 0)
			return err
		}, true, context.Canceled, 1, false},
		{"cancelled block is not an outage", func(f *Fallback, ctx context.Context) error {
			return f.Block(ctx, "k", PerMinute(1, 1), time.Second)
		}, true, context.Canceled, 1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			primary := &fakePrimary{decision: primaryDecision}
			logger, logs := observed()
			f := NewFallback(primary, 3, logger)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.cancel {
				cancel()
			}
			err := tc.call(f, ctx)
			if !errors.Is(err, tc.wantIs) {
				t.Fatalf("error = %v, want %v", err, tc.wantIs)
			}
			if primary.count() != tc.wantPrimary || f.Degraded() != tc.wantDegraded || logs.Len() != 0 {
				t.Fatalf("primary calls %d, degraded %v, %d log entries; want %d, %v, 0",
					primary.count(), f.Degraded(), logs.Len(), tc.wantPrimary, tc.wantDegraded)
			}
		})
	}
}

// TestFallbackWithRedisOutage runs the real Redis limiter against a miniredis that goes away and
// comes back: decisions continue locally at the replica's share of the rate, each transition is
// logged once, and the shared bucket takes over again after recovery.
func TestFallbackWithRedisOutage(t *testing.T) {
	mr, rdb := miniRedis(t, epoch)
	clock := newFakeClock()
	logger, logs := observed()
	f := NewFallback(NewRedis(rdb, WithKeyPrefix(testPrefix())), 3, logger,
		WithClock(clock.Now), WithProbeInterval(time.Second))
	ctx := context.Background()
	l := Limit{Rate: 9, Period: 9 * time.Second, Burst: 3} // T = 1 s; this replica's share: T = 3 s, burst 1

	type call struct {
		maxWait time.Duration
		want    Reservation
	}
	expect := func(phase string, calls []call) {
		t.Helper()
		for i, c := range calls {
			r, err := f.Reserve(ctx, "hc-main", l, c.maxWait)
			if err != nil {
				t.Fatalf("%s: call %d: %v", phase, i, err)
			}
			if r != c.want {
				t.Fatalf("%s: call %d: Reserve = %+v, want %+v", phase, i, r, c.want)
			}
		}
	}

	expect("shared bucket", []call{
		{0, Reservation{OK: true, Tokens: 1, Remaining: 2, Reset: time.Second}},
		{0, Reservation{OK: true, Tokens: 1, Remaining: 1, Reset: 2 * time.Second}},
		{0, Reservation{OK: true, Tokens: 1, Remaining: 0, Reset: 3 * time.Second}},
		{0, Reservation{RetryAfter: time.Second, Reset: 3 * time.Second}},
	})
	if f.Degraded() {
		t.Fatal("degraded while Redis is up")
	}

	mr.Close()
	// Local share: one token at once, then one every 3 s instead of every second.
	expect("redis down", []call{
		{0, Reservation{OK: true, Tokens: 1, Remaining: 0, Reset: 3 * time.Second}},
		{0, Reservation{RetryAfter: 3 * time.Second, Reset: 3 * time.Second}},
		{10 * time.Second, Reservation{OK: true, Tokens: 1, Delay: 3 * time.Second, Reset: 6 * time.Second}},
		{10 * time.Second, Reservation{OK: true, Tokens: 1, Delay: 6 * time.Second, Reset: 9 * time.Second}},
	})
	if !f.Degraded() {
		t.Fatal("not degraded while Redis is down")
	}
	clock.Add(time.Second) // probe fails: still local, no new log
	expect("probe while down", []call{
		{10 * time.Second, Reservation{OK: true, Tokens: 1, Delay: 8 * time.Second, Reset: 11 * time.Second}},
	})
	if fb, rec := logCounts(logs); fb != 1 || rec != 0 {
		t.Fatalf("logged %d fall-backs and %d recoveries during the outage, want 1 and 0", fb, rec)
	}

	if err := mr.Restart(); err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Second)
	// The shared bucket kept its state (miniredis's clock did not move): the probe gets its
	// answer from Redis again.
	expect("redis back", []call{
		{0, Reservation{RetryAfter: time.Second, Reset: 3 * time.Second}},
		{time.Second, Reservation{OK: true, Tokens: 1, Delay: time.Second, Reset: 4 * time.Second}},
	})
	if f.Degraded() {
		t.Fatal("still degraded after Redis came back")
	}
	if fb, rec := logCounts(logs); fb != 1 || rec != 1 {
		t.Fatalf("logged %d fall-backs and %d recoveries, want 1 and 1", fb, rec)
	}
}

// TestFallbackBlockSurvivesOutage checks that a vendor's Retry-After recorded while Redis was up
// still holds when Redis fails during the block.
func TestFallbackBlockSurvivesOutage(t *testing.T) {
	clock := newFakeClock()
	primary := &fakePrimary{decision: primaryDecision}
	f := NewFallback(primary, 2, nil, WithClock(clock.Now))
	l := PerMinute(120, 10)
	ctx := context.Background()
	if err := f.Block(ctx, "k", l, 30*time.Second); err != nil {
		t.Fatal(err)
	}
	if primary.blocks != 1 {
		t.Fatalf("primary Block called %d times, want 1", primary.blocks)
	}
	primary.set(errors.New("down"))
	r, err := f.Reserve(ctx, "k", l, 0)
	if err != nil || r.OK || r.RetryAfter != 30*time.Second {
		t.Fatalf("Reserve after outage = %+v, %v; want refused for the remaining 30s of the block", r, err)
	}
}

// TestFallbackHungPrimary checks that a primary which hangs instead of failing is cut off by the
// primary timeout and treated as down, rather than holding the caller until its own deadline.
func TestFallbackHungPrimary(t *testing.T) {
	primary := &fakePrimary{decision: primaryDecision, gate: make(chan struct{}), entered: make(chan struct{}, 1)}
	logger, logs := observed()
	f := NewFallback(primary, 2, logger, WithPrimaryTimeout(20*time.Millisecond))
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	r, err := f.Reserve(ctx, "k", PerMinute(120, 10), 0)
	if elapsed := time.Since(start); elapsed > 2*time.Second {
		t.Fatalf("Reserve took %s with a 20ms primary timeout", elapsed)
	}
	if err != nil || !r.OK || r == primaryDecision {
		t.Fatalf("Reserve = %+v, %v; want a local reservation", r, err)
	}
	if fb, _ := logCounts(logs); !f.Degraded() || fb != 1 {
		t.Fatalf("Degraded() = %v with %d fall-back logs, want true and 1", f.Degraded(), fb)
	}
}

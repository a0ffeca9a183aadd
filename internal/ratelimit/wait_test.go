package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"
)

// fixedLimiter is a hand-written Limiter returning a preset decision and recording the maxWait it
// was asked with.
type fixedLimiter struct {
	r       Reservation
	err     error
	maxWait time.Duration
}

func (f *fixedLimiter) Reserve(_ context.Context, _ string, _ Limit, maxWait time.Duration) (Reservation, error) {
	f.maxWait = maxWait
	return f.r, f.err
}

func (f *fixedLimiter) Block(context.Context, string, Limit, time.Duration) error { return f.err }

func TestWait(t *testing.T) {
	backendDown := errors.New("redis down")
	tests := []struct {
		name          string
		decision      Reservation
		reserveErr    error
		maxWait       time.Duration
		timeout       time.Duration // context deadline; 0 = none
		cancelAfter   time.Duration // cancel the context after this; 0 = never
		wantErr       error
		minElapsed    time.Duration
		maxElapsed    time.Duration
		maxWaitAtMost time.Duration // the maxWait Reserve saw must not exceed this
	}{
		{name: "admitted now", decision: Reservation{OK: true, Remaining: 3},
			maxWait: time.Second, maxElapsed: 100 * time.Millisecond, maxWaitAtMost: time.Second},
		{name: "sleeps for the delay", decision: Reservation{OK: true, Delay: 60 * time.Millisecond},
			maxWait: time.Second, minElapsed: 60 * time.Millisecond, maxElapsed: time.Second, maxWaitAtMost: time.Second},
		{name: "refused: ErrLimited without sleeping", decision: Reservation{RetryAfter: time.Hour},
			maxWait: time.Second, wantErr: ErrLimited, maxElapsed: 100 * time.Millisecond, maxWaitAtMost: time.Second},
		{name: "context cancelled while sleeping", decision: Reservation{OK: true, Delay: time.Hour},
			maxWait: 2 * time.Hour, cancelAfter: 20 * time.Millisecond, wantErr: context.Canceled,
			minElapsed: 20 * time.Millisecond, maxElapsed: time.Second, maxWaitAtMost: 2 * time.Hour},
		{name: "deadline shortens maxWait", decision: Reservation{RetryAfter: time.Minute},
			maxWait: time.Hour, timeout: 5 * time.Second, wantErr: ErrLimited, maxElapsed: 100 * time.Millisecond,
			maxWaitAtMost: 5 * time.Second},
		{name: "limiter error passes through", reserveErr: backendDown,
			maxWait: time.Second, wantErr: backendDown, maxElapsed: 100 * time.Millisecond, maxWaitAtMost: time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			lim := &fixedLimiter{r: tc.decision, err: tc.reserveErr}
			ctx := context.Background()
			if tc.timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tc.timeout)
				defer cancel()
			}
			if tc.cancelAfter > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithCancel(ctx)
				defer cancel()
				time.AfterFunc(tc.cancelAfter, cancel)
			}
			start := time.Now()
			r, err := Wait(ctx, lim, "k", PerMinute(60, 1), tc.maxWait)
			elapsed := time.Since(start)
			if !errors.Is(err, tc.wantErr) || (tc.wantErr == nil) != (err == nil) {
				t.Fatalf("Wait error = %v, want %v", err, tc.wantErr)
			}
			if tc.reserveErr == nil && r != tc.decision {
				t.Fatalf("Wait returned %+v, want the limiter's %+v", r, tc.decision)
			}
			if elapsed < tc.minElapsed || elapsed > tc.maxElapsed {
				t.Fatalf("Wait took %s, want between %s and %s", elapsed, tc.minElapsed, tc.maxElapsed)
			}
			if lim.maxWait > tc.maxWaitAtMost {
				t.Fatalf("Reserve saw maxWait %s, want at most %s", lim.maxWait, tc.maxWaitAtMost)
			}
		})
	}
}

// TestWaitDeadlineTakesNothing shows why Wait shortens maxWait to the deadline: the token a
// caller could not use before its deadline stays available to the next caller.
func TestWaitDeadlineTakesNothing(t *testing.T) {
	clock := newFakeClock()
	lim := NewLocal(WithClock(clock.Now))
	l := Limit{Rate: 1, Period: 10 * time.Second, Burst: 1}
	if _, err := Wait(context.Background(), lim, "k", l, 0); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := Wait(ctx, lim, "k", l, time.Minute); !errors.Is(err, ErrLimited) {
		t.Fatalf("Wait with a 2s deadline for a 10s wait = %v, want ErrLimited", err)
	}
	r, err := lim.Reserve(context.Background(), "k", l, time.Minute)
	if err != nil || !r.OK || r.Delay != 10*time.Second {
		t.Fatalf("next Reserve = %+v, %v; want a 10s delay (nothing taken by the refused Wait)", r, err)
	}
}

func TestLocalEvictsIdleBuckets(t *testing.T) {
	clock := newFakeClock()
	lim := NewLocal(WithClock(clock.Now), WithSweepInterval(time.Minute))
	ctx := context.Background()
	l := PerMinute(60, 5) // a bucket is full 1 s after its last token
	for _, key := range []string{"a", "b", "c"} {
		if _, err := lim.Reserve(ctx, key, l, 0); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name    string
		advance time.Duration
		key     string
		wantLen int
	}{
		{"before the sweep is due nothing is scanned", 30 * time.Second, "d", 4},
		{"sweep evicts full buckets, keeps the fresh one", 30 * time.Second, "e", 1},
		{"next sweep only after the interval", 30 * time.Second, "f", 2},
		{"and then evicts again", 31 * time.Second, "g", 1},
	}
	for _, tc := range tests {
		clock.Add(tc.advance)
		if _, err := lim.Reserve(ctx, tc.key, l, 0); err != nil {
			t.Fatal(err)
		}
		if got := lim.Len(); got != tc.wantLen {
			t.Fatalf("%s: Len() = %d, want %d", tc.name, got, tc.wantLen)
		}
	}
}

func TestLocalRejectsDoneContextAndBadLimit(t *testing.T) {
	lim := NewLocal()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := lim.Reserve(ctx, "k", PerMinute(1, 1), 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("Reserve with cancelled ctx = %v, want context.Canceled", err)
	}
	if err := lim.Block(context.Background(), "k", PerMinute(0, 1), time.Second); !errors.Is(err, ErrInvalidLimit) {
		t.Fatalf("Block with Rate 0 = %v, want ErrInvalidLimit", err)
	}
	if lim.Len() != 0 {
		t.Fatalf("Len() = %d after refused calls, want 0", lim.Len())
	}
}

package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// funcBatcher is a hand-written Batcher whose decisions are function fields.
type funcBatcher struct {
	reserveN func(ctx context.Context, key string, l Limit, maxWait time.Duration, n int) (Reservation, error)
	block    func(ctx context.Context, key string, l Limit, d time.Duration) error
}

func (f *funcBatcher) Reserve(ctx context.Context, key string, l Limit, maxWait time.Duration) (Reservation, error) {
	return f.reserveN(ctx, key, l, maxWait, 1)
}

func (f *funcBatcher) ReserveN(ctx context.Context, key string, l Limit, maxWait time.Duration, n int) (Reservation, error) {
	return f.reserveN(ctx, key, l, maxWait, n)
}

func (f *funcBatcher) Block(ctx context.Context, key string, l Limit, d time.Duration) error {
	return f.block(ctx, key, l, d)
}

// countingLocal is a Local whose ReserveN calls (and the n asked) are recorded.
func countingLocal(clock *fakeClock) (*funcBatcher, func() []int) {
	local := NewLocal(WithClock(clock.Now))
	var mu sync.Mutex
	var asked []int
	return &funcBatcher{
			reserveN: func(ctx context.Context, key string, l Limit, maxWait time.Duration, n int) (Reservation, error) {
				mu.Lock()
				asked = append(asked, n)
				mu.Unlock()
				return local.ReserveN(ctx, key, l, maxWait, n)
			},
			block: local.Block,
		}, func() []int {
			mu.Lock()
			defer mu.Unlock()
			return slices.Clone(asked)
		}
}

func TestLeaseTerms(t *testing.T) {
	for _, tc := range []struct {
		l    Limit
		hold time.Duration
		cap  int
	}{
		{PerMinute(120, 10), 10 * time.Millisecond, 0}, // HelpCrunch: 0.02 per hold, never leased
		{Limit{Rate: 10_000_000, Period: time.Minute, Burst: 10_000}, 10 * time.Millisecond, 1666},
		{Limit{Rate: 10_000_000, Period: time.Minute, Burst: 100}, 10 * time.Millisecond, 50}, // half the burst
		{Limit{Rate: 1000, Period: time.Second, Burst: 100}, 5 * time.Millisecond, 5},         // 1/200 of the period
		{Limit{Rate: 100, Period: time.Second, Burst: 100}, 5 * time.Millisecond, 0},
	} {
		if got := LeaseHold(tc.l.Period); got != tc.hold {
			t.Errorf("LeaseHold(%s) = %s, want %s", tc.l.Period, got, tc.hold)
		}
		if got := leaseCap(tc.l); got != tc.cap {
			t.Errorf("leaseCap(%s) = %d, want %d", tc.l, got, tc.cap)
		}
	}
}

func TestLeasesLeaveSlowBucketsToTheSharedLimiter(t *testing.T) {
	inner, asked := countingLocal(newFakeClock())
	lim := NewLeases(inner)
	l := PerMinute(120, 10)
	for i := range 12 {
		r, err := lim.Reserve(context.Background(), "hc", l, 0)
		if err != nil || r.OK != (i < 10) {
			t.Fatalf("call %d: Reserve = %+v, %v; want ok=%v", i, r, err, i < 10)
		}
	}
	if got := asked(); len(got) != 12 || slices.Max(got) != 1 {
		t.Fatalf("shared limiter asked %v; want 12 single-token decisions", got)
	}
}

func TestLeasesAdmitExactlyWhatTheBucketAdmits(t *testing.T) {
	clock := newFakeClock()
	inner, asked := countingLocal(clock)
	lim := NewLeases(inner, WithClock(clock.Now))
	l := Limit{Rate: 10_000, Period: time.Second, Burst: 100} // hold 5 ms, leases of up to 50
	ctx := context.Background()

	admitted := 0
	for range 300 {
		r, err := lim.Reserve(ctx, "nx", l, 0)
		if err != nil {
			t.Fatal(err)
		}
		if r.OK {
			admitted++
			if r.Tokens != 1 || r.Delay != 0 {
				t.Fatalf("leased reservation %+v; want one token, no delay", r)
			}
		}
	}
	if admitted != l.Burst {
		t.Fatalf("admitted %d at one instant, want exactly the burst %d", admitted, l.Burst)
	}
	// Sizes double while leases run out: 1, 2, 4, ..., capped at 50; once the bucket is empty
	// every call asks it again.
	got := asked()
	if want := []int{1, 2, 4, 8, 16, 32, 50}; !slices.Equal(got[:len(want)], want) {
		t.Fatalf("lease sizes asked %v; want them to start %v", got, want)
	}

	// 2 ms later the bucket has refilled 20 tokens; the lease takes them all in one decision.
	clock.Add(2 * time.Millisecond)
	before := len(asked())
	for i := range 20 {
		if r, err := lim.Reserve(ctx, "nx", l, 0); err != nil || !r.OK {
			t.Fatalf("call %d after the refill: %+v, %v", i, r, err)
		}
	}
	if r, _ := lim.Reserve(ctx, "nx", l, 0); r.OK {
		t.Fatal("a 21st token 2 ms after draining the bucket; the bucket refills only 20")
	}
	if n := len(asked()) - before; n != 2 {
		t.Fatalf("the shared bucket was asked %d times for 21 calls, want 2 (one lease, then the refusal)", n)
	}
}

func TestLeasesDropExpiredAndBlockedTokens(t *testing.T) {
	clock := newFakeClock()
	inner, asked := countingLocal(clock)
	lim := NewLeases(inner, WithClock(clock.Now))
	l := Limit{Rate: 10_000, Period: time.Second, Burst: 100}
	ctx := context.Background()
	take := func(n int) {
		t.Helper()
		for i := range n {
			if r, err := lim.Reserve(ctx, "nx", l, 0); err != nil || !r.OK {
				t.Fatalf("call %d: %+v, %v", i, r, err)
			}
		}
	}
	take(1 + 2 + 4) // three leases used up: the next asks for 8
	take(1)         // lease of 8, 7 left
	clock.Add(LeaseHold(l.Period))
	n := len(asked())
	take(1) // the 7 expired: asks again, for what the expired lease was used for
	if got := asked()[n:]; !slices.Equal(got, []int{1}) {
		t.Fatalf("after expiry asked %v; want one decision for 1 token", got)
	}

	take(1 + 2) // grow again: the next lease asks for 4
	take(1)     // 3 left
	if err := lim.Block(ctx, "nx", l, time.Second); err != nil {
		t.Fatal(err)
	}
	r, err := lim.Reserve(ctx, "nx", l, 0)
	if err != nil || r.OK {
		t.Fatalf("after Block: Reserve = %+v, %v; want a refusal (leased tokens dropped, bucket blocked)", r, err)
	}
}

func TestLeasesOneRefillAtATime(t *testing.T) {
	gate := make(chan struct{})
	var calls atomic.Int32
	var asked atomic.Int32
	inner := &funcBatcher{reserveN: func(ctx context.Context, _ string, _ Limit, _ time.Duration, n int) (Reservation, error) {
		if calls.Add(1) == 1 {
			<-gate
		}
		asked.Store(int32(n))
		return Reservation{OK: true, Tokens: n, Remaining: 100}, nil
	}}
	lim := NewLeases(inner)
	l := Limit{Rate: 10_000_000, Period: time.Minute, Burst: 10_000}

	const callers = 10
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for range callers {
		wg.Go(func() {
			if r, err := lim.Reserve(context.Background(), "nx", l, 0); err != nil || !r.OK {
				errs <- fmt.Errorf("Reserve = %+v, %v", r, err)
			}
		})
	}
	// Let every caller reach the lease and queue behind the one request in flight.
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(time.Millisecond) {
		lim.mu.Lock()
		b := lim.leases["nx"]
		waiting := 0
		if b != nil {
			waiting = b.waiting
		}
		lim.mu.Unlock()
		if waiting == callers-1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d callers waiting for the refill, want %d", waiting, callers-1)
		}
	}
	close(gate)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	// The first lease was for 1 token; the 9 who waited asked for a lease sized to them.
	if c := calls.Load(); c != 2 {
		t.Fatalf("%d decisions of the shared bucket for %d concurrent callers, want 2", c, callers)
	}
	if n := asked.Load(); n != callers-1+1 {
		t.Fatalf("second lease asked for %d tokens, want %d (the callers that queued, plus one)", n, callers)
	}
}

func TestLeasesWaiterHonoursContext(t *testing.T) {
	gate := make(chan struct{})
	defer close(gate)
	inner := &funcBatcher{reserveN: func(ctx context.Context, _ string, _ Limit, _ time.Duration, n int) (Reservation, error) {
		<-gate
		return Reservation{OK: true, Tokens: n}, nil
	}}
	lim := NewLeases(inner)
	l := Limit{Rate: 10_000_000, Period: time.Minute, Burst: 10_000}
	go func() { _, _ = lim.Reserve(context.Background(), "nx", l, 0) }() // holds the refill
	for {
		lim.mu.Lock()
		b := lim.leases["nx"]
		busy := b != nil && b.refill != nil
		lim.mu.Unlock()
		if busy {
			break
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := lim.Reserve(ctx, "nx", l, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("waiting caller got %v; want its context's deadline", err)
	}
}

// TestLeasesReplicasNeverExceedLimit runs three replicas, each leasing from the same real Redis
// bucket, and checks every window of one period against what GCRA allows plus what leases may
// shift into a window (one lease's worth): first with demand below the rate, where leases save
// most round trips, then saturating the bucket, where every caller queues for its token.
func TestLeasesReplicasNeverExceedLimit(t *testing.T) {
	l := Limit{Rate: 2000, Period: time.Second, Burst: 40} // hold 5 ms, leases of up to 10
	for _, tc := range []struct {
		name   string
		pace   time.Duration // each of the 48 callers sends at most once per pace
		saving float64       // shared decisions per admission at most
	}{
		{"below the rate", 40 * time.Millisecond, 0.7}, // ≈ 1,200/s
		{"saturated", 0, 1.0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			start, adm, decisions := runLeasingReplicas(t, l, tc.pace)
			adm.checkWindows(t, start, l.Period, l.Rate+l.Burst-1+leaseCap(l))
			n := len(adm.at)
			elapsed := adm.at[n-1].Sub(start)
			if tc.pace == 0 {
				// Not needlessly slow either: about the rate over the run.
				if least := int(0.9 * float64(l.Rate) * elapsed.Seconds()); n < least {
					t.Fatalf("%d admissions in %s, want at least %d (90%% of the rate)", n, elapsed, least)
				}
			}
			if float64(decisions) > tc.saving*float64(n) {
				t.Fatalf("%d shared decisions for %d admissions; want at most %.0f%%", decisions, n, 100*tc.saving)
			}
			t.Logf("%d admissions in %s from %d shared decisions, largest round trip %s", n, elapsed, decisions, adm.maxRTT)
		})
	}
}

// runLeasingReplicas drives three leasing replicas of one real Redis bucket from 48 callers for
// 2.5 s and returns when each admitted call was "sent" and how many shared decisions it took.
func runLeasingReplicas(t *testing.T, l Limit, pace time.Duration) (time.Time, *admissions, int64) {
	const (
		replicas   = 3
		goroutines = 48
	)
	prefix := testPrefix()
	var decisions atomic.Int64
	limiters := make([]*Leases, replicas)
	for i := range limiters {
		redisLim := NewRedis(realRedis(t), WithKeyPrefix(prefix))
		limiters[i] = NewLeases(&funcBatcher{
			reserveN: func(ctx context.Context, key string, l Limit, maxWait time.Duration, n int) (Reservation, error) {
				decisions.Add(1)
				return redisLim.ReserveN(ctx, key, l, maxWait, n)
			},
			block: redisLim.Block,
		})
	}
	var adm admissions
	ctx := context.Background()
	start := time.Now()
	stop := start.Add(2500 * time.Millisecond)
	runCallers(t, goroutines, func(g int) error {
		for time.Now().Before(stop) {
			if err := adm.send(ctx, limiters[g%replicas], l, time.Second, pace); err != nil {
				return err
			}
		}
		return nil
	})
	return start, &adm, decisions.Load()
}

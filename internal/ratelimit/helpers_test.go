package ratelimit

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/crm-gateway/crm-gateway/internal/redistest"
)

// realRedis is the real Redis (redistest), with a connection per concurrent caller of the
// benchmarks and replica tests.
func realRedis(tb testing.TB) *redis.Client {
	return redistest.Client(tb, func(o *redis.Options) { o.PoolSize = 64 })
}

// testPrefix returns a key prefix no other test or test run uses, because the real Redis is
// shared and must never be flushed.
func testPrefix() string { return "rltest:" + uuid.NewString() + ":" }

// miniRedis starts a miniredis whose clock (TIME and key expiry) only moves when the test moves
// it, and a client with retries disabled so failures surface at once.
func miniRedis(tb testing.TB, start time.Time) (*miniredis.Miniredis, *redis.Client) {
	tb.Helper()
	mr := miniredis.RunT(tb)
	mr.SetTime(start)
	mr.ClockTTL(true)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr(), MaxRetries: -1, DialerRetries: 1, DialTimeout: time.Second})
	tb.Cleanup(func() { _ = rdb.Close() })
	return mr, rdb
}

// fakeClock is a hand-driven clock for Local and Fallback.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// epoch is an arbitrary fixed start time with a non-zero microsecond part, so arithmetic that
// dropped sub-second digits would show.
var epoch = time.Date(2030, 1, 2, 3, 4, 5, 123456000, time.UTC)

func newFakeClock() *fakeClock { return &fakeClock{now: epoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// admissions records when concurrent callers were admitted, as the times they "sent", and the
// longest a decision took.
type admissions struct {
	mu     sync.Mutex
	at     []time.Time
	maxRTT time.Duration
}

// send reserves a token from lim, records the admission at the reserved time and sleeps until
// then, or for pace if that is longer.
func (a *admissions) send(ctx context.Context, lim Limiter, l Limit, maxWait, pace time.Duration) error {
	t0 := time.Now()
	r, err := lim.Reserve(ctx, "vendor", l, maxWait)
	t1 := time.Now()
	if err != nil || !r.OK {
		return fmt.Errorf("Reserve = %+v, %v; want a reservation", r, err)
	}
	a.mu.Lock()
	a.at = append(a.at, t1.Add(r.Delay))
	a.maxRTT = max(a.maxRTT, t1.Sub(t0))
	a.mu.Unlock()
	time.Sleep(time.Until(t1.Add(max(r.Delay, pace))))
	return nil
}

// checkWindows sorts the admissions and fails if any window of one period, shortened by the
// longest decision (an admission is recorded up to that late), holds more than bound.
func (a *admissions) checkWindows(t *testing.T, start time.Time, period time.Duration, bound int) {
	t.Helper()
	slices.SortFunc(a.at, func(x, y time.Time) int { return x.Compare(y) })
	window := period - a.maxRTT
	j := 0
	for i := range a.at {
		for j < len(a.at) && a.at[j].Sub(a.at[i]) < window {
			j++
		}
		if j-i > bound {
			t.Fatalf("%d admissions within %s starting %s after the start; at most %d allowed per %s",
				j-i, window, a.at[i].Sub(start), bound, period)
		}
	}
}

// runCallers runs call(g) for g in [0, n) concurrently and fails the test with the first error.
func runCallers(t *testing.T, n int, call func(g int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for g := range n {
		wg.Go(func() {
			if err := call(g); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

package ratelimit_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
)

func ExampleWait() {
	lim := ratelimit.NewLocal()
	l := ratelimit.Limit{Rate: 20, Period: time.Second, Burst: 2} // one every 50 ms, 2 at once
	ctx := context.Background()

	for i := range 3 {
		// Wait up to 60 ms for a token: the third call sleeps one emission interval.
		r, err := ratelimit.Wait(ctx, lim, "hc-main", l, 60*time.Millisecond)
		if err != nil {
			fmt.Println("error:", err)
			return
		}
		fmt.Printf("call %d: waited: %v, tokens left: %d\n", i, r.Delay > 0, r.Remaining)
	}
	// A caller that cannot wait at all is refused and told when to come back.
	r, err := ratelimit.Wait(ctx, lim, "hc-main", l, 0)
	fmt.Printf("limited: %v, retry within 50ms: %v\n", errors.Is(err, ratelimit.ErrLimited), r.RetryAfter <= 50*time.Millisecond)
	// Output:
	// call 0: waited: false, tokens left: 1
	// call 1: waited: false, tokens left: 0
	// call 2: waited: true, tokens left: 0
	// limited: true, retry within 50ms: true
}

func ExampleNewRedis() {
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		fmt.Println(err)
		return
	}
	// Short timeouts: with a Fallback around the limiter they bound how long a call waits on an
	// unreachable Redis before it is decided locally.
	opt.DialTimeout, opt.ReadTimeout, opt.WriteTimeout = 200*time.Millisecond, 200*time.Millisecond, 200*time.Millisecond
	opt.DialerRetries = 1
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	// Every replica sharing this Redis and prefix draws from the same buckets. (The random
	// prefix only keeps this example apart from other users of the Redis.)
	lim := ratelimit.NewRedis(rdb, ratelimit.WithKeyPrefix("example:"+uuid.NewString()+":"))
	helpCrunch := ratelimit.PerMinute(120, 2)

	for range 3 {
		r, err := lim.Reserve(context.Background(), "hc-main", helpCrunch, 0)
		if err != nil {
			fmt.Println(err)
			return
		}
		fmt.Printf("ok=%v remaining=%d retry-after=%s\n", r.OK, r.Remaining, r.RetryAfter.Round(100*time.Millisecond))
	}
	fmt.Println("RateLimit-Policy:", helpCrunch.Policy("hc-main"))
	// Output:
	// ok=true remaining=1 retry-after=0s
	// ok=true remaining=0 retry-after=0s
	// ok=false remaining=0 retry-after=500ms
	// RateLimit-Policy: "hc-main";q=120;w=60
}

func ExampleNewLeases() {
	// Leases wrap the shared limiter (in production a Fallback over Redis; here an in-memory
	// one that counts its decisions, with a clock that stands still so the output is exact).
	now := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	shared := &countingBatcher{Batcher: ratelimit.NewLocal(ratelimit.WithClock(clock))}
	lim := ratelimit.NewLeases(shared, ratelimit.WithClock(clock))

	// 2,000/s refills 10 tokens per 5 ms hold: each lease holds up to 10 (half the burst of 20).
	fast := ratelimit.Limit{Rate: 2000, Period: time.Second, Burst: 20}
	admitted := 0
	for range 25 {
		if r, err := lim.Reserve(context.Background(), "nx", fast, 0); err == nil && r.OK {
			admitted++
		}
	}
	fmt.Printf("admitted %d of 25 (the burst), in %d shared decisions\n", admitted, shared.decisions)
	// Output:
	// admitted 20 of 25 (the burst), in 10 shared decisions
}

// countingBatcher counts the decisions its Batcher makes.
type countingBatcher struct {
	ratelimit.Batcher
	decisions int
}

func (c *countingBatcher) ReserveN(ctx context.Context, key string, l ratelimit.Limit, maxWait time.Duration, n int) (ratelimit.Reservation, error) {
	c.decisions++
	return c.Batcher.ReserveN(ctx, key, l, maxWait, n)
}

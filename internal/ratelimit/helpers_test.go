package ratelimit

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
)

// redisURL is the real Redis the tests use; CI starts one there.
func redisURL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// realRedis connects to the real Redis and fails the test, never skips it, when Redis does not
// answer: CI starts Redis, so a silent skip would hide a broken pipeline.
func realRedis(tb testing.TB) *redis.Client {
	tb.Helper()
	opt, err := redis.ParseURL(redisURL())
	if err != nil {
		tb.Fatalf("REDIS_URL %q: %v", redisURL(), err)
	}
	opt.PoolSize = 64
	rdb := redis.NewClient(opt)
	tb.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		tb.Fatalf("real Redis at %s did not answer PING: %v (start Redis there or set REDIS_URL)", redisURL(), err)
	}
	return rdb
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

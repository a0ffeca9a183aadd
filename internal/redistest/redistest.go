// Package redistest gives tests the real Redis that CI starts (REDIS_URL,
// default redis://127.0.0.1:6379/0), as httptest gives them a server. The
// Redis is shared and never flushed: tests keep their keys under a prefix of
// their own and delete them with [DeleteKeys].
package redistest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// URL is the Redis the tests use: REDIS_URL, or redis://127.0.0.1:6379/0.
func URL() string {
	if u := os.Getenv("REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// Client connects to [URL], after tune (if any) has adjusted the options,
// and closes the client when the test ends. It fails the test, never skips
// it, when Redis does not answer: CI starts Redis, so a silent skip would
// hide a broken pipeline.
func Client(tb testing.TB, tune ...func(*redis.Options)) *redis.Client {
	tb.Helper()
	opts, err := redis.ParseURL(URL())
	if err != nil {
		tb.Fatalf("REDIS_URL %q: %v", URL(), err)
	}
	for _, f := range tune {
		f(opts)
	}
	rdb := redis.NewClient(opts)
	tb.Cleanup(func() { _ = rdb.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		tb.Fatalf("real Redis at %s did not answer PING: %v (start Redis there or set REDIS_URL)", URL(), err)
	}
	return rdb
}

// DeleteKeys deletes every key matching pattern when the test ends, before
// rdb is closed (cleanups run last registered first).
func DeleteKeys(tb testing.TB, rdb *redis.Client, pattern string) {
	tb.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, pattern, 500).Iterator()
		var keys []string
		for iter.Next(ctx) {
			keys = append(keys, iter.Val())
		}
		if len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
}

// Command limiterbench measures, in one run, how many decisions per second the Redis rate
// limiter makes next to a bare EVALSHA of a trivial script on the same client, and prints the
// ratio. The bare EVALSHA is the floor any one-round-trip limiter pays, so the ratio isolates the
// limiter's own cost (Lua work, argument encoding, result parsing); the target is ≥ 0.8.
//
// Usage:
//
//	limiterbench [-redis redis://127.0.0.1:6379/0] [-goroutines 64] [-duration 3s]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"

	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
)

// targetRatio is the limiter's throughput relative to a bare EVALSHA that the design aims for.
const targetRatio = 0.8

func main() {
	defaultURL := os.Getenv("REDIS_URL")
	if defaultURL == "" {
		defaultURL = "redis://127.0.0.1:6379/0"
	}
	url := flag.String("redis", defaultURL, "Redis URL")
	goroutines := flag.Int("goroutines", 64, "concurrent callers")
	duration := flag.Duration("duration", 3*time.Second, "how long to measure each of the two (in alternating slices)")
	flag.Parse()

	if err := run(*url, *goroutines, *duration); err != nil {
		fmt.Fprintln(os.Stderr, "limiterbench:", err)
		os.Exit(1)
	}
}

func run(url string, goroutines int, duration time.Duration) error {
	if goroutines < 1 || duration <= 0 {
		return errors.New("-goroutines and -duration must be positive")
	}
	opt, err := redis.ParseURL(url)
	if err != nil {
		return fmt.Errorf("parse -redis: %w", err)
	}
	// One connection per caller, so both measurements see Redis, not the pool's queue.
	opt.PoolSize = goroutines
	rdb := redis.NewClient(opt)
	defer rdb.Close()

	ctx := context.Background()
	if err := rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis at %s: %w", url, err)
	}

	bare := redis.NewScript("return 1")
	lim := ratelimit.NewRedis(rdb, ratelimit.WithKeyPrefix("limiterbench:"+uuid.NewString()+":"))
	// Generous enough never to refuse: every decision runs the full script either way, and keys
	// expire within a millisecond of the run.
	l := ratelimit.Limit{Rate: 1_000_000, Period: time.Second, Burst: 1000}

	bareCall := func() error { return bare.Run(ctx, rdb, nil).Err() }
	limCall := func() error {
		_, err := lim.Reserve(ctx, "bench", l, time.Second)
		return err
	}
	// Load both scripts and open the connections before measuring.
	for _, call := range []func() error{bareCall, limCall} {
		if _, _, err := measure(call, goroutines, 100*time.Millisecond); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}

	// The machine is shared, so its load drifts during a run. Measuring the two in alternating
	// slices, in A-B-B-A order, exposes both to the same drift instead of giving one of them the
	// quiet half of the run.
	const rounds = 10
	slice := duration / rounds
	var bareN, limN int64
	var bareT, limT time.Duration
	for r := range rounds {
		for i := range 2 {
			if (r+i)%2 == 0 {
				n, t, err := measure(bareCall, goroutines, slice)
				if err != nil {
					return fmt.Errorf("bare EVALSHA: %w", err)
				}
				bareN, bareT = bareN+n, bareT+t
			} else {
				n, t, err := measure(limCall, goroutines, slice)
				if err != nil {
					return fmt.Errorf("limiter: %w", err)
				}
				limN, limT = limN+n, limT+t
			}
		}
	}
	bareRate := float64(bareN) / bareT.Seconds()
	limRate := float64(limN) / limT.Seconds()

	ratio := limRate / bareRate
	verdict := "meets"
	if ratio < targetRatio {
		verdict = "BELOW"
	}
	fmt.Printf("goroutines %d, %s each\n", goroutines, duration)
	fmt.Printf("bare EVALSHA   %10.0f calls/s\n", bareRate)
	fmt.Printf("redis limiter  %10.0f decisions/s\n", limRate)
	fmt.Printf("ratio          %10.2f (%s target %.2f)\n", ratio, verdict, targetRatio)
	return nil
}

// measure runs call from n goroutines for about d and returns how many calls completed and how
// long that took. The first error stops the run.
func measure(call func() error, n int, d time.Duration) (int64, time.Duration, error) {
	var (
		done     atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
		errOnce  sync.Once
		firstErr error
	)
	start := time.Now()
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for !stop.Load() {
				if err := call(); err != nil {
					errOnce.Do(func() { firstErr = err })
					stop.Store(true)
					return
				}
				done.Add(1)
			}
		}()
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	return done.Load(), time.Since(start), firstErr
}

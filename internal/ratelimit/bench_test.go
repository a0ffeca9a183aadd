package ratelimit

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// benchParallelism makes RunParallel use 32 goroutines per CPU, close to the 64 concurrent
// requests of the throughput baselines, so Redis round trips overlap as they do in the gateway.
const benchParallelism = 32

// benchLimit is fast enough that the bucket never refuses or queues far: the benchmarks measure
// the cost of a decision, not the limit.
var benchLimit = Limit{Rate: 1_000_000, Period: time.Second, Burst: 1000}

// reportRate adds decisions per second next to ns/op.
func reportRate(b *testing.B) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

func BenchmarkRedisReserve(b *testing.B) {
	lim := NewRedis(realRedis(b), WithKeyPrefix(testPrefix()))
	ctx := context.Background()
	if _, err := lim.Reserve(ctx, "bench", benchLimit, time.Second); err != nil { // loads the script
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := lim.Reserve(ctx, "bench", benchLimit, time.Second); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

// BenchmarkBareEvalsha is the floor for BenchmarkRedisReserve: one EVALSHA of a script that does
// nothing, on the same kind of client, so the ratio of the two shows the limiter's own cost.
func BenchmarkBareEvalsha(b *testing.B) {
	rdb := realRedis(b)
	script := redis.NewScript("return 1")
	ctx := context.Background()
	if err := script.Run(ctx, rdb, nil).Err(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if err := script.Run(ctx, rdb, nil).Err(); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

func BenchmarkLocalReserve(b *testing.B) {
	lim := NewLocal()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(benchParallelism)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := lim.Reserve(ctx, "bench", benchLimit, time.Second); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b)
}

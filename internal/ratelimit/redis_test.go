package ratelimit

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

func TestRedisBucketKeyIsOneHashTag(t *testing.T) {
	tests := []struct {
		prefix, key, want string
	}{
		{"rl:", "hc-main", "{rl:hc-main}"},
		{"", "zenvia:acct-1", "{zenvia:acct-1}"},
		{"gw1:", "nx/tenant 144", "{gw1:nx/tenant 144}"},
	}
	for _, tc := range tests {
		t.Run(tc.want, func(t *testing.T) {
			got := NewRedis(nil, WithKeyPrefix(tc.prefix)).BucketKey(tc.key)
			if got != tc.want {
				t.Fatalf("BucketKey(%q) = %q, want %q", tc.key, got, tc.want)
			}
		})
	}
	if got := NewRedis(nil).BucketKey("k"); got != "{rl:k}" {
		t.Fatalf("default prefix: BucketKey = %q, want {rl:k}", got)
	}
}

// TestRedisStoresExactMicroseconds guards the Lua number handling: the TAT must be stored as an
// integer count of microseconds of the server's clock, not rounded by a float format.
func TestRedisStoresExactMicroseconds(t *testing.T) {
	mr, rdb := miniRedis(t, epoch)
	lim := NewRedis(rdb, WithKeyPrefix(testPrefix()))
	l := Limit{Rate: 3, Period: time.Second, Burst: 1} // T = 333334 µs
	if _, err := lim.Reserve(context.Background(), "k", l, 0); err != nil {
		t.Fatal(err)
	}
	got, err := mr.Get(lim.BucketKey("k"))
	if err != nil {
		t.Fatal(err)
	}
	want := strconv.FormatInt(epoch.UnixMicro()+333334, 10)
	if got != want {
		t.Fatalf("stored TAT = %q, want %q", got, want)
	}
	if ttl := mr.TTL(lim.BucketKey("k")); ttl != 334*time.Millisecond {
		t.Fatalf("TTL = %s, want 334ms (333.334 ms rounded up)", ttl)
	}
}

// TestRedisUsesServerClock proves decisions follow Redis TIME, not the caller's clock: moving
// only the server's clock refills the bucket.
func TestRedisUsesServerClock(t *testing.T) {
	mr, rdb := miniRedis(t, epoch)
	lim := NewRedis(rdb, WithKeyPrefix(testPrefix()))
	l := Limit{Rate: 1, Period: time.Hour, Burst: 1}
	ctx := context.Background()
	if r, _ := lim.Reserve(ctx, "k", l, 0); !r.OK {
		t.Fatalf("first Reserve = %+v, want OK", r)
	}
	if r, _ := lim.Reserve(ctx, "k", l, 0); r.OK || r.RetryAfter != time.Hour {
		t.Fatalf("second Reserve = %+v, want refused for 1h", r)
	}
	mr.SetTime(epoch.Add(time.Hour))
	if r, _ := lim.Reserve(ctx, "k", l, 0); !r.OK {
		t.Fatalf("Reserve an hour later by the server's clock = %+v, want OK", r)
	}
}

func TestRedisReloadsFlushedScript(t *testing.T) {
	_, rdb := miniRedis(t, epoch)
	lim := NewRedis(rdb, WithKeyPrefix(testPrefix()))
	ctx := context.Background()
	l := PerMinute(60, 2)
	for i := range 3 {
		// A restarted or failed-over Redis has no cached scripts: EVALSHA answers NOSCRIPT and
		// the limiter must fall back to EVAL transparently.
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if _, err := lim.Reserve(ctx, "k", l, time.Minute); err != nil {
			t.Fatalf("Reserve %d after SCRIPT FLUSH: %v", i, err)
		}
		if err := rdb.ScriptFlush(ctx).Err(); err != nil {
			t.Fatal(err)
		}
		if err := lim.Block(ctx, "k", l, time.Second); err != nil {
			t.Fatalf("Block %d after SCRIPT FLUSH: %v", i, err)
		}
	}
}

func TestRedisErrors(t *testing.T) {
	mr, rdb := miniRedis(t, epoch)
	lim := NewRedis(rdb, WithKeyPrefix(testPrefix()))
	ctx := context.Background()
	mr.Close()

	tests := []struct {
		name    string
		call    func() error
		invalid bool // the error must be ErrInvalidLimit, i.e. Redis was not the cause
	}{
		{"reserve invalid limit", func() error {
			_, err := lim.Reserve(ctx, "k", Limit{Rate: 1, Period: time.Second}, 0)
			return err
		}, true},
		{"block invalid limit", func() error {
			return lim.Block(ctx, "k", Limit{Period: time.Second, Burst: 1}, time.Second)
		}, true},
		{"reserve with redis down", func() error {
			_, err := lim.Reserve(ctx, "k", PerMinute(1, 1), 0)
			return err
		}, false},
		{"block with redis down", func() error {
			return lim.Block(ctx, "k", PerMinute(1, 1), time.Second)
		}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.call()
			if err == nil {
				t.Fatal("got nil error")
			}
			if errors.Is(err, ErrInvalidLimit) != tc.invalid {
				t.Fatalf("error %q: errors.Is(ErrInvalidLimit) = %v, want %v", err, !tc.invalid, tc.invalid)
			}
		})
	}
}

// TestRedisStoresExactMicrosecondsReal checks the same number handling on the real server, whose
// Lua converts numbers differently from miniredis.
func TestRedisStoresExactMicrosecondsReal(t *testing.T) {
	rdb := realRedis(t)
	lim := NewRedis(rdb, WithKeyPrefix(testPrefix()))
	ctx := context.Background()
	l := Limit{Rate: 3, Period: time.Second, Burst: 1}
	before := time.Now().UnixMicro()
	if _, err := lim.Reserve(ctx, "k", l, 0); err != nil {
		t.Fatal(err)
	}
	after := time.Now().UnixMicro()
	got, err := rdb.Get(ctx, lim.BucketKey("k")).Result()
	if err != nil {
		t.Fatal(err)
	}
	tat, err := strconv.ParseInt(got, 10, 64)
	if err != nil {
		t.Fatalf("stored TAT %q is not an integer: %v", got, err)
	}
	// Redis shares this host's clock; allow a little slack for clock reads on either side.
	const slack = 50_000
	if tat < before+333334-slack || tat > after+333334+slack {
		t.Fatalf("stored TAT %d not within [%d, %d] + 333334 µs", tat, before, after)
	}
	if ttl := rdb.PTTL(ctx, lim.BucketKey("k")).Val(); ttl <= 0 || ttl > 334*time.Millisecond {
		t.Fatalf("PTTL = %s, want (0, 334ms]", ttl)
	}
}

// TestRedisConcurrentReplicasNeverExceedLimit runs 64 goroutines through 3 limiters with 3
// separate clients, as 3 gateway replicas would, and checks every admission against the exact
// GCRA bound.
//
// Bound: admission k is granted at a_k ∈ [TAT_k - Burst·T, TAT_k - T] and TATs grow by at least T
// per admission, so a_j - a_i ≥ (j-i-Burst+1)·T. Hence a half-open window of length W holds at most
// ⌈W/T⌉ + Burst - 1 admissions; for W = Period that is Rate + Burst - 1.
//
// The test only sees admissions through its own clock: it records a_k as the time Reserve returned
// plus Delay, which is late by at most the call's round trip. With E the largest round trip seen,
// any window of length Period - E in recorded times lies inside a window of length Period in true
// times, so the bound is asserted on those windows: exact, with the measured error and no guess.
func TestRedisConcurrentReplicasNeverExceedLimit(t *testing.T) {
	const (
		replicas   = 3
		goroutines = 64
		perG       = 3
	)
	l := Limit{Rate: 50, Period: time.Second, Burst: 5} // T = 20 ms; the run lasts ≈ 3.7 s
	prefix := testPrefix()
	limiters := make([]*Redis, replicas)
	for i := range limiters {
		limiters[i] = NewRedis(realRedis(t), WithKeyPrefix(prefix))
	}

	var adm admissions
	ctx := context.Background()
	start := time.Now()
	runCallers(t, goroutines, func(g int) error {
		for range perG {
			if err := adm.send(ctx, limiters[g%replicas], l, time.Minute, 0); err != nil {
				return err
			}
		}
		return nil
	})
	adm.checkWindows(t, start, l.Period, l.Rate+l.Burst-1)
	admissions, maxRTT, n := adm.at, adm.maxRTT, len(adm.at)
	if n != goroutines*perG {
		t.Fatalf("recorded %d admissions, want %d", n, goroutines*perG)
	}
	// The limiter must also not be needlessly slow: the last admission is due after
	// (n - Burst)·T, plus at most the round trips of the calls queued behind the burst.
	due := time.Duration(n-l.Burst) * l.Interval()
	if last := admissions[n-1].Sub(start); last < due-maxRTT || last > due+time.Second {
		t.Fatalf("last admission after %s, want about %s: the bucket ran too fast or too slow", last, due)
	}
	t.Logf("%d admissions in %s, largest round trip %s", n, admissions[n-1].Sub(start), maxRTT)
}

// countingScripter is a hand-written redis.Scripter that records how many keys each call passes,
// to prove every decision touches exactly one key (a Redis Cluster requirement).
type countingScripter struct {
	redis.Scripter
	mu   sync.Mutex
	keys [][]string
}

func (c *countingScripter) EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd {
	c.mu.Lock()
	c.keys = append(c.keys, slices.Clone(keys))
	c.mu.Unlock()
	return c.Scripter.EvalSha(ctx, sha1, keys, args...)
}

func TestRedisPassesOneKeyPerDecision(t *testing.T) {
	_, rdb := miniRedis(t, epoch)
	cs := &countingScripter{Scripter: rdb}
	lim := NewRedis(cs, WithKeyPrefix("p:"))
	ctx := context.Background()
	if _, err := lim.Reserve(ctx, "hc-main", PerMinute(120, 10), 0); err != nil {
		t.Fatal(err)
	}
	if err := lim.Block(ctx, "hc-main", PerMinute(120, 10), time.Second); err != nil {
		t.Fatal(err)
	}
	if len(cs.keys) != 2 {
		t.Fatalf("%d EVALSHA calls, want one per decision (2)", len(cs.keys))
	}
	for _, keys := range cs.keys {
		if !slices.Equal(keys, []string{"{p:hc-main}"}) {
			t.Fatalf("script KEYS = %q, want exactly [{p:hc-main}]", keys)
		}
	}
}

package ratelimit

import (
	"context"
	"math"
	"testing"
	"time"
)

// The behaviour every Limiter shares is written once, as steps in units of the emission interval
// T, and run against Local (fake clock), Redis on miniredis (fake TIME) and Redis on the real
// server (real time, with tolerances).

// op is what a step does.
type op int

const (
	opReserve op = iota // Reserve with maxWait = wait
	opBlock             // Block for d = wait
	opBucket            // inspect the stored bucket: its expiry, or that it is gone
)

// step is one call at a fixed offset from the start of the case.
type step struct {
	at   float64 // offset from the case start, in T
	key  string  // bucket; "" means "a"
	op   op
	wait float64 // Reserve's maxWait or Block's d, in T
	n    int     // > 0: ReserveN asking for n tokens instead of Reserve
	want want
}

// want is the expected outcome of a step; durations in T.
type want struct {
	ok        bool
	tokens    int // ReserveN steps: tokens granted
	delay     float64
	retry     float64
	remaining int
	reset     float64
	ttl       float64 // opBucket: time until the stored bucket expires
	gone      bool    // opBucket: the bucket is no longer stored
}

// behaviourLimit is the limit of every case: T = Period/10, bursts of 3, so τ = 2T.
func behaviourLimit(t time.Duration) Limit { return Limit{Rate: 10, Period: 10 * t, Burst: 3} }

// reserve, block and bucket build steps tersely.
func reserve(at, wait float64, w want) step { return step{at: at, op: opReserve, wait: wait, want: w} }
func reserveN(at, wait float64, n int, w want) step {
	return step{at: at, op: opReserve, wait: wait, n: n, want: w}
}
func block(at, d float64) step       { return step{at: at, op: opBlock, wait: d} }
func bucket(at float64, w want) step { return step{at: at, op: opBucket, want: w} }
func on(key string, s step) step     { s.key = key; return s }

var behaviourCases = []struct {
	name  string
	steps []step
}{
	{"burst then refusal", []step{
		reserve(0, 0, want{ok: true, remaining: 2, reset: 1}),
		reserve(0, 0, want{ok: true, remaining: 1, reset: 2}),
		reserve(0, 0, want{ok: true, remaining: 0, reset: 3}),
		reserve(0, 0, want{retry: 1, remaining: 0, reset: 3}),
		bucket(0, want{ttl: 3}),
	}},
	{"refill at the rate, never beyond the burst", []step{
		reserve(0, 0, want{ok: true, remaining: 2, reset: 1}),
		reserve(0, 0, want{ok: true, remaining: 1, reset: 2}),
		reserve(0, 0, want{ok: true, remaining: 0, reset: 3}),
		reserve(1.5, 0, want{ok: true, remaining: 0, reset: 2.5}),
		reserve(1.5, 0, want{retry: 0.5, remaining: 0, reset: 2.5}),
		reserve(3.5, 0, want{ok: true, remaining: 1, reset: 1.5}),
		// Idle long enough to be full: the burst is back, and no more than the burst.
		reserve(6, 0, want{ok: true, remaining: 2, reset: 1}),
		reserve(6, 0, want{ok: true, remaining: 1, reset: 2}),
		reserve(6, 0, want{ok: true, remaining: 0, reset: 3}),
		reserve(6, 0, want{retry: 1, remaining: 0, reset: 3}),
	}},
	{"reservations queue first come first served", []step{
		reserve(0, 10, want{ok: true, delay: 0, remaining: 2, reset: 1}),
		reserve(0, 10, want{ok: true, delay: 0, remaining: 1, reset: 2}),
		reserve(0, 10, want{ok: true, delay: 0, remaining: 0, reset: 3}),
		reserve(0, 10, want{ok: true, delay: 1, remaining: 0, reset: 4}),
		reserve(0, 10, want{ok: true, delay: 2, remaining: 0, reset: 5}),
		reserve(0, 10, want{ok: true, delay: 3, remaining: 0, reset: 6}),
		reserve(0, 2.5, want{retry: 1.5, remaining: 0, reset: 6}),
		reserve(1.5, 10, want{ok: true, delay: 2.5, remaining: 0, reset: 5.5}),
	}},
	{"max wait refusal takes nothing", []step{
		reserve(0, 0, want{ok: true, remaining: 2, reset: 1}),
		reserve(0, 0, want{ok: true, remaining: 1, reset: 2}),
		reserve(0, 0, want{ok: true, remaining: 0, reset: 3}),
		reserve(0, 0.5, want{retry: 0.5, remaining: 0, reset: 3}),
		reserve(0, 1.5, want{ok: true, delay: 1, remaining: 0, reset: 4}),
		reserve(0, 1.5, want{retry: 0.5, remaining: 0, reset: 4}),
		reserve(0, 2.5, want{ok: true, delay: 2, remaining: 0, reset: 5}),
	}},
	{"block pushes the bucket past now+d and keeps reservations", []step{
		reserve(0, 0, want{ok: true, remaining: 2, reset: 1}),
		block(0, 5),
		bucket(0, want{ttl: 7}),
		reserve(0, 0, want{retry: 5, remaining: 0, reset: 7}),
		reserve(0, 5.5, want{ok: true, delay: 5, remaining: 0, reset: 8}),
		block(0, 1), // shorter than what is already queued: no effect
		reserve(0, 10, want{ok: true, delay: 6, remaining: 0, reset: 9}),
		reserve(6.5, 0, want{retry: 0.5, remaining: 0, reset: 2.5}),
	}},
	{"block on an idle bucket restarts it empty at now+d", []step{
		block(0, 2),
		bucket(0, want{ttl: 4}),
		reserve(1, 0, want{retry: 1, remaining: 0, reset: 3}),
		reserve(2.5, 0, want{ok: true, remaining: 0, reset: 2.5}),
	}},
	{"idle bucket expires when full again", []step{
		reserve(0, 0, want{ok: true, remaining: 2, reset: 1}),
		reserve(0, 0, want{ok: true, remaining: 1, reset: 2}),
		bucket(0, want{ttl: 2}),
		bucket(1.5, want{ttl: 0.5}),
		bucket(2.5, want{gone: true}),
		reserve(2.5, 0, want{ok: true, remaining: 2, reset: 1}),
	}},
	{"a batch takes what is free at once, up to n", []step{
		reserveN(0, 0, 2, want{ok: true, tokens: 2, remaining: 1, reset: 2}),
		reserveN(0, 0, 5, want{ok: true, tokens: 1, remaining: 0, reset: 3}),
		reserveN(0, 0, 5, want{retry: 1, remaining: 0, reset: 3}),
		reserveN(1.5, 0, 5, want{ok: true, tokens: 1, remaining: 0, reset: 2.5}),
		reserveN(6, 0, 10, want{ok: true, tokens: 3, remaining: 0, reset: 3}),
	}},
	{"a batch from a drained bucket waits for one token only", []step{
		reserveN(0, 0, 3, want{ok: true, tokens: 3, remaining: 0, reset: 3}),
		reserveN(0, 2.5, 3, want{ok: true, tokens: 1, delay: 1, remaining: 0, reset: 4}),
		reserveN(0, 2.5, 3, want{ok: true, tokens: 1, delay: 2, remaining: 0, reset: 5}),
		reserveN(0, 2.5, 3, want{retry: 0.5, remaining: 0, reset: 5}),
	}},
	{"keys are independent", []step{
		reserve(0, 0, want{ok: true, remaining: 2, reset: 1}),
		reserve(0, 0, want{ok: true, remaining: 1, reset: 2}),
		reserve(0, 0, want{ok: true, remaining: 0, reset: 3}),
		reserve(0, 0, want{retry: 1, remaining: 0, reset: 3}),
		on("b", reserve(0, 0, want{ok: true, remaining: 2, reset: 1})),
		on("b", bucket(0, want{ttl: 1})),
	}},
}

// harness runs steps against one limiter.
type harness struct {
	lim    Batcher
	unit   time.Duration                          // T
	tol    time.Duration                          // allowed error of durations; 0 = exact
	moveTo func(offset time.Duration)             // bring the clock to case start + offset
	stored func(key string) (time.Duration, bool) // the bucket's time to expiry, if stored
}

// harnesses builds one fresh harness per case, so cases may run in parallel.
var harnesses = []struct {
	name     string
	parallel bool
	build    func(t *testing.T) harness
}{
	{"local", false, func(t *testing.T) harness {
		clock := newFakeClock()
		// Sweeping on every call lets stored() observe eviction exactly when Redis would expire.
		lim := NewLocal(WithClock(clock.Now), WithSweepInterval(time.Microsecond))
		return harness{
			lim:    lim,
			unit:   100 * time.Millisecond,
			moveTo: func(d time.Duration) { clock.Add(epoch.Add(d).Sub(clock.Now())) },
			stored: func(key string) (time.Duration, bool) {
				lim.mu.Lock()
				defer lim.mu.Unlock()
				now := lim.clock()
				tat, ok := lim.tats[key]
				return micros(tat - now), ok
			},
		}
	}},
	{"miniredis", false, func(t *testing.T) harness {
		mr, rdb := miniRedis(t, epoch)
		lim := NewRedis(rdb, WithKeyPrefix(testPrefix()))
		return harness{
			lim:    lim,
			unit:   100 * time.Millisecond,
			moveTo: func(d time.Duration) { mr.SetTime(epoch.Add(d)) },
			stored: func(key string) (time.Duration, bool) {
				k := lim.BucketKey(key)
				return mr.TTL(k), mr.Exists(k)
			},
		}
	}},
	{"redis", true, func(t *testing.T) harness {
		rdb := realRedis(t)
		lim := NewRedis(rdb, WithKeyPrefix(testPrefix()))
		start := time.Now()
		return harness{
			lim:  lim,
			unit: 400 * time.Millisecond,
			// Offsets fall half a T away from every boundary, so 150 ms of scheduling noise on a
			// busy 2-core machine (seen: 92 ms between two "simultaneous" steps) cannot flip a
			// decision.
			tol:    150 * time.Millisecond,
			moveTo: func(d time.Duration) { time.Sleep(time.Until(start.Add(d))) },
			stored: func(key string) (time.Duration, bool) {
				ttl, err := rdb.PTTL(context.Background(), lim.BucketKey(key)).Result()
				if err != nil {
					t.Fatalf("PTTL: %v", err)
				}
				return ttl, ttl > 0
			},
		}
	}},
}

func TestLimiterBehaviour(t *testing.T) {
	for _, hm := range harnesses {
		t.Run(hm.name, func(t *testing.T) {
			for _, tc := range behaviourCases {
				t.Run(tc.name, func(t *testing.T) {
					if hm.parallel {
						t.Parallel()
					}
					h := hm.build(t)
					runSteps(t, h, tc.steps)
				})
			}
		})
	}
}

func runSteps(t *testing.T, h harness, steps []step) {
	t.Helper()
	ctx := context.Background()
	l := behaviourLimit(h.unit)
	units := func(f float64) time.Duration { return time.Duration(math.Round(f * float64(h.unit))) }
	near := func(got time.Duration, want float64) bool {
		d := got - units(want)
		return d >= -h.tol && d <= h.tol
	}
	for i, s := range steps {
		h.moveTo(units(s.at))
		key := s.key
		if key == "" {
			key = "a"
		}
		w := s.want
		switch s.op {
		case opReserve:
			var r Reservation
			var err error
			if s.n > 0 {
				r, err = h.lim.ReserveN(ctx, key, l, units(s.wait), s.n)
			} else {
				r, err = h.lim.Reserve(ctx, key, l, units(s.wait))
				if w.ok {
					w.tokens = 1
				}
			}
			if err != nil {
				t.Fatalf("step %d: Reserve: %v", i, err)
			}
			if r.OK != w.ok || r.Tokens != w.tokens || r.Remaining != w.remaining || !near(r.Delay, w.delay) ||
				!near(r.RetryAfter, w.retry) || !near(r.Reset, w.reset) {
				t.Fatalf("step %d at %gT: Reserve(%q, maxWait %gT) = %+v; want ok=%v tokens=%d delay=%gT retry=%gT remaining=%d reset=%gT",
					i, s.at, key, s.wait, r, w.ok, w.tokens, w.delay, w.retry, w.remaining, w.reset)
			}
		case opBlock:
			if err := h.lim.Block(ctx, key, l, units(s.wait)); err != nil {
				t.Fatalf("step %d: Block: %v", i, err)
			}
		case opBucket:
			ttl, ok := h.stored(key)
			if w.gone {
				if ok {
					t.Fatalf("step %d at %gT: bucket %q still stored (expires in %s); want it gone", i, s.at, key, ttl)
				}
				continue
			}
			if !ok || !near(ttl, w.ttl) {
				t.Fatalf("step %d at %gT: bucket %q stored=%v expires in %s; want %gT", i, s.at, key, ok, ttl, w.ttl)
			}
		}
	}
}

package ratelimit

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// clockLua reads the Redis server's clock in microseconds and the bucket's TAT. Reading TIME and
// then writing is safe because Redis 5 and later replicate a script's effects (the SET with the
// computed value), not the script; the Redis 3.2–4 opt-in, redis.replicate_commands(), is left
// out because it costs about a microsecond of server time on every decision.
const clockLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local v = redis.call('GET', KEYS[1])
local tat = now
if v then tat = math.max(tonumber(v), now) end
local interval = tonumber(ARGV[1])
local tau = (tonumber(ARGV[2]) - 1) * interval
`

// reserveLua mirrors gcra.reserve. KEYS[1]: the bucket; ARGV: interval µs, burst, max wait µs,
// tokens wanted. It returns {ok, delay µs, retry-after µs, remaining, reset µs, tokens}. The key expires when the bucket
// is full again (PX rounds up to the next millisecond, which only keeps it a little longer).
var reserveLua = redis.NewScript(clockLua + `
local delay = math.max(tat - tau - now, 0)
local max_wait = tonumber(ARGV[3])
local ok = 0
local retry = 0
local granted = 0
if delay <= max_wait then
  ok = 1
  granted = 1
  if delay == 0 then
    granted = math.min(tonumber(ARGV[4]), math.floor((now + tau + interval - tat) / interval))
  end
  tat = tat + granted * interval
  redis.call('SET', KEYS[1], tat, 'PX', math.ceil((tat - now) / 1000))
else
  retry = delay - max_wait
  delay = 0
end
local remaining = 0
local free = now + tau + interval - tat
if free > 0 then remaining = math.floor(free / interval) end
return {ok, delay, retry, remaining, tat - now, granted}
`)

// blockLua mirrors gcra.block. KEYS[1]: the bucket; ARGV: interval µs, burst, block µs.
var blockLua = redis.NewScript(clockLua + `
local blocked = now + tonumber(ARGV[3]) + tau
if blocked > tat then
  redis.call('SET', KEYS[1], blocked, 'PX', math.ceil((blocked - now) / 1000))
end
return 1
`)

// Redis is a [Limiter] whose buckets live in Redis, shared by every replica using the same Redis
// and key prefix. Each decision is one EVALSHA round trip (EVAL when the script is not cached yet,
// e.g. after a restart or a failover).
type Redis struct {
	rdb    redis.Scripter
	prefix string
}

var _ Batcher = (*Redis)(nil)

// NewRedis returns a limiter using rdb: a *redis.Client, *redis.ClusterClient, *redis.Ring or any
// redis.UniversalClient. Configure the client with short dial and read timeouts and few dial
// retries (go-redis defaults to 5 dials 100 ms apart): they bound how long a request waits on an
// unreachable Redis before a [Fallback] decides locally. Options: [WithKeyPrefix].
func NewRedis(rdb redis.Scripter, opts ...Option) *Redis {
	return &Redis{rdb: rdb, prefix: newConfig(opts).prefix}
}

// BucketKey returns the Redis key holding bucket key's TAT. The whole name is a hash tag, so
// the bucket maps to a single Redis Cluster slot whatever the key contains.
func (r *Redis) BucketKey(key string) string {
	return "{" + r.prefix + key + "}"
}

// Reserve implements [Limiter].
func (r *Redis) Reserve(ctx context.Context, key string, l Limit, maxWait time.Duration) (Reservation, error) {
	return r.ReserveN(ctx, key, l, maxWait, 1)
}

// ReserveN implements [Batcher].
func (r *Redis) ReserveN(ctx context.Context, key string, l Limit, maxWait time.Duration, n int) (Reservation, error) {
	if err := l.Valid(); err != nil {
		return Reservation{}, fmt.Errorf("ratelimit: reserve %q: %w", key, err)
	}
	res, err := reserveLua.Run(ctx, r.rdb, []string{r.BucketKey(key)},
		l.Interval().Microseconds(), l.Burst, toMicros(maxWait, false), max(n, 1)).Int64Slice()
	if err != nil {
		return Reservation{}, fmt.Errorf("ratelimit: reserve %q in redis: %w", key, err)
	}
	if len(res) != 6 {
		return Reservation{}, fmt.Errorf("ratelimit: reserve %q in redis: script returned %d values, want 6", key, len(res))
	}
	return Reservation{
		OK:         res[0] == 1,
		Tokens:     int(res[5]),
		Delay:      micros(res[1]),
		RetryAfter: micros(res[2]),
		Remaining:  int(res[3]),
		Reset:      micros(res[4]),
	}, nil
}

// Block implements [Limiter].
func (r *Redis) Block(ctx context.Context, key string, l Limit, d time.Duration) error {
	if err := l.Valid(); err != nil {
		return fmt.Errorf("ratelimit: block %q: %w", key, err)
	}
	err := blockLua.Run(ctx, r.rdb, []string{r.BucketKey(key)},
		l.Interval().Microseconds(), l.Burst, toMicros(d, true)).Err()
	if err != nil {
		return fmt.Errorf("ratelimit: block %q in redis: %w", key, err)
	}
	return nil
}

package idempotency

import (
	"context"
	"errors"
	"time"

	"github.com/redis/go-redis/v9"
)

// Redis keeps entries in Redis, shared by every gateway replica: one string
// key per idempotency key, holding first the lease (SET NX PX) and then the
// response (SET PX ttl). Each key stands alone, so it works on Redis Cluster.
type Redis struct {
	rdb    redis.UniversalClient
	prefix string
}

// NewRedis returns a store writing its keys under prefix (e.g. the
// configured redis.prefix + "idem:").
func NewRedis(rdb redis.UniversalClient, prefix string) *Redis {
	return &Redis{rdb: rdb, prefix: prefix}
}

// The lease is changed only by its holder: each script compares the stored
// value with the holder's lease first.
var (
	completeScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
  return 1
end
return 0`)
	renewScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)
	releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0`)
)

// beginAttempts bounds Begin's retries when the entry vanishes between
// SET NX and GET (it expired or was released meanwhile).
const beginAttempts = 3

// Begin takes the lease on key for a new request, or reports what holds the
// key: ErrInFlight while another request runs, or the stored response.
// token is the lease's (empty unless it was taken).
func (r *Redis) Begin(ctx context.Context, key string, lease time.Duration) (*Response, string, error) {
	k := r.prefix + key
	token := newToken()
	for range beginAttempts {
		ok, err := r.rdb.SetNX(ctx, k, encodeLock(token), lease).Result()
		if err != nil {
			return nil, "", err
		}
		if ok {
			return nil, token, nil
		}
		v, err := r.rdb.Get(ctx, k).Bytes()
		if errors.Is(err, redis.Nil) {
			continue
		}
		if err != nil {
			return nil, "", err
		}
		_, resp, err := decode(v)
		switch {
		case err != nil:
			return nil, "", err
		case resp == nil:
			return nil, "", ErrInFlight
		}
		return resp, "", nil
	}
	return nil, "", ErrInFlight // others keep taking and releasing it: busy
}

// Renew extends the lease to lease from now; false means it was lost.
func (r *Redis) Renew(ctx context.Context, key, token string, lease time.Duration) (bool, error) {
	n, err := renewScript.Run(ctx, r.rdb, []string{r.prefix + key}, encodeLock(token), millis(lease)).Int()
	return n == 1, err
}

// Complete replaces the lease by the response, kept for ttl; false means
// the lease was lost and nothing was stored.
func (r *Redis) Complete(ctx context.Context, key, token string, resp *Response, ttl time.Duration) (bool, error) {
	v, err := encodeResponse(resp)
	if err != nil {
		return false, err
	}
	n, err := completeScript.Run(ctx, r.rdb, []string{r.prefix + key}, encodeLock(token), v, millis(ttl)).Int()
	return n == 1, err
}

// Release drops the lease, if token still holds it, so the key can be used
// again.
func (r *Redis) Release(ctx context.Context, key, token string) error {
	return releaseScript.Run(ctx, r.rdb, []string{r.prefix + key}, encodeLock(token)).Err()
}

// millis is d in whole milliseconds, at least 1 (Redis refuses 0).
func millis(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

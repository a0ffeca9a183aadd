package events

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// NewRedis returns a Bus kept in Redis (6.2 or later; Redis Cluster too), shared by every replica
// using the same Redis and key prefix: events published on one are listed, tailed and delivered
// by all, and nothing is lost when a replica restarts. Options: [WithKeyPrefix].
func NewRedis(rdb redis.UniversalClient, cfg Config, opts ...Option) *Bus {
	o := options{prefix: "events"}
	for _, opt := range opts {
		opt(&o)
	}
	c := cfg.withDefaults()
	return newBus(cfg, &redisStore{
		rdb:       rdb,
		tag:       "{" + o.prefix + "}:",
		retention: c.Retention.Milliseconds(),
		maxEvents: int64(c.MaxEvents),
	})
}

// redisStore keeps everything under one hash tag, so every script may touch several keys on
// Redis Cluster (one slot holds the whole bus). Keys, with T = "{<prefix>}:":
//
//	T log        stream: the event log, field "e" = the event's JSON; MAXLEN ~ MaxEvents, MINID ~ now-Retention
//	T ev:<id>    string: the event's JSON; SET NX PX Retention, so it is also the dedup marker
//	T dl:<id>    hash:   delivery state per subscription, fields "<sub>:<f>"; expires with ev:<id>
//	T due        zset:   "<id>\n<sub>" scored by the next attempt (Unix ms); a claim moves it to now+Lease
//	T dead       zset:   "<id>\n<sub>" scored by the time it was dead-lettered
//
// Delivery state fields: a attempts, r attempts this round, c fencing token, l last attempt (ms),
// s last status, e last error, n next attempt (ms), d delivered at (ms), x dead at (ms).
type redisStore struct {
	rdb       redis.UniversalClient
	tag       string
	retention int64 // ms
	maxEvents int64
}

func (r *redisStore) key(name string) string { return r.tag + name }

// nowLua reads the Redis server's clock in ms: every replica schedules on the same timeline.
const nowLua = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
`

// publishLua: KEYS ev:<id>, log, dl:<id>, due; ARGV body, retention ms, max events, id, subs...
// The SET NX is the dedup: nothing else happens for an id already stored.
var publishLua = redis.NewScript(nowLua + `
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return 0 end
redis.call('XADD', KEYS[2], 'MAXLEN', '~', ARGV[3], '*', 'e', ARGV[1])
redis.call('XTRIM', KEYS[2], 'MINID', '~', now - tonumber(ARGV[2]))
for i = 5, #ARGV do
  redis.call('HSET', KEYS[3], ARGV[i] .. ':n', now)
  redis.call('ZADD', KEYS[4], now, ARGV[4] .. '\n' .. ARGV[i])
end
if #ARGV >= 5 then redis.call('PEXPIRE', KEYS[3], ARGV[2]) end
return 1
`)

// claimLua: KEYS due; ARGV lease ms, max count, key tag. It claims the due deliveries: each one's
// score moves to now+lease (so if this worker dies another retries it after the lease) and its
// counters and fencing token are incremented. A delivery whose event has expired is dropped.
// Returns {ms until the next due delivery or -1, {member, attempts, round, token, body, ...}}.
// The per-event keys are built here rather than passed in KEYS (they are only known once the due
// members are read); they share the hash tag, so Redis Cluster serves them from the same slot.
var claimLua = redis.NewScript(nowLua + `
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now, 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for _, m in ipairs(due) do
  local nl = string.find(m, '\n', 1, true)
  local id, sub = string.sub(m, 1, nl - 1), string.sub(m, nl + 1)
  local ev = ARGV[3] .. 'ev:' .. id
  local body = redis.call('GET', ev)
  if not body then
    redis.call('ZREM', KEYS[1], m)
  else
    local k = ARGV[3] .. 'dl:' .. id
    redis.call('ZADD', KEYS[1], now + tonumber(ARGV[1]), m)
    local a = redis.call('HINCRBY', k, sub .. ':a', 1)
    local r = redis.call('HINCRBY', k, sub .. ':r', 1)
    local c = redis.call('HINCRBY', k, sub .. ':c', 1)
    redis.call('HSET', k, sub .. ':l', now)
    if redis.call('PTTL', k) == -1 then
      local ttl = redis.call('PTTL', ev)
      if ttl > 0 then redis.call('PEXPIRE', k, ttl) end
    end
    out[#out + 1] = m
    out[#out + 1] = a
    out[#out + 1] = r
    out[#out + 1] = c
    out[#out + 1] = body
  end
end
local wait = -1
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
if nxt[2] then wait = math.max(tonumber(nxt[2]) - now, 0) end
return {wait, out}
`)

// succeedLua: KEYS due, dl:<id>; ARGV member, sub, token, status. A stale token changes nothing.
var succeedLua = redis.NewScript(nowLua + `
local f = ARGV[2] .. ':'
if redis.call('HGET', KEYS[2], f .. 'c') ~= ARGV[3] then return 0 end
redis.call('ZREM', KEYS[1], ARGV[1])
redis.call('HSET', KEYS[2], f .. 's', ARGV[4], f .. 'd', now)
redis.call('HDEL', KEYS[2], f .. 'e', f .. 'n')
return 1
`)

// failLua: KEYS due, dl:<id>, dead; ARGV member, sub, token, status, error, retry in ms, dead
// (0/1), retention ms. It reschedules the delivery or moves it to the dead letters (trimming
// those past the retention). A stale token changes nothing.
var failLua = redis.NewScript(nowLua + `
local f = ARGV[2] .. ':'
if redis.call('HGET', KEYS[2], f .. 'c') ~= ARGV[3] then return 0 end
redis.call('HSET', KEYS[2], f .. 's', ARGV[4], f .. 'e', ARGV[5])
if ARGV[7] == '1' then
  redis.call('ZREM', KEYS[1], ARGV[1])
  redis.call('ZADD', KEYS[3], now, ARGV[1])
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now - tonumber(ARGV[8]))
  redis.call('HSET', KEYS[2], f .. 'x', now)
  redis.call('HDEL', KEYS[2], f .. 'n')
else
  local at = now + tonumber(ARGV[6])
  redis.call('ZADD', KEYS[1], at, ARGV[1])
  redis.call('HSET', KEYS[2], f .. 'n', at)
end
return 1
`)

// redeliverLua: KEYS due, dl:<id>, dead, ev:<id>; ARGV id, subs... Each delivery is due now with
// a fresh round, out of the dead letters, and its token bumped so an attempt in flight no longer
// counts. Returns -1 when the event is not stored.
var redeliverLua = redis.NewScript(nowLua + `
local ttl = redis.call('PTTL', KEYS[4])
if ttl == -2 then return -1 end
for i = 2, #ARGV do
  local f = ARGV[i] .. ':'
  local m = ARGV[1] .. '\n' .. ARGV[i]
  redis.call('HINCRBY', KEYS[2], f .. 'c', 1)
  redis.call('HSET', KEYS[2], f .. 'r', 0, f .. 'n', now)
  redis.call('HDEL', KEYS[2], f .. 'x')
  redis.call('ZADD', KEYS[1], now, m)
  redis.call('ZREM', KEYS[3], m)
end
if ttl > 0 then redis.call('PEXPIRE', KEYS[2], ttl) end
return 1
`)

func (r *redisStore) publish(ctx context.Context, id string, raw []byte, subs []string) (bool, error) {
	args := make([]any, 0, 4+len(subs))
	args = append(args, raw, r.retention, r.maxEvents, id)
	for _, s := range subs {
		args = append(args, s)
	}
	n, err := publishLua.Run(ctx, r.rdb,
		[]string{r.key("ev:" + id), r.key("log"), r.key("dl:" + id), r.key("due")}, args...).Int()
	return n == 1, err
}

func (r *redisStore) get(ctx context.Context, id string) ([]byte, error) {
	raw, err := r.rdb.Get(ctx, r.key("ev:"+id)).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, errNotFound
	}
	return raw, err
}

// entries converts stream messages.
func entries(msgs []redis.XMessage) []logEntry {
	out := make([]logEntry, 0, len(msgs))
	for _, m := range msgs {
		raw, _ := m.Values["e"].(string)
		p, _ := parsePos(m.ID)
		out = append(out, logEntry{pos: m.ID, at: time.UnixMilli(int64(p.ms)), raw: []byte(raw)})
	}
	return out
}

func (r *redisStore) scan(ctx context.Context, before string, n int) ([]logEntry, error) {
	end := "+"
	if before != "" {
		end = "(" + before
	}
	msgs, err := r.rdb.XRevRangeN(ctx, r.key("log"), end, "-", int64(n)).Result()
	if err != nil {
		return nil, err
	}
	return entries(msgs), nil
}

func (r *redisStore) last(ctx context.Context) (string, error) {
	msgs, err := r.rdb.XRevRangeN(ctx, r.key("log"), "+", "-", 1).Result()
	if err != nil {
		return "", err
	}
	if len(msgs) == 0 {
		return "0-0", nil
	}
	return msgs[0].ID, nil
}

func (r *redisStore) read(ctx context.Context, after string, block time.Duration) ([]logEntry, error) {
	streams, err := r.rdb.XRead(ctx, &redis.XReadArgs{
		Streams: []string{r.key("log"), after},
		Count:   100,
		Block:   block,
	}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil:
		return nil, err
	case len(streams) == 0:
		return nil, nil
	}
	return entries(streams[0].Messages), nil
}

func (r *redisStore) claim(ctx context.Context, n int, lease time.Duration) ([]claim, time.Duration, error) {
	res, err := claimLua.Run(ctx, r.rdb, []string{r.key("due")}, lease.Milliseconds(), n, r.tag).Slice()
	if err != nil {
		return nil, 0, err
	}
	if len(res) != 2 {
		return nil, 0, fmt.Errorf("claim script returned %d values, want 2", len(res))
	}
	wait, _ := res[0].(int64)
	next := time.Duration(-1)
	if wait >= 0 {
		next = time.Duration(wait) * time.Millisecond
	}
	flat, _ := res[1].([]any)
	if len(flat)%5 != 0 {
		return nil, 0, fmt.Errorf("claim script returned %d fields, want groups of 5", len(flat))
	}
	out := make([]claim, 0, len(flat)/5)
	for i := 0; i < len(flat); i += 5 {
		m, _ := flat[i].(string)
		body, _ := flat[i+4].(string)
		id, sub := splitMember(m)
		c := claim{id: id, sub: sub, body: []byte(body)}
		c.attempts, _ = flat[i+1].(int64)
		c.round, _ = flat[i+2].(int64)
		c.token, _ = flat[i+3].(int64)
		out = append(out, c)
	}
	return out, next, nil
}

func (r *redisStore) succeed(ctx context.Context, c claim, status int) (bool, error) {
	n, err := succeedLua.Run(ctx, r.rdb, []string{r.key("due"), r.key("dl:" + c.id)},
		member(c.id, c.sub), c.sub, c.token, status).Int()
	return n == 1, err
}

func (r *redisStore) fail(ctx context.Context, c claim, status int, msg string, retryIn time.Duration, dead bool) (bool, error) {
	d := 0
	if dead {
		d = 1
	}
	n, err := failLua.Run(ctx, r.rdb, []string{r.key("due"), r.key("dl:" + c.id), r.key("dead")},
		member(c.id, c.sub), c.sub, c.token, status, msg, retryIn.Milliseconds(), d, r.retention).Int()
	return n == 1, err
}

func (r *redisStore) redeliver(ctx context.Context, id string, subs []string) error {
	args := make([]any, 0, 1+len(subs))
	args = append(args, id)
	for _, s := range subs {
		args = append(args, s)
	}
	n, err := redeliverLua.Run(ctx, r.rdb,
		[]string{r.key("due"), r.key("dl:" + id), r.key("dead"), r.key("ev:" + id)}, args...).Int()
	switch {
	case err != nil:
		return err
	case n < 0:
		return errNotFound
	}
	return nil
}

func (r *redisStore) states(ctx context.Context, id string) (map[string]state, error) {
	pipe := r.rdb.Pipeline()
	exists := pipe.Exists(ctx, r.key("ev:"+id))
	fields := pipe.HGetAll(ctx, r.key("dl:"+id))
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	if exists.Val() == 0 {
		return nil, errNotFound
	}
	return parseStates(fields.Val()), nil
}

// parseStates reads a dl:<id> hash; field names are "<sub>:<f>" and subscription names hold no
// ':'.
func parseStates(h map[string]string) map[string]state {
	out := map[string]state{}
	for k, v := range h {
		i := strings.LastIndexByte(k, ':')
		if i < 0 {
			continue
		}
		sub, f := k[:i], k[i+1:]
		s := out[sub]
		n, _ := strconv.ParseInt(v, 10, 64)
		switch f {
		case "a":
			s.attempts = n
		case "r":
			s.round = n
		case "c":
			s.token = n
		case "l":
			s.lastAttempt = n
		case "s":
			s.status = int(n)
		case "e":
			s.err = v
		case "n":
			s.next = n
		case "d":
			s.delivered = n
		case "x":
			s.dead = n
		}
		out[sub] = s
	}
	return out
}

func (r *redisStore) dead(ctx context.Context, n int) ([]deadRef, error) {
	members, err := r.rdb.ZRevRange(ctx, r.key("dead"), 0, int64(n-1)).Result()
	if err != nil || len(members) == 0 {
		return nil, err
	}
	pipe := r.rdb.Pipeline()
	cmds := make([]*redis.MapStringStringCmd, len(members))
	for i, m := range members {
		id, _ := splitMember(m)
		cmds[i] = pipe.HGetAll(ctx, r.key("dl:"+id))
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, err
	}
	out := make([]deadRef, 0, len(members))
	for i, m := range members {
		id, sub := splitMember(m)
		st, ok := parseStates(cmds[i].Val())[sub]
		if !ok || st.dead == 0 { // expired with its event, or redelivered meanwhile
			continue
		}
		out = append(out, deadRef{id: id, sub: sub, st: st})
	}
	return out, nil
}

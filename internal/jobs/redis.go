package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// Redis is the durable [Store]. Every key of a store shares one hash tag,
// {<prefix>}, so that each Lua script below touches a single Redis Cluster
// slot and runs atomically:
//
//	{p}:queue:<conn>   stream of a connection's tasks {job, chunk}; consumer group "workers"
//	{p}:index          sorted set of job ids (all scores 0: ids sort by time)
//	{p}:job:<id>       hash: the job's record and counts (exists once committed)
//	{p}:items:<id>     hash: chunk number → the chunk's items, a JSON array
//	{p}:progress:<id>  hash: o:<c> owner, c:<c> cursor, f:<c> in flight, a:<c> attempts
//	{p}:results:<id>   hash: item index → its result (crm.ItemResult JSON)
//
// Job keys expire retention after the job's last activity; a chunk's items
// are deleted as soon as its last result is recorded.
type Redis struct {
	rdb       redis.UniversalClient
	tag       string
	retention time.Duration
	groups    sync.Map // queues whose consumer group exists
}

var _ Store = (*Redis)(nil)

const group = "workers"

// NewRedis returns a store in rdb under keys {prefix}:... (prefix must not
// contain braces; several deployments or test runs can share one Redis with
// different prefixes). Jobs expire retention after their last activity.
func NewRedis(rdb redis.UniversalClient, prefix string, retention time.Duration) *Redis {
	return &Redis{rdb: rdb, tag: "{" + prefix + "}", retention: retention}
}

func (r *Redis) queue(q string) string     { return r.tag + ":queue:" + q }
func (r *Redis) index() string             { return r.tag + ":index" }
func (r *Redis) meta(id string) string     { return r.tag + ":job:" + id }
func (r *Redis) items(id string) string    { return r.tag + ":items:" + id }
func (r *Redis) progress(id string) string { return r.tag + ":progress:" + id }
func (r *Redis) results(id string) string  { return r.tag + ":results:" + id }
func (r *Redis) jobKeys(id string) []string {
	return []string{r.meta(id), r.progress(id), r.results(id), r.items(id)}
}

// luaNow is the Redis server's clock in milliseconds: every replica stamps
// jobs with the same clock.
const luaNow = `
local function now_ms()
  local t = redis.call('TIME')
  return string.format('%.0f', tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
local function expire_all(ms)
  for i = 1, #KEYS do redis.call('PEXPIRE', KEYS[i], ms) end
end
`

// beginLua: KEYS meta, progress, results, items; ARGV chunk, owner.
// Returns {-1} (no job), {0} (chunk done) or
// {1, cursor, inflight, attempts, items, meta...}.
var beginLua = redis.NewScript(luaNow + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local c = ARGV[1]
local m = redis.call('HMGET', KEYS[1], 'total', 'chunk_size', 'started_at')
local len = math.min(tonumber(m[2]), tonumber(m[1]) - tonumber(c) * tonumber(m[2]))
local cursor = tonumber(redis.call('HGET', KEYS[2], 'c:' .. c) or '0')
if cursor >= len then return {0} end
local inflight = tonumber(redis.call('HGET', KEYS[2], 'f:' .. c) or '0')
local attempts = redis.call('HINCRBY', KEYS[2], 'a:' .. c, 1)
redis.call('HSET', KEYS[2], 'o:' .. c, ARGV[2])
if not m[3] then redis.call('HSET', KEYS[1], 'started_at', now_ms()) end
local items = redis.call('HGET', KEYS[4], c) or ''
return {1, cursor, inflight, attempts, items, redis.call('HGETALL', KEYS[1])}
`)

// markLua: KEYS meta, progress; ARGV chunk, owner, from, n.
var markLua = redis.NewScript(`
local c = ARGV[1]
if redis.call('HGET', KEYS[2], 'o:' .. c) ~= ARGV[2] then return -1 end
if tonumber(redis.call('HGET', KEYS[2], 'c:' .. c) or '0') ~= tonumber(ARGV[3]) then return -1 end
if redis.call('HGET', KEYS[1], 'cancelled') == '1' then return -2 end
redis.call('HSET', KEYS[2], 'f:' .. c, ARGV[4])
return 1
`)

// commitLua: KEYS meta, progress, results, items; ARGV chunk, owner, from,
// chunk length, retention ms, then the counts created, updated, accepted,
// failed, uncertain, then index/result pairs. Returns {-1} (lost) or
// {1, cancelled, finished}.
var commitLua = redis.NewScript(luaNow + `
local c = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return {-2} end
if redis.call('HGET', KEYS[2], 'o:' .. c) ~= ARGV[2] then return {-1} end
local from = tonumber(ARGV[3])
if tonumber(redis.call('HGET', KEYS[2], 'c:' .. c) or '0') ~= from then return {-1} end
local n = (#ARGV - 10) / 2
local i = 11
while i <= #ARGV do -- in slices: unpack has a limit
  local j = math.min(i + 999, #ARGV)
  redis.call('HSET', KEYS[3], unpack(ARGV, i, j))
  i = j + 1
end
redis.call('HSET', KEYS[2], 'c:' .. c, from + n, 'f:' .. c, 0)
if from + n >= tonumber(ARGV[4]) then redis.call('HDEL', KEYS[4], c) end
local names = {'created', 'updated', 'accepted', 'failed', 'uncertain'}
for i = 1, 5 do
  if ARGV[5 + i] ~= '0' then redis.call('HINCRBY', KEYS[1], names[i], ARGV[5 + i]) end
end
local done = redis.call('HINCRBY', KEYS[1], 'done', n)
local m = redis.call('HMGET', KEYS[1], 'total', 'finished_at', 'cancelled')
local finished = 0
if done >= tonumber(m[1]) and not m[2] then
  redis.call('HSET', KEYS[1], 'finished_at', now_ms())
  finished = 1
end
expire_all(tonumber(ARGV[5]))
local cancelled = 0
if m[3] == '1' then cancelled = 1 end
return {1, cancelled, finished}
`)

// cancelLua: KEYS meta; ARGV retention ms. Returns {-1} (no job),
// {-2, meta} (finished), {0, meta} (already cancelled) or {1, meta}.
var cancelLua = redis.NewScript(luaNow + `
if redis.call('EXISTS', KEYS[1]) == 0 then return {-1} end
local m = redis.call('HMGET', KEYS[1], 'finished_at', 'cancelled')
if m[2] == '1' then return {0, redis.call('HGETALL', KEYS[1])} end
if m[1] then return {-2, redis.call('HGETALL', KEYS[1])} end
redis.call('HSET', KEYS[1], 'cancelled', '1', 'finished_at', now_ms())
expire_all(tonumber(ARGV[1]))
return {1, redis.call('HGETALL', KEYS[1])}
`)

// cancelChunkLua: KEYS meta, progress, results, items; ARGV chunk, chunk
// length, index of its first item, the result's message. Chunks a worker
// owns are left to it.
var cancelChunkLua = redis.NewScript(`
local c = ARGV[1]
if redis.call('EXISTS', KEYS[1]) == 0 then return -1 end
if redis.call('HGET', KEYS[2], 'o:' .. c) then return 0 end
local len, base = tonumber(ARGV[2]), tonumber(ARGV[3])
local cursor = tonumber(redis.call('HGET', KEYS[2], 'c:' .. c) or '0')
for i = cursor, len - 1 do
  local idx = string.format('%d', base + i)
  redis.call('HSET', KEYS[3], idx, '{"index":' .. idx .. ',"status":"failed","error":{"code":"cancelled","message":"' ..
    ARGV[4] .. '","outcome":"not_applied"}}')
end
redis.call('HSET', KEYS[2], 'o:' .. c, 'cancel', 'c:' .. c, len)
redis.call('HDEL', KEYS[4], c)
redis.call('HINCRBY', KEYS[1], 'failed', len - cursor)
redis.call('HINCRBY', KEYS[1], 'done', len - cursor)
return 1
`)

// touchLua: KEYS progress, queue; ARGV chunk, owner, consumer, entry id.
// Resets the entry's idle time while owner still owns the chunk.
var touchLua = redis.NewScript(`
if redis.call('HGET', KEYS[1], 'o:' .. ARGV[1]) ~= ARGV[2] then return 0 end
redis.call('XCLAIM', KEYS[2], '` + group + `', ARGV[3], 0, ARGV[4], 'JUSTID')
return 1
`)

// ackLua: KEYS queue; ARGV entry id.
var ackLua = redis.NewScript(`
redis.call('XACK', KEYS[1], '` + group + `', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
return 1
`)

// requeueLua: KEYS queue; ARGV entry id, job, chunk. Acknowledges the
// entry and queues the chunk again, unless the entry left the pending list.
var requeueLua = redis.NewScript(`
local p = redis.call('XPENDING', KEYS[1], '` + group + `', ARGV[1], ARGV[1], 1)
if #p == 0 then return 0 end
redis.call('XACK', KEYS[1], '` + group + `', ARGV[1])
redis.call('XDEL', KEYS[1], ARGV[1])
redis.call('XADD', KEYS[1], '*', 'job', ARGV[2], 'chunk', ARGV[3])
return 1
`)

// redisUpload writes a job's chunks in pipelined batches as they arrive.
type redisUpload struct {
	r     *Redis
	id    string
	pipe  redis.Pipeliner
	bytes int
}

// flushBytes is how much item data an upload buffers before sending it.
const flushBytes = 512 << 10

// NewUpload implements [Store].
func (r *Redis) NewUpload(id string) Upload {
	return &redisUpload{r: r, id: id, pipe: r.rdb.Pipeline()}
}

func (u *redisUpload) Put(ctx context.Context, c int, items []json.RawMessage) error {
	b := joinItems(items)
	u.pipe.HSet(ctx, u.r.items(u.id), strconv.Itoa(c), b)
	u.bytes += len(b)
	if u.bytes >= flushBytes {
		return u.flush(ctx)
	}
	return nil
}

func (u *redisUpload) flush(ctx context.Context) error {
	if u.bytes == 0 {
		return nil
	}
	// An upload whose replica dies before Commit or Abort expires.
	u.pipe.PExpire(ctx, u.r.items(u.id), uploadTTL)
	_, err := u.pipe.Exec(ctx)
	u.bytes = 0
	if err != nil {
		return fmt.Errorf("jobs: store items: %w", err)
	}
	return nil
}

func (u *redisUpload) Commit(ctx context.Context, job *Job) error {
	if err := u.flush(ctx); err != nil {
		return err
	}
	now, err := u.r.rdb.Time(ctx).Result()
	if err != nil {
		return fmt.Errorf("jobs: read redis time: %w", err)
	}
	job.ID, job.CreatedAt = u.id, now.Truncate(time.Millisecond)
	r := u.r
	_, err = r.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.HSet(ctx, r.meta(u.id), encodeJob(job))
		for _, k := range r.jobKeys(u.id) {
			p.PExpire(ctx, k, r.retention)
		}
		p.ZAdd(ctx, r.index(), redis.Z{Member: u.id})
		// Forget index entries far older than any live job could be.
		p.ZRemRangeByLex(ctx, r.index(), "-", "("+fmt.Sprintf("%012x", now.Add(-2*r.retention).UnixMilli()))
		for c := range job.Chunks() {
			p.XAdd(ctx, &redis.XAddArgs{Stream: r.queue(job.Connection), Values: []any{"job", u.id, "chunk", c}})
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("jobs: commit job: %w", err)
	}
	return nil
}

func (u *redisUpload) Abort(ctx context.Context) error {
	u.pipe.Discard()
	return u.r.rdb.Del(ctx, u.r.jobKeys(u.id)...).Err()
}

// Get implements [Store].
func (r *Redis) Get(ctx context.Context, id string) (*Job, error) {
	m, err := r.rdb.HGetAll(ctx, r.meta(id)).Result()
	if err != nil {
		return nil, fmt.Errorf("jobs: read job: %w", err)
	}
	if len(m) == 0 {
		return nil, ErrNotFound
	}
	return decodeJob(m), nil
}

// List implements [Store].
func (r *Redis) List(ctx context.Context, before string, limit int) ([]*Job, error) {
	var out []*Job
	maxID := "+"
	if before != "" {
		maxID = "(" + before
	}
	for len(out) < limit {
		ids, err := r.rdb.ZRevRangeByLex(ctx, r.index(), &redis.ZRangeBy{Max: maxID, Min: "-", Count: int64(limit - len(out))}).Result()
		if err != nil {
			return nil, fmt.Errorf("jobs: list jobs: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		cmds := make([]*redis.MapStringStringCmd, len(ids))
		_, err = r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for i, id := range ids {
				cmds[i] = p.HGetAll(ctx, r.meta(id))
			}
			return nil
		})
		if err != nil {
			return nil, fmt.Errorf("jobs: list jobs: %w", err)
		}
		var gone []any
		for i, cmd := range cmds {
			if m := cmd.Val(); len(m) > 0 {
				out = append(out, decodeJob(m))
			} else {
				gone = append(gone, ids[i])
			}
		}
		if len(gone) > 0 { // expired: forget them
			r.rdb.ZRem(ctx, r.index(), gone...)
		}
		maxID = "(" + ids[len(ids)-1]
	}
	return out, nil
}

// Results implements [Store].
func (r *Redis) Results(ctx context.Context, id string, from, n int) ([][]byte, error) {
	fields := make([]string, n)
	for k := range n {
		fields[k] = strconv.Itoa(from + k)
	}
	vals, err := r.rdb.HMGet(ctx, r.results(id), fields...).Result()
	if err != nil {
		return nil, fmt.Errorf("jobs: read results: %w", err)
	}
	out := make([][]byte, n)
	for k, v := range vals {
		if s, ok := v.(string); ok {
			out[k] = []byte(s)
		}
	}
	return out, nil
}

// Cancel implements [Store].
func (r *Redis) Cancel(ctx context.Context, id string) (*Job, bool, error) {
	res, err := cancelLua.Run(ctx, r.rdb, r.jobKeys(id), r.retention.Milliseconds()).Slice()
	if err != nil {
		return nil, false, fmt.Errorf("jobs: cancel: %w", err)
	}
	status := res[0].(int64)
	if status == -1 {
		return nil, false, ErrNotFound
	}
	job := decodeJob(pairs(res[1]))
	switch status {
	case -2:
		return job, false, ErrFinished
	case 0:
		return job, false, nil
	}
	return job, true, nil
}

// CancelChunks implements [Store].
func (r *Redis) CancelChunks(ctx context.Context, job *Job, chunks []int) error {
	const batch = 200
	for start := 0; start < len(chunks); start += batch {
		_, err := r.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
			for _, c := range chunks[start:min(start+batch, len(chunks))] {
				cancelChunkLua.Run(ctx, p, r.jobKeys(job.ID), c, job.ChunkLen(c), c*job.ChunkSize, cancelledMessage)
			}
			return nil
		})
		if err != nil && !isNoScript(err) {
			return fmt.Errorf("jobs: cancel chunks: %w", err)
		}
		if isNoScript(err) { // the script was not loaded yet: once more, one by one
			for _, c := range chunks[start:min(start+batch, len(chunks))] {
				if err := cancelChunkLua.Run(ctx, r.rdb, r.jobKeys(job.ID), c, job.ChunkLen(c), c*job.ChunkSize, cancelledMessage).Err(); err != nil {
					return fmt.Errorf("jobs: cancel chunks: %w", err)
				}
			}
		}
	}
	return nil
}

func isNoScript(err error) bool { return err != nil && strings.HasPrefix(err.Error(), "NOSCRIPT") }

// ensureGroup creates the queue's consumer group once the queue exists
// (reading from the start of the stream, so tasks queued before are
// delivered too); exists is false while no job was ever queued for it, so
// idle replicas leave no keys behind.
func (r *Redis) ensureGroup(ctx context.Context, q string) (exists bool, err error) {
	if _, ok := r.groups.Load(q); ok {
		return true, nil
	}
	err = r.rdb.XGroupCreate(ctx, r.queue(q), group, "0").Err()
	switch {
	case err != nil && strings.Contains(err.Error(), "requires the key to exist"):
		return false, nil
	case err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP"):
		return false, fmt.Errorf("jobs: create consumer group: %w", err)
	}
	r.groups.Store(q, true)
	return true, nil
}

// Next implements [Store].
func (r *Redis) Next(ctx context.Context, q, consumer string, block time.Duration) (*Task, error) {
	exists, err := r.ensureGroup(ctx, q)
	if err != nil {
		return nil, err
	}
	if !exists { // nothing was ever queued here: wait as XREADGROUP would
		t := time.NewTimer(block)
		defer t.Stop()
		select {
		case <-t.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	streams, err := r.rdb.XReadGroup(ctx, &redis.XReadGroupArgs{Group: group, Consumer: consumer,
		Streams: []string{r.queue(q), ">"}, Count: 1, Block: block}).Result()
	switch {
	case errors.Is(err, redis.Nil):
		return nil, nil
	case err != nil && strings.HasPrefix(err.Error(), "NOGROUP"): // the stream was deleted
		r.groups.Delete(q)
		return nil, nil
	case err != nil:
		return nil, fmt.Errorf("jobs: read queue: %w", err)
	}
	for _, s := range streams {
		for _, msg := range s.Messages {
			t := taskOf(q, msg)
			return &t, nil
		}
	}
	return nil, nil
}

func taskOf(q string, msg redis.XMessage) Task {
	job, _ := msg.Values["job"].(string)
	chunk, _ := strconv.Atoi(fmt.Sprint(msg.Values["chunk"]))
	return Task{ID: msg.ID, Queue: q, Job: job, Chunk: chunk}
}

// Reclaim implements [Store].
func (r *Redis) Reclaim(ctx context.Context, q, consumer string, minIdle time.Duration, count int) ([]Task, error) {
	var out []Task
	start := "0-0"
	for len(out) < count {
		msgs, next, err := r.rdb.XAutoClaim(ctx, &redis.XAutoClaimArgs{Stream: r.queue(q), Group: group, Consumer: consumer,
			MinIdle: minIdle, Start: start, Count: int64(count - len(out))}).Result()
		if err != nil {
			if strings.HasPrefix(err.Error(), "NOGROUP") { // no queue, or not read yet: nothing to take over
				r.groups.Delete(q)
				return nil, nil
			}
			return nil, fmt.Errorf("jobs: reclaim: %w", err)
		}
		for _, m := range msgs {
			out = append(out, taskOf(q, m))
		}
		if next == "0-0" || next == "" {
			break
		}
		start = next
	}
	return out, nil
}

// Touch implements [Store].
func (r *Redis) Touch(ctx context.Context, consumer, owner string, t Task) error {
	ok, err := touchLua.Run(ctx, r.rdb, []string{r.progress(t.Job), r.queue(t.Queue)}, t.Chunk, owner, consumer, t.ID).Int()
	if err != nil {
		return fmt.Errorf("jobs: touch: %w", err)
	}
	if ok == 0 {
		return ErrLost
	}
	return nil
}

// Ack implements [Store].
func (r *Redis) Ack(ctx context.Context, t Task) error {
	if err := ackLua.Run(ctx, r.rdb, []string{r.queue(t.Queue)}, t.ID).Err(); err != nil {
		return fmt.Errorf("jobs: ack: %w", err)
	}
	return nil
}

// QueueStats implements [Store]. Acknowledged chunks are deleted from the
// stream, so its length is the depth, and its first entry id carries the
// time the oldest chunk was queued.
func (r *Redis) QueueStats(ctx context.Context, queue string) (int, time.Duration, error) {
	key := r.queue(queue)
	pipe := r.rdb.Pipeline()
	n := pipe.XLen(ctx, key)
	first := pipe.XRangeN(ctx, key, "-", "+", 1)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, redis.Nil) {
		return 0, 0, fmt.Errorf("jobs: queue stats: %w", err)
	}
	var oldest time.Duration
	if msgs := first.Val(); len(msgs) > 0 {
		if ms, _, ok := strings.Cut(msgs[0].ID, "-"); ok {
			if t, err := strconv.ParseInt(ms, 10, 64); err == nil {
				oldest = max(time.Since(time.UnixMilli(t)), 0)
			}
		}
	}
	return int(n.Val()), oldest, nil
}

// Requeue implements [Store].
func (r *Redis) Requeue(ctx context.Context, t Task) error {
	if err := requeueLua.Run(ctx, r.rdb, []string{r.queue(t.Queue)}, t.ID, t.Job, t.Chunk).Err(); err != nil {
		return fmt.Errorf("jobs: requeue: %w", err)
	}
	return nil
}

// Begin implements [Store].
func (r *Redis) Begin(ctx context.Context, t Task, owner string) (*Claim, error) {
	res, err := beginLua.Run(ctx, r.rdb, r.jobKeys(t.Job), t.Chunk, owner).Slice()
	if err != nil {
		return nil, fmt.Errorf("jobs: begin chunk: %w", err)
	}
	switch res[0].(int64) {
	case -1:
		return nil, ErrNotFound
	case 0:
		return &Claim{Done: true}, nil
	}
	job := decodeJob(pairs(res[5]))
	items, _ := res[4].(string)
	return &Claim{Job: job, Cursor: int(res[1].(int64)), Inflight: int(res[2].(int64)), Attempts: int(res[3].(int64)),
		Cancelled: job.Cancelled, Items: []byte(items)}, nil
}

// Mark implements [Store].
func (r *Redis) Mark(ctx context.Context, t Task, owner string, from, n int) error {
	res, err := markLua.Run(ctx, r.rdb, r.jobKeys(t.Job)[:2], t.Chunk, owner, from, n).Int()
	switch {
	case err != nil:
		return fmt.Errorf("jobs: mark in flight: %w", err)
	case res == -1:
		return ErrLost
	case res == -2:
		return ErrCancelled
	}
	return nil
}

// Commit implements [Store].
func (r *Redis) Commit(ctx context.Context, t Task, owner string, from, chunkLen int, results []Result) (Committed, error) {
	var counts [5]int
	args := make([]any, 0, 10+2*len(results))
	for _, res := range results {
		counts[res.Kind]++
	}
	args = append(args, t.Chunk, owner, from, chunkLen, r.retention.Milliseconds(),
		counts[KindCreated], counts[KindUpdated], counts[KindAccepted], counts[KindFailed], counts[KindUncertain])
	for _, res := range results {
		args = append(args, res.Index, res.JSON)
	}
	out, err := commitLua.Run(ctx, r.rdb, r.jobKeys(t.Job), args...).Int64Slice()
	switch {
	case err != nil:
		return Committed{}, fmt.Errorf("jobs: commit results: %w", err)
	case out[0] == -2:
		return Committed{}, ErrNotFound
	case out[0] == -1:
		return Committed{}, ErrLost
	}
	return Committed{Cancelled: out[1] == 1, Finished: out[2] == 1}, nil
}

// pairs turns an HGETALL reply inside a script's answer into a map.
func pairs(v any) map[string]string {
	list, _ := v.([]any)
	m := make(map[string]string, len(list)/2)
	for i := 0; i+1 < len(list); i += 2 {
		k, _ := list[i].(string)
		val, _ := list[i+1].(string)
		m[k] = val
	}
	return m
}

// encodeJob is the job's record as hash fields (counts start at 0 and are
// then only incremented by scripts).
func encodeJob(j *Job) map[string]any {
	return map[string]any{
		"id": j.ID, "connection": j.Connection, "vendor": j.Vendor, "mode": string(j.Mode), "on_conflict": string(j.OnConflict),
		"total": j.Total, "chunk_size": j.ChunkSize, "unit": j.Unit, "created_at": j.CreatedAt.UnixMilli(),
		"created": 0, "updated": 0, "accepted": 0, "failed": 0, "uncertain": 0, "done": 0,
	}
}

func decodeJob(m map[string]string) *Job {
	num := func(k string) int { n, _ := strconv.Atoi(m[k]); return n }
	ts := func(k string) time.Time {
		ms, err := strconv.ParseInt(m[k], 10, 64)
		if err != nil || ms == 0 {
			return time.Time{}
		}
		return time.UnixMilli(ms).UTC()
	}
	return &Job{
		ID: m["id"], Connection: m["connection"], Vendor: m["vendor"], Mode: crm.Mode(m["mode"]), OnConflict: crm.OnConflict(m["on_conflict"]),
		Total: num("total"), ChunkSize: num("chunk_size"), Unit: num("unit"),
		Created: num("created"), Updated: num("updated"), Accepted: num("accepted"), Failed: num("failed"),
		Uncertain: num("uncertain"), Done: num("done"),
		CreatedAt: ts("created_at"), StartedAt: ts("started_at"), FinishedAt: ts("finished_at"), Cancelled: m["cancelled"] == "1",
	}
}

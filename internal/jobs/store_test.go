package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crm-gateway/crm-gateway/internal/redistest"
)

// The store contract, run against Memory and against a real Redis
// (REDIS_URL, default redis://127.0.0.1:6379/0). Each Redis test uses its
// own key prefix and deletes its keys afterwards; nothing is flushed.

// newRedisStore fails the test (never skips it) when Redis is down.
func newRedisStore(t *testing.T, retention time.Duration) (*Redis, redis.UniversalClient, string) {
	t.Helper()
	rdb := redistest.Client(t)
	prefix := fmt.Sprintf("crmgw-test:%s:%s", strings.ReplaceAll(t.Name(), "/", "-"), randomHex(4))
	redistest.DeleteKeys(t, rdb, "{"+prefix+"}*")
	return NewRedis(rdb, prefix, retention), rdb, prefix
}

// forEachStore runs the test against both stores.
func forEachStore(t *testing.T, test func(t *testing.T, s Store)) {
	t.Run("memory", func(t *testing.T) { test(t, NewMemory(time.Hour)) })
	t.Run("redis", func(t *testing.T) {
		s, _, _ := newRedisStore(t, time.Hour)
		test(t, s)
	})
}

// commitJob stores a job of n items in chunks of size and returns it.
func commitJob(t *testing.T, s Store, n, size int) *Job {
	t.Helper()
	ctx := context.Background()
	id := NewID()
	up := s.NewUpload(id)
	var chunk []json.RawMessage
	c := 0
	for i := range n {
		chunk = append(chunk, json.RawMessage(fmt.Sprintf(`{"name":"item %d"}`, i)))
		if len(chunk) == size || i == n-1 {
			if err := up.Put(ctx, c, chunk); err != nil {
				t.Fatal(err)
			}
			chunk, c = nil, c+1
		}
	}
	job := &Job{Connection: "nx", Vendor: "nxcloud", Mode: "upsert", OnConflict: "merge", Total: n, ChunkSize: size, Unit: size}
	if err := up.Commit(ctx, job); err != nil {
		t.Fatal(err)
	}
	if job.ID != id || job.CreatedAt.IsZero() {
		t.Fatalf("committed job %+v", job)
	}
	return job
}

// next takes the next task, failing when none comes.
func next(t *testing.T, s Store, queue, consumer string) Task {
	t.Helper()
	task, err := s.Next(context.Background(), queue, consumer, time.Second)
	if err != nil || task == nil {
		t.Fatalf("Next = %v, %v", task, err)
	}
	return *task
}

func results(from, n int, kind Kind) []Result {
	out := make([]Result, n)
	for k := range n {
		out[k] = Result{Index: from + k, Kind: kind, JSON: []byte(fmt.Sprintf(`{"index":%d,"status":"accepted"}`, from+k))}
	}
	return out
}

func TestStoreJobIsInvisibleUntilCommitted(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		id := NewID()
		up := s.NewUpload(id)
		if err := up.Put(ctx, 0, []json.RawMessage{json.RawMessage(`{"name":"a"}`)}); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get before commit: %v, want ErrNotFound", err)
		}
		if task, _ := s.Next(ctx, "nx", "c1", 50*time.Millisecond); task != nil {
			t.Fatalf("a task before commit: %+v", task)
		}
		if err := up.Abort(ctx); err != nil {
			t.Fatal(err)
		}
		if list, _ := s.List(ctx, "", 10); len(list) != 0 {
			t.Fatalf("aborted job listed: %+v", list)
		}

		job := commitJob(t, s, 25, 10)
		got, err := s.Get(ctx, job.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Total != 25 || got.Chunks() != 3 || got.ChunkLen(2) != 5 || got.State() != StateQueued || got.Pending() != 25 ||
			got.Mode != "upsert" || got.OnConflict != "merge" || got.Connection != "nx" {
			t.Fatalf("job %+v", got)
		}
		for c := range 3 {
			task := next(t, s, "nx", "c1")
			if task.Job != job.ID || task.Chunk != c {
				t.Fatalf("task %d: %+v", c, task)
			}
			claim, err := s.Begin(ctx, task, "o1")
			if err != nil {
				t.Fatal(err)
			}
			var items []json.RawMessage
			if err := json.Unmarshal(claim.Items, &items); err != nil || len(items) != got.ChunkLen(c) {
				t.Fatalf("chunk %d items %s: %v", c, claim.Items, err)
			}
			if string(items[0]) != fmt.Sprintf(`{"name":"item %d"}`, c*10) {
				t.Fatalf("chunk %d starts with %s", c, items[0])
			}
		}
		if got, _ := s.Get(ctx, job.ID); got.State() != StateRunning || got.StartedAt.IsZero() {
			t.Fatalf("after Begin: %+v", got)
		}
	})
}

func TestStoreRecordsResultsAndFinishesOnce(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		job := commitJob(t, s, 15, 10)
		t0, t1 := next(t, s, "nx", "c1"), next(t, s, "nx", "c1")
		if _, err := s.Begin(ctx, t1, "o1"); err != nil {
			t.Fatal(err)
		}
		c, err := s.Commit(ctx, t1, "o1", 0, 5, []Result{
			{Index: 10, Kind: KindCreated, JSON: []byte(`{"index":10}`)}, {Index: 11, Kind: KindUpdated, JSON: []byte(`{"index":11}`)},
			{Index: 12, Kind: KindAccepted, JSON: []byte(`{"index":12}`)}, {Index: 13, Kind: KindFailed, JSON: []byte(`{"index":13}`)},
			{Index: 14, Kind: KindUncertain, JSON: []byte(`{"index":14}`)}})
		if err != nil || c.Finished || c.Cancelled {
			t.Fatalf("commit chunk 1: %+v %v", c, err)
		}
		// Results in input order, nil where pending.
		got, err := s.Results(ctx, job.ID, 8, 5)
		if err != nil {
			t.Fatal(err)
		}
		if got[0] != nil || got[1] != nil || string(got[2]) != `{"index":10}` || string(got[4]) != `{"index":12}` {
			t.Fatalf("results %q", got)
		}
		// Chunk 1 is done: a second delivery finds it so.
		if claim, err := s.Begin(ctx, t1, "o2"); err != nil || !claim.Done {
			t.Fatalf("Begin of a done chunk: %+v %v", claim, err)
		}
		if _, err := s.Begin(ctx, t0, "o1"); err != nil {
			t.Fatal(err)
		}
		if c, err := s.Commit(ctx, t0, "o1", 0, 10, results(0, 4, KindAccepted)); err != nil || c.Finished {
			t.Fatalf("partial commit: %+v %v", c, err)
		}
		// The cursor moved: committing from 0 again is refused.
		if _, err := s.Commit(ctx, t0, "o1", 0, 10, results(0, 4, KindAccepted)); !errors.Is(err, ErrLost) {
			t.Fatalf("stale commit: %v, want ErrLost", err)
		}
		c, err = s.Commit(ctx, t0, "o1", 4, 10, results(4, 6, KindAccepted))
		if err != nil || !c.Finished {
			t.Fatalf("last commit: %+v %v, want Finished", c, err)
		}
		j, _ := s.Get(ctx, job.ID)
		if j.Created != 1 || j.Updated != 1 || j.Accepted != 11 || j.Failed != 1 || j.Uncertain != 1 || j.Done != 15 ||
			j.State() != StatePartiallyFailed || j.FinishedAt.IsZero() {
			t.Fatalf("finished job %+v", j)
		}
		if _, _, err := s.Cancel(ctx, job.ID); !errors.Is(err, ErrFinished) {
			t.Fatalf("cancel a finished job: %v, want ErrFinished", err)
		}
		for _, task := range []Task{t0, t1} {
			if err := s.Ack(ctx, task); err != nil {
				t.Fatal(err)
			}
		}
		if tasks, _ := s.Reclaim(ctx, "nx", "c2", 0, 10); len(tasks) != 0 {
			t.Fatalf("acknowledged tasks reclaimed: %+v", tasks)
		}
	})
}

// TestStoreFencesOwners: once another worker took a chunk, the old owner
// can neither mark nor commit it, and the new owner learns what the old one
// may have sent.
func TestStoreFencesOwners(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		commitJob(t, s, 10, 10)
		task := next(t, s, "nx", "c1")
		if _, err := s.Begin(ctx, task, "old"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Commit(ctx, task, "old", 0, 10, results(0, 3, KindAccepted)); err != nil {
			t.Fatal(err)
		}
		if err := s.Mark(ctx, task, "old", 3, 7); err != nil {
			t.Fatal(err)
		}
		// "old" dies here, with 7 items possibly sent.
		claim, err := s.Begin(ctx, task, "new")
		if err != nil {
			t.Fatal(err)
		}
		if claim.Cursor != 3 || claim.Inflight != 7 || claim.Attempts != 2 || claim.Done {
			t.Fatalf("claim after takeover %+v", claim)
		}
		if err := s.Mark(ctx, task, "old", 3, 7); !errors.Is(err, ErrLost) {
			t.Fatalf("old owner's Mark: %v, want ErrLost", err)
		}
		if _, err := s.Commit(ctx, task, "old", 3, 10, results(3, 7, KindAccepted)); !errors.Is(err, ErrLost) {
			t.Fatalf("old owner's Commit: %v, want ErrLost", err)
		}
		if err := s.Touch(ctx, "c1", "old", task); !errors.Is(err, ErrLost) {
			t.Fatalf("old owner's Touch: %v, want ErrLost", err)
		}
		c, err := s.Commit(ctx, task, "new", 3, 10, results(3, 7, KindUncertain))
		if err != nil || !c.Finished {
			t.Fatalf("new owner's commit %+v %v", c, err)
		}
		// A commit clears the in-flight mark.
		if claim, _ := s.Begin(ctx, task, "third"); !claim.Done {
			t.Fatalf("claim %+v", claim)
		}
	})
}

// TestStoreReclaimsUntouchedTasks: a task whose consumer stops touching it
// goes to another consumer after the visibility timeout; touching keeps it.
func TestStoreReclaimsUntouchedTasks(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		commitJob(t, s, 20, 10)
		a, b := next(t, s, "nx", "alive"), next(t, s, "nx", "dead")
		for _, task := range []Task{a, b} {
			if _, err := s.Begin(ctx, task, "owner-"+task.ID); err != nil {
				t.Fatal(err)
			}
		}
		const visibility = 600 * time.Millisecond
		if tasks, _ := s.Reclaim(ctx, "nx", "rescuer", visibility, 10); len(tasks) != 0 {
			t.Fatalf("fresh tasks reclaimed: %+v", tasks)
		}
		for start := time.Now(); time.Since(start) < visibility+100*time.Millisecond; {
			time.Sleep(50 * time.Millisecond)
			if err := s.Touch(ctx, "alive", "owner-"+a.ID, a); err != nil {
				t.Fatal(err)
			}
		}
		tasks, err := s.Reclaim(ctx, "nx", "rescuer", visibility, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(tasks) != 1 || tasks[0].ID != b.ID || tasks[0].Chunk != b.Chunk || tasks[0].Job != b.Job {
			t.Fatalf("reclaimed %+v, want only %+v", tasks, b)
		}
		// Requeue hands a task back at once.
		if err := s.Requeue(ctx, tasks[0]); err != nil {
			t.Fatal(err)
		}
		again := next(t, s, "nx", "other")
		if again.Job != b.Job || again.Chunk != b.Chunk {
			t.Fatalf("requeued task came back as %+v", again)
		}
	})
}

func TestStoreCancel(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		job := commitJob(t, s, 30, 10)
		owned := next(t, s, "nx", "c1")
		claim, err := s.Begin(ctx, owned, "worker")
		if err != nil || claim.Cancelled {
			t.Fatalf("begin %+v %v", claim, err)
		}
		j, changed, err := s.Cancel(ctx, job.ID)
		if err != nil || !changed || j.State() != StateCancelled || j.FinishedAt.IsZero() {
			t.Fatalf("Cancel = %+v %v %v", j, changed, err)
		}
		if _, changed, err := s.Cancel(ctx, job.ID); err != nil || changed {
			t.Fatalf("second Cancel changed=%v err=%v", changed, err)
		}
		if err := s.CancelChunks(ctx, j, []int{0, 1, 2}); err != nil {
			t.Fatal(err)
		}
		// The worker's chunk was left to it; it may send nothing more.
		if err := s.Mark(ctx, owned, "worker", 0, 10); !errors.Is(err, ErrCancelled) {
			t.Fatalf("Mark after cancel: %v, want ErrCancelled", err)
		}
		c, err := s.Commit(ctx, owned, "worker", 0, 10, results(0, 10, KindFailed))
		if err != nil || !c.Cancelled || c.Finished {
			t.Fatalf("commit after cancel %+v %v (a cancelled job is not announced twice)", c, err)
		}
		j, _ = s.Get(ctx, job.ID)
		if j.Done != 30 || j.Failed != 30 || j.Pending() != 0 || j.State() != StateCancelled {
			t.Fatalf("cancelled job %+v", j)
		}
		res, _ := s.Results(ctx, job.ID, 10, 20)
		for k, r := range res {
			if string(r) != string(cancelledResult(10+k)) {
				t.Fatalf("result %d = %s, want %s", 10+k, r, cancelledResult(10+k))
			}
		}
		var v map[string]any
		if err := json.Unmarshal(res[0], &v); err != nil {
			t.Fatalf("cancelled result is not JSON: %v", err)
		}
		// Delivered later, the cancelled chunks are found done.
		for range 2 {
			task := next(t, s, "nx", "c1")
			if claim, err := s.Begin(ctx, task, "late"); err != nil || !claim.Done {
				t.Fatalf("late claim %+v %v", claim, err)
			}
		}
	})
}

func TestStoreListsNewestFirst(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		var ids []string
		for range 5 {
			ids = append(ids, commitJob(t, s, 1, 10).ID)
			time.Sleep(2 * time.Millisecond) // ids carry milliseconds
		}
		slices.Reverse(ids)
		var got []string
		before := ""
		for {
			page, err := s.List(ctx, before, 2)
			if err != nil {
				t.Fatal(err)
			}
			if len(page) == 0 {
				break
			}
			for _, j := range page {
				got = append(got, j.ID)
			}
			before = page[len(page)-1].ID
		}
		if !slices.Equal(got, ids) {
			t.Fatalf("listed %v, want %v", got, ids)
		}
	})
}

// TestRedisStoreExpiresJobs: every key of a job lives retention after the
// job's last activity; a finished chunk's items are deleted at once.
func TestRedisStoreExpiresJobs(t *testing.T) {
	s, rdb, _ := newRedisStore(t, 90*time.Minute)
	ctx := context.Background()
	job := commitJob(t, s, 20, 10)
	task := next(t, s, "nx", "c1")
	if _, err := s.Begin(ctx, task, "o"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Commit(ctx, task, "o", 0, 10, results(0, 10, KindAccepted)); err != nil {
		t.Fatal(err)
	}
	for _, k := range s.jobKeys(job.ID) {
		ttl := rdb.PTTL(ctx, k).Val()
		if ttl < 89*time.Minute || ttl > 90*time.Minute {
			t.Errorf("%s expires in %s, want about 90m", k, ttl)
		}
	}
	if n := rdb.HLen(ctx, s.items(job.ID)).Val(); n != 1 {
		t.Errorf("%d chunks of items kept, want 1 (the finished chunk's are deleted)", n)
	}
	// An expired job's index entry is dropped when listed.
	rdb.Del(ctx, s.jobKeys(job.ID)...)
	if list, _ := s.List(ctx, "", 10); len(list) != 0 {
		t.Fatalf("expired job listed: %+v", list)
	}
	if n := rdb.ZCard(ctx, s.index()).Val(); n != 0 {
		t.Fatalf("index holds %d entries after listing, want 0", n)
	}
	if _, err := s.Begin(ctx, task, "o2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Begin of an expired job: %v, want ErrNotFound", err)
	}
}

// TestMemoryStoreExpiresJobs uses a fake clock.
func TestMemoryStoreExpiresJobs(t *testing.T) {
	m := NewMemory(time.Hour)
	now := time.Now()
	m.now = func() time.Time { return now }
	job := commitJob(t, m, 5, 10)
	now = now.Add(59 * time.Minute)
	if _, err := m.Get(context.Background(), job.ID); err != nil {
		t.Fatalf("job gone before its retention: %v", err)
	}
	now = now.Add(2 * time.Minute)
	if _, err := m.Get(context.Background(), job.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("job kept past its retention: %v", err)
	}
}

// TestRedisStoreKeysShareOneSlot: every key of a store carries the same
// hash tag, so the scripts work on Redis Cluster.
func TestRedisStoreKeysShareOneSlot(t *testing.T) {
	s := NewRedis(nil, "gw", time.Hour)
	keys := append(s.jobKeys("abc"), s.queue("nx"), s.index())
	for _, k := range keys {
		if !strings.HasPrefix(k, "{gw}:") {
			t.Errorf("key %q does not start with the hash tag {gw}", k)
		}
	}
}

// TestStoreCommitsLargeUnits: a unit of thousands of items (Zenvia has no
// documented batch maximum) is recorded in one commit.
func TestStoreCommitsLargeUnits(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		job := commitJob(t, s, 5000, 5000)
		task := next(t, s, "nx", "c1")
		if _, err := s.Begin(ctx, task, "o"); err != nil {
			t.Fatal(err)
		}
		c, err := s.Commit(ctx, task, "o", 0, 5000, results(0, 5000, KindAccepted))
		if err != nil || !c.Finished {
			t.Fatalf("commit %+v %v", c, err)
		}
		res, _ := s.Results(ctx, job.ID, 4998, 2)
		if string(res[1]) != `{"index":4999,"status":"accepted"}` {
			t.Fatalf("last result %s", res[1])
		}
	})
}

func TestStoreQueueStats(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		if depth, oldest, err := s.QueueStats(ctx, "nx"); err != nil || depth != 0 || oldest != 0 {
			t.Fatalf("empty queue: %d %s %v", depth, oldest, err)
		}
		commitJob(t, s, 25, 10) // three chunks
		time.Sleep(20 * time.Millisecond)
		depth, oldest, err := s.QueueStats(ctx, "nx")
		if err != nil || depth != 3 || oldest < 10*time.Millisecond || oldest > time.Minute {
			t.Fatalf("queued: depth %d oldest %s %v", depth, oldest, err)
		}
		task := next(t, s, "nx", "w1") // taken but not finished: still counted
		if depth, _, _ := s.QueueStats(ctx, "nx"); depth != 3 {
			t.Fatalf("after a claim: depth %d, want 3", depth)
		}
		if err := s.Ack(ctx, task); err != nil {
			t.Fatal(err)
		}
		if depth, _, _ := s.QueueStats(ctx, "nx"); depth != 2 {
			t.Fatalf("after an ack: depth %d, want 2", depth)
		}
	})
}

package jobs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
)

// maxAttempts is how many times a chunk is claimed before its remaining
// items are failed (a chunk that keeps killing its workers).
const maxAttempts = 10

// errStopped: the replica is shutting down; the chunk goes back to the queue.
var errStopped = errors.New("jobs: worker stopped")

// Start runs the replica's workers and its reclaimer until Stop.
func (s *Service) Start() {
	s.startOnce.Do(func() {
		ctx, cancel := context.WithCancel(context.Background())
		s.hardStop = cancel
		// Idle workers waiting on the queue stop at once; a task handed out
		// just then stays pending and is reclaimed after the visibility
		// timeout.
		fetch, cancelFetch := context.WithCancel(ctx)
		s.stopFetch = cancelFetch
		// Each connection has its own queue and workers: a worker waiting
		// for one vendor's rate budget never holds up another vendor's jobs.
		conns := s.gw.Connections()
		for _, conn := range conns {
			q := &queue{name: conn.Name}
			for range s.opts.Workers {
				s.wg.Add(1)
				go s.worker(ctx, fetch, q)
			}
		}
		s.log.Info("job workers started", zap.Int("workers_per_connection", s.opts.Workers), zap.Int("connections", len(conns)),
			zap.String("consumer", s.opts.Consumer), zap.Duration("visibility_timeout", s.opts.Visibility))
	})
}

// Stop stops taking chunks and waits for the chunks in progress to finish.
// When ctx ends first, their vendor calls are abandoned (a request already
// on its way leaves its items uncertain) and they go back to the queue.
func (s *Service) Stop(ctx context.Context) error {
	if s.hardStop == nil {
		return nil
	}
	select {
	case <-s.stopping:
		return nil
	default:
		close(s.stopping)
		s.stopFetch()
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	var err error
	select {
	case <-done:
	case <-ctx.Done():
		s.hardStop()
		<-done
		err = ctx.Err()
	}
	s.hardStop()
	s.log.Info("job workers stopped")
	return err
}

func (s *Service) stopped() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// queue is one connection's queue as this replica's workers see it.
type queue struct {
	name string
	mu   sync.Mutex
	// reclaimedAt is when a worker last looked for tasks to take over.
	reclaimedAt time.Time
}

// reclaimDue reports whether it is this caller's turn to look for tasks of
// dead replicas: one worker of the queue does, every half visibility timeout.
func (q *queue) reclaimDue(every time.Duration) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if time.Since(q.reclaimedAt) < every {
		return false
	}
	q.reclaimedAt = time.Now()
	return true
}

// worker processes the tasks of queue q until the service stops. A free
// worker first takes over one task of a replica that stopped touching it,
// when it is time to look, then waits for a new one. Reclaiming only as many
// tasks as there are free workers keeps reclaimed tasks from waiting, and
// going idle, in this replica.
func (s *Service) worker(ctx, fetch context.Context, q *queue) {
	defer s.wg.Done()
	backoff := 100 * time.Millisecond
	block := min(time.Second, max(s.opts.Visibility/2, 10*time.Millisecond))
	for !s.stopped() {
		if q.reclaimDue(max(s.opts.Visibility/2, 10*time.Millisecond)) {
			tasks, err := s.store.Reclaim(ctx, q.name, s.opts.Consumer, s.opts.Visibility, 1)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("job reclaim failed", zap.String("connection", q.name), zap.Error(err))
			}
			if len(tasks) > 0 {
				t := tasks[0]
				s.log.Info("job chunk reclaimed from a stopped worker", zap.String("job", t.Job), zap.Int("chunk", t.Chunk))
				q.mu.Lock()
				q.reclaimedAt = time.Time{} // there may be more: the next free worker looks again
				q.mu.Unlock()
				s.process(ctx, t)
				continue
			}
		}
		t, err := s.store.Next(fetch, q.name, s.opts.Consumer, block)
		if err != nil {
			if fetch.Err() == nil {
				s.log.Warn("job queue unavailable", zap.String("connection", q.name), zap.Error(err))
				s.pause(backoff)
				backoff = min(2*backoff, 5*time.Second)
			}
			continue
		}
		backoff = 100 * time.Millisecond
		if t != nil {
			s.process(ctx, *t)
		}
	}
}

func (s *Service) pause(d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.stopping:
	}
}

// bg is a context for bookkeeping that must happen even while stopping.
func bg(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
}

func (s *Service) requeue(t Task) {
	ctx, cancel := bg(context.Background())
	defer cancel()
	if err := s.store.Requeue(ctx, t); err != nil {
		s.log.Warn("job chunk not requeued; it is reclaimed after the visibility timeout", zap.String("job", t.Job), zap.Int("chunk", t.Chunk), zap.Error(err))
	}
}

func (s *Service) ack(t Task) {
	ctx, cancel := bg(context.Background())
	defer cancel()
	if err := s.store.Ack(ctx, t); err != nil {
		s.log.Warn("job chunk not acknowledged; it is reclaimed and found done", zap.String("job", t.Job), zap.Int("chunk", t.Chunk), zap.Error(err))
	}
}

// process works on one task and settles it with the queue.
func (s *Service) process(ctx context.Context, t Task) {
	owner := s.opts.Consumer + "/" + randomHex(6)
	defer func() {
		if r := recover(); r != nil {
			s.log.Error("panic processing a job chunk; it is reclaimed", zap.String("job", t.Job), zap.Int("chunk", t.Chunk),
				zap.Any("panic", r), zap.ByteString("stack", debug.Stack()))
		}
	}()
	bctx, cancel := bg(ctx)
	claim, err := s.store.Begin(bctx, t, owner)
	cancel()
	switch {
	case errors.Is(err, ErrNotFound): // expired or deleted
		s.ack(t)
		return
	case err != nil:
		s.log.Warn("job chunk not started; it is reclaimed", zap.String("job", t.Job), zap.Int("chunk", t.Chunk), zap.Error(err))
		return
	case claim.Done:
		s.ack(t)
		return
	}
	hbCtx, stopHeartbeat := context.WithCancel(ctx)
	var hb sync.WaitGroup
	hb.Add(1)
	go func() { defer hb.Done(); s.heartbeat(hbCtx, t, owner) }()
	err = s.work(ctx, t, owner, claim)
	stopHeartbeat()
	hb.Wait()
	switch {
	case err == nil:
		s.ack(t)
	case errors.Is(err, errStopped):
		s.requeue(t)
	case errors.Is(err, ErrLost):
		s.log.Info("job chunk taken over by another worker", zap.String("job", t.Job), zap.Int("chunk", t.Chunk))
	case errors.Is(err, ErrNotFound):
		s.ack(t)
	default:
		s.log.Warn("job chunk interrupted; it is reclaimed", zap.String("job", t.Job), zap.Int("chunk", t.Chunk), zap.Error(err))
	}
}

// heartbeat keeps the task from being reclaimed while it is worked on.
func (s *Service) heartbeat(ctx context.Context, t Task, owner string) {
	tick := time.NewTicker(max(s.opts.Visibility/3, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		tctx, cancel := bg(ctx)
		err := s.store.Touch(tctx, s.opts.Consumer, owner, t)
		cancel()
		if errors.Is(err, ErrLost) || errors.Is(err, ErrNotFound) {
			return
		}
		if err != nil {
			s.log.Warn("job chunk heartbeat failed", zap.String("job", t.Job), zap.Int("chunk", t.Chunk), zap.Error(err))
		}
	}
}

// work writes the chunk's remaining units and records their results.
func (s *Service) work(ctx context.Context, t Task, owner string, claim *Claim) error {
	job := claim.Job
	chunkLen := job.ChunkLen(t.Chunk)
	base := t.Chunk * job.ChunkSize
	cursor := claim.Cursor
	commit := func(results []Result) (Committed, error) {
		cctx, cancel := bg(ctx)
		defer cancel()
		c, err := s.store.Commit(cctx, t, owner, cursor, chunkLen, results)
		if err != nil {
			return c, err
		}
		cursor += len(results)
		if c.Finished {
			if j, err := s.store.Get(cctx, job.ID); err == nil {
				job = j
			}
			s.log.Info("job finished", zap.String("job", job.ID), zap.String("state", string(job.State())),
				zap.Int("items", job.Total), zap.Int("failed", job.Failed), zap.Int("uncertain", job.Uncertain))
			s.completed(cctx, job)
		}
		return c, nil
	}
	failRest := func(err error) error {
		results := make([]Result, 0, chunkLen-cursor)
		for i := cursor; i < chunkLen; i++ {
			results = append(results, encodeResult(crm.Failed(base+i, err)))
		}
		_, cerr := commit(results)
		return cerr
	}

	// A unit the previous owner may have sent: never again.
	if claim.Inflight > 0 {
		n := min(claim.Inflight, chunkLen-cursor)
		results := make([]Result, n)
		for k := range n {
			results[k] = uncertainResult(base+cursor+k, job.Vendor)
		}
		s.log.Warn("job items in flight when their worker stopped are uncertain", zap.String("job", job.ID),
			zap.Int("chunk", t.Chunk), zap.Int("items", n))
		c, err := commit(results)
		if err != nil {
			return err
		}
		claim.Cancelled = claim.Cancelled || c.Cancelled
	}
	if claim.Attempts > maxAttempts && cursor < chunkLen {
		return failRest(&crm.Error{Code: crm.EInternal, Outcome: crm.OutcomeNotApplied,
			Message: fmt.Sprintf("the chunk was abandoned after %d attempts; these items were not sent", maxAttempts)})
	}
	var items []json.RawMessage
	if cursor < chunkLen {
		if err := json.Unmarshal(claim.Items, &items); err != nil || len(items) != chunkLen {
			return failRest(&crm.Error{Code: crm.EInternal, Outcome: crm.OutcomeNotApplied, Message: "the job's stored items are unreadable; not sent",
				Err: fmt.Errorf("chunk %d: %d items, want %d: %v", t.Chunk, len(items), chunkLen, err)})
		}
	}
	conn, err := s.gw.Connection(job.Connection)
	if err != nil && cursor < chunkLen {
		return failRest(&crm.Error{Code: crm.ENotFound, Outcome: crm.OutcomeNotApplied,
			Message: fmt.Sprintf("connection %q is no longer configured; not sent", job.Connection)})
	}
	cancelled := claim.Cancelled
	unit := max(job.Unit, 1)
	for cursor < chunkLen {
		if cancelled {
			results := make([]Result, 0, chunkLen-cursor)
			for i := cursor; i < chunkLen; i++ {
				results = append(results, Result{Index: base + i, Kind: KindFailed, JSON: cancelledResult(base + i)})
			}
			_, err := commit(results)
			return err
		}
		if ctx.Err() != nil {
			return errStopped
		}
		// A vendor whose circuit is open is not called: pause, keeping the
		// chunk, instead of failing its items.
		if ok, after := conn.Available(); !ok {
			if cancelled, err = s.pauseFor(ctx, job.ID, after); err != nil {
				return err
			}
			continue
		}
		n := min(unit, chunkLen-cursor)
		results, sent, err := s.writeUnit(ctx, t, owner, job, conn, items[cursor:cursor+n], base+cursor, cursor)
		switch {
		case errors.Is(err, ErrCancelled):
			cancelled = true // nothing of the unit was sent
			continue
		case err != nil:
			return err
		case ctx.Err() != nil && !sent:
			return errStopped // nothing sent: back to the queue as it was
		case ctx.Err() != nil:
			return errStopped // left in flight: the next owner reports the unit uncertain
		}
		if ok, _ := conn.Available(); !ok && !sent {
			continue // the circuit opened before anything went out: pause, then write the unit again
		}
		c, err := commit(results)
		if err != nil {
			return err
		}
		cancelled = c.Cancelled
	}
	return nil
}

// pauseFor waits while a vendor's circuit is open (at most 5 s at a time),
// then reports whether the job was cancelled meanwhile.
func (s *Service) pauseFor(ctx context.Context, id string, d time.Duration) (cancelled bool, err error) {
	timer := time.NewTimer(min(max(d, 100*time.Millisecond), 5*time.Second))
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
		return false, errStopped
	case <-s.stopping:
		return false, errStopped // nothing in flight: back to the queue
	}
	job, err := s.store.Get(ctx, id)
	if err != nil {
		return false, err
	}
	return job.Cancelled, nil
}

// writeUnit sends one unit and returns its results. sent reports whether a
// request may have reached the vendor. The send hook marks the unit in
// flight (fenced by owner) right before its first request goes out, after
// any wait for rate budget, and refuses to send for a cancelled job.
func (s *Service) writeUnit(ctx context.Context, t Task, owner string, job *Job, conn *gateway.Connection,
	raw []json.RawMessage, first, from int) ([]Result, bool, error) {
	results := make([]Result, len(raw))
	batch := crm.Batch{Mode: job.Mode, OnConflict: job.OnConflict}
	var pos []int // pos[k]: unit position of batch.Customers[k]
	for k, item := range raw {
		var w crm.CustomerWrite
		if err := json.Unmarshal(item, &w); err != nil {
			results[k] = encodeResult(crm.Failed(first+k, crm.Invalid("the item cannot be decoded", crm.FieldError{Field: "body", Reason: err.Error()})))
			continue
		}
		batch.Customers = append(batch.Customers, w)
		pos = append(pos, k)
	}
	if len(batch.Customers) == 0 {
		return results, false, nil
	}
	var mu sync.Mutex
	var marked bool
	var hookErr error
	hook := func(hctx context.Context, _ vendorhttp.Request) error {
		mu.Lock()
		defer mu.Unlock()
		if marked || hookErr != nil {
			return hookErr
		}
		mctx, cancel := bg(hctx)
		defer cancel()
		if err := s.store.Mark(mctx, t, owner, from, len(raw)); err != nil {
			hookErr = err
			return err
		}
		marked = true
		return nil
	}
	uctx := vendorhttp.WithSendHook(vendorhttp.WithAsyncWaitBound(ctx, s.opts.UnitWait), hook)
	res, err := conn.WriteBatch(uctx, batch)
	mu.Lock()
	sent, hookErr := marked, hookErr
	mu.Unlock()
	switch {
	case hookErr != nil && !sent:
		return nil, false, hookErr
	case ctx.Err() != nil:
		return nil, sent, nil
	case err != nil:
		for _, k := range pos {
			results[k] = encodeResult(crm.Failed(first+k, err))
		}
		return results, sent, nil
	}
	for i, r := range res.Results {
		k := pos[i]
		r.Index = first + k
		results[k] = encodeResult(r)
	}
	return results, sent, nil
}

package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
)

// CompletionHook is told when a job reaches a final state: every item has
// a result, or the job was cancelled. It is called once per job, by the
// replica that made the transition.
//
// It is where the `job.completed` event of the event-delivery issue plugs
// in: that event log is not part of this package, so the hook is
// nil by default and nothing is announced.
type CompletionHook interface {
	JobCompleted(ctx context.Context, job *Job)
}

// Options configure a Service.
type Options struct {
	// Workers is how many chunks of each connection this replica processes
	// at once (default 4). Each connection has its own queue and workers.
	Workers int
	// Visibility is how long a chunk may go untouched by its worker before
	// another replica takes it over (default 30s). Live workers touch their
	// chunk every third of it.
	Visibility time.Duration
	// UnitWait bounds how long one vendor request of a job may wait for rate
	// budget (default 1h): jobs queue for budget rather than fail.
	UnitWait time.Duration
	// Consumer names this replica in the queue (default host-pid-random).
	Consumer string
	// OnComplete is told when a job finishes; nil (the default) does nothing.
	OnComplete CompletionHook
	Logger     *zap.Logger
}

// Service accepts, runs, reports and cancels bulk jobs. Start runs this
// replica's workers; the other methods serve the API.
type Service struct {
	store Store
	gw    *gateway.Gateway
	opts  Options
	log   *zap.Logger

	startOnce sync.Once
	stopping  chan struct{}
	hardStop  context.CancelFunc
	stopFetch context.CancelFunc
	wg        sync.WaitGroup
}

// New returns a service over store for the connections of gw.
func New(store Store, gw *gateway.Gateway, opts Options) *Service {
	if opts.Workers <= 0 {
		opts.Workers = 4
	}
	if opts.Visibility <= 0 {
		opts.Visibility = 30 * time.Second
	}
	if opts.UnitWait <= 0 {
		opts.UnitWait = time.Hour
	}
	if opts.Consumer == "" {
		host, _ := os.Hostname()
		opts.Consumer = fmt.Sprintf("%s-%d-%s", host, os.Getpid(), randomHex(3))
	}
	log := opts.Logger
	if log == nil {
		log = zap.NewNop()
	}
	return &Service{store: store, gw: gw, opts: opts, log: log, stopping: make(chan struct{})}
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// unavailable is the API's error when the job store fails.
func unavailable(err error) error {
	return &crm.Error{Code: crm.EUnavailable, Message: "the job store is unavailable; try again", Err: err}
}

func notFound(id string) error { return crm.Errorf(crm.ENotFound, "no job %q", id) }

// Builder stores a job's items as they are read, chunk by chunk: at most one
// chunk is held in memory. The job is invisible until Commit.
type Builder struct {
	svc   *Service
	conn  *gateway.Connection
	id    string
	up    Upload
	size  int
	buf   []json.RawMessage
	chunk int
	total int
}

// NewBuilder starts a job on conn.
func (s *Service) NewBuilder(conn *gateway.Connection) *Builder {
	id := NewID()
	size := max(conn.BatchSize(), 1)
	return &Builder{svc: s, conn: conn, id: id, up: s.store.NewUpload(id), size: size, buf: make([]json.RawMessage, 0, size)}
}

// Add appends one item (a validated JSON object; the builder keeps it).
func (b *Builder) Add(ctx context.Context, item json.RawMessage) error {
	b.buf = append(b.buf, item)
	b.total++
	if len(b.buf) == b.size {
		return b.put(ctx)
	}
	return nil
}

// Len is the number of items added.
func (b *Builder) Len() int { return b.total }

func (b *Builder) put(ctx context.Context) error {
	if len(b.buf) == 0 {
		return nil
	}
	if err := b.up.Put(ctx, b.chunk, b.buf); err != nil {
		return unavailable(err)
	}
	b.chunk++
	b.buf = b.buf[:0]
	return nil
}

// Commit stores the job's record and queues its chunks.
func (b *Builder) Commit(ctx context.Context, mode crm.Mode, onConflict crm.OnConflict) (*Job, error) {
	if err := b.put(ctx); err != nil {
		return nil, err
	}
	job := &Job{Connection: b.conn.Name, Vendor: b.conn.Vendor(), Mode: mode, OnConflict: onConflict, Total: b.total,
		ChunkSize: b.size, Unit: min(b.conn.WriteUnit(mode), b.size)}
	if err := b.up.Commit(ctx, job); err != nil {
		return nil, unavailable(err)
	}
	b.svc.log.Info("job accepted", zap.String("job", job.ID), zap.String("connection", job.Connection),
		zap.String("mode", string(mode)), zap.Int("items", job.Total), zap.Int("chunks", job.Chunks()))
	return job, nil
}

// Abort deletes what was stored.
func (b *Builder) Abort(ctx context.Context) {
	if err := b.up.Abort(context.WithoutCancel(ctx)); err != nil {
		b.svc.log.Warn("job upload not deleted; it expires", zap.String("job", b.id), zap.Error(err))
	}
}

// Get returns a job.
func (s *Service) Get(ctx context.Context, id string) (*Job, error) {
	if !ValidID(id) {
		return nil, notFound(id)
	}
	job, err := s.store.Get(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, notFound(id)
	case err != nil:
		return nil, unavailable(err)
	}
	return job, nil
}

// List returns up to limit jobs created before the job `before` ("" for
// the newest) that keep accepts, newest first, and the id to continue
// after ("" when there are no more).
func (s *Service) List(ctx context.Context, before string, limit int, keep func(*Job) bool) ([]*Job, string, error) {
	var out []*Job
	scanned := 0
	for len(out) < limit && scanned < 20*limit {
		want := max(limit-len(out), 20)
		page, err := s.store.List(ctx, before, want)
		if err != nil {
			return nil, "", unavailable(err)
		}
		for _, j := range page {
			scanned++
			before = j.ID
			if keep(j) {
				out = append(out, j)
				if len(out) == limit {
					return out, before, nil
				}
			}
		}
		if len(page) < want {
			return out, "", nil
		}
	}
	return out, before, nil
}

// Results returns the recorded results of the job's items from `from` on,
// in input order, stopping at limit or at the first item without a result
// yet; next is where to continue, and more is false once every item has
// been returned.
func (s *Service) Results(ctx context.Context, job *Job, from, limit int) (results []json.RawMessage, next int, more bool, err error) {
	n := min(limit, job.Total-from)
	if n <= 0 {
		return nil, from, false, nil
	}
	raw, err := s.store.Results(ctx, job.ID, from, n)
	if err != nil {
		return nil, 0, false, unavailable(err)
	}
	for _, r := range raw {
		if r == nil {
			break
		}
		results = append(results, r)
	}
	next = from + len(results)
	return results, next, next < job.Total, nil
}

// Cancel cancels a job: items not sent yet fail with code cancelled and
// outcome not_applied; a unit already on its way to the vendor completes.
func (s *Service) Cancel(ctx context.Context, id string) (*Job, error) {
	if !ValidID(id) {
		return nil, notFound(id)
	}
	job, changed, err := s.store.Cancel(ctx, id)
	switch {
	case errors.Is(err, ErrNotFound):
		return nil, notFound(id)
	case errors.Is(err, ErrFinished):
		return job, &crm.Error{Code: crm.EConflict, Message: fmt.Sprintf("job %s has already finished (%s)", id, job.State())}
	case err != nil:
		return nil, unavailable(err)
	}
	if changed {
		chunks := make([]int, job.Chunks())
		for c := range chunks {
			chunks[c] = c
		}
		// Chunks a worker holds are finished by it: it checks the flag
		// before each unit it sends.
		if err := s.store.CancelChunks(ctx, job, chunks); err != nil {
			s.log.Warn("cancelled job: unclaimed chunks left to the workers", zap.String("job", id), zap.Error(err))
		}
		if j, err := s.store.Get(ctx, id); err == nil {
			job = j
		}
		s.log.Info("job cancelled", zap.String("job", id), zap.Int("done", job.Done), zap.Int("total", job.Total))
		s.completed(ctx, job)
	}
	return job, nil
}

// ETA estimates how long the job's pending items take at the connection's
// rate (ignoring other traffic on the same bucket); false when the job has
// finished or its connection is gone.
func (s *Service) ETA(job *Job) (time.Duration, bool) {
	if job.Finished() {
		return 0, false
	}
	conn, err := s.gw.Connection(job.Connection)
	if err != nil {
		return 0, false
	}
	return time.Duration(conn.EstimateRequests(job.Mode, job.Pending())) * conn.Interval(), true
}

func (s *Service) completed(ctx context.Context, job *Job) {
	if s.opts.OnComplete == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
	defer cancel()
	s.opts.OnComplete.JobCompleted(ctx, job)
}

// QueueStat is one connection's chunk queue, for metrics.
type QueueStat struct {
	Depth  int
	Oldest time.Duration
}

// QueueStats returns every connection's queue.
func (s *Service) QueueStats(ctx context.Context) (map[string]QueueStat, error) {
	out := map[string]QueueStat{}
	for _, c := range s.gw.Connections() {
		depth, oldest, err := s.store.QueueStats(ctx, c.Name)
		if err != nil {
			return nil, err
		}
		out[c.Name] = QueueStat{Depth: depth, Oldest: oldest}
	}
	return out, nil
}

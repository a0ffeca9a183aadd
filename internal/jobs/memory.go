package jobs

import (
	"bytes"
	"context"
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Memory is a [Store] in process memory, for one replica without Redis
// (the sandbox): the same behaviour as [Redis], visibility timeout
// included, but nothing survives a restart.
type Memory struct {
	retention time.Duration
	now       func() time.Time

	mu      sync.Mutex
	jobs    map[string]*memJob // committed jobs
	uploads map[string]*memJob // jobs being uploaded
	ids     []string           // committed job ids, ascending (= by creation)
	queues  map[string][]Task  // tasks not delivered yet, by queue
	pending map[string]*memDelivery
	seq     int
	wake    chan struct{} // closed when a task is queued
	swept   time.Time
}

type memJob struct {
	job      Job
	items    map[int][]byte
	progress map[int]*memProgress
	results  map[int][]byte
	touched  time.Time
}

type memProgress struct {
	owner                      string
	cursor, inflight, attempts int
}

type memDelivery struct {
	task     Task
	consumer string
	touched  time.Time
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-memory store whose jobs expire retention
// after their last activity.
func NewMemory(retention time.Duration) *Memory {
	now := func() time.Time { return time.Now().UTC().Truncate(time.Millisecond) }
	return &Memory{retention: retention, now: now, jobs: map[string]*memJob{}, uploads: map[string]*memJob{}, queues: map[string][]Task{},
		pending: map[string]*memDelivery{}, wake: make(chan struct{})}
}

// sweep drops expired jobs, at most once a second. Called with mu held.
func (m *Memory) sweep() {
	now := m.now()
	if now.Sub(m.swept) < time.Second {
		return
	}
	m.swept = now
	for id, j := range m.jobs {
		if now.Sub(j.touched) > m.retention {
			delete(m.jobs, id)
			if i, ok := slices.BinarySearch(m.ids, id); ok {
				m.ids = slices.Delete(m.ids, i, i+1)
			}
		}
	}
	for id, j := range m.uploads {
		if now.Sub(j.touched) > uploadTTL {
			delete(m.uploads, id)
		}
	}
}

func (m *Memory) get(id string) (*memJob, error) {
	m.sweep()
	j, ok := m.jobs[id]
	if !ok {
		return nil, ErrNotFound
	}
	return j, nil
}

type memUpload struct {
	m  *Memory
	id string
}

// NewUpload implements [Store].
func (m *Memory) NewUpload(id string) Upload { return &memUpload{m: m, id: id} }

func (u *memUpload) Put(_ context.Context, c int, items []json.RawMessage) error {
	u.m.mu.Lock()
	defer u.m.mu.Unlock()
	j := u.m.uploads[u.id]
	if j == nil {
		j = &memJob{items: map[int][]byte{}, progress: map[int]*memProgress{}, results: map[int][]byte{}}
		u.m.uploads[u.id] = j
	}
	j.items[c] = joinItems(items)
	j.touched = u.m.now()
	return nil
}

func (u *memUpload) Commit(_ context.Context, job *Job) error {
	m := u.m
	m.mu.Lock()
	defer m.mu.Unlock()
	j := m.uploads[u.id]
	if j == nil {
		j = &memJob{items: map[int][]byte{}, progress: map[int]*memProgress{}, results: map[int][]byte{}}
	}
	delete(m.uploads, u.id)
	j.job = *job
	j.job.ID = u.id
	j.job.CreatedAt = m.now()
	j.touched = m.now()
	m.jobs[u.id] = j
	i, _ := slices.BinarySearch(m.ids, u.id)
	m.ids = slices.Insert(m.ids, i, u.id)
	for c := range job.Chunks() {
		m.push(Task{Queue: job.Connection, Job: u.id, Chunk: c})
	}
	*job = j.job
	return nil
}

func (u *memUpload) Abort(context.Context) error {
	u.m.mu.Lock()
	defer u.m.mu.Unlock()
	delete(u.m.uploads, u.id)
	return nil
}

// push queues a task. Called with mu held.
func (m *Memory) push(t Task) {
	m.seq++
	t.ID = strconv.Itoa(m.seq)
	m.queues[t.Queue] = append(m.queues[t.Queue], t)
	close(m.wake)
	m.wake = make(chan struct{})
}

// Get implements [Store].
func (m *Memory) Get(_ context.Context, id string) (*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.get(id)
	if err != nil {
		return nil, err
	}
	job := j.job
	return &job, nil
}

// List implements [Store].
func (m *Memory) List(_ context.Context, before string, limit int) ([]*Job, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sweep()
	end := len(m.ids)
	if before != "" {
		end, _ = slices.BinarySearch(m.ids, before)
	}
	var out []*Job
	for i := end - 1; i >= 0 && len(out) < limit; i-- {
		job := m.jobs[m.ids[i]].job
		out = append(out, &job)
	}
	return out, nil
}

// Results implements [Store].
func (m *Memory) Results(_ context.Context, id string, from, n int) ([][]byte, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.get(id)
	if err != nil {
		return nil, err
	}
	out := make([][]byte, n)
	for k := range n {
		out[k] = j.results[from+k]
	}
	return out, nil
}

// Cancel implements [Store].
func (m *Memory) Cancel(_ context.Context, id string) (*Job, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.get(id)
	if err != nil {
		return nil, false, err
	}
	job := j.job
	switch {
	case j.job.Cancelled:
		return &job, false, nil
	case j.job.Finished():
		return &job, false, ErrFinished
	}
	j.job.Cancelled, j.job.FinishedAt = true, m.now()
	j.touched = m.now()
	job = j.job
	return &job, true, nil
}

// CancelChunks implements [Store].
func (m *Memory) CancelChunks(_ context.Context, job *Job, chunks []int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.get(job.ID)
	if err != nil {
		return err
	}
	for _, c := range chunks {
		p := j.progress[c]
		if p != nil && p.owner != "" {
			continue // a worker has it and stops at its next unit
		}
		n := j.job.ChunkLen(c)
		base := c * j.job.ChunkSize
		results := make([]Result, 0, n)
		for i := 0; i < n; i++ {
			results = append(results, Result{Index: base + i, Kind: KindFailed, JSON: cancelledResult(base + i)})
		}
		for _, r := range results {
			j.results[r.Index] = r.JSON
		}
		j.progress[c] = &memProgress{owner: "cancel", cursor: n}
		delete(j.items, c)
		tally(&j.job, results)
	}
	j.touched = m.now()
	return nil
}

// Next implements [Store].
func (m *Memory) Next(ctx context.Context, q, consumer string, block time.Duration) (*Task, error) {
	timer := time.NewTimer(block)
	defer timer.Stop()
	for {
		m.mu.Lock()
		if queue := m.queues[q]; len(queue) > 0 {
			t := queue[0]
			m.queues[q] = queue[1:]
			m.pending[t.ID] = &memDelivery{task: t, consumer: consumer, touched: m.now()}
			m.mu.Unlock()
			return &t, nil
		}
		wake := m.wake
		m.mu.Unlock()
		select {
		case <-wake:
		case <-timer.C:
			return nil, nil
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Reclaim implements [Store].
func (m *Memory) Reclaim(_ context.Context, q, consumer string, minIdle time.Duration, count int) ([]Task, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Task
	now := m.now()
	ids := make([]string, 0, len(m.pending))
	for id := range m.pending {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		d := m.pending[id]
		if len(out) >= count {
			break
		}
		if d.task.Queue == q && now.Sub(d.touched) >= minIdle {
			d.consumer, d.touched = consumer, now
			out = append(out, d.task)
		}
	}
	return out, nil
}

// Touch implements [Store].
func (m *Memory) Touch(_ context.Context, consumer, owner string, t Task) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, ok := m.jobs[t.Job]
	if !ok {
		return ErrNotFound
	}
	if p := j.progress[t.Chunk]; p == nil || p.owner != owner {
		return ErrLost
	}
	if d := m.pending[t.ID]; d != nil {
		d.consumer, d.touched = consumer, m.now()
	}
	return nil
}

// Ack implements [Store].
func (m *Memory) Ack(_ context.Context, t Task) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.pending, t.ID)
	return nil
}

// QueueStats implements [Store]; a chunk counts as queued since its job was
// created, which is when the memory store queues it.
func (m *Memory) QueueStats(_ context.Context, queue string) (int, time.Duration, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	tasks := append([]Task(nil), m.queues[queue]...)
	for _, d := range m.pending {
		if d.task.Queue == queue {
			tasks = append(tasks, d.task)
		}
	}
	var oldest time.Duration
	for _, t := range tasks {
		if j, ok := m.jobs[t.Job]; ok {
			oldest = max(oldest, m.now().Sub(j.job.CreatedAt))
		}
	}
	return len(tasks), oldest, nil
}

// Requeue implements [Store].
func (m *Memory) Requeue(_ context.Context, t Task) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if _, ok := m.pending[t.ID]; !ok {
		return nil // reclaimed and handled elsewhere
	}
	delete(m.pending, t.ID)
	m.push(Task{Queue: t.Queue, Job: t.Job, Chunk: t.Chunk})
	return nil
}

// Begin implements [Store].
func (m *Memory) Begin(_ context.Context, t Task, owner string) (*Claim, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.get(t.Job)
	if err != nil {
		return nil, err
	}
	job := j.job
	p := j.progress[t.Chunk]
	if p == nil {
		p = &memProgress{}
		j.progress[t.Chunk] = p
	}
	if p.cursor >= job.ChunkLen(t.Chunk) {
		return &Claim{Job: &job, Done: true}, nil
	}
	p.attempts++
	p.owner = owner
	if j.job.StartedAt.IsZero() {
		j.job.StartedAt = m.now()
		job.StartedAt = j.job.StartedAt
	}
	j.touched = m.now()
	return &Claim{Job: &job, Cursor: p.cursor, Inflight: p.inflight, Attempts: p.attempts, Cancelled: job.Cancelled,
		Items: bytes.Clone(j.items[t.Chunk])}, nil
}

// Mark implements [Store].
func (m *Memory) Mark(_ context.Context, t Task, owner string, from, n int) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.get(t.Job)
	if err != nil {
		return err
	}
	p := j.progress[t.Chunk]
	switch {
	case p == nil || p.owner != owner || p.cursor != from:
		return ErrLost
	case j.job.Cancelled:
		return ErrCancelled
	}
	p.inflight = n
	return nil
}

// Commit implements [Store].
func (m *Memory) Commit(_ context.Context, t Task, owner string, from, chunkLen int, results []Result) (Committed, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	j, err := m.get(t.Job)
	if err != nil {
		return Committed{}, err
	}
	p := j.progress[t.Chunk]
	if p == nil || p.owner != owner || p.cursor != from {
		return Committed{}, ErrLost
	}
	for _, r := range results {
		j.results[r.Index] = r.JSON
	}
	p.cursor, p.inflight = from+len(results), 0
	if p.cursor >= chunkLen {
		delete(j.items, t.Chunk)
	}
	tally(&j.job, results)
	j.touched = m.now()
	var out Committed
	out.Cancelled = j.job.Cancelled
	if j.job.Done >= j.job.Total && !j.job.Finished() {
		j.job.FinishedAt = m.now()
		out.Finished = true
	}
	return out, nil
}

// joinItems encodes items as one JSON array.
func joinItems(items []json.RawMessage) []byte {
	n := 2
	for _, it := range items {
		n += len(it) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, it...)
	}
	return append(b, ']')
}

// uploadTTL is how long the items of an upload that was neither committed
// nor aborted (its replica died while reading the body) are kept.
const uploadTTL = time.Hour

// Package jobs runs batches of any size as durable bulk jobs: the items are
// stored in chunks of the vendor's batch size, any gateway replica claims
// chunks from a shared queue, writes them under the connection's shared
// rate budget, and records each item's result, so that a job survives the
// death of the replica that accepted it or of one that was working on it.
//
// # Exactly once, or uncertain
//
// A chunk is written in units: the whole chunk when the vendor takes it in
// one request, one item when the vendor writes each item with a request of
// its own (HelpCrunch creates). Each chunk's progress record holds
//
//   - its owner, the claim of the worker processing it (a fencing token:
//     every write checks it, so a worker that lost its claim stops),
//   - its cursor, the number of its items whose results are recorded, and
//   - its in-flight mark: the size of the unit that may be on its way to
//     the vendor.
//
// The in-flight mark is set by a vendorhttp send hook, after the wait for a
// rate token and right before the request goes on the wire, and cleared
// atomically with the unit's results. A worker that claims a chunk whose
// previous owner died with a unit in flight does not send that unit again:
// its items are reported failed with outcome `uncertain` (the vendor may or
// may not have applied them). Items before the cursor are never sent again,
// items after it were certainly not sent. So no item reaches a vendor twice,
// whatever dies when; the price is that an item in flight at the moment a
// replica dies is uncertain even where repeating it would have been safe.
//
// # Stores
//
// [Redis] is the real store: a stream per connection with a consumer group
// is the queue of chunks (XREADGROUP, XAUTOCLAIM after the visibility
// timeout), hashes hold
// each job's record, items, progress and results, and Lua scripts make each
// step atomic. [Memory] implements the same [Store] in process for the
// single-replica sandbox: jobs work the same but do not survive a restart.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// State is where a job is in its life.
type State string

// Job states.
const (
	StateQueued          State = "queued"           // accepted, nothing sent yet
	StateRunning         State = "running"          // at least one chunk started
	StateSucceeded       State = "succeeded"        // every item written
	StatePartiallyFailed State = "partially_failed" // some items written, some failed or uncertain
	StateFailed          State = "failed"           // no item written
	StateCancelled       State = "cancelled"        // cancelled before every item was sent
)

// CodeCancelled is the error code of items a cancellation kept from being
// sent (their outcome is not_applied).
const CodeCancelled = "cancelled"

// Errors of the store.
var (
	// ErrNotFound: no such job (never created, expired, or not yet committed).
	ErrNotFound = errors.New("jobs: no such job")
	// ErrLost: the chunk was claimed by another worker; stop working on it.
	ErrLost = errors.New("jobs: chunk claimed by another worker")
	// ErrCancelled: the job was cancelled; send nothing more.
	ErrCancelled = errors.New("jobs: job cancelled")
	// ErrFinished: the job has already finished and cannot be cancelled.
	ErrFinished = errors.New("jobs: job already finished")
)

// Job is a job's record.
type Job struct {
	ID         string
	Connection string
	Vendor     string
	Mode       crm.Mode
	OnConflict crm.OnConflict
	Total      int // items
	ChunkSize  int // items per chunk (the vendor's batch size)
	Unit       int // items written and recorded at once (1 or ChunkSize)

	// Counts of recorded results. Uncertain items are failed items whose
	// outcome is uncertain; Failed counts the others (cancelled included).
	Created, Updated, Accepted, Failed, Uncertain int
	Done                                          int // items with a recorded result

	CreatedAt  time.Time
	StartedAt  time.Time // zero until a worker first claims a chunk
	FinishedAt time.Time // zero until every item has a result, or the job was cancelled
	Cancelled  bool
}

// Chunks is the number of chunks of the job.
func (j *Job) Chunks() int {
	if j.ChunkSize <= 0 {
		return 0
	}
	return (j.Total + j.ChunkSize - 1) / j.ChunkSize
}

// ChunkLen is the number of items of chunk c.
func (j *Job) ChunkLen(c int) int {
	return max(min(j.ChunkSize, j.Total-c*j.ChunkSize), 0)
}

// Pending is the number of items without a result yet.
func (j *Job) Pending() int { return max(j.Total-j.Done, 0) }

// State derives the job's state from its counts.
func (j *Job) State() State {
	switch {
	case j.Cancelled:
		return StateCancelled
	case j.Done >= j.Total && j.Total > 0:
		written := j.Created + j.Updated + j.Accepted
		switch {
		case j.Failed+j.Uncertain == 0:
			return StateSucceeded
		case written == 0:
			return StateFailed
		default:
			return StatePartiallyFailed
		}
	case !j.StartedAt.IsZero():
		return StateRunning
	default:
		return StateQueued
	}
}

// Finished reports whether the job has reached a final state.
func (j *Job) Finished() bool { return !j.FinishedAt.IsZero() }

// Task is one chunk of a job to process, as delivered by the queue.
type Task struct {
	ID    string // the queue's id of the delivery (a stream entry id)
	Queue string // the queue: the job's connection
	Job   string
	Chunk int
}

// Claim is what a worker learns when it takes a chunk.
type Claim struct {
	Job       *Job
	Done      bool // the chunk is complete: acknowledge the task and move on
	Cursor    int  // items of the chunk with recorded results
	Inflight  int  // items from Cursor a dead owner may have sent
	Attempts  int  // claims of this chunk so far, this one included
	Cancelled bool
	Items     []byte // the chunk's items, a JSON array
}

// Kind classifies an item result for the job's counts.
type Kind int

// Result kinds.
const (
	KindCreated Kind = iota
	KindUpdated
	KindAccepted
	KindFailed
	KindUncertain
)

// Result is one item's recorded result.
type Result struct {
	Index int    // position in the job's input
	Kind  Kind   // for the counts
	JSON  []byte // the crm.ItemResult, encoded
}

// Committed is what a commit tells the worker.
type Committed struct {
	Cancelled bool // the job was cancelled: send nothing more
	Finished  bool // this commit gave the job its last result (not cancelled)
}

// Store keeps jobs and their queue. [Redis] is the durable implementation;
// [Memory] keeps everything in process. Every method is safe for
// concurrent use. The chunk methods are fenced by owner: once Begin has
// given a chunk to another owner, Mark and Commit of the old one fail with
// ErrLost.
type Store interface {
	// NewUpload starts storing the items of a job that stays invisible
	// until Commit.
	NewUpload(id string) Upload
	// Get returns the job, or ErrNotFound.
	Get(ctx context.Context, id string) (*Job, error)
	// List returns up to limit jobs created before the job `before` (all
	// when ""), newest first.
	List(ctx context.Context, before string, limit int) ([]*Job, error)
	// Results returns the recorded results of items from..from+n-1 (nil
	// where none is recorded yet).
	Results(ctx context.Context, id string, from, n int) ([][]byte, error)
	// Cancel marks the job cancelled: ErrFinished when it had finished,
	// changed false when it was already cancelled.
	Cancel(ctx context.Context, id string) (job *Job, changed bool, err error)
	// CancelChunks records "cancelled" results for the items of the chunks
	// no worker has claimed yet.
	CancelChunks(ctx context.Context, job *Job, chunks []int) error

	// Next waits up to block for a task of the queue (a connection's: each
	// connection has its own, so a slow vendor never holds up the others)
	// and assigns it to consumer; nil when none came.
	Next(ctx context.Context, queue, consumer string, block time.Duration) (*Task, error)
	// Reclaim assigns to consumer up to count tasks of the queue whose
	// consumer has not touched them for minIdle (it died).
	Reclaim(ctx context.Context, queue, consumer string, minIdle time.Duration, count int) ([]Task, error)
	// Touch tells the queue the task is still being worked on by owner.
	Touch(ctx context.Context, consumer, owner string, t Task) error
	// Ack removes a finished task from the queue.
	Ack(ctx context.Context, t Task) error
	// Requeue hands an unfinished task back to the queue at once (graceful
	// shutdown), instead of waiting for the visibility timeout.
	Requeue(ctx context.Context, t Task) error
	// QueueStats returns how many chunks of the queue wait or are being
	// worked on, and how long the oldest of them has been queued.
	QueueStats(ctx context.Context, queue string) (depth int, oldest time.Duration, err error)

	// Begin makes owner the chunk's owner and returns its progress.
	Begin(ctx context.Context, t Task, owner string) (*Claim, error)
	// Mark records that the n items from `from` may now be sent: ErrLost,
	// or ErrCancelled (nothing marked: send nothing).
	Mark(ctx context.Context, t Task, owner string, from, n int) error
	// Commit records results for the items of the chunk from `from` on,
	// advances its cursor and clears its in-flight mark.
	Commit(ctx context.Context, t Task, owner string, from, chunkLen int, results []Result) (Committed, error)
}

// Upload stores a job's items as they arrive.
type Upload interface {
	// Put stores chunk c's items (each one JSON object). It may buffer.
	Put(ctx context.Context, c int, items []json.RawMessage) error
	// Commit stores the job's record and queues its chunks: from then on
	// the job is visible and workers take it.
	Commit(ctx context.Context, job *Job) error
	// Abort deletes what was stored.
	Abort(ctx context.Context) error
}

// NewID returns a job id: 12 hex digits of the Unix time in milliseconds and
// 12 random ones, so ids sort by creation time.
func NewID() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%012x%s", time.Now().UnixMilli(), hex.EncodeToString(b[:]))
}

// ValidID reports whether s has the shape of a job id.
func ValidID(s string) bool {
	if len(s) != 24 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// cancelledResult is the recorded result of item i when a cancellation kept
// it from being sent. The Redis store writes the same bytes from Lua.
func cancelledResult(i int) []byte {
	return []byte(`{"index":` + strconv.Itoa(i) + `,"status":"failed","error":{"code":"` + CodeCancelled +
		`","message":"` + cancelledMessage + `","outcome":"not_applied"}}`)
}

const cancelledMessage = "the job was cancelled before this item was sent"

// uncertainResult is the result of item i when its worker died while the
// item was on its way to the vendor.
func uncertainResult(i int, vendor string) Result {
	r := crm.Failed(i, &crm.Error{Code: crm.EUnavailable, Vendor: vendor, Outcome: crm.OutcomeUncertain,
		Message: "the gateway worker sending this item stopped before the vendor's answer was recorded; " +
			"it may have been applied and is not sent again"})
	return encodeResult(r)
}

// encodeResult classifies and encodes an item result.
func encodeResult(r crm.ItemResult) Result {
	kind := KindFailed
	switch {
	case r.Status == crm.StatusCreated:
		kind = KindCreated
	case r.Status == crm.StatusUpdated:
		kind = KindUpdated
	case r.Status == crm.StatusAccepted:
		kind = KindAccepted
	case r.Error != nil && r.Error.Outcome == crm.OutcomeUncertain:
		kind = KindUncertain
	}
	b, err := json.Marshal(r)
	if err != nil { // a customer's remote answer that cannot be encoded: keep the status
		b, _ = json.Marshal(crm.ItemResult{Index: r.Index, Status: r.Status, Error: r.Error})
	}
	return Result{Index: r.Index, Kind: kind, JSON: b}
}

// tally adds results to the job's counts.
func tally(j *Job, results []Result) {
	for _, r := range results {
		switch r.Kind {
		case KindCreated:
			j.Created++
		case KindUpdated:
			j.Updated++
		case KindAccepted:
			j.Accepted++
		case KindUncertain:
			j.Uncertain++
		default:
			j.Failed++
		}
	}
	j.Done += len(results)
}

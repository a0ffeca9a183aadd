package events

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crm-gateway/crm-gateway/internal/redistest"
)

// realRedis is the real Redis the tests share (redistest).
func realRedis(tb testing.TB) *redis.Client { return redistest.Client(tb) }

// testPrefix returns a key prefix no other test or test run uses: the real Redis is shared and is
// never flushed.
func testPrefix() string { return "evtest:" + uuid.NewString() }

// redisPrefix connects to the real Redis and returns a fresh prefix whose keys (only those) are
// deleted when the test ends; cleanups registered later, such as stopping Run, happen first.
func redisPrefix(t *testing.T) (*redis.Client, string) {
	t.Helper()
	rdb, prefix := realRedis(t), testPrefix()
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, "{"+prefix+"}:*", 1000).Iterator()
		for iter.Next(ctx) {
			if err := rdb.Del(ctx, iter.Val()).Err(); err != nil {
				t.Errorf("deleting test key: %v", err)
			}
		}
		if err := iter.Err(); err != nil {
			t.Errorf("scanning test keys: %v", err)
		}
	})
	return rdb, prefix
}

// Test timings: short enough to keep the package well under 20 s, long enough for a busy
// 2-core machine.
var testSchedule = []time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}

const (
	testTimeout = 300 * time.Millisecond
	testLease   = 600 * time.Millisecond
	testPoll    = 20 * time.Millisecond
	// quiet is how long a test watches for attempts that should not happen: longer than the
	// whole schedule and than the lease.
	quiet = 700 * time.Millisecond
)

// testConfig returns a Config with the test timings and these subscriptions.
func testConfig(subs ...Subscription) Config {
	return Config{
		Subscriptions: subs,
		Schedule:      testSchedule,
		Retention:     10 * time.Minute,
		Timeout:       testTimeout,
		Lease:         testLease,
		Poll:          testPoll,
	}
}

// impl builds buses of one implementation. Buses from the same factory share their storage when
// shared is true (Redis, same prefix); memory buses never do.
type impl struct {
	name    string
	shared  bool
	factory func(t *testing.T) func(Config) *Bus
}

var impls = []impl{
	{"memory", false, func(*testing.T) func(Config) *Bus { return NewMemory }},
	{"redis", true, func(t *testing.T) func(Config) *Bus {
		rdb, prefix := redisPrefix(t)
		return func(cfg Config) *Bus { return NewRedis(rdb, cfg, WithKeyPrefix(prefix)) }
	}},
}

// run runs b.Run until the test ends and returns a stop function that cancels it and waits for
// it to return.
func run(t *testing.T, b *Bus) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := b.Run(ctx); err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Errorf("Run did not return after its context ended")
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// eventually polls cond until it holds or the timeout passes.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// receiver is a webhook endpoint that verifies every request and answers per plan.
type receiver struct {
	t      *testing.T
	secret string
	srv    *httptest.Server

	mu        sync.Mutex
	plan      func(id string, n int) (status int, delay time.Duration) // n counts from 1 per event
	attempts  map[string][]time.Time
	successes map[string]int
	order     []string // event ids in the order of their successful deliveries
	bad       []string // verification problems
}

// newReceiver starts a receiver answering 200 to everything.
func newReceiver(t *testing.T, secret string) *receiver {
	r := &receiver{t: t, secret: secret, attempts: map[string][]time.Time{}, successes: map[string]int{},
		plan: func(string, int) (int, time.Duration) { return http.StatusOK, 0 }}
	r.srv = httptest.NewServer(http.HandlerFunc(r.serve))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *receiver) serve(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	id := req.Header.Get(HeaderID)
	var e Event
	problem := ""
	switch err := Verify(r.secret, req.Header, body, time.Minute); {
	case err != nil:
		problem = err.Error()
	case req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/json":
		problem = "not a JSON POST"
	case json.Unmarshal(body, &e) != nil || e.ID != id:
		problem = "body is not the event named by webhook-id"
	}
	r.mu.Lock()
	if problem != "" {
		r.bad = append(r.bad, problem)
		r.mu.Unlock()
		http.Error(w, problem, http.StatusBadRequest)
		return
	}
	r.attempts[id] = append(r.attempts[id], time.Now())
	status, delay := r.plan(id, len(r.attempts[id]))
	r.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}
	if status/100 == 2 && delay < testTimeout {
		r.mu.Lock()
		r.successes[id]++
		r.order = append(r.order, id)
		r.mu.Unlock()
	}
	w.WriteHeader(status)
}

// setPlan replaces the answers.
func (r *receiver) setPlan(plan func(id string, n int) (int, time.Duration)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.plan = plan
}

// failFirst answers 500 to the first n attempts of every event, then 200.
func failFirst(n int) func(string, int) (int, time.Duration) {
	return func(_ string, i int) (int, time.Duration) {
		if i <= n {
			return http.StatusInternalServerError, 0
		}
		return http.StatusOK, 0
	}
}

func (r *receiver) count(id string) (attempts, successes int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.attempts[id]), r.successes[id]
}

func (r *receiver) times(id string) []time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]time.Time(nil), r.attempts[id]...)
}

// delivered returns the ids delivered successfully, in order.
func (r *receiver) delivered() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.order...)
}

// checkSignatures fails the test if any request did not verify.
func (r *receiver) checkSignatures() {
	r.t.Helper()
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.bad) > 0 {
		r.t.Errorf("receiver rejected %d requests, first: %s", len(r.bad), r.bad[0])
	}
}

// sub returns a subscription to this receiver.
func (r *receiver) sub(name string, types ...string) Subscription {
	return Subscription{Name: name, URL: r.srv.URL + "/hooks/" + name + "?token=url-secret", Types: types, Secret: r.secret}
}

// testSecret is a Standard Webhooks secret (24 random bytes).
const testSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

// event returns a test event.
func event(id, typ string) Event {
	return Event{ID: id, Type: typ, Connection: "hc-main", Vendor: "helpcrunch", Data: json.RawMessage(`{"n":1}`)}
}

// countingObserver records Delivery calls.
type countingObserver struct {
	mu sync.Mutex
	n  map[string]int // "sub outcome" → calls
}

func (o *countingObserver) Delivery(sub, outcome string, _ time.Duration) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.n == nil {
		o.n = map[string]int{}
	}
	o.n[sub+" "+outcome]++
}

func (o *countingObserver) get(key string) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n[key]
}

// observed returns a logger recording entries for assertions.
func observed() (*zap.Logger, *observer.ObservedLogs) {
	core, logs := observer.New(zapcore.DebugLevel)
	return zap.New(core), logs
}

package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zaptest"

	"github.com/crm-gateway/crm-gateway/internal/adapters"
	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim"
)

// rig is a gateway over the in-process vendor simulators.
type rig struct {
	gw      *gateway.Gateway
	sims    *vendorsim.Set
	mu      sync.Mutex
	handler http.Handler
}

// wrap puts a middleware in front of the simulators.
func (r *rig) wrap(mw func(http.Handler) http.Handler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handler = mw(r.handler)
}

// newRig wires connections "helpcrunch" and "nxcloud" to the simulators;
// tweak may change their limits.
func newRig(t *testing.T, tweak func(*config.Config)) *rig {
	t.Helper()
	sims := vendorsim.NewSet()
	rg := &rig{sims: sims, handler: sims.Handler()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		rg.mu.Lock()
		h := rg.handler
		rg.mu.Unlock()
		h.ServeHTTP(w, req)
	}))
	t.Cleanup(func() { srv.Close(); sims.Close() })
	yaml := `
api_keys: [{name: admin, key: k, connections: ["*"]}]
connections:
  helpcrunch:
    vendor: helpcrunch
    base_url: ${SIM}/helpcrunch/v1
    credentials: {api_key: sandbox-helpcrunch-key}
    limits: {requests: 6000, period: 1m, burst: 1}
  nxcloud:
    vendor: nxcloud
    base_url: ${SIM}/nxcloud
    credentials: {access_key: sandbox-nx-ak, access_secret: sandbox-nx-secret, tenant_id: 144, app_key: sandbox-app}
    limits: {requests: 6000, period: 1m, burst: 1}
`
	cfg, err := config.Parse([]byte(yaml), func(string) string { return srv.URL })
	if err != nil {
		t.Fatal(err)
	}
	if tweak != nil {
		tweak(cfg)
	}
	deps := adapters.Deps{HTTP: &http.Client{Transport: adapters.NewTransport()}, Limiter: ratelimit.NewLocal(), Logger: zaptest.NewLogger(t)}
	var conns []*gateway.Connection
	for _, name := range cfg.ConnectionNames() {
		c, err := adapters.Open(name, cfg.Connections[name], deps)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	rg.gw = gateway.New(conns...)
	return rg
}

func (r *rig) conn(t *testing.T, name string) *gateway.Connection {
	c, err := r.gw.Connection(name)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// submit stores a job of items on the connection through a Builder.
func submit(t *testing.T, svc *Service, conn *gateway.Connection, mode crm.Mode, items []string) *Job {
	t.Helper()
	ctx := context.Background()
	b := svc.NewBuilder(conn)
	for _, it := range items {
		if err := b.Add(ctx, json.RawMessage(it)); err != nil {
			t.Fatal(err)
		}
	}
	job, err := b.Commit(ctx, mode, "")
	if err != nil {
		t.Fatal(err)
	}
	return job
}

func nxItems(n int, tag string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf(`{"first_name":"F%d","last_name":"L","email":"%s-%d@example.com"}`, i, tag, i)
	}
	return out
}

// waitJob polls until the job has finished.
func waitJob(t *testing.T, svc *Service, id string, within time.Duration) *Job {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		job, err := svc.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if job.Finished() && job.Pending() == 0 {
			return job
		}
		if time.Now().After(deadline) {
			t.Fatalf("job not finished in %s: %+v", within, job)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// allResults pages through every result and checks their order.
func allResults(t *testing.T, svc *Service, job *Job) []crm.ItemResult {
	t.Helper()
	var out []crm.ItemResult
	from := 0
	for {
		page, next, more, err := svc.Results(context.Background(), job, from, 64)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range page {
			var r crm.ItemResult
			if err := json.Unmarshal(raw, &r); err != nil {
				t.Fatal(err)
			}
			if r.Index != len(out) {
				t.Fatalf("result %d has index %d", len(out), r.Index)
			}
			out = append(out, r)
		}
		if !more {
			break
		}
		if next == from {
			t.Fatalf("results stuck at %d", from)
		}
		from = next
	}
	if len(out) != job.Total {
		t.Fatalf("%d results, want %d", len(out), job.Total)
	}
	return out
}

func startService(t *testing.T, s Store, r *rig, opts Options) *Service {
	t.Helper()
	if opts.Logger == nil {
		opts.Logger = zaptest.NewLogger(t)
	}
	svc := New(s, r.gw, opts)
	svc.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = svc.Stop(ctx)
	})
	return svc
}

func TestRunnerWritesJobsInInputOrder(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		r := newRig(t, nil)
		svc := startService(t, s, r, Options{Workers: 3})
		nx := submit(t, svc, r.conn(t, "nxcloud"), crm.ModeUpsert, nxItems(250, "w"))
		items := make([]string, 25)
		for i := range items {
			items[i] = fmt.Sprintf(`{"name":"customer %d"}`, i)
		}
		items[7] = `{"name":"x","birthday":"1990-01-01"}` // HelpCrunch cannot store it: fails alone
		hc := submit(t, svc, r.conn(t, "helpcrunch"), crm.ModeCreate, items)
		if hc.Unit != 1 || nx.Unit != 100 {
			t.Fatalf("units: helpcrunch create %d (want 1), nxcloud %d (want 100)", hc.Unit, nx.Unit)
		}

		nx = waitJob(t, svc, nx.ID, 10*time.Second)
		if nx.State() != StateSucceeded || nx.Accepted != 250 {
			t.Fatalf("nxcloud job %+v", nx)
		}
		for i, res := range allResults(t, svc, nx) {
			if res.Status != crm.StatusAccepted || res.Customer == nil || res.Customer.Email != fmt.Sprintf("w-%d@example.com", i) {
				t.Fatalf("nxcloud result %d: %+v", i, res)
			}
		}
		hc = waitJob(t, svc, hc.ID, 10*time.Second)
		if hc.State() != StatePartiallyFailed || hc.Created != 24 || hc.Failed != 1 {
			t.Fatalf("helpcrunch job %+v", hc)
		}
		for i, res := range allResults(t, svc, hc) {
			switch {
			case i == 7 && (res.Status != crm.StatusFailed || res.Error.Code != crm.EUnprocessable):
				t.Fatalf("helpcrunch result 7: %+v", res)
			case i != 7 && (res.Status != crm.StatusCreated || res.Customer.ID == ""):
				t.Fatalf("helpcrunch result %d: %+v", i, res)
			}
		}
		if n := r.sims.NXCloud.Stats().ItemsReceived; n != 250 {
			t.Errorf("nxcloud received %d items, want 250", n)
		}
		if n := r.sims.HelpCrunch.Stats().Operations["POST /customers"]; n != 24 {
			t.Errorf("helpcrunch got %d creates, want 24", n)
		}
	})
}

// TestRunnerNeverResendsInFlightUnits plays a worker that dies right after
// marking a unit in flight: the replica that reclaims the chunk reports the
// unit uncertain and sends only what was certainly not sent.
func TestRunnerNeverResendsInFlightUnits(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		ctx := context.Background()
		r := newRig(t, nil)
		idle := New(s, r.gw, Options{}) // submits only; its workers never start
		nx := submit(t, idle, r.conn(t, "nxcloud"), crm.ModeUpsert, nxItems(300, "d"))
		hcItems := make([]string, 10)
		for i := range hcItems {
			hcItems[i] = fmt.Sprintf(`{"name":"c%d"}`, i)
		}
		hc := submit(t, idle, r.conn(t, "helpcrunch"), crm.ModeCreate, hcItems)

		// The dead worker takes NXCloud chunk 0 and the HelpCrunch chunk.
		nxTask, hcTask := next(t, s, "nxcloud", "dead"), next(t, s, "helpcrunch", "dead")
		if nxTask.Job != nx.ID || nxTask.Chunk != 0 || hcTask.Job != hc.ID {
			t.Fatalf("the dead worker got %+v and %+v", nxTask, hcTask)
		}
		// NXCloud chunk 0: marked in flight, then the worker died.
		if _, err := s.Begin(ctx, nxTask, "dead-1"); err != nil {
			t.Fatal(err)
		}
		if err := s.Mark(ctx, nxTask, "dead-1", 0, 100); err != nil {
			t.Fatal(err)
		}
		// HelpCrunch: items 0-2 recorded, item 3 in flight, then it died.
		if _, err := s.Begin(ctx, hcTask, "dead-2"); err != nil {
			t.Fatal(err)
		}
		var done []Result
		for i := range 3 {
			done = append(done, encodeResult(crm.ItemResult{Index: i, Status: crm.StatusCreated, Customer: &crm.Customer{ID: fmt.Sprint(900 + i)}}))
		}
		if _, err := s.Commit(ctx, hcTask, "dead-2", 0, 10, done); err != nil {
			t.Fatal(err)
		}
		if err := s.Mark(ctx, hcTask, "dead-2", 3, 1); err != nil {
			t.Fatal(err)
		}

		svc := startService(t, s, r, Options{Workers: 2, Visibility: 500 * time.Millisecond})
		nx = waitJob(t, svc, nx.ID, 10*time.Second)
		hc = waitJob(t, svc, hc.ID, 10*time.Second)
		if nx.Uncertain != 100 || nx.Accepted != 200 || nx.State() != StatePartiallyFailed {
			t.Fatalf("nxcloud job %+v", nx)
		}
		for i, res := range allResults(t, svc, nx) {
			uncertain := res.Status == crm.StatusFailed && res.Error.Outcome == crm.OutcomeUncertain
			if (i < 100) != uncertain {
				t.Fatalf("nxcloud result %d: %+v", i, res)
			}
		}
		if got := r.sims.NXCloud.Stats().ItemsReceived; got != 200 {
			t.Errorf("nxcloud received %d items, want 200: the in-flight chunk must not be sent again", got)
		}
		if hc.Created != 9 || hc.Uncertain != 1 {
			t.Fatalf("helpcrunch job %+v", hc)
		}
		res := allResults(t, svc, hc)
		if res[2].Customer.ID != "902" || res[3].Error == nil || res[3].Error.Outcome != crm.OutcomeUncertain || res[4].Status != crm.StatusCreated {
			t.Fatalf("helpcrunch results %+v", res[:5])
		}
		if got := r.sims.HelpCrunch.Stats().Operations["POST /customers"]; got != 6 {
			t.Errorf("helpcrunch got %d creates, want 6 (items 4-9)", got)
		}
	})
}

// TestRunnerCancelStopsVendorCalls: after a cancellation no further vendor
// request of the job starts; unsent items fail as cancelled.
func TestRunnerCancelStopsVendorCalls(t *testing.T) {
	forEachStore(t, func(t *testing.T, s Store) {
		r := newRig(t, func(c *config.Config) {
			c.Connections["nxcloud"].Limits.Requests = 600 // one request per 100 ms
			c.Connections["nxcloud"].Limits.BatchSize = 10
		})
		svc := startService(t, s, r, Options{Workers: 3})
		job := submit(t, svc, r.conn(t, "nxcloud"), crm.ModeUpsert, nxItems(400, "c"))
		for {
			j, _ := svc.Get(context.Background(), job.ID)
			if j.Accepted >= 50 {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
		j, err := svc.Cancel(context.Background(), job.ID)
		if err != nil {
			t.Fatal(err)
		}
		atCancel := r.sims.NXCloud.Stats().Operations["POST /saas/cdp/openapi/customers/batch_create"]
		if j.State() != StateCancelled {
			t.Fatalf("after cancel %+v", j)
		}
		time.Sleep(500 * time.Millisecond) // five more requests' worth of budget
		after := r.sims.NXCloud.Stats().Operations["POST /saas/cdp/openapi/customers/batch_create"]
		j = waitJob(t, svc, job.ID, 5*time.Second)
		t.Logf("requests at cancel %d, after %d; job %+v", atCancel, after, j)
		if after-atCancel > 3 { // at most the units already on the wire, one per worker
			t.Errorf("%d vendor requests after the cancellation", after-atCancel)
		}
		if got := r.sims.NXCloud.Stats().ItemsReceived; got != j.Accepted+j.Uncertain {
			t.Errorf("vendor received %d items, job reports %d sent", got, j.Accepted+j.Uncertain)
		}
		if j.Accepted+j.Failed != 400 || j.Failed < 300 {
			t.Fatalf("cancelled job %+v", j)
		}
		for _, res := range allResults(t, svc, j) {
			if res.Status == crm.StatusFailed && (res.Error.Code != CodeCancelled || res.Error.Outcome != crm.OutcomeNotApplied) {
				t.Fatalf("result %+v", res)
			}
		}
		if _, err := svc.Cancel(context.Background(), job.ID); err != nil {
			t.Fatalf("second cancel: %v", err)
		}
	})
}

// TestRunnerLiftsTheSynchronousWaitBound: a job queues for budget far
// longer than the connection's max_wait instead of failing rate_limited.
func TestRunnerLiftsTheSynchronousWaitBound(t *testing.T) {
	r := newRig(t, func(c *config.Config) {
		l := &c.Connections["nxcloud"].Limits
		l.Requests, l.MaxWait, l.BatchSize = 300, time.Millisecond, 10 // 200 ms apart, 1 ms synchronous bound
	})
	svc := startService(t, NewMemory(time.Hour), r, Options{Workers: 4})
	job := waitJob(t, svc, submit(t, svc, r.conn(t, "nxcloud"), crm.ModeUpsert, nxItems(50, "b")).ID, 10*time.Second)
	if job.State() != StateSucceeded {
		t.Fatalf("job %+v", job)
	}
}

type hookRecorder struct {
	mu   sync.Mutex
	jobs []*Job
}

func (h *hookRecorder) JobCompleted(_ context.Context, j *Job) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.jobs = append(h.jobs, j)
}

// TestCompletionHookIsCalledOnce, across two replicas sharing Redis.
func TestCompletionHookIsCalledOnce(t *testing.T) {
	s, _, _ := newRedisStore(t, time.Hour)
	r := newRig(t, func(c *config.Config) { c.Connections["nxcloud"].Limits.BatchSize = 10 })
	hook := &hookRecorder{}
	a := startService(t, s, r, Options{Workers: 2, OnComplete: hook, Consumer: "a"})
	startService(t, s, r, Options{Workers: 2, OnComplete: hook, Consumer: "b"})
	job := waitJob(t, a, submit(t, a, r.conn(t, "nxcloud"), crm.ModeUpsert, nxItems(200, "h")).ID, 10*time.Second)
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		hook.mu.Lock()
		n := len(hook.jobs)
		hook.mu.Unlock()
		if n > 0 {
			break
		}
	}
	time.Sleep(200 * time.Millisecond) // a second call would come now
	hook.mu.Lock()
	defer hook.mu.Unlock()
	if len(hook.jobs) != 1 || hook.jobs[0].ID != job.ID || hook.jobs[0].State() != StateSucceeded {
		t.Fatalf("hook calls %+v", hook.jobs)
	}
}

// TestStopHandsChunksBack: a replica stopping gracefully lets its chunks in
// progress finish and leaves the rest to the others, at once.
func TestStopHandsChunksBack(t *testing.T) {
	s, _, _ := newRedisStore(t, time.Hour)
	r := newRig(t, func(c *config.Config) {
		c.Connections["helpcrunch"].Limits.Requests = 2400 // 25 ms apart
	})
	items := make([]string, 40)
	for i := range items {
		items[i] = fmt.Sprintf(`{"name":"c%d"}`, i)
	}
	first := New(s, r.gw, Options{Workers: 2, Visibility: time.Hour, Logger: zaptest.NewLogger(t)})
	job := submit(t, first, r.conn(t, "helpcrunch"), crm.ModeCreate, items)
	first.Start()
	time.Sleep(150 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond) // less than a chunk's 10 creates
	err := first.Stop(ctx)
	cancel()
	t.Logf("stop: %v", err)
	// A visibility timeout of an hour: only an immediate hand-back lets
	// the second replica finish the job.
	second := startService(t, s, r, Options{Workers: 2, Visibility: time.Hour})
	job = waitJob(t, second, job.ID, 10*time.Second)
	if job.Created+job.Uncertain != 40 {
		t.Fatalf("job %+v", job)
	}
	if got := r.sims.HelpCrunch.Stats().Operations["POST /customers"]; got != job.Created+job.Uncertain {
		t.Fatalf("helpcrunch got %d creates, job reports %d sent", got, job.Created+job.Uncertain)
	}
	t.Logf("job %+v", job)
}

// TestRunnerPausesWhileTheCircuitIsOpen: while a vendor's circuit is open
// the runner keeps its chunks and waits, instead of failing their items.
func TestRunnerPausesWhileTheCircuitIsOpen(t *testing.T) {
	r := newRig(t, func(c *config.Config) {
		nx := c.Connections["nxcloud"]
		nx.Limits.BatchSize = 10
		nx.CircuitBreaker.Failures, nx.CircuitBreaker.Cooldown = 2, 300*time.Millisecond
	})
	var mu sync.Mutex
	failing := true
	r.wrap(func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
			mu.Lock()
			f := failing
			mu.Unlock()
			if f && strings.HasPrefix(req.URL.Path, "/nxcloud/") {
				http.Error(w, "down", http.StatusServiceUnavailable)
				return
			}
			next.ServeHTTP(w, req)
		})
	})
	svc := startService(t, NewMemory(time.Hour), r, Options{Workers: 1})
	job := submit(t, svc, r.conn(t, "nxcloud"), crm.ModeUpsert, nxItems(100, "p"))
	time.Sleep(time.Second) // several cooldowns: the probes fail too
	mu.Lock()
	failing = false
	mu.Unlock()
	job = waitJob(t, svc, job.ID, 10*time.Second)
	t.Logf("job %+v", job)
	// Only the units that reached the failing vendor failed (uncertain: a
	// 5xx may have applied them): the two that opened the circuit and one
	// failed probe per cooldown. None failed unsent because of the circuit.
	if job.Failed != 0 || job.Accepted == 0 || job.Accepted+job.Uncertain != 100 {
		t.Fatalf("job %+v: the runner failed items instead of pausing", job)
	}
}

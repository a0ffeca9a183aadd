package server_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/idempotency"
	"github.com/crm-gateway/crm-gateway/internal/server"
)

const hcCustomers = "/v1/connections/helpcrunch/customers"

// idemRedis connects to the shared real Redis, failing (never skipping) when
// it does not answer, and returns a prefix unique to the test whose keys are
// deleted afterwards.
func idemRedis(t *testing.T) (*redis.Client, string) {
	t.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		url = "redis://127.0.0.1:6379/0"
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("REDIS_URL %q: %v", url, err)
	}
	rdb := redis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		t.Fatalf("real Redis at %s did not answer PING: %v (start Redis there or set REDIS_URL)", url, err)
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	prefix := "idem-server-test:" + hex.EncodeToString(b[:]) + ":"
	t.Cleanup(func() {
		ctx := context.Background()
		iter := rdb.Scan(ctx, 0, prefix+"*", 500).Iterator()
		for iter.Next(ctx) {
			rdb.Del(ctx, iter.Val())
		}
		_ = rdb.Close()
	})
	return rdb, prefix
}

// idemStack is the in-process stack with answers kept in the real Redis
// under a fresh prefix (+ "idem:", as cmd/gateway wires it).
func idemStack(t *testing.T, tweak func(*config.Config), idem server.IdempotencyOptions, opts ...stackOption) (*stack, *redis.Client, string) {
	t.Helper()
	rdb, prefix := idemRedis(t)
	idem.Store = idempotency.NewRedis(rdb, prefix+"idem:")
	opts = append(opts, withServerOptions(func(o *server.Options) { o.Idempotency = idem }))
	return newStack(t, tweak, opts...), rdb, prefix
}

func idemKey(t *testing.T) string {
	t.Helper()
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "key-" + hex.EncodeToString(b[:])
}

func hcCreates(s *stack) int { return s.sims.HelpCrunch.Stats().Operations["POST /customers"] }

func wantReplayOf(t *testing.T, got, first response) {
	t.Helper()
	if got.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("no Idempotent-Replayed: true on the repeat: %d %v %s", got.Status, got.Header, got.Raw)
	}
	if got.Status != first.Status || string(got.Raw) != string(first.Raw) {
		t.Fatalf("replayed %d %s, first answer was %d %s", got.Status, got.Raw, first.Status, first.Raw)
	}
	for _, h := range []string{"Content-Type", "Location", "RateLimit-Policy", "RateLimit"} {
		if got.Header.Get(h) != first.Header.Get(h) {
			t.Fatalf("replayed %s %q, first answer had %q", h, got.Header.Get(h), first.Header.Get(h))
		}
	}
}

func wantExecuted(t *testing.T, r response) {
	t.Helper()
	if r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("answer marked replayed, want a fresh execution: %d %s", r.Status, r.Raw)
	}
}

// TestIdempotencyReplaysTheFirstAnswer: a repeat gets the stored answer with
// Idempotent-Replayed: true and the vendor is called once; the key lands in
// Redis under the prefix; requests without a key are not affected.
func TestIdempotencyReplaysTheFirstAnswer(t *testing.T) {
	s, rdb, prefix := idemStack(t, nil, server.IdempotencyOptions{})
	key := idemKey(t)
	body := map[string]any{"name": "Ana Souza", "email": "ana-idem@example.com"}

	first := s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key)
	if first.Status != http.StatusCreated || first.Header.Get("RateLimit") == "" {
		t.Fatalf("first: %d %v %s", first.Status, first.Header, first.Raw)
	}
	wantExecuted(t, first)
	for range 3 {
		wantReplayOf(t, s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key), first)
	}
	// The draft's form, a quoted sf-string, names the same key.
	wantReplayOf(t, s.do(t, "POST", hcCustomers, body, `Idempotency-Key: "`+key+`"`), first)
	if n := hcCreates(s); n != 1 {
		t.Fatalf("vendor saw %d creates, want 1", n)
	}
	keys, err := rdb.Keys(context.Background(), prefix+"idem:admin:*").Result()
	if err != nil || len(keys) != 1 {
		t.Fatalf("Redis keys under the prefix: %v, %v; want one", keys, err)
	}
	if ttl := rdb.PTTL(context.Background(), keys[0]).Val(); ttl < 23*time.Hour || ttl > 24*time.Hour {
		t.Fatalf("stored answer PTTL %v, want ≈24h", ttl)
	}

	// Without a key every request runs.
	s.do(t, "POST", hcCustomers, body)
	s.do(t, "POST", hcCustomers, body)
	if n := hcCreates(s); n != 3 {
		t.Fatalf("vendor saw %d creates, want 3", n)
	}
}

// TestIdempotencyKeyWithAnotherBody: the same key with a different body is a
// 422 problem naming the header, and nothing reaches the vendor.
func TestIdempotencyKeyWithAnotherBody(t *testing.T) {
	s, _, _ := idemStack(t, nil, server.IdempotencyOptions{})
	key := idemKey(t)
	first := s.do(t, "POST", hcCustomers, map[string]any{"name": "Ana"}, "Idempotency-Key: "+key)
	if first.Status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Status, first.Raw)
	}
	r := s.do(t, "POST", hcCustomers, map[string]any{"name": "Bruno"}, "Idempotency-Key: "+key)
	wantProblem(t, r, http.StatusUnprocessableEntity, "unprocessable")
	if fieldReasons(r)["Idempotency-Key"] == "" || r.Body["outcome"] != "not_applied" {
		t.Fatalf("problem %s: want the header named and outcome not_applied", r.Raw)
	}
	// Same bytes, another spelling: the fingerprint is of the raw body.
	r = s.do(t, "POST", hcCustomers, `{"name": "Ana"}`, "Idempotency-Key: "+key)
	wantProblem(t, r, http.StatusUnprocessableEntity, "unprocessable")
	if n := hcCreates(s); n != 1 {
		t.Fatalf("vendor saw %d creates, want 1", n)
	}
	// Still replayed for the original body.
	wantReplayOf(t, s.do(t, "POST", hcCustomers, map[string]any{"name": "Ana"}, "Idempotency-Key: "+key), first)
}

// holdingVendor blocks the first HelpCrunch create made while holding is
// set until released, and says when it arrives; other requests pass (so a
// duplicate that wrongly reached the vendor would be answered, not hang).
type holdingVendor struct {
	holding atomic.Bool
	held    atomic.Bool
	arrived chan struct{}
	release chan struct{}
	once    sync.Once
}

func newHoldingVendor() *holdingVendor {
	return &holdingVendor{arrived: make(chan struct{}, 1), release: make(chan struct{})}
}

// letGo releases the held request; register it as a cleanup after the stack
// is built, so that a failing test releases it before the simulator's server
// waits for it to finish.
func (h *holdingVendor) letGo() { h.once.Do(func() { close(h.release) }) }

func (h *holdingVendor) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if h.holding.Load() && r.Method == http.MethodPost && r.URL.Path == "/helpcrunch/v1/customers" && h.held.CompareAndSwap(false, true) {
			h.arrived <- struct{}{}
			<-h.release
		}
		next.ServeHTTP(w, r)
	})
}

// TestIdempotencyConcurrentDuplicate: a repeat while the first request is
// still at the vendor is a 409 with Retry-After, even after the lease's
// first expiry (the running request renews it); once the first finishes, the
// repeat is replayed.
func TestIdempotencyConcurrentDuplicate(t *testing.T) {
	vendor := newHoldingVendor()
	vendor.holding.Store(true)
	s, _, _ := idemStack(t, nil, server.IdempotencyOptions{Lease: 150 * time.Millisecond}, withSimWrap(vendor.wrap))
	t.Cleanup(vendor.letGo)
	key := idemKey(t)
	body := map[string]any{"name": "Ana Concurrent"}

	var wg sync.WaitGroup
	var first response
	wg.Go(func() { first = s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key) })
	select {
	case <-vendor.arrived:
	case <-time.After(5 * time.Second):
		t.Fatal("the first request never reached the vendor")
	}
	for _, wait := range []time.Duration{0, 400 * time.Millisecond} { // 400 ms: past the 150 ms lease twice over
		time.Sleep(wait)
		r := s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key)
		wantProblem(t, r, http.StatusConflict, "conflict")
		if r.Header.Get("Retry-After") != "1" || fieldReasons(r)["Idempotency-Key"] == "" {
			t.Fatalf("409 %v %s: want Retry-After: 1 and the header named", r.Header, r.Raw)
		}
	}
	// Another body while in flight is a conflict too (the first decides).
	wantProblem(t, s.do(t, "POST", hcCustomers, map[string]any{"name": "Other"}, "Idempotency-Key: "+key), http.StatusConflict, "conflict")
	vendor.letGo()
	wg.Wait()
	if first.Status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.Status, first.Raw)
	}
	wantReplayOf(t, s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key), first)
	if n := hcCreates(s); n != 1 {
		t.Fatalf("vendor saw %d creates, want 1", n)
	}
}

// failingVendor answers HelpCrunch creates with a 500 while failing is set,
// and counts every create it sees.
type failingVendor struct {
	failing atomic.Bool
	creates atomic.Int32
}

func (f *failingVendor) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		isCreate := r.Method == http.MethodPost && r.URL.Path == "/helpcrunch/v1/customers"
		if isCreate {
			f.creates.Add(1)
		}
		if f.failing.Load() && isCreate {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = w.Write([]byte(`{"errors":[{"code":"internal","message":"boom"}]}`))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// TestIdempotency5xxIsNotKept: a 5xx answer frees the key at once, so the
// retry with the same key runs (and is then kept).
func TestIdempotency5xxIsNotKept(t *testing.T) {
	vendor := &failingVendor{}
	vendor.failing.Store(true)
	s, _, _ := idemStack(t, nil, server.IdempotencyOptions{}, withSimWrap(vendor.wrap))
	key := idemKey(t)
	body := map[string]any{"name": "Ana Retry"}
	r := s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key)
	if r.Status < 500 {
		t.Fatalf("with the vendor failing: %d %s, want a 5xx", r.Status, r.Raw)
	}
	r = s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key)
	if r.Status < 500 {
		t.Fatalf("second try: %d %s, want the vendor's failure again", r.Status, r.Raw)
	}
	wantExecuted(t, r)
	vendor.failing.Store(false)
	ok := s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key)
	if ok.Status != http.StatusCreated {
		t.Fatalf("after recovery: %d %s", ok.Status, ok.Raw)
	}
	wantExecuted(t, ok)
	wantReplayOf(t, s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key), ok)
	if n := vendor.creates.Load(); n != 3 {
		t.Fatalf("vendor saw %d creates, want 3 (two failed, one kept)", n)
	}
}

// TestIdempotency501IsNotKept: a 5xx the gateway itself answers (a vendor
// without the capability) is not kept either.
func TestIdempotency501IsNotKept(t *testing.T) {
	s, _, _ := idemStack(t, nil, server.IdempotencyOptions{})
	key := idemKey(t)
	for range 2 {
		r := s.do(t, "PATCH", "/v1/connections/zenvia/customers/x", map[string]any{"name": "x"}, "Idempotency-Key: "+key)
		wantProblem(t, r, http.StatusNotImplemented, "not_implemented")
		wantExecuted(t, r)
	}
}

// TestIdempotency429IsNotKept: a 429 (no rate budget, nothing sent) frees
// the key; when budget is back the same key runs.
func TestIdempotency429IsNotKept(t *testing.T) {
	s, _, _ := idemStack(t, func(c *config.Config) {
		c.Connections["helpcrunch"].Limits.Requests = 1
		c.Connections["helpcrunch"].Limits.Period = 2 * time.Second
		c.Connections["helpcrunch"].Limits.Burst = 1
	}, server.IdempotencyOptions{})
	if r := s.do(t, "POST", hcCustomers, map[string]any{"name": "Budget Eater"}); r.Status != http.StatusCreated {
		t.Fatalf("first: %d %s", r.Status, r.Raw)
	}
	key := idemKey(t)
	body := map[string]any{"name": "Ana Later"}
	for range 2 {
		r := s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key, "Prefer: wait=0")
		wantProblem(t, r, http.StatusTooManyRequests, "rate_limited")
		wantExecuted(t, r)
	}
	var ok response
	waitFor(t, func() bool {
		ok = s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key, "Prefer: wait=0")
		return ok.Status == http.StatusCreated
	})
	wantExecuted(t, ok)
	wantReplayOf(t, s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key), ok)
	if n := hcCreates(s); n != 2 {
		t.Fatalf("vendor saw %d creates, want 2", n)
	}
}

// TestIdempotency4xxIsKept: a client error the handler answers is kept and
// replayed like a success (the draft keeps any answer but 429 and 5xx).
func TestIdempotency4xxIsKept(t *testing.T) {
	s, _, _ := idemStack(t, nil, server.IdempotencyOptions{})
	key := idemKey(t)
	body := map[string]any{"name": "x", "birthday": "1990-01-01"} // HelpCrunch cannot store birthday
	first := s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key)
	wantProblem(t, first, http.StatusUnprocessableEntity, "unprocessable")
	wantReplayOf(t, s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key), first)
}

// TestIdempotencyKeysAreScoped: the same key value is independent per API
// key (two clients), per path and per method.
func TestIdempotencyKeysAreScoped(t *testing.T) {
	s, _, _ := idemStack(t, nil, server.IdempotencyOptions{})
	key := idemKey(t)
	zenvia := "/v1/connections/zenvia/customers"
	body := map[string]any{"name": "Ana Scoped", "phone": "5511991417777"}
	zvCalls := func() int { return s.sims.Zenvia.Stats().Requests }

	before := zvCalls()
	admin := s.do(t, "POST", zenvia, body, "Idempotency-Key: "+key)
	if admin.Status != http.StatusCreated || zvCalls() == before {
		t.Fatalf("admin: %d %s (vendor calls %d → %d)", admin.Status, admin.Raw, before, zvCalls())
	}
	before = zvCalls()
	scoped := s.do(t, "POST", zenvia, body, "Idempotency-Key: "+key, "Authorization: Bearer "+scopedKey)
	if scoped.Status != http.StatusCreated || zvCalls() == before {
		t.Fatalf("another client with the same key value was not executed: %d %s", scoped.Status, scoped.Raw)
	}
	wantExecuted(t, scoped)
	before = zvCalls()
	wantReplayOf(t, s.do(t, "POST", zenvia, body, "Idempotency-Key: "+key), admin)
	wantReplayOf(t, s.do(t, "POST", zenvia, body, "Idempotency-Key: "+key, "Authorization: Bearer "+scopedKey), scoped)
	if zvCalls() != before {
		t.Fatalf("replays called the vendor: %d → %d", before, zvCalls())
	}

	// Another path (connection) with the same key and body runs.
	hc := s.do(t, "POST", hcCustomers, map[string]any{"name": "Ana Scoped"}, "Idempotency-Key: "+key)
	if hc.Status != http.StatusCreated {
		t.Fatalf("other path: %d %s", hc.Status, hc.Raw)
	}
	wantExecuted(t, hc)
	// Another method on another route with the same key runs.
	id := hc.Body["id"].(string)
	p := s.do(t, "PATCH", hcCustomers+"/"+id, map[string]any{"company": "ACME"}, "Idempotency-Key: "+key)
	if p.Status != http.StatusOK {
		t.Fatalf("PATCH: %d %s", p.Status, p.Raw)
	}
	wantExecuted(t, p)
	wantReplayOf(t, s.do(t, "PATCH", hcCustomers+"/"+id, map[string]any{"company": "ACME"}, "Idempotency-Key: "+key), p)
}

// TestIdempotencyAnswersExpire: after the TTL the key runs again.
func TestIdempotencyAnswersExpire(t *testing.T) {
	s, _, _ := idemStack(t, nil, server.IdempotencyOptions{TTL: 300 * time.Millisecond})
	key := idemKey(t)
	body := map[string]any{"name": "Ana Expiring"}
	first := s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key)
	wantReplayOf(t, s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key), first)
	time.Sleep(400 * time.Millisecond)
	again := s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key)
	if again.Status != http.StatusCreated {
		t.Fatalf("after expiry: %d %s", again.Status, again.Raw)
	}
	wantExecuted(t, again)
	if n := hcCreates(s); n != 2 {
		t.Fatalf("vendor saw %d creates, want 2", n)
	}
}

// TestIdempotencyBadKeys: a malformed key is a 400 naming the header, before
// anything is stored or sent.
func TestIdempotencyBadKeys(t *testing.T) {
	s, rdb, prefix := idemStack(t, nil, server.IdempotencyOptions{})
	for _, bad := range []string{
		`""`, `"unterminated`, `"a"b`, `"bad\escape"`, "two words", strings.Repeat("k", 256),
	} {
		r := s.do(t, "POST", hcCustomers, map[string]any{"name": "x"}, "Idempotency-Key: "+bad)
		wantProblem(t, r, http.StatusBadRequest, "invalid")
		if _, ok := fieldReasons(r)["Idempotency-Key"]; !ok {
			t.Fatalf("key %q: %s, want the header named", bad, r.Raw)
		}
	}
	// Sent twice.
	req := map[string]any{"name": "x"}
	buf, _ := json.Marshal(req)
	h := http.Header{"Authorization": {"Bearer " + adminKey}, "Content-Type": {"application/json"}, "Idempotency-Key": {"a", "b"}}
	if code := s.raw(t, "POST", hcCustomers, string(buf), h); code != http.StatusBadRequest {
		t.Fatalf("two Idempotency-Key headers: %d, want 400", code)
	}
	if n := hcCreates(s); n != 0 {
		t.Fatalf("vendor saw %d creates, want 0", n)
	}
	if keys := rdb.Keys(context.Background(), prefix+"*").Val(); len(keys) != 0 {
		t.Fatalf("keys stored for bad requests: %v", keys)
	}
}

// TestIdempotencyStoreDown: when the store cannot be reached a request with
// a key is refused with 503 before the vendor is called; without a key it
// runs.
func TestIdempotencyStoreDown(t *testing.T) {
	down := redis.NewClient(&redis.Options{Addr: "127.0.0.1:1", DialTimeout: 200 * time.Millisecond, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = down.Close() })
	s := newStack(t, nil, withServerOptions(func(o *server.Options) {
		o.Idempotency = server.IdempotencyOptions{Store: idempotency.NewRedis(down, "x:")}
	}))
	r := s.do(t, "POST", hcCustomers, map[string]any{"name": "x"}, "Idempotency-Key: k")
	wantProblem(t, r, http.StatusServiceUnavailable, "unavailable")
	if r.Body["outcome"] != "not_applied" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("503 %v %s: want outcome not_applied and Retry-After", r.Header, r.Raw)
	}
	if n := hcCreates(s); n != 0 {
		t.Fatalf("vendor saw %d creates, want 0", n)
	}
	if r := s.do(t, "POST", hcCustomers, map[string]any{"name": "x"}); r.Status != http.StatusCreated {
		t.Fatalf("without a key: %d %s", r.Status, r.Raw)
	}
}

// TestIdempotencyInMemoryByDefault: with no store configured (sandbox) the
// same behaviour holds in memory.
func TestIdempotencyInMemoryByDefault(t *testing.T) {
	vendor := newHoldingVendor()
	s := newStack(t, nil, withSimWrap(vendor.wrap))
	t.Cleanup(vendor.letGo)
	key := idemKey(t)
	body := map[string]any{"name": "Ana Memory"}
	first := s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key)
	wantReplayOf(t, s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+key), first)
	wantProblem(t, s.do(t, "POST", hcCustomers, map[string]any{"name": "B"}, "Idempotency-Key: "+key), http.StatusUnprocessableEntity, "unprocessable")

	vendor.holding.Store(true)
	other := idemKey(t)
	var wg sync.WaitGroup
	wg.Go(func() { s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+other) })
	<-vendor.arrived
	wantProblem(t, s.do(t, "POST", hcCustomers, body, "Idempotency-Key: "+other), http.StatusConflict, "conflict")
	vendor.letGo()
	wg.Wait()
	if n := hcCreates(s); n != 2 {
		t.Fatalf("vendor saw %d creates, want 2", n)
	}
}

// TestIdempotencyOtherWrites: interactions and event redelivery take keys
// too; GET ignores the header.
func TestIdempotencyOtherWrites(t *testing.T) {
	s, _, _ := idemStack(t, nil, server.IdempotencyOptions{})
	key := idemKey(t)
	start := map[string]any{"department_id": 1, "media_type": "WHATSAPP", "customer": map[string]any{"name": "Ana", "phone": "5511991417777"}}
	first := s.do(t, "POST", "/v1/connections/zenvia/interactions", start, "Idempotency-Key: "+key)
	if first.Status != http.StatusCreated {
		t.Fatalf("start: %d %s", first.Status, first.Raw)
	}
	before := s.sims.Zenvia.Stats().Requests
	wantReplayOf(t, s.do(t, "POST", "/v1/connections/zenvia/interactions", start, "Idempotency-Key: "+key), first)
	id := first.Body["id"].(string)
	finish := "/v1/connections/zenvia/interactions/" + id + "/finish"
	f := s.do(t, "POST", finish, nil, "Idempotency-Key: "+key)
	if f.Status != http.StatusOK {
		t.Fatalf("finish: %d %s", f.Status, f.Raw)
	}
	wantReplayOf(t, s.do(t, "POST", finish, nil, "Idempotency-Key: "+key), f)
	if got := s.sims.Zenvia.Stats().Requests - before; got != 1 {
		t.Fatalf("vendor saw %d requests for one finish and two replays, want 1", got)
	}
	g := s.do(t, "GET", "/v1/connections", nil, "Idempotency-Key: "+key)
	if g.Status != http.StatusOK || g.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("GET with a key: %d %v", g.Status, g.Header)
	}
}

// TestIdempotencyStreamedBatch: a batch large enough to be streamed into a
// job is fingerprinted as it is read; a repeat is answered the same job
// (one job, each item sent once), and another body is a 422.
func TestIdempotencyStreamedBatch(t *testing.T) {
	s := newJobStack(t, 16<<10, nil)
	key := idemKey(t)
	body, _ := json.Marshal(nxBatch(1500, "idem-stream")) // ≈ 100 KB: streamed
	first := s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", string(body), "Idempotency-Key: "+key)
	if first.Status != http.StatusAccepted || first.Header.Get("Location") == "" {
		t.Fatalf("first: %d %s", first.Status, first.Raw)
	}
	wantReplayOf(t, s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", string(body), "Idempotency-Key: "+key), first)
	other, _ := json.Marshal(nxBatch(1500, "idem-other"))
	wantProblem(t, s.do(t, "POST", "/v1/connections/nxcloud/customers/batch", string(other), "Idempotency-Key: "+key),
		http.StatusUnprocessableEntity, "unprocessable")
	s.waitJobDone(t, first.Header.Get("Location"))
	if got := s.sims.NXCloud.Stats().ItemsReceived; got != 1500 {
		t.Fatalf("vendor received %d items, want 1500", got)
	}
	list := s.do(t, "GET", "/v1/jobs", nil)
	if data, _ := list.Body["data"].([]any); len(data) != 1 {
		t.Fatalf("%d jobs, want 1: %s", len(data), list.Raw)
	}
}

// raw sends a request with exactly these headers and returns the status.
func (s *stack) raw(t *testing.T, method, path, body string, h http.Header) int {
	t.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header = h
	rec := httptest.NewRecorder()
	s.e.ServeHTTP(rec, req)
	return rec.Code
}

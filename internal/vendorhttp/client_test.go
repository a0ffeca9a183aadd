package vendorhttp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
)

// events is an ordered log shared by the fake limiter and the fake vendor,
// so tests can check that a token is reserved before every attempt.
type events struct {
	mu  sync.Mutex
	log []string
}

func (e *events) add(s string) {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.log = append(e.log, s)
}

func (e *events) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return strings.Join(e.log, " ")
}

type reserveCall struct {
	key     string
	limit   ratelimit.Limit
	maxWait time.Duration
}

// fakeLimiter is a Limiter whose decisions are function fields; by default
// it grants every token at once and takes every Block.
type fakeLimiter struct {
	// ReserveFunc decides the n-th Reserve call (from 1).
	ReserveFunc func(n int, maxWait time.Duration) (ratelimit.Reservation, error)
	BlockFunc   func(d time.Duration) error
	events      *events

	mu       sync.Mutex
	reserves []reserveCall
	blocks   []time.Duration
	keys     []string // of Block calls
	limits   []ratelimit.Limit
}

func (f *fakeLimiter) Reserve(_ context.Context, key string, l ratelimit.Limit, maxWait time.Duration) (ratelimit.Reservation, error) {
	f.mu.Lock()
	f.reserves = append(f.reserves, reserveCall{key, l, maxWait})
	n := len(f.reserves)
	f.mu.Unlock()
	f.events.add("reserve")
	if f.ReserveFunc != nil {
		return f.ReserveFunc(n, maxWait)
	}
	return ratelimit.Reservation{OK: true, Remaining: 5, Reset: time.Second}, nil
}

func (f *fakeLimiter) Block(_ context.Context, key string, l ratelimit.Limit, d time.Duration) error {
	f.mu.Lock()
	f.blocks = append(f.blocks, d)
	f.keys = append(f.keys, key)
	f.limits = append(f.limits, l)
	f.mu.Unlock()
	f.events.add("block")
	if f.BlockFunc != nil {
		return f.BlockFunc(d)
	}
	return nil
}

func (f *fakeLimiter) reserveCalls() []reserveCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]reserveCall(nil), f.reserves...)
}

func (f *fakeLimiter) blockCalls() []time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]time.Duration(nil), f.blocks...)
}

// seen is one request as the fake vendor received it.
type seen struct {
	method, uri string
	header      http.Header
	body        []byte
	at          time.Time
}

// step answers one attempt.
type step func(w http.ResponseWriter, r *http.Request)

// fakeVendor is an httptest server that answers the n-th request with the
// n-th step (the last step repeats) and records every request.
type fakeVendor struct {
	srv    *httptest.Server
	steps  []step
	events *events

	mu   sync.Mutex
	reqs []seen
}

func newVendor(t *testing.T, ev *events, steps ...step) *fakeVendor {
	t.Helper()
	v := &fakeVendor{steps: steps, events: ev}
	v.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v.mu.Lock()
		v.reqs = append(v.reqs, seen{r.Method, r.RequestURI, r.Header.Clone(), body, time.Now()})
		n := len(v.reqs)
		v.mu.Unlock()
		v.events.add("send")
		if len(v.steps) == 0 {
			reply(200, `{"ok":true}`)(w, r)
			return
		}
		v.steps[min(n, len(v.steps))-1](w, r)
	}))
	t.Cleanup(v.srv.Close)
	return v
}

func (v *fakeVendor) requests() []seen {
	v.mu.Lock()
	defer v.mu.Unlock()
	return append([]seen(nil), v.reqs...)
}

// reply answers status and body, with header pairs.
func reply(status int, body string, header ...string) step {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}
}

// hang answers only after the client gave up (or after a second).
func hang(w http.ResponseWriter, r *http.Request) {
	select {
	case <-r.Context().Done():
	case <-time.After(time.Second):
	}
}

// slowly runs s after d.
func slowly(d time.Duration, s step) step {
	return func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(d)
		s(w, r)
	}
}

var testLimit = ratelimit.Limit{Rate: 110, Period: time.Minute, Burst: 10}

func newClient(baseURL string, lim Limiter) *Client {
	return &Client{
		Vendor: "acme", Bucket: "acme-main", BaseURL: baseURL, HTTP: &http.Client{},
		Limiter: lim, Limit: testLimit, MaxWait: 200 * time.Millisecond, Timeout: 100 * time.Millisecond,
		Retry: Retry{Attempts: 3, BaseDelay: time.Millisecond, MaxDelay: 4 * time.Millisecond, MaxRetryAfter: 30 * time.Second},
	}
}

var (
	get  = Request{Op: "GET /customers/1", Method: http.MethodGet, Path: "/customers/1", Idempotent: true}
	post = Request{Op: "POST /customers", Method: http.MethodPost, Path: "/customers", Body: []byte(`{"name":"Ada"}`)}
)

// crmErr asserts err is a *crm.Error with code and outcome.
func crmErr(t *testing.T, err error, code string, outcome crm.Outcome) *crm.Error {
	t.Helper()
	var e *crm.Error
	if !errors.As(err, &e) {
		t.Fatalf("error = %v (%T), want *crm.Error %s", err, err, code)
	}
	if e.Code != code || e.Outcome != outcome || e.Vendor != "acme" {
		t.Fatalf("error = %s/%s vendor %q (%v), want %s/%s vendor acme", e.Code, e.Outcome, e.Vendor, e, code, outcome)
	}
	return e
}

func TestReserveBeforeEveryAttempt(t *testing.T) {
	tests := []struct {
		name   string
		req    Request
		steps  []step
		status int
		want   string
	}{
		{"one call", post, []step{reply(201, "{}")}, 201, "reserve send"},
		{"5xx retried", get, []step{reply(503, ""), reply(502, ""), reply(200, "{}")}, 200, "reserve send reserve send reserve send"},
		{"429 retried", post, []step{reply(429, "", "Retry-After", "0"), reply(200, "{}")}, 200, "reserve send block reserve send"},
		{"timeout retried", get, []step{hang, reply(200, "{}")}, 200, "reserve send reserve send"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev := &events{}
			lim := &fakeLimiter{events: ev}
			v := newVendor(t, ev, tt.steps...)
			resp, err := newClient(v.srv.URL, lim).Do(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if resp.Status != tt.status {
				t.Errorf("status = %d, want %d", resp.Status, tt.status)
			}
			if got := ev.String(); got != tt.want {
				t.Errorf("events = %q, want %q", got, tt.want)
			}
			for _, c := range lim.reserveCalls() {
				if c.key != "acme-main" || c.limit != testLimit {
					t.Errorf("Reserve(%q, %v), want the connection's bucket %q %v", c.key, c.limit, "acme-main", testLimit)
				}
			}
		})
	}
}

func TestReserveDelayIsWaited(t *testing.T) {
	lim := &fakeLimiter{ReserveFunc: func(int, time.Duration) (ratelimit.Reservation, error) {
		return ratelimit.Reservation{OK: true, Delay: 30 * time.Millisecond}, nil
	}}
	v := newVendor(t, nil)
	start := time.Now()
	if _, err := newClient(v.srv.URL, lim).Do(context.Background(), get); err != nil {
		t.Fatal(err)
	}
	if r := v.requests(); len(r) != 1 || r[0].at.Sub(start) < 30*time.Millisecond {
		t.Errorf("request sent %v after the call, before the reserved token's delay of 30ms", r[0].at.Sub(start))
	}
}

func TestLimiterRefuses(t *testing.T) {
	refuse := func(int, time.Duration) (ratelimit.Reservation, error) {
		return ratelimit.Reservation{RetryAfter: 3 * time.Second, Reset: 4 * time.Second}, nil
	}
	tests := []struct {
		name       string
		reserve    func(int, time.Duration) (ratelimit.Reservation, error)
		steps      []step
		code       string
		retryAfter time.Duration
		sent       int
		is         error
	}{
		{"no budget", refuse, nil, crm.ERateLimited, 3 * time.Second, 0, ratelimit.ErrLimited},
		{"no budget left for the retry after a 429", func(n int, w time.Duration) (ratelimit.Reservation, error) {
			if n == 1 {
				return ratelimit.Reservation{OK: true}, nil
			}
			return refuse(n, w)
		}, []step{reply(429, "", "Retry-After", "5")}, crm.ERateLimited, 3 * time.Second, 1, ratelimit.ErrLimited},
		{"limiter down", func(int, time.Duration) (ratelimit.Reservation, error) {
			return ratelimit.Reservation{}, errors.New("redis: connection refused")
		}, nil, crm.EUnavailable, 0, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := &fakeLimiter{ReserveFunc: tt.reserve}
			v := newVendor(t, nil, tt.steps...)
			resp, err := newClient(v.srv.URL, lim).Do(context.Background(), post)
			e := crmErr(t, err, tt.code, crm.OutcomeNotApplied)
			if resp != nil {
				t.Errorf("response %d returned with the error", resp.Status)
			}
			if e.RetryAfter != tt.retryAfter {
				t.Errorf("RetryAfter = %s, want %s", e.RetryAfter, tt.retryAfter)
			}
			if tt.is != nil && !errors.Is(err, tt.is) {
				t.Errorf("error %v does not wrap %v", err, tt.is)
			}
			if n := len(v.requests()); n != tt.sent {
				t.Errorf("vendor saw %d requests, want %d", n, tt.sent)
			}
			if tt.code == crm.ERateLimited && !strings.Contains(e.Message, "acme") {
				t.Errorf("message %q does not name the vendor", e.Message)
			}
		})
	}
}

func TestContextEnded(t *testing.T) {
	v := newVendor(t, nil, hang)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := newClient(v.srv.URL, &fakeLimiter{}).Do(ctx, get)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("error = %v, want context.Canceled", err)
	}
	if n := len(v.requests()); n != 0 {
		t.Errorf("vendor saw %d requests", n)
	}

	// A caller's deadline ends a hanging idempotent call without retries.
	ctx, cancel = context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	c := newClient(v.srv.URL, &fakeLimiter{})
	c.Timeout = time.Second
	if _, err := c.Do(ctx, get); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("error = %v, want context.DeadlineExceeded", err)
	}
	if n := len(v.requests()); n != 1 {
		t.Errorf("vendor saw %d requests, want 1", n)
	}
}

func TestWaitBound(t *testing.T) {
	bg := context.Background()
	deadline, cancel := context.WithTimeout(bg, 40*time.Millisecond)
	defer cancel()
	tests := []struct {
		name    string
		ctx     context.Context
		maxWait time.Duration // Client.MaxWait
		lo, hi  time.Duration // of the maxWait passed to Reserve
		bound   bool
	}{
		{"connection's own bound", bg, 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, false},
		{"shorter bound", WithWaitBound(bg, 50*time.Millisecond), 200 * time.Millisecond, 30 * time.Millisecond, 50 * time.Millisecond, true},
		{"longer bound does not lengthen", WithWaitBound(bg, 10*time.Second), 200 * time.Millisecond, 200 * time.Millisecond, 200 * time.Millisecond, true},
		{"zero bound", WithWaitBound(bg, 0), 200 * time.Millisecond, 0, 0, true},
		{"negative bound", WithWaitBound(bg, -time.Second), 200 * time.Millisecond, 0, 0, true},
		{"earlier bound stays", WithWaitBound(WithWaitBound(bg, 50*time.Millisecond), 10*time.Second), time.Second, 30 * time.Millisecond, 50 * time.Millisecond, true},
		{"later, shorter bound wins", WithWaitBound(WithWaitBound(bg, 10*time.Second), 50*time.Millisecond), time.Second, 30 * time.Millisecond, 50 * time.Millisecond, true},
		{"zero MaxWait", WithWaitBound(bg, time.Second), 0, 0, 0, true},
		{"context deadline", deadline, time.Second, 10 * time.Millisecond, 40 * time.Millisecond, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if HasWaitBound(tt.ctx) != tt.bound {
				t.Errorf("HasWaitBound = %v, want %v", !tt.bound, tt.bound)
			}
			lim := &fakeLimiter{}
			v := newVendor(t, nil)
			c := newClient(v.srv.URL, lim)
			c.MaxWait = tt.maxWait
			if _, err := c.Do(tt.ctx, get); err != nil {
				t.Fatal(err)
			}
			calls := lim.reserveCalls()
			if len(calls) != 1 {
				t.Fatalf("%d Reserve calls", len(calls))
			}
			if w := calls[0].maxWait; w < tt.lo || w > tt.hi {
				t.Errorf("Reserve maxWait = %s, want within [%s, %s]", w, tt.lo, tt.hi)
			}
		})
	}
}

// A wait bound is a deadline for all the calls under it: a retry after a
// vendor 429 may only wait for what is left of it.
func TestWaitBoundSpansRetries(t *testing.T) {
	lim := &fakeLimiter{}
	v := newVendor(t, nil, slowly(60*time.Millisecond, reply(429, "", "Retry-After", "0")), reply(200, "{}"))
	c := newClient(v.srv.URL, lim)
	c.MaxWait = time.Second
	if _, err := c.Do(WithWaitBound(context.Background(), 150*time.Millisecond), post); err != nil {
		t.Fatal(err)
	}
	calls := lim.reserveCalls()
	if len(calls) != 2 {
		t.Fatalf("%d Reserve calls, want 2", len(calls))
	}
	if first, second := calls[0].maxWait, calls[1].maxWait; second > 90*time.Millisecond || second >= first {
		t.Errorf("Reserve maxWait = %s then %s; after 60ms the retry may wait at most 90ms", first, second)
	}

	// Without a bound in ctx each attempt may wait the connection's MaxWait.
	lim = &fakeLimiter{}
	v = newVendor(t, nil, reply(429, "", "Retry-After", "0"), reply(200, "{}"))
	c = newClient(v.srv.URL, lim)
	if _, err := c.Do(context.Background(), post); err != nil {
		t.Fatal(err)
	}
	for _, call := range lim.reserveCalls() {
		if call.maxWait != c.MaxWait {
			t.Errorf("Reserve maxWait = %s, want MaxWait %s", call.maxWait, c.MaxWait)
		}
	}
}

func TestVendor429(t *testing.T) {
	tests := []struct {
		name          string
		retryAfter    func() string // "" for none
		maxRetryAfter time.Duration
		lo, hi        time.Duration // of the Block duration
	}{
		{"Retry-After seconds", func() string { return "2" }, 30 * time.Second, 2 * time.Second, 2 * time.Second},
		{"Retry-After capped", func() string { return "2" }, 500 * time.Millisecond, 500 * time.Millisecond, 500 * time.Millisecond},
		{"Retry-After zero", func() string { return "0" }, 30 * time.Second, 0, 0},
		{"Retry-After date", func() string { return time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat) }, 30 * time.Second, time.Second, 3 * time.Second},
		{"Retry-After date in the past", func() string { return "Sun, 06 Nov 1994 08:49:37 GMT" }, 30 * time.Second, 0, 0},
		{"no Retry-After: backoff", func() string { return "" }, 30 * time.Second, 1, 5 * time.Millisecond},
		{"garbage Retry-After: backoff", func() string { return "soon" }, 30 * time.Second, 1, 5 * time.Millisecond},
		{"huge Retry-After capped", func() string { return "10000000000" }, time.Second, time.Second, time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := &fakeLimiter{}
			first := func(w http.ResponseWriter, r *http.Request) {
				if ra := tt.retryAfter(); ra != "" {
					w.Header().Set("Retry-After", ra)
				}
				w.WriteHeader(http.StatusTooManyRequests)
			}
			v := newVendor(t, nil, first, reply(200, `{"id":"1"}`))
			c := newClient(v.srv.URL, lim)
			c.Retry.BaseDelay, c.Retry.MaxDelay, c.Retry.MaxRetryAfter = 5*time.Millisecond, 5*time.Millisecond, tt.maxRetryAfter
			resp, err := c.Do(context.Background(), post) // a 429 is retried even when not idempotent
			if err != nil {
				t.Fatalf("Do: %v", err)
			}
			if resp.Status != 200 || string(resp.Body) != `{"id":"1"}` {
				t.Errorf("response = %d %s", resp.Status, resp.Body)
			}
			blocks := lim.blockCalls()
			if len(blocks) != 1 {
				t.Fatalf("Block called %d times, want 1", len(blocks))
			}
			if blocks[0] < tt.lo || blocks[0] > tt.hi {
				t.Errorf("Block(%s), want within [%s, %s]", blocks[0], tt.lo, tt.hi)
			}
			if lim.keys[0] != "acme-main" || lim.limits[0] != testLimit {
				t.Errorf("Block(%q, %v), want the connection's bucket", lim.keys[0], lim.limits[0])
			}
			if n := len(v.requests()); n != 2 {
				t.Errorf("vendor saw %d requests, want 2", n)
			}
		})
	}
}

func TestVendor429Exhausted(t *testing.T) {
	tests := []struct {
		attempts, want int
	}{
		{0, DefaultRetry.Attempts},
		{1, 1},
		{4, 4},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.attempts), func(t *testing.T) {
			lim := &fakeLimiter{}
			v := newVendor(t, nil, reply(429, `{"error":"slow down"}`, "Retry-After", "1"))
			c := newClient(v.srv.URL, lim)
			c.Retry.Attempts = tt.attempts
			resp, err := c.Do(context.Background(), get)
			e := crmErr(t, err, crm.ERateLimited, crm.OutcomeNotApplied)
			if e.RetryAfter != time.Second {
				t.Errorf("RetryAfter = %s, want 1s", e.RetryAfter)
			}
			if !strings.Contains(e.Message, fmt.Sprintf("after %d attempts", tt.want)) {
				t.Errorf("message %q", e.Message)
			}
			if resp == nil || resp.Status != 429 {
				t.Errorf("response = %+v, want the last 429", resp)
			}
			if n := len(v.requests()); n != tt.want {
				t.Errorf("vendor saw %d requests, want %d", n, tt.want)
			}
			if r, b := len(lim.reserveCalls()), len(lim.blockCalls()); r != tt.want || b != tt.want {
				t.Errorf("Reserve ×%d, Block ×%d, want ×%d each", r, b, tt.want)
			}
		})
	}
}

func TestBlockFailureIsLoggedNotFatal(t *testing.T) {
	core, logs := observer.New(zap.DebugLevel)
	lim := &fakeLimiter{BlockFunc: func(time.Duration) error { return errors.New("redis down") }}
	v := newVendor(t, nil, reply(429, ""), reply(200, "{}"))
	c := newClient(v.srv.URL, lim)
	c.Logger = zap.New(core)
	resp, err := c.Do(context.Background(), post)
	if err != nil || resp.Status != 200 {
		t.Fatalf("Do = %v, %v", resp, err)
	}
	if logs.FilterMessage("rate limiter did not take vendor 429 feedback").Len() != 1 {
		t.Errorf("Block failure not logged: %v", logs.All())
	}
	if logs.FilterMessage("vendor answered 429").Len() != 1 || logs.FilterMessage("vendor call").Len() != 1 {
		t.Errorf("attempts not logged: %v", logs.All())
	}
}

func TestVendor5xx(t *testing.T) {
	tests := []struct {
		name   string
		req    Request
		steps  []step
		status int
		sent   int
	}{
		{"idempotent retried", get, []step{reply(503, ""), reply(200, "{}")}, 200, 2},
		{"idempotent retried until attempts run out", get, []step{reply(500, "boom")}, 500, 3},
		{"non-idempotent not retried", post, []step{reply(500, "boom"), reply(200, "{}")}, 500, 1},
		{"non-idempotent 502 not retried", post, []step{reply(502, "boom"), reply(200, "{}")}, 502, 1},
		{"4xx not retried", get, []step{reply(404, "{}"), reply(200, "{}")}, 404, 1},
		{"422 not retried", post, []step{reply(422, "{}"), reply(200, "{}")}, 422, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := &fakeLimiter{}
			v := newVendor(t, nil, tt.steps...)
			resp, err := newClient(v.srv.URL, lim).Do(context.Background(), tt.req)
			if err != nil {
				t.Fatalf("Do: %v (a vendor error status is the adapter's to interpret)", err)
			}
			if resp.Status != tt.status {
				t.Errorf("status = %d, want %d", resp.Status, tt.status)
			}
			if n := len(v.requests()); n != tt.sent {
				t.Errorf("vendor saw %d requests, want %d", n, tt.sent)
			}
			if n := len(lim.reserveCalls()); n != tt.sent {
				t.Errorf("Reserve ×%d, want ×%d", n, tt.sent)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	tests := []struct {
		name    string
		req     Request
		steps   []step
		code    string // "" for success
		outcome crm.Outcome
		sent    int
	}{
		{"non-idempotent is uncertain, never retried", post, []step{hang, reply(200, "{}")}, crm.EUnavailable, crm.OutcomeUncertain, 1},
		{"idempotent retried", get, []step{hang, reply(200, "{}")}, "", "", 2},
		{"idempotent timing out every time", get, []step{hang}, crm.EUnavailable, crm.OutcomeUncertain, 3},
		{"timeout while reading the body", post, []step{func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(200)
			_, _ = io.WriteString(w, `{"partial":`)
			w.(http.Flusher).Flush()
			hang(w, r)
		}}, crm.EUnavailable, crm.OutcomeUncertain, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVendor(t, nil, tt.steps...)
			c := newClient(v.srv.URL, &fakeLimiter{})
			c.Timeout = 50 * time.Millisecond
			start := time.Now()
			resp, err := c.Do(context.Background(), tt.req)
			if took := time.Since(start); took > time.Duration(tt.sent)*c.Timeout+200*time.Millisecond {
				t.Errorf("Do took %s", took)
			}
			if tt.code == "" {
				if err != nil || resp.Status != 200 {
					t.Fatalf("Do = %v, %v", resp, err)
				}
			} else {
				e := crmErr(t, err, tt.code, tt.outcome)
				if !errors.Is(e, context.DeadlineExceeded) && !strings.Contains(e.Error(), "Timeout") {
					t.Errorf("cause = %v, want the attempt's timeout", e.Err)
				}
			}
			if n := len(v.requests()); n != tt.sent {
				t.Errorf("vendor saw %d requests, want %d", n, tt.sent)
			}
		})
	}
}

// closedURL returns the URL of a local port nothing listens on.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return "http://" + addr
}

func TestDialError(t *testing.T) {
	for _, req := range []Request{post, get} {
		t.Run(req.Method, func(t *testing.T) {
			ev := &events{}
			lim := &fakeLimiter{events: ev}
			_, err := newClient(closedURL(t), lim).Do(context.Background(), req)
			e := crmErr(t, err, crm.EUnavailable, crm.OutcomeNotApplied)
			var op *net.OpError
			if !errors.As(e, &op) || op.Op != "dial" {
				t.Errorf("cause = %v, want a dial error", e.Err)
			}
			// Never sent, so even a POST is retried; each try takes a token.
			if got := ev.String(); got != "reserve reserve reserve" {
				t.Errorf("events = %q, want three reservations", got)
			}
		})
	}
}

func TestRequestHeaders(t *testing.T) {
	tests := []struct {
		name        string
		ctx         context.Context
		req         Request
		requestID   string
		contentType string
	}{
		{"request id forwarded", WithRequestID(context.Background(), "req-42"), post, "req-42", "application/json"},
		{"no request id", context.Background(), post, "", "application/json"},
		{"no body", WithRequestID(context.Background(), "r-1"), Request{Method: "DELETE", Path: "/customers/9?hard=true"}, "r-1", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVendor(t, nil)
			if _, err := newClient(v.srv.URL+"/v1", &fakeLimiter{}).Do(tt.ctx, tt.req); err != nil {
				t.Fatal(err)
			}
			r := v.requests()[0]
			if r.method != tt.req.Method || r.uri != "/v1"+tt.req.Path {
				t.Errorf("request = %s %s, want %s /v1%s", r.method, r.uri, tt.req.Method, tt.req.Path)
			}
			if got := r.header.Get("X-Request-ID"); got != tt.requestID {
				t.Errorf("X-Request-ID = %q, want %q", got, tt.requestID)
			}
			if _, ok := r.header["X-Request-Id"]; !ok && tt.requestID != "" {
				t.Errorf("X-Request-ID missing")
			}
			if got := r.header.Get("Content-Type"); got != tt.contentType {
				t.Errorf("Content-Type = %q, want %q", got, tt.contentType)
			}
			if r.header.Get("Accept") != "application/json" || r.header.Get("User-Agent") != "crm-gateway" {
				t.Errorf("Accept %q, User-Agent %q", r.header.Get("Accept"), r.header.Get("User-Agent"))
			}
			if string(r.body) != string(tt.req.Body) {
				t.Errorf("body = %q, want %q", r.body, tt.req.Body)
			}
		})
	}
	if RequestID(context.Background()) != "" || RequestID(WithRequestID(context.Background(), "x")) != "x" {
		t.Errorf("RequestID does not round-trip")
	}
}

func TestAuthorizeSeesTheBodySent(t *testing.T) {
	sign := func(b []byte) string {
		d := sha256.Sum256(b)
		return hex.EncodeToString(d[:])
	}
	tests := []struct {
		name  string
		req   Request
		steps []step
		calls int
	}{
		{"JSON body", post, nil, 1},
		{"no body", get, nil, 1},
		{"every retry signed again", Request{Method: "PUT", Path: "/batch", Body: []byte(`[{"a":1},{"b":"ü"}]`), Idempotent: true},
			[]step{reply(503, ""), reply(429, ""), reply(200, "{}")}, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var mu sync.Mutex
			var bodies [][]byte
			v := newVendor(t, nil, tt.steps...)
			c := newClient(v.srv.URL, &fakeLimiter{})
			c.Authorize = func(r *http.Request, body []byte) {
				mu.Lock()
				bodies = append(bodies, body)
				mu.Unlock()
				r.Header.Set("X-Signature", sign(body))
			}
			if _, err := c.Do(context.Background(), tt.req); err != nil {
				t.Fatal(err)
			}
			reqs := v.requests()
			if len(bodies) != tt.calls || len(reqs) != tt.calls {
				t.Fatalf("Authorize ×%d, requests ×%d, want ×%d", len(bodies), len(reqs), tt.calls)
			}
			for i, r := range reqs {
				if string(bodies[i]) != string(tt.req.Body) || string(r.body) != string(tt.req.Body) {
					t.Errorf("attempt %d: Authorize saw %q, vendor got %q, want %q", i+1, bodies[i], r.body, tt.req.Body)
				}
				if r.header.Get("X-Signature") != sign(r.body) {
					t.Errorf("attempt %d: signature does not match the body on the wire", i+1)
				}
			}
		})
	}
}

func TestBudgetHeaders(t *testing.T) {
	granted := func(rem int, reset time.Duration) func(int, time.Duration) (ratelimit.Reservation, error) {
		return func(int, time.Duration) (ratelimit.Reservation, error) {
			return ratelimit.Reservation{OK: true, Remaining: rem, Reset: reset}, nil
		}
	}
	tests := []struct {
		name          string
		quota         ratelimit.Limit
		reserve       func(int, time.Duration) (ratelimit.Reservation, error)
		steps         []step
		policy, limit string
	}{
		{"quota advertised", ratelimit.Limit{Rate: 120, Period: time.Minute, Burst: 10}, granted(7, 1500*time.Millisecond), nil,
			`"acme-main";q=120;w=60`, `"acme-main";r=7;t=2`},
		{"bucket when no quota", ratelimit.Limit{}, granted(0, time.Second), nil,
			`"acme-main";q=110;w=60`, `"acme-main";r=0;t=1`},
		{"full bucket", ratelimit.Limit{Rate: 5, Period: 1500 * time.Millisecond, Burst: 5}, granted(4, 0), nil,
			`"acme-main";q=5;w=2`, `"acme-main";r=4;t=0`},
		{"refused", ratelimit.Limit{Rate: 120, Period: time.Minute, Burst: 10}, func(int, time.Duration) (ratelimit.Reservation, error) {
			return ratelimit.Reservation{RetryAfter: time.Second, Reset: 59500 * time.Millisecond}, nil
		}, nil, `"acme-main";q=120;w=60`, `"acme-main";r=0;t=60`},
		{"last attempt counts", ratelimit.Limit{Rate: 120, Period: time.Minute, Burst: 10}, func(n int, _ time.Duration) (ratelimit.Reservation, error) {
			return ratelimit.Reservation{OK: true, Remaining: 10 - n, Reset: time.Duration(n) * time.Second}, nil
		}, []step{reply(503, ""), reply(503, ""), reply(200, "")}, `"acme-main";q=120;w=60`, `"acme-main";r=7;t=3`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := newVendor(t, nil, tt.steps...)
			c := newClient(v.srv.URL, &fakeLimiter{ReserveFunc: tt.reserve})
			c.Quota = tt.quota
			ctx, b := WithBudget(context.Background())
			if _, _, ok := b.Headers(); ok {
				t.Fatalf("Headers ok before any call")
			}
			_, _ = c.Do(ctx, get)
			policy, limit, ok := b.Headers()
			if !ok || policy != tt.policy || limit != tt.limit {
				t.Errorf("Headers = %q, %q, %v; want %q, %q", policy, limit, ok, tt.policy, tt.limit)
			}
		})
	}

	// A context without a Budget is fine too.
	v := newVendor(t, nil)
	if _, err := newClient(v.srv.URL, &fakeLimiter{}).Do(context.Background(), get); err != nil {
		t.Fatal(err)
	}
}

func TestRefused(t *testing.T) {
	tests := []struct {
		status  int
		code    string
		outcome crm.Outcome
		msg     string
	}{
		{400, crm.EUnprocessable, crm.OutcomeNotApplied, "refused the data"},
		{422, crm.EUnprocessable, crm.OutcomeNotApplied, "refused the data"},
		{404, crm.ENotFound, crm.OutcomeNotApplied, "no such record"},
		{409, crm.EConflict, crm.OutcomeNotApplied, "conflict"},
		{401, crm.EVendor, crm.OutcomeNotApplied, "credentials"},
		{403, crm.EVendor, crm.OutcomeNotApplied, "credentials"},
		{500, crm.EVendor, crm.OutcomeUncertain, "HTTP 500"},
		{502, crm.EVendor, crm.OutcomeUncertain, "HTTP 502"},
		{503, crm.EVendor, crm.OutcomeUncertain, "HTTP 503"},
		{405, crm.EVendor, crm.OutcomeNotApplied, "HTTP 405"},
		{413, crm.EVendor, crm.OutcomeNotApplied, "HTTP 413"},
		{429, crm.EVendor, crm.OutcomeNotApplied, "HTTP 429"},
		{302, crm.EVendor, crm.OutcomeNotApplied, "HTTP 302"},
		{200, crm.EVendor, crm.OutcomeNotApplied, "HTTP 200"}, // an error in a 200 body
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.status), func(t *testing.T) {
			remote := &crm.VendorError{Status: tt.status, Code: "E1", Message: "nope"}
			e := Refused("acme", remote)
			if e.Code != tt.code || e.Outcome != tt.outcome {
				t.Errorf("Refused(%d) = %s/%s, want %s/%s", tt.status, e.Code, e.Outcome, tt.code, tt.outcome)
			}
			if e.Vendor != "acme" || e.Remote != remote || !strings.HasPrefix(e.Message, "acme ") || !strings.Contains(e.Message, tt.msg) {
				t.Errorf("Refused(%d) = %+v", tt.status, e)
			}
		})
	}
}

func TestUnreadable(t *testing.T) {
	cause := errors.New("invalid character '<'")
	e := Unreadable("acme", 200, cause)
	if e.Code != crm.EVendor || e.Outcome != crm.OutcomeUncertain || e.Vendor != "acme" || e.Remote.Status != 200 ||
		!errors.Is(e, cause) || !strings.Contains(e.Message, "HTTP 200") {
		t.Errorf("Unreadable = %+v", e)
	}
}

func TestRetryAfterHeader(t *testing.T) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		value string
		want  time.Duration
		given bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{"2", 2 * time.Second, true},
		{"120", 2 * time.Minute, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"2s", 0, false},
		{"soon", 0, false},
		{"10000000000", maxRetryAfterHeader, true}, // would overflow a Duration to a negative one
		{"99999999999", maxRetryAfterHeader, true},
		{"99999999999999999999999", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(90 * time.Second).Format(time.RFC850), 90 * time.Second, true},
		{now.Add(90 * time.Second).Format(time.ANSIC), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Format(time.RFC3339), 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.value, func(t *testing.T) {
			h := http.Header{}
			if tt.value != "" {
				h.Set("Retry-After", tt.value)
			}
			got, given := retryAfter(h, now)
			if got != tt.want || given != tt.given {
				t.Errorf("retryAfter(%q) = %s, %v; want %s, %v", tt.value, got, given, tt.want, tt.given)
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	r := Retry{BaseDelay: 10 * time.Millisecond, MaxDelay: 300 * time.Millisecond}
	for attempt := 1; attempt <= 70; attempt++ {
		ceiling := min(r.BaseDelay<<min(attempt-1, 20), r.MaxDelay)
		for range 50 {
			if d := r.backoff(attempt); d <= 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %s, want within (0, %s]", attempt, d, ceiling)
			}
		}
	}
	huge := Retry{BaseDelay: time.Hour, MaxDelay: 2 * time.Hour}
	if d := huge.backoff(40); d <= 0 || d > 2*time.Hour {
		t.Errorf("backoff overflowed: %s", d)
	}
}

func TestRetryDefaults(t *testing.T) {
	if got := (&Client{}).retry(); got != DefaultRetry {
		t.Errorf("retry() = %+v, want %+v", got, DefaultRetry)
	}
	custom := Retry{Attempts: 1, BaseDelay: 1, MaxDelay: 2, MaxRetryAfter: 3}
	if got := (&Client{Retry: custom}).retry(); got != custom {
		t.Errorf("retry() = %+v, want %+v", got, custom)
	}
}

func TestNeverSent(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"dial", &net.OpError{Op: "dial", Err: errors.New("connection refused")}, true},
		{"wrapped dial", fmt.Errorf("Post: %w", &net.OpError{Op: "dial", Err: errors.New("refused")}), true},
		{"read", &net.OpError{Op: "read", Err: errors.New("reset by peer")}, false},
		{"write", &net.OpError{Op: "write", Err: errors.New("broken pipe")}, false},
		{"timeout", context.DeadlineExceeded, false},
		{"EOF", io.ErrUnexpectedEOF, false},
	}
	for _, tt := range tests {
		if got := neverSent(tt.err); got != tt.want {
			t.Errorf("%s: neverSent = %v, want %v", tt.name, got, tt.want)
		}
	}
}

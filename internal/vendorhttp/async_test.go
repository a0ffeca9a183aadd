package vendorhttp

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"
)

// TestAsyncWaitBoundLiftsMaxWait: a bulk job may wait for budget longer
// than the connection's synchronous max_wait, and replaces a sync bound.
func TestAsyncWaitBoundLiftsMaxWait(t *testing.T) {
	for _, ctx := range []context.Context{
		WithAsyncWaitBound(context.Background(), time.Hour),
		WithAsyncWaitBound(WithWaitBound(context.Background(), time.Millisecond), time.Hour),
	} {
		lim := &fakeLimiter{}
		v := newVendor(t, nil)
		c := newClient(v.srv.URL, lim)
		if _, err := c.Do(ctx, get); err != nil {
			t.Fatal(err)
		}
		if w := lim.reserveCalls()[0].maxWait; w < 59*time.Minute || w > time.Hour {
			t.Fatalf("Reserve maxWait = %s, want about 1h (MaxWait is %s)", w, c.MaxWait)
		}
	}
}

// TestSendHook runs after the token and before each attempt; its error
// stops the call with nothing sent.
func TestSendHook(t *testing.T) {
	lim := &fakeLimiter{}
	v := newVendor(t, nil, func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) },
		func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	c := newClient(v.srv.URL, lim)
	var calls int
	ctx := WithSendHook(context.Background(), func(_ context.Context, req Request) error {
		calls++
		if req.Op != get.Op || len(lim.reserveCalls()) != calls {
			t.Errorf("hook call %d: op %q after %d reservations", calls, req.Op, len(lim.reserveCalls()))
		}
		return nil
	})
	if _, err := c.Do(ctx, get); err != nil { // a 503 then a 200: two attempts
		t.Fatal(err)
	}
	if calls != 2 || len(v.requests()) != 2 {
		t.Fatalf("hook called %d times for %d requests, want 2 and 2", calls, len(v.requests()))
	}

	stop := errors.New("cancelled job")
	ctx = WithSendHook(context.Background(), func(context.Context, Request) error { return stop })
	if _, err := c.Do(ctx, post); !errors.Is(err, stop) {
		t.Fatalf("Do = %v, want the hook's error", err)
	}
	if len(v.requests()) != 2 {
		t.Fatalf("the vendor saw %d requests, want none after the hook refused", len(v.requests())-2)
	}
}

package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"
)

// fakeClock is a hand-driven clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

func TestMemoryRetentionAndCap(t *testing.T) {
	clock := &fakeClock{now: time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)}
	rcv := newReceiver(t, testSecret)
	cfg := testConfig(rcv.sub("crm"))
	cfg.Now, cfg.MaxEvents, cfg.Retention = clock.Now, 3, time.Hour
	b := NewMemory(cfg)
	ctx := context.Background()
	for i := range 5 {
		if _, err := b.Publish(ctx, event(fmt.Sprintf("m-%d", i), "a.x")); err != nil {
			t.Fatal(err)
		}
	}
	evs, next, err := b.List(ctx, ListQuery{})
	if err != nil || next != "" || len(evs) != 3 || evs[0].ID != "m-4" || evs[2].ID != "m-2" {
		t.Fatalf("List = %+v, %q, %v; want the 3 newest", evs, next, err)
	}
	if _, err := b.Get(ctx, "m-0"); err != nil {
		t.Errorf("Get(m-0) beyond the log's cap: %v; want it kept for the retention", err)
	}
	clock.Add(time.Hour + time.Minute)
	if _, err := b.Get(ctx, "m-4"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after the retention: %v; want ErrNotFound", err)
	}
	if evs, _, err := b.List(ctx, ListQuery{}); err != nil || len(evs) != 0 {
		t.Errorf("List after the retention = %+v, %v; want none", evs, err)
	}
	if ds, err := b.Deliveries(ctx, "m-4"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Deliveries after the retention = %+v, %v; want ErrNotFound", ds, err)
	}
	// The expired deliveries are dropped, never attempted.
	claims, _, err := b.st.claim(ctx, 10, time.Minute)
	if err != nil || len(claims) != 0 {
		t.Errorf("claim after the retention = %+v, %v; want nothing", claims, err)
	}
	if fresh, err := b.Publish(ctx, event("m-4", "a.x")); err != nil || !fresh {
		t.Errorf("Publish of an expired id = %v, %v; want a new event", fresh, err)
	}
}

func TestRedisRetention(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Retention = 300 * time.Millisecond
	rdb, prefix := redisPrefix(t)
	b := NewRedis(rdb, cfg, WithKeyPrefix(prefix))
	ctx := context.Background()
	if fresh, err := b.Publish(ctx, event("x-1", "a.x")); err != nil || !fresh {
		t.Fatalf("Publish = %v, %v", fresh, err)
	}
	if fresh, err := b.Publish(ctx, event("x-1", "a.x")); err != nil || fresh {
		t.Fatalf("Publish again = %v, %v; want a duplicate", fresh, err)
	}
	time.Sleep(400 * time.Millisecond)
	if _, err := b.Get(ctx, "x-1"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Get after the retention: %v; want ErrNotFound", err)
	}
	if evs, _, err := b.List(ctx, ListQuery{}); err != nil || len(evs) != 0 {
		t.Errorf("List after the retention = %+v, %v; want none", evs, err)
	}
	if fresh, err := b.Publish(ctx, event("x-1", "a.x")); err != nil || !fresh {
		t.Errorf("Publish after the retention = %v, %v; want a new event", fresh, err)
	}
	if evs, _, err := b.List(ctx, ListQuery{}); err != nil || len(evs) != 1 {
		t.Errorf("List = %d events, %v; want only the new one", len(evs), err)
	}
}

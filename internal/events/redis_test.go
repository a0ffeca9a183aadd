package events

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tests that need two Bus instances on one Redis: replicas, and a restart.

func TestRedisRestartMidRetry(t *testing.T) {
	t.Parallel()
	rdb, prefix := redisPrefix(t)
	rcv := newReceiver(t, testSecret)
	rcv.setPlan(failFirst(1))
	cfg := testConfig(rcv.sub("crm"))
	cfg.Schedule = []time.Duration{300 * time.Millisecond, 100 * time.Millisecond} // the retry falls due while no bus runs
	ctx := context.Background()

	a := NewRedis(rdb, cfg, WithKeyPrefix(prefix))
	stopA := run(t, a)
	if _, err := a.Publish(ctx, event("r-1", "a.x")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "the first, failed attempt to be recorded", func() bool {
		ds, err := a.Deliveries(ctx, "r-1")
		return err == nil && len(ds) == 1 && ds[0].LastStatus == 500
	})
	stopA()
	time.Sleep(400 * time.Millisecond) // the retry is overdue by now, and nobody runs
	if att, _ := rcv.count("r-1"); att != 1 {
		t.Fatalf("%d attempts while stopped; want 1", att)
	}

	b := NewRedis(rdb, cfg, WithKeyPrefix(prefix)) // the restarted replica
	run(t, b)
	eventually(t, 3*time.Second, "the delivery by the new bus", func() bool { _, s := rcv.count("r-1"); return s == 1 })
	time.Sleep(quiet)
	if att, s := rcv.count("r-1"); att != 2 || s != 1 {
		t.Errorf("%d attempts, %d successes; want 2, 1", att, s)
	}
	ds, err := b.Deliveries(ctx, "r-1")
	if err != nil || len(ds) != 1 || ds[0].State != StateDelivered || ds[0].Attempts != 2 {
		t.Errorf("Deliveries = %+v, %v; want delivered after 2 attempts", ds, err)
	}
	if evs, _, err := b.List(ctx, ListQuery{}); err != nil || len(evs) != 1 || evs[0].ID != "r-1" {
		t.Errorf("List on the new bus = %+v, %v; want r-1", evs, err)
	}
	rcv.checkSignatures()
}

func TestRedisReplicasDeliverOnce(t *testing.T) {
	t.Parallel()
	rdb, prefix := redisPrefix(t)
	rcv := newReceiver(t, testSecret)
	cfg := testConfig(rcv.sub("crm"))
	cfg.Concurrency = 4
	buses := []*Bus{NewRedis(rdb, cfg, WithKeyPrefix(prefix)), NewRedis(rdb, cfg, WithKeyPrefix(prefix)), NewRedis(rdb, cfg, WithKeyPrefix(prefix))}
	for _, b := range buses {
		run(t, b)
		run(t, b) // several Runs on one Bus are allowed too
	}
	ctx := context.Background()
	const n = 60
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			if _, err := buses[i%len(buses)].Publish(ctx, event(fmt.Sprintf("c-%d", i), "a.x")); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	eventually(t, 5*time.Second, "every delivery", func() bool { return len(rcv.delivered()) >= n })
	time.Sleep(quiet)
	for i := range n {
		id := fmt.Sprintf("c-%d", i)
		if a, s := rcv.count(id); a != 1 || s != 1 {
			t.Errorf("%s: %d attempts, %d successes; want exactly 1", id, a, s)
		}
	}
	rcv.checkSignatures()
}

func TestRedisTailAcrossInstances(t *testing.T) {
	t.Parallel()
	rdb, prefix := redisPrefix(t)
	a := NewRedis(rdb, testConfig(), WithKeyPrefix(prefix))
	b := NewRedis(rdb, testConfig(), WithKeyPrefix(prefix))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if _, err := a.Publish(ctx, event("old", "a.x")); err != nil {
		t.Fatal(err)
	}
	ch, err := b.Tail(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if _, err := a.Publish(ctx, event(fmt.Sprintf("new-%d", i), "a.x")); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		select {
		case e := <-ch:
			if want := fmt.Sprintf("new-%d", i); e.ID != want {
				t.Fatalf("Tail on B got %s; want %s", e.ID, want)
			}
		case <-time.After(3 * time.Second):
			t.Fatalf("Tail on B: event %d published on A never came", i)
		}
	}
}

func TestRedisKeyLayout(t *testing.T) {
	t.Parallel()
	rdb, prefix := redisPrefix(t)
	rcv := newReceiver(t, testSecret)
	cfg := testConfig(rcv.sub("crm"))
	cfg.Retention = time.Hour
	cfg.MaxEvents = 10
	b := NewRedis(rdb, cfg, WithKeyPrefix(prefix))
	ctx := context.Background()
	for i := range 250 {
		if _, err := b.Publish(ctx, event(fmt.Sprintf("k-%d", i), "a.x")); err != nil {
			t.Fatal(err)
		}
	}
	// Every key carries the hash tag, so every script touches one Redis Cluster slot.
	tag := "{" + prefix + "}:"
	var keys []string
	iter := rdb.Scan(ctx, 0, "*"+prefix+"*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !strings.HasPrefix(k, tag) {
			t.Errorf("key %q does not start with the hash tag %q", k, tag)
		}
	}
	if n := len(keys); n != 250*2+2 {
		t.Errorf("%d keys; want 250 events, 250 delivery states, log and due", n)
	}
	for _, k := range []string{tag + "ev:k-0", tag + "dl:k-0"} {
		ttl, err := rdb.PTTL(ctx, k).Result()
		if err != nil || ttl < 59*time.Minute || ttl > time.Hour {
			t.Errorf("PTTL %s = %s, %v; want about the retention", k, ttl, err)
		}
	}
	// MAXLEN ~ trims whole stream nodes (100 entries by default): approximately MaxEvents.
	if n, err := rdb.XLen(ctx, tag+"log").Result(); err != nil || n < 10 || n > 10+100 {
		t.Errorf("XLEN = %d, %v; want MaxEvents give or take a stream node", n, err)
	}
	if n, err := rdb.ZCard(ctx, tag+"due").Result(); err != nil || n != 250 {
		t.Errorf("ZCARD due = %d, %v; want 250", n, err)
	}
	// Get outlives the log's cap: bodies are kept for the retention.
	if _, err := b.Get(ctx, "k-0"); err != nil {
		t.Errorf("Get(k-0): %v", err)
	}
}

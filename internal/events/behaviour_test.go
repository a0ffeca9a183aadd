package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// The behaviour both implementations share is written once and run against NewMemory and
// NewRedis (real Redis, a fresh prefix per case).
var behaviourCases = []struct {
	name string
	run  func(t *testing.T, newBus func(Config) *Bus)
}{
	{"signed deliveries retried on the schedule until a success, then never again", testRetryUntilSuccess},
	{"publishing an id twice enqueues once", testDedup},
	{"type filters with exact types and prefix patterns", testTypeFilters},
	{"dead letter after the schedule, then redeliver", testDeadLetterRedeliver},
	{"list pages newest first with cursors", testListPaging},
	{"tail receives the events published after the call", testTail},
	{"lost worker: the delivery is retried after the lease", leaseCase},
	{"timeouts and 410 are failures; logs hold no secret, URL or body", testFailuresAndLogs},
	{"get, validation and not found", testGetAndErrors},
	{"redeliver re-sends a delivered event; no subscription means nothing to do", testRedeliverDelivered},
}

func TestBehaviour(t *testing.T) {
	for _, im := range impls {
		t.Run(im.name, func(t *testing.T) {
			t.Parallel()
			for _, tc := range behaviourCases {
				t.Run(tc.name, func(t *testing.T) {
					t.Parallel()
					tc.run(t, im.factory(t))
				})
			}
		})
	}
}

func testRetryUntilSuccess(t *testing.T, newBus func(Config) *Bus) {
	rcv := newReceiver(t, testSecret)
	rcv.setPlan(failFirst(3))
	obs := &countingObserver{}
	cfg := testConfig(rcv.sub("crm"))
	cfg.Observer = obs
	b := newBus(cfg)
	run(t, b)
	ctx := context.Background()
	ids := []string{"e1", "e2", "e3"}
	for _, id := range ids {
		if fresh, err := b.Publish(ctx, event(id, "interaction.accepted")); err != nil || !fresh {
			t.Fatalf("Publish(%s) = %v, %v; want true, nil", id, fresh, err)
		}
	}
	eventually(t, 5*time.Second, "every event delivered", func() bool {
		for _, id := range ids {
			if _, ok := rcv.count(id); ok == 0 {
				return false
			}
		}
		return true
	})
	time.Sleep(quiet)
	rcv.checkSignatures()
	for _, id := range ids {
		if a, s := rcv.count(id); a != 4 || s != 1 {
			t.Errorf("%s: %d attempts, %d successes; want 4 attempts, 1 success", id, a, s)
		}
		// Attempts are spaced by the schedule (Redis schedules in whole ms: allow 2 ms).
		at := rcv.times(id)
		for k := 1; k < len(at); k++ {
			if gap := at[k].Sub(at[k-1]); gap < testSchedule[k-1]-2*time.Millisecond {
				t.Errorf("%s: attempt %d came %s after the previous one; want ≥ %s", id, k+1, gap, testSchedule[k-1])
			}
		}
		ds, err := b.Deliveries(ctx, id)
		if err != nil || len(ds) != 1 {
			t.Fatalf("Deliveries(%s) = %+v, %v", id, ds, err)
		}
		d := ds[0]
		if d.Subscription != "crm" || d.State != StateDelivered || d.Attempts != 4 || d.LastStatus != 200 ||
			d.LastError != "" || d.DeliveredAt.IsZero() || d.LastAttemptAt.IsZero() || !d.NextAttemptAt.IsZero() {
			t.Errorf("Deliveries(%s) = %+v; want delivered after 4 attempts, last status 200", id, d)
		}
	}
	if f, ok := obs.get("crm failed"), obs.get("crm delivered"); f != 9 || ok != 3 {
		t.Errorf("observer: %d failed, %d delivered; want 9, 3", f, ok)
	}
}

func testDedup(t *testing.T, newBus func(Config) *Bus) {
	rcv := newReceiver(t, testSecret)
	b := newBus(testConfig(rcv.sub("crm")))
	ctx := context.Background()
	first := event("dup-1", "interaction.accepted")
	second := first
	second.Data = json.RawMessage(`{"n":2}`)
	if fresh, err := b.Publish(ctx, first); err != nil || !fresh {
		t.Fatalf("first Publish = %v, %v; want true", fresh, err)
	}
	if fresh, err := b.Publish(ctx, second); err != nil || fresh {
		t.Fatalf("second Publish = %v, %v; want false (duplicate)", fresh, err)
	}
	run(t, b)
	eventually(t, 3*time.Second, "the delivery", func() bool { _, s := rcv.count("dup-1"); return s == 1 })
	time.Sleep(quiet)
	if a, s := rcv.count("dup-1"); a != 1 || s != 1 {
		t.Errorf("%d attempts, %d successes; want exactly 1", a, s)
	}
	got, err := b.Get(ctx, "dup-1")
	if err != nil || string(got.Data) != `{"n":1}` {
		t.Errorf("Get = %s, %v; want the first event's data", got.Data, err)
	}
	page, _, err := b.List(ctx, ListQuery{})
	if err != nil || len(page) != 1 {
		t.Errorf("List = %d events, %v; want 1", len(page), err)
	}
	rcv.checkSignatures()
}

func testTypeFilters(t *testing.T, newBus func(Config) *Bus) {
	rcv := map[string]*receiver{}
	subs := []struct {
		name  string
		types []string
		want  []string
	}{
		{"all", nil, []string{"t1", "t2", "t3", "t4", "t5"}},
		{"interactions", []string{"interaction.*"}, []string{"t1", "t2"}},
		{"jobs-done", []string{"job.completed"}, []string{"t3"}},
		{"mixed", []string{"interaction.accepted", "job.*"}, []string{"t1", "t3", "t4"}},
		{"everything", []string{"*"}, []string{"t1", "t2", "t3", "t4", "t5"}},
	}
	var cfgSubs []Subscription
	for _, s := range subs {
		rcv[s.name] = newReceiver(t, testSecret)
		cfgSubs = append(cfgSubs, rcv[s.name].sub(s.name, s.types...))
	}
	b := newBus(testConfig(cfgSubs...))
	run(t, b)
	ctx := context.Background()
	for id, typ := range map[string]string{"t1": "interaction.accepted", "t2": "interaction.message.created",
		"t3": "job.completed", "t4": "job.failed", "t5": "customer.created"} {
		if _, err := b.Publish(ctx, event(id, typ)); err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range subs {
		eventually(t, 3*time.Second, s.name+" deliveries", func() bool { return len(rcv[s.name].delivered()) >= len(s.want) })
	}
	time.Sleep(quiet)
	for _, s := range subs {
		got := rcv[s.name].delivered()
		slices.Sort(got)
		if !slices.Equal(got, s.want) {
			t.Errorf("subscription %s (types %q) got %v; want %v", s.name, s.types, got, s.want)
		}
		rcv[s.name].checkSignatures()
	}
	ds, err := b.Deliveries(ctx, "t3")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range ds {
		names = append(names, d.Subscription)
	}
	if want := []string{"all", "everything", "jobs-done", "mixed"}; !slices.Equal(names, want) {
		t.Errorf("Deliveries(t3) subscriptions = %v; want %v", names, want)
	}
}

func testDeadLetterRedeliver(t *testing.T, newBus func(Config) *Bus) {
	rcv := newReceiver(t, testSecret)
	rcv.setPlan(func(string, int) (int, time.Duration) { return http.StatusServiceUnavailable, 0 })
	obs := &countingObserver{}
	cfg := testConfig(rcv.sub("crm"))
	cfg.Observer = obs
	b := newBus(cfg)
	run(t, b)
	ctx := context.Background()
	if _, err := b.Publish(ctx, event("dl-1", "job.completed")); err != nil {
		t.Fatal(err)
	}
	var d DeliveryStatus
	eventually(t, 5*time.Second, "the dead letter", func() bool {
		ds, err := b.Deliveries(ctx, "dl-1")
		if err != nil || len(ds) != 1 {
			return false
		}
		d = ds[0]
		return d.State == StateDead
	})
	if d.Attempts != 4 || d.LastStatus != 503 || d.LastError != "HTTP 503" || d.DeadAt.IsZero() || !d.NextAttemptAt.IsZero() {
		t.Errorf("dead delivery = %+v; want 4 attempts, last status 503", d)
	}
	time.Sleep(quiet)
	if a, _ := rcv.count("dl-1"); a != 4 {
		t.Errorf("%d attempts; want 4 and none after the dead letter", a)
	}
	dls, err := b.DeadLetters(ctx, 10)
	if err != nil || len(dls) != 1 || dls[0].EventID != "dl-1" || dls[0].Subscription != "crm" ||
		dls[0].State != StateDead || dls[0].Attempts != 4 {
		t.Fatalf("DeadLetters = %+v, %v; want dl-1 to crm after 4 attempts", dls, err)
	}
	if f, dead := obs.get("crm failed"), obs.get("crm dead"); f != 3 || dead != 1 {
		t.Errorf("observer: %d failed, %d dead; want 3, 1", f, dead)
	}

	rcv.setPlan(failFirst(0))
	n, err := b.Redeliver(ctx, "dl-1")
	if err != nil || n != 1 {
		t.Fatalf("Redeliver = %d, %v; want 1", n, err)
	}
	eventually(t, 3*time.Second, "the redelivery", func() bool { _, s := rcv.count("dl-1"); return s == 1 })
	time.Sleep(quiet)
	if a, s := rcv.count("dl-1"); a != 5 || s != 1 {
		t.Errorf("%d attempts, %d successes; want 5, 1", a, s)
	}
	ds, err := b.Deliveries(ctx, "dl-1")
	if err != nil || len(ds) != 1 || ds[0].State != StateDelivered || ds[0].Attempts != 5 || !ds[0].DeadAt.IsZero() {
		t.Errorf("Deliveries after redelivery = %+v, %v; want delivered after 5 attempts", ds, err)
	}
	if dls, err := b.DeadLetters(ctx, 10); err != nil || len(dls) != 0 {
		t.Errorf("DeadLetters after redelivery = %+v, %v; want none", dls, err)
	}
	rcv.checkSignatures()
}

func testListPaging(t *testing.T, newBus func(Config) *Bus) {
	b := newBus(testConfig())
	ctx := context.Background()
	for i := 1; i <= 7; i++ {
		e := event(fmt.Sprintf("l%d", i), []string{"a.x", "b.y"}[i%2])
		if i > 5 {
			e.Connection = "zenvia-br"
		}
		if _, err := b.Publish(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	pages := func(q ListQuery) [][]string {
		t.Helper()
		var out [][]string
		for range 10 {
			evs, next, err := b.List(ctx, q)
			if err != nil {
				t.Fatalf("List(%+v): %v", q, err)
			}
			var ids []string
			for _, e := range evs {
				ids = append(ids, e.ID)
			}
			out = append(out, ids)
			if next == "" {
				return out
			}
			q.Cursor = next
		}
		t.Fatalf("List(%+v) never ended", q)
		return nil
	}
	check := func(q ListQuery, want string) {
		t.Helper()
		var got []string
		for _, p := range pages(q) {
			got = append(got, strings.Join(p, ","))
		}
		if g := strings.Join(got, " | "); g != want {
			t.Errorf("List(%+v) pages = %q; want %q", q, g, want)
		}
	}
	check(ListQuery{Limit: 3}, "l7,l6,l5 | l4,l3,l2 | l1")
	check(ListQuery{Limit: 7}, "l7,l6,l5,l4,l3,l2,l1")
	check(ListQuery{}, "l7,l6,l5,l4,l3,l2,l1")
	check(ListQuery{Limit: 2, Type: "b.y"}, "l7,l5 | l3,l1")
	// A filtered page may end with an empty one: whether more match is only known by reading on.
	check(ListQuery{Limit: 2, Connection: "zenvia-br"}, "l7,l6 | ")
	check(ListQuery{Type: "a.x", Connection: "zenvia-br"}, "l6")
	check(ListQuery{Type: "none"}, "")

	_, next, err := b.List(ctx, ListQuery{Limit: 2, Type: "b.y"})
	if err != nil || next == "" {
		t.Fatalf("List = %q, %v", next, err)
	}
	for _, q := range []ListQuery{{Cursor: next}, {Cursor: next, Type: "a.x"}, {Cursor: "garbage"}, {Cursor: "e30"}} {
		if _, _, err := b.List(ctx, q); crm.ErrorCode(err) != crm.EInvalid {
			t.Errorf("List(%+v) error = %v; want %s", q, err, crm.EInvalid)
		}
	}
	evs, _, err := b.List(ctx, ListQuery{Limit: 1})
	if err != nil || len(evs) != 1 || evs[0].Vendor != "helpcrunch" || string(evs[0].Data) != `{"n":1}` || evs[0].OccurredAt.IsZero() {
		t.Errorf("List(1) = %+v, %v; want the full newest event", evs, err)
	}
}

func testTail(t *testing.T, newBus func(Config) *Bus) {
	b := newBus(testConfig())
	ctx := context.Background()
	if _, err := b.Publish(ctx, event("before", "a.x")); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := b.Tail(tctx)
	if err != nil {
		t.Fatal(err)
	}
	ch2, err := b.Tail(tctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"after-1", "after-2", "after-3"}
	for _, id := range want {
		if _, err := b.Publish(ctx, event(id, "a.x")); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []<-chan Event{ch, ch2} {
		for _, id := range want {
			select {
			case e := <-c:
				if e.ID != id || e.Type != "a.x" || string(e.Data) != `{"n":1}` {
					t.Fatalf("Tail got %+v; want event %s", e, id)
				}
			case <-time.After(3 * time.Second):
				t.Fatalf("Tail: no event %s", id)
			}
		}
	}
	cancel()
	for _, c := range []<-chan Event{ch, ch2} {
		select {
		case e, ok := <-c:
			if ok {
				t.Fatalf("Tail after cancel got %+v; want the channel closed", e)
			}
		case <-time.After(3 * time.Second):
			t.Fatal("Tail channel not closed after its context ended")
		}
	}
}

func leaseCase(t *testing.T, newBus func(Config) *Bus) {
	rcv := newReceiver(t, testSecret)
	b := newBus(testConfig(rcv.sub("crm")))
	ctx := context.Background()
	if _, err := b.Publish(ctx, event("lease-1", "a.x")); err != nil {
		t.Fatal(err)
	}
	// A worker claims the delivery and dies before attempting it.
	lost, _, err := b.st.claim(ctx, 10, b.cfg.Lease)
	if err != nil || len(lost) != 1 || lost[0].id != "lease-1" || lost[0].attempts != 1 {
		t.Fatalf("claim = %+v, %v; want lease-1, attempt 1", lost, err)
	}
	claimed := time.Now()
	run(t, b)
	eventually(t, 5*time.Second, "the delivery after the lease", func() bool { _, s := rcv.count("lease-1"); return s == 1 })
	if at := rcv.times("lease-1")[0]; at.Sub(claimed) < b.cfg.Lease-50*time.Millisecond {
		t.Errorf("delivered %s after the lost claim; want after the lease (%s)", at.Sub(claimed), b.cfg.Lease)
	}
	// The dead worker's outcome, arriving late, no longer counts.
	if owned, err := b.st.fail(ctx, lost[0], 0, "late", time.Millisecond, false); err != nil || owned {
		t.Errorf("late fail from the lost worker = %v, %v; want not owned", owned, err)
	}
	time.Sleep(quiet)
	if a, s := rcv.count("lease-1"); a != 1 || s != 1 {
		t.Errorf("receiver: %d attempts, %d successes; want 1, 1", a, s)
	}
	ds, err := b.Deliveries(ctx, "lease-1")
	if err != nil || len(ds) != 1 || ds[0].State != StateDelivered || ds[0].Attempts != 2 {
		t.Errorf("Deliveries = %+v, %v; want delivered, 2 attempts (the lost one counts)", ds, err)
	}
}

func testFailuresAndLogs(t *testing.T, newBus func(Config) *Bus) {
	rcv := newReceiver(t, "raw-secret-1234")
	rcv.setPlan(func(_ string, n int) (int, time.Duration) {
		switch n {
		case 1:
			return http.StatusOK, 2 * testTimeout // answers too late
		case 2:
			return http.StatusGone, 0
		case 3:
			return http.StatusFound, 0 // redirects are not followed
		}
		return http.StatusNoContent, 0
	})
	log, logs := observed()
	cfg := testConfig(rcv.sub("crm"))
	cfg.Logger = log
	b := newBus(cfg)
	run(t, b)
	ctx := context.Background()
	e := event("fail-1", "a.x")
	e.Data = json.RawMessage(`{"marker":"body-marker-xyz"}`)
	if _, err := b.Publish(ctx, e); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "the delivery", func() bool { _, s := rcv.count("fail-1"); return s == 1 })
	time.Sleep(quiet)
	if a, _ := rcv.count("fail-1"); a != 4 {
		t.Errorf("%d attempts; want 4", a)
	}
	type line struct {
		status  int64
		err     string
		attempt int64
	}
	var got []line
	for _, en := range logs.All() {
		text := en.Message
		for k, v := range en.ContextMap() {
			text += fmt.Sprintf(" %s=%v", k, v)
		}
		for _, secret := range []string{"raw-secret-1234", "body-marker-xyz", "url-secret", rcv.srv.URL} {
			if strings.Contains(text, secret) {
				t.Errorf("log line %q contains %q", text, secret)
			}
		}
		m := en.ContextMap()
		if m["event_id"] != "fail-1" || m["subscription"] != "crm" {
			t.Errorf("log line %q lacks event_id or subscription", text)
		}
		l := line{status: m["status"].(int64), attempt: m["attempt"].(int64)}
		if s, ok := m["error"].(string); ok {
			l.err = s
		}
		got = append(got, l)
	}
	want := []line{{0, "timeout", 1}, {410, "HTTP 410", 2}, {302, "HTTP 302", 3}, {204, "", 4}}
	if !slices.Equal(got, want) {
		t.Errorf("logged attempts %+v; want %+v", got, want)
	}
	rcv.checkSignatures()
}

func testGetAndErrors(t *testing.T, newBus func(Config) *Bus) {
	b := newBus(testConfig())
	ctx := context.Background()
	for _, err := range []error{
		func() error { _, err := b.Get(ctx, "nope"); return err }(),
		func() error { _, err := b.Redeliver(ctx, "nope"); return err }(),
		func() error { _, err := b.Deliveries(ctx, "nope"); return err }(),
	} {
		if !errors.Is(err, ErrNotFound) || crm.ErrorCode(err) != crm.ENotFound {
			t.Errorf("error %v; want ErrNotFound with code %s", err, crm.ENotFound)
		}
	}
	for _, e := range []Event{
		{Type: "a.x"},
		{ID: "x", Type: ""},
		{ID: "bad\nid", Type: "a.x"},
		{ID: strings.Repeat("x", 300), Type: "a.x"},
		{ID: "x", Type: "a.*"},
		{ID: "x", Type: "a.x", Data: json.RawMessage(`{not json`)},
	} {
		if _, err := b.Publish(ctx, e); crm.ErrorCode(err) != crm.EInvalid {
			t.Errorf("Publish(%+v) error = %v; want %s", e, err, crm.EInvalid)
		}
	}
	at := time.Date(2030, 1, 2, 3, 4, 5, 6000, time.FixedZone("BRT", -3*3600))
	in := Event{ID: "g-1", Type: "interaction.message.created", OccurredAt: at, Connection: "zenvia-br", Vendor: "zenvia",
		InteractionID: "hash-1", Data: json.RawMessage(`{"content":"olá"}`), Extra: json.RawMessage(`{"ticket":7}`)}
	if _, err := b.Publish(ctx, in); err != nil {
		t.Fatal(err)
	}
	got, err := b.Get(ctx, "g-1")
	if err != nil {
		t.Fatal(err)
	}
	want := in
	want.OccurredAt = at.UTC()
	gj, _ := json.Marshal(got)
	wj, _ := json.Marshal(want)
	if string(gj) != string(wj) {
		t.Errorf("Get = %s; want %s", gj, wj)
	}
	if _, err := b.Publish(ctx, Event{ID: "g-2", Type: "a.x"}); err != nil {
		t.Fatal(err)
	}
	if got, err := b.Get(ctx, "g-2"); err != nil || string(got.Data) != "{}" || got.OccurredAt.IsZero() {
		t.Errorf("Get(g-2) = %+v, %v; want data {} and occurred_at now", got, err)
	}
}

func testRedeliverDelivered(t *testing.T, newBus func(Config) *Bus) {
	rcv := newReceiver(t, testSecret)
	b := newBus(testConfig(rcv.sub("crm", "interaction.*")))
	run(t, b)
	ctx := context.Background()
	if _, err := b.Publish(ctx, event("rd-1", "interaction.accepted")); err != nil {
		t.Fatal(err)
	}
	eventually(t, 3*time.Second, "the delivery", func() bool { _, s := rcv.count("rd-1"); return s == 1 })
	if n, err := b.Redeliver(ctx, "rd-1"); err != nil || n != 1 {
		t.Fatalf("Redeliver = %d, %v; want 1", n, err)
	}
	eventually(t, 3*time.Second, "the redelivery", func() bool { _, s := rcv.count("rd-1"); return s == 2 })

	// An event no subscription takes is stored and listed, with no delivery.
	if fresh, err := b.Publish(ctx, event("rd-2", "job.completed")); err != nil || !fresh {
		t.Fatalf("Publish = %v, %v", fresh, err)
	}
	if ds, err := b.Deliveries(ctx, "rd-2"); err != nil || len(ds) != 0 {
		t.Errorf("Deliveries = %+v, %v; want none", ds, err)
	}
	if n, err := b.Redeliver(ctx, "rd-2"); err != nil || n != 0 {
		t.Errorf("Redeliver = %d, %v; want 0", n, err)
	}
	time.Sleep(quiet)
	if a, s := rcv.count("rd-1"); a != 2 || s != 2 {
		t.Errorf("receiver: %d attempts, %d successes; want 2, 2", a, s)
	}
	if a, _ := rcv.count("rd-2"); a != 0 {
		t.Errorf("rd-2 delivered %d times; want 0", a)
	}
	rcv.checkSignatures()
}

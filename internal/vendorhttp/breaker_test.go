package vendorhttp

import (
	"testing"
	"time"
)

func TestBreakerStates(t *testing.T) {
	now := time.Unix(1000, 0)
	b := &Breaker{Threshold: 3, Cooldown: 10 * time.Second, Now: func() time.Time { return now }}
	steps := []struct {
		do        string // "fail", "ok", "allow", "advance"
		want      bool   // allow's answer
		wantState string
	}{
		{"fail", false, "closed"},
		{"fail", false, "closed"},
		{"ok", false, "closed"}, // a success resets the count
		{"fail", false, "closed"},
		{"fail", false, "closed"},
		{"fail", false, "open"}, // third consecutive failure
		{"allow", false, "open"},
		{"advance", false, "half_open"},
		{"allow", true, "half_open"},  // the probe
		{"allow", false, "half_open"}, // only one probe at a time
		{"fail", false, "open"},       // the probe failed: open again
		{"advance", false, "half_open"},
		{"allow", true, "half_open"},
		{"ok", false, "closed"}, // the probe succeeded
		{"allow", true, "closed"},
	}
	for i, s := range steps {
		switch s.do {
		case "fail":
			b.record(false)
		case "ok":
			b.record(true)
		case "advance":
			now = now.Add(10 * time.Second)
		case "allow":
			if got, _ := b.allow(); got != s.want {
				t.Fatalf("step %d: allow = %v, want %v", i, got, s.want)
			}
		}
		if got := b.State(); got != s.wantState {
			t.Fatalf("step %d (%s): state %s, want %s", i, s.do, got, s.wantState)
		}
	}
	if blocked, _ := (*Breaker)(nil).Blocked(); blocked {
		t.Fatal("a nil breaker blocks")
	}
}

func TestBreakerReleaseFreesTheProbe(t *testing.T) {
	now := time.Unix(1000, 0)
	b := &Breaker{Threshold: 1, Cooldown: time.Second, Now: func() time.Time { return now }}
	b.record(false)
	now = now.Add(time.Second)
	if ok, _ := b.allow(); !ok {
		t.Fatal("no probe after the cooldown")
	}
	b.release()
	if ok, _ := b.allow(); !ok {
		t.Fatal("a released probe was not given to the next caller")
	}
}

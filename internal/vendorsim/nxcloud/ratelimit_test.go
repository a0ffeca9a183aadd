package nxcloud_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
)

// TestRateLimitSlidingWindow walks a fake clock through a sliding window of 3 per 10 s.
func TestRateLimitSlidingWindow(t *testing.T) {
	h := newHarness(t, nxcloud.Config{Limit: 3, Window: 10 * time.Second})
	steps := []struct {
		at       time.Duration // since the start
		admitted bool
	}{
		{0, true},
		{4 * time.Second, true},
		{8 * time.Second, true},
		{9 * time.Second, false},                   // 0, 4, 8 are all within the last 10 s
		{10*time.Second - time.Millisecond, false}, // the request at 0 is still inside
		{10 * time.Second, true},                   // ...and now it has left
		{10 * time.Second, false},                  // 4, 8, 10 inside
		{14 * time.Second, true},                   // 4 left; refusals at 9 and 9.999 did not count
		{17 * time.Second, false},                  // 8, 10, 14 inside
		{18 * time.Second, true},                   // 8 left
		{30 * time.Second, true},                   // everything left
		{30 * time.Second, true},
		{30 * time.Second, true},
		{30 * time.Second, false},
	}
	start := h.clock.Now()
	var wantLimited int
	for i, s := range steps {
		h.clock.Advance(start.Add(s.at).Sub(h.clock.Now()))
		a := h.fieldsCall()
		if s.admitted {
			if a.Status != http.StatusOK || a.Code != 0 {
				t.Fatalf("step %d at %v: status %d code %d (%s), want admitted", i, s.at, a.Status, a.Code, a.Message)
			}
			continue
		}
		wantLimited++
		assertRateLimited(t, a)
	}
	if st := h.sim.Stats(); st.RateLimited != wantLimited || st.Rejected != 0 {
		t.Errorf("RateLimited %d Rejected %d, want %d and 0", st.RateLimited, st.Rejected, wantLimited)
	}
}

func (h *harness) fieldsCall() answer {
	h.t.Helper()
	return h.do(call{method: http.MethodGet, path: nxcloud.PathFields, query: "tenant_id=144&app_key=sandbox-app"})
}

// assertRateLimited checks the documented 429 answer.
func assertRateLimited(t *testing.T, a answer) {
	t.Helper()
	assertEnvelope(t, a)
	if a.Status != http.StatusTooManyRequests || a.Code != -1 || a.Message != "too many requests" || string(a.Data) != `""` {
		t.Fatalf("status %d body code %d message %q data %s, want 429 -1 \"too many requests\" \"\"",
			a.Status, a.Code, a.Message, a.Data)
	}
}

// TestRateLimitCountsRejectedRequests checks that an admitted request uses quota even when it is
// then refused for its signature: the limiter sits in front of authentication.
func TestRateLimitCountsRejectedRequests(t *testing.T) {
	h := newHarness(t, nxcloud.Config{Limit: 2, Window: time.Second})
	if a := h.do(call{method: http.MethodGet, path: nxcloud.PathFields, secret: "wrong"}); a.Code != 1003 {
		t.Fatalf("code = %d, want 1003", a.Code)
	}
	if a := h.fieldsCall(); a.Code != 0 {
		t.Fatalf("code = %d, want 0", a.Code)
	}
	assertRateLimited(t, h.fieldsCall())
}

// TestRateLimitDefaults checks that there is no limit by default and that Window defaults to a
// minute when only Limit is set.
func TestRateLimitDefaults(t *testing.T) {
	t.Run("unlimited", func(t *testing.T) {
		h := newHarness(t, nxcloud.Config{})
		for i := 0; i < 300; i++ {
			if a := h.fieldsCall(); a.Status != http.StatusOK || a.Code != 0 {
				t.Fatalf("request %d: status %d code %d", i, a.Status, a.Code)
			}
		}
	})
	t.Run("window defaults to a minute", func(t *testing.T) {
		h := newHarness(t, nxcloud.Config{Limit: 1})
		if a := h.fieldsCall(); a.Code != 0 {
			t.Fatalf("first request code %d", a.Code)
		}
		h.clock.Advance(time.Minute - time.Millisecond)
		assertRateLimited(t, h.fieldsCall())
		h.clock.Advance(time.Millisecond)
		if a := h.fieldsCall(); a.Code != 0 {
			t.Fatalf("after a minute: status %d code %d", a.Status, a.Code)
		}
	})
}

package server_test

import (
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/config"
)

func TestCircuitBreakerFailsFastAndRecovers(t *testing.T) {
	var failing atomic.Bool
	var reached atomic.Int64
	wrap := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if strings.HasPrefix(r.URL.Path, "/helpcrunch/") {
				reached.Add(1)
				if failing.Load() {
					http.Error(w, `{"errors":[{"code":"internal","message":"boom"}]}`, http.StatusInternalServerError)
					return
				}
			}
			next.ServeHTTP(w, r)
		})
	}
	s := newStack(t, func(c *config.Config) {
		c.Connections["helpcrunch"].CircuitBreaker = config.CircuitBreaker{Failures: 3, Cooldown: 300 * time.Millisecond}
	}, withSimWrap(wrap))
	create := func() response {
		return s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "Ana"})
	}

	failing.Store(true)
	for i := range 3 {
		r := create()
		wantProblem(t, r, http.StatusBadGateway, "vendor_error")
		if r.Body["outcome"] != "uncertain" {
			t.Fatalf("call %d: a failed create must be reported uncertain: %v", i, r.Body)
		}
	}
	r := create()
	wantProblem(t, r, http.StatusServiceUnavailable, "unavailable")
	if r.Body["vendor_name"] != "helpcrunch" || r.Body["retry_after"] == nil || r.Body["outcome"] != "not_applied" || r.Header.Get("Retry-After") == "" {
		t.Fatalf("open circuit problem: %v %v", r.Header, r.Body)
	}
	if n := reached.Load(); n != 3 {
		t.Fatalf("the vendor was called %d times, want 3 (none while open)", n)
	}

	failing.Store(false)
	time.Sleep(350 * time.Millisecond)
	if r := create(); r.Status != http.StatusCreated {
		t.Fatalf("probe after the cooldown: %d %s", r.Status, r.Raw)
	}
	if r := create(); r.Status != http.StatusCreated {
		t.Fatalf("closed again: %d %s", r.Status, r.Raw)
	}
}

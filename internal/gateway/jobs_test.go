package gateway

import (
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// fakeConnector writes each chunk of size in one request.
type fakeConnector struct {
	crm.Connector
	size int
}

func (f fakeConnector) BatchSize() int { return f.size }

// perItemConnector creates one customer per request, like HelpCrunch.
type perItemConnector struct{ fakeConnector }

func (p perItemConnector) PerItemWrites(m crm.Mode) bool { return m == crm.ModeCreate }
func (p perItemConnector) EstimateRequests(m crm.Mode, n int) int {
	if m == crm.ModeCreate {
		return n
	}
	return (n + p.size - 1) / p.size
}

func TestJobEstimates(t *testing.T) {
	limits := crm.Limits{Requests: 61, Period: time.Minute, Burst: 2, MaxWait: 10 * time.Second}
	batch := &Connection{Name: "nx", Limits: limits, Connector: fakeConnector{size: 100}}
	items := &Connection{Name: "hc", Limits: limits, Connector: perItemConnector{fakeConnector{size: 10}}}

	if got := batch.Interval(); got != 1020*time.Millisecond { // 60 per minute, stretched 2%
		t.Fatalf("Interval = %s", got)
	}
	for _, tc := range []struct {
		c        *Connection
		mode     crm.Mode
		n        int
		requests int
		unit     int
	}{
		{batch, crm.ModeUpsert, 250, 3, 100},
		{batch, crm.ModeCreate, 100, 1, 100},
		{items, crm.ModeCreate, 25, 25, 1},
		{items, crm.ModeUpdate, 25, 3, 10},
	} {
		if got := tc.c.EstimateRequests(tc.mode, tc.n); got != tc.requests {
			t.Errorf("%s %s %d: %d requests, want %d", tc.c.Name, tc.mode, tc.n, got, tc.requests)
		}
		if got := tc.c.WriteUnit(tc.mode); got != tc.unit {
			t.Errorf("%s %s: unit %d, want %d", tc.c.Name, tc.mode, got, tc.unit)
		}
	}
	// The burst goes at once; each further request one interval later.
	if got := items.EstimateDuration(crm.ModeCreate, 2); got != 0 {
		t.Errorf("a batch within the burst takes %s, want 0", got)
	}
	if got := items.EstimateDuration(crm.ModeCreate, 12); got != 10*1020*time.Millisecond {
		t.Errorf("12 creates take %s, want 10.2s", got)
	}
}

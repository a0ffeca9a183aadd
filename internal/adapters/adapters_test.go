package adapters_test

import (
	"context"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/adapters"
	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
)

// clock is a hand-driven clock for ratelimit.WithClock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// start has a non-zero microsecond part so that dropped digits would show.
var start = time.Date(2031, 5, 6, 7, 8, 9, 654321000, time.UTC)

// drive sends to a fresh local bucket for BucketLimit(l) as fast as the
// strategy allows for the given number of periods and returns the instants
// at which requests were admitted (sent), in order.
func drive(t *testing.T, l config.Limits, periods int, strategy string) []time.Time {
	t.Helper()
	clk := &clock{now: start}
	lim := ratelimit.NewLocal(ratelimit.WithClock(clk.Now))
	bucket := adapters.BucketLimit(l)
	if err := bucket.Valid(); err != nil {
		t.Fatalf("BucketLimit(%+v) = %v: %v", l, bucket, err)
	}
	rng := rand.New(rand.NewPCG(1, uint64(l.Requests)))
	end := start.Add(time.Duration(periods) * l.Period)
	ctx := context.Background()
	var sent []time.Time
	for clk.Now().Before(end) {
		maxWait := time.Duration(0)
		if strategy == "queue" {
			maxWait = l.Period // callers queue for up to a whole period
		}
		r, err := lim.Reserve(ctx, "conn", bucket, maxWait)
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case r.OK:
			sent = append(sent, clk.Now().Add(r.Delay))
		case strategy == "random":
			// Arrivals at random instants, some in the same microsecond.
			clk.Add(time.Duration(rng.Int64N(int64(2*bucket.Interval()/time.Microsecond)+1)) * time.Microsecond)
		default:
			// Come back at the earliest instant the bucket names, or a
			// microsecond early, which must still be refused.
			if r.RetryAfter > time.Microsecond && rng.IntN(4) == 0 {
				clk.Add(r.RetryAfter - time.Microsecond)
				if r, _ := lim.Reserve(ctx, "conn", bucket, maxWait); r.OK {
					t.Fatalf("admitted %s before the RetryAfter it named", time.Microsecond)
				}
				clk.Add(time.Microsecond)
			} else {
				clk.Add(max(r.RetryAfter, time.Microsecond))
			}
		}
		if strategy == "random" && r.OK && rng.IntN(3) == 0 {
			clk.Add(time.Duration(rng.Int64N(int64(bucket.Interval()/time.Microsecond)+1)) * time.Microsecond)
		}
	}
	slices.SortFunc(sent, func(a, b time.Time) int { return a.Compare(b) })
	return sent
}

// maxInWindow returns the most admissions in any half-open window of length
// period, and where that window starts.
func maxInWindow(sent []time.Time, period time.Duration) (int, time.Time) {
	best, at := 0, time.Time{}
	j := 0
	for i := range sent {
		for j < len(sent) && sent[j].Before(sent[i].Add(period)) {
			j++
		}
		if j-i > best {
			best, at = j-i, sent[i]
		}
	}
	return best, at
}

func TestBucketLimitNeverExceedsQuota(t *testing.T) {
	configs := []config.Limits{
		{Requests: 120, Period: time.Minute, Burst: 10}, // HelpCrunch default
		{Requests: 60, Period: time.Minute, Burst: 5},   // Zenvia, NXCloud default
		{Requests: 10, Period: time.Second, Burst: 10},  // burst = whole quota
		{Requests: 11, Period: time.Second, Burst: 10},  // steady rate of 1
		{Requests: 1, Period: time.Second, Burst: 1},
		{Requests: 2, Period: time.Second, Burst: 1},
		{Requests: 100, Period: time.Minute, Burst: 1},
		{Requests: 13, Period: time.Second, Burst: 2}, // interval not a whole µs
		{Requests: 7, Period: 10 * time.Second, Burst: 3},
		{Requests: 5, Period: time.Millisecond, Burst: 2},
		{Requests: 1000, Period: time.Hour, Burst: 50},
	}
	for _, l := range configs {
		for _, strategy := range []string{"greedy", "queue", "random"} {
			t.Run(l.Period.String()+"/"+strategy+"/"+itoa(l.Requests)+"-"+itoa(l.Burst), func(t *testing.T) {
				sent := drive(t, l, 6, strategy)
				n, at := maxInWindow(sent, l.Period)
				if n > l.Requests {
					t.Fatalf("%d requests admitted in the %s from %s, quota %d (bucket %v)",
						n, l.Period, at.Sub(start), l.Requests, adapters.BucketLimit(l))
				}
				if strategy == "random" {
					return
				}
				// The bound is tight enough to be useful: a caller going
				// flat out gets the whole burst at once and nearly the whole
				// quota per window.
				if n < l.Requests-l.Requests/20-1 {
					t.Errorf("only %d requests admitted in the busiest %s, quota %d", n, l.Period, l.Requests)
				}
				burst := 0
				for _, s := range sent {
					if s.Equal(start) {
						burst++
					}
				}
				if burst != l.Burst {
					t.Errorf("%d requests admitted at once on a full bucket, want burst %d", burst, l.Burst)
				}
			})
		}
	}
}

func TestBucketLimit(t *testing.T) {
	for _, l := range []config.Limits{
		{Requests: 120, Period: time.Minute, Burst: 10},
		{Requests: 10, Period: time.Second, Burst: 10},
		{Requests: 1, Period: time.Second, Burst: 1},
		{Requests: 60, Period: time.Minute, Burst: 1, MaxWait: time.Second, BatchSize: 3},
		{Requests: 10_000_000, Period: time.Minute, Burst: 10_000}, // leased: tokens may be spent a hold late
		{Requests: 100_000, Period: time.Second, Burst: 1_000},
	} {
		b := adapters.BucketLimit(l)
		if err := b.Valid(); err != nil {
			t.Errorf("BucketLimit(%+v) = %v: %v", l, b, err)
		}
		// The burst is the configured one, and the GCRA bound on any window
		// of one Period, stretched by the lease hold because a leased token
		// may be spent that late, Rate·(Period+hold)/b.Period + Burst - 1,
		// stays in the quota.
		if b.Burst != l.Burst {
			t.Errorf("BucketLimit(%+v).Burst = %d, want %d", l, b.Burst, l.Burst)
		}
		hold := ratelimit.LeaseHold(b.Period)
		if bound := float64(b.Rate)*float64(l.Period+hold)/float64(b.Period) + float64(b.Burst-1); bound > float64(l.Requests) {
			t.Errorf("BucketLimit(%+v) = %v admits up to %.2f per %s", l, b, bound, l.Period)
		}
	}
}

// refusingLimiter records what the client asks and never grants a token,
// so an adapter call is decided without any network.
type refusingLimiter struct {
	mu      sync.Mutex
	keys    []string
	limits  []ratelimit.Limit
	maxWait []time.Duration
}

func (f *refusingLimiter) Reserve(_ context.Context, key string, l ratelimit.Limit, maxWait time.Duration) (ratelimit.Reservation, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys, f.limits, f.maxWait = append(f.keys, key), append(f.limits, l), append(f.maxWait, maxWait)
	return ratelimit.Reservation{RetryAfter: time.Second}, nil
}

func (f *refusingLimiter) Block(context.Context, string, ratelimit.Limit, time.Duration) error {
	return nil
}

func TestOpen(t *testing.T) {
	limits := config.Limits{Requests: 30, Period: 10 * time.Second, Burst: 3, MaxWait: 250 * time.Millisecond, BatchSize: 7}
	tests := []struct {
		name      string
		conn      config.Connection
		batchSize int
		wantErr   string
	}{
		{name: "hc", conn: config.Connection{Vendor: crm.VendorHelpCrunch, BaseURL: "http://127.0.0.1:1", Limits: limits, Timeout: time.Second,
			Credentials: config.Credentials{APIKey: "k"}}, batchSize: 7},
		{name: "zv", conn: config.Connection{Vendor: crm.VendorZenvia, BaseURL: "http://127.0.0.1:1", Limits: limits, Timeout: time.Second,
			Credentials: config.Credentials{Token: "t"}}, batchSize: 7},
		{name: "nx", conn: config.Connection{Vendor: crm.VendorNXCloud, BaseURL: "http://127.0.0.1:1", Limits: limits, Timeout: time.Second, Sandbox: true,
			Credentials: config.Credentials{AccessKey: "a", AccessSecret: "s", TenantID: 1, AppKey: "p"}}, batchSize: 7},
		{name: "hc-capped", conn: config.Connection{Vendor: crm.VendorHelpCrunch, BaseURL: "http://127.0.0.1:1", Timeout: time.Second,
			Limits: config.Limits{Requests: 30, Period: time.Second, Burst: 3, BatchSize: 500}}, batchSize: 10},
		{name: "sf", conn: config.Connection{Vendor: "salesforce", Limits: limits}, wantErr: `connection sf: unknown vendor "salesforce"`},
		{name: "empty-vendor", conn: config.Connection{Limits: limits}, wantErr: `connection empty-vendor: unknown vendor ""`},
		{name: "no-limits", conn: config.Connection{Vendor: crm.VendorZenvia}, wantErr: "connection no-limits: limits:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lim := &refusingLimiter{}
			conn, err := adapters.Open(tt.name, &tt.conn, adapters.Deps{HTTP: http.DefaultClient, Limiter: lim})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Open error = %v, want %q", err, tt.wantErr)
				}
				if conn != nil {
					t.Errorf("Open returned a connection with its error")
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			if conn.Name != tt.name || conn.Vendor() != tt.conn.Vendor || conn.Sandbox != tt.conn.Sandbox {
				t.Errorf("connection = %q %q sandbox %v", conn.Name, conn.Vendor(), conn.Sandbox)
			}
			l := tt.conn.Limits
			want := crm.Limits{Requests: l.Requests, Period: l.Period, Burst: l.Burst, MaxWait: l.MaxWait, BatchSize: tt.batchSize}
			if conn.Limits != want || conn.BatchSize() != tt.batchSize {
				t.Errorf("limits = %+v (batch %d), want %+v", conn.Limits, conn.BatchSize(), want)
			}

			// A call goes through the connection's own bucket, shaped by
			// BucketLimit, and nothing is sent when it has no budget.
			_, err = conn.CreateCustomer(context.Background(), crm.CustomerWrite{Fields: crm.Fields{
				Name: crm.Some("Ada Lovelace"), Email: crm.Some("ada@example.com"), Phone: crm.Some("+5511999990000")}})
			if crm.ErrorCode(err) != crm.ERateLimited {
				t.Fatalf("CreateCustomer error = %v, want %s", err, crm.ERateLimited)
			}
			if len(lim.keys) == 0 || lim.keys[0] != tt.name || lim.limits[0] != adapters.BucketLimit(l) || lim.maxWait[0] > l.MaxWait {
				t.Errorf("reserved %v %v maxWait %v, want bucket %q %v within %s", lim.keys, lim.limits, lim.maxWait, tt.name, adapters.BucketLimit(l), l.MaxWait)
			}
		})
	}
}

func TestNewTransport(t *testing.T) {
	tr := adapters.NewTransport()
	if tr.MaxIdleConnsPerHost < 100 || tr.MaxIdleConns < tr.MaxIdleConnsPerHost {
		t.Errorf("idle pool %d/%d per host is too small", tr.MaxIdleConns, tr.MaxIdleConnsPerHost)
	}
	if tr == http.DefaultTransport {
		t.Errorf("NewTransport returned the shared default transport")
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

package ratelimit

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestLimitInterval(t *testing.T) {
	tests := []struct {
		name string
		l    Limit
		want time.Duration
	}{
		{"helpcrunch 120/min", PerMinute(120, 10), 500 * time.Millisecond},
		{"exact microseconds", Limit{Rate: 4, Period: time.Millisecond, Burst: 1}, 250 * time.Microsecond},
		// 60 s / 7 = 8.571428571428… s: rounding down would admit slightly more than 7 a minute.
		{"rounds up, never faster", PerMinute(7, 1), 8571429 * time.Microsecond},
		{"one per microsecond", Limit{Rate: 1000, Period: time.Millisecond, Burst: 1}, time.Microsecond},
		{"zero rate", Limit{Period: time.Minute, Burst: 1}, 0},
		{"zero period", Limit{Rate: 1, Burst: 1}, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.l.Interval()
			if got != tc.want {
				t.Fatalf("%v.Interval() = %s, want %s", tc.l, got, tc.want)
			}
			if tc.l.Rate > 0 && got*time.Duration(tc.l.Rate) < tc.l.Period {
				t.Fatalf("Interval %s × %d < Period %s: the bucket would run too fast", got, tc.l.Rate, tc.l.Period)
			}
		})
	}
}

func TestLimitValid(t *testing.T) {
	tests := []struct {
		name  string
		l     Limit
		field string // the field the error must name; "" = valid
	}{
		{"valid", PerMinute(120, 10), ""},
		{"burst one", Limit{Rate: 1, Period: time.Second, Burst: 1}, ""},
		{"daily quota with full burst", Limit{Rate: 1000, Period: 24 * time.Hour, Burst: 1000}, ""},
		{"zero rate", Limit{Rate: 0, Period: time.Minute, Burst: 1}, "Rate"},
		{"negative rate", Limit{Rate: -5, Period: time.Minute, Burst: 1}, "Rate"},
		{"zero period", Limit{Rate: 1, Period: 0, Burst: 1}, "Period"},
		{"negative period", Limit{Rate: 1, Period: -time.Second, Burst: 1}, "Period"},
		{"zero burst", Limit{Rate: 1, Period: time.Second, Burst: 0}, "Burst"},
		{"finer than a microsecond", Limit{Rate: 2_000_000, Period: time.Second, Burst: 1}, "Rate"},
		{"burst spanning years", Limit{Rate: 1, Period: 24 * time.Hour, Burst: 1000}, "Burst"},
		{"huge period", Limit{Rate: 1, Period: 10 * 365 * 24 * time.Hour, Burst: 1}, "Period"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.l.Valid()
			if tc.field == "" {
				if err != nil {
					t.Fatalf("Valid() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Valid() = nil, want an error naming %s", tc.field)
			}
			if !errors.Is(err, ErrInvalidLimit) {
				t.Errorf("Valid() = %v, does not wrap ErrInvalidLimit", err)
			}
			if !strings.Contains(err.Error(), tc.field+" ") {
				t.Errorf("Valid() = %q, want it to name %s", err, tc.field)
			}
		})
	}
}

func TestLimitStringAndPolicy(t *testing.T) {
	tests := []struct {
		name       string
		l          Limit
		policyName string
		wantString string
		wantPolicy string
	}{
		{"per minute", PerMinute(120, 10), "hc-main", "120/1m0s burst 10", `"hc-main";q=120;w=60`},
		{"sub-second window rounds up", Limit{Rate: 5, Period: 1500 * time.Millisecond, Burst: 2}, "z", "5/1.5s burst 2", `"z";q=5;w=2`},
		{"quotes and backslashes escaped", Limit{Rate: 1, Period: time.Hour, Burst: 1}, `a"b\c`, "1/1h0m0s burst 1", `"a\"b\\c";q=1;w=3600`},
		{"non-ASCII replaced", Limit{Rate: 3, Period: time.Second, Burst: 3}, "nx-é\n", "3/1s burst 3", `"nx-???";q=3;w=1`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.l.String(); got != tc.wantString {
				t.Errorf("String() = %q, want %q", got, tc.wantString)
			}
			if got := tc.l.Policy(tc.policyName); got != tc.wantPolicy {
				t.Errorf("Policy(%q) = %s, want %s", tc.policyName, got, tc.wantPolicy)
			}
		})
	}
}

func TestLimitShare(t *testing.T) {
	tests := []struct {
		name     string
		l        Limit
		replicas int
		want     Limit
	}{
		{"single replica keeps the limit", PerMinute(120, 10), 1, PerMinute(120, 10)},
		{"zero replicas means one", PerMinute(120, 10), 0, PerMinute(120, 10)},
		{"divides rate and burst", PerMinute(120, 10), 3, PerMinute(40, 3)},
		{"rounds down so replicas stay within the limit", PerMinute(100, 10), 7, PerMinute(14, 1)},
		{"at least one per period", PerMinute(2, 1), 5, PerMinute(1, 1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.l.Share(tc.replicas)
			if got != tc.want {
				t.Fatalf("%v.Share(%d) = %v, want %v", tc.l, tc.replicas, got, tc.want)
			}
			if tc.replicas > 1 && tc.l.Rate >= tc.replicas && got.Rate*tc.replicas > tc.l.Rate {
				t.Fatalf("%d replicas × %d exceed the limit's %d", tc.replicas, got.Rate, tc.l.Rate)
			}
		})
	}
}

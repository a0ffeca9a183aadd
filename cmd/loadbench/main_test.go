package main

import (
	"bytes"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestPercentileIsNearestRank(t *testing.T) {
	var d []time.Duration
	for i := 1; i <= 200; i++ {
		d = append(d, time.Duration(i)*time.Millisecond)
	}
	for _, tc := range []struct {
		p    float64
		want time.Duration
	}{{0.50, 100 * time.Millisecond}, {0.99, 198 * time.Millisecond}, {1, 200 * time.Millisecond}, {0.001, time.Millisecond}} {
		if got := percentile(d, tc.p); got != tc.want {
			t.Errorf("percentile(1..200 ms, %v) = %v, want %v", tc.p, got, tc.want)
		}
	}
	if got := percentile([]time.Duration{7}, 0.99); got != 7 {
		t.Errorf("one sample: got %v", got)
	}
	if got := percentile(nil, 0.5); got != 0 {
		t.Errorf("no sample: got %v", got)
	}
}

func TestSixRoundsTryEveryOrderOfThreeTargets(t *testing.T) {
	seen := map[string]bool{}
	for round := range 6 {
		o := roundOrder(3, round)
		s := slices.Clone(o)
		slices.Sort(s)
		if !slices.Equal(s, []int{0, 1, 2}) {
			t.Fatalf("round %d: order %v is not a permutation", round, o)
		}
		seen[fmt.Sprint(o)] = true
	}
	if len(seen) != 6 {
		t.Errorf("six rounds gave %d distinct orders, want all 6: %v", len(seen), seen)
	}
}

func TestFlags(t *testing.T) {
	env := func(string) string { return "" }
	o, err := parseFlags(nil, env)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(o.concurrency, []int{1, 32}) || o.duration != 5*time.Second || !slices.Equal(o.targets, allTargets) {
		t.Errorf("defaults: %+v", o)
	}
	for _, bad := range [][]string{{"-concurrency", "0"}, {"-concurrency", "x"}, {"-targets", "nginx"}, {"-duration", "0s"}, {"-requests", "0"}} {
		if _, err := parseFlags(bad, env); err == nil {
			t.Errorf("%v: accepted", bad)
		}
	}
}

// TestRunIsBoundedByRequestCount drives all three targets for real (the
// simulator, the proxy and the gateway on real Redis) with a small request
// budget and a long duration: the run must stop at the budget, every
// request must have succeeded, and the report must carry the ratios.
func TestRunIsBoundedByRequestCount(t *testing.T) {
	redisURL := os.Getenv("REDIS_URL")
	if redisURL == "" {
		redisURL = "redis://127.0.0.1:6379/0"
	}
	o := options{concurrency: []int{1, 3}, targets: allTargets, duration: time.Minute, rounds: 3,
		requests: 25, redisURL: redisURL}
	var out, progress bytes.Buffer
	start := time.Now()
	if err := run(o, &out, &progress); err != nil {
		t.Fatalf("run: %v\n%s", err, progress.String())
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("run took %s: the request budget did not bound it", took)
	}
	rows := 0
	for line := range strings.Lines(out.String()) {
		cells := strings.Split(strings.Trim(strings.TrimSpace(line), "|"), "|")
		if len(cells) != 10 || !strings.HasPrefix(strings.TrimSpace(cells[0]), "(") {
			continue
		}
		rows++
		if got := strings.TrimSpace(cells[2]); got != "25" {
			t.Errorf("%s: %s requests, want exactly the budget of 25", line, got)
		}
		if got := strings.TrimSpace(cells[6]); got != "0" {
			t.Errorf("%s: %s errors\n%s", line, got, progress.String())
		}
	}
	if rows != 8 {
		t.Errorf("%d result rows, want 8 (4 targets × 2 concurrencies):\n%s", rows, out.String())
	}
	for _, want := range []string{"| 1 | ", "| 3 | ", "c/b req/s", "d/b req/s"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("report lacks %q:\n%s", want, out.String())
		}
	}
	if !strings.Contains(progress.String(), `"customData":[{"property":"plan","value":"gold"}]`) {
		t.Errorf("the vendor body should be the adapter's HelpCrunch form of the normalized one:\n%s", progress.String())
	}
}

package main

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// soakSample is the process after one soak slice.
type soakSample struct {
	at         time.Duration
	res        result
	rss        uint64 // bytes resident (VmRSS)
	heap       uint64 // bytes of heap in use after a GC
	goroutines int
}

// soakSlice is how long each sample's load lasts.
const soakSlice = 30 * time.Second

// soak drives the gateway for o.soak at one concurrency, a slice at a time,
// and after each slice samples the process (gateway, simulator and load
// generator live in it): resident memory, heap in use after a GC, and
// goroutines. The simulator is emptied before each sample, and latencies are
// kept per slice only, so neither the simulator's state nor the samples
// themselves grow. A leak shows as growth from the first third of the run
// to the last: more than 10% (plus a little slack for small numbers) fails.
func soak(o options, front *simFront, t *target, stdout io.Writer) error {
	c := o.concurrency[0]
	slice := min(soakSlice, o.soak)
	n := max(int(o.soak/slice), 3)
	warm := newMeasurement(t, c, math.MaxInt64)
	warm.slice(o.warmup, false)
	warm.close()

	fmt.Fprintf(stdout, "Soak: %s at %d connections through the gateway's full path, sampled every %s (load average %s at start).\n\n",
		time.Duration(n)*slice, c, slice, loadAverage())
	fmt.Fprintln(stdout, "| time | req/s | p99 | errors | RSS | heap in use | goroutines |")
	fmt.Fprintln(stdout, "|--:|--:|--:|--:|--:|--:|--:|")
	start := time.Now()
	var samples []soakSample
	for range n {
		m := newMeasurement(t, c, math.MaxInt64)
		m.slice(slice, true)
		res := m.result()
		m.close()
		// Drop the simulator's stored customers before sampling, so the
		// figures are the gateway's and the load generator's own.
		front.Reset()
		time.Sleep(200 * time.Millisecond) // let the closed connections' goroutines end
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		s := soakSample{at: time.Since(start), res: res, rss: residentBytes(), heap: ms.HeapInuse, goroutines: runtime.NumGoroutine()}
		samples = append(samples, s)
		fmt.Fprintf(stdout, "| %s | %s | %s | %d | %.1f MB | %.1f MB | %d |\n", s.at.Round(time.Second), thousands(int64(res.RPS)),
			millis(res.P99), res.Errors, float64(s.rss)/(1<<20), float64(s.heap)/(1<<20), s.goroutines)
	}
	third := max(len(samples)/3, 1)
	first, last := samples[:third], samples[len(samples)-third:]
	mean := func(ss []soakSample, f func(soakSample) float64) float64 {
		sum := 0.0
		for _, s := range ss {
			sum += f(s)
		}
		return sum / float64(len(ss))
	}
	var failed []string
	for _, m := range []struct {
		name  string
		f     func(soakSample) float64
		slack float64
	}{
		{"RSS", func(s soakSample) float64 { return float64(s.rss) }, 4 << 20},
		{"heap in use", func(s soakSample) float64 { return float64(s.heap) }, 4 << 20},
		{"goroutines", func(s soakSample) float64 { return float64(s.goroutines) }, 5},
	} {
		a, b := mean(first, m.f), mean(last, m.f)
		growth := (b - a) / a
		fmt.Fprintf(stdout, "\n%s: first third %.4g, last third %.4g (%+.1f%%)", m.name, a, b, 100*growth)
		if b > a*1.10+m.slack {
			failed = append(failed, m.name)
		}
	}
	fmt.Fprintln(stdout)
	var errs int64
	for _, s := range samples {
		errs += s.res.Errors
	}
	if errs > 0 {
		failed = append(failed, fmt.Sprintf("%d request errors", errs))
	}
	if len(failed) > 0 {
		return fmt.Errorf("soak: %s grew or failed", strings.Join(failed, ", "))
	}
	fmt.Fprintln(stdout, "flat: no growth beyond 10% from the first third to the last, and no errors")
	return nil
}

// residentBytes reads the process's resident set size from /proc (Linux);
// 0 elsewhere.
func residentBytes() uint64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

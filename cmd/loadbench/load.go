package main

import (
	"bytes"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"runtime/metrics"
	"slices"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// target is one endpoint the generator drives: every request is the same
// POST, and any other answer than want (or a transport error) is an error.
type target struct {
	Name   string // short name, used by -targets
	Label  string // as printed in the table
	URL    string
	Header http.Header // shared, read-only
	Body   []byte
	Want   int
}

// worker is one connection: a goroutine sending requests one after the
// other on a transport that holds exactly one keep-alive connection.
type worker struct {
	client *http.Client
	lat    []time.Duration
	errs   int64
	first  error // first error seen, for the diagnostics line
}

func newWorker() *worker {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:        1,
		MaxIdleConnsPerHost: 1,
		MaxConnsPerHost:     1,
		IdleConnTimeout:     time.Minute,
		DisableCompression:  true,
	}
	return &worker{client: &http.Client{Transport: tr, Timeout: 30 * time.Second}}
}

// do sends one request and reads the whole answer, so the connection is
// reused and the latency covers the full response.
func (w *worker) do(t *target) error {
	req, err := http.NewRequest(http.MethodPost, t.URL, bytes.NewReader(t.Body))
	if err != nil {
		return err
	}
	req.Header = t.Header
	resp, err := w.client.Do(req)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return err
	}
	if resp.StatusCode != t.Want {
		return fmt.Errorf("status %d, want %d", resp.StatusCode, t.Want)
	}
	return nil
}

func (w *worker) close() { w.client.CloseIdleConnections() }

// measurement is one target at one concurrency, accumulated over
// several slices.
type measurement struct {
	target      *target
	concurrency int
	workers     []*worker
	budget      atomic.Int64  // requests still allowed (-requests)
	elapsed     time.Duration // wall time of the measured slices
	cpu         time.Duration // process CPU (user+system) during them
	heap        heapAllocs    // process heap allocations during them
}

func newMeasurement(t *target, concurrency int, maxRequests int64) *measurement {
	r := &measurement{target: t, concurrency: concurrency}
	for range concurrency {
		r.workers = append(r.workers, newWorker())
	}
	r.budget.Store(maxRequests)
	return r
}

// slice drives the target from every worker for about d, or until the
// request budget is spent. Measured slices record latencies, CPU and time; a
// warm-up slice (record false) only opens connections and fills pools.
func (r *measurement) slice(d time.Duration, record bool) {
	if d <= 0 || (record && r.budget.Load() <= 0) {
		return
	}
	cpu0, heap0 := processCPU(), readHeapAllocs()
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for _, w := range r.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(deadline) {
				if record && r.budget.Add(-1) < 0 {
					return
				}
				t0 := time.Now()
				err := w.do(r.target)
				took := time.Since(t0)
				if !record {
					continue
				}
				w.lat = append(w.lat, took)
				if err != nil {
					w.errs++
					if w.first == nil {
						w.first = err
					}
				}
			}
		}()
	}
	wg.Wait()
	if record {
		r.elapsed += time.Since(start)
		r.cpu += processCPU() - cpu0
		h := readHeapAllocs()
		r.heap.objects += h.objects - heap0.objects
		r.heap.bytes += h.bytes - heap0.bytes
	}
}

func (r *measurement) close() {
	for _, w := range r.workers {
		w.close()
	}
}

// result summarizes a run.
type result struct {
	Target       *target
	Concurrency  int
	Requests     int64 // answered, errors included
	Errors       int64
	Elapsed      time.Duration
	RPS          float64       // successful requests per second
	P50, P99     time.Duration // over every request, errors included
	CPUPerReq    time.Duration // process CPU per request (load generator, simulator and the target together)
	AllocsPerReq float64       // process heap allocations per request, likewise
	BytesPerReq  float64       // process heap bytes allocated per request, likewise
	FirstError   error
}

func (r *measurement) result() result {
	res := result{Target: r.target, Concurrency: r.concurrency, Elapsed: r.elapsed}
	var all []time.Duration
	for _, w := range r.workers {
		all = append(all, w.lat...)
		res.Errors += w.errs
		if res.FirstError == nil {
			res.FirstError = w.first
		}
	}
	res.Requests = int64(len(all))
	slices.Sort(all)
	res.P50, res.P99 = percentile(all, 0.50), percentile(all, 0.99)
	if r.elapsed > 0 {
		res.RPS = float64(res.Requests-res.Errors) / r.elapsed.Seconds()
	}
	if res.Requests > 0 {
		res.CPUPerReq = r.cpu / time.Duration(res.Requests)
		res.AllocsPerReq = float64(r.heap.objects) / float64(res.Requests)
		res.BytesPerReq = float64(r.heap.bytes) / float64(res.Requests)
	}
	return res
}

// percentile is the nearest-rank percentile (0 < p ≤ 1) of sorted samples:
// the smallest sample with at least p of all samples at or below it.
func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(p*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// processCPU is the user and system CPU this process has used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapAllocs are cumulative heap allocation counts of the process.
type heapAllocs struct{ objects, bytes uint64 }

// readHeapAllocs reads the runtime's cumulative allocation counters, which
// (unlike runtime.ReadMemStats) does not stop the world.
func readHeapAllocs() heapAllocs {
	s := []metrics.Sample{{Name: "/gc/heap/allocs:objects"}, {Name: "/gc/heap/allocs:bytes"}}
	metrics.Read(s)
	var h heapAllocs
	if s[0].Value.Kind() == metrics.KindUint64 {
		h.objects = s[0].Value.Uint64()
	}
	if s[1].Value.Kind() == metrics.KindUint64 {
		h.bytes = s[1].Value.Uint64()
	}
	return h
}

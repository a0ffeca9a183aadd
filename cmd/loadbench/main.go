// Command loadbench measures, in one run on loopback, what the gateway's full
// path costs next to the vendor it calls and next to a plain Go reverse
// proxy. One load generator (a fixed number of keep-alive connections, each
// sending requests back to back) drives three targets in turn:
//
//	(a) direct   the HelpCrunch simulator: POST /v1/customers with its Bearer key, rate limit off
//	(b) proxy    a pooled httputil.ReverseProxy in front of the same simulator (tuned transport, BufferPool)
//	(c) gateway  the gateway's full path: API key, OpenAPI request validation, the GCRA bucket on
//	             real Redis, mapping and the vendor call: POST /v1/connections/hc/customers with a
//	             normalized customer whose HelpCrunch form is exactly the body (a) and (b) send
//	(d) floor    Echo and the gateway's vendor HTTP client forwarding the vendor body and doing
//	             nothing else: the least any gateway on this stack costs, so c/d is the price of
//	             the gateway's own work and d/b that of the stack next to a ReverseProxy
//
// Everything runs in this one process: the generator, the simulator and the
// target share the machine's cores (two here), so the numbers compare the
// three paths with each other, not with other machines. Each target is measured for -duration at each
// -concurrency, in -rounds slices interleaved in rotating order so that drift
// in the machine's load hits the three alike; every slice starts with an
// empty simulator. It prints a Markdown table (requests, successful req/s,
// p50/p99 latency, errors, and the process's CPU time and heap allocations
// per request, generator and simulator included) and the ratios c/a and
// c/b with the added p50 of c over a, checked against the targets, and d/b.
//
// With -cpuprofile the run writes a CPU profile whose samples are labelled
// by part (loadgen, vendor, proxy, gateway):
//
//	go tool pprof -top -tagfocus=part=gateway FILE
//
// Usage:
//
//	loadbench [-concurrency 1,32] [-duration 5s] [-warmup 500ms] [-requests 2000000] [-rounds 6]
//	          [-targets direct,proxy,gateway,floor] [-redis redis://127.0.0.1:6379/0]
//	          [-cpuprofile FILE] [-memprofile FILE]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
)

// Targets the issue sets for the gateway.
const (
	// targetProxyRatio is the least gateway throughput relative to the Go proxy.
	targetProxyRatio = 1.0
	// targetAddedP50 is the most the gateway may add to the direct p50 at one connection.
	targetAddedP50 = 300 * time.Microsecond
)

// normalizedBody is the customer the gateway is sent (c). The simulator is
// sent (a, b) the exact bytes the gateway's adapter sends for it.
const normalizedBody = `{"name":"Ana Souza","email":"ana.souza@example.com","phone":"+5511991417777",` +
	`"external_id":"u-1","company":"ACME","locale":"pt","notes":"prefers WhatsApp",` +
	`"tags":[{"name":"vip"},{"name":"newsletter","color":"#00aa00"}],"custom_fields":{"plan":"gold"}}`

// options are the command's flags.
type options struct {
	concurrency []int
	targets     []string
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	requests    int64
	redisURL    string
	cpuProfile  string
	memProfile  string
	soak        time.Duration // > 0: a soak run of the gateway instead of the comparison
}

var allTargets = []string{"direct", "proxy", "gateway", "floor"}

func main() {
	o, err := parseFlags(os.Args[1:], os.Getenv)
	if err == nil {
		err = run(o, os.Stdout, os.Stderr)
	}
	if err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, "loadbench:", err)
		}
		os.Exit(1)
	}
}

func parseFlags(args []string, getenv func(string) string) (options, error) {
	var o options
	fs := flag.NewFlagSet("loadbench", flag.ContinueOnError)
	conc := fs.String("concurrency", "1,32", "comma-separated numbers of concurrent connections, each measured in turn")
	targets := fs.String("targets", strings.Join(allTargets, ","), "comma-separated targets among direct, proxy, gateway")
	fs.DurationVar(&o.duration, "duration", 5*time.Second, "measured time per target and concurrency")
	fs.DurationVar(&o.warmup, "warmup", 500*time.Millisecond, "unmeasured time per target and concurrency first")
	fs.IntVar(&o.rounds, "rounds", 6, "slices each measurement is cut into, interleaved across targets")
	fs.Int64Var(&o.requests, "requests", 2_000_000, "most requests per target and concurrency")
	defaultRedis := getenv("REDIS_URL")
	if defaultRedis == "" {
		defaultRedis = "redis://127.0.0.1:6379/0"
	}
	fs.StringVar(&o.redisURL, "redis", defaultRedis, "Redis URL for the gateway's rate limiter (REDIS_URL)")
	fs.StringVar(&o.cpuProfile, "cpuprofile", "", "write a CPU profile of the measured run, labelled by part, to this file")
	fs.StringVar(&o.memProfile, "memprofile", "", "write an allocation profile of the measured run (sampled every 4 KB) to this file")
	fs.DurationVar(&o.soak, "soak", 0, "instead of comparing targets, drive the gateway this long at the first -concurrency and check that memory and goroutines stay flat")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	for _, s := range strings.Split(*conc, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 || n > 4096 {
			return o, fmt.Errorf("-concurrency: %q is not a number of connections between 1 and 4096", s)
		}
		o.concurrency = append(o.concurrency, n)
	}
	for _, s := range strings.Split(*targets, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(allTargets, s) {
			return o, fmt.Errorf("-targets: unknown target %q (want direct, proxy, gateway or floor)", s)
		}
		if !slices.Contains(o.targets, s) {
			o.targets = append(o.targets, s)
		}
	}
	switch {
	case o.duration <= 0 || o.duration > 10*time.Minute:
		return o, errors.New("-duration must be positive and at most 10m")
	case o.warmup < 0 || o.warmup > time.Minute:
		return o, errors.New("-warmup must be between 0 and 1m")
	case o.rounds < 1:
		return o, errors.New("-rounds must be at least 1")
	case o.requests < 1:
		return o, errors.New("-requests must be at least 1")
	case o.soak < 0 || o.soak > 24*time.Hour:
		return o, errors.New("-soak must be between 0 and 24h")
	}
	return o, nil
}

func run(o options, stdout, stderr io.Writer) error {
	front := newSimFront()
	simURL, stopSim, err := serve("vendor", front, nil)
	if err != nil {
		return err
	}
	defer stopSim()
	proxy, err := newProxy(simURL)
	if err != nil {
		return err
	}
	proxyURL, stopProxy, err := serve("proxy", proxy, nil)
	if err != nil {
		return err
	}
	defer stopProxy()
	floorURL, stopFloor, err := serve("floor", newFloor(simURL), nil)
	if err != nil {
		return err
	}
	defer stopFloor()
	gw, err := newGateway(simURL, o.redisURL)
	if err != nil {
		return err
	}
	defer gw.close()
	gwURL, stopGateway, err := serve("gateway", gw.Handler, gw.configureServer)
	if err != nil {
		return err
	}
	defer stopGateway()

	vendorHeader := http.Header{"Authorization": {"Bearer " + helpcrunch.DefaultAPIKey}, "Content-Type": {"application/json"}}
	gwTarget := &target{Name: "gateway", Label: "(c) gateway full path", URL: gwURL + "/v1/connections/" + connection + "/customers",
		Header: http.Header{"Authorization": {"Bearer " + gw.Key}, "Content-Type": {"application/json"}},
		Body:   []byte(normalizedBody), Want: http.StatusCreated}

	// One call through the gateway shows what it sends the vendor: (a) and
	// (b) send exactly that.
	taken := front.capture()
	probe := newWorker()
	defer probe.close()
	err = probe.do(gwTarget)
	vendorBody := taken()
	if err != nil {
		return fmt.Errorf("gateway preflight: %w", err)
	}
	if len(vendorBody) == 0 {
		return errors.New("gateway preflight: the simulator received no body")
	}
	byName := map[string]*target{
		"direct": {Name: "direct", Label: "(a) simulator direct", URL: simURL + "/v1/customers", Header: vendorHeader,
			Body: vendorBody, Want: http.StatusCreated},
		"proxy": {Name: "proxy", Label: "(b) Go ReverseProxy", URL: proxyURL + "/v1/customers", Header: vendorHeader,
			Body: vendorBody, Want: http.StatusCreated},
		"gateway": gwTarget,
		"floor": {Name: "floor", Label: "(d) floor: Echo forwarder", URL: floorURL + "/v1/customers", Header: vendorHeader,
			Body: vendorBody, Want: http.StatusCreated},
	}
	var targets []*target
	for _, name := range o.targets {
		t := byName[name]
		if err := probe.do(t); err != nil {
			return fmt.Errorf("%s preflight: %w", name, err)
		}
		targets = append(targets, t)
	}
	fmt.Fprintf(stderr, "normalized body (c), %d bytes: %s\nvendor body (a, b), %d bytes: %s\n",
		len(gwTarget.Body), gwTarget.Body, len(vendorBody), vendorBody)
	if o.soak > 0 {
		return soak(o, front, gwTarget, stdout)
	}

	if o.memProfile != "" {
		// Finer than the default 512 KB, so that even small per-request
		// allocations show; it costs some speed, so only when asked.
		runtime.MemProfileRate = 4 << 10
	}
	if o.cpuProfile != "" {
		f, err := os.Create(o.cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}

	load := loadAverage()
	var results []result
	pprof.Do(context.Background(), pprof.Labels(profileLabel, "loadgen"), func(context.Context) {
		for _, c := range o.concurrency {
			results = append(results, measure(o, front, targets, c, stderr)...)
		}
	})

	if o.memProfile != "" {
		if err := writeAllocs(o.memProfile); err != nil {
			return err
		}
	}
	fmt.Fprintf(stdout, "Loopback, in one process: GOMAXPROCS %d on %d CPUs, %s, load average %s at start; "+
		"%s per target and concurrency in %d interleaved slices after %s of warm-up.\n\n",
		runtime.GOMAXPROCS(0), runtime.NumCPU(), runtime.Version(), load, o.duration, o.rounds, o.warmup)
	report(stdout, results)
	for _, r := range results {
		if r.Errors > 0 {
			fmt.Fprintf(stderr, "%s at %d: %d errors, first: %v\n", r.Target.Name, r.Concurrency, r.Errors, r.FirstError)
		}
	}
	return nil
}

// measure runs every target at concurrency c: a warm-up each, then rounds
// of one slice per target, the order rotating and reversing from round to
// round so that over six rounds each target goes first, second and third
// after each other target alike.
func measure(o options, front *simFront, targets []*target, c int, progress io.Writer) []result {
	runs := make([]*measurement, len(targets))
	for i, t := range targets {
		runs[i] = newMeasurement(t, c, o.requests)
		defer runs[i].close()
	}
	for _, r := range runs {
		front.Reset()
		r.slice(o.warmup, false)
	}
	slice := o.duration / time.Duration(o.rounds)
	for round := range o.rounds {
		for _, i := range roundOrder(len(runs), round) {
			front.Reset()
			runs[i].slice(slice, true)
		}
		fmt.Fprintf(progress, "concurrency %d: round %d/%d done\n", c, round+1, o.rounds)
	}
	out := make([]result, len(runs))
	for i, r := range runs {
		out[i] = r.result()
	}
	return out
}

// roundOrder is the order of n targets in a round: rotated by the round,
// reversed in odd rounds.
func roundOrder(n, round int) []int {
	order := make([]int, n)
	for i := range order {
		order[i] = (i + round) % n
	}
	if round%2 == 1 {
		slices.Reverse(order)
	}
	return order
}

// report prints the results as Markdown: one row per target and
// concurrency, then the gateway's ratios per concurrency.
func report(w io.Writer, results []result) {
	fmt.Fprintln(w, "| target | connections | requests | req/s | p50 | p99 | errors | CPU/request | allocs/request | KB/request |")
	fmt.Fprintln(w, "|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|")
	for _, r := range results {
		fmt.Fprintf(w, "| %s | %d | %s | %s | %s | %s | %d | %s | %.0f | %.1f |\n", r.Target.Label, r.Concurrency, thousands(r.Requests),
			thousands(int64(r.RPS+0.5)), millis(r.P50), millis(r.P99), r.Errors, micros(r.CPUPerReq), r.AllocsPerReq, r.BytesPerReq/1024)
	}
	type trio struct{ a, b, c, d *result }
	var concs []int
	by := map[int]*trio{}
	for i := range results {
		r := &results[i]
		t := by[r.Concurrency]
		if t == nil {
			t = &trio{}
			by[r.Concurrency] = t
			concs = append(concs, r.Concurrency)
		}
		switch r.Target.Name {
		case "direct":
			t.a = r
		case "proxy":
			t.b = r
		case "gateway":
			t.c = r
		case "floor":
			t.d = r
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "| connections | c/a req/s | c/b req/s (target ≥ %.1f) | p50 added by c over a (target ≤ %s at 1) | c/d req/s | d/b req/s |\n",
		targetProxyRatio, millis(targetAddedP50))
	fmt.Fprintln(w, "|--:|--:|--:|--:|--:|--:|")
	for _, c := range concs {
		t := by[c]
		ca, cb, added, cd, db := "–", "–", "–", "–", "–"
		if t.c != nil && t.d != nil && t.d.RPS > 0 {
			cd = fmt.Sprintf("%.2f", t.c.RPS/t.d.RPS)
		}
		if t.d != nil && t.b != nil && t.b.RPS > 0 {
			db = fmt.Sprintf("%.2f", t.d.RPS/t.b.RPS)
		}
		if t.c != nil && t.a != nil && t.a.RPS > 0 {
			ca = fmt.Sprintf("%.2f", t.c.RPS/t.a.RPS)
		}
		if t.c != nil && t.b != nil && t.b.RPS > 0 {
			ratio := t.c.RPS / t.b.RPS
			cb = fmt.Sprintf("%.2f %s", ratio, verdict(ratio >= targetProxyRatio))
		}
		if t.c != nil && t.a != nil {
			d := t.c.P50 - t.a.P50
			added = "+" + millis(d)
			if d < 0 {
				added = "−" + millis(-d)
			}
			if c == 1 {
				added += " " + verdict(d <= targetAddedP50)
			}
		}
		fmt.Fprintf(w, "| %d | %s | %s | %s | %s | %s |\n", c, ca, cb, added, cd, db)
	}
}

func verdict(ok bool) string {
	if ok {
		return "(meets)"
	}
	return "(BELOW target)"
}

func millis(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

func micros(d time.Duration) string {
	return fmt.Sprintf("%.0f µs", float64(d)/float64(time.Microsecond))
}

// thousands formats n with comma separators.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, ch := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(ch)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// loadAverage is the one-minute load average, or "unknown".
func loadAverage() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	if f := strings.Fields(string(b)); len(f) > 0 {
		return f[0]
	}
	return "unknown"
}

func writeAllocs(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return pprof.Lookup("allocs").WriteTo(f, 0)
}

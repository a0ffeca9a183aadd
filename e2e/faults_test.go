package e2e

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

// ownRedis is a redis-server child process on its own loopback port, for
// tests that stop and restart Redis: the shared Redis is never touched.
type ownRedis struct {
	t    *testing.T
	addr string
	args []string
	cmd  *exec.Cmd
}

// startOwnRedis starts redis-server (no persistence) on a free port with
// the extra arguments; the test is skipped when redis-server is not installed.
func startOwnRedis(t *testing.T, extra ...string) *ownRedis {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		t.Skip("redis-server is not installed")
	}
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	r := &ownRedis{t: t, addr: addr,
		args: append([]string{bin, "--port", port, "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no"}, extra...)}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *ownRedis) start() {
	r.t.Helper()
	r.cmd = exec.Command(r.args[0], r.args[1:]...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if r.answers() {
			return
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("redis-server on %s did not start", r.addr)
		}
	}
}

// answers reports whether the server speaks RESP on its port (a NOAUTH
// error counts: it is up).
func (r *ownRedis) answers() bool {
	c, err := net.DialTimeout("tcp", r.addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, "PING\r\n"); err != nil {
		return false
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return strings.HasPrefix(line, "+PONG") || strings.HasPrefix(line, "-NOAUTH")
}

// stop kills the server (SIGKILL: an outage, not a clean shutdown).
func (r *ownRedis) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

// loadStats counts the answers of a load run.
type loadStats struct {
	mu       sync.Mutex
	statuses map[string]map[int]int // phase → status → count
	errs     []string
}

func (l *loadStats) add(phase string, status int, err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err != nil {
		l.errs = append(l.errs, phase+": "+err.Error())
		return
	}
	if l.statuses[phase] == nil {
		l.statuses[phase] = map[int]int{}
	}
	l.statuses[phase][status]++
}

// TestRedisRestartUnderLoad kills the gateway's Redis under steady load and
// starts it again on the same port: the gateway keeps answering from its
// fallback bucket (never a 5xx, never a dropped request), /readyz says
// degraded while Redis is down and ready after, and the shared bucket is
// back in Redis once it returns.
func TestRedisRestartUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test with processes")
	}
	rds := startOwnRedis(t)
	root := startVendorSim(t, "-helpcrunch-limit", "-1")
	prefix := "e2e-fault-" + randomHex(4) + ":"
	gw := startGateway(t, fmt.Sprintf(`
redis: {url: "redis://%s/0", prefix: %q, replicas: 1}
log: {level: info}
api_keys: [{name: e2e, key: e2e-key, connections: ["*"]}]
connections:
  hc:
    vendor: helpcrunch
    base_url: %s/helpcrunch/v1
    credentials: {api_key: sandbox-helpcrunch-key}
    # A bucket that refills slowly but has room for the whole run: its key
    # (which expires when the bucket is full again) stays in Redis.
    limits: {requests: 100000, period: 1h, burst: 2000}
`, rds.addr, prefix, root))
	rdb := redis.NewClient(&redis.Options{Addr: rds.addr})
	defer rdb.Close()
	bucket := "{" + prefix + "rl:hc}"

	var phase atomic.Value
	phase.Store("up")
	stats := &loadStats{statuses: map[string]map[int]int{}}
	ctx, stopLoad := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ctx.Err() == nil; n++ {
				p := phase.Load().(string)
				resp, _, err := post(gw+"/v1/connections/hc/customers", "e2e-key", fmt.Sprintf(`{"name":"load %d-%d"}`, w, n))
				status := 0
				if resp != nil {
					status = resp.StatusCode
				}
				stats.add(p, status, err)
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	readyz := func() string {
		resp, err := http.Get(gw + "/readyz")
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return fmt.Sprintf("%d %s", resp.StatusCode, b)
	}
	waitReadyz := func(want string, within time.Duration) time.Duration {
		t.Helper()
		start := time.Now()
		for !strings.Contains(readyz(), want) {
			if time.Since(start) > within {
				t.Fatalf("/readyz did not report %s within %s: %s", want, within, readyz())
			}
			time.Sleep(50 * time.Millisecond)
		}
		return time.Since(start)
	}

	time.Sleep(1500 * time.Millisecond)
	waitReadyz(`"status":"ready"`, time.Second)
	if n, err := rdb.Exists(context.Background(), bucket).Result(); err != nil || n != 1 {
		t.Fatalf("bucket %s not in Redis while it is up: %d %v", bucket, n, err)
	}

	rds.stop()
	phase.Store("down")
	toDegraded := waitReadyz(`"status":"degraded"`, 3*time.Second)
	if r := readyz(); !strings.HasPrefix(r, "200 ") || !strings.Contains(r, `"redis":"down"`) {
		t.Errorf("/readyz while Redis is down: %s", r)
	}
	time.Sleep(2 * time.Second)

	rds.start() // same port, empty: nothing persisted
	phase.Store("back")
	toReady := waitReadyz(`"status":"ready"`, 5*time.Second)
	var back time.Duration
	for start := time.Now(); ; time.Sleep(50 * time.Millisecond) {
		if n, _ := rdb.Exists(context.Background(), bucket).Result(); n == 1 {
			back = time.Since(start)
			break
		}
		if time.Since(start) > 5*time.Second {
			t.Fatalf("decisions did not go back to Redis: bucket %s never reappeared", bucket)
		}
	}
	time.Sleep(time.Second)
	stopLoad()
	wg.Wait()

	stats.mu.Lock()
	defer stats.mu.Unlock()
	for _, e := range stats.errs {
		t.Errorf("request failed: %s", e)
	}
	for _, p := range []string{"up", "down", "back"} {
		if stats.statuses[p][http.StatusCreated] == 0 {
			t.Errorf("no request served while Redis was %s", p)
		}
		for status, n := range stats.statuses[p] {
			if status != http.StatusCreated {
				t.Errorf("%d answers %d while Redis was %s", n, status, p)
			}
		}
	}
	t.Logf("201s with Redis up / down / back: %d / %d / %d; degraded on /readyz %s after the kill, ready %s after the restart, bucket back in Redis %s later",
		stats.statuses["up"][201], stats.statuses["down"][201], stats.statuses["back"][201],
		toDegraded.Round(time.Millisecond), toReady.Round(time.Millisecond), back.Round(time.Millisecond))
}

// TestSIGTERMUnderLoad sends SIGTERM to a gateway while requests are in
// flight at a slow vendor: every request the gateway took finishes with a
// real answer, new connections are refused as soon as shutdown starts, and
// the process exits 0 within its shutdown timeout.
func TestSIGTERMUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("fault test with processes")
	}
	const vendorLatency = 800 * time.Millisecond
	sims := vendorsim.NewSetWith(helpcrunch.Config{Limit: -1}, zenvia.Config{}, nxcloud.Config{})
	defer sims.Close()
	var seenMu sync.Mutex
	seen := map[string]bool{} // request ids that reached the vendor
	vendor := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seenMu.Lock()
		seen[r.Header.Get("X-Request-ID")] = true
		seenMu.Unlock()
		time.Sleep(vendorLatency)
		sims.Handler().ServeHTTP(w, r)
	}))
	defer vendor.Close()

	p, addr := runGateway(t, fmt.Sprintf(`
redis: {url: %q, prefix: "e2e-sigterm-%s:"}
server: {shutdown_timeout: 5s}
api_keys: [{name: e2e, key: e2e-key, connections: ["*"]}]
connections:
  hc:
    vendor: helpcrunch
    base_url: %s/helpcrunch/v1
    credentials: {api_key: sandbox-helpcrunch-key}
    limits: {requests: 60000, period: 1m, burst: 100}
`, redisURL(), randomHex(4), vendor.URL), "127.0.0.1:0")
	url := "http://" + addr + "/v1/connections/hc/customers"

	// One connection per request: an error is either a refused connection
	// (shutdown started: not taken) or a request the gateway dropped.
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	type outcome struct {
		id     string
		status int
		err    error
		done   time.Time
	}
	var mu sync.Mutex
	var outcomes []outcome
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				id := fmt.Sprintf("sigterm-%d-%d", w, n)
				req, _ := http.NewRequest("POST", url, strings.NewReader(`{"name":"`+id+`"}`))
				req.Header.Set("Authorization", "Bearer e2e-key")
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-Request-ID", id)
				o := outcome{id: id}
				resp, err := client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					o.status = resp.StatusCode
				}
				o.err, o.done = err, time.Now()
				mu.Lock()
				outcomes = append(outcomes, o)
				mu.Unlock()
				if errors.Is(err, syscall.ECONNREFUSED) {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}

	time.Sleep(2 * vendorLatency) // steady state: requests always in flight
	sent := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	// Shutdown starts (the listener closes) while the requests in flight are
	// still at the vendor: new connections are refused from then on.
	waitUntil(t, 2*time.Second, func() bool {
		return strings.Contains(p.output(), `"msg":"shutting down: finishing in-flight requests"`)
	})
	var refusedAt time.Time
	for deadline := time.Now().Add(time.Second); refusedAt.IsZero(); time.Sleep(10 * time.Millisecond) {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		switch {
		case errors.Is(err, syscall.ECONNREFUSED):
			refusedAt = time.Now()
		case err == nil:
			c.Close()
		default:
			t.Fatalf("new connection after SIGTERM: %v, want refused", err)
		}
		if refusedAt.IsZero() && time.Now().After(deadline) {
			t.Fatal("new connections still accepted 1s after shutdown started")
		}
	}
	var took time.Duration
	select {
	case err := <-exited:
		took = time.Since(sent)
		if err != nil {
			t.Fatalf("the gateway exited with %v, want 0", err)
		}
	case <-time.After(6 * time.Second):
		t.Fatal("the gateway did not exit within its 5s shutdown timeout")
	}
	wg.Wait()
	if _, err := net.DialTimeout("tcp", addr, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("connection after exit: %v, want refused", err)
	}

	seenMu.Lock()
	defer seenMu.Unlock()
	answered, afterSignal, refused, inFlight := 0, 0, 0, 0
	for _, o := range outcomes {
		switch {
		case o.err == nil && o.status == http.StatusCreated:
			answered++
			if o.done.After(refusedAt) {
				afterSignal++ // in flight when new connections were already refused
			}
		case errors.Is(o.err, syscall.ECONNREFUSED):
			refused++
			if seen[o.id] {
				t.Errorf("%s reached the vendor but its connection was refused", o.id)
			}
		default:
			t.Errorf("request %s: status %d, error %v (vendor saw it: %v)", o.id, o.status, o.err, seen[o.id])
		}
	}
	for id := range seen {
		if strings.HasPrefix(id, "sigterm-") {
			inFlight++
		}
	}
	t.Logf("%d requests answered 201 (%d of them answered after new connections were refused), %d reached the vendor, %d refused after SIGTERM; exit 0 %s after SIGTERM",
		answered, afterSignal, inFlight, refused, took.Round(time.Millisecond))
	if afterSignal == 0 {
		t.Error("no request was in flight once shutdown started: the test proved nothing")
	}
	if answered != inFlight {
		t.Errorf("%d requests reached the vendor but %d were answered", inFlight, answered)
	}
}

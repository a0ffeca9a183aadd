package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/redistest"
)

// Bulk jobs through real gateway processes sharing Redis, in front of the
// vendor simulator process.

// gwProc is a running gateway process.
type gwProc struct {
	p   *proc
	url string
}

func startGatewayProc(t *testing.T, config string) *gwProc {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	p, addr := start(t, regexp.MustCompile(`"msg":"gateway listening".*"addr":"([^"]+)"`),
		binary(t, "gateway"), "-config", path, "-listen", "127.0.0.1:0")
	return &gwProc{p: p, url: "http://" + addr}
}

func (g *gwProc) pid() int { return g.p.cmd.Process.Pid }

// peakRSS is the process's peak resident set (VmHWM) in bytes.
func (g *gwProc) peakRSS(t *testing.T) int64 {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", g.pid()))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), "VmHWM:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc status")
	return 0
}

// call sends a request with the e2e key and decodes a JSON answer.
func call(t *testing.T, method, url string, body io.Reader, headers ...string) (int, http.Header, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer e2e-key")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for _, h := range headers {
		k, v, _ := strings.Cut(h, ":")
		req.Header.Set(k, strings.TrimSpace(v))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			t.Fatalf("%s %s: %d %.300s", method, url, resp.StatusCode, raw)
		}
	}
	return resp.StatusCode, resp.Header, m
}

// submitJob posts a batch that must become a job and returns its path.
func submitJob(t *testing.T, gw, conn string, body io.Reader) string {
	t.Helper()
	status, h, m := call(t, "POST", gw+"/v1/connections/"+conn+"/customers/batch", body, "Prefer: respond-async")
	if status != http.StatusAccepted {
		t.Fatalf("submit to %s: %d %v", conn, status, m)
	}
	return h.Get("Location")
}

type jobState struct {
	State                                                         string
	Total, Created, Updated, Accepted, Failed, Uncertain, Pending int
	CreatedAt, FinishedAt                                         time.Time
}

func getJob(t *testing.T, gw, loc string) jobState {
	t.Helper()
	status, _, m := call(t, "GET", gw+loc, nil)
	if status != http.StatusOK {
		t.Fatalf("GET %s: %d %v", loc, status, m)
	}
	c := m["counts"].(map[string]any)
	n := func(k string) int { return int(c[k].(float64)) }
	js := jobState{State: m["state"].(string), Total: n("total"), Created: n("created"), Updated: n("updated"),
		Accepted: n("accepted"), Failed: n("failed"), Uncertain: n("uncertain"), Pending: n("pending")}
	js.CreatedAt, _ = time.Parse(time.RFC3339Nano, m["created_at"].(string))
	if f, ok := m["finished_at"].(string); ok {
		js.FinishedAt, _ = time.Parse(time.RFC3339Nano, f)
	}
	return js
}

// waitDone polls the job through gw until it has finished, recording how
// many items were done at each poll.
func waitDone(t *testing.T, gw, loc string, within time.Duration, seen map[int]bool) jobState {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		j := getJob(t, gw, loc)
		if seen != nil {
			seen[j.Total-j.Pending] = true
		}
		if !j.FinishedAt.IsZero() && j.Pending == 0 {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s not finished in %s: %+v", loc, within, j)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// results pages through all of a job's results, checking the input order,
// and returns them.
func results(t *testing.T, gw, loc string, limit int) []map[string]any {
	t.Helper()
	var out []map[string]any
	url := fmt.Sprintf("%s%s/results?limit=%d", gw, loc, limit)
	for {
		status, _, m := call(t, "GET", url, nil)
		if status != http.StatusOK {
			t.Fatalf("GET %s: %d %v", url, status, m)
		}
		for _, d := range m["data"].([]any) {
			r := d.(map[string]any)
			if int(r["index"].(float64)) != len(out) {
				t.Fatalf("result %d has index %v", len(out), r["index"])
			}
			out = append(out, r)
		}
		next, _ := m["next_cursor"].(string)
		if next == "" {
			return out
		}
		url = fmt.Sprintf("%s%s/results?limit=%d&cursor=%s", gw, loc, limit, next)
	}
}

type simStats struct {
	HelpCrunch struct {
		Requests, RateLimited, ItemsReceived int
		Operations                           map[string]int
	}
	NXCloud struct {
		Requests, RateLimited, ItemsReceived, CustomersCreated, CustomersUpdated int
		Operations                                                               map[string]int
	}
}

func stats(t *testing.T, root string) simStats {
	t.Helper()
	resp, err := http.Get(root + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s simStats
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s
}

func suffix() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// cleanRedis deletes the job store keys of a test's prefix when it ends.
func cleanRedis(t *testing.T, prefix string) {
	redistest.DeleteKeys(t, redistest.Client(t), "{"+prefix+"}*")
}

const nxCreds = `credentials: {access_key: sandbox-nx-ak, access_secret: sandbox-nx-secret, tenant_id: 144, app_key: sandbox-app}`

// TestJobsSurviveKilledAndRestartedReplicas: three gateways share Redis;
// a 5,000-item HelpCrunch update job and a 5,000-item NXCloud upsert job
// run while one gateway is SIGKILLed and another restarted. Every item
// reaches the vendor exactly once, results come in input order, and the
// vendors never answer 429.
func TestJobsSurviveKilledAndRestartedReplicas(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process job test takes about 30 s")
	}
	const n = 5000
	root := startVendorSim(t, "-helpcrunch-limit", "36000", "-helpcrunch-window", "1m", "-nxcloud-limit", "600", "-window", "1m")
	sfx := suffix()
	prefix := "crmgw-e2e-" + sfx
	cleanRedis(t, prefix)
	seedConn, hcConn, nxConn := "hc-seed-"+sfx, "hc-job-"+sfx, "nx-job-"+sfx
	// The buckets add up to the simulator's limits: HelpCrunch 30000 + 6000
	// per minute, NXCloud 600 per minute.
	config := fmt.Sprintf(`
redis: {url: %q, replicas: 3}
server: {shutdown_timeout: 10s}
jobs: {visibility_timeout: 2s, workers: 4, key_prefix: %q}
api_keys: [{name: e2e, key: e2e-key, connections: ["*"]}]
connections:
  %s:
    vendor: helpcrunch
    base_url: %s/helpcrunch/v1
    credentials: {api_key: sandbox-helpcrunch-key}
    limits: {requests: 30000, period: 1m, burst: 1}
  %s:
    vendor: helpcrunch
    base_url: %s/helpcrunch/v1
    credentials: {api_key: sandbox-helpcrunch-key}
    limits: {requests: 6000, period: 1m, burst: 1}
  %s:
    vendor: nxcloud
    base_url: %s/nxcloud
    %s
    limits: {requests: 600, period: 1m, burst: 1}
`, redisURL(), prefix, seedConn, root, hcConn, root, nxConn, root, nxCreds)
	gws := []*gwProc{startGatewayProc(t, config), startGatewayProc(t, config), startGatewayProc(t, config)}

	// Seed 5,000 HelpCrunch customers, itself a job (one create each).
	var b strings.Builder
	b.WriteString(`{"mode":"create","customers":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"name":"Customer %d","external_id":"ext-%s-%d"}`, i, sfx, i)
	}
	b.WriteString(`]}`)
	seedStart := time.Now()
	seed := submitJob(t, gws[0].url, seedConn, strings.NewReader(b.String()))
	if j := waitDone(t, gws[1].url, seed, 60*time.Second, nil); j.Created != n {
		t.Fatalf("seed job %+v", j)
	}
	ids := make([]string, n)
	for i, r := range results(t, gws[2].url, seed, 1000) {
		ids[i] = r["customer"].(map[string]any)["id"].(string)
	}
	t.Logf("seeded %d HelpCrunch customers with a create job in %s", n, time.Since(seedStart).Round(time.Millisecond))
	before := stats(t, root)

	// The two jobs.
	b.Reset()
	b.WriteString(`{"mode":"update","customers":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%q,"notes":"job note %d"}`, ids[i], i)
	}
	b.WriteString(`]}`)
	hcJob := submitJob(t, gws[1].url, hcConn, strings.NewReader(b.String()))
	b.Reset()
	b.WriteString(`{"mode":"upsert","customers":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"first_name":"F%d","last_name":"L","email":"kill-%s-%d@example.com"}`, i, sfx, i)
	}
	b.WriteString(`]}`)
	nxJob := submitJob(t, gws[2].url, nxConn, strings.NewReader(b.String()))
	jobsStart := time.Now()

	// Mid-job: SIGKILL one gateway, restart another (SIGTERM, then a new process).
	seenHC, seenNX := map[int]bool{}, map[int]bool{}
	for {
		h, x := getJob(t, gws[2].url, hcJob), getJob(t, gws[2].url, nxJob)
		seenHC[h.Total-h.Pending], seenNX[x.Total-x.Pending] = true, true
		if h.Pending < n*8/10 && x.Pending < n*8/10 {
			t.Logf("at the kill: helpcrunch %d/%d done, nxcloud %d/%d done", n-h.Pending, n, n-x.Pending, n)
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := gws[0].p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	killedAt := time.Now()
	time.Sleep(500 * time.Millisecond)
	if err := gws[1].p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	_ = gws[1].p.cmd.Wait()
	restarted := startGatewayProc(t, config)
	t.Logf("gateway 0 SIGKILLed, gateway 1 stopped with SIGTERM and replaced %s later", time.Since(killedAt).Round(time.Millisecond))

	h := waitDone(t, restarted.url, hcJob, 90*time.Second, seenHC)
	x := waitDone(t, gws[2].url, nxJob, 90*time.Second, seenNX)
	elapsed := time.Since(jobsStart)
	after := stats(t, root)

	// Every item exactly once, none refused, none lost.
	hcItems := after.HelpCrunch.ItemsReceived - before.HelpCrunch.ItemsReceived
	hcPuts := after.HelpCrunch.Operations["PUT /customers/batch"] - before.HelpCrunch.Operations["PUT /customers/batch"]
	nxItems := after.NXCloud.ItemsReceived - before.NXCloud.ItemsReceived
	reclaims := strings.Count(gws[2].p.output()+restarted.p.output(), "job chunk reclaimed")
	t.Logf("helpcrunch update job: %s in %s (%s after submit); %d updated, %d uncertain, %d failed; vendor received %d items in %d requests",
		h.State, h.FinishedAt.Sub(h.CreatedAt).Round(time.Millisecond), elapsed.Round(time.Millisecond), h.Updated, h.Uncertain, h.Failed, hcItems, hcPuts)
	t.Logf("nxcloud upsert job: %s in %s; %d accepted, %d uncertain, %d failed; vendor received %d items, created %d customers, updated %d",
		x.State, x.FinishedAt.Sub(x.CreatedAt).Round(time.Millisecond), x.Accepted, x.Uncertain, x.Failed, nxItems,
		after.NXCloud.CustomersCreated-before.NXCloud.CustomersCreated, after.NXCloud.CustomersUpdated-before.NXCloud.CustomersUpdated)
	t.Logf("vendor 429s: helpcrunch %d, nxcloud %d; chunks reclaimed from the killed gateway: %d; progress polls saw %d and %d distinct counts",
		after.HelpCrunch.RateLimited, after.NXCloud.RateLimited, reclaims, len(seenHC), len(seenNX))

	if after.HelpCrunch.RateLimited != 0 || after.NXCloud.RateLimited != 0 {
		t.Errorf("vendor 429s: helpcrunch %d, nxcloud %d", after.HelpCrunch.RateLimited, after.NXCloud.RateLimited)
	}
	if hcItems != n || hcPuts != n/10 {
		t.Errorf("helpcrunch received %d items in %d batch requests, want %d in %d", hcItems, hcPuts, n, n/10)
	}
	if nxItems != n || after.NXCloud.CustomersCreated-before.NXCloud.CustomersCreated != n || after.NXCloud.CustomersUpdated != before.NXCloud.CustomersUpdated {
		t.Errorf("nxcloud received %d items (want %d), created %d customers, updated %d (want none: no item twice)", nxItems, n,
			after.NXCloud.CustomersCreated-before.NXCloud.CustomersCreated, after.NXCloud.CustomersUpdated-before.NXCloud.CustomersUpdated)
	}
	if h.Updated+h.Uncertain != n || h.Failed != 0 || x.Accepted+x.Uncertain != n || x.Failed != 0 {
		t.Errorf("counts: helpcrunch %+v, nxcloud %+v", h, x)
	}
	if reclaims == 0 {
		t.Errorf("no chunk was reclaimed from the killed gateway")
	}
	if len(seenHC) < 3 || len(seenNX) < 3 {
		t.Errorf("progress not visible while running: %d and %d distinct counts", len(seenHC), len(seenNX))
	}
	for i, r := range results(t, gws[2].url, hcJob, 1000) {
		if r["status"] == "updated" && r["customer"].(map[string]any)["id"] != ids[i] {
			t.Fatalf("helpcrunch result %d: %v, want customer %s", i, r, ids[i])
		}
		if r["status"] != "updated" && r["error"].(map[string]any)["outcome"] != "uncertain" {
			t.Fatalf("helpcrunch result %d: %v", i, r)
		}
	}
	for i, r := range results(t, restarted.url, nxJob, 1000) {
		if r["status"] == "accepted" && r["customer"].(map[string]any)["email"] != fmt.Sprintf("kill-%s-%d@example.com", sfx, i) {
			t.Fatalf("nxcloud result %d: %v", i, r)
		}
	}
}

// TestHundredThousandItemJob streams 100,000 items (chunked, never held
// whole) into a job on NXCloud, checks the gateway's peak memory and pages
// through every result.
func TestHundredThousandItemJob(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000-item job takes about 20 s")
	}
	const n = 100_000
	root := startVendorSim(t, "-nxcloud-limit", "60000", "-window", "1m")
	sfx := suffix()
	prefix := "crmgw-e2e-" + sfx
	cleanRedis(t, prefix)
	conn := "nx-big-" + sfx
	gw := startGatewayProc(t, fmt.Sprintf(`
redis: {url: %q}
jobs: {workers: 4, key_prefix: %q}
api_keys: [{name: e2e, key: e2e-key, connections: ["*"]}]
connections:
  %s:
    vendor: nxcloud
    base_url: %s/nxcloud
    %s
    limits: {requests: 60000, period: 1m, burst: 1}
`, redisURL(), prefix, conn, root, nxCreds))

	// The body is written as it is sent (chunked transfer encoding).
	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
		w.WriteString(`{"mode":"upsert","on_conflict":"merge","customers":[`)
		for i := range n {
			if i > 0 {
				w.WriteByte(',')
			}
			fmt.Fprintf(w, `{"first_name":"F%d","last_name":"L","email":"big-%d@example.com","phone":"55%09d","tags":[{"name":"bulk"}]}`, i, i, i)
		}
		w.WriteString(`]}`)
		pw.CloseWithError(w.Flush())
	}()
	start := time.Now()
	loc := submitJob(t, gw.url, conn, pr)
	accepted := time.Since(start)
	j := waitDone(t, gw.url, loc, 120*time.Second, nil)
	done := time.Since(start)
	res := results(t, gw.url, loc, 1000)
	paged := time.Since(start) - done
	rss := gw.peakRSS(t)
	s := stats(t, root)
	t.Logf("100,000-item job: body streamed and accepted in %s, job %s after %s (%s by its own clock), %d results paged in %s (100 pages); vendor received %d items in %d requests, %d 429s; gateway peak RSS (VmHWM) %.1f MB",
		accepted.Round(time.Millisecond), j.State, done.Round(time.Millisecond), j.FinishedAt.Sub(j.CreatedAt).Round(time.Millisecond), len(res),
		paged.Round(time.Millisecond), s.NXCloud.ItemsReceived, s.NXCloud.Operations["POST /saas/cdp/openapi/customers/batch_create"],
		s.NXCloud.RateLimited, float64(rss)/(1<<20))
	if j.State != "succeeded" || j.Accepted != n {
		t.Errorf("job %+v", j)
	}
	if len(res) != n {
		t.Errorf("%d results, want %d", len(res), n)
	}
	for _, i := range []int{0, 1, 4999, 50_000, n - 1} {
		if got := res[i]["customer"].(map[string]any)["email"]; got != fmt.Sprintf("big-%d@example.com", i) {
			t.Errorf("result %d is for %v", i, got)
		}
	}
	if s.NXCloud.ItemsReceived != n || s.NXCloud.RateLimited != 0 {
		t.Errorf("vendor received %d items, answered %d 429s", s.NXCloud.ItemsReceived, s.NXCloud.RateLimited)
	}
	if rss > 150<<20 {
		t.Errorf("gateway peak RSS %.1f MB, want under 150 MB", float64(rss)/(1<<20))
	}
}

// TestCancelStopsVendorCalls: a job cancelled through one gateway stops
// sending from every gateway: at most the chunk already on its way reaches
// the vendor.
func TestCancelStopsVendorCalls(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process cancel test")
	}
	const n = 3000
	root := startVendorSim(t, "-nxcloud-limit", "300", "-window", "1m")
	sfx := suffix()
	prefix := "crmgw-e2e-" + sfx
	cleanRedis(t, prefix)
	conn := "nx-cancel-" + sfx
	config := fmt.Sprintf(`
redis: {url: %q, replicas: 2}
jobs: {workers: 4, key_prefix: %q}
api_keys: [{name: e2e, key: e2e-key, connections: ["*"]}]
connections:
  %s:
    vendor: nxcloud
    base_url: %s/nxcloud
    %s
    limits: {requests: 300, period: 1m, burst: 1}
`, redisURL(), prefix, conn, root, nxCreds)
	a, b := startGatewayProc(t, config), startGatewayProc(t, config)
	var body bytes.Buffer
	body.WriteString(`{"mode":"upsert","customers":[`)
	for i := range n {
		if i > 0 {
			body.WriteByte(',')
		}
		fmt.Fprintf(&body, `{"first_name":"F%d","last_name":"L","email":"cancel-%s-%d@example.com"}`, i, sfx, i)
	}
	body.WriteString(`]}`)
	loc := submitJob(t, a.url, conn, &body)
	for getJob(t, b.url, loc).Accepted < 300 {
		time.Sleep(20 * time.Millisecond)
	}
	status, _, m := call(t, "DELETE", b.url+loc, nil)
	atCancel := stats(t, root).NXCloud.Operations["POST /saas/cdp/openapi/customers/batch_create"]
	if status != http.StatusOK || m["state"] != "cancelled" {
		t.Fatalf("cancel: %d %v", status, m)
	}
	time.Sleep(2 * time.Second) // ten more requests' worth of rate budget
	s := stats(t, root)
	afterCalls := s.NXCloud.Operations["POST /saas/cdp/openapi/customers/batch_create"]
	j := waitDone(t, a.url, loc, 10*time.Second, nil)
	t.Logf("cancelled after %d vendor requests; %d more afterwards; job %s: %d accepted, %d cancelled (failed), %d uncertain; vendor received %d items",
		atCancel, afterCalls-atCancel, j.State, j.Accepted, j.Failed, j.Uncertain, s.NXCloud.ItemsReceived)
	if afterCalls-atCancel > 1 {
		t.Errorf("%d vendor requests after the cancellation, want at most the one chunk in flight", afterCalls-atCancel)
	}
	if j.State != "cancelled" || j.Accepted+j.Uncertain != s.NXCloud.ItemsReceived || j.Accepted+j.Failed+j.Uncertain != n {
		t.Errorf("job %+v, vendor received %d", j, s.NXCloud.ItemsReceived)
	}
	last := results(t, a.url, loc, 1000)[n-1]
	if e, _ := last["error"].(map[string]any); e["code"] != "cancelled" || e["outcome"] != "not_applied" {
		t.Errorf("last result %v", last)
	}
}

package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestReplicasShareTheVendorLimit is the proof that a fleet of gateways
// never makes a vendor answer 429: three gateway processes share one Redis
// bucket in front of a HelpCrunch simulator that enforces a sliding-window
// limit scaled down for the test, and together push a batch that needs
// several refills of that window.
func TestReplicasShareTheVendorLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process rate-limit proof takes about 50 s")
	}
	const (
		limit    = 60               // vendor quota...
		window   = 10 * time.Second // ...per sliding window (long enough that the 2% jitter guard, 200 ms, outlasts scheduling delays on a loaded 2-core machine)
		replicas = 3
		perProc  = 100 // HelpCrunch creates one customer per request: 5 windows' worth in all
		total    = replicas * perProc
	)
	root := startVendorSim(t, "-helpcrunch-limit", fmt.Sprint(limit), "-helpcrunch-window", window.String())

	var suffix [4]byte
	_, _ = rand.Read(suffix[:])
	conn := "hc-e2e-" + hex.EncodeToString(suffix[:]) // a fresh bucket in the shared Redis
	config := fmt.Sprintf(`
redis: {url: %q, replicas: %d}
server: {write_timeout: 3m}
log: {level: info}
api_keys: [{name: e2e, key: e2e-key, connections: ["*"]}]
connections:
  %s:
    vendor: helpcrunch
    base_url: %s/helpcrunch/v1
    credentials: {api_key: sandbox-helpcrunch-key}
    limits: {requests: %d, period: %s, burst: 1, max_wait: 2m}
`, redisURL(), replicas, conn, root, limit, window)
	var gateways []string
	for range replicas {
		gateways = append(gateways, startGateway(t, config)+"/v1/connections/"+conn+"/customers/batch")
	}

	var wg sync.WaitGroup
	results := make([]string, replicas)
	start := time.Now()
	for g, url := range gateways {
		wg.Add(1)
		go func() {
			defer wg.Done()
			items := make([]string, perProc)
			for i := range items {
				items[i] = fmt.Sprintf(`{"name":"customer %d-%d"}`, g, i)
			}
			resp, body, err := post(url, "e2e-key", `{"mode":"create","customers":[`+strings.Join(items, ",")+`]}`)
			switch {
			case err != nil:
				results[g] = err.Error()
			case resp.StatusCode != http.StatusOK:
				results[g] = fmt.Sprintf("status %d: %.300s", resp.StatusCode, body)
			default:
				var res struct {
					Summary struct{ Created, Failed int }
				}
				_ = json.Unmarshal(body, &res)
				results[g] = fmt.Sprintf("created %d failed %d", res.Summary.Created, res.Summary.Failed)
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)

	for g, r := range results {
		if r != fmt.Sprintf("created %d failed 0", perProc) {
			t.Errorf("gateway %d: %s", g, r)
		}
	}
	var stats struct {
		HelpCrunch struct{ Requests, RateLimited, Rejected int }
	}
	resp, err := http.Get(root + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(&stats); err != nil {
		t.Fatal(err)
	}
	if stats.HelpCrunch.RateLimited != 0 {
		t.Errorf("the vendor answered 429 %d times", stats.HelpCrunch.RateLimited)
	}
	if stats.HelpCrunch.Requests != total {
		t.Errorf("the vendor saw %d requests, want exactly %d", stats.HelpCrunch.Requests, total)
	}

	// At the vendor's sustained rate the requests need (total-1) intervals
	// of window/limit. A sender that first spends a whole window's quota at
	// once could finish one window sooner; the gateway trades that for
	// never exceeding the quota in any window (burst 1).
	sustained := time.Duration(total-1) * window / limit
	burstFirst := time.Duration(total-limit) * window / limit
	ratio := elapsed.Seconds() / sustained.Seconds()
	t.Logf("%d requests through %d gateways sharing Redis, vendor limit %d per %s: %s, %.3f× the sustained-rate minimum %s (%.3f× %s if a full window were spent first); vendor 429s: %d",
		total, replicas, limit, window, elapsed.Round(time.Millisecond), ratio, sustained, elapsed.Seconds()/burstFirst.Seconds(), burstFirst, stats.HelpCrunch.RateLimited)
	if ratio > 1.05 {
		t.Errorf("took %s, %.3f× the theoretical minimum %s (want ≤ 1.05×)", elapsed, ratio, sustained)
	}
}

// TestReplicasShareALeasedLimit is the same proof for a fast bucket, where
// each replica leases the tokens free at once several per Redis round trip
// and spends them within 10 ms: three gateways send single creates from 24
// concurrent callers until the vendor has seen two windows' quota, and the
// vendor never answers 429.
func TestReplicasShareALeasedLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process leased rate-limit proof takes about 20 s")
	}
	const (
		limit    = 3000 // vendor quota: 600/s, so leases of up to 6 tokens (10 ms of refill)...
		window   = 5 * time.Second
		burst    = 20 // ...and at most half the burst
		replicas = 3
		callers  = 8 // per gateway
		total    = 2 * limit
	)
	root := startVendorSim(t, "-helpcrunch-limit", fmt.Sprint(limit), "-helpcrunch-window", window.String())
	conn := "hc-lease-" + suffix()
	config := fmt.Sprintf(`
redis: {url: %q, replicas: %d}
log: {level: info}
api_keys: [{name: e2e, key: e2e-key, connections: ["*"]}]
connections:
  %s:
    vendor: helpcrunch
    base_url: %s/helpcrunch/v1
    credentials: {api_key: sandbox-helpcrunch-key}
    limits: {requests: %d, period: %s, burst: %d, max_wait: 1m}
`, redisURL(), replicas, conn, root, limit, window, burst)
	var gateways []string
	for range replicas {
		gateways = append(gateways, startGateway(t, config)+"/v1/connections/"+conn+"/customers")
	}

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: callers}, Timeout: 2 * time.Minute}
	var (
		next     atomic.Int64
		mu       sync.Mutex
		failures []string
		wg       sync.WaitGroup
	)
	start := time.Now()
	for _, url := range gateways {
		for range callers {
			wg.Go(func() {
				for i := next.Add(1); i <= total; i = next.Add(1) {
					req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(fmt.Sprintf(`{"name":"customer %d"}`, i)))
					req.Header.Set("Authorization", "Bearer e2e-key")
					req.Header.Set("Content-Type", "application/json")
					resp, err := client.Do(req)
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
						if resp.StatusCode != http.StatusCreated {
							err = fmt.Errorf("status %d", resp.StatusCode)
						}
					}
					if err != nil {
						mu.Lock()
						failures = append(failures, err.Error())
						mu.Unlock()
					}
				}
			})
		}
	}
	wg.Wait()
	elapsed := time.Since(start)

	if len(failures) > 0 {
		t.Errorf("%d of %d creates failed, first: %s", len(failures), total, failures[0])
	}
	s := stats(t, root)
	if s.HelpCrunch.RateLimited != 0 {
		t.Errorf("the vendor answered 429 %d times", s.HelpCrunch.RateLimited)
	}
	if s.HelpCrunch.Requests != total {
		t.Errorf("the vendor saw %d requests, want exactly %d", s.HelpCrunch.Requests, total)
	}
	// After the burst the bucket refills limit-burst+1 per window.
	least := time.Duration(total-burst) * window / (limit - burst + 1)
	ratio := elapsed.Seconds() / least.Seconds()
	t.Logf("%d creates through %d leasing gateways, vendor limit %d per %s: %s, %.3f× the minimum %s; vendor 429s: %d",
		total, replicas, limit, window, elapsed.Round(time.Millisecond), ratio, least, s.HelpCrunch.RateLimited)
	// The bucket runs 2% slow against jitter; the rest is room for a loaded machine.
	if ratio > 1.15 {
		t.Errorf("took %s, %.3f× the minimum %s (want ≤ 1.15×)", elapsed, ratio, least)
	}
}

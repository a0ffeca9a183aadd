package e2e

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// startCluster starts a three-master Redis Cluster on loopback, of its own,
// and returns its seed URL for the gateway (redis.cluster: true).
func startCluster(t *testing.T) string {
	t.Helper()
	cli, err := exec.LookPath("redis-cli")
	if err != nil {
		t.Skip("redis-cli is not installed")
	}
	var addrs []string
	for range 3 {
		dir := t.TempDir()
		r := startOwnRedis(t, "--cluster-enabled", "yes", "--cluster-config-file", dir+"/nodes.conf", "--dir", dir)
		addrs = append(addrs, r.addr)
	}
	create := exec.Command(cli, append(append([]string{"--cluster", "create"}, addrs...), "--cluster-replicas", "0", "--cluster-yes")...)
	if out, err := create.CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	cc := redis.NewClusterClient(&redis.ClusterOptions{Addrs: addrs})
	defer cc.Close()
	waitUntil(t, 15*time.Second, func() bool {
		info, err := cc.ClusterInfo(context.Background()).Result()
		return err == nil && strings.Contains(info, "cluster_state:ok")
	})
	return "redis://" + addrs[0] + "?addr=" + addrs[1] + "&addr=" + addrs[2]
}

// TestRedisCluster runs the gateway on a Redis Cluster: shared rate
// buckets, idempotency keys, the event log with signed delivery, and a bulk
// job all keep their multi-key scripts within one hash slot.
func TestRedisCluster(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a Redis Cluster")
	}
	url := startCluster(t)
	key := make([]byte, 24)
	_, _ = rand.Read(key)
	rc := &receiver{secret: "whsec_" + base64.StdEncoding.EncodeToString(key),
		attempts: map[string]int{}, ok: map[string]int{}, types: map[string]string{}, extra: map[string]string{}}
	recv := httptest.NewServer(rc)
	defer recv.Close()

	gwAddr := freeAddr(t)
	secret := randomHex(16)
	root := startVendorSim(t, "-zenvia-webhook", "http://"+gwAddr+"/v1/webhooks/zv/"+secret)
	base := startGatewayAtURL(t, fmt.Sprintf(`
redis: {url: %q, cluster: true}
log: {level: info}
api_keys: [{name: e2e, key: e2e-key, connections: ["*"]}]
events:
  subscriptions: [{name: receiver, url: %q, secret: %q}]
connections:
  hc:
    vendor: helpcrunch
    base_url: %s/helpcrunch/v1
    credentials: {api_key: sandbox-helpcrunch-key}
  zv:
    vendor: zenvia
    base_url: %s/zenvia
    credentials: {token: sandbox-zenvia-token, webhook_secret: %q}
`, url, recv.URL, rc.secret, root, root, secret), gwAddr)

	// Rate bucket and idempotency key on the cluster.
	for i, want := range []string{"", "true"} {
		req, _ := http.NewRequest("POST", base+"/v1/connections/hc/customers", strings.NewReader(`{"name":"Ana"}`))
		req.Header.Set("Authorization", "Bearer e2e-key")
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "cluster-1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated || resp.Header.Get("Idempotent-Replayed") != want || resp.Header.Get("RateLimit") == "" {
			t.Fatalf("create %d: %d replayed=%q ratelimit=%q", i, resp.StatusCode, resp.Header.Get("Idempotent-Replayed"), resp.Header.Get("RateLimit"))
		}
	}
	// Events through the cluster, delivered signed.
	resp, body, err := post(base+"/v1/connections/zv/interactions", "e2e-key", `{"department_id":1,"customer":{"name":"Ana"}}`)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("start: %v %d %s", err, statusOf(resp), body)
	}
	waitUntil(t, 15*time.Second, func() bool { return rc.delivered("interaction.accepted") == 1 })
	// A bulk job through the cluster.
	req, _ := http.NewRequest("POST", base+"/v1/connections/hc/customers/batch",
		strings.NewReader(`{"mode":"create","customers":[{"name":"a"},{"name":"b"},{"name":"c"}]}`))
	req.Header.Set("Authorization", "Bearer e2e-key")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Prefer", "respond-async")
	jr, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	jr.Body.Close()
	if jr.StatusCode != http.StatusAccepted || jr.Header.Get("Location") == "" {
		t.Fatalf("job: %d", jr.StatusCode)
	}
	waitUntil(t, 15*time.Second, func() bool {
		req, _ := http.NewRequest("GET", base+jr.Header.Get("Location"), nil)
		req.Header.Set("Authorization", "Bearer e2e-key")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var job struct{ State string }
		_ = json.NewDecoder(resp.Body).Decode(&job)
		return job.State == "succeeded"
	})
	ready, err := http.Get(base + "/readyz")
	if err != nil || ready.StatusCode != 200 {
		t.Fatalf("/readyz on a cluster: %v %d", err, statusOf(ready))
	}
	ready.Body.Close()
}

func startGatewayAtURL(t *testing.T, config, addr string) string {
	t.Helper()
	startGatewayAt(t, config, addr)
	return "http://" + addr
}

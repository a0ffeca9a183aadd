package e2e

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/events"
)

// receiver is a subscriber that verifies every signature, refuses the first
// `failures` attempts of each event, and counts successful deliveries.
type receiver struct {
	secret   string
	failures int
	mu       sync.Mutex
	attempts map[string]int
	ok       map[string]int
	types    map[string]string
	extra    map[string]string
	bad      int
}

func (rc *receiver) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if err := events.Verify(rc.secret, r.Header, body, 5*time.Minute); err != nil {
		rc.bad++
		http.Error(w, "bad signature", http.StatusUnauthorized)
		return
	}
	var e events.Event
	_ = json.Unmarshal(body, &e)
	rc.attempts[e.ID]++
	if rc.attempts[e.ID] <= rc.failures {
		http.Error(w, "try again", http.StatusServiceUnavailable)
		return
	}
	rc.ok[e.ID]++
	rc.types[e.ID] = e.Type
	rc.extra[e.ID] = string(e.Extra)
}

func (rc *receiver) delivered(eventType string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	n := 0
	for id, t := range rc.types {
		if t == eventType {
			n += rc.ok[id]
		}
	}
	return n
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// TestInteractionEventsAreDeliveredSignedExactlyOnce runs the whole loop:
// a start through the gateway, the Zenvia simulator's webhooks back into
// it, normalized events delivered signed to a receiver that fails three
// times per event, and a gateway killed (SIGKILL) while retries are pending
// and replaced: every event reaches the receiver exactly once.
func TestInteractionEventsAreDeliveredSignedExactlyOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process event delivery test")
	}
	key := make([]byte, 24)
	_, _ = rand.Read(key)
	rc := &receiver{secret: "whsec_" + base64.StdEncoding.EncodeToString(key), failures: 3,
		attempts: map[string]int{}, ok: map[string]int{}, types: map[string]string{}, extra: map[string]string{}}
	recv := httptest.NewServer(rc)
	defer recv.Close()

	gwAddr := freeAddr(t)
	webhookSecret := randomHex(16)
	root := startVendorSim(t, "-zenvia-webhook", "http://"+gwAddr+"/v1/webhooks/zv/"+webhookSecret)
	config := fmt.Sprintf(`
redis: {url: %q, prefix: "e2e-%s:"}
log: {level: info}
api_keys: [{name: e2e, key: e2e-key, connections: ["*"]}]
events:
  schedule: [300ms, 300ms, 300ms, 300ms, 300ms]
  subscriptions:
    - {name: receiver, url: %q, types: ["interaction.*"], secret: %q}
connections:
  zv:
    vendor: zenvia
    base_url: %s/zenvia
    credentials: {token: sandbox-zenvia-token, webhook_secret: %q}
`, redisURL(), randomHex(4), recv.URL, rc.secret, root, webhookSecret)

	first := startGatewayAt(t, config, gwAddr)
	base := "http://" + gwAddr + "/v1/connections/zv/interactions"
	resp, body, err := post(base, "e2e-key", `{"department_id":1,"customer":{"name":"Ana"},"extra":{"ticket":"T-1"},
		"history":[{"time":"2026-11-23T10:00:01Z","direction":"CLIENT","content":"hi"}]}`)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("start: %v %d %s", err, statusOf(resp), body)
	}
	var ix struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(body, &ix)
	if resp, body, err := post(base+"/"+ix.ID+"/messages", "e2e-key", `{"content":"where is my order?"}`); err != nil || resp.StatusCode != 200 {
		t.Fatalf("message: %v %d %s", err, statusOf(resp), body)
	}

	// queued, accepted and the agent's answer are published; their first
	// attempts fail. Kill the gateway while they wait for a retry.
	waitUntil(t, 10*time.Second, func() bool {
		rc.mu.Lock()
		defer rc.mu.Unlock()
		return len(rc.attempts) >= 3
	})
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = first.cmd.Wait()
	startGatewayAt(t, config, gwAddr)
	if resp, body, err := post(base+"/"+ix.ID+"/finish", "e2e-key", ``); err != nil || resp.StatusCode != 200 {
		t.Fatalf("finish: %v %d %s", err, statusOf(resp), body)
	}

	want := []string{"interaction.queued", "interaction.accepted", "interaction.message.created", "interaction.finished"}
	waitUntil(t, 30*time.Second, func() bool {
		for _, typ := range want {
			if rc.delivered(typ) < 1 {
				return false
			}
		}
		return true
	})
	time.Sleep(time.Second) // room for a wrong duplicate to show up
	rc.mu.Lock()
	defer rc.mu.Unlock()
	for id, n := range rc.ok {
		if n != 1 {
			t.Errorf("event %s (%s) delivered successfully %d times", id, rc.types[id], n)
		}
		if rc.attempts[id] < rc.failures+1 {
			t.Errorf("event %s succeeded after %d attempts, want %d", id, rc.attempts[id], rc.failures+1)
		}
		if rc.extra[id] != `{"ticket":"T-1"}` {
			t.Errorf("event %s carries extra %s", id, rc.extra[id])
		}
	}
	if rc.bad != 0 {
		t.Errorf("%d deliveries with a bad signature", rc.bad)
	}
	t.Logf("%d events delivered exactly once each across a SIGKILL; %d attempts in all", len(rc.ok), sum(rc.attempts))
}

func statusOf(r *http.Response) int {
	if r == nil {
		return 0
	}
	return r.StatusCode
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

func waitUntil(t *testing.T, d time.Duration, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(d); !cond(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("condition not met within %s", d)
		}
	}
}

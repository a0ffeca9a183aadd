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
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/redistest"
)

// idemAnswer is one answer of a gateway.
type idemAnswer struct {
	status int
	header http.Header
	body   string
}

func idemPost(t *testing.T, url, key, body string) idemAnswer {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Error(err)
		return idemAnswer{}
	}
	req.Header.Set("Authorization", "Bearer e2e-key")
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Idempotency-Key", key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Errorf("POST %s: %v", url, err)
		return idemAnswer{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return idemAnswer{resp.StatusCode, resp.Header, string(b)}
}

// hcCreatesAt reads the simulator's count of HelpCrunch creates.
func hcCreatesAt(t *testing.T, root string) int {
	t.Helper()
	resp, err := http.Get(root + "/_sim/stats")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var s struct {
		HelpCrunch struct{ Operations map[string]int }
	}
	if err := json.NewDecoder(resp.Body).Decode(&s); err != nil {
		t.Fatal(err)
	}
	return s.HelpCrunch.Operations["POST /customers"]
}

// TestIdempotencyAcrossReplicas: two gateway processes share Redis; a
// create with an Idempotency-Key sent to one is a 409 at the other while it
// runs (the vendor answers slowly), then replayed by the other, and the
// vendor saw one create.
func TestIdempotencyAcrossReplicas(t *testing.T) {
	root := startVendorSim(t, "-latency", "1s")
	var b [6]byte
	_, _ = rand.Read(b[:])
	prefix := "crmgw-e2e-idem-" + hex.EncodeToString(b[:]) + ":"
	redistest.DeleteKeys(t, redistest.Client(t), prefix+"*")
	config := fmt.Sprintf(`
redis: {url: %q, prefix: %q}
api_keys: [{name: e2e, key: e2e-key, connections: ["*"]}]
connections:
  hc:
    vendor: helpcrunch
    base_url: %s/helpcrunch/v1
    credentials: {api_key: sandbox-helpcrunch-key}
`, redisURL(), prefix, root)
	a, bURL := startGateway(t, config), startGateway(t, config)
	path := "/v1/connections/hc/customers"
	body := `{"name":"Ana Replicas","email":"ana-replicas@example.com"}`
	key := `"` + prefix + `k1"`

	var wg sync.WaitGroup
	var first idemAnswer
	wg.Go(func() { first = idemPost(t, a+path, key, body) })
	time.Sleep(300 * time.Millisecond) // the first is at the (1 s) vendor
	busy := idemPost(t, bURL+path, key, body)
	if busy.status != http.StatusConflict || busy.header.Get("Retry-After") == "" {
		t.Errorf("duplicate at the other replica while the first runs: %d %v %s, want 409 with Retry-After", busy.status, busy.header, busy.body)
	}
	wg.Wait()
	if first.status != http.StatusCreated {
		t.Fatalf("first: %d %s", first.status, first.body)
	}
	again := idemPost(t, bURL+path, key, body)
	if again.status != first.status || again.body != first.body || again.header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("repeat at the other replica: %d %v %s; first was %d %s", again.status, again.header, again.body, first.status, first.body)
	}
	if other := idemPost(t, bURL+path, key, `{"name":"Someone Else"}`); other.status != http.StatusUnprocessableEntity {
		t.Fatalf("same key, other body: %d %s, want 422", other.status, other.body)
	}
	if n := hcCreatesAt(t, root); n != 1 {
		t.Fatalf("vendor saw %d creates, want 1", n)
	}
}

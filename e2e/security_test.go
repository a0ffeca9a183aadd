package e2e

import (
	"bufio"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

// transcript keeps every answer a test received, headers and body, to
// search them for secrets.
type transcript struct {
	mu  sync.Mutex
	buf strings.Builder
}

// do sends a request and records the whole answer; it returns the status.
func (tr *transcript) do(t *testing.T, method, url, key, body string, headers ...string) int {
	t.Helper()
	var r io.Reader
	if body != "" {
		r = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, r)
	if err != nil {
		t.Fatal(err)
	}
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	if body != "" {
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
	dump, err := httputil.DumpResponse(resp, true)
	if err != nil {
		t.Fatal(err)
	}
	tr.add(fmt.Sprintf("%s %s\n%s\n", method, req.URL.Path, dump))
	if resp.StatusCode == http.StatusInternalServerError {
		t.Errorf("%s %s: %d\n%s", method, url, resp.StatusCode, dump)
	}
	return resp.StatusCode
}

func (tr *transcript) add(s string) {
	tr.mu.Lock()
	tr.buf.WriteString(s)
	tr.mu.Unlock()
}

func (tr *transcript) String() string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.buf.String()
}

// TestSecretsNeverLeak plants distinctive secrets in every credential of a
// real gateway process (API key, each vendor's credentials, webhook secret
// and signing key, subscription secret, the Redis password), drives success
// and failure paths (vendor 401s, a Redis that refuses the password, bad
// keys, bad webhooks, a config that fails), and searches every log line,
// every answer and /metrics for them.
func TestSecretsNeverLeak(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-process secrets test")
	}
	tag := randomHex(4)
	plant := func(what string) string { return "PLANTED" + what + tag + "Z" }
	s := map[string]string{}
	for _, k := range []string{"ApiKey", "HcKey", "HcKeyBad", "ZvToken", "ZvTokenBad", "NxSecret", "NxSecretBad",
		"ZvHook", "HcHook", "HcSigning", "RedisPass", "RedisPassBad", "WrongClientKey"} {
		s[k] = plant(k)
	}
	// NXCloud's access key and app key identify the account rather than
	// authenticate it; planted anyway, they must not show up either.
	for _, k := range []string{"NxAccessKey", "NxAppKey"} {
		s[k] = plant(k)
	}
	subSecret := "whsec_" + base64.StdEncoding.EncodeToString([]byte(plant("SubSecret")))
	s["SubSecret"] = subSecret
	s["SubSecretRaw"] = plant("SubSecret")

	rds := startOwnRedis(t, "--requirepass", s["RedisPass"])
	gwAddr := freeAddr(t)
	sims := vendorsim.NewSetWith(helpcrunch.Config{APIKey: s["HcKey"], Limit: -1},
		zenvia.Config{Token: s["ZvToken"], WebhookURL: "http://" + gwAddr + "/v1/webhooks/zv/" + s["ZvHook"], WebhookDelay: time.Millisecond},
		nxcloud.Config{AccessKey: s["NxAccessKey"], AccessSecret: s["NxSecret"], AppKey: s["NxAppKey"]})
	defer sims.Close()
	vendor := httptest.NewServer(sims.Handler())
	defer vendor.Close()
	failingReceiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusInternalServerError)
	}))
	defer failingReceiver.Close()

	config := func(redisPass string) string {
		return fmt.Sprintf(`
redis: {url: "redis://:%s@%s/0", prefix: "e2e-secrets-%s:"}
log: {level: debug}
api_keys: [{name: e2e, key: %q, connections: ["*"]}]
events:
  schedule: [100ms]
  subscriptions: [{name: recv, url: %q, secret: %q}]
connections:
  hc:
    vendor: helpcrunch
    base_url: %s/helpcrunch/v1
    credentials: {api_key: %q, webhook_secret: %q, webhook_signing_key: %q}
  zv:
    vendor: zenvia
    base_url: %s/zenvia
    credentials: {token: %q, webhook_secret: %q}
  nx:
    vendor: nxcloud
    base_url: %s/nxcloud
    credentials: {access_key: %q, access_secret: %q, tenant_id: 144, app_key: %q}
  hc-bad:
    vendor: helpcrunch
    base_url: %s/helpcrunch/v1
    credentials: {api_key: %q}
  zv-bad:
    vendor: zenvia
    base_url: %s/zenvia
    credentials: {token: %q}
  nx-bad:
    vendor: nxcloud
    base_url: %s/nxcloud
    credentials: {access_key: %q, access_secret: %q, tenant_id: 144, app_key: %q}
`, redisPass, rds.addr, tag, s["ApiKey"], failingReceiver.URL, subSecret,
			vendor.URL, s["HcKey"], s["HcHook"], s["HcSigning"],
			vendor.URL, s["ZvToken"], s["ZvHook"],
			vendor.URL, s["NxAccessKey"], s["NxSecret"], s["NxAppKey"],
			vendor.URL, s["HcKeyBad"], vendor.URL, s["ZvTokenBad"],
			vendor.URL, s["NxAccessKey"], s["NxSecretBad"], s["NxAppKey"])
	}

	tr := &transcript{}
	good := startGatewayAt(t, config(s["RedisPass"]), gwAddr)
	gw := "http://" + gwAddr
	key := s["ApiKey"]

	// Success paths.
	wantStatus := func(what string, got int, want ...int) {
		t.Helper()
		for _, w := range want {
			if got == w {
				return
			}
		}
		t.Errorf("%s: status %d, want %v", what, got, want)
	}
	wantStatus("connections", tr.do(t, "GET", gw+"/v1/connections", key, ""), 200)
	for _, c := range []string{"hc", "zv", "nx", "hc-bad", "zv-bad", "nx-bad"} {
		tr.do(t, "GET", gw+"/v1/connections/"+c, key, "")
		tr.do(t, "GET", gw+"/v1/connections/"+c+"/customer-fields", key, "")
		tr.do(t, "GET", gw+"/v1/connections/"+c+"/customers?email=ana@example.com", key, "")
	}
	wantStatus("hc create", tr.do(t, "POST", gw+"/v1/connections/hc/customers", key, `{"name":"Ana","email":"ana@example.com"}`), 201)
	wantStatus("zv create", tr.do(t, "POST", gw+"/v1/connections/zv/customers", key, `{"name":"Ana","phone":"5511991417777"}`), 201)
	wantStatus("nx create", tr.do(t, "POST", gw+"/v1/connections/nx/customers", key, `{"first_name":"Ana","last_name":"Souza"}`), 201)
	wantStatus("nx batch", tr.do(t, "POST", gw+"/v1/connections/nx/customers/batch", key,
		`{"mode":"upsert","customers":[{"first_name":"A","last_name":"B","email":"a@example.com"}]}`), 200)
	wantStatus("hc batch", tr.do(t, "POST", gw+"/v1/connections/hc/customers/batch", key,
		`{"mode":"upsert","customers":[{"name":"Ana","email":"ana@example.com"},{"name":"Bia","email":"bia@example.com"}]}`), 200)
	wantStatus("hc get", tr.do(t, "GET", gw+"/v1/connections/hc/customers/1", key, ""), 200)

	// An interaction whose history the vendor fetches and whose webhooks
	// come back through the secret URL, published as events delivered
	// (and failing) with the signing secret.
	ixStatus := tr.do(t, "POST", gw+"/v1/connections/zv/interactions", key,
		`{"department_id":1,"customer":{"name":"Ana"},"history":[{"time":"2026-11-23T10:00:01Z","direction":"CLIENT","content":"hi"}]}`)
	wantStatus("zv start", ixStatus, 201)
	mac := hmac.New(sha1.New, []byte(s["HcSigning"]))
	hcBody := `{"event":"chat.new","eventData":{"id":5},"createdAt":1795400000,"id":"wh-` + tag + `"}`
	mac.Write([]byte(hcBody))
	webhook := func(path, body string, headers ...string) int {
		// Webhook answers go to the vendor, which knows the URL (and so the
		// webhook secret in it): only that secret may be echoed (as the
		// problem's instance).
		t.Helper()
		req, _ := http.NewRequest("POST", gw+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		for _, h := range headers {
			k, v, _ := strings.Cut(h, ":")
			req.Header.Set(k, strings.TrimSpace(v))
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		dump, _ := httputil.DumpResponse(resp, true)
		for _, secret := range []string{s["ZvHook"], s["HcHook"]} {
			if strings.Contains(path, secret) {
				dump = []byte(strings.ReplaceAll(string(dump), secret, "<own-webhook-secret>"))
			}
		}
		tr.add(string(dump))
		return resp.StatusCode
	}
	wantStatus("signed hc webhook", webhook("/v1/webhooks/hc/"+s["HcHook"], hcBody, "X-HelpCrunch-Signature: "+hex.EncodeToString(mac.Sum(nil))), 200)
	wantStatus("unsigned hc webhook", webhook("/v1/webhooks/hc/"+s["HcHook"], hcBody, "X-HelpCrunch-Signature: 00"), 401)
	wantStatus("bad zv webhook", webhook("/v1/webhooks/zv/"+s["ZvHook"], `{"nope":1}`), 400)
	wantStatus("webhook, wrong secret", webhook("/v1/webhooks/zv/not-the-secret", `{}`), 404)

	// Failure paths: vendors refusing the credentials, bad client keys.
	for _, c := range []string{"hc-bad", "zv-bad", "nx-bad"} {
		body := `{"name":"Ana","email":"ana@example.com","phone":"5511991417777"}`
		if c == "nx-bad" {
			body = `{"first_name":"Ana","last_name":"Souza"}`
		}
		wantStatus(c+" create", tr.do(t, "POST", gw+"/v1/connections/"+c+"/customers", key, body), 502)
		tr.do(t, "POST", gw+"/v1/connections/"+c+"/customers/batch", key, `{"mode":"upsert","customers":[`+body+`]}`)
	}
	wantStatus("zv-bad start", tr.do(t, "POST", gw+"/v1/connections/zv-bad/interactions", key, `{"department_id":1,"customer":{"name":"Ana"}}`), 502)
	wantStatus("wrong key", tr.do(t, "GET", gw+"/v1/connections", s["WrongClientKey"], ""), 401)
	wantStatus("wrong scheme", tr.do(t, "GET", gw+"/v1/connections", "", "", "Authorization: Basic "+s["WrongClientKey"]), 401)
	wantStatus("key in query", tr.do(t, "GET", gw+"/v1/connections?api_key="+s["WrongClientKey"], "", ""), 401)

	// Let the event deliveries fail at least once, then read what operators see.
	time.Sleep(500 * time.Millisecond)
	for _, p := range []string{"/metrics", "/readyz", "/healthz", "/v1/events?limit=200"} {
		tr.do(t, "GET", gw+p, key, "")
	}

	// A gateway whose Redis refuses the password: degraded, still serving.
	badAddr := freeAddr(t)
	bad := startGatewayAt(t, config(s["RedisPassBad"]), badAddr)
	badURL := "http://" + badAddr
	wantStatus("create with Redis refusing", tr.do(t, "POST", badURL+"/v1/connections/hc/customers", key, `{"name":"Ana"}`), 201)
	waitUntil(t, 5*time.Second, func() bool {
		resp, err := http.Get(badURL + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "degraded")
	})
	tr.do(t, "GET", badURL+"/readyz", "", "")
	tr.do(t, "GET", badURL+"/metrics", "", "")

	// Configurations that cannot start say why without the secrets.
	startErrs := ""
	for name, cfg := range map[string]string{
		"unparsable redis url":    strings.Replace(config(s["RedisPass"]), "redis://:"+s["RedisPass"]+"@"+rds.addr, "redis://:"+s["RedisPass"]+"@127.0.0.1:notaport", 1),
		"bad subscription secret": strings.Replace(config(s["RedisPass"]), fmt.Sprintf("%q", subSecret), fmt.Sprintf("%q", "whsec_!"+s["SubSecretRaw"]), 1),
		"unknown vendor":          strings.Replace(config(s["RedisPass"]), "vendor: zenvia\n    base_url: "+vendor.URL+"/zenvia\n    credentials: {token: "+fmt.Sprintf("%q", s["ZvTokenBad"]), "vendor: zenvia2\n    base_url: "+vendor.URL+"/zenvia\n    credentials: {token: "+fmt.Sprintf("%q", s["ZvTokenBad"]), 1),
	} {
		out := runGatewayToFailure(t, cfg)
		if !strings.Contains(out, "gateway:") {
			t.Errorf("%s: the gateway did not refuse to start:\n%s", name, out)
		}
		startErrs += name + ":\n" + out + "\n"
	}

	corpus := map[string]string{
		"gateway log":                 good.output(),
		"gateway log (Redis refuses)": bad.output(),
		"answers":                     tr.String(),
		"start errors":                startErrs,
	}
	for where, text := range corpus {
		if text == "" {
			t.Errorf("nothing recorded in %s", where)
		}
		for name, secret := range s {
			if strings.Contains(text, secret) {
				i := strings.Index(text, secret)
				t.Errorf("%s leaks %s: ...%s...", where, name, text[max(0, i-300):min(len(text), i+len(secret)+100)])
			}
		}
	}
	lines := strings.Count(good.output(), "\n") + strings.Count(bad.output(), "\n")
	if !strings.Contains(good.output(), `"msg":"vendor call`) || !strings.Contains(bad.output(), "falling back") {
		t.Errorf("the failure paths were not exercised (no vendor call or Redis fallback lines)")
	}
	t.Logf("%d planted secrets absent from %d log lines, %d bytes of answers (incl. /metrics) and %d bytes of start errors",
		len(s), lines, len(tr.String()), len(startErrs))
}

// runGatewayToFailure runs the gateway with a config that must not start
// and returns its output.
func runGatewayToFailure(t *testing.T, config string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "gateway.yaml")
	if err := os.WriteFile(path, []byte(config), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary(t, "gateway"), "-config", path, "-listen", "127.0.0.1:0")
	cmd.Env = append(os.Environ(), "GATEWAY_CONFIG=")
	out, _ := cmd.CombinedOutput()
	return string(out)
}

// limitsGateway runs a gateway with short server timeouts and a small body
// limit in front of in-process simulators; it returns its address.
func limitsGateway(t *testing.T) string {
	t.Helper()
	sims := vendorsim.NewSet()
	t.Cleanup(sims.Close)
	vendor := httptest.NewServer(sims.Handler())
	t.Cleanup(vendor.Close)
	_, addr := runGateway(t, fmt.Sprintf(`
server: {read_header_timeout: 1s, read_timeout: 2s, max_body_bytes: 4096}
api_keys: [{name: e2e, key: e2e-key, connections: ["*"]}]
connections:
  zv:
    vendor: zenvia
    base_url: %s/zenvia
    credentials: {token: sandbox-zenvia-token, webhook_secret: hook}
`, vendor.URL), "127.0.0.1:0")
	return addr
}

// TestRequestSizeLimits: bodies over server.max_body_bytes are a 413
// problem, with or without Content-Length, on API and webhook routes;
// headers over http.Server's MaxHeaderBytes are refused with 431 (or the
// connection is closed), never served.
func TestRequestSizeLimits(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	addr := limitsGateway(t)
	base := "http://" + addr
	big := `{"name":"` + strings.Repeat("x", 5000) + `"}`
	for _, tc := range []struct {
		name, path string
		chunked    bool
	}{
		{"content-length", "/v1/connections/zv/customers", false},
		{"chunked", "/v1/connections/zv/customers", true},
		{"webhook", "/v1/webhooks/zv/hook", false},
		{"webhook chunked", "/v1/webhooks/zv/hook", true},
	} {
		t.Run("body "+tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(big)
			if tc.chunked {
				body = io.MultiReader(body) // no length known: sent chunked
			}
			req, _ := http.NewRequest("POST", base+tc.path, body)
			req.Header.Set("Authorization", "Bearer e2e-key")
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != http.StatusRequestEntityTooLarge || resp.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("%d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
			}
		})
	}

	get := func(headerBytes int) (int, error) {
		req, _ := http.NewRequest("GET", base+"/healthz", nil)
		req.Header.Set("X-Padding", strings.Repeat("p", headerBytes))
		resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
		if err != nil {
			return 0, err
		}
		resp.Body.Close()
		return resp.StatusCode, nil
	}
	if status, err := get(32 << 10); err != nil || status != http.StatusOK {
		t.Fatalf("32 KiB of headers: %d %v, want 200", status, err)
	}
	status, err := get(256 << 10)
	if err == nil && status != http.StatusRequestHeaderFieldsTooLarge {
		t.Fatalf("256 KiB of headers: %d, want 431 or a closed connection", status)
	}
	t.Logf("256 KiB of headers: status %d, error %v", status, err)
}

// TestSlowClientsAreCut: a client trickling its headers (slowloris) is cut
// at server.read_header_timeout, one trickling its body at read_timeout,
// without a response and without holding up other clients.
func TestSlowClientsAreCut(t *testing.T) {
	if testing.Short() {
		t.Skip("process test")
	}
	addr := limitsGateway(t)
	trickle := func(head, body string, every time.Duration) (time.Duration, string) {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		got := make(chan string, 1)
		go func() {
			b, _ := io.ReadAll(bufio.NewReader(c)) // until the server closes
			got <- string(b)
		}()
		if _, err := io.WriteString(c, head); err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(body); i++ {
			select {
			case answer := <-got:
				return time.Since(start), answer
			case <-time.After(every):
			}
			if _, err := c.Write([]byte{body[i]}); err != nil {
				break
			}
		}
		select {
		case answer := <-got:
			return time.Since(start), answer
		case <-time.After(5 * time.Second):
			t.Fatal("the slow client was never cut")
			return 0, ""
		}
	}

	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // others are served meanwhile
		defer wg.Done()
		time.Sleep(300 * time.Millisecond)
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil || resp.StatusCode != 200 {
			t.Errorf("a normal client while a slow one trickles: %v %v", err, resp)
			return
		}
		resp.Body.Close()
	}()

	// Headers one byte every 150 ms: 60 bytes would take 9 s. (The bounds
	// leave room for a loaded machine.)
	took, answer := trickle("", "GET /healthz HTTP/1.1\r\nHost: gateway\r\nX-Slow: aaaaaaaaaaaaaa\r\n\r\n", 150*time.Millisecond)
	if took < 900*time.Millisecond || took > 4*time.Second || strings.Contains(answer, "200 OK") {
		t.Errorf("slow headers: cut after %s (read_header_timeout 1s) with answer %q", took, answer)
	}
	t.Logf("slow headers cut after %s, answer %q", took.Round(time.Millisecond), answer)

	// Complete headers, then the body one byte every 200 ms (10 s in all).
	body := `{"name":"` + strings.Repeat("a", 40) + `"}`
	head := fmt.Sprintf("POST /v1/connections/zv/customers HTTP/1.1\r\nHost: gateway\r\nAuthorization: Bearer e2e-key\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n", len(body))
	took, answer = trickle(head, body, 200*time.Millisecond)
	status := ""
	if strings.HasPrefix(answer, "HTTP/1.1 ") {
		status = answer[9:12]
	}
	if took < 1900*time.Millisecond || took > 6*time.Second || strings.HasPrefix(status, "2") || strings.HasPrefix(status, "5") {
		t.Errorf("slow body: cut after %s (read_timeout 2s) with status %q: %.300s", took, status, answer)
	}
	t.Logf("slow body cut after %s, status %q", took.Round(time.Millisecond), status)
	wg.Wait()
}

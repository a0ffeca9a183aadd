package server_test

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

// vendorRequests counts what the three simulators received.
func vendorRequests(s *stack) int {
	st := s.sims.Stats()
	return st.HelpCrunch.Requests + st.Zenvia.Requests + st.NXCloud.Requests
}

// signedHelpCrunchWebhook posts a HelpCrunch webhook the way HelpCrunch
// signs it.
func signedHelpCrunchWebhook(t *testing.T, s *stack, body string) response {
	t.Helper()
	mac := hmac.New(sha1.New, []byte(hcSigningKey))
	mac.Write([]byte(body))
	return s.do(t, "POST", "/v1/webhooks/helpcrunch/"+hcWebhookSecret, body, "Authorization:",
		"X-HelpCrunch-Signature: "+hex.EncodeToString(mac.Sum(nil)))
}

// A key scoped to zenvia can do nothing on another connection, through any
// route family, and learns nothing: the vendor is never called, and an
// unknown connection answers the same 403 as a real one.
func TestKeyScopingOnEveryConnectionRoute(t *testing.T) {
	s := newStack(t, nil)
	scoped := "Authorization: Bearer " + scopedKey
	routes := []struct {
		method, path string
		body         any
	}{
		{"GET", "/v1/connections/%s", nil},
		{"POST", "/v1/connections/%s/customers", map[string]any{"name": "Ana"}},
		{"GET", "/v1/connections/%s/customers", nil},
		{"GET", "/v1/connections/%s/customers?email=ana@example.com", nil},
		{"GET", "/v1/connections/%s/customers/1", nil},
		{"PATCH", "/v1/connections/%s/customers/1", map[string]any{"name": "Ana"}},
		{"POST", "/v1/connections/%s/customers/batch", map[string]any{"mode": "create", "customers": []any{map[string]any{"name": "Ana"}}}},
		{"GET", "/v1/connections/%s/customer-fields", nil},
		{"POST", "/v1/connections/%s/interactions", map[string]any{"department_id": 1, "customer": map[string]any{"id": "1"}}},
		{"PATCH", "/v1/connections/%s/interactions/1", map[string]any{"note": "x"}},
		{"POST", "/v1/connections/%s/interactions/1/messages", map[string]any{"content": "hi"}},
		{"PUT", "/v1/connections/%s/interactions/1/typing", nil},
		{"DELETE", "/v1/connections/%s/interactions/1/typing", nil},
		{"POST", "/v1/connections/%s/interactions/1/finish", nil},
		{"GET", "/v1/events?connection=%s", nil},
	}
	for _, conn := range []string{"helpcrunch", "nxcloud", "no-such-connection"} {
		for _, rt := range routes {
			p := strings.Replace(rt.path, "%s", conn, 1)
			r := s.do(t, rt.method, p, rt.body, scoped)
			if r.Status != http.StatusForbidden || r.Body["code"] != "forbidden" {
				t.Errorf("%s %s with a zenvia-only key: %d %s", rt.method, p, r.Status, r.Raw)
			}
		}
	}
	if n := vendorRequests(s); n != 0 {
		t.Errorf("refused calls reached the vendors %d times", n)
	}
	// The same key works on its own connection.
	if r := s.do(t, "POST", "/v1/connections/zenvia/customers", map[string]any{"name": "Ana", "phone": "5511991417777"}, scoped); r.Status != http.StatusCreated {
		t.Fatalf("scoped key on its own connection: %d %s", r.Status, r.Raw)
	}
}

// Events are scoped too: a key lists, reads, redelivers and streams only
// the events of its connections, and another connection's event is a 404
// indistinguishable from an event that does not exist.
func TestEventsAreScopedToKeys(t *testing.T) {
	s, gw := loopStack(t)
	scoped := "Authorization: Bearer " + scopedKey

	// A live stream for the scoped key, open before anything is published.
	req, _ := http.NewRequest("GET", gw+"/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+scopedKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("stream: %d", resp.StatusCode)
	}

	hc := signedHelpCrunchWebhook(t, s, `{"event":"message.chat.agent","eventData":{"chat":{"id":77},"text":"secret stuff"},"createdAt":1795400000,"id":"wh-scope-1"}`)
	zv := s.do(t, "POST", "/v1/webhooks/zenvia/"+zenviaWebhookSecret, `{"interaction_hash":"h-scope","state":"queued","position":1,"extra":{}}`, "Authorization:")
	if hc.Status != 200 || zv.Status != 200 {
		t.Fatalf("webhooks: %d %s / %d %s", hc.Status, hc.Raw, zv.Status, zv.Raw)
	}

	// The stream carries the zenvia event and nothing before it.
	lines := make(chan string)
	go func() {
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	var streamed []string
	timeout := time.After(5 * time.Second)
read:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break read
			}
			if strings.HasPrefix(l, "data: ") {
				streamed = append(streamed, l)
				if strings.Contains(l, `"h-scope"`) {
					break read
				}
			}
		case <-timeout:
			t.Fatalf("the zenvia event was not streamed; got %q", streamed)
		}
	}
	for _, l := range streamed {
		if strings.Contains(l, `"helpcrunch"`) || strings.Contains(l, "secret stuff") {
			t.Errorf("a zenvia-only key was streamed a helpcrunch event: %s", l)
		}
	}

	all := s.do(t, "GET", "/v1/events?limit=200", nil)
	var hcID, zvID string
	for _, e := range all.Body["data"].([]any) {
		m := e.(map[string]any)
		switch m["connection"] {
		case "helpcrunch":
			hcID = m["id"].(string)
		case "zenvia":
			zvID = m["id"].(string)
		}
	}
	if hcID == "" || zvID == "" {
		t.Fatalf("events not published: %s", all.Raw)
	}
	for _, q := range []string{"/v1/events?limit=200", "/v1/events?type=interaction.message.created", "/v1/events?limit=1"} {
		r := s.do(t, "GET", q, nil, scoped)
		if r.Status != http.StatusOK {
			t.Fatalf("%s: %d %s", q, r.Status, r.Raw)
		}
		for _, e := range r.Body["data"].([]any) {
			if c := e.(map[string]any)["connection"]; c != "zenvia" {
				t.Errorf("%s lists a %v event to a zenvia-only key", q, c)
			}
		}
	}
	if r := s.do(t, "GET", "/v1/events/"+zvID, nil, scoped); r.Status != http.StatusOK {
		t.Fatalf("own event: %d %s", r.Status, r.Raw)
	}
	missing := "evt_000000000000000000000000"
	for _, op := range []struct{ method, suffix string }{{"GET", ""}, {"POST", "/redeliver"}} {
		hidden := s.do(t, op.method, "/v1/events/"+hcID+op.suffix, nil, scoped)
		none := s.do(t, op.method, "/v1/events/"+missing+op.suffix, nil, scoped)
		wantProblem(t, hidden, http.StatusNotFound, "not_found")
		wantProblem(t, none, http.StatusNotFound, "not_found")
		if hidden.Body["detail"] != none.Body["detail"] || strings.Contains(string(hidden.Raw), "helpcrunch") {
			t.Errorf("%s of another connection's event is distinguishable from a missing one:\n%s\n%s", op.method, hidden.Raw, none.Raw)
		}
	}
}

// ssrfTrap is a listener whose URL the test puts in every client-supplied
// URL field: the gateway must never fetch one. Only the Zenvia simulator,
// which fetches external_history as Zenvia does, may call it, and it says so
// in its User-Agent.
type ssrfTrap struct {
	mu   sync.Mutex
	hits []string // "path user-agent"
}

const simUserAgent = "zenvia-simulator"

func (tr *ssrfTrap) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	tr.mu.Lock()
	tr.hits = append(tr.hits, r.URL.Path+" "+r.UserAgent())
	tr.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write([]byte(`{"messages":[]}`))
}

// userAgent sets the User-Agent of the Zenvia simulator's own requests.
type userAgent struct{ next http.RoundTripper }

func (u userAgent) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("User-Agent", simUserAgent)
	return u.next.RoundTrip(r)
}

// TestNoClientURLIsFetchedByTheGateway passes a trap URL in every field a
// client can put a URL in (external_history, message url, customer fields,
// vendor webhook payloads): the gateway forwards them and fetches none.
func TestNoClientURLIsFetchedByTheGateway(t *testing.T) {
	trap := &ssrfTrap{}
	trapSrv := httptest.NewServer(trap)
	defer trapSrv.Close()
	url := func(field string) string { return trapSrv.URL + "/" + field }

	var gateway http.Handler
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gateway.ServeHTTP(w, r) }))
	defer gw.Close()
	sims := vendorsim.NewSetWith(helpcrunch.Config{},
		zenvia.Config{WebhookURL: gw.URL + "/v1/webhooks/zenvia/" + zenviaWebhookSecret, WebhookDelay: time.Millisecond,
			HTTPClient: &http.Client{Transport: userAgent{http.DefaultTransport}, Timeout: 5 * time.Second}},
		nxcloud.Config{})
	s := newStack(t, func(c *config.Config) {
		c.Connections["zenvia"].Credentials.WebhookSecret = zenviaWebhookSecret
		c.Connections["helpcrunch"].Credentials.WebhookSecret = hcWebhookSecret
		c.Connections["helpcrunch"].Credentials.WebhookSigningKey = hcSigningKey
	}, withSims(sims))
	gateway = s.e

	start := s.do(t, "POST", gw.URL+"/v1/connections/zenvia/interactions", map[string]any{"department_id": 1,
		"customer": map[string]any{"name": "Ana"}, "external_history": url("external_history"), "extra": map[string]any{"avatar": url("extra")}})
	if start.Status != http.StatusCreated {
		t.Fatalf("start: %d %s", start.Status, start.Raw)
	}
	ix := "/v1/connections/zenvia/interactions/" + start.Body["id"].(string)
	for _, typ := range []string{"image", "video", "audio", "file"} {
		if r := s.do(t, "POST", ix+"/messages", map[string]any{"type": typ, "content": "look", "url": url("message_" + typ)}); r.Status != http.StatusOK {
			t.Fatalf("message: %d %s", r.Status, r.Raw)
		}
	}
	hcCustomer := s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "Ana", "notes": url("notes"),
		"custom_fields": map[string]any{"site": url("custom_field")}})
	if hcCustomer.Status != http.StatusCreated {
		t.Fatalf("customer: %d %s", hcCustomer.Status, hcCustomer.Raw)
	}
	hcChat := s.do(t, "POST", "/v1/connections/helpcrunch/interactions", map[string]any{"customer": map[string]any{"id": hcCustomer.Body["id"]},
		"extra": map[string]any{"u": url("hc_extra")}})
	if hcChat.Status != http.StatusCreated {
		t.Fatalf("helpcrunch chat: %d %s", hcChat.Status, hcChat.Raw)
	}
	s.do(t, "POST", "/v1/connections/helpcrunch/interactions/"+hcChat.Body["id"].(string)+"/messages",
		map[string]any{"type": "image", "content": "look", "url": url("hc_message")})
	s.do(t, "POST", "/v1/connections/nxcloud/customers", map[string]any{"first_name": "A", "last_name": "B", "address": url("address")})

	// Vendor webhooks carrying URLs wherever a vendor might put one.
	zv := s.do(t, "POST", "/v1/webhooks/zenvia/"+zenviaWebhookSecret, `{"interaction_hash":"`+start.Body["id"].(string)+
		`","state":"message","message":{"type":"image","url":"`+url("zenvia_webhook_message")+`","content":"x"},"url":"`+url("zenvia_webhook")+
		`","external_history":"`+url("zenvia_webhook_history")+`","extra":{"u":"`+url("zenvia_webhook_extra")+`"}}`, "Authorization:")
	hc := signedHelpCrunchWebhook(t, s, `{"event":"message.chat.customer","eventData":{"chat":{"id":`+hcChat.Body["id"].(string)+
		`},"text":"x","attachments":[{"url":"`+url("helpcrunch_webhook_attachment")+`"}],"customer":{"avatar":"`+url("helpcrunch_webhook_avatar")+
		`"}},"createdAt":1795400000,"id":"wh-ssrf-1","url":"`+url("helpcrunch_webhook")+`"}`)
	if zv.Status != 200 || hc.Status != 200 {
		t.Fatalf("webhooks: %d %s / %d %s", zv.Status, zv.Raw, hc.Status, hc.Raw)
	}
	waitFor(t, func() bool { return len(eventTypes(t, s, start.Body["id"].(string))) >= 2 }) // the simulator's own triggers came back
	time.Sleep(200 * time.Millisecond)

	trap.mu.Lock()
	defer trap.mu.Unlock()
	for _, h := range trap.hits {
		if h != "/external_history "+simUserAgent {
			t.Errorf("a client-supplied URL was fetched by something other than the vendor: %s", h)
		}
	}
	if n := s.sims.Zenvia.Stats().HistoryFetches; len(trap.hits) != n || n != 1 {
		t.Errorf("trap saw %d requests, the Zenvia simulator fetched external_history %d times; want exactly that one", len(trap.hits), n)
	}
}

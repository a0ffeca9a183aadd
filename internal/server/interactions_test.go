package server_test

import (
	"bufio"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/config"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

const (
	zenviaWebhookSecret = "zv-hook-secret"
	hcWebhookSecret     = "hc-hook-secret"
	hcSigningKey        = "hc-signing-key"
)

// loopStack is a stack whose gateway also listens on a loopback port, with
// a Zenvia simulator posting its triggers to the gateway's webhook URL and
// fetching hosted histories from it: the sandbox's whole conversation loop.
func loopStack(t *testing.T) (*stack, string) {
	var gateway http.Handler
	gw := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { gateway.ServeHTTP(w, r) }))
	t.Cleanup(gw.Close)
	sims := vendorsim.NewSetWith(helpcrunch.Config{},
		zenvia.Config{WebhookURL: gw.URL + "/v1/webhooks/zenvia/" + zenviaWebhookSecret, WebhookDelay: time.Millisecond},
		nxcloud.Config{})
	s := newStack(t, func(c *config.Config) {
		c.Connections["zenvia"].Credentials.WebhookSecret = zenviaWebhookSecret
		c.Connections["helpcrunch"].Credentials.WebhookSecret = hcWebhookSecret
		c.Connections["helpcrunch"].Credentials.WebhookSigningKey = hcSigningKey
	}, withSims(sims))
	gateway = s.e
	return s, gw.URL
}

// eventTypes lists the types of the recent events of an interaction, oldest first.
func eventTypes(t *testing.T, s *stack, interaction string) []string {
	r := s.do(t, "GET", "/v1/events?limit=200", nil)
	var types []string
	list := r.Body["data"].([]any)
	for i := len(list) - 1; i >= 0; i-- {
		e := list[i].(map[string]any)
		if e["interaction_id"] == interaction {
			types = append(types, e["type"].(string))
		}
	}
	return types
}

func TestZenviaInteractionLoop(t *testing.T) {
	s, gw := loopStack(t)
	start := map[string]any{"department_id": 1, "media_type": "WHATSAPP", "customer": map[string]any{"name": "Ana", "phone": "5511991417777"},
		"extra": map[string]any{"ticket": "T-1"},
		"history": []any{
			map[string]any{"time": "2026-11-23T10:00:01Z", "direction": "CLIENT", "content": "I need help"},
			map[string]any{"time": "2026-11-23T07:00:05-03:00", "direction": "AGENT", "content": "Connecting you \"now\" <b>"},
		}}
	r := s.do(t, "POST", gw+"/v1/connections/zenvia/interactions", start)
	if r.Status != http.StatusCreated {
		t.Fatalf("start: %d %s", r.Status, r.Raw)
	}
	id := r.Body["id"].(string)
	if !strings.HasPrefix(r.Body["history_url"].(string), gw+"/v1/history/") {
		t.Fatalf("history url %v", r.Body["history_url"])
	}
	// Zenvia fetched the hosted history: byte for byte the documented shape.
	fetched, err := s.sims.Zenvia.History(id)
	if err != nil {
		t.Fatalf("zenvia did not fetch the history: %v", err)
	}
	want := `{"messages":[{"time":"2026-11-23 10:00:01","direction":"CLIENT","content":"I need help"},` +
		`{"time":"2026-11-23 10:00:05","direction":"AGENT","content":"Connecting you \"now\" <b>"}]}`
	if string(fetched) != want {
		t.Fatalf("history fetched\n%s\nwant\n%s", fetched, want)
	}

	for _, step := range []struct {
		method, path string
		body         any
	}{
		{"POST", "/messages", map[string]any{"content": "where is my order?"}},
		{"POST", "/messages", map[string]any{"type": "image", "content": "the box", "url": "https://example.com/box.png"}},
		{"PUT", "/typing", nil},
		{"DELETE", "/typing", nil},
		{"PATCH", "", map[string]any{"mood": "POSITIVE", "tag_ids": []any{"1"}, "note": "ok"}},
		{"POST", "/finish", nil},
	} {
		r := s.do(t, step.method, "/v1/connections/zenvia/interactions/"+id+step.path, step.body)
		if r.Status != http.StatusOK || r.Body["id"] != id {
			t.Fatalf("%s %s: %d %s", step.method, step.path, r.Status, r.Raw)
		}
	}
	ix, _ := s.sims.Zenvia.Interaction(id)
	if ix.State != "finished" || ix.Mood != "POSITIVE" || len(ix.Messages) < 2 {
		t.Fatalf("zenvia holds %+v", ix)
	}

	waitFor(t, func() bool {
		got := strings.Join(eventTypes(t, s, id), " ")
		return strings.Contains(got, "interaction.queued") && strings.Contains(got, "interaction.accepted") &&
			strings.Contains(got, "interaction.message.created") && strings.Contains(got, "interaction.finished")
	})
	r = s.do(t, "GET", "/v1/events?type=interaction.accepted", nil)
	e := r.Body["data"].([]any)[0].(map[string]any)
	if e["connection"] != "zenvia" || e["vendor"] != "zenvia" || e["extra"].(map[string]any)["ticket"] != "T-1" {
		t.Fatalf("event %v", e)
	}
	detail := s.do(t, "GET", "/v1/events/"+e["id"].(string), nil)
	if detail.Status != 200 || detail.Body["event"] == nil {
		t.Fatalf("get event: %d %s", detail.Status, detail.Raw)
	}
	if r := s.do(t, "POST", "/v1/events/"+e["id"].(string)+"/redeliver", nil); r.Status != http.StatusAccepted {
		t.Fatalf("redeliver: %d %s", r.Status, r.Raw)
	}
}

func TestHelpCrunchInteractions(t *testing.T) {
	s, gw := loopStack(t)
	cust := s.do(t, "POST", "/v1/connections/helpcrunch/customers", map[string]any{"name": "Ana"})
	r := s.do(t, "POST", gw+"/v1/connections/helpcrunch/interactions", map[string]any{"customer": map[string]any{"id": cust.Body["id"]}, "extra": map[string]any{"k": "v"}})
	if r.Status != http.StatusCreated {
		t.Fatalf("start: %d %s", r.Status, r.Raw)
	}
	chat := r.Body["id"].(string)
	if r := s.do(t, "POST", "/v1/connections/helpcrunch/interactions/"+chat+"/messages", map[string]any{"content": "hello"}); r.Status != 200 {
		t.Fatalf("message: %d %s", r.Status, r.Raw)
	}
	for _, p := range []struct{ method, path string }{{"POST", "/finish"}, {"PUT", "/typing"}} {
		wantProblem(t, s.do(t, p.method, "/v1/connections/helpcrunch/interactions/"+chat+p.path, nil), http.StatusNotImplemented, "not_implemented")
	}
	r = s.do(t, "POST", gw+"/v1/connections/helpcrunch/interactions", map[string]any{"customer": map[string]any{"id": "1"},
		"history": []any{map[string]any{"time": "2026-11-23T10:00:01Z", "direction": "CLIENT", "content": "hi"}}})
	wantProblem(t, r, http.StatusUnprocessableEntity, "unprocessable")
	wantProblem(t, s.do(t, "POST", "/v1/connections/nxcloud/interactions", map[string]any{"customer": map[string]any{"name": "a"}}),
		http.StatusNotImplemented, "not_implemented")

	// A signed HelpCrunch webhook becomes an event carrying the start's extra.
	body := `{"event":"message.chat.agent","eventData":{"chat":{"id":` + chat + `},"text":"hi there"},"attempts":1,"createdAt":1795400000,"id":"wh-1"}`
	mac := hmac.New(sha1.New, []byte(hcSigningKey))
	mac.Write([]byte(body))
	sig := hex.EncodeToString(mac.Sum(nil))
	for i, wantPublished := range []float64{1, 0} { // the vendor's redelivery is dropped
		r := s.do(t, "POST", "/v1/webhooks/helpcrunch/"+hcWebhookSecret, body, "Authorization:", "X-HelpCrunch-Signature: "+sig)
		if r.Status != 200 || r.Body["published"] != wantPublished {
			t.Fatalf("delivery %d: %d %s", i, r.Status, r.Raw)
		}
	}
	r = s.do(t, "GET", "/v1/events?connection=helpcrunch", nil)
	e := r.Body["data"].([]any)[0].(map[string]any)
	if e["type"] != "interaction.message.created" || e["interaction_id"] != chat || e["extra"].(map[string]any)["k"] != "v" {
		t.Fatalf("event %v", e)
	}
}

func TestBadWebhooksNeverFail500(t *testing.T) {
	s, _ := loopStack(t)
	zv := "/v1/webhooks/zenvia/" + zenviaWebhookSecret
	hc := "/v1/webhooks/helpcrunch/" + hcWebhookSecret
	tests := []struct {
		name, path, body string
		headers          []string
		status           int
	}{
		{"wrong secret", "/v1/webhooks/zenvia/nope", `{"interaction_hash":"x","state":"accepted"}`, nil, 404},
		{"wrong secret, bad body", "/v1/webhooks/zenvia/nope", `{{{`, nil, 404},
		{"unknown connection", "/v1/webhooks/crm-main/" + zenviaWebhookSecret, `{}`, nil, 404},
		{"no webhooks configured", "/v1/webhooks/nxcloud/anything", `{}`, nil, 404},
		{"malformed JSON", zv, `{"interaction_hash":`, nil, 400},
		{"not a trigger", zv, `{"hello":"world"}`, nil, 400},
		{"not an object", zv, `[1,2]`, nil, 400},
		{"unknown interaction", zv, `{"interaction_hash":"00000000-0000-0000-0000-000000000000","state":"accepted","extra":{}}`, nil, 200},
		{"unknown kind kept", zv, `{"interaction_hash":"abc","state":"teleported","extra":{}}`, nil, 200},
		{"not JSON", zv, `state=accepted`, []string{"Content-Type: text/plain"}, 415},
		{"helpcrunch unsigned", hc, `{"event":"chat.new","eventData":{},"id":"1"}`, nil, 401},
		{"helpcrunch bad signature", hc, `{"event":"chat.new","eventData":{},"id":"1"}`, []string{"X-HelpCrunch-Signature: 00ff"}, 401},
		{"helpcrunch signature not hex", hc, `{"event":"chat.new","eventData":{},"id":"1"}`, []string{"X-HelpCrunch-Signature: zz"}, 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := s.do(t, "POST", tt.path, tt.body, append([]string{"Authorization:"}, tt.headers...)...)
			if r.Status != tt.status {
				t.Fatalf("status %d, want %d: %s", r.Status, tt.status, r.Raw)
			}
			if tt.status == 404 || tt.status == 401 {
				if d := r.Body["detail"]; d != "not found" && d != "unauthorized" {
					t.Fatalf("the refusal says too much: %v", r.Body)
				}
			}
		})
	}
	r := s.do(t, "GET", "/v1/events?type=vendor.event", nil)
	if n := len(r.Body["data"].([]any)); n != 1 {
		t.Fatalf("%d vendor.event events, want the unknown kind kept once", n)
	}
}

func TestEventStream(t *testing.T) {
	s, gw := loopStack(t)
	req, _ := http.NewRequest("GET", gw+"/v1/events/stream", nil)
	req.Header.Set("Authorization", "Bearer "+adminKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s.do(t, "POST", "/v1/webhooks/zenvia/"+zenviaWebhookSecret, `{"interaction_hash":"h1","state":"queued","position":2,"extra":{}}`, "Authorization:")
	sc := bufio.NewScanner(resp.Body)
	deadline := time.AfterFunc(5*time.Second, func() { resp.Body.Close() })
	defer deadline.Stop()
	var event, data string
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
		if data != "" {
			break
		}
	}
	var e map[string]any
	if err := json.Unmarshal([]byte(data), &e); err != nil || event != "interaction.queued" || e["interaction_id"] != "h1" {
		t.Fatalf("streamed %q %q", event, data)
	}
	if pos := e["data"].(map[string]any)["position"]; pos != float64(2) {
		t.Fatalf("queued position %v", pos)
	}
}

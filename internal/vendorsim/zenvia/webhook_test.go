package zenvia_test

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/zenvia"
)

// hookHarness starts a simulator posting triggers to a fresh recorder.
func hookHarness(t *testing.T, cfg zenvia.Config, status int) (*harness, *hookRecorder) {
	t.Helper()
	rec := newHookRecorder(status)
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	cfg.WebhookURL = srv.URL + "/zenvia/hook"
	if cfg.WebhookDelay == 0 {
		cfg.WebhookDelay = time.Millisecond
	}
	return newHarness(t, cfg), rec
}

func TestTriggersFollowTheConversation(t *testing.T) {
	h, rec := hookHarness(t, zenvia.Config{}, http.StatusOK)
	extra := map[string]any{"clientId": "c-1", "botId": "b-9"}
	hash := h.start(extra)
	got := rec.waitFor(t, 2)
	want := []map[string]any{
		{"interaction_hash": hash, "state": "queued", "position": float64(1), "extra": extra},
		{"interaction_hash": hash, "state": "accepted", "extra": extra},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("start triggers\n got %v\nwant %v", got, want)
	}

	status, _ := h.call(http.MethodPost, startPath+"/"+hash+"/messages", map[string]any{"token": token, "content": "Qual o meu saldo?"})
	if status != 200 {
		t.Fatalf("message status %d", status)
	}
	got = rec.waitFor(t, 3)
	agentMsg := got[2]
	wantKeys(t, agentMsg, "interaction_hash", "message", "agent", "extra")
	it, _ := h.sim.Interaction(hash)
	reply := it.Messages[1]
	wantMsg := map[string]any{
		"interaction_hash": hash,
		"message":          map[string]any{"hash": reply.Hash, "content": "Received: Qual o meu saldo?", "type": "text", "url": ""},
		"agent":            map[string]any{"id": float64(1), "name": "Atendente"},
		"extra":            extra,
	}
	if !reflect.DeepEqual(agentMsg, wantMsg) {
		t.Fatalf("agent message\n got %v\nwant %v", agentMsg, wantMsg)
	}

	// Client typing produces no trigger: triggers report agent actions.
	h.call(http.MethodPut, startPath+"/"+hash+"/typing", map[string]any{"token": token})
	h.call(http.MethodPut, startPath+"/"+hash+"/finish", map[string]any{"token": token})
	got = rec.waitFor(t, 4)
	if !reflect.DeepEqual(got[3], map[string]any{"interaction_hash": hash, "state": "finished", "extra": extra}) {
		t.Fatalf("finish trigger %v", got[3])
	}
	waitDeliveries(t, h.sim, 4)
	h.sim.Close()
	if rec.count() != 4 {
		t.Fatalf("%d triggers, want 4", rec.count())
	}
	stats := h.sim.Stats()
	if stats.WebhooksSent != 4 || stats.WebhooksFailed != 0 {
		t.Fatalf("webhook stats %+v", stats)
	}
	deliveries := h.sim.Webhooks()
	if len(deliveries) != 4 || deliveries[0].StatusCode != 200 || deliveries[0].Err != nil ||
		!strings.Contains(string(deliveries[0].Payload), `"state":"queued"`) {
		t.Fatalf("deliveries %+v", deliveries)
	}
}

func TestTriggersDefaultExtraAndUnavailable(t *testing.T) {
	tests := []struct {
		name      string
		cfg       zenvia.Config
		wantState string
	}{
		{"agent available", zenvia.Config{}, "accepted"},
		{"no agent", zenvia.Config{Agents: []zenvia.Agent{}}, "unavailable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, rec := hookHarness(t, tc.cfg, http.StatusOK)
			hash := h.start(nil)
			got := rec.waitFor(t, 2)
			want := []map[string]any{
				{"interaction_hash": hash, "state": "queued", "position": float64(1), "extra": map[string]any{}},
				{"interaction_hash": hash, "state": tc.wantState, "extra": map[string]any{}},
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("triggers\n got %v\nwant %v", got, want)
			}
		})
	}
}

func TestTriggersKeepOrderPerInteraction(t *testing.T) {
	h, rec := hookHarness(t, zenvia.Config{}, http.StatusOK)
	hash := h.start(nil)
	for i := 0; i < 5; i++ {
		h.call(http.MethodPost, startPath+"/"+hash+"/messages", map[string]any{"token": token, "content": string(rune('a' + i))})
	}
	h.call(http.MethodPut, startPath+"/"+hash+"/finish", map[string]any{"token": token})
	got := rec.waitFor(t, 8)
	var seq []string
	for _, p := range got {
		if s, ok := p["state"].(string); ok {
			seq = append(seq, s)
		} else {
			seq = append(seq, p["message"].(map[string]any)["content"].(string))
		}
	}
	want := []string{"queued", "accepted", "Received: a", "Received: b", "Received: c", "Received: d", "Received: e", "finished"}
	if !reflect.DeepEqual(seq, want) {
		t.Fatalf("trigger order %v, want %v", seq, want)
	}
}

func TestWebhookFailuresAreRecorded(t *testing.T) {
	h, rec := hookHarness(t, zenvia.Config{}, http.StatusInternalServerError)
	h.start(nil)
	rec.waitFor(t, 2)
	waitDeliveries(t, h.sim, 2)
	h.sim.Close()
	stats := h.sim.Stats()
	if stats.WebhooksFailed != 2 || stats.WebhooksSent != 0 {
		t.Fatalf("stats %+v", stats)
	}
	for _, d := range h.sim.Webhooks() {
		if d.StatusCode != http.StatusInternalServerError {
			t.Fatalf("delivery %+v", d)
		}
	}

	// An unreachable receiver is a transport error, and the call that
	// caused the trigger still succeeds.
	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	h2 := newHarness(t, zenvia.Config{WebhookURL: url, WebhookDelay: -1})
	h2.start(nil)
	ds := waitDeliveries(t, h2.sim, 2)
	if len(ds) == 0 || ds[0].Err == nil || ds[0].StatusCode != 0 {
		t.Fatalf("deliveries %+v: want a transport error", ds)
	}
}

func TestNoWebhookURLSendsNothing(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	hash := h.start(nil)
	h.call(http.MethodPut, startPath+"/"+hash+"/finish", map[string]any{"token": token})
	h.sim.Close()
	if n := len(h.sim.Webhooks()); n != 0 {
		t.Fatalf("%d deliveries without a webhook URL", n)
	}
}

func TestCloseCancelsPendingTriggers(t *testing.T) {
	h, rec := hookHarness(t, zenvia.Config{WebhookDelay: time.Hour}, http.StatusOK)
	h.start(nil)
	done := make(chan struct{})
	go func() {
		h.sim.Close()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	if rec.count() != 0 || len(h.sim.Webhooks()) != 0 {
		t.Fatal("a cancelled trigger was delivered")
	}
	// Closed simulators keep serving but schedule nothing.
	h.start(nil)
	if len(h.sim.Webhooks()) != 0 {
		t.Fatal("trigger scheduled after Close")
	}
}

// waitDeliveries waits until the simulator has recorded n trigger posts: a
// receiver sees a payload before the simulator has read its answer.
func waitDeliveries(t *testing.T, sim *zenvia.Sim, n int) []zenvia.WebhookDelivery {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		ds := sim.Webhooks()
		if len(ds) >= n {
			return ds
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d deliveries recorded, want %d", len(ds), n)
		}
		time.Sleep(time.Millisecond)
	}
}

// historyServer serves one fixed answer and records the requests it gets.
type historyServer struct {
	mu      sync.Mutex
	status  int
	body    string
	methods []string
}

func (s *historyServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.methods = append(s.methods, r.Method)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(s.status)
	_, _ = w.Write([]byte(s.body))
}

func TestExternalHistory(t *testing.T) {
	documented := `{
  "messages":[
    {"time":"2019-03-14 00:00:01","direction":"CLIENT","content":"client message here"},
    {"time":"2019-03-14 00:00:10","direction":"AGENT","content":"agent answer here"}
  ]
}`
	msg := func(inner string) string { return `{"messages":[` + inner + `]}` }
	tests := []struct {
		name    string
		status  int
		body    string
		wantErr string // substring; "" for a valid document
		wantLen int
	}{
		{"documented example", 200, documented, "", 2},
		{"empty list", 200, `{"messages":[]}`, "", 0},
		{"non-200 status", 500, documented, "status 500", 0},
		{"not JSON", 200, `<html></html>`, "must be a JSON object", 0},
		{"top-level array", 200, `[]`, "must be a JSON object", 0},
		{"missing messages", 200, `{}`, "messages is required", 0},
		{"messages not an array", 200, `{"messages":{}}`, "messages must be an array", 0},
		{"unknown top-level key", 200, `{"messages":[],"next":null}`, `unknown key "next"`, 0},
		{"message not an object", 200, msg(`"hi"`), "messages[0] must be an object", 0},
		{"ISO time", 200, msg(`{"time":"2019-03-14T00:00:01","direction":"CLIENT","content":"x"}`), "messages[0].time", 0},
		{"one-digit hour", 200, msg(`{"time":"2019-03-14 0:00:01","direction":"CLIENT","content":"x"}`), "messages[0].time", 0},
		{"fractional seconds", 200, msg(`{"time":"2019-03-14 00:00:01.5","direction":"CLIENT","content":"x"}`), "messages[0].time", 0},
		{"impossible date", 200, msg(`{"time":"2019-02-30 00:00:01","direction":"CLIENT","content":"x"}`), "messages[0].time", 0},
		{"numeric time", 200, msg(`{"time":1552521601,"direction":"CLIENT","content":"x"}`), "messages[0].time", 0},
		{"lower-case direction", 200, msg(`{"time":"2019-03-14 00:00:01","direction":"client","content":"x"}`), "messages[0].direction", 0},
		{"bot direction", 200, msg(`{"time":"2019-03-14 00:00:01","direction":"BOT","content":"x"}`), "messages[0].direction", 0},
		{"numeric content", 200, msg(`{"time":"2019-03-14 00:00:01","direction":"AGENT","content":5}`), "messages[0].content", 0},
		{"missing content", 200, msg(`{"time":"2019-03-14 00:00:01","direction":"AGENT"}`), "messages[0].content is required", 0},
		{"missing time", 200, msg(`{"direction":"AGENT","content":"x"}`), "messages[0].time is required", 0},
		{"unknown message key", 200, msg(`{"time":"2019-03-14 00:00:01","direction":"AGENT","content":"x","agent":"Ana"}`), `unknown key "agent"`, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			hs := &historyServer{status: tc.status, body: tc.body}
			srv := httptest.NewServer(hs)
			defer srv.Close()
			h := newHarness(t, zenvia.Config{})
			status, out := h.call(http.MethodPost, startPath, map[string]any{
				"token": token, "department_id": 1, "external_history": srv.URL + "/history/42?sig=abc",
			})
			if status != 200 {
				t.Fatalf("start must succeed whatever the history: %d %v", status, out)
			}
			hash := out["data"].(map[string]any)["interaction_hash"].(string)
			// The history is fetched before the start is answered.
			body, err := h.sim.History(hash)
			if string(body) != tc.body {
				t.Fatalf("History bytes %q, want the exact bytes served %q", body, tc.body)
			}
			it, _ := h.sim.Interaction(hash)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("History error %v", err)
				}
				if len(it.History) != tc.wantLen {
					t.Fatalf("parsed %d messages, want %d", len(it.History), tc.wantLen)
				}
			} else {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("History error %v, want one containing %q", err, tc.wantErr)
				}
				if it.History != nil {
					t.Fatalf("invalid history parsed: %+v", it.History)
				}
			}
			hs.mu.Lock()
			defer hs.mu.Unlock()
			if !reflect.DeepEqual(hs.methods, []string{http.MethodGet}) {
				t.Fatalf("history requests %v, want one GET", hs.methods)
			}
			if h.sim.Stats().HistoryFetches != 1 {
				t.Fatalf("HistoryFetches %d", h.sim.Stats().HistoryFetches)
			}
		})
	}
}

func TestExternalHistoryParsedMessages(t *testing.T) {
	hs := &historyServer{status: 200, body: `{"messages":[{"time":"2019-03-14 00:00:01","direction":"CLIENT","content":"oi"}]}`}
	srv := httptest.NewServer(hs)
	defer srv.Close()
	h := newHarness(t, zenvia.Config{})
	_, out := h.call(http.MethodPost, startPath, map[string]any{"token": token, "department_id": 1, "external_history": srv.URL})
	hash := out["data"].(map[string]any)["interaction_hash"].(string)
	it, _ := h.sim.Interaction(hash)
	want := []zenvia.HistoryMessage{{Time: time.Date(2019, 3, 14, 0, 0, 1, 0, time.UTC), Direction: "CLIENT", Content: "oi"}}
	if !reflect.DeepEqual(it.History, want) || it.ExternalHistory != srv.URL {
		t.Fatalf("history %+v url %q", it.History, it.ExternalHistory)
	}
}

func TestHistoryErrors(t *testing.T) {
	h := newHarness(t, zenvia.Config{})
	hash := h.start(nil)
	if _, err := h.sim.History(hash); !errors.Is(err, zenvia.ErrNoHistory) {
		t.Fatalf("no history: %v", err)
	}
	if _, err := h.sim.History("nope"); !errors.Is(err, zenvia.ErrUnknownInteraction) {
		t.Fatalf("unknown hash: %v", err)
	}

	dead := httptest.NewServer(http.NotFoundHandler())
	url := dead.URL
	dead.Close()
	status, out := h.call(http.MethodPost, startPath, map[string]any{"token": token, "department_id": 1, "external_history": url})
	if status != 200 {
		t.Fatalf("start with unreachable history: %d %v", status, out)
	}
	body, err := h.sim.History(out["data"].(map[string]any)["interaction_hash"].(string))
	if err == nil || body != nil || !strings.Contains(err.Error(), "fetch external history") {
		t.Fatalf("unreachable history: %q %v", body, err)
	}
}

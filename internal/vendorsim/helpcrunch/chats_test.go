package helpcrunch_test

import (
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/helpcrunch"
)

func TestCreateChat(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	h.create(map[string]any{})
	res := h.do(http.MethodPost, "/chats", raw(`{"customer": 1, "application": 2, "assignee": "3"}`))
	// Chat timestamps are integers (unlike the customer's strings).
	wantJSON(t, res, http.StatusCreated, `{
		"id": 1, "status": "empty", "customer": `+nullCustomer(1)+`,
		"application": 2, "assignee": 3, "department": null,
		"createdAt": 1700000000, "lastMessageAt": null, "closedAt": null
	}`)
	c, ok := h.sim.Chat(1)
	if !ok || c.CustomerID != 1 || c.Status != "empty" || *c.Application != 2 || *c.Assignee != 3 ||
		c.Department != nil || !c.CreatedAt.Equal(startTime) || c.LastMessageAt != nil {
		t.Fatalf("inspected chat = %+v", c)
	}
	if res := h.do(http.MethodPost, "/chats", raw(`{"customer": "1"}`)); object(t, res)["id"] != jsonInt(2) {
		t.Fatalf("second chat: %s", res.body)
	}
}

func TestCreateChatErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		errs   [][2]string
	}{
		{"customer missing", `{"application": 1}`, 400, [][2]string{{"customer", "This value should not be blank."}}},
		{"customer not numeric", `{"customer": "abc"}`, 400, [][2]string{{"customer", "This value should be of type numeric."}}},
		{"references not numeric", `{"customer": 1, "assignee": "x", "department": true}`, 400,
			[][2]string{{"assignee", "This value should be of type numeric."}, {"department", "This value should be of type numeric."}}},
		{"unknown customer", `{"customer": 9}`, 404, [][2]string{{"entity_not_found", "Customer not found"}}},
		{"not an object", `[1]`, 400, [][2]string{{"body", "This value should be of type object."}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, helpcrunch.Config{})
			h.create(map[string]any{})
			wantErrors(t, h.do(http.MethodPost, "/chats", raw(tt.body)), tt.status, tt.errs...)
			if _, ok := h.sim.Chat(1); ok {
				t.Error("a refused chat was stored")
			}
		})
	}
}

func TestCreateMessage(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	h.create(map[string]any{})
	h.do(http.MethodPost, "/chats", raw(`{"customer": 1}`))
	tests := []struct {
		name string
		body string
		want string
	}{
		{"from the customer", `{"chat": 1, "text": "Hi", "type": "message"}`,
			`{"id":1,"chat":1,"type":"message","from":"customer","text":"Hi","markdownText":null,"agent":null,"createdAt":"1700000000.250000"}`},
		{"from an agent with markdown", `{"chat": "1", "text": "Hello", "markdownText": "**Hello**", "agent": 7, "type": "message"}`,
			`{"id":2,"chat":1,"type":"message","from":"agent","text":"Hello","markdownText":"**Hello**","agent":7,"createdAt":"1700000001.250000"}`},
		{"private note", `{"chat": 1, "text": "psst", "agent": 7, "type": "private", "agent_note": "ignored"}`,
			`{"id":3,"chat":1,"type":"private","from":"agent","text":"psst","markdownText":null,"agent":7,"createdAt":"1700000002.250000"}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Messages answer 200, not 201, and a fractional createdAt.
			wantJSON(t, h.do(http.MethodPost, "/messages", raw(tt.body)), http.StatusOK, tt.want)
			h.clock.Advance(time.Second)
		})
	}
	msgs := h.sim.Messages(1)
	if len(msgs) != 3 || msgs[0].From != "customer" || msgs[1].Agent == nil || *msgs[1].Agent != 7 ||
		*msgs[1].MarkdownText != "**Hello**" || msgs[2].Type != "private" {
		t.Fatalf("inspected messages = %+v", msgs)
	}
	if c, _ := h.sim.Chat(1); c.LastMessageAt == nil || !c.LastMessageAt.Equal(startTime.Add(2*time.Second)) {
		t.Fatalf("lastMessageAt = %v", c.LastMessageAt)
	}
	if h.sim.Messages(2) != nil {
		t.Error("messages of an unknown chat should be nil")
	}
}

func TestCreateMessageErrors(t *testing.T) {
	tests := []struct {
		name   string
		body   string
		status int
		errs   [][2]string
	}{
		{"chat missing", `{"text": "Hi", "type": "message"}`, 400, [][2]string{{"chat", "This value should not be blank."}}},
		{"chat not numeric", `{"chat": "one", "text": "Hi", "type": "message"}`, 400, [][2]string{{"chat", "This value should be of type numeric."}}},
		{"text missing", `{"chat": 1, "type": "message"}`, 400, [][2]string{{"text", "This value should not be blank."}}},
		{"text blank", `{"chat": 1, "text": "  ", "type": "message"}`, 400, [][2]string{{"text", "This value should not be blank."}}},
		{"text not a string", `{"chat": 1, "text": 5, "type": "message"}`, 400, [][2]string{{"text", "This value should be of type string."}}},
		{"text too long", `{"chat": 1, "text": "` + strings.Repeat("a", helpcrunch.MaxMessageLength+1) + `", "type": "message"}`, 400,
			[][2]string{{"text", fmt.Sprintf("This value is too long. It should have %d characters or less.", helpcrunch.MaxMessageLength)}}},
		{"type missing", `{"chat": 1, "text": "Hi"}`, 400, [][2]string{{"type", "This value should not be blank."}}},
		{"type unknown", `{"chat": 1, "text": "Hi", "type": "note"}`, 400, [][2]string{{"type", "The value you selected is not a valid choice."}}},
		{"private without agent", `{"chat": 1, "text": "Hi", "type": "private"}`, 400, [][2]string{{"agent", "This value should not be blank."}}},
		{"agent not numeric", `{"chat": 1, "text": "Hi", "type": "message", "agent": "bob"}`, 400, [][2]string{{"agent", "This value should be of type numeric."}}},
		{"markdown not a string", `{"chat": 1, "text": "Hi", "type": "message", "markdownText": 1}`, 400, [][2]string{{"markdownText", "This value should be of type string."}}},
		{"unknown chat", `{"chat": 2, "text": "Hi", "type": "message"}`, 404, [][2]string{{"chat_not_found", "Chat not found"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, helpcrunch.Config{})
			h.create(map[string]any{})
			h.do(http.MethodPost, "/chats", raw(`{"customer": 1}`))
			wantErrors(t, h.do(http.MethodPost, "/messages", raw(tt.body)), tt.status, tt.errs...)
			if n := len(h.sim.Messages(1)); n != 0 {
				t.Errorf("%d messages stored by a refused request", n)
			}
		})
	}
}

func TestListMessages(t *testing.T) {
	h := newHarness(t, helpcrunch.Config{})
	h.create(map[string]any{})
	h.do(http.MethodPost, "/chats", raw(`{"customer": 1}`))
	h.do(http.MethodPost, "/chats", raw(`{"customer": 1}`))
	for i := range 5 {
		h.do(http.MethodPost, "/messages", raw(fmt.Sprintf(`{"chat": 1, "text": "m%d", "type": "message"}`, i)))
	}
	h.do(http.MethodPost, "/messages", raw(`{"chat": 2, "text": "other", "type": "message"}`))

	tests := []struct {
		query string
		want  []int
	}{
		{"", []int{1, 2, 3, 4, 5}},
		{"?limit=2", []int{1, 2}},
		{"?offset=3", []int{4, 5}},
		{"?offset=1&limit=3", []int{2, 3, 4}},
		{"?offset=9", []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.query, func(t *testing.T) {
			got, total := ids(t, h.do(http.MethodGet, "/chats/1/messages"+tt.query, nil))
			if !reflect.DeepEqual(got, tt.want) || total != 5 {
				t.Fatalf("ids = %v total %d, want %v total 5", got, total, tt.want)
			}
		})
	}
	got, total := ids(t, h.do(http.MethodGet, "/chats/2/messages", nil))
	if !reflect.DeepEqual(got, []int{6}) || total != 1 {
		t.Fatalf("chat 2: ids = %v total %d", got, total)
	}
	wantErrors(t, h.do(http.MethodGet, "/chats/3/messages", nil), http.StatusNotFound, [2]string{"chat_not_found", "Chat not found"})
	wantErrors(t, h.do(http.MethodGet, "/chats/x/messages", nil), http.StatusNotFound, [2]string{"chat_not_found", "Chat not found"})
	wantErrors(t, h.do(http.MethodGet, "/chats/1/messages?limit=1000", nil), http.StatusBadRequest,
		[2]string{"limit", fmt.Sprintf("This value should be between 1 and %d.", helpcrunch.MaxPageLimit)})
}

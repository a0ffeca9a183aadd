package helpcrunch

import (
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// Chat is a snapshot of a stored chat, for test inspection.
type Chat struct {
	ID          int
	CustomerID  int
	Status      string
	Application *int
	Assignee    *int
	Department  *int
	CreatedAt   time.Time
	// LastMessageAt is nil until a message is posted.
	LastMessageAt *time.Time
}

// Message is a snapshot of a stored message, for test inspection.
type Message struct {
	ID     int
	ChatID int
	// Type is "message" or "private".
	Type string
	// From is "agent" when Agent is set and "customer" otherwise.
	From         string
	Text         string
	MarkdownText *string
	Agent        *int
	CreatedAt    time.Time
}

type chatRecord struct {
	Chat
	messages []Message
}

// Message types accepted by POST /messages.
const (
	messageTypeMessage = "message"
	messageTypePrivate = "private"
)

// parseOptionalID validates an optional numeric reference (agent,
// application, ...); absent and null both mean none.
func parseOptionalID(obj map[string]any, name string, errs *violations) *int {
	v, ok := obj[name]
	if !ok || v == nil {
		return nil
	}
	id, numeric := parseID(v)
	if !numeric {
		errs.add(name, msgTypeNumeric)
		return nil
	}
	return &id
}

// parseRequiredID validates a required numeric reference.
func parseRequiredID(obj map[string]any, name string, errs *violations) int {
	v, ok := obj[name]
	if !ok || v == nil {
		errs.add(name, msgNotBlank)
		return 0
	}
	id, numeric := parseID(v)
	if !numeric {
		errs.add(name, msgTypeNumeric)
	}
	return id
}

// Wire shapes of chats and messages. Timestamps deliberately differ from the
// customer's UNIX-second strings: the vendor answers timestamps in several
// forms and clients must cope with each.
type (
	wireChat struct {
		ID            int           `json:"id"`
		Status        string        `json:"status"`
		Customer      *wireCustomer `json:"customer"`
		Application   *int          `json:"application"`
		Assignee      *int          `json:"assignee"`
		Department    *int          `json:"department"`
		CreatedAt     int64         `json:"createdAt"`
		LastMessageAt *int64        `json:"lastMessageAt"`
		ClosedAt      *int64        `json:"closedAt"`
	}
	wireMessage struct {
		ID           int     `json:"id"`
		Chat         int     `json:"chat"`
		Type         string  `json:"type"`
		From         string  `json:"from"`
		Text         string  `json:"text"`
		MarkdownText *string `json:"markdownText"`
		Agent        *int    `json:"agent"`
		CreatedAt    string  `json:"createdAt"`
	}
)

// createChat serves POST /chats: {customer (required), application,
// assignee, department}; a new chat has status "empty".
func (s *Sim) createChat(w http.ResponseWriter, r *http.Request, _ string) {
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	var errs violations
	customerID := parseRequiredID(obj, "customer", &errs)
	application := parseOptionalID(obj, "application", &errs)
	assignee := parseOptionalID(obj, "assignee", &errs)
	department := parseOptionalID(obj, "department", &errs)
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	s.mu.Lock()
	cust, found := s.customers[customerID]
	if !found {
		s.mu.Unlock()
		writeErrors(w, http.StatusNotFound, apiError{Code: errEntityNotFound.Code, Message: "Customer not found"})
		return
	}
	now := s.now()
	c := &chatRecord{Chat: Chat{
		ID:          s.nextChatID,
		CustomerID:  customerID,
		Status:      "empty",
		Application: application,
		Assignee:    assignee,
		Department:  department,
		CreatedAt:   now,
	}}
	s.nextChatID++
	s.chats[c.ID] = c
	wc := s.render(cust)
	out := wireChat{
		ID:          c.ID,
		Status:      c.Status,
		Customer:    &wc,
		Application: application,
		Assignee:    assignee,
		Department:  department,
		CreatedAt:   now.Unix(),
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, out)
}

// createMessage serves POST /messages: {chat, text, markdownText?, agent?,
// type}. Without an agent the message is from the customer.
func (s *Sim) createMessage(w http.ResponseWriter, r *http.Request, _ string) {
	obj, ok := readObject(w, r)
	if !ok {
		return
	}
	var errs violations
	chatID := parseRequiredID(obj, "chat", &errs)
	var text string
	switch v := obj["text"].(type) {
	case nil:
		errs.add("text", msgNotBlank)
	case string:
		switch {
		case strings.TrimSpace(v) == "":
			errs.add("text", msgNotBlank)
		case utf8.RuneCountInString(v) > MaxMessageLength:
			errs.add("text", msgTooLong(MaxMessageLength))
		default:
			text = v
		}
	default:
		errs.add("text", msgTypeString)
	}
	var markdown *string
	if v, present := obj["markdownText"]; present && v != nil {
		if str, ok := parseString("markdownText", v, MaxMessageLength, &errs); ok {
			markdown = &str
		}
	}
	agent := parseOptionalID(obj, "agent", &errs)
	typ, _ := obj["type"].(string)
	switch {
	case obj["type"] == nil:
		errs.add("type", msgNotBlank)
	case typ != messageTypeMessage && typ != messageTypePrivate:
		errs.add("type", msgInvalidChoice)
	case typ == messageTypePrivate && agent == nil && obj["agent"] == nil:
		// A private note is only visible to agents and written by one.
		errs.add("agent", msgNotBlank)
	}
	if len(errs) > 0 {
		writeErrors(w, http.StatusBadRequest, errs...)
		return
	}
	s.mu.Lock()
	c, found := s.chats[chatID]
	if !found {
		s.mu.Unlock()
		writeErrors(w, http.StatusNotFound, errChatNotFound)
		return
	}
	now := s.now()
	m := Message{
		ID:           s.nextMessageID,
		ChatID:       chatID,
		Type:         typ,
		From:         "customer",
		Text:         text,
		MarkdownText: markdown,
		Agent:        agent,
		CreatedAt:    now,
	}
	if agent != nil {
		m.From = "agent"
	}
	s.nextMessageID++
	c.messages = append(c.messages, m)
	c.LastMessageAt = &now
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, renderMessage(m))
}

func renderMessage(m Message) wireMessage {
	return wireMessage{
		ID:           m.ID,
		Chat:         m.ChatID,
		Type:         m.Type,
		From:         m.From,
		Text:         m.Text,
		MarkdownText: m.MarkdownText,
		Agent:        m.Agent,
		CreatedAt:    formatFractional(m.CreatedAt),
	}
}

// listMessages serves GET /chats/{id}/messages?offset=&limit=, oldest first.
func (s *Sim) listMessages(w http.ResponseWriter, r *http.Request, arg string) {
	id, ok := pathID(arg)
	q := r.URL.Query()
	var errs violations
	pg := parsePage(func(name string) (any, bool) {
		if !q.Has(name) {
			return nil, false
		}
		return q.Get(name), true
	}, &errs)
	s.mu.Lock()
	c, found := s.chats[id]
	var body listBody[wireMessage]
	if found {
		from, to := pg.slice(len(c.messages))
		body.Total = len(c.messages)
		body.Data = make([]wireMessage, 0, to-from)
		for _, m := range c.messages[from:to] {
			body.Data = append(body.Data, renderMessage(m))
		}
	}
	s.mu.Unlock()
	switch {
	case !ok || !found:
		writeErrors(w, http.StatusNotFound, errChatNotFound)
	case len(errs) > 0:
		writeErrors(w, http.StatusBadRequest, errs...)
	default:
		writeJSON(w, http.StatusOK, body)
	}
}

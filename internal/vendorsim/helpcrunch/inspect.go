package helpcrunch

import (
	"slices"
	"time"
)

// Customer returns a snapshot of the customer with the given id.
func (s *Sim) Customer(id int) (Customer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rec, ok := s.customers[id]
	if !ok {
		return Customer{}, false
	}
	return s.snapshot(rec), true
}

// Customers returns snapshots of all stored customers ordered by id.
func (s *Sim) Customers() []Customer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Customer, 0, len(s.customers))
	for _, rec := range s.customers {
		out = append(out, s.snapshot(rec))
	}
	slices.SortFunc(out, func(a, b Customer) int { return a.ID - b.ID })
	return out
}

// CustomerCount returns the number of stored customers.
func (s *Sim) CustomerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.customers)
}

// Tags returns the account's tags in creation order with their colours.
func (s *Sim) Tags() []Tag {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Tag, 0, len(s.tagOrder))
	for _, name := range s.tagOrder {
		out = append(out, Tag{Name: name, Color: s.tagColors[name]})
	}
	return out
}

// Chat returns a snapshot of the chat with the given id.
func (s *Sim) Chat(id int) (Chat, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chats[id]
	if !ok {
		return Chat{}, false
	}
	out := c.Chat
	out.Application = clonePtr(c.Application)
	out.Assignee = clonePtr(c.Assignee)
	out.Department = clonePtr(c.Department)
	out.LastMessageAt = clonePtr(c.LastMessageAt)
	return out, true
}

// Messages returns snapshots of a chat's messages, oldest first; nil when
// the chat does not exist.
func (s *Sim) Messages(chatID int) []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.chats[chatID]
	if !ok {
		return nil
	}
	out := make([]Message, 0, len(c.messages))
	for _, m := range c.messages {
		m.MarkdownText = clonePtr(m.MarkdownText)
		m.Agent = clonePtr(m.Agent)
		out = append(out, m)
	}
	return out
}

func clonePtr[T int | string | time.Time](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

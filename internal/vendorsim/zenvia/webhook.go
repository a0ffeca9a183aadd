package zenvia

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"time"
)

// stateTrigger is the documented {interaction_hash, state, extra} payload;
// Position is sent only with the queued state.
type stateTrigger struct {
	InteractionHash string          `json:"interaction_hash"`
	State           string          `json:"state"`
	Position        *int            `json:"position,omitempty"`
	Extra           json.RawMessage `json:"extra"`
}

// messageTrigger is the documented agent-message payload.
type messageTrigger struct {
	InteractionHash string `json:"interaction_hash"`
	Message         struct {
		Hash    string `json:"hash"`
		Content string `json:"content"`
		Type    string `json:"type"`
		URL     string `json:"url"`
	} `json:"message"`
	Agent struct {
		ID   int    `json:"id"`
		Name string `json:"name"`
	} `json:"agent"`
	Extra json.RawMessage `json:"extra"`
}

// WebhookDelivery records one trigger post.
type WebhookDelivery struct {
	// Payload is the exact body posted.
	Payload json.RawMessage
	// StatusCode is the receiver's answer (0 when the post failed).
	StatusCode int
	// Err is the transport error, if any.
	Err error
}

// Webhooks returns every trigger post attempted so far, in completion order.
func (s *Sim) Webhooks() []WebhookDelivery {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]WebhookDelivery(nil), s.deliveries...)
}

// enqueueLocked schedules triggers for an interaction. Each batch runs in its
// own goroutine but waits for the previous batch of the same interaction, so
// a receiver sees queued before accepted and an answer before finished, while
// slow receivers never block the request path. s.mu must be held.
func (s *Sim) enqueueLocked(it *interaction, triggers ...any) {
	if s.webhookURL == "" || s.closed {
		return
	}
	payloads := make([][]byte, 0, len(triggers))
	for _, t := range triggers {
		b, err := encodeNoEscape(t)
		if err != nil {
			// The trigger types are plain structs: this cannot happen, and
			// a best-effort trigger is not worth failing the call for.
			continue
		}
		payloads = append(payloads, b)
	}
	prev := it.whTail
	done := make(chan struct{})
	it.whTail = done
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer close(done)
		if prev != nil {
			select {
			case <-prev:
			case <-s.ctx.Done():
				return
			}
		}
		for _, p := range payloads {
			if s.webhookDelay > 0 {
				t := time.NewTimer(s.webhookDelay)
				select {
				case <-t.C:
				case <-s.ctx.Done():
					t.Stop()
					return
				}
			}
			s.post(p)
		}
	}()
}

// post sends one trigger and records the outcome; failures are not retried
// because the vendor documents no retry policy.
func (s *Sim) post(payload []byte) {
	d := WebhookDelivery{Payload: payload}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, s.webhookURL, bytes.NewReader(payload))
	if err == nil {
		req.Header.Set("Content-Type", "application/json")
		var resp *http.Response
		resp, err = s.client.Do(req)
		if err == nil {
			_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			_ = resp.Body.Close()
			d.StatusCode = resp.StatusCode
		}
	}
	if err != nil {
		d.Err = fmt.Errorf("post trigger: %w", err)
	}
	s.mu.Lock()
	s.deliveries = append(s.deliveries, d)
	if d.Err == nil && d.StatusCode >= 200 && d.StatusCode < 300 {
		s.stats.WebhooksSent++
	} else {
		s.stats.WebhooksFailed++
	}
	s.mu.Unlock()
}

// encodeNoEscape marshals without HTML escaping, so that message content and
// echoed extra reach the receiver as they were written.
func encodeNoEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode trigger: %w", err)
	}
	return bytes.TrimRight(buf.Bytes(), "\n"), nil
}

// fetchHistory GETs an interaction's external_history and records the bytes,
// the parsed messages and any error.
func (s *Sim) fetchHistory(hash, link string) {
	s.mu.Lock()
	s.stats.HistoryFetches++
	s.mu.Unlock()

	body, msgs, err := s.getHistory(link)

	s.mu.Lock()
	defer s.mu.Unlock()
	it := s.interactions[hash]
	it.history = body
	it.historyErr = err
	it.data.History = msgs
}

// getHistory fetches and validates an external history document.
func (s *Sim) getHistory(link string) ([]byte, []HistoryMessage, error) {
	// The fetch is bounded even with a caller's client without timeout, so
	// that an unreachable URL cannot hang the start forever.
	ctx, cancel := context.WithTimeout(s.ctx, DefaultHTTPTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, link, nil)
	if err != nil {
		return nil, nil, fmt.Errorf("build external history request: %w", err)
	}
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, nil, fmt.Errorf("fetch external history: %w", err)
	}
	defer func() { _ = resp.Body.Close() }()
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxBodyBytes+1))
	if err != nil {
		return nil, nil, fmt.Errorf("read external history: %w", err)
	}
	if len(body) > maxBodyBytes {
		return nil, nil, fmt.Errorf("external history larger than %d bytes", maxBodyBytes)
	}
	if resp.StatusCode != http.StatusOK {
		return body, nil, fmt.Errorf("fetch external history: status %d", resp.StatusCode)
	}
	msgs, err := parseHistory(body)
	if err != nil {
		return body, nil, fmt.Errorf("invalid external history: %w", err)
	}
	return body, msgs, nil
}

// historyTime is the documented time format. time.Parse alone is too lenient
// for a witness (it takes one-digit hours and fractional seconds).
var historyTime = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}$`)

// parseHistory checks the documented shape strictly: an object with only
// "messages", an array of objects with exactly time, direction and content.
func parseHistory(body []byte) ([]HistoryMessage, error) {
	top, ok := asObject(body)
	if !ok {
		return nil, errors.New("document must be a JSON object")
	}
	var raw json.RawMessage
	for _, m := range top {
		if m.key != "messages" {
			return nil, fmt.Errorf("unknown key %q", m.key)
		}
		raw = m.value
	}
	if isNull(raw) {
		return nil, errors.New("messages is required")
	}
	var items []json.RawMessage
	if t := bytes.TrimSpace(raw); t[0] != '[' || json.Unmarshal(t, &items) != nil {
		return nil, errors.New("messages must be an array")
	}
	out := make([]HistoryMessage, 0, len(items))
	for i, item := range items {
		members, ok := asObject(item)
		if !ok {
			return nil, fmt.Errorf("messages[%d] must be an object", i)
		}
		var hm HistoryMessage
		seen := map[string]bool{}
		for _, m := range members {
			v, isStr := asString(m.value)
			switch m.key {
			case "time":
				if !isStr || !historyTime.MatchString(v) {
					return nil, fmt.Errorf("messages[%d].time must be a \"YYYY-MM-DD HH:MM:SS\" string", i)
				}
				t, err := time.Parse("2006-01-02 15:04:05", v)
				if err != nil {
					return nil, fmt.Errorf("messages[%d].time: %w", i, err)
				}
				hm.Time = t
			case "direction":
				if !isStr || (v != DirectionClient && v != DirectionAgent) {
					return nil, fmt.Errorf("messages[%d].direction must be CLIENT or AGENT", i)
				}
				hm.Direction = v
			case "content":
				if !isStr || v == "" {
					return nil, fmt.Errorf("messages[%d].content must be a non-empty string", i)
				}
				hm.Content = v
			default:
				return nil, fmt.Errorf("messages[%d]: unknown key %q", i, m.key)
			}
			seen[m.key] = true
		}
		for _, k := range []string{"time", "direction", "content"} {
			if !seen[k] {
				return nil, fmt.Errorf("messages[%d].%s is required", i, k)
			}
		}
		out = append(out, hm)
	}
	return out, nil
}

package helpcrunch

import (
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/mapping"
)

// StartInteraction implements crm.Interactor with POST /chats: a new chat
// for an existing HelpCrunch customer.
func (a *Adapter) StartInteraction(ctx context.Context, s crm.InteractionStart, historyURL string) (*crm.Interaction, error) {
	var errs []crm.FieldError
	if s.Customer.ID == "" {
		errs = append(errs, crm.FieldError{Field: "customer.id", Reason: "helpcrunch starts a chat for an existing customer: send its id"})
	}
	if len(s.History) > 0 || s.ExternalHistory != "" || historyURL != "" {
		errs = append(errs, crm.FieldError{Field: "history", Reason: "not supported by helpcrunch"})
	}
	if s.MediaType != "" && s.MediaType != "TEXT" {
		errs = append(errs, crm.FieldError{Field: "media_type", Reason: "helpcrunch chats are TEXT"})
	}
	if len(errs) > 0 {
		return nil, &crm.Error{Code: crm.EUnprocessable, Message: "the interaction cannot be started on helpcrunch as sent", Fields: errs, Vendor: crm.VendorHelpCrunch, Outcome: crm.OutcomeNotApplied}
	}
	customer, err := mapping.HelpCrunchID(s.Customer.ID)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"customer": customer}
	if s.DepartmentID != nil {
		body["department"] = *s.DepartmentID
	}
	var chat struct {
		ID json.Number `json:"id"`
	}
	var raw json.RawMessage
	if err := a.call(ctx, "POST /chats", http.MethodPost, "/chats", body, false, &raw); err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &chat); err != nil || chat.ID == "" {
		return nil, errors.Join(crm.Errorf(crm.EVendor, "helpcrunch answered a chat without an id"), err)
	}
	return &crm.Interaction{ID: chat.ID.String(), Vendor: crm.VendorHelpCrunch, Remote: raw}, nil
}

// SendMessage implements crm.Interactor with POST /messages; without an
// agent, HelpCrunch records the message as the customer's.
func (a *Adapter) SendMessage(ctx context.Context, id string, m crm.Message) (*crm.Interaction, error) {
	if m.Type != "" && m.Type != "text" {
		return nil, &crm.Error{Code: crm.EUnprocessable, Message: "helpcrunch messages are text", Vendor: crm.VendorHelpCrunch,
			Fields: []crm.FieldError{{Field: "type", Reason: "only text is supported by helpcrunch"}}, Outcome: crm.OutcomeNotApplied}
	}
	chat, err := strconv.ParseInt(id, 10, 64)
	if err != nil || chat <= 0 {
		return nil, crm.Invalid("helpcrunch chat ids are positive integers", crm.FieldError{Field: "id", Reason: "must be a positive integer"})
	}
	var raw json.RawMessage
	if err := a.call(ctx, "POST /messages", http.MethodPost, "/messages", map[string]any{"chat": chat, "text": m.Content, "type": "message"}, false, &raw); err != nil {
		return nil, err
	}
	return &crm.Interaction{ID: id, Vendor: crm.VendorHelpCrunch, Remote: raw}, nil
}

// UpdateInteraction implements crm.Interactor: not offered by HelpCrunch's API.
func (a *Adapter) UpdateInteraction(context.Context, string, crm.InteractionUpdate) (*crm.Interaction, error) {
	return nil, crm.Unsupported(crm.VendorHelpCrunch, crm.CapInteractionUpdate)
}

// SetTyping implements crm.Interactor: not offered by HelpCrunch's API.
func (a *Adapter) SetTyping(context.Context, string, bool) (*crm.Interaction, error) {
	return nil, crm.Unsupported(crm.VendorHelpCrunch, crm.CapInteractionTyping)
}

// FinishInteraction implements crm.Interactor. HelpCrunch documents no way
// to close a chat through its API, so the gateway refuses rather than fakes.
func (a *Adapter) FinishInteraction(context.Context, string) (*crm.Interaction, error) {
	return nil, crm.Unsupported(crm.VendorHelpCrunch, crm.CapInteractionFinish)
}

// errBadSignature is the one answer to a webhook that fails verification.
var errBadSignature = crm.Errorf(crm.EUnauthorized, "unauthorized")

// VerifyWebhook implements crm.WebhookReader: X-HelpCrunch-Signature is the
// hex HMAC-SHA1 of the raw body with the account's signing key.
func (a *Adapter) VerifyWebhook(header map[string][]string, body []byte) error {
	if a.webhookKey == "" {
		return errBadSignature
	}
	got, err := hex.DecodeString(http.Header(header).Get("X-HelpCrunch-Signature"))
	if err != nil {
		return errBadSignature
	}
	mac := hmac.New(sha1.New, []byte(a.webhookKey))
	mac.Write(body)
	if !hmac.Equal(got, mac.Sum(nil)) {
		return errBadSignature
	}
	return nil
}

// helpCrunchEvents maps HelpCrunch webhook events to event types.
var helpCrunchEvents = map[string]string{
	"chat.new": "interaction.started", "chat.status_updated": "interaction.status_changed",
	"chat.assigned": "interaction.assigned", "chat.closed": "interaction.finished", "chat.rated": "interaction.rated",
	"message.chat.customer": "interaction.message.created", "message.chat.agent": "interaction.message.created",
	"message.private": "interaction.note.created",
	"customer.new":    "customer.created", "customer.tags_changed": "customer.tags_changed", "customer.deleted": "customer.deleted",
}

// ReadWebhook implements crm.WebhookReader for HelpCrunch's envelope
// {event, eventData, attempts, lastAttemptAt, createdAt, id}.
func (a *Adapter) ReadWebhook(body []byte) ([]crm.InboundEvent, error) {
	var p struct {
		Event     string          `json:"event"`
		EventData json.RawMessage `json:"eventData"`
		CreatedAt json.RawMessage `json:"createdAt"`
		ID        json.RawMessage `json:"id"`
	}
	if err := json.Unmarshal(body, &p); err != nil || p.Event == "" {
		return nil, crm.Invalid("the webhook body is not a helpcrunch event", crm.FieldError{Field: "event", Reason: "is required"})
	}
	ev := crm.InboundEvent{VendorID: trimQuotes(p.ID), OccurredAt: unixTime(p.CreatedAt), InteractionID: chatID(p.EventData)}
	typ, known := helpCrunchEvents[p.Event]
	data := map[string]any{"vendor_type": p.Event, "payload": json.RawMessage(orNull(p.EventData))}
	switch {
	case known && typ == "interaction.message.created":
		ev.Type = typ
		data["direction"] = map[bool]string{true: crm.DirectionAgent, false: crm.DirectionClient}[p.Event == "message.chat.agent"]
	case known:
		ev.Type = typ
	default:
		ev.Type = "vendor.event"
	}
	ev.Data, _ = json.Marshal(data)
	return []crm.InboundEvent{ev}, nil
}

// chatID finds the chat a HelpCrunch event concerns: eventData.chat.id,
// eventData.chat (an id) or, for chat.* events, eventData.id.
func chatID(data json.RawMessage) string {
	var d struct {
		Chat json.RawMessage `json:"chat"`
		ID   json.RawMessage `json:"id"`
	}
	if json.Unmarshal(data, &d) != nil {
		return ""
	}
	var nested struct {
		ID json.RawMessage `json:"id"`
	}
	switch {
	case json.Unmarshal(d.Chat, &nested) == nil && len(nested.ID) > 0:
		return trimQuotes(nested.ID)
	case len(d.Chat) > 0 && d.Chat[0] != '{':
		return trimQuotes(d.Chat)
	}
	return ""
}

func trimQuotes(b json.RawMessage) string {
	var s string
	if json.Unmarshal(b, &s) == nil {
		return s
	}
	if string(b) == "null" {
		return ""
	}
	return string(b)
}

// unixTime reads HelpCrunch timestamps (UNIX seconds as a number or string).
// A time past year 9999 (milliseconds, garbage) cannot be written as JSON:
// the event would fail to publish, so it gets the time of receipt instead.
func unixTime(b json.RawMessage) time.Time {
	if f, err := strconv.ParseFloat(trimQuotes(b), 64); err == nil && f > 0 && f < maxUnixSeconds {
		return time.Unix(int64(f), 0).UTC()
	}
	return time.Now().UTC()
}

// maxUnixSeconds is 10000-01-01T00:00:00Z, the first time JSON cannot carry.
const maxUnixSeconds = 253402300800

func orNull(b json.RawMessage) json.RawMessage {
	if len(b) == 0 {
		return json.RawMessage("null")
	}
	return b
}

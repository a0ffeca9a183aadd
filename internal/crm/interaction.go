package crm

import (
	"context"
	"encoding/json"
	"time"
)

// Interaction capabilities.
const (
	CapInteractionStart   Capability = "interactions.start"
	CapInteractionUpdate  Capability = "interactions.update"
	CapInteractionMessage Capability = "interactions.message"
	CapInteractionTyping  Capability = "interactions.typing"
	CapInteractionFinish  Capability = "interactions.finish"
	CapWebhooks           Capability = "webhooks"
)

// Message directions in a conversation history.
const (
	DirectionClient = "CLIENT"
	DirectionAgent  = "AGENT"
)

// HistoryMessage is one message of a conversation that happened before the
// interaction started (e.g. with a bot), shown to the agent.
type HistoryMessage struct {
	Time      time.Time `json:"time"`
	Direction string    `json:"direction"` // CLIENT or AGENT
	Content   string    `json:"content"`
}

// InteractionCustomer identifies or describes the customer of an interaction.
type InteractionCustomer struct {
	ID       string `json:"id,omitempty"` // the vendor's customer id (HelpCrunch requires one)
	Name     string `json:"name,omitempty"`
	Email    string `json:"email,omitempty"`
	Phone    string `json:"phone,omitempty"`
	Document string `json:"document,omitempty"` // a national id such as a Brazilian CPF
}

// InteractionStart opens a conversation between a customer and the
// vendor's agents.
type InteractionStart struct {
	DepartmentID *int                `json:"department_id,omitempty"`
	MediaType    string              `json:"media_type,omitempty"` // TEXT, SMS, WHATSAPP
	Customer     InteractionCustomer `json:"customer"`
	// Extra is the caller's own data, returned on every event of the interaction.
	Extra   json.RawMessage  `json:"extra,omitempty"`
	History []HistoryMessage `json:"history,omitempty"`
	// ExternalHistory is the caller's own history URL, used instead of History.
	ExternalHistory string `json:"external_history,omitempty"`
}

// InteractionUpdate changes an open interaction; empty fields are unchanged.
type InteractionUpdate struct {
	Mood       string   `json:"mood,omitempty"` // POSITIVE or NEGATIVE
	TagIDs     []string `json:"tag_ids,omitempty"`
	CustomerID string   `json:"customer_id,omitempty"`
	Note       string   `json:"note,omitempty"`
}

// Message is a message the customer sends into an interaction.
type Message struct {
	Type    string `json:"type,omitempty"` // text (default), image, video, audio, file
	Content string `json:"content"`
	URL     string `json:"url,omitempty"` // the media, for types other than text
}

// Interaction is the gateway's view of an interaction after an operation.
type Interaction struct {
	ID         string `json:"id"`
	Connection string `json:"connection"`
	Vendor     string `json:"vendor"`
	// HistoryURL is the hosted history handed to the vendor, if any.
	HistoryURL string `json:"history_url,omitempty"`
	Remote     any    `json:"remote,omitempty"`
}

// Interactor is implemented by adapters whose vendor runs conversations.
// Operations the vendor lacks return Unsupported.
type Interactor interface {
	// StartInteraction opens the interaction; historyURL, when not empty,
	// is where the vendor can GET the conversation so far.
	StartInteraction(ctx context.Context, s InteractionStart, historyURL string) (*Interaction, error)
	UpdateInteraction(ctx context.Context, id string, u InteractionUpdate) (*Interaction, error)
	SendMessage(ctx context.Context, id string, m Message) (*Interaction, error)
	SetTyping(ctx context.Context, id string, typing bool) (*Interaction, error)
	FinishInteraction(ctx context.Context, id string) (*Interaction, error)
}

// InboundEvent is one event a vendor's webhook reported, normalized but not
// yet given its envelope (id, connection, vendor).
type InboundEvent struct {
	// VendorID identifies the event at the vendor when it says (HelpCrunch's
	// webhook id, a Zenvia message hash): redeliveries of it are dropped.
	VendorID      string
	Type          string
	InteractionID string
	OccurredAt    time.Time
	Data          json.RawMessage
	Extra         json.RawMessage
}

// WebhookReader is implemented by adapters that understand their vendor's
// webhooks (capability webhooks).
type WebhookReader interface {
	// VerifyWebhook checks a webhook's signature, for vendors that sign.
	VerifyWebhook(header map[string][]string, body []byte) error
	// ReadWebhook parses a webhook body into normalized events. Kinds it
	// does not know are kept as type "vendor.event" with the raw payload.
	ReadWebhook(body []byte) ([]InboundEvent, error)
}

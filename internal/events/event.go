package events

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/google/uuid"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// Event is the one envelope for every vendor. Its JSON form is what List and Tail return and what
// a subscription receives as the webhook body.
type Event struct {
	ID            string          `json:"id"`   // unique; also the dedup key and the webhook-id header
	Type          string          `json:"type"` // e.g. interaction.accepted, interaction.message.created, job.completed
	OccurredAt    time.Time       `json:"occurred_at"`
	Connection    string          `json:"connection"`
	Vendor        string          `json:"vendor"`
	InteractionID string          `json:"interaction_id,omitempty"`
	Data          json.RawMessage `json:"data"`
	Extra         json.RawMessage `json:"extra,omitempty"` // the caller's `extra` from the interaction start
}

// maxIDLen bounds event ids: they become Redis key names and the webhook-id header.
const maxIDLen = 256

// ErrNotFound is returned (wrapped or as is) by [Bus.Get], [Bus.Redeliver] and [Bus.Deliveries]
// for an event that was never published or is past its retention. It is a *crm.Error with code
// crm.ENotFound, so the HTTP layer answers 404 without knowing this package.
var ErrNotFound = &crm.Error{Code: crm.ENotFound, Message: "event not found"}

// NewID returns a new event id, "evt_" and a UUIDv7 (time-ordered), for publishers that have no
// natural id. Publishers that do (an inbound vendor webhook's own id) should derive the id from
// it instead, so a vendor retrying its webhook publishes nothing twice.
func NewID() string { return "evt_" + uuid.Must(uuid.NewV7()).String() }

// prepare validates e, fills its defaults and returns the JSON body stored and delivered.
func prepare(e *Event, now time.Time) ([]byte, error) {
	var bad []crm.FieldError
	switch {
	case e.ID == "":
		bad = append(bad, crm.FieldError{Field: "id", Reason: "is required"})
	case len(e.ID) > maxIDLen:
		bad = append(bad, crm.FieldError{Field: "id", Reason: fmt.Sprintf("is longer than %d bytes", maxIDLen)})
	case !printable(e.ID):
		bad = append(bad, crm.FieldError{Field: "id", Reason: "must not contain control characters"})
	}
	if e.Type == "" {
		bad = append(bad, crm.FieldError{Field: "type", Reason: "is required"})
	} else if !printable(e.Type) || strings.Contains(e.Type, "*") {
		bad = append(bad, crm.FieldError{Field: "type", Reason: "must not contain control characters or '*'"})
	}
	if len(bad) > 0 {
		return nil, crm.Invalid("the event is not valid", bad...)
	}
	if e.OccurredAt.IsZero() {
		e.OccurredAt = now
	}
	e.OccurredAt = e.OccurredAt.UTC()
	if len(e.Data) == 0 {
		e.Data = json.RawMessage(`{}`)
	}
	raw, err := json.Marshal(e)
	if err != nil {
		return nil, crm.Invalid("the event is not valid", crm.FieldError{Field: "data", Reason: "is not valid JSON: " + err.Error()})
	}
	return raw, nil
}

// printable reports whether s has no control characters (they are not allowed in HTTP headers).
func printable(s string) bool {
	return strings.IndexFunc(s, unicode.IsControl) < 0
}

// matches reports whether an event of type typ goes to a subscription with these patterns: an
// empty list matches everything, a pattern ending in "*" matches by prefix, any other exactly.
func matches(patterns []string, typ string) bool {
	if len(patterns) == 0 {
		return true
	}
	for _, p := range patterns {
		if prefix, ok := strings.CutSuffix(p, "*"); ok {
			if strings.HasPrefix(typ, prefix) {
				return true
			}
		} else if p == typ {
			return true
		}
	}
	return false
}

// Package interactions runs conversations through a connection: it hosts
// the conversation history a vendor fetches when an interaction starts
// (Zenvia's external_history), remembers the caller's `extra` for vendors
// that do not echo it, and turns vendor webhooks into normalized events.
package interactions

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/events"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
)

// HistoryPath is where hosted histories are served: HistoryPath + token.
const HistoryPath = "/v1/history/"

// Publisher is the part of the event bus the service needs.
type Publisher interface {
	Publish(ctx context.Context, e events.Event) (bool, error)
}

// Service starts interactions and reads webhooks.
type Service struct {
	Store      Store
	Events     Publisher
	HistoryTTL time.Duration
	Logger     *zap.Logger
}

// Start opens an interaction. When s carries history messages (and no
// external_history of the caller's), they are hosted under an unguessable
// URL on baseURL that the vendor can GET for HistoryTTL.
func (svc *Service) Start(ctx context.Context, conn *gateway.Connection, s crm.InteractionStart, baseURL string) (*crm.Interaction, error) {
	if len(s.History) > 0 && s.ExternalHistory != "" {
		return nil, crm.Invalid("send history or external_history, not both",
			crm.FieldError{Field: "external_history", Reason: "cannot be combined with history"})
	}
	historyURL := s.ExternalHistory
	if err := conn.Require(crm.CapInteractionStart); err != nil {
		return nil, err // before hosting anything
	}
	if len(s.History) > 0 {
		token, err := svc.hostHistory(ctx, s.History)
		if err != nil {
			return nil, err
		}
		historyURL = baseURL + HistoryPath + token
	}
	ix, err := conn.StartInteraction(ctx, s, historyURL)
	if err != nil {
		return nil, err
	}
	if len(s.Extra) > 0 {
		if err := svc.Store.Put(ctx, extraKey(conn.Name, ix.ID), s.Extra, svc.HistoryTTL); err != nil {
			// The interaction exists at the vendor: report it, just without extra on later events.
			svc.Logger.Warn("extra of a started interaction not kept", zap.String("connection", conn.Name), zap.Error(err))
		}
	}
	if len(s.History) > 0 && ix.HistoryURL == "" {
		ix.HistoryURL = historyURL
	}
	return ix, nil
}

// History returns a hosted history document, exactly as it was rendered.
func (svc *Service) History(ctx context.Context, token string) ([]byte, bool, error) {
	return svc.Store.Get(ctx, "history:"+token)
}

func (svc *Service) hostHistory(ctx context.Context, msgs []crm.HistoryMessage) (string, error) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("history token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(b[:])
	if err := svc.Store.Put(ctx, "history:"+token, RenderHistory(msgs), svc.HistoryTTL); err != nil {
		return "", &crm.Error{Code: crm.EUnavailable, Message: "the conversation history could not be stored; nothing was sent", Err: err, Outcome: crm.OutcomeNotApplied}
	}
	return token, nil
}

// RenderHistory renders messages in the shape Zenvia's external_history
// expects: {"messages":[{"time":"2019-03-14 00:00:01","direction":"CLIENT","content":"..."}]},
// times in UTC.
func RenderHistory(msgs []crm.HistoryMessage) []byte {
	type message struct {
		Time      string `json:"time"`
		Direction string `json:"direction"`
		Content   string `json:"content"`
	}
	doc := struct {
		Messages []message `json:"messages"`
	}{Messages: make([]message, len(msgs))}
	for i, m := range msgs {
		doc.Messages[i] = message{Time: m.Time.UTC().Format(time.DateTime), Direction: m.Direction, Content: m.Content}
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(doc)
	return bytes.TrimRight(buf.Bytes(), "\n")
}

// Webhook reads one vendor webhook and publishes its events. It answers how
// many were new (a vendor's redelivery of an event is dropped).
func (svc *Service) Webhook(ctx context.Context, conn *gateway.Connection, header map[string][]string, body []byte) (published int, err error) {
	reader, ok := conn.Connector.(crm.WebhookReader)
	if !ok || !conn.Supports(crm.CapWebhooks) {
		return 0, crm.Unsupported(conn.Vendor(), crm.CapWebhooks)
	}
	if err := reader.VerifyWebhook(header, body); err != nil {
		return 0, err
	}
	inbound, err := reader.ReadWebhook(body)
	if err != nil {
		return 0, err
	}
	for _, in := range inbound {
		e := events.Event{
			ID: eventID(conn.Name, in.VendorID), Type: in.Type, OccurredAt: in.OccurredAt, Connection: conn.Name,
			Vendor: conn.Vendor(), InteractionID: in.InteractionID, Data: in.Data, Extra: in.Extra,
		}
		if len(e.Extra) == 0 && e.InteractionID != "" {
			if extra, ok, err := svc.Store.Get(ctx, extraKey(conn.Name, e.InteractionID)); err == nil && ok {
				e.Extra = extra
			}
		}
		isNew, err := svc.Events.Publish(ctx, e)
		switch {
		case crm.ErrorCode(err) == crm.EInvalid:
			return published, err // a retry would fail the same way
		case err != nil:
			return published, &crm.Error{Code: crm.EUnavailable, Message: "the event could not be stored; retry the webhook", Err: err}
		}
		if isNew {
			published++
		}
	}
	return published, nil
}

// eventID derives the id of a vendor event the vendor identifies, so a
// redelivery maps to the same id and is dropped; other events get a fresh id.
func eventID(conn, vendorID string) string {
	if vendorID != "" {
		h := sha256.Sum256([]byte(conn + "\x00" + vendorID))
		return "evt_" + hex.EncodeToString(h[:12])
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "evt_" + hex.EncodeToString(b[:])
}

func extraKey(conn, id string) string { return "extra:" + conn + ":" + id }

package zenvia

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
)

// interactionsPath is Zenvia's ClientApi V1 (https://zchat.zenvia.io/core/api/v1).
const interactionsPath = "/core/api/v1/interactions"

// StartInteraction implements crm.Interactor with POST /interactions.
func (a *Adapter) StartInteraction(ctx context.Context, s crm.InteractionStart, historyURL string) (*crm.Interaction, error) {
	var errs []crm.FieldError
	if s.DepartmentID == nil {
		errs = append(errs, crm.FieldError{Field: "department_id", Reason: "required by zenvia"})
	}
	if s.Customer.ID != "" {
		errs = append(errs, crm.FieldError{Field: "customer.id", Reason: "zenvia starts with the customer's name, email, phone or document; link a customer_key afterwards with an update"})
	}
	if len(errs) > 0 {
		return nil, &crm.Error{Code: crm.EUnprocessable, Message: "the interaction cannot be started on zenvia as sent", Fields: errs, Vendor: crm.VendorZenvia, Outcome: crm.OutcomeNotApplied}
	}
	body := map[string]any{"token": a.token, "department_id": *s.DepartmentID}
	if s.MediaType != "" {
		body["media_type"] = s.MediaType
	}
	customer := map[string]string{}
	for k, v := range map[string]string{"name": s.Customer.Name, "email": s.Customer.Email, "phone": s.Customer.Phone, "cpf": s.Customer.Document} {
		if v != "" {
			customer[k] = v
		}
	}
	if len(customer) > 0 {
		body["customer"] = customer
	}
	if len(s.Extra) > 0 {
		body["extra"] = s.Extra
	}
	if historyURL != "" {
		body["external_history"] = historyURL
	}
	var ans struct {
		Data struct {
			InteractionHash string `json:"interaction_hash"`
		} `json:"data"`
	}
	raw, err := a.interact(ctx, "POST /interactions", http.MethodPost, interactionsPath, body, &ans)
	if err != nil {
		return nil, err
	}
	if ans.Data.InteractionHash == "" {
		return nil, vendorhttp.Unreadable(crm.VendorZenvia, http.StatusOK, fmt.Errorf("no interaction_hash in the answer"))
	}
	return &crm.Interaction{ID: ans.Data.InteractionHash, Vendor: crm.VendorZenvia, Remote: raw}, nil
}

// UpdateInteraction implements crm.Interactor with PUT /interactions/{hash}.
func (a *Adapter) UpdateInteraction(ctx context.Context, id string, u crm.InteractionUpdate) (*crm.Interaction, error) {
	body := map[string]any{"token": a.token}
	if u.Mood != "" {
		body["mood"] = u.Mood
	}
	if u.TagIDs != nil {
		body["tag_ids"] = u.TagIDs
	}
	if u.CustomerID != "" {
		body["customer_key"] = u.CustomerID
	}
	if u.Note != "" {
		body["note"] = u.Note
	}
	return a.ack(ctx, id, "PUT /interactions/{hash}", http.MethodPut, "", body)
}

// SendMessage implements crm.Interactor with POST /interactions/{hash}/messages.
func (a *Adapter) SendMessage(ctx context.Context, id string, m crm.Message) (*crm.Interaction, error) {
	body := map[string]any{"token": a.token, "content": m.Content}
	if m.Type != "" {
		body["type"] = m.Type
	}
	if m.URL != "" {
		body["url"] = m.URL
	}
	return a.ack(ctx, id, "POST /interactions/{hash}/messages", http.MethodPost, "/messages", body)
}

// SetTyping implements crm.Interactor with PUT .../typing or .../cleared.
func (a *Adapter) SetTyping(ctx context.Context, id string, typing bool) (*crm.Interaction, error) {
	if typing {
		return a.ack(ctx, id, "PUT /interactions/{hash}/typing", http.MethodPut, "/typing", map[string]any{"token": a.token})
	}
	return a.ack(ctx, id, "PUT /interactions/{hash}/cleared", http.MethodPut, "/cleared", map[string]any{"token": a.token})
}

// FinishInteraction implements crm.Interactor with PUT .../finish.
func (a *Adapter) FinishInteraction(ctx context.Context, id string) (*crm.Interaction, error) {
	return a.ack(ctx, id, "PUT /interactions/{hash}/finish", http.MethodPut, "/finish", map[string]any{"token": a.token})
}

func (a *Adapter) ack(ctx context.Context, id, op, method, suffix string, body map[string]any) (*crm.Interaction, error) {
	raw, err := a.interact(ctx, op, method, interactionsPath+"/"+url.PathEscape(id)+suffix, body, nil)
	if err != nil {
		return nil, err
	}
	return &crm.Interaction{ID: id, Vendor: crm.VendorZenvia, Remote: raw}, nil
}

// interact sends one ClientApi call. Zenvia answers {"message","status"}
// (with data on start and messages) and errors {"message","status":422}.
func (a *Adapter) interact(ctx context.Context, op, method, path string, in map[string]any, out any) (json.RawMessage, error) {
	body, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("encode zenvia request: %w", err)
	}
	// Typing and cleared are idempotent; the others would repeat a message or an interaction.
	idempotent := method == http.MethodPut
	resp, err := a.client.Do(ctx, vendorhttp.Request{Op: op, Method: method, Path: path, Body: body, Idempotent: idempotent})
	if err != nil {
		addRemote(err, resp)
		return nil, err
	}
	if resp.Status < 200 || resp.Status > 299 {
		return nil, vendorhttp.Refused(crm.VendorZenvia, remoteError(resp))
	}
	if out != nil {
		if err := json.Unmarshal(resp.Body, out); err != nil {
			return nil, vendorhttp.Unreadable(crm.VendorZenvia, resp.Status, err)
		}
	}
	return json.RawMessage(resp.Body), nil
}

// zenviaStates maps the `state` of Zenvia's triggers to event types.
var zenviaStates = map[string]string{
	"queued": "interaction.queued", "accepted": "interaction.accepted", "unavailable": "interaction.unavailable",
	"finished": "interaction.finished", "typing": "interaction.typing", "cleared": "interaction.typing_stopped",
}

// VerifyWebhook implements crm.WebhookReader. Zenvia signs nothing; its
// webhook URL carries the connection's secret instead.
func (a *Adapter) VerifyWebhook(map[string][]string, []byte) error { return nil }

// ReadWebhook implements crm.WebhookReader for Zenvia's triggers: state
// changes {interaction_hash, state, position?, extra} and agent messages
// {interaction_hash, message{hash,content,type,url}, agent{id,name}, extra}.
func (a *Adapter) ReadWebhook(body []byte) ([]crm.InboundEvent, error) {
	var p struct {
		InteractionHash string          `json:"interaction_hash"`
		State           string          `json:"state"`
		Position        *int            `json:"position"`
		Extra           json.RawMessage `json:"extra"`
		Message         *struct {
			Hash    string `json:"hash"`
			Content string `json:"content"`
			Type    string `json:"type"`
			URL     string `json:"url"`
		} `json:"message"`
		Agent *struct {
			ID   json.Number `json:"id"`
			Name string      `json:"name"`
		} `json:"agent"`
	}
	if err := json.Unmarshal(body, &p); err != nil {
		return nil, crm.Invalid("the webhook body is not a zenvia trigger", crm.FieldError{Field: "body", Reason: "is not valid JSON of the documented shape"})
	}
	if p.InteractionHash == "" {
		return nil, crm.Invalid("the webhook body is not a zenvia trigger", crm.FieldError{Field: "interaction_hash", Reason: "is required"})
	}
	ev := crm.InboundEvent{InteractionID: p.InteractionHash, OccurredAt: time.Now().UTC(), Extra: p.Extra}
	typ, known := zenviaStates[p.State]
	switch {
	case p.Message != nil:
		ev.Type, ev.VendorID = "interaction.message.created", p.Message.Hash
		data := map[string]any{"direction": crm.DirectionAgent, "message": map[string]string{
			"id": p.Message.Hash, "type": p.Message.Type, "content": p.Message.Content, "url": p.Message.URL}}
		if p.Agent != nil {
			data["agent"] = map[string]string{"id": p.Agent.ID.String(), "name": p.Agent.Name}
		}
		ev.Data, _ = json.Marshal(data)
	case known:
		ev.Type = typ
		data := map[string]any{"state": p.State}
		if p.Position != nil {
			data["position"] = *p.Position
		}
		ev.Data, _ = json.Marshal(data)
	default: // a kind this gateway does not know yet: kept, not dropped
		ev.Type = "vendor.event"
		ev.Data, _ = json.Marshal(map[string]any{"vendor_type": p.State, "payload": json.RawMessage(body)})
	}
	return []crm.InboundEvent{ev}, nil
}

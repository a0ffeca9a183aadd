package zenvia

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/google/uuid"
)

// Interaction states, as named by the vendor's triggers.
const (
	// StateQueued is the state of a new interaction waiting for an agent.
	StateQueued = "queued"
	// StateAccepted is the state once an agent has taken the interaction.
	StateAccepted = "accepted"
	// StateUnavailable is the state when the account has no agent to take it.
	StateUnavailable = "unavailable"
	// StateFinished is the state after a finish; no operation is allowed then.
	StateFinished = "finished"
)

// Message directions, as named by the vendor's external history.
const (
	// DirectionClient marks a message sent by the client through the API.
	DirectionClient = "CLIENT"
	// DirectionAgent marks a message sent by an agent.
	DirectionAgent = "AGENT"
)

// Errors returned by History.
var (
	// ErrUnknownInteraction is returned for a hash the simulator never issued.
	ErrUnknownInteraction = errors.New("zenvia sim: unknown interaction")
	// ErrNoHistory is returned for an interaction started without
	// external_history.
	ErrNoHistory = errors.New("zenvia sim: interaction has no external history")
)

// Message is one message of an interaction.
type Message struct {
	// Hash identifies the message (a UUID).
	Hash string
	// Direction is DirectionClient or DirectionAgent.
	Direction string
	// Content is the message text (a caption for media).
	Content string
	// Type is text, image, video, audio or file.
	Type string
	// URL is the media URL ("" for text unless the caller sent one).
	URL string
	// AgentID is the answering agent, 0 for client messages.
	AgentID int
	// Time is when the simulator recorded the message.
	Time time.Time
}

// HistoryMessage is one entry of a fetched external history.
type HistoryMessage struct {
	// Time is the parsed "YYYY-MM-DD HH:MM:SS" time (UTC, since the vendor
	// format carries no zone).
	Time time.Time
	// Direction is DirectionClient or DirectionAgent.
	Direction string
	// Content is the message text.
	Content string
}

// Interaction is a snapshot of one interaction, as returned by Interaction.
type Interaction struct {
	// Hash is the interaction_hash (a UUID).
	Hash string
	// State is the current state (StateAccepted, StateUnavailable or
	// StateFinished; StateQueued is passed through at once).
	State string
	// States lists every state in order, starting with StateQueued.
	States []string
	// DepartmentID is the department the interaction was started on.
	DepartmentID int
	// MediaType is TEXT, SMS or WHATSAPP.
	MediaType string
	// Customer holds the customer attributes sent on start.
	Customer map[string]string
	// Extra is the start's extra object, echoed on every trigger ({} when
	// none was sent).
	Extra json.RawMessage
	// ExternalHistory is the URL sent on start, if any.
	ExternalHistory string
	// History is the parsed external history when it was fetched and valid.
	History []HistoryMessage
	// Mood is POSITIVE, NEGATIVE or "" when never set.
	Mood string
	// TagIDs is the last tag_ids sent (an update replaces the list).
	TagIDs []string
	// CustomerKey is the last customer_key sent.
	CustomerKey string
	// Note is the last note sent.
	Note string
	// Typing tells whether the client is typing (typing sets, cleared and
	// finish reset).
	Typing bool
	// Messages lists client messages and agent answers in order.
	Messages []Message
	// Started is when the interaction was created.
	Started time.Time
	// Finished is when it was finished (zero while open).
	Finished time.Time
}

// interaction is the stored form of an Interaction.
type interaction struct {
	data Interaction
	// history and historyErr record the external_history fetch.
	history    []byte
	historyErr error
	// whTail is closed when the last trigger scheduled for this interaction
	// has been delivered, so triggers of one interaction keep their order.
	whTail chan struct{}
}

// public returns a deep copy safe to hand out of the lock.
func (it *interaction) public() Interaction {
	d := it.data
	d.States = append([]string(nil), d.States...)
	d.History = append([]HistoryMessage(nil), d.History...)
	d.TagIDs = append([]string(nil), d.TagIDs...)
	d.Messages = append([]Message(nil), d.Messages...)
	d.Extra = append(json.RawMessage(nil), d.Extra...)
	if d.Customer != nil {
		c := make(map[string]string, len(d.Customer))
		for k, v := range d.Customer {
			c[k] = v
		}
		d.Customer = c
	}
	return d
}

// Interaction returns a snapshot of the interaction with the given hash.
func (s *Sim) Interaction(hash string) (Interaction, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.interactions[hash]
	if !ok {
		return Interaction{}, false
	}
	return it.public(), true
}

// InteractionCount returns the number of interactions started.
func (s *Sim) InteractionCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.interactions)
}

// History returns the exact bytes fetched from the interaction's
// external_history URL, with the fetch or validation error if any (the bytes
// are still returned when the document was fetched but is invalid).
func (s *Sim) History(hash string) ([]byte, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	it, ok := s.interactions[hash]
	if !ok {
		return nil, fmt.Errorf("interaction %s: %w", hash, ErrUnknownInteraction)
	}
	if it.data.ExternalHistory == "" {
		return nil, fmt.Errorf("interaction %s: %w", hash, ErrNoHistory)
	}
	return append([]byte(nil), it.history...), it.historyErr
}

// startedBody is the documented success answer of a start (no status member).
type startedBody struct {
	Message string `json:"message"`
	Data    struct {
		InteractionHash string `json:"interaction_hash"`
	} `json:"data"`
}

// okBody is the documented success answer of the other interaction calls.
type okBody struct {
	Data *struct {
		InteractionHash string `json:"interaction_hash"`
	} `json:"data,omitempty"`
	Message string `json:"message"`
	Status  int    `json:"status"`
}

// validMediaTypes and validMessageTypes are the documented enumerations.
var (
	validMediaTypes   = map[string]bool{"TEXT": true, "SMS": true, "WHATSAPP": true}
	validMessageTypes = map[string]bool{"text": true, "image": true, "video": true, "audio": true, "file": true}
	customerAttrs     = map[string]bool{"phone": true, "cpf": true, "name": true, "email": true}
)

// httpURL reports whether v is an absolute http(s) URL.
func httpURL(v string) bool {
	u, err := url.Parse(v)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// handleStart serves POST /core/api/v1/interactions.
func (s *Sim) handleStart(w http.ResponseWriter, r *http.Request, _ string) {
	body, ok := s.authBody(w, r)
	if !ok {
		return
	}
	it, msg := s.parseStart(body)
	if msg != "" {
		s.writeError(w, http.StatusUnprocessableEntity, msg)
		return
	}

	s.mu.Lock()
	it.data.Hash = uuid.NewString()
	it.data.Started = s.now()
	// The simulated queue is always empty: the interaction is queued at
	// position 1 and immediately taken by an agent, if the account has one.
	next := StateAccepted
	if len(s.agents) == 0 {
		next = StateUnavailable
	}
	it.data.States = []string{StateQueued, next}
	it.data.State = next
	s.interactions[it.data.Hash] = it
	hash, history, extra := it.data.Hash, it.data.ExternalHistory, it.data.Extra
	s.mu.Unlock()

	// The history is fetched before the triggers are scheduled and before
	// the answer, so that the caller's endpoint is hit while it still waits
	// for the start, as tests expect.
	if history != "" {
		s.fetchHistory(hash, history)
	}

	one := 1
	s.mu.Lock()
	s.enqueueLocked(it,
		stateTrigger{InteractionHash: hash, State: StateQueued, Position: &one, Extra: extra},
		stateTrigger{InteractionHash: hash, State: next, Extra: extra},
	)
	s.mu.Unlock()

	var out startedBody
	out.Message = "Interaction created successfully"
	out.Data.InteractionHash = hash
	s.writeJSON(w, http.StatusOK, out)
}

// parseStart validates a start body, returning the new interaction or the
// first problem found.
func (s *Sim) parseStart(body map[string]json.RawMessage) (*interaction, string) {
	if k := unknownParam(body, "token", "media_type", "department_id", "customer", "extra", "external_history"); k != "" {
		return nil, k + ": unknown parameter"
	}
	it := &interaction{data: Interaction{MediaType: "TEXT", Extra: json.RawMessage("{}")}}

	raw := body["department_id"]
	if isNull(raw) {
		return nil, "department_id: is required"
	}
	dep, isInt := asInt(raw)
	if !isInt {
		return nil, "department_id: must be an integer"
	}
	if !s.departments[dep] {
		return nil, fmt.Sprintf("department_id: %d is not an active department", dep)
	}
	it.data.DepartmentID = dep

	if raw := body["media_type"]; !isNull(raw) {
		v, isStr := asString(raw)
		if !isStr || !validMediaTypes[v] {
			return nil, "media_type: must be one of TEXT, SMS, WHATSAPP"
		}
		it.data.MediaType = v
	}

	if raw := body["customer"]; !isNull(raw) {
		members, isObj := asObject(raw)
		if !isObj {
			return nil, "customer: must be an object"
		}
		it.data.Customer = map[string]string{}
		for _, m := range members {
			if !customerAttrs[m.key] {
				return nil, fmt.Sprintf("customer.%s: unknown attribute", m.key)
			}
			if isNull(m.value) {
				continue
			}
			v, isStr := asString(m.value)
			if !isStr {
				return nil, fmt.Sprintf("customer.%s: must be a string", m.key)
			}
			it.data.Customer[m.key] = v
		}
	}

	if raw := body["extra"]; !isNull(raw) {
		if _, isObj := asObject(raw); !isObj {
			return nil, "extra: must be an object"
		}
		it.data.Extra = append(json.RawMessage(nil), raw...)
	}

	if raw := body["external_history"]; !isNull(raw) {
		v, isStr := asString(raw)
		if !isStr || !httpURL(v) {
			return nil, "external_history: must be an http(s) URL"
		}
		it.data.ExternalHistory = v
	}
	return it, ""
}

// interactionOp runs the checks every call on an existing interaction shares
// (token, known hash, not finished, known parameters), then apply under the
// lock. apply returns the success message or a 422 problem; it must validate
// everything before changing anything, so that a refused call has no effect.
func (s *Sim) interactionOp(w http.ResponseWriter, r *http.Request, hash string, params []string,
	apply func(it *interaction, body map[string]json.RawMessage, now time.Time) (okMsg, problem string),
) {
	body, ok := s.authBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	it, found := s.interactions[hash]
	if !found {
		s.mu.Unlock()
		s.writeError(w, http.StatusNotFound, "Interaction not found")
		return
	}
	if it.data.State == StateFinished {
		s.mu.Unlock()
		s.writeError(w, http.StatusUnprocessableEntity, "Interaction already finished")
		return
	}
	if k := unknownParam(body, append([]string{"token"}, params...)...); k != "" {
		s.mu.Unlock()
		s.writeError(w, http.StatusUnprocessableEntity, k+": unknown parameter")
		return
	}
	okMsg, problem := apply(it, body, s.now())
	s.mu.Unlock()
	if problem != "" {
		s.writeError(w, http.StatusUnprocessableEntity, problem)
		return
	}
	out := okBody{Message: okMsg, Status: http.StatusOK}
	if okMsg == messageCreated {
		// The documented message answer is the only one that carries data.
		out.Data = &struct {
			InteractionHash string `json:"interaction_hash"`
		}{hash}
	}
	s.writeJSON(w, http.StatusOK, out)
}

// messageCreated is the documented success message of a sent message.
const messageCreated = "Message created successfully"

// handleUpdate serves PUT /core/api/v1/interactions/{hash}.
func (s *Sim) handleUpdate(w http.ResponseWriter, r *http.Request, hash string) {
	s.interactionOp(w, r, hash, []string{"mood", "tag_ids", "customer_key", "note"},
		func(it *interaction, body map[string]json.RawMessage, _ time.Time) (string, string) {
			var mood, key, note *string
			var tags []string
			setTags := false
			if raw := body["mood"]; !isNull(raw) {
				v, isStr := asString(raw)
				if !isStr || (v != "POSITIVE" && v != "NEGATIVE") {
					return "", "mood: must be POSITIVE or NEGATIVE"
				}
				mood = &v
			}
			if raw := body["tag_ids"]; !isNull(raw) {
				var items []json.RawMessage
				if err := json.Unmarshal(raw, &items); err != nil || items == nil {
					return "", "tag_ids: must be an array of strings"
				}
				tags = make([]string, 0, len(items))
				for _, item := range items {
					v, isStr := asString(item)
					if !isStr {
						return "", "tag_ids: must be an array of strings"
					}
					tags = append(tags, v)
				}
				setTags = true
			}
			if raw := body["customer_key"]; !isNull(raw) {
				v, isStr := asString(raw)
				if !isStr {
					return "", "customer_key: must be a string"
				}
				// "your existing customer": a key the account does not
				// know is refused, which catches adapters that send their
				// own ids instead of the vendor's customer_key.
				if _, known := s.byKey[v]; !known {
					return "", fmt.Sprintf("customer_key: %s not found", v)
				}
				key = &v
			}
			if raw := body["note"]; !isNull(raw) {
				v, isStr := asString(raw)
				if !isStr {
					return "", "note: must be a string"
				}
				note = &v
			}
			if mood != nil {
				it.data.Mood = *mood
			}
			if setTags {
				it.data.TagIDs = tags
			}
			if key != nil {
				it.data.CustomerKey = *key
			}
			if note != nil {
				it.data.Note = *note
			}
			return "Interaction updated successfully", ""
		})
}

// handleMessage serves POST /core/api/v1/interactions/{hash}/messages. An
// accepted interaction's agent answers every client message at once.
func (s *Sim) handleMessage(w http.ResponseWriter, r *http.Request, hash string) {
	s.interactionOp(w, r, hash, []string{"content", "type", "url"},
		func(it *interaction, body map[string]json.RawMessage, now time.Time) (string, string) {
			raw := body["content"]
			if isNull(raw) {
				return "", "content: is required"
			}
			content, isStr := asString(raw)
			if !isStr {
				return "", "content: must be a string"
			}
			if content == "" {
				return "", "content: is required"
			}
			typ := "text"
			if raw := body["type"]; !isNull(raw) {
				v, isStr := asString(raw)
				if !isStr || !validMessageTypes[v] {
					return "", "type: must be one of text, image, video, audio, file"
				}
				typ = v
			}
			link := ""
			if raw := body["url"]; !isNull(raw) {
				v, isStr := asString(raw)
				if !isStr {
					return "", "url: must be a string"
				}
				link = v
			}
			if typ != "text" && link == "" {
				return "", fmt.Sprintf("url: is required for type %s", typ)
			}
			if typ != "text" && !httpURL(link) {
				return "", "url: must be an http(s) URL"
			}
			it.data.Messages = append(it.data.Messages, Message{
				Hash: uuid.NewString(), Direction: DirectionClient, Content: content,
				Type: typ, URL: link, Time: now,
			})
			if it.data.State == StateAccepted && len(s.agents) > 0 {
				agent := s.agents[0]
				reply := Message{
					Hash: uuid.NewString(), Direction: DirectionAgent,
					Content: "Received: " + content, Type: "text", AgentID: agent.ID, Time: now,
				}
				it.data.Messages = append(it.data.Messages, reply)
				var t messageTrigger
				t.InteractionHash = it.data.Hash
				t.Message.Hash, t.Message.Content, t.Message.Type, t.Message.URL = reply.Hash, reply.Content, reply.Type, reply.URL
				t.Agent.ID, t.Agent.Name = agent.ID, agent.Name
				t.Extra = it.data.Extra
				s.enqueueLocked(it, t)
			}
			return messageCreated, ""
		})
}

// handleTyping serves PUT /core/api/v1/interactions/{hash}/typing.
func (s *Sim) handleTyping(w http.ResponseWriter, r *http.Request, hash string) {
	s.interactionOp(w, r, hash, nil,
		func(it *interaction, _ map[string]json.RawMessage, _ time.Time) (string, string) {
			it.data.Typing = true
			return "Typing notified successfully", ""
		})
}

// handleCleared serves PUT /core/api/v1/interactions/{hash}/cleared.
func (s *Sim) handleCleared(w http.ResponseWriter, r *http.Request, hash string) {
	s.interactionOp(w, r, hash, nil,
		func(it *interaction, _ map[string]json.RawMessage, _ time.Time) (string, string) {
			it.data.Typing = false
			return "Stop typing notified successfully", ""
		})
}

// handleFinish serves PUT /core/api/v1/interactions/{hash}/finish.
func (s *Sim) handleFinish(w http.ResponseWriter, r *http.Request, hash string) {
	s.interactionOp(w, r, hash, nil,
		func(it *interaction, _ map[string]json.RawMessage, now time.Time) (string, string) {
			it.data.State = StateFinished
			it.data.States = append(it.data.States, StateFinished)
			it.data.Typing = false
			it.data.Finished = now
			s.enqueueLocked(it, stateTrigger{InteractionHash: it.data.Hash, State: StateFinished, Extra: it.data.Extra})
			return "Interaction finished successfully", ""
		})
}

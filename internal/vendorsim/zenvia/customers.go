package zenvia

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
)

// FormField is one entry of the account's field catalogue, as answered by
// GET /api/external/form_fields.
type FormField struct {
	// ID is the vendor's internal field id.
	ID int `json:"id"`
	// Name is the key used in a customer's fields.
	Name string `json:"name"`
	// Label is the name shown on screen.
	Label string `json:"label"`
	// IsRequired makes the field mandatory on every create or update.
	IsRequired bool `json:"is_required"`
	// IsUnique makes the field unique across customers and usable to find an
	// existing customer.
	IsUnique bool `json:"is_unique"`
	// Type is the field's data type ("string", "phone", "email", ...).
	Type string `json:"type"`
	// IsMultiple is reported as configured; values are still sent as strings,
	// as in the vendor's customers example.
	IsMultiple bool `json:"is_multiple"`
	// BelongsToCustomer marks a customer field (accepted in fields).
	BelongsToCustomer bool `json:"belongs_to_customer"`
	// BelongsToCollection marks a collection field (refused in fields).
	BelongsToCollection bool `json:"belongs_to_collection"`
	// LabelUpdatable tells whether agents can edit the label.
	LabelUpdatable bool `json:"label_updatable"`
	// ValueUpdatable tells whether agents can edit the value.
	ValueUpdatable bool `json:"value_updatable"`
	// Showable tells whether the field shows on screen.
	Showable bool `json:"showable"`
}

// standardFields is the catalogue every account has. Types and flags follow
// the vendor's form_fields example; main_identifier is the only required one
// (the example account also required channel_phone, an account choice).
var standardFields = []FormField{
	{ID: 1, Name: "main_identifier", Label: "Nome", IsRequired: true, Type: "string",
		BelongsToCustomer: true, LabelUpdatable: true, ValueUpdatable: true, Showable: true},
	{ID: 2, Name: "channel_phone", Label: "Telefone", IsUnique: true, Type: "phone", IsMultiple: true,
		BelongsToCustomer: true, LabelUpdatable: true, ValueUpdatable: true, Showable: true},
	{ID: 3, Name: "channel_email", Label: "Email", IsUnique: true, Type: "email", IsMultiple: true,
		BelongsToCustomer: true, LabelUpdatable: true, ValueUpdatable: true, Showable: true},
	{ID: 4, Name: "main_photo", Label: "Foto", Type: "string",
		BelongsToCustomer: true, LabelUpdatable: true, ValueUpdatable: true, Showable: true},
}

// defaultExtraFields is the account-specific catalogue used when
// Config.ExtraFormFields is nil.
var defaultExtraFields = []FormField{{Name: "plano", Label: "Plano", Type: "string",
	BelongsToCustomer: true, LabelUpdatable: true, ValueUpdatable: true, Showable: true}}

// buildCatalogue returns the standard fields followed by the extra ones,
// normalized as documented on Config.ExtraFormFields.
func buildCatalogue(extra []FormField) []FormField {
	if extra == nil {
		extra = defaultExtraFields
	}
	out := make([]FormField, 0, len(standardFields)+len(extra))
	seen := map[string]bool{}
	usedID := map[int]bool{}
	nextID := 1
	add := func(f FormField) {
		if f.Name == "" {
			panic("zenvia sim: form field without a name")
		}
		if seen[f.Name] {
			panic(fmt.Sprintf("zenvia sim: form field %q defined twice", f.Name))
		}
		seen[f.Name] = true
		if f.ID == 0 {
			for usedID[nextID] {
				nextID++
			}
			f.ID = nextID
		}
		usedID[f.ID] = true
		if f.Label == "" {
			f.Label = f.Name
		}
		if f.Type == "" {
			f.Type = "string"
		}
		if !f.BelongsToCollection {
			f.BelongsToCustomer = true
		}
		out = append(out, f)
	}
	// Explicit ids are reserved first so that an automatic id never
	// collides with one the caller chose for a later field.
	for _, f := range extra {
		usedID[f.ID] = true
	}
	for _, f := range standardFields {
		add(f)
	}
	for _, f := range extra {
		add(f)
	}
	return out
}

// FormFields returns the account's field catalogue.
func (s *Sim) FormFields() []FormField {
	return append([]FormField(nil), s.catalogue...)
}

// handleFormFields serves GET /api/external/form_fields?token=.
func (s *Sim) handleFormFields(w http.ResponseWriter, r *http.Request, _ string) {
	token := r.URL.Query().Get("token")
	if token == "" {
		s.writeError(w, http.StatusUnauthorized, "Unauthenticated: token is required")
		return
	}
	if !s.tokenOK(token) {
		s.writeError(w, http.StatusUnauthorized, "Unauthenticated: invalid token")
		return
	}
	s.writeJSON(w, http.StatusOK, struct {
		Status     int         `json:"status"`
		FormFields []FormField `json:"form_fields"`
	}{http.StatusOK, s.catalogue})
}

// Customer is a stored customer, as returned by the inspection helpers.
type Customer struct {
	// ID is the sequential customer id.
	ID int
	// Key is the customer_key (a UUID).
	Key string
	// AccountID is the owning account.
	AccountID int
	// Fields holds every customer field of the catalogue, "" when unset.
	Fields map[string]string
	// AgentID is the related agent, 0 when none (answered as null).
	AgentID int
	// Active is always true: the API offers no way to deactivate.
	Active bool
	// Created is date_creation; it never moves.
	Created time.Time
	// Changed is change_date; it moves on every update.
	Changed time.Time
}

// customer is the stored form of a Customer.
type customer struct {
	id      int
	key     string
	fields  map[string]string
	agentID int
	created time.Time
	changed time.Time
}

// customerJSON is the wire form of a created or updated customer.
type customerJSON struct {
	AccountID    int               `json:"account_id"`
	Fields       map[string]string `json:"fields"`
	ID           int               `json:"id"`
	DateCreation string            `json:"date_creation"`
	ChangeDate   string            `json:"change_date"`
	CustomerKey  string            `json:"customer_key"`
	Active       bool              `json:"active"`
	AgentID      *int              `json:"agent_id"`
}

// public returns a copy safe to hand out of the lock.
func (c *customer) public(accountID int) Customer {
	f := make(map[string]string, len(c.fields))
	for k, v := range c.fields {
		f[k] = v
	}
	return Customer{
		ID: c.id, Key: c.key, AccountID: accountID, Fields: f, AgentID: c.agentID,
		Active: true, Created: c.created, Changed: c.changed,
	}
}

// wire returns the answer form of c.
func (c *customer) wire(accountID int) customerJSON {
	pc := c.public(accountID)
	out := customerJSON{
		AccountID: accountID, Fields: pc.Fields, ID: c.id,
		DateCreation: timestamp(c.created), ChangeDate: timestamp(c.changed),
		CustomerKey: c.key, Active: true,
	}
	if c.agentID != 0 {
		id := c.agentID
		out.AgentID = &id
	}
	return out
}

// handleCustomers serves POST /api/external/customers: create or update each
// item, answering 200 with the successes and the failures side by side.
func (s *Sim) handleCustomers(w http.ResponseWriter, r *http.Request, _ string) {
	body, ok := s.authBody(w, r)
	if !ok {
		return
	}
	if k := unknownParam(body, "token", "customers"); k != "" {
		s.writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("%s: unknown parameter", k))
		return
	}
	raw, present := body["customers"]
	if !present || isNull(raw) {
		s.writeError(w, http.StatusUnprocessableEntity, "customers: is required")
		return
	}
	var items []json.RawMessage
	if t := bytes.TrimSpace(raw); t[0] != '[' || json.Unmarshal(t, &items) != nil {
		s.writeError(w, http.StatusUnprocessableEntity, "customers: must be an array")
		return
	}
	// Batch-shape problems reject the request whole: there is no item to
	// attach the error to, and a partial answer would hide the caller's bug.
	if len(items) == 0 {
		s.writeError(w, http.StatusUnprocessableEntity, "customers: must not be empty")
		return
	}
	if len(items) > s.maxCustomers {
		s.writeError(w, http.StatusUnprocessableEntity,
			fmt.Sprintf("customers: at most %d customers per request, got %d", s.maxCustomers, len(items)))
		return
	}
	parsed := make([][]member, len(items))
	for i, it := range items {
		m, ok := asObject(it)
		if !ok {
			s.writeError(w, http.StatusUnprocessableEntity, fmt.Sprintf("customers[%d]: must be an object", i))
			return
		}
		parsed[i] = m
	}

	s.mu.Lock()
	s.stats.ItemsReceived += len(items)
	now := s.now()
	okOut := make([]customerJSON, 0, len(items))
	errOut := make([]json.RawMessage, 0)
	for _, m := range parsed {
		c, created, problems := s.upsertLocked(m, now)
		if len(problems) > 0 {
			s.stats.CustomerErrors++
			errOut = append(errOut, echoWithErrors(m, problems))
			continue
		}
		if created {
			s.stats.CustomersCreated++
		} else {
			s.stats.CustomersUpdated++
		}
		okOut = append(okOut, c.wire(s.accountID))
	}
	s.mu.Unlock()

	s.writeJSON(w, http.StatusOK, struct {
		Status    int               `json:"status"`
		Customers []customerJSON    `json:"customers"`
		Errors    []json.RawMessage `json:"errors"`
	}{http.StatusOK, okOut, errOut})
}

// upsertLocked validates one item and applies it, returning the customer and
// whether it was created, or the item's error strings. s.mu must be held.
func (s *Sim) upsertLocked(item []member, now time.Time) (*customer, bool, []string) {
	var problems []string
	var fieldsRaw, agentRaw json.RawMessage
	for _, m := range item {
		switch m.key {
		case "fields":
			fieldsRaw = m.value
		case "agent_id":
			agentRaw = m.value
		default:
			problems = append(problems, fmt.Sprintf("%s: unknown parameter", m.key))
		}
	}

	// values holds the fields sent: a string sets, nil (JSON null) clears.
	values := map[string]*string{}
	badType := map[string]bool{}
	switch fm, isObj := asObject(fieldsRaw); {
	case isNull(fieldsRaw):
		problems = append(problems, "fields: is required")
	case !isObj:
		problems = append(problems, "fields: must be an object")
	default:
		for _, m := range fm {
			f, known := s.fieldByName[m.key]
			if !known || !f.BelongsToCustomer {
				problems = append(problems, fmt.Sprintf("field: %s not found", m.key))
				continue
			}
			if isNull(m.value) {
				values[m.key] = nil
				continue
			}
			v, isStr := asString(m.value)
			if !isStr {
				problems = append(problems, fmt.Sprintf("field: %s must be a string", m.key))
				badType[m.key] = true
				continue
			}
			values[m.key] = &v
		}
		for _, f := range s.catalogue {
			// A required field already reported for its type is not
			// reported again as missing.
			if !f.IsRequired || !f.BelongsToCustomer || badType[f.Name] {
				continue
			}
			if v := values[f.Name]; v == nil || strings.TrimSpace(*v) == "" {
				problems = append(problems, fmt.Sprintf("field: %s is required", f.Name))
			}
		}
	}

	agentID := 0
	if !isNull(agentRaw) {
		id, isInt := asInt(agentRaw)
		switch {
		case !isInt:
			problems = append(problems, "agent_id: must be an integer")
		case !s.hasAgent(id):
			problems = append(problems, fmt.Sprintf("agent_id: %d not found", id))
		default:
			agentID = id
		}
	}
	if len(problems) > 0 {
		return nil, false, problems
	}

	// Unique fields identify the customer; two of them pointing at
	// different customers cannot be merged into one record.
	var target *customer
	for _, f := range s.catalogue {
		if !f.IsUnique {
			continue
		}
		v := values[f.Name]
		if v == nil || *v == "" {
			continue
		}
		found := s.unique[f.Name][*v]
		if found == nil {
			continue
		}
		if target != nil && found != target {
			return nil, false, []string{fmt.Sprintf("field: %s %s belongs to another customer", f.Name, *v)}
		}
		target = found
	}

	created := target == nil
	if created {
		target = &customer{
			id:      len(s.customers) + 1,
			key:     uuid.NewString(),
			fields:  map[string]string{},
			created: now,
		}
		for _, f := range s.catalogue {
			if f.BelongsToCustomer {
				target.fields[f.Name] = ""
			}
		}
		s.customers = append(s.customers, target)
		s.byKey[target.key] = target
	}
	for name, v := range values {
		old := target.fields[name]
		nv := ""
		if v != nil {
			nv = *v
		}
		if idx, isUnique := s.unique[name]; isUnique && old != nv {
			if old != "" {
				delete(idx, old)
			}
			if nv != "" {
				idx[nv] = target
			}
		}
		target.fields[name] = nv
	}
	if agentID != 0 {
		target.agentID = agentID
	}
	target.changed = now
	return target, created, nil
}

// hasAgent reports whether id is one of the account's agents.
func (s *Sim) hasAgent(id int) bool {
	_, ok := s.agentByID[id]
	return ok
}

// echoWithErrors rebuilds a rejected item as sent (members in wire order) and
// appends its "errors" list. An "errors" member sent by the caller is dropped
// so that the answer never carries a duplicate key.
func echoWithErrors(item []member, problems []string) json.RawMessage {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for _, m := range item {
		if m.key == "errors" {
			continue
		}
		k, _ := json.Marshal(m.key)
		buf.Write(k)
		buf.WriteByte(':')
		buf.Write(bytes.TrimSpace(m.value))
		buf.WriteByte(',')
	}
	buf.WriteString(`"errors":`)
	list, _ := json.Marshal(problems)
	buf.Write(list)
	buf.WriteByte('}')
	return buf.Bytes()
}

// CustomerCount returns the number of stored customers.
func (s *Sim) CustomerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.customers)
}

// Customers returns every stored customer in id order.
func (s *Sim) Customers() []Customer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Customer, len(s.customers))
	for i, c := range s.customers {
		out[i] = c.public(s.accountID)
	}
	return out
}

// Customer returns the customer with the given id.
func (s *Sim) Customer(id int) (Customer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if id < 1 || id > len(s.customers) {
		return Customer{}, false
	}
	return s.customers[id-1].public(s.accountID), true
}

// CustomerByKey returns the customer with the given customer_key.
func (s *Sim) CustomerByKey(key string) (Customer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.byKey[key]
	if !ok {
		return Customer{}, false
	}
	return c.public(s.accountID), true
}

// FindCustomer returns the customer whose unique field (e.g. "channel_phone")
// has the given value, as the vendor matches them on create-or-update.
func (s *Sim) FindCustomer(field, value string) (Customer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.unique[field][value]
	if !ok {
		return Customer{}, false
	}
	return c.public(s.accountID), true
}

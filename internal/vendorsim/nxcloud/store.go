package nxcloud

import (
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Customer is a stored customer as the simulator holds it, for inspection by tests.
type Customer struct {
	// ID is the simulator's internal id (decimal, assigned in creation order from 1).
	ID string
	// The string fields hold the batch_create members of the same name (first_name, sms_phone,
	// ...) exactly as sent; "" when unset.
	FirstName     string
	LastName      string
	SMSPhone      string
	WhatsAppPhone string
	Country       string
	Email         string
	Address       string
	Birthday      string // yyyy-MM-dd or ""
	Source        string
	Remark        string
	TimeZone      string
	// Gender is 1 (male), 0 (female) or nil when never sent.
	Gender *int
	// Tags are parsed from tagStr, in first-seen order without duplicates.
	Tags []string
	// CustomFields holds customize_field values by key; numbers keep their JSON literal text.
	CustomFields map[string]string
	// CreatedAt is when the customer was first stored; UpdatedAt when a type 0 or 1 item last
	// changed it (type 2 leaves it alone).
	CreatedAt time.Time
	UpdatedAt time.Time
}

func (c Customer) clone() Customer {
	if c.Gender != nil {
		g := *c.Gender
		c.Gender = &g
	}
	c.Tags = slices.Clone(c.Tags)
	c.CustomFields = maps.Clone(c.CustomFields)
	return c
}

// stringField describes a documented string member of a customer: its key, its documented maximum
// length in characters (0: none documented) and where it lives in Customer.
type stringField struct {
	key string
	max int
	ptr func(*Customer) *string
}

var stringFields = []stringField{
	{"first_name", 128, func(c *Customer) *string { return &c.FirstName }},
	{"last_name", 128, func(c *Customer) *string { return &c.LastName }},
	{"sms_phone", 30, func(c *Customer) *string { return &c.SMSPhone }},
	{"whats_app_phone", 30, func(c *Customer) *string { return &c.WhatsAppPhone }},
	{"country", 50, func(c *Customer) *string { return &c.Country }},
	{"email", 50, func(c *Customer) *string { return &c.Email }},
	{"address", 100, func(c *Customer) *string { return &c.Address }},
	{"birthday", 0, func(c *Customer) *string { return &c.Birthday }},
	{"source", 0, func(c *Customer) *string { return &c.Source }},
	{"remark", 100, func(c *Customer) *string { return &c.Remark }},
	{"time_zone", 0, func(c *Customer) *string { return &c.TimeZone }},
}

// Identity kinds, in matching priority order.
const (
	idSMS = iota
	idWhatsApp
	idEmail
	idKinds
)

// identityKeys returns the normalised identity values of c; "" means none.
func identityKeys(smsPhone, whatsAppPhone, email string) [idKinds]string {
	return [idKinds]string{
		idSMS:      strings.TrimSpace(smsPhone),
		idWhatsApp: strings.TrimSpace(whatsAppPhone),
		idEmail:    strings.ToLower(strings.TrimSpace(email)),
	}
}

func customerKeys(c *Customer) [idKinds]string {
	return identityKeys(c.SMSPhone, c.WhatsAppPhone, c.Email)
}

// store holds customers in creation order. Nothing is ever deleted (the vendor documents no
// delete), so a customer's sequence number is its index + 1 and cursors stay valid forever.
type store struct {
	list []*Customer
	// idx maps each identity value to the sequence numbers of the customers holding it; values
	// can be shared when an update gives one customer another's e-mail, so these are sets.
	idx [idKinds]map[string]map[int64]struct{}
}

func newStore() store {
	var st store
	for k := range st.idx {
		st.idx[k] = map[string]map[int64]struct{}{}
	}
	return st
}

// match returns the stored customer the identity values designate: the first kind, in priority
// order, that some customer holds, and the oldest such customer.
func (st *store) match(keys [idKinds]string) (int64, bool) {
	for k, v := range keys {
		if v == "" {
			continue
		}
		if holders := st.idx[k][v]; len(holders) > 0 {
			return slices.Min(slices.Collect(maps.Keys(holders))), true
		}
	}
	return 0, false
}

func (st *store) get(seq int64) *Customer {
	if seq < 1 || seq > int64(len(st.list)) {
		return nil
	}
	return st.list[seq-1]
}

func (st *store) index(seq int64, keys [idKinds]string) {
	for k, v := range keys {
		if v == "" {
			continue
		}
		set := st.idx[k][v]
		if set == nil {
			set = map[int64]struct{}{}
			st.idx[k][v] = set
		}
		set[seq] = struct{}{}
	}
}

func (st *store) unindex(seq int64, keys [idKinds]string) {
	for k, v := range keys {
		if set := st.idx[k][v]; set != nil {
			delete(set, seq)
			if len(set) == 0 {
				delete(st.idx[k], v)
			}
		}
	}
}

func (st *store) insert(c Customer) {
	seq := int64(len(st.list)) + 1
	c.ID = strconv.FormatInt(seq, 10)
	st.list = append(st.list, &c)
	st.index(seq, customerKeys(&c))
}

// replace stores c in place of the customer seq, keeping the identity index in step.
func (st *store) replace(seq int64, c Customer) {
	old := st.list[seq-1]
	st.unindex(seq, customerKeys(old))
	*old = c
	st.index(seq, customerKeys(old))
}

// Write modes of batch_create's type.
const (
	modeReplace = 0 // discard old data and use new data
	modeMerge   = 1 // update/add data based on old data
	modeKeep    = 2 // keep old data and discard new data
)

// outcome of applying one item.
type outcome int

const (
	created outcome = iota
	updated
	kept
)

// apply stores one validated item under the given mode at time now.
func (st *store) apply(it *item, mode int, now time.Time) outcome {
	seq, found := st.match(it.identity())
	if !found {
		c := it.customer()
		c.CreatedAt, c.UpdatedAt = now, now
		st.insert(c)
		return created
	}
	old := st.list[seq-1]
	var c Customer
	switch mode {
	case modeKeep:
		return kept
	case modeReplace:
		c = it.customer()
	default:
		c = old.clone()
		it.mergeInto(&c)
	}
	c.ID, c.CreatedAt, c.UpdatedAt = old.ID, old.CreatedAt, now
	st.replace(seq, c)
	return updated
}

// CustomerCount returns the number of stored customers.
func (s *Sim) CustomerCount() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.store.list)
}

// Customers returns copies of all stored customers in creation order.
func (s *Sim) Customers() []Customer {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Customer, len(s.store.list))
	for i, c := range s.store.list {
		out[i] = c.clone()
	}
	return out
}

// CustomerByID returns a copy of the customer with the given internal id.
func (s *Sim) CustomerByID(id string) (Customer, bool) {
	seq, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return Customer{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if c := s.store.get(seq); c != nil {
		return c.clone(), true
	}
	return Customer{}, false
}

// FindCustomer returns a copy of the customer that a batch_create item carrying these identity
// values would update, by the simulator's identity rule (see the package documentation).
func (s *Sim) FindCustomer(smsPhone, whatsAppPhone, email string) (Customer, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if seq, ok := s.store.match(identityKeys(smsPhone, whatsAppPhone, email)); ok {
		return s.store.get(seq).clone(), true
	}
	return Customer{}, false
}

// CustomerByEmail returns a copy of the oldest customer with this e-mail (case-insensitive).
func (s *Sim) CustomerByEmail(email string) (Customer, bool) {
	return s.FindCustomer("", "", email)
}

// CustomerBySMSPhone returns a copy of the oldest customer with this sms_phone.
func (s *Sim) CustomerBySMSPhone(phone string) (Customer, bool) {
	return s.FindCustomer(phone, "", "")
}

// CustomerByWhatsAppPhone returns a copy of the oldest customer with this whats_app_phone.
func (s *Sim) CustomerByWhatsAppPhone(phone string) (Customer, bool) {
	return s.FindCustomer("", phone, "")
}

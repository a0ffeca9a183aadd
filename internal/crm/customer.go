package crm

import "errors"

// Vendor names, as they appear in config and API output.
const (
	VendorZenvia     = "zenvia"
	VendorHelpCrunch = "helpcrunch"
	VendorNXCloud    = "nxcloud"
)

// Tag labels a customer. Color is a CSS colour; vendors that do not store
// colours ignore it.
type Tag struct {
	Name  string `json:"name"`
	Color string `json:"color,omitempty"`
}

// Fields are the normalized customer fields, used for writes (create, patch,
// batch items) where each one may be absent, null or set.
type Fields struct {
	Name          Opt[string] `json:"name,omitzero"`
	FirstName     Opt[string] `json:"first_name,omitzero"`
	LastName      Opt[string] `json:"last_name,omitzero"`
	Email         Opt[string] `json:"email,omitzero"`
	Phone         Opt[string] `json:"phone,omitzero"`
	WhatsAppPhone Opt[string] `json:"whatsapp_phone,omitzero"`
	ExternalID    Opt[string] `json:"external_id,omitzero"`
	Company       Opt[string] `json:"company,omitzero"`
	Country       Opt[string] `json:"country,omitzero"`
	Address       Opt[string] `json:"address,omitzero"`
	Birthday      Opt[string] `json:"birthday,omitzero"` // YYYY-MM-DD
	Gender        Opt[string] `json:"gender,omitzero"`   // "male" | "female"
	Locale        Opt[string] `json:"locale,omitzero"`   // ISO 639-1
	Timezone      Opt[string] `json:"timezone,omitzero"`
	Notes         Opt[string] `json:"notes,omitzero"`
	Tags          Opt[[]Tag]  `json:"tags,omitzero"`
	// CustomFields go to the vendor's own container for account-defined
	// fields (HelpCrunch customData, Zenvia form fields, NXCloud
	// customize_field). A nil value clears the field where the vendor can.
	CustomFields map[string]any `json:"custom_fields,omitempty"`
	// VendorFields are copied verbatim into the vendor's customer object,
	// for vendor fields the normalized model does not cover.
	VendorFields map[string]any `json:"vendor_fields,omitempty"`
}

// CustomerWrite is one customer to create or update.
type CustomerWrite struct {
	// ID is the vendor's id of an existing customer; required by updates.
	ID string `json:"id,omitempty"`
	Fields
}

// Customer is a customer as a vendor holds it, normalized. It is what the
// gateway answers after a write and on reads.
type Customer struct {
	ID            string         `json:"id,omitempty"`
	Vendor        string         `json:"vendor"`
	Connection    string         `json:"connection"`
	Name          string         `json:"name,omitempty"`
	FirstName     string         `json:"first_name,omitempty"`
	LastName      string         `json:"last_name,omitempty"`
	Email         string         `json:"email,omitempty"`
	Phone         string         `json:"phone,omitempty"`
	WhatsAppPhone string         `json:"whatsapp_phone,omitempty"`
	ExternalID    string         `json:"external_id,omitempty"`
	Company       string         `json:"company,omitempty"`
	Country       string         `json:"country,omitempty"`
	Address       string         `json:"address,omitempty"`
	Birthday      string         `json:"birthday,omitempty"`
	Gender        string         `json:"gender,omitempty"`
	Locale        string         `json:"locale,omitempty"`
	Timezone      string         `json:"timezone,omitempty"`
	Notes         string         `json:"notes,omitempty"`
	Tags          []Tag          `json:"tags,omitempty"`
	CustomFields  map[string]any `json:"custom_fields,omitempty"`
	// Remote is the vendor's raw answer for this customer.
	Remote any `json:"remote,omitempty"`
}

// Mode says what a batch does with each item.
type Mode string

// Batch modes.
const (
	ModeCreate Mode = "create" // create every item
	ModeUpdate Mode = "update" // update existing customers, addressed by id
	ModeUpsert Mode = "upsert" // update the matching customer, or create one
)

// OnConflict says what a vendor with native upsert does when an item matches
// an existing customer (NXCloud's batch `type`).
type OnConflict string

// Conflict policies.
const (
	OnConflictMerge   OnConflict = "merge"   // merge new fields into the old record
	OnConflictReplace OnConflict = "replace" // replace the old record with the new data
	OnConflictKeep    OnConflict = "keep"    // keep the old record, drop the new data
)

// Batch is a batch write request.
type Batch struct {
	Mode       Mode            `json:"mode"`
	OnConflict OnConflict      `json:"on_conflict,omitempty"`
	Customers  []CustomerWrite `json:"customers"`
}

// ItemStatus is the result of one batch item.
type ItemStatus string

// Item statuses.
const (
	StatusCreated ItemStatus = "created"
	StatusUpdated ItemStatus = "updated"
	// StatusAccepted means the vendor took the item but does not say whether
	// it created or updated a record (NXCloud answers a batch with code 0 only).
	StatusAccepted ItemStatus = "accepted"
	StatusFailed   ItemStatus = "failed"
)

// ItemResult is the outcome of one batch item; Index is its position in the
// request.
type ItemResult struct {
	Index    int        `json:"index"`
	Status   ItemStatus `json:"status"`
	Customer *Customer  `json:"customer,omitempty"`
	Error    *ItemError `json:"error,omitempty"`
	err      error      // the failure as the adapter saw it, see Err
}

// Err returns the error that failed the item, or nil.
func (r ItemResult) Err() error { return r.err }

// ItemError describes why one batch item failed.
type ItemError struct {
	Code    string       `json:"code"`
	Message string       `json:"message"`
	Fields  []FieldError `json:"errors,omitempty"`
	Vendor  *VendorError `json:"vendor,omitempty"`
	Outcome Outcome      `json:"outcome,omitempty"`
}

// NewItemError converts err into the error of a batch item.
func NewItemError(err error) *ItemError {
	ie := &ItemError{Code: ErrorCode(err), Message: ErrorMessage(err)}
	var e *Error
	if errors.As(err, &e) {
		ie.Fields, ie.Vendor, ie.Outcome = e.Fields, e.Remote, e.Outcome
	}
	return ie
}

// Failed returns a failed result for item index.
func Failed(index int, err error) ItemResult {
	return ItemResult{Index: index, Status: StatusFailed, Error: NewItemError(err), err: err}
}

// BatchSummary counts item results by status.
type BatchSummary struct {
	Total    int `json:"total"`
	Created  int `json:"created"`
	Updated  int `json:"updated"`
	Accepted int `json:"accepted"`
	Failed   int `json:"failed"`
}

// Add counts one result.
func (s *BatchSummary) Add(r ItemResult) {
	s.Total++
	switch r.Status {
	case StatusCreated:
		s.Created++
	case StatusUpdated:
		s.Updated++
	case StatusAccepted:
		s.Accepted++
	default:
		s.Failed++
	}
}

// BatchResult is the answer to a batch: one result per item, in input order.
type BatchResult struct {
	Connection string       `json:"connection"`
	Vendor     string       `json:"vendor"`
	Mode       Mode         `json:"mode"`
	Summary    BatchSummary `json:"summary"`
	Results    []ItemResult `json:"results"`
}

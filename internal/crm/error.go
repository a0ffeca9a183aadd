// Package crm holds the gateway's domain: the normalized customer model, the
// operations a vendor connection can offer, and the error codes every layer
// speaks. It imports nothing from the rest of the project, so adapters, the
// HTTP server and the job runner all agree on one vocabulary.
package crm

import (
	"errors"
	"fmt"
	"time"
)

// Error codes. The HTTP layer maps each to a status in exactly one place.
const (
	EInvalid        = "invalid"         // the request is malformed or fails validation (400)
	EUnauthorized   = "unauthorized"    // no or bad API key (401)
	EForbidden      = "forbidden"       // the key may not use this connection (403)
	ENotFound       = "not_found"       // unknown connection, customer, route (404)
	EConflict       = "conflict"        // the request conflicts with current state (409)
	EUnprocessable  = "unprocessable"   // well-formed but the vendor cannot take it as is (422)
	ERateLimited    = "rate_limited"    // no vendor budget within the caller's wait bound (429)
	ENotImplemented = "not_implemented" // the vendor lacks the capability (501)
	EVendor         = "vendor_error"    // the vendor answered with an error (502)
	EUnavailable    = "unavailable"     // the vendor could not be reached or timed out (503/504)
	EInternal       = "internal"        // a bug (500)
)

// Outcome tells whether a failed write may have been applied by the vendor.
type Outcome string

// Outcomes of a failed vendor call.
const (
	// OutcomeNotApplied means the vendor certainly did not apply the write
	// (it refused it, or it was never sent).
	OutcomeNotApplied Outcome = "not_applied"
	// OutcomeUncertain means the request may have reached the vendor and been
	// applied (a timeout or a dropped connection on a non-idempotent call).
	OutcomeUncertain Outcome = "uncertain"
)

// FieldError names one invalid input field. Field is a JSON path such as
// "customers[3].email" or "custom_fields.plan".
type FieldError struct {
	Field  string `json:"field"`
	Reason string `json:"reason"`
}

// VendorError is what a vendor said when it refused a call.
type VendorError struct {
	Status  int           `json:"status,omitempty"`  // HTTP status the vendor answered
	Code    string        `json:"code,omitempty"`    // the vendor's own error code, as a string
	Message string        `json:"message,omitempty"` // the vendor's message
	Errors  []VendorIssue `json:"errors,omitempty"`  // further codes/messages, as listed by the vendor
}

// VendorIssue is one entry of a vendor's error list.
type VendorIssue struct {
	Code    string `json:"code,omitempty"`
	Message string `json:"message"`
}

// Error is the gateway's error type: a code, a human message and the details
// a client needs to act on it.
type Error struct {
	Code       string
	Message    string
	Fields     []FieldError
	Vendor     string       // vendor name when the error concerns one
	Capability Capability   // the capability a vendor lacks (ENotImplemented)
	Remote     *VendorError // what the vendor said, if it said anything
	Outcome    Outcome      // for failed writes: whether the vendor may have applied them
	RetryAfter time.Duration
	Err        error // the underlying cause, never shown to clients
}

func (e *Error) Error() string {
	msg := e.Code + ": " + e.Message
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// Invalid returns an EInvalid error listing the bad fields.
func Invalid(msg string, fields ...FieldError) *Error {
	return &Error{Code: EInvalid, Message: msg, Fields: fields}
}

// Unsupported returns the ENotImplemented error for a capability the
// vendor does not offer.
func Unsupported(vendor string, c Capability) *Error {
	return &Error{
		Code:       ENotImplemented,
		Message:    fmt.Sprintf("%s does not support %s", vendor, c),
		Vendor:     vendor,
		Capability: c,
	}
}

// ErrorCode returns the code of err, EInternal for errors that are not *Error.
func ErrorCode(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	if err == nil {
		return ""
	}
	return EInternal
}

// ErrorMessage returns the client-safe message of err.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

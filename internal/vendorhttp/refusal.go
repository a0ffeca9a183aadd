package vendorhttp

import (
	"fmt"
	"net/http"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// Refused converts a vendor's error answer into the gateway's error. The
// status decides the code: the vendor refusing the data is the client's
// problem (422, 404, 409); the vendor refusing the connection's credentials
// or failing is the gateway's (502), and a 5xx may have applied a write.
func Refused(vendor string, remote *crm.VendorError) *crm.Error {
	e := &crm.Error{Vendor: vendor, Remote: remote, Outcome: crm.OutcomeNotApplied}
	switch s := remote.Status; {
	case s == http.StatusNotFound:
		e.Code, e.Message = crm.ENotFound, vendor+" has no such record"
	case s == http.StatusConflict:
		e.Code, e.Message = crm.EConflict, vendor+" reported a conflict"
	case s == http.StatusBadRequest || s == http.StatusUnprocessableEntity:
		e.Code, e.Message = crm.EUnprocessable, vendor+" refused the data"
	case s == http.StatusUnauthorized || s == http.StatusForbidden:
		e.Code, e.Message = crm.EVendor, vendor+" refused the connection's credentials: check the gateway configuration"
	case s >= 500:
		e.Code, e.Message, e.Outcome = crm.EVendor, fmt.Sprintf("%s failed with HTTP %d", vendor, s), crm.OutcomeUncertain
	default:
		e.Code, e.Message = crm.EVendor, fmt.Sprintf("%s refused the request with HTTP %d", vendor, s)
	}
	return e
}

// Unreadable is the error for a vendor answer the adapter cannot decode.
// A write may have been applied, so its outcome is uncertain.
func Unreadable(vendor string, status int, err error) *crm.Error {
	return &crm.Error{
		Code:    crm.EVendor,
		Message: fmt.Sprintf("%s answered HTTP %d with a body the gateway cannot read", vendor, status),
		Vendor:  vendor,
		Remote:  &crm.VendorError{Status: status},
		Outcome: crm.OutcomeUncertain,
		Err:     err,
	}
}

package helpcrunch

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
)

// apiError is one entry of the vendor's {"errors":[...]} body.
type apiError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

// errorBody is the vendor's error envelope.
type errorBody struct {
	Errors []apiError `json:"errors"`
}

// Every documented error body starts with this entry.
var errInvalidRequest = apiError{Code: "invalid_request", Message: "Invalid request"}

// Entries of the documented 401, 404 and 429 bodies, and of the undocumented
// answers the simulator has to give anyway.
var (
	errUnauthorized     = apiError{Code: "unauthorized", Message: "Unauthorized"}
	errTooManyRequests  = apiError{Code: "too_many_requests", Message: "Too many requests"}
	errEntityNotFound   = apiError{Code: "entity_not_found", Message: "Entity not found"}
	errCustomerNotFound = apiError{Code: "not_found", Message: "Customer not found"}
	errChatNotFound     = apiError{Code: "chat_not_found", Message: "Chat not found"}
	errRouteNotFound    = apiError{Code: "not_found", Message: "Not found"}
	errMethodNotAllowed = apiError{Code: "method_not_allowed", Message: "Method not allowed"}
	errUnsupportedMedia = apiError{Code: "unsupported_media_type", Message: "Content-Type must be application/json"}
	errBodyTooLarge     = apiError{Code: "payload_too_large", Message: "Request body is too large"}
)

// Symfony validator messages: HelpCrunch's documented 400 example uses them,
// so clients may match on them.
const (
	msgNotBlank      = "This value should not be blank."
	msgTypeNumeric   = "This value should be of type numeric."
	msgTypeInteger   = "This value should be of type integer."
	msgTypeString    = "This value should be of type string."
	msgTypeBool      = "This value should be of type bool."
	msgTypeArray     = "This value should be of type array."
	msgTypeObject    = "This value should be of type object."
	msgTypeScalar    = "This value should be of type scalar."
	msgInvalidJSON   = "This value should be valid JSON."
	msgInvalidEmail  = "This value is not a valid email address."
	msgInvalidLocale = "This value is not a valid language."
	msgInvalidTime   = "This value is not a valid UNIX timestamp."
	msgInvalidChoice = "The value you selected is not a valid choice."
	msgCountMin      = "This collection should contain 1 element or more."
	msgNotNegative   = "This value should be either positive or zero."
)

func msgTooLong(max int) string {
	return fmt.Sprintf("This value is too long. It should have %d characters or less.", max)
}

func msgCountMax(max int) string {
	return fmt.Sprintf("This collection should contain %d elements or less.", max)
}

func msgRange(min, max int) string {
	return fmt.Sprintf("This value should be between %d and %d.", min, max)
}

// violations collects field errors so that one response reports all of them,
// as a Symfony validator does.
type violations []apiError

func (v *violations) add(code, message string) {
	*v = append(*v, apiError{Code: code, Message: message})
}

// writeJSON writes v as the JSON response body. HTML escaping is off so that
// URLs and "<" in customer data read back byte for byte.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		// Only simulator-built values are encoded; failing here is a bug.
		panic(fmt.Errorf("encode response: %w", err))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// writeErrors writes the vendor's error envelope, led by invalid_request.
func writeErrors(w http.ResponseWriter, status int, errs ...apiError) {
	body := errorBody{Errors: make([]apiError, 0, len(errs)+1)}
	body.Errors = append(body.Errors, errInvalidRequest)
	body.Errors = append(body.Errors, errs...)
	writeJSON(w, status, body)
}

package server

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/labstack/echo/v4"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
)

// maxFieldErrors is how many bad fields a streamed batch reports before it
// stops reading.
const maxFieldErrors = 100

// batchSchemas are the parts of the batch request schema a streamed body
// is checked against, one top-level member and one item at a time.
type batchSchemas struct {
	request  *openapi3.Schema
	item     *openapi3.Schema
	maxItems int
}

func (s *Server) batchSchemas(c echo.Context) (*batchSchemas, error) {
	route := s.route(c)
	var req *openapi3.Schema
	if route != nil && route.Operation.RequestBody != nil && route.Operation.RequestBody.Value != nil {
		if mt := route.Operation.RequestBody.Value.Content.Get("application/json"); mt != nil && mt.Schema != nil {
			req = mt.Schema.Value
		}
	}
	customers := req.Properties["customers"]
	if req == nil || customers == nil || customers.Value.Items == nil {
		return nil, fmt.Errorf("the spec has no batch request schema")
	}
	bs := &batchSchemas{request: req, item: customers.Value.Items.Value, maxItems: maxSyncItems}
	if customers.Value.MaxItems != nil {
		bs.maxItems = int(*customers.Value.MaxItems)
	}
	return bs, nil
}

// streamBatch reads a large batch body item by item: each item is checked
// against the BatchItem schema and appended to the job store in chunks as
// it is read, so the body is never held whole. The job becomes visible only
// when the whole body was read and valid; otherwise what was stored is
// deleted and the answer is 400 listing the bad fields.
func (s *Server) streamBatch(c echo.Context, conn *gateway.Connection) error {
	schemas, err := s.batchSchemas(c)
	if err != nil {
		return err
	}
	req := c.Request()
	ctx := req.Context()
	builder := s.jobs.NewBuilder(conn)
	committed := false
	defer func() {
		if !committed {
			builder.Abort(ctx)
		}
	}()
	dec := json.NewDecoder(http.MaxBytesReader(c.Response(), req.Body, s.jobBody))
	dec.UseNumber()

	var errs []crm.FieldError
	bad := func(field, reason string) { errs = append(errs, crm.FieldError{Field: field, Reason: reason}) }
	invalid := func() error { return crm.Invalid("the request does not match the API schema", errs...) }
	var mode, onConflict string
	seen := map[string]bool{}

	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		if err != nil {
			return readError(err, s.jobBody)
		}
		bad("body", "must be a JSON object")
		return invalid()
	}
	for dec.More() && len(errs) < maxFieldErrors {
		tok, err := dec.Token()
		if err != nil {
			return readError(err, s.jobBody)
		}
		key, _ := tok.(string)
		if seen[key] {
			bad(key, "is given twice")
		}
		seen[key] = true
		switch key {
		case "mode", "on_conflict":
			var v any
			if err := dec.Decode(&v); err != nil {
				return readError(err, s.jobBody)
			}
			if prop := schemas.request.Properties[key]; prop != nil {
				if err := prop.Value.VisitJSON(v, openapi3.MultiErrors(), openapi3.VisitAsRequest()); err != nil {
					errs = append(errs, fieldErrors(err, key)...)
					continue
				}
			}
			str, _ := v.(string)
			if key == "mode" {
				mode = str
			} else {
				onConflict = str
			}
		case "customers":
			n, err := s.streamItems(ctx, dec, schemas, &errs, func(item json.RawMessage) error {
				if len(errs) > 0 {
					return nil // invalid already: read on to report more, store no more
				}
				return builder.Add(ctx, item)
			})
			if err != nil {
				return err
			}
			if n == 0 && len(errs) == 0 {
				bad("customers", "minimum number of items is 1")
			}
		default:
			bad(key, "is not a known field")
			var skip json.RawMessage
			if err := dec.Decode(&skip); err != nil {
				return readError(err, s.jobBody)
			}
		}
	}
	if len(errs) >= maxFieldErrors {
		return invalid() // enough to act on; the rest is not read
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return readError(err, s.jobBody)
	}
	if _, err := dec.Token(); err != io.EOF {
		bad("body", "must hold one JSON object only")
	}
	for _, k := range []string{"mode", "customers"} {
		if !seen[k] {
			bad(k, "is required")
		}
	}
	if len(errs) > 0 {
		return invalid()
	}
	if !conn.Supports(crm.BatchCapability(crm.Mode(mode))) {
		return crm.Unsupported(conn.Vendor(), crm.BatchCapability(crm.Mode(mode)))
	}
	job, err := builder.Commit(ctx, crm.Mode(mode), crm.OnConflict(onConflict))
	if err != nil {
		return err
	}
	committed = true
	return s.accepted(c, job, preferAsync(req.Header.Values("Prefer")))
}

// streamItems reads the customers array, validating each item against the
// BatchItem schema (field paths customers[i]...), and hands valid ones to
// add while no error was found. It returns how many items it read.
func (s *Server) streamItems(ctx context.Context, dec *json.Decoder, schemas *batchSchemas, errs *[]crm.FieldError,
	add func(json.RawMessage) error) (int, error) {
	tok, err := dec.Token()
	if err != nil {
		return 0, readError(err, s.jobBody)
	}
	if tok != json.Delim('[') {
		*errs = append(*errs, crm.FieldError{Field: "customers", Reason: "must be an array"})
		if d, ok := tok.(json.Delim); ok && d == '{' { // skip the object
			for depth := 1; depth > 0; {
				t, err := dec.Token()
				if err != nil {
					return 0, readError(err, s.jobBody)
				}
				switch t {
				case json.Delim('{'), json.Delim('['):
					depth++
				case json.Delim('}'), json.Delim(']'):
					depth--
				}
			}
		}
		return 0, nil
	}
	opts := []openapi3.SchemaValidationOption{openapi3.MultiErrors(), openapi3.VisitAsRequest()}
	n := 0
	for dec.More() {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return n, readError(err, s.jobBody)
		}
		if n >= schemas.maxItems {
			*errs = append(*errs, crm.FieldError{Field: "customers", Reason: "maximum number of items is " + strconv.Itoa(schemas.maxItems)})
			return n, nil
		}
		var v any
		vd := json.NewDecoder(bytes.NewReader(raw))
		vd.UseNumber()
		if err := vd.Decode(&v); err != nil {
			return n, readError(err, s.jobBody)
		}
		if err := schemas.item.VisitJSON(v, opts...); err != nil {
			*errs = append(*errs, fieldErrors(err, "customers["+strconv.Itoa(n)+"]")...)
			if len(*errs) >= maxFieldErrors {
				return n, nil
			}
		}
		if err := add(raw); err != nil {
			return n, err
		}
		n++
	}
	if _, err := dec.Token(); err != nil { // the closing bracket
		return n, readError(err, s.jobBody)
	}
	return n, nil
}

// readError is the answer to a body that could not be read or parsed.
func readError(err error, limit int64) error {
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body exceeds %d bytes", limit))
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return crm.Invalid("the request does not match the API schema", crm.FieldError{Field: "body", Reason: "is not valid JSON or cannot be decoded"})
	}
	var syntax *json.SyntaxError
	if errors.As(err, &syntax) {
		return crm.Invalid("the request does not match the API schema", crm.FieldError{Field: "body", Reason: "is not valid JSON or cannot be decoded"})
	}
	return crm.Invalid("the request body could not be read")
}

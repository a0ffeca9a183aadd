package server

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"regexp"
	"strconv"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

func init() {
	// kin-openapi checks no "email" format by default; accept a bare address only.
	openapi3.DefineStringFormatCallback("email", func(s string) error {
		a, err := mail.ParseAddress(s)
		if err != nil || a.Address != s {
			return errors.New("not a valid email address")
		}
		return nil
	})
}

// routeKey is a route as Echo matched it: the method and the route's path
// pattern ("/v1/connections/:connection/customers").
type routeKey struct{ method, path string }

// route is a spec operation with what validating a request for it needs,
// computed once.
type route struct {
	*routers.Route
	// check is the same route with its security requirements left out:
	// validate checks the API key itself, first, so the validator need not.
	check   *routers.Route
	secured bool
}

// routeTable maps each Echo route to the spec operation it serves, so
// validation reuses Echo's routing instead of matching the path again.
func routeTable(spec *openapi3.T) map[routeKey]*route {
	table := map[routeKey]*route{}
	noSecurity := openapi3.NewSecurityRequirements()
	for path, item := range spec.Paths.Map() {
		echoPath := strings.NewReplacer("{", ":", "}", "").Replace(path)
		for method, op := range item.Operations() {
			r := &routers.Route{Spec: spec, Path: path, PathItem: item, Method: method, Operation: op}
			unsecured := *op
			unsecured.Security = noSecurity
			check := *r
			check.Operation = &unsecured
			table[routeKey{method, echoPath}] = &route{Route: r, check: &check, secured: secured(r)}
		}
	}
	return table
}

// route returns the spec route Echo matched for c, or nil.
func (s *Server) route(c echo.Context) *route {
	return s.routes[routeKey{c.Request().Method, c.Path()}]
}

// The validator's options, shared by every request. Handlers decode the
// bytes they were sent, so a default the validator wrote back into a
// re-encoded body would be work for nothing (SkipSettingDefaults).
var (
	validateOptions = &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true}
	// Streamed bodies are checked item by item as they are read.
	validateStreamedOptions = &openapi3filter.Options{MultiError: true, SkipSettingDefaults: true, ExcludeRequestBody: true}
)

// Where validate leaves the request body and the caller's key for handlers.
const (
	bodyKey   = "crm.body"
	apiKeyKey = "crm.key"
)

// validate authenticates (when the operation is secured), reads the body
// under the size limit, and validates the request against the spec, answering
// one problem that lists every bad field. The body is decoded by the handler
// from the same bytes; schemas with additionalProperties: false guarantee
// that Go's case-insensitive decoding cannot bind a key the schema did not check.
func (s *Server) validate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		route := s.route(c)
		if route == nil || selfValidated[route.Operation.OperationID] {
			return next(c)
		}
		if route.secured {
			key, err := s.keys.Authenticate(req.Header.Get(echo.HeaderAuthorization))
			if err != nil {
				return err
			}
			if conn := c.Param("connection"); conn != "" && !key.Allows(conn) {
				return crm.Errorf(crm.EForbidden, "this API key may not use connection %q", conn)
			}
			c.Set(apiKeyKey, key)
		}
		stream := s.streamBody(route.Route, req) // a large batch: the handler streams it into a job
		if route.Operation.RequestBody != nil && !stream {
			body, err := s.readBody(req)
			if err != nil {
				return err
			}
			c.Set(bodyKey, body)
		}
		c.Set(streamKey, stream)
		input := &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams(c), Route: route.check, Options: validateOptions}
		if stream {
			input.Options = validateStreamedOptions
		}
		if err := openapi3filter.ValidateRequest(req.Context(), input); err != nil {
			return crm.Invalid("the request does not match the API schema", fieldErrors(err)...)
		}
		return next(c)
	}
}

// pathParams are the path parameters Echo matched, by name.
func pathParams(c echo.Context) map[string]string {
	names, values := c.ParamNames(), c.ParamValues()
	params := make(map[string]string, len(names))
	for i, name := range names {
		params[name] = values[i]
	}
	return params
}

// selfValidated are operations whose handler checks the request itself,
// because something must come before validation: a webhook's secret is
// checked first so a caller without it learns nothing about the body.
var selfValidated = map[string]bool{"receiveWebhook": true}

// streamed are operations whose responses are streams, never buffered for
// response validation.
var streamed = map[string]bool{"streamEvents": true}

// secured reports whether the operation needs an API key (the spec's global
// requirement applies unless the operation overrides it with an empty list).
func secured(r *routers.Route) bool {
	if r.Operation.Security != nil {
		return len(*r.Operation.Security) > 0
	}
	return len(r.Spec.Security) > 0
}

// readBody reads the whole body within the size limit, checks it is JSON,
// and leaves it re-readable for the validator.
func (s *Server) readBody(req *http.Request) ([]byte, error) {
	if mt, _, _ := mime.ParseMediaType(req.Header.Get(echo.HeaderContentType)); mt != "application/json" {
		return nil, echo.NewHTTPError(http.StatusUnsupportedMediaType, "send the body as application/json")
	}
	body, err := io.ReadAll(http.MaxBytesReader(nil, req.Body, s.maxBody))
	if err != nil {
		var tooLarge *http.MaxBytesError
		if errors.As(err, &tooLarge) {
			return nil, echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body exceeds %d bytes", s.maxBody))
		}
		return nil, crm.Invalid("the request body could not be read")
	}
	req.Body = io.NopCloser(bytes.NewReader(body))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	return body, nil
}

var propertyName = regexp.MustCompile(`^property "(.*)" is (missing|unsupported)$`)

// fieldErrors flattens kin-openapi's validation errors into one entry per
// bad field, with JSON paths such as customers[3].email.
func fieldErrors(err error, prefix ...string) []crm.FieldError {
	var out []crm.FieldError
	var walk func(err error, param string)
	walk = func(err error, param string) {
		// Switch on concrete types: errors.As would look through a
		// RequestError into its inner MultiError and lose the parameter.
		switch e := err.(type) {
		case openapi3.MultiError:
			for _, inner := range e {
				walk(inner, param)
			}
		case *openapi3filter.RequestError:
			if e.Parameter != nil {
				param = e.Parameter.Name
			}
			if e.Err == nil || errors.Is(e.Err, openapi3filter.ErrInvalidRequired) {
				reason := e.Reason
				if e.Err != nil || reason == "" {
					reason = "is required"
				}
				out = append(out, crm.FieldError{Field: orBody(param), Reason: reason})
				return
			}
			walk(e.Err, param)
		case *openapi3filter.ParseError:
			out = append(out, crm.FieldError{Field: orBody(param), Reason: "is not valid JSON or cannot be decoded"})
		case *openapi3.SchemaError:
			pointer := e.JSONPointer()
			reason := e.Reason
			if m := propertyName.FindStringSubmatch(e.Reason); m != nil {
				if len(pointer) == 0 || pointer[len(pointer)-1] != m[1] {
					pointer = append(pointer, m[1])
				}
				reason = map[string]string{"missing": "is required", "unsupported": "is not a known field"}[m[2]]
			}
			out = append(out, crm.FieldError{Field: orBody(jsonPath(param, pointer)), Reason: reason})
		default:
			out = append(out, crm.FieldError{Field: orBody(param), Reason: err.Error()})
		}
	}
	walk(err, strings.Join(prefix, ""))
	return out
}

// jsonPath renders a JSON pointer as a.b[2].c under prefix.
func jsonPath(prefix string, pointer []string) string {
	var b strings.Builder
	b.WriteString(prefix)
	for _, seg := range pointer {
		if _, err := strconv.Atoi(seg); err == nil {
			b.WriteString("[" + seg + "]")
			continue
		}
		if b.Len() > 0 {
			b.WriteByte('.')
		}
		b.WriteString(seg)
	}
	return b.String()
}

func orBody(field string) string { return orText(field, "body") }

func orText(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// responseRecorder buffers a response so it can be validated before it is sent.
type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *responseRecorder) Header() http.Header         { return r.header }
func (r *responseRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *responseRecorder) WriteHeader(status int)      { r.status = status }

// validateResponses checks every response of a spec route against the
// spec. A response that breaks the contract is replaced by a 500 problem
// naming the violation: meant for tests and staging, where a contract break
// must be loud.
func (s *Server) validateResponses(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		route := s.route(c)
		if route == nil || streamed[route.Operation.OperationID] {
			return next(c)
		}
		res := c.Response()
		orig := res.Writer
		rec := &responseRecorder{header: orig.Header().Clone(), status: http.StatusOK}
		res.Writer = rec
		defer func() { res.Writer = orig }() // also when next panics
		if err := next(c); err != nil {
			c.Error(err)
		}
		res.Writer = orig
		verr := openapi3filter.ValidateResponse(req.Context(), &openapi3filter.ResponseValidationInput{
			RequestValidationInput: &openapi3filter.RequestValidationInput{Request: req, PathParams: pathParams(c), Route: route.Route},
			Status:                 rec.status,
			Header:                 rec.header,
			Body:                   io.NopCloser(bytes.NewReader(rec.body.Bytes())),
			Options:                &openapi3filter.Options{IncludeResponseStatus: true, MultiError: true},
		})
		if verr != nil {
			s.log.Error("response breaks the API contract", zap.String("route", c.Path()), zap.Int("status", rec.status), zap.Error(verr))
			orig.Header().Set(echo.HeaderContentType, "application/problem+json")
			orig.WriteHeader(http.StatusInternalServerError)
			return jsonEncode(orig, &Problem{Type: problemType(crm.EInternal), Title: "Response Breaks Contract",
				Status: http.StatusInternalServerError, Code: crm.EInternal, Detail: verr.Error()})
		}
		for k, v := range rec.header {
			orig.Header()[k] = v
		}
		orig.WriteHeader(rec.status)
		_, err := orig.Write(rec.body.Bytes())
		return err
	}
}

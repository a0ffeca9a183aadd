package server

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// Problem is an RFC 9457 problem detail with the gateway's extensions.
type Problem struct {
	Type       string            `json:"type"`
	Title      string            `json:"title"`
	Status     int               `json:"status"`
	Detail     string            `json:"detail,omitempty"`
	Instance   string            `json:"instance,omitempty"`
	Code       string            `json:"code"`
	Errors     []crm.FieldError  `json:"errors,omitempty"`
	VendorName string            `json:"vendor_name,omitempty"`
	Capability crm.Capability    `json:"capability,omitempty"`
	Vendor     *crm.VendorError  `json:"vendor,omitempty"`
	Outcome    crm.Outcome       `json:"outcome,omitempty"`
	RetryAfter *int              `json:"retry_after,omitempty"`
	RequestID  string            `json:"request_id,omitempty"`
	headers    map[string]string // extra response headers (Retry-After)
}

// problemType is the URI naming a problem kind.
func problemType(code string) string { return "urn:crm-gateway:problem:" + code }

// statusOf maps the gateway's error codes to HTTP statuses. It is the only
// place that does.
var statusOf = map[string]int{
	crm.EInvalid:        http.StatusBadRequest,
	crm.EUnauthorized:   http.StatusUnauthorized,
	crm.EForbidden:      http.StatusForbidden,
	crm.ENotFound:       http.StatusNotFound,
	crm.EConflict:       http.StatusConflict,
	crm.EUnprocessable:  http.StatusUnprocessableEntity,
	crm.ERateLimited:    http.StatusTooManyRequests,
	crm.ENotImplemented: http.StatusNotImplemented,
	crm.EVendor:         http.StatusBadGateway,
	crm.EUnavailable:    http.StatusServiceUnavailable,
	crm.EInternal:       http.StatusInternalServerError,
}

// codeOf maps statuses Echo itself raises back to the gateway's codes.
var codeOf = map[int]string{
	http.StatusBadRequest:            crm.EInvalid,
	http.StatusNotFound:              crm.ENotFound,
	http.StatusMethodNotAllowed:      crm.ENotFound,
	http.StatusRequestEntityTooLarge: crm.EInvalid,
	http.StatusUnsupportedMediaType:  crm.EInvalid,
	http.StatusUnauthorized:          crm.EUnauthorized,
	http.StatusForbidden:             crm.EForbidden,
	http.StatusServiceUnavailable:    crm.EUnavailable,
}

// problemFor converts any error a handler returned into a problem.
func problemFor(err error) *Problem {
	var ce *crm.Error
	var he *echo.HTTPError
	switch {
	case errors.As(err, &ce):
		status := statusOf[ce.Code]
		if status == 0 {
			status = http.StatusInternalServerError
		}
		p := &Problem{
			Type: problemType(ce.Code), Title: http.StatusText(status), Status: status, Code: ce.Code,
			Detail: ce.Message, Errors: ce.Fields, VendorName: ce.Vendor, Capability: ce.Capability,
			Vendor: ce.Remote, Outcome: ce.Outcome,
		}
		if ce.Code == crm.EInternal {
			p.Detail = "internal error"
		}
		if ce.RetryAfter > 0 {
			secs := int(math.Ceil(ce.RetryAfter.Seconds()))
			p.RetryAfter = &secs
			p.headers = map[string]string{"Retry-After": strconv.Itoa(secs)}
		}
		return p
	case errors.As(err, &he):
		code := codeOf[he.Code]
		if code == "" {
			code = crm.EInternal
		}
		detail := http.StatusText(he.Code)
		if m, ok := he.Message.(string); ok && he.Code < 500 {
			detail = m
		}
		return &Problem{Type: problemType(code), Title: http.StatusText(he.Code), Status: he.Code, Code: code, Detail: detail}
	default:
		return &Problem{Type: problemType(crm.EInternal), Title: http.StatusText(http.StatusInternalServerError),
			Status: http.StatusInternalServerError, Code: crm.EInternal, Detail: "internal error"}
	}
}

// errorHandler renders every error as application/problem+json.
func (s *Server) errorHandler(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	p := problemFor(err)
	p.Instance = c.Request().URL.Path
	if strings.Contains(c.Path(), ":secret") || strings.Contains(c.Path(), ":token") {
		p.Instance = c.Path() // the path itself is a credential: never echo it
	}
	p.RequestID = c.Response().Header().Get(echo.HeaderXRequestID)
	if p.Status >= 500 && p.Code != crm.EVendor && p.Code != crm.EUnavailable && p.Code != crm.ENotImplemented {
		s.log.Error("request failed", append(traceFields(c), zap.String("request_id", p.RequestID), zap.Error(err))...)
	}
	setBudgetHeaders(c)
	for k, v := range p.headers {
		c.Response().Header().Set(k, v)
	}
	c.Response().Header().Set(echo.HeaderContentType, "application/problem+json")
	c.Response().WriteHeader(p.Status)
	if c.Request().Method == http.MethodHead {
		return
	}
	_ = jsonEncode(c.Response(), p)
}

package server

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"runtime/debug"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
)

// Keys of values kept on the echo.Context for the duration of a request.
const (
	budgetKey = "crm.budget"
	vendorKey = "crm.vendor"
)

// recover turns a panic into a logged 500 problem instead of a dropped connection.
func (s *Server) recover(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if r := recover(); r != nil {
				if r == http.ErrAbortHandler {
					panic(r)
				}
				s.log.Error("panic serving request", append(traceFields(c), zap.Any("panic", r), zap.ByteString("stack", debug.Stack()),
					zap.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)))...)
				err = fmt.Errorf("panic: %v", r)
			}
		}()
		return next(c)
	}
}

// requestID adopts the caller's X-Request-ID when it is sane, or makes one,
// echoes it, and passes it on to vendor calls.
func (s *Server) requestID(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		id := c.Request().Header.Get(echo.HeaderXRequestID)
		if !validRequestID(id) {
			id = newRequestID()
		}
		c.Response().Header().Set(echo.HeaderXRequestID, id)
		ctx, budget := vendorhttp.WithBudget(vendorhttp.WithRequestID(c.Request().Context(), id))
		c.Set(budgetKey, budget)
		c.SetRequest(c.Request().WithContext(ctx))
		return next(c)
	}
}

func validRequestID(id string) bool {
	if id == "" || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if id[i] < 0x21 || id[i] > 0x7e {
			return false
		}
	}
	return true
}

func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// accessLog writes one line per request. It logs no header and no body, so
// no credential or customer data reaches the logs.
func (s *Server) accessLog(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err) // render now, so the line below has the final status
		}
		latency := time.Since(start)
		route := routeOf(c)
		if s.metrics != nil {
			s.metrics.HTTPRequest(route, methodOf(c.Request()), c.Response().Status, latency)
		}
		fields := append(traceFields(c),
			zap.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
			zap.String("method", c.Request().Method),
			zap.String("route", route),
			zap.Int("status", c.Response().Status),
			zap.Duration("latency", latency),
			zap.Int64("bytes_out", c.Response().Size),
		)
		if conn := c.Param("connection"); conn != "" {
			fields = append(fields, zap.String("connection", conn))
		}
		if v, ok := c.Get(vendorKey).(string); ok {
			fields = append(fields, zap.String("vendor", v))
		}
		s.log.Info("request", fields...)
		return nil
	}
}

// preferences applies `Prefer: wait=N` (RFC 7240): the longest this call may
// wait for vendor rate budget. Unknown or malformed preferences are ignored,
// as the RFC asks.
func (s *Server) preferences(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if d, ok := preferredWait(c.Request().Header.Values("Prefer")); ok {
			c.SetRequest(c.Request().WithContext(vendorhttp.WithWaitBound(c.Request().Context(), d)))
			c.Response().Header().Set("Preference-Applied", "wait="+strconv.FormatFloat(d.Seconds(), 'f', -1, 64))
		}
		return next(c)
	}
}

func preferredWait(values []string) (time.Duration, bool) {
	for _, v := range values {
		for _, pref := range strings.Split(v, ",") {
			name, val, ok := strings.Cut(strings.TrimSpace(pref), "=")
			if !ok || !strings.EqualFold(strings.TrimSpace(name), "wait") {
				continue
			}
			secs, err := strconv.ParseFloat(strings.Trim(strings.TrimSpace(val), `"`), 64)
			if err != nil || secs < 0 || secs > 86400 {
				continue
			}
			return time.Duration(secs * float64(time.Second)), true
		}
	}
	return 0, false
}

// setBudgetHeaders adds RateLimit-Policy and RateLimit when the request
// touched a vendor.
func setBudgetHeaders(c echo.Context) {
	b, ok := c.Get(budgetKey).(*vendorhttp.Budget)
	if !ok {
		return
	}
	if policy, limit, ok := b.Headers(); ok {
		c.Response().Header().Set("RateLimit-Policy", policy)
		c.Response().Header().Set("RateLimit", limit)
	}
}

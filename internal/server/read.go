package server

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/oapi"
)

// GetCustomer implements oapi.ServerInterface.
func (s *Server) GetCustomer(c echo.Context, name oapi.ConnectionParam, id oapi.CustomerIDParam) error {
	conn, err := s.connection(c, name)
	if err != nil {
		return err
	}
	cust, err := conn.GetCustomer(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, cust)
}

// ListCustomers implements oapi.ServerInterface.
func (s *Server) ListCustomers(c echo.Context, name oapi.ConnectionParam, p oapi.ListCustomersParams) error {
	conn, err := s.connection(c, name)
	if err != nil {
		return err
	}
	q := crm.Query{Email: deref(p.Email), Phone: deref(p.Phone), ExternalID: deref(p.ExternalId), Name: deref(p.Name),
		Tag: deref(p.Tag), Cursor: deref(p.Cursor), Limit: 20}
	if p.Limit != nil {
		q.Limit = *p.Limit
	}
	if p.UpdatedSince != nil {
		q.UpdatedSince = *p.UpdatedSince
	}
	page, next, err := conn.ListCustomers(c.Request().Context(), q)
	if err != nil {
		return err
	}
	var nextCursor *string
	if next != "" {
		nextCursor = &next
	}
	data := page.Customers
	if data == nil {
		data = []crm.Customer{}
	}
	return respond(c, http.StatusOK, map[string]any{"data": data, "next_cursor": nextCursor})
}

// ListCustomerFields implements oapi.ServerInterface.
func (s *Server) ListCustomerFields(c echo.Context, name oapi.ConnectionParam) error {
	conn, err := s.connection(c, name)
	if err != nil {
		return err
	}
	fields, err := conn.CustomerFields(c.Request().Context())
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, map[string]any{"data": fields})
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

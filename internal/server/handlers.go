package server

import (
	"encoding/json"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/crm-gateway/crm-gateway/internal/auth"
	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/gateway"
	"github.com/crm-gateway/crm-gateway/internal/oapi"
)

// connectionView is a connection as the API shows it: never a credential.
type connectionView struct {
	Name           string           `json:"name"`
	Vendor         string           `json:"vendor"`
	Sandbox        bool             `json:"sandbox"`
	Capabilities   []crm.Capability `json:"capabilities"`
	CustomerFields []string         `json:"customer_fields"`
	Limits         limitsView       `json:"limits"`
}

type limitsView struct {
	Requests       int     `json:"requests"`
	PeriodSeconds  float64 `json:"period_seconds"`
	Burst          int     `json:"burst"`
	MaxWaitSeconds float64 `json:"max_wait_seconds"`
	BatchSize      int     `json:"batch_size"`
}

func viewOf(c *gateway.Connection) connectionView {
	l := c.Limits
	return connectionView{
		Name: c.Name, Vendor: c.Vendor(), Sandbox: c.Sandbox, Capabilities: c.Capabilities(), CustomerFields: c.Fields(),
		Limits: limitsView{Requests: l.Requests, PeriodSeconds: l.Period.Seconds(), Burst: l.Burst,
			MaxWaitSeconds: l.MaxWait.Seconds(), BatchSize: c.BatchSize()},
	}
}

// Healthz implements oapi.ServerInterface.
func (s *Server) Healthz(c echo.Context) error {
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// Readyz implements oapi.ServerInterface.
func (s *Server) Readyz(c echo.Context) error {
	r := s.ready(c.Request().Context())
	status := http.StatusOK
	if r.Status == "not_ready" {
		status = http.StatusServiceUnavailable
	}
	return c.JSON(status, r)
}

// ListConnections implements oapi.ServerInterface.
func (s *Server) ListConnections(c echo.Context) error {
	key := c.Get(apiKeyKey).(*auth.Key)
	data := []connectionView{}
	for _, conn := range s.gw.Connections() {
		if key.Allows(conn.Name) {
			data = append(data, viewOf(conn))
		}
	}
	return c.JSON(http.StatusOK, map[string]any{"data": data})
}

// GetConnection implements oapi.ServerInterface.
func (s *Server) GetConnection(c echo.Context, name oapi.ConnectionParam) error {
	conn, err := s.connection(c, name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewOf(conn))
}

// CreateCustomer implements oapi.ServerInterface.
func (s *Server) CreateCustomer(c echo.Context, name oapi.ConnectionParam, _ oapi.CreateCustomerParams) error {
	conn, err := s.connection(c, name)
	if err != nil {
		return err
	}
	var w crm.CustomerWrite
	if err := decodeBody(c, &w.Fields); err != nil {
		return err
	}
	cust, err := conn.CreateCustomer(c.Request().Context(), w)
	if err != nil {
		return err
	}
	return respond(c, http.StatusCreated, cust)
}

// UpdateCustomer implements oapi.ServerInterface.
func (s *Server) UpdateCustomer(c echo.Context, name oapi.ConnectionParam, id oapi.CustomerIDParam, _ oapi.UpdateCustomerParams) error {
	conn, err := s.connection(c, name)
	if err != nil {
		return err
	}
	var f crm.Fields
	if err := decodeBody(c, &f); err != nil {
		return err
	}
	cust, err := conn.UpdateCustomer(c.Request().Context(), id, f)
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, cust)
}

// BatchCustomers implements oapi.ServerInterface.
func (s *Server) BatchCustomers(c echo.Context, name oapi.ConnectionParam, _ oapi.BatchCustomersParams) error {
	conn, err := s.connection(c, name)
	if err != nil {
		return err
	}
	if handled, err := s.batchJob(c, conn); handled { // a bulk job (jobs.go)
		return err
	}
	var b crm.Batch
	if err := decodeBody(c, &b); err != nil {
		return err
	}
	res, err := conn.WriteBatch(c.Request().Context(), b)
	if err != nil {
		return err
	}
	return respond(c, http.StatusOK, res)
}

// connection finds the named connection and notes its vendor for the access log.
func (s *Server) connection(c echo.Context, name string) (*gateway.Connection, error) {
	conn, err := s.gw.Connection(name)
	if err != nil {
		return nil, err
	}
	c.Set(vendorKey, conn.Vendor())
	return conn, nil
}

// decodeBody decodes the body the validator already checked.
func decodeBody(c echo.Context, v any) error {
	body, _ := c.Get(bodyKey).([]byte)
	if err := json.Unmarshal(body, v); err != nil {
		return crm.Invalid("the request body cannot be decoded", crm.FieldError{Field: "body", Reason: err.Error()})
	}
	return nil
}

// respond writes a JSON answer with the rate budget headers.
func respond(c echo.Context, status int, v any) error {
	setBudgetHeaders(c)
	c.Response().Header().Set(echo.HeaderContentType, echo.MIMEApplicationJSON)
	c.Response().WriteHeader(status)
	return jsonEncode(c.Response(), v)
}

package server

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/oapi"
)

// StartInteraction implements oapi.ServerInterface.
func (s *Server) StartInteraction(c echo.Context, name oapi.ConnectionParam, _ oapi.StartInteractionParams) error {
	conn, err := s.connection(c, name)
	if err != nil {
		return err
	}
	var start crm.InteractionStart
	if err := decodeBody(c, &start); err != nil {
		return err
	}
	ix, err := s.interactions.Start(c.Request().Context(), conn, start, s.baseURL(c))
	if err != nil {
		return err
	}
	return respond(c, http.StatusCreated, ix)
}

// UpdateInteraction implements oapi.ServerInterface.
func (s *Server) UpdateInteraction(c echo.Context, name oapi.ConnectionParam, id oapi.InteractionIDParam, _ oapi.UpdateInteractionParams) error {
	conn, err := s.connection(c, name)
	if err != nil {
		return err
	}
	var u crm.InteractionUpdate
	if err := decodeBody(c, &u); err != nil {
		return err
	}
	return respondInteraction(c)(conn.UpdateInteraction(c.Request().Context(), id, u))
}

// SendInteractionMessage implements oapi.ServerInterface.
func (s *Server) SendInteractionMessage(c echo.Context, name oapi.ConnectionParam, id oapi.InteractionIDParam, _ oapi.SendInteractionMessageParams) error {
	conn, err := s.connection(c, name)
	if err != nil {
		return err
	}
	var m crm.Message
	if err := decodeBody(c, &m); err != nil {
		return err
	}
	return respondInteraction(c)(conn.SendMessage(c.Request().Context(), id, m))
}

// StartTyping implements oapi.ServerInterface.
func (s *Server) StartTyping(c echo.Context, name oapi.ConnectionParam, id oapi.InteractionIDParam) error {
	conn, err := s.connection(c, name)
	if err != nil {
		return err
	}
	return respondInteraction(c)(conn.SetTyping(c.Request().Context(), id, true))
}

// StopTyping implements oapi.ServerInterface.
func (s *Server) StopTyping(c echo.Context, name oapi.ConnectionParam, id oapi.InteractionIDParam) error {
	conn, err := s.connection(c, name)
	if err != nil {
		return err
	}
	return respondInteraction(c)(conn.SetTyping(c.Request().Context(), id, false))
}

// FinishInteraction implements oapi.ServerInterface.
func (s *Server) FinishInteraction(c echo.Context, name oapi.ConnectionParam, id oapi.InteractionIDParam, _ oapi.FinishInteractionParams) error {
	conn, err := s.connection(c, name)
	if err != nil {
		return err
	}
	return respondInteraction(c)(conn.FinishInteraction(c.Request().Context(), id))
}

func respondInteraction(c echo.Context) func(*crm.Interaction, error) error {
	return func(ix *crm.Interaction, err error) error {
		if err != nil {
			return err
		}
		return respond(c, http.StatusOK, ix)
	}
}

// errNoWebhook is the one answer to a webhook for an unknown connection or
// with a wrong secret: it tells a prober nothing.
var errNoWebhook = crm.Errorf(crm.ENotFound, "not found")

// ReceiveWebhook implements oapi.ServerInterface. It validates its own
// request (see selfValidated): the secret is checked before anything else,
// so a caller without it learns nothing, not even whether the body is valid.
func (s *Server) ReceiveWebhook(c echo.Context, name oapi.ConnectionParam, secret string) error {
	conn, err := s.gw.Connection(name)
	if err != nil || conn.WebhookSecret == "" || !sameSecret(secret, conn.WebhookSecret) {
		return errNoWebhook
	}
	c.Set(vendorKey, conn.Vendor())
	body, err := s.readBody(c.Request())
	if err != nil {
		return err
	}
	n, err := s.interactions.Webhook(c.Request().Context(), conn, c.Request().Header, body)
	if err != nil {
		if crm.ErrorCode(err) == crm.EUnauthorized {
			return crm.Errorf(crm.EUnauthorized, "unauthorized")
		}
		return err
	}
	return c.JSON(http.StatusOK, map[string]int{"published": n})
}

// GetHistory implements oapi.ServerInterface: the hosted history, byte for
// byte as rendered when the interaction started.
func (s *Server) GetHistory(c echo.Context, token string) error {
	doc, ok, err := s.interactions.History(c.Request().Context(), token)
	switch {
	case err != nil:
		return &crm.Error{Code: crm.EUnavailable, Message: "the history store is unavailable", Err: err}
	case !ok:
		return crm.Errorf(crm.ENotFound, "no such history (it may have expired)")
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, doc)
}

// baseURL is how vendors reach this gateway: the configured public URL, or
// the scheme and host the request came in on.
func (s *Server) baseURL(c echo.Context) string {
	if s.publicURL != "" {
		return s.publicURL
	}
	return c.Scheme() + "://" + c.Request().Host
}

// sameSecret compares digests in constant time, so neither the content nor
// the length of the expected secret shows in the response time.
func sameSecret(got, want string) bool {
	g, w := sha256.Sum256([]byte(got)), sha256.Sum256([]byte(want))
	return subtle.ConstantTimeCompare(g[:], w[:]) == 1
}

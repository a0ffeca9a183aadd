package server

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/crm-gateway/crm-gateway/internal/auth"
	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/events"
	"github.com/crm-gateway/crm-gateway/internal/oapi"
)

// EventBus is what the server needs of the event log.
type EventBus interface {
	List(ctx context.Context, q events.ListQuery) ([]events.Event, string, error)
	Get(ctx context.Context, id string) (events.Event, error)
	Tail(ctx context.Context) (<-chan events.Event, error)
	Redeliver(ctx context.Context, id string) (int, error)
	Deliveries(ctx context.Context, id string) ([]events.DeliveryStatus, error)
}

// ListEvents implements oapi.ServerInterface. A key sees the events of the
// connections it may use.
func (s *Server) ListEvents(c echo.Context, p oapi.ListEventsParams) error {
	key := c.Get(apiKeyKey).(*auth.Key)
	q := events.ListQuery{Limit: 50, Type: deref(p.Type), Connection: deref(p.Connection), Cursor: deref(p.Cursor)}
	if p.Limit != nil {
		q.Limit = *p.Limit
	}
	if q.Connection != "" && !key.Allows(q.Connection) {
		return crm.Errorf(crm.EForbidden, "this API key may not use connection %q", q.Connection)
	}
	list, next, err := s.events.List(c.Request().Context(), q)
	if err != nil {
		return eventStoreError(err)
	}
	data := make([]events.Event, 0, len(list))
	for _, e := range list {
		if key.Allows(e.Connection) {
			data = append(data, e)
		}
	}
	var nextCursor *string
	if next != "" {
		nextCursor = &next
	}
	return c.JSON(http.StatusOK, map[string]any{"data": data, "next_cursor": nextCursor})
}

// GetEvent implements oapi.ServerInterface.
func (s *Server) GetEvent(c echo.Context, id oapi.EventIDParam) error {
	e, err := s.visibleEvent(c, id)
	if err != nil {
		return err
	}
	deliveries, err := s.events.Deliveries(c.Request().Context(), id)
	if err != nil {
		return eventStoreError(err)
	}
	if deliveries == nil {
		deliveries = []events.DeliveryStatus{}
	}
	return c.JSON(http.StatusOK, map[string]any{"event": e, "deliveries": deliveries})
}

// RedeliverEvent implements oapi.ServerInterface.
func (s *Server) RedeliverEvent(c echo.Context, id oapi.EventIDParam, _ oapi.RedeliverEventParams) error {
	if _, err := s.visibleEvent(c, id); err != nil {
		return err
	}
	n, err := s.events.Redeliver(c.Request().Context(), id)
	if err != nil {
		return eventStoreError(err)
	}
	return c.JSON(http.StatusAccepted, map[string]int{"queued": n})
}

func (s *Server) visibleEvent(c echo.Context, id string) (events.Event, error) {
	e, err := s.events.Get(c.Request().Context(), id)
	if err != nil {
		return e, eventStoreError(err)
	}
	if !c.Get(apiKeyKey).(*auth.Key).Allows(e.Connection) {
		// Not 403, and the very answer of a missing event: do not confirm it exists.
		return e, eventStoreError(events.ErrNotFound)
	}
	return e, nil
}

// heartbeat keeps idle event streams alive through proxies.
const heartbeat = 15 * time.Second

// StreamEvents implements oapi.ServerInterface with Server-Sent Events.
func (s *Server) StreamEvents(c echo.Context) error {
	key := c.Get(apiKeyKey).(*auth.Key)
	ctx := c.Request().Context()
	tail, err := s.events.Tail(ctx)
	if err != nil {
		return eventStoreError(err)
	}
	w := c.Response()
	w.Header().Set(echo.HeaderContentType, "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	fmt.Fprint(w, ": stream open\n\n")
	w.Flush()
	// The server's write timeout would cut a long-lived stream.
	_ = http.NewResponseController(w.Writer).SetWriteDeadline(time.Time{})
	tick := time.NewTicker(heartbeat)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
			fmt.Fprint(w, ": keep-alive\n\n")
		case e, ok := <-tail:
			if !ok {
				return nil
			}
			if !key.Allows(e.Connection) {
				continue
			}
			b, _ := json.Marshal(e)
			fmt.Fprintf(w, "id: %s\nevent: %s\ndata: %s\n\n", e.ID, e.Type, b)
		}
		w.Flush()
	}
}

func eventStoreError(err error) error {
	if errors.Is(err, events.ErrNotFound) {
		return crm.Errorf(crm.ENotFound, "no such event")
	}
	var ce *crm.Error
	if errors.As(err, &ce) {
		return err
	}
	return &crm.Error{Code: crm.EUnavailable, Message: "the event store is unavailable", Err: err}
}

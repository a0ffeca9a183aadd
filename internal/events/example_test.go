package events_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/events"
)

// A receiver checks every delivery with Verify before trusting it, and deduplicates on the
// webhook-id header (the event id) because delivery is at least once.
func ExampleVerify() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	got := make(chan string, 1)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if err := events.Verify(secret, r.Header, body, 5*time.Minute); err != nil {
			http.Error(w, "bad signature", http.StatusUnauthorized)
			return
		}
		var e events.Event
		_ = json.Unmarshal(body, &e)
		got <- r.Header.Get("webhook-id") + " " + e.Type + " " + string(e.Data)
	}))
	defer receiver.Close()

	bus := events.NewMemory(events.Config{Subscriptions: []events.Subscription{
		{Name: "backoffice", URL: receiver.URL, Types: []string{"interaction.*"}, Secret: secret},
	}})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = bus.Run(ctx) }()

	_, _ = bus.Publish(ctx, events.Event{ID: "evt_1", Type: "interaction.accepted", Connection: "zenvia-br",
		Vendor: "zenvia", Data: json.RawMessage(`{"state":"accepted"}`)})
	fmt.Println(<-got)
	// Output: evt_1 interaction.accepted {"state":"accepted"}
}

package zenvia_test

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/adapters/zenvia"
	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// FuzzReadWebhook feeds fuzzed bodies to the Zenvia trigger parser (run
// over its seeds by `go test`, fuzzed by scripts/fuzz.sh). It never
// panics; a body it refuses is a 400 (*crm.Error, code invalid, naming a
// field); a body it takes gives events whose data and extra are JSON and
// whose envelope marshals.
func FuzzReadWebhook(f *testing.F) {
	for _, s := range []string{
		`{"interaction_hash":"h1","state":"queued","position":2,"extra":{"ticket":"T-1"}}`,
		`{"interaction_hash":"h1","state":"finished"}`,
		`{"interaction_hash":"h1","message":{"hash":"m1","content":"hi","type":"text","url":""},"agent":{"id":7,"name":"Ana"},"extra":null}`,
		`{"interaction_hash":"h1","state":"brand_new_state","anything":[1,2,3]}`,
		`{"interaction_hash":"","state":"queued"}`,
		`{"interaction_hash":"h","position":1e40}`,
		`{"interaction_hash":"h","agent":{"id":"x"}}`,
		`{"interaction_hash":"h","message":null,"agent":{"id":1.5e3}}`,
		`null`, `[]`, `{`, ``,
	} {
		f.Add([]byte(s))
	}
	a := zenvia.New(nil, "token", 0)
	f.Fuzz(func(t *testing.T, body []byte) {
		if err := a.VerifyWebhook(map[string][]string{}, body); err != nil {
			t.Fatalf("zenvia signs nothing, yet VerifyWebhook refused: %v", err)
		}
		evs, err := a.ReadWebhook(body)
		if err != nil {
			var e *crm.Error
			if !errors.As(err, &e) || e.Code != crm.EInvalid || len(e.Fields) == 0 {
				t.Fatalf("refusal is not a 400 naming a field: %#v", err)
			}
			return
		}
		if len(evs) == 0 {
			t.Fatalf("body accepted but no event: %s", body)
		}
		for _, ev := range evs {
			if ev.Type == "" || ev.InteractionID == "" {
				t.Fatalf("event without type or interaction: %+v", ev)
			}
			if !json.Valid(ev.Data) {
				t.Fatalf("event data is not JSON: %q", ev.Data)
			}
			if len(ev.Extra) > 0 && !json.Valid(ev.Extra) {
				t.Fatalf("event extra is not JSON: %q", ev.Extra)
			}
			if _, err := json.Marshal(ev); err != nil {
				t.Fatalf("event does not marshal: %v", err)
			}
		}
	})
}

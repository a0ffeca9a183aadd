package helpcrunch_test

import (
	"crypto/hmac"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"errors"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/adapters/helpcrunch"
	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/vendorhttp"
)

const fzSigningKey = "fuzz-signing-key"

func fzSign(body []byte) string {
	mac := hmac.New(sha1.New, []byte(fzSigningKey))
	mac.Write(body)
	return hex.EncodeToString(mac.Sum(nil))
}

// FuzzWebhook feeds fuzzed bodies and signatures to HelpCrunch's webhook
// verification and parser (run over its seeds by `go test`, fuzzed by
// scripts/fuzz.sh). Nothing panics; a signature other than the body's HMAC
// is a 401; a correctly signed body is either refused with a 400 naming a
// field or gives events whose data is JSON and whose envelope marshals.
func FuzzWebhook(f *testing.F) {
	for _, s := range []struct {
		body string
		sig  string
	}{
		{`{"event":"chat.new","eventData":{"id":42},"id":"w1","createdAt":1700000000}`, ""},
		{`{"event":"message.chat.agent","eventData":{"chat":{"id":"42"},"text":"hi"},"id":7,"createdAt":"1700000000"}`, ""},
		{`{"event":"message.chat.customer","eventData":{"chat":42}}`, "00"},
		{`{"event":"customer.new","eventData":null,"createdAt":-5}`, "zz"},
		{`{"event":"something.else","eventData":[1,2],"createdAt":1e300,"id":{"a":1}}`, ""},
		{`{"event":"chat.closed","createdAt":"9999999999999"}`, ""},
		{`{"event":""}`, ""},
		{`{}`, ""},
		{`null`, ""},
		{`{`, ""},
	} {
		f.Add([]byte(s.body), s.sig, s.sig == "")
	}
	a := helpcrunch.New(&vendorhttp.Client{}, "api-key", 0, fzSigningKey)
	unsigned := helpcrunch.New(&vendorhttp.Client{}, "api-key", 0, "")
	f.Fuzz(func(t *testing.T, body []byte, sig string, signed bool) {
		if signed {
			sig = fzSign(body)
		}
		header := map[string][]string{"X-Helpcrunch-Signature": {sig}}
		if err := unsigned.VerifyWebhook(header, body); crm.ErrorCode(err) != crm.EUnauthorized {
			t.Fatalf("an account without a signing key verified a webhook: %v", err)
		}
		err := a.VerifyWebhook(header, body)
		good, _ := hex.DecodeString(sig)
		wantOK := hmac.Equal(good, mustHex(fzSign(body))) && len(sig) > 0
		switch {
		case wantOK && err != nil:
			t.Fatalf("a correctly signed webhook was refused: %v", err)
		case !wantOK && crm.ErrorCode(err) != crm.EUnauthorized:
			t.Fatalf("signature %q accepted or refused without 401: %v", sig, err)
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
			if ev.Type == "" {
				t.Fatalf("event without a type: %+v", ev)
			}
			if !json.Valid(ev.Data) {
				t.Fatalf("event data is not JSON: %q", ev.Data)
			}
			if _, err := json.Marshal(ev); err != nil {
				t.Fatalf("event does not marshal (occurred_at %v): %v", ev.OccurredAt, err)
			}
		}
	})
}

func mustHex(s string) []byte {
	b, err := hex.DecodeString(s)
	if err != nil {
		panic(err)
	}
	return b
}

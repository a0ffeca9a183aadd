package gateway

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strings"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/crm"
)

// A cursor is the vendor's own paging state (HelpCrunch's offset, NXCloud's
// `after`) wrapped with a fingerprint of the connection and filters it
// belongs to, base64url-encoded. It needs no server-side state, so any
// replica can continue a listing another one started, and a cursor reused
// with other filters is refused instead of paging the wrong result set.
type cursor struct {
	State       string `json:"s"`
	Fingerprint string `json:"f"`
}

func (c *Connection) fingerprint(q crm.Query) string {
	var since string
	if !q.UpdatedSince.IsZero() {
		since = q.UpdatedSince.UTC().Format(time.RFC3339Nano)
	}
	h := sha256.Sum256([]byte(strings.Join([]string{c.Name, q.Email, q.Phone, q.ExternalID, q.Name, q.Tag, since}, "\x00")))
	return hex.EncodeToString(h[:8])
}

func sealCursor(state, fingerprint string) string {
	b, _ := json.Marshal(cursor{State: state, Fingerprint: fingerprint})
	return base64.RawURLEncoding.EncodeToString(b)
}

func openCursor(s, fingerprint string) (string, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, &c)
	}
	switch {
	case err != nil || c.State == "":
		return "", crm.Invalid("the cursor is not valid", crm.FieldError{Field: "cursor", Reason: "is not a cursor this API gave"})
	case c.Fingerprint != fingerprint:
		return "", crm.Invalid("the cursor belongs to another listing",
			crm.FieldError{Field: "cursor", Reason: "was issued for another connection or other filters"})
	}
	return c.State, nil
}

func joinLines(lines []string) string { return strings.Join(lines, "\n  ") }

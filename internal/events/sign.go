package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Standard Webhooks headers (https://www.standardwebhooks.com).
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// secretPrefix marks a Standard Webhooks secret whose key is base64-encoded after it.
const secretPrefix = "whsec_"

// DefaultTolerance is how far a webhook-timestamp may be from the receiver's clock, either way,
// when [Verify] is given no tolerance; the Standard Webhooks libraries use the same.
const DefaultTolerance = 5 * time.Minute

// ErrInvalidSignature is wrapped by every error of [Verify].
var ErrInvalidSignature = errors.New("webhook signature verification failed")

// parseSecret returns the HMAC key of a subscription secret: the base64 after "whsec_", or else
// the string's bytes.
func parseSecret(secret string) ([]byte, error) {
	if secret == "" {
		return nil, errors.New("is required")
	}
	enc, ok := strings.CutPrefix(secret, secretPrefix)
	if !ok {
		return []byte(secret), nil
	}
	key, err := base64.StdEncoding.DecodeString(enc)
	if err != nil {
		key, err = base64.RawStdEncoding.DecodeString(enc)
	}
	if err != nil || len(key) == 0 {
		return nil, errors.New(`the part after "whsec_" is not base64`) // never echo the secret
	}
	return key, nil
}

// signature returns the base64 HMAC-SHA256 of "{id}.{timestamp}.{body}".
func signature(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}

// Sign returns the webhook-signature header value ("v1,<base64>") of a message with this id,
// timestamp and body, signed with secret (see [Subscription.Secret]).
func Sign(secret, id string, ts time.Time, body []byte) (string, error) {
	key, err := parseSecret(secret)
	if err != nil {
		return "", fmt.Errorf("events: secret %w", err)
	}
	return "v1," + signature(key, id, ts.Unix(), body), nil
}

// Verify checks a delivery as a Standard Webhooks receiver does: header must carry webhook-id,
// webhook-timestamp within tolerance of now (either way; ≤ 0 means [DefaultTolerance]) and a
// webhook-signature list ("v1,<sig> v1,<sig2>", as sent while a secret rotates) of which at least
// one entry is the HMAC of "{id}.{timestamp}.{body}" with secret's key. body must be the raw
// bytes received. Every error wraps [ErrInvalidSignature].
func Verify(secret string, header http.Header, body []byte, tolerance time.Duration) error {
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	key, err := parseSecret(secret)
	if err != nil {
		return fmt.Errorf("%w: secret %w", ErrInvalidSignature, err)
	}
	id, tsText, sigs := header.Get(HeaderID), header.Get(HeaderTimestamp), header.Get(HeaderSignature)
	if id == "" || tsText == "" || sigs == "" {
		return fmt.Errorf("%w: missing %s, %s or %s header", ErrInvalidSignature, HeaderID, HeaderTimestamp, HeaderSignature)
	}
	ts, err := strconv.ParseInt(tsText, 10, 64)
	if err != nil {
		return fmt.Errorf("%w: %s is not a unix timestamp", ErrInvalidSignature, HeaderTimestamp)
	}
	if skew := time.Since(time.Unix(ts, 0)); skew > tolerance || skew < -tolerance {
		return fmt.Errorf("%w: %s is %s away from now, beyond the tolerance of %s",
			ErrInvalidSignature, HeaderTimestamp, skew.Round(time.Second), tolerance)
	}
	want := []byte(signature(key, id, ts, body))
	for _, s := range strings.Fields(sigs) {
		version, sig, ok := strings.Cut(s, ",")
		if ok && version == "v1" && hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return fmt.Errorf("%w: no v1 signature matches", ErrInvalidSignature)
}

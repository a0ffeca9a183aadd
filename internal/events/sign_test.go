package events

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// The Standard Webhooks specification's published test vector.
const (
	vectorID   = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS   = 1614265330
	vectorBody = `{"test": 2432232314}`
	vectorSig  = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestSignMatchesTheStandardWebhooksVector(t *testing.T) {
	got, err := Sign(testSecret, vectorID, time.Unix(vectorTS, 0), []byte(vectorBody))
	if err != nil || got != vectorSig {
		t.Fatalf("Sign = %q, %v; want %q", got, err, vectorSig)
	}
}

func headers(id string, ts time.Time, sig string) http.Header {
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, sig)
	return h
}

func TestVerify(t *testing.T) {
	now := time.Now()
	body := []byte(`{"id":"e1"}`)
	sign := func(secret string, ts time.Time, b []byte) string {
		s, err := Sign(secret, "e1", ts, b)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := sign(testSecret, now, body)
	other := sign("whsec_c2VjcmV0LW9mLWEtcm90YXRlZC1lbmRwb2ludA==", now, body)
	cases := []struct {
		name   string
		secret string
		h      http.Header
		body   []byte
		ok     bool
	}{
		{"valid", testSecret, headers("e1", now, good), body, true},
		{"one of several signatures (rotation)", testSecret, headers("e1", now, other+" "+good), body, true},
		{"raw secret", "plain-secret", headers("e1", now, sign("plain-secret", now, body)), body, true},
		{"4 minutes old", testSecret, headers("e1", now.Add(-4*time.Minute), sign(testSecret, now.Add(-4*time.Minute), body)), body, true},
		{"tampered body", testSecret, headers("e1", now, good), []byte(`{"id":"e2"}`), false},
		{"other id", testSecret, headers("e2", now, good), body, false},
		{"wrong secret", testSecret, headers("e1", now, other), body, false},
		{"raw secret is not the base64 one", "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", headers("e1", now, good), body, false},
		{"too old", testSecret, headers("e1", now.Add(-6*time.Minute), sign(testSecret, now.Add(-6*time.Minute), body)), body, false},
		{"too new", testSecret, headers("e1", now.Add(6*time.Minute), sign(testSecret, now.Add(6*time.Minute), body)), body, false},
		{"other version", testSecret, headers("e1", now, "v1a,"+strings.TrimPrefix(good, "v1,")), body, false},
		{"no signature", testSecret, headers("e1", now, ""), body, false},
		{"bad timestamp", testSecret, http.Header{"Webhook-Id": {"e1"}, "Webhook-Timestamp": {"soon"}, "Webhook-Signature": {good}}, body, false},
		{"invalid whsec secret", "whsec_!!!", headers("e1", now, good), body, false},
		{"empty secret", "", headers("e1", now, good), body, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.h, tc.body, 0)
			if (err == nil) != tc.ok {
				t.Fatalf("Verify = %v; want ok=%v", err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidSignature) {
				t.Errorf("error %v does not wrap ErrInvalidSignature", err)
			}
			if err != nil && tc.secret != "" && strings.Contains(err.Error(), tc.secret) {
				t.Errorf("error %q shows the secret", err)
			}
		})
	}
	// A tolerance is honoured.
	old := now.Add(-time.Hour)
	if err := Verify(testSecret, headers("e1", old, sign(testSecret, old, body)), body, 2*time.Hour); err != nil {
		t.Errorf("Verify with a 2h tolerance: %v", err)
	}
}

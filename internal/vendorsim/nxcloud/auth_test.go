package nxcloud_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
)

// TestAuthentication covers the public headers, the timestamp window and the signature.
func TestAuthentication(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	now := h.clock.Now()
	tsAt := func(d time.Duration) string { return strconv.FormatInt(now.Add(d).UnixMilli(), 10) }
	body := mustJSON(t, obj{"tenant_id": h.cfg.TenantID, "app_key": h.cfg.AppKey, "limit": 10})
	// The same JSON value spelled differently: a verifier must hash the bytes it received.
	var spaced bytes.Buffer
	if err := json.Indent(&spaced, body, "", "  "); err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name     string
		call     call
		wantCode int
		wantMsg  string
	}{
		{name: "valid", call: call{}, wantCode: 0},
		{name: "missing accessKey", call: call{drop: "accessKey"}, wantCode: 1001, wantMsg: "accessKey"},
		{name: "missing ts", call: call{drop: "ts"}, wantCode: 1001, wantMsg: "ts"},
		{name: "missing bizType", call: call{drop: "bizType"}, wantCode: 1001, wantMsg: "bizType"},
		{name: "missing action", call: call{drop: "action"}, wantCode: 1001, wantMsg: "action"},
		{name: "missing sign", call: call{drop: "sign"}, wantCode: 1001, wantMsg: "sign"},
		{name: "empty sign", call: call{blank: "sign"}, wantCode: 1001, wantMsg: "sign"},
		{name: "ts not a number", call: call{ts: "yesterday"}, wantCode: 1002, wantMsg: "ts"},
		{name: "ts in seconds reads as 1970", call: call{ts: strconv.FormatInt(now.Unix(), 10)}, wantCode: 1004},
		{name: "ts 60s behind accepted", call: call{ts: tsAt(-60 * time.Second)}, wantCode: 0},
		{name: "ts 60s ahead accepted", call: call{ts: tsAt(60 * time.Second)}, wantCode: 0},
		{name: "ts 60.001s behind expired", call: call{ts: tsAt(-60*time.Second - time.Millisecond)}, wantCode: 1004},
		{name: "ts 60.001s ahead expired", call: call{ts: tsAt(60*time.Second + time.Millisecond)}, wantCode: 1004},
		{name: "bizType of another product", call: call{bizType: "1"}, wantCode: 1002, wantMsg: "bizType"},
		{name: "action of another product", call: call{action: "send"}, wantCode: 1002, wantMsg: "action"},
		{name: "unknown accessKey", call: call{ak: "someone-else", secret: "their-secret"}, wantCode: 1005},
		{name: "wrong secret", call: call{secret: "not-the-secret"}, wantCode: 1003},
		{name: "uppercase hex sign", call: call{sign: strings.ToUpper(nxcloud.Sign(h.cfg.AccessKey, "mt", "2", tsAt(0), body, h.cfg.AccessSecret))}, wantCode: 1003},
		{name: "signed over re-encoded body", call: call{signBody: spaced.Bytes()}, wantCode: 1003},
		{name: "signed without the body", call: call{signBody: []byte{}}, wantCode: 1003},
		{name: "spaced body signed as sent", call: call{body: spaced.Bytes()}, wantCode: 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.call
			c.path = nxcloud.PathQuery
			if c.body == nil {
				c.body = body
			}
			a := h.do(c)
			assertEnvelope(t, a)
			if a.Status != http.StatusOK {
				t.Errorf("status = %d, want 200 (the default for error answers)", a.Status)
			}
			if a.Code != tt.wantCode {
				t.Fatalf("code = %d (%s), want %d", a.Code, a.Message, tt.wantCode)
			}
			if tt.wantCode != 0 {
				if string(a.Data) != `""` {
					t.Errorf("error data = %s, want \"\"", a.Data)
				}
				if a.Message == "" || !strings.Contains(a.Message, tt.wantMsg) {
					t.Errorf("message = %q, want it to mention %q", a.Message, tt.wantMsg)
				}
			}
		})
	}
}

// TestAuthenticationGET checks that a GET, which has no body, is signed without a body part and
// that its query string is not signed.
func TestAuthenticationGET(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	q := "tenant_id=144&app_key=sandbox-app"
	tests := []struct {
		name     string
		call     call
		wantCode int
	}{
		{"no body", call{}, 0},
		{"signed as if it had a body", call{signBody: []byte("{}")}, 1003},
		{"missing header", call{drop: "ts"}, 1001},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.call
			c.method, c.path, c.query = http.MethodGet, nxcloud.PathFields, q
			if a := h.do(c); a.Code != tt.wantCode {
				t.Errorf("code = %d (%s), want %d", a.Code, a.Message, tt.wantCode)
			}
		})
	}
}

// TestConfiguredCredentials checks that configured credentials replace the sandbox defaults.
func TestConfiguredCredentials(t *testing.T) {
	h := newHarness(t, nxcloud.Config{AccessKey: "ak-1", AccessSecret: "secret-1", MaxSkew: 5 * time.Second})
	body := []byte(`{"tenant_id":144,"app_key":"sandbox-app","limit":1}`)
	now := h.clock.Now()
	tests := []struct {
		name     string
		call     call
		wantCode int
	}{
		{"configured pair", call{}, 0},
		{"sandbox default key", call{ak: nxcloud.DefaultAccessKey, secret: nxcloud.DefaultAccessSecret}, 1005},
		{"configured key, default secret", call{secret: nxcloud.DefaultAccessSecret}, 1003},
		{"within configured skew", call{ts: strconv.FormatInt(now.Add(-5*time.Second).UnixMilli(), 10)}, 0},
		{"beyond configured skew", call{ts: strconv.FormatInt(now.Add(-6*time.Second).UnixMilli(), 10)}, 1004},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := tt.call
			c.path, c.body = nxcloud.PathQuery, body
			if a := h.do(c); a.Code != tt.wantCode {
				t.Errorf("code = %d (%s), want %d", a.Code, a.Message, tt.wantCode)
			}
		})
	}
}

// TestContentType checks the documented Content-Type on POST bodies.
func TestContentType(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	body := []byte(`{"tenant_id":144,"app_key":"sandbox-app","limit":1}`)
	tests := []struct {
		contentType string
		wantCode    int
	}{
		{"application/json", 0},
		{"application/json; charset=utf-8", 0},
		{"-", 1002},
		{"text/plain", 1002},
		{"application/x-www-form-urlencoded", 1002},
	}
	for _, tt := range tests {
		t.Run(tt.contentType, func(t *testing.T) {
			a := h.do(call{path: nxcloud.PathQuery, body: body, contentType: tt.contentType})
			if a.Code != tt.wantCode {
				t.Errorf("code = %d (%s), want %d", a.Code, a.Message, tt.wantCode)
			}
		})
	}
}

// TestErrorHTTPStatus checks that error answers use the configured status and successes 200.
func TestErrorHTTPStatus(t *testing.T) {
	tests := []struct {
		name       string
		cfgStatus  int
		wantStatus int
	}{
		{"default", 0, http.StatusOK},
		{"400", http.StatusBadRequest, http.StatusBadRequest},
		{"500", http.StatusInternalServerError, http.StatusInternalServerError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, nxcloud.Config{ErrorHTTPStatus: tt.cfgStatus})
			bad := h.do(call{path: nxcloud.PathQuery, body: []byte(`{}`), secret: "wrong"})
			if bad.Code != 1003 || bad.Status != tt.wantStatus {
				t.Errorf("bad sign: status %d code %d, want %d / 1003", bad.Status, bad.Code, tt.wantStatus)
			}
			ok := h.do(call{method: http.MethodGet, path: nxcloud.PathFields, query: "tenant_id=144&app_key=sandbox-app"})
			if ok.Code != 0 || ok.Status != http.StatusOK {
				t.Errorf("success: status %d code %d, want 200 / 0", ok.Status, ok.Code)
			}
		})
	}
}

// TestTraceIDsAreUnique checks that every answer gets its own trace id.
func TestTraceIDsAreUnique(t *testing.T) {
	h := newHarness(t, nxcloud.Config{})
	seen := map[string]bool{}
	for i := 0; i < 20; i++ {
		a := h.do(call{path: nxcloud.PathQuery, body: []byte(`{}`), secret: "wrong"})
		if seen[a.TraceID] {
			t.Fatalf("traceId %s repeated", a.TraceID)
		}
		seen[a.TraceID] = true
	}
}

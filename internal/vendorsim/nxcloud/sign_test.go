package nxcloud_test

import (
	"crypto/md5"
	"encoding/hex"
	"testing"

	"github.com/crm-gateway/crm-gateway/internal/vendorsim/nxcloud"
)

// TestSignPublishedVectors checks Sign against the vendor's published test vectors, which show
// that key order and whitespace in the body change the signature.
func TestSignPublishedVectors(t *testing.T) {
	const ak, ts, biz, action, secret = "fme2na3kdi3ki", "1655710885431", "1", "send", "abciiiko2k3"
	tests := []struct {
		body string
		want string
	}{
		{`{"name":"牛小信","id":10001}`, "87c3560d3331ae23f1021e2025722354"},
		{`{"id":10001,"name":"牛小信"}`, "7750759da06333f20d0640be09355e34"},
		{`{"id": 10001, "name": "牛小信"}`, "d0c24a9886c629330d7f3f2056c65bc2"},
	}
	for _, tt := range tests {
		t.Run(tt.body, func(t *testing.T) {
			if got := nxcloud.Sign(ak, action, biz, ts, []byte(tt.body), secret); got != tt.want {
				t.Errorf("Sign = %s, want %s", got, tt.want)
			}
		})
	}
}

// TestSignEmptyBody checks that an empty body contributes no "&body=" part at all.
func TestSignEmptyBody(t *testing.T) {
	sum := md5.Sum([]byte("accessKey=ak&action=mt&bizType=2&ts=1700000000000&accessSecret=sec"))
	want := hex.EncodeToString(sum[:])
	tests := []struct {
		name string
		body []byte
	}{
		{"nil", nil},
		{"empty", []byte{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := nxcloud.Sign("ak", "mt", "2", "1700000000000", tt.body, "sec"); got != want {
				t.Errorf("Sign = %s, want %s", got, want)
			}
		})
	}
}

package nxcloud

import (
	"crypto/md5"
	"encoding/hex"
	"net/http"
	"strconv"
	"time"
)

// The fixed header values NXCloud's CDP openapi expects.
const (
	bizType = "2"
	action  = "mt"
)

// sign returns NXCloud's request signature: the lowercase hex MD5 of
// "accessKey=..&action=..&bizType=..&ts=..", then "&body=<raw body>" when
// there is a body, then "&accessSecret=..". The body is the exact bytes
// sent, so it must be signed after it is encoded and never re-encoded.
func sign(accessKey, action, bizType, ts string, body []byte, secret string) string {
	h := md5.New()
	h.Write([]byte("accessKey=" + accessKey + "&action=" + action + "&bizType=" + bizType + "&ts=" + ts))
	if len(body) > 0 {
		h.Write([]byte("&body="))
		h.Write(body)
	}
	h.Write([]byte("&accessSecret=" + secret))
	return hex.EncodeToString(h.Sum(nil))
}

// authorizer returns the function that adds NXCloud's signed headers to a
// request; ts is taken at send time so retries carry a fresh one.
func authorizer(accessKey, secret string, now func() time.Time) func(*http.Request, []byte) {
	return func(r *http.Request, body []byte) {
		ts := strconv.FormatInt(now().UnixMilli(), 10)
		r.Header.Set("accessKey", accessKey)
		r.Header.Set("ts", ts)
		r.Header.Set("bizType", bizType)
		r.Header.Set("action", action)
		r.Header.Set("sign", sign(accessKey, action, bizType, ts, body, secret))
	}
}

package nxcloud

import (
	"crypto/md5"
	"crypto/subtle"
	"encoding/hex"
	"mime"
	"net/http"
	"strconv"
	"time"
)

// Sign returns the NXCloud request signature: the lowercase hex MD5 of
// "accessKey=<ak>&action=<action>&bizType=<bizType>&ts=<ts>", then "&body=<body>" when body is
// not empty, then "&accessSecret=<secret>". body must be the exact bytes sent on the wire: key
// order and whitespace change the signature.
//
// It exists for this package's own tests and for callers driving the simulator by hand; the
// gateway's adapter keeps its own implementation so that the two can witness each other.
func Sign(ak, action, bizType, ts string, body []byte, secret string) string {
	h := md5.New()
	h.Write([]byte("accessKey=" + ak + "&action=" + action + "&bizType=" + bizType + "&ts=" + ts))
	if len(body) > 0 {
		h.Write([]byte("&body="))
		h.Write(body)
	}
	h.Write([]byte("&accessSecret=" + secret))
	return hex.EncodeToString(h.Sum(nil))
}

// Public header names and the fixed values this product line requires.
const (
	HeaderAccessKey = "accessKey" // the account's access key
	HeaderTS        = "ts"        // request time, Unix milliseconds as a decimal string
	HeaderBizType   = "bizType"   // business type, "2" for this API
	HeaderAction    = "action"    // business operation, "mt" for this API
	HeaderSign      = "sign"      // Sign over the other headers and the raw body

	// BizType and Action are the fixed values the CDP openapi expects.
	BizType = "2"
	Action  = "mt"
)

// authenticate checks the public headers and the signature over the raw body bytes.
func (s *Sim) authenticate(r *http.Request, body []byte) *apiError {
	vals := make(map[string]string, 5)
	for _, name := range []string{HeaderAccessKey, HeaderTS, HeaderBizType, HeaderAction, HeaderSign} {
		v := r.Header.Get(name)
		if v == "" {
			return &apiError{code: CodeMissingParam, msg: "missing public parameter: " + name}
		}
		vals[name] = v
	}

	ms, err := strconv.ParseInt(vals[HeaderTS], 10, 64)
	if err != nil {
		return errParam("ts must be a timestamp in milliseconds, got %q", vals[HeaderTS])
	}
	skew := s.cfg.Now().Sub(time.UnixMilli(ms))
	if skew > s.cfg.MaxSkew || skew < -s.cfg.MaxSkew {
		return &apiError{code: CodeTimestampExpire, msg: "timestamp expired: ts differs from server time by " + skew.String()}
	}

	if vals[HeaderBizType] != BizType {
		return errParam("bizType must be %q, got %q", BizType, vals[HeaderBizType])
	}
	if vals[HeaderAction] != Action {
		return errParam("action must be %q, got %q", Action, vals[HeaderAction])
	}
	if subtle.ConstantTimeCompare([]byte(vals[HeaderAccessKey]), []byte(s.cfg.AccessKey)) != 1 {
		return &apiError{code: CodeNoPermission, msg: "no permission: unknown accessKey"}
	}

	want := Sign(vals[HeaderAccessKey], vals[HeaderAction], vals[HeaderBizType], vals[HeaderTS], body, s.cfg.AccessSecret)
	if subtle.ConstantTimeCompare([]byte(vals[HeaderSign]), []byte(want)) != 1 {
		return &apiError{code: CodeBadSignature, msg: "signature verification failed"}
	}
	return nil
}

// checkContentType enforces the documented Content-Type: application/json on POST bodies.
func checkContentType(r *http.Request) *apiError {
	ct := r.Header.Get("Content-Type")
	mt, _, err := mime.ParseMediaType(ct)
	if err != nil || mt != "application/json" {
		return errParam("Content-Type must be application/json, got %q", ct)
	}
	return nil
}

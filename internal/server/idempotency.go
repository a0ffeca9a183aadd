package server

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/auth"
	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/idempotency"
)

// Idempotency-Key (IETF draft-ietf-httpapi-idempotency-key-header): a POST
// or PATCH carrying the header runs once per key; its answer is stored and
// answered again to repeats.

const (
	// IdempotencyKeyHeader is the request header naming a write's key.
	IdempotencyKeyHeader = "Idempotency-Key"
	// IdempotentReplayedHeader marks an answer replayed from the store.
	IdempotentReplayedHeader = "Idempotent-Replayed"

	maxIdempotencyKey       = 255
	defaultIdempotencyTTL   = 24 * time.Hour
	defaultIdempotencyLease = 30 * time.Second
	defaultIdempotencyBody  = 4 << 20
	// idempotencyRetryAfter is what a 409 asks the client to wait: the first
	// request is usually about to finish.
	idempotencyRetryAfter = time.Second
	// idempotencyStoreTimeout bounds each store call made after the handler
	// ran (it outlives a client that went away: the answer must be kept).
	idempotencyStoreTimeout = 2 * time.Second
	// drainForFingerprint is how much of a streamed body the handler left
	// unread is read to finish its fingerprint; beyond it nothing is stored.
	drainForFingerprint = 256 << 10
)

// IdempotencyStore keeps Idempotency-Key leases and answers (package
// idempotency: Redis, shared by replicas, or Memory).
type IdempotencyStore interface {
	// Begin takes the lease on key, or returns the stored answer, or
	// idempotency.ErrInFlight while another request holds the lease.
	Begin(ctx context.Context, key string, lease time.Duration) (*idempotency.Response, string, error)
	// Renew extends the lease held with token; false means it was lost.
	Renew(ctx context.Context, key, token string, lease time.Duration) (bool, error)
	// Complete replaces the lease with the answer, kept for ttl.
	Complete(ctx context.Context, key, token string, resp *idempotency.Response, ttl time.Duration) (bool, error)
	// Release drops the lease so the key can be used again.
	Release(ctx context.Context, key, token string) error
}

// IdempotencyOptions configure Idempotency-Key handling.
type IdempotencyOptions struct {
	// Store keeps leases and answers; nil keeps them in this process (one
	// replica only, as in the sandbox).
	Store IdempotencyStore
	// TTL is how long an answer is replayed (default 24h).
	TTL time.Duration
	// Lease is how long a request keeps its key in flight without renewing
	// it; a running request renews it every Lease/3, so it bounds only how
	// long a crashed replica blocks its keys (default 30s).
	Lease time.Duration
	// MaxBody is the largest answer body stored (default 4 MiB); a larger
	// answer is not kept and its key is released.
	MaxBody int
}

type idempotencyConfig struct {
	store   IdempotencyStore
	ttl     time.Duration
	lease   time.Duration
	maxBody int
}

func newIdempotencyConfig(o IdempotencyOptions) idempotencyConfig {
	c := idempotencyConfig{store: o.Store, ttl: o.TTL, lease: o.Lease, maxBody: o.MaxBody}
	if c.store == nil {
		c.store = idempotency.NewMemory()
	}
	if c.ttl <= 0 {
		c.ttl = defaultIdempotencyTTL
	}
	if c.lease <= 0 {
		c.lease = defaultIdempotencyLease
	}
	if c.maxBody <= 0 {
		c.maxBody = defaultIdempotencyBody
	}
	return c
}

// replayedHeaders are the response headers stored with an answer.
var replayedHeaders = []string{echo.HeaderContentType, echo.HeaderLocation, "RateLimit-Policy", "RateLimit", "Preference-Applied"}

// idempotency runs a POST or PATCH that carries an Idempotency-Key at most
// once per key: the first request takes a lease on the key and its answer is
// stored (except 429 and 5xx, which the client should retry); a repeat with
// the same body is answered the stored answer with Idempotent-Replayed:
// true, a repeat with another body 422, and a repeat while the first still
// runs 409 with Retry-After. Keys are scoped to the API key (validate
// authenticated it), the method and the path. It sits after validate, so
// requests refused by authentication or validation never take a key.
func (s *Server) idempotency(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		req := c.Request()
		if req.Method != http.MethodPost && req.Method != http.MethodPatch {
			return next(c)
		}
		values := req.Header.Values(IdempotencyKeyHeader)
		if len(values) == 0 {
			return next(c)
		}
		client, ok := c.Get(apiKeyKey).(*auth.Key)
		if !ok {
			return next(c) // no API key (vendor webhooks): no client to scope a key to
		}
		key, err := parseIdempotencyKey(values)
		if err != nil {
			return crm.Invalid("the Idempotency-Key header is not valid", crm.FieldError{Field: IdempotencyKeyHeader, Reason: err.Error()})
		}
		scope := idempotencyScope(client.Name, req, key)
		stored, token, err := s.idem.store.Begin(req.Context(), scope, s.idem.lease)
		switch {
		case errors.Is(err, idempotency.ErrInFlight):
			return &crm.Error{Code: crm.EConflict, Message: "a request with this Idempotency-Key is still in progress; retry later",
				Fields:  []crm.FieldError{{Field: IdempotencyKeyHeader, Reason: "is in use by a request still in progress"}},
				Outcome: crm.OutcomeNotApplied, RetryAfter: idempotencyRetryAfter}
		case err != nil:
			s.log.Error("idempotency store failed", append(traceFields(c), zap.Error(err))...)
			return &crm.Error{Code: crm.EUnavailable, Message: "the Idempotency-Key cannot be checked right now; nothing was done",
				Outcome: crm.OutcomeNotApplied, RetryAfter: idempotencyRetryAfter, Err: err}
		case stored != nil:
			fp, err := s.fingerprint(c)
			if err != nil {
				return err
			}
			if fp != stored.Fingerprint {
				return &crm.Error{Code: crm.EUnprocessable, Message: "this Idempotency-Key was already used with a different request body",
					Fields:  []crm.FieldError{{Field: IdempotencyKeyHeader, Reason: "was already used with a different request body"}},
					Outcome: crm.OutcomeNotApplied}
			}
			return replay(c, stored)
		}
		return s.runOnce(c, next, scope, token)
	}
}

// runOnce runs the request holding the key's lease and stores its answer.
func (s *Server) runOnce(c echo.Context, next echo.HandlerFunc, scope, token string) error {
	req := c.Request()
	stopRenewing := s.keepLease(c, scope, token)
	settled := false // the answer is stored, or the lease is gone
	defer func() {
		stopRenewing()
		if settled {
			return
		}
		ctx, cancel := storeContext(req)
		defer cancel()
		if err := s.idem.store.Release(ctx, scope, token); err != nil {
			s.log.Warn("idempotency key not released; it frees itself when its lease ends",
				append(traceFields(c), zap.Duration("lease", s.idem.lease), zap.Error(err))...)
		}
	}()

	var fp idempotency.Fingerprint
	var streamed *hashingBody
	if stream, _ := c.Get(streamKey).(bool); stream {
		streamed = &hashingBody{ReadCloser: req.Body, h: sha256.New()} // hashed as the handler reads it
		req.Body = streamed
	} else {
		body, _ := c.Get(bodyKey).([]byte)
		fp = idempotency.FingerprintOf(body)
	}

	res := c.Response()
	orig := res.Writer
	w := &captureWriter{ResponseWriter: orig, max: s.idem.maxBody}
	res.Writer = w
	defer func() { res.Writer = orig }() // also when next panics
	if err := next(c); err != nil {
		c.Error(err) // render now, into w, so the answer can be stored
	}
	res.Writer = orig
	stopRenewing()

	if streamed != nil {
		var whole bool
		if fp, whole = streamed.finish(drainForFingerprint); !whole {
			return nil // the handler stopped reading early: no fingerprint to store under
		}
	}
	switch {
	case w.status == 0 || w.status >= 500 || w.status == http.StatusTooManyRequests:
		return nil // not kept: the client should retry these
	case w.overflow:
		s.log.Warn("answer too large to keep for its Idempotency-Key; the key was released",
			append(traceFields(c), zap.Int("max_bytes", s.idem.maxBody))...)
		return nil
	}
	ctx, cancel := storeContext(req)
	defer cancel()
	ok, err := s.idem.store.Complete(ctx, scope, token, &idempotency.Response{
		Fingerprint: fp, Status: w.status, Header: w.header, Body: w.body.Bytes()}, s.idem.ttl)
	switch {
	case err != nil:
		s.log.Error("answer not kept for its Idempotency-Key", append(traceFields(c), zap.Error(err))...)
	case !ok:
		settled = true
		s.log.Warn("answer not kept for its Idempotency-Key: the lease was lost", traceFields(c)...)
	default:
		settled = true
	}
	return nil
}

// keepLease renews the lease every Lease/3 until stop is called; stop
// waits for a renewal in progress, so none races with Complete, and may be
// called more than once.
func (s *Server) keepLease(c echo.Context, scope, token string) (stop func()) {
	done, exited := make(chan struct{}), make(chan struct{})
	every := s.idem.lease / 3
	fields := traceFields(c) // c is not touched after the request
	go func() {
		defer close(exited)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), every)
			ok, err := s.idem.store.Renew(ctx, scope, token, s.idem.lease)
			cancel()
			switch {
			case err != nil:
				s.log.Warn("idempotency lease not renewed", append(fields, zap.Error(err))...)
			case !ok:
				s.log.Warn("idempotency lease lost while the request runs", fields...)
				return
			}
		}
	}()
	return sync.OnceFunc(func() { close(done); <-exited })
}

// storeContext is for store calls after the handler: detached from the
// client, which may have gone, and bounded.
func storeContext(req *http.Request) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(req.Context()), idempotencyStoreTimeout)
}

// replay answers the stored answer.
func replay(c echo.Context, r *idempotency.Response) error {
	res := c.Response()
	for k, v := range r.Header {
		res.Header()[k] = slices.Clone(v)
	}
	res.Header().Set(IdempotentReplayedHeader, "true")
	res.WriteHeader(r.Status)
	_, err := res.Write(r.Body)
	return err
}

// fingerprint is the SHA-256 of the request body: the bytes validate read,
// or, for a batch streamed into a job, the body read now (never held whole).
func (s *Server) fingerprint(c echo.Context) (idempotency.Fingerprint, error) {
	if stream, _ := c.Get(streamKey).(bool); !stream {
		body, _ := c.Get(bodyKey).([]byte)
		return idempotency.FingerprintOf(body), nil
	}
	h := sha256.New()
	n, err := io.Copy(h, io.LimitReader(c.Request().Body, s.jobBody+1))
	switch {
	case err != nil:
		return idempotency.Fingerprint{}, crm.Invalid("the request body could not be read")
	case n > s.jobBody:
		return idempotency.Fingerprint{}, echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the request body exceeds %d bytes", s.jobBody))
	}
	var fp idempotency.Fingerprint
	h.Sum(fp[:0])
	return fp, nil
}

// idempotencyScope is the store key of an Idempotency-Key: the client's API
// key name in clear (to find a client's keys), then a digest of method,
// path and key, so keys of any content and length make fixed-size names.
func idempotencyScope(client string, req *http.Request, key string) string {
	target := req.URL.EscapedPath()
	if req.URL.RawQuery != "" {
		target += "?" + req.URL.RawQuery
	}
	d := sha256.Sum256([]byte(req.Method + "\x00" + target + "\x00" + key))
	return client + ":" + hex.EncodeToString(d[:])
}

// parseIdempotencyKey reads the header: an sf-string as the draft defines it
// ("..." with \" and \\ escapes), or, as many clients send it, a bare token.
func parseIdempotencyKey(values []string) (string, error) {
	if len(values) != 1 {
		return "", errors.New("send the header once")
	}
	v := strings.TrimSpace(values[0])
	var key string
	if strings.HasPrefix(v, `"`) {
		var b strings.Builder
		closed := false
		for i := 1; i < len(v); i++ {
			ch := v[i]
			switch {
			case closed:
				return "", errors.New("nothing may follow the closing quote")
			case ch == '"':
				closed = true
			case ch == '\\':
				if i+1 >= len(v) || (v[i+1] != '"' && v[i+1] != '\\') {
					return "", errors.New(`only \" and \\ may be escaped`)
				}
				i++
				b.WriteByte(v[i])
			case ch < 0x20 || ch > 0x7e:
				return "", errors.New("must be printable ASCII")
			default:
				b.WriteByte(ch)
			}
		}
		if !closed {
			return "", errors.New("the quoted string is not closed")
		}
		key = b.String()
	} else {
		for i := 0; i < len(v); i++ {
			if v[i] < 0x21 || v[i] > 0x7e || v[i] == '"' {
				return "", errors.New("must be printable ASCII without spaces, or a quoted string")
			}
		}
		key = v
	}
	switch {
	case key == "":
		return "", errors.New("must not be empty")
	case len(key) > maxIdempotencyKey:
		return "", fmt.Errorf("must be at most %d characters", maxIdempotencyKey)
	}
	return key, nil
}

// captureWriter passes a response through unchanged while keeping a copy
// of its status, the headers worth replaying and its body (up to max).
// Writes are not delayed, so streaming is not affected; Unwrap lets
// http.ResponseController reach the real writer's Flush.
type captureWriter struct {
	http.ResponseWriter
	status   int
	header   http.Header
	body     bytes.Buffer
	max      int
	overflow bool
}

func (w *captureWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
		w.header = http.Header{}
		for _, k := range replayedHeaders {
			if v := w.Header().Values(k); len(v) > 0 {
				w.header[http.CanonicalHeaderKey(k)] = slices.Clone(v)
			}
		}
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *captureWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.overflow {
		if w.body.Len()+len(b) > w.max {
			w.overflow = true
			w.body = bytes.Buffer{}
		} else {
			w.body.Write(b)
		}
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap returns the wrapped writer (for http.ResponseController).
func (w *captureWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// hashingBody hashes a request body as it is read.
type hashingBody struct {
	io.ReadCloser
	h   hash.Hash
	eof bool
}

func (b *hashingBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	b.h.Write(p[:n])
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

// finish reads what the handler left of the body, up to limit more bytes,
// and returns the digest; whole is false when the end was not reached (the
// handler gave up early, or the body could not be read).
func (b *hashingBody) finish(limit int64) (fp idempotency.Fingerprint, whole bool) {
	if !b.eof {
		n, err := io.Copy(io.Discard, io.LimitReader(b, limit+1))
		if err != nil || n > limit {
			return fp, false
		}
		// io.Copy stops at EOF without returning it; a short copy means EOF.
		b.eof = true
	}
	b.h.Sum(fp[:0])
	return fp, true
}

// Package vendorhttp is the one way out to a vendor. Every call takes a
// token from its connection's shared rate bucket first, carries the inbound
// request id, and is retried only when repeating it is safe: a vendor 429
// (not processed, and fed back into the bucket so every replica backs off),
// a connection that was never established, or any failure of an idempotent
// call. A timeout on a non-idempotent write is reported as uncertain, never
// retried.
package vendorhttp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel/trace"
	"go.uber.org/zap"

	"github.com/crm-gateway/crm-gateway/internal/crm"
	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
)

// Limiter is the part of a rate limiter the client needs.
type Limiter interface {
	Reserve(ctx context.Context, key string, l ratelimit.Limit, maxWait time.Duration) (ratelimit.Reservation, error)
	Block(ctx context.Context, key string, l ratelimit.Limit, d time.Duration) error
}

// Retry bounds automatic retries.
type Retry struct {
	Attempts      int           // tries in all for a retryable failure (default 3)
	BaseDelay     time.Duration // first backoff before jitter (default 250ms)
	MaxDelay      time.Duration // cap of one backoff (default 5s)
	MaxRetryAfter time.Duration // longest vendor Retry-After honoured by retrying (default 30s)
}

// DefaultRetry is the retry policy when none is configured.
var DefaultRetry = Retry{Attempts: 3, BaseDelay: 250 * time.Millisecond, MaxDelay: 5 * time.Second, MaxRetryAfter: 30 * time.Second}

// maxBody caps what is read of a vendor answer, so a misbehaving vendor
// cannot exhaust the gateway's memory.
const maxBody = 32 << 20

// Client calls one vendor account. Its zero value is not usable: set at
// least Vendor, Bucket, BaseURL, HTTP, Limiter and Limit.
type Client struct {
	Vendor  string          // vendor name, for errors and logs
	Bucket  string          // rate bucket key: the connection's name
	BaseURL string          // prefix of every request path
	HTTP    *http.Client    // shared, pooled transport
	Limiter Limiter         // shared bucket store
	Limit   ratelimit.Limit // the vendor's budget for this account
	// Quota is the vendor's quota as advertised in RateLimit-Policy; Limit
	// is the bucket enforcing it (default: Limit itself).
	Quota   ratelimit.Limit
	MaxWait time.Duration // longest a call waits for budget
	Timeout time.Duration // per attempt (default 15s)
	Retry   Retry
	// Authorize adds credentials to a request about to be sent; body is the
	// exact bytes that will go on the wire (NXCloud signs them).
	Authorize func(r *http.Request, body []byte)
	Logger    *zap.Logger
	// Observer receives metrics; nil records none.
	Observer Observer
	// Breaker fails calls fast while the vendor is failing; nil never opens.
	Breaker *Breaker
	// Tracer makes a span for each rate wait and each attempt, and sends
	// W3C traceparent to the vendor; nil (tracing off) does neither.
	Tracer trace.Tracer

	policyOnce sync.Once
	policyText string // RateLimit-Policy, rendered once
}

// Request is one vendor call.
type Request struct {
	Op         string // operation for logs, metrics and spans, e.g. "PUT /customers/{id}": a template, never a raw path
	Method     string
	Path       string // appended to BaseURL, with its query string
	Body       []byte // JSON body, nil for none
	Idempotent bool   // safe to repeat after a timeout or a 5xx
}

// Response is a vendor's answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// Do sends req under the connection's rate budget and answers the vendor's
// response, whatever its status except a 429 that outlived the retries.
// Errors are *crm.Error (ERateLimited, EUnavailable) or the context's error.
func (c *Client) Do(ctx context.Context, req Request) (*Response, error) {
	retry := c.retry()
	for attempt := 1; ; attempt++ {
		// Do not even spend a rate token on a vendor known to be failing.
		if open, after := c.Breaker.Blocked(); open {
			return nil, c.circuitOpen(after)
		}
		// A wait bound in ctx is a deadline for every attempt together.
		maxWait := c.MaxWait
		if deadline, ok := waitDeadline(ctx); ok {
			maxWait = min(maxWait, max(time.Until(deadline), 0))
		}
		if deadline, ok := asyncDeadline(ctx); ok { // a bulk job: may wait past max_wait
			maxWait = max(time.Until(deadline), 0)
		}
		res, err := c.wait(ctx, maxWait)
		if errors.Is(err, ratelimit.ErrLimited) {
			recordBudget(ctx, c.policy(), res)
			return nil, &crm.Error{
				Code:       crm.ERateLimited,
				Message:    fmt.Sprintf("%s rate budget of connection %q is exhausted for %s; nothing was sent", c.Vendor, c.Bucket, res.RetryAfter.Round(time.Millisecond)),
				Vendor:     c.Vendor,
				RetryAfter: res.RetryAfter,
				Outcome:    crm.OutcomeNotApplied,
				Err:        err,
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			return nil, &crm.Error{Code: crm.EUnavailable, Message: "the rate limiter is unavailable; nothing was sent", Vendor: c.Vendor, Outcome: crm.OutcomeNotApplied, Err: err}
		}
		recordBudget(ctx, c.policy(), res)
		if ok, after := c.Breaker.allow(); !ok {
			return nil, c.circuitOpen(after)
		}
		if err := beforeSend(ctx, req); err != nil {
			c.Breaker.release() // nothing sent: no verdict on the vendor
			return nil, err
		}

		resp, err := c.attempt(ctx, req, attempt)
		switch {
		case err != nil && ctx.Err() == nil:
			c.Breaker.record(false)
		case err == nil:
			c.Breaker.record(resp.Status < 500)
		default:
			c.Breaker.release() // the caller left: no verdict on the vendor
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			notSent := neverSent(err)
			if (notSent || req.Idempotent) && attempt < retry.Attempts {
				if sleep(ctx, retry.backoff(attempt)) != nil {
					return nil, ctx.Err()
				}
				continue
			}
			outcome := crm.OutcomeUncertain
			if notSent {
				outcome = crm.OutcomeNotApplied
			}
			return nil, &crm.Error{Code: crm.EUnavailable, Message: c.Vendor + " could not be reached or did not answer in time", Vendor: c.Vendor, Outcome: outcome, Err: err}
		}
		switch {
		case resp.Status == http.StatusTooManyRequests:
			// The vendor did not process the call. Push the shared bucket
			// forward so every replica waits, then queue again for a token.
			wait, given := retryAfter(resp.Header, time.Now())
			if !given {
				wait = retry.backoff(attempt)
			}
			wait = min(wait, retry.MaxRetryAfter)
			if err := c.Limiter.Block(ctx, c.Bucket, c.Limit, wait); err != nil {
				c.logger().Warn("rate limiter did not take vendor 429 feedback", append(logFields(ctx), zap.String("vendor", c.Vendor), zap.Error(err))...)
			}
			if attempt < retry.Attempts {
				continue
			}
			return resp, &crm.Error{
				Code:       crm.ERateLimited,
				Message:    fmt.Sprintf("%s kept answering 429 after %d attempts; the request was not processed", c.Vendor, attempt),
				Vendor:     c.Vendor,
				RetryAfter: wait,
				Outcome:    crm.OutcomeNotApplied,
			}
		case resp.Status >= 500 && req.Idempotent && attempt < retry.Attempts:
			if sleep(ctx, retry.backoff(attempt)) != nil {
				return nil, ctx.Err()
			}
			continue
		}
		return resp, nil
	}
}

// circuitOpen is the error of a call refused by the open breaker.
func (c *Client) circuitOpen(retryAfter time.Duration) *crm.Error {
	return &crm.Error{
		Code:       crm.EUnavailable,
		Message:    fmt.Sprintf("%s is failing: connection %q stops calling it for %s (circuit open); nothing was sent", c.Vendor, c.Bucket, retryAfter.Round(time.Second)),
		Vendor:     c.Vendor,
		RetryAfter: max(retryAfter, time.Second),
		Outcome:    crm.OutcomeNotApplied,
	}
}

func (c *Client) send(ctx context.Context, req Request) (*Response, error) {
	timeout := c.Timeout
	if timeout <= 0 {
		timeout = 15 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var body io.Reader
	if req.Body != nil {
		body = bytes.NewReader(req.Body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.Method, c.BaseURL+req.Path, body)
	if err != nil {
		return nil, fmt.Errorf("build %s request: %w", c.Vendor, err)
	}
	hr.Header.Set("Accept", "application/json")
	hr.Header.Set("User-Agent", "crm-gateway")
	if req.Body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if id := RequestID(ctx); id != "" {
		hr.Header.Set("X-Request-ID", id)
	}
	c.injectTraceContext(ctx, hr.Header)
	if c.Authorize != nil {
		c.Authorize(hr, req.Body)
	}
	resp, err := c.HTTP.Do(hr)
	if err != nil {
		// The URL may carry a credential (Zenvia's ?token=): keep only the cause.
		var ue *url.Error
		if errors.As(err, &ue) {
			return nil, fmt.Errorf("%s %s: %w", req.Method, req.Op, ue.Err)
		}
		return nil, err
	}
	defer resp.Body.Close()
	b, err := readAnswer(resp)
	if err != nil {
		return nil, fmt.Errorf("read %s answer: %w", c.Vendor, err)
	}
	return &Response{Status: resp.StatusCode, Header: resp.Header, Body: b}, nil
}

// readAnswer reads a vendor's answer, at most maxBody bytes. An answer that
// declares its length is read into one buffer of that size rather than one
// grown by doubling.
func readAnswer(resp *http.Response) ([]byte, error) {
	if n := resp.ContentLength; n > 0 && n <= maxBody {
		b := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, b); err != nil {
			return nil, err
		}
		return b, nil
	}
	return io.ReadAll(io.LimitReader(resp.Body, maxBody))
}

func (c *Client) policy() string {
	c.policyOnce.Do(func() {
		if c.Quota.Rate > 0 {
			c.policyText = c.Quota.Policy(c.Bucket)
		} else {
			c.policyText = c.Limit.Policy(c.Bucket)
		}
	})
	return c.policyText
}

func (c *Client) logger() *zap.Logger {
	if c.Logger == nil {
		return zap.NewNop()
	}
	return c.Logger
}

func (c *Client) log(ctx context.Context, req Request, attempt int, resp *Response, err error, took time.Duration) {
	level, msg := zap.DebugLevel, "vendor call"
	switch {
	case err != nil:
		level, msg = zap.WarnLevel, "vendor call failed"
	case resp.Status == http.StatusTooManyRequests:
		level, msg = zap.WarnLevel, "vendor answered 429"
	}
	// Check the level before building fields: a successful call logs at
	// debug, below production's level, and its fields (about 1.3 KB per
	// call) would be built for nothing.
	ce := c.logger().Check(level, msg)
	if ce == nil {
		return
	}
	fields := append(logFields(ctx),
		zap.String("vendor", c.Vendor), zap.String("connection", c.Bucket), zap.String("op", req.Op),
		zap.Int("attempt", attempt), zap.Duration("latency", took),
	)
	if err != nil {
		ce.Write(append(fields, zap.Error(err))...)
		return
	}
	ce.Write(append(fields, zap.Int("status", resp.Status))...)
}

func (c *Client) retry() Retry {
	r := c.Retry
	if r.Attempts <= 0 {
		r.Attempts = DefaultRetry.Attempts
	}
	if r.BaseDelay <= 0 {
		r.BaseDelay = DefaultRetry.BaseDelay
	}
	if r.MaxDelay <= 0 {
		r.MaxDelay = DefaultRetry.MaxDelay
	}
	if r.MaxRetryAfter <= 0 {
		r.MaxRetryAfter = DefaultRetry.MaxRetryAfter
	}
	return r
}

// backoff is capped exponential backoff with full jitter.
func (r Retry) backoff(attempt int) time.Duration {
	d := r.BaseDelay << min(attempt-1, 20)
	if d <= 0 || d > r.MaxDelay {
		d = r.MaxDelay
	}
	return time.Duration(rand.Int64N(int64(d)) + 1)
}

// maxRetryAfterHeader is the longest Retry-After parsed, so that a huge
// delay-seconds cannot overflow a Duration into a negative wait.
const maxRetryAfterHeader = time.Duration(math.MaxInt64/int64(time.Second)) * time.Second

// retryAfter parses a Retry-After header: delay-seconds or an HTTP date.
func retryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	v := h.Get("Retry-After")
	if v == "" {
		return 0, false
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(min(int64(s), int64(maxRetryAfterHeader/time.Second))) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// neverSent reports whether err happened before the request could reach
// the vendor (no connection was established), so repeating it is safe.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

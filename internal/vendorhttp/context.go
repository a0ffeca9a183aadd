package vendorhttp

import (
	"context"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/crm-gateway/crm-gateway/internal/ratelimit"
)

type ctxKey int

const (
	requestIDKey ctxKey = iota
	waitBoundKey
	budgetKey
)

// WithRequestID returns ctx carrying the inbound request id, which the client
// forwards to the vendor as X-Request-ID.
func WithRequestID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, requestIDKey, id)
}

// RequestID returns the request id carried by ctx, if any.
func RequestID(ctx context.Context) string {
	id, _ := ctx.Value(requestIDKey).(string)
	return id
}

// WithWaitBound returns ctx allowing the vendor calls made under it to wait
// for rate budget until d from now, all together (a client's
// `Prefer: wait=N`, or a batch's bound). It can only shorten a connection's
// own bound, and an earlier bound in ctx stays in force.
func WithWaitBound(ctx context.Context, d time.Duration) context.Context {
	deadline := time.Now().Add(max(d, 0))
	if prev, ok := waitDeadline(ctx); ok && prev.Before(deadline) {
		return ctx
	}
	return context.WithValue(ctx, waitBoundKey, deadline)
}

// HasWaitBound reports whether ctx carries a wait bound.
func HasWaitBound(ctx context.Context) bool {
	_, ok := waitDeadline(ctx)
	return ok
}

func waitDeadline(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(waitBoundKey).(time.Time)
	return t, ok
}

// Budget collects the last rate-limit decision of the vendor calls made for
// one inbound request, so the response can carry RateLimit headers.
type Budget struct {
	mu     sync.Mutex
	policy string
	res    ratelimit.Reservation
	set    bool
}

// WithBudget returns ctx with a fresh Budget that vendor calls will fill.
func WithBudget(ctx context.Context) (context.Context, *Budget) {
	b := &Budget{}
	return context.WithValue(ctx, budgetKey, b), b
}

func (b *Budget) record(policy string, r ratelimit.Reservation) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.policy, b.res, b.set = policy, r, true
}

// Headers returns the RateLimit-Policy and RateLimit header values (IETF
// draft-ietf-httpapi-ratelimit-headers), and false when no vendor call was made.
func (b *Budget) Headers() (policy, limit string, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.set {
		return "", "", false
	}
	policy = b.policy
	// Both headers name the policy the same way: the quoted item before ";q=".
	quoted := policy[:max(strings.LastIndex(policy, ";q="), 0)]
	reset := int64((b.res.Reset + time.Second - 1) / time.Second)
	return policy, quoted + ";r=" + strconv.Itoa(b.res.Remaining) + ";t=" + strconv.FormatInt(reset, 10), true
}

func recordBudget(ctx context.Context, policy string, r ratelimit.Reservation) {
	if b, ok := ctx.Value(budgetKey).(*Budget); ok {
		b.record(policy, r)
	}
}

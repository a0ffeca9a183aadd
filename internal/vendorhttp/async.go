package vendorhttp

import (
	"context"
	"time"
)

// asyncKey and sendHookKey are context keys of asynchronous work (bulk
// jobs), kept apart from the request-scoped keys of context.go.
type asyncKey struct{}

type sendHookKey struct{}

// WithAsyncWaitBound returns ctx allowing the vendor calls made under it to
// wait for rate budget until d from now, even longer than the connection's
// max_wait (which bounds synchronous callers only). Bulk jobs use it: nobody
// holds a connection open for them, so they queue for budget instead of
// failing with rate_limited. It replaces any bound set with WithWaitBound.
func WithAsyncWaitBound(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, asyncKey{}, time.Now().Add(max(d, 0)))
}

func asyncDeadline(ctx context.Context) (time.Time, bool) {
	t, ok := ctx.Value(asyncKey{}).(time.Time)
	return t, ok
}

// SendHook is called after a vendor call got its rate token and right
// before each attempt goes on the wire. An error stops the call with
// nothing sent; Do returns that error as is.
type SendHook func(ctx context.Context, req Request) error

// WithSendHook returns ctx whose vendor calls run hook before each attempt.
// The job runner records "this unit may now reach the vendor" there, after
// the (possibly long) wait for budget, so a worker that dies while waiting
// leaves nothing uncertain, and a cancelled job sends nothing more.
func WithSendHook(ctx context.Context, hook SendHook) context.Context {
	return context.WithValue(ctx, sendHookKey{}, hook)
}

func beforeSend(ctx context.Context, req Request) error {
	if hook, ok := ctx.Value(sendHookKey{}).(SendHook); ok && hook != nil {
		return hook(ctx, req)
	}
	return nil
}

package events

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"go.uber.org/zap"
)

// storeTimeout bounds the store calls that record an attempt's outcome. They run detached from
// Run's context so an attempt finishing during shutdown is still recorded.
const storeTimeout = 5 * time.Second

// Run delivers due webhooks until ctx ends, then waits for the attempts in flight (each bounded
// by Timeout) and returns nil. It is safe to run on every replica, and several times in one
// process: each due delivery is claimed by one worker at a time, for the lease. Store errors
// (Redis unreachable) are logged and retried, never returned.
func (b *Bus) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, b.cfg.Concurrency)
	failing := false
	for ctx.Err() == nil {
		free := cap(slots) - len(slots)
		wait := b.cfg.Poll
		if free > 0 {
			claims, next, err := b.st.claim(ctx, free, b.cfg.Lease)
			switch {
			case err != nil && ctx.Err() != nil:
				return nil
			case err != nil:
				if !failing {
					b.log.Error("events: claiming due deliveries failed; retrying every poll interval", zap.Error(err))
				}
				failing = true
			default:
				if failing {
					b.log.Info("events: claiming due deliveries works again")
				}
				failing = false
				for _, c := range claims {
					slots <- struct{}{}
					wg.Add(1)
					go func() {
						defer wg.Done()
						b.attempt(context.WithoutCancel(ctx), c)
						<-slots
						b.wake()
					}()
				}
				switch {
				case len(claims) == free:
					continue // there may be more due right now
				case next >= 0 && next < wait:
					wait = next
				}
			}
		}
		timer := time.NewTimer(wait)
		select {
		case <-ctx.Done():
		case <-b.kick:
		case <-timer.C:
		}
		timer.Stop()
	}
	return nil
}

// attempt makes one delivery attempt of c and records its outcome.
func (b *Bus) attempt(ctx context.Context, c claim) {
	start := time.Now()
	status, err := b.send(ctx, c)
	took := time.Since(start)
	fields := []zap.Field{
		zap.String("event_id", c.id), zap.String("subscription", c.sub), zap.Int64("attempt", c.attempts),
		zap.Int("status", status), zap.Duration("duration", took),
	}
	sctx, cancel := context.WithTimeout(ctx, storeTimeout)
	defer cancel()

	if err == nil {
		owned, serr := b.st.succeed(sctx, c, status)
		b.observe(c.sub, OutcomeDelivered, took)
		b.recorded(owned, serr, fields)
		b.log.Info("events: webhook delivered", fields...)
		return
	}
	fields = append(fields, zap.String("error", err.Error()))
	retryIn, dead := b.retryDelay(c.round)
	owned, serr := b.st.fail(sctx, c, status, err.Error(), retryIn, dead)
	b.recorded(owned, serr, fields)
	if dead {
		b.observe(c.sub, OutcomeDead, took)
		b.log.Error("events: webhook failed for the last time; dead-lettered", fields...)
		return
	}
	b.observe(c.sub, OutcomeFailed, took)
	b.log.Warn("events: webhook attempt failed; retrying", append(fields, zap.Duration("retry_in", retryIn))...)
}

// recorded logs when an attempt's outcome could not be recorded.
func (b *Bus) recorded(owned bool, err error, fields []zap.Field) {
	switch {
	case err != nil:
		// The lease runs out and another attempt is made: at-least-once.
		b.log.Error("events: recording a webhook attempt failed; it will be retried after the lease",
			append(fields, zap.NamedError("store_error", err))...)
	case !owned:
		b.log.Warn("events: webhook attempt outlived its lease or was redelivered meanwhile; its outcome is not recorded", fields...)
	}
}

// retryDelay applies the schedule to a delivery whose round-th attempt failed: the delay before
// the next attempt, or dead when the schedule is exhausted.
func (b *Bus) retryDelay(round int64) (time.Duration, bool) {
	if round < 1 {
		round = 1
	}
	if round > int64(len(b.cfg.Schedule)) {
		return 0, true
	}
	return b.cfg.Schedule[round-1], false
}

func (b *Bus) observe(sub, outcome string, d time.Duration) {
	if b.cfg.Observer != nil {
		b.cfg.Observer.Delivery(sub, outcome, d)
	}
}

// errStatus is a non-2xx answer.
type errStatus int

func (e errStatus) Error() string { return "HTTP " + strconv.Itoa(int(e)) }

// send POSTs c's event to its subscription, signed, and returns the answer's status; the error
// is nil only for a 2xx answer. Its text is safe to store and show: it never holds the URL (which
// may carry a token), the secret or a body.
func (b *Bus) send(ctx context.Context, c claim) (int, error) {
	sub, ok := b.subs[c.sub]
	switch {
	case !ok:
		// Retried on the schedule: during a rolling deploy another replica may know it.
		return 0, fmt.Errorf("subscription %q is not configured on this replica", c.sub)
	case sub.keyErr != nil:
		return 0, fmt.Errorf("subscription %q has an invalid secret", c.sub)
	}
	ctx, cancel := context.WithTimeout(ctx, b.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.URL, bytes.NewReader(c.body))
	if err != nil {
		return 0, fmt.Errorf("subscription %q has an invalid URL", c.sub)
	}
	ts := b.cfg.Now().Unix()
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "crm-gateway-webhooks/1")
	req.Header.Set(HeaderID, c.id)
	req.Header.Set(HeaderTimestamp, strconv.FormatInt(ts, 10))
	req.Header.Set(HeaderSignature, "v1,"+signature(sub.key, c.id, ts, c.body))
	resp, err := b.cfg.HTTPClient.Do(req)
	if err != nil {
		return 0, transportError(ctx, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // lets the connection be reused
	_ = resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, errStatus(resp.StatusCode)
	}
	return resp.StatusCode, nil
}

// transportError describes a failed request without its URL.
func transportError(ctx context.Context, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return errors.New("timeout")
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return errors.New("timeout")
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return fmt.Errorf("%s: %v", oe.Op, oe.Err)
	}
	return err
}

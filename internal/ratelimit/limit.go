package ratelimit

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidLimit is wrapped by every error about a malformed [Limit], so callers can tell a
// configuration mistake from an unavailable backend.
var ErrInvalidLimit = errors.New("invalid limit")

// maxSpan bounds Burst·Interval. The Redis script does its arithmetic in Lua numbers (doubles),
// exact only up to 2^53; Unix time in microseconds is about 2^51 today, so keeping the span
// below 2^44 µs (≈ 203 days) leaves every intermediate value exact.
const maxSpan = time.Duration(1<<44) * time.Microsecond

// Limit is a bucket: Rate requests per Period, with up to Burst at once.
type Limit struct {
	// Rate is how many requests the bucket admits per Period, on average.
	Rate int
	// Period is the window Rate is measured over.
	Period time.Duration
	// Burst is how many requests may be sent back to back when the bucket is full.
	Burst int
}

// PerMinute returns a limit of rate requests per minute with up to burst at once, the form most
// vendors document ("120 requests per minute").
func PerMinute(rate, burst int) Limit {
	return Limit{Rate: rate, Period: time.Minute, Burst: burst}
}

// Interval returns the emission interval Period/Rate: the steady-state spacing between requests.
// It is rounded up to a whole microsecond, the resolution of Redis TIME, because rounding down
// would make the bucket slightly faster than the vendor's limit. It is 0 for a limit whose Rate or
// Period is not positive.
func (l Limit) Interval() time.Duration {
	if l.Rate <= 0 || l.Period <= 0 {
		return 0
	}
	ns := (l.Period + time.Duration(l.Rate) - 1) / time.Duration(l.Rate)
	return (ns + time.Microsecond - 1) / time.Microsecond * time.Microsecond
}

// Valid reports whether the limit can be enforced; the error names the offending field and wraps
// [ErrInvalidLimit].
func (l Limit) Valid() error {
	switch {
	case l.Rate < 1:
		return fmt.Errorf("%w: Rate must be at least 1, got %d", ErrInvalidLimit, l.Rate)
	case l.Period <= 0:
		return fmt.Errorf("%w: Period must be positive, got %s", ErrInvalidLimit, l.Period)
	case l.Burst < 1:
		return fmt.Errorf("%w: Burst must be at least 1, got %d", ErrInvalidLimit, l.Burst)
	case int64(l.Period/time.Microsecond) < int64(l.Rate):
		// Rounding the interval up to 1 µs would silently lower such a rate.
		return fmt.Errorf("%w: Rate %d per %s is finer than the 1µs clock resolution", ErrInvalidLimit, l.Rate, l.Period)
	case l.Period > maxSpan:
		return fmt.Errorf("%w: Period must be at most %s, got %s", ErrInvalidLimit, maxSpan, l.Period)
	case time.Duration(l.Burst) > maxSpan/l.Interval():
		return fmt.Errorf("%w: Burst %d at one per %s spans more than %s", ErrInvalidLimit, l.Burst, l.Interval(), maxSpan)
	}
	return nil
}

// String renders the limit for logs, e.g. "120/1m0s burst 10".
func (l Limit) String() string {
	return fmt.Sprintf("%d/%s burst %d", l.Rate, l.Period, l.Burst)
}

// Policy renders the limit as one item of the IETF RateLimit-Policy header
// (draft-ietf-httpapi-ratelimit-headers), e.g. `"hc-main";q=120;w=60`. The window is whole
// seconds, rounded up so a client pacing itself by the header is never faster than the limit.
// Bytes a structured-field string cannot carry (controls, non-ASCII) become '?'.
func (l Limit) Policy(name string) string {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteByte(c)
		case c < 0x20 || c > 0x7e:
			b.WriteByte('?')
		default:
			b.WriteByte(c)
		}
	}
	b.WriteString(`";q=`)
	b.WriteString(strconv.Itoa(l.Rate))
	b.WriteString(";w=")
	b.WriteString(strconv.FormatInt(int64((l.Period+time.Second-1)/time.Second), 10))
	return b.String()
}

// Share returns the conservative part of the limit one of n replicas may use on its own when the
// shared bucket is unreachable: Rate/n and Burst/n, rounded down so that n replicas together stay
// within the limit, but at least 1 so each replica still makes progress.
func (l Limit) Share(n int) Limit {
	if n <= 1 {
		return l
	}
	return Limit{Rate: max(1, l.Rate/n), Period: l.Period, Burst: max(1, l.Burst/n)}
}

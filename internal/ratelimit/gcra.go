package ratelimit

import "time"

// gcra is the bucket arithmetic shared by [Local] and mirrored line for line by the Redis script
// (reserveLua, blockLua), so both implementations decide identically. All values are integer
// microseconds: the resolution of Redis TIME, and small enough for Lua's doubles to stay exact.
type gcra struct {
	interval int64 // T: emission interval
	tau      int64 // (Burst-1)·T: how far TAT may run ahead of now and still admit at once
}

// newGCRA returns the arithmetic for a limit that has passed Valid.
func newGCRA(l Limit) gcra {
	t := l.Interval().Microseconds()
	return gcra{interval: t, tau: int64(l.Burst-1) * t}
}

// reserve decides a request for up to n tokens (n ≥ 1) arriving at now against a bucket whose
// stored TAT is tat (0 or any value ≤ now means a full bucket). A bucket that can admit at once
// grants min(n, tokens free now) without delay; one that cannot reserves a single token if its
// wait fits maxWait, because several future tokens would be spread over time and a lease is
// meant to be spent at once. It returns the TAT to store and whether to store it.
func (g gcra) reserve(now, tat, maxWait, n int64) (int64, bool, Reservation) {
	tat = max(tat, now)
	delay := max(tat-g.tau-now, 0)
	if delay <= maxWait {
		granted := int64(1)
		if delay == 0 {
			granted = min(n, int64(g.remaining(now, tat)))
		}
		tat += granted * g.interval
		return tat, true, Reservation{
			OK:        true,
			Tokens:    int(granted),
			Delay:     micros(delay),
			Remaining: g.remaining(now, tat),
			Reset:     micros(tat - now),
		}
	}
	return tat, false, Reservation{
		// A caller with the same maxWait that comes back after RetryAfter waits exactly maxWait.
		RetryAfter: micros(delay - maxWait),
		Remaining:  g.remaining(now, tat),
		Reset:      micros(tat - now),
	}
}

// block returns the TAT that makes the first token after now be granted at now+d, or tat itself
// when it already lies further ahead (reservations already handed out are never revoked).
func (g gcra) block(now, tat, d int64) int64 {
	return max(tat, now+d+g.tau)
}

// remaining is how many more requests a full-speed caller could send at now without waiting:
// requests fit while TAT stays within τ of now.
func (g gcra) remaining(now, tat int64) int {
	free := now + g.tau + g.interval - tat
	if free <= 0 {
		return 0
	}
	return int(free / g.interval)
}

// micros converts integer microseconds to a Duration.
func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }

// toMicros converts a Duration to integer microseconds, rounding up when up is set (a wait that
// must not be shortened) and down otherwise (a wait that must not be exceeded). Negatives become
// 0, and anything beyond maxSpan becomes maxSpan so the script's arithmetic stays exact.
func toMicros(d time.Duration, up bool) int64 {
	if d <= 0 {
		return 0
	}
	d = min(d, maxSpan)
	if up {
		return int64((d + time.Microsecond - 1) / time.Microsecond)
	}
	return int64(d / time.Microsecond)
}

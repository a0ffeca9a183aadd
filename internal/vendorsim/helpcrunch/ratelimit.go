package helpcrunch

import "time"

// slidingWindow admits at most limit requests in any interval of length
// window. It keeps the admission times of the requests still inside the
// window in a ring, so memory is bounded by limit and a decision is O(1)
// amortised. A fixed-window counter would admit up to twice the limit across
// a window boundary, which would let a client that overruns the real vendor
// pass here. Not safe for concurrent use: the caller holds a lock.
type slidingWindow struct {
	limit  int
	window time.Duration
	times  []time.Time // ring of admission times, oldest at head
	head   int
	n      int
}

func newSlidingWindow(limit int, window time.Duration) *slidingWindow {
	return &slidingWindow{limit: limit, window: window, times: make([]time.Time, limit)}
}

// allow reports whether a request at now is admitted and records it if so.
// Refused requests are not recorded: only admitted requests count.
func (sw *slidingWindow) allow(now time.Time) bool {
	// An admission at t stops counting once now-t >= window, so two requests
	// exactly one window apart never share a window.
	cutoff := now.Add(-sw.window)
	for sw.n > 0 && !sw.times[sw.head].After(cutoff) {
		sw.head = (sw.head + 1) % sw.limit
		sw.n--
	}
	if sw.n >= sw.limit {
		return false
	}
	sw.times[(sw.head+sw.n)%sw.limit] = now
	sw.n++
	return true
}

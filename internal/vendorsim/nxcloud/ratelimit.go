package nxcloud

import (
	"sync"
	"time"
)

// slidingWindow admits at most limit requests in any interval of length window. It keeps the
// admission times of the last limit admitted requests in a ring: a request is admitted when the
// oldest of them is at least window old. Refused requests are not recorded, so a client hammering
// the simulator does not push its own recovery further away.
type slidingWindow struct {
	mu     sync.Mutex
	window time.Duration
	times  []time.Time // ring of the last len(times) admissions, times[next] is the oldest once full
	next   int
	filled int
}

func newSlidingWindow(limit int, window time.Duration) *slidingWindow {
	return &slidingWindow{window: window, times: make([]time.Time, limit)}
}

// allow reports whether a request arriving at now is admitted, and records it if so.
func (l *slidingWindow) allow(now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.filled == len(l.times) && now.Sub(l.times[l.next]) < l.window {
		return false
	}
	l.times[l.next] = now
	l.next = (l.next + 1) % len(l.times)
	if l.filled < len(l.times) {
		l.filled++
	}
	return true
}

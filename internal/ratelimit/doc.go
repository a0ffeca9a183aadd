// Package ratelimit keeps the gateway's outbound vendor calls under each vendor's rate limit,
// shared by every gateway replica.
//
// Every outbound vendor call first reserves a token from its connection's bucket with [Wait] (or
// [Limiter.Reserve]). Three implementations share one behaviour:
//
//   - [Redis] keeps each bucket in Redis (or Redis Cluster) so that all replicas draw from the
//     same bucket;
//   - [Local] keeps buckets in process memory, for single-replica setups and as the fallback;
//   - [Fallback] uses Redis and, while Redis is unreachable, decides with a conservative local
//     bucket holding this replica's share of the limit, so an outage never turns into errors.
//
// [Leases] wraps any of them ([Batcher]) for fast buckets: it takes the tokens free at once,
// several per round trip, and hands them out in process within a few milliseconds, so a replica
// sending thousands of calls a second asks Redis a few hundred times instead. Slow buckets are
// never leased.
//
// # GCRA with reservations
//
// A bucket is the Generic Cell Rate Algorithm: instead of counting tokens it stores a single
// number, the theoretical arrival time (TAT) — the instant at which the bucket would be full
// again. With the emission interval T = Period/Rate and the burst tolerance τ = (Burst-1)·T, a
// request arriving at now may be sent at
//
//	allowAt = max(TAT, now) - τ
//
// and taking its token moves TAT to max(TAT, now) + T. A plain GCRA refuses whenever
// allowAt > now. This package instead makes a reservation, as golang.org/x/time/rate's ReserveN
// does: if the wait allowAt - now fits the caller's maxWait, TAT advances and the caller is told
// to sleep that long; otherwise nothing changes and the caller learns when to retry. Because TAT
// advances by T for every reservation, concurrent callers are queued first come, first served, and
// each sleeps on its own timer (honouring its context) instead of polling Redis.
//
// Between any two admissions i < j the GCRA guarantees a_j - a_i ≥ (j-i-Burst+1)·T, so no
// half-open window of length Period ever holds more than Rate + Burst - 1 admissions (and never
// more than Burst at the same instant). [Limit.Interval] is rounded up, never down, so rounding
// cannot make a bucket faster than its limit.
//
// # Why the clock is read inside the script
//
// The Redis script reads the time with redis.call('TIME'). Replicas' clocks drift and jump; if
// each replica passed its own "now", a replica whose clock runs behind would see every bucket as
// more empty than it is and overspend the vendor's quota, while one running ahead would starve.
// Using the Redis server's clock gives every replica the same timeline for the same bucket, and
// the read-decide-write sequence runs atomically in one round trip. Redis 5 and later (the
// versions this package supports) replicate the script's effects — the SET with the computed TAT
// — rather than the script, so reading TIME cannot make replicas diverge.
//
// Keys are "{<prefix><key>}": the whole name is the hash tag, so each bucket lives in one Redis
// Cluster slot, and it expires (PX) exactly when the bucket would be full again, so idle buckets
// cost no memory.
package ratelimit

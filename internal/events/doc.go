// Package events is the gateway's normalized event log and its signed, durable webhook delivery.
//
// Inbound vendor webhooks and the interaction API publish ([Bus.Publish]) one [Event] envelope
// whatever the vendor. The bus keeps events for a retention period, lists them newest first
// ([Bus.List]), follows them live ([Bus.Tail], for Server-Sent Events) and delivers each one to
// every [Subscription] whose type patterns match, retrying failures on a schedule
// ([Bus.Run]). Two implementations share one behaviour: [NewRedis], shared by every replica and
// durable across restarts, and [NewMemory], for sandbox mode. Everything but storage — validation,
// matching, signing, the retry schedule, paging and the tail fan-out — is written once in [Bus]
// over a small internal store interface.
//
// # Publishing is one atomic step
//
// A Lua script stores the event body under its id with SET NX and the retention as TTL (the
// dedup: an id seen within the retention publishes nothing and Publish reports false), appends
// the event to a Redis Stream (XADD MAXLEN ~ MaxEvents, then XTRIM MINID ~ now-Retention), and
// schedules one delivery per matching subscription in a sorted set scored by its due time. A
// crash cannot leave an event logged but not scheduled, or scheduled twice.
//
// # Delivery: claim with a lease, fence the outcome
//
// [Bus.Run] claims due deliveries with one script: their score moves to now+Lease and their
// attempt counters and a fencing token are incremented. The worker POSTs the event and records
// the outcome with a second script, only if the token is still the one it claimed with:
//
//   - 2xx: the delivery leaves the schedule and delivered_at is recorded;
//   - anything else, a transport error or a timeout (410 included): the delivery is rescheduled
//     after the next delay of Schedule, or, after the last one, moved to the dead letters;
//   - the worker died (or Redis could not be reached to record the outcome): nothing is
//     recorded, the lease runs out, and any replica claims the delivery again.
//
// Deliveries are therefore at least once, and unordered (a retried event may arrive after later
// ones): a receiver may see an event again only when a worker
// was lost between sending and recording, and must deduplicate on webhook-id (the event id) if
// that matters. A successful, recorded delivery is never repeated, except by [Bus.Redeliver],
// which enqueues an event again to every matching subscription (dead letters included) with a
// fresh schedule and bumps the token, so an attempt still in flight no longer counts. Claims
// use the Redis server's clock (TIME inside the scripts), so replicas with drifting clocks agree
// on what is due. Run waits, between claims, until the next delivery is due, at most Poll; a
// Publish or Redeliver on the same Bus wakes it at once.
//
// # Signing
//
// Every delivery follows the Standard Webhooks specification (https://www.standardwebhooks.com):
// the body is the event's JSON (Content-Type application/json), webhook-id is the event id
// (identical across retries, so receivers can deduplicate), webhook-timestamp the Unix seconds of
// the attempt, and webhook-signature "v1,<base64 HMAC-SHA256 of {id}.{timestamp}.{body}>" keyed
// with the subscription's secret. [Verify] checks such a request and [Sign] produces the header,
// for receivers and tests. Logs name the event id, subscription, attempt and status, never URLs,
// bodies or secrets; delivery statuses keep an error text without the URL.
//
// # Redis layout
//
// Every key shares one hash tag, "{<prefix>}:" ("{events}:" by default, see [WithKeyPrefix]), so
// the scripts touching several keys work on Redis Cluster (the bus lives in one slot):
//
//	{events}:log        stream  the event log (field "e": the event's JSON)
//	{events}:ev:<id>    string  the event's JSON; TTL Retention; also the dedup marker
//	{events}:dl:<id>    hash    delivery state per subscription ("<sub>:<field>"); TTL as ev:<id>
//	{events}:due        zset    "<id>\n<sub>" scored by the next attempt, Unix ms
//	{events}:dead       zset    "<id>\n<sub>" scored by the time it was dead-lettered
//
// The claim script derives the per-event keys from the due members, which Redis Cluster accepts
// because they hash to the same slot. Redis 6.2 or later is required (XTRIM MINID, exclusive
// XREVRANGE ranges).
//
// # Tail
//
// One goroutine per Bus follows the log (XREAD BLOCK on Redis) while at least one Tail channel
// is open, and fans the entries out, so SSE clients do not each hold a Redis connection. A
// channel receives exactly the events appended after its Tail call, from any replica.
package events

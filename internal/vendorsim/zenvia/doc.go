// Package zenvia is an in-memory simulator of the Zenvia zChat legacy
// (Omnize) API: the Customers API under /api/external and ClientApi V1 under
// /core/api/v1/interactions, served at the vendor's own paths relative to its
// base URL https://zchat.zenvia.io.
//
// The simulator is an independent witness of the vendor contract: it is
// written from the vendor documentation alone and shares no code or wire
// structs with the gateway's adapters, so an adapter that passes against it
// has been checked against the documented contract rather than against its own
// assumptions. It serves three users: the gateway's sandbox mode (a new user
// can try the product without a Zenvia account), adapter tests over real HTTP,
// and load or rate-limit tests.
//
// Where the vendor documents nothing, the simulator makes a choice and
// documents it on the relevant identifier. The main ones:
//
//   - Malformed JSON bodies get 400; a missing or wrong token gets 401; batch
//     shape errors (no customers, an empty or oversized array, a non-object
//     item) reject the whole request with 422; every answer uses the vendor's
//     {"message","status"} error shape.
//   - Request bodies are checked strictly: an unknown top-level parameter (or an
//     unknown customer attribute on a start) is refused with 422 (or, in a
//     customers batch, makes that item fail), so that adapter typos surface in
//     tests instead of being silently dropped.
//   - The rate limit (unknown for the real vendor) is off by default and, when
//     set, is a sliding window over admitted requests for the whole account.
//   - Success messages of typing, cleared and finish are not documented; the
//     simulator answers {"message":"...","status":200} like the documented
//     update and message calls.
//   - external_history is fetched while the start is being answered, so tests
//     can inspect History as soon as the start returns; a failed fetch or an
//     invalid document is recorded but does not fail the start.
package zenvia

// Package helpcrunch is an in-memory simulator of the HelpCrunch REST API v1
// (real base URL https://api.helpcrunch.com/v1).
//
// The simulator is an independent witness of the vendor contract: it is
// written from the vendor documentation alone and shares no code or wire
// structs with the gateway's adapters, so a bug in an adapter cannot be
// mirrored here and go unnoticed. It serves three purposes: the gateway's
// sandbox mode (trying the product without a vendor account), adapter tests
// over real HTTP, and load and rate-limit tests.
//
// # Served paths
//
// Paths are served exactly as the vendor serves them below its host, that is
// with the /v1 prefix, so the gateway's base_url is http://HOST:PORT/v1. The
// handler also works behind http.StripPrefix.
//
//	POST   /v1/customers               create (201 + customer)
//	GET    /v1/customers               list: sort, order, offset, limit
//	GET    /v1/customers/{id}          read (404 entity_not_found)
//	PUT    /v1/customers/{id}          full replace: omitted fields become null
//	PATCH  /v1/customers/{id}          merge: only sent fields change, null clears
//	DELETE /v1/customers/{id}          200 with the plain-text body "Ok"
//	PUT    /v1/customers/batch         1..MaxBatch objects identified by "customer"
//	POST   /v1/customers/search        filter list with AND/OR comparison
//	PUT    /v1/customers/{id}/tags     tag a customer (body {"tags":[...]})
//	DELETE /v1/customers/{id}/tags     untag a customer (JSON body too)
//	POST   /v1/chats                   create a chat (status "empty", 201)
//	POST   /v1/messages                post a message into a chat (200)
//	GET    /v1/chats/{id}/messages     list a chat's messages: offset, limit
//
// # Documented behaviour reproduced
//
//   - Authorization: Bearer <key> on every call; anything else is a 401 with
//     the documented unauthorized body.
//   - A sliding-window rate limit per account (120 admitted requests per
//     minute by default). A refused request gets the documented 429 body and
//     no Retry-After or rate-limit headers, since none are documented.
//   - Errors are {"errors":[{"code","message"},...]} led by invalid_request;
//     400 codes name the offending field ("email", "customer",
//     "filter[0].field", "customData[2].value"), with Symfony-style messages
//     such as "This value should be of type numeric.".
//   - customData is written as an array of {property,value} and read back as
//     an object; values of attributes of type date are written as UNIX
//     timestamps and read back as integers (as in the vendor's example).
//   - Unknown tags are created on the fly with the default colour #c377e0.
//   - The batch identifies customers by "customer", not "id"; an item that
//     carries only "id" is a 400 on "customer".
//   - Timestamps arrive as UNIX-second strings, integers or fractional
//     strings, and the vendor is known to answer in all three forms. The
//     simulator answers each form somewhere so that clients must cope:
//     customer firstSeen/lastSeen are UNIX-second strings (fractional when a
//     fraction was written), chat timestamps are integers and message
//     createdAt is a fractional string with microseconds.
//
// # Choices where the documentation is silent
//
// These are deliberate and conservative; each is easy to change in one place.
//
//   - Routing happens before auth only to name the operation in Stats; auth is
//     checked first, then the rate limit, then the route (unknown path: 404
//     not_found, known path with another method: 405 method_not_allowed).
//     Requests refused with 401 do not count against the rate limit because
//     they belong to no account; every other answered request does.
//   - Request bodies must be sent with Content-Type application/json (415
//     otherwise, since the API is JSON only) and be at most 1 MiB (413).
//   - String fields are limited to MaxFieldLength characters, notes to
//     MaxNotesLength and message text to MaxMessageLength.
//   - email must look like an address (Symfony's loose check: something, @,
//     something, a dot, something); locale must be two ISO 639-1 letters.
//     Empty strings are accepted and stored as empty strings.
//   - On create, an omitted firstSeen defaults to the current second and an
//     omitted lastSeen to firstSeen, as in the vendor's example response.
//   - Booleans (unsubscribed, blocked) cleared with null read back as false.
//   - In PATCH and batch updates customData is merged per property (a property
//     sent with a null value is removed, customData: null removes all), and
//     tags replace the customer's tag list. PUT replaces everything.
//   - Custom attributes are typed by Config.CustomAttributes (default: the six
//     attributes of the vendor's example). Properties missing from the
//     catalogue are accepted and stored as sent, provided they are scalars.
//   - Batch updates are atomic: every item is validated and every customer
//     looked up before any change is made. A non-numeric "customer" is a 400
//     on "customer"; an unknown one is the batch page's 404 not_found. Field
//     errors in a batch use the plain field name, as the documented example
//     does, so they do not say which item failed.
//   - An existing tag keeps its colour when it is sent again with another.
//   - Paging: limit 1..MaxPageLimit (default MaxPageLimit), offset >= 0;
//     out-of-range values are a 400 rather than silently clamped, so a client
//     that pages wrongly fails loudly. Without sort the order is by id.
//     With sort, null timestamps come first ascending and last descending.
//   - Search string operators (=, !=, ~, !~) are case-insensitive; ordering
//     operators apply to customers.id and the timestamp fields only. A null
//     field matches no filter. tagsData takes [{"name":...}] (or names):
//     "=" means the customer has every listed tag, "!=" its negation, "~"
//     some tag name contains the text, "!~" none does.
//   - POST /messages requires chat, text and type; a private note needs an
//     agent. Chat statuses never change after creation because no transition
//     is documented. The chat answer embeds the full customer object; the
//     message answer carries chat, type, from ("customer" or "agent"), text,
//     markdownText, agent and createdAt. Deleting a customer keeps its chats.
//   - GET /chats/{id}/messages answers {"data":[...],"total":N} like the
//     customer list, oldest message first.
package helpcrunch

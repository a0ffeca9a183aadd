// Package nxcloud simulates the NXCloud CDP openapi (customer data platform) closely enough for
// the gateway's sandbox mode, for adapter tests over real HTTP and for load tests.
//
// The simulator is an independent witness: it is written from the vendor documentation
// (vendor-docs/nxcloud-batch-create-customers.md and the NXCloud section of vendor-notes.md) and
// shares no code or wire structs with the gateway's adapter, so a misreading of the contract on
// either side shows up as a failing test instead of being hidden by shared code.
//
// # Endpoints
//
// Paths are the vendor's paths relative to its base URL (https://api.nxcloud.com); the handler
// also works mounted under a prefix with [http.StripPrefix].
//
//	POST /saas/cdp/openapi/customers/batch_create
//	POST /saas/cdp/openapi/customers/query
//	GET  /saas/cdp/openapi/customers/fields?tenant_id=&app_key=&is_preset=
//
// Every answer is the vendor envelope {"code":N,"message":"...","data":...,"traceId":"<32 hex>"}.
// Code 0 is success. Error answers carry "data":"" and use the HTTP status
// [Config.ErrorHTTPStatus] (default 200, because the vendor does not document it), except the
// rate-limit answer, which is always HTTP 429, and unknown paths or methods, which answer HTTP 404
// or 405 with code -1 because they never reach the vendor's application.
//
// # Checks, in order
//
//  1. Rate limit (only when [Config.Limit] > 0): sliding window over admitted requests; a refused
//     request gets HTTP 429 {"code":-1,"message":"too many requests","data":"","traceId":...}.
//     The limiter runs before authentication, so rejected-but-admitted requests use quota too,
//     the conservative reading of an undocumented limit.
//  2. Public headers accessKey, ts, bizType, action, sign: a missing or empty one → 1001.
//  3. ts must be decimal milliseconds (else 1002) within ±[Config.MaxSkew] of the clock (else 1004).
//  4. bizType must be "2" and action "mt" (else 1002).
//  5. An unknown accessKey → 1005 (no permission: the key names no account here).
//  6. sign must equal [Sign] over the raw body bytes as received (else 1003). The comparison is
//     exact: the documented form is lowercase hex, so uppercase hex is refused as well.
//  7. POST bodies must be sent as Content-Type application/json (else 1002).
//  8. tenant_id / app_key: missing or mistyped → 1002, not the configured ones → 1005.
//  9. Operation-specific validation → 1002 with a message naming the field.
//
// # batch_create
//
// Body {type, tenant_id, app_key, customers}. type is 0 (replace the old record with the new
// one: omitted fields become empty), 1 (merge the new data into the old record) or 2 (keep the old
// record, drop the new data; new customers are still created). customers holds 1..[Config.MaxBatch]
// objects. The published request example omits app_key although the parameter table marks it
// required; the simulator follows the table and answers 1002 without it.
//
// Per-customer rules follow the doc: first_name and last_name are required (non-blank) on every
// item, merges included, ≤128 characters; sms_phone and whats_app_phone ≤30; country ≤50;
// email ≤50; address ≤100; remark ≤100; birthday a real date in yyyy-MM-dd; gender the integer 1
// (male) or 0 (female); tagStr a comma-separated list; customize_field a JSON *string* whose content
// is a JSON object keyed by catalogue keys customize_<type>_<n> (an unknown key → 1002). Lengths
// count Unicode characters, not bytes, since the doc's own example is Chinese. JSON types are
// checked strictly (a phone sent as a number is refused) so that the adapter is held to the
// documented types. source and time_zone appear in the doc (source only in the example) without
// limits and are stored as given; other unknown keys are ignored, as a default Jackson-based
// service would. An error message names the item index and the field, for example
// "customers[3].email: length 51 exceeds 50".
//
// The doc shows no per-item result, so a request is all-or-nothing: every item is validated
// before anything is stored, and one invalid item fails the whole request with 1002.
//
// Identity (undocumented, chosen here): an item is the same customer as a stored one when its
// sms_phone, whats_app_phone or email (trimmed; email compared case-insensitively) equals the
// same field of that customer; phones are compared as given, with no normalisation. When the
// keys point at different stored customers, the first match in the order sms_phone,
// whats_app_phone, email wins, and among several holders of one value the oldest wins. Items are
// applied in order, so a later item in the same batch can match a customer created by an earlier
// one. An item with none of the three keys always creates a customer.
//
// Merge (type 1) details, also undocumented: a key that is present overwrites the stored value,
// and an empty string clears it; JSON null is treated as absent; tagStr adds its tags to the
// stored ones (the doc says "update/add"), so removing tags needs type 0; customize_field merges
// key by key, and a null value inside it removes that key.
//
// # query (response shape undocumented, chosen here)
//
// Body:
//
//	{"tenant_id":144, "app_key":"...", "limit":20,          // limit required, 1..50
//	 "after":"<cursor>" | "before":"<cursor>",              // at most one
//	 "name":"...",                                          // case-insensitive substring of the full name
//	 "sms_phone":"...", "whats_app_phone":"...", "email":"...", // exact (email case-insensitive)
//	 "tags":["a","b"],                                      // the customer has all of them
//	 "create_time_start":ms, "create_time_end":ms,          // [start, end) in Unix milliseconds
//	 "update_time_start":ms, "update_time_end":ms}
//
// Customers are listed in creation order. Answer:
//
//	{"code":0,"message":"","traceId":"...","data":{
//	  "list":[{"id":"1","first_name":"...","last_name":"...","sms_phone":"...","whats_app_phone":"...",
//	           "country":"...","email":"...","address":"...","birthday":"...","source":"...",
//	           "remark":"...","time_zone":"...","gender":1|0|null,"tagStr":"a,b",
//	           "customize_field":"{\"customize_1_14\":\"aa\"}","create_time":ms,"update_time":ms}],
//	  "after":"<cursor of the last item>", "before":"<cursor of the first item>", "has_more":true}}
//
// Unset strings are "", customize_field is "{}" when empty. Pass after to get the next page and
// before to get the previous one; has_more tells whether more matches exist in the direction of
// travel (forward without a cursor or with after, backward with before). Cursors are opaque and
// stay valid for the simulator's lifetime; after and before are "" when the page is empty.
//
// # fields (response shape undocumented, chosen here)
//
// GET ?tenant_id=144&app_key=...&is_preset=1 lists preset fields only, is_preset=0 custom fields
// only, no is_preset both (true/false are accepted too). Answer data:
//
//	{"list":[{"key":"first_name","name":"First name","type":"text","is_preset":true,
//	          "required":true,"max_length":128},
//	         {"key":"gender","name":"Gender","type":"integer","is_preset":true,"required":false,
//	          "options":[{"value":"1","label":"Male"},{"value":"0","label":"Female"}]},
//	         {"key":"customize_1_14","name":"Nickname","type":"text","is_preset":false,"required":false}]}
//
// max_length, format and options are omitted when they do not apply.
package nxcloud

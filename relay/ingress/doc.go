// Package ingress is the inbound federation pipeline: every POST to a shared
// or personal inbox passes its stages, cheapest first (DESIGN.md, "The
// inbound pipeline"):
//
//  1. transport limits (method, content type, body cap)
//  2. signature header parse
//  3. domain gate — no key is ever fetched for a blocked domain
//  4. admission rate limits per domain and per actor
//  5. digest, date window and the required signed headers
//  6. cheap one-pass parse of the activity, host authority checks
//  7. dedup pre-check (ids are recorded only after verification), then the
//     policy's rate rules on the envelope (a retry of an accepted activity
//     takes no token)
//  8. key resolution (memory → Pebble → fetch)
//  9. signature verification and key-owner authority
//  10. policy decision
//  11. one synced Pebble batch: dedup record + inbound queue entry, then 202
//
// Each stage may end the request; every ending is counted by stage and
// reason. The package adapts fasthttp to the transport-neutral pieces in
// relay/signature, relay/activity and relay/keys.
package ingress

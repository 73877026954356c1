// Package policy makes federation decisions: the compiled domain table, the
// rule chain, rate limiters and decision records. It is pure: no HTTP and no
// storage engine is reached from here; callers hand it facts and get back a
// Decision.
//
// # Snapshots and the engine
//
// Compile turns a Source (domain entries, allowlist, rule files) into an
// immutable *Snapshot. An Engine holds the current snapshot in an atomic
// pointer: Evaluate and Gate never lock, and Reload compiles a new snapshot
// and swaps it in only when it compiled, so an invalid file never replaces a
// working policy. Rate-limit buckets and metrics belong to the Engine and
// survive swaps.
//
// # The ingress's calls
//
//	g := engine.Gate(keyIDHost)        // before any key fetch; no allocation
//	if g.Refuse { ... }                // suspended, or not allowlisted
//	in := &policy.Input{ID: id, Type: typ, Actor: actor, Raw: body, Facts: facts}
//	if limited, retry, _ := engine.RateLimit(in); limited { 429 }  // optional early check
//	d := engine.Evaluate(in)           // parses Raw only if a rule needs content
//	if d.RateLimited { 429, Retry-After: d.RetryAfter }
//	rec := policy.NewRecord(now, in, &d) // append rec.MarshalBinary() to the decision log
//
// Simple expressions (counts, sizes, ages compared with constants, string
// contains/startsWith/endsWith, exists/all over the list variables) are
// compiled to Go closures; others run on CEL under a cost limit. Domain,
// link-domain and keyword conditions of the whole chain are answered from
// one index per snapshot, so their cost does not grow with the number of
// rules, and a prefilter built from the type, actor, domain, keyword, link,
// hashtag, regex-literal, media-type and language conditions of every rule
// keeps a decision from visiting rules that cannot match (prefilter.go).
//
// Callers act on Decision.Action and Decision.Modifiers together: Action is
// the strongest action that fired (see Action.Stronger), Modifiers carries
// every effect, including those of weaker actions.
//
// # Rule files
//
// docs/rules.md is the admin's reference for the YAML format, the match
// conditions, CEL expressions, rate rules, shadow mode and the domain
// table's matching and precedence. Golden scripts (RunScript, and
// testdata/*.txt) show every action and condition at work.
package policy

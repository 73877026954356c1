// Package policy makes federation decisions: the compiled domain table, the
// rule chain, rate limiters and decision records. It is pure: no HTTP and no
// storage engine is reached from here; callers hand it facts and get back a
// Decision.
package policy

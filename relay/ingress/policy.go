package ingress

import (
	"time"

	"github.com/palisade-fedi/palisade/policy"
)

// Policy is the ingress's seam to the policy engine. Gate runs before any
// key is fetched; Decide runs after the request is verified.
type Policy interface {
	// Gate reports whether requests signed by a key on host are refused
	// outright, with a stable reason code (e.g. "suspended").
	Gate(host string) (refuse bool, reason string)
	// Admit runs the policy's rate rules that need only the envelope,
	// right after the cheap parse and before any key or crypto work. A
	// positive retryAfter refuses the request with 429.
	// The same Input is later passed to Decide (so a token is taken once).
	Admit(in *policy.Input) (retryAfter time.Duration, rule string)
	// Decide evaluates a verified activity. in carries the envelope, the
	// raw body (which must not be retained) and Facts answering what the
	// policy cannot know itself (first seen, account age, local followers),
	// valid only during the call.
	Decide(in *policy.Input) Verdict
}

// Verdict is what the ingress needs of a decision.
type Verdict struct {
	Reject     bool          // drop, do not store
	RetryAfter time.Duration // > 0: rate limited, answer 429
	Record     []byte        // encoded decision, stored with the entry and in the decision log
}

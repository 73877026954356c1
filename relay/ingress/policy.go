package ingress

import (
	"time"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/activity"
)

// Policy is the ingress's seam to the policy engine. Gate runs before any
// key is fetched; Decide runs after the request is verified.
type Policy interface {
	// Gate reports whether requests signed by a key on host are refused
	// outright, with a stable reason code (e.g. "suspended").
	Gate(host string) (refuse bool, reason string)
	// Decide evaluates a verified activity. body is the raw request body;
	// it must not be retained.
	// facts answers what the policy cannot know itself (first-seen time,
	// account age, local followers); it is only valid during the call.
	Decide(env *activity.Envelope, body []byte, now time.Time, facts policy.Facts) Verdict
}

// Verdict is what the ingress needs of a decision.
type Verdict struct {
	Reject     bool          // drop, do not store
	RetryAfter time.Duration // > 0: rate limited, answer 429
	Record     []byte        // encoded decision, stored with the entry and in the decision log
}

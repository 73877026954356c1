package policy

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"
)

// Fired is one rule (or domain-table effect) that applied to an activity.
type Fired struct {
	// RuleID is the rule's id, or "domain:<domain>" ("domain:digest:<hex>"
	// for an obfuscated entry) for effects of the domain table.
	RuleID string
	Action Action
	// Reason is the stable reason code: the rule's reason (its id unless
	// set), or one of the Reason* constants for the domain table.
	Reason string
}

// Decision is the outcome of the policy chain for one activity.
type Decision struct {
	// Action is the strongest action that fired (see Action.Stronger for
	// the precedence), Accept when none did.
	Action Action
	// Modifiers is every effect of every fired rule, including those of
	// actions weaker than Action (a reject that also files a report has
	// ModReport set).
	Modifiers Modifiers
	// CW is the content warning text when ModCW is set; texts of several
	// rules are joined with "; ".
	CW string
	// Fired lists the applied rules, domain effects first, then the chain
	// in order.
	Fired []Fired
	// Shadow lists the shadow-mode rules that would have fired; they
	// changed nothing.
	Shadow []Fired
	// RateLimited is set when an enforcing rate rule ran out of tokens. The
	// ingress answers 429 with Retry-After: RetryAfter (rounded up to
	// seconds). Action is then Reject.
	RateLimited bool
	RetryAfter  time.Duration
	// Bypassed is set when content rules were skipped because the activity
	// is an Undo or Delete from a known actor (see DESIGN.md: otherwise
	// spam could never be withdrawn).
	Bypassed bool
}

// Reason codes of the domain table and the chain. They are stable.
const (
	ReasonDomainSilenced       = "domain_silenced"
	ReasonDomainRejectMedia    = "domain_reject_media"
	ReasonDomainRejectReports  = "domain_reject_reports"
	ReasonDomainRejectDeletes  = "domain_reject_deletes"
	ReasonDomainForceSensitive = "domain_force_sensitive"
	ReasonDomainDelist         = "domain_delist"
	ReasonDomainFollowersOnly  = "domain_followers_only"
	ReasonDomainStripAvatar    = "domain_strip_avatar"
	ReasonDomainStripHeader    = "domain_strip_header"
)

// RuleIDs returns the ids of the fired rules.
func (d *Decision) RuleIDs() []string {
	ids := make([]string, len(d.Fired))
	for i, f := range d.Fired {
		ids[i] = f.RuleID
	}
	return ids
}

// String renders the decision on one line, for logs and tests:
// "reject+report [hellthread-reject(reject: hellthread)]".
func (d *Decision) String() string {
	var b strings.Builder
	b.WriteString(d.Action.String())
	if m := d.Modifiers &^ actionModifier(d.Action); m != 0 {
		b.WriteString(" +")
		b.WriteString(m.String())
	}
	if d.RateLimited {
		fmt.Fprintf(&b, " rate-limited retry-after=%s", fmtDuration(d.RetryAfter))
	}
	return b.String()
}

func (d *Decision) apply(f Fired, mods Modifiers, cw string) {
	d.Fired = append(d.Fired, f)
	if f.Action.Stronger(d.Action) {
		d.Action = f.Action
	}
	// An "also" effect can be stronger than the rule's action (action:
	// report, also: [quarantine]); the decision's headline is the strongest
	// effect either way.
	for a := Accept; a < numActions; a++ {
		if m := actionModifier(a); m != 0 && mods&m != 0 && a.Stronger(d.Action) {
			d.Action = a
		}
	}
	d.Modifiers |= mods
	if cw != "" {
		switch {
		case d.CW == "":
			d.CW = cw
		case !strings.Contains(d.CW, cw):
			d.CW += "; " + cw
		}
	}
}

// Engine holds the current snapshot and the state that outlives snapshots:
// rate-limit buckets and metrics. It is safe for concurrent use.
type Engine struct {
	cur     atomic.Pointer[Snapshot]
	rl      *rateLimiter
	metrics *metrics
	shadow  shadowSampler
}

// Option configures an Engine.
type Option func(*engineConfig)

type engineConfig struct {
	maxBuckets int
	topDomains int
}

// WithMaxBuckets bounds the rate-limit buckets kept (DefaultMaxBuckets
// when unset).
func WithMaxBuckets(n int) Option { return func(c *engineConfig) { c.maxBuckets = n } }

// WithTopDomains sets how many domains get their own label in the
// per-domain decision counter; the rest are counted as "other"
// (DefaultTopDomains when unset).
func WithTopDomains(n int) Option { return func(c *engineConfig) { c.topDomains = n } }

// NewEngine returns an engine serving s. A nil s is an empty policy:
// blocklist mode, no entries, no rules.
func NewEngine(s *Snapshot, opts ...Option) *Engine {
	cfg := engineConfig{}
	for _, o := range opts {
		o(&cfg)
	}
	if s == nil {
		s, _ = Compile(Source{})
	}
	e := &Engine{rl: newRateLimiter(cfg.maxBuckets), metrics: newMetrics(cfg.topDomains)}
	e.cur.Store(s)
	return e
}

// Current returns the snapshot in use. Callers that make several related
// calls (Gate then Evaluate) may hold it so all see the same policy.
func (e *Engine) Current() *Snapshot { return e.cur.Load() }

// Swap installs s and returns the previous snapshot. Evaluations already
// running finish on the snapshot they started with; rate-limit buckets
// carry over by rule id.
func (e *Engine) Swap(s *Snapshot) *Snapshot {
	if s == nil {
		panic("policy: Swap(nil)")
	}
	return e.cur.Swap(s)
}

// Reload compiles src and swaps it in only on success: on error the
// current snapshot stays and the error (a *LoadError for rule files) names
// the file, line and problem.
func (e *Engine) Reload(src Source) error {
	s, err := Compile(src)
	if err != nil {
		return err
	}
	e.Swap(s)
	return nil
}

// Gate is the domain gate of the current snapshot (see Snapshot.Gate).
func (e *Engine) Gate(host string) GateResult { return e.cur.Load().Gate(host) }

// Evaluate runs the full chain on the current snapshot: the domain gate and
// domain table, then the content and rate rules in order. It takes rate
// tokens, counts the decision in the engine's metrics and keeps shadow
// samples (ShadowSamples), but records nothing else: writing the decision
// log is the caller's job (see NewRecord).
//
// in is read and its lazily parsed fields are cached in it; it must not be
// used concurrently.
func (e *Engine) Evaluate(in *Input) Decision {
	d := e.cur.Load().decide(in, e.rl, nil)
	e.metrics.observe(in.host(), &d)
	e.shadow.record(in, &d)
	return d
}

// Explain runs the chain like Evaluate, without taking rate tokens or
// counting metrics, and reports every rule's verdict.
func (e *Engine) Explain(in *Input) Explanation {
	return e.cur.Load().explain(in, e.rl)
}

// RateLimit is the ingress's early rate check (DESIGN.md pipeline stage 4,
// before the digest and any key work). It runs only the rate rules whose
// conditions read nothing but the envelope (domain, actor, type), in chain
// order, takes their tokens and reports the first that is over its limit.
// in needs only Actor (and Type when rules test it); Raw is not read.
//
// Rules it consulted are skipped when the same Input is then evaluated, so
// a token is taken once. Content-dependent rate rules are left to Evaluate.
// Shadow rate rules are not consulted here.
func (e *Engine) RateLimit(in *Input) (limited bool, retryAfter time.Duration, ruleID string) {
	s := e.cur.Load()
	in.earlyRates = s
	var buf [maxHost]byte
	host := normalizeInto(&buf, in.host())
	in.bindIndex(s.idx)
	for _, r := range s.rules {
		if !r.earlyRate() {
			continue
		}
		if !r.match(in) {
			continue
		}
		key := in.Actor
		if r.rate.per == perDomain {
			key = host
		}
		if ok, retry, _ := e.rl.take(r.rate, r.id, key, in.now(), false); !ok {
			e.metrics.rateLimit.Inc()
			return true, retry, r.id
		}
	}
	return false, 0, ""
}

// earlyRate reports whether RateLimit runs the rule: an enforcing reject
// rate rule on envelope fields only.
func (r *rule) earlyRate() bool {
	return r.rate != nil && !r.shadow && r.action == Reject && r.cost == costEnvelope && (r.expr == nil || r.expr.cost == costEnvelope)
}

// Evaluate runs the chain of s without an engine: no metrics, no shadow
// samples, and rate rules count as under their limit (there are no
// buckets). For tools and tests; servers use Engine.Evaluate.
func (s *Snapshot) Evaluate(in *Input) Decision { return s.decide(in, nil, nil) }

// decide is the chain, shared by Evaluate and Explain so that an
// explanation can never disagree with a decision. ex is nil when not
// explaining; rl is nil when rate rules have no buckets.
func (s *Snapshot) decide(in *Input, rl *rateLimiter, ex *Explanation) Decision {
	var d Decision
	var buf [maxHost]byte
	host := normalizeInto(&buf, in.host())
	in.bindIndex(s.idx)

	// 1. The domain gate.
	var g GateResult
	idx := int32(-1)
	if host != "" {
		g, idx = s.gate(host)
	} else if s.mode == Allowlist {
		g = GateResult{Refuse: true, Reason: ReasonNotAllowlisted}
	}
	entryID := ""
	if idx >= 0 {
		entryID = s.domainIDs[idx]
	}
	if ex != nil {
		ex.Gate = g
		if g.Entry != nil {
			ex.Entry = *g.Entry
			ex.HasEntry = true
		}
	}
	if g.Refuse {
		id := entryID
		if id == "" {
			id = "allowlist"
		}
		d.apply(Fired{RuleID: id, Action: Reject, Reason: g.Reason}, 0, "")
		if ex != nil {
			ex.Stopped = id
		}
		s.explainRest(in, ex, 0, id)
		return d
	}

	// 2. The domain table's grades and flags.
	if e := g.Entry; e != nil {
		typ := in.activityType()
		if e.RejectReports && typ == "Flag" {
			d.apply(Fired{entryID, Reject, ReasonDomainRejectReports}, 0, "")
		}
		if e.RejectDeletes && typ == "Delete" {
			d.apply(Fired{entryID, Reject, ReasonDomainRejectDeletes}, 0, "")
		}
		if d.Action == Reject {
			if ex != nil {
				ex.Stopped = entryID
			}
			s.explainRest(in, ex, 0, entryID)
			return d
		}
		if e.Severity == SeveritySilence {
			d.apply(Fired{entryID, Silence, ReasonDomainSilenced}, ModSilence, "")
		}
		if e.FollowersOnly {
			d.apply(Fired{entryID, FollowersOnly, ReasonDomainFollowersOnly}, ModFollowersOnly, "")
		}
		if e.Delist {
			d.apply(Fired{entryID, Delist, ReasonDomainDelist}, ModDelist, "")
		}
		if e.RejectMedia {
			d.apply(Fired{entryID, StripMedia, ReasonDomainRejectMedia}, ModStripMedia, "")
		}
		if e.StripAvatar {
			d.apply(Fired{entryID, StripMedia, ReasonDomainStripAvatar}, ModStripAvatar, "")
		}
		if e.StripHeader {
			d.apply(Fired{entryID, StripMedia, ReasonDomainStripHeader}, ModStripHeader, "")
		}
		if e.ForceSensitive {
			d.apply(Fired{entryID, Sensitive, ReasonDomainForceSensitive}, ModSensitive, "")
		}
	}

	// 3. The rule chain. Undo and Delete from a known actor skip content
	// rules (rate rules still apply: a withdrawal can wait, not be lost).
	typ := in.activityType()
	d.Bypassed = len(s.rules) > 0 && (typ == "Undo" || typ == "Delete") && in.knownActor()
	stopped := ""
	// Decisions visit only the rules the prefilter leaves (prefilter.go);
	// explanations visit every rule and run all its conditions. The
	// prefilter only drops rules that cannot match, so both reach the same
	// decision (TestPrefilterMatchesChain).
	if ex == nil && len(s.rules) > 0 {
		s.pre.start(in, &in.pf)
	}
	early := in.earlyRates == s
	for i := 0; i < len(s.rules); i++ {
		if ex == nil {
			if stopped != "" {
				break
			}
			if i = s.pre.next(in, &in.pf, i, d.Bypassed, early); i >= len(s.rules) {
				break
			}
		}
		r := s.rules[i]
		if stopped != "" {
			if ex == nil {
				break
			}
			s.explainRest(in, ex, i, stopped)
			break
		}
		if d.Bypassed && r.rate == nil {
			if ex != nil {
				ex.add(r, VerdictBypassed, "content rules do not apply to "+typ+" from a known actor")
			}
			continue
		}
		if early && r.earlyRate() {
			// Its token was taken by RateLimit.
			if ex != nil {
				ex.add(r, VerdictUnderLimit, "checked by the early rate limit")
			}
			continue
		}
		var matched bool
		var why string
		if ex != nil {
			matched, why = r.explainMatch(in)
		} else {
			matched = r.matchRest(in)
		}
		if !matched {
			if ex != nil {
				ex.add(r, VerdictNoMatch, why)
			}
			continue
		}
		var retry time.Duration
		if r.rate != nil {
			key := in.Actor
			if r.rate.per == perDomain {
				key = host
			}
			ok := true
			var left float64
			if rl != nil {
				ok, retry, left = rl.take(r.rate, r.id, key, in.now(), ex != nil)
			}
			if ok {
				if ex != nil {
					state := fmt.Sprintf("%.0f tokens left", left)
					if rl == nil {
						state = "no bucket state outside a running engine"
					}
					ex.add(r, VerdictUnderLimit, fmt.Sprintf("%s, within rate %d per %s per %s (%s)", why, r.rate.limit, fmtDuration(r.rate.window), r.rate.per, state))
				}
				continue
			}
			why = fmt.Sprintf("%s, over rate %d per %s per %s (retry after %s)", why, r.rate.limit, fmtDuration(r.rate.window), r.rate.per, fmtDuration(retry))
		}
		f := Fired{RuleID: r.id, Action: r.action, Reason: r.reason}
		if r.shadow {
			d.Shadow = append(d.Shadow, f)
			if ex != nil {
				ex.add(r, VerdictShadow, why)
			}
			continue
		}
		d.apply(f, r.mods, r.cw)
		if r.rate != nil && r.action == Reject {
			d.RateLimited = true
			d.RetryAfter = max(d.RetryAfter, retry)
		}
		if ex != nil {
			ex.add(r, VerdictFired, why)
		}
		// Reject cannot be outdone; accept is an explicit exemption from
		// the rest of the chain.
		if r.action == Reject || r.action == Accept {
			stopped = r.id
			if ex != nil {
				ex.Stopped = r.id
			}
		}
	}
	return d
}

// match reports whether all conditions hold, the unless block does not,
// and the expression is true.
func (r *rule) match(in *Input) bool {
	for _, m := range r.condFns {
		if !m(in) {
			return false
		}
	}
	if len(r.unlessFns) > 0 {
		all := true
		for _, m := range r.unlessFns {
			if !m(in) {
				all = false
				break
			}
		}
		if all {
			return false
		}
	}
	if r.expr != nil {
		ok, _ := r.expr.eval(in)
		return ok
	}
	return true
}

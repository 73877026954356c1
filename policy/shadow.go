package policy

import (
	"sync"
	"time"
)

// ShadowSample is one activity a shadow rule would have acted on.
type ShadowSample struct {
	At         time.Time
	ActivityID string
	Actor      string
	Domain     string
	Action     Action // what the rule would have done
}

// shadowSamplesPerRule bounds the samples kept per rule; maxShadowRules
// bounds the rules tracked (ids of rules removed by reloads stay until
// the bound pushes them out).
const (
	shadowSamplesPerRule = 20
	maxShadowRules       = 1024
)

// shadowSampler keeps the most recent samples of each shadow rule, so an
// admin can see what a rule in trial would have hit before enforcing it.
type shadowSampler struct {
	mu    sync.Mutex
	rules map[string]*shadowRing
}

type shadowRing struct {
	next int
	full bool
	buf  [shadowSamplesPerRule]ShadowSample
}

func (s *shadowSampler) record(in *Input, d *Decision) {
	if len(d.Shadow) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.rules == nil {
		s.rules = map[string]*shadowRing{}
	}
	for _, f := range d.Shadow {
		r := s.rules[f.RuleID]
		if r == nil {
			if len(s.rules) >= maxShadowRules {
				for k := range s.rules { // drop an arbitrary rule's samples
					delete(s.rules, k)
					break
				}
			}
			r = &shadowRing{}
			s.rules[f.RuleID] = r
		}
		r.buf[r.next] = ShadowSample{At: in.now(), ActivityID: in.ID, Actor: in.Actor, Domain: in.host(), Action: f.Action}
		r.next = (r.next + 1) % shadowSamplesPerRule
		if r.next == 0 {
			r.full = true
		}
	}
}

// ShadowSamples returns the most recent activities (newest first, at most
// 20) that the shadow rule ruleID would have acted on. The count of all of
// them is in palisade_policy_decisions_total{mode="shadow"}.
func (e *Engine) ShadowSamples(ruleID string) []ShadowSample {
	s := &e.shadow
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.rules[ruleID]
	if r == nil {
		return nil
	}
	n := r.next
	if r.full {
		n = shadowSamplesPerRule
	}
	out := make([]ShadowSample, 0, n)
	for i := 1; i <= n; i++ {
		out = append(out, r.buf[(r.next-i+shadowSamplesPerRule)%shadowSamplesPerRule])
	}
	return out
}

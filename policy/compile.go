package policy

import (
	"fmt"
	"sort"
	"time"
)

// Source is everything a snapshot is compiled from. The caller assembles it
// from configuration, files, subscriptions and the database; Compile does
// not read anything itself.
type Source struct {
	// Mode is the federation mode; Blocklist when zero.
	Mode Mode
	// Domains is the domain table. When two entries name the same domain
	// (or the same wildcard), the later one wins: order the sources from
	// least to most deliberate (subscriptions, files, config, API).
	Domains []DomainEntry
	// Allows lists the domains federated with in allowlist mode (each also
	// covers its subdomains; "*.example.com" covers only the subdomains).
	// It is ignored in blocklist mode.
	Allows []string
	// RuleFiles are the rule chain, in order: the rules of the first file,
	// then those of the second, and so on.
	RuleFiles []RuleFile
}

// Snapshot is a compiled, immutable policy. It is safe for concurrent use
// and is never modified after Compile returns; a new policy is a new
// Snapshot swapped into the Engine.
type Snapshot struct {
	mode      Mode
	domains   *domainTable
	domainIDs []string // "domain:example.com" per entry, for Fired.RuleID
	allows    domainSet
	rules     []*rule
	files     []string
	compiled  time.Time
	idx       *condIndex
	pre       *prefilter
}

// rule is one compiled rule of the chain.
type rule struct {
	id, description, reason string
	file                    string
	line                    int
	action                  Action
	mods                    Modifiers
	cw                      string
	shadow, disabled        bool
	conds, unless           []cond
	// The conditions' match functions alone, in the same order: the
	// chain loop touches only these, not the explanation data.
	condFns, unlessFns []func(*Input) bool
	// The prefilter's view (see prefilter.go): the gate kinds the rule
	// carries, and the condition functions its gates leave to run, split
	// into envelope ones and the rest.
	gates           uint16
	envFns, postFns []func(*Input) bool
	expr            *compiledExpr
	exprSrc         string
	exprLine        int
	rate            *rateSpec
	cost            uint8 // the costliest thing the rule reads
}

// finish orders the conditions cheapest first, so a rule on a domain or a
// type is decided before anything parses the content.
func (r *rule) finish() {
	for _, l := range [][]cond{r.conds, r.unless} {
		sort.SliceStable(l, func(i, j int) bool { return l[i].cost < l[j].cost })
		for _, c := range l {
			r.cost = max(r.cost, c.cost)
		}
	}
	if r.expr != nil {
		r.cost = max(r.cost, r.expr.cost)
	}
	for _, c := range r.conds {
		r.condFns = append(r.condFns, c.match)
	}
	for _, c := range r.unless {
		r.unlessFns = append(r.unlessFns, c.match)
	}
}

// Compile builds a snapshot. It reports the first problem found; errors in
// rule files are *LoadError values naming the file and line.
func Compile(src Source) (*Snapshot, error) {
	s := &Snapshot{mode: src.Mode, compiled: time.Now()}
	if src.Mode > Allowlist {
		return nil, fmt.Errorf("unknown federation mode %d", src.Mode)
	}
	t, err := buildDomainTable(src.Domains)
	if err != nil {
		return nil, err
	}
	s.domains = t
	s.domainIDs = make([]string, len(t.entries))
	for i, e := range t.entries {
		d := e.Domain
		if d == "" || isObfuscated(d) {
			d = "digest:" + e.Digest
		}
		s.domainIDs[i] = "domain:" + d
	}
	for _, a := range src.Allows {
		if err := s.allows.add(a); err != nil {
			return nil, fmt.Errorf("allowlist: %w", err)
		}
	}
	if len(src.RuleFiles) > 0 {
		env, err := newExprEnv()
		if err != nil {
			return nil, fmt.Errorf("expression environment: %w", err)
		}
		where := map[string]*rule{}
		for _, f := range src.RuleFiles {
			rules, err := parseRuleFile(f, env)
			if err != nil {
				return nil, err
			}
			s.files = append(s.files, f.Name)
			for _, r := range rules {
				if prev, dup := where[r.id]; dup {
					return nil, &LoadError{File: r.file, Line: r.line, Msg: fmt.Sprintf("rule id %q is already used at %s:%d: ids must be unique across all rule files", r.id, prev.file, prev.line)}
				}
				where[r.id] = r
				if !r.disabled {
					s.rules = append(s.rules, r)
				}
			}
		}
	}
	s.idx = &condIndex{}
	for _, r := range s.rules {
		for _, l := range [][]cond{r.conds, r.unless} {
			for i := range l {
				c := &l[i]
				if c.domIdx != nil {
					s.idx.addDomain(c.domIdx, c.domSet)
				}
				if c.linkIdx != nil {
					s.idx.addLink(c.linkIdx, c.domSet)
				}
				if c.kwIdx != nil {
					s.idx.addKeywords(c.kwIdx, c.kw)
				}
			}
		}
	}
	s.pre = buildPrefilter(s.rules, s.idx)
	return s, nil
}

// Mode returns the snapshot's federation mode.
func (s *Snapshot) Mode() Mode { return s.mode }

// Rules returns the ids of the enabled rules, in chain order.
func (s *Snapshot) Rules() []string {
	ids := make([]string, len(s.rules))
	for i, r := range s.rules {
		ids[i] = r.id
	}
	return ids
}

// CompiledAt returns when the snapshot was compiled.
func (s *Snapshot) CompiledAt() time.Time { return s.compiled }

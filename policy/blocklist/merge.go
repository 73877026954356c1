package blocklist

import (
	"fmt"
	"slices"
	"sort"
	"strings"
)

// SourceList is one list taking part in a Merge.
type SourceList struct {
	// Name identifies the source in MergeResult (a subscription id, a file).
	Name string
	// Priority decides conflicts: the values of the highest-priority
	// sources listing a domain win. Equal priorities (the default) fall back
	// to MergeOptions.Plan, which is FediBlockHole's behaviour.
	Priority int
	List     List
}

// Plan says how severities and flags of several sources combine.
type Plan string

const (
	// PlanMax takes the strictest severity, and a flag is set when any
	// source sets it (FediBlockHole's "max"). The default.
	PlanMax Plan = "max"
	// PlanMin takes the mildest severity, and a flag is set only when every
	// source sets it (FediBlockHole's "min").
	PlanMin Plan = "min"
)

// MergeOptions configure Merge. The zero value merges every domain any
// source lists at the strictest severity, with no follow protection.
type MergeOptions struct {
	// MinSources applies a domain only when at least this many sources list
	// it (0 and 1 both mean any one source).
	MinSources int `json:"min_sources,omitempty" yaml:"min_sources,omitempty"`
	// MinPercent applies a domain only when at least this percentage
	// (0–100) of the sources list it. When both thresholds are set, both
	// must hold.
	MinPercent float64 `json:"min_percent,omitempty" yaml:"min_percent,omitempty"`
	// Plan combines severities and flags; "" means PlanMax.
	Plan Plan `json:"plan,omitempty" yaml:"plan,omitempty"`

	// NeverSuspendFollowed reports whether local accounts follow accounts
	// on domain. Such a domain's merged severity is capped at
	// MaxSeverityForFollowed, so a shared list cannot cut local users'
	// relationships without a moderator deciding it. Nil disables the cap.
	NeverSuspendFollowed func(domain string) bool `json:"-" yaml:"-"`
	// FollowedDigest does the same for entries known only by digest
	// (obfuscated entries of Mastodon's public JSON). If nil, such entries
	// are checked against nothing.
	FollowedDigest func(digest string) bool `json:"-" yaml:"-"`
	// MaxSeverityForFollowed is the cap for followed domains; "" means
	// SeveritySilence.
	MaxSeverityForFollowed Severity `json:"max_severity_for_followed,omitempty" yaml:"max_severity_for_followed,omitempty"`
}

// Capped records a domain whose merged severity was lowered because local
// users follow it.
type Capped struct {
	Domain string   `json:"domain"`
	From   Severity `json:"from"`
	To     Severity `json:"to"`
}

// MergeResult is a merged list and how it came about.
type MergeResult struct {
	List List
	// Sources names, per merged entry's digest, the sources that list it
	// (highest priority first): the answer to "which list blocked this?".
	Sources map[string][]string
	// Capped are the domains lowered by the follow protection.
	Capped []Capped
	// BelowThreshold are domains some source lists that did not reach the
	// consensus threshold, with the number of sources listing them.
	BelowThreshold []Candidate
}

// Candidate is a domain that did not make it into a merged list.
type Candidate struct {
	Domain  string `json:"domain"`
	Sources int    `json:"sources"`
}

// Merge combines several lists into one, FediBlockHole style. A domain is
// applied when enough sources list it (MinSources, MinPercent). Its values
// come from the highest-priority sources listing it; among those, Plan
// decides: the max (or min) severity, and reject_media/reject_reports ORed
// (ANDed under PlanMin). Obfuscate is ORed over every listing source
// whatever the plan, since one source asking to hide a domain is reason
// enough. Comments of the winning sources are joined with "; ", duplicates
// dropped. Finally followed domains are capped (see MergeOptions).
//
// The result is sorted by domain. It is an allowlist only when every source
// is one. Merge does not modify its arguments.
func Merge(sources []SourceList, opts MergeOptions) List {
	return MergeDetail(sources, opts).List
}

// MergeDetail is Merge with the provenance and the domains held back.
func MergeDetail(sources []SourceList, opts MergeOptions) MergeResult {
	order := make([]int, len(sources))
	for i := range order {
		order[i] = i
	}
	// Highest priority first; stable so equal priorities keep input order
	// (and comments are joined in that order).
	sort.SliceStable(order, func(a, b int) bool { return sources[order[a]].Priority > sources[order[b]].Priority })

	// One group per distinct digest, holding the listing sources in
	// priority order. Members are (source, entry) index pairs so grouping
	// 300k entries costs one map insert each and few allocations.
	type member struct{ src, entry int32 }
	type group struct {
		key   string
		first member
		rest  []member
	}
	byKey := map[string]int32{}
	var groups []group
	allow := len(sources) > 0
	for _, si := range order {
		src := sources[si]
		allow = allow && src.List.Allow
		for ei, e := range src.List.Entries {
			m := member{int32(si), int32(ei)}
			k := e.key()
			gi, ok := byKey[k]
			if !ok {
				byKey[k] = int32(len(groups))
				groups = append(groups, group{key: k, first: m})
				continue
			}
			g := &groups[gi]
			last := g.first
			if len(g.rest) > 0 {
				last = g.rest[len(g.rest)-1]
			}
			if last.src == m.src {
				continue // a source counts once per domain
			}
			g.rest = append(g.rest, m)
		}
	}

	minSources := max(opts.MinSources, 1)
	maxFollowed := opts.MaxSeverityForFollowed
	if !maxFollowed.Valid() {
		maxFollowed = SeveritySilence
	}
	res := MergeResult{List: List{Allow: allow, Entries: make([]Entry, 0, len(groups))}, Sources: make(map[string][]string, len(groups))}
	var members []Entry
	for gi := range groups {
		g := &groups[gi]
		members = members[:0]
		names := make([]string, 0, 1+len(g.rest))
		top := sources[g.first.src].Priority
		winners := 0
		for i, m := range append([]member{g.first}, g.rest...) {
			members = append(members, sources[m.src].List.Entries[m.entry])
			names = append(names, sources[m.src].Name)
			if sources[m.src].Priority == top && winners == i {
				winners++
			}
		}
		n := len(members)
		if n < minSources || float64(n)*100 < opts.MinPercent*float64(len(sources)) {
			res.BelowThreshold = append(res.BelowThreshold, Candidate{Domain: bestDomain(members), Sources: n})
			continue
		}
		e := combine(members[:winners], opts.Plan)
		e.Domain = bestDomain(members)
		e.Digest = g.key
		for _, x := range members {
			e.Obfuscate = e.Obfuscate || x.Obfuscate
		}
		if allow {
			e.Severity = ""
		} else if e.Severity.Rank() > maxFollowed.Rank() && followed(e, opts) {
			res.Capped = append(res.Capped, Capped{Domain: e.Domain, From: e.Severity, To: maxFollowed})
			e.Severity = maxFollowed
		}
		res.List.Entries = append(res.List.Entries, e)
		res.Sources[g.key] = names
	}
	sortEntries(res.List.Entries)
	sort.Slice(res.Capped, func(i, j int) bool { return res.Capped[i].Domain < res.Capped[j].Domain })
	sort.Slice(res.BelowThreshold, func(i, j int) bool { return res.BelowThreshold[i].Domain < res.BelowThreshold[j].Domain })
	return res
}

func followed(e Entry, opts MergeOptions) bool {
	if e.DigestOnly() {
		return opts.FollowedDigest != nil && opts.FollowedDigest(e.Digest)
	}
	return opts.NeverSuspendFollowed != nil && opts.NeverSuspendFollowed(e.Domain)
}

// bestDomain prefers a real domain over a masked one.
func bestDomain(es []Entry) string {
	for _, e := range es {
		if !e.DigestOnly() {
			return e.Domain
		}
	}
	return es[0].Domain
}

func combine(es []Entry, plan Plan) Entry {
	out := es[0]
	if len(es) == 1 {
		return out
	}
	var pub, priv []string
	for i, e := range es {
		if i > 0 {
			stricter := e.Severity.Rank() > out.Severity.Rank()
			if plan == PlanMin {
				if e.Severity.Rank() < out.Severity.Rank() {
					out.Severity = e.Severity
				}
				out.RejectMedia = out.RejectMedia && e.RejectMedia
				out.RejectReports = out.RejectReports && e.RejectReports
			} else {
				if stricter {
					out.Severity = e.Severity
				}
				out.RejectMedia = out.RejectMedia || e.RejectMedia
				out.RejectReports = out.RejectReports || e.RejectReports
			}
		}
		if e.PublicComment != "" && !slices.Contains(pub, e.PublicComment) {
			pub = append(pub, e.PublicComment)
		}
		if e.PrivateComment != "" && !slices.Contains(priv, e.PrivateComment) {
			priv = append(priv, e.PrivateComment)
		}
	}
	out.PublicComment = strings.Join(pub, "; ")
	out.PrivateComment = strings.Join(priv, "; ")
	return out
}

// ParsePlan reads "max" or "min" ("" is max).
func ParsePlan(s string) (Plan, error) {
	switch Plan(strings.ToLower(strings.TrimSpace(s))) {
	case "", PlanMax:
		return PlanMax, nil
	case PlanMin:
		return PlanMin, nil
	}
	return "", fmt.Errorf("unknown merge plan %q (want max or min)", s)
}

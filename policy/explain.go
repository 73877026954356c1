package policy

import (
	"fmt"
	"io"
	"strings"
)

// Verdict is what one rule made of an activity.
type Verdict uint8

// The verdicts.
const (
	VerdictNoMatch    Verdict = iota // a condition failed
	VerdictFired                     // matched and applied
	VerdictShadow                    // matched in shadow mode: counted, not applied
	VerdictUnderLimit                // a rate rule matched but tokens were left
	VerdictNotReached                // an earlier rule ended the chain
	VerdictBypassed                  // content rules skipped for Undo/Delete from a known actor
)

var verdictNames = [...]string{"no match", "FIRED", "shadow", "under limit", "not reached", "bypassed"}

func (v Verdict) String() string {
	if int(v) < len(verdictNames) {
		return verdictNames[v]
	}
	return "?"
}

// RuleVerdict is one rule's line in an explanation.
type RuleVerdict struct {
	RuleID  string
	File    string
	Line    int
	Action  Action
	Reason  string
	Shadow  bool
	Verdict Verdict
	// Why says which condition failed and with what value ("match.mentions:
	// 3 mentions, want >= 10"), or what matched when the rule fired.
	Why string
}

// Explanation is a decision with the reasons for it: the domain gate, the
// domain entry, and every rule's verdict in chain order.
type Explanation struct {
	Decision   Decision
	Mode       Mode
	ID         string
	Type       string
	Actor      string
	Domain     string
	Content    Content
	ParseError string
	Gate       GateResult
	Entry      DomainEntry // copy of Gate.Entry when HasEntry
	HasEntry   bool
	Rules      []RuleVerdict
	// Stopped is the id of the rule (or domain entry) that ended the chain.
	Stopped string
}

func (ex *Explanation) add(r *rule, v Verdict, why string) {
	ex.Rules = append(ex.Rules, RuleVerdict{
		RuleID: r.id, File: r.file, Line: r.line, Action: r.action, Reason: r.reason,
		Shadow: r.shadow, Verdict: v, Why: why,
	})
}

// Explain runs in through the snapshot's chain and reports every verdict.
// Without an engine there are no rate buckets: rate rules count as under
// their limit. Engine.Explain consults the engine's buckets.
func (s *Snapshot) Explain(in *Input) Explanation { return s.explain(in, nil) }

// explain consults rl without taking tokens.
func (s *Snapshot) explain(in *Input, rl *rateLimiter) Explanation {
	ex := Explanation{Mode: s.mode}
	if c, err := in.Content(); err != nil {
		ex.ParseError = err.Error()
	} else {
		ex.Content = *c
	}
	d := s.decide(in, rl, &ex)
	ex.Decision = d
	ex.ID, ex.Type, ex.Actor, ex.Domain = in.ID, in.Type, in.Actor, in.host()
	return ex
}

// explainRest records the rules from index i on as not reached, saying
// whether they would have matched.
func (s *Snapshot) explainRest(in *Input, ex *Explanation, from int, stoppedBy string) {
	if ex == nil {
		return
	}
	for _, r := range s.rules[from:] {
		m, why := r.explainMatch(in)
		would := "would not have matched: " + why
		if m {
			would = "would have matched: " + why
		}
		ex.add(r, VerdictNotReached, "chain ended by "+stoppedBy+"; "+would)
	}
}

// explainMatch is match with the reason: the first failing condition, or
// a summary of what matched.
func (r *rule) explainMatch(in *Input) (bool, string) {
	var matched []string
	for i := range r.conds {
		c := &r.conds[i]
		if !c.match(in) {
			return false, fmt.Sprintf("%s: %s, want %s", c.key, c.got(in), c.want)
		}
		matched = append(matched, c.got(in))
	}
	if len(r.unless) > 0 {
		all := true
		var got []string
		for i := range r.unless {
			c := &r.unless[i]
			if !c.match(in) {
				all = false
				break
			}
			got = append(got, c.key+": "+c.got(in))
		}
		if all {
			return false, "unless matched (" + strings.Join(got, "; ") + ")"
		}
	}
	if r.expr != nil {
		ok, err := r.expr.eval(in)
		if err != nil {
			return false, fmt.Sprintf("expr failed: %v", err)
		}
		if !ok {
			return false, "expr is false: " + oneLine(r.exprSrc)
		}
		matched = append(matched, "expr is true")
	}
	if len(matched) == 0 {
		return true, "matches everything"
	}
	return true, strings.Join(matched, "; ")
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return s
}

// Print writes the explanation for people, as `palisade explain` shows it.
func (ex *Explanation) Print(w io.Writer) {
	fmt.Fprintf(w, "activity: %s %s\n", orNone(ex.Type), orNone(ex.ID))
	fmt.Fprintf(w, "actor:    %s (domain %s)\n", orNone(ex.Actor), orNone(ex.Domain))
	if ex.ParseError != "" {
		fmt.Fprintf(w, "content:  not parsed: %s\n", ex.ParseError)
	} else {
		c := &ex.Content
		fmt.Fprintf(w, "content:  %s %s, %d mentions, %d recipients, %d attachments, links to %s, hashtags %s, languages %s\n",
			orNone(c.ObjectType), c.Visibility, len(c.Mentions), c.Recipients, c.Attachments,
			listOrNone(c.LinkDomains), listOrNone(c.Hashtags), listOrNone(c.Languages))
	}
	fmt.Fprintf(w, "mode:     %s\n", ex.Mode)
	switch {
	case ex.Gate.Refuse:
		fmt.Fprintf(w, "gate:     REFUSED (%s)\n", ex.Gate.Reason)
	default:
		fmt.Fprintf(w, "gate:     passed\n")
	}
	if ex.HasEntry {
		e := &ex.Entry
		fmt.Fprintf(w, "domain:   %s %s%s", orNone(e.Domain), e.Severity, entryFlags(e))
		if e.Source != "" {
			fmt.Fprintf(w, " (from %s)", e.Source)
		}
		if e.PrivateComment != "" {
			fmt.Fprintf(w, " — %s", e.PrivateComment)
		} else if e.PublicComment != "" {
			fmt.Fprintf(w, " — %s", e.PublicComment)
		}
		fmt.Fprintln(w)
	} else {
		fmt.Fprintln(w, "domain:   no entry")
	}
	fmt.Fprintln(w, "rules:")
	if len(ex.Rules) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for _, v := range ex.Rules {
		mode := ""
		if v.Shadow {
			mode = " [shadow]"
		}
		fmt.Fprintf(w, "  %-11s %s%s → %s (%s:%d)\n", v.Verdict, v.RuleID, mode, v.Action, v.File, v.Line)
		fmt.Fprintf(w, "              %s\n", v.Why)
	}
	fmt.Fprintf(w, "decision: %s\n", ex.Decision.String())
	for _, f := range ex.Decision.Fired {
		fmt.Fprintf(w, "  fired:  %s %s (%s)\n", f.RuleID, f.Action, f.Reason)
	}
	for _, f := range ex.Decision.Shadow {
		fmt.Fprintf(w, "  shadow: %s %s (%s)\n", f.RuleID, f.Action, f.Reason)
	}
	if ex.Decision.CW != "" {
		fmt.Fprintf(w, "  cw:     %q\n", ex.Decision.CW)
	}
	if ex.Decision.Bypassed {
		fmt.Fprintln(w, "  content rules bypassed: Undo/Delete from a known actor")
	}
}

func entryFlags(e *DomainEntry) string {
	var f []string
	for _, x := range []struct {
		on   bool
		name string
	}{
		{e.RejectMedia, "reject_media"}, {e.RejectReports, "reject_reports"},
		{e.StripAvatar, "strip_avatar"}, {e.StripHeader, "strip_header"},
		{e.ForceSensitive, "force_sensitive"}, {e.Delist, "delist"},
		{e.FollowersOnly, "followers_only"}, {e.RejectDeletes, "reject_deletes"},
		{e.Obfuscate, "obfuscate"},
	} {
		if x.on {
			f = append(f, x.name)
		}
	}
	if len(f) == 0 {
		return ""
	}
	return " " + strings.Join(f, " ")
}

package policy

import (
	"fmt"
	"strings"
)

// Action is what a rule (or the domain table) decides for one activity. The
// instance's reaction to each action is the table in DESIGN.md.
type Action uint8

// The actions. Their numeric values are stored in decision records, so new
// actions are appended, never inserted.
const (
	Accept        Action = iota // processed normally
	Reject                      // dropped, not stored
	Silence                     // stored; the account is limited
	Delist                      // stored; kept out of public timelines
	StripMedia                  // attachments removed
	Sensitive                   // media marked sensitive
	CW                          // a content warning is added
	FollowersOnly               // visibility lowered to followers
	Quarantine                  // held for a moderator
	Report                      // a moderation report is filed automatically

	numActions
)

var actionNames = [numActions]string{
	Accept:        "accept",
	Reject:        "reject",
	Silence:       "silence",
	Delist:        "delist",
	StripMedia:    "strip_media",
	Sensitive:     "sensitive",
	CW:            "cw",
	FollowersOnly: "followers_only",
	Quarantine:    "quarantine",
	Report:        "report",
}

// actionRank orders actions by strength; Decision.Action is the fired action
// of highest rank. The order, strongest first:
//
//	reject > quarantine > silence > followers_only > delist > strip_media >
//	sensitive > cw > report > accept
//
// Reject wins because a dropped activity cannot also be held; quarantine
// beats silence because a moderator will see the whole activity anyway; the
// visibility reductions come before the presentation changes because they
// decide who sees the post at all. Every weaker effect is still carried in
// Decision.Modifiers, so nothing that fired is lost.
var actionRank = [numActions]uint8{
	Accept:        0,
	Report:        1,
	CW:            2,
	Sensitive:     3,
	StripMedia:    4,
	Delist:        5,
	FollowersOnly: 6,
	Silence:       7,
	Quarantine:    8,
	Reject:        9,
}

// String returns the action's name as written in rule files ("strip_media").
func (a Action) String() string {
	if a < numActions {
		return actionNames[a]
	}
	return fmt.Sprintf("action(%d)", uint8(a))
}

// Stronger reports whether a takes precedence over b (see actionRank).
func (a Action) Stronger(b Action) bool {
	if a >= numActions || b >= numActions {
		return a > b
	}
	return actionRank[a] > actionRank[b]
}

// MarshalText implements encoding.TextMarshaler (the action's name).
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseAction.
func (a *Action) UnmarshalText(b []byte) error {
	v, err := ParseAction(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// actionList is the valid names for error messages.
var actionList = strings.Join(actionNames[:], ", ")

// ParseAction reads an action name, case-insensitively. "strip-media" is
// accepted for "strip_media". The error lists the valid names.
func ParseAction(s string) (Action, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	for i, name := range actionNames {
		if n == name {
			return Action(i), nil
		}
	}
	return 0, fmt.Errorf("unknown action %q (want one of %s)", s, actionList)
}

// Modifiers is the set of non-terminal effects a decision carries. Every
// fired rule adds its effect here, even when a stronger action was chosen,
// so the instance can apply all of them (for example sensitive + cw).
type Modifiers uint16

// The modifier bits.
const (
	ModStripMedia    Modifiers = 1 << iota // remove attachments
	ModSensitive                           // mark media sensitive
	ModCW                                  // add Decision.CW as content warning
	ModDelist                              // keep out of public timelines
	ModFollowersOnly                       // lower visibility to followers
	ModReport                              // file a moderation report citing the rules
	ModStripAvatar                         // drop the actor's avatar
	ModStripHeader                         // drop the actor's banner (header image)
	ModSilence                             // limit the account (also when a stronger action won)
	ModQuarantine                          // hold for a moderator (also when reject won)
)

var modifierNames = []struct {
	m    Modifiers
	name string
}{
	{ModStripMedia, "strip_media"},
	{ModSensitive, "sensitive"},
	{ModCW, "cw"},
	{ModDelist, "delist"},
	{ModFollowersOnly, "followers_only"},
	{ModReport, "report"},
	{ModStripAvatar, "strip_avatar"},
	{ModStripHeader, "strip_header"},
	{ModSilence, "silence"},
	{ModQuarantine, "quarantine"},
}

// Has reports whether every bit of m2 is set in m.
func (m Modifiers) Has(m2 Modifiers) bool { return m&m2 == m2 }

// String lists the set modifiers separated by "+", or "none".
func (m Modifiers) String() string {
	if m == 0 {
		return "none"
	}
	var b strings.Builder
	for _, n := range modifierNames {
		if m&n.m != 0 {
			if b.Len() > 0 {
				b.WriteByte('+')
			}
			b.WriteString(n.name)
		}
	}
	return b.String()
}

// parseModifier reads one modifier name as used in a rule's "also" list.
func parseModifier(s string) (Modifiers, error) {
	n := strings.ReplaceAll(strings.ToLower(strings.TrimSpace(s)), "-", "_")
	for _, m := range modifierNames {
		if m.name == n {
			return m.m, nil
		}
	}
	names := make([]string, len(modifierNames))
	for i, m := range modifierNames {
		names[i] = m.name
	}
	return 0, fmt.Errorf("unknown modifier %q (want one of %s)", s, strings.Join(names, ", "))
}

// actionModifier is the modifier an action leaves in Decision.Modifiers.
func actionModifier(a Action) Modifiers {
	switch a {
	case StripMedia:
		return ModStripMedia
	case Sensitive:
		return ModSensitive
	case CW:
		return ModCW
	case Delist:
		return ModDelist
	case FollowersOnly:
		return ModFollowersOnly
	case Report:
		return ModReport
	case Silence:
		return ModSilence
	case Quarantine:
		return ModQuarantine
	}
	return 0
}

// Severity is a domain entry's grade, as in Mastodon's domain blocks.
type Severity uint8

// The severities, weakest first, so the larger of two is the stronger.
// (Silence is taken by the action of that name, hence the prefix.)
const (
	SeverityNoop    Severity = 0 // no limitation; the entry's flags (reject_media, ...) still apply
	SeveritySilence Severity = 1 // stored; accounts limited, as Mastodon's silence
	SeveritySuspend Severity = 2 // refused at the gate; nothing fetched or delivered
)

var severityNames = [...]string{"noop", "silence", "suspend"}

// String returns "noop", "silence" or "suspend".
func (s Severity) String() string {
	if int(s) < len(severityNames) {
		return severityNames[s]
	}
	return fmt.Sprintf("severity(%d)", uint8(s))
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler with ParseSeverity.
func (s *Severity) UnmarshalText(b []byte) error {
	v, err := ParseSeverity(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// ParseSeverity reads "suspend", "silence" or "noop" case-insensitively.
// "limit" (Mastodon's newer name for silence) and "none" are accepted too.
// An empty string is suspend, as in Mastodon's CSV export where a missing
// severity means suspend.
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "suspend", "":
		return SeveritySuspend, nil
	case "silence", "limit":
		return SeveritySilence, nil
	case "noop", "none":
		return SeverityNoop, nil
	}
	return 0, fmt.Errorf("unknown severity %q (want one of suspend, silence, noop)", s)
}

// Mode is the federation mode.
type Mode uint8

// The federation modes.
const (
	// Blocklist federates with every domain except those the domain table
	// suspends. It is the default.
	Blocklist Mode = iota
	// Allowlist federates only with domains listed in Source.Allows (and
	// their subdomains); the domain table still applies to them.
	Allowlist
)

// String returns "blocklist" or "allowlist".
func (m Mode) String() string {
	if m == Allowlist {
		return "allowlist"
	}
	return "blocklist"
}

// ParseMode reads "blocklist" or "allowlist".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "blocklist", "":
		return Blocklist, nil
	case "allowlist":
		return Allowlist, nil
	}
	return 0, fmt.Errorf("unknown federation mode %q (want blocklist or allowlist)", s)
}

package blocklist

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// Changes is what turns one list into another, keyed by domain digest (so
// a masked entry and its plain domain are the same entry). Each slice is
// sorted by domain.
type Changes struct {
	// Added are entries only in the new list.
	Added []Entry `json:"added,omitempty"`
	// Removed are entries only in the old list: for a subscription, the
	// domains the list retracted.
	Removed []Entry `json:"removed,omitempty"`
	// Changed are entries in both lists whose severity, flags or comments
	// differ.
	Changed []Change `json:"changed,omitempty"`
}

// Change is one entry present in both lists with different values.
type Change struct {
	Old Entry `json:"old"`
	New Entry `json:"new"`
	// Fields names what differs: severity, reject_media, reject_reports,
	// obfuscate, public_comment, private_comment, domain (a masked entry
	// whose real domain became known, or the reverse).
	Fields []string `json:"fields"`
}

// SeverityChanged reports whether the severity differs.
func (c Change) SeverityChanged() bool { return c.Old.Severity != c.New.Severity }

// Escalated reports whether the new severity is stricter than the old.
func (c Change) Escalated() bool { return c.New.Severity.Rank() > c.Old.Severity.Rank() }

// Empty reports whether there is no change at all.
func (c Changes) Empty() bool { return len(c.Added)+len(c.Removed)+len(c.Changed) == 0 }

// Diff returns the changes from old to new.
func Diff(old, new List) Changes {
	var c Changes
	oldIdx := old.index()
	newIdx := new.index()
	for _, e := range new.Entries {
		i, ok := oldIdx[e.key()]
		if !ok {
			c.Added = append(c.Added, e)
			continue
		}
		if f := changedFields(old.Entries[i], e); len(f) > 0 {
			c.Changed = append(c.Changed, Change{Old: old.Entries[i], New: e, Fields: f})
		}
	}
	for _, e := range old.Entries {
		if _, ok := newIdx[e.key()]; !ok {
			c.Removed = append(c.Removed, e)
		}
	}
	sortEntries(c.Added)
	sortEntries(c.Removed)
	sort.Slice(c.Changed, func(i, j int) bool { return c.Changed[i].New.Domain < c.Changed[j].New.Domain })
	return c
}

func changedFields(a, b Entry) []string {
	var f []string
	if a.Domain != b.Domain {
		f = append(f, "domain")
	}
	if a.Severity != b.Severity {
		f = append(f, "severity")
	}
	if a.RejectMedia != b.RejectMedia {
		f = append(f, "reject_media")
	}
	if a.RejectReports != b.RejectReports {
		f = append(f, "reject_reports")
	}
	if a.Obfuscate != b.Obfuscate {
		f = append(f, "obfuscate")
	}
	if a.PublicComment != b.PublicComment {
		f = append(f, "public_comment")
	}
	if a.PrivateComment != b.PrivateComment {
		f = append(f, "private_comment")
	}
	return f
}

func sortEntries(es []Entry) {
	sort.Slice(es, func(i, j int) bool { return es[i].Domain < es[j].Domain })
}

// describe prints an entry's severity and flags: "suspend reject_media".
func describe(e Entry) string {
	var b strings.Builder
	b.WriteString(string(e.Severity))
	if e.Severity == "" {
		b.WriteString("allow")
	}
	if e.RejectMedia {
		b.WriteString(" reject_media")
	}
	if e.RejectReports {
		b.WriteString(" reject_reports")
	}
	if e.Obfuscate {
		b.WriteString(" obfuscate")
	}
	return b.String()
}

// WriteTo prints the changes for an admin, one line per domain ("+" added,
// "-" removed, "~" changed, with old → new values), and a summary line.
// This is what "palisade blocks diff" prints.
func (c Changes) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	for _, e := range c.Added {
		fmt.Fprintf(&b, "+ %s  %s", e.Domain, describe(e))
		if e.PublicComment != "" {
			fmt.Fprintf(&b, "  %q", e.PublicComment)
		}
		b.WriteByte('\n')
	}
	for _, e := range c.Removed {
		fmt.Fprintf(&b, "- %s  %s\n", e.Domain, describe(e))
	}
	for _, ch := range c.Changed {
		fmt.Fprintf(&b, "~ %s ", ch.New.Domain)
		for _, f := range ch.Fields {
			o, n := fieldValue(ch.Old, f), fieldValue(ch.New, f)
			fmt.Fprintf(&b, " %s %s → %s", f, o, n)
		}
		b.WriteByte('\n')
	}
	fmt.Fprintf(&b, "%d added, %d removed, %d changed\n", len(c.Added), len(c.Removed), len(c.Changed))
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// String is WriteTo into a string.
func (c Changes) String() string {
	var b strings.Builder
	_, _ = c.WriteTo(&b)
	return b.String()
}

func fieldValue(e Entry, field string) string {
	switch field {
	case "domain":
		return e.Domain
	case "severity":
		return string(e.Severity)
	case "reject_media":
		return fmt.Sprint(e.RejectMedia)
	case "reject_reports":
		return fmt.Sprint(e.RejectReports)
	case "obfuscate":
		return fmt.Sprint(e.Obfuscate)
	case "public_comment":
		return fmt.Sprintf("%q", e.PublicComment)
	case "private_comment":
		return fmt.Sprintf("%q", e.PrivateComment)
	}
	return ""
}

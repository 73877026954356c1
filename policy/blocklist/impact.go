package blocklist

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// ImpactCounter answers, for one domain, how much of the instance's social
// graph touches it. The instance implements it over its database.
type ImpactCounter interface {
	CountDomain(ctx context.Context, domain string) (DomainCounts, error)
}

// DomainCounts is what a block of one domain would touch.
type DomainCounts struct {
	// KnownActors is the number of the domain's actors the instance knows.
	KnownActors int `json:"known_actors"`
	// FollowsTo counts follows from local accounts to accounts there.
	FollowsTo int `json:"follows_to"`
	// FollowersFrom counts follows of local accounts from accounts there.
	FollowersFrom int `json:"followers_from"`
}

func (c *DomainCounts) add(o DomainCounts) {
	c.KnownActors += o.KnownActors
	c.FollowsTo += o.FollowsTo
	c.FollowersFrom += o.FollowersFrom
}

// ImpactRow is one domain of an impact preview.
type ImpactRow struct {
	Domain string `json:"domain"`
	// Change is "added" or "escalated" (severity raised, or reject flags set).
	Change   string       `json:"change"`
	Severity Severity     `json:"severity"`
	Counts   DomainCounts `json:"counts"`
	// Err is set when counting failed or the domain is known only by digest.
	Err string `json:"error,omitempty"`
}

// ImpactReport is what applying some Changes would cut.
type ImpactReport struct {
	Rows []ImpactRow `json:"rows"`
	// Total sums every row; Severed sums the rows that suspend (their
	// follows are removed, not just limited).
	Total   DomainCounts `json:"total"`
	Severed DomainCounts `json:"severed"`
}

// Impact counts, for every domain that changes would newly block or block
// harder, the actors and follows it touches. Retractions cut nothing and
// are not counted. Rows follow the order of changes (added, then changed);
// a domain the counter fails on gets a row with Err and no counts.
func Impact(ctx context.Context, changes Changes, counter ImpactCounter) ImpactReport {
	var r ImpactReport
	count := func(e Entry, change string) {
		row := ImpactRow{Domain: e.Domain, Change: change, Severity: e.Severity}
		switch {
		case e.DigestOnly():
			row.Err = "domain known only by its digest; cannot count"
		default:
			c, err := counter.CountDomain(ctx, e.Domain)
			if err != nil {
				row.Err = err.Error()
				break
			}
			row.Counts = c
			r.Total.add(c)
			if e.Severity == SeveritySuspend {
				r.Severed.add(c)
			}
		}
		r.Rows = append(r.Rows, row)
	}
	for _, e := range changes.Added {
		count(e, "added")
	}
	for _, ch := range changes.Changed {
		flagsOn := (!ch.Old.RejectMedia && ch.New.RejectMedia) || (!ch.Old.RejectReports && ch.New.RejectReports)
		if ch.Escalated() || flagsOn {
			count(ch.New, "escalated")
		}
	}
	return r
}

// WriteTo prints the report as a table for an admin.
func (r ImpactReport) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	fmt.Fprintf(&b, "%-40s %-9s %-8s %8s %8s %9s\n", "DOMAIN", "CHANGE", "SEVERITY", "ACTORS", "FOLLOWS", "FOLLOWERS")
	for _, row := range r.Rows {
		if row.Err != "" {
			fmt.Fprintf(&b, "%-40s %-9s %-8s  (%s)\n", row.Domain, row.Change, row.Severity, row.Err)
			continue
		}
		fmt.Fprintf(&b, "%-40s %-9s %-8s %8d %8d %9d\n", row.Domain, row.Change, row.Severity,
			row.Counts.KnownActors, row.Counts.FollowsTo, row.Counts.FollowersFrom)
	}
	fmt.Fprintf(&b, "%-40s %-9s %-8s %8d %8d %9d\n", "TOTAL", "", "", r.Total.KnownActors, r.Total.FollowsTo, r.Total.FollowersFrom)
	fmt.Fprintf(&b, "suspensions would sever %d follows and %d followers of local accounts\n", r.Severed.FollowsTo, r.Severed.FollowersFrom)
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

package blocklist

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// graph is a small social graph standing in for the instance's database;
// the instance implements ImpactCounter over Postgres.
type graph map[string]DomainCounts

func (g graph) CountDomain(_ context.Context, domain string) (DomainCounts, error) {
	if domain == "broken.example" {
		return DomainCounts{}, errors.New("database unavailable")
	}
	return g[domain], nil
}

func TestImpact(t *testing.T) {
	g := graph{
		"big.example":   {KnownActors: 120, FollowsTo: 30, FollowersFrom: 12},
		"quiet.example": {KnownActors: 5, FollowsTo: 1},
		"up.example":    {KnownActors: 7, FollowsTo: 2, FollowersFrom: 3},
		"gone.example":  {KnownActors: 99, FollowsTo: 99},
	}
	old := list(sus("gone.example"), sil("up.example"), sus("same.example"))
	new := list(sus("same.example"), sus("big.example"), sil("quiet.example"), sus("up.example"), sus("broken.example"),
		Entry{Domain: "hi***n.example", Digest: DomainDigest("hidden.example"), Severity: SeveritySuspend})
	r := Impact(context.Background(), Diff(old, new), g)
	if len(r.Rows) != 5 {
		t.Fatalf("rows = %+v, want big, broken, masked, quiet and up (the retraction of gone cuts nothing)", r.Rows)
	}
	if r.Total != (DomainCounts{KnownActors: 132, FollowsTo: 33, FollowersFrom: 15}) {
		t.Errorf("total = %+v", r.Total)
	}
	if r.Severed != (DomainCounts{KnownActors: 127, FollowsTo: 32, FollowersFrom: 15}) {
		t.Errorf("severed (suspensions only) = %+v", r.Severed)
	}
	var errs int
	for _, row := range r.Rows {
		if row.Err != "" {
			errs++
		}
		if row.Domain == "up.example" && row.Change != "escalated" {
			t.Errorf("up.example change = %q, want escalated", row.Change)
		}
	}
	if errs != 2 {
		t.Errorf("want a row error for the failing count and for the digest-only entry, got %d", errs)
	}
	var b strings.Builder
	_, _ = r.WriteTo(&b)
	if !strings.Contains(b.String(), "sever 32 follows and 15 followers") {
		t.Errorf("printout lacks the severed summary:\n%s", b.String())
	}
}

package blocklist

import (
	"reflect"
	"strings"
	"testing"
)

func list(es ...Entry) List { return List{Entries: es} }

func sus(d string) Entry { return Entry{Domain: d, Severity: SeveritySuspend} }
func sil(d string) Entry { return Entry{Domain: d, Severity: SeveritySilence} }

func domains(l List) []string {
	var out []string
	for _, e := range l.Entries {
		out = append(out, e.Domain+":"+string(e.Severity))
	}
	return out
}

func TestMergeConsensusCount(t *testing.T) {
	srcs := []SourceList{
		{Name: "a", List: list(sus("x.example"), sus("y.example"))},
		{Name: "b", List: list(sus("y.example"), sus("z.example"))},
		{Name: "c", List: list(sil("y.example"), sus("x.example"))},
	}
	r := MergeDetail(srcs, MergeOptions{MinSources: 2})
	if got, want := domains(r.List), []string{"x.example:suspend", "y.example:suspend"}; !reflect.DeepEqual(got, want) {
		t.Errorf("merged = %v, want %v", got, want)
	}
	if len(r.BelowThreshold) != 1 || r.BelowThreshold[0] != (Candidate{Domain: "z.example", Sources: 1}) {
		t.Errorf("below threshold = %+v, want z.example listed by 1", r.BelowThreshold)
	}
	if got := r.Sources[DomainDigest("y.example")]; !reflect.DeepEqual(got, []string{"a", "b", "c"}) {
		t.Errorf("sources of y.example = %v", got)
	}
}

func TestMergeConsensusPercent(t *testing.T) {
	srcs := []SourceList{
		{Name: "a", List: list(sus("x.example"), sus("y.example"))},
		{Name: "b", List: list(sus("y.example"))},
		{Name: "c", List: list(sus("y.example"))},
		{Name: "d", List: list(sus("x.example"))},
	}
	// 50% of four sources is two: x (2) and y (3) pass; at 75%, only y.
	if got := domains(Merge(srcs, MergeOptions{MinPercent: 50})); len(got) != 2 {
		t.Errorf("50%%: %v, want x and y", got)
	}
	if got := domains(Merge(srcs, MergeOptions{MinPercent: 75})); !reflect.DeepEqual(got, []string{"y.example:suspend"}) {
		t.Errorf("75%%: %v, want only y", got)
	}
	// Both thresholds must hold.
	if got := domains(Merge(srcs, MergeOptions{MinPercent: 50, MinSources: 3})); !reflect.DeepEqual(got, []string{"y.example:suspend"}) {
		t.Errorf("50%% and 3 sources: %v, want only y", got)
	}
}

func TestMergePlanMaxMin(t *testing.T) {
	a := Entry{Domain: "x.example", Severity: SeveritySuspend, RejectMedia: true, PublicComment: "spam"}
	b := Entry{Domain: "x.example", Severity: SeveritySilence, RejectMedia: true, RejectReports: true, PublicComment: "spam", Obfuscate: true}
	srcs := []SourceList{{Name: "a", List: list(a)}, {Name: "b", List: list(b)}}

	mx := Merge(srcs, MergeOptions{}).Entries[0]
	if mx.Severity != SeveritySuspend || !mx.RejectMedia || !mx.RejectReports || !mx.Obfuscate || mx.PublicComment != "spam" {
		t.Errorf("max plan = %+v, want suspend, both flags, obfuscated, one comment", mx)
	}
	mn := Merge(srcs, MergeOptions{Plan: PlanMin}).Entries[0]
	if mn.Severity != SeveritySilence || !mn.RejectMedia || mn.RejectReports || !mn.Obfuscate {
		t.Errorf("min plan = %+v, want silence, reject_media only (set by both), still obfuscated", mn)
	}
}

func TestMergePriorityWins(t *testing.T) {
	srcs := []SourceList{
		{Name: "community", Priority: 0, List: list(Entry{Domain: "x.example", Severity: SeveritySuspend, PublicComment: "they said so"})},
		{Name: "ours", Priority: 10, List: list(Entry{Domain: "x.example", Severity: SeveritySilence, PublicComment: "we looked"})},
	}
	e := Merge(srcs, MergeOptions{}).Entries[0]
	if e.Severity != SeveritySilence || e.PublicComment != "we looked" {
		t.Errorf("merged = %+v, want the higher-priority silence and its comment", e)
	}
}

func TestMergeNeverSuspendFollowed(t *testing.T) {
	srcs := []SourceList{{Name: "a", List: list(sus("friends.example"), sus("spam.example"), sil("quiet.example"))}}
	opts := MergeOptions{NeverSuspendFollowed: func(d string) bool { return d == "friends.example" || d == "quiet.example" }}
	r := MergeDetail(srcs, opts)
	if got, want := domains(r.List), []string{"friends.example:silence", "quiet.example:silence", "spam.example:suspend"}; !reflect.DeepEqual(got, want) {
		t.Errorf("merged = %v, want %v", got, want)
	}
	if len(r.Capped) != 1 || r.Capped[0] != (Capped{Domain: "friends.example", From: SeveritySuspend, To: SeveritySilence}) {
		t.Errorf("capped = %+v", r.Capped)
	}
	opts.MaxSeverityForFollowed = SeverityNoop
	if got := domains(Merge(srcs, opts)); got[1] != "quiet.example:noop" {
		t.Errorf("with cap noop: %v", got)
	}
	// An obfuscated entry is protected through its digest.
	masked := []SourceList{{Name: "a", List: list(Entry{Domain: "fr****s.example", Digest: DomainDigest("friends.example"), Severity: SeveritySuspend})}}
	opts = MergeOptions{FollowedDigest: func(g string) bool { return g == DomainDigest("friends.example") }}
	if got := domains(Merge(masked, opts)); got[0] != "fr****s.example:silence" {
		t.Errorf("masked followed domain: %v", got)
	}
}

func TestMergeUnifiesMaskedAndPlain(t *testing.T) {
	srcs := []SourceList{
		{Name: "public", List: list(Entry{Domain: "hid*******e.example", Digest: DomainDigest("hidden-hate.example"), Severity: SeveritySuspend, Obfuscate: true})},
		{Name: "csv", List: list(sil("hidden-hate.example"))},
	}
	l := Merge(srcs, MergeOptions{MinSources: 2})
	if len(l.Entries) != 1 || l.Entries[0].Domain != "hidden-hate.example" || l.Entries[0].Severity != SeveritySuspend || !l.Entries[0].Obfuscate {
		t.Errorf("merged = %+v, want the plain domain, suspended, obfuscated", l.Entries)
	}
}

func TestDiffAndItsPrintout(t *testing.T) {
	old := list(sus("gone.example"), sil("up.example"), Entry{Domain: "flag.example", Severity: SeveritySilence}, sus("same.example"))
	new := list(sus("same.example"), sus("up.example"), Entry{Domain: "flag.example", Severity: SeveritySilence, RejectMedia: true}, Entry{Domain: "new.example", Severity: SeveritySuspend, PublicComment: "spam"})
	c := Diff(old, new)
	if len(c.Added) != 1 || c.Added[0].Domain != "new.example" {
		t.Errorf("added = %+v", c.Added)
	}
	if len(c.Removed) != 1 || c.Removed[0].Domain != "gone.example" {
		t.Errorf("removed = %+v", c.Removed)
	}
	if len(c.Changed) != 2 || !c.Changed[1].Escalated() || c.Changed[0].SeverityChanged() {
		t.Errorf("changed = %+v", c.Changed)
	}
	want := `+ new.example  suspend  "spam"
- gone.example  suspend
~ flag.example  reject_media false → true
~ up.example  severity silence → suspend
1 added, 1 removed, 2 changed
`
	if got := c.String(); got != want {
		t.Errorf("printout:\n%s\nwant:\n%s", got, want)
	}
	if !Diff(new, new).Empty() || strings.TrimSpace(Diff(new, new).String()) != "0 added, 0 removed, 0 changed" {
		t.Error("a list differs from itself")
	}
}

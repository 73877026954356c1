package pg_test

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// auditCount counts the audit rows of action.
func auditCount(t *testing.T, db *pg.DB, action string) int {
	t.Helper()
	var n int
	if err := db.Pool().QueryRow(context.Background(), `SELECT count(*) FROM audit_log WHERE action = $1`, action).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestDomainPolicyPutUpdateDeleteAuditedAndVersioned(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)

	d, created, v1, err := db.PutDomainPolicy(ctx, "alice", pg.DomainPolicy{Domain: "spam.example", Severity: "suspend", PublicComment: "spam", RejectDeletes: true})
	if err != nil || !created || v1 != 1 {
		t.Fatalf("first put: created=%v version=%d err=%v; want created, version 1", created, v1, err)
	}
	if d.Source != "api" || d.CreatedBy != "alice" || !d.RejectDeletes {
		t.Fatalf("stored row %+v: want source api, created_by alice, reject_deletes", d)
	}
	time.Sleep(time.Millisecond) // updated_at must move past created_at
	d2, created, v2, err := db.PutDomainPolicy(ctx, "bob", pg.DomainPolicy{Domain: "spam.example", Severity: "silence"})
	if err != nil || created || v2 != 2 {
		t.Fatalf("second put: created=%v version=%d err=%v; want an update at version 2", created, v2, err)
	}
	if d2.Severity != "silence" || d2.CreatedBy != "alice" || !d2.UpdatedAt.After(d2.CreatedAt) || d2.RejectDeletes {
		t.Fatalf("updated row %+v: want silence, still created by alice, updated later, flags replaced", d2)
	}
	if _, _, _, err := db.PutDomainPolicy(ctx, "bob", pg.DomainPolicy{Domain: "x.example", Severity: "block"}); err == nil {
		t.Fatal("severity block stored; want the check constraint to refuse it")
	}
	list, err := db.ListDomainPolicies(ctx, "SPAM")
	if err != nil || len(list) != 1 || list[0].Domain != "spam.example" {
		t.Fatalf("search SPAM = %+v, %v", list, err)
	}
	if _, err := db.DeleteDomainPolicy(ctx, "carol", "spam.example"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteDomainPolicy(ctx, "carol", "spam.example"); !errors.Is(err, pg.ErrNotFound) {
		t.Fatalf("second delete: %v, want ErrNotFound", err)
	}
	if v, _ := pg.PolicyVersion(ctx, db.Pool()); v != 3 {
		t.Fatalf("version %d after put, put, delete (a failed delete must not bump); want 3", v)
	}
	if n := auditCount(t, db, "domain_policy.put"); n != 2 {
		t.Fatalf("%d put audit rows, want 2", n)
	}
	if n := auditCount(t, db, "domain_policy.delete"); n != 1 {
		t.Fatalf("%d delete audit rows, want 1 (the refused one rolled back)", n)
	}
	a, err := db.RecentAudit(ctx, 1)
	if err != nil || a[0].Actor != "carol" || a[0].Target != "spam.example" {
		t.Fatalf("newest audit row %+v, %v", a, err)
	}
}

func TestDomainPolicyImportIsOneTransaction(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	ok := []pg.DomainPolicy{{Domain: "a.example", Severity: "suspend"}, {Domain: "b.example", Severity: "noop", RejectMedia: true}}
	n, v, err := db.PutDomainPolicies(ctx, "admin", "list.csv", ok)
	if err != nil || n != 2 || v != 1 {
		t.Fatalf("import: %d created, version %d, %v", n, v, err)
	}
	bad := []pg.DomainPolicy{{Domain: "c.example", Severity: "suspend"}, {Domain: "d.example", Severity: "nope"}}
	if _, _, err := db.PutDomainPolicies(ctx, "admin", "bad.csv", bad); err == nil {
		t.Fatal("import with a bad row succeeded")
	}
	list, _ := db.ListDomainPolicies(ctx, "")
	if len(list) != 2 {
		t.Fatalf("after a failed import %d rows, want the 2 of the first import (nothing half-applied)", len(list))
	}
}

func TestAllowsRuleFilesOverrides(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	if _, err := db.PutDomainAllow(ctx, "admin", pg.DomainAllow{Domain: "friend.example", Comment: "partner"}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.DeleteDomainAllow(ctx, "admin", "other.example"); !errors.Is(err, pg.ErrNotFound) {
		t.Fatalf("removing an absent allow: %v", err)
	}
	allows, _ := db.ListDomainAllows(ctx)
	if len(allows) != 1 || allows[0].Comment != "partner" {
		t.Fatalf("allows %+v", allows)
	}

	f1, created, _, err := db.PutRuleFile(ctx, "admin", pg.RuleFileRow{Name: "spam.yaml", Body: "version: 1\nrules: []\n"})
	if err != nil || !created || f1.Position != 1 || !f1.Enabled {
		t.Fatalf("put spam.yaml: %+v created=%v %v", f1, created, err)
	}
	f2, _, _, _ := db.PutRuleFile(ctx, "admin", pg.RuleFileRow{Name: "a.yaml", Body: "x"})
	if f2.Position != 2 {
		t.Fatalf("second file at position %d, want 2 (after the first)", f2.Position)
	}
	if _, err := db.SetRuleFileEnabled(ctx, "admin", "spam.yaml", false); err != nil {
		t.Fatal(err)
	}
	f1b, created, _, _ := db.PutRuleFile(ctx, "bob", pg.RuleFileRow{Name: "spam.yaml", Body: "new"})
	if created || f1b.Enabled || f1b.Position != 1 || f1b.UpdatedBy != "bob" {
		t.Fatalf("replaced file %+v: want same position, still disabled, updated by bob", f1b)
	}
	files, _ := db.ListRuleFiles(ctx)
	if len(files) != 2 || files[0].Name != "spam.yaml" || files[0].Body != "new" {
		t.Fatalf("files %+v, want spam.yaml first", files)
	}
	if _, err := db.SetRuleFileEnabled(ctx, "admin", "nope.yaml", true); !errors.Is(err, pg.ErrNotFound) {
		t.Fatalf("enabling a missing file: %v", err)
	}
	if _, err := db.SetRuleShadow(ctx, "admin", "r1", true); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetRuleShadow(ctx, "admin", "r1", false); err != nil {
		t.Fatal(err)
	}
	ov, _ := db.ListRuleOverrides(ctx)
	if len(ov) != 1 || ov[0].Shadow {
		t.Fatalf("overrides %+v, want r1 shadow off", ov)
	}
}

func TestSubscriptionsDraftsAndSyncLock(t *testing.T) {
	ctx := context.Background()
	db := pgtest.New(t)
	s, err := db.AddSubscription(ctx, "admin", pg.SubscriptionRow{ID: "oliphant", URL: "https://lists.example/o.csv", Format: "auto", Excludes: []string{"friend.example"}})
	if err != nil || string(s.State) != "{}" || !s.LastSync.IsZero() {
		t.Fatalf("add: %+v %v", s, err)
	}
	if _, err := db.AddSubscription(ctx, "admin", pg.SubscriptionRow{ID: "other", URL: "https://lists.example/o.csv"}); !errors.Is(err, pg.ErrExists) {
		t.Fatalf("same URL again: %v, want ErrExists", err)
	}
	v0, _ := pg.PolicyVersion(ctx, db.Pool())
	now := time.Now().UTC().Truncate(time.Second)
	v, err := db.SaveSync(ctx, "sync", pg.SyncOutcome{
		States: []pg.SubscriptionRow{{ID: "oliphant", State: json.RawMessage(`{"id":"oliphant","etag":"x"}`), LastSync: now}},
		Drafts: []pg.DraftRow{{SubscriptionID: "oliphant", Draft: json.RawMessage(`{"n":1}`)}, {SubscriptionID: "gone", Draft: json.RawMessage(`{}`)}},
	})
	if err != nil || v != v0 {
		t.Fatalf("unchanged sync: version %d (was %d), %v; want no bump", v, v0, err)
	}
	drafts, _ := db.ListDrafts(ctx)
	if len(drafts) != 1 || drafts[0].SubscriptionID != "oliphant" {
		t.Fatalf("drafts %+v: want one, of oliphant (the removed subscription's is dropped)", drafts)
	}
	subs, _ := db.ListSubscriptions(ctx)
	if !subs[0].LastSync.Equal(now) || !json.Valid(subs[0].State) || len(subs[0].Excludes) != 1 {
		t.Fatalf("sub after sync %+v", subs[0])
	}
	v, err = db.ApplyDraft(ctx, "mod", drafts[0].ID, func(sub pg.SubscriptionRow) (json.RawMessage, error) {
		return json.RawMessage(`{"applied":true}`), nil
	})
	if err != nil || v != v0+1 {
		t.Fatalf("apply: version %d, %v", v, err)
	}
	if _, err := db.ApplyDraft(ctx, "mod", drafts[0].ID, nil); !errors.Is(err, pg.ErrNotFound) {
		t.Fatalf("applying twice: %v", err)
	}

	inner := make(chan bool, 1)
	ran, err := db.WithSyncLock(ctx, func() error {
		ran2, err := db.WithSyncLock(ctx, func() error { return nil })
		inner <- ran2
		return err
	})
	if !ran || err != nil || <-inner {
		t.Fatalf("sync lock: outer ran=%v err=%v; the inner attempt must be refused while held", ran, err)
	}
	if ran, _ := db.WithSyncLock(ctx, func() error { return nil }); !ran {
		t.Fatal("sync lock not released")
	}
	if _, err := db.DeleteSubscription(ctx, "admin", "oliphant"); err != nil {
		t.Fatal(err)
	}
	if subs, _ := db.ListSubscriptions(ctx); len(subs) != 0 {
		t.Fatalf("subscriptions after delete: %+v", subs)
	}
}

package data_test

import (
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// InstanceCounts counts what is pending and leaves out what was decided:
// deleted statuses, resolved reports, released quarantine, accepted
// follow requests, the instance actor.
func TestInstanceCounts(t *testing.T) {
	db := pgtest.New(t)
	s := data.New(db.Pool())
	if c, err := s.InstanceCounts(ctx); err != nil || c != (data.InstanceCounts{}) {
		t.Fatalf("empty database: %+v, %v", c, err)
	}
	alice, carol := local(t, s, "alice"), local(t, s, "carol")
	if err := s.InsertLocalAccount(ctx, &data.Account{URI: "https://here.example/actor", Username: "here.example",
		ActorType: "Application", PrivateKeyPEM: "P"}); err != nil {
		t.Fatal(err)
	}
	bob, dan, eve := remote(t, s, "bob", "far.example"), remote(t, s, "dan", "far.example"), remote(t, s, "eve", "other.example")
	at := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)
	var statuses []*data.Status
	for i, a := range []*data.Account{alice, alice, carol, bob, bob, dan, eve} {
		st := &data.Status{URI: a.URI + "/statuses/" + string(rune('a'+i)), AccountID: a.ID, Visibility: data.Public,
			Local: a.Domain == "", CreatedAt: at.Add(time.Duration(i) * time.Minute)}
		if _, err := s.InsertStatus(ctx, st); err != nil {
			t.Fatal(err)
		}
		statuses = append(statuses, st)
	}
	for _, st := range []*data.Status{statuses[0], statuses[3]} { // one local, one remote deleted
		if _, _, err := s.DeleteStatusByURI(ctx, st.URI, st.AccountID); err != nil {
			t.Fatal(err)
		}
	}
	for i, target := range []*data.Account{alice, bob, dan} {
		r := &data.Report{AccountID: eve.ID, TargetAccountID: target.ID, URI: "https://other.example/flag/" + string(rune('a'+i))}
		if _, err := s.InsertReport(ctx, r); err != nil {
			t.Fatal(err)
		}
		if i == 2 {
			if err := s.ResolveReport(ctx, r.ID, true, "cli"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i := range 3 {
		q := &data.Quarantined{ActivityURI: "https://far.example/act/" + string(rune('a'+i)), ActivityType: "Create",
			ActorURI: bob.URI, Raw: []byte(`{}`)}
		if _, err := s.InsertQuarantine(ctx, q); err != nil {
			t.Fatal(err)
		}
		if i > 0 {
			if _, err := s.DecideQuarantine(ctx, q.ID, i == 1, "cli"); err != nil {
				t.Fatal(err)
			}
		}
	}
	for i, f := range []*data.Follow{{AccountID: bob.ID, TargetAccountID: alice.ID}, {AccountID: dan.ID, TargetAccountID: alice.ID},
		{AccountID: carol.ID, TargetAccountID: eve.ID}} {
		f.URI = "https://x.example/follow/" + string(rune('a'+i))
		if _, err := s.CreateFollowRequest(ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.AcceptFollowRequest(ctx, dan.ID, alice.ID); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.InsertOutbox(ctx, &data.OutboxEntry{Actor: alice.URI, Activity: []byte(`{}`), Inboxes: []string{bob.InboxURL}}); err != nil {
			t.Fatal(err)
		}
	}

	want := data.InstanceCounts{LocalAccounts: 2, RemoteAccounts: 3, LocalStatuses: 2, RemoteStatuses: 3,
		OpenReports: 2, PendingQuarantine: 1, PendingFollowRequests: 2, OutboxPending: 2}
	c, err := s.InstanceCounts(ctx)
	if err != nil || c != want {
		t.Fatalf("InstanceCounts = %+v, %v\nwant %+v", c, err, want)
	}

	// Past ExactCountLimit rows (as the planner estimates them), remote
	// statuses are the estimate minus the exact local count.
	if _, err := db.Pool().Exec(ctx, `UPDATE pg_class SET reltuples = 2500000 WHERE oid = 'statuses'::regclass`); err != nil {
		t.Fatalf("setting the planner's estimate (the test cluster's user is a superuser): %v", err)
	}
	c, err = s.InstanceCounts(ctx)
	if err != nil || !c.RemoteEstimated || c.RemoteStatuses != 2500000-2 || c.LocalStatuses != 2 {
		t.Fatalf("with a large estimate: %+v, %v", c, err)
	}

	// A closed pool is an error, not a zero count.
	db.Pool().Close()
	if _, err := s.InstanceCounts(ctx); err == nil {
		t.Fatal("InstanceCounts on a closed pool succeeded")
	}
}

package data_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

var ctx = context.Background()

func newStore(t *testing.T) *data.Store {
	t.Helper()
	return data.New(pgtest.New(t).Pool())
}

func local(t *testing.T, s *data.Store, name string) *data.Account {
	t.Helper()
	a := &data.Account{URI: "https://here.example/users/" + name, Username: name, PrivateKeyPEM: "PRIVATE",
		InboxURL: "https://here.example/users/" + name + "/inbox"}
	if err := s.InsertLocalUser(ctx, a, &data.User{Email: name + "@mail.example", PasswordHash: "x"}); err != nil {
		t.Fatal(err)
	}
	return a
}

func remote(t *testing.T, s *data.Store, name, domain string) *data.Account {
	t.Helper()
	a := &data.Account{URI: "https://" + domain + "/users/" + name, Username: name, Domain: domain,
		InboxURL: "https://" + domain + "/users/" + name + "/inbox", SharedInboxURL: "https://" + domain + "/inbox"}
	if _, err := s.UpsertRemoteAccount(ctx, a); err != nil {
		t.Fatal(err)
	}
	return a
}

func mustKind(t *testing.T, err error, k data.Kind) {
	t.Helper()
	if !errors.Is(err, k) {
		t.Fatalf("err = %v, want kind %v", err, k)
	}
}

func TestAccounts(t *testing.T) {
	s := newStore(t)
	alice := local(t, s, "alice")
	if alice.ID == 0 {
		t.Fatal("no id set")
	}
	// Usernames are unique regardless of case; e-mails too.
	err := s.InsertLocalUser(ctx, &data.Account{URI: "https://here.example/users/ALICE", Username: "ALICE", PrivateKeyPEM: "P"},
		&data.User{Email: "other@mail.example", PasswordHash: "x"})
	mustKind(t, err, data.Conflict)
	err = s.InsertLocalUser(ctx, &data.Account{URI: "https://here.example/users/bob", Username: "bob", PrivateKeyPEM: "P"},
		&data.User{Email: "Alice@Mail.Example", PasswordHash: "x"})
	mustKind(t, err, data.Conflict)
	// Nothing of the refused account was left behind.
	if _, err := s.GetAccountByUsername(ctx, "bob", ""); !errors.Is(err, data.NotFound) {
		t.Fatalf("refused account stored: %v", err)
	}
	got, err := s.GetAccountByUsername(ctx, "Alice", "")
	if err != nil || got.ID != alice.ID || !got.Local() || got.PrivateKeyPEM != "PRIVATE" {
		t.Fatalf("GetAccountByUsername = %+v, %v", got, err)
	}
	u, err := s.GetUserByAccount(ctx, alice.ID)
	if err != nil || u.Role != data.RoleUser || u.Email != "alice@mail.example" {
		t.Fatalf("user = %+v, %v", u, err)
	}

	// Remote: the same username on another domain is another account;
	// an upsert of the same uri refreshes and keeps the id.
	r := &data.Account{URI: "https://far.example/users/alice", Username: "alice", Domain: "FAR.example", DisplayName: "A",
		Fields: []data.Field{{Name: "site", Value: "<a>x</a>"}}}
	created, err := s.UpsertRemoteAccount(ctx, r)
	if err != nil || !created || r.Domain != "far.example" {
		t.Fatalf("upsert = %v, %v, domain %q", created, err, r.Domain)
	}
	firstID := r.ID
	r2 := &data.Account{URI: r.URI, Username: "alice", Domain: "far.example", DisplayName: "Alice B", Locked: true}
	created, err = s.UpsertRemoteAccount(ctx, r2)
	if err != nil || created || r2.ID != firstID {
		t.Fatalf("second upsert = %v, %v, id %d want %d", created, err, r2.ID, firstID)
	}
	got, err = s.GetAccountByURI(ctx, r.URI)
	if err != nil || got.DisplayName != "Alice B" || !got.Locked || len(got.Fields) != 0 || got.Acct() != "alice@far.example" {
		t.Fatalf("refreshed = %+v, %v", got, err)
	}
	// A peer cannot overwrite a local account by claiming its uri.
	_, err = s.UpsertRemoteAccount(ctx, &data.Account{URI: alice.URI, Username: "alice", Domain: "here.example"})
	mustKind(t, err, data.Forbidden)
	// Another actor claiming a taken username@domain is Conflict.
	_, err = s.UpsertRemoteAccount(ctx, &data.Account{URI: "https://far.example/u/2", Username: "ALICE", Domain: "far.example"})
	mustKind(t, err, data.Conflict)

	// Suspension reports changes once.
	now := time.Now()
	for i, want := range []bool{true, false} {
		changed, err := s.SetSuspended(ctx, firstID, &now)
		if err != nil || changed != want {
			t.Fatalf("SetSuspended #%d = %v, %v; want %v", i, changed, err, want)
		}
	}
	yes := true
	list, err := s.ListAccounts(ctx, data.AccountFilter{Suspended: &yes})
	if err != nil || len(list) != 1 || list[0].ID != firstID {
		t.Fatalf("suspended list = %v, %v", list, err)
	}
	if changed, err := s.SetSuspended(ctx, firstID, nil); err != nil || !changed {
		t.Fatalf("unsuspend = %v, %v", changed, err)
	}
	locals, err := s.ListAccounts(ctx, data.AccountFilter{Origin: "local"})
	if err != nil || len(locals) != 1 || locals[0].ID != alice.ID {
		t.Fatalf("local list = %v, %v", locals, err)
	}
	_, err = s.GetAccount(ctx, 12345)
	mustKind(t, err, data.NotFound)
	_, err = s.SetSuspended(ctx, 12345, &now)
	mustKind(t, err, data.NotFound)
}

func TestStatusesIdempotentWithCountersAndExtras(t *testing.T) {
	s := newStore(t)
	alice := local(t, s, "alice")
	bob := remote(t, s, "bob", "far.example")
	published := time.Date(2025, 3, 1, 10, 0, 0, 0, time.UTC)

	parent := &data.Status{URI: "https://here.example/users/alice/statuses/1", AccountID: alice.ID, Content: "<p>hi</p>",
		Visibility: data.Public, Local: true, CreatedAt: published.Add(-time.Hour)}
	if _, err := s.InsertStatus(ctx, parent); err != nil {
		t.Fatal(err)
	}
	reply := &data.Status{URI: "https://far.example/notes/9", AccountID: bob.ID, Content: "<p>@alice #Go</p>",
		InReplyToURI: parent.URI, Visibility: data.Public, CreatedAt: published,
		Mentions: []data.Mention{{AccountID: alice.ID}}, Tags: []string{"Go", "#go", "fedi"},
		Media: []data.MediaAttachment{{Type: "image", RemoteURL: "https://far.example/m/1.png", Description: "cat"}}}
	for i := range 3 { // redelivery changes nothing
		created, err := s.InsertStatus(ctx, reply)
		if err != nil || created != (i == 0) {
			t.Fatalf("insert #%d = %v, %v", i, created, err)
		}
	}
	got, err := s.GetStatusByURI(ctx, reply.URI)
	if err != nil {
		t.Fatal(err)
	}
	if got.InReplyToID != parent.ID || got.InReplyToAccountID != alice.ID {
		t.Fatalf("reply not linked to its parent: %+v", got)
	}
	if !slices.Equal(got.Tags, []string{"fedi", "go"}) || len(got.Mentions) != 1 || len(got.Media) != 1 || got.Media[0].Description != "cat" {
		t.Fatalf("extras = tags %v mentions %v media %v", got.Tags, got.Mentions, got.Media)
	}
	// The id carries the published time: a late post sorts by publish time.
	if got.ID <= parent.ID {
		t.Fatalf("reply id %d not after parent id %d", got.ID, parent.ID)
	}
	p, _ := s.GetStatus(ctx, parent.ID)
	b, _ := s.GetAccount(ctx, bob.ID)
	if p.RepliesCount != 1 || b.StatusesCount != 1 || b.LastStatusAt == nil || !b.LastStatusAt.Equal(published) {
		t.Fatalf("counters: replies %d, statuses %d, last %v", p.RepliesCount, b.StatusesCount, b.LastStatusAt)
	}
	tl, err := s.TagTimeline(ctx, "#GO", data.Page{})
	if err != nil || len(tl) != 1 || tl[0].ID != reply.ID {
		t.Fatalf("tag timeline = %v, %v", tl, err)
	}

	// A peer's first Update may carry the very second its post was
	// published in (times travel to the second): it applies.
	sameSecond, err := s.GetStatus(ctx, p.ID)
	if err != nil {
		t.Fatal(err)
	}
	if applied, err := s.EditStatus(ctx, sameSecond.ID, sameSecond.AccountID, data.StatusEdit{Content: "<p>same second</p>", EditedAt: sameSecond.CreatedAt}); err != nil || !applied {
		t.Fatalf("first edit in the publishing second = %v, %v", applied, err)
	}

	// Edits keep history; a stale (redelivered) Update is a no-op.
	edit := data.StatusEdit{Content: "<p>edited</p>", EditedAt: published.Add(time.Minute)}
	for i, want := range []bool{true, false} {
		applied, err := s.EditStatus(ctx, reply.ID, bob.ID, edit)
		if err != nil || applied != want {
			t.Fatalf("edit #%d = %v, %v", i, applied, err)
		}
	}
	// An edit older than the post is stale too.
	if applied, err := s.EditStatus(ctx, reply.ID, bob.ID, data.StatusEdit{Content: "<p>old</p>", EditedAt: published.Add(-time.Second)}); err != nil || applied {
		t.Fatalf("edit before the post = %v, %v", applied, err)
	}
	hist, err := s.StatusEdits(ctx, reply.ID)
	if err != nil || len(hist) != 1 || hist[0].Content != "<p>@alice #Go</p>" || len(hist[0].MediaIDs) != 1 {
		t.Fatalf("history = %+v, %v", hist, err)
	}
	_, err = s.EditStatus(ctx, reply.ID, alice.ID, data.StatusEdit{Content: "x"})
	mustKind(t, err, data.Forbidden)

	// Deletes: owner only, idempotent, counters move once.
	_, _, err = s.DeleteStatusByURI(ctx, reply.URI, alice.ID)
	mustKind(t, err, data.Forbidden)
	for i, want := range []bool{true, false} {
		st, deleted, err := s.DeleteStatusByURI(ctx, reply.URI, bob.ID)
		if err != nil || deleted != want || st.DeletedAt == nil {
			t.Fatalf("delete #%d = %v, %v", i, deleted, err)
		}
	}
	p, _ = s.GetStatus(ctx, parent.ID)
	b, _ = s.GetAccount(ctx, bob.ID)
	if p.RepliesCount != 0 || b.StatusesCount != 0 {
		t.Fatalf("after delete: replies %d, statuses %d", p.RepliesCount, b.StatusesCount)
	}
	// A replayed Create after the Delete stays deleted.
	if created, err := s.InsertStatus(ctx, &data.Status{URI: reply.URI, AccountID: bob.ID, CreatedAt: published}); err != nil || created {
		t.Fatalf("replayed create = %v, %v", created, err)
	}
	_, _, err = s.DeleteStatusByURI(ctx, "https://far.example/notes/none", bob.ID)
	mustKind(t, err, data.NotFound)

	_, err = s.InsertStatus(ctx, &data.Status{URI: "x", AccountID: bob.ID, CreatedAt: published, Visibility: "everyone"})
	mustKind(t, err, data.Invalid)
}

func TestPublicTimelineAndPages(t *testing.T) {
	s := newStore(t)
	alice := local(t, s, "alice")
	bob := remote(t, s, "bob", "far.example")
	base := time.Now().Add(-time.Hour)
	var public []int64
	for i := range 6 {
		st := &data.Status{URI: fmt.Sprintf("https://far.example/n/%d", i), AccountID: bob.ID, Visibility: data.Public,
			CreatedAt: base.Add(time.Duration(i) * time.Minute)}
		switch i {
		case 1:
			st.Delisted = true
		case 2:
			st.Visibility = data.Unlisted
		case 3:
			st.AccountID, st.Local = alice.ID, true
		}
		if _, err := s.InsertStatus(ctx, st); err != nil {
			t.Fatal(err)
		}
		if i != 1 && i != 2 {
			public = append([]int64{st.ID}, public...)
		}
	}
	tl, err := s.PublicTimeline(ctx, false, data.Page{})
	if err != nil || len(tl) != len(public) {
		t.Fatalf("public timeline = %d statuses, %v; want %d", len(tl), err, len(public))
	}
	for i := range tl {
		if tl[i].ID != public[i] {
			t.Fatalf("timeline[%d] = %d, want %d (newest first, no delisted/unlisted)", i, tl[i].ID, public[i])
		}
	}
	localTL, _ := s.PublicTimeline(ctx, true, data.Page{})
	if len(localTL) != 1 || localTL[0].AccountID != alice.ID {
		t.Fatalf("local timeline = %v", localTL)
	}
	page, _ := s.PublicTimeline(ctx, false, data.Page{MaxID: public[0], Limit: 2})
	if len(page) != 2 || page[0].ID != public[1] || page[1].ID != public[2] {
		t.Fatalf("max_id page = %v", page)
	}
	page, _ = s.PublicTimeline(ctx, false, data.Page{MinID: public[3], Limit: 2})
	if len(page) != 2 || page[0].ID != public[1] || page[1].ID != public[2] {
		t.Fatalf("min_id page = %v (want the two just above min_id, newest first)", page)
	}
	// A silenced author leaves the public timelines.
	now := time.Now()
	s.SetSilenced(ctx, bob.ID, &now)
	tl, _ = s.PublicTimeline(ctx, false, data.Page{})
	if len(tl) != 1 {
		t.Fatalf("timeline with a silenced author = %d statuses, want 1", len(tl))
	}
}

func TestFollows(t *testing.T) {
	s := newStore(t)
	alice := local(t, s, "alice")
	carol := local(t, s, "carol")
	bob := remote(t, s, "bob", "far.example")
	dan := remote(t, s, "dan", "far.example") // same shared inbox as bob
	eve := &data.Account{URI: "https://solo.example/eve", Username: "eve", Domain: "solo.example", InboxURL: "https://solo.example/eve/inbox"}
	s.UpsertRemoteAccount(ctx, eve)

	for _, f := range []*data.Follow{
		{AccountID: bob.ID, TargetAccountID: alice.ID, URI: "https://far.example/f/1"},
		{AccountID: dan.ID, TargetAccountID: alice.ID, URI: "https://far.example/f/2"},
		{AccountID: eve.ID, TargetAccountID: alice.ID, URI: "https://solo.example/f/3"},
		{AccountID: carol.ID, TargetAccountID: alice.ID, URI: "https://here.example/f/4"},
		{AccountID: alice.ID, TargetAccountID: bob.ID, URI: "https://here.example/f/5"},
		{AccountID: carol.ID, TargetAccountID: bob.ID, URI: "https://here.example/f/6"},
	} {
		for i := range 2 {
			created, err := s.CreateFollow(ctx, f)
			if err != nil || created != (i == 0) {
				t.Fatalf("follow %s #%d = %v, %v", f.URI, i, created, err)
			}
		}
	}
	inboxes, err := s.LocalFollowerInboxes(ctx, alice.ID)
	if err != nil || !slices.Equal(inboxes, []string{"https://far.example/inbox", "https://solo.example/eve/inbox"}) {
		t.Fatalf("LocalFollowerInboxes = %q, %v", inboxes, err)
	}
	if n, err := s.LocalFollowersOf(ctx, bob.URI); err != nil || n != 2 {
		t.Fatalf("LocalFollowersOf(bob) = %d, %v; want 2", n, err)
	}
	if n, _ := s.LocalFollowersOf(ctx, "https://nobody.example/x"); n != 0 {
		t.Fatalf("LocalFollowersOf(unknown) = %d", n)
	}
	a, _ := s.GetAccount(ctx, alice.ID)
	if a.FollowersCount != 4 || a.FollowingCount != 1 {
		t.Fatalf("alice counters = %d followers, %d following", a.FollowersCount, a.FollowingCount)
	}
	fl, err := s.Followers(ctx, alice.ID, data.Page{Limit: 3})
	if err != nil || len(fl) != 3 || fl[0].Account.ID != carol.ID || fl[0].Account.Username != "carol" {
		t.Fatalf("Followers = %+v, %v", fl, err)
	}
	more, _ := s.Followers(ctx, alice.ID, data.Page{MaxID: fl[2].FollowID})
	if len(more) != 1 || more[0].Account.ID != bob.ID {
		t.Fatalf("second page = %+v", more)
	}

	// Undo by uri: only by the follower.
	_, err = s.DeleteFollowByURI(ctx, "https://far.example/f/1", dan.ID)
	mustKind(t, err, data.Forbidden)
	if _, err := s.DeleteFollowByURI(ctx, "https://far.example/f/1", bob.ID); err != nil {
		t.Fatal(err)
	}
	a, _ = s.GetAccount(ctx, alice.ID)
	if a.FollowersCount != 3 {
		t.Fatalf("after undo: %d followers", a.FollowersCount)
	}

	// Requests: pending until accepted; Accept resolves by the Follow's uri.
	req := &data.Follow{AccountID: bob.ID, TargetAccountID: carol.ID, URI: "https://far.example/f/7"}
	if created, err := s.CreateFollowRequest(ctx, req); err != nil || !created {
		t.Fatal(created, err)
	}
	f, pending, err := s.FollowByURI(ctx, req.URI)
	if err != nil || !pending || f.AccountID != bob.ID {
		t.Fatalf("FollowByURI = %+v, %v, %v", f, pending, err)
	}
	if _, err := s.AcceptFollowRequest(ctx, bob.ID, carol.ID); err != nil {
		t.Fatal(err)
	}
	if _, pending, err = s.FollowByURI(ctx, req.URI); err != nil || pending {
		t.Fatalf("accepted follow still pending (%v)", err)
	}
	_, err = s.AcceptFollowRequest(ctx, bob.ID, carol.ID)
	mustKind(t, err, data.NotFound)
	_, err = s.CreateFollowRequest(ctx, &data.Follow{AccountID: bob.ID, TargetAccountID: carol.ID, URI: "https://far.example/f/8"})
	mustKind(t, err, data.Conflict)

	// A block ends follows both ways.
	blk := &data.Block{AccountID: alice.ID, TargetAccountID: carol.ID, URI: "https://here.example/b/1"}
	if created, err := s.CreateBlock(ctx, blk); err != nil || !created {
		t.Fatal(created, err)
	}
	if _, err := s.GetFollow(ctx, carol.ID, alice.ID); !errors.Is(err, data.NotFound) {
		t.Fatalf("follow survived the block: %v", err)
	}
	if yes, _ := s.Blocked(ctx, carol.ID, alice.ID); !yes {
		t.Fatal("Blocked(carol, alice) = false")
	}
}

func TestFavouritesNotificationsReportsQuarantineAudit(t *testing.T) {
	s := newStore(t)
	alice := local(t, s, "alice")
	bob := remote(t, s, "bob", "far.example")
	st := &data.Status{URI: "https://here.example/s/1", AccountID: alice.ID, Local: true, CreatedAt: time.Now()}
	s.InsertStatus(ctx, st)

	fv := &data.Favourite{AccountID: bob.ID, StatusID: st.ID, URI: "https://far.example/like/1"}
	for i := range 2 {
		if created, err := s.CreateFavourite(ctx, fv); err != nil || created != (i == 0) {
			t.Fatalf("favourite #%d = %v, %v", i, created, err)
		}
	}
	got, _ := s.GetStatus(ctx, st.ID)
	if got.FavouritesCount != 1 {
		t.Fatalf("favourites_count = %d", got.FavouritesCount)
	}
	if _, err := s.DeleteFavouriteByURI(ctx, fv.URI, alice.ID); !errors.Is(err, data.NotFound) {
		t.Fatalf("someone else's Undo Like: %v", err)
	}
	if _, err := s.DeleteFavouriteByURI(ctx, fv.URI, bob.ID); err != nil {
		t.Fatal(err)
	}
	got, _ = s.GetStatus(ctx, st.ID)
	if got.FavouritesCount != 0 {
		t.Fatalf("favourites_count after undo = %d", got.FavouritesCount)
	}

	n := &data.Notification{AccountID: alice.ID, FromAccountID: bob.ID, Type: data.NotifyFavourite, StatusID: st.ID}
	for i := range 2 {
		n.ID = 0
		if created, err := s.InsertNotification(ctx, n); err != nil || created != (i == 0) {
			t.Fatalf("notification #%d = %v, %v", i, created, err)
		}
	}
	ns, err := s.Notifications(ctx, alice.ID, nil, data.Page{})
	if err != nil || len(ns) != 1 || ns[0].StatusID != st.ID {
		t.Fatalf("notifications = %+v, %v", ns, err)
	}
	if err := s.DismissNotification(ctx, bob.ID, ns[0].ID); !errors.Is(err, data.NotFound) {
		t.Fatalf("dismissing another's notification: %v", err)
	}

	r := &data.Report{AccountID: bob.ID, TargetAccountID: alice.ID, StatusIDs: []int64{st.ID}, URI: "https://far.example/flag/1",
		Category: data.ReportSpam, Comment: "spam"}
	for i := range 2 {
		if created, err := s.InsertReport(ctx, r); err != nil || created != (i == 0) {
			t.Fatalf("report #%d = %v, %v", i, created, err)
		}
	}
	auto := &data.Report{TargetAccountID: bob.ID, RuleIDs: []string{"spam.mentions"}}
	if _, err := s.InsertReport(ctx, auto); err != nil {
		t.Fatal(err)
	}
	open, _ := s.Reports(ctx, true, data.Page{})
	if len(open) != 2 || open[0].ID != auto.ID || open[0].AccountID != 0 || !slices.Equal(open[1].StatusIDs, []int64{st.ID}) {
		t.Fatalf("open reports = %+v", open)
	}
	s.ResolveReport(ctx, auto.ID, true, "cli")
	open, _ = s.Reports(ctx, true, data.Page{})
	if len(open) != 1 {
		t.Fatalf("%d open reports after resolving one", len(open))
	}

	q := &data.Quarantined{ActivityURI: "https://far.example/act/1", ActivityType: "Create", ActorURI: bob.URI,
		Raw: []byte(`{"type":"Create"}`), Reasons: []string{"spam.link"}}
	for i := range 2 {
		if created, err := s.InsertQuarantine(ctx, q); err != nil || created != (i == 0) {
			t.Fatalf("quarantine #%d = %v, %v", i, created, err)
		}
	}
	if held, _ := s.PendingQuarantine(ctx, data.Page{}); len(held) != 1 || string(held[0].Raw) != `{"type":"Create"}` {
		t.Fatalf("pending = %+v", held)
	}
	if _, err := s.DecideQuarantine(ctx, q.ID, true, "account:1"); err != nil {
		t.Fatal(err)
	}
	_, err = s.DecideQuarantine(ctx, q.ID, false, "account:2")
	mustKind(t, err, data.Conflict)

	// An audit row and its change commit together, or neither does.
	boom := errors.New("boom")
	err = s.Tx(ctx, func(tx *data.Store) error {
		if err := tx.InsertAudit(ctx, &data.AuditEntry{Actor: "cli", Action: "account.suspend", TargetType: "account", TargetID: "1"}); err != nil {
			return err
		}
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatal(err)
	}
	if es, _ := s.AuditFor(ctx, "account", "1", 0); len(es) != 0 {
		t.Fatalf("rolled-back audit row visible: %+v", es)
	}
	if err := s.InsertAudit(ctx, &data.AuditEntry{Actor: "cli", Action: "account.suspend", TargetType: "account", TargetID: "1",
		Detail: map[string]string{"reason": "spam"}}); err != nil {
		t.Fatal(err)
	}
	es, err := s.AuditFor(ctx, "account", "1", 0)
	if err != nil || len(es) != 1 || es[0].Actor != "cli" {
		t.Fatalf("audit = %+v, %v", es, err)
	}
}

// The consumer batches many inserts in one transaction; redelivered rows in
// the same batch must not abort it.
func TestBatchInOneTransaction(t *testing.T) {
	s := newStore(t)
	bob := remote(t, s, "bob", "far.example")
	at := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	err := s.Tx(ctx, func(tx *data.Store) error {
		for i := range 200 {
			st := &data.Status{URI: fmt.Sprintf("https://far.example/n/%d", i%100), AccountID: bob.ID, CreatedAt: at}
			if _, err := tx.InsertStatus(ctx, st); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := s.GetAccount(ctx, bob.ID)
	if b.StatusesCount != 100 {
		t.Fatalf("statuses_count = %d, want 100", b.StatusesCount)
	}
}

// Reports notify moderators once per report, even from one reporter.
func TestReportNotificationsPerReport(t *testing.T) {
	s := newStore(t)
	mod := local(t, s, "mod")
	bob := remote(t, s, "bob", "far.example")
	for i := range 2 {
		r := &data.Report{AccountID: bob.ID, TargetAccountID: mod.ID, URI: fmt.Sprintf("https://far.example/flag/%d", i)}
		if _, err := s.InsertReport(ctx, r); err != nil {
			t.Fatal(err)
		}
		n := &data.Notification{AccountID: mod.ID, FromAccountID: bob.ID, Type: data.NotifyAdminReport, ReportID: r.ID}
		if created, err := s.InsertNotification(ctx, n); err != nil || !created {
			t.Fatalf("report %d notification: %v, %v", i, created, err)
		}
	}
}

// A status claiming to be from the future sorts as if posted now.
func TestFuturePublishedSortsAsNow(t *testing.T) {
	s := newStore(t)
	bob := remote(t, s, "bob", "far.example")
	future := &data.Status{URI: "https://far.example/future", AccountID: bob.ID, CreatedAt: time.Now().Add(365 * 24 * time.Hour)}
	s.InsertStatus(ctx, future)
	later := &data.Status{URI: "https://far.example/later", AccountID: bob.ID, CreatedAt: time.Now().Add(time.Second)}
	time.Sleep(1100 * time.Millisecond)
	s.InsertStatus(ctx, later)
	if future.ID >= later.ID {
		t.Fatalf("a status published a year ahead got id %d, above one posted after it (%d)", future.ID, later.ID)
	}
}

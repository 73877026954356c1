package data_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// The batch path stores exactly what InsertStatus would: rows, links to
// parents (stored or in the same batch), extras and counters, once per uri.
func TestInsertStatusesMatchesOneByOne(t *testing.T) {
	s := newStore(t)
	alice := local(t, s, "alice")
	bob := remote(t, s, "bob", "far.example")
	at := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	stored := &data.Status{URI: "https://far.example/n/stored", AccountID: bob.ID, CreatedAt: at}
	if _, err := s.InsertStatus(ctx, stored); err != nil {
		t.Fatal(err)
	}
	// An unattached local upload: that status takes the one-by-one path.
	upload := &data.MediaAttachment{AccountID: alice.ID, Type: "image", FilePath: "a/b.png"}
	if err := s.InsertMedia(ctx, upload); err != nil {
		t.Fatal(err)
	}
	batch := []*data.Status{
		{URI: "https://far.example/n/1", AccountID: bob.ID, CreatedAt: at.Add(time.Second), InReplyToURI: stored.URI,
			Tags: []string{"Cats", "cats"}, Mentions: []data.Mention{{AccountID: alice.ID}}},
		{URI: "https://far.example/n/2", AccountID: bob.ID, CreatedAt: at.Add(2 * time.Second), InReplyToURI: "https://far.example/n/1",
			DecisionRuleIDs: []string{"spam.link", "spam.new"}, Delisted: true, Poll: []byte(`{"options": ["a", "b"]}`),
			Media: []data.MediaAttachment{{Type: "image", RemoteURL: "https://far.example/1.png"}, {Type: "video", RemoteURL: "https://far.example/2.mp4"}}},
		{URI: stored.URI, AccountID: bob.ID, CreatedAt: at},                                 // already stored
		{URI: "https://far.example/n/1", AccountID: bob.ID, CreatedAt: at.Add(time.Second)}, // repeated in the batch
		{URI: "https://far.example/boost/1", AccountID: bob.ID, CreatedAt: at.Add(3 * time.Second), ReblogOfID: stored.ID},
		{URI: "https://here.example/s/1", AccountID: alice.ID, Local: true, CreatedAt: at.Add(4 * time.Second),
			Media: []data.MediaAttachment{{ID: upload.ID}}, Tags: []string{"cats"}},
	}
	created, err := s.InsertStatuses(ctx, batch)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, true, false, false, true, true}; !slices.Equal(created, want) {
		t.Fatalf("created = %v, want %v", created, want)
	}
	if batch[2].ID != stored.ID || batch[3].ID != batch[0].ID {
		t.Fatalf("duplicates did not get the stored ids: %d/%d, %d/%d", batch[2].ID, stored.ID, batch[3].ID, batch[0].ID)
	}
	n1, _ := s.GetStatusByURI(ctx, "https://far.example/n/1")
	n2, _ := s.GetStatusByURI(ctx, "https://far.example/n/2")
	if n1.InReplyToID != stored.ID || n2.InReplyToID != n1.ID || n2.InReplyToAccountID != bob.ID {
		t.Fatalf("reply links: n1 -> %d (want %d), n2 -> %d (want %d)", n1.InReplyToID, stored.ID, n2.InReplyToID, n1.ID)
	}
	if !slices.Equal(n1.Tags, []string{"cats"}) || len(n1.Mentions) != 1 || len(n2.Media) != 2 || n2.Media[1].Type != "video" {
		t.Fatalf("extras: tags %v, mentions %v, media %v", n1.Tags, n1.Mentions, n2.Media)
	}
	if !slices.Equal(n2.DecisionRuleIDs, []string{"spam.link", "spam.new"}) || !n2.Delisted || string(n2.Poll) != `{"options": ["a", "b"]}` ||
		n1.Poll != nil || n1.DecisionRuleIDs == nil || len(n1.DecisionRuleIDs) != 0 {
		t.Fatalf("policy columns: n2 %v %v %s; n1 %v %s", n2.DecisionRuleIDs, n2.Delisted, n2.Poll, n1.DecisionRuleIDs, n1.Poll)
	}
	st, _ := s.GetStatus(ctx, stored.ID)
	n1, _ = s.GetStatus(ctx, n1.ID)
	b, _ := s.GetAccount(ctx, bob.ID)
	if st.RepliesCount != 1 || st.ReblogsCount != 1 || n1.RepliesCount != 1 || b.StatusesCount != 4 || !b.LastStatusAt.Equal(at.Add(3*time.Second)) {
		t.Fatalf("counters: stored replies %d reblogs %d, n1 replies %d, bob statuses %d last %v",
			st.RepliesCount, st.ReblogsCount, n1.RepliesCount, b.StatusesCount, b.LastStatusAt)
	}
	local, _ := s.GetStatusByURI(ctx, "https://here.example/s/1")
	if len(local.Media) != 1 || local.Media[0].ID != upload.ID {
		t.Fatalf("local upload not attached: %+v", local.Media)
	}
	tl, _ := s.TagTimeline(ctx, "cats", data.Page{})
	if len(tl) != 2 {
		t.Fatalf("tag timeline has %d statuses, want 2", len(tl))
	}
	// Redelivering the whole batch changes nothing.
	again := make([]*data.Status, len(batch))
	for i, st := range batch {
		c := *st
		c.ID = 0
		again[i] = &c
	}
	created, err = s.InsertStatuses(ctx, again)
	if err != nil || slices.Contains(created, true) {
		t.Fatalf("redelivered batch: created %v, %v", created, err)
	}
	b, _ = s.GetAccount(ctx, bob.ID)
	if b.StatusesCount != 4 {
		t.Fatalf("statuses_count after redelivery = %d", b.StatusesCount)
	}
}

// benchStatuses makes n statuses by 50 authors, a third replying to the
// previous one and each with a tag and a mention, as a federated stream
// looks.
func benchStatuses(b *testing.B, s *data.Store, round, n int, authors []*data.Account) []*data.Status {
	at := time.Now().Add(-time.Hour)
	out := make([]*data.Status, n)
	for i := range out {
		st := &data.Status{URI: fmt.Sprintf("https://far.example/r%d/n/%d", round, i), AccountID: authors[i%len(authors)].ID,
			Content: "<p>hello fediverse</p>", CreatedAt: at.Add(time.Duration(i) * time.Millisecond),
			Tags: []string{fmt.Sprintf("tag%d", i%20)}, Mentions: []data.Mention{{AccountID: authors[(i+1)%len(authors)].ID}}}
		if i%3 == 1 {
			st.InReplyToURI = out[i-1].URI
		}
		out[i] = st
	}
	return out
}

func benchAuthors(b *testing.B, s *data.Store) []*data.Account {
	var as []*data.Account
	for i := range 50 {
		a := &data.Account{URI: fmt.Sprintf("https://far.example/users/u%d", i), Username: fmt.Sprintf("u%d", i), Domain: "far.example"}
		if _, err := s.UpsertRemoteAccount(ctx, a); err != nil {
			b.Fatal(err)
		}
		as = append(as, a)
	}
	return as
}

// BenchmarkInsertStatuses measures statuses/s for batches of 1,000 in one
// transaction: InsertStatuses against InsertStatus called per status.
func BenchmarkInsertStatuses(b *testing.B) {
	const batch = 1000
	for _, mode := range []string{"batch", "one-by-one"} {
		b.Run(mode, func(b *testing.B) {
			s := data.New(pgtest.New(b).Pool())
			authors := benchAuthors(b, s)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				sts := benchStatuses(b, s, i, batch, authors)
				b.StartTimer()
				err := s.Tx(ctx, func(tx *data.Store) error {
					if mode == "batch" {
						_, err := tx.InsertStatuses(ctx, sts)
						return err
					}
					for _, st := range sts {
						if _, err := tx.InsertStatus(ctx, st); err != nil {
							return err
						}
					}
					return nil
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "statuses/s")
		})
	}
}

// An id that collides with a stored row (ids for old times have random low
// bits) is replaced, and replies in the same batch follow the new id.
func TestInsertStatusesIDCollision(t *testing.T) {
	s := newStore(t)
	bob := remote(t, s, "bob", "far.example")
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	old := &data.Status{URI: "https://far.example/old", AccountID: bob.ID, CreatedAt: at}
	s.InsertStatus(ctx, old)
	clash := &data.Status{ID: old.ID, URI: "https://far.example/clash", AccountID: bob.ID, CreatedAt: at}
	child := &data.Status{URI: "https://far.example/child", AccountID: bob.ID, CreatedAt: at.Add(time.Second), InReplyToURI: clash.URI}
	created, err := s.InsertStatuses(ctx, []*data.Status{clash, child})
	if err != nil || !slices.Equal(created, []bool{true, true}) {
		t.Fatalf("created %v, %v", created, err)
	}
	if clash.ID == old.ID {
		t.Fatal("the colliding id was kept")
	}
	got, _ := s.GetStatusByURI(ctx, child.URI)
	parent, _ := s.GetStatus(ctx, clash.ID)
	if got.InReplyToID != clash.ID || parent.URI != clash.URI || parent.RepliesCount != 1 {
		t.Fatalf("child -> %d, want %d (parent %s, replies %d)", got.InReplyToID, clash.ID, parent.URI, parent.RepliesCount)
	}
	b, _ := s.GetAccount(ctx, bob.ID)
	if b.StatusesCount != 3 {
		t.Fatalf("statuses_count = %d, want 3", b.StatusesCount)
	}
}

package data_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

func TestInsertRemoteStatuses(t *testing.T) {
	s := newStore(t)
	rita := remote(t, s, "rita", "far.example")
	alice := local(t, s, "alice")
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	mk := func() []*data.Status {
		return []*data.Status{
			{URI: "https://far.example/n/1", AccountID: rita.ID, Content: "<p>one</p>", CreatedAt: at, Tags: []string{"Go", "go", "fedi"},
				Mentions: []data.Mention{{AccountID: alice.ID}}, DecisionRuleIDs: []string{"spam.links", "wave"},
				Media: []data.MediaAttachment{{Type: "image", RemoteURL: "https://far.example/m.png"}}, Poll: []byte(`{"options":[]}`)},
			{URI: "https://far.example/n/2", AccountID: rita.ID, CreatedAt: at.Add(time.Second), InReplyToURI: "https://far.example/n/1"},
			{URI: "https://far.example/n/1", AccountID: rita.ID, CreatedAt: at}, // repeated in the batch
		}
	}
	sts := mk()
	created, err := s.InsertRemoteStatuses(ctx, sts)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(created, []bool{true, true, false}) {
		t.Fatalf("created = %v", created)
	}
	if sts[2].ID != sts[0].ID || sts[1].InReplyToID != sts[0].ID {
		t.Errorf("ids: %d %d, reply to %d", sts[0].ID, sts[2].ID, sts[1].InReplyToID)
	}
	got, err := s.GetStatusByURI(ctx, "https://far.example/n/1")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Tags) != 2 || len(got.Mentions) != 1 || len(got.Media) != 1 || !slices.Equal(got.DecisionRuleIDs, []string{"spam.links", "wave"}) ||
		got.RepliesCount != 1 || len(got.Poll) == 0 {
		t.Errorf("stored %+v", got)
	}
	again := mk()
	created, err = s.InsertRemoteStatuses(ctx, again)
	if err != nil || slices.Contains(created, true) || again[1].ID != sts[1].ID {
		t.Fatalf("redelivery: created %v, id %d (want %d), %v", created, again[1].ID, sts[1].ID, err)
	}
	if r, _ := s.GetAccount(ctx, rita.ID); r.StatusesCount != 2 {
		t.Errorf("statuses_count = %d, want 2", r.StatusesCount)
	}
	_, err = s.InsertRemoteStatuses(ctx, []*data.Status{{URI: "https://far.example/n/9", AccountID: rita.ID, CreatedAt: at,
		Media: []data.MediaAttachment{{ID: 5}}}})
	mustKind(t, err, data.Invalid)
}

// TestInsertRemoteStatusesSameSecond: thousands of statuses published in
// the same (old) second get random low id bits, so dozens collide; every
// one must still be stored once, with a distinct id.
func TestInsertRemoteStatusesSameSecond(t *testing.T) {
	s := newStore(t)
	rita := remote(t, s, "rita", "far.example")
	at := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	sts := make([]*data.Status, 3000)
	for i := range sts {
		sts[i] = &data.Status{URI: fmt.Sprintf("https://far.example/s/%d", i), AccountID: rita.ID, CreatedAt: at, Tags: []string{"t"}}
		if i > 0 && i%2 == 0 {
			sts[i].InReplyToURI = sts[i-1].URI
		}
	}
	created, err := s.InsertRemoteStatuses(ctx, sts)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[int64]bool{}
	for i, st := range sts {
		if !created[i] || seen[st.ID] {
			t.Fatalf("status %d: created %v, id %d seen before %v", i, created[i], st.ID, seen[st.ID])
		}
		seen[st.ID] = true
	}
	if r, _ := s.GetAccount(ctx, rita.ID); r.StatusesCount != 3000 {
		t.Errorf("statuses_count = %d", r.StatusesCount)
	}
	// Every reply points at its parent's final id (some parents were
	// retried with a fresh one after their children went in).
	var wrong int
	if err := s.Tx(ctx, func(tx *data.Store) error {
		refs, err := tx.StatusRefsByURI(ctx, func() []string {
			var u []string
			for _, st := range sts {
				u = append(u, st.URI)
			}
			return u
		}())
		if err != nil {
			return err
		}
		for i := 2; i < len(sts); i += 2 {
			got, err := tx.GetStatus(ctx, refs[sts[i].URI].ID)
			if err != nil {
				return err
			}
			if got.InReplyToID != refs[sts[i-1].URI].ID {
				wrong++
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if wrong > 0 {
		t.Errorf("%d replies point at a stale parent id", wrong)
	}
}

// BenchmarkInsertRemoteStatuses compares the multi-row INSERT with
// InsertStatuses (one INSERT per status, pipelined) on the same statuses,
// batches of 1,000 in one transaction; with -count the two alternate.
func BenchmarkInsertRemoteStatuses(b *testing.B) {
	const batch = 1000
	for _, mode := range []string{"multirow", "per-row"} {
		b.Run(mode, func(b *testing.B) {
			s := data.New(pgtest.New(b).Pool())
			authors := benchAuthors(b, s)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				sts := benchStatuses(b, s, i, batch, authors)
				b.StartTimer()
				err := s.Tx(ctx, func(tx *data.Store) error {
					var err error
					if mode == "multirow" {
						_, err = tx.InsertRemoteStatuses(ctx, sts)
					} else {
						_, err = tx.InsertStatuses(ctx, sts)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "statuses/s")
		})
	}
}

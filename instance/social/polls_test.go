package social_test

import (
	"crypto"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/social"
	"github.com/palisade-fedi/palisade/instance/social/socialtest"
)

// later is the fixture's service an hour from now: polls made now have
// ended for it.
func (f *fixture) later() *social.Service {
	f.t.Helper()
	eng := socialtest.Engine(f.t, func(actor string) (string, crypto.PrivateKey, error) { return f.svc.SigningKey(actor) })
	s, err := social.New(social.Options{Store: f.st, BaseURL: base, Delivery: eng, Logger: socialtest.Quiet,
		Now: func() time.Time { return time.Now().Add(time.Hour) }})
	if err != nil {
		f.t.Fatal(err)
	}
	return s
}

// options reads a Question's oneOf or anyOf as name → replies.totalItems.
func options(q map[string]any, key string) map[string]float64 {
	out := map[string]float64{}
	l, _ := q[key].([]any)
	for _, x := range l {
		o, _ := x.(map[string]any)
		r, _ := o["replies"].(map[string]any)
		if o["type"] != "Note" || r["type"] != "Collection" {
			return nil
		}
		n, _ := r["totalItems"].(float64)
		out[o["name"].(string)] = n
	}
	return out
}

func TestLocalPollIsAQuestionAndEndsOnce(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.follow(f.bob, f.alice)

	st, err := f.svc.PostStatus(f.ctx, f.alice.ID, social.PostParams{Text: "Which one?",
		Poll: &social.PollParams{Options: []string{"Red", " Blue "}, ExpiresIn: 10 * time.Minute}})
	if err != nil {
		t.Fatal(err)
	}
	d := f.sink.Wait(1)[0]
	q := obj(d.Doc)
	if d.Doc["type"] != "Create" || q["type"] != "Question" || q["anyOf"] != nil || q["closed"] != nil {
		t.Fatalf("the Create of a poll: %s", d.Body)
	}
	if got := options(q, "oneOf"); len(got) != 2 || got["Red"] != 0 || got["Blue"] != 0 {
		t.Errorf("oneOf %v, want Red and Blue (trimmed) with 0 votes", q["oneOf"])
	}
	end, err := time.Parse(time.RFC3339, q["endTime"].(string))
	if err != nil || end.Before(time.Now().Add(9*time.Minute)) || end.After(time.Now().Add(11*time.Minute)) {
		t.Errorf("endTime %v (%v), want about 10 minutes from now", q["endTime"], err)
	}
	if q["votersCount"] != 0.0 {
		t.Errorf("votersCount %v", q["votersCount"])
	}

	// A local voter (erin) and a remote one who does not follow alice
	// (dave, as the consumer records an inbound vote).
	if _, err := f.svc.Vote(f.ctx, f.erin.ID, st.ID, []int{1}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.st.CastVotes(f.ctx, st.ID, f.dave.ID, []data.Vote{{Choice: 1, URI: f.dave.URI + "#votes/1"}}, true); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Vote(f.ctx, f.alice.ID, st.ID, []int{0}); data.KindOf(err) != data.Invalid {
		t.Errorf("alice votes on her own poll: %v, want Invalid", err)
	}
	// A local vote on a local poll sends nothing; the rendered Question
	// has the counts.
	fresh, err := f.st.GetStatus(f.ctx, st.ID)
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.svc.StatusToNote(f.ctx, f.st, fresh, f.alice)
	if err != nil {
		t.Fatal(err)
	}
	if n.Type != "Question" || len(n.OneOf) != 2 || n.OneOf[1].VotesCount != 2 || n.VotersCount != 2 || n.IsClosed {
		t.Errorf("StatusToNote after two votes: %+v", n)
	}

	// An hour later the poll has ended: one Update to alice's followers
	// and to dave, closed, with the final counts; alice and erin are told.
	later := f.later()
	if got, err := later.ClosePolls(f.ctx); err != nil || got != 1 {
		t.Fatalf("ClosePolls: %d %v, want 1", got, err)
	}
	ds := f.sink.Wait(2)
	paths := []string{ds[0].Path, ds[1].Path}
	slices.Sort(paths)
	if !slices.Equal(paths, []string{"/inbox", "/users/dave/inbox"}) {
		t.Errorf("the closing Update went to %v, want bob's shared inbox and dave's", paths)
	}
	for _, d := range ds {
		q := obj(d.Doc)
		if d.Doc["type"] != "Update" || q["type"] != "Question" || q["id"] != st.URI || q["closed"] == nil || q["votersCount"] != 2.0 {
			t.Errorf("the closing Update: %s", d.Body)
		}
		if got := options(q, "oneOf"); got["Red"] != 0 || got["Blue"] != 2 {
			t.Errorf("final counts %v", q["oneOf"])
		}
	}
	for _, who := range []*data.Account{f.alice, f.erin} {
		ns, err := f.st.Notifications(f.ctx, who.ID, []string{data.NotifyPoll}, data.Page{})
		if err != nil || len(ns) != 1 || ns[0].StatusID != st.ID || ns[0].FromAccountID != f.alice.ID {
			t.Errorf("%s's poll notifications: %+v %v", who.Username, ns, err)
		}
	}
	// Handled once: a second pass (a restart, another node) finds nothing.
	if got, err := later.ClosePolls(f.ctx); err != nil || got != 0 {
		t.Fatalf("ClosePolls again: %d %v, want 0", got, err)
	}
	f.sink.Wait(0)
	if _, err := later.Vote(f.ctx, f.erin.ID, st.ID, []int{0}); data.KindOf(err) != data.Invalid {
		t.Errorf("a vote after the end: %v, want Invalid", err)
	}
}

func TestVoteOnRemotePollGoesToItsAuthor(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	end := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	poll := &data.Poll{Options: []data.PollOption{{Title: "a", VotesCount: 3}, {Title: "b", VotesCount: 1}, {Title: "c"}},
		Multiple: true, ExpiresAt: &end, VotersCount: 3}
	q := &data.Status{URI: f.bob.URI + "/statuses/1", AccountID: f.bob.ID, Content: "<p>pick</p>", Visibility: data.Public,
		CreatedAt: time.Now(), Poll: poll.JSON()}
	if _, err := f.st.InsertStatus(f.ctx, q); err != nil {
		t.Fatal(err)
	}
	st, err := f.svc.Vote(f.ctx, f.alice.ID, q.ID, []int{0, 2})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := data.ParsePoll(st.Poll)
	if got.Options[0].VotesCount != 4 || got.Options[2].VotesCount != 1 || got.VotersCount != 4 {
		t.Errorf("counts after alice's vote: %+v", got)
	}
	ds := f.sink.Wait(2)
	var names []string
	for _, d := range ds {
		n := obj(d.Doc)
		if d.Path != "/users/bob/inbox" || d.Doc["type"] != "Create" || d.Doc["actor"] != f.alice.URI || d.KeyID != f.alice.KeyID {
			t.Errorf("vote delivery to %s: %s", d.Path, d.Body)
		}
		if n["type"] != "Note" || n["inReplyTo"] != q.URI || n["attributedTo"] != f.alice.URI || n["content"] != nil ||
			!slices.Equal(strs(n["to"]), []string{f.bob.URI}) || !strings.HasPrefix(n["id"].(string), f.alice.URI+"#votes/") {
			t.Errorf("vote Note: %v", n)
		}
		names = append(names, n["name"].(string))
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"a", "c"}) {
		t.Errorf("vote names %v, want one Note per choice: a and c", names)
	}
	own, err := f.st.OwnVotes(f.ctx, f.alice.ID, []int64{q.ID})
	if err != nil || !slices.Equal(own[q.ID], []int{0, 2}) {
		t.Errorf("own votes %v %v", own, err)
	}
	if _, err := f.svc.Vote(f.ctx, f.alice.ID, q.ID, []int{1}); data.KindOf(err) != data.Invalid {
		t.Errorf("a second vote: %v, want Invalid", err)
	}
	// bob's server sends new counts (which do not yet include alice's
	// votes): they replace the counts, not alice's own votes.
	upd := *poll
	upd.Options = []data.PollOption{{Title: "a", VotesCount: 5}, {Title: "b", VotesCount: 1}, {Title: "c", VotesCount: 0}}
	if err := f.st.SetRemotePoll(f.ctx, q.ID, upd.JSON()); err != nil {
		t.Fatal(err)
	}
	if own, _ := f.st.OwnVotes(f.ctx, f.alice.ID, []int64{q.ID}); !slices.Equal(own[q.ID], []int{0, 2}) {
		t.Errorf("own votes after the remote update: %v", own)
	}

	// When it ends, alice is told (from bob); nothing is sent.
	if n, err := f.later().ClosePolls(f.ctx); err != nil || n != 1 {
		t.Fatalf("ClosePolls: %d %v", n, err)
	}
	ns, err := f.st.Notifications(f.ctx, f.alice.ID, []string{data.NotifyPoll}, data.Page{})
	if err != nil || len(ns) != 1 || ns[0].FromAccountID != f.bob.ID || ns[0].StatusID != q.ID {
		t.Errorf("alice's poll notifications: %+v %v", ns, err)
	}
	f.sink.Wait(0)
}

func TestPostPollRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	cases := []struct {
		name string
		p    social.PostParams
	}{
		{"media and poll", social.PostParams{Text: "x", MediaIDs: []int64{1}, Poll: &social.PollParams{Options: []string{"a", "b"}, ExpiresIn: time.Hour}}},
		{"one option", social.PostParams{Text: "x", Poll: &social.PollParams{Options: []string{"a"}, ExpiresIn: time.Hour}}},
		{"duplicate", social.PostParams{Text: "x", Poll: &social.PollParams{Options: []string{"a", "a "}, ExpiresIn: time.Hour}}},
		{"too short", social.PostParams{Text: "x", Poll: &social.PollParams{Options: []string{"a", "b"}, ExpiresIn: time.Minute}}},
		{"too long", social.PostParams{Text: "x", Poll: &social.PollParams{Options: []string{"a", "b"}, ExpiresIn: 31 * 24 * time.Hour}}},
	}
	for _, c := range cases {
		if _, err := f.svc.PostStatus(f.ctx, f.alice.ID, c.p); data.KindOf(err) != data.Invalid {
			t.Errorf("%s: %v, want Invalid", c.name, err)
		}
	}
}

func TestVotesOnLocalPollGoOutOnceAfterTheDelay(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.follow(f.bob, f.alice)
	st, err := f.svc.PostStatus(f.ctx, f.alice.ID, social.PostParams{Text: "Which one?",
		Poll: &social.PollParams{Options: []string{"Red", "Blue"}, ExpiresIn: 2 * time.Hour}})
	if err != nil {
		t.Fatal(err)
	}
	f.sink.Wait(1) // the Create
	if n, err := f.svc.SyncPolls(f.ctx); err != nil || n != 0 {
		t.Fatalf("SyncPolls before any vote: %d %v", n, err)
	}
	if _, err := f.svc.Vote(f.ctx, f.erin.ID, st.ID, []int{0}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := f.st.CastVotes(f.ctx, st.ID, f.dave.ID, []data.Vote{{Choice: 1, URI: f.dave.URI + "#votes/9"}}, true); err != nil {
		t.Fatal(err)
	}
	// Not yet: the counts go out data.PollSyncDelay after the first vote.
	if n, err := f.svc.SyncPolls(f.ctx); err != nil || n != 0 {
		t.Fatalf("SyncPolls right after the votes: %d %v, want 0", n, err)
	}
	f.sink.Wait(0)
	later := f.later()
	if n, err := later.SyncPolls(f.ctx); err != nil || n != 1 {
		t.Fatalf("SyncPolls after the delay: %d %v, want 1", n, err)
	}
	ds := f.sink.Wait(2) // bob's shared inbox and dave (a voter)
	for _, d := range ds {
		q := obj(d.Doc)
		if d.Doc["type"] != "Update" || q["type"] != "Question" || q["closed"] != nil || q["votersCount"] != 2.0 {
			t.Errorf("the counts' Update to %s: %s", d.Path, d.Body)
		}
		if got := options(q, "oneOf"); got["Red"] != 1 || got["Blue"] != 1 {
			t.Errorf("counts %v", q["oneOf"])
		}
	}
	// Once: both votes shared that Update.
	if n, err := later.SyncPolls(f.ctx); err != nil || n != 0 {
		t.Fatalf("SyncPolls again: %d %v, want 0", n, err)
	}
	f.sink.Wait(0)
}

package federation

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/policy"
)

// localPoll stores a poll of alice's ending at end.
func (e *env) localPoll(id string, multiple bool, end time.Time, options ...string) *data.Status {
	e.t.Helper()
	p := &data.Poll{Multiple: multiple, ExpiresAt: &end}
	for _, o := range options {
		p.Options = append(p.Options, data.PollOption{Title: o})
	}
	st := &data.Status{URI: here + "/users/alice/statuses/" + id, AccountID: e.alice.ID, Local: true, Content: "<p>vote!</p>",
		CreatedAt: time.Now().Add(-time.Minute), Visibility: data.Public, Poll: p.JSON()}
	if _, err := e.store.InsertStatus(e.ctx, st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

// vote is rita's vote Note for option name on status uri, as Mastodon
// sends it.
func vote(id, name, uri string) string {
	return `{"@context":"https://www.w3.org/ns/activitystreams","id":"{{BASE}}/users/rita#votes/` + id + `/activity","type":"Create",
	"actor":"{{BASE}}/users/rita","to":["https://here.example/users/alice"],
	"object":{"id":"{{BASE}}/users/rita#votes/` + id + `","type":"Note","name":"` + name + `","attributedTo":"{{BASE}}/users/rita",
	"inReplyTo":"` + uri + `","to":["https://here.example/users/alice"]}}`
}

// pollOf reads a stored poll.
func (e *env) pollOf(id int64) *data.Poll {
	e.t.Helper()
	st, err := e.store.GetStatus(e.ctx, id)
	if err != nil {
		e.t.Fatal(err)
	}
	p, err := data.ParsePoll(st.Poll)
	if err != nil || p == nil {
		e.t.Fatalf("poll of %d: %s %v", id, st.Poll, err)
	}
	return p
}

func counts(p *data.Poll) []int {
	var out []int
	for _, o := range p.Options {
		out = append(out, o.VotesCount)
	}
	return out
}

func TestInboundVotes(t *testing.T) {
	e := newEnv(t)
	hour := time.Now().Add(time.Hour)
	single := e.localPoll("100", false, hour, "Yes", "No")
	multi := e.localPoll("101", true, hour, "a", "b", "c")
	ended := e.localPoll("102", false, time.Now().Add(-time.Second), "Yes", "No")

	e.push(e.remote.URI, vote("1", "No", single.URI), policy.Record{})
	e.drain()
	if p := e.pollOf(single.ID); !slices.Equal(counts(p), []int{0, 1}) || p.VotersCount != 1 {
		t.Errorf("after rita's vote: %+v", p)
	}
	e.expectCount("Create", resultStored, reasonOK, 1)
	// The new counts are due to go out to the poll's audience.
	if n := e.int(`SELECT count(*) FROM statuses WHERE id = $1 AND poll_sync_at > now()`, single.ID); n != 1 {
		t.Errorf("no Update of the counts scheduled after a vote")
	}
	// The vote is not a status, and nobody is notified of a reply.
	if n := e.int(`SELECT count(*) FROM statuses WHERE uri LIKE '%#votes/%'`); n != 0 {
		t.Errorf("%d vote Notes stored as statuses", n)
	}
	if n := e.int(`SELECT replies_count FROM statuses WHERE id = $1`, single.ID); n != 0 {
		t.Errorf("replies_count %d after a vote", n)
	}
	if n := e.int(`SELECT count(*) FROM notifications`); n != 0 {
		t.Errorf("%d notifications after a vote", n)
	}

	// Recorded once: the same Note again changes nothing.
	e.push(e.remote.URI, vote("1", "No", single.URI), policy.Record{})
	e.drain()
	e.expectCount("Create", resultNoop, reasonDuplicate, 1)
	if n := e.int(`SELECT count(*) FROM poll_votes WHERE status_id = $1`, single.ID); n != 1 {
		t.Errorf("%d votes after a redelivery, want 1", n)
	}

	// Dropped: a second choice on a single-choice poll, an option the
	// poll does not have, a vote on an ended poll.
	e.push(e.remote.URI, vote("2", "Yes", single.URI), policy.Record{})
	e.push(e.remote.URI, vote("3", "Maybe", multi.URI), policy.Record{})
	e.push(e.remote.URI, vote("4", "Yes", ended.URI), policy.Record{})
	e.drain()
	e.expectCount("Create", resultDropped, reasonVoteRefused, 3)
	if p := e.pollOf(single.ID); !slices.Equal(counts(p), []int{0, 1}) || p.VotersCount != 1 {
		t.Errorf("single-choice poll after the refused vote: %+v", p)
	}
	if n := e.int(`SELECT count(*) FROM poll_votes WHERE status_id IN ($1, $2)`, multi.ID, ended.ID); n != 0 {
		t.Errorf("%d refused votes recorded", n)
	}

	// A multiple-choice poll takes one Note per choice: one voter.
	e.push(e.remote.URI, vote("5", "a", multi.URI), policy.Record{})
	e.push(e.remote.URI, vote("6", "c", multi.URI), policy.Record{})
	e.drain()
	if p := e.pollOf(multi.ID); !slices.Equal(counts(p), []int{1, 0, 1}) || p.VotersCount != 1 {
		t.Errorf("multiple-choice poll: %+v", p)
	}
	// ... but not the same choice twice.
	e.push(e.remote.URI, vote("7", "a", multi.URI), policy.Record{})
	e.drain()
	e.expectCount("Create", resultDropped, reasonVoteRefused, 4)

	// A real reply (with content) to the poll is still a status.
	e.push(e.remote.URI, create("8", `,"inReplyTo":"`+single.URI+`"`), policy.Record{})
	e.drain()
	if st := e.status("{{BASE}}/users/rita/statuses/8"); st.InReplyToID != single.ID {
		t.Errorf("the reply: in_reply_to_id %d, want %d", st.InReplyToID, single.ID)
	}
}

// question is rita's poll (a Question) with the given counts.
func question(typ, id, counts string) string {
	return questionWith(typ, id, counts, "x", "")
}

// questionWith is question with the first option named first and extra
// fields in the Question.
func questionWith(typ, id, counts, first, extra string) string {
	return `{"@context":"https://www.w3.org/ns/activitystreams","id":"{{BASE}}/users/rita/statuses/q#` + id + `","type":"` + typ + `",
	"actor":"{{BASE}}/users/rita","to":["https://www.w3.org/ns/activitystreams#Public"],
	"object":{"id":"{{BASE}}/users/rita/statuses/q","type":"Question","attributedTo":"{{BASE}}/users/rita",
	"published":"2026-11-01T10:00:00Z","to":["https://www.w3.org/ns/activitystreams#Public"],"content":"<p>which?</p>",
	"endTime":"2099-01-01T00:00:00Z","votersCount":` + counts[:1] + `,
	"oneOf":[{"type":"Note","name":"` + first + `","replies":{"type":"Collection","totalItems":` + counts[:1] + `}},
	{"type":"Note","name":"y","replies":{"type":"Collection","totalItems":` + counts[2:] + `}}]` + extra + `}}`
}

func TestRemotePollUpdateKeepsOwnVotes(t *testing.T) {
	e := newEnv(t)
	e.push(e.remote.URI, question("Create", "create", "2,0"), policy.Record{})
	e.drain()
	q := e.status("{{BASE}}/users/rita/statuses/q")
	if p := e.pollOf(q.ID); !slices.Equal(counts(p), []int{2, 0}) || p.VotersCount != 2 || p.Multiple {
		t.Fatalf("the received poll: %+v", p)
	}
	// alice votes here (instance/social sends the Note; the row is what
	// matters here).
	if _, _, err := e.store.CastVotes(e.ctx, q.ID, e.alice.ID, []data.Vote{{Choice: 1, URI: e.alice.URI + "#votes/1"}}, false); err != nil {
		t.Fatal(err)
	}
	// rita's server sends the new counts: they replace ours, no edit is
	// recorded, alice's vote stays hers.
	e.push(e.remote.URI, question("Update", "updates/1", "3,1"), policy.Record{})
	e.drain()
	e.expectCount("Update", resultStored, reasonOK, 1)
	if p := e.pollOf(q.ID); !slices.Equal(counts(p), []int{3, 1}) || p.VotersCount != 3 {
		t.Errorf("after the Update: %+v", p)
	}
	if n := e.int(`SELECT count(*) FROM status_edits WHERE status_id = $1`, q.ID); n != 0 {
		t.Errorf("%d edits recorded for new counts", n)
	}
	if st := e.status("{{BASE}}/users/rita/statuses/q"); st.EditedAt != nil || !strings.Contains(st.Content, "which?") {
		t.Errorf("the status after a count update: edited %v content %q", st.EditedAt, st.Content)
	}
	own, err := e.store.OwnVotes(e.ctx, e.alice.ID, []int64{q.ID})
	if err != nil || !slices.Equal(own[q.ID], []int{1}) {
		t.Errorf("alice's own votes after the Update: %v %v", own, err)
	}

	// An edit that changes the options is an edit, and the votes cast here
	// named the old options: they go (Mastodon resets votes so).
	e.push(e.remote.URI, questionWith("Update", "updates/2", "0,0", "z", `,"updated":"2026-11-02T10:00:00Z"`), policy.Record{})
	e.drain()
	if p := e.pollOf(q.ID); p.Options[0].Title != "z" || !slices.Equal(counts(p), []int{0, 0}) {
		t.Errorf("after the edit of the options: %+v", p)
	}
	if n := e.int(`SELECT count(*) FROM status_edits WHERE status_id = $1`, q.ID); n != 1 {
		t.Errorf("%d edits recorded for new options, want 1", n)
	}
	if n := e.int(`SELECT count(*) FROM poll_votes WHERE status_id = $1`, q.ID); n != 0 {
		t.Errorf("%d votes kept after the options changed", n)
	}
}

// TestVotesOnlyFromTheAudience: a followers-only poll takes no vote from
// an account that does not follow its author, and takes it once they do.
func TestVotesOnlyFromTheAudience(t *testing.T) {
	e := newEnv(t)
	p := e.localPoll("200", false, time.Now().Add(time.Hour), "Yes", "No")
	if _, err := e.pool.Exec(e.ctx, `UPDATE statuses SET visibility = 'private' WHERE id = $1`, p.ID); err != nil {
		t.Fatal(err)
	}
	e.push(e.remote.URI, vote("20", "Yes", p.URI), policy.Record{})
	e.drain()
	e.expectCount("Create", resultDropped, reasonVoteRefused, 1)
	if n := e.int(`SELECT count(*) FROM poll_votes WHERE status_id = $1`, p.ID); n != 0 {
		t.Fatalf("a non-follower's vote on a followers-only poll recorded (%d)", n)
	}
	if _, err := e.store.CreateFollow(e.ctx, &data.Follow{AccountID: e.remote.ID, TargetAccountID: e.alice.ID,
		URI: e.remote.URI + "#follows/1"}); err != nil {
		t.Fatal(err)
	}
	e.push(e.remote.URI, vote("21", "Yes", p.URI), policy.Record{})
	e.drain()
	if got := e.pollOf(p.ID); !slices.Equal(counts(got), []int{1, 0}) {
		t.Errorf("a follower's vote: %+v", got)
	}
}

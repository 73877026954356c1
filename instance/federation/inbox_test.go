package federation

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/policy"
)

const public = `"to":["https://www.w3.org/ns/activitystreams#Public"]`

func (e *env) status(uri string) *data.Status {
	e.t.Helper()
	st, err := e.store.GetStatusByURI(e.ctx, strings.ReplaceAll(uri, "{{BASE}}", e.peer.base))
	if err != nil {
		e.t.Fatalf("status %s: %v", uri, err)
	}
	return st
}

func (e *env) localStatus(id string) *data.Status {
	e.t.Helper()
	st := &data.Status{URI: here + "/users/alice/statuses/" + id, AccountID: e.alice.ID, Local: true, Content: "<p>mine</p>",
		CreatedAt: time.Now().Add(-time.Minute), Visibility: data.Public}
	if _, err := e.store.InsertStatus(e.ctx, st); err != nil {
		e.t.Fatal(err)
	}
	return st
}

func TestActivities(t *testing.T) {
	e := newEnv(t)
	rita := `"actor":"{{BASE}}/users/rita"`
	mine := e.localStatus("1")

	// Follow of an open account: a follow, a notification, an Accept signed by alice.
	follow := `{"id":"{{BASE}}/users/rita#follows/1","type":"Follow",` + rita + `,"object":"https://here.example/users/alice"}`
	e.push(e.remote.URI, follow, policy.Record{})
	e.drain()
	if n := e.int(`SELECT count(*) FROM follows WHERE account_id = $1 AND target_account_id = $2`, e.remote.ID, e.alice.ID); n != 1 {
		t.Fatalf("%d follows, want 1", n)
	}
	if msgs := e.sent.all(); len(msgs) != 1 || !strings.HasPrefix(msgs[0], here+"/users/alice → "+e.remote.InboxURL) ||
		!strings.Contains(msgs[0], `"type":"Accept"`) || !strings.Contains(msgs[0], e.peer.base+"/users/rita#follows/1") {
		t.Fatalf("deliveries = %q", msgs)
	}
	// Redelivered: no second row or notification, but the Accept again.
	e.push(e.remote.URI, follow, policy.Record{})
	e.drain()
	e.expectCount("Follow", resultNoop, reasonDuplicate, 1)
	if len(e.sent.all()) != 2 {
		t.Errorf("a redelivered Follow is not accepted again")
	}
	// A locked account: a request and a notification, no Accept.
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita#follows/2","type":"Follow",`+rita+`,"object":"https://here.example/users/bob"}`, policy.Record{})
	e.drain()
	if n := e.int(`SELECT count(*) FROM follow_requests WHERE target_account_id = $1`, e.bob.ID); n != 1 {
		t.Errorf("%d follow requests for locked bob, want 1", n)
	}
	if n := e.int(`SELECT count(*) FROM notifications WHERE account_id = $1 AND type = 'follow_request'`, e.bob.ID); n != 1 {
		t.Errorf("%d follow_request notifications, want 1", n)
	}
	if len(e.sent.all()) != 2 {
		t.Errorf("a follow request was accepted")
	}

	// Like and its Undo.
	like := `{"id":"{{BASE}}/users/rita#likes/1","type":"Like",` + rita + `,"object":"` + mine.URI + `"}`
	e.push(e.remote.URI, like, policy.Record{})
	e.drain()
	if n := e.int(`SELECT favourites_count FROM statuses WHERE id = $1`, mine.ID); n != 1 {
		t.Errorf("favourites_count = %d, want 1", n)
	}
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita#likes/1/undo","type":"Undo",`+rita+`,"object":`+like+`}`, policy.Record{})
	e.drain()
	if n := e.int(`SELECT favourites_count FROM statuses WHERE id = $1`, mine.ID); n != 0 {
		t.Errorf("favourites_count after Undo = %d, want 0", n)
	}
	// Announce and its Undo.
	announce := `{"id":"{{BASE}}/users/rita/statuses/9/activity","type":"Announce",` + rita + `,` + public +
		`,"published":"2026-11-01T10:00:00Z","object":"` + mine.URI + `"}`
	e.push(e.remote.URI, announce, policy.Record{})
	e.drain()
	if n := e.int(`SELECT reblogs_count FROM statuses WHERE id = $1`, mine.ID); n != 1 {
		t.Errorf("reblogs_count = %d, want 1", n)
	}
	if n := e.int(`SELECT count(*) FROM notifications WHERE account_id = $1 AND type IN ('favourite', 'reblog')`, e.alice.ID); n != 2 {
		t.Errorf("%d favourite/reblog notifications, want 2", n)
	}
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita/statuses/9/undo","type":"Undo",`+rita+`,"object":`+announce+`}`, policy.Record{})
	e.drain()
	if n := e.int(`SELECT count(*) FROM statuses WHERE reblog_of_id = $1 AND deleted_at IS NULL`, mine.ID); n != 0 {
		t.Errorf("the boost survived its Undo")
	}

	// Create, Update, Delete of a note.
	e.push(e.remote.URI, create("2", ""), policy.Record{})
	e.drain()
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita/statuses/2#updates/1","type":"Update",`+rita+`,`+public+`,
		"object":{"id":"{{BASE}}/users/rita/statuses/2","type":"Note","attributedTo":"{{BASE}}/users/rita",`+public+`,
		"content":"<p>edited</p>","published":"2026-11-01T10:00:00Z","updated":"2026-11-01T11:00:00Z"}}`, policy.Record{})
	e.drain()
	if st := e.status("{{BASE}}/users/rita/statuses/2"); st.Content != "<p>edited</p>" || st.EditedAt == nil {
		t.Errorf("after Update: %q, edited %v", st.Content, st.EditedAt)
	}
	// An edit replaces the hashtags and attachments and notifies whoever
	// it mentions for the first time (bob), not those already notified.
	e.push(e.remote.URI, create("3", ""), policy.Record{})
	e.drain()
	aliceMentions := e.int(`SELECT count(*) FROM notifications WHERE account_id = $1 AND type = 'mention'`, e.alice.ID)
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita/statuses/3#updates/1","type":"Update",`+rita+`,`+public+`,
		"object":{"id":"{{BASE}}/users/rita/statuses/3","type":"Note","attributedTo":"{{BASE}}/users/rita",`+public+`,
		"content":"<p>@alice @bob #Edited</p>","published":"2026-11-01T10:00:00Z","updated":"2026-11-01T11:00:00Z",
		"tag":[{"type":"Mention","href":"https://here.example/users/alice"},{"type":"Mention","href":"https://here.example/users/bob"},
		{"type":"Hashtag","name":"#Edited"}],
		"attachment":[{"type":"Document","mediaType":"image/png","url":"{{BASE}}/m/3.png","name":"new"}]}}`, policy.Record{})
	e.drain()
	e.expectCount("Update", resultStored, reasonOK, 2)
	three := e.status("{{BASE}}/users/rita/statuses/3")
	if n := e.int(`SELECT count(*) FROM statuses_tags st JOIN tags t ON t.id = st.tag_id WHERE st.status_id = $1 AND t.name = 'edited'`, three.ID); n != 1 {
		t.Errorf("the edit's hashtag: %d links", n)
	}
	if n := e.int(`SELECT count(*) FROM statuses_tags WHERE status_id = $1`, three.ID); n != 1 {
		t.Errorf("%d hashtags after the edit, want 1 (#go and #fediverse removed)", n)
	}
	if n := e.int(`SELECT count(*) FROM media_attachments WHERE status_id = $1 AND remote_url LIKE '%/m/3.png'`, three.ID); n != 1 {
		t.Errorf("the edit's attachment: %d rows", n)
	}
	if n := e.int(`SELECT count(*) FROM notifications WHERE account_id = $1 AND type = 'mention' AND status_id = $2`, e.bob.ID, three.ID); n != 1 {
		t.Errorf("bob, newly mentioned: %d notifications, want 1", n)
	}
	if n := e.int(`SELECT count(*) FROM notifications WHERE account_id = $1 AND type = 'mention'`, e.alice.ID); n != aliceMentions {
		t.Errorf("alice, mentioned before the edit: %d notifications, want %d", n, aliceMentions)
	}

	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita/statuses/2#delete","type":"Delete",`+rita+`,`+public+`,
		"object":{"id":"{{BASE}}/users/rita/statuses/2","type":"Tombstone"}}`, policy.Record{})
	e.drain()
	if st := e.status("{{BASE}}/users/rita/statuses/2"); st.DeletedAt == nil {
		t.Error("the Delete did not delete")
	}
	e.expectCount("Delete", resultStored, reasonOK, 1)

	// Block and its Undo.
	block := `{"id":"{{BASE}}/users/rita#blocks/1","type":"Block",` + rita + `,"object":"https://here.example/users/alice"}`
	e.push(e.remote.URI, block, policy.Record{})
	e.drain()
	if n := e.int(`SELECT count(*) FROM blocks WHERE account_id = $1`, e.remote.ID); n != 1 {
		t.Errorf("%d blocks, want 1", n)
	}
	if n := e.int(`SELECT count(*) FROM follows WHERE account_id = $1 AND target_account_id = $2`, e.remote.ID, e.alice.ID); n != 0 {
		t.Errorf("the block left the follow in place")
	}
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita#blocks/1/undo","type":"Undo",`+rita+`,"object":`+block+`}`, policy.Record{})
	e.drain()
	if n := e.int(`SELECT count(*) FROM blocks`); n != 0 {
		t.Errorf("the block survived its Undo")
	}

	// Flag from the peer's instance actor (unknown: fetched).
	e.peer.set("/actor", `{"id":"{{BASE}}/actor","type":"Application","preferredUsername":"peer","inbox":"{{BASE}}/actor/inbox"}`)
	e.push(e.peer.base+"/actor", `{"id":"{{BASE}}/flags/1","type":"Flag","actor":"{{BASE}}/actor","content":"spam",
		"object":["https://here.example/users/alice","`+mine.URI+`"]}`, policy.Record{})
	e.drain()
	if n := e.int(`SELECT count(*) FROM reports WHERE target_account_id = $1 AND status_ids = ARRAY[$2::bigint] AND comment = 'spam'`,
		e.alice.ID, mine.ID); n != 1 {
		t.Errorf("%d reports from the Flag, want 1", n)
	}

	// Accept and Reject of follows alice and bob sent.
	for _, who := range []*data.Account{e.alice, e.bob} {
		f := &data.Follow{AccountID: who.ID, TargetAccountID: e.remote.ID, URI: who.URI + "#follows/rita"}
		if _, err := e.store.CreateFollowRequest(e.ctx, f); err != nil {
			t.Fatal(err)
		}
	}
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita#accepts/1","type":"Accept",`+rita+`,
		"object":{"id":"https://here.example/users/alice#follows/rita","type":"Follow","actor":"https://here.example/users/alice","object":"{{BASE}}/users/rita"}}`, policy.Record{})
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita#rejects/1","type":"Reject",`+rita+`,"object":"https://here.example/users/bob#follows/rita"}`, policy.Record{})
	e.drain()
	if n := e.int(`SELECT count(*) FROM follows WHERE account_id = $1 AND target_account_id = $2`, e.alice.ID, e.remote.ID); n != 1 {
		t.Errorf("the Accept did not make alice's follow: %d", n)
	}
	if n := e.int(`SELECT count(*) FROM follow_requests WHERE account_id = $1`, e.bob.ID); n != 0 {
		t.Errorf("the Reject left bob's request")
	}

	// Update of the actor itself.
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita#updates/2","type":"Update",`+rita+`,`+public+`,"object":`+
		strings.Replace(actorDoc("rita", ""), `"name":"RITA"`, `"name":"Rita Renamed"`, 1)+`}`, policy.Record{})
	e.drain()
	if a, _ := e.store.GetAccount(e.ctx, e.remote.ID); a.DisplayName != "Rita Renamed" {
		t.Errorf("display name after Update = %q", a.DisplayName)
	}

	// Move: refused while the target does not list rita, recorded once it does.
	move := `{"id":"{{BASE}}/users/rita#moves/1","type":"Move",` + rita + `,"object":"{{BASE}}/users/rita","target":"{{BASE}}/users/rita2"}`
	e.push(e.remote.URI, move, policy.Record{})
	e.drain()
	e.expectCount("Move", resultRefused, reasonAliasMissing, 1)
	e.peer.set("/users/rita2", actorDoc("rita2", `,"alsoKnownAs":["{{BASE}}/users/rita"]`))
	e.push(e.remote.URI, strings.Replace(move, "moves/1", "moves/2", 1), policy.Record{})
	e.drain()
	if n := e.int(`SELECT count(*) FROM accounts a JOIN accounts t ON t.id = a.moved_to_account_id WHERE a.id = $1 AND t.username = 'rita2'`, e.remote.ID); n != 1 {
		t.Errorf("moved_to not recorded")
	}

	// Follow/Undo of the relay (as:Public, our /actor): not ours.
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita#follows/relay","type":"Follow",`+rita+`,"object":"https://www.w3.org/ns/activitystreams#Public"}`, policy.Record{})
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita#follows/relay2","type":"Follow",`+rita+`,"object":"https://here.example/actor"}`, policy.Record{})
	e.drain()
	e.expectCount("Follow", resultIgnored, reasonRelay, 2)
	// A LitePub relay's Accept of the relay's follow-back, embedded or by id.
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita#accepts/relay1","type":"Accept",`+rita+`,"object":{"id":"https://here.example/actor#follows/abc","type":"Follow","actor":"https://here.example/actor","object":"{{BASE}}/users/rita"}}`, policy.Record{})
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita#accepts/relay2","type":"Accept",`+rita+`,"object":"https://here.example/actor#follows/def"}`, policy.Record{})
	e.drain()
	e.expectCount("Accept", resultIgnored, reasonRelay, 2)

	// Delete of the actor removes it and its content; a second one is a no-op.
	del := `{"id":"{{BASE}}/users/rita#delete","type":"Delete",` + rita + `,` + public + `,"object":"{{BASE}}/users/rita"}`
	e.push(e.remote.URI, del, policy.Record{})
	e.drain()
	if _, err := e.store.GetAccountByURI(e.ctx, e.remote.URI); !errors.Is(err, data.NotFound) {
		t.Errorf("account after its Delete: %v", err)
	}
	if n := e.int(`SELECT following_count FROM accounts WHERE id = $1`, e.alice.ID); n != 0 {
		t.Errorf("alice's following_count = %d after the followed actor was deleted", n)
	}
	e.push(e.remote.URI, strings.Replace(del, "#delete", "#delete2", 1), policy.Record{})
	e.drain()
	e.expectCount("Delete", resultNoop, reasonUnknownActor, 1)
}

func TestFetchesReferencedObjects(t *testing.T) {
	e := newEnv(t)
	// A boost of a post never seen, by an author never seen: both fetched.
	e.peer.set("/users/sam/statuses/5", `{"id":"{{BASE}}/users/sam/statuses/5","type":"Note","attributedTo":"{{BASE}}/users/sam",`+
		public+`,"content":"<p>boosted</p>","published":"2026-10-01T10:00:00Z"}`)
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita/statuses/7/activity","type":"Announce","actor":"{{BASE}}/users/rita",`+public+`,
		"object":"{{BASE}}/users/sam/statuses/5"}`, policy.Record{})
	// A reply whose parent is fetched (one level) and linked.
	e.peer.set("/users/sam/statuses/6", `{"id":"{{BASE}}/users/sam/statuses/6","type":"Note","attributedTo":"{{BASE}}/users/sam",`+
		public+`,"content":"<p>parent</p>","inReplyTo":"{{BASE}}/users/sam/statuses/nowhere","published":"2026-10-01T10:00:00Z"}`)
	e.push(e.remote.URI, create("8", `,"inReplyTo":"{{BASE}}/users/sam/statuses/6"`), policy.Record{})
	e.drain()
	boosted := e.status("{{BASE}}/users/sam/statuses/5")
	if boosted.ReblogsCount != 1 {
		t.Errorf("boosted post: reblogs_count %d", boosted.ReblogsCount)
	}
	parent := e.status("{{BASE}}/users/sam/statuses/6")
	if reply := e.status("{{BASE}}/users/rita/statuses/8"); reply.InReplyToID != parent.ID || parent.RepliesCount != 1 {
		t.Errorf("reply linked to %d, parent %d has %d replies", reply.InReplyToID, parent.ID, parent.RepliesCount)
	}
	e.peer.mu.Lock()
	nowhere := e.peer.hits["/users/sam/statuses/nowhere"]
	e.peer.mu.Unlock()
	if nowhere != 0 {
		t.Error("the parent's parent was fetched (one level only)")
	}
	// A boost of something that cannot be fetched is refused, counted.
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita/statuses/10/activity","type":"Announce","actor":"{{BASE}}/users/rita",`+public+`,
		"object":"{{BASE}}/users/sam/statuses/404"}`, policy.Record{})
	e.drain()
	e.expectCount("Announce", resultRefused, reasonObjectUnavailable, 1)
}

// Fetched posts (boosted ones, reply parents) pass the content rules as if
// their authors had sent them: a refused one is not stored and its boost is
// dropped; a milder action applies to the stored post.
func TestFetchedObjectsScreened(t *testing.T) {
	e := newEnv(t)
	snap, err := policy.Compile(policy.Source{RuleFiles: []policy.RuleFile{{Name: "test.yaml", Data: []byte(`rules:
  - id: no-casino
    match: {type: Create, keywords: [casino]}
    action: reject
  - id: spoilers-cw
    match: {type: Create, keywords: [spoilers]}
    action: cw
    cw: "spoilers"
`)}}})
	if err != nil {
		t.Fatal(err)
	}
	e.policy = snap
	e.peer.set("/users/sam/statuses/20", `{"id":"{{BASE}}/users/sam/statuses/20","type":"Note","attributedTo":"{{BASE}}/users/sam",`+
		public+`,"content":"<p>best casino bonus</p>","published":"2026-10-01T10:00:00Z"}`)
	e.peer.set("/users/sam/statuses/21", `{"id":"{{BASE}}/users/sam/statuses/21","type":"Note","attributedTo":"{{BASE}}/users/sam",`+
		public+`,"content":"<p>finale spoilers inside</p>","published":"2026-10-01T10:00:00Z"}`)
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita/statuses/30/activity","type":"Announce","actor":"{{BASE}}/users/rita",`+public+`,
		"object":"{{BASE}}/users/sam/statuses/20"}`, policy.Record{})
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita/statuses/31/activity","type":"Announce","actor":"{{BASE}}/users/rita",`+public+`,
		"object":"{{BASE}}/users/sam/statuses/21"}`, policy.Record{})
	e.drain()
	e.expectCount("Announce", resultDropped, reasonPolicy, 1)
	if n := e.int(`SELECT count(*) FROM statuses WHERE uri LIKE '%/users/sam/statuses/20'`); n != 0 {
		t.Errorf("the refused boosted post was stored (%d rows)", n)
	}
	cw := e.status("{{BASE}}/users/sam/statuses/21")
	if !strings.Contains(cw.SpoilerText, "spoilers") || cw.ReblogsCount != 1 {
		t.Errorf("the fetched post with spoilers: spoiler %q, reblogs %d", cw.SpoilerText, cw.ReblogsCount)
	}
	if len(cw.DecisionRuleIDs) != 1 || cw.DecisionRuleIDs[0] != "spoilers-cw" {
		t.Errorf("the fetched post's rules: %v", cw.DecisionRuleIDs)
	}
}

func TestBadInput(t *testing.T) {
	e := newEnv(t)
	rita := `"actor":"{{BASE}}/users/rita"`
	// An object on another host than its actor.
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita/statuses/1/activity","type":"Create",`+rita+`,`+public+`,
		"object":{"id":"https://elsewhere.example/notes/1","type":"Note","attributedTo":"{{BASE}}/users/rita",`+public+`,"content":"x"}}`, policy.Record{})
	// attributedTo someone else.
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita/statuses/2/activity","type":"Create",`+rita+`,`+public+`,
		"object":{"id":"{{BASE}}/users/rita/statuses/2","type":"Note","attributedTo":"{{BASE}}/users/sam",`+public+`,"content":"x"}}`, policy.Record{})
	// A Delete of something never seen.
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita/statuses/3#delete","type":"Delete",`+rita+`,"object":"{{BASE}}/users/rita/statuses/3"}`, policy.Record{})
	// The envelope's actor is not the verified signer.
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/sam#follows/1","type":"Follow","actor":"{{BASE}}/users/sam","object":"https://here.example/users/alice"}`, policy.Record{})
	// Not JSON at all.
	e.push(e.remote.URI, `{"id":`, policy.Record{})
	// A Create without an object.
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita/statuses/4/activity","type":"Create",`+rita+`}`, policy.Record{})
	e.drain()
	e.expectCount("Create", resultRefused, reasonForeignObject, 1)
	e.expectCount("Create", resultRefused, reasonAttributionMismatch, 1)
	e.expectCount("Delete", resultNoop, reasonUnknownObject, 1)
	e.expectCount("Follow", resultRefused, reasonActorMismatch, 1)
	e.expectCount("other", resultRefused, reasonMalformed, 1)
	e.expectCount("Create", resultRefused, reasonMissingField, 1)
	if n := e.int(`SELECT count(*) FROM statuses`); n != 0 {
		t.Errorf("%d statuses stored from bad input", n)
	}
	if n := e.int(`SELECT count(*) FROM follows`); n != 0 {
		t.Errorf("a follow was stored from a spoofed actor")
	}

	// An Update from a non-owner: sam (fetched) edits rita's post.
	e.push(e.remote.URI, create("5", ""), policy.Record{})
	e.drain()
	e.push(e.peer.actor("sam"), `{"id":"{{BASE}}/users/sam#updates/1","type":"Update","actor":"{{BASE}}/users/sam",`+public+`,
		"object":{"id":"{{BASE}}/users/rita/statuses/5","type":"Note","attributedTo":"{{BASE}}/users/sam",`+public+`,
		"content":"<p>hijacked</p>","updated":"2026-11-02T10:00:00Z"}}`, policy.Record{})
	// And a Delete of it by sam.
	e.push(e.peer.actor("sam"), `{"id":"{{BASE}}/users/sam#delete/1","type":"Delete","actor":"{{BASE}}/users/sam",
		"object":"{{BASE}}/users/rita/statuses/5"}`, policy.Record{})
	e.drain()
	e.expectCount("Update", resultRefused, reasonNotOwner, 1)
	e.expectCount("Delete", resultRefused, reasonNotOwner, 1)
	if st := e.status("{{BASE}}/users/rita/statuses/5"); strings.Contains(st.Content, "hijacked") || st.EditedAt != nil || st.DeletedAt != nil {
		t.Errorf("a non-owner changed the status: %+v", st)
	}
	// Every refusal left an audit row for the admin.
	if n := e.int(`SELECT count(*) FROM audit_log WHERE action = 'inbound.refused' AND target_type = 'activity'`); n != 7 {
		t.Errorf("%d refusal audit rows, want 7", n)
	}
}

// TestCrashBetweenCommitAndAck kills the consumer after a batch committed
// and before it was acked, restarts it, and checks that the redone batch
// lost nothing and duplicated nothing.
func TestCrashBetweenCommitAndAck(t *testing.T) {
	e := newEnv(t)
	for _, id := range []string{"1", "2", "3"} {
		e.push(e.remote.URI, create(id, ""), policy.Record{})
	}
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita#follows/1","type":"Follow","actor":"{{BASE}}/users/rita","object":"https://here.example/users/alice"}`, policy.Record{})
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita#likes/1","type":"Like","actor":"{{BASE}}/users/rita","object":"`+e.localStatus("1").URI+`"}`, policy.Record{})
	crash := errors.New("killed between commit and ack")
	e.c.afterCommit = func() error { return crash }
	if _, err := e.c.Step(e.ctx); !errors.Is(err, crash) {
		t.Fatalf("Step = %v", err)
	}
	snapshot := func() [5]int {
		return [5]int{
			e.int(`SELECT count(*) FROM statuses WHERE account_id = $1`, e.remote.ID),
			e.int(`SELECT statuses_count FROM accounts WHERE id = $1`, e.remote.ID),
			e.int(`SELECT count(*) FROM notifications`),
			e.int(`SELECT followers_count FROM accounts WHERE id = $1`, e.alice.ID),
			e.int(`SELECT favourites_count FROM statuses WHERE account_id = $1`, e.alice.ID),
		}
	}
	before := snapshot()
	if before != [5]int{3, 3, 5, 1, 1} {
		t.Fatalf("after the first run: %v", before)
	}
	e.open() // restart: the unacked batch is handed out again
	e.drain()
	if after := snapshot(); after != before {
		t.Errorf("after the redo: %v, want %v", after, before)
	}
	e.expectCount("Create", resultNoop, reasonDuplicate, 3)
	// The Follow was accepted again (the first Accept never left).
	if n := len(e.sent.all()); n != 1 {
		t.Errorf("%d deliveries, want the one of the redo", n)
	}
	if n, _ := e.c.Step(e.ctx); n != 0 {
		t.Errorf("%d entries left after the redo", n)
	}
}

// TestNoteTypes stores Question (with its poll), Article and Page (title
// and link shown) as statuses, and ignores object types that are not notes.
func TestNoteTypes(t *testing.T) {
	e := newEnv(t)
	mk := func(id, typ, extra string) string {
		return `{"id":"{{BASE}}/users/rita/o/` + id + `/activity","type":"Create","actor":"{{BASE}}/users/rita",` + public + `,
		"object":{"id":"{{BASE}}/users/rita/o/` + id + `","type":"` + typ + `","attributedTo":"{{BASE}}/users/rita",` + public + extra + `}}`
	}
	e.push(e.remote.URI, mk("q", "Question", `,"content":"pick","oneOf":[{"type":"Note","name":"yes","replies":{"totalItems":2}},{"type":"Note","name":"no"}],"endTime":"2026-12-01T00:00:00Z"`), policy.Record{})
	e.push(e.remote.URI, mk("a", "Article", `,"name":"A <title>","url":"https://blog.example/post","content":"<p>long read</p>"`), policy.Record{})
	e.push(e.remote.URI, mk("p", "Page", `,"name":"Lemmy post","url":"https://lemmy.example/post/1"`), policy.Record{})
	e.push(e.remote.URI, mk("e", "Event", `,"name":"party"`), policy.Record{})
	// An Update of another actor's profile.
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita#updates/sam","type":"Update","actor":"{{BASE}}/users/rita",`+public+`,"object":`+actorDoc("sam", "")+`}`, policy.Record{})
	e.drain()
	if q := e.status("{{BASE}}/users/rita/o/q"); !strings.Contains(string(q.Poll), `"title": "yes", "votes_count": 2`) {
		t.Errorf("poll = %s", q.Poll)
	}
	if a := e.status("{{BASE}}/users/rita/o/a"); !strings.Contains(a.Content, "<strong>A &lt;title&gt;</strong>") ||
		!strings.Contains(a.Content, `href="https://blog.example/post"`) || !strings.Contains(a.Content, "long read") {
		t.Errorf("article content = %q", a.Content)
	}
	if p := e.status("{{BASE}}/users/rita/o/p"); !strings.Contains(p.Content, "Lemmy post") {
		t.Errorf("page content = %q", p.Content)
	}
	e.expectCount("Create", resultIgnored, reasonUnsupported, 1)
	e.expectCount("Update", resultRefused, reasonNotOwner, 1)
	if _, err := e.store.GetAccountByURI(e.ctx, e.peer.actor("sam")); !errors.Is(err, data.NotFound) {
		t.Errorf("rita's Update created sam's account: %v", err)
	}
}

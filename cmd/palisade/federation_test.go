package main

import (
	"context"
	"fmt"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/accounts"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/social"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// Polls in these tests may end within seconds (production keeps
// Mastodon's 5-minute minimum): TestTwoNodesFederate watches one end.
func init() { pollMinExpiry = time.Second }

// fedNode is one of the two federating appliances.
type fedNode struct {
	n    *node
	host string // 127.0.0.X:PORT, also its listen address
}

// startFedNode runs a full node (gateway, relay, instance) on its own
// loopback address, database and data directory, minting http:// ids.
func startFedNode(t *testing.T, ip string, authorizedFetch bool) *fedNode {
	t.Helper()
	port, err := freePortOn(ip)
	if err != nil {
		t.Fatal(err)
	}
	host := fmt.Sprintf("%s:%d", ip, port)
	cfg := Default()
	cfg.Host = host
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Listen = ListenConfig{Public: host, Admin: "127.0.0.1:0"}
	cfg.Log.Level = "warn"
	cfg.Database.URL = pgtest.URL(t)
	cfg.Fed = FedConfig{AllowPrivateAddresses: true, AllowHTTP: true, Scheme: "http"}
	cfg.Instance.AuthorizedFetch = authorizedFetch
	n := startServe(t, cfg).n
	return &fedNode{n: n, host: host}
}

func freePortOn(ip string) (int, error) {
	l, err := net.Listen("tcp", ip+":0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (f *fedNode) createAccount(t *testing.T, name string, locked bool) *data.Account {
	t.Helper()
	c, err := accounts.New(f.n.data, f.n.cfg.BaseURL(), f.n.log).Create(context.Background(), name,
		accounts.CreateOptions{Email: name + "@example.test", Locked: locked, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	return c.Account
}

// count runs a counting query on the node's Postgres.
func (f *fedNode) count(t *testing.T, sql string, args ...any) int {
	t.Helper()
	var n int
	if err := f.n.db.Pool().QueryRow(context.Background(), sql, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return n
}

// eventually waits until the query counts want rows.
func (f *fedNode) eventually(t *testing.T, what string, want int, sql string, args ...any) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := f.count(t, sql, args...)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			f.dumpCounters(t)
			t.Fatalf("%s on %s: counted %d, want %d (%s)", what, f.host, got, want, sql)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// remote returns the node's row for an account of the other node,
// resolving it by handle (WebFinger, then the actor) the first time.
func (f *fedNode) remote(t *testing.T, handle string) *data.Account {
	t.Helper()
	a, err := f.n.resolveAccount(context.Background(), handle)
	if err != nil {
		t.Fatalf("resolving %s on %s: %v", handle, f.host, err)
	}
	if a.Domain == "" {
		t.Fatalf("%s resolved to a local account on %s", handle, f.host)
	}
	return a
}

// counter sums a counter family's samples whose labels include match.
func (f *fedNode) counter(t *testing.T, family string, match map[string]string) float64 {
	t.Helper()
	mfs, err := f.n.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != family {
			continue
		}
	metrics:
		for _, m := range mf.GetMetric() {
			for k, v := range match {
				if labelValue(m, k) != v {
					continue metrics
				}
			}
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// Two Palisade nodes federate over loopback: every interaction a member
// makes on one node arrives, verified by the other's gateway, in the
// other's Postgres.
func TestTwoNodesFederate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts two full nodes")
	}
	a := startFedNode(t, "127.0.0.21", false)
	// B serves its actors and statuses only to signed fetches: A's key
	// resolver and fetcher sign theirs as A's instance actor.
	b := startFedNode(t, "127.0.0.22", true)
	ctx := context.Background()

	alice := a.createAccount(t, "alice", false)
	bob := b.createAccount(t, "bob", true) // locked: follows are requests

	// alice@A follows bob@B: a follow request on B until bob authorizes it.
	bobOnA := a.remote(t, "bob@"+b.host)
	if bobOnA.URI != b.n.cfg.BaseURL()+"/users/bob" || !bobOnA.Locked {
		t.Fatalf("bob as A sees him: uri %q locked %v", bobOnA.URI, bobOnA.Locked)
	}
	pending, err := a.n.social.Follow(ctx, alice.ID, bobOnA.ID)
	if err != nil || !pending {
		t.Fatalf("alice follows bob: pending %v, %v", pending, err)
	}
	b.eventually(t, "alice's follow request", 1, `SELECT count(*) FROM follow_requests fr
		JOIN accounts a ON a.id = fr.account_id WHERE a.uri = $1 AND fr.target_account_id = $2`, alice.URI, bob.ID)
	b.eventually(t, "bob's follow request notification", 1,
		`SELECT count(*) FROM notifications WHERE account_id = $1 AND type = 'follow_request'`, bob.ID)
	aliceOnB, err := b.n.data.GetAccountByURI(ctx, alice.URI)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.n.social.AuthorizeFollowRequest(ctx, bob.ID, aliceOnB.ID); err != nil {
		t.Fatal(err)
	}
	a.eventually(t, "the Accept of alice's follow", 1,
		`SELECT count(*) FROM follows WHERE account_id = $1 AND target_account_id = $2`, alice.ID, bobOnA.ID)
	a.eventually(t, "no request left on A", 0,
		`SELECT count(*) FROM follow_requests WHERE account_id = $1`, alice.ID)

	// bob follows alice back: alice is not locked, so A accepts at once
	// (a remote follow is pending on B until that Accept arrives).
	if _, err = b.n.social.Follow(ctx, bob.ID, aliceOnB.ID); err != nil {
		t.Fatalf("bob follows alice: %v", err)
	}
	a.eventually(t, "bob's follow", 1, `SELECT count(*) FROM follows WHERE account_id = $1 AND target_account_id = $2`, bobOnA.ID, alice.ID)
	b.eventually(t, "the Accept of bob's follow", 1,
		`SELECT count(*) FROM follows WHERE account_id = $1 AND target_account_id = $2`, bob.ID, aliceOnB.ID)

	// alice posts; bob's node receives it through the follow.
	post, err := a.n.social.PostStatus(ctx, alice.ID, social.PostParams{Text: "Hello from A #palisade", Language: "en"})
	if err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "alice's post", 1, `SELECT count(*) FROM statuses WHERE uri = $1 AND content LIKE '%Hello from A%'`, post.URI)
	postOnB, err := b.n.data.GetStatusByURI(ctx, post.URI)
	if err != nil {
		t.Fatal(err)
	}
	if postOnB.AccountID != aliceOnB.ID || postOnB.Visibility != data.Public {
		t.Errorf("alice's post on B: account %d (want %d), visibility %q", postOnB.AccountID, aliceOnB.ID, postOnB.Visibility)
	}

	// bob replies, boosts and favourites it.
	reply, err := b.n.social.PostStatus(ctx, bob.ID, social.PostParams{Text: "@alice@" + a.host + " Welcome!", InReplyToID: postOnB.ID})
	if err != nil {
		t.Fatal(err)
	}
	a.eventually(t, "bob's reply", 1, `SELECT count(*) FROM statuses WHERE uri = $1 AND in_reply_to_id = $2`, reply.URI, post.ID)
	if _, err := b.n.social.Reblog(ctx, bob.ID, postOnB.ID); err != nil {
		t.Fatal(err)
	}
	a.eventually(t, "bob's boost", 1, `SELECT count(*) FROM statuses WHERE reblog_of_id = $1 AND account_id = $2`, post.ID, bobOnA.ID)
	if err := b.n.social.Favourite(ctx, bob.ID, postOnB.ID); err != nil {
		t.Fatal(err)
	}
	a.eventually(t, "bob's favourite", 1, `SELECT count(*) FROM favourites WHERE status_id = $1 AND account_id = $2`, post.ID, bobOnA.ID)
	a.eventually(t, "alice's notifications (follow, mention, reblog, favourite)", 4,
		`SELECT count(DISTINCT type) FROM notifications WHERE account_id = $1 AND type IN ('follow', 'mention', 'reblog', 'favourite')`, alice.ID)
	// Undo of each: the boost and the favourite go away on A.
	if err := b.n.social.Unreblog(ctx, bob.ID, postOnB.ID); err != nil {
		t.Fatal(err)
	}
	a.eventually(t, "the Undo of bob's boost", 0, `SELECT count(*) FROM statuses WHERE reblog_of_id = $1 AND deleted_at IS NULL`, post.ID)
	if err := b.n.social.Unfavourite(ctx, bob.ID, postOnB.ID); err != nil {
		t.Fatal(err)
	}
	a.eventually(t, "the Undo of bob's favourite", 0, `SELECT count(*) FROM favourites WHERE status_id = $1`, post.ID)

	// alice edits the post, then deletes it.
	if _, err := a.n.social.EditStatus(ctx, alice.ID, post.ID, social.EditParams{Text: "Hello from A, edited"}); err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "the edit", 1, `SELECT count(*) FROM statuses WHERE id = $1 AND edited_at IS NOT NULL AND content LIKE '%edited%'`, postOnB.ID)
	b.eventually(t, "the edit history", 1, `SELECT count(*) FROM status_edits WHERE status_id = $1`, postOnB.ID)
	if _, err := a.n.social.DeleteStatus(ctx, alice.ID, post.ID); err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "the delete", 0, `SELECT count(*) FROM statuses WHERE uri = $1 AND deleted_at IS NULL`, post.URI)

	// bob reports alice: a Flag from B's instance actor becomes a report
	// on A, naming the statuses without naming bob.
	second, err := a.n.social.PostStatus(ctx, alice.ID, social.PostParams{Text: "Something reportable"})
	if err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "alice's second post", 1, `SELECT count(*) FROM statuses WHERE uri = $1`, second.URI)
	secondOnB, err := b.n.data.GetStatusByURI(ctx, second.URI)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.n.social.Report(ctx, bob.ID, social.ReportParams{TargetAccountID: aliceOnB.ID,
		StatusIDs: []int64{secondOnB.ID}, Comment: "testing reports across nodes", Forward: true}); err != nil {
		t.Fatal(err)
	}
	a.eventually(t, "the forwarded report", 1, `SELECT count(*) FROM reports WHERE target_account_id = $1
		AND comment LIKE '%testing reports across nodes%' AND $2 = ANY(status_ids)`, alice.ID, second.ID)

	// alice asks a question; bob sees it on B and votes; A records the
	// vote and counts it; when the poll ends, both nodes show it closed
	// with the final counts, and bob and alice are told.
	const pollLife = 8 * time.Second
	asked, err := a.n.social.PostStatus(ctx, alice.ID, social.PostParams{Text: "Soup or salad?",
		Poll: &social.PollParams{Options: []string{"Soup", "Salad"}, ExpiresIn: pollLife}})
	if err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "alice's poll", 1, `SELECT count(*) FROM statuses WHERE uri = $1 AND jsonb_array_length(poll->'options') = 2`, asked.URI)
	askedOnB, err := b.n.data.GetStatusByURI(ctx, asked.URI)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.n.social.Vote(ctx, bob.ID, askedOnB.ID, []int{1}); err != nil {
		t.Fatalf("bob votes: %v", err)
	}
	a.eventually(t, "bob's vote", 1, `SELECT count(*) FROM poll_votes v JOIN accounts acc ON acc.id = v.account_id
		WHERE v.status_id = $1 AND acc.uri = $2 AND v.choice = 1`, asked.ID, bob.URI)
	a.eventually(t, "the counts with bob's vote", 1, `SELECT count(*) FROM statuses WHERE id = $1
		AND (poll->'options'->1->>'votes_count')::int = 1 AND (poll->'options'->0->>'votes_count')::int = 0
		AND (poll->>'voters_count')::int = 1`, asked.ID)
	if n := a.count(t, `SELECT count(*) FROM statuses WHERE uri LIKE '%#votes/%'`); n != 0 {
		t.Errorf("A stored %d vote Notes as statuses", n)
	}
	if time.Since(asked.CreatedAt) > pollLife {
		t.Fatalf("the vote took longer than the poll's %s: the machine is too slow for this check", pollLife)
	}
	a.eventually(t, "the poll closed on A", 1, `SELECT count(*) FROM statuses WHERE id = $1 AND poll_ended
		AND (poll->>'closed')::boolean`, asked.ID)
	b.eventually(t, "the poll closed on B with the final counts", 1, `SELECT count(*) FROM statuses WHERE id = $1
		AND (poll->>'closed')::boolean AND (poll->'options'->1->>'votes_count')::int = 1 AND (poll->>'voters_count')::int = 1`, askedOnB.ID)
	b.eventually(t, "bob's own vote, kept through the Update", 1,
		`SELECT count(*) FROM poll_votes WHERE status_id = $1 AND account_id = $2 AND choice = 1`, askedOnB.ID, bob.ID)
	b.eventually(t, "bob's poll notification", 1,
		`SELECT count(*) FROM notifications WHERE account_id = $1 AND type = 'poll' AND status_id = $2`, bob.ID, askedOnB.ID)
	a.eventually(t, "alice's poll notification", 1,
		`SELECT count(*) FROM notifications WHERE account_id = $1 AND type = 'poll' AND status_id = $2`, alice.ID, asked.ID)
	if n := b.count(t, `SELECT count(*) FROM status_edits WHERE status_id = $1`, askedOnB.ID); n != 0 {
		t.Errorf("B recorded %d edits of the poll for its new counts", n)
	}

	// alice blocks bob: B drops the follows both ways and records the block.
	if err := a.n.social.Block(ctx, alice.ID, bobOnA.ID); err != nil {
		t.Fatal(err)
	}
	b.eventually(t, "alice's block", 1, `SELECT count(*) FROM blocks WHERE account_id = $1 AND target_account_id = $2`, aliceOnB.ID, bob.ID)
	b.eventually(t, "the follows the block ended", 0,
		`SELECT count(*) FROM follows WHERE account_id IN ($1, $2) AND target_account_id IN ($1, $2)`, aliceOnB.ID, bob.ID)

	// Everything arrived through each gateway's verified path: signatures
	// checked, nothing refused, and each node's consumer stored what its
	// ingress accepted.
	for _, f := range []*fedNode{a, b} {
		all := f.counter(t, "palisade_ingress_requests_total", nil)
		accepted := f.counter(t, "palisade_ingress_requests_total", map[string]string{"stage": "queue", "reason": "accepted"})
		if all != accepted {
			t.Errorf("%s: the ingress ended %v inbox requests, accepted %v: every delivery between the nodes must verify", f.host, all, accepted)
		}
		stored := f.counter(t, "palisade_instance_inbound_total", map[string]string{"result": "stored"})
		if accepted < 5 || stored < 5 {
			t.Errorf("%s: ingress accepted %v, consumer applied %v; want every activity through both", f.host, accepted, stored)
		}
		if refused := f.counter(t, "palisade_instance_inbound_total", map[string]string{"result": "refused"}); refused != 0 {
			t.Errorf("%s: the consumer refused %v activities", f.host, refused)
		}
	}
	if t.Failed() {
		a.dumpCounters(t)
		b.dumpCounters(t)
	}
}

// dumpCounters logs the node's ingress and consumer outcomes.
func (f *fedNode) dumpCounters(t *testing.T) {
	mfs, _ := f.n.reg.Gather()
	for _, mf := range mfs {
		switch mf.GetName() {
		case "palisade_ingress_requests_total", "palisade_instance_inbound_total", "palisade_delivery_attempts_total":
			for _, m := range mf.GetMetric() {
				t.Logf("%s %s %v = %v", f.host, mf.GetName(), m.GetLabel(), m.GetCounter().GetValue())
			}
		}
	}
}

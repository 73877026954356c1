package federation

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/policy"
)

func fired(a policy.Action, m policy.Modifiers) policy.Record {
	return policy.Record{Action: a, Modifiers: m, Fired: []string{"rule." + a.String()}, Reasons: []string{"looks like " + a.String()}}
}

// TestPolicyActions applies each action of DESIGN.md's table to a Create
// with an image and checks the stored result.
func TestPolicyActions(t *testing.T) {
	e := newEnv(t)
	media := `,"attachment":[{"type":"Document","mediaType":"image/png","url":"{{BASE}}/m/1.png"}]`
	for i, a := range []policy.Action{policy.Accept, policy.Delist, policy.StripMedia, policy.Sensitive, policy.CW,
		policy.FollowersOnly, policy.Report, policy.Reject} {
		rec := fired(a, 0)
		if a == policy.Accept {
			rec = policy.Record{}
		}
		e.push(e.remote.URI, create(fmt.Sprint(100+i), media), rec)
	}
	e.drain()
	get := func(i int) *data.Status { return e.status(fmt.Sprintf("{{BASE}}/users/rita/statuses/%d", 100+i)) }
	if st := get(0); st.Delisted || st.Sensitive || len(st.Media) != 1 || st.Visibility != data.Public {
		t.Errorf("accept: %+v", st)
	}
	if st := get(1); !st.Delisted || st.DecisionRuleIDs[0] != "rule.delist" {
		t.Errorf("delist: delisted %v, rules %v", st.Delisted, st.DecisionRuleIDs)
	}
	if st := get(2); len(st.Media) != 0 {
		t.Errorf("strip_media: %d attachments kept", len(st.Media))
	}
	if st := get(3); !st.Sensitive || st.SpoilerText != "" {
		t.Errorf("sensitive: %v %q", st.Sensitive, st.SpoilerText)
	}
	if st := get(4); st.SpoilerText != "Content warning: looks like cw" {
		t.Errorf("cw: spoiler %q", st.SpoilerText)
	}
	if st := get(5); st.Visibility != data.Private {
		t.Errorf("followers_only: visibility %s", st.Visibility)
	}
	if n := e.int(`SELECT count(*) FROM reports WHERE target_account_id = $1 AND account_id IS NULL AND rule_ids = '{rule.report}'
		AND status_ids = ARRAY[$2::bigint]`, e.remote.ID, get(6).ID); n != 1 {
		t.Errorf("report: %d automatic reports citing the rule and status, want 1", n)
	}
	if _, err := e.store.GetStatusByURI(e.ctx, e.peer.base+"/users/rita/statuses/107"); !errors.Is(err, data.NotFound) {
		t.Errorf("reject: the status was stored (%v)", err)
	}
	e.expectCount("Create", resultDropped, reasonPolicy, 1)

	// The automatic report is filed once however often the entry comes.
	e.push(e.remote.URI, create("106", media), fired(policy.Report, 0))
	e.drain()
	if n := e.int(`SELECT count(*) FROM reports`); n != 1 {
		t.Errorf("%d reports after a redelivery, want 1", n)
	}
}

func TestSilence(t *testing.T) {
	e := newEnv(t)
	e.push(e.remote.URI, create("1", ""), fired(policy.Silence, 0))
	e.drain()
	if st := e.status("{{BASE}}/users/rita/statuses/1"); !st.Delisted {
		t.Error("a silenced status is not delisted")
	}
	a, _ := e.store.GetAccount(e.ctx, e.remote.ID)
	if a.SilencedAt == nil {
		t.Fatal("the account was not silenced")
	}
	// Its notifications are filtered: alice does not follow rita.
	if n := e.int(`SELECT count(*) FROM notifications WHERE account_id = $1`, e.alice.ID); n != 0 {
		t.Errorf("%d notifications from a silenced account to a non-follower", n)
	}
	// Later posts, even accepted ones, stay delisted; its follows become requests.
	e.push(e.remote.URI, create("2", ""), policy.Record{})
	e.push(e.remote.URI, `{"id":"{{BASE}}/users/rita#follows/1","type":"Follow","actor":"{{BASE}}/users/rita","object":"https://here.example/users/alice"}`, policy.Record{})
	e.drain()
	if st := e.status("{{BASE}}/users/rita/statuses/2"); !st.Delisted {
		t.Error("a later status of the silenced account is public")
	}
	if n := e.int(`SELECT count(*) FROM follow_requests WHERE account_id = $1 AND target_account_id = $2`, e.remote.ID, e.alice.ID); n != 1 {
		t.Errorf("the silenced account's follow is not a request")
	}
	if len(e.sent.all()) != 0 {
		t.Error("a silenced account's follow was accepted")
	}
}

func TestQuarantine(t *testing.T) {
	e := newEnv(t)
	rec := fired(policy.Quarantine, policy.ModCW)
	e.push(e.remote.URI, create("1", ""), rec)
	e.push(e.remote.URI, create("2", ""), rec)
	e.drain()
	e.drain()
	if n := e.int(`SELECT count(*) FROM statuses WHERE account_id = $1`, e.remote.ID); n != 0 {
		t.Fatalf("%d quarantined statuses stored", n)
	}
	held, err := e.store.PendingQuarantine(e.ctx, data.Page{})
	if err != nil || len(held) != 2 {
		t.Fatalf("pending quarantine: %d, %v", len(held), err)
	}
	e.expectCount("Create", resultQuarantined, reasonPolicy, 2)
	byURI := map[string]int64{}
	for _, q := range held {
		if !strings.Contains(string(q.Raw), `"type":"Create"`) || len(q.Decision) == 0 || q.Reasons[0] != "rule.quarantine" {
			t.Errorf("held row %+v", q)
		}
		byURI[q.ActivityURI] = q.ID
	}
	// Redelivered: still one row each.
	e.push(e.remote.URI, create("1", ""), rec)
	e.drain()
	if n := e.int(`SELECT count(*) FROM quarantine`); n != 2 {
		t.Errorf("%d quarantine rows after a redelivery", n)
	}

	// Release: processed with the rest of the decision (the cw) applied.
	id1 := byURI[e.peer.base+"/users/rita/statuses/1/activity"]
	out, err := e.c.ReleaseQuarantined(e.ctx, id1, "account:mod")
	if err != nil || out.Result != resultStored {
		t.Fatalf("release: %+v, %v", out, err)
	}
	if st := e.status("{{BASE}}/users/rita/statuses/1"); st.SpoilerText == "" {
		t.Errorf("released status lost the cw modifier")
	}
	if _, err := e.c.ReleaseQuarantined(e.ctx, id1, "account:mod"); !errors.Is(err, data.Conflict) {
		t.Errorf("second release: %v, want Conflict", err)
	}
	// Reject: never stored.
	id2 := byURI[e.peer.base+"/users/rita/statuses/2/activity"]
	if err := e.c.RejectQuarantined(e.ctx, id2, "account:mod"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.store.GetStatusByURI(e.ctx, e.peer.base+"/users/rita/statuses/2"); !errors.Is(err, data.NotFound) {
		t.Errorf("rejected status stored: %v", err)
	}
	if err := e.c.RejectQuarantined(e.ctx, 12345, "account:mod"); !errors.Is(err, data.NotFound) {
		t.Errorf("reject of an unknown id: %v", err)
	}
	if n := e.int(`SELECT count(*) FROM audit_log WHERE action IN ('quarantine.release', 'quarantine.reject') AND actor = 'account:mod'`); n != 2 {
		t.Errorf("%d audit rows for the decisions, want 2", n)
	}
}

// TestSuspendedActor: an account suspended here is dropped whatever the
// decision said, as soon as the consumer's cache has expired.
func TestSuspendedActor(t *testing.T) {
	e := newEnv(t)
	now := time.Now()
	e.c.o.Now = func() time.Time { return now }
	e.push(e.remote.URI, create("1", ""), policy.Record{})
	e.drain()
	if _, err := e.store.SetSuspended(e.ctx, e.remote.ID, &now); err != nil {
		t.Fatal(err)
	}
	now = now.Add(cacheTTL + time.Second)
	e.push(e.remote.URI, create("2", ""), policy.Record{})
	e.drain()
	e.expectCount("Create", resultDropped, reasonSuspended, 1)
	if _, err := e.store.GetStatusByURI(e.ctx, e.peer.base+"/users/rita/statuses/2"); !errors.Is(err, data.NotFound) {
		t.Errorf("a suspended account's status was stored: %v", err)
	}
}

package relayactor

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/policy"
	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/store/pg"
)

func TestMastodonAndLitePubSubscribeAndReceiveFanOut(t *testing.T) {
	h := newHarness(t, nil)
	m := newPeer(t, "mastodon")
	m2 := newPeer(t, "mastodon")
	p := newPeer(t, "litepub")

	// Handshakes. Mastodon: the Accept goes to the follower's actor inbox
	// and names the Follow by id.
	mf := h.follow(m)
	m2f := h.follow(m2)
	pf := h.follow(p)
	for _, c := range []struct {
		p      *peer
		follow string
	}{{m, mf}, {m2, m2f}, {p, pf}} {
		waitFor(t, "the Accept to "+c.p.domain, func() bool { return len(c.p.received("Accept")) == 1 })
		acc := c.p.received("Accept")[0]
		if acc.Path != strings.TrimPrefix(c.p.actorID, c.p.base)+"/inbox" || acc.Object != c.follow || acc.Actor != testBase+"/actor" {
			t.Errorf("%s: Accept %+v; want to the actor inbox, object %s, actor the relay", c.p.domain, acc, c.follow)
		}
	}
	// LitePub: the relay follows back; the Accept of that is tracked.
	waitFor(t, "the follow-back", func() bool { return len(p.received("Follow")) == 1 })
	fb := p.received("Follow")[0]
	if fb.Object != p.actorID {
		t.Fatalf("follow-back %+v; want a Follow of %s", fb, p.actorID)
	}
	if len(m.received("Follow")) != 0 {
		t.Error("the relay followed back a Mastodon subscriber")
	}
	h.push(p.actorID, "Accept", fb.ID, policy.Accept, map[string]any{"object": map[string]any{"id": fb.ID, "type": "Follow", "actor": testBase + "/actor", "object": p.actorID}})
	waitFor(t, "the follow-back Accept recorded", func() bool { r, _ := h.row(p.domain); return r.FollowBackAccepted })
	waitFor(t, "software from NodeInfo", func() bool {
		a, _ := h.row(m.domain)
		b, _ := h.row(p.domain)
		return a.Software == "mastodon" && a.SoftwareVersion == "4.3.2" && b.Software == "akkoma"
	})
	row, _ := h.row(m.domain)
	if row.State != pg.RelayActive || row.Style != "mastodon" || row.Inbox != m.base+"/inbox" || row.SubscribedAt.IsZero() {
		t.Errorf("Mastodon subscriber row %+v", row)
	}

	// A public Create from m: an Announce to the others' shared inboxes,
	// never back to m.
	obj := h.post(m, 1, nil)
	for _, q := range []*peer{m2, p} {
		waitFor(t, "the Announce at "+q.domain, func() bool { return len(q.received("Announce")) == 1 })
		a := q.received("Announce")[0]
		var doc map[string]any
		json.Unmarshal([]byte(a.Body), &doc)
		if a.Path != "/inbox" || a.Object != obj || a.Actor != testBase+"/actor" || !strings.HasPrefix(a.ID, testBase+"/") ||
			doc["published"] == nil || fmt.Sprint(doc["to"]) != "["+testBase+"/actor/followers]" {
			t.Errorf("%s got Announce %s", q.domain, a.Body)
		}
	}
	// A LitePub relay's Announce is re-announced to the others.
	pobj := p.base + "/objects/9"
	// Pleroma's relay addresses its Announces to its followers.
	h.push(p.actorID, "Announce", pobj, policy.Accept, map[string]any{"object": pobj, "to": []string{p.actorID + "/followers"}})
	waitFor(t, "the re-announce", func() bool { return len(m.received("Announce")) == 1 && len(m2.received("Announce")) == 2 })
	if a := m.received("Announce")[0]; a.Object != pobj {
		t.Errorf("m got %+v, want an Announce of %s", a, pobj)
	}

	// The same post pushed again by another subscriber is not relayed twice.
	h.push(p.actorID, "Announce", obj, policy.Accept, map[string]any{"object": obj, "to": []string{activity.PublicCollection}})
	// Not relayed: followers-only, rejected or silenced by the policy, or
	// from an instance that is not subscribed.
	author := m.base + "/users/alice"
	h.push(author, "Create", author+"/statuses/2", policy.Accept, map[string]any{"object": map[string]any{"id": author + "/statuses/2", "type": "Note"}, "to": []string{author + "/followers"}})
	h.push(author, "Create", author+"/statuses/3", policy.Silence, map[string]any{"object": map[string]any{"id": author + "/statuses/3", "type": "Note"}, "to": []string{activity.PublicCollection}})
	h.push("https://stranger.example/users/x", "Create", "https://stranger.example/s/1", policy.Accept, map[string]any{"object": map[string]any{"id": "https://stranger.example/s/1", "type": "Note"}, "to": []string{activity.PublicCollection}})

	// Update and Delete are forwarded byte for byte.
	upd := h.push(author, "Update", obj, policy.Accept, map[string]any{"object": map[string]any{"id": obj, "type": "Note", "content": "edited"}, "to": []string{activity.PublicCollection}})
	del := h.push(author, "Delete", obj, policy.Accept, map[string]any{"object": map[string]any{"id": obj, "type": "Tombstone"}, "to": []string{activity.PublicCollection}})
	for _, q := range []*peer{m2, p} {
		waitFor(t, "Update and Delete at "+q.domain, func() bool { return len(q.received("Update")) == 1 && len(q.received("Delete")) == 1 })
		if u := q.received("Update")[0]; u.ID != upd || u.Actor != author {
			t.Errorf("%s got Update %+v, want %s verbatim", q.domain, u, upd)
		}
		if d := q.received("Delete")[0]; d.ID != del {
			t.Errorf("%s got Delete %+v, want %s verbatim", q.domain, d, del)
		}
	}
	if n := len(m.received("Update")) + len(m.received("Delete")); n != 0 {
		t.Errorf("the origin got %d of its own Update/Delete back", n)
	}
	// Everything queued before the Update was handled before it (one
	// consumer, in order): the counts are final.
	if n := len(m2.received("Announce")); n != 2 {
		t.Errorf("m2 got %d Announces, want 2 (the duplicate and the unrelayable posts were sent)", n)
	}

	// Unsubscribe: Undo of the Follow.
	h.push(m2.actorID, "Undo", m2f, policy.Accept, map[string]any{"object": map[string]any{"id": m2f, "type": "Follow", "actor": m2.actorID, "object": activity.PublicCollection}})
	waitFor(t, "m2 unsubscribed", func() bool { _, ok := h.row(m2.domain); return !ok })
	h.post(p, 50, nil)
	waitFor(t, "the post after the Undo at m", func() bool { return len(m.received("Announce")) == 2 })
	if n := len(m2.received("Announce")); n != 2 {
		t.Errorf("m2 got %d Announces after unsubscribing, want still 2", n)
	}
	for _, q := range []*peer{m, m2, p} {
		q.check()
	}
}

func TestApprovalModeKeepsRequestsPendingUntilApproved(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Mode = ModeApproval })
	a, b := newPeer(t, "mastodon"), newPeer(t, "litepub")
	fa := h.follow(a)
	h.follow(b)
	waitFor(t, "both pending", func() bool {
		ra, _ := h.row(a.domain)
		rb, _ := h.row(b.domain)
		return ra.State == pg.RelayPending && rb.State == pg.RelayPending
	})
	time.Sleep(100 * time.Millisecond) // an Accept sent by mistake would have arrived
	if n := len(a.received("Accept")) + len(b.received("Accept")); n != 0 {
		t.Fatalf("%d Accepts sent before approval", n)
	}
	// A pending instance's posts are not relayed.
	if err := h.r.Approve(t.Context(), a.domain); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Accept after approval", func() bool { return len(a.received("Accept")) == 1 })
	if acc := a.received("Accept")[0]; acc.Object != fa {
		t.Errorf("Accept of %s, want %s", acc.Object, fa)
	}
	if err := h.r.Reject(t.Context(), b.domain); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Reject", func() bool { return len(b.received("Reject")) == 1 })
	if _, ok := h.row(b.domain); ok {
		t.Error("a rejected request is still listed")
	}
	if len(b.received("Follow")) != 0 {
		t.Error("the relay followed back a rejected LitePub relay")
	}
	// The status page lists the approved instance only.
	mux := http.NewServeMux()
	h.r.Routes(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/relay/subscribers.json", nil))
	var st struct {
		Count       int                `json:"count"`
		Subscribers []PublicSubscriber `json:"subscribers"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &st); err != nil || st.Count != 1 || st.Subscribers[0].Domain != a.domain {
		t.Errorf("status JSON %s (%v)", rec.Body, err)
	}
	rec = httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/relay", nil))
	if page := rec.Body.String(); rec.Code != 200 || !strings.Contains(page, "<td>"+a.domain+"</td>") || strings.Contains(page, b.domain) ||
		!strings.Contains(page, "1 subscribed instance<") || !strings.Contains(page, testBase+"/inbox") {
		t.Errorf("status page: %d\n%s", rec.Code, page)
	}
	a.check()
	b.check()
}

func TestAPersonFollowingTheRelayActorIsNotSubscribed(t *testing.T) {
	h := newHarness(t, nil)
	p := newPeer(t, "litepub")
	p.actorType = "Person"
	h.follow(p)
	waitFor(t, "the Reject", func() bool { return len(p.received("Reject")) == 1 })
	if _, ok := h.row(p.domain); ok || len(p.received("Accept")) != 0 || len(p.received("Follow")) != 0 {
		t.Error("a Person following the relay actor was subscribed (or followed back)")
	}
	p.check()
}

func TestAllowlistModeAndBlocks(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Mode = ModeAllowlist })
	a, b := newPeer(t, "mastodon"), newPeer(t, "mastodon")
	if err := h.r.Approve(t.Context(), a.domain); err != nil { // pre-allowed
		t.Fatal(err)
	}
	h.follow(a)
	h.follow(b)
	waitFor(t, "a accepted, b rejected", func() bool { return len(a.received("Accept")) == 1 && len(b.received("Reject")) == 1 })
	if _, ok := h.row(b.domain); ok {
		t.Error("an instance not on the allowlist got a row")
	}
	// Blocking a subscriber tells it (Reject) and refuses its next Follow.
	if err := h.r.Block(t.Context(), a.domain, "spam"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the Reject of the blocked subscriber", func() bool { return len(a.received("Reject")) == 1 })
	h.follow(a)
	waitFor(t, "the blocked instance's new Follow rejected", func() bool { return len(a.received("Reject")) == 2 })
	if r, _ := h.row(a.domain); r.State != pg.RelayBlocked || r.Note != "spam" {
		t.Errorf("blocked row %+v", r)
	}
	if len(a.received("Accept")) != 1 {
		t.Error("a blocked instance was accepted")
	}
	a.check()
	b.check()
}

func TestPolicyRefusedInstanceIsRefusedAndRemoved(t *testing.T) {
	// On loopback every peer's host name is 127.0.0.1, so the gate here
	// refuses all of them once the "suspension" is on.
	var suspended atomic.Bool
	h := newHarness(t, func(o *Options) {
		o.Allowed = func(string) bool { return !suspended.Load() }
	})
	a := newPeer(t, "mastodon")
	h.follow(a)
	waitFor(t, "subscribed", func() bool { return len(a.received("Accept")) == 1 })
	suspended.Store(true)
	h.r.Maintain(t.Context())
	if _, ok := h.row(a.domain); ok {
		t.Fatal("a subscriber the policy refuses was not removed")
	}
	// Its next Follow is refused: no row, no Accept.
	h.follow(a)
	time.Sleep(100 * time.Millisecond)
	waitFor(t, "the Follow handled", func() bool {
		st := h.q.Stats(time.Now())
		return len(st.Groups) == 1 && st.Groups[0].Lag == 0
	})
	if _, ok := h.row(a.domain); ok || len(a.received("Accept")) != 1 {
		t.Fatal("a refused instance subscribed again")
	}
}

func TestSubscriberDownThenBackLosesNothing(t *testing.T) {
	h := newHarness(t, nil)
	src, slow := newPeer(t, "mastodon"), newPeer(t, "litepub")
	h.follow(src)
	h.follow(slow)
	waitFor(t, "subscribed", func() bool { return len(slow.received("Accept")) == 1 && len(src.received("Accept")) == 1 })
	slow.down.Store(true)
	const posts = 30
	want := map[string]bool{}
	for i := range posts {
		want[h.post(src, 100+i, nil)] = true
	}
	waitFor(t, "failures recorded", func() bool {
		h.r.Maintain(t.Context())
		r, _ := h.row(slow.domain)
		return r.ConsecutiveFailures >= 5 && !r.FailingSince.IsZero()
	})
	slow.down.Store(false)
	waitFor(t, "every post after the outage", func() bool { return len(slow.received("Announce")) >= posts })
	got := map[string]bool{}
	for _, a := range slow.received("Announce") {
		got[a.Object] = true
	}
	for o := range want {
		if !got[o] {
			t.Errorf("lost %s", o)
		}
	}
	waitFor(t, "the recovery recorded", func() bool {
		h.r.Maintain(t.Context())
		r, _ := h.row(slow.domain)
		return r.ConsecutiveFailures == 0 && r.FailingSince.IsZero() && r.DeliveriesSent >= posts && !r.LastFailure.IsZero()
	})
	slow.check()
}

func TestDeadSubscriberIsRemovedAfterRemoveAfter(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.RemoveAfter = 200 * time.Millisecond })
	src, dead := newPeer(t, "mastodon"), newPeer(t, "mastodon")
	h.follow(src)
	h.follow(dead)
	waitFor(t, "subscribed", func() bool { return len(dead.received("Accept")) == 1 && len(src.received("Accept")) == 1 })
	dead.down.Store(true)
	h.post(src, 1, nil)
	waitFor(t, "the dead subscriber removed", func() bool {
		h.r.Maintain(t.Context())
		_, ok := h.row(dead.domain)
		return !ok
	})
	// Its queued fan-out goes with it instead of being retried for days.
	h.post(src, 2, nil) // relayed to no one new: dead is gone
	waitFor(t, "the dead host's deliveries dropped", func() bool {
		return h.jobs.PendingByHost()[dead.domain] == 0
	})
	if _, ok := h.row(src.domain); !ok {
		t.Error("the healthy subscriber was removed too")
	}
}

func TestFiltersAndDirections(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.Languages = []string{"en"}; o.Hashtags = []string{"#Fediverse"} })
	src, dst, ro := newPeer(t, "mastodon"), newPeer(t, "mastodon"), newPeer(t, "mastodon")
	for _, q := range []*peer{src, dst, ro} {
		h.follow(q)
	}
	waitFor(t, "subscribed", func() bool {
		return len(src.received("Accept"))+len(dst.received("Accept"))+len(ro.received("Accept")) == 3
	})
	if err := h.r.SetDirection(t.Context(), ro.domain, DirReceiveOnly); err != nil {
		t.Fatal(err)
	}
	tag := []map[string]string{{"type": "Hashtag", "name": "#fediverse"}}
	h.post(src, 1, map[string]any{"contentMap": map[string]string{"de": "x"}, "tag": tag})         // wrong language
	h.post(src, 2, map[string]any{"contentMap": map[string]string{"en-GB": "x"}})                  // no hashtag
	want := h.post(src, 3, map[string]any{"contentMap": map[string]string{"en": "x"}, "tag": tag}) // both
	h.post(ro, 4, map[string]any{"contentMap": map[string]string{"en": "x"}, "tag": tag})          // receive-only sender
	waitFor(t, "the matching post", func() bool { return len(dst.received("Announce")) >= 1 })
	h.post(src, 5, map[string]any{"contentMap": map[string]string{"en": "x"}, "tag": tag})
	waitFor(t, "the last post at both receivers", func() bool { return len(dst.received("Announce")) >= 2 && len(ro.received("Announce")) >= 2 })
	got := dst.received("Announce")
	if len(got) != 2 || got[0].Object != want {
		t.Errorf("dst got %+v; want only the posts in English tagged #fediverse from a pushing subscriber", got)
	}
	if n := len(ro.received("Announce")); n != 2 {
		t.Errorf("the receive-only subscriber got %d Announces, want 2", n)
	}
}

func TestActorDocument(t *testing.T) {
	h := newHarness(t, nil)
	mux := http.NewServeMux()
	h.r.Routes(mux)
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/actor", nil))
	var a struct {
		ID, Type, PreferredUsername, Inbox, Outbox, Followers, Following string
		Endpoints                                                        struct{ SharedInbox string }
		PublicKey                                                        struct{ ID, Owner, PublicKeyPem string }
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &a); err != nil {
		t.Fatal(err)
	}
	rk, _ := keys()
	if a.ID != testBase+"/actor" || a.Type != "Application" || a.PreferredUsername != "relay" || a.Inbox != testBase+"/inbox" ||
		a.Endpoints.SharedInbox != testBase+"/inbox" || a.Outbox != testBase+"/actor/outbox" || a.Followers != testBase+"/actor/followers" ||
		a.Following != testBase+"/actor/following" || a.PublicKey.ID != testBase+"/actor#main-key" || a.PublicKey.PublicKeyPem != pubPEM(rk) {
		t.Errorf("actor document %s", rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/activity+json") {
		t.Errorf("Content-Type %q", ct)
	}
	for _, path := range []string{"/actor/followers", "/actor/following", "/actor/outbox"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != 200 || !strings.Contains(rec.Body.String(), `"OrderedCollection"`) {
			t.Errorf("%s: %d %s", path, rec.Code, rec.Body)
		}
	}
}

func TestStatusPageCanBeTurnedOff(t *testing.T) {
	h := newHarness(t, func(o *Options) { o.StatusPage = false })
	mux := http.NewServeMux()
	h.r.Routes(mux)
	for _, path := range []string{"/relay", "/relay/subscribers.json"} {
		rec := httptest.NewRecorder()
		mux.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != http.StatusNotFound {
			t.Errorf("%s with the status page off: %d, want 404", path, rec.Code)
		}
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest("GET", "/actor", nil))
	if rec.Code != 200 {
		t.Errorf("/actor: %d; the actor is served whatever the status page", rec.Code)
	}
}

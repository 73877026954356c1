package social_test

import (
	"context"
	"crypto"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/social"
	"github.com/palisade-fedi/palisade/instance/social/socialtest"
	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const base = "http://palisade.test"

type fixture struct {
	t    *testing.T
	ctx  context.Context
	st   *data.Store
	svc  *social.Service
	sink *socialtest.Sink
	// alice and erin are local; bob and carol remote on one server with a
	// shared inbox, dave remote without one.
	alice, erin       *data.Account
	bob, carol, dave  *data.Account
	instanceActorKeys map[string]crypto.PublicKey
}

func newFixture(t *testing.T, deliverer social.Deliverer) *fixture {
	t.Helper()
	ctx := context.Background()
	st := data.New(pgtest.New(t).Pool())
	f := &fixture{t: t, ctx: ctx, st: st}
	ipriv, ipub := socialtest.KeyPair(t)
	ipubKey, err := socialtest.ParsePublicPEM(ipub)
	if err != nil {
		t.Fatal(err)
	}
	iprivKey := socialtest.ParsePrivatePEM(t, ipriv)
	f.instanceActorKeys = map[string]crypto.PublicKey{base + "/actor#main-key": ipubKey}
	f.sink = socialtest.NewSink(t, socialtest.StoreKeys(st, f.instanceActorKeys))
	if deliverer == nil {
		deliverer = socialtest.Engine(t, func(actor string) (string, crypto.PrivateKey, error) {
			if actor == base+"/actor" {
				return actor + "#main-key", iprivKey, nil
			}
			return f.svc.SigningKey(actor)
		})
	}
	f.svc, err = social.New(social.Options{Store: st, BaseURL: base, Delivery: deliverer, Logger: socialtest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	f.alice = socialtest.LocalAccount(t, st, base, "alice", false)
	f.erin = socialtest.LocalAccount(t, st, base, "erin", true)
	f.bob, _ = socialtest.RemoteAccount(t, st, f.sink, "remote.example", "bob", false)
	f.carol, _ = socialtest.RemoteAccount(t, st, f.sink, "remote.example", "carol", false)
	f.dave, _ = socialtest.RemoteAccount(t, st, f.sink, "other.example", "dave", true)
	return f
}

// follow makes remote (or local) account a follow b directly in the store,
// as the inbound consumer would after an accepted Follow.
func (f *fixture) follow(a, b *data.Account) {
	f.t.Helper()
	if _, err := f.st.CreateFollow(f.ctx, &data.Follow{AccountID: a.ID, TargetAccountID: b.ID, URI: a.URI + "/follows/" + b.Username}); err != nil {
		f.t.Fatal(err)
	}
}

func obj(d map[string]any) map[string]any {
	o, _ := d["object"].(map[string]any)
	return o
}

func strs(v any) []string {
	l, _ := v.([]any)
	var out []string
	for _, x := range l {
		s, _ := x.(string)
		out = append(out, s)
	}
	return out
}

func TestPostStatusDeliversOncePerSharedInbox(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.follow(f.bob, f.alice)
	f.follow(f.carol, f.alice)
	f.follow(f.dave, f.alice)
	f.follow(f.erin, f.alice) // local: no HTTP delivery

	st, err := f.svc.PostStatus(f.ctx, f.alice.ID, social.PostParams{
		Text: "hello @bob@remote.example and @erin, see #Palisade", Language: "en",
	})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(st.Content, `href="`+f.bob.URI+`"`) || len(st.Tags) != 1 || st.Tags[0] != "palisade" {
		t.Errorf("stored content %q tags %v: want bob linked and tag palisade", st.Content, st.Tags)
	}
	if len(st.Mentions) != 2 {
		t.Errorf("mentions %v, want bob and erin", st.Mentions)
	}
	// bob and carol share one inbox; dave has only his own.
	got := f.sink.Wait(2)
	paths := []string{got[0].Path, got[1].Path}
	slices.Sort(paths)
	if want := []string{"/inbox", "/users/dave/inbox"}; !slices.Equal(paths, want) {
		t.Fatalf("delivered to %v, want %v", paths, want)
	}
	for _, d := range got {
		if d.KeyID != f.alice.KeyID {
			t.Errorf("signed with %s, want alice's key", d.KeyID)
		}
		if d.Doc["type"] != "Create" || d.Doc["actor"] != f.alice.URI || d.Doc["id"] != st.URI+"/activity" {
			t.Errorf("activity %s", d.Body)
		}
		n := obj(d.Doc)
		if n["type"] != "Note" || n["id"] != st.URI || n["attributedTo"] != f.alice.URI {
			t.Errorf("object %v", n)
		}
		if to := strs(n["to"]); !slices.Equal(to, []string{activity.PublicCollection}) {
			t.Errorf("to %v, want Public", to)
		}
		if cc := strs(n["cc"]); !slices.Contains(cc, f.alice.FollowersURL) || !slices.Contains(cc, f.bob.URI) || !slices.Contains(cc, f.erin.URI) {
			t.Errorf("cc %v, want followers, bob and erin", cc)
		}
		if cm, _ := n["contentMap"].(map[string]any); cm["en"] == nil {
			t.Errorf("no contentMap.en in %v", n)
		}
	}
	// erin was notified locally.
	ns, err := f.st.Notifications(f.ctx, f.erin.ID, []string{data.NotifyMention}, data.Page{})
	if err != nil || len(ns) != 1 {
		t.Errorf("erin's mention notifications: %v %v", ns, err)
	}
}

func TestDirectReachesOnlyMentioned(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.follow(f.carol, f.alice)
	f.follow(f.dave, f.alice)
	st, err := f.svc.PostStatus(f.ctx, f.alice.ID, social.PostParams{Text: "psst @dave@other.example", Visibility: data.Direct})
	if err != nil {
		t.Fatal(err)
	}
	got := f.sink.Wait(1)
	if got[0].Path != "/users/dave/inbox" {
		t.Errorf("delivered to %s, want only dave's inbox", got[0].Path)
	}
	n := obj(got[0].Doc)
	if to, cc := strs(n["to"]), strs(n["cc"]); !slices.Equal(to, []string{f.dave.URI}) || len(cc) != 0 {
		t.Errorf("direct addressed to %v cc %v", to, cc)
	}
	if st.Visibility != data.Direct {
		t.Errorf("visibility %s", st.Visibility)
	}
}

func TestReplyEditDelete(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	parent := &data.Status{URI: f.dave.URI + "/statuses/1", AccountID: f.dave.ID, Content: "<p>hi</p>",
		Visibility: data.Public, CreatedAt: time.Now().Add(-time.Hour)}
	if _, err := f.st.InsertStatus(f.ctx, parent); err != nil {
		t.Fatal(err)
	}
	f.follow(f.bob, f.alice)
	reply, err := f.svc.PostStatus(f.ctx, f.alice.ID, social.PostParams{Text: "a reply", InReplyToID: parent.ID, Visibility: data.Unlisted})
	if err != nil {
		t.Fatal(err)
	}
	got := f.sink.Wait(2) // bob's shared inbox, and dave as the replied-to author
	for _, d := range got {
		n := obj(d.Doc)
		if n["inReplyTo"] != parent.URI {
			t.Errorf("inReplyTo %v", n["inReplyTo"])
		}
		if to, cc := strs(n["to"]), strs(n["cc"]); !slices.Equal(to, []string{f.alice.FollowersURL}) ||
			!slices.Contains(cc, activity.PublicCollection) || !slices.Contains(cc, f.dave.URI) {
			t.Errorf("unlisted reply addressed to %v cc %v", to, cc)
		}
	}

	if _, err := f.svc.EditStatus(f.ctx, f.erin.ID, reply.ID, social.EditParams{Text: "hijack"}); !errors.Is(err, data.Forbidden) {
		t.Errorf("editing another's status: %v, want Forbidden", err)
	}
	time.Sleep(2 * time.Millisecond) // an edit must be newer than the post
	edited, err := f.svc.EditStatus(f.ctx, f.alice.ID, reply.ID, social.EditParams{Text: "a better reply"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(edited.Content, "a better reply") || edited.EditedAt == nil {
		t.Errorf("edited row %+v", edited)
	}
	for _, d := range f.sink.Wait(2) {
		n := obj(d.Doc)
		if d.Doc["type"] != "Update" || n["id"] != reply.URI || n["updated"] == nil || !strings.Contains(n["content"].(string), "better") {
			t.Errorf("update %s", d.Body)
		}
	}

	if _, err := f.svc.DeleteStatus(f.ctx, f.alice.ID, reply.ID); err != nil {
		t.Fatal(err)
	}
	for _, d := range f.sink.Wait(2) {
		if d.Doc["type"] != "Delete" || obj(d.Doc)["type"] != "Tombstone" || obj(d.Doc)["id"] != reply.URI {
			t.Errorf("delete %s", d.Body)
		}
	}
	if _, err := f.svc.DeleteStatus(f.ctx, f.alice.ID, reply.ID); !errors.Is(err, data.NotFound) {
		t.Errorf("second delete: %v, want NotFound", err)
	}
}

func TestInteractions(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	remote := &data.Status{URI: f.dave.URI + "/statuses/9", AccountID: f.dave.ID, Content: "<p>boost me</p>",
		Visibility: data.Public, CreatedAt: time.Now().Add(-time.Minute)}
	if _, err := f.st.InsertStatus(f.ctx, remote); err != nil {
		t.Fatal(err)
	}
	f.follow(f.bob, f.alice)

	// Favourite: a Like to dave's own inbox; twice changes nothing.
	if err := f.svc.Favourite(f.ctx, f.alice.ID, remote.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Favourite(f.ctx, f.alice.ID, remote.ID); err != nil {
		t.Fatal(err)
	}
	like := f.sink.Wait(1)[0]
	if like.Path != "/users/dave/inbox" || like.Doc["type"] != "Like" || like.Doc["object"] != remote.URI {
		t.Errorf("like %s to %s", like.Body, like.Path)
	}
	if err := f.svc.Unfavourite(f.ctx, f.alice.ID, remote.ID); err != nil {
		t.Fatal(err)
	}
	undo := f.sink.Wait(1)[0]
	if undo.Doc["type"] != "Undo" || obj(undo.Doc)["id"] != like.Doc["id"] || obj(undo.Doc)["type"] != "Like" {
		t.Errorf("undo like %s", undo.Body)
	}

	// Reblog: Announce to alice's followers and dave.
	b, err := f.svc.Reblog(f.ctx, f.alice.ID, remote.ID)
	if err != nil {
		t.Fatal(err)
	}
	got := f.sink.Wait(2)
	for _, d := range got {
		if d.Doc["type"] != "Announce" || d.Doc["object"] != remote.URI || d.Doc["id"] != b.URI {
			t.Errorf("announce %s", d.Body)
		}
		if cc := strs(d.Doc["cc"]); !slices.Contains(cc, f.dave.URI) || !slices.Contains(cc, f.alice.FollowersURL) {
			t.Errorf("announce cc %v", cc)
		}
	}
	again, err := f.svc.Reblog(f.ctx, f.alice.ID, remote.ID)
	if err != nil || again.ID != b.ID {
		t.Errorf("second reblog: %v %v, want the same boost", again, err)
	}
	if err := f.svc.Unreblog(f.ctx, f.alice.ID, remote.ID); err != nil {
		t.Fatal(err)
	}
	for _, d := range f.sink.Wait(2) {
		if d.Doc["type"] != "Undo" || obj(d.Doc)["type"] != "Announce" || obj(d.Doc)["id"] != b.URI {
			t.Errorf("undo announce %s", d.Body)
		}
	}

	// Private statuses cannot be boosted.
	priv := &data.Status{URI: f.dave.URI + "/statuses/10", AccountID: f.dave.ID, Visibility: data.Private, CreatedAt: time.Now()}
	if _, err := f.st.InsertStatus(f.ctx, priv); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.Reblog(f.ctx, f.alice.ID, priv.ID); !errors.Is(err, data.NotFound) && !errors.Is(err, data.Forbidden) {
		t.Errorf("boosting a private status: %v", err)
	}
}

func TestFollowsAndBlocks(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	// A remote follow stays a request until the peer's Accept.
	pending, err := f.svc.Follow(f.ctx, f.alice.ID, f.dave.ID)
	if err != nil || !pending {
		t.Fatalf("follow dave: pending %v err %v", pending, err)
	}
	fol := f.sink.Wait(1)[0]
	if fol.Path != "/users/dave/inbox" || fol.Doc["type"] != "Follow" || fol.Doc["object"] != f.dave.URI || fol.Doc["actor"] != f.alice.URI {
		t.Errorf("follow %s to %s", fol.Body, fol.Path)
	}
	if _, err := f.st.GetFollowRequest(f.ctx, f.alice.ID, f.dave.ID); err != nil {
		t.Errorf("no follow request stored: %v", err)
	}
	if err := f.svc.Unfollow(f.ctx, f.alice.ID, f.dave.ID); err != nil {
		t.Fatal(err)
	}
	u := f.sink.Wait(1)[0]
	if u.Doc["type"] != "Undo" || obj(u.Doc)["id"] != fol.Doc["id"] {
		t.Errorf("undo follow %s", u.Body)
	}

	// Local → local: no federation; a locked target gets a request.
	pending, err = f.svc.Follow(f.ctx, f.alice.ID, f.erin.ID)
	if err != nil || !pending {
		t.Fatalf("follow locked erin: %v %v", pending, err)
	}
	if err := f.svc.AuthorizeFollowRequest(f.ctx, f.erin.ID, f.alice.ID); err != nil {
		t.Fatal(err)
	}
	if ok, _ := f.st.Follows(f.ctx, f.alice.ID, f.erin.ID); !ok {
		t.Error("alice does not follow erin after approval")
	}

	// A remote request to erin: Accept and Reject reach the requester.
	for _, r := range []*data.Account{f.bob, f.dave} {
		if _, err := f.st.CreateFollowRequest(f.ctx, &data.Follow{AccountID: r.ID, TargetAccountID: f.erin.ID, URI: r.URI + "/follows/erin"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.svc.AuthorizeFollowRequest(f.ctx, f.erin.ID, f.bob.ID); err != nil {
		t.Fatal(err)
	}
	acc := f.sink.Wait(1)[0]
	if acc.Path != "/users/bob/inbox" || acc.Doc["type"] != "Accept" || obj(acc.Doc)["id"] != f.bob.URI+"/follows/erin" ||
		obj(acc.Doc)["actor"] != f.bob.URI || obj(acc.Doc)["object"] != f.erin.URI {
		t.Errorf("accept %s to %s", acc.Body, acc.Path)
	}
	if err := f.svc.RejectFollowRequest(f.ctx, f.erin.ID, f.dave.ID); err != nil {
		t.Fatal(err)
	}
	rej := f.sink.Wait(1)[0]
	if rej.Doc["type"] != "Reject" || obj(rej.Doc)["id"] != f.dave.URI+"/follows/erin" {
		t.Errorf("reject %s", rej.Body)
	}
	if err := f.svc.RejectFollowRequest(f.ctx, f.erin.ID, f.dave.ID); !errors.Is(err, data.NotFound) {
		t.Errorf("second reject: %v, want NotFound", err)
	}

	// Block ends follows both ways and reaches the target.
	if err := f.svc.Block(f.ctx, f.erin.ID, f.bob.ID); err != nil {
		t.Fatal(err)
	}
	blk := f.sink.Wait(1)[0]
	if blk.Doc["type"] != "Block" || blk.Doc["object"] != f.bob.URI || blk.KeyID != f.erin.KeyID {
		t.Errorf("block %s", blk.Body)
	}
	if ok, _ := f.st.Follows(f.ctx, f.bob.ID, f.erin.ID); ok {
		t.Error("bob still follows erin after the block")
	}
	if _, err := f.svc.Follow(f.ctx, f.erin.ID, f.bob.ID); !errors.Is(err, data.Forbidden) {
		t.Errorf("following a blocked account: %v, want Forbidden", err)
	}
	if err := f.svc.Unblock(f.ctx, f.erin.ID, f.bob.ID); err != nil {
		t.Fatal(err)
	}
	if ub := f.sink.Wait(1)[0]; ub.Doc["type"] != "Undo" || obj(ub.Doc)["type"] != "Block" {
		t.Errorf("undo block %s", ub.Body)
	}
}

func TestReportAndProfile(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	bad := &data.Status{URI: f.dave.URI + "/statuses/66", AccountID: f.dave.ID, Visibility: data.Public, CreatedAt: time.Now()}
	if _, err := f.st.InsertStatus(f.ctx, bad); err != nil {
		t.Fatal(err)
	}
	r, err := f.svc.Report(f.ctx, f.alice.ID, social.ReportParams{TargetAccountID: f.dave.ID, StatusIDs: []int64{bad.ID},
		Comment: "spam", Category: data.ReportSpam, Forward: true})
	if err != nil {
		t.Fatal(err)
	}
	flag := f.sink.Wait(1)[0]
	if flag.KeyID != base+"/actor#main-key" || flag.Doc["actor"] != base+"/actor" || flag.Doc["type"] != "Flag" {
		t.Errorf("flag not sent as the instance actor: %s (key %s)", flag.Body, flag.KeyID)
	}
	if objs := strs(flag.Doc["object"]); !slices.Equal(objs, []string{f.dave.URI, bad.URI}) || flag.Doc["content"] != "spam" {
		t.Errorf("flag objects %v", flag.Doc["object"])
	}
	if strings.Contains(string(flag.Body), f.alice.URI) {
		t.Error("the forwarded report names the reporter")
	}
	if !r.Forwarded || r.AccountID != f.alice.ID {
		t.Errorf("report row %+v", r)
	}
	if _, err := f.svc.Report(f.ctx, f.alice.ID, social.ReportParams{TargetAccountID: f.bob.ID, StatusIDs: []int64{bad.ID}}); !errors.Is(err, data.Invalid) {
		t.Errorf("report citing another's status: %v, want Invalid", err)
	}

	f.follow(f.carol, f.alice)
	name, note := "Alice <b>A</b>", "I write <code> & #things"
	fields := []data.Field{{Name: "site", Value: "https://alice.example"}}
	a, err := f.svc.UpdateProfile(f.ctx, f.alice.ID, social.ProfileParams{DisplayName: &name, Note: &note, Fields: &fields})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(a.Note, "<code>") || !strings.Contains(a.Note, "&lt;code&gt;") {
		t.Errorf("note not escaped: %q", a.Note)
	}
	up := f.sink.Wait(1)[0]
	p := obj(up.Doc)
	if up.Doc["type"] != "Update" || p["type"] != "Person" || p["name"] != name || p["publicKey"] == nil {
		t.Errorf("profile update %s", up.Body)
	}
}

// failing is a Deliverer that is down: the outbox must keep the intent.
type failing struct{}

func (failing) Enqueue([]byte, string, []string) error { return errors.New("delivery engine down") }

func TestOutboxSurvivesFailedHandOff(t *testing.T) {
	t.Parallel()
	f := newFixture(t, failing{})
	f.follow(f.bob, f.alice)
	if _, err := f.svc.PostStatus(f.ctx, f.alice.ID, social.PostParams{Text: "kept"}); err != nil {
		t.Fatal(err)
	}
	// A node restarting with a working engine picks the entry up.
	eng := socialtest.Engine(t, f.svc.SigningKey)
	svc2, err := social.New(social.Options{Store: f.st, BaseURL: base, Delivery: eng, RedeliverAfter: time.Nanosecond, Logger: socialtest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	n, err := svc2.Redeliver(f.ctx)
	if err != nil || n != 1 {
		t.Fatalf("redelivered %d, %v; want 1", n, err)
	}
	if d := f.sink.Wait(1)[0]; d.Doc["type"] != "Create" || !strings.Contains(string(d.Body), "kept") {
		t.Errorf("redelivered %s", d.Body)
	}
	if n, err := svc2.Redeliver(f.ctx); n != 0 || err != nil {
		t.Errorf("second sweep handed over %d (%v), want 0", n, err)
	}
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	cases := []struct {
		name string
		p    social.PostParams
		kind data.Kind
	}{
		{"empty", social.PostParams{Text: "  "}, data.Invalid},
		{"too long", social.PostParams{Text: strings.Repeat("é", social.MaxChars+1)}, data.Invalid},
		{"bad visibility", social.PostParams{Text: "x", Visibility: "friends"}, data.Invalid},
		{"missing parent", social.PostParams{Text: "x", InReplyToID: 12345}, data.NotFound},
	}
	for _, c := range cases {
		if _, err := f.svc.PostStatus(f.ctx, f.alice.ID, c.p); !errors.Is(err, c.kind) {
			t.Errorf("%s: %v, want %v", c.name, err, c.kind)
		}
	}
	if _, err := f.svc.PostStatus(f.ctx, f.bob.ID, social.PostParams{Text: "I am remote"}); !errors.Is(err, data.Forbidden) {
		t.Errorf("posting as a remote account: %v, want Forbidden", err)
	}
	if _, err := f.st.SetSuspended(f.ctx, f.alice.ID, ptr(time.Now())); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PostStatus(f.ctx, f.alice.ID, social.PostParams{Text: "x"}); !errors.Is(err, data.Forbidden) {
		t.Errorf("posting while suspended: %v, want Forbidden", err)
	}
	f.sink.Wait(0)
}

func ptr[T any](v T) *T { return &v }

func TestMediaAttachments(t *testing.T) {
	t.Parallel()
	f := newFixture(t, nil)
	f.follow(f.dave, f.alice)
	m := &data.MediaAttachment{AccountID: f.alice.ID, Type: "image", FilePath: "ab/cd.png", ContentType: "image/png",
		Description: "a cat", Blurhash: "LKO2?U%2Tw=w", FocusX: 0.5, Meta: []byte(`{"original":{"width":640,"height":480}}`)}
	if err := f.st.InsertMedia(f.ctx, m); err != nil {
		t.Fatal(err)
	}
	other := &data.MediaAttachment{AccountID: f.erin.ID, Type: "image", FilePath: "x.png"}
	if err := f.st.InsertMedia(f.ctx, other); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.PostStatus(f.ctx, f.alice.ID, social.PostParams{Text: "stolen", MediaIDs: []int64{other.ID}}); !errors.Is(err, data.Invalid) {
		t.Errorf("attaching another account's upload: %v, want Invalid", err)
	}
	st, err := f.svc.PostStatus(f.ctx, f.alice.ID, social.PostParams{MediaIDs: []int64{m.ID}, Sensitive: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Media) != 1 || st.Media[0].StatusID != st.ID {
		t.Errorf("stored media %+v", st.Media)
	}
	d := f.sink.Wait(1)[0]
	n := obj(d.Doc)
	att, _ := n["attachment"].([]any)
	if len(att) != 1 || n["sensitive"] != true {
		t.Fatalf("note %s", d.Body)
	}
	a := att[0].(map[string]any)
	if a["url"] != base+"/media/ab/cd.png" || a["mediaType"] != "image/png" || a["name"] != "a cat" || a["width"] != 640.0 ||
		a["blurhash"] != m.Blurhash || a["focalPoint"] == nil {
		t.Errorf("attachment %v", a)
	}
}

package activity

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func loadModel(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "model", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func eq[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Errorf("%s = %#v, want %#v", what, got, want)
	}
}

func ts(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		panic(err)
	}
	return t.UTC()
}

func mustActivity(t *testing.T, name string) *Activity {
	t.Helper()
	a, err := DecodeActivity(loadModel(t, name))
	if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return a
}

func TestDecodeMastodonCreateNote(t *testing.T) {
	a := mustActivity(t, "mastodon-create-note.json")
	eq(t, "Type", a.Type, "Create")
	eq(t, "Actor", a.Actor, "https://mastodon.example/users/alice")
	eq(t, "Published", a.Published, ts("2024-03-01T12:34:56Z"))
	o := a.ObjectObject
	if o == nil {
		t.Fatal("no embedded object")
	}
	eq(t, "ObjectType", a.ObjectType, "Note")
	eq(t, "Object", a.Object, o.ID)
	eq(t, "InReplyTo", o.InReplyTo, "https://other.example/users/bob/statuses/42")
	eq(t, "URL", o.URL, "https://mastodon.example/@alice/111222333444555666")
	eq(t, "Summary", o.Summary, "spoilers")
	eq(t, "Sensitive", o.Sensitive, true)
	eq(t, "Language", o.Language, "de")
	eq(t, "Conversation", o.Conversation, "tag:mastodon.example,2024-03-01:objectId=123:objectType=Conversation")
	eq(t, "Visibility", o.Visibility("https://mastodon.example/users/alice/followers"), VisibilityPublic)
	eq(t, "IsPublic", o.IsPublic(), true)
	eq(t, "Mentions", o.Mentions(), []string{"https://other.example/users/bob"})
	eq(t, "Hashtags", o.Hashtags(), []string{"cats"})
	eq(t, "Emojis", o.Emojis(), []Tag{{Type: "Emoji", Name: ":blobcat:", ID: "https://mastodon.example/emojis/1234",
		IconURL: "https://files.mastodon.example/custom_emojis/images/000/001/234/original/blobcat.png", IconMediaType: "image/png",
		Updated: ts("2023-01-02T03:04:05Z")}})
	eq(t, "Attachments", o.Attachments, []Attachment{{Type: "Document", MediaType: "image/jpeg",
		URL: "https://files.mastodon.example/media_attachments/files/111/original/cat.jpg", Name: "A grey cat asleep on a keyboard",
		Blurhash: "UBL_:rOpGG-oBUNG,qRj2so|=eE1w^n4S5NH", FocalPoint: &[2]float64{-0.25, 0.5}, Width: 1200, Height: 900}})
	if !strings.HasPrefix(string(a.ObjectRaw), `{"id":"https://mastodon.example/users/alice/statuses/111222333444555666"`) {
		t.Errorf("ObjectRaw = %.60s...", a.ObjectRaw)
	}
}

func TestDecodeMastodonPerson(t *testing.T) {
	a, err := DecodeActor(loadModel(t, "mastodon-person.json"))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "PreferredUsername", a.PreferredUsername, "alice")
	eq(t, "Name", a.Name, "Alice :verified:")
	eq(t, "SharedInbox", a.SharedInbox, "https://mastodon.example/inbox")
	eq(t, "Featured", a.Featured, "https://mastodon.example/users/alice/collections/featured")
	eq(t, "Discoverable", a.Discoverable, true)
	eq(t, "Indexable", a.Indexable, true)
	eq(t, "Published", a.Published, ts("2022-11-05T00:00:00Z"))
	eq(t, "AlsoKnownAs", a.AlsoKnownAs, []string{"https://old.example/users/alice"})
	eq(t, "Icon.URL", a.Icon.URL, "https://files.mastodon.example/accounts/avatars/1/original/a.png")
	eq(t, "Image.URL", a.Image.URL, "https://files.mastodon.example/accounts/headers/1/original/h.jpg")
	eq(t, "Fields[1]", a.Fields[1], PropertyValue{Name: "Pronouns", Value: "she/her"})
	eq(t, "len(Fields)", len(a.Fields), 2)
	k := a.PublicKey("https://mastodon.example/users/alice#main-key")
	if k == nil || k.Owner != a.ID || !strings.HasPrefix(k.PublicKeyPem, "-----BEGIN PUBLIC KEY-----") {
		t.Errorf("PublicKey = %+v", k)
	}
	eq(t, "Tags[0].Name", a.Tags[0].Name, ":verified:")
}

func TestDecodeQuestions(t *testing.T) {
	a := mustActivity(t, "mastodon-question.json")
	q := a.ObjectObject
	eq(t, "Type", q.Type, "Question")
	eq(t, "OneOf", q.OneOf, []PollOption{{"Tabs", 3}, {"Spaces", 4}})
	eq(t, "EndTime", q.EndTime, ts("2024-05-02T10:00:00Z"))
	eq(t, "VotersCount", q.VotersCount, 7)
	eq(t, "IsClosed", q.IsClosed, false)

	p, err := DecodeObject(loadModel(t, "pleroma-question-closed.json"))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "AnyOf", p.AnyOf, []PollOption{{"red", 2}, {"blue", 1}})
	eq(t, "Closed", p.Closed, ts("2024-01-02T00:00:00Z"))
	eq(t, "IsClosed", p.IsClosed, true)
	eq(t, "Published", p.Published, ts("2024-01-01T00:00:00Z"))

	b, err := DecodeObject([]byte(`{"id":"https://x.example/q","type":"Question","endTime":"2024-01-02T00:00:00Z","closed":true,"oneOf":{"type":"Note","name":"only"}}`))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "closed:true IsClosed", b.IsClosed, true)
	eq(t, "closed:true Closed", b.Closed, b.EndTime)
	eq(t, "single oneOf", b.OneOf, []PollOption{{Name: "only"}})
}

func TestDecodeEmbeddedActivities(t *testing.T) {
	u := mustActivity(t, "mastodon-undo-follow.json")
	f := u.ObjectActivity
	if f == nil {
		t.Fatal("Undo: no embedded Follow")
	}
	eq(t, "Follow.Type", f.Type, "Follow")
	eq(t, "Follow.Actor", f.Actor, "https://mastodon.example/users/alice")
	eq(t, "Follow.Object", f.Object, "https://gts.example/users/carol")
	eq(t, "Undo.Object", u.Object, f.ID)

	acc := mustActivity(t, "gotosocial-accept-follow.json")
	eq(t, "Accept.To", acc.To, []string{"https://mastodon.example/users/alice"})
	eq(t, "Accept.Object.ID", acc.ObjectActivity.ID, "https://mastodon.example/8e4f1a2b-0000-4000-8000-000000000001")

	l := mustActivity(t, "lemmy-announce-page.json")
	eq(t, "Announce.Actor", l.Actor, "https://lemmy.example/c/golang")
	c := l.ObjectActivity
	if c == nil || c.ObjectObject == nil {
		t.Fatal("Lemmy Announce{Create{Page}} not decoded two levels deep")
	}
	eq(t, "Create.Audience", c.Audience, []string{"https://lemmy.example/c/golang"})
	p := c.ObjectObject
	eq(t, "Page.Type", p.Type, "Page")
	eq(t, "Page.Name", p.Name, "Go 1.26 released")
	eq(t, "Page.Source", p.Source, "Release notes below.")
	eq(t, "Page.SourceMediaType", p.SourceMediaType, "text/markdown")
	eq(t, "Page.Published", p.Published, ts("2026-02-11T15:00:00.123456Z"))
	eq(t, "Page.Hashtags", p.Hashtags(), []string{"golang"})
	eq(t, "Page.Attachments[0].URL", p.Attachments[0].URL, "https://go.dev/doc/go1.26")
	eq(t, "Page.Visibility", p.Visibility(""), VisibilityPublic)
	eq(t, "Page.Language", p.Language, "en")

	fl := mustActivity(t, "mastodon-flag.json")
	eq(t, "Flag.Objects", fl.Objects, []string{"https://other.example/users/spammer",
		"https://other.example/users/spammer/statuses/1", "https://other.example/users/spammer/statuses/2"})
	eq(t, "Flag.Object", fl.Object, "https://other.example/users/spammer")
	eq(t, "Flag.Content", fl.Content, "spam wave")
}

func TestDecodePeers(t *testing.T) {
	g := mustActivity(t, "gotosocial-create-note.json").ObjectObject
	eq(t, "GtS.To", g.To, []string{PublicCollection})
	eq(t, "GtS.Cc", g.Cc, []string{"https://gts.example/users/carol/followers"})
	eq(t, "GtS.Language", g.Language, "en")
	eq(t, "GtS.Hashtags", g.Hashtags(), []string{"sunset"})
	eq(t, "GtS.Attachments", g.Attachments, []Attachment{{Type: "Image", MediaType: "image/webp",
		URL: "https://gts.example/fileserver/01/attachment/original/01.webp", Name: "a sunset", Blurhash: "LKO2?U%2Tw=w]~RBVZRi};RPxuwH"}})

	k := mustActivity(t, "akkoma-create-note.json")
	o := k.ObjectObject
	eq(t, "Akkoma.Visibility", o.Visibility("https://akkoma.example/users/dan/followers"), VisibilityUnlisted)
	eq(t, "Akkoma.Conversation", o.Conversation, "https://akkoma.example/contexts/5a5b")
	eq(t, "Akkoma.QuoteURL", o.QuoteURL, "https://mastodon.example/users/alice/statuses/111222333444555666")
	eq(t, "Akkoma.Sensitive", o.Sensitive, false)
	eq(t, "Akkoma.Attachments[0].URL", o.Attachments[0].URL, "https://akkoma.example/media/clip.mp4")
	eq(t, "Akkoma.Published", o.Published, ts("2024-07-01T08:09:10.123456Z"))
	eq(t, "Akkoma.Mentions", o.Mentions(), []string{"https://mastodon.example/users/alice"})

	m := mustActivity(t, "misskey-create-note.json").ObjectObject
	eq(t, "Misskey.QuoteURL", m.QuoteURL, "https://mastodon.example/users/alice/statuses/111222333444555666")
	eq(t, "Misskey.SourceMediaType", m.SourceMediaType, "text/x.misskeymarkdown")
	eq(t, "Misskey.Sensitive", m.Sensitive, true)
	eq(t, "Misskey.InReplyTo", m.InReplyTo, "")
	eq(t, "Misskey.Attachments[0].Name", m.Attachments[0].Name, "")
	eq(t, "Misskey.Published", m.Published, ts("2024-08-08T08:08:08.888Z"))

	mp, err := DecodeActor(loadModel(t, "misskey-person.json"))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "Misskey.SharedInbox", mp.SharedInbox, "https://misskey.example/inbox")
	eq(t, "Misskey.ManuallyApprovesFollowers", mp.ManuallyApprovesFollowers, true)
	eq(t, "Misskey.Icon", mp.Icon, Attachment{})
	eq(t, "Misskey.Fields", mp.Fields, []PropertyValue{{Name: "Site", Value: `<a href="https://neko.example" rel="me nofollow noopener" target="_blank">https://neko.example</a>`}})

	px := mustActivity(t, "pixelfed-create-note.json")
	eq(t, "Pixelfed.Published", px.Published, ts("2024-09-09T09:09:09Z"))
	eq(t, "Pixelfed.Attachments[0].Width", px.ObjectObject.Attachments[0].Width, 1080)
	eq(t, "Pixelfed.Hashtags", px.ObjectObject.Hashtags(), []string{"photography"})
	eq(t, "Pixelfed.Summary", px.ObjectObject.Summary, "")

	lg, err := DecodeActor(loadModel(t, "lemmy-group.json"))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "Lemmy.Type", lg.Type, "Group")
	eq(t, "Lemmy.Icon.URL", lg.Icon.URL, "https://lemmy.example/pictrs/image/gopher.png")
	eq(t, "Lemmy.SharedInbox", lg.SharedInbox, "https://lemmy.example/inbox")

	pt, err := DecodeObject(loadModel(t, "peertube-video.json"))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "PeerTube.URL", pt.URL, "https://peertube.example/w/abc")
	eq(t, "PeerTube.AttributedTo", pt.AttributedTo, "https://peertube.example/accounts/hank")
	eq(t, "len(PeerTube.Links)", len(pt.Links), 2)
}

func TestVisibility(t *testing.T) {
	const fol = "https://a.example/users/x/followers"
	for _, c := range []struct {
		to, cc []string
		want   Visibility
	}{
		{[]string{"as:Public"}, nil, VisibilityPublic},
		{[]string{"Public"}, nil, VisibilityPublic},
		{[]string{fol}, []string{PublicCollection}, VisibilityUnlisted},
		{[]string{fol}, nil, VisibilityPrivate},
		{[]string{"https://b.example/users/y"}, nil, VisibilityDirect},
	} {
		o := &Object{To: c.to, Cc: c.cc}
		eq(t, "Visibility", o.Visibility(fol), c.want)
	}
}

func TestDecodeRefuses(t *testing.T) {
	for _, c := range []struct{ body, field string }{
		{`{"id":"https://a/1","type":"Create","actor":"https://a/u","object":{"id":"https://a/n","type":"Note","content":5}}`, "object.content"},
		{`{"id":"https://a/1","type":"Create","actor":"https://a/u","to":[1]}`, "to[0]"},
		{`{"id":"https://a/1","type":"Create","actor":"https://a/u","object":{"id":"https://a/n","type":"Note","sensitive":"yes"}}`, "object.sensitive"},
		{`{"id":"https://a/1","type":"Create","actor":"https://a/u","published":"yesterday"}`, "published"},
		{`{"id":"https://a/1","type":"Create","actor":"https://a/u","object":{"id":"https://a/n","type":"Note","tag":[{"type":"Mention","href":7}]}}`, "object.tag[0].href"},
		{`{"id":"https://a/1","type":"Create","actor":"https://a/u","object":{"id":"https://a/n","type":"Note","attachment":{"type":"Image","focalPoint":[1]}}}`, "object.attachment[0].focalPoint"},
		{`{"id":"https://a/1","type":"Create"}`, "actor"},
		{`{"type":"Create","actor":"https://a/u"}`, "id"},
	} {
		_, err := DecodeActivity([]byte(c.body))
		var de *DecodeError
		if !errors.As(err, &de) || de.Field != c.field {
			t.Errorf("DecodeActivity(%s) = %v, want an error naming %q", c.body, err, c.field)
		}
	}
	if _, err := DecodeActivity([]byte(`[1]`)); err == nil {
		t.Error("a JSON array was accepted as an activity")
	}
	// Bounded lists.
	body := `{"id":"https://a/1","type":"Create","actor":"https://a/u","to":[` + strings.Repeat(`"x",`, MaxList) + `"x"]}`
	if _, err := DecodeActivity([]byte(body)); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Errorf("a to list of %d entries: err = %v", MaxList+1, err)
	}
}

func TestDecodeDepthBound(t *testing.T) {
	inner := `{"id":"https://a/n","type":"Note","content":"x"}`
	for i := 0; i < 5; i++ {
		inner = `{"id":"https://a/` + string(rune('a'+i)) + `","type":"Announce","actor":"https://a/u","object":` + inner + `}`
	}
	a, err := DecodeActivity([]byte(inner))
	if err != nil {
		t.Fatal(err)
	}
	depth := 1
	for x := a; x.ObjectActivity != nil; x = x.ObjectActivity {
		depth++
	}
	if depth != MaxDepth {
		t.Errorf("decoded %d levels, want %d", depth, MaxDepth)
	}
}

func TestDecodeTimes(t *testing.T) {
	for in, want := range map[string]string{
		"2024-01-02T03:04:05Z":      "2024-01-02T03:04:05Z",
		"2024-01-02T03:04:05.123Z":  "2024-01-02T03:04:05.123Z",
		"2024-01-02T05:04:05+02:00": "2024-01-02T03:04:05Z",
		"2024-01-02T03:04:05":       "2024-01-02T03:04:05Z",
		"2024-01-02T03:04:05.5":     "2024-01-02T03:04:05.5Z",
	} {
		a, err := DecodeActivity([]byte(`{"id":"i","type":"Like","actor":"a","published":"` + in + `"}`))
		if err != nil {
			t.Errorf("%s: %v", in, err)
			continue
		}
		eq(t, in, a.Published, ts(want))
	}
}

func TestDecodeCollection(t *testing.T) {
	c, err := DecodeCollection([]byte(`{"@context":"https://www.w3.org/ns/activitystreams","id":"https://m.example/users/a/statuses/1/replies","type":"Collection",
		"first":{"type":"CollectionPage","next":"https://m.example/users/a/statuses/1/replies?page=true","partOf":"https://m.example/users/a/statuses/1/replies",
		"items":["https://m.example/users/a/statuses/2",{"id":"https://m.example/users/a/statuses/3","type":"Note"}]}}`))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "First", c.First, "")
	if c.FirstPage == nil {
		t.Fatal("embedded first page not decoded")
	}
	eq(t, "FirstPage.Next", c.FirstPage.Next, "https://m.example/users/a/statuses/1/replies?page=true")
	eq(t, "len(FirstPage.Items)", len(c.FirstPage.Items), 2)
	eq(t, "FirstPage.Items[0]", c.FirstPage.Items[0], any("https://m.example/users/a/statuses/2"))
	if raw, ok := c.FirstPage.Items[1].(json.RawMessage); !ok {
		t.Errorf("Items[1] is %T, want json.RawMessage", c.FirstPage.Items[1])
	} else if o, err := DecodeObject(raw); err != nil || o.ID != "https://m.example/users/a/statuses/3" {
		t.Errorf("Items[1] decodes to %+v, %v", o, err)
	}

	total := 3
	b, err := EncodeCollection(&Collection{ID: "https://pal.example/users/a/outbox", Type: "OrderedCollection", TotalItems: &total, First: "https://pal.example/users/a/outbox?page=true"})
	if err != nil {
		t.Fatal(err)
	}
	back, err := DecodeCollection(b)
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "round trip", back, &Collection{ID: "https://pal.example/users/a/outbox", Type: "OrderedCollection", TotalItems: &total, First: "https://pal.example/users/a/outbox?page=true"})
}

// BenchmarkDecodeActivity measures the full model decode on the same body
// as BenchmarkParse (the ingress's envelope scan), for the ratio between
// the two: the consumer pays this once per accepted activity.
func BenchmarkDecodeActivity(b *testing.B) {
	body := load(b, "mastodon-create-note.json")
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := DecodeActivity(body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeCreateNote(b *testing.B) {
	n := localNote()
	a := NewCreate(n.ID+"/activity", n)
	b.ReportAllocs()
	defer reportCPU(b)()
	for b.Loop() {
		if _, err := EncodeActivity(a); err != nil {
			b.Fatal(err)
		}
	}
}

func TestNormalizeHashtag(t *testing.T) {
	for in, want := range map[string]string{
		"#Cats": "cats", "cats": "cats", "#Cafe\u0301": "café", "ＧＯ": "go", " #x ": "x",
	} {
		eq(t, "NormalizeHashtag("+in+")", NormalizeHashtag(in), want)
	}
}

func TestDecodeQuoteLink(t *testing.T) {
	o, err := DecodeObject([]byte(`{"id":"https://k.example/notes/1","type":"Note","content":"RE: x","tag":[{"type":"Link","mediaType":"application/ld+json; profile=\"https://www.w3.org/ns/activitystreams\"","href":"https://m.example/users/a/statuses/5","name":"RE: https://m.example/@a/5"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	eq(t, "QuoteURL", o.QuoteURL, "https://m.example/users/a/statuses/5")
}

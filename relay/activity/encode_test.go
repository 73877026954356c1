package activity

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// clearRaw zeroes the Raw fields the decoder fills, so that a decoded value
// can be compared with the one that was encoded.
func clearRaw(a *Activity) {
	if a == nil {
		return
	}
	a.Raw, a.ObjectRaw = nil, nil
	if a.ObjectObject != nil {
		a.ObjectObject.Raw = nil
	}
	if a.ObjectActor != nil {
		a.ObjectActor.Raw = nil
	}
	clearRaw(a.ObjectActivity)
}

func roundTrip(t *testing.T, a *Activity) *Activity {
	t.Helper()
	b, err := EncodeActivity(a)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Parse(b); err != nil {
		t.Fatalf("the ingress's Parse refuses what we send: %v\n%s", err, b)
	}
	got, err := DecodeActivity(b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	clearRaw(got)
	if a.ObjectObject != nil && got.ObjectObject != nil {
		eq(t, a.Type+" object round trip", *got.ObjectObject, *a.ObjectObject)
	}
	eq(t, a.Type+" round trip", got, a)
	return got
}

const (
	alice     = "https://pal.example/users/alice"
	followers = alice + "/followers"
	bob       = "https://m.example/users/bob"
)

func localNote() *Object {
	to, cc := Addressing(VisibilityPublic, followers, []string{bob})
	return &Object{
		ID: alice + "/statuses/1", Type: "Note", AttributedTo: alice,
		InReplyTo: "https://m.example/users/bob/statuses/9", URL: "https://pal.example/@alice/1",
		Links: []Link{{Href: "https://pal.example/@alice/1"}},
		To:    to, Cc: cc, Summary: "cw", Content: "<p>hi</p>", Language: "en",
		ContentMap: map[string]string{"en": "<p>hi</p>"}, SummaryMap: map[string]string{"en": "cw"},
		Sensitive: true, Published: ts("2025-01-02T03:04:05Z"),
		Tags: []Tag{
			{Type: "Mention", Href: bob, Name: "@bob@m.example"},
			{Type: "Hashtag", Href: "https://pal.example/tags/go", Name: "#go"},
		},
		Attachments: []Attachment{{Type: "Document", MediaType: "image/png", URL: "https://pal.example/media/1.png",
			Name: "alt", Blurhash: "LEHV6nWB2yk8pyo0adR*.7kCMdnj", FocalPoint: &[2]float64{0.1, -0.2}, Width: 640, Height: 480}},
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	n := localNote()
	c := roundTrip(t, NewCreate(n.ID+"/activity", n))
	eq(t, "Visibility", c.ObjectObject.Visibility(followers), VisibilityPublic)
	eq(t, "Mentions", c.ObjectObject.Mentions(), []string{bob})

	n2 := localNote()
	n2.Updated = ts("2025-01-03T00:00:00Z")
	roundTrip(t, NewUpdate(n2.ID+"/updates/1", n2))

	q := &Object{ID: alice + "/statuses/2", Type: "Question", AttributedTo: alice, Content: "?",
		To: []string{PublicCollection}, OneOf: []PollOption{{"a", 1}, {"b", 0}},
		EndTime: ts("2025-01-05T00:00:00Z"), VotersCount: 1, Published: ts("2025-01-04T00:00:00Z")}
	roundTrip(t, NewCreate(q.ID+"/activity", q))

	d := roundTrip(t, NewDelete(alice+"/statuses/1#delete", alice, alice+"/statuses/1", []string{PublicCollection}, nil))
	eq(t, "Delete object type", d.ObjectObject.Type, "Tombstone")

	follow := NewFollow("https://pal.example/follows/1", alice, bob)
	roundTrip(t, follow)
	roundTrip(t, NewUndo("https://pal.example/follows/1/undo", alice, follow))
	in := NewFollow("https://m.example/f/2", bob, alice)
	roundTrip(t, NewAccept("https://pal.example/accepts/2", alice, in))
	roundTrip(t, NewReject("https://pal.example/rejects/2", alice, in))
	ann := NewAnnounce("https://pal.example/users/alice/statuses/3/activity", alice, "https://m.example/users/bob/statuses/9",
		ts("2025-01-02T00:00:00Z"), []string{PublicCollection}, []string{bob, followers})
	roundTrip(t, ann)
	roundTrip(t, NewUndo(ann.ID+"/undo", alice, ann))
	roundTrip(t, NewLike("https://pal.example/likes/1", alice, "https://m.example/users/bob/statuses/9"))
	roundTrip(t, NewBlock("https://pal.example/blocks/1", alice, bob))
	roundTrip(t, NewFlag("https://pal.example/flags/1", "https://pal.example/actor", []string{bob, bob + "/statuses/9"}, "spam"))
	roundTrip(t, NewMove("https://pal.example/users/alice#moves/1", alice, "https://new.example/users/alice"))
	roundTrip(t, NewUpdateActor(alice+"#updates/1", localPerson()))
}

func localPerson() *Actor {
	return &Actor{
		ID: alice, Type: "Person", PreferredUsername: "alice", Name: "Alice", Summary: "<p>hi</p>",
		URL: "https://pal.example/@alice", Inbox: alice + "/inbox", Outbox: alice + "/outbox",
		Followers: followers, Following: alice + "/following", Featured: alice + "/collections/featured",
		SharedInbox: "https://pal.example/inbox", ManuallyApprovesFollowers: true, Discoverable: true,
		Published:   ts("2025-01-01T00:00:00Z"),
		PublicKeys:  []PublicKey{{ID: alice + "#main-key", Owner: alice, PublicKeyPem: "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----\n"}},
		Icon:        Attachment{Type: "Image", MediaType: "image/png", URL: "https://pal.example/avatars/1.png"},
		Fields:      []PropertyValue{{Name: "Web", Value: "<a href=\"https://a.example\">a.example</a>"}},
		AlsoKnownAs: []string{"https://old.example/users/alice"},
	}
}

func TestEncodeActor(t *testing.T) {
	p := localPerson()
	b, err := EncodeActor(p)
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeActor(b)
	if err != nil {
		t.Fatal(err)
	}
	got.Raw = nil
	eq(t, "Person round trip", got, p)

	// What Mastodon needs to read our actor: the security context for
	// publicKey, and the extension terms by their compacted names.
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	ctx := doc["@context"].([]any)
	eq(t, "@context[1]", ctx[1], any("https://w3id.org/security/v1"))
	ext := ctx[2].(map[string]any)
	for _, term := range []string{"manuallyApprovesFollowers", "sensitive", "Hashtag", "discoverable", "blurhash", "focalPoint", "featured", "PropertyValue", "value"} {
		if ext[term] == nil {
			t.Errorf("@context lacks %q", term)
		}
	}
	if _, ok := doc["publicKey"].(map[string]any); !ok {
		t.Errorf("publicKey is %T, want one object", doc["publicKey"])
	}

	inst := &Actor{ID: "https://pal.example/actor", Type: "Application", PreferredUsername: "pal.example",
		Inbox: "https://pal.example/actor/inbox", Outbox: "https://pal.example/actor/outbox",
		SharedInbox: "https://pal.example/inbox", ManuallyApprovesFollowers: true,
		PublicKeys: []PublicKey{{ID: "https://pal.example/actor#main-key", Owner: "https://pal.example/actor", PublicKeyPem: "k"}}}
	b, err = EncodeActor(inst)
	if err != nil {
		t.Fatal(err)
	}
	got, err = DecodeActor(b)
	if err != nil {
		t.Fatal(err)
	}
	got.Raw = nil
	eq(t, "instance actor round trip", got, inst)
}

func TestEncodeCollection(t *testing.T) {
	total := 2
	b, err := EncodeCollection(&Collection{ID: alice + "/outbox", Type: "OrderedCollection", TotalItems: &total, First: alice + "/outbox?page=true"})
	if err != nil {
		t.Fatal(err)
	}
	want := `{"@context":`
	if !bytes.HasPrefix(b, []byte(want)) || !bytes.Contains(b, []byte(`"totalItems":2,"first":"https://pal.example/users/alice/outbox?page=true"}`)) {
		t.Errorf("outbox = %s", b)
	}
	n := localNote()
	b, err = EncodeCollection(&Collection{ID: alice + "/outbox?page=true", Type: "OrderedCollectionPage", PartOf: alice + "/outbox",
		Items: []any{NewCreate(n.ID+"/activity", n), "https://pal.example/x"}})
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		OrderedItems []json.RawMessage `json:"orderedItems"`
	}
	if err := json.Unmarshal(b, &page); err != nil || len(page.OrderedItems) != 2 {
		t.Fatalf("page = %s (%v)", b, err)
	}
	if _, err := DecodeActivity(page.OrderedItems[0]); err != nil {
		t.Errorf("page item 0: %v", err)
	}
	b, _ = EncodeCollection(&Collection{ID: alice + "/collections/featured", Type: "OrderedCollection"})
	if !bytes.Contains(b, []byte(`"orderedItems":[]`)) {
		t.Errorf("empty featured collection = %s, want an empty orderedItems", b)
	}
	if _, err := EncodeCollection(&Collection{ID: "x", Type: "OrderedCollection", Items: []any{1}}); err == nil {
		t.Error("an int item was encoded")
	}
}

func TestAddressing(t *testing.T) {
	for _, c := range []struct {
		v      Visibility
		to, cc []string
	}{
		{VisibilityPublic, []string{PublicCollection}, []string{followers, bob}},
		{VisibilityUnlisted, []string{followers}, []string{PublicCollection, bob}},
		{VisibilityPrivate, []string{followers}, []string{bob}},
		{VisibilityDirect, []string{bob}, nil},
	} {
		to, cc := Addressing(c.v, followers, []string{bob})
		eq(t, string(c.v)+" to", to, c.to)
		eq(t, string(c.v)+" cc", cc, c.cc)
		o := &Object{To: to, Cc: cc}
		eq(t, string(c.v)+" derived back", o.Visibility(followers), c.v)
	}
}

func FuzzDecodeActivity(f *testing.F) {
	for _, dir := range []string{"testdata", filepath.Join("testdata", "model")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if filepath.Ext(e.Name()) == ".json" {
				b, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					f.Fatal(err)
				}
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		a, err := DecodeActivity(body)
		if err != nil {
			return
		}
		depth := 1
		for x := a; x != nil; x = x.ObjectActivity {
			if depth > MaxDepth {
				t.Fatalf("decoded deeper than MaxDepth")
			}
			for _, l := range [][]string{x.To, x.Cc, x.Bto, x.Bcc, x.Audience, x.Objects} {
				if len(l) > MaxList {
					t.Fatalf("a list of %d entries", len(l))
				}
			}
			if o := x.ObjectObject; o != nil && (len(o.Tags) > MaxList || len(o.Attachments) > MaxList || len(o.To) > MaxList) {
				t.Fatalf("object lists over MaxList")
			}
			depth++
		}
		// What we decode we can send back, and read again.
		clearRaw(a)
		b, err := EncodeActivity(a)
		if err != nil {
			t.Fatalf("re-encoding a decoded activity: %v", err)
		}
		if _, err := DecodeActivity(b); err != nil {
			t.Fatalf("decoding our own encoding: %v\n%s", err, b)
		}
	})
}

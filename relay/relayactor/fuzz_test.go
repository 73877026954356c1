package relayactor

import (
	"testing"
	"unicode/utf8"
)

// FuzzRemoteDocuments feeds untrusted bytes to every parser of the relay:
// actor documents, NodeInfo discovery and schema documents, Undo bodies
// and the filter's object reader. None may panic; what they return must
// hold their contracts.
func FuzzRemoteDocuments(f *testing.F) {
	f.Add([]byte(`{"id":"https://m.example/actor","inbox":"https://m.example/actor/inbox","endpoints":{"sharedInbox":"https://m.example/inbox"}}`))
	f.Add([]byte(`{"links":[{"rel":"http://nodeinfo.diaspora.software/ns/schema/2.1","href":"https://m.example/nodeinfo/2.1"}]}`))
	f.Add([]byte(`{"software":{"name":"mastodon","version":"4.3.2"}}`))
	f.Add([]byte(`{"object":{"type":"Follow","object":"https://www.w3.org/ns/activitystreams#Public"}}`))
	f.Add([]byte(`{"object":{"contentMap":{"en":"x"},"tag":[{"type":"Hashtag","name":"#a"}]}}`))
	r := &Relay{actorID: "https://relay.example/actor", o: Options{Languages: []string{"en"}, Hashtags: []string{"a"}}}
	f.Fuzz(func(t *testing.T, b []byte) {
		var a remoteActor
		if parseActor(b, &a) == nil && (a.ID == "" || a.Inbox == "") {
			t.Fatalf("parseActor accepted %q without id or inbox", b)
		}
		if href, err := nodeInfoLink(b, "m.example"); err == nil && href == "" {
			t.Fatal("nodeInfoLink returned an empty link without error")
		}
		if sw, err := parseNodeInfo(b); err == nil {
			if sw.Name == "" || len(sw.Name) > 64 || len(sw.Version) > 64 || !utf8.ValidString(sw.Name) || !utf8.ValidString(sw.Version) {
				t.Fatalf("parseNodeInfo returned %+v", sw)
			}
		}
		undoesRelayFollow(b, r.actorID)
		r.passesFilters(b)
	})
}

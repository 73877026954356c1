package web_test

import (
	"context"
	"crypto"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/ids"
	"github.com/palisade-fedi/palisade/instance/social"
	"github.com/palisade-fedi/palisade/instance/social/socialtest"
	"github.com/palisade-fedi/palisade/instance/web"
	"github.com/palisade-fedi/palisade/relay/activity"
	"github.com/palisade-fedi/palisade/relay/keys"
	"github.com/palisade-fedi/palisade/relay/netguard"
	"github.com/palisade-fedi/palisade/relay/signature"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

const (
	host = "palisade.test"
	base = "http://" + host
)

// discard is a Deliverer for tests that only read.
type discard struct{}

func (discard) Enqueue([]byte, string, []string) error { return nil }

type fixture struct {
	t     testing.TB
	ctx   context.Context
	st    *data.Store
	svc   *social.Service
	srv   *httptest.Server
	sink  *socialtest.Sink
	alice *data.Account // local
	// bob follows alice; dave does not; both remote with real keys.
	bob, dave         *data.Account
	bobKey, daveKey   crypto.PrivateKey
	public, private   *data.Status
	direct, unlisted  *data.Status
	suspendedDomains  map[string]bool
	hidden            map[int64]bool
	authorizedFetchOn bool
}

func newFixture(t testing.TB, authorizedFetch bool) *fixture {
	t.Helper()
	ctx := context.Background()
	st := data.New(pgtest.New(t).Pool())
	svc, err := social.New(social.Options{Store: st, BaseURL: base, Delivery: discard{}, Logger: socialtest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, ctx: ctx, st: st, svc: svc, suspendedDomains: map[string]bool{}, hidden: map[int64]bool{}}
	f.sink = socialtest.NewSink(t, nil)
	f.alice = socialtest.LocalAccount(t, st, base, "alice", false)
	var priv string
	f.bob, priv = socialtest.RemoteAccount(t, st, f.sink, "remote.example", "bob", false)
	f.bobKey = socialtest.ParsePrivatePEM(t, priv)
	f.dave, priv = socialtest.RemoteAccount(t, st, f.sink, "other.example", "dave", true)
	f.daveKey = socialtest.ParsePrivatePEM(t, priv)
	for _, a := range []*data.Account{f.bob, f.dave} {
		doc, _ := json.Marshal(map[string]any{"@context": activity.Context, "id": a.URI, "type": "Person", "inbox": a.InboxURL,
			"preferredUsername": a.Username,
			"publicKey":         map[string]string{"id": a.KeyID, "owner": a.URI, "publicKeyPem": a.PublicKeyPEM}})
		f.sink.Serve(strings.TrimPrefix(a.URI, f.sink.URL()), doc)
	}
	if _, err := st.CreateFollow(ctx, &data.Follow{AccountID: f.bob.ID, TargetAccountID: f.alice.ID, URI: f.bob.URI + "/follows/1"}); err != nil {
		t.Fatal(err)
	}
	post := func(text string, v data.Visibility) *data.Status {
		s, err := svc.PostStatus(ctx, f.alice.ID, social.PostParams{Text: text, Visibility: v})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	f.public = post("hello world #intro", data.Public)
	f.unlisted = post("quietly", data.Unlisted)
	f.private = post("followers only", data.Private)
	f.direct = post("hi @dave@other.example", data.Direct)

	resolver := keys.New(keys.Options{Client: (&netguard.Guard{AllowPrivate: true}).Client(5 * time.Second), AllowHTTP: true,
		Logger: socialtest.Quiet})
	h, err := web.New(web.Options{Social: svc, Keys: resolver, AuthorizedFetch: authorizedFetch, Version: "1.2.3",
		HideNetwork: func(a *data.Account) bool { return f.hidden[a.ID] },
		NodeName:    "Test node", Suspended: func(h string) bool { return f.suspendedDomains[h] }, Logger: socialtest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

// get fetches path with Host palisade.test, Accept accept, signed as
// signer (by keyID) when key is not nil.
func (f *fixture) get(path, accept, keyID string, key crypto.PrivateKey) (*http.Response, []byte) {
	f.t.Helper()
	req, err := http.NewRequest("GET", f.srv.URL+path, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	req.Host = host
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if key != nil {
		if err := signature.Sign("GET", req.URL.RequestURI(), host, req.Header, keyID, key, nil, time.Now()); err != nil {
			f.t.Fatal(err)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

const as = "application/activity+json"

func decode(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("not JSON: %v: %s", err, b)
	}
	return m
}

func path(u string) string {
	p, _ := url.Parse(u)
	return p.RequestURI()
}

func TestWebFinger(t *testing.T) {
	f := newFixture(t, true) // discovery stays open under authorized fetch
	cases := []struct {
		resource string
		code     int
		self     string
	}{
		{"acct:alice@" + host, 200, f.alice.URI},
		{"acct:ALICE@PALISADE.TEST", 200, f.alice.URI},
		{"@alice@" + host, 200, f.alice.URI},
		{base + "/users/alice", 200, f.alice.URI},
		{"https://" + host + "/@alice", 200, f.alice.URI},
		{"acct:relay@" + host, 200, base + "/actor"},
		{"acct:" + host + "@" + host, 200, base + "/actor"},
		{base + "/actor", 200, base + "/actor"},
		{"acct:nobody@" + host, 404, ""},
		{"acct:alice@elsewhere.example", 404, ""},
		{"acct:alice", 400, ""},
		{"acct:@" + host, 400, ""},
		{"", 400, ""},
	}
	for _, c := range cases {
		resp, body := f.get("/.well-known/webfinger?resource="+url.QueryEscape(c.resource), "", "", nil)
		if resp.StatusCode != c.code {
			t.Errorf("%q: %d %s, want %d", c.resource, resp.StatusCode, body, c.code)
			continue
		}
		if resp.Header.Get("Access-Control-Allow-Origin") != "*" {
			t.Errorf("%q: no CORS header", c.resource)
		}
		if c.code != 200 {
			continue
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/jrd+json") {
			t.Errorf("%q: content type %s", c.resource, ct)
		}
		var j struct {
			Subject string
			Links   []struct{ Rel, Type, Href string }
		}
		json.Unmarshal(body, &j)
		self := ""
		for _, l := range j.Links {
			if l.Rel == "self" && l.Type == as {
				self = l.Href
			}
		}
		if self != c.self || !strings.HasPrefix(j.Subject, "acct:") {
			t.Errorf("%q: subject %s self %q, want %q", c.resource, j.Subject, self, c.self)
		}
	}
	if _, err := f.st.SetSuspended(f.ctx, f.alice.ID, ptr(time.Now())); err != nil {
		t.Fatal(err)
	}
	if resp, _ := f.get("/.well-known/webfinger?resource=acct:alice@"+host, "", "", nil); resp.StatusCode != http.StatusGone {
		t.Errorf("suspended account: %d, want 410", resp.StatusCode)
	}
}

func ptr[T any](v T) *T { return &v }

func TestNodeInfoAndHostMeta(t *testing.T) {
	f := newFixture(t, true)
	resp, body := f.get("/.well-known/nodeinfo", "", "", nil)
	idx := decode(t, body)
	links, _ := idx["links"].([]any)
	if resp.StatusCode != 200 || len(links) != 2 {
		t.Fatalf("nodeinfo index %d %s", resp.StatusCode, body)
	}
	for _, v := range []string{"2.0", "2.1"} {
		resp, body := f.get("/nodeinfo/"+v, "", "", nil)
		if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "schema/"+v) {
			t.Fatalf("nodeinfo %s: %d %s", v, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var d struct {
			Version   string
			Software  struct{ Name, Version string }
			Protocols []string
			Usage     struct {
				Users      struct{ Total, ActiveMonth, ActiveHalfyear int }
				LocalPosts int
			}
			OpenRegistrations bool
			Metadata          struct {
				NodeName string
				Relay    struct{ Actor string }
			}
		}
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatal(err)
		}
		if d.Version != v || d.Software.Name != "palisade" || d.Software.Version != "1.2.3" || !slices.Equal(d.Protocols, []string{"activitypub"}) {
			t.Errorf("nodeinfo %s: %s", v, body)
		}
		if d.Usage.Users.Total != 1 || d.Usage.Users.ActiveMonth != 1 || d.Usage.LocalPosts != 4 {
			t.Errorf("usage %+v, want 1 user, active, 4 posts", d.Usage)
		}
		if d.Metadata.NodeName != "Test node" || d.Metadata.Relay.Actor != base+"/actor" {
			t.Errorf("metadata %+v", d.Metadata)
		}
	}
	if resp, _ := f.get("/nodeinfo/9.9", "", "", nil); resp.StatusCode != 404 {
		t.Errorf("nodeinfo 9.9: %d", resp.StatusCode)
	}
	resp, body = f.get("/.well-known/host-meta", "", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), `template="`+base+`/.well-known/webfinger?resource={uri}"`) ||
		!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/xrd+xml") {
		t.Errorf("host-meta %d %s", resp.StatusCode, body)
	}
}

func TestActorDocumentAndPage(t *testing.T) {
	f := newFixture(t, false)
	name := `<script>alert("x")</script>`
	note := "bio with <b>tags</b>"
	fields := []data.Field{{Name: "<i>site</i>", Value: "https://alice.example"}}
	locked := true
	if _, err := f.svc.UpdateProfile(f.ctx, f.alice.ID, social.ProfileParams{DisplayName: &name, Note: &note, Fields: &fields, Locked: &locked}); err != nil {
		t.Fatal(err)
	}
	for _, accept := range []string{as, `application/ld+json; profile="https://www.w3.org/ns/activitystreams"`} {
		resp, body := f.get("/users/alice", accept, "", nil)
		if resp.StatusCode != 200 {
			t.Fatalf("actor: %d %s", resp.StatusCode, body)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, strings.SplitN(accept, ";", 2)[0]) {
			t.Errorf("Accept %s answered %s", accept, ct)
		}
		p := decode(t, body)
		pk, _ := p["publicKey"].(map[string]any)
		ep, _ := p["endpoints"].(map[string]any)
		if p["id"] != f.alice.URI || p["type"] != "Person" || pk["id"] != f.alice.KeyID || pk["publicKeyPem"] != f.alice.PublicKeyPEM ||
			ep["sharedInbox"] != base+"/inbox" || p["manuallyApprovesFollowers"] != true || p["featured"] != f.alice.URI+"/collections/featured" ||
			p["outbox"] != f.alice.URI+"/outbox" || p["followers"] != f.alice.URI+"/followers" || p["published"] == nil {
			t.Errorf("actor document %s", body)
		}
		att, _ := p["attachment"].([]any)
		if len(att) != 1 || att[0].(map[string]any)["type"] != "PropertyValue" {
			t.Errorf("fields %v", p["attachment"])
		}
	}
	// Browsers get a page, with the hostile display name escaped.
	for _, u := range []string{"/users/alice", "/@alice"} {
		resp, body := f.get(u, "text/html", "", nil)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
			t.Fatalf("%s: %d %s", u, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		s := string(body)
		if strings.Contains(s, "<script>") || !strings.Contains(s, "&lt;script&gt;") || strings.Contains(s, "<i>site</i>") {
			t.Errorf("%s: hostile profile not escaped:\n%s", u, s)
		}
		if !strings.Contains(s, "hello world") || strings.Contains(s, "followers only") || strings.Contains(s, "hi @") {
			t.Errorf("%s: the page must list public posts only:\n%s", u, s)
		}
	}
	if resp, _ := f.get("/users/nobody", as, "", nil); resp.StatusCode != 404 {
		t.Errorf("unknown account: %d", resp.StatusCode)
	}
	if _, err := f.st.SetSuspended(f.ctx, f.alice.ID, ptr(time.Now())); err != nil {
		t.Fatal(err)
	}
	resp, body := f.get("/users/alice", as, "", nil)
	if d := decode(t, body); resp.StatusCode != 410 || d["type"] != "Tombstone" || d["id"] != f.alice.URI {
		t.Errorf("suspended actor: %d %s", resp.StatusCode, body)
	}
	resp, body = f.get("/@alice", "text/html", "", nil)
	if resp.StatusCode != 410 || !strings.Contains(string(body), "suspended") {
		t.Errorf("suspended page: %d %s", resp.StatusCode, body)
	}
	resp, _ = f.get(path(f.public.URI), as, "", nil)
	if resp.StatusCode != 410 {
		t.Errorf("status of a suspended account: %d, want 410", resp.StatusCode)
	}
}

func TestStatusVisibility(t *testing.T) {
	f := newFixture(t, false)
	type fetch struct {
		who  string
		kid  string
		key  crypto.PrivateKey
		want map[*data.Status]int
	}
	pub, unl, prv, dir := f.public, f.unlisted, f.private, f.direct
	for _, c := range []fetch{
		{"anonymous", "", nil, map[*data.Status]int{pub: 200, unl: 200, prv: 404, dir: 404}},
		{"bob (follower)", f.bob.KeyID, f.bobKey, map[*data.Status]int{pub: 200, unl: 200, prv: 200, dir: 404}},
		{"dave (mentioned)", f.dave.KeyID, f.daveKey, map[*data.Status]int{pub: 200, unl: 200, prv: 404, dir: 200}},
	} {
		for st, want := range c.want {
			resp, body := f.get(path(st.URI), as, c.kid, c.key)
			if resp.StatusCode != want {
				t.Errorf("%s fetching the %s status: %d %s, want %d", c.who, st.Visibility, resp.StatusCode, body, want)
				continue
			}
			if want == 200 {
				n := decode(t, body)
				if n["type"] != "Note" || n["id"] != st.URI || n["attributedTo"] != f.alice.URI {
					t.Errorf("%s: note %s", c.who, body)
				}
			}
		}
	}
	// A signature that does not verify is refused, not served as anonymous.
	if resp, _ := f.get(path(pub.URI), as, f.bob.KeyID, f.daveKey); resp.StatusCode != 401 {
		t.Errorf("forged signature: %d, want 401", resp.StatusCode)
	}
	// The activity URL serves the Create.
	resp, body := f.get(path(pub.URI)+"/activity", as, "", nil)
	if d := decode(t, body); resp.StatusCode != 200 || d["type"] != "Create" || d["id"] != pub.URI+"/activity" {
		t.Errorf("activity: %d %s", resp.StatusCode, body)
	}
	// Hostile stored content is sanitised on the HTML page.
	evilID := ids.Now()
	evil := &data.Status{ID: evilID, URI: base + "/users/alice/statuses/" + ids.String(evilID), AccountID: f.alice.ID, Local: true, Visibility: data.Public,
		Content: `<p>hi<script>alert(1)</script><a href="javascript:x()" onclick="y()">link</a></p>`, SpoilerText: "<b>cw</b>", CreatedAt: time.Now()}
	if _, err := f.st.InsertStatus(f.ctx, evil); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{path(evil.URI), "/@alice/" + ids.String(evil.ID)} {
		resp, body := f.get(u, "", "", nil)
		s := string(body)
		if resp.StatusCode != 200 || strings.Contains(s, "<script>alert") || strings.Contains(s, "javascript:") ||
			strings.Contains(s, "onclick") || strings.Contains(s, "<b>cw</b>") || !strings.Contains(s, "hi") {
			t.Errorf("%s: %d, hostile content not neutralised:\n%s", u, resp.StatusCode, s)
		}
	}
	// Deleted: 410 with a Tombstone; a deleted direct message stays 404.
	if _, err := f.svc.DeleteStatus(f.ctx, f.alice.ID, pub.ID); err != nil {
		t.Fatal(err)
	}
	resp, body = f.get(path(pub.URI), as, "", nil)
	if d := decode(t, body); resp.StatusCode != 410 || d["type"] != "Tombstone" {
		t.Errorf("deleted: %d %s", resp.StatusCode, body)
	}
	if _, err := f.svc.DeleteStatus(f.ctx, f.alice.ID, dir.ID); err != nil {
		t.Fatal(err)
	}
	if resp, _ := f.get(path(dir.URI), as, f.dave.KeyID, f.daveKey); resp.StatusCode != 404 {
		t.Errorf("deleted direct: %d, want 404", resp.StatusCode)
	}
	for _, u := range []string{"/users/alice/statuses/notanid", "/users/alice/statuses/1", "/users/bob/statuses/" + ids.String(unl.ID)} {
		if resp, _ := f.get(u, as, "", nil); resp.StatusCode != 404 {
			t.Errorf("%s: %d, want 404", u, resp.StatusCode)
		}
	}
}

func TestCollections(t *testing.T) {
	f := newFixture(t, false)
	resp, body := f.get("/users/alice/outbox", as, "", nil)
	c := decode(t, body)
	if resp.StatusCode != 200 || c["type"] != "OrderedCollection" || c["totalItems"] != 2.0 || c["first"] == nil {
		t.Fatalf("outbox: %d %s", resp.StatusCode, body)
	}
	resp, body = f.get(path(c["first"].(string)), as, "", nil)
	p := decode(t, body)
	items, _ := p["orderedItems"].([]any)
	if resp.StatusCode != 200 || p["type"] != "OrderedCollectionPage" || len(items) != 2 || p["partOf"] != f.alice.URI+"/outbox" {
		t.Fatalf("outbox page: %d %s", resp.StatusCode, body)
	}
	for _, it := range items {
		m := it.(map[string]any)
		if m["type"] != "Create" || strings.Contains(string(body), "followers only") {
			t.Errorf("outbox item %v", m)
		}
	}
	// A boost appears as an Announce.
	if _, err := f.svc.Reblog(f.ctx, f.alice.ID, f.public.ID); err != nil {
		t.Fatal(err)
	}
	_, body = f.get("/users/alice/outbox?page=true", as, "", nil)
	first := decode(t, body)["orderedItems"].([]any)[0].(map[string]any)
	if first["type"] != "Announce" || first["object"] != f.public.URI {
		t.Errorf("newest outbox item %v, want the Announce", first)
	}
	if resp, _ := f.get("/users/alice/outbox?page=true&max_id=zz", as, "", nil); resp.StatusCode != 400 {
		t.Errorf("bad max_id: %d", resp.StatusCode)
	}

	resp, body = f.get("/users/alice/followers", as, "", nil)
	if c := decode(t, body); resp.StatusCode != 200 || c["totalItems"] != 1.0 {
		t.Errorf("followers: %d %s", resp.StatusCode, body)
	}
	_, body = f.get("/users/alice/followers?page=true", as, "", nil)
	if items := strs(decode(t, body)["orderedItems"]); !slices.Equal(items, []string{f.bob.URI}) {
		t.Errorf("followers page %s", body)
	}
	f.hidden[f.alice.ID] = true
	resp, body = f.get("/users/alice/followers", as, "", nil)
	if c := decode(t, body); resp.StatusCode != 200 || c["totalItems"] != 1.0 || c["first"] != nil {
		t.Errorf("hidden followers: %d %s, want the count only", resp.StatusCode, body)
	}
	if resp, _ := f.get("/users/alice/followers?page=true", as, "", nil); resp.StatusCode != 403 {
		t.Errorf("hidden followers page: %d, want 403", resp.StatusCode)
	}
	delete(f.hidden, f.alice.ID)
	resp, body = f.get("/users/alice/following", as, "", nil)
	if c := decode(t, body); resp.StatusCode != 200 || c["totalItems"] != 0.0 {
		t.Errorf("following: %d %s", resp.StatusCode, body)
	}
	resp, body = f.get("/users/alice/collections/featured", as, "", nil)
	if c := decode(t, body); resp.StatusCode != 200 || c["type"] != "OrderedCollection" || c["totalItems"] != 0.0 {
		t.Errorf("featured: %d %s", resp.StatusCode, body)
	}
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

func TestAuthorizedFetch(t *testing.T) {
	f := newFixture(t, true)
	for _, u := range []string{"/users/alice", "/users/alice/outbox", "/users/alice/followers", path(f.public.URI)} {
		resp, body := f.get(u, as, "", nil)
		if resp.StatusCode != 401 || !strings.Contains(string(body), "signed") {
			t.Errorf("unsigned %s: %d %s, want 401", u, resp.StatusCode, body)
		}
		if resp, body := f.get(u, as, f.dave.KeyID, f.daveKey); resp.StatusCode != 200 {
			t.Errorf("signed %s: %d %s", u, resp.StatusCode, body)
		}
	}
	// Browsers still get pages.
	if resp, _ := f.get("/@alice", "text/html", "", nil); resp.StatusCode != 200 {
		t.Errorf("HTML under authorized fetch: %d", resp.StatusCode)
	}
	// A suspended domain is refused even with a valid signature. The
	// sink's host is 127.0.0.1 for every remote actor here.
	f.suspendedDomains["127.0.0.1"] = true
	if resp, _ := f.get("/users/alice", as, f.dave.KeyID, f.daveKey); resp.StatusCode != 403 {
		t.Errorf("suspended signer: %d, want 403", resp.StatusCode)
	}
	delete(f.suspendedDomains, "127.0.0.1")
	// A signature for another host is refused.
	req, _ := http.NewRequest("GET", f.srv.URL+"/users/alice", nil)
	req.Host = host
	req.Header.Set("Accept", as)
	signature.Sign("GET", "/users/alice", "elsewhere.example", req.Header, f.dave.KeyID, f.daveKey, nil, time.Now())
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("signature for another host: %d, want 401", resp.StatusCode)
	}
	// A stale signature is refused.
	req, _ = http.NewRequest("GET", f.srv.URL+"/users/alice", nil)
	req.Host = host
	req.Header.Set("Accept", as)
	signature.Sign("GET", "/users/alice", host, req.Header, f.dave.KeyID, f.daveKey, nil, time.Now().Add(-3*time.Hour))
	if resp, err = http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 401 {
		t.Errorf("stale signature: %d, want 401", resp.StatusCode)
	}
}

func TestMatch(t *testing.T) {
	for p, want := range map[string]bool{
		"/.well-known/webfinger": true, "/.well-known/nodeinfo": true, "/nodeinfo/2.1": true, "/.well-known/host-meta": true,
		"/users/alice": true, "/users/alice/outbox": true, "/users/alice/statuses/1": true, "/users/alice/statuses/1/activity": true,
		"/users/alice/collections/featured": true, "/@alice": true, "/@alice/123": true,
		"/users/alice/inbox": false, "/inbox": false, "/actor": false, "/api/v1/instance": false, "/users/": false,
		"/users/alice/statuses/1/replies": false, "/@alice/1/x": false,
	} {
		if web.Match(p) != want {
			t.Errorf("Match(%q) = %v, want %v", p, !want, want)
		}
	}
}

// TestDocumentsReadByPeers reads what the handler serves with the parsers
// a receiving Palisade uses (relay/keys for the key, relay/activity for
// the rest): the key verifies as alice's, and each Note's addressing
// derives back to its stored visibility.
func TestDocumentsReadByPeers(t *testing.T) {
	f := newFixture(t, false)
	_, body := f.get("/users/alice", as, "", nil)
	d, err := keys.ParseDocument(body, f.alice.KeyID)
	if err != nil || d.Owner != f.alice.URI || !d.IsActor {
		t.Fatalf("key document: %+v %v", d, err)
	}
	pub, _ := socialtest.ParsePublicPEM(f.alice.PublicKeyPEM)
	if !pub.(interface{ Equal(crypto.PublicKey) bool }).Equal(d.Public) {
		t.Error("the served key is not alice's")
	}
	actor, err := activity.DecodeActor(body)
	if err != nil || actor.SharedInbox != base+"/inbox" || actor.PreferredUsername != "alice" || actor.Inbox != f.alice.InboxURL {
		t.Errorf("actor as decoded: %+v %v", actor, err)
	}
	for _, st := range []*data.Status{f.public, f.unlisted, f.private, f.direct} {
		kid, key := f.dave.KeyID, f.daveKey
		if st == f.private {
			kid, key = f.bob.KeyID, f.bobKey
		}
		_, body := f.get(path(st.URI), as, kid, key)
		o, err := activity.DecodeObject(body)
		if err != nil {
			t.Fatalf("%s: %v", st.Visibility, err)
		}
		if v := o.Visibility(f.alice.FollowersURL); string(v) != string(st.Visibility) {
			t.Errorf("a %s status reads as %s: to %v cc %v", st.Visibility, v, o.To, o.Cc)
		}
		if st == f.public && (len(o.Hashtags()) != 1 || o.Hashtags()[0] != "intro") {
			t.Errorf("hashtags %v", o.Hashtags())
		}
		if st == f.direct && !slices.Equal(o.Mentions(), []string{f.dave.URI}) {
			t.Errorf("mentions %v", o.Mentions())
		}
	}
}

// A signer whose key cannot be fetched reads public documents when
// authorized fetch is off, and nothing when it is on.
func TestUnreachableSignerKey(t *testing.T) {
	for _, on := range []bool{false, true} {
		f := newFixture(t, on)
		kid := f.sink.URL() + "/users/ghost#main-key" // the sink has no such document
		want := 200
		if on {
			want = 401
		}
		if resp, body := f.get(path(f.public.URI), as, kid, f.daveKey); resp.StatusCode != want {
			t.Errorf("authorized fetch %v: %d %s, want %d", on, resp.StatusCode, body, want)
		}
		if resp, _ := f.get(path(f.private.URI), as, kid, f.daveKey); resp.StatusCode == 200 {
			t.Errorf("authorized fetch %v: an unverified signer read a private status", on)
		}
	}
}

func TestPollDocuments(t *testing.T) {
	f := newFixture(t, false)
	st, err := f.svc.PostStatus(f.ctx, f.alice.ID, social.PostParams{Text: "Cats or dogs?",
		Poll: &social.PollParams{Options: []string{"Cats", "Dogs"}, ExpiresIn: time.Hour, Multiple: true}})
	if err != nil {
		t.Fatal(err)
	}
	// The object peers fetch is the Question, with its counts.
	resp, body := f.get(path(st.URI), as, "", nil)
	q := decode(t, body)
	opts, _ := q["anyOf"].([]any)
	if resp.StatusCode != 200 || q["type"] != "Question" || len(opts) != 2 || q["oneOf"] != nil || q["endTime"] == nil || q["votersCount"] != 0.0 {
		t.Fatalf("the poll's object: %d %s", resp.StatusCode, body)
	}
	if o := opts[1].(map[string]any); o["name"] != "Dogs" || o["replies"].(map[string]any)["totalItems"] != 0.0 {
		t.Errorf("second option %v", o)
	}
	// So is the Create of the outbox and of the activity URL.
	_, body = f.get(path(st.URI)+"/activity", as, "", nil)
	if a := decode(t, body); a["type"] != "Create" || a["object"].(map[string]any)["type"] != "Question" {
		t.Errorf("the poll's activity: %s", body)
	}
	_, body = f.get("/users/alice/outbox?page=true", as, "", nil)
	first := decode(t, body)["orderedItems"].([]any)[0].(map[string]any)
	if first["object"].(map[string]any)["type"] != "Question" {
		t.Errorf("newest outbox item %v, want the Create of the Question", first)
	}
	// Browsers see the options.
	resp, body = f.get(path(st.URI), "text/html", "", nil)
	if resp.StatusCode != 200 || !strings.Contains(string(body), "<li>Cats · 0</li>") || !strings.Contains(string(body), "ends <time") {
		t.Errorf("the poll's page: %d %s", resp.StatusCode, body)
	}
}

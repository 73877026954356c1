package api_test

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mattn/go-mastodon"

	"github.com/palisade-fedi/palisade/instance/api"
	"github.com/palisade-fedi/palisade/instance/data"
	"github.com/palisade-fedi/palisade/instance/social"
	"github.com/palisade-fedi/palisade/instance/social/socialtest"
	"github.com/palisade-fedi/palisade/store/pg"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// fixture is a node's API on loopback over a real Postgres, with the
// social service delivering through a real engine. Tokens are issued by
// a table here (instance/oauth is tested on its own; cmd/palisade's
// client tests run the real OAuth flow end to end).
type fixture struct {
	t    testing.TB
	ctx  context.Context
	db   *pg.DB
	st   *data.Store
	svc  *social.Service
	api  *api.API
	srv  *httptest.Server
	base string

	mu     sync.Mutex
	tokens map[string]*api.Identity
	next   int64
}

func newFixture(t *testing.T, opts ...func(*api.Options)) *fixture { return newFixtureTB(t, opts...) }

func newFixtureTB(t testing.TB, opts ...func(*api.Options)) *fixture {
	t.Helper()
	f := &fixture{t: t, ctx: context.Background(), tokens: map[string]*api.Identity{}}
	f.db = pgtest.New(t)
	f.st = data.New(f.db.Pool())
	mux := http.NewServeMux()
	f.srv = httptest.NewServer(mux)
	t.Cleanup(f.srv.Close)
	f.base = f.srv.URL
	var err error
	eng := socialtest.Engine(t, func(actor string) (string, crypto.PrivateKey, error) { return f.svc.SigningKey(actor) })
	f.svc, err = social.New(social.Options{Store: f.st, BaseURL: f.base, Delivery: eng, Logger: socialtest.Quiet})
	if err != nil {
		t.Fatal(err)
	}
	o := api.Options{
		Social: f.svc, Pool: f.db.Pool(), MediaDir: t.TempDir(), Logger: socialtest.Quiet,
		Instance: api.InstanceInfo{Title: "Palisade test", Description: "a test node", Registrations: true, Version: "test"},
		Auth: api.AuthFunc(func(r *http.Request) (*api.Identity, error) {
			tok, found := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
			if !found || tok == "" {
				return nil, nil
			}
			f.mu.Lock()
			defer f.mu.Unlock()
			id := f.tokens[tok]
			if id == nil {
				return nil, fmt.Errorf("token %q: %w", tok, api.ErrInvalidToken)
			}
			return id, nil
		}),
	}
	for _, fn := range opts {
		fn(&o)
	}
	f.api, err = api.New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.api.Register(mux)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.api.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return f
}

// user makes a local member and a token with scopes for it.
func (f *fixture) user(name string, scopes ...string) (*data.Account, *mastodon.Client) {
	f.t.Helper()
	a := socialtest.LocalAccount(f.t, f.st, f.base, name, false)
	return a, f.client(a.ID, scopes...)
}

func (f *fixture) client(accountID int64, scopes ...string) *mastodon.Client {
	return mastodon.NewClient(&mastodon.Config{Server: f.base, AccessToken: f.tokenFor(accountID, scopes...)})
}

// userTB is user for benchmarks.
func (f *fixture) userTB(tb testing.TB, name string) (int64, string) {
	a := socialtest.LocalAccount(tb, f.st, f.base, name, false)
	return a.ID, f.tokenFor(a.ID)
}

func (f *fixture) tokenFor(accountID int64, scopes ...string) string {
	if len(scopes) == 0 {
		scopes = []string{"read", "write", "follow"}
	}
	f.mu.Lock()
	f.next++
	tok := fmt.Sprintf("tok-%d", f.next)
	f.tokens[tok] = &api.Identity{TokenID: f.next, AppID: 1, AppName: "test app", AccountID: accountID, Scopes: scopes}
	f.mu.Unlock()
	return tok
}

// do sends a raw request and returns status and body.
func (f *fixture) do(method, path, token, contentType string, body io.Reader) (int, http.Header, []byte) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.base+path, body)
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b
}

func tokenOf(c *mastodon.Client) string { return c.Config.AccessToken }

func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func TestPostFollowHomeAndNotifications(t *testing.T) {
	f := newFixture(t)
	ctx := f.ctx
	alice, ac := f.user("alice")
	bob, bc := f.user("bob")

	me := must[*mastodon.Account](t)(ac.GetAccountCurrentUser(ctx))
	if me.Username != "alice" || me.Acct != "alice" || string(me.ID) != fmt.Sprint(alice.ID) || me.Avatar == "" || me.Source == nil {
		t.Fatalf("verify_credentials: %+v", me)
	}
	rel := must[*mastodon.Relationship](t)(bc.AccountFollow(ctx, mastodon.ID(fmt.Sprint(alice.ID))))
	if !rel.Following {
		t.Fatalf("follow: %+v", rel)
	}
	st := must[*mastodon.Status](t)(ac.PostStatus(ctx, &mastodon.Toot{Status: "hello @bob #Palisade", SpoilerText: "cw", Visibility: "public", Language: "en"}))
	if st.SpoilerText != "cw" || st.Visibility != "public" || len(st.Mentions) != 1 || st.Mentions[0].Acct != "bob" ||
		len(st.Tags) != 1 || st.Tags[0].Name != "palisade" || st.Language != "en" {
		t.Fatalf("posted status: %+v", st)
	}
	home := must[[]*mastodon.Status](t)(bc.GetTimelineHome(ctx, nil))
	if len(home) != 1 || home[0].ID != st.ID || home[0].Account.Username != "alice" {
		t.Fatalf("bob's home: %+v", home)
	}
	ns := must[[]*mastodon.Notification](t)(bc.GetNotifications(ctx, nil))
	if len(ns) != 1 || ns[0].Type != "mention" || ns[0].Status.ID != st.ID {
		t.Fatalf("bob's notifications: %+v", ns)
	}
	an := must[[]*mastodon.Notification](t)(ac.GetNotifications(ctx, nil))
	if len(an) != 1 || an[0].Type != "follow" || an[0].Account.Username != "bob" {
		t.Fatalf("alice's notifications: %+v", an)
	}
	// Favourite, boost, bookmark: flags for the viewer, counts for all.
	fav := must[*mastodon.Status](t)(bc.Favourite(ctx, st.ID))
	if fav.Favourited != true || fav.FavouritesCount != 1 {
		t.Fatalf("favourite: %+v", fav)
	}
	rb := must[*mastodon.Status](t)(bc.Reblog(ctx, st.ID))
	if rb.Reblog == nil || rb.Reblog.ID != st.ID || rb.Reblog.Reblogged != true {
		t.Fatalf("reblog: %+v", rb)
	}
	must[*mastodon.Status](t)(bc.Bookmark(ctx, st.ID))
	bm := must[[]*mastodon.Status](t)(bc.GetBookmarks(ctx, nil))
	if len(bm) != 1 || bm[0].ID != st.ID || bm[0].Bookmarked != true {
		t.Fatalf("bookmarks: %+v", bm)
	}
	favs := must[[]*mastodon.Status](t)(bc.GetFavourites(ctx, nil))
	if len(favs) != 1 || favs[0].ID != st.ID {
		t.Fatalf("favourites: %+v", favs)
	}
	an = must[[]*mastodon.Notification](t)(ac.GetNotifications(ctx, nil))
	types := map[string]bool{}
	for _, n := range an {
		types[n.Type] = true
	}
	if !types["favourite"] || !types["reblog"] || !types["follow"] {
		t.Fatalf("alice's notifications after favourite and boost: %v", types)
	}
	// exclude_types[] drops them.
	ex := must[[]*mastodon.Notification](t)(ac.GetNotificationsExclude(ctx, &[]string{"favourite", "reblog"}, nil))
	if len(ex) != 1 || ex[0].Type != "follow" {
		t.Fatalf("exclude_types: %+v", ex)
	}
	// The public, local and tag timelines show the post to anyone.
	anon := mastodon.NewClient(&mastodon.Config{Server: f.base})
	pub := must[[]*mastodon.Status](t)(anon.GetTimelinePublic(ctx, true, nil))
	if len(pub) != 1 || pub[0].ID != st.ID || pub[0].Favourited != nil {
		t.Fatalf("local timeline: %+v", pub)
	}
	tag := must[[]*mastodon.Status](t)(anon.GetTimelineHashtag(ctx, "PALISADE", false, nil))
	if len(tag) != 1 || tag[0].ID != st.ID {
		t.Fatalf("tag timeline: %+v", tag)
	}
	// A reply threads under it.
	reply := must[*mastodon.Status](t)(bc.PostStatus(ctx, &mastodon.Toot{Status: "@alice welcome", InReplyToID: st.ID}))
	cx := must[*mastodon.Context](t)(ac.GetStatusContext(ctx, reply.ID))
	if len(cx.Ancestors) != 1 || cx.Ancestors[0].ID != st.ID || len(cx.Descendants) != 0 {
		t.Fatalf("context of the reply: %+v", cx)
	}
	cx = must[*mastodon.Context](t)(ac.GetStatusContext(ctx, st.ID))
	if len(cx.Descendants) != 1 || cx.Descendants[0].ID != reply.ID {
		t.Fatalf("context of the post: %+v", cx)
	}
	// Edit, history, source.
	ed := must[*mastodon.Status](t)(ac.UpdateStatus(ctx, &mastodon.Toot{Status: "hello again @bob"}, st.ID))
	if !strings.Contains(ed.Content, "hello again") || ed.EditedAt.IsZero() {
		t.Fatalf("edit: %+v", ed)
	}
	hist := must[[]*mastodon.StatusHistory](t)(ac.GetStatusHistory(ctx, st.ID))
	if len(hist) != 2 || !strings.Contains(hist[0].Content, "Palisade") || !strings.Contains(hist[1].Content, "hello again") {
		t.Fatalf("history: %q / %q", hist[0].Content, hist[len(hist)-1].Content)
	}
	src := must[*mastodon.Source](t)(ac.GetStatusSource(ctx, st.ID))
	if src.Text != "hello again @bob" {
		t.Fatalf("source: %+v", src)
	}
	// Relationships both ways.
	rels := must[[]*mastodon.Relationship](t)(ac.GetAccountRelationships(ctx, []string{fmt.Sprint(bob.ID)}))
	if len(rels) != 1 || !rels[0].FollowedBy || rels[0].Following {
		t.Fatalf("alice's relationship to bob: %+v", rels)
	}
	// Delete: gone from the home timeline, 404 after.
	if err := ac.DeleteStatus(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := bc.GetStatus(ctx, st.ID); err == nil || !strings.Contains(err.Error(), "404") {
		t.Fatalf("deleted status: %v", err)
	}
	home = must[[]*mastodon.Status](t)(bc.GetTimelineHome(ctx, nil))
	for _, h := range home {
		if h.ID == st.ID || (h.Reblog != nil && h.Reblog.ID == st.ID) {
			t.Fatalf("deleted status still on the home timeline: %+v", h)
		}
	}
}

func TestPaginationByLinkHeaders(t *testing.T) {
	f := newFixture(t)
	ctx := f.ctx
	_, ac := f.user("alice")
	var posted []mastodon.ID
	for i := 0; i < 7; i++ {
		st := must[*mastodon.Status](t)(ac.PostStatus(ctx, &mastodon.Toot{Status: fmt.Sprintf("post %d", i)}))
		posted = append(posted, st.ID)
	}
	pg := &mastodon.Pagination{Limit: 3}
	var seen []mastodon.ID
	for page := 0; page < 5; page++ {
		sts := must[[]*mastodon.Status](t)(ac.GetTimelineHome(ctx, pg))
		for _, s := range sts {
			seen = append(seen, s.ID)
		}
		if pg.MaxID == "" {
			break
		}
		pg.Limit = 3
	}
	if len(seen) != 7 {
		t.Fatalf("paged through %d statuses, want 7: %v", len(seen), seen)
	}
	for i, id := range seen {
		if id != posted[6-i] {
			t.Fatalf("page order: got %v, want newest first %v", seen, posted)
		}
	}
	// The prev link (min_id) gives what is newer than the newest seen.
	code, hdr, body := f.do("GET", "/api/v1/timelines/home?limit=2&max_id="+string(posted[3]), tokenOf(ac), "", nil)
	if code != 200 {
		t.Fatalf("%d %s", code, body)
	}
	link := hdr.Get("Link")
	if !strings.Contains(link, "max_id="+string(posted[1])+`>; rel="next"`) || !strings.Contains(link, "min_id="+string(posted[2])+`>; rel="prev"`) {
		t.Fatalf("Link: %s", link)
	}
	code, _, body = f.do("GET", "/api/v1/timelines/home?limit=2&min_id="+string(posted[2]), tokenOf(ac), "", nil)
	var got []struct{ ID string }
	json.Unmarshal(body, &got)
	if code != 200 || len(got) != 2 || got[0].ID != string(posted[4]) || got[1].ID != string(posted[3]) {
		t.Fatalf("min_id page: %d %s", code, body)
	}
	// limit above 40 is lowered to 40, not refused.
	code, _, body = f.do("GET", "/api/v1/timelines/home?limit=400", tokenOf(ac), "", nil)
	if code != 200 {
		t.Fatalf("limit=400: %d %s", code, body)
	}
}

func TestErrors(t *testing.T) {
	f := newFixture(t)
	alice, ac := f.user("alice")
	readOnly := f.client(alice.ID, "read")
	cases := []struct {
		name, method, path, token, ctype, body string
		code                                   int
		want                                   string
	}{
		{"no token", "GET", "/api/v1/timelines/home", "", "", "", 401, "access token"},
		{"bad token", "GET", "/api/v1/timelines/home", "nope", "", "", 401, "access token is invalid"},
		{"read token writes", "POST", "/api/v1/statuses", tokenOf(readOnly), "application/x-www-form-urlencoded", "status=hi", 403, "outside the authorized scopes"},
		{"empty status", "POST", "/api/v1/statuses", tokenOf(ac), "application/x-www-form-urlencoded", "status=", 422, "status"},
		{"bad visibility", "POST", "/api/v1/statuses", tokenOf(ac), "application/json", `{"status":"x","visibility":"friends"}`, 422, "visibility"},
		{"bad bool", "POST", "/api/v1/statuses", tokenOf(ac), "application/json", `{"status":"x","sensitive":"maybe"}`, 422, "sensitive"},
		{"bad reply id", "POST", "/api/v1/statuses", tokenOf(ac), "application/x-www-form-urlencoded", "status=x&in_reply_to_id=abc", 422, "in_reply_to_id"},
		{"too long", "POST", "/api/v1/statuses", tokenOf(ac), "application/x-www-form-urlencoded", "status=" + strings.Repeat("a", 501), 422, "too long"},
		{"foreign media", "POST", "/api/v1/statuses", tokenOf(ac), "application/json", `{"status":"x","media_ids":["123"]}`, 422, "media_ids"},
		{"poll too short", "POST", "/api/v1/statuses", tokenOf(ac), "application/json", `{"status":"x","poll":{"options":["a","b"],"expires_in":60}}`, 422, "poll[expires_in]"},
		{"broken json", "POST", "/api/v1/statuses", tokenOf(ac), "application/json", `{"status":`, 400, "JSON"},
		{"unknown status", "GET", "/api/v1/statuses/12345", "", "", "", 404, "Record not found"},
		{"non-id status", "GET", "/api/v1/statuses/abc", "", "", "", 404, "Record not found"},
		{"unknown account", "GET", "/api/v1/accounts/999", "", "", "", 404, "Record not found"},
		{"lookup without acct", "GET", "/api/v1/accounts/lookup", "", "", "", 422, "acct"},
		{"bad marker", "POST", "/api/v1/markers", tokenOf(ac), "application/json", `{"home":{"last_read_id":"x"}}`, 422, "home[last_read_id]"},
		{"unknown stream", "GET", "/api/v1/streaming?stream=nope", tokenOf(ac), "", "", 400, "Unknown stream"},
		{"user stream anonymous", "GET", "/api/v1/streaming?stream=user", "", "", "", 401, "requires an access token"},
		{"search without q", "GET", "/api/v2/search", tokenOf(ac), "", "", 422, "q"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var body io.Reader
			if c.body != "" {
				body = strings.NewReader(c.body)
			}
			code, _, b := f.do(c.method, c.path, c.token, c.ctype, body)
			var e struct{ Error string }
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("body is not {\"error\": ...}: %s", b)
			}
			if code != c.code || !strings.Contains(e.Error, c.want) {
				t.Fatalf("got %d %q, want %d containing %q", code, e.Error, c.code, c.want)
			}
		})
	}
	// App-only tokens cannot act as a member.
	app := f.client(0, "read", "write")
	code, _, b := f.do("GET", "/api/v1/accounts/verify_credentials", tokenOf(app), "", nil)
	if code != 422 || !strings.Contains(string(b), "authenticated user") {
		t.Fatalf("app token on verify_credentials: %d %s", code, b)
	}
}

func TestEmptyListsAndInstance(t *testing.T) {
	f := newFixture(t)
	_, ac := f.user("alice")
	for _, p := range []string{"/api/v1/custom_emojis", "/api/v1/filters", "/api/v2/filters", "/api/v1/lists",
		"/api/v1/announcements", "/api/v1/trends", "/api/v2/suggestions", "/api/v1/conversations",
		"/api/v1/scheduled_statuses", "/api/v1/followed_tags", "/api/v1/instance/rules", "/api/v1/instance/activity",
		"/api/v1/instance/peers"} {
		code, _, b := f.do("GET", p, tokenOf(ac), "", nil)
		if code != 200 || string(b) != "[]" {
			t.Errorf("%s: %d %s, want 200 []", p, code, b)
		}
	}
	in := must[*mastodon.Instance](t)(mastodon.NewClient(&mastodon.Config{Server: f.base}).GetInstance(f.ctx))
	if in.Title != "Palisade test" || !strings.Contains(in.Version, "Palisade") || in.Stats.UserCount != 1 {
		t.Fatalf("instance v1: %+v", in)
	}
	code, _, b := f.do("GET", "/api/v2/instance", "", "", nil)
	var v2 struct {
		Domain        string
		Configuration struct {
			Statuses struct {
				MaxCharacters int `json:"max_characters"`
			}
		}
	}
	if json.Unmarshal(b, &v2); code != 200 || v2.Configuration.Statuses.MaxCharacters != 500 || !strings.HasPrefix(f.base, "http://"+v2.Domain) {
		t.Fatalf("instance v2: %d %s", code, b)
	}
	// The default avatar is served.
	code, hdr, _ := f.do("GET", "/avatars/original/missing.png", "", "", nil)
	if code != 200 || hdr.Get("Content-Type") != "image/png" {
		t.Fatalf("default avatar: %d %v", code, hdr)
	}
}

func testPNG(t *testing.T, w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for y := 0; y < h; y++ {
		for x := 0; x < w; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 255 / w), uint8(y * 255 / h), 128, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestMediaUpload(t *testing.T) {
	f := newFixture(t, func(o *api.Options) { o.MaxUploadBytes = 200 << 10 })
	ctx := f.ctx
	_, ac := f.user("alice")
	att := must[*mastodon.Attachment](t)(ac.UploadMediaFromMedia(ctx, &mastodon.Media{File: bytes.NewReader(testPNG(t, 320, 200)),
		Description: "a gradient", Focus: "0.5,-0.25"}))
	if att.Type != "image" || att.Description != "a gradient" || att.Meta.Original.Width != 320 || att.Meta.Original.Height != 200 ||
		len(att.BlurHash) < 6 || att.Meta.Focus.X != 0.5 || att.Meta.Focus.Y != -0.25 {
		t.Fatalf("attachment: %+v", att)
	}
	// The file is served where the URL says.
	resp, err := http.Get(att.URL)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(got, testPNG(t, 320, 200)) {
		t.Fatalf("GET %s: %d, %d bytes", att.URL, resp.StatusCode, len(got))
	}
	// PUT changes the description.
	code, _, b := f.do("PUT", "/api/v1/media/"+string(att.ID), tokenOf(ac), "application/json", strings.NewReader(`{"description":"new words"}`))
	if code != 200 || !strings.Contains(string(b), `"description":"new words"`) {
		t.Fatalf("PUT media: %d %s", code, b)
	}
	st := must[*mastodon.Status](t)(ac.PostStatus(ctx, &mastodon.Toot{Status: "look", MediaIDs: []mastodon.ID{att.ID}}))
	if len(st.MediaAttachments) != 1 || st.MediaAttachments[0].ID != att.ID || st.MediaAttachments[0].Description != "new words" {
		t.Fatalf("status with media: %+v", st.MediaAttachments)
	}
	onlyMedia := must[[]*mastodon.Status](t)(ac.GetAccountStatusesParams(ctx, st.Account.ID, url.Values{"only_media": {"true"}}, nil))
	if len(onlyMedia) != 1 {
		t.Fatalf("only_media: %d statuses", len(onlyMedia))
	}
	// Attaching it twice is refused.
	if _, err := ac.PostStatus(ctx, &mastodon.Toot{Status: "again", MediaIDs: []mastodon.ID{att.ID}}); err == nil || !strings.Contains(err.Error(), "already attached") {
		t.Fatalf("reattaching: %v", err)
	}
	// Oversize: 413 with a clear error.
	big := bytes.Repeat([]byte{0}, 300<<10)
	_, err = ac.UploadMediaFromBytes(ctx, big)
	if err == nil || !strings.Contains(err.Error(), "413") || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("oversize upload: %v", err)
	}
	// Not an image: 422 naming the field.
	_, err = ac.UploadMediaFromBytes(ctx, []byte("just some text, not an image at all"))
	if err == nil || !strings.Contains(err.Error(), "422") || !strings.Contains(err.Error(), "file") {
		t.Fatalf("text upload: %v", err)
	}
}

func TestRelationshipsBlocksMutesAndRequests(t *testing.T) {
	f := newFixture(t)
	ctx := f.ctx
	alice, ac := f.user("alice")
	carol := socialtest.LocalAccount(t, f.st, f.base, "carol", true) // locked
	cc := f.client(carol.ID)
	rel := must[*mastodon.Relationship](t)(ac.AccountFollow(ctx, mastodon.ID(fmt.Sprint(carol.ID))))
	if rel.Following || !rel.Requested {
		t.Fatalf("following a locked account: %+v", rel)
	}
	reqs := must[[]*mastodon.Account](t)(cc.GetFollowRequests(ctx, nil))
	if len(reqs) != 1 || reqs[0].Username != "alice" {
		t.Fatalf("follow requests: %+v", reqs)
	}
	if err := cc.FollowRequestAuthorize(ctx, mastodon.ID(fmt.Sprint(alice.ID))); err != nil {
		t.Fatal(err)
	}
	rels := must[[]*mastodon.Relationship](t)(ac.GetAccountRelationships(ctx, []string{fmt.Sprint(carol.ID), "424242"}))
	if len(rels) != 2 || !rels[0].Following || rels[0].Requested || rels[1].Following {
		t.Fatalf("after authorize: %+v", rels)
	}
	// carol's private post reaches alice's home; an anonymous reader gets 404.
	priv := must[*mastodon.Status](t)(cc.PostStatus(ctx, &mastodon.Toot{Status: "followers only", Visibility: "private"}))
	home := must[[]*mastodon.Status](t)(ac.GetTimelineHome(ctx, nil))
	if len(home) != 1 || home[0].ID != priv.ID {
		t.Fatalf("alice's home: %+v", home)
	}
	if _, err := mastodon.NewClient(&mastodon.Config{Server: f.base}).GetStatus(ctx, priv.ID); err == nil {
		t.Fatal("anonymous reader got a private status")
	}
	// Mute: carol's posts leave alice's home.
	rel = must[*mastodon.Relationship](t)(ac.AccountMute(ctx, mastodon.ID(fmt.Sprint(carol.ID))))
	if !rel.Muting {
		t.Fatalf("mute: %+v", rel)
	}
	if home = must[[]*mastodon.Status](t)(ac.GetTimelineHome(ctx, nil)); len(home) != 0 {
		t.Fatalf("home after mute: %+v", home)
	}
	must[*mastodon.Relationship](t)(ac.AccountUnmute(ctx, mastodon.ID(fmt.Sprint(carol.ID))))
	// Block ends the follow.
	rel = must[*mastodon.Relationship](t)(cc.AccountBlock(ctx, mastodon.ID(fmt.Sprint(alice.ID))))
	if !rel.Blocking {
		t.Fatalf("block: %+v", rel)
	}
	rels = must[[]*mastodon.Relationship](t)(ac.GetAccountRelationships(ctx, []string{fmt.Sprint(carol.ID)}))
	if rels[0].Following {
		t.Fatalf("after carol blocks alice: %+v", rels[0])
	}
	blocks := must[[]*mastodon.Account](t)(cc.GetBlocks(ctx, nil))
	if len(blocks) != 1 || blocks[0].Username != "alice" {
		t.Fatalf("blocks: %+v", blocks)
	}
	// Lookup and search.
	found := must[*mastodon.Account](t)(ac.AccountLookup(ctx, "@carol"))
	if found.Username != "carol" || !found.Locked {
		t.Fatalf("lookup: %+v", found)
	}
	res := must[*mastodon.Results](t)(ac.Search(ctx, "car", false))
	if len(res.Accounts) != 1 || res.Accounts[0].Username != "carol" {
		t.Fatalf("search: %+v", res)
	}
	// Profile update.
	name := "Alice A."
	note := "I test things"
	upd := must[*mastodon.Account](t)(ac.AccountUpdate(ctx, &mastodon.Profile{DisplayName: &name, Note: &note,
		Fields: &[]mastodon.Field{{Name: "site", Value: "https://example.org"}}}))
	if upd.DisplayName != name || !strings.Contains(upd.Note, "I test things") || len(upd.Fields) != 1 || upd.Source.Note == nil || *upd.Source.Note != note {
		t.Fatalf("update_credentials: %+v", upd)
	}
}

func TestMarkersAndIdempotency(t *testing.T) {
	f := newFixture(t)
	_, ac := f.user("alice")
	tok := tokenOf(ac)
	code, _, b := f.do("POST", "/api/v1/markers", tok, "application/x-www-form-urlencoded", strings.NewReader("home[last_read_id]=1234"))
	if code != 200 || !strings.Contains(string(b), `"last_read_id":"1234"`) || !strings.Contains(string(b), `"version":1`) {
		t.Fatalf("set marker: %d %s", code, b)
	}
	f.do("POST", "/api/v1/markers", tok, "application/json", strings.NewReader(`{"home":{"last_read_id":"1240"}}`))
	code, _, b = f.do("GET", "/api/v1/markers?timeline[]=home", tok, "", nil)
	if code != 200 || !strings.Contains(string(b), `"last_read_id":"1240"`) || !strings.Contains(string(b), `"version":2`) {
		t.Fatalf("get markers: %d %s", code, b)
	}
	// Two posts with one Idempotency-Key make one status.
	post := func() string {
		req, _ := http.NewRequest("POST", f.base+"/api/v1/statuses", strings.NewReader("status=once"))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Idempotency-Key", "k1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var st struct{ ID string }
		json.NewDecoder(resp.Body).Decode(&st)
		return st.ID
	}
	if a, b := post(), post(); a == "" || a != b {
		t.Fatalf("idempotent posts made %q and %q", a, b)
	}
	sts := must[[]*mastodon.Status](t)(ac.GetTimelineHome(f.ctx, nil))
	if len(sts) != 1 {
		t.Fatalf("%d statuses after two idempotent posts", len(sts))
	}
}

func TestRateLimit(t *testing.T) {
	f := newFixture(t, func(o *api.Options) { o.RateLimit = api.RateLimit{PerToken: 3, PerAnonymous: 2} })
	_, ac := f.user("alice")
	for i := 0; i < 3; i++ {
		code, hdr, _ := f.do("GET", "/api/v1/timelines/home", tokenOf(ac), "", nil)
		if code != 200 || hdr.Get("X-RateLimit-Limit") != "3" || hdr.Get("X-RateLimit-Remaining") != fmt.Sprint(2-i) {
			t.Fatalf("request %d: %d %v", i, code, hdr)
		}
	}
	code, hdr, b := f.do("GET", "/api/v1/timelines/home", tokenOf(ac), "", nil)
	if code != 429 || hdr.Get("X-RateLimit-Remaining") != "0" || hdr.Get("X-RateLimit-Reset") == "" || !strings.Contains(string(b), "Too many requests") {
		t.Fatalf("4th request: %d %v %s", code, hdr, b)
	}
	// Anonymous requests count per IP, apart from the token's.
	for i := 0; i < 2; i++ {
		if code, _, _ := f.do("GET", "/api/v1/timelines/public", "", "", nil); code != 200 {
			t.Fatalf("anonymous %d: %d", i, code)
		}
	}
	if code, _, _ := f.do("GET", "/api/v1/timelines/public", "", "", nil); code != 429 {
		t.Fatalf("3rd anonymous request: %d", code)
	}
}

// TestHomeTimelineQuietFollows pages a home timeline whose followed
// accounts are drowned in statuses of others, so each page needs the
// per-follow probes after the recent-window scan comes up short.
func TestHomeTimelineQuietFollows(t *testing.T) {
	f := newFixture(t)
	ctx := f.ctx
	_, ac := f.user("alice")
	bob, bc := f.user("bob")
	must[*mastodon.Relationship](t)(ac.AccountFollow(ctx, mastodon.ID(fmt.Sprint(bob.ID))))
	carol, cc := f.user("carol")
	must[*mastodon.Relationship](t)(ac.AccountFollow(ctx, mastodon.ID(fmt.Sprint(carol.ID))))
	dave, dc := f.user("dave") // not followed
	_ = dave
	var want []mastodon.ID
	for i := 0; i < 7; i++ {
		// bob posts twice for each of carol's, and dave (unfollowed) in between.
		c := bc
		if i%3 == 2 {
			c = cc
		}
		st := must[*mastodon.Status](t)(c.PostStatus(ctx, &mastodon.Toot{Status: fmt.Sprintf("quiet %d", i)}))
		want = append([]mastodon.ID{st.ID}, want...)
		must[*mastodon.Status](t)(dc.PostStatus(ctx, &mastodon.Toot{Status: fmt.Sprintf("unfollowed %d", i)}))
	}
	loud := &data.Account{URI: "https://loud.example/users/l", Username: "l", Domain: "loud.example", InboxURL: "https://loud.example/i"}
	if _, err := f.st.UpsertRemoteAccount(ctx, loud); err != nil {
		t.Fatal(err)
	}
	var batch []*data.Status
	for i := 0; i < 300; i++ {
		batch = append(batch, &data.Status{URI: fmt.Sprintf("https://loud.example/s/%d", i), AccountID: loud.ID,
			Content: "<p>noise</p>", Visibility: data.Public, CreatedAt: time.Now()})
	}
	if _, err := f.st.InsertRemoteStatuses(ctx, batch); err != nil {
		t.Fatal(err)
	}
	var got []mastodon.ID
	pg := &mastodon.Pagination{Limit: 2}
	for i := 0; i < 8 && (i == 0 || pg.MaxID != ""); i++ {
		sts := must[[]*mastodon.Status](t)(ac.GetTimelineHome(ctx, pg))
		for _, s := range sts {
			got = append(got, s.ID)
		}
		pg.Limit = 2
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("home pages: %v, want %v", got, want)
	}
	// Upwards from the oldest with min_id, two at a time.
	var up []mastodon.ID
	for from := want[len(want)-1]; ; {
		code, _, b := f.do("GET", "/api/v1/timelines/home?limit=2&min_id="+string(from), tokenOf(ac), "", nil)
		var page []struct{ ID mastodon.ID }
		if err := json.Unmarshal(b, &page); code != 200 || err != nil {
			t.Fatalf("min_id page: %d %s", code, b)
		}
		if len(page) == 0 {
			break
		}
		for i := len(page) - 1; i >= 0; i-- {
			up = append(up, page[i].ID)
		}
		from = page[0].ID
	}
	if len(up) != len(want)-1 || up[len(up)-1] != want[0] || up[0] != want[len(want)-2] {
		t.Fatalf("min_id pages upwards: %v, want %v reversed without the oldest", up, want)
	}
}

func TestNotificationsDismissClearAndApplication(t *testing.T) {
	f := newFixture(t)
	ctx := f.ctx
	alice, ac := f.user("alice")
	bob, bc := f.user("bob")
	must[*mastodon.Relationship](t)(bc.AccountFollow(ctx, mastodon.ID(fmt.Sprint(alice.ID))))
	st := must[*mastodon.Status](t)(bc.PostStatus(ctx, &mastodon.Toot{Status: "hey @alice"}))
	// The author sees the app the status was posted with; others do not.
	_, _, b := f.do("GET", "/api/v1/statuses/"+string(st.ID), tokenOf(bc), "", nil)
	if !strings.Contains(string(b), `"application":{"name":"test app"`) {
		t.Fatalf("author's view has no application: %s", b)
	}
	_, _, b = f.do("GET", "/api/v1/statuses/"+string(st.ID), tokenOf(ac), "", nil)
	if strings.Contains(string(b), `"application"`) {
		t.Fatalf("another's view shows the application: %s", b)
	}
	ns := must[[]*mastodon.Notification](t)(ac.GetNotifications(ctx, nil))
	if len(ns) != 2 {
		t.Fatalf("alice has %d notifications, want follow and mention", len(ns))
	}
	code, _, b := f.do("GET", "/api/v1/notifications/unread_count", tokenOf(ac), "", nil)
	if code != 200 || string(b) != `{"count":2}` {
		t.Fatalf("unread_count: %d %s", code, b)
	}
	// bob cannot read or dismiss alice's notification.
	if code, _, _ := f.do("GET", "/api/v1/notifications/"+string(ns[0].ID), tokenOf(bc), "", nil); code != 404 {
		t.Fatalf("another's notification: %d", code)
	}
	if code, _, _ := f.do("POST", "/api/v1/notifications/"+string(ns[0].ID)+"/dismiss", tokenOf(bc), "", nil); code != 404 {
		t.Fatalf("dismissing another's notification: %d", code)
	}
	if err := ac.DismissNotification(ctx, ns[0].ID); err != nil {
		t.Fatal(err)
	}
	if left := must[[]*mastodon.Notification](t)(ac.GetNotifications(ctx, nil)); len(left) != 1 || left[0].ID != ns[1].ID {
		t.Fatalf("after dismiss: %+v", left)
	}
	if err := ac.ClearNotifications(ctx); err != nil {
		t.Fatal(err)
	}
	if left := must[[]*mastodon.Notification](t)(ac.GetNotifications(ctx, nil)); len(left) != 0 {
		t.Fatalf("after clear: %d left", len(left))
	}
	_ = bob
}

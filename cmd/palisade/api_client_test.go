package main

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mattn/go-mastodon"

	"github.com/palisade-fedi/palisade/instance/accounts"
	"github.com/palisade-fedi/palisade/store/pg/pgtest"
)

// startClientAPINode runs a full node on loopback for client API tests.
func startClientAPINode(t *testing.T) *fedNode {
	t.Helper()
	port, err := freePortOn("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	host := fmt.Sprintf("127.0.0.1:%d", port)
	cfg := Default()
	cfg.Host = host
	cfg.DataDir = filepath.Join(t.TempDir(), "data")
	cfg.Listen = ListenConfig{Public: host, Admin: "127.0.0.1:0"}
	cfg.Log.Level = "warn"
	cfg.Database.URL = pgtest.URL(t)
	cfg.Fed = FedConfig{AllowPrivateAddresses: true, AllowHTTP: true, Scheme: "http"}
	cfg.Instance.Name = "Palisade API test"
	n := startServe(t, cfg).n
	// The hook fires before the listener accepts: wait for it.
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		resp, err := http.Get("http://" + host + "/api/v1/instance")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the client API did not answer: %v", err)
		}
	}
	return &fedNode{n: n, host: host}
}

// clientSignIn registers an app and signs a member in with the password grant,
// as go-mastodon does it.
func clientSignIn(t *testing.T, f *fedNode, name string) (*mastodon.Client, string) {
	t.Helper()
	ctx := context.Background()
	c, err := accounts.New(f.n.data, f.n.cfg.BaseURL(), f.n.log).Create(ctx, name,
		accounts.CreateOptions{Email: name + "@example.test", Password: "correct horse " + name, By: "test"})
	if err != nil {
		t.Fatal(err)
	}
	app, err := mastodon.RegisterApp(ctx, &mastodon.AppConfig{Server: "http://" + f.host, ClientName: "go-mastodon test",
		Scopes: "read write follow", Website: "https://example.test"})
	if err != nil {
		t.Fatal(err)
	}
	cl := mastodon.NewClient(&mastodon.Config{Server: "http://" + f.host, ClientID: app.ClientID, ClientSecret: app.ClientSecret})
	if err := cl.Authenticate(ctx, name+"@example.test", "correct horse "+name); err != nil {
		t.Fatal(err)
	}
	return cl, fmt.Sprint(c.Account.ID)
}

func clientTestPNG(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for y := 0; y < 48; y++ {
		for x := 0; x < 64; x++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), uint8(y * 5), 200, 255})
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestClientAPIWithGoMastodon drives a running node with a real client:
// app registration and sign-in through the OAuth server, posting,
// following, timelines, notifications, media, pagination and streaming.
func TestClientAPIWithGoMastodon(t *testing.T) {
	f := startClientAPINode(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alice, aliceID := clientSignIn(t, f, "alice")
	bob, _ := clientSignIn(t, f, "bob")

	me, err := alice.GetAccountCurrentUser(ctx)
	if err != nil || me.Username != "alice" || string(me.ID) != aliceID {
		t.Fatalf("verify_credentials: %+v %v", me, err)
	}
	if rel, err := bob.AccountFollow(ctx, me.ID); err != nil || !rel.Following {
		t.Fatalf("follow: %+v %v", rel, err)
	}
	stream, err := bob.NewWSClient().StreamingWSUser(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// go-mastodon dials the stream in the background: the posts below must
	// not go out before the node has the socket and is listening.
	<-f.n.clientAPI.StreamingReady()
	for deadline := time.Now().Add(10 * time.Second); f.n.clientAPI.StreamingConnections() < 1; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("bob's user stream never connected")
		}
	}
	att, err := alice.UploadMediaFromMedia(ctx, &mastodon.Media{File: bytes.NewReader(clientTestPNG(t)), Description: "tiles"})
	if err != nil || att.Meta.Original.Width != 64 || att.BlurHash == "" {
		t.Fatalf("upload: %+v %v", att, err)
	}
	resp, err := http.Get(att.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !bytes.Equal(body, clientTestPNG(t)) {
		t.Fatalf("media file at %s: %d", att.URL, resp.StatusCode)
	}
	var posted []mastodon.ID
	for i := 0; i < 5; i++ {
		toot := &mastodon.Toot{Status: fmt.Sprintf("post %d for @bob", i)}
		if i == 4 {
			toot.MediaIDs = []mastodon.ID{att.ID}
		}
		st, err := alice.PostStatus(ctx, toot)
		if err != nil {
			t.Fatal(err)
		}
		posted = append(posted, st.ID)
	}
	// Bob's home, two per page, through the Link headers.
	var seen []mastodon.ID
	pg := &mastodon.Pagination{Limit: 2}
	for i := 0; i < 5 && (i == 0 || pg.MaxID != ""); i++ {
		sts, err := bob.GetTimelineHome(ctx, pg)
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sts {
			seen = append(seen, s.ID)
		}
		pg.Limit = 2
	}
	if len(seen) != 5 || seen[0] != posted[4] || seen[4] != posted[0] {
		t.Fatalf("home pages: %v, posted %v", seen, posted)
	}
	ns, err := bob.GetNotifications(ctx, nil)
	if err != nil || len(ns) != 5 || ns[0].Type != "mention" {
		t.Fatalf("notifications: %d %v", len(ns), err)
	}
	// The stream saw the posts.
	got := 0
	for deadline := time.After(20 * time.Second); got < 5; {
		select {
		case e := <-stream:
			if _, ok := e.(*mastodon.UpdateEvent); ok {
				got++
			}
			if ee, ok := e.(*mastodon.ErrorEvent); ok {
				t.Fatalf("stream: %v", ee)
			}
		case <-deadline:
			t.Fatalf("%d updates streamed, want 5", got)
		}
	}
	// alice asks a question; bob votes once, and sees his vote.
	inst, err := alice.GetInstance(ctx)
	if err != nil || inst.Configuration == nil || inst.Configuration.Polls == nil || (*inst.Configuration.Polls)["max_options"] != 4.0 {
		t.Fatalf("instance configuration.polls: %+v %v", inst.Configuration, err)
	}
	asked, err := alice.PostStatus(ctx, &mastodon.Toot{Status: "Tabs or spaces?",
		Poll: &mastodon.TootPoll{Options: []string{"Tabs", "Spaces"}, ExpiresInSeconds: 3600}})
	if err != nil || asked.Poll == nil || len(asked.Poll.Options) != 2 || asked.Poll.Expired || asked.Poll.Options[1].Title != "Spaces" {
		t.Fatalf("posting a poll: %+v %v", asked, err)
	}
	voted, err := bob.PollVote(ctx, asked.Poll.ID, 1)
	if err != nil || !voted.Voted || !slices.Equal(voted.OwnVotes, []int{1}) || voted.Options[1].VotesCount != 1 || voted.VotersCount != 1 {
		t.Fatalf("bob votes: %+v %v", voted, err)
	}
	if _, err := bob.PollVote(ctx, asked.Poll.ID, 0); err == nil || !strings.Contains(err.Error(), "422") {
		t.Fatalf("bob votes again: %v, want 422", err)
	}
	if seen, err := alice.GetPoll(ctx, asked.Poll.ID); err != nil || seen.VotesCount != 1 || len(seen.OwnVotes) != 0 {
		t.Fatalf("alice reads her poll: %+v %v", seen, err)
	}
	if _, err := alice.PostStatus(ctx, &mastodon.Toot{Status: "too quick",
		Poll: &mastodon.TootPoll{Options: []string{"a", "b"}, ExpiresInSeconds: 31 * 24 * 3600}}); err == nil || !strings.Contains(err.Error(), "poll[expires_in]") {
		t.Fatalf("a poll over 30 days: %v, want 422 naming poll[expires_in]", err)
	}
	// Revoking the token locks the client out.
	if err := alice.RevokeToken(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := alice.GetAccountCurrentUser(ctx); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("revoked token: %v", err)
	}
}

package api_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"
	"github.com/mattn/go-mastodon"

	"github.com/palisade-fedi/palisade/instance/data"
)

// waitEvent reads events until match accepts one, or fails after 10 s.
func waitEvent(t *testing.T, q chan mastodon.Event, what string, match func(mastodon.Event) bool) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case e, ok := <-q:
			if !ok {
				t.Fatalf("%s: the stream closed", what)
			}
			if ee, isErr := e.(*mastodon.ErrorEvent); isErr {
				t.Fatalf("%s: stream error %v", what, ee)
			}
			if match(e) {
				return
			}
		case <-deadline:
			t.Fatalf("%s: no event within 10 s", what)
		}
	}
}

func TestStreamingWithGoMastodon(t *testing.T) {
	f := newFixture(t)
	<-f.api.StreamingReady()
	ctx, cancel := context.WithCancel(f.ctx)
	defer cancel()
	alice, ac := f.user("alice")
	_, bc := f.user("bob")
	must[*mastodon.Relationship](t)(bc.AccountFollow(ctx, mastodon.ID(fmt.Sprint(alice.ID))))

	userQ := must[chan mastodon.Event](t)(bc.NewWSClient().StreamingWSUser(ctx))
	localQ := must[chan mastodon.Event](t)(mastodon.NewClient(&mastodon.Config{Server: f.base}).NewWSClient().StreamingWSPublic(ctx, true))
	tagQ := must[chan mastodon.Event](t)(bc.NewWSClient().StreamingWSHashtag(ctx, "Streams", false))
	aliceQ := must[chan mastodon.Event](t)(ac.NewWSClient().StreamingWSUser(ctx))
	// The sockets register asynchronously: wait for all four.
	for deadline := time.Now().Add(10 * time.Second); f.api.StreamingConnections() < 4; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%d streaming connections, want 4", f.api.StreamingConnections())
		}
	}
	st := must[*mastodon.Status](t)(ac.PostStatus(ctx, &mastodon.Toot{Status: "live #streams @bob"}))
	waitEvent(t, userQ, "user", func(e mastodon.Event) bool {
		u, ok := e.(*mastodon.UpdateEvent)
		return ok && u.Status.ID == st.ID
	})
	waitEvent(t, localQ, "public:local", func(e mastodon.Event) bool {
		u, ok := e.(*mastodon.UpdateEvent)
		return ok && u.Status.ID == st.ID
	})
	waitEvent(t, tagQ, "hashtag", func(e mastodon.Event) bool {
		u, ok := e.(*mastodon.UpdateEvent)
		return ok && u.Status.ID == st.ID
	})
	// bob was mentioned: a notification on his user stream.
	waitEvent(t, userQ, "mention notification", func(e mastodon.Event) bool {
		n, ok := e.(*mastodon.NotificationEvent)
		return ok && n.Notification.Type == "mention" && n.Notification.Status.ID == st.ID
	})
	// bob favourites: alice hears of it.
	must[*mastodon.Status](t)(bc.Favourite(ctx, st.ID))
	waitEvent(t, aliceQ, "favourite notification", func(e mastodon.Event) bool {
		n, ok := e.(*mastodon.NotificationEvent)
		return ok && n.Notification.Type == "favourite" && n.Notification.Account.Username == "bob"
	})
	// Edit and delete reach the followers too.
	must[*mastodon.Status](t)(ac.UpdateStatus(ctx, &mastodon.Toot{Status: "edited #streams"}, st.ID))
	waitEvent(t, userQ, "status.update", func(e mastodon.Event) bool {
		u, ok := e.(*mastodon.UpdateEditEvent)
		return ok && u.Status.ID == st.ID && strings.Contains(u.Status.Content, "edited")
	})
	if err := ac.DeleteStatus(ctx, st.ID); err != nil {
		t.Fatal(err)
	}
	waitEvent(t, userQ, "delete", func(e mastodon.Event) bool {
		d, ok := e.(*mastodon.DeleteEvent)
		return ok && d.ID == st.ID
	})
}

// TestStreamingProtocol checks the raw frames: the token as
// Sec-WebSocket-Protocol (echoed), payload a JSON string, subscribe
// messages, and statuses written by another writer (as the inbound
// consumer would) arriving through NOTIFY.
func TestStreamingProtocol(t *testing.T) {
	f := newFixture(t)
	<-f.api.StreamingReady()
	ctx, cancel := context.WithTimeout(f.ctx, 30*time.Second)
	defer cancel()
	alice, ac := f.user("alice")
	tok := tokenOf(ac)
	ws, resp, err := websocket.Dial(ctx, strings.Replace(f.base, "http", "ws", 1)+"/api/v1/streaming",
		&websocket.DialOptions{Subprotocols: []string{tok}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.CloseNow()
	if resp.Header.Get("Sec-WebSocket-Protocol") != tok {
		t.Fatalf("subprotocol not echoed: %v", resp.Header)
	}
	sub, _ := json.Marshal(map[string]string{"type": "subscribe", "stream": "public"})
	if err := ws.Write(ctx, websocket.MessageText, sub); err != nil {
		t.Fatal(err)
	}
	bad, _ := json.Marshal(map[string]string{"type": "subscribe", "stream": "nonsense"})
	ws.Write(ctx, websocket.MessageText, bad)
	_, b, err := ws.Read(ctx)
	if err != nil || !strings.Contains(string(b), "Unknown stream") {
		t.Fatalf("error frame: %s %v", b, err)
	}
	// A status inserted straight into the database, as the consumer does.
	remoteAuthor := &data.Account{URI: "https://remote.example/users/zed", Username: "zed", Domain: "remote.example",
		InboxURL: "https://remote.example/users/zed/inbox"}
	if _, err := f.st.UpsertRemoteAccount(ctx, remoteAuthor); err != nil {
		t.Fatal(err)
	}
	var gotFrame struct {
		Stream  []string
		Event   string
		Payload string
	}
	for i := 0; ; i++ {
		uri := fmt.Sprintf("https://remote.example/users/zed/statuses/%d", i)
		if _, err := f.st.InsertRemoteStatuses(ctx, []*data.Status{{URI: uri, AccountID: remoteAuthor.ID, Content: "<p>from afar</p>",
			Visibility: data.Public, CreatedAt: time.Now()}}); err != nil {
			t.Fatal(err)
		}
		rctx, rcancel := context.WithTimeout(ctx, time.Second)
		_, b, err = ws.Read(rctx)
		rcancel()
		if err == nil {
			if err := json.Unmarshal(b, &gotFrame); err != nil {
				t.Fatalf("frame %s: %v", b, err)
			}
			break
		}
		if i > 5 {
			t.Fatalf("no frame for a consumer-written status: %v", err)
		}
	}
	var st struct {
		URI     string
		Account struct{ Acct string }
	}
	if err := json.Unmarshal([]byte(gotFrame.Payload), &st); err != nil {
		t.Fatalf("payload is not a JSON string of a status: %q", gotFrame.Payload)
	}
	if gotFrame.Event != "update" || len(gotFrame.Stream) != 1 || gotFrame.Stream[0] != "public" || st.Account.Acct != "zed@remote.example" {
		t.Fatalf("frame: %+v / %+v", gotFrame, st)
	}
	_ = alice
}

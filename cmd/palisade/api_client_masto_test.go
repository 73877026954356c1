package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/accounts"
	"github.com/palisade-fedi/palisade/instance/data"
)

// TestMastoJSClientFlow runs testdata/node/masto_flow.mjs (masto@7.12.0
// under Node) against a running node: sign-in, follow, media, post, home
// timeline, notifications, search, markers, the user stream, and an
// admin's domain block.
func TestMastoJSClientFlow(t *testing.T) {
	nodeBin, err := exec.LookPath("node")
	dir := filepath.Join("..", "..", "testdata", "node")
	if _, serr := os.Stat(filepath.Join(dir, "node_modules", "masto")); err != nil || serr != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("CI needs node and masto in testdata/node (run .ci/deps): node %v, masto %v", err, serr)
		}
		t.Skip("node or testdata/node/node_modules/masto missing (run .ci/deps)")
	}
	f := startClientAPINode(t)
	const pass = "masto flow password"
	for _, u := range []struct{ name, role string }{{"alice", data.RoleUser}, {"bob", data.RoleUser}, {"modadmin", data.RoleAdmin}} {
		if _, err := accounts.New(f.n.data, f.n.cfg.BaseURL(), f.n.log).Create(context.Background(), u.name,
			accounts.CreateOptions{Email: u.name + "@example.test", Password: pass, Role: u.role, By: "test"}); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nodeBin, "masto_flow.mjs")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PAL_URL=http://"+f.host, "PAL_ALICE=alice@example.test", "PAL_BOB=bob@example.test",
		"PAL_ADMIN=modadmin@example.test", "PAL_PASS="+pass)
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("masto_flow.mjs: %v\n%s\n%s", err, out, stderr)
	}
	var res struct {
		Me        struct{ ID, Acct, Avatar string }
		Instance  struct{ MaxChars int }
		Empties   []int
		Following bool
		Media     struct {
			ID, Type, Blurhash string
			Width              int
		}
		Posted struct {
			ID, Spoiler string
			Media       int
			Tags        []string
		}
		Home                 []string
		Favourited           bool
		Context              struct{ Descendants []string }
		Reply                string
		BobNotes, AliceNotes []string
		Search, Tagged       []string
		Marker               string
		Streamed             []struct{ Event, ID, Type string }
		DomainBlock          *struct{ Domain, Severity string }
		NotFound             int
		Poll                 struct {
			MaxOptions           int
			ID, StatusID         string
			Options              []string
			Voted                bool
			OwnVotes, Counts     []int
			SeenVotes, VoteAgain int
		}
	}
	if err := json.Unmarshal(out, &res); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	t.Logf("masto saw: %s", out)
	switch {
	case res.Me.Acct != "alice" || res.Me.Avatar == "":
		t.Fatalf("verifyCredentials: %+v", res.Me)
	case res.Instance.MaxChars != 500 || !slices.Equal(res.Empties, []int{0, 0, 0}):
		t.Fatalf("instance %+v, empty lists %v", res.Instance, res.Empties)
	case !res.Following:
		t.Fatal("follow did not take")
	case res.Media.Type != "image" || res.Media.Width != 2 || res.Media.Blurhash == "":
		t.Fatalf("media: %+v", res.Media)
	case res.Posted.Spoiler != "greeting" || res.Posted.Media != 1 || !slices.Equal(res.Posted.Tags, []string{"palisade"}):
		t.Fatalf("posted: %+v", res.Posted)
	case len(res.Home) != 1 || res.Home[0] != res.Posted.ID:
		t.Fatalf("home: %v", res.Home)
	case !res.Favourited || !slices.Equal(res.Context.Descendants, []string{res.Reply}):
		t.Fatalf("favourite %v, context %v (reply %s)", res.Favourited, res.Context, res.Reply)
	case !slices.Equal(res.BobNotes, []string{"mention"}) || !slices.Contains(res.AliceNotes, "favourite") ||
		!slices.Contains(res.AliceNotes, "mention") || slices.Contains(res.AliceNotes, "follow"):
		t.Fatalf("notifications: bob %v, alice (favourite, mention only) %v", res.BobNotes, res.AliceNotes)
	case !slices.Contains(res.Search, "alice") || !slices.Equal(res.Tagged, []string{res.Posted.ID}) || res.Marker != res.Posted.ID:
		t.Fatalf("search %v, tag %v, marker %q", res.Search, res.Tagged, res.Marker)
	case res.NotFound != 404:
		t.Fatalf("unknown status: %d", res.NotFound)
	case res.Poll.MaxOptions != 4 || res.Poll.ID != res.Poll.StatusID || !slices.Equal(res.Poll.Options, []string{"Soup", "Salad"}):
		t.Fatalf("poll created with masto: %+v", res.Poll)
	case !res.Poll.Voted || !slices.Equal(res.Poll.OwnVotes, []int{1}) || !slices.Equal(res.Poll.Counts, []int{0, 1}) ||
		res.Poll.SeenVotes != 1 || res.Poll.VoteAgain != 422:
		t.Fatalf("vote with masto: %+v", res.Poll)
	}
	var update, note bool
	for _, e := range res.Streamed {
		update = update || (e.Event == "update" && e.ID == res.Posted.ID)
		note = note || (e.Event == "notification" && e.Type == "mention")
	}
	if !update || !note {
		t.Fatalf("streamed: %+v", res.Streamed)
	}
	if res.DomainBlock == nil || res.DomainBlock.Domain != "flow-spam.test" || res.DomainBlock.Severity != "silence" {
		t.Fatalf("admin domain block: %+v", res.DomainBlock)
	}
}

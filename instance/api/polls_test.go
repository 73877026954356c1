package api_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/palisade-fedi/palisade/instance/data"
)

// pollOf is the Poll entity as a client reads it.
type pollOf struct {
	ID          string     `json:"id"`
	ExpiresAt   *time.Time `json:"expires_at"`
	Expired     bool       `json:"expired"`
	Multiple    bool       `json:"multiple"`
	VotesCount  int        `json:"votes_count"`
	VotersCount *int       `json:"voters_count"`
	Options     []struct {
		Title      string `json:"title"`
		VotesCount *int   `json:"votes_count"`
	} `json:"options"`
	Voted    bool  `json:"voted"`
	OwnVotes []int `json:"own_votes"`
}

// counts are the options' votes_count, -1 for a hidden one.
func (p *pollOf) counts() []int {
	var out []int
	for _, o := range p.Options {
		if o.VotesCount == nil {
			out = append(out, -1)
		} else {
			out = append(out, *o.VotesCount)
		}
	}
	return out
}

// call sends a request and decodes a 2xx answer into out (when not nil);
// it returns the status code and the error message of a failure.
func (f *fixture) call(method, path, token, ctype, body string, out any) (int, string) {
	f.t.Helper()
	var rd *strings.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	var code int
	var b []byte
	if rd != nil {
		code, _, b = f.do(method, path, token, ctype, rd)
	} else {
		code, _, b = f.do(method, path, token, ctype, nil)
	}
	if code/100 != 2 {
		var e struct{ Error string }
		json.Unmarshal(b, &e)
		return code, e.Error
	}
	if out != nil {
		if err := json.Unmarshal(b, out); err != nil {
			f.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return code, ""
}

const form = "application/x-www-form-urlencoded"

func TestPollCreateVoteAndEnd(t *testing.T) {
	f := newFixture(t)
	alice, ac := f.user("alice")
	bob, bc := f.user("bob")
	carol, cc := f.user("carol")
	at, bt, ct := tokenOf(ac), tokenOf(bc), tokenOf(cc)
	if _, err := f.svc.Follow(f.ctx, bob.ID, alice.ID); err != nil {
		t.Fatal(err)
	}

	// The instance advertises the limits it applies.
	for _, path := range []string{"/api/v1/instance", "/api/v2/instance"} {
		var in struct {
			Configuration struct {
				Polls struct {
					MaxOptions             int `json:"max_options"`
					MaxCharactersPerOption int `json:"max_characters_per_option"`
					MinExpiration          int `json:"min_expiration"`
					MaxExpiration          int `json:"max_expiration"`
				}
			}
		}
		f.call("GET", path, "", "", "", &in)
		if p := in.Configuration.Polls; p.MaxOptions != 4 || p.MaxCharactersPerOption != 50 || p.MinExpiration != 300 || p.MaxExpiration != 2592000 {
			t.Errorf("%s configuration.polls: %+v", path, p)
		}
	}

	// A single-choice poll in a form body.
	var st struct {
		ID   string
		Poll *pollOf
	}
	before := time.Now()
	if code, msg := f.call("POST", "/api/v1/statuses", at, form,
		"status=Tea+or+coffee%3F&poll[options][]=Tea&poll[options][]=Coffee&poll[options][]=Water&poll[expires_in]=600", &st); code != 200 {
		t.Fatalf("posting a poll: %d %s", code, msg)
	}
	p := st.Poll
	if p == nil || p.ID != st.ID || p.Multiple || p.Expired || len(p.Options) != 3 || p.Options[1].Title != "Coffee" ||
		!slices.Equal(p.counts(), []int{0, 0, 0}) || p.VotersCount == nil || *p.VotersCount != 0 {
		t.Fatalf("the new poll: %+v", p)
	}
	if p.ExpiresAt == nil || p.ExpiresAt.Before(before.Add(599*time.Second)) || p.ExpiresAt.After(time.Now().Add(601*time.Second)) {
		t.Errorf("expires_at %v, want about 10 minutes from %v", p.ExpiresAt, before)
	}
	if !p.Voted || len(p.OwnVotes) != 0 {
		t.Errorf("the author's view: voted %v own_votes %v, want voted (an author does not vote) and none", p.Voted, p.OwnVotes)
	}
	pollPath := "/api/v1/polls/" + st.ID

	// bob votes for Coffee; it shows to him everywhere, and counts for all.
	var voted pollOf
	if code, msg := f.call("POST", pollPath+"/votes", bt, form, "choices[]=1", &voted); code != 200 {
		t.Fatalf("bob votes: %d %s", code, msg)
	}
	if !voted.Voted || !slices.Equal(voted.OwnVotes, []int{1}) || !slices.Equal(voted.counts(), []int{0, 1, 0}) ||
		voted.VotesCount != 1 || *voted.VotersCount != 1 {
		t.Fatalf("after bob's vote: %+v", voted)
	}
	var anon, carolView pollOf
	f.call("GET", pollPath, "", "", "", &anon)
	f.call("GET", pollPath, ct, "", "", &carolView)
	if anon.Voted || len(anon.OwnVotes) != 0 || !slices.Equal(anon.counts(), []int{0, 1, 0}) {
		t.Errorf("anonymous view: %+v", anon)
	}
	if carolView.Voted || len(carolView.OwnVotes) != 0 {
		t.Errorf("carol's view before voting: %+v", carolView)
	}
	var home []struct {
		ID   string
		Poll *pollOf
	}
	f.call("GET", "/api/v1/timelines/home", bt, "", "", &home)
	if len(home) != 1 || home[0].Poll == nil || !slices.Equal(home[0].Poll.OwnVotes, []int{1}) {
		t.Errorf("bob's home: %+v", home)
	}
	var statusView struct{ Poll *pollOf }
	f.call("GET", "/api/v1/statuses/"+st.ID, bt, "", "", &statusView)
	if statusView.Poll == nil || !statusView.Poll.Voted || !slices.Equal(statusView.Poll.OwnVotes, []int{1}) {
		t.Errorf("the status as bob sees it: %+v", statusView.Poll)
	}

	// What the poll refuses, with Mastodon's 422 naming what is wrong.
	refusals := []struct {
		name, token, body string
		code              int
		want              string
	}{
		{"bob again", bt, "choices[]=0", 422, "already voted"},
		{"two on single choice", ct, "choices[]=0&choices[]=2", 422, "one choice"},
		{"out of range", ct, "choices[]=3", 422, "not an option"},
		{"negative", ct, "choices[]=-1", 422, "not an option"},
		{"not a number", ct, "choices[]=tea", 422, "choices"},
		{"no choice", ct, "", 422, "choices"},
		{"own poll", at, "choices[]=0", 422, "own poll"},
		{"read-only token", tokenOf(f.client(carol.ID, "read")), "choices[]=0", 403, "scopes"},
		{"anonymous", "", "choices[]=0", 401, "access token"},
	}
	for _, r := range refusals {
		code, msg := f.call("POST", pollPath+"/votes", r.token, form, r.body, nil)
		if code != r.code || !strings.Contains(msg, r.want) {
			t.Errorf("%s: %d %q, want %d containing %q", r.name, code, msg, r.code, r.want)
		}
	}
	// A token given to GET must carry read:statuses.
	if code, _ := f.call("GET", pollPath, tokenOf(f.client(carol.ID, "write")), "", "", nil); code != 403 {
		t.Errorf("GET with a write-only token: %d, want 403", code)
	}
	if code, _ := f.call("GET", "/api/v1/polls/12345", bt, "", "", nil); code != 404 {
		t.Errorf("GET of no poll: %d, want 404", code)
	}

	// A followers-only poll: carol, who does not follow alice, cannot see it.
	var private struct{ ID string }
	if code, msg := f.call("POST", "/api/v1/statuses", at, "application/json",
		`{"status":"secret","visibility":"private","poll":{"options":["x","y"],"expires_in":300}}`, &private); code != 200 {
		t.Fatalf("a private poll: %d %s", code, msg)
	}
	if code, _ := f.call("GET", "/api/v1/polls/"+private.ID, ct, "", "", nil); code != 404 {
		t.Errorf("carol GETs the private poll: %d, want 404", code)
	}
	if code, _ := f.call("POST", "/api/v1/polls/"+private.ID+"/votes", ct, form, "choices[]=0", nil); code != 404 {
		t.Errorf("carol votes on the private poll: %d, want 404", code)
	}
	if code, msg := f.call("POST", "/api/v1/polls/"+private.ID+"/votes", bt, "application/json", `{"choices":["0"]}`, nil); code != 200 {
		t.Errorf("bob (a follower) votes on the private poll in JSON: %d %s", code, msg)
	}

	// The poll ends: no more votes; RunPolls' pass closes it once and
	// tells alice and bob.
	id := mustID(t, st.ID)
	if _, err := f.db.Pool().Exec(f.ctx, `UPDATE statuses SET poll = jsonb_set(poll, '{expires_at}', to_jsonb(now() - interval '1 second')) WHERE id = $1`, id); err != nil {
		t.Fatal(err)
	}
	if code, msg := f.call("POST", pollPath+"/votes", ct, form, "choices[]=0", nil); code != 422 || !strings.Contains(msg, "ended") {
		t.Errorf("carol votes on the ended poll: %d %q, want 422 ended", code, msg)
	}
	var ended pollOf
	f.call("GET", pollPath, bt, "", "", &ended)
	if !ended.Expired || !slices.Equal(ended.OwnVotes, []int{1}) || !slices.Equal(ended.counts(), []int{0, 1, 0}) {
		t.Errorf("the ended poll as bob sees it: %+v", ended)
	}
	n, err := f.svc.ClosePolls(f.ctx)
	if err != nil || n != 1 {
		t.Fatalf("ClosePolls: %d %v, want 1 (the private poll has not ended)", n, err)
	}
	if n, err := f.svc.ClosePolls(f.ctx); err != nil || n != 0 {
		t.Fatalf("ClosePolls again: %d %v, want nothing left", n, err)
	}
	for _, who := range []struct {
		name, token string
	}{{"alice", at}, {"bob", bt}} {
		var ns []struct {
			Type    string
			Account struct{ Username string }
			Status  *struct {
				ID   string
				Poll *pollOf
			}
		}
		f.call("GET", "/api/v1/notifications?types[]=poll", who.token, "", "", &ns)
		if len(ns) != 1 || ns[0].Type != "poll" || ns[0].Account.Username != "alice" || ns[0].Status == nil ||
			ns[0].Status.ID != st.ID || ns[0].Status.Poll == nil || !ns[0].Status.Poll.Expired {
			t.Errorf("%s's poll notifications: %+v", who.name, ns)
		}
	}
	var cn []struct{ Type string }
	f.call("GET", "/api/v1/notifications?types[]=poll", ct, "", "", &cn)
	if len(cn) != 0 {
		t.Errorf("carol, who did not vote, was notified: %+v", cn)
	}
	stored, err := f.st.GetStatus(f.ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	if sp, _ := data.ParsePoll(stored.Poll); sp == nil || !sp.Closed {
		t.Errorf("the stored poll is not closed: %s", stored.Poll)
	}
}

func TestPollMultipleHiddenTotals(t *testing.T) {
	f := newFixture(t)
	_, ac := f.user("alice")
	_, bc := f.user("bob")
	_, cc := f.user("carol")
	var st struct {
		ID   string
		Poll *pollOf
	}
	if code, msg := f.call("POST", "/api/v1/statuses", tokenOf(ac), "application/json",
		`{"status":"pick any","poll":{"options":["a","b","c","d"],"expires_in":"3600","multiple":true,"hide_totals":true}}`, &st); code != 200 {
		t.Fatalf("posting: %d %s", code, msg)
	}
	if !st.Poll.Multiple || len(st.Poll.Options) != 4 {
		t.Fatalf("poll: %+v", st.Poll)
	}
	var p pollOf
	if code, msg := f.call("POST", "/api/v1/polls/"+st.ID+"/votes", tokenOf(bc), "application/json", `{"choices":[0,2]}`, &p); code != 200 {
		t.Fatalf("bob votes twice on a multiple-choice poll: %d %s", code, msg)
	}
	if !slices.Equal(p.OwnVotes, []int{0, 2}) || !slices.Equal(p.counts(), []int{-1, -1, -1, -1}) || p.VotersCount != nil {
		t.Errorf("bob's view with hidden totals: %+v", p)
	}
	f.call("POST", "/api/v1/polls/"+st.ID+"/votes", tokenOf(cc), form, "choices[]=2", nil)
	var author pollOf
	f.call("GET", "/api/v1/polls/"+st.ID, tokenOf(ac), "", "", &author)
	if !slices.Equal(author.counts(), []int{1, 0, 2, 0}) || author.VotesCount != 3 || author.VotersCount == nil || *author.VotersCount != 2 {
		t.Errorf("the author sees the totals: %+v (voters %v)", author, author.VotersCount)
	}
	if code, msg := f.call("POST", "/api/v1/polls/"+st.ID+"/votes", tokenOf(bc), form, "choices[]=1", nil); code != 422 || !strings.Contains(msg, "already voted") {
		t.Errorf("bob adds a choice later: %d %q, want 422 already voted", code, msg)
	}
	if code, msg := f.call("POST", "/api/v1/polls/"+st.ID+"/votes", tokenOf(cc), form, "choices[]=1&choices[]=1", nil); code != 422 || !strings.Contains(msg, "twice") {
		t.Errorf("a choice twice: %d %q", code, msg)
	}
}

func TestPollCreationRefusals(t *testing.T) {
	f := newFixture(t)
	_, ac := f.user("alice")
	tok := tokenOf(ac)
	long := strings.Repeat("é", 51)
	cases := []struct {
		name, ctype, body, want string
	}{
		{"one option", form, "status=q&poll[options][]=a&poll[expires_in]=600", "poll[options]"},
		{"five options", form, "status=q&poll[options][]=a&poll[options][]=b&poll[options][]=c&poll[options][]=d&poll[options][]=e&poll[expires_in]=600", "poll[options]"},
		{"long option", form, "status=q&poll[options][]=a&poll[options][]=" + url.QueryEscape(long) + "&poll[expires_in]=600", "poll[options]"},
		{"empty option", form, "status=q&poll[options][]=a&poll[options][]=+&poll[expires_in]=600", "poll[options]"},
		{"duplicate", "application/json", `{"status":"q","poll":{"options":["a","a"],"expires_in":600}}`, "twice"},
		{"too short", form, "status=q&poll[options][]=a&poll[options][]=b&poll[expires_in]=299", "poll[expires_in]"},
		{"too long", form, "status=q&poll[options][]=a&poll[options][]=b&poll[expires_in]=2592001", "poll[expires_in]"},
		{"huge", form, "status=q&poll[options][]=a&poll[options][]=b&poll[expires_in]=99999999999999999999999", "poll[expires_in]"},
		{"no expiry", "application/json", `{"status":"q","poll":{"options":["a","b"]}}`, "poll[expires_in]"},
		{"bad expiry", form, "status=q&poll[options][]=a&poll[options][]=b&poll[expires_in]=soon", "poll[expires_in]"},
		{"bad multiple", form, "status=q&poll[options][]=a&poll[options][]=b&poll[expires_in]=600&poll[multiple]=maybe", "poll[multiple]"},
		{"with media", "application/json", `{"status":"q","media_ids":["1"],"poll":{"options":["a","b"],"expires_in":600}}`, "media_ids cannot be given with a poll"},
		{"no text", "application/json", `{"status":"","poll":{"options":["a","b"],"expires_in":600}}`, "status"},
	}
	for _, c := range cases {
		code, msg := f.call("POST", "/api/v1/statuses", tok, c.ctype, c.body, nil)
		if code != 422 || !strings.Contains(msg, c.want) {
			t.Errorf("%s: %d %q, want 422 containing %q", c.name, code, msg, c.want)
		}
	}
	var n int
	if err := f.db.Pool().QueryRow(f.ctx, `SELECT count(*) FROM statuses`).Scan(&n); err != nil || n != 0 {
		t.Errorf("statuses stored by refused posts: %d %v", n, err)
	}
	// 50 characters is fine.
	if code, msg := f.call("POST", "/api/v1/statuses", tok, form,
		"status=q&poll[options][]=a&poll[options][]="+url.QueryEscape(strings.Repeat("é", 50))+"&poll[expires_in]=300", nil); code != 200 {
		t.Errorf("a 50-character option: %d %s", code, msg)
	}
}

func mustID(t *testing.T, s string) int64 {
	t.Helper()
	var id int64
	if _, err := fmt.Sscan(s, &id); err != nil {
		t.Fatal(err)
	}
	return id
}
